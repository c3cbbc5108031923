"""Mixed mode's payoff-mix control: the measurements read from episodes (per iteration and per
game), the adaptive rule on synthetic per-game curves (noise alone rarely moves l; each
documented cause moves it its way within a run of the mixed preset's length), the fixed
schedule, and a resumed controller that continues exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.conversation import TurnTokens
from envs.prisoners_dilemma.rules import LEGAL, round_scores
from trainers.config import TrainerConfig
from trainers.episode import Episode, Trajectory
from trainers.league.mix_control import (
    MIX_CONTROLS,
    AdaptiveMix,
    MixControlConfig,
    MixSignals,
    ScheduleMix,
    dilemma_moves,
    family_games,
    make_mix_control,
    mix_signals,
)
from trainers.league.modes import mix_at

# ---------------------------------------------------------------------- measurements


def turn(text: str, constrained: bool = False) -> TurnTokens:
    return TurnTokens(0, (1,), (0.0,), 1, tuple(LEGAL) if constrained else None, text)


def seat(agent: str, texts, raw: float, learning: bool = True) -> Trajectory:
    return Trajectory(
        agent=agent, player="main" if learning else "bot:always_defect", team=agent,
        adapter=("main-" + agent.replace("_", ""), 1) if learning else None, learning=learning,
        turns=[turn(t, constrained=t in LEGAL) for t in texts], raw_score=raw,
    )  # fmt: skip


def episode(*seats: Trajectory) -> Episode:
    return Episode(
        env_id="prisoners_dilemma_v0", seed=0, step=1, payoff="mixed", mix=1.0,
        trajectories={s.agent: s for s in seats}, truncated=False, forfeited_by=None,
        transcript="",
    )  # fmt: skip


def raw_scores(moves_0, moves_1) -> tuple[float, float]:
    rounds = [round_scores(a, b) for a, b in zip(moves_0, moves_1, strict=True)]
    return sum(r[0] for r in rounds), sum(r[1] for r in rounds)


def test_dilemma_moves_skip_messages_and_invalid_tries():
    texts = ["[say I will cooperate]", "[cooperate]", "[say hm]", "both [cooperate] [defect]",
             "fine, I [ Defect ]", "[say bye]", "[defect]"]  # fmt: skip
    assert dilemma_moves(seat("player_0", texts, 0.0)) == ["cooperate", "defect", "defect"]


def test_signals_of_two_learning_seats():
    """Round 1: player_0 cooperates, player_1 defects (player_0 exploited); round 2: both
    defect. Cooperation 1 of 4 moves, exploitation 1 of 4 seat-rounds, group per round."""
    p0, p1 = ["cooperate", "defect"], ["defect", "defect"]
    r0, r1 = raw_scores(p0, p1)
    ep = episode(
        seat("player_0", ["[say hi]", "[cooperate]", "[say so]", "[defect]"], r0),
        seat("player_1", ["[say hi]", "[defect]", "[say so]", "[defect]"], r1),
    )
    signals = mix_signals([ep])
    assert signals.cooperation == pytest.approx(0.25)
    assert signals.exploited == pytest.approx(0.25)
    assert signals.group == pytest.approx((r0 + r1) / 2 / 2)
    assert signals.rounds == 4
    assert signals.games == ((0.25, 0.25, pytest.approx((r0 + r1) / 2 / 2)),)
    assert set(signals.scalars()) == {"charts/mix/cooperation", "charts/mix/exploited",
                                      "charts/mix/group"}  # fmt: skip


def test_a_scripted_seat_counts_for_the_group_only():
    r0, r1 = raw_scores(["cooperate"], ["defect"])
    ep = episode(
        seat("player_0", ["[say hi]", "[cooperate]"], r0),
        seat("player_1", [], r1, learning=False),  # a bot: no turns, its moves unknown
    )
    signals = mix_signals([ep])
    assert signals.cooperation == 1.0 and signals.exploited is None and signals.rounds == 0
    assert signals.group == pytest.approx((r0 + r1) / 2)
    assert signals.games == ((1.0, None, pytest.approx((r0 + r1) / 2)),)
    assert signals.scalars().keys() == {"charts/mix/cooperation", "charts/mix/group"}


def test_the_controller_reads_only_the_games_its_mix_pays():
    """A game with a partner bot pays each seat its own score: l does not apply, so the
    controller's signals leave it out (`family_games`)."""
    r0, r1 = raw_scores(["cooperate"], ["cooperate"])
    pair = episode(seat("player_0", ["[cooperate]"], r0), seat("player_1", ["[cooperate]"], r1))
    with_bot = episode(seat("player_0", ["[defect]"], 1.0), seat("player_1", [], 0.0, False))
    assert family_games([pair, with_bot]) == [pair]
    assert mix_signals(family_games([pair, with_bot])).cooperation == 1.0


