"""The league: membership, snapshot rules, eviction with released versions, JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from trainers.league.population import League, LeagueConfig, Player
from trainers.league.ratings import MatchRecord


def duel(a: str, b: str, a_wins: bool = True, step: int = 0) -> MatchRecord:
    return MatchRecord("kuhn_poker_v0", ((a,), (b,)), (1.0, 0.0) if a_wins else (0.0, 1.0), step)


def small_league(**config) -> League:
    league = League(LeagueConfig(**config))
    league.add_learner("red", version=1)
    league.add_learner("blue", adapter="blue_lora", version=1)
    league.add_learner("hunter", version=1, exploiter=True)
    league.add_bot("random", "random")
    return league


def test_membership_and_kinds():
    league = small_league()
    assert len(league) == 4 and "red" in league
    assert [p.id for p in league.learners()] == ["red", "blue", "hunter"]
    assert [p.id for p in league.learners(exploiters=False)] == ["red", "blue"]
    assert [p.id for p in league.learners(exploiters=True)] == ["hunter"]
    assert league.get("blue").adapter_version == ("blue_lora", 1)
    assert league.get("random").adapter_version is None
    with pytest.raises(ValueError):
        league.add_bot("red", "random")
    with pytest.raises(KeyError):
        league.get("nobody")


def test_player_validation():
    with pytest.raises(ValueError):
        Player("x", "bot")  # no spec
    with pytest.raises(ValueError):
        Player("x", "learner", adapter="x")  # no version
    with pytest.raises(ValueError):
        Player("x@v1", "snapshot", adapter="x", version=1)  # no parent
    with pytest.raises(ValueError):
        Player("x", "bot", bot="random", exploiter=True)
    with pytest.raises(ValueError):
        Player("x", "champion")


def test_snapshot_due_every_k_updates():
    league = small_league(snapshot_every=10, snapshot_win_rate=None)
    assert not league.snapshot_due("red", 9)
    assert league.snapshot_due("red", 10)
    result = league.add_snapshot("red", step=10)
    assert result.player.id == "red@v1" and result.player.parent == "red"
    assert not league.snapshot_due("red", 19)
    assert league.snapshot_due("red", 20)
    with pytest.raises(ValueError):
        league.snapshot_due("random", 10)


def test_snapshot_due_when_learner_outgrows_the_league():
    league = small_league(snapshot_every=0, snapshot_win_rate=0.7, snapshot_min_games=4)
    for step in range(3):
        league.record(duel("red", "random", step=step))
    assert not league.snapshot_due("red", 3)  # 3 games < snapshot_min_games
    league.record(duel("red", "blue", a_wins=False, step=3))
    league.record(duel("red", "blue", a_wins=False, step=3))
    assert not league.snapshot_due("red", 4)  # 3 / 5 = 0.6 < 0.7
    for step in range(4, 7):
        league.record(duel("red", "random", step=step))
    assert league.snapshot_due("red", 7)  # 6 / 8 = 0.75
    league.add_snapshot("red", step=7)
    assert not league.snapshot_due("red", 7)  # games before the snapshot no longer count
    for step in range(7, 11):
        league.record(duel("red", "blue", step=step))
    assert league.snapshot_due("red", 11)


def test_eviction_reports_versions_no_longer_referenced():
    league = small_league(max_snapshots=2)
    league.add_snapshot("red", version=1, step=1)
    league.set_version("red", 2)
    league.add_snapshot("red", step=2)
    league.set_version("red", 3)
    result = league.add_snapshot("red", step=3)
    assert [p.id for p in result.evicted] == ["red@v1"]
    assert result.released == (("red", 1),)
    assert [p.id for p in league.snapshots(of="red")] == ["red@v2", "red@v3"]
    assert ("red", 1) not in league.referenced_versions()
    with pytest.raises(ValueError):
        league.add_snapshot("red", version=3, step=4)  # red@v3 already exists


def test_evicting_a_snapshot_of_the_current_version_releases_nothing():
    league = small_league(max_snapshots=1)
    league.add_snapshot("red", step=1)  # red@v1, and the learner is still at v1
    result = league.add_snapshot("red", version=0, step=2)
    assert [p.id for p in result.evicted] == ["red@v1"]
    assert result.released == ()
    assert ("red", 1) in league.referenced_versions()


def test_set_version_releases_the_old_version_unless_a_snapshot_holds_it():
    league = small_league()
    assert league.set_version("blue", 2) == (("blue_lora", 1),)
    league.add_snapshot("blue", step=5)  # holds blue_lora v2
    assert league.set_version("blue", 3) == ()
    assert league.remove("blue@v2") == (("blue_lora", 2),)
    assert league.remove("random") == ()


def test_win_rates_and_pair_stats():
    league = small_league()
    league.record(duel("red", "blue"))
    league.record(duel("red", "blue"))
    league.record(duel("red", "blue", a_wins=False))
    league.record(MatchRecord("x", (("red",), ("blue",)), (1.0, 1.0)))
    assert league.games("red", "blue") == 4
    assert league.win_rate("red", "blue") == pytest.approx(2.5 / 4)
    assert league.win_rate("blue", "red") == pytest.approx(1.5 / 4)
    assert league.mean_margin("red", "blue") == pytest.approx(1 / 4)
    assert league.win_rate("red", "random") == 0.5  # prior: never met
    assert league.win_rate("red", "random", default=0.0) == 0.0
    rate, games = league.win_rate_vs_league("red")
    assert (rate, games) == (pytest.approx(2.5 / 4), 4)
    assert math.isnan(league.win_rate_vs_league("random")[0])
    matrix = league.payoff_matrix(["red", "blue"])
    assert matrix[0, 1] == pytest.approx(0.625) and matrix[1, 0] == pytest.approx(0.375)


def test_json_round_trip():
    league = small_league(max_snapshots=3, snapshot_every=5)
    league.add_snapshot("red", step=2)
    league.record(duel("red", "red@v1", step=3))
    league.record(MatchRecord("team_quiz_v0", (("red", "blue"), ("hunter", "random")), (2, 3), 4))
    text = league.to_json()
    json.loads(text)  # plain JSON
    back = League.from_json(text)
    assert back.to_json() == text
    assert back.players == league.players
    assert back.records == league.records
    assert back.config == league.config
    assert back.win_rate("red", "red@v1") == league.win_rate("red", "red@v1") == 1.0
    assert back.win_rate("hunter", "blue") == 1.0
    assert back.snapshot_due("red", 7) == league.snapshot_due("red", 7) is True
    with pytest.raises(ValueError):
        League.from_json(json.dumps({"format": 99}))
