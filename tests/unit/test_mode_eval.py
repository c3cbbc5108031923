"""Each mode's evaluation (`trainers.league.mode_eval`) on hand-made inputs: the Kuhn figures
against the theory (itself equal to OpenSpiel's: tests/theory/test_kuhn_mixture.py), the
intervals, the dilemma panel's seats, the success rule."""

from __future__ import annotations

import math
import statistics
from fractions import Fraction
from types import SimpleNamespace

import pytest

from envs.kuhn_poker.theory import (
    UNIFORM_EXPLOITABILITY,
    exploitability,
    mixture_exploitability,
    nash_policy,
    restricted_game,
    uniform_policy,
)
from trainers.episode import Episode, Trajectory
from trainers.league.matchmaking import PFSPMatchmaker, UniformMatchmaker
from trainers.league.mode_eval import (
    KuhnExploitability,
    make_mode_evaluation,
    mean_interval,
    panel_mean,
)
from trainers.league.population import League
from trainers.league.publishing import LEARNER
from trainers.league.ratings import MatchRecord
from trainers.run.metrics import task_completed


def as_floats(table):
    return {k: {a: float(p) for a, p in v.items()} for k, v in table.items()}


def always_bet() -> dict:
    """Bet or call everywhere: a pure strategy far from Nash."""
    return {
        key: {a: float(a in ("bet", "call")) for a in probs}
        for key, probs in as_floats(uniform_policy()).items()
    }


def kuhn_trainer(matchmaker):
    """A league with the learner at version 3 and snapshots of versions 1 and 2."""
    league = League()
    league.add_learner(LEARNER, version=1)
    league.add_snapshot(LEARNER, step=5)
    league.set_version(LEARNER, 2)
    league.add_snapshot(LEARNER, step=10)
    league.set_version(LEARNER, 3)
    fixtures = SimpleNamespace(matchmaker=matchmaker)
    return SimpleNamespace(league=league, fixtures=fixtures, adapters=[LEARNER], learner=None)


def test_kuhn_figures_are_the_theory_of_the_versions_tables():
    trainer = kuhn_trainer(UniformMatchmaker())
    figures = KuhnExploitability()
    nash, uniform, bet = as_floats(nash_policy()), as_floats(uniform_policy()), always_bet()
    figures.tables = {1: uniform, 2: bet, 3: nash}  # every version already read: no learner
    out = figures.measure(trainer, games=0)
    assert out["eval/exploitability/last"] == pytest.approx(0.0, abs=1e-12)  # Nash
    # The restricted game's Nash: the last iterate (Kuhn's Nash) beats or ties every version.
    assert figures.nash_weights([1, 2, 3]) == pytest.approx({1: 0.0, 2: 0.0, 3: 1.0}, abs=1e-9)
    assert out["eval/exploitability/meta"] == pytest.approx(0.0, abs=1e-9)
    # The uniform matchmaker has no probabilities: the snapshots weigh the same.
    league = mixture_exploitability([uniform, bet], [1.0, 1.0])
    assert out["eval/exploitability/league"] == pytest.approx(float(league), abs=1e-12)
    average = mixture_exploitability([uniform, bet, nash], [1.0, 1.0, 1.0])
    assert out["eval/exploitability/average"] == pytest.approx(float(average), abs=1e-12)
    assert 0 < out["eval/exploitability/average"] < out["eval/exploitability/league"]


def test_the_meta_strategy_is_the_nash_of_the_versions_exact_game():
    """Always-bet wins 0.375 a game from uniform play (averaged over seats), so the Nash of
    their restricted game is always-bet alone, and the meta concedes what always-bet does (1/3),
    less than the uniform policy's 0.458."""
    uniform, bet = as_floats(uniform_policy()), always_bet()
    values = restricted_game([uniform, bet])
    assert float(values[1][0]) == pytest.approx(0.375) and values[0][1] == -values[1][0]
    assert values[0][0] == values[1][1] == 0
    league = League()
    league.add_learner(LEARNER, version=1)
    league.add_snapshot(LEARNER, step=5)
    league.set_version(LEARNER, 2)
    trainer = SimpleNamespace(
        league=league, fixtures=SimpleNamespace(matchmaker=UniformMatchmaker()), adapters=[LEARNER]
    )
    figures = KuhnExploitability()
    figures.tables = {1: uniform, 2: bet}
    out = figures.measure(trainer, games=0)
    assert figures.nash_weights([1, 2]) == pytest.approx({1: 0.0, 2: 1.0}, abs=1e-9)
    assert out["eval/exploitability/meta"] == pytest.approx(1 / 3, abs=1e-9)
    assert out["eval/exploitability/league"] == pytest.approx(float(UNIFORM_EXPLOITABILITY))


