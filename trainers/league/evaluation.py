"""Evaluation against fixed references, with intervals, and how it is laid out in TensorBoard.

Self-play reward says little about skill: the opponent learns too. What a user reads instead is
the learner's win rate against players that do not change (the scripted bots; the untrained
adapter is the learner's own step-0 point), with enough games per point for a 95% interval of
about +-0.1 (`games_for_half_width(0.1)`: 97 games at a win rate of 0.5) and the interval drawn.

The closing summary prints each reference's first and last point (`read_evaluation_table`).

Tags: `eval/win_rate/<ref>`, `eval/win_rate_low/<ref>`, `eval/win_rate_high/<ref>`,
`eval/games/<ref>`. `custom_scalar_layout()` groups them (and the `time/` and `league/` tags) into
TensorBoard's Custom Scalars dashboard: one margin chart per reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from trainers.intervals import WinRate

__all__ = [
    "TAG_EVAL",
    "TAG_EVAL_GAMES",
    "TAG_EVAL_HIGH",
    "TAG_EVAL_LOW",
    "custom_scalar_layout",
    "eval_scalars",
    "evaluation_table",
    "read_evaluation_table",
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


#: One evaluation point of a reference: (step, win rate, interval low, interval high).
Point = tuple[int, float, float, float]


def evaluation_table(rows: Iterable[Mapping[str, float]]) -> dict[str, tuple[Point, Point]]:
    """Each reference's first and last evaluation point, from the run's metric rows (each a
    `step` and its scalars) in step order."""
    first: dict[str, Point] = {}
    last: dict[str, Point] = {}
    prefix = f"{TAG_EVAL}/"
    for row in rows:
        for tag, rate in row.items():
            if not tag.startswith(prefix):
                continue
            ref = tag[len(prefix) :]
            point = (
                int(row["step"]), float(rate),
                float(row.get(f"{TAG_EVAL_LOW}/{ref}", rate)),
                float(row.get(f"{TAG_EVAL_HIGH}/{ref}", rate)),
            )  # fmt: skip
            first.setdefault(ref, point)
            last[ref] = point
    return {ref: (first[ref], last[ref]) for ref in sorted(first)}


def format_evaluation_table(table: Mapping[str, tuple[Point, Point]]) -> str:
    """reference | untrained (the first point) | final (the last) | change; "" when the run
    evaluated nothing."""
    if not table:
        return ""

    def cell(point: Point) -> str:
        step, rate, low, high = point
        return f"{rate:.2f} [{low:.2f}, {high:.2f}] @{step}"

    lines = [f"{'win rate vs':<16}{'untrained (95%)':<22}{'final (95%)':<22}{'change':>7}"]
    for ref, (start, end) in table.items():
        lines.append(f"{ref:<16}{cell(start):<22}{cell(end):<22}{end[1] - start[1]:>+7.2f}")
    return "\n".join(lines)


def read_evaluation_table(metrics_path: str | Path) -> str:
    """The closing summary's evaluation table from a run's `metrics.jsonl` (so a resumed run
    still shows the untrained point of its first part); a line that does not parse (a killed
    writer) is skipped."""
    rows = []
    path = Path(metrics_path)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "step" in row:
                rows.append(row)
    rows.sort(key=lambda r: r["step"])
    return format_evaluation_table(evaluation_table(rows))
