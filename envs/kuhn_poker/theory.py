"""Game theory of Kuhn poker, by exact traversal of the rules in `envs.kuhn_poker.rules`.

Pure Python; no PettingZoo. Values are in chips for player_0 unless said otherwise, and are exact
`Fraction`s when every probability given is a `Fraction` or an int (floats give floats).

## Policy format
A policy is a mapping (or a callable) from info-set key to action probabilities:

- key: `"<card>:<history>"`, the acting player's own card (`J`, `Q`, `K`), a colon, and the moves so
  far as letters `c` (check, or call when facing a bet), `b` (bet), `f` (fold). The 12 keys
  (`info_sets()`):
  player_0 first move `"J:"`, `"Q:"`, `"K:"`; player_0 facing a bet after checking `"J:cb"`, ...;
  player_1 after a check `"J:c"`, ...; player_1 facing a bet `"J:b"`, `"Q:b"`, `"K:b"`.
  The env gives the same key as `infos[agent]["view"]["info_set"]`.
- value: `{action: probability}` with action names `check`, `bet` (no bet pending) or `call`, `fold`
  (facing a bet); brackets and case are ignored, so the env's legal moves (`"[bet]"`) work as keys.
  A legal action left out has probability 0; probabilities must be >= 0 with a positive sum and are
  normalised to sum to 1.

One policy covers both seats (like OpenSpiel's tabular policies): the key says whose turn it is.

>>> exploitability(uniform_policy())
Fraction(11, 24)
>>> exploitability(nash_policy())
Fraction(0, 1)

## Mixtures of policies
A league plays a mixture of policies (the learner's snapshots, each picked for a whole game with
its weight). `mixture_policy(policies, weights)` is the one behaviour policy that plays exactly
like that mixture (Kuhn 1953: realisation-equivalent): at each info set the policies' move
probabilities averaged with weight w_k times the probability that policy k's own earlier moves
lead there, so a policy that never reaches the info set has no say in it. A plain average of the
move probabilities is a different strategy. `mixture_exploitability` is its exploitability
(OpenSpiel's `policy_aggregator` builds the same policy by traversing the game).

>>> bets = {k: {"call" if k.endswith("b") else "bet": 1} for k in info_sets()}
>>> checks = {k: {"fold" if k.endswith("b") else "check": 1} for k in info_sets()}
>>> mixture_policy([bets, checks], [1, 1])["K:cb"]  # only `checks` checks first, then folds
{'call': Fraction(0, 1), 'fold': Fraction(1, 1)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from envs.kuhn_poker.rules import (
    CARDS,
    LETTER,
    deals,
    info_set,
    is_terminal,
    legal_actions,
    player_to_act,
    returns,
)

Number = int | float | Fraction
ActionProbs = Mapping[str, Number]
Policy = Mapping[str, ActionProbs] | Callable[[str], ActionProbs]
Table = dict[str, dict[str, Number]]

#: Non-terminal histories and who acts there.
DECISION_HISTORIES = ("", "c", "b", "cb")
NASH_VALUE = Fraction(-1, 18)  # player_0's value of the game
UNIFORM_EXPLOITABILITY = Fraction(11, 24)


def info_sets(player: int | None = None) -> list[str]:
    """Every info-set key, or those of `player` (0 or 1)."""
    return [
        info_set(card, h)
        for h in DECISION_HISTORIES
        if player is None or player_to_act(h) == player
        for card in CARDS
    ]


def uniform_policy() -> Table:
    """Every legal action with equal probability, at every info set."""
    return {
        key: {a: Fraction(1, 2) for a in legal_actions(key.split(":", 1)[1])} for key in info_sets()
    }


def nash_policy(alpha: Number = Fraction(1, 3)) -> Table:
    """The standard one-parameter family of Nash equilibria (Kuhn 1950), 0 <= alpha <= 1/3.

    player_0 bets J with probability alpha, K with 3 alpha, always checks Q; after check-bet it
    folds J, calls with Q with probability alpha + 1/3, calls with K. player_1 facing a bet folds J,
    calls Q with 1/3, calls K; after a check it bets J with 1/3, checks Q, bets K.
    """
    if not 0 <= alpha <= Fraction(1, 3):
        raise ValueError(f"alpha must lie in [0, 1/3], got {alpha}")
    third = Fraction(1, 3)

    def mix(first: str, second: str, p_first: Number) -> dict[str, Number]:
        return {first: p_first, second: 1 - p_first}

    return {
        "J:": mix("bet", "check", alpha),
        "Q:": mix("bet", "check", 0),
        "K:": mix("bet", "check", 3 * alpha),
        "J:cb": mix("call", "fold", 0),
        "Q:cb": mix("call", "fold", alpha + third),
        "K:cb": mix("call", "fold", 1),
        "J:c": mix("bet", "check", third),
        "Q:c": mix("bet", "check", 0),
        "K:c": mix("bet", "check", 1),
        "J:b": mix("call", "fold", 0),
        "Q:b": mix("call", "fold", third),
        "K:b": mix("call", "fold", 1),
    }


def as_table(policy: Policy) -> Table:
    """`policy` (see the module docstring), validated, as `{key: {action: probability}}` over all
    12 info sets."""
    lookup = policy if callable(policy) else None
    table: Table = {}
    missing = []
    for key in info_sets():
        if lookup is not None:
            probs = lookup(key)
        elif key in policy:
            probs = policy[key]
        else:
            missing.append(key)
            continue
        table[key] = _normalised(key, probs)
    if missing:
        raise ValueError(f"policy has no entry for info sets {missing}")
    return table


def _normalised(key: str, probs: ActionProbs) -> dict[str, Number]:
    legal = legal_actions(key.split(":", 1)[1])
    out: dict[str, Number] = dict.fromkeys(legal, 0)
    for name, p in probs.items():
        action = str(name).strip().strip("[]").strip().lower()
        if action not in out:
            raise ValueError(f"{key}: {name!r} is not one of the legal actions {legal}")
        if not p >= 0:  # also rejects NaN
            raise ValueError(f"{key}: probability of {name!r} must be >= 0, got {p}")
        out[action] += p
    total = sum(out.values())
    if not total > 0:
        raise ValueError(f"{key}: probabilities must have a positive sum, got {dict(probs)}")
    if total != 1:
        exact = all(isinstance(p, int | Fraction) for p in out.values())
        out = {a: Fraction(p) / total if exact else p / total for a, p in out.items()}
    return out


CHANCE = Fraction(1, len(deals()))


def expected_value(policy_0: Policy, policy_1: Policy) -> Number:
    """player_0's expected chips when player_0 plays `policy_0` and player_1 plays `policy_1`."""
    tables = (as_table(policy_0), as_table(policy_1))
    return sum(CHANCE * _value(cards, "", tables) for cards in deals())