def test_the_league_figure_weighs_snapshots_as_pfsp_draws_them():
    trainer = kuhn_trainer(PFSPMatchmaker())
    league = trainer.league
    for k in range(4):  # the learner beat v1 4 times and lost to v2 4 times: v2 is harder
        league.record(MatchRecord("kuhn_poker_v0", ((LEARNER,), ("main@v1",)), (1.0, -1.0), k))
        league.record(MatchRecord("kuhn_poker_v0", ((LEARNER,), ("main@v2",)), (-1.0, 1.0), k))
    figures = KuhnExploitability()
    uniform, bet = as_floats(uniform_policy()), always_bet()
    figures.tables = {1: uniform, 2: bet, 3: as_floats(nash_policy())}
    weights = figures.weights(trainer)
    drawn = PFSPMatchmaker().probabilities(league, LEARNER)
    assert weights == {1: drawn["main@v1"], 2: drawn["main@v2"]} and weights[2] > weights[1]
    out = figures.measure(trainer, games=0)
    drawn_mixture = mixture_exploitability([uniform, bet], [weights[1], weights[2]])
    assert out["eval/exploitability/league"] == pytest.approx(float(drawn_mixture), abs=1e-12)


def test_before_the_first_snapshot_the_meta_strategy_is_the_learner():
    league = League()
    league.add_learner(LEARNER, version=0)
    trainer = SimpleNamespace(
        league=league, fixtures=SimpleNamespace(matchmaker=PFSPMatchmaker()), adapters=[LEARNER]
    )
    figures = KuhnExploitability()
    figures.tables = {0: as_floats(uniform_policy())}
    out = figures.measure(trainer, games=0)
    uniform = float(UNIFORM_EXPLOITABILITY)
    assert out["eval/exploitability/meta"] == pytest.approx(uniform, abs=1e-12)
    assert out["eval/exploitability/last"] == pytest.approx(uniform, abs=1e-12)


def test_the_tables_survive_a_checkpoint_as_json_and_old_versions_leave():
    import json

    trainer = kuhn_trainer(UniformMatchmaker())
    figures = KuhnExploitability()
    figures.tables = {0: always_bet(), 1: always_bet(), 2: always_bet(), 3: always_bet()}
    figures.observe(trainer)  # version 0 is no snapshot and not the learner: dropped
    assert sorted(figures.tables) == [1, 2, 3]
    again = KuhnExploitability()
    again.load_state_dict(json.loads(json.dumps(figures.state_dict())))
    assert again.tables == figures.tables


def test_mean_interval_is_the_normal_95_percent_interval():
    values = [0.2, 0.6, 0.6, 1.0]
    mean, low, high = mean_interval(values)
    half = 1.959964 * statistics.stdev(values) / 2
    assert mean == pytest.approx(0.6) and (low, high) == pytest.approx((0.6 - half, 0.6 + half))
    assert mean_interval([0.4]) == (0.4, 0.4, 0.4)
    assert all(math.isnan(v) for v in mean_interval([]))


def test_the_panel_weighs_members_equally_whatever_their_game_counts():
    scores = {"a": [0.6] * 10, "b": [0.2, 0.2]}
    mean, low, high = panel_mean(scores)
    assert mean == pytest.approx(0.4) and low == high == pytest.approx(0.4)  # no spread
    mean, low, high = panel_mean({"a": [0.0, 1.0], "b": [0.5, 0.5]})
    assert mean == pytest.approx(0.5) and low < 0.5 < high


def episode(raw: dict[str, float], forfeited_by=None) -> Episode:
    trajectories = {
        a: Trajectory(a, "main", a, ("main", 1), False, raw_score=s) for a, s in raw.items()
    }
    return Episode("signal_v0", 0, 1, "cooperative", 0.5, trajectories, False, forfeited_by, "")


