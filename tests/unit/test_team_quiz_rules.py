"""team_quiz_v0: question generator, solver, answer normalisation, parser, turn flow, scoring."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from agents.arena import play_episode
from agents.scripted import make_bot
from agents.scripted.team_quiz import solve
from envs.team_quiz.questions import (
    KINDS,
    Question,
    make_questions,
    normalise_answer,
    same_answer,
)
from envs.team_quiz.rules import TeamQuiz, turn_order


def _game(**kw) -> TeamQuiz:
    return TeamQuiz(seed=0, **kw)


def _set_questions(game: TeamQuiz, *pairs: tuple[str, str]) -> None:
    game.state.questions = [Question("add", text, answer) for text, answer in pairs]


# ---------------------------------------------------------------- generator and solver
def test_generator_is_deterministic():
    a = make_questions(np.random.default_rng(7), 50)
    b = make_questions(np.random.default_rng(7), 50)
    c = make_questions(np.random.default_rng(8), 50)
    assert a == b
    assert a != c


def test_game_questions_follow_the_seed():
    def texts(seed: int) -> list[str]:
        return [q.text for q in TeamQuiz(seed=seed, questions=5).state.questions]

    assert texts(3) == texts(3)
    assert len({tuple(texts(s)) for s in range(10)}) > 1


def test_solver_answers_every_generated_question():
    questions = make_questions(np.random.default_rng(0), 3000)
    assert {q.kind for q in questions} == set(KINDS)
    for q in questions:
        assert solve(q.text) == q.answer, q


def _by_hand(q: Question) -> str:
    nums = [int(x) for x in q.text.replace("?", "").replace(",", "").split() if x.isdigit()]
    word = q.text.split("'")[1] if "'" in q.text else ""
    if q.kind in ("add", "sub", "mul"):
        a, b = nums
        return str({"add": a + b, "sub": a - b, "mul": a * b}[q.kind])
    if q.kind in ("larger", "smaller"):
        return str(max(nums) if q.kind == "larger" else min(nums))
    return {"length": str(len(word)), "first": word[:1], "last": word[-1:]}[q.kind]


def test_generated_answers_are_right_by_hand():
    for q in make_questions(np.random.default_rng(1), 500):
        assert q.answer == _by_hand(q), q
        assert normalise_answer(q.answer) == q.answer
    assert solve("What is 17 + 25?") == "42"
    assert solve("What is 7 * 8?") == "56"
    assert solve("How many letters are in 'banana'?") == "6"
    assert solve("What is the first letter of 'orange'?") == "o"
    assert solve("Which is larger, 41 or 14?") == "41"
    assert solve("Which is smaller, 41 or 14?") == "14"
    assert solve("Who wrote Hamlet?") is None


def test_kinds_argument_restricts_and_validates():
    game = TeamQuiz(seed=0, questions=20, kinds=["mul"])
    assert {q.kind for q in game.state.questions} == {"mul"}
    for bad in (["bogus"], []):
        with pytest.raises(ValueError, match="kinds"):
            TeamQuiz(seed=0, kinds=bad)


@pytest.mark.parametrize("kw", [{"team_size": 1}, {"team_size": 4}, {"questions": 0}])
def test_bad_arguments_are_clear_errors(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        TeamQuiz(seed=0, **kw)


# ---------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    "given, canonical",
    [
        ("42", "42"),
        (" 42 ", "42"),
        ("42.0", "42"),
        ("+42", "42"),
        ("42.", "42"),
        ("042", "42"),
        ("3.50", "3.5"),
        ("-0", "0"),
        ("B", "b"),
        ("'b'", "b"),
        ('"Banana"!', "banana"),
        ("  two   words ", "two words"),
        ("ｂ", "b"),  # full-width letter (NFKC)
        ("forty-two", "forty-two"),
    ],
)
def test_normalise_answer(given, canonical):
    assert normalise_answer(given) == canonical


def test_same_answer():
    assert same_answer("42.0", "42")
    assert same_answer(" O ", "o")
    assert not same_answer("41", "42")
    assert not same_answer("forty-two", "42")


# ---------------------------------------------------------------- parsing
def test_moves_are_found_in_chatter():
    game = _game()
    assert game.parse_move("red_1", "Hmm, 17+25... I'll go with [propose 42]. Done") == "42"
    assert game.parse_move("red_1", "[Propose: 42.0]") == "42"
    assert game.parse_move("red_1", "[propose 5] and again [propose 5.0]") == "5"
    assert game.parse_move("red_0", "Final: [ANSWER  B ]") == "b"
    assert game.parse_move("blue_0", "[answer 'o']") == "o"


@pytest.mark.parametrize(
    "agent, text",
    [
        ("red_1", "42"),
        ("red_1", "[42]"),
        ("red_1", "[answer 42]"),  # members propose
        ("red_0", "[propose 42]"),  # captains answer
        ("red_1", "[propose ]"),
        ("red_1", "[propose]"),
        ("red_1", "[proposed 42]"),
        ("red_1", "[propose 4] or [propose 5]"),
        ("red_1", "[propose " + "9" * 31 + "]"),
        ("red_1", "[propose '']"),
        ("red_1", "[propose [42]]"),
    ],
)
def test_malformed_moves_are_rejected(agent, text):
    assert _game().parse_move(agent, text) is None


def test_submit_never_raises_on_junk():
    game = _game()
    for junk in (None, b"\xff\xfe", 3.5, {"a": 1}, "x" * 1_000_000, "\x00[propose"):
        report = game.submit(game.to_act()[0], junk)
        assert not report.valid
        game.invalid_streak = dict.fromkeys(game.agents, 0)


# ---------------------------------------------------------------- turn flow, visibility, scoring
def test_turn_order():
    assert turn_order(2) == ["red_1", "blue_1", "red_0", "blue_0"]
    assert turn_order(3) == ["red_1", "blue_1", "red_2", "blue_2", "red_0", "blue_0"]
    game = TeamQuiz(seed=0, team_size=3)
    assert game.agents == ["red_0", "red_1", "red_2", "blue_0", "blue_1", "blue_2"]


def _play(game: TeamQuiz, moves: dict[str, str]) -> None:
    for _ in range(len(game.state.order)):
        agent = game.to_act()[0]
        assert game.submit(agent, moves[agent]).valid


def test_scoring_hand_computed():
    game = _game(questions=2)
    _set_questions(game, ("What is 2 + 2?", "4"), ("What is 3 * 3?", "9"))
    _play(game, {"red_1": "[propose 4]", "blue_1": "[propose 5]",
                 "red_0": "[answer 4.0]", "blue_0": "[answer 5]"})  # fmt: skip
    assert game.scores == {"red_0": 1.0, "red_1": 1.0, "blue_0": 0.0, "blue_1": 0.0}
    assert not game.over
    _play(game, {"red_1": "[propose 9]", "blue_1": "[propose 9]",
                 "red_0": "[answer 6]", "blue_0": "[answer 9]"})  # fmt: skip
    assert game.over and game.to_act() == []
    assert game.scores == {"red_0": 1.0, "red_1": 1.0, "blue_0": 1.0, "blue_1": 1.0}
    assert game.state.results[0].right == {"red": True, "blue": False}
    assert "Right answers: red 1, blue 1." in game.transcript()


def test_proposals_and_answers_stay_in_the_team_until_both_answered():
    game = _game()
    _set_questions(game, ("What is 2 + 2?", "4"), ("What is 1 + 1?", "2"), ("What is 1 + 2?", "3"))
    for agent, move in [
        ("red_1", "[propose 4]"),
        ("blue_1", "[propose 7]"),
        ("red_0", "[answer 4]"),
    ]:
        assert game.submit(agent, move).valid
    blue_sees = "\n".join(game.visible_events("blue_0"))
    red_sees = "\n".join(game.visible_events("red_0"))
    assert "red_1 proposes 4" in red_sees and "red_1 proposes" not in blue_sees
    assert "blue_1 proposes 7" in blue_sees and "blue_1" not in red_sees
    assert "answers 4" not in blue_sees
    assert game.view("blue_0")["team_proposals"] == {"blue_1": "7"}
    assert game.turn_prompt("blue_0").endswith("Final answer, [answer ...]?")  # free text
    game.submit("blue_0", "[answer 7]")
    shown = game.visible_events("blue_1")
    assert "Question 1: red answered 4 (right), blue answered 7 (wrong). The answer was 4." in shown


def test_a_turn_ends_with_the_question_and_its_choices():
    """The decision is stated last, with the legal moves, in the chat an LLM agent gets (rules,
    new events, turn prompt): the captain reads its teammate's proposal, then the question."""
    env = envs.make("team_quiz_v0", questions=1, kinds=["larger"])
    env.reset(seed=3)
    for agent in env.agent_iter():
        info = env.last()[4]
        if agent == "red_0":
            break
        env.step(info["legal_moves"][-1])
    question = info["view"]["question"]
    a, b = question.removeprefix("Which is larger, ").removesuffix("?").split(" or ")
    assert info["turn_prompt"] == f"{question} Final answer, [answer {a}] or [answer {b}]?"
    assert f"red_1 proposes {b}." in info["new_events"]
    assert "the captain of team red (red_0, red_1)" in info["rules"]


