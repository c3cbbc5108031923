"""Evaluation against fixed references, with intervals, and how it is laid out in TensorBoard.

Self-play reward says little about skill: the opponent learns too. What a user reads instead is
the learner's win rate against players that do not change (the scripted bots; the untrained
adapter is the learner's own step-0 point), with enough games per point for a 95% interval of
about +-0.1 (`games_for_half_width(0.1)`: 97 games at a win rate of 0.5) and the interval drawn.

Tags: `eval/win_rate/<ref>`, `eval/win_rate_low/<ref>`, `eval/win_rate_high/<ref>`,
`eval/games/<ref>`. `custom_scalar_layout()` groups them (and the `time/` and `league/` tags) into
TensorBoard's Custom Scalars dashboard: one margin chart per reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from trainers.intervals import WinRate

__all__ = [
    "TAG_EVAL",
    "TAG_EVAL_GAMES",
    "TAG_EVAL_HIGH",
    "TAG_EVAL_LOW",
    "custom_scalar_layout",
    "eval_scalars",
]

TAG_EVAL = "eval/win_rate"
TAG_EVAL_LOW = "eval/win_rate_low"
TAG_EVAL_HIGH = "eval/win_rate_high"
TAG_EVAL_GAMES = "eval/games"


def eval_scalars(results: Mapping[str, WinRate]) -> dict[str, float]:
    """Scalars of one evaluation: rate, 95% interval and games per reference."""
    out: dict[str, float] = {}
    for ref, score in sorted(results.items()):
        low, high = score.interval
        out[f"{TAG_EVAL}/{ref}"] = score.rate
        out[f"{TAG_EVAL_LOW}/{ref}"] = low
        out[f"{TAG_EVAL_HIGH}/{ref}"] = high
        out[f"{TAG_EVAL_GAMES}/{ref}"] = float(score.games)
    return out


def custom_scalar_layout(references: Iterable[str]) -> dict[str, dict[str, list]]:
    """Custom Scalars layout: evaluation (a margin chart per reference), time, league."""
    evaluation = {
        f"win rate vs {ref} (95% interval)": [
            "Margin",
            [f"{TAG_EVAL}/{ref}", f"{TAG_EVAL_LOW}/{ref}", f"{TAG_EVAL_HIGH}/{ref}"],
        ]
        for ref in sorted(references)
    }
    return {
        "evaluation": evaluation,
        "time": {"seconds per phase": ["Multiline", [r"time/.*"]]},
        "league": {
            "elo": ["Multiline", [r"league/elo/.*"]],
            "openskill": ["Multiline", [r"league/openskill_ordinal/.*"]],
        },
    }
