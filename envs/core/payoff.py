"""The payoff layer: raw per-agent scores -> rewards.

A game reports raw scores (penalties for invalid moves included); a payoff kind turns them into
rewards.
Every kind is linear in the scores, so applying it to per-step score changes gives per-step rewards
whose
sums equal the kind applied to the final scores.

- cooperative: every agent gets the group score, the mean of all raw scores.
- competitive: zero-sum, r_i = s_i - mean(s). A game whose raw scores already sum to zero keeps
them.
- team_battle: teammates share their team's mean score; teams are zero-sum:
  r_i = T(team_i) - mean over teams of T.
- mixed: r_i = l * s_i + (1 - l) * mean(s), with the mix l in [0, 1] (l = 1 selfish, l = 0
cooperative).
"""

from __future__ import annotations

from collections.abc import Mapping

PAYOFF_KINDS = ("cooperative", "competitive", "team_battle", "mixed")


def check_payoff(kind: str, supported: tuple[str, ...], game: str) -> None:
    if kind not in PAYOFF_KINDS:
        raise ValueError(f"unknown payoff {kind!r}; choose one of {', '.join(PAYOFF_KINDS)}")
    if kind not in supported:
        raise ValueError(
            f"{game} does not support payoff={kind!r}; it supports {', '.join(supported)}"
        )


def check_mix(mix: float) -> float:
    mix = float(mix)
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"payoff mix must lie in [0, 1], got {mix}")
    return mix


def apply_payoff(
    kind: str,
    scores: Mapping[str, float],
    teams: Mapping[str, str],
    mix: float = 0.5,
) -> dict[str, float]:
    """Rewards for `scores` under payoff `kind`. `teams` maps every agent to its team name."""
    if not scores:
        return {}
    mean = sum(scores.values()) / len(scores)
    if kind == "cooperative":
        return {a: mean for a in scores}
    if kind == "competitive":
        return {a: s - mean for a, s in scores.items()}
    if kind == "mixed":
        return {a: mix * s + (1.0 - mix) * mean for a, s in scores.items()}
    if kind == "team_battle":
        members: dict[str, list[float]] = {}
        for agent, score in scores.items():
            members.setdefault(teams[agent], []).append(score)
        team_score = {t: sum(v) / len(v) for t, v in members.items()}
        league_mean = sum(team_score.values()) / len(team_score)
        return {a: team_score[teams[a]] - league_mean for a in scores}
    raise ValueError(f"unknown payoff {kind!r}; choose one of {', '.join(PAYOFF_KINDS)}")
