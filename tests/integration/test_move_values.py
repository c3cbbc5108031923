"""Counterfactual move values (`trainers.counterfactual`) from real games: the tiny model through
the HF server plays the team quiz, and the rollout values every legal move of each learning
decision by replaying a copy of the game."""

from __future__ import annotations

import math
import re

import pytest

from trainers.episode import decision_states
from trainers.learn.targets import decision_points, target_samples
from trainers.rollout import MatchSpec, Rollout, Seat

pytestmark = pytest.mark.slow

QUIZ = {"questions": 2, "kinds": ["larger", "smaller"]}


@pytest.fixture(scope="module")
def quiz_episodes(hf_server, adapters):
    ref = hf_server.publish("quiz", *adapters[0])
    rollout = Rollout(hf_server, "team_quiz_v0", QUIZ, payoff="team_battle", move_values=True)
    seats = {
        "red_0": Seat("main", adapter=ref, learning=True),
        "red_1": Seat("main", adapter=ref, learning=True),
        "blue_0": Seat("bot", bot="random"),
        "blue_1": Seat("bot", bot="random"),
    }
    return rollout.play([MatchSpec(seed, seats) for seed in range(6)])


def answers(transcript: str) -> list[str]:
    """Each question's right answer, as the game announced it."""
    return re.findall(r"The answer was (\S+)\.", transcript)


def test_a_captains_answers_are_valued_exactly(quiz_episodes):
    """Nobody sees the captain's answer before the question resolves: the right answer is worth
    exactly one team point more than the wrong one (half a point of the zero-sum team reward),
    and the answer played keeps its real reward."""
    valued = 0
    for ep in quiz_episodes:
        captain = ep.trajectories["red_0"]
        assert len(captain.move_values) == len(captain.turns) == 2
        for turn, values, reward, right in zip(
            captain.turns, captain.move_values, captain.turn_rewards, answers(ep.transcript),
            strict=True,
        ):  # fmt: skip
            assert values is not None and set(values) == set(turn.choices)
            assert values[turn.text] == reward
            wrong = next(m for m in values if m != f"[answer {right}]")
            assert values[f"[answer {right}]"] - values[wrong] == pytest.approx(0.5)
            valued += 1
    assert valued == 12


def test_a_proposal_is_valued_against_the_captains_real_answer(quiz_episodes):
    """The replay keeps the captain's real answer, so a proposal is worth what that answer
    earned whatever was proposed (the bias `trainers.counterfactual` documents)."""
    for ep in quiz_episodes:
        member = ep.trajectories["red_1"]
        for values, reward in zip(member.move_values, member.turn_rewards, strict=True):
            assert values is not None and set(values.values()) == {reward}
    # ... and gives no target: all its moves are worth the same.
    from trainers.counterfactual import MoveValues

    trajs = [ep.trajectories["red_1"] for ep in quiz_episodes]
    roles = [("quiz", "red_1")] * len(trajs)
    assert len(MoveValues(trajs, roles, [decision_states(t) for t in trajs])) == 0


def test_bots_and_unvalued_rollouts_carry_no_values(quiz_episodes, hf_server, adapters):
    for ep in quiz_episodes:
        assert ep.trajectories["blue_0"].move_values == ()
    ref = hf_server.publish("quiz_plain", *adapters[1])
    plain = Rollout(hf_server, "team_quiz_v0", QUIZ, payoff="team_battle")
    seats = {a: Seat("main", adapter=ref, learning=True) for a in ("red_0", "red_1")}
    seats |= {a: Seat("bot", bot="random") for a in ("blue_0", "blue_1")}
    (episode,) = plain.play([MatchSpec(0, seats)])
    assert episode.trajectories["red_0"].move_values == ()


def test_the_values_become_targets_on_the_right_answer(quiz_episodes, hf_server):
    """Through `MoveValues`, each captain decision gets a target putting most of its mass on the
    right answer: a softmax of values 0.5 apart at temperature 0.2."""
    from trainers.counterfactual import MoveValues

    trajs = [ep.trajectories["red_0"] for ep in quiz_episodes]
    roles = [("quiz", "red_0")] * len(trajs)
    states = [decision_states(t) for t in trajs]
    critic = MoveValues(trajs, roles, states)
    points = decision_points(trajs, roles, states)
    assert len(critic) == len(points) == 12  # every quiz decision is its own state
    samples = target_samples(points, critic, hf_server.tokenizer, 1.0, 0.2)
    assert len(samples) == 24  # both moves of each decision
    right = 1 / (1 + math.exp(-0.5 / 0.2))
    weights = sorted(s.advantage for s in samples)
    assert weights[12:] == pytest.approx([right] * 12) and weights[:12] == pytest.approx(
        [1 - right] * 12
    )