def _value(cards: tuple[str, str], history: str, tables: tuple[Table, Table]) -> Number:
    if is_terminal(history):
        return returns(cards, history)[0]
    p = player_to_act(history)
    probs = tables[p][info_set(cards[p], history)]
    return sum(q * _value(cards, history + LETTER[a], tables) for a, q in probs.items() if q)


def best_response_value(policy: Policy, player: int) -> Number:
    """`player`'s expected chips when it best-responds to the other seat playing `policy`."""
    table = as_table(policy)
    total: Number = 0
    for card in CARDS:
        weights = {other: CHANCE for other in CARDS if other != card}
        total += _best_response(player, card, "", weights, table)
    return total


def _best_response(
    player: int, card: str, history: str, weights: dict[str, Number], table: Table
) -> Number:
    """Value for `player` holding `card`, summed over the opponent's cards weighted by chance times
    the opponent's reach probability (`weights`); `player` picks the best action per info set."""
    if is_terminal(history):
        total: Number = 0
        for other, w in weights.items():
            cards = (card, other) if player == 0 else (other, card)
            total += w * returns(cards, history)[player]
        return total
    actions = legal_actions(history)
    if player_to_act(history) == player:
        return max(
            _best_response(player, card, history + LETTER[a], weights, table) for a in actions
        )
    total = 0
    for a in actions:
        reach = {o: w * table[info_set(o, history)][a] for o, w in weights.items()}
        total += _best_response(player, card, history + LETTER[a], reach, table)
    return total


