"""PhaseTimer: exclusive time per phase, per lap and over the run (a fake clock: no wall time)."""

from __future__ import annotations

import pytest

from trainers.run.timing import TOTAL, PhaseTimer, format_split


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nested_phases_are_charged_to_the_innermost_one():
    clock = Clock()
    timer = PhaseTimer(clock)
    with timer.phase("rollout"):
        clock.now += 1.0
        with timer.phase("generate"):
            clock.now += 3.0
        clock.now += 0.5
    clock.now += 0.25  # outside any phase: only in the total
    lap = timer.lap()
    assert lap == {"rollout": 1.5, "generate": 3.0, TOTAL: 4.75}


def test_an_absorbing_phase_keeps_what_runs_inside_it():
    clock = Clock()
    timer = PhaseTimer(clock)
    with timer.phase("eval", absorb=True), timer.phase("generate"):
        clock.now += 2.0
    with timer.phase("generate"):
        clock.now += 1.0
    assert timer.lap() == {"eval": 2.0, "generate": 1.0, TOTAL: 3.0}


def test_laps_reset_and_the_summary_adds_them_up():
    clock = Clock()
    timer = PhaseTimer(clock)
    with timer.phase("learner"):
        clock.now += 2.0
        first = timer.lap()  # taken inside an open phase: the rest counts in the next lap
        clock.now += 1.0
    second = timer.lap()
    assert first == {"learner": 2.0, TOTAL: 2.0}
    assert second == {"learner": 1.0, TOTAL: 1.0}
    assert timer.summary() == {"learner": 3.0, TOTAL: 3.0} and timer.laps == 2


def test_wrap_times_a_method_and_still_raises():
    clock = Clock()
    timer = PhaseTimer(clock)

    class Part:
        def work(self, x):
            clock.now += x
            if x < 0:
                raise ValueError("bad")
            return x * 2

    part = Part()
    timer.wrap(part, "work", "learner")
    assert part.work(2.0) == 4.0
    with pytest.raises(ValueError):
        part.work(-1.0)
    lap = timer.lap()
    assert lap["learner"] == pytest.approx(1.0)  # 2 s then -1 s: both charged
    text = format_split({"learner": 3.0, "rollout": 1.0, TOTAL: 5.0}, laps=1)
    assert text.splitlines()[1].startswith("learner") and "(untimed)" in text
