"""Bots for codenames_v0.

Both bots read only `request.info` (`view`, `legal_moves`). The strong bots share the category
lists shipped with the game (`envs.codenames.words.categories`) as their word knowledge: the
spymaster clues a category, the guesser guesses the board words in it. The guesser never sees the
key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from agents.policy import ActRequest
from agents.scripted.base import RandomBot, ScriptedBot
from envs.codenames.words import categories, clashes, word_list

ASSASSIN, NEUTRAL = "assassin", "neutral"


def _unrevealed(view: dict[str, Any]) -> list[str]:
    revealed = view.get("revealed") or {}
    return [w for w in view.get("board") or [] if w not in revealed]


def _clues(view: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(category, own, opponent, neutral): the unrevealed words that each legal category covers,
    for the categories that cover some unrevealed word and not the assassin."""
    key = view.get("key") or {}
    team = view.get("team")
    board = view.get("board") or []
    live = _unrevealed(view)
    found = []
    for cat, members in categories().items():
        covered = [key.get(w) for w in live if w in members]
        own = covered.count(team)
        if not covered or ASSASSIN in covered or clashes(cat, board):
            continue
        neutral = covered.count(NEUTRAL)
        found.append((cat, own, len(covered) - own - neutral, neutral))
    return found


def best_clue(view: dict[str, Any]) -> tuple[str, int] | None:
    """The category covering most of the team's unrevealed words and none of the opponent's or the
    assassin (fewest neutral words on ties); None if no category does."""
    safe = [c for c in _clues(view) if c[1] > 0 and c[2] == 0]
    if not safe:
        return None
    cat, own, _, _ = max(safe, key=lambda c: (c[1], -c[3], c[0]))
    return cat, own


def fallback_clue(view: dict[str, Any]) -> tuple[str, int] | None:
    """When no category is safe: the assassin-free one with the best own-minus-opponent count, else
    one that covers only neutral words (the guesser must guess once: let it hit a neutral)."""
    clues = _clues(view)
    if mine := [c for c in clues if c[1] > 0]:
        cat, own, _, _ = max(mine, key=lambda c: (c[1] - c[2], -c[2], -c[3], c[0]))
        return cat, own
    if neutral := [c for c in clues if c[1] == c[2] == 0]:
        return min(neutral, key=lambda c: (c[3], c[0]))[0], 1
    return None


def random_clue_word(board: Sequence[str], rng) -> str:
    """A word from the shipped list that is a legal clue on `board`."""
    words = word_list()
    for _ in range(100):
        word = words[int(rng.integers(len(words)))]
        if not clashes(word, board):
            return word
    return "thing"


class RandomCodenamesBot(RandomBot):
    """Random guesses; as spymaster a random word from the list (not on the board) with n = 1."""

    def free_move(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        return f"[clue {random_clue_word(view.get('board') or [], self.rng)} 1]"


class CategoryBot(ScriptedBot):
    """Spymaster: clues the safest category (`best_clue`, else `fallback_clue`). Guesser: guesses
    the unrevealed words of the clue's category, at most n, then passes."""

    kind: ClassVar[str] = "strong"

    def choose(self, request: ActRequest) -> str:
        view = request.info.get("view") or {}
        if view.get("role") == "spymaster":
            clue = best_clue(view) or fallback_clue(view)
            if clue is None:  # every category near our words also covers the assassin
                return f"[clue {random_clue_word(view.get('board') or [], self.rng)} 1]"
            return f"[clue {clue[0]} {clue[1]}]"
        return self._guess(view, list(request.info.get("legal_moves") or []))

    def _guess(self, view: dict[str, Any], legal: list[str]) -> str:
        clue = view.get("clue") or {}
        made = int(view.get("guesses_made") or 0)
        members = categories().get(str(clue.get("word", "")), ())
        candidates = sorted(w for w in _unrevealed(view) if w in members)
        if candidates and made < int(clue.get("number") or 0):
            return f"[guess {candidates[int(self.rng.integers(len(candidates)))]}]"
        if made > 0 or not legal:
            return "[pass]"
        return str(legal[int(self.rng.integers(len(legal)))])  # must guess once: no better idea


BOTS = {"random": RandomCodenamesBot, "strong": CategoryBot}