def nash_conv(policy: Policy) -> Number:
    """Sum over players of what a best response gains over `policy`'s own value (self-play)."""
    value_0 = expected_value(policy, policy)
    return (best_response_value(policy, 0) - value_0) + (best_response_value(policy, 1) + value_0)


def exploitability(policy: Policy) -> Number:
    """OpenSpiel's `exploitability`: nash_conv / 2 = (BR0 + BR1) / 2 in this zero-sum game; 0 at a
    Nash equilibrium, 11/24 for uniform play."""
    return nash_conv(policy) / 2


def own_reach(table: Table, key: str) -> Number:
    """The probability that the acting player's own earlier moves under `table` lead to info set
    `key` (the opponent's moves and the deal left out): 1 at a player's first decision."""
    card, history = key.split(":", 1)
    player = player_to_act(history)
    reach: Number = 1
    for i, letter in enumerate(history):
        before = history[:i]
        if player_to_act(before) == player:
            (action,) = (a for a in legal_actions(before) if LETTER[a] == letter)
            reach *= table[info_set(card, before)][action]
    return reach


def mixture_policy(policies: Sequence[Policy], weights: Sequence[Number]) -> Table:
    """The behaviour policy equivalent to playing `policies[k]` with probability proportional to
    `weights[k]` for a whole game, at both seats (see the module docstring).

    At info set I: pi(a | I) = sum_k w_k r_k(I) pi_k(a | I) / sum_k w_k r_k(I), r_k(I) the
    acting player's own reach under policy k (`own_reach`). Where no weighted policy reaches I
    (the denominator is 0) the mixture never plays there; the plain weighted average fills it.
    """
    if len(policies) != len(weights) or not policies:
        raise ValueError(f"need one weight per policy, got {len(policies)} and {len(weights)}")
    if any(not w >= 0 for w in weights) or not sum(weights) > 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    tables = [as_table(p) for p in policies]
    out: Table = {}
    for key in info_sets():
        reach = [w * own_reach(t, key) for t, w in zip(tables, weights, strict=True)]
        if not sum(reach) > 0:
            reach = list(weights)
        total = sum(reach)
        total = Fraction(total) if isinstance(total, int) else total  # ints stay exact
        out[key] = {
            a: sum(r * t[key][a] for r, t in zip(reach, tables, strict=True)) / total
            for a in tables[0][key]
        }
    return out


def restricted_game(policies: Sequence[Policy]) -> list[list[Number]]:
    """values[i][j]: policy i's exact expected chips against policy j, averaged over the two
    seats: the symmetric zero-sum game among `policies` whose Nash equilibrium is PSRO's
    meta-strategy over them (`trainers.league.meta_solver.nash_distribution`, kind "margin")."""
    tables = [as_table(p) for p in policies]
    first = [[expected_value(a, b) for b in tables] for a in tables]  # a at seat 0, b at seat 1
    n = len(tables)
    return [[(first[i][j] - first[j][i]) / 2 for j in range(n)] for i in range(n)]


def mixture_exploitability(policies: Sequence[Policy], weights: Sequence[Number]) -> Number:
    """`exploitability` of the mixture of `policies` with `weights` (`mixture_policy`): what the
    league's meta-strategy over the learner's snapshots concedes to a best response."""
    return exploitability(mixture_policy(policies, weights))