def test_each_game_is_measured_alone_and_the_iteration_pools_moves():
    """Game A: two rounds, player_0 always cooperates, player_1 always defects (cooperation
    2 of 4 moves, player_0 exploited in 2 of 4 seat-rounds). Game B: one round, both cooperate.
    Per game (0.5, 0.5, g_A) and (1.0, 0.0, g_B); a game with no dilemma move has its group score
    only. The iteration pools the moves (4 of 6 cooperate, 2 of 6 seat-rounds exploited) and
    averages the games' group scores. The rows are the controller's samples."""
    ra = raw_scores(["cooperate"] * 2, ["defect"] * 2)
    game_a = episode(seat("player_0", ["[cooperate]"] * 2, ra[0]),
                     seat("player_1", ["[defect]"] * 2, ra[1]))  # fmt: skip
    rb = raw_scores(["cooperate"], ["cooperate"])
    game_b = episode(seat("player_0", ["[cooperate]"], rb[0]),
                     seat("player_1", ["[cooperate]"], rb[1]))  # fmt: skip
    silent = episode(seat("player_0", ["[say hi]"], 0.0), seat("player_1", ["[say no]"], 0.0))
    signals = mix_signals([game_a, game_b, silent])
    g_a, g_b = sum(ra) / 2 / 2, sum(rb) / 2
    approx = pytest.approx
    assert signals.games == ((0.5, 0.5, approx(g_a)), (1.0, 0.0, approx(g_b)), (None, None, 0.0))
    assert signals.cooperation == approx(4 / 6) and signals.exploited == approx(2 / 6)
    assert signals.group == approx((g_a + g_b) / 3) and signals.rounds == 6
    ctl = AdaptiveMix()  # the trainer's path: observe(mix_signals(family_games(episodes)))
    ctl.observe(mix_signals(family_games([game_a, game_b, silent])))
    assert ctl.history == [signals.games]


def test_no_games_no_signals():
    assert mix_signals([]) == MixSignals(None, None, None, 0)
    assert mix_signals([]).games == ()


# ---------------------------------------------------------------------- the adaptive rule

# The mixed preset's run (`experiments/mixed.py`): 16 iterations of 16 games, 3 rounds of two
# learning seats (6 moves, 6 seat-rounds per game).
T, GAMES, MOVES = 16, 16, 6
SEEDS = range(300)
t = np.arange(T)


def games(rng, coop, exploited, group, group_sd: float = 0.1) -> list[tuple]:
    """Per update, GAMES games' (cooperation, exploited, group) drawn around the curves (a value
    or one per update): binomial shares of the game's MOVES moves and seat-rounds, and a group
    score per round with the spread of a 3-round game's (about 0.1)."""
    updates = []
    for c, e, g in zip(*np.broadcast_arrays(coop, exploited, group, t)[:3], strict=True):
        rows = zip(rng.binomial(MOVES, c, GAMES) / MOVES, rng.binomial(MOVES, e, GAMES) / MOVES,
                   g + rng.normal(0.0, group_sd, GAMES), strict=True)  # fmt: skip
        updates.append(tuple((float(a), float(b), float(d)) for a, b, d in rows))
    return updates


