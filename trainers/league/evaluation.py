"""Evaluation against fixed references, with intervals, and how it is laid out in TensorBoard.

Self-play reward says little about skill: the opponent learns too. What a user reads instead is
the learner's win rate against players that do not change (the scripted bots; the untrained
adapter is the learner's own step-0 point), with enough games per point for a 95% interval of
about +-0.1 (`games_for_half_width(0.1)`: 97 games at a win rate of 0.5) and the interval drawn.

Each mode adds its own figure (`trainers.league.mode_eval`: exploitability, the cooperative pair's
success rate, the dilemma panel's scores), under the same scheme of tags.

The closing summary prints each figure's first and last point, and the learner's invalid-move
rate in training games (`read_evaluation_table`).

Tags: `eval/<figure>/<ref>`, `eval/<figure>_low/<ref>`, `eval/<figure>_high/<ref>`,
`eval/games/<ref>` (the bots' figure is `win_rate`). `custom_scalar_layout()` groups them (and the
`time/` and `league/` tags) into TensorBoard's Custom Scalars dashboard: one margin chart per
figure and reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.intervals import WinRate
from trainers.league.publishing import LEARNER
from trainers.run.layout import TAG_INVALID_RATE

if TYPE_CHECKING:
    from trainers.episode import Episode
    from trainers.rollout import MatchSpec

__all__ = [
    "TAG_EVAL",
    "TAG_EVAL_GAMES",
    "TAG_EVAL_HIGH",
    "TAG_EVAL_LOW",
    "custom_scalar_layout",
    "eval_scalars",
    "evaluation_table",
    "play_groups",
    "read_evaluation_table",
]

TAG_EVAL = "eval/win_rate"
TAG_EVAL_LOW = "eval/win_rate_low"
TAG_EVAL_HIGH = "eval/win_rate_high"
TAG_EVAL_GAMES = "eval/games"


def play_groups(
    trainer: Any, groups: Mapping[str, Sequence[MatchSpec]]
) -> dict[str, list[Episode]]:
    """Every group's evaluation matches (at `eval_temperature`) in one `Rollout.play` of the
    trainer (a `SelfPlayTrainer`; not imported, which would be a cycle): one
    engine batch per move for all of them, bigger than a call per group. The episodes come
    back by group, each group's in the order of its matches, the groups in the given order."""
    everyone = [m for matches in groups.values() for m in matches]
    for match in everyone:
        match.temperature = trainer.config.league.eval_temperature
    episodes = iter(trainer.rollout.play(everyone, step=trainer.step))
    return {name: [next(episodes) for _ in matches] for name, matches in groups.items()}


def eval_scalars(results: Mapping[str, WinRate], figure: str = "win_rate") -> dict[str, float]:
    """Scalars of one evaluation: `eval/<figure>`, its 95% interval and games per reference."""
    out: dict[str, float] = {}
    for ref, score in sorted(results.items()):
        low, high = score.interval
        out[f"{_EVAL}{figure}/{ref}"] = score.rate
        out[f"{_EVAL}{figure}_low/{ref}"] = low
        out[f"{_EVAL}{figure}_high/{ref}"] = high
        out[f"{TAG_EVAL_GAMES}/{ref}"] = float(score.games)
    return out


def custom_scalar_layout(
    references: Iterable[str], figures: Iterable[tuple[str, str]] = ()
) -> dict[str, dict[str, list]]:
    """Custom Scalars layout: evaluation (a margin chart per bot's win rate and per mode figure
    (figure, reference) with an interval; exploitability in one chart), time, league."""
    evaluation = {
        f"win rate vs {ref} (95% interval)": [
            "Margin",
            [f"{TAG_EVAL}/{ref}", f"{TAG_EVAL_LOW}/{ref}", f"{TAG_EVAL_HIGH}/{ref}"],
        ]
        for ref in sorted(references)
    }
    for figure, ref in figures:
        if figure == "exploitability":  # exact: one chart of all three, below
            continue
        tags = [f"{_EVAL}{figure}/{ref}", *(f"{_EVAL}{figure}{b}/{ref}" for b in _BOUNDS)]
        evaluation[f"{figure.replace('_', ' ')} {ref} (95% interval)"] = ["Margin", tags]
    if any(figure == "exploitability" for figure, _ in figures):
        evaluation["exploitability (exact)"] = ["Multiline", [r"eval/exploitability/.*"]]
    return {
        "evaluation": evaluation,
        "time": {"seconds per phase": ["Multiline", [r"time/.*"]]},
        "league": {
            "elo": ["Multiline", [r"league/elo/.*"]],
            "openskill": ["Multiline", [r"league/openskill_ordinal/.*"]],
        },
    }


#: One evaluation point of a figure: (step, value, interval low, interval high).
Point = tuple[int, float, float, float]

_EVAL = "eval/"
_BOUNDS = ("_low", "_high")
#: The learner's invalid-move rate in training games: the last row of the closing table.
INVALID_TAG = f"{TAG_INVALID_RATE}/{LEARNER}"
#: A population's lead member (`--population N`: main0) stands for the learner.
INVALID_TAGS = (INVALID_TAG, f"{INVALID_TAG}0")
INVALID_ROW = ("~invalid_move_rate", "training")  # "~" sorts it after the evaluations


def evaluation_table(
    rows: Iterable[Mapping[str, float]],
) -> dict[tuple[str, str], tuple[Point, Point]]:
    """Each figure's first and last point per reference, keyed (figure, reference), from the
    run's metric rows (each a `step` and its scalars) in step order. A figure is any
    `eval/<figure>/<reference>` tag (win rates, exploitability, success and cooperation rates,
    panel scores), its interval from `eval/<figure>_low|_high/<reference>` when logged."""
    first: dict[tuple[str, str], Point] = {}
    last: dict[tuple[str, str], Point] = {}
    for row in rows:
        invalid = next((row[t] for t in INVALID_TAGS if t in row), None)
        if invalid is not None:  # the training games' share of invalid moves, not an evaluation
            point = (int(row["step"]), float(invalid), float(invalid), float(invalid))
            first.setdefault(INVALID_ROW, point)
            last[INVALID_ROW] = point
        for tag, value in row.items():
            if not tag.startswith(_EVAL) or tag.count("/") != 2:
                continue
            _, figure, ref = tag.split("/")
            if figure == "games" or figure.endswith(_BOUNDS):
                continue
            low, high = (row.get(f"{_EVAL}{figure}{b}/{ref}", value) for b in _BOUNDS)
            point = (int(row["step"]), float(value), float(low), float(high))
            first.setdefault((figure, ref), point)
            last[(figure, ref)] = point
    return {key: (first[key], last[key]) for key in sorted(first)}


def format_evaluation_table(table: Mapping[tuple[str, str], tuple[Point, Point]]) -> str:
    """figure and reference | untrained (the first point) | final (the last) | change; "" when
    the run evaluated nothing. A figure without an interval (exact) prints its value alone. 80
    columns."""
    if not table:
        return ""

    def cell(point: Point) -> str:
        _, value, low, high = point
        if low == high == value:
            return f"{value:.3f}"
        return f"{value:.2f} [{low:.2f}, {high:.2f}]"

    lines = [f"{'evaluation':<33}{'untrained (95%)':<21}{'final (95%)':<20}{'change':>6}"]
    for (figure, ref), (start, end) in table.items():
        name = f"{figure.lstrip('~')} {ref}"
        lines.append(f"{name:<33}{cell(start):<21}{cell(end):<21}{end[1] - start[1]:>+5.2f}")
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