def test_a_valued_turn_learns_from_its_target_alone(quiz_episodes):
    """`without_valued_turns`: the captain's turns (valued) lose their sampled policy-gradient
    term, the proposer's (no target: all moves equal) keep theirs, a number spread per turn."""
    from trainers.counterfactual import MoveValues

    trajs = [ep.trajectories[a] for ep in quiz_episodes for a in ("red_0", "red_1")]
    roles = [("quiz", t.agent) for t in trajs]
    states = [decision_states(t) for t in trajs]
    critic = MoveValues(trajs, roles, states)
    advantages = [0.5 if t.agent == "red_0" else (0.25, -0.75) for t in trajs]
    kept = critic.without_valued_turns(trajs, roles, states, advantages)
    for t, adv in zip(trajs, kept, strict=True):
        assert adv == ((0.0, 0.0) if t.agent == "red_0" else (0.25, -0.75))


def test_a_match_at_temperature_0_plays_the_greedy_moves(hf_server, adapters):
    """`MatchSpec.temperature` (how evaluations play with `eval_temperature`): at 0 a move is a
    function of its prompt, so the same 8 games played twice make the same first moves; the
    same games sampled at the rollout's temperature (1; seeded, so reproducible) make others:
    with moves near even odds, some sampled move is the less likely one."""
    ref = hf_server.publish("quiz_greedy", *adapters[1])
    rollout = Rollout(hf_server, "team_quiz_v0", QUIZ, payoff="team_battle")
    seats = {a: Seat("main", adapter=ref) for a in ("red_0", "red_1")}
    seats |= {a: Seat("bot", bot="random") for a in ("blue_0", "blue_1")}

    def first_moves(temperature):  # the first question's: nothing of the bots' in the prompt
        episodes = rollout.play([MatchSpec(s, seats, temperature) for s in range(8)])
        return [ep.trajectories[a].turns[0].ids for ep in episodes for a in ("red_0", "red_1")]

    greedy = first_moves(0.0)
    assert first_moves(0.0) == greedy
    assert first_moves(None) != greedy


class Recording:
    """The server, with every generation request it is sent kept (decoded prompts)."""

    def __init__(self, server):
        self.server = server
        self.prompts: list[str] = []

    def generate(self, requests):
        self.prompts += [self.server.tokenizer.decode(r.prompt_token_ids) for r in requests]
        return self.server.generate(requests)

    def __getattr__(self, name):
        return getattr(self.server, name)


SIGNAL = {"clue_choices": True}


def signal_play(server, ref, fresh: bool, games: int = 4):
    rollout = Rollout(
        server, "signal_v0", SIGNAL, payoff="cooperative", move_values=True, fresh_replies=fresh
    )
    seats = {
        "player_0": Seat("speaker", adapter=ref, learning=True),
        "player_1": Seat("listener", adapter=ref),
    }
    return rollout, rollout.play([MatchSpec(seed, seats) for seed in range(games)])


def test_fresh_replies_value_a_clue_by_the_listeners_own_answer_to_it(hf_server, adapters):
    """The listener sees the clue, so a replay that repeats its real pick gives every clue the
    same value (no target). With fresh replies each copy's listener is asked again, in its own
    chat, with the copy's clue: one extra request per other clue, each holding that clue."""
    ref = hf_server.publish("signal", *adapters[2])
    server = Recording(hf_server)
    rollout, episodes = signal_play(server, ref, fresh=True)
    assert rollout.stats.reply_requests == 3 * len(episodes)  # 4 clues, 1 played
    for ep in episodes:
        speaker = ep.trajectories["player_0"]
        (turn,) = speaker.turns
        (values,) = speaker.move_values
        assert set(values) == set(turn.choices) and len(values) == 4
        assert values[turn.text] == speaker.turn_rewards[0]
        assert set(values.values()) <= {0.0, 1.0}  # one listener, right or wrong
        # The game's listener prompts (its candidates name the game): the real one and one per
        # copy, each holding a different clue, between them every clue the speaker could give.
        chat = hf_server.tokenizer.decode(speaker.token_ids)
        candidates = re.search(r"The candidate words are: ([^.]+)\.", chat).group(1)
        asked = [p for p in server.prompts if candidates in p and 'The clue is "' in p]
        clues = sorted(re.findall(r'The clue is "([^"]+)"', p)[-1] for p in asked)
        assert clues == sorted(re.fullmatch(r"\[clue (\w+)\]", c).group(1) for c in values)


def test_without_fresh_replies_the_clue_copies_repeat_the_real_pick(hf_server, adapters):
    ref = hf_server.publish("signal_replay", *adapters[2])
    rollout, episodes = signal_play(hf_server, ref, fresh=False)
    assert rollout.stats.reply_requests == 0
    for ep in episodes:
        (values,) = ep.trajectories["player_0"].move_values
        assert len(set(values.values())) == 1  # the real pick, whatever the clue


def test_a_bot_listener_answers_each_clue_copy_afresh(hf_server, adapters):
    """A partner bot replies in the copies too (it is stateless): beside the category listener,
    each clue is worth 1 exactly when it names the target's category, whatever was played."""
    from envs.signal.rules import LEXICON

    ref = hf_server.publish("signal_bot", *adapters[2])
    rollout = Rollout(
        hf_server, "signal_v0", SIGNAL, payoff="cooperative", move_values=True, fresh_replies=True
    )
    seats = {
        "player_0": Seat("speaker", adapter=ref, learning=True),
        "player_1": Seat("bot:strong", bot="strong"),
    }
    episodes = rollout.play([MatchSpec(seed, seats) for seed in range(6)])
    assert rollout.stats.reply_requests == 0  # no language player replies: the bot answers
    for ep in episodes:
        (values,) = ep.trajectories["player_0"].move_values
        target = re.search(r"The target was (\w+)", ep.transcript).group(1)
        assert values == {c: float(c == f"[clue {LEXICON[target]}]") for c in values}
        assert len(values) == 4