def run(updates, start: float = 0.75, **config) -> list:
    """Decisions of a controller (l in [0.5, 1]) fed the updates' games."""
    ctl = AdaptiveMix(MixControlConfig(start=start, low=0.5, high=1.0, **config))
    signals = (MixSignals(None, None, None, games=rows) for rows in updates)
    return [d for s in signals if (d := ctl.observe(s)) is not None]


def rates(make_updates) -> tuple[float, float, float]:
    """Shares of seeded runs with a move toward selfish, with one toward shared, and with a
    first change by update 9 (the third window end: 6, 9)."""
    up = down = early = 0
    for s in SEEDS:
        decisions = run(make_updates(np.random.default_rng(s)))
        up += any(d.new > d.old for d in decisions)
        down += any(d.new < d.old for d in decisions)
        early += bool(decisions) and decisions[0].step <= 9
    return up / len(SEEDS), down / len(SEEDS), early / len(SEEDS)


def flat(rng):
    return games(rng, 0.5, 0.12, 0.4)


def exploited_throughout(rng):
    return games(rng, 0.5, 0.3, 0.4)


def exploitation_rising(rng):
    return games(rng, 0.5, 0.02 + 0.03 * t, 0.4)


def cooperation_up_group_down(rng):
    return games(rng, 0.2 + 0.05 * t, 0.1, 0.6 - 0.025 * t)


def defection_spreads(rng):
    return games(rng, 0.9 - 0.05 * t, 0.1, 0.6 - 0.025 * t)


def group_falls_cooperation_flat(rng):
    return games(rng, 0.5, 0.12, 0.6 - 0.025 * t)


def mutual_defection(rng):  # converged: both nearly always defect, the group score quiet
    return games(rng, 0.02, 0.01, 0.2, group_sd=0.02)


def group_rising(rng):
    return games(rng, 0.5, 0.12, 0.2 + 0.025 * t)


def test_noise_alone_rarely_moves_l():
    """Flat curves, 16-update runs (decisions possible at 6, 9, 12, 15): measured false-change
    rate 1.3% over these 300 seeds, all toward shared (exploitation's one-sided tests, rule 1,
    are the ones that can fire alone); 1.9% over 3,000 when rule 1 went toward selfish (its
    tests fire at the same updates either way)."""
    up, down, _ = rates(flat)
    assert up + down <= 0.04


def test_a_policy_that_wanders_without_a_trend_moves_l_more_often():
    """The test's noise is the games'; a policy whose cooperation, exploitation and group score
    wander from update to update (sd 0.03 each, no trend) is more than that noise. Measured:
    l moved in 10.7% of these 300 runs (10.6% over 3,000; all but one of the 300 toward shared),
    against 1.3% without wander: the tolerances absorb part of it (module docstring). This pins
    the figure, it is no goal."""

    def wandering(rng):
        c, e, g = (v + rng.normal(0.0, 0.03, T) for v in (0.5, 0.12, 0.4))
        return games(rng, np.clip(c, 0, 1), np.clip(e, 0, 1), g)

    up, down, _ = rates(wandering)
    assert 0.04 <= up + down <= 0.16


# Each cause, 300 seeds, measured: its first change at update 6 in 73-97% of runs, by update 9
# in 95-100%; the bounds below leave room for another random generator.
def test_a_sustained_split_moves_l_toward_shared_never_selfish():
    """Exploitation in the family's games is the family split (one adapter cooperating, another
    defecting): its defector cooperates only at a more shared l (module docstring)."""
    up, down, early = rates(exploited_throughout)
    assert down == 1.0 and up == 0.0 and early >= 0.95


def test_a_widening_split_moves_l_toward_shared_never_selfish():
    up, down, early = rates(exploitation_rising)
    assert down == 1.0 and up == 0.0 and early >= 0.95


