"""Mixed mode's payoff-mix control: the measurements read from episodes, the adaptive rule on
synthetic curves (noise alone rarely moves l; each documented cause moves it its way), the
fixed schedule, and a resumed controller that continues exactly."""

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


def test_no_games_no_signals():
    assert mix_signals([]) == MixSignals(None, None, None, 0)
    assert mix_signals([]).games == ()


# ---------------------------------------------------------------------- the adaptive rule

T = 40  # updates per synthetic run
SEEDS = range(300)
t = np.arange(T)


def run(curves, start: float = 0.75, **config) -> list:
    """Decisions of a controller (l in [0.5, 1]) fed the curves (cooperation, exploited,
    group), one value of each per update."""
    ctl = AdaptiveMix(MixControlConfig(start=start, low=0.5, high=1.0, **config))
    decisions = []
    for c, e, g in zip(*curves, strict=True):
        decision = ctl.observe(MixSignals(float(c), float(e), float(g)))
        if decision is not None:
            decisions.append(decision)
    return decisions


def rates(make_curves) -> tuple[float, float]:
    """Share of seeded runs with a move toward selfish, and with one toward shared."""
    up = down = 0
    for s in SEEDS:
        decisions = run(make_curves(np.random.default_rng(s)))
        up += any(d.new > d.old for d in decisions)
        down += any(d.new < d.old for d in decisions)
    return up / len(SEEDS), down / len(SEEDS)


def noise(rng, sd: float):
    return rng.normal(0.0, sd, T)


# Per-update noise about that of a 16-game, 3-round batch: cooperation +-0.05, exploitation
# +-0.04, group score per round +-0.04.
def flat(rng):
    return 0.5 + noise(rng, 0.05), 0.12 + noise(rng, 0.04), 0.4 + noise(rng, 0.04)


def exploited_throughout(rng):
    return 0.5 + noise(rng, 0.05), 0.3 + noise(rng, 0.04), 0.4 + noise(rng, 0.04)


def exploitation_rising(rng):
    return 0.5 + noise(rng, 0.05), 0.02 + 0.01 * t + noise(rng, 0.04), 0.4 + noise(rng, 0.04)


def cooperation_up_group_down(rng):
    coop = 0.2 + 0.02 * t + noise(rng, 0.03)
    return coop, 0.1 + noise(rng, 0.04), 0.6 - 0.015 * t + noise(rng, 0.02)


def defection_spreads(rng):
    coop = 0.9 - 0.02 * t + noise(rng, 0.03)
    return coop, 0.1 + noise(rng, 0.04), 0.6 - 0.015 * t + noise(rng, 0.02)


def group_falls_cooperation_flat(rng):
    return 0.5 + noise(rng, 0.05), 0.12 + noise(rng, 0.04), 0.6 - 0.015 * t + noise(rng, 0.02)


def mutual_defection(rng):  # converged: both defect, the group score flat and quiet
    return 0.05 + noise(rng, 0.02), 0.03 + noise(rng, 0.01), 0.2 + noise(rng, 0.005)


def group_rising(rng):
    return 0.5 + noise(rng, 0.05), 0.12 + noise(rng, 0.04), 0.2 + 0.015 * t + noise(rng, 0.04)


def test_noise_alone_rarely_moves_l():
    up, down = rates(flat)
    assert up + down <= 0.08


def test_sustained_exploitation_moves_l_toward_selfish_never_shared():
    up, down = rates(exploited_throughout)
    assert up == 1.0 and down <= 0.01


def test_rising_exploitation_moves_l_toward_selfish():
    up, down = rates(exploitation_rising)
    assert up == 1.0 and down <= 0.01


def test_rising_cooperation_with_a_falling_group_moves_l_toward_selfish():
    up, down = rates(cooperation_up_group_down)
    assert up >= 0.95 and down <= 0.01


def test_a_group_losing_to_defection_moves_l_toward_shared():
    up, down = rates(defection_spreads)
    assert down >= 0.95 and up <= 0.08  # up: noise in the exploitation curve, as when flat


def test_a_falling_group_with_no_clear_cause_rarely_moves_l():
    up, down = rates(group_falls_cooperation_flat)
    assert up + down <= 0.08


def test_a_plateau_of_mutual_defection_moves_l_toward_shared_never_selfish():
    up, down = rates(mutual_defection)
    assert down == 1.0 and up == 0.0


def test_a_rising_group_score_rarely_moves_l():
    up, down = rates(group_rising)
    assert up + down <= 0.08


def test_decisions_come_at_window_ends_after_two_windows_with_a_cooldown_within_bounds():
    """Exploited in 30% of rounds throughout, no noise: l rises by a step at updates 10, 15,
    20 (window 5, cooldown 5) and stops at 1 without reporting the clamped no-op."""
    ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
    decisions = []
    for k in range(40):
        wobble = 0.01 * (k % 2)  # a spread, so that the standard errors are not zero
        decision = ctl.observe(MixSignals(0.5 + wobble, 0.3 + wobble, 0.4 + wobble))
        if decision is not None:
            decisions.append(decision)
    assert [(d.step, d.old, d.new) for d in decisions] == [
        (10, 0.75, 0.85), (15, 0.85, 0.95), (20, 0.95, 1.0),
    ]  # fmt: skip
    assert all("exploited in 0.3" in d.reason and "selfish" in d.reason for d in decisions)
    assert ctl.value(123) == 1.0
    assert "0.95 -> 1.00" in decisions[-1].describe()
    assert json.loads(json.dumps(decisions[0].to_dict()))["new"] == 0.85


def test_l_never_leaves_its_bounds():
    for s in range(20):
        curves = mutual_defection(np.random.default_rng(s))
        decisions = run(tuple(np.tile(c, 3) for c in curves), start=0.6)
        assert all(0.5 <= d.new <= 1.0 for d in decisions)
        assert decisions[-1].new == 0.5


def test_missing_and_non_finite_signals_are_not_tested():
    ctl = AdaptiveMix(MixControlConfig(start=0.75, low=0.5, high=1.0))
    for k in range(40):
        ctl.observe(MixSignals(None, float("nan"), 0.4 + 0.01 * (k % 2)))
    coop, exploited, group = ctl.tests()
    assert coop is None and exploited is None and group is not None
    assert ctl.mix == 0.75  # a flat group score alone says nothing about defection


def test_state_dict_json_round_trip_continues_identically():
    curves = list(zip(*defection_spreads(np.random.default_rng(7)), strict=True))
    a = AdaptiveMix(MixControlConfig(start=0.9, low=0.5, high=1.0))
    for c, e, g in curves[:13]:
        a.observe(MixSignals(float(c), float(e), float(g)))
    b = AdaptiveMix(MixControlConfig(start=0.9, low=0.5, high=1.0))
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.state_dict() == a.state_dict()
    for c, e, g in curves[13:]:
        signals = MixSignals(float(c), float(e), float(g))
        assert a.observe(signals) == b.observe(signals)
        assert a.value(0) == b.value(0)
    assert a.mix < 0.9  # the curves did move it: the continuation compared real decisions


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
     dict(group_tol=-0.1)],
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