def test_a_cooperative_game_is_done_when_its_group_scores_without_a_forfeit():
    assert task_completed(episode({"player_0": 0.9, "player_1": 0.9}))
    assert not task_completed(episode({"player_0": -0.1, "player_1": 0.0}))
    assert not task_completed(episode({"player_0": 1.0, "player_1": 1.0}, forfeited_by="player_0"))


def test_each_mode_gets_its_own_evaluation():
    assert isinstance(
        make_mode_evaluation("competitive", "kuhn_poker_v0", {}, ()), KuhnExploitability
    )
    pair = make_mode_evaluation("cooperative", "signal_v0", {}, ("strong",))
    assert pair.figures(["player_0", "player_1"])[0] == ("success_rate", "pair")
    panel = make_mode_evaluation("mixed", "prisoners_dilemma_v0", {"rounds": 3}, ())
    assert panel.rounds == 3
    assert make_mode_evaluation("mixed", "prisoners_dilemma_v0", {}, ()).rounds == 5
    assert make_mode_evaluation("team_battle", "team_quiz_v0", {}, ()) is None
    # Betting and calling whatever the card is card-blind: the floor of 1/3, below uniform play.
    assert exploitability(always_bet()) == pytest.approx(float(Fraction(1, 3)))
    assert Fraction(1, 3) < UNIFORM_EXPLOITABILITY


class CooperatingLearner:
    """The dilemma played for real by the scripted bots, the learner's seats by an always-
    cooperating bot under the learner's adapter: known scores for the panel's bookkeeping."""

    def __init__(self, rounds: int) -> None:
        from trainers.rollout import Rollout

        self.real = Rollout(None, "prisoners_dilemma_v0", {"rounds": rounds}, payoff="mixed")

    def play(self, matches, step=0, mix=0.5):
        from trainers.rollout import MatchSpec, Seat

        scripted = [
            MatchSpec(m.seed, {
                a: Seat(s.player, bot="always_cooperate") if s.adapter else s
                for a, s in m.seats.items()
            })
            for m in matches
        ]  # fmt: skip
        episodes = self.real.play(scripted, step)
        for ep, m in zip(episodes, matches, strict=True):
            for a, s in m.seats.items():
                if s.adapter is not None:
                    ep.trajectories[a].adapter = (s.adapter.name, s.adapter.version)
        return episodes


def test_the_dilemma_panel_scores_each_side_of_each_game():
    from trainers.league.fixtures import Fixtures
    from trainers.league.mode_eval import DilemmaPanel

    agents = ["player_0", "player_1"]
    league = League()
    league.add_learner(LEARNER, version=1)
    fixtures = Fixtures(agents, {a: a for a in agents}, "agent", False, UniformMatchmaker(), 0)
    trainer = SimpleNamespace(
        agents=agents, league=league, fixtures=fixtures, rollout=CooperatingLearner(3), step=0,
        config=SimpleNamespace(league=SimpleNamespace(eval_temperature=None)),
        make_matches=lambda n, learning: fixtures.make(league, n, learning=learning),
    )  # fmt: skip
    out = DilemmaPanel(rounds=3).measure(trainer, games=10)
    # The cooperator earns R = 0.6 a round beside tit-for-tat and itself, S = 0 beside a defector.
    assert out["eval/score/tit_for_tat"] == pytest.approx(0.6)
    assert out["eval/score/learned_pair"] == pytest.approx(0.6)
    assert out["eval/score/always_defect"] == pytest.approx(0.0)
    # Tit-for-tat: 0.6 against itself and the cooperator; (0 + 0.2 + 0.2) / 3 against a defector.
    random = out["eval/score/random"]
    mine = (0.6 + 0.6 + 0.0 + random) / 4
    assert out["eval/panel_score/learner"] == pytest.approx(mine)
    tft = out["eval/panel_score/tit_for_tat"]
    assert 0.6 / 4 + 0.6 / 4 + 0.4 / 3 / 4 < tft < 0.6 / 4 + 0.6 / 4 + 0.4 / 3 / 4 + 0.25
    assert out["eval/panel_score_low/learner"] <= mine <= out["eval/panel_score_high/learner"]
