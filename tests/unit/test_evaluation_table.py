"""The closing summary's evaluation table: first and last point of each reference, read back from
a run's metrics.jsonl."""

from __future__ import annotations

import json

from trainers.intervals import WinRate
from trainers.league.evaluation import (
    eval_scalars,
    evaluation_table,
    format_evaluation_table,
    read_evaluation_table,
)


def rows():
    yield {
        "step": 0,
        **eval_scalars({"bot:random": WinRate(50, 100), "bot:strong": WinRate(13, 100)}),
    }
    yield {"step": 1, "charts/return": 0.1, "charts/invalid_move_rate/main": 0.4}
    yield {"step": 8, **eval_scalars({"bot:random": WinRate(60, 100)})}
    yield {
        "step": 16,
        **eval_scalars({"bot:random": WinRate(81, 100), "bot:strong": WinRate(35, 100)}),
        "charts/invalid_move_rate/main": 0.05,
        "eval/exploitability/last": 0.25,
    }


def test_each_reference_reads_untrained_first_and_final_last():
    table = evaluation_table(rows())
    assert list(table) == [
        ("exploitability", "last"),
        ("win_rate", "bot:random"),
        ("win_rate", "bot:strong"),
        ("~invalid_move_rate", "training"),
    ]
    (s0, r0, low0, high0), (s1, r1, low1, high1) = table[("win_rate", "bot:random")]
    assert (s0, r0, s1, r1) == (0, 0.5, 16, 0.81)
    assert (low0, high0) == WinRate(50, 100).interval and (low1, high1) == WinRate(81, 100).interval
    text = format_evaluation_table(table)
    row = "win_rate bot:random              0.50 [0.40, 0.60]    0.81 [0.72, 0.87]    +0.31"
    assert row in text, text
    assert max(map(len, text.splitlines())) <= 80, text
    assert (
        "invalid_move_rate training       0.400                0.050                -0.35" in text
    )
    assert "exploitability last              0.250" in text, text  # exact: no interval
    assert format_evaluation_table({}) == ""


def test_the_table_is_read_from_the_log_in_step_order_past_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps(r) for r in rows()]
    path.write_text("\n".join([lines[2], lines[0], lines[1], lines[3], '{"step": 17, "eval/wi']))
    text = read_evaluation_table(path)
    assert "0.50 [0.40, 0.60]" in text and "0.81 [0.72, 0.87]" in text, text
    assert "0.60 [" not in text, text  # step 8 is neither the first nor the last
    assert read_evaluation_table(tmp_path / "missing.jsonl") == ""


def test_a_populations_lead_member_gives_the_invalid_move_row():
    rows = [
        {"step": 1, "charts/invalid_move_rate/main0": 0.3},
        {"step": 2, "charts/invalid_move_rate/main0": 0.1},
    ]
    ((start, end),) = evaluation_table(rows).values()
    assert (start[1], end[1]) == (0.3, 0.1)
