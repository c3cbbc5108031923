"""Pure rules of the team quiz: two teams answer the same generated questions (no PettingZoo)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.game import Game, team_of
from envs.team_quiz.questions import Question, check_kinds, make_questions, normalise_answer

TEAMS = ("red", "blue")
MAX_ANSWER_CHARS = 30

# The decision is stated last, with its choices: a 135M model learns to compare the two numbers
# in about 12 updates from a chat that ends "Which is larger, 9 or 19? Final answer, [answer 9]
# or [answer 19]?", and not in 16 from one that ended "Final answer: [answer ...]" after the
# same question (benchmarks/decision_learning.py; docs/benchmarks.md). The rules are short
# because every token of them is paid in every game, by the engine and by the learner.
RULES = (
    "Team quiz: you are {agent}, {position} of team {team} ({members}), against team {other}. "
    "Both teams get the same {questions} questions. For each one the teammates propose an answer "
    "(only their team sees it), then the captain gives the team's final answer; a right one "
    "scores +1 for every member of the team. The other team's answer is shown after both teams "
    "have answered.\n"
    "{role}"
)
ROLE_MEMBER = "Propose in brackets, like [propose 12] or [propose b]: a number or one word."
ROLE_CAPTAIN = "Answer in brackets, like [answer 12] or [answer b]: a number or one word."
# The question and the teammates' proposals are in the events just before (`Game.log`).
TURN_MEMBER = "{question} Your proposal, {choices}?"
TURN_CAPTAIN = "{question} Final answer, {choices}?"

_PROPOSE = re.compile(r"\[\s*propose(?:\s*:\s*|\s+)([^\[\]\n]{1,60}?)\s*\]", re.IGNORECASE)
_ANSWER = re.compile(r"\[\s*answer(?:\s*:\s*|\s+)([^\[\]\n]{1,60}?)\s*\]", re.IGNORECASE)


def team_members(team: str, team_size: int) -> list[str]:
    return [f"{team}_{i}" for i in range(team_size)]


def turn_order(team_size: int) -> list[str]:
    """Who acts on each question: the proposers of both teams, member by member (red_1, blue_1,
    red_2, blue_2, ...), then the captains (red_0, blue_0). Nobody sees the other team's moves
    before both teams have answered, so the order gives no team an advantage."""
    proposers = [f"{t}_{i}" for i in range(1, team_size) for t in TEAMS]
    return [*proposers, *(f"{t}_0" for t in TEAMS)]


def find_answer(pattern: re.Pattern[str], text: str) -> str | None:
    """The one answer named with `pattern` in `text` (normalised), or None if none, an empty or
    over-long one, or two different ones."""
    found = {normalise_answer(m) for m in pattern.findall(text)}
    if len(found) != 1:
        return None
    answer = found.pop()
    return answer if 0 < len(answer) <= MAX_ANSWER_CHARS else None


#: Question kinds whose sensible answers are a finite list (see `TeamQuiz.legal_moves`).
CHOICE_KINDS = ("larger", "smaller")
_NUMBERS = re.compile(r"\d+")


@dataclass
class QuizResult:
    """One resolved question."""

    question: str
    answer: str
    given: dict[str, str]  # team -> final answer
    right: dict[str, bool]  # team -> right?


@dataclass
class QuizState:
    questions: list[Question]
    order: list[str]
    index: int = 0  # current question
    step: int = 0  # position in `order`
    proposals: dict[str, str] = field(default_factory=dict)  # agent -> proposal, this question
    answers: dict[str, str] = field(default_factory=dict)  # team -> final answer, this question
    results: list[QuizResult] = field(default_factory=list)


class TeamQuiz(Game):
    title: ClassVar[str] = "team quiz"
    payoffs: ClassVar[tuple[str, ...]] = ("team_battle",)
    # questions x 2 * team_size moves, x3 tries: 36 by default; long quizzes pass max_cycles.
    default_max_cycles: ClassVar[int] = 200

    def __init__(
        self,
        seed: int | None = None,
        *,
        team_size: int = 2,
        questions: int = 3,
        kinds: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not 2 <= team_size <= 3:
            raise ValueError(f"team_size must be 2 or 3, got {team_size}")
        if questions < 1:
            raise ValueError(f"questions must be >= 1, got {questions}")
        chosen = check_kinds(kinds)
        agents = [a for t in TEAMS for a in team_members(t, team_size)]
        super().__init__(agents, seed, **kwargs)
        self.team_size = team_size
        self.state = QuizState(make_questions(self.rng, questions, chosen), turn_order(team_size))
        self._announce()

    # ------------------------------------------------------------------ helpers
    @property
    def question(self) -> Question:
        return self.state.questions[self.state.index]

    def captain(self, team: str) -> str:
        return f"{team}_0"

    def is_captain(self, agent: str) -> bool:
        return agent == self.captain(team_of(agent))

    def verb(self, agent: str) -> str:
        """The word of the agent's moves: [answer ...] for a captain, [propose ...] otherwise."""
        return "answer" if self.is_captain(agent) else "propose"

    def _announce(self) -> None:
        s = self.state
        self.log(f"Question {s.index + 1} of {len(s.questions)}: {self.question.text}")

    def _team_proposals(self, agent: str) -> dict[str, str]:
        team = team_of(agent)
        return {a: p for a, p in self.state.proposals.items() if team_of(a) == team}

    # ------------------------------------------------------------------ Game hooks
    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [self.state.order[self.state.step]]

    def legal_moves(self, agent: str) -> list[str] | None:
        """Finite for comparison questions (the two numbers asked about), else None (free text).

        The list names the sensible answers so that a language agent can be constrained to them;
        any other answer is still a valid (wrong) move.
        """
        if self.over or self.question.kind not in CHOICE_KINDS:
            return None
        numbers = dict.fromkeys(_NUMBERS.findall(self.question.text))
        return [f"[{self.verb(agent)} {n}]" for n in numbers]

    def parse_move(self, agent: str, text: str) -> str | None:
        return find_answer(_ANSWER if self.is_captain(agent) else _PROPOSE, text)

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        team = team_of(agent)
        mates = team_members(team, self.team_size)
        if self.is_captain(agent):
            s.answers[team] = move
            self.log(f"{agent} (captain) answers {move}.", visible_to=mates)
        else:
            s.proposals[agent] = move
            self.log(f"{agent} proposes {move}.", visible_to=mates)
        s.step += 1
        if s.step == len(s.order):
            self._resolve()

    def _resolve(self) -> None:
        s = self.state
        expected = self.question.answer
        right = {t: s.answers[t] == expected for t in TEAMS}
        for team in TEAMS:
            if right[team]:
                for a in team_members(team, self.team_size):
                    self.scores[a] += 1.0
        said = ", ".join(
            f"{t} answered {s.answers[t]} ({'right' if right[t] else 'wrong'})" for t in TEAMS
        )
        self.log(f"Question {s.index + 1}: {said}. The answer was {expected}.")
        s.results.append(QuizResult(self.question.text, expected, dict(s.answers), right))
        s.proposals.clear()
        s.answers.clear()
        s.step = 0
        s.index += 1
        if s.index == len(s.questions):
            self.over = True
            totals = ", ".join(f"{t} {sum(r.right[t] for r in s.results)}" for t in TEAMS)
            self.log(f"The quiz is over. Right answers: {totals}.")
        else:
            self._announce()

    def on_forfeit(self, agent: str) -> None:
        # The forfeiting team loses every question not yet resolved: the other team scores them.
        s = self.state
        left = len(s.questions) - s.index
        other = next(t for t in TEAMS if t != team_of(agent))
        for a in team_members(other, self.team_size):
            self.scores[a] += float(left)
        self.over = True

    # ------------------------------------------------------------------ prompts and views
    def rules_text(self, agent: str) -> str:
        team = team_of(agent)
        return RULES.format(
            agent=agent,
            position="the captain" if self.is_captain(agent) else "a teammate",
            team=team,
            members=", ".join(team_members(team, self.team_size)),
            other=next(t for t in TEAMS if t != team),
            questions=len(self.state.questions),
            role=ROLE_CAPTAIN if self.is_captain(agent) else ROLE_MEMBER,
        )

    def turn_prompt(self, agent: str) -> str:
        moves = self.legal_moves(agent)
        choices = " or ".join(moves) if moves else f"[{self.verb(agent)} ...]"
        template = TURN_CAPTAIN if self.is_captain(agent) else TURN_MEMBER
        return template.format(question=self.question.text, choices=choices)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        team = team_of(agent)
        return {
            "team": team,
            "role": "captain" if self.is_captain(agent) else "member",
            "captain": self.captain(team),
            "question": None if self.over else self.question.text,
            "question_number": min(s.index + 1, len(s.questions)),
            "questions": len(s.questions),
            "team_proposals": self._team_proposals(agent),
            "history": [
                {
                    "question": r.question,
                    "answer": r.answer,
                    "given": dict(r.given),
                    "right": dict(r.right),
                }
                for r in s.results
            ],
        }