def test_view_does_not_give_the_answer():
    game = _game()
    _set_questions(
        game, ("What is 20 + 22?", "42"), ("What is 1 + 1?", "2"), ("What is 1 + 2?", "3")
    )
    view = game.view("red_1")
    assert view["question"] == "What is 20 + 22?"
    assert "42" not in repr(view)
    assert "42" not in game.rules_text("red_1") + game.turn_prompt("red_1")


def test_forfeit_gives_the_other_team_the_remaining_questions():
    game = _game(questions=3)
    _set_questions(game, ("What is 2 + 2?", "4"), ("What is 1 + 1?", "2"), ("What is 1 + 2?", "3"))
    _play(game, {"red_1": "[propose 4]", "blue_1": "[propose 4]",
                 "red_0": "[answer 4]", "blue_0": "[answer 4]"})  # fmt: skip
    for _ in range(3):
        report = game.submit("red_1", "no idea")
    assert report.forfeited and game.over and game.forfeited_by == "red_1"
    assert game.scores["blue_0"] == game.scores["blue_1"] == 3.0  # 1 won + 2 left
    assert game.scores["red_0"] == 1.0
    assert game.scores["red_1"] == pytest.approx(1.0 - 3 * game.invalid_penalty)


def test_team_battle_rewards_of_a_perfect_team_against_a_wrong_team():
    env = envs.make("team_quiz_v0", questions=4)
    env.reset(seed=11)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter():
        _, reward, term, trunc, info = env.last()
        returns[agent] += reward
        if term or trunc:
            env.step(None)
            continue
        view = info["view"]
        answer = solve(view["question"]) if agent.startswith("red") else "wrong"
        env.step(f"[{'answer' if view['role'] == 'captain' else 'propose'} {answer}]")
    assert returns == {"red_0": 2.0, "red_1": 2.0, "blue_0": -2.0, "blue_1": -2.0}


@pytest.mark.parametrize("team_size", [2, 3])
def test_strong_team_answers_everything_right(team_size):
    agents = TeamQuiz(seed=0, team_size=team_size).agents
    for seed in range(10):
        seats = {
            a: make_bot("team_quiz_v0", "strong" if a.startswith("red") else "random", seed=i)
            for i, a in enumerate(agents)
        }
        r = play_episode("team_quiz_v0", seats, seed=seed, team_size=team_size, questions=5)
        assert not r.truncated and sum(r.invalid_moves.values()) == 0
        assert all(r.raw_scores[a] == 5.0 for a in agents if a.startswith("red"))
