"""What one iteration logs (TensorBoard scalars, tags in `layout`), the progress bar's postfix,
the sample transcript and the summary table printed at the end of a run."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.episode import Episode
from trainers.run import layout as rf
from trainers.run.metrics import cooperation_stats, player_stats, team_win_rates
from trainers.run.timing import TOTAL

__all__ = ["IterationFacts", "format_summary", "iteration_scalars", "postfix", "transcript_md"]


@dataclass
class IterationFacts:
    """What the loop knows about one iteration besides its episodes."""

    learner: str  # the learning player's league id
    adversarial: bool
    mixed: bool
    mix: float
    rollout_s: float
    rollout_tokens_per_s: float
    publish_ms: float
    weight_updates: int
    players: int
    learner_version: int
    elo: Mapping[str, float]


def iteration_scalars(
    episodes: Sequence[Episode],
    learn: Mapping[str, Mapping[str, float]],
    evaluation: Mapping[str, float],
    facts: IterationFacts,
) -> dict[str, float]:
    m: dict[str, float | None] = {}
    for player, s in player_stats(episodes).items():
        m[f"{rf.TAG_RETURN}/{player}"] = s["return"]
        m[f"{rf.TAG_INVALID_RATE}/{player}"] = s["invalid_rate"]
        if "win_rate" in s:
            m[f"{rf.TAG_WIN_RATE}/{player}"] = s["win_rate"]
    if facts.adversarial:
        for opp, rate in team_win_rates(episodes, facts.learner).items():
            m[f"{rf.TAG_TEAM_WIN_RATE}/{opp}"] = rate
    else:
        coop = cooperation_stats(episodes)
        m[rf.TAG_TASK_COMPLETION] = coop["task_completion_rate"]
        m[rf.TAG_COOPERATION] = coop["cooperation_score"]
    if facts.mixed:
        m["charts/payoff_mix"] = facts.mix
    m.update(evaluation)
    m[rf.TAG_EPISODES_PER_S] = len(episodes) / facts.rollout_s if facts.rollout_s else 0.0
    m[rf.TAG_TOKENS_PER_S] = facts.rollout_tokens_per_s
    tokens = sum(s.get("sequence_tokens", 0.0) for s in learn.values())
    seconds = sum(s.get("seconds", 0.0) for s in learn.values())
    if seconds:
        m[rf.TAG_LEARNER_TOKENS_PER_S] = tokens / seconds
        body = sum(s.get("body_tokens", 0.0) for s in learn.values())
        m[rf.TAG_LEARNER_BODY_TOKENS_PER_S] = body / seconds
    for name, s in learn.items():
        m[f"{rf.TAG_POLICY_LOSS}/{name}"] = s.get("policy_loss", s.get("loss"))
        m[f"{rf.TAG_KL}/{name}"] = s.get("kl")
        m[f"{rf.TAG_CLIP_FRACTION}/{name}"] = s.get("clip_fraction")
        m[f"{rf.TAG_ENTROPY}/{name}"] = s.get("entropy")
        m[f"{rf.TAG_LR}/{name}"] = s["lr"]
        m[f"{rf.TAG_KL_COEF}/{name}"] = s["kl_coef"]
        m[f"{rf.TAG_Q_TARGETS}/{name}"] = s.get("q_target_samples")
        m[f"{rf.TAG_TRUST_KL}/{name}"] = s.get("trust_kl")
        m[f"{rf.TAG_TRUST_KL_FULL}/{name}"] = s.get("trust_kl_full")
        m[f"{rf.TAG_TRUST_ALPHA}/{name}"] = s.get("trust_alpha")
    versions = [
        t.adapter[1]
        for ep in episodes
        for t in ep.trajectories.values()
        if t.learning and t.adapter is not None
    ]
    if versions:  # learner versions behind the one the update started from
        m["charts/staleness"] = facts.learner_version - 1 - min(versions)
    m[rf.TAG_PUBLISH_MS] = facts.publish_ms
    m[rf.TAG_WEIGHT_UPDATES] = facts.weight_updates
    m[rf.TAG_PLAYERS] = facts.players
    for player, rating in facts.elo.items():
        m[f"{rf.TAG_ELO}/{player}"] = rating
    return {k: float(v) for k, v in m.items() if v is not None}


def postfix(metrics: Mapping[str, float], learner: str) -> dict[str, str]:
    """The few numbers the progress bar shows."""
    shown = {}
    for key, label in ((f"{rf.TAG_RETURN}/{learner}", "return"), (rf.TAG_COOPERATION, "coop")):
        if key in metrics:
            shown[label] = f"{metrics[key]:.3f}"
    rates = [v for k, v in metrics.items() if k.startswith(rf.TAG_TEAM_WIN_RATE)]
    if rates:
        shown["win"] = f"{np.mean(rates):.2f}"
    return shown


def transcript_md(episode: Episode) -> str:
    players = ", ".join(f"{a}: {t.player}" for a, t in episode.trajectories.items())
    body = "\n".join(f"    {line}" for line in episode.transcript.splitlines())
    return f"**{episode.env_id}** seed {episode.seed} ({players})\n\n{body}"


def format_summary(report: Mapping[str, Any]) -> str:
    """The table printed at the end of a run: the league (when anyone played a contest: a
    cooperative or mixed run's family has no rating), throughput, the seconds of an iteration."""
    lines = []
    players = report["players"]
    if any(p["games"] for p in players.values()):
        lines.append(
            f"{'player':<24}{'kind':<10}{'elo':>8}{'openskill':>11}{'win rate':>10}{'games':>7}"
        )
        for pid, p in sorted(players.items(), key=lambda kv: -(kv[1]["elo"] or 0)):
            elo = f"{p['elo']:.0f}" if p["elo"] is not None else "-"
            skill = f"{p['openskill']:.2f}" if p["openskill"] is not None else "-"
            lines.append(
                f"{pid:<24}{p['kind']:<10}{elo:>8}{skill:>11}{p['win_rate_vs_league']:>10.2f}"
                f"{p['games']:>7}"
            )
    perf = report["performance"]
    lines.append(
        f"rollout {perf['rollout_tokens_per_s']:.0f} tok/s, {report['episodes']} episodes, "
        f"{report['weight_updates']} weight updates, {perf['wall_seconds']:.0f} s"
    )
    split = perf.get("seconds_per_iteration") or {}
    if split.get(TOTAL):
        parts = sorted(((k, v) for k, v in split.items() if k != TOTAL), key=lambda kv: -kv[1])
        text = f"seconds per iteration {split[TOTAL]:.1f}: " + ", ".join(
            f"{k} {v:.1f}" for k, v in parts if v >= 0.05
        )
        lines.extend(textwrap.wrap(text, width=80, subsequent_indent="  "))  # 80-column terminal
    lines.append(f"run directory: {report['run_dir']}")
    return "\n".join(lines)