def test_rising_cooperation_with_a_falling_group_moves_l_toward_selfish():
    """Rule 2 as written; in the two-seat dilemma these curves can hardly occur (c and g rise
    together there but for split rounds turning both ways: module docstring)."""
    up, down, early = rates(cooperation_up_group_down)
    assert up >= 0.98 and down <= 0.06 and early >= 0.9  # down: exploitation's noise (3.3%)


def test_a_group_losing_to_defection_moves_l_toward_shared():
    up, down, early = rates(defection_spreads)
    assert down >= 0.98 and early >= 0.9 and up <= 0.01  # measured 0: rule 1's noise shares too


def test_a_falling_group_with_no_clear_cause_rarely_moves_l():
    up, down, _ = rates(group_falls_cooperation_flat)
    assert up + down <= 0.08  # measured 4.0% (5.4% over 3,000 seeds): c's tests fire too


def test_a_plateau_of_mutual_defection_moves_l_toward_shared_never_selfish():
    up, down, early = rates(mutual_defection)
    assert down == 1.0 and up == 0.0 and early >= 0.95


def test_a_rising_group_score_rarely_moves_l():
    up, down, _ = rates(group_rising)
    assert up + down <= 0.04


def exploited_games(n: int = GAMES) -> tuple:
    """n games exploited in 0.3 of rounds, with a spread so that the standard errors are not 0."""
    return tuple((0.5 + 0.1 * (i % 2), 0.25 + 0.1 * (i % 2), 0.4) for i in range(n))


def test_decisions_come_at_window_ends_after_two_windows_with_a_cooldown_within_bounds():
    """Exploited in 30% of rounds throughout (a split): l falls by a step at updates 6, 9, 12
    (window 3, cooldown 3) and stops at 0.5 without reporting the clamped no-op."""
    ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
    decisions = []
    for _ in range(T):
        decision = ctl.observe(MixSignals(None, None, None, games=exploited_games()))
        if decision is not None:
            decisions.append(decision)
    assert [(d.step, d.old, d.new) for d in decisions] == [
        (6, 0.75, 0.65), (9, 0.65, 0.55), (12, 0.55, 0.5),
    ]  # fmt: skip
    assert all(d.reason.startswith("split: cooperators exploited by their own family in 0.3")
               and d.reason.endswith("toward shared") for d in decisions)  # fmt: skip
    assert ctl.value(123) == 0.5
    assert "0.55 -> 0.50" in decisions[-1].describe()
    assert json.loads(json.dumps(decisions[0].to_dict()))["new"] == 0.65


def test_a_window_needs_min_games_values_of_a_signal():
    """2 games per update give a window 6 values, under min_games = 8: nothing is tested; with
    3 games per update (9 values) the exploitation is."""
    for per_update, tested in ((2, False), (3, True)):
        ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
        for _ in range(6):
            ctl.observe(MixSignals(None, None, None, games=exploited_games(per_update)))
        assert (ctl.tests()[1] is not None) == tested and (ctl.mix < 0.75) == tested


def test_l_never_leaves_its_bounds():
    for s in range(20):
        rng = np.random.default_rng(s)
        decisions = run(mutual_defection(rng) * 3, start=0.6)
        assert all(0.5 <= d.new <= 1.0 for d in decisions)
        assert decisions[-1].new == 0.5


def test_missing_and_non_finite_signals_are_not_tested():
    ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
    for _ in range(12):
        rows = tuple((None, float("nan"), 0.4 + 0.01 * (i % 2)) for i in range(GAMES))
        ctl.observe(MixSignals(None, None, None, games=rows))
    coop, exploited, group = ctl.tests()
    assert coop is None and exploited is None and group is not None
    assert ctl.mix == 0.75  # a flat group score alone says nothing about defection


