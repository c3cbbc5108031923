"""The shared helpers on hand-checked values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import (
    RunData,
    capability_table,
    latest,
    load_run,
    payoff_frame,
    player_summary,
    ratings_frame,
    trend,
)
from trainers.league.population import League
from trainers.league.ratings import MatchRecord
from trainers.run import layout as rf


def _rows(*rows: tuple) -> pd.DataFrame:
    """(step, episode, player, return, won, invalid_moves, moves, learning) rows."""
    columns = ["step", "episode", "player", "return", "won", "invalid_moves", "moves", "learning"]
    return pd.DataFrame(rows, columns=columns)


# Two episodes of red vs blue: red wins the first, the second is a draw.
MATCHES = _rows(
    (0, 0, "red", 1.0, 1.0, 0, 2, 1),
    (0, 0, "blue", -1.0, 0.0, 1, 2, 1),
    (1, 1, "red", 0.0, 0.5, 1, 4, 1),
    (1, 1, "blue", 0.0, 0.5, 0, 3, 0),
)


def test_player_summary_hand_checked():
    summary = player_summary(MATCHES)
    assert summary.index.tolist() == ["blue", "red"]
    red, blue = summary.loc["red"], summary.loc["blue"]
    assert red["games"] == 2 and red["seats"] == 2
    assert red["mean_return"] == pytest.approx(0.5)
    assert red["std_return"] == pytest.approx(math.sqrt(0.5))  # sample sd of (1, 0)
    assert red["win_rate"] == pytest.approx(0.75)
    assert red["invalid_moves"] == 1 and red["moves"] == 6
    assert red["invalid_move_rate"] == pytest.approx(1 / 6)
    assert red["moves_per_game"] == pytest.approx(3.0)
    assert blue["mean_return"] == pytest.approx(-0.5)
    assert blue["win_rate"] == pytest.approx(0.25)
    assert blue["invalid_move_rate"] == pytest.approx(1 / 5)
    assert bool(red["learning"]) and bool(blue["learning"])


def test_player_summary_counts_a_player_holding_two_seats_once_per_game():
    matches = _rows(
        (0, 0, "red", 1.0, 1.0, 0, 2, 1),
        (0, 0, "red", 1.0, 1.0, 0, 2, 1),  # same episode, second seat
        (0, 0, "blue", -1.0, 0.0, 0, 0, 1),
    )
    summary = player_summary(matches)
    assert summary.loc["red", "games"] == 1 and summary.loc["red", "seats"] == 2
    assert math.isnan(summary.loc["blue", "invalid_move_rate"])  # no moves: no rate


def test_player_summary_per_step_and_empty():
    per_step = player_summary(MATCHES, by=("step", "player"))
    assert per_step.loc[(1, "red"), "invalid_move_rate"] == pytest.approx(0.25)
    assert per_step.loc[(0, "blue"), "win_rate"] == 0.0
    empty = player_summary(MATCHES.iloc[0:0])
    assert empty.empty and "win_rate" in empty.columns


def _scalars(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(step, tag, value, 1000.0 + step) for step, tag, value in rows],
        columns=["step", "tag", "value", "wall_time"],
    )


SCALARS = _scalars(
    [
        (0, "charts/win_rate/red", 0.2),
        (1, "charts/win_rate/red", 0.6),
        (1, "charts/win_rate/blue", 0.4),
        (0, "charts/win_rate_extra/red", 9.0),  # another tag sharing the text prefix
        (0, "charts/episodes_per_s", 1.0),
        (1, "charts/episodes_per_s", 3.0),
    ]
)


def test_trend_one_column_per_player():
    wide = trend(SCALARS, rf.TAG_WIN_RATE)
    assert wide.index.tolist() == [0, 1] and sorted(wide.columns) == ["blue", "red"]
    assert wide.loc[1, "red"] == 0.6 and math.isnan(wide.loc[0, "blue"])
    assert trend(SCALARS, "charts/nothing").empty


def test_trend_exact_tag_and_smoothing():
    wide = trend(SCALARS, rf.TAG_EPISODES_PER_S)
    assert wide.columns.tolist() == ["episodes_per_s"]
    smooth = trend(SCALARS, rf.TAG_EPISODES_PER_S, smoothing=0.5)
    # TensorBoard's debiased EMA: (3 + 0.5 * 1) / (1 + 0.5)
    assert smooth["episodes_per_s"].tolist() == pytest.approx([1.0, 3.5 / 1.5])
    with pytest.raises(ValueError):
        trend(SCALARS, rf.TAG_EPISODES_PER_S, smoothing=1.0)


def test_latest_is_the_last_logged_value():
    last = latest(SCALARS, rf.TAG_WIN_RATE)
    assert last.to_dict() == {"blue": 0.4, "red": 0.6}


def _league_with_records() -> dict:
    league = League()
    league.add_learner("red")
    league.add_learner("blue")
    league.add_bot("bot:random", "random")
    for a_wins in (True, True, False):
        scores = (1.0, 0.0) if a_wins else (0.0, 1.0)
        league.record(MatchRecord("rps_v0", (("red",), ("blue",)), scores))
    return {"league": league.state_dict(), "ratings": {}, "payoff": {}}


def test_payoff_frame_recomputed_from_records():
    frame = payoff_frame(_league_with_records())
    assert frame.index.tolist() == ["red", "blue"]  # bot:random met nobody: dropped
    assert frame.loc["red", "blue"] == pytest.approx(2 / 3)
    assert frame.loc["blue", "red"] == pytest.approx(1 / 3)
    assert math.isnan(frame.loc["red", "red"])
    full = payoff_frame(_league_with_records(), dropna=False)
    assert full.shape == (3, 3)
    games = payoff_frame(_league_with_records(), "games")
    assert games.loc["red", "blue"] == 3


def test_payoff_frame_from_stored_shapes():
    listed = {
        "payoff": {
            "players": ["a", "b"],
            "win_rate": [[None, 0.8], [0.2, None]],
            "games": [[0, 5], [5, 0]],
        }
    }
    frame = payoff_frame(listed)
    assert frame.loc["a", "b"] == 0.8 and frame.loc["b", "a"] == 0.2
    assert payoff_frame(listed, "games").loc["a", "b"] == 5
    nested = {"payoff": {"a": {"b": 0.9}, "b": {"a": 0.1}}}
    frame = payoff_frame(nested)
    assert frame.loc["a", "b"] == 0.9 and math.isnan(frame.loc["a", "a"])
    assert payoff_frame({}).empty


def test_ratings_frame_reads_both_orientations():
    by_system = {
        "league": {"players": [{"id": "red"}, {"id": "blue"}]},
        "ratings": {
            "elo": {"red": 1016.0, "blue": 984.0},
            "openskill": {"red": {"mu": 27.0, "sigma": 2.0}, "blue": {"mu": 23.0, "sigma": 3.0}},
        },
    }
    frame = ratings_frame(by_system)
    assert frame.loc["red", "elo"] == 1016.0
    assert frame.loc["blue", "openskill_ordinal"] == pytest.approx(23.0 - 9.0)
    by_player = {
        "league": {"players": [{"id": "red"}, {"id": "blue"}]},
        "ratings": {"red": {"elo": 1016.0}, "blue": {"elo": 984.0}},
    }
    assert ratings_frame(by_player)["elo"].to_dict() == {"blue": 984.0, "red": 1016.0}


def test_ratings_frame_falls_back_to_scalars_then_records():
    scalars = _scalars([(0, "league/elo/red", 1010.0), (3, "league/elo/red", 1030.0)])
    assert ratings_frame({}, scalars).loc["red", "elo"] == 1030.0
    recomputed = ratings_frame(_league_with_records())
    assert recomputed.loc["red", "elo"] > 1000.0 > recomputed.loc["blue", "elo"]


def test_capability_table_hand_checked():
    matches = _rows(
        (0, 0, "red", 1.0, 1.0, 0, 4, 1),
        (0, 0, "blue", -1.0, 0.0, 1, 4, 1),
        (1, 1, "red", 0.0, 0.5, 0, 4, 1),
        (1, 1, "blue", 0.0, 0.5, 0, 4, 1),
        (1, 2, "red", 1.0, 1.0, 2, 4, 1),
        (1, 2, "bot", -1.0, 0.0, 0, 4, 0),
    )
    scalars = _scalars(
        [(1, "charts/cooperation_score/red", 0.9), (1, "charts/cooperation_score/blue", 0.3)]
    )
    league = {"ratings": {"elo": {"red": 1100.0, "blue": 1000.0, "bot": 900.0}}}
    run = RunData(Path("."), scalars, matches, league, {}, {})
    table = capability_table(run)
    assert table.index.tolist() == ["blue", "bot", "red"]
    assert table.columns.tolist() == [
        "win rate",
        "return (scaled)",
        "valid moves",
        "cooperation",
        "rating (scaled)",
    ]
    # mean returns: red 2/3, blue -1/2, bot -1 -> min-max over players
    assert table["return (scaled)"].to_dict() == pytest.approx(
        {"blue": 0.5 / (5 / 3), "bot": 0.0, "red": 1.0}
    )
    assert table.loc["red", "win rate"] == pytest.approx(2.5 / 3)
    assert table.loc["red", "valid moves"] == pytest.approx(1 - 2 / 12)
    assert table.loc["blue", "valid moves"] == pytest.approx(1 - 1 / 8)
    assert table.loc["red", "cooperation"] == 0.9 and math.isnan(table.loc["bot", "cooperation"])
    rating = table["rating (scaled)"].to_dict()
    assert rating == pytest.approx({"blue": 0.5, "bot": 0.0, "red": 1.0})
    assert ((table.fillna(0) >= 0) & (table.fillna(0) <= 1)).all().all()
    # only the last step: episodes 1 and 2
    recent = capability_table(run, last_steps=1)
    assert recent.loc["blue", "win rate"] == 0.5


def test_capability_table_of_a_run_is_in_unit_range(run_dir):
    table = capability_table(load_run(run_dir))
    assert not table.empty and table.shape[1] >= 3
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    assert (finite >= 0).all() and (finite <= 1).all()


def test_capability_all_equal_scales_to_half():
    matches = _rows((0, 0, "a", 1.0, 0.5, 0, 1, 1), (0, 0, "b", 1.0, 0.5, 0, 1, 1))
    table = capability_table(RunData(Path("."), _scalars([]), matches, {}, {}, {}))
    assert table["return (scaled)"].tolist() == [0.5, 0.5]
    assert "rating (scaled)" not in table  # nothing to rate with


def test_win_rate_ignores_games_nobody_can_win():
    matches = _rows(
        (0, 0, "red", 1.0, 1.0, 0, 1, 1),
        (0, 0, "blue", -1.0, 0.0, 0, 1, 1),
        (0, 1, "red", 2.0, 0.5, 0, 1, 1),  # cooperative episode: both on team "all"
        (0, 1, "blue", 2.0, 0.5, 0, 1, 1),
    ).assign(team=["red", "blue", "all", "all"])
    summary = player_summary(matches)
    assert summary.loc["red", "win_rate"] == 1.0 and summary.loc["blue", "win_rate"] == 0.0
    cooperative = player_summary(matches[matches["episode"] == 1])
    assert cooperative["win_rate"].isna().all()
    assert cooperative.loc["red", "games"] == 1
    # every seat its own team, but a cooperative payoff: nobody can win either
    shared = matches.assign(team=["red", "blue", "red", "blue"], payoff="cooperative")
    assert player_summary(shared)["win_rate"].isna().all()


def test_shared_cooperation_tags_apply_to_every_player():
    matches = _rows((0, 0, "a", 1.0, 0.5, 0, 1, 1), (0, 0, "b", 1.0, 0.5, 0, 1, 1))
    scalars = _scalars(
        [
            (0, rf.TAG_TASK_COMPLETION, 0.25),
            (1, rf.TAG_TASK_COMPLETION, 0.75),
            (0, rf.TAG_COOPERATION, -2.0),  # a group return: outside 0..1
            (1, rf.TAG_COOPERATION, 1.0),
            (2, rf.TAG_COOPERATION, 0.0),
        ]
    )
    table = capability_table(RunData(Path("."), scalars, matches, {}, {}, {}))
    assert table["task completion"].tolist() == [0.75, 0.75]
    # the shared last value 0.0 within the run's range [-2, 1]
    assert table["cooperation"].tolist() == pytest.approx([2 / 3, 2 / 3])


def test_capability_of_scripted_seats_and_of_a_run_without_matches():
    matches = _rows((0, 0, "bot", 1.0, 1.0, 0, 0, 0), (0, 0, "main", -1.0, 0.0, 1, 2, 1))
    scalars = _scalars([(0, "charts/win_rate/main", 0.9), (0, "charts/win_rate/bot", 0.1)])
    table = capability_table(RunData(Path("."), scalars, matches, {}, {}, {}))
    assert table.loc["bot", "valid moves"] == 1.0  # no move counted, none invalid
    assert table.loc["main", "valid moves"] == 0.5
    assert table["win rate"].to_dict() == {"bot": 1.0, "main": 0.0}  # matches.csv wins
    no_rows = capability_table(RunData(Path("."), scalars, matches.iloc[0:0], {}, {}, {}))
    assert no_rows["win rate"].to_dict() == {"bot": 0.1, "main": 0.9}
