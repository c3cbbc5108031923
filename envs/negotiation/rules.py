"""Pure rules of the negotiation game (no PettingZoo).

Two players divide a pool of items. Each values the item types privately (integers; the whole
pool is worth `total_value` to both). They alternate offers; an offer names what the PROPOSER
keeps, the other player gets the rest. A deal scores each player the value of what it gets divided
by `total_value` (raw scores in [0, 1]); no deal scores 0.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar

from envs.core.formats import either, number_format
from envs.core.game import FORFEIT_PENALTY, Game
from envs.core.parsing import MAX_PARSED_CHARS

ITEM_NAMES = (
    ("book", "books"),
    ("hat", "hats"),
    ("ball", "balls"),
    ("pen", "pens"),
    ("cup", "cups"),
)
ACCEPT = "[accept]"
REJECT = "[reject]"
FINAL_MOVES = [ACCEPT, REJECT]
MAX_TYPES = len(ITEM_NAMES)
MAX_COUNT = 5
MAX_TOTAL_VALUE = 20
_COUNT_DRAWS = 200  # random pools tried before the all-ones pool, which is always feasible

_OFFER = re.compile(r"\[\s*offer\b\s*:?([^\[\]\n]{0,80})\]", re.IGNORECASE)
_ACCEPT = re.compile(r"\[\s*accept\s*\]", re.IGNORECASE)
_REJECT = re.compile(r"\[\s*reject\s*\]", re.IGNORECASE)
_COUNTS = re.compile(r"\s*[0-9]{1,3}(?:(?:\s*[,;]\s*|\s+)[0-9]{1,3})*\s*")
_NUMBER = re.compile(r"[0-9]{1,3}")

RULES = (
    "You are {agent}. You and {opponent} must divide these items: {pool}.\n"
    "Your private values: {values} (all items together are worth {total} to you). {opponent} has "
    "its own secret values.\n"
    "You take turns making offers; player_0 offers first; at most {max_turns} offers in all. An "
    "offer says how many of each item YOU KEEP, in the order {order}; the other player gets the "
    "rest. Example: [offer {example}] means you keep {example_text}. Write [accept] to accept the "
    "other player's last offer. The last offer can only be answered with [accept] or [reject].\n"
    "Your score is the value of the items you get divided by {total}. If there is no deal, both "
    "players score 0."
)
TURN_FIRST = "Offer {turn} of {max_turns}. Make your offer, for example [offer {example}]."
TURN_REPLY = (
    "Offer {turn} of {max_turns}. {opponent} offered to keep {theirs}, so you would get {mine}, "
    "worth {worth} of {total} to you. Write [accept], or make a counter-offer such as "
    "[offer {example}]."
)
TURN_FINAL = (
    "{opponent} made the last offer: it keeps {theirs}, so you would get {mine}, worth {worth} of "
    "{total} to you. Write [accept] to take the deal or [reject] to end with no deal (both score "
    "0)."
)


def describe(counts: tuple[int, ...] | list[int]) -> str:
    """`(2, 0, 1)` -> "2 books, 0 hats, 1 ball"."""
    return ", ".join(f"{n} {ITEM_NAMES[i][n != 1]}" for i, n in enumerate(counts))


def value_of(values: tuple[int, ...], counts: tuple[int, ...]) -> int:
    return int(sum(v * n for v, n in zip(values, counts, strict=True)))


def value_vectors(counts: tuple[int, ...], total: int) -> list[tuple[int, ...]]:
    """Every non-negative integer value vector `v` with `sum(v[i] * counts[i]) == total`."""
    out: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...], left: int) -> None:
        i = len(prefix)
        if i == len(counts) - 1:
            if left % counts[i] == 0:
                out.append((*prefix, left // counts[i]))
            return
        for v in range(left // counts[i] + 1):
            extend((*prefix, v), left - v * counts[i])

    extend((), total)
    return out


def _pair_ok(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Every item type is worth something to someone, and (with 2+ types) the values differ."""
    covered = all(x > 0 or y > 0 for x, y in zip(a, b, strict=True))
    return covered and (len(a) == 1 or a != b)


@dataclass
class NegotiationState:
    counts: tuple[int, ...]
    values: dict[str, tuple[int, ...]]
    total_value: int
    max_turns: int
    offers: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (proposer, keeps)
    deal: dict[str, tuple[int, ...]] | None = None  # what each player gets


