"""Training modes: which payoff, who fills which side of a game, and who shares an adapter.

- `competitive` / `team_battle`: the learner takes one side (drawn at random each game, so it learns
  every seat) and matchmaking fills the other sides from the league (itself, its snapshots, bots).
- `cooperative` / `mixed`: the learner's family fills every seat; `share` decides whether the seats
  share one adapter or each has its own (independent learners); `mixed` moves the payoff mix l
  (selfish at 1) by a schedule or a controller (`trainers.league.mix_control`). l mixes rewards
  within the learner's family only: a game with a partner bot in a seat pays each seat its own
  score (l = 1), since nobody shares a reward with an outsider.

A learner is a family of adapters named `<learner>-<key>`, the key given by `share`:
`all` (one adapter), `team` (one per team: red, blue), `role` (one per position in a team: role0,
role1, so a spymaster adapter plays both teams' spymasters) or `agent` (one per agent name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MODES = ("cooperative", "competitive", "team_battle", "mixed")
SHARES = ("all", "team", "role", "agent")


@dataclass(frozen=True)
class Mode:
    name: str
    payoff: str
    #: Sides filled by the league (True) or all seats by the learner family (False).
    adversarial: bool


MODE_TABLE = {
    "cooperative": Mode("cooperative", "cooperative", adversarial=False),
    "competitive": Mode("competitive", "competitive", adversarial=True),
    "team_battle": Mode("team_battle", "team_battle", adversarial=True),
    "mixed": Mode("mixed", "mixed", adversarial=False),
}


def get_mode(name: str) -> Mode:
    if name not in MODE_TABLE:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(MODES)}")
    return MODE_TABLE[name]


def share_key(agent: str, team: str, share: str) -> str:
    """The adapter key of `agent` under the sharing scheme."""
    if share == "all":
        return "all"
    if share == "team":
        return team
    if share == "role":
        return "role" + agent.rsplit("_", 1)[1]
    if share == "agent":
        return agent.replace("_", "")
    raise ValueError(f"unknown share {share!r}; choose one of {', '.join(SHARES)}")


def adapter_name(learner: str, key: str) -> str:
    return f"{learner}-{key}"


def family_keys(agents: Sequence[str], teams: dict[str, str], share: str) -> list[str]:
    """Every adapter key a learner family needs for this game."""
    return sorted({share_key(a, teams[a], share) for a in agents})


def sides(agents: Sequence[str], teams: dict[str, str]) -> list[list[str]]:
    """The game's sides: its teams, in first-seen order (each player alone where there are none)."""
    out: dict[str, list[str]] = {}
    for a in agents:
        out.setdefault(teams[a], []).append(a)
    return list(out.values())


def mix_at(step: int, total: int, start: float, end: float) -> float:
    """Linear schedule from `start` (step 0) to `end` (last step): the mixed payoff's l, the
    share of games with a partner bot."""
    if total <= 1:
        return end
    frac = min(max(step / (total - 1), 0.0), 1.0)
    return start + (end - start) * frac
