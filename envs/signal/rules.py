"""Pure rules of the signal game: a speaker clues a target word, listeners pick it (no PettingZoo).

The candidates are common concrete nouns from `words.txt`, each from a different category, so the
target's category always singles it out (and is always an allowed clue).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, ClassVar

from envs.core.formats import word_format
from envs.core.game import Game

CLUE = re.compile(
    r"\[\s*clue\b\s*:?\s*[\"'“”‘’]?([^\W\d_]{1,40}(?:-[^\W\d_]{1,40})*)[\"'“”‘’]?\s*\]",
    re.IGNORECASE,
)

RULES_SPEAKER = (
    "You are {agent}, the speaker in a word game with {listeners}. The candidate words are: "
    "{candidates}. The target word is: {target}. The listeners do not know which word is the "
    "target. Give one single-word clue that helps them pick it. The clue may not contain the "
    "target word, and the target word may not contain the clue. Every player scores when a "
    "listener picks the target.\n"
    "Answer [clue word], for example [clue round]."
)
RULES_LISTENER = (
    "You are {agent}, a listener in a word game. The candidate words are: {candidates}. The "
    "speaker ({speaker}) knows which one is the target and gives a one-word clue. Then pick the "
    "word you think is the target. Every player scores when a listener picks the target.\n"
    "Answer [pick word], for example [pick {example}]."
)
#: The free-text clue's `move_format`: one lower-case ASCII word (it must still not contain the
#: target, nor the target it).
CLUE_FORMAT = rf"\[clue {word_format(1, 20)}\]"
TURN_SPEAKER = "The target is {target}. Give a one-word clue that does not contain it: [clue word]"
TURN_LISTENER = 'The clue is "{clue}". Which word is the target? Answer one of: {moves}.'


def _load_lexicon() -> MappingProxyType[str, str]:
    """word -> category, from the package's words.txt."""
    text = resources.files("envs.signal").joinpath("words.txt").read_text(encoding="utf-8")
    lexicon: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, category = line.split()
            lexicon[word] = category
    return MappingProxyType(lexicon)


#: Every word of the game and its category (read-only).
LEXICON: MappingProxyType[str, str] = _load_lexicon()
#: Words by category, in file order.
CATEGORIES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {c: tuple(w for w, wc in LEXICON.items() if wc == c) for c in dict.fromkeys(LEXICON.values())}
)


def normalise_word(word: str) -> str:
    return unicodedata.normalize("NFKC", word).strip().casefold()


def clue_allowed(clue: str, target: str) -> bool:
    """A clue may not contain the target, nor the target the clue (case-insensitive)."""
    clue, target = normalise_word(clue), normalise_word(target)
    return bool(clue) and clue not in target and target not in clue


def parse_clue(text: str) -> str | None:
    """The one word given as `[clue word]` in `text` (lower case), or None if none or several."""
    named = {normalise_word(m) for m in CLUE.findall(text)}
    return named.pop() if len(named) == 1 else None


@dataclass
class SignalState:
    candidates: list[str]
    target: str
    clue: str | None = None
    picks: dict[str, str] = field(default_factory=dict)  # hidden from others until the end


