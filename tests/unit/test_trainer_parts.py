"""Modes, metrics, config validation and the rollout loop (scripted seats only: no engine)."""

from __future__ import annotations

import pytest

from trainers.config import TrainerConfig
from trainers.episode import Episode, Trajectory, TurnTokens, decision_states
from trainers.league.modes import family_keys, mix_at, share_key, sides
from trainers.rollout import MatchSpec, Rollout, Seat
from trainers.run.layout import MATCH_COLUMNS
from trainers.run.metrics import (
    cooperation_stats,
    match_rows,
    outcome,
    player_stats,
    team_win_rates,
)

TEAMS = {"red_0": "red", "red_1": "red", "blue_0": "blue", "blue_1": "blue"}


def test_share_keys_and_sides():
    agents = list(TEAMS)
    assert family_keys(agents, TEAMS, "team") == ["blue", "red"]
    assert family_keys(agents, TEAMS, "role") == ["role0", "role1"]
    assert family_keys(agents, TEAMS, "all") == ["all"]
    assert share_key("red_1", "red", "agent") == "red1"
    assert sides(agents, TEAMS) == [["red_0", "red_1"], ["blue_0", "blue_1"]]
    with pytest.raises(ValueError, match="unknown share"):
        share_key("red_0", "red", "bogus")


def test_mix_schedule_is_linear():
    assert [round(mix_at(s, 5, 1.0, 0.5), 3) for s in range(5)] == [1.0, 0.875, 0.75, 0.625, 0.5]
    assert mix_at(0, 1, 1.0, 0.5) == 0.5


def episode(returns: dict[str, float], players: dict[str, str], payoff="team_battle", invalid=0):
    trajs = {
        a: Trajectory(a, players[a], TEAMS[a], None, False, episode_return=r, moves=4,
                      invalid_moves=invalid)
        for a, r in returns.items()
    }  # fmt: skip
    return Episode("team_quiz_v0", 0, 1, payoff, 0.5, trajs, False, None, "")


def test_metrics_on_hand_made_episodes():
    players = {"red_0": "main", "red_1": "main", "blue_0": "bot:strong", "blue_1": "bot:strong"}
    win = episode({"red_0": 1, "red_1": 1, "blue_0": -1, "blue_1": -1}, players, invalid=1)
    loss = episode({"red_0": -1, "red_1": -1, "blue_0": 1, "blue_1": 1}, players)
    draw = episode({"red_0": 0, "red_1": 0, "blue_0": 0, "blue_1": 0}, players)
    assert (outcome(win, "red"), outcome(loss, "red"), outcome(draw, "red")) == (1.0, 0.0, 0.5)
    stats = player_stats([win, loss, draw])
    assert stats["main"]["win_rate"] == pytest.approx(0.5)
    assert stats["main"]["return"] == pytest.approx(0.0)
    assert stats["main"]["invalid_rate"] == pytest.approx(2 / 24)  # 2 invalid of 3 games x 2 x 4
    assert team_win_rates([win, win, loss], "main") == {"bot:strong": pytest.approx(2 / 3)}
    rows = match_rows([win, loss], first_episode=7)
    assert len(rows) == 8 and set(rows[0]) == set(MATCH_COLUMNS)
    assert {r["episode"] for r in rows} == {7, 8}


def test_cooperative_metrics_have_no_win_rate():
    coop = episode({"red_0": 1, "red_1": 1, "blue_0": 1, "blue_1": 1}, dict.fromkeys(TEAMS, "main"),
                   payoff="cooperative")  # fmt: skip
    assert "win_rate" not in player_stats([coop])["main"]
    assert cooperation_stats([coop])["cooperation_score"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_id": "nope_v0"}, "unknown env_id"),
        ({"env_id": "rps_v0"}, "does not support"),
        ({"env_kwargs": {"team_size": 7}}, "do not fit"),
        ({"bots": ("zzz",)}, "no bots"),
        ({"share": "x"}, "unknown share"),
        ({"loss": "x"}, "unknown loss"),
        ({"matchmaking": "x"}, "unknown matchmaking"),
        ({"iterations": 0}, "iterations must be"),
        ({"temperature": 0}, "temperature must be"),
        ({"entropy_coef": -0.1}, "entropy_coef must be"),
        ({"advantage": "x"}, "unknown advantage"),
        ({"eval_temperature": -1.0}, "eval_temperature must be"),
        ({"lr_decay_start": 2.0}, "lr_decay_start must"),
        ({"fresh_replies": True}, "set both"),
        ({"move_values": True, "expected_replies": True}, "set both"),
        (
            {
                "move_values": True,
                "fresh_replies": True,
                "expected_replies": True,
                "async_rollout": True,
                "loss": "decoupled_ppo",
            },
            "not both",
        ),
        ({"trust_region_kl": -1.0}, "trust_region_kl must"),
        ({"epochs": 0}, "epochs must be"),
        ({"trust_region_kl": 0.1, "constrained": False}, "constrained"),
    ],
)
def test_bad_configs_fail_with_what_to_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig.from_dict(kwargs)