def test_state_dict_json_round_trip_continues_identically():
    updates = defection_spreads(np.random.default_rng(7))
    a = AdaptiveMix(MixControlConfig(start=0.9, low=0.5, high=1.0))
    for rows in updates[:7]:  # a resume mid-window, after a first decision at 6
        a.observe(MixSignals(None, None, None, games=rows))
    b = AdaptiveMix(MixControlConfig(start=0.9, low=0.5, high=1.0))
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.state_dict() == a.state_dict()
    for rows in updates[7:]:
        signals = MixSignals(None, None, None, games=rows)
        assert a.observe(signals) == b.observe(signals)
        assert a.value(0) == b.value(0)
    assert a.mix < 0.8  # the curves moved it after the resume too: real decisions compared


def test_an_older_checkpoint_one_row_per_update_loads_and_its_rows_are_dropped():
    """Before per-game samples the history held each update's aggregate (c, e, g). Loading one
    drops those rows (an aggregate is no game: its spread is a mean's); the controller decides
    again once it holds two windows of new games."""
    old = {"mix": 0.8, "observed": 10, "since_change": 5, "config": {},
           "history": [[0.5, 0.3, 0.4], [None, None, 0.4]] * 5}  # fmt: skip
    ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
    ctl.load_state_dict(json.loads(json.dumps(old)))
    assert (ctl.mix, ctl.observed, ctl.history) == (0.8, 10, [])
    steps = [ctl.observe(MixSignals(None, None, None, games=exploited_games())) for _ in range(8)]
    # two windows of new games are first held at update 16; the next window end is 18
    assert [k for k, d in enumerate(steps, start=11) if d is not None] == [18]


# ---------------------------------------------------------------------- schedule and config


def test_the_schedule_is_the_linear_anneal_and_measures_nothing():
    control = make_mix_control("schedule", 1.0, 0.5, 30)
    assert isinstance(control, ScheduleMix)
    assert [control.value(s) for s in (0, 14, 29)] == [mix_at(s, 30, 1.0, 0.5) for s in (0, 14, 29)]
    assert control.observe(MixSignals(0.0, 1.0, 0.0)) is None and control.state_dict() == {}


def test_adaptive_starts_at_mix_start_and_stays_between_start_and_end():
    control = make_mix_control("adaptive", 1.0, 0.5, 30)
    assert isinstance(control, AdaptiveMix)
    assert control.value(0) == 1.0
    assert (control.config.low, control.config.high) == (0.5, 1.0)
    upward = make_mix_control("adaptive", 0.2, 0.8, 30)
    assert (upward.config.start, upward.config.low, upward.config.high) == (0.2, 0.2, 0.8)
    with pytest.raises(ValueError, match="unknown mix_control 'pid'"):
        make_mix_control("pid", 1.0, 0.5, 30)


def test_the_config_choice_is_the_registry_and_defaults_to_the_schedule():
    assert TrainerConfig.choices()["mix_control"] == MIX_CONTROLS
    assert TrainerConfig().game.mix_control == "schedule"


@pytest.mark.parametrize(
    "bad",
    [dict(start=0.4, low=0.5), dict(high=1.2), dict(step=0.0), dict(window=1), dict(z=0.0),
     dict(group_tol=-0.1), dict(min_games=1)],
)  # fmt: skip
def test_a_bad_controller_config_is_refused(bad):
    with pytest.raises(ValueError):
        MixControlConfig(**bad)


def test_the_trainer_plays_the_controls_mix():
    from trainers.selfplay import SelfPlayTrainer

    cfg = TrainerConfig.build(
        env_id="prisoners_dilemma_v0", mode="mixed", share="agent", bots=(), iterations=30,
        mix_control="adaptive", mix_start=1.0, mix_end=0.5,
    )  # fmt: skip
    trainer = SelfPlayTrainer(cfg)
    assert isinstance(trainer.mix_control, AdaptiveMix)
    trainer.mix_control.mix = 0.7  # as a decision would leave it
    assert trainer._mix(12) == 0.7
    schedule = SelfPlayTrainer(cfg.replace(mix_control="schedule"))
    assert schedule._mix(12) == mix_at(12, 30, 1.0, 0.5)
