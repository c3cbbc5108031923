"""Per-iteration statistics from finished episodes: pure functions, so they are unit-tested."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainers.episode import Episode
from trainers.intervals import WinRate


def outcome(episode: Episode, team: str) -> float:
    """1 win, 0 loss, 0.5 draw, for a team of an adversarial episode."""
    winners = episode.winners()
    if not winners:
        return 0.5
    return 1.0 if team in winners else 0.0


def match_rows(episodes: Sequence[Episode], first_episode: int) -> list[dict[str, Any]]:
    """One matches.csv row per agent per episode (see trainers.run.layout.MATCH_COLUMNS)."""
    rows = []
    for i, ep in enumerate(episodes):
        for agent, t in ep.trajectories.items():
            rows.append(
                {
                    "step": ep.step,
                    "env_id": ep.env_id,
                    "episode": first_episode + i,
                    "seed": ep.seed,
                    "payoff": ep.payoff,
                    "mix": round(ep.mix, 6),
                    "agent": agent,
                    "player": t.player,
                    "team": t.team,
                    "learning": int(t.learning),
                    "return": round(t.episode_return, 6),
                    "raw_score": round(t.raw_score, 6),
                    "invalid_moves": t.invalid_moves,
                    "moves": t.moves,
                    "won": outcome(ep, t.team),
                    "truncated": int(ep.truncated),
                }
            )
    return rows


def player_stats(episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
    """Per league player: mean return, win rate (vs other players; not in cooperative games) and
    invalid-move rate (invalid actions / all actions submitted)."""
    returns: dict[str, list[float]] = defaultdict(list)
    wins: dict[str, list[float]] = defaultdict(list)
    invalid: dict[str, list[int]] = defaultdict(list)
    moves: dict[str, list[int]] = defaultdict(list)
    for ep in episodes:
        sides = {t.team for t in ep.trajectories.values()}
        contest = len(sides) > 1 and ep.payoff != "cooperative"
        for t in ep.trajectories.values():
            returns[t.player].append(t.episode_return)
            invalid[t.player].append(t.invalid_moves)
            moves[t.player].append(t.moves)  # every action submitted, valid or not
            if contest:
                wins[t.player].append(outcome(ep, t.team))
    out = {}
    for player, values in returns.items():
        attempts = sum(moves[player])
        out[player] = {
            "return": float(np.mean(values)),
            "invalid_rate": sum(invalid[player]) / attempts if attempts else 0.0,
        }
        if wins[player]:
            out[player]["win_rate"] = float(np.mean(wins[player]))
    return out


def task_completed(episode: Episode) -> bool:
    """A cooperative game done: no forfeit, not cut short and a positive group raw score (the
    signal game: the listener picked the target). In a game whose raw score is positive without
    cooperating (public goods, negotiation) it says little."""
    raw = [t.raw_score for t in episode.trajectories.values()]
    return episode.forfeited_by is None and not episode.truncated and float(np.mean(raw)) > 0


def cooperation_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """Cooperative games: task completion (`task_completed`) and the cooperation score (mean
    group return)."""
    if not episodes:
        return {}
    completed = [task_completed(ep) for ep in episodes]
    group = [np.mean(list(ep.returns.values())) for ep in episodes]
    return {
        "task_completion_rate": float(np.mean(completed)),
        "cooperation_score": float(np.mean(group)),
    }


def team_win_counts(episodes: Sequence[Episode], learner_prefix: str) -> dict[str, WinRate]:
    """Wins (draws half) and games of the learner's side against each opponent player."""
    results: dict[str, list[float]] = defaultdict(list)
    for ep in episodes:
        learner_teams = {t.team for t in ep.trajectories.values() if t.player == learner_prefix}
        opponents = {t.player for t in ep.trajectories.values() if t.team not in learner_teams}
        if not learner_teams or not opponents:
            continue
        team = sorted(learner_teams)[0]
        for opp in opponents:
            results[opp].append(outcome(ep, team))
    return {opp: WinRate(float(np.sum(v)), len(v)) for opp, v in results.items()}


def team_win_rates(episodes: Sequence[Episode], learner_prefix: str) -> dict[str, float]:
    """Win rate of the learner's side against each opponent player (adversarial games)."""
    return {opp: score.rate for opp, score in team_win_counts(episodes, learner_prefix).items()}
