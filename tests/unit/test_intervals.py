"""Wilson intervals against known binomial cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainers.intervals import WinRate, games_for_half_width, wilson_interval


@pytest.mark.parametrize(
    ("wins", "games", "low", "high"),
    [
        # Reference values: Newcombe (1998), Statistics in Medicine 17:857, table I (Wilson).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_published_cases(wins, games, low, high):
    got = wilson_interval(wins, games)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_all_wins_and_no_games():
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(1 - 0.1611, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_hundred_games_at_one_half_give_about_a_tenth():
    assert games_for_half_width(0.1) == 97
    low, high = wilson_interval(50, 100)
    assert (high - low) / 2 == pytest.approx(0.096, abs=0.002)


def test_coverage_is_near_nominal_by_simulation():
    """Over many simulated evaluations of 100 games, about 95% of intervals hold the true rate."""
    rng = np.random.default_rng(0)
    for p in (0.2, 0.5, 0.8):
        wins = rng.binomial(100, p, size=4000)
        hits = sum(lo <= p <= hi for lo, hi in (wilson_interval(int(w), 100) for w in wins))
        assert 0.93 <= hits / 4000 <= 0.97, (p, hits)


def test_bad_counts_are_refused():
    for wins, games in ((3, 2), (-1, 4), (1, -1)):
        with pytest.raises(ValueError):
            wilson_interval(wins, games)


def test_clearly_below_needs_separated_intervals():
    assert WinRate(20, 100).clearly_below(WinRate(60, 100))
    assert not WinRate(45, 100).clearly_below(WinRate(55, 100))  # within noise
    assert not WinRate(0, 0).clearly_below(WinRate(60, 100))
    assert math.isnan(WinRate(0, 0).rate)


def test_eval_scalars_and_layout_name_the_same_tags():
    from trainers.league.evaluation import custom_scalar_layout, eval_scalars

    scalars = eval_scalars({"bot:random": WinRate(70, 100)})
    assert scalars["eval/win_rate/bot:random"] == 0.7
    assert scalars["eval/games/bot:random"] == 100.0
    low, high = scalars["eval/win_rate_low/bot:random"], scalars["eval/win_rate_high/bot:random"]
    assert low < 0.7 < high and (low, high) == wilson_interval(70, 100)
    (chart,) = custom_scalar_layout(["bot:random"])["evaluation"].values()
    assert chart[0] == "Margin" and all(tag in scalars for tag in chart[1])