@pytest.fixture(scope="module")
def listener_learner(tiny_model, adapters):
    """A learner holding adapters[2] (what the server plays) as "listener", at temperature 1."""
    from trainers.learn.learner import Learner, LearnerConfig, LoRASettings

    learner = Learner(
        tiny_model,
        ["listener"],
        LoRASettings(lora_rank=8, lora_alpha=16),
        LearnerConfig(learner_dtype="float32", kl_coef=0.0),
    )
    learner.set_adapter_weights("listener", adapters[2][0])
    return learner


def test_expected_replies_value_each_clue_by_the_listeners_probability_of_the_target(
    hf_server, adapters, listener_learner
):
    """With expected replies a clue is worth the listener's probability of picking the target
    after it (one listener: a right pick pays everyone 1), read from the learner, for every
    clue, the one played included; the same as scoring the listener's prompt by hand."""
    from trainers.learn.probe import many_move_probabilities, move_probabilities, prompt_after

    ref = hf_server.publish("signal_expected", *adapters[2])
    tok = listener_learner.tokenizer
    asked = []

    def scorer(items):
        asked.extend(items)
        decisions = [(prompt, moves) for _, prompt, moves in items]
        return many_move_probabilities(listener_learner, "listener", decisions, tok)

    rollout = Rollout(
        hf_server, "signal_v0", SIGNAL, payoff="cooperative", move_values=True,
        fresh_replies=True, expected_replies=True,
    )  # fmt: skip
    rollout.reply_scorer = scorer
    seats = {
        "player_0": Seat("speaker", adapter=ref, learning=True),
        "player_1": Seat("listener", adapter=ref),
    }
    episodes = rollout.play([MatchSpec(seed, seats) for seed in range(3)])
    assert rollout.stats.reply_requests == rollout.stats.expected_replies == 4 * 3
    assert {item[0] for item in asked} == {ref}
    for seed, ep in enumerate(episodes):
        (values,) = ep.trajectories["player_0"].move_values
        assert len(values) == 4
        target = re.search(r"The target word is: (\w+)\.", tok.decode(ep.trajectories[
            "player_0"].token_ids)).group(1)  # fmt: skip
        for clue, value in values.items():
            _, info, prompt = prompt_after("signal_v0", seed, [clue], tok, **SIGNAL)
            legal = info["legal_moves"]
            probs = move_probabilities(listener_learner, "listener", prompt, legal, tok)
            assert value == pytest.approx(probs[f"[pick {target}]"], abs=1e-5)
        assert min(values.values()) > 0 and max(values.values()) < 1  # not 0/1 samples


def test_expected_replies_keep_the_sampled_value_where_the_scorer_cannot(hf_server, adapters):
    ref = hf_server.publish("signal_unscored", *adapters[2])
    rollout = Rollout(
        hf_server, "signal_v0", SIGNAL, payoff="cooperative", move_values=True,
        fresh_replies=True, expected_replies=True,
    )  # fmt: skip
    rollout.reply_scorer = lambda items: [None] * len(items)
    seats = {
        "player_0": Seat("speaker", adapter=ref, learning=True),
        "player_1": Seat("listener", adapter=ref),
    }
    episodes = rollout.play([MatchSpec(seed, seats) for seed in range(3)])
    assert rollout.stats.expected_replies == 0
    for ep in episodes:
        (values,) = ep.trajectories["player_0"].move_values
        assert len(values) == 4 and set(values.values()) <= {0.0, 1.0}


def test_a_reply_that_does_not_close_the_window_is_sampled(hf_server, adapters):
    """Two listeners: after the first pick the second is to act, so the first listener's reply
    is sampled; the second one's closes the window and is the one averaged."""
    ref = hf_server.publish("signal_two", *adapters[2])
    rollout = Rollout(
        hf_server, "signal_v0", {**SIGNAL, "num_listeners": 2}, payoff="cooperative",
        move_values=True, fresh_replies=True, expected_replies=True,
    )  # fmt: skip
    asked = []

    def scorer(items):
        asked.extend(hf_server.tokenizer.decode(prompt) for _, prompt, _ in items)
        return [{m: 1.0 if m == moves[0] else 0.0 for m in moves} for _, _, moves in items]

    rollout.reply_scorer = scorer
    seats = {
        "player_0": Seat("speaker", adapter=ref, learning=True),
        "player_1": Seat("listener", adapter=ref),
        "player_2": Seat("listener", adapter=ref),
    }
    rollout.play([MatchSpec(seed, seats) for seed in range(2)])
    assert rollout.stats.expected_replies == len(asked) == 4 * 2
    assert all("You are player_2," in a and "You are player_1," not in a for a in asked)