class Signal(Game):
    title: ClassVar[str] = "signal"
    payoffs: ClassVar[tuple[str, ...]] = ("cooperative",)
    default_max_cycles: ClassVar[int] = 100

    def __init__(
        self,
        seed: int | None = None,
        *,
        num_listeners: int = 1,
        num_candidates: int = 4,
        clue_choices: bool = False,
        **kwargs: Any,
    ) -> None:
        if not 1 <= num_listeners <= 8:
            raise ValueError(f"num_listeners must be in 1..8, got {num_listeners}")
        if not 2 <= num_candidates <= min(len(CATEGORIES), 12):
            raise ValueError(
                f"num_candidates must be in 2..{min(len(CATEGORIES), 12)}, got {num_candidates}"
            )
        super().__init__([f"player_{i}" for i in range(num_listeners + 1)], seed, **kwargs)
        self.clue_choices = bool(clue_choices)
        categories = self.rng.choice(sorted(CATEGORIES), size=num_candidates, replace=False)
        candidates = [str(self.rng.choice(CATEGORIES[str(c)])) for c in categories]
        target = candidates[int(self.rng.integers(num_candidates))]
        self.state = SignalState(candidates=candidates, target=target)

    @property
    def speaker(self) -> str:
        return self.agents[0]

    @property
    def listeners(self) -> list[str]:
        return self.agents[1:]

    # ------------------------------------------------------------------ moves
    def to_act(self) -> list[str]:
        if self.over:
            return []
        if self.state.clue is None:
            return [self.speaker]
        return [next(a for a in self.listeners if a not in self.state.picks)]

    def legal_moves(self, agent: str) -> list[str] | None:
        """Listeners: the candidates. Speaker: free text, or with `clue_choices` the candidates'
        categories as clues (the target's among them; any other allowed clue stays valid)."""
        if agent == self.speaker:
            return self._clue_moves() if self.clue_choices else None
        return [f"[pick {w}]" for w in self.state.candidates]

    def move_format(self, agent: str) -> str | None:
        return CLUE_FORMAT if agent == self.speaker and not self.clue_choices else None

    def parse_move(self, agent: str, text: str) -> str | None:
        if agent == self.speaker:
            clue = parse_clue(text)
            return clue if clue is not None and clue_allowed(clue, self.state.target) else None
        move = super().parse_move(agent, text)
        return None if move is None else move.strip("[]").split()[1]

    def apply_move(self, agent: str, move: str) -> None:
        s = self.state
        if agent == self.speaker:
            s.clue = move
            self.log(f"{agent} gives the clue: {move}")
            return
        s.picks[agent] = move
        self.log(f"You picked {move}.", visible_to=[agent])
        if len(s.picks) == len(self.listeners):
            self._reveal()

    def _reveal(self) -> None:
        s = self.state
        right = sum(w == s.target for w in s.picks.values())
        for a in self.agents:
            self.scores[a] += right / len(self.listeners)
        picks = ", ".join(f"{a} picked {w}" for a, w in s.picks.items()) or "no picks"
        self.log(f"The target was {s.target}: {picks}. {right} of {len(self.listeners)} right.")
        self.over = True

    def on_forfeit(self, agent: str) -> None:
        # The game ends: picks already made still count; the forfeiter loses a point.
        super().on_forfeit(agent)
        self._reveal()

    def _clue_moves(self) -> list[str]:
        return [f"[clue {LEXICON[w]}]" for w in self.state.candidates]

    # ------------------------------------------------------------------ text
    def rules_text(self, agent: str) -> str:
        s = self.state
        candidates = ", ".join(s.candidates)
        if agent == self.speaker:
            n = len(self.listeners)
            listeners = f"{n} listener{'s' if n > 1 else ''} ({', '.join(self.listeners)})"
            return RULES_SPEAKER.format(
                agent=agent, listeners=listeners, candidates=candidates, target=s.target
            )
        return RULES_LISTENER.format(
            agent=agent, candidates=candidates, speaker=self.speaker, example=s.candidates[0]
        )

    def turn_prompt(self, agent: str) -> str:
        s = self.state
        if agent == self.speaker:
            prompt = TURN_SPEAKER.format(target=s.target)
            if self.clue_choices:
                prompt += " Answer one of: " + ", ".join(self._clue_moves()) + "."
            return prompt
        moves = ", ".join(f"[pick {w}]" for w in s.candidates)
        return TURN_LISTENER.format(clue=s.clue, moves=moves)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        view: dict[str, Any] = {
            "role": "speaker" if agent == self.speaker else "listener",
            "candidates": list(s.candidates),
            "clue": s.clue,
            "num_listeners": len(self.listeners),
        }
        if agent == self.speaker or self.over:
            view["target"] = s.target
        if agent in s.picks:
            view["my_pick"] = s.picks[agent]
        if self.over:
            view["picks"] = dict(s.picks)
        return view