def test_decision_states_key_each_turn_by_the_chat_before_it():
    def traj(ids, starts):
        turns = [TurnTokens(s, (ids[s],), (0.0,), 1) for s in starts]
        return Trajectory("a", "main", "t", ("main-all", 1), True, list(ids), turns)

    one = decision_states(traj([5, 6, 7, 8, 9, 10], [2, 5]))
    same_start = decision_states(traj([5, 6, 7, 1, 2, 3], [2, 5]))
    other = decision_states(traj([5, 4, 7, 8, 9, 10], [2, 5]))
    assert len(one) == 2 and one[0] != one[1]
    assert same_start[0] == one[0] and same_start[1] != one[1]  # same prompt, then other tokens
    assert other[0] != one[0]
    assert decision_states(traj([5, 6, 7], [])) == ()


def test_config_round_trips_through_json():
    cfg = TrainerConfig.build(env_kwargs={"questions": 2}, bots=("strong",))
    assert TrainerConfig.from_dict(cfg.to_dict()) == cfg


def test_rollout_plays_many_games_with_scripted_seats():
    rollout = Rollout(None, "tictactoe_v0", payoff="competitive")
    matches = [
        MatchSpec(seed, {"player_0": Seat("a", bot="strong"), "player_1": Seat("b", bot="random")})
        for seed in range(6)
    ]
    episodes = rollout.play(matches, step=3)
    assert len(episodes) == 6 and rollout.stats.games == 6
    for ep in episodes:
        assert ep.step == 3 and sum(ep.returns.values()) == pytest.approx(0.0)
        assert ep.trajectories["player_0"].moves >= 3
    # minimax never loses
    assert all(ep.returns["player_0"] >= 0 for ep in episodes)
    with pytest.raises(ValueError, match="no seat"):
        rollout.play([MatchSpec(0, {"player_0": Seat("a", bot="strong")})])


def test_a_match_may_carry_its_own_payoff_mix():
    """Mixed mode pays a game with a bot its own score (l = 1): the match's mix wins over the
    call's, in the game's rewards and in the episode's record."""
    rollout = Rollout(None, "prisoners_dilemma_v0", {"rounds": 2}, payoff="mixed")
    seats = {"player_0": Seat("tft", bot="tit_for_tat"), "player_1": Seat("d", bot="always_defect")}
    shared, own = rollout.play(
        [MatchSpec(1, dict(seats)), MatchSpec(1, dict(seats), mix=1.0)], mix=0.5
    )
    assert (shared.mix, own.mix) == (0.5, 1.0)
    raw = {a: t.raw_score for a, t in own.trajectories.items()}
    assert raw == {a: t.raw_score for a, t in shared.trajectories.items()}
    assert own.returns == pytest.approx(raw)  # l = 1: each its own score
    mean = sum(raw.values()) / 2
    assert shared.returns == pytest.approx({a: 0.5 * s + 0.5 * mean for a, s in raw.items()})


def test_mixed_training_games_with_a_partner_bot_pay_each_seat_its_own_score():
    from experiments.mixed import PRESETS
    from trainers.league.population import League
    from trainers.selfplay import LEARNER, SelfPlayTrainer

    cfg = PRESETS["smoke"].replace(partners=("always_defect",), partner_share=1.0)
    trainer = SelfPlayTrainer(cfg)  # nothing started: matchmaking only
    trainer.league = League()
    trainer.league.add_learner(LEARNER, version=1)
    training = trainer.make_matches(6, step=1)
    assert all(any(s.bot for s in m.seats.values()) and m.mix == 1.0 for m in training)
    pair = trainer.make_matches(3, learning=False)  # evaluation: the family alone, the run's l
    assert all(not any(s.bot for s in m.seats.values()) and m.mix is None for m in pair)