class Negotiation(Game):
    title: ClassVar[str] = "negotiation"
    payoffs: ClassVar[tuple[str, ...]] = ("mixed", "competitive", "cooperative")
    default_max_cycles: ClassVar[int] = 100

    def __init__(
        self,
        seed: int | None = None,
        *,
        max_turns: int = 6,
        num_types: int = 3,
        max_count: int = 4,
        total_value: int = 10,
        **kwargs: Any,
    ) -> None:
        if not 1 <= max_turns <= 30:
            raise ValueError(f"max_turns must be in 1..30, got {max_turns}")
        if not 1 <= num_types <= MAX_TYPES:
            raise ValueError(f"num_types must be in 1..{MAX_TYPES}, got {num_types}")
        if not 1 <= max_count <= MAX_COUNT:
            raise ValueError(f"max_count must be in 1..{MAX_COUNT}, got {max_count}")
        if not num_types <= total_value <= MAX_TOTAL_VALUE:
            raise ValueError(
                f"total_value must be in {num_types}..{MAX_TOTAL_VALUE} (at least num_types), "
                f"got {total_value}"
            )
        super().__init__(["player_0", "player_1"], seed, **kwargs)
        counts, v0, v1 = self._draw_pool(num_types, max_count, total_value)
        self.state = NegotiationState(
            counts=counts,
            values={"player_0": v0, "player_1": v1},
            total_value=int(total_value),
            max_turns=int(max_turns),
        )

    def _draw_pool(self, n: int, max_count: int, total: int):
        """Item counts and both players' values, uniform over the valid value vectors."""
        for _ in range(_COUNT_DRAWS):
            counts = tuple(int(c) for c in self.rng.integers(1, max_count + 1, size=n))
            vectors = value_vectors(counts, total)
            if not vectors:
                continue
            for _ in range(20):
                a, b = (vectors[int(i)] for i in self.rng.integers(len(vectors), size=2))
                if _pair_ok(a, b):
                    return counts, a, b
        # Rarely reached (tight parameters): one of each item, and a first player who values every
        # item (possible since total >= n), which makes any different second vector valid.
        counts = (1,) * n
        vectors = value_vectors(counts, total)
        positive = [v for v in vectors if min(v) > 0]
        a = positive[int(self.rng.integers(len(positive)))]
        others = [v for v in vectors if v != a] or [a]
        return counts, a, others[int(self.rng.integers(len(others)))]

    # ------------------------------------------------------------------ helpers
    def opponent(self, agent: str) -> str:
        return self.agents[1 - self.agents.index(agent)]

    def final_phase(self) -> bool:
        """All offers are made: the last one can only be accepted or rejected."""
        return len(self.state.offers) >= self.state.max_turns

    def standing_offer(self) -> tuple[str, tuple[int, ...]] | None:
        return self.state.offers[-1] if self.state.offers else None

    def rest(self, keeps: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(c - k for c, k in zip(self.state.counts, keeps, strict=True))

    # ------------------------------------------------------------------ Game hooks
    def to_act(self) -> list[str]:
        if self.over:
            return []
        return [self.agents[len(self.state.offers) % 2]]

    def legal_moves(self, agent: str) -> list[str] | None:
        return list(FINAL_MOVES) if self.final_phase() else None

    def move_format(self, agent: str) -> str | None:
        """An offer, `[offer k1 k2 ...]` with each count from 0 to the pool's, or `[accept]` once
        an offer stands (the final phase lists its moves instead)."""
        if self.final_phase():
            return None
        counts = " ".join(number_format(0, c) for c in self.state.counts)
        offer = rf"\[offer {counts}\]"
        return either(offer, r"\[accept\]") if self.standing_offer() is not None else offer

    def parse_move(self, agent: str, text: str) -> Any | None:
        if self.final_phase():
            return match_final(text)
        return parse_offer_or_accept(text, self.state.counts, self.standing_offer() is not None)

    def apply_move(self, agent: str, move: Any) -> None:
        s = self.state
        if move == REJECT:
            self.log(f"{agent} rejects the last offer.")
            self._no_deal()
        elif move == ACCEPT:
            proposer, keeps = s.offers[-1]
            self.log(f"{agent} accepts.")
            self._deal({proposer: keeps, agent: self.rest(keeps)})
        else:
            keeps = tuple(move)
            s.offers.append((agent, keeps))
            other = self.opponent(agent)
            self.log(
                f"{agent} offers [offer {' '.join(map(str, keeps))}]: {agent} keeps "
                f"{describe(keeps)}; {other} gets {describe(self.rest(keeps))}."
            )

    def _deal(self, gets: dict[str, tuple[int, ...]]) -> None:
        s = self.state
        s.deal = gets
        for a in self.agents:
            worth = value_of(s.values[a], gets[a])
            self.scores[a] += worth / s.total_value
            self.log(
                f"Deal: you get {describe(gets[a])}, worth {worth} of {s.total_value} to you.",
                visible_to=[a],
            )
        self.over = True

    def _no_deal(self) -> None:
        self.log("No deal: both players score 0.")
        self.over = True

    def on_forfeit(self, agent: str) -> None:
        # No deal (0 for both), and the forfeiter pays the usual forfeit penalty.
        self.scores[agent] -= FORFEIT_PENALTY
        self._no_deal()

    # ------------------------------------------------------------------ prompts
    def _example(self) -> tuple[int, ...]:
        return tuple((c + 1) // 2 for c in self.state.counts)

    def rules_text(self, agent: str) -> str:
        s = self.state
        example = self._example()
        values = ", ".join(
            f"each {ITEM_NAMES[i][0]} is worth {v}" for i, v in enumerate(s.values[agent])
        )
        return RULES.format(
            agent=agent,
            opponent=self.opponent(agent),
            pool=describe(s.counts),
            values=values,
            total=s.total_value,
            max_turns=s.max_turns,
            order=", ".join(ITEM_NAMES[i][1] for i in range(len(s.counts))),
            example=" ".join(map(str, example)),
            example_text=describe(example),
        )

    def turn_prompt(self, agent: str) -> str:
        s = self.state
        example = " ".join(map(str, self._example()))
        standing = self.standing_offer()
        if standing is None:
            return TURN_FIRST.format(turn=1, max_turns=s.max_turns, example=example)
        proposer, keeps = standing
        mine = self.rest(keeps)
        fields = {
            "opponent": proposer,
            "theirs": describe(keeps),
            "mine": describe(mine),
            "worth": value_of(s.values[agent], mine),
            "total": s.total_value,
        }
        if self.final_phase():
            return TURN_FINAL.format(**fields)
        turn = len(s.offers) + 1
        return TURN_REPLY.format(turn=turn, max_turns=s.max_turns, example=example, **fields)

    def view(self, agent: str) -> dict[str, Any]:
        s = self.state
        standing = self.standing_offer()
        other = self.opponent(agent)
        return {
            "item_names": [ITEM_NAMES[i][1] for i in range(len(s.counts))],
            "counts": list(s.counts),
            "my_values": list(s.values[agent]),
            "total_value": s.total_value,
            "max_turns": s.max_turns,
            "offers_made": len(s.offers),
            "final": self.final_phase(),
            "standing_offer": None
            if standing is None
            else {
                "by": standing[0],
                "keeps": list(standing[1]),
                "i_get": list(self.rest(standing[1])),
            },
            "my_offers": [list(k) for p, k in s.offers if p == agent],
            "opponent_offers": [list(k) for p, k in s.offers if p == other],
            "deal": None if s.deal is None else list(s.deal[agent]),
        }


# ---------------------------------------------------------------------- parsing
def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text[:MAX_PARSED_CHARS])


def match_final(text: str) -> str | None:
    """`[accept]` or `[reject]` named alone in `text` (other bracketed tokens are ignored)."""
    text = _nfkc(text)
    found = {
        move for move, pattern in ((ACCEPT, _ACCEPT), (REJECT, _REJECT)) if pattern.search(text)
    }
    return found.pop() if len(found) == 1 else None


def parse_counts(body: str, counts: tuple[int, ...]) -> tuple[int, ...] | None:
    """ "2 0 1" / "2, 0, 1" -> (2, 0, 1) when there is one number per item type, each in range."""
    if not _COUNTS.fullmatch(body):
        return None
    keeps = tuple(int(x) for x in _NUMBER.findall(body))
    if len(keeps) != len(counts) or any(k > c for k, c in zip(keeps, counts, strict=True)):
        return None
    return keeps


def parse_offer_or_accept(
    text: str, counts: tuple[int, ...], can_accept: bool
) -> str | tuple[int, ...] | None:
    """The one move named in `text`: `[accept]` (if allowed) or a well-formed `[offer ...]`.

    Any malformed or out-of-range offer, an `[accept]` with no offer standing, or two different
    moves make the whole answer invalid.
    """
    text = _nfkc(text)
    moves: set[str | tuple[int, ...]] = set()
    for m in _OFFER.finditer(text):
        keeps = parse_counts(m.group(1), counts)
        if keeps is None:
            return None
        moves.add(keeps)
    if _ACCEPT.search(text):
        if not can_accept:
            return None
        moves.add(ACCEPT)
    return moves.pop() if len(moves) == 1 else None
