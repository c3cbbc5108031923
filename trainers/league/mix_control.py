"""Mixed mode's payoff mix l (r = l * own + (1 - l) * group; l = 1 selfish, 0 fully shared), set
either by a fixed schedule or by a controller that reads what the agents do.

A selfish reward leaves learners in mutual defection; a shared one makes cooperation pay. l
applies within the learner's family only (a game with a partner bot pays each seat its own
score: being exploited by an outsider is priced selfishly already), and the controller reads only
the family's games (`family_games`), so the exploitation it sees is an adapter of the family
cooperating while another defects: the family split. In the prisoner's dilemma (T 5, R 3, P 1,
S 0; two seats, group = their mean) a split's defector gets 5 l + 2.5 (1 - l) = 2.5 + 2.5 l
against R = 3 for cooperating too, so it turns only below l = 0.2; its cooperator gets
2.5 - 2.5 l against P = 1 for defecting, so it keeps cooperating below l = 0.6. Toward selfish
the split stays (the mixed preset's adaptive run, so pushed, sat split at its bound l = 0.5);
toward shared it ends in cooperation. `AdaptiveMix` moves l from each iteration's family games
(`mix_signals`), measured per game:

- cooperation c: the share of the learning seats' dilemma moves in the game that cooperate;
- exploitation e: the share of the learning seats' rounds in the game in which the seat
  cooperated while another player defected;
- group score g: the game's mean raw score of all seats per round (the game's own score, so it
  does not move when l does).

The rule. Each update (iteration) appends its games' (c, e, g) rows; the controller keeps the
last two windows of `window` updates. Every `window` updates, once two full windows are held and
at least `cooldown` updates after the last change, each signal is tested on its per-game values:
a window's sample is the values of all the games of its `window` updates, pooled. The trend is
d = mean of the last window's games minus the mean of the window before, with its standard error
se from the spread of the games in the two windows (Welch), and the level is the last window's
mean m with se_m = sd / sqrt(n): the noise test of the learning-rate rule
(`trainers.learn.algorithms.adaptive`). A change "clearly up" means d - z * se > 0 and d > tol;
"clearly down" d + z * se < 0 and d < -tol; "clearly flat" |d| + z * se <= tol. Then, first
match wins:

1. split: e's level clearly above `exploited_max` (m - z * se_m > exploited_max) or e clearly
   up -> l -= step (toward shared: the split's defector cooperates only at a shared l);
2. the group loses, g clearly down, and the cause is clear:
   - c clearly up -> l += step (toward selfish, the one rule that goes there; below);
   - c clearly down (defection spreads), or c not measured -> l -= step (toward shared: make
     cooperation pay);
   - c's change not resolved -> no change;
3. stuck in defection: g clearly flat and c's level clearly below `cooperation_low`
   (m + z * se_m < cooperation_low) -> l -= step;
4. anything else (a rising group score, or a difference the noise cannot resolve): no change.

The split comes first: its remedy holds whatever g does. Rule 2's move toward selfish was meant
for cooperation that others exploit, which in the family's games is rule 1's split; in the
two-seat dilemma, per round g = 1 + 2 x + 1.5 y and c = x + y / 2 (x, y: shares of rounds both
cooperating, split), so c rises while g falls only when split rounds turn into mutual cooperation
and mutual defection both (past the tolerances, 0.24 of the rounds or more). Kept, not argued.

Why per game, and the defaults. With one value per update, a window of a few updates holds a
few values: their spread is barely known (Student tails, z = 3.5 at 5 updates a window), so the
windows had to be long and a run of the mixed preset's length (16 iterations) saw its first
decision at update 10 and two changes at most. A window's games are dozens (the mixed preset
plays 16 games an iteration, half of them with a partner bot, which `family_games` leaves out:
about 24 games in 3 updates), so a short window measures its spread and d / se is close to
normal: z = 2.58, one-sided 0.5% (Student's t would put it at 2.69 for 24 games a window, 2.63
for 48, so the test is a little looser than nominal there; `min_games` = 8 values a window,
below which a signal is not tested, keeps it under about 1%). `window` = 3 and `cooldown` = 3
updates: the first decision can come at update 6, then every 3 updates, the last window of each
decision after a change played at the new l (but its first update with `async_rollout`, whose
games start before the change). A game without dilemma moves has no c or e.

The games of one update are taken as independent draws of that update's policy: the test sees
the games' noise, not a policy that wanders from update to update without a trend. The
tolerances (the smallest trend that counts) absorb small wander only: on flat synthetic curves
of 16 games an update, c, e and g wandering with sd 0.03 from one update to the next move l in
about 10% of 16-update runs, against about 2% without (`tests/unit/test_mix_control.py`).

l stays within [low, high]; a change clamped back to the value it had is no change. Every change
is a `MixDecision` with its reason, for the log. The state is plain JSON (`state_dict`), so a
resumed run continues exactly.

`ScheduleMix` is the fixed schedule: l linear from `mix_start` to `mix_end` over the run
(`trainers.league.modes.mix_at`); it measures nothing.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from trainers.episode import Episode, Trajectory
from trainers.league.modes import mix_at

__all__ = [
    "MIX_CONTROLS",
    "TAG_MIX_SIGNALS",
    "TEXT_MIX_DECISIONS",
    "AdaptiveMix",
    "MixControlConfig",
    "MixDecision",
    "MixSignals",
    "ScheduleMix",
    "dilemma_moves",
    "family_games",
    "make_mix_control",
    "mix_signals",
]

MIX_CONTROLS = ("schedule", "adaptive")
#: Scalars of the measured signals: `charts/mix/cooperation`, `.../exploited`, `.../group`.
TAG_MIX_SIGNALS = "charts/mix"
#: Text tag of the controller's decisions.
TEXT_MIX_DECISIONS = "mix/decisions"

COOPERATE, DEFECT = "cooperate", "defect"
_MOVE = re.compile(r"\[\s*(cooperate|defect)\s*\]", re.IGNORECASE)
_SAY = re.compile(r"\[\s*say\b", re.IGNORECASE)


# ---------------------------------------------------------------------- measurements
#: One game's (cooperation, exploited, group), None where the game gave none.
GameSignals = tuple[float | None, float | None, float | None]


@dataclass(frozen=True)
class MixSignals:
    """One iteration's measurements (None where the games gave none): the aggregates, for the
    charts, and each game's values, the controller's samples."""

    #: Share of the learning seats' dilemma moves that cooperate.
    cooperation: float | None
    #: Share of the learning seats' rounds in which they cooperated while another player defected.
    exploited: float | None
    #: Mean raw score of all seats per round (per game where the rounds are not known).
    group: float | None
    #: Learning-seat rounds measured.
    rounds: int = 0
    #: Each game's (cooperation, exploited, group) in the order given: the same measurements
    #: taken within one game (`AdaptiveMix` tests these, the spread of games being its noise).
    games: tuple[GameSignals, ...] = ()

    def values(self) -> tuple[float | None, float | None, float | None]:
        return self.cooperation, self.exploited, self.group

    def scalars(self) -> dict[str, float]:
        """`charts/mix/<signal>` for each signal measured."""
        names = ("cooperation", "exploited", "group")
        return {
            f"{TAG_MIX_SIGNALS}/{n}": v
            for n, v in zip(names, self.values(), strict=True)
            if v is not None
        }


def dilemma_moves(trajectory: Trajectory) -> list[str]:
    """The seat's moves that cooperate or defect, in order (one per round played).

    A turn is such a move when its text names exactly one of `[cooperate]`, `[defect]` and is no
    `[say ...]` message; a turn decoded among legal moves counts only where those are the two.
    An invalid try (neither, or both) is not a move; the retry that follows is. A scripted seat
    has no turns: its moves are not known here."""
    out = []
    for turn in trajectory.turns:
        if turn.text is None:
            continue
        if turn.choices is not None:
            named = {m.lower() for c in turn.choices for m in _MOVE.findall(c)}
            if named != {COOPERATE, DEFECT}:
                continue
        found = {m.lower() for m in _MOVE.findall(turn.text)}
        if len(found) == 1 and not _SAY.search(turn.text):
            out.append(found.pop())
    return out


def family_games(episodes: Sequence[Episode]) -> list[Episode]:
    """The games l applies to: the learner's family in every seat. A game with a partner bot
    pays each seat its own score (`trainers.league.modes`), so it says nothing about l."""
    return [ep for ep in episodes if all(t.adapter is not None for t in ep.trajectories.values())]


@dataclass(frozen=True)
class _GameCounts:
    """One game's counts, kept apart so that the iteration's shares pool moves, not games."""

    cooperated: int
    moves: int
    exploited: int
    rounds: int
    group: float | None

    def signals(self) -> GameSignals:
        return (
            self.cooperated / self.moves if self.moves else None,
            self.exploited / self.rounds if self.rounds else None,
            self.group,
        )


def _game_counts(ep: Episode) -> _GameCounts:
    seats = {a: dilemma_moves(t) for a, t in ep.trajectories.items()}
    played = max((len(m) for m in seats.values()), default=0)
    scores = [t.raw_score for t in ep.trajectories.values()]
    group = statistics.fmean(scores) / max(played, 1) if scores else None
    cooperated = moves = exploited = rounds = 0
    for agent, traj in ep.trajectories.items():
        if not traj.learning:
            continue
        mine = seats[agent]
        moves += len(mine)
        cooperated += mine.count(COOPERATE)
        others = [m for a, m in seats.items() if a != agent and m]
        for k, move in enumerate(mine):
            theirs = [m[k] for m in others if k < len(m)]
            if not theirs:
                continue
            rounds += 1
            exploited += move == COOPERATE and DEFECT in theirs
    return _GameCounts(cooperated, moves, exploited, rounds, group)


def mix_signals(episodes: Sequence[Episode]) -> MixSignals:
    """Cooperation, exploitation and group score of one iteration's games (see `MixSignals`).

    Rounds pair the k-th move of every seat whose moves are known; exploitation is counted in
    rounds where another seat's move is known (not against a scripted seat). The iteration's
    shares pool the moves (rounds) of all games, its group score is the mean of the games'."""
    counts = [_game_counts(ep) for ep in episodes]
    moves = sum(c.moves for c in counts)
    rounds = sum(c.rounds for c in counts)
    group = [c.group for c in counts if c.group is not None]
    return MixSignals(
        cooperation=sum(c.cooperated for c in counts) / moves if moves else None,
        exploited=sum(c.exploited for c in counts) / rounds if rounds else None,
        group=statistics.fmean(group) if group else None,
        rounds=rounds,
        games=tuple(c.signals() for c in counts),
    )


# ---------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class MixDecision:
    """One change of l, for the trainer to log."""

    #: The controller's update count when it decided (1 = after the first iteration).
    step: int
    old: float
    new: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"payoff mix l {self.old:.2f} -> {self.new:.2f}: {self.reason}"


@dataclass(frozen=True)
class MixControlConfig:
    """The adaptive controller's start, bounds, step and noise test."""

    #: l at the first iteration.
    start: float = 1.0
    #: The most shared l it may reach.
    low: float = 0.5
    #: The most selfish l it may reach.
    high: float = 1.0
    #: Change of l per decision.
    step: float = 0.1
    #: Updates per window (decisions at window ends, once two windows are held). A window's
    #: sample is its updates' games, so 3 updates already hold dozens of values.
    window: int = 3
    #: Standard errors a difference must exceed to count. A window's spread is read from its
    #: games (dozens), so the ratio's tails are near the normal's: 2.58 is one-sided 0.5%.
    z: float = 2.58
    #: Updates after a change before the next one, so that a change can show its effect (with
    #: cooldown = window, the last window of the next decision is the updates after the change).
    cooldown: int = 3
    #: Per-game values a signal needs in each window to be tested: fewer leave its spread, and
    #: the normal tails, too uncertain.
    min_games: int = 8
    #: Level of exploitation (share of rounds) above which the family is split: its cooperators
    #: exploited by its own defectors.
    exploited_max: float = 0.2
    #: Level of cooperation below which a flat group score means mutual defection.
    cooperation_low: float = 0.5
    #: Smallest trend that counts, per signal (shares of moves; group score per round).
    cooperation_tol: float = 0.05
    exploited_tol: float = 0.05
    group_tol: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 <= self.low <= self.start <= self.high <= 1.0:
            raise ValueError(f"need 0 <= low <= start <= high <= 1, got {self}")
        if not self.step > 0 or self.window < 2 or not self.z > 0 or self.cooldown < 0:
            raise ValueError("need step > 0, window >= 2, z > 0 and cooldown >= 0")
        if self.min_games < 2:
            raise ValueError("need min_games >= 2 (a spread needs two values)")
        tols = (self.cooperation_tol, self.exploited_tol, self.group_tol)
        if any(not t >= 0 for t in tols):
            raise ValueError("tolerances must be >= 0")


def _clean(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _clean_game(row: Sequence[float | None]) -> GameSignals:
    c, e, g = (_clean(v) for v in row)
    return c, e, g


@dataclass(frozen=True)
class _Test:
    """One signal's windows: trend d +- se and the last window's level m +- se_m."""

    d: float
    se: float
    m: float
    se_m: float

    @classmethod
    def of(cls, before: list[float], last: list[float], least: int = 2) -> _Test | None:
        """The windows' test; None where either holds fewer than `least` (at least 2) values."""
        if min(len(before), len(last)) < max(least, 2):
            return None
        var_b, var_l = statistics.variance(before), statistics.variance(last)
        return cls(
            d=statistics.fmean(last) - statistics.fmean(before),
            se=math.sqrt(var_b / len(before) + var_l / len(last)),
            m=statistics.fmean(last),
            se_m=math.sqrt(var_l / len(last)),
        )

    def up(self, z: float, tol: float) -> bool:
        return self.d - z * self.se > 0 and self.d > tol

    def down(self, z: float, tol: float) -> bool:
        return self.d + z * self.se < 0 and self.d < -tol

    def flat(self, z: float, tol: float) -> bool:
        return abs(self.d) + z * self.se <= tol

    def trend(self, z: float) -> str:
        return f"{self.d:+.3f} +- {z * self.se:.3f}"

    def level(self, z: float) -> str:
        return f"{self.m:.2f} +- {z * self.se_m:.2f}"


class AdaptiveMix:
    """l from measured cooperation, exploitation and group score (the rule: module docstring)."""

    def __init__(self, config: MixControlConfig | None = None) -> None:
        self.config = config or MixControlConfig()
        self.mix = self.config.start
        self.observed = 0
        self.since_change = self.config.cooldown
        #: The last two windows' updates, oldest first: each its games' (c, e, g) rows.
        self.history: list[tuple[GameSignals, ...]] = []

    def value(self, step: int) -> float:
        """l for the games of iteration `step` (0-based): the current l, whatever the step."""
        return self.mix

    def observe(self, signals: MixSignals) -> MixDecision | None:
        """Take one iteration's measurements; return the change made, if any."""
        cfg = self.config
        self.observed += 1
        self.since_change += 1
        games = tuple(_clean_game(row) for row in signals.games)
        self.history = [*self.history, games][-2 * cfg.window :]
        if len(self.history) < 2 * cfg.window or self.observed % cfg.window:
            return None
        if self.since_change < cfg.cooldown:
            return None
        move = self._rule()
        if move is None:
            return None
        direction, reason = move
        new = min(max(self.mix + direction * cfg.step, cfg.low), cfg.high)
        new = round(new, 12)  # repeated steps of 0.1 land on the bounds, not a hair off them
        if new == self.mix:
            return None
        decision = MixDecision(self.observed, self.mix, new, reason)
        self.mix, self.since_change = new, 0
        return decision

    def tests(self) -> tuple[_Test | None, _Test | None, _Test | None]:
        """Each signal's (cooperation, exploited, group) windows of per-game values; None
        before two windows, or where a window holds fewer than `min_games` of its values."""
        w, least = self.config.window, self.config.min_games
        if len(self.history) < 2 * w:
            return None, None, None

        def pooled(updates: list[tuple[GameSignals, ...]], i: int) -> list[float]:
            return [v for games in updates for row in games if (v := row[i]) is not None]

        before, last = self.history[:w], self.history[w:]
        c, e, g = (_Test.of(pooled(before, i), pooled(last, i), least) for i in range(3))
        return c, e, g

    def _rule(self) -> tuple[int, str] | None:
        cfg, z = self.config, self.config.z
        coop, exploited, group = self.tests()
        if exploited is not None:
            if exploited.m - z * exploited.se_m > cfg.exploited_max:
                return -1, (
                    f"split: cooperators exploited by their own family in {exploited.level(z)} "
                    f"of rounds (> {cfg.exploited_max:g}): toward shared"
                )
            if exploited.up(z, cfg.exploited_tol):
                return -1, (
                    f"split: exploitation by their own family rising {exploited.trend(z)}: "
                    "toward shared"
                )
        if group is None:
            return None
        if group.down(z, cfg.group_tol):
            if coop is not None and coop.up(z, cfg.cooperation_tol):
                return +1, (
                    f"cooperation rising {coop.trend(z)} while the group score falls "
                    f"{group.trend(z)}: toward selfish"
                )
            if coop is None:
                return -1, f"group score falling {group.trend(z)}: toward shared"
            if coop.down(z, cfg.cooperation_tol):
                return -1, (
                    f"group score falling {group.trend(z)} with cooperation "
                    f"{coop.trend(z)}: toward shared"
                )
            return None
        if (
            group.flat(z, cfg.group_tol)
            and coop is not None
            and coop.m + z * coop.se_m < cfg.cooperation_low
        ):
            return -1, (
                f"group score flat {group.trend(z)} with cooperation {coop.level(z)} "
                f"(< {cfg.cooperation_low:g}): toward shared"
            )
        return None

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON data; the config is included for the record, not restored."""
        return {
            "mix": self.mix,
            "observed": self.observed,
            "since_change": self.since_change,
            "history": [[list(row) for row in games] for games in self.history],
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mix = float(state["mix"])
        self.observed = int(state["observed"])
        self.since_change = int(state["since_change"])
        self.history = [
            tuple(_clean_game(row) for row in games)
            for games in state["history"]
            if not _is_update_aggregate(games)
        ]


def _is_update_aggregate(entry: Sequence[Any]) -> bool:
    """An entry of an older checkpoint's history: one update's aggregate (c, e, g), not a list
    of games. It is dropped on loading, not read as one game: an aggregate's spread is that of a
    mean of a dozen games, so among games it would understate the noise. The controller then
    waits until two windows of new games are held (at most 2 * window updates) to decide."""
    return any(not isinstance(v, (list, tuple)) for v in entry)


class ScheduleMix:
    """The fixed schedule: l linear from `start` (first iteration) to `end` (last)."""

    def __init__(self, start: float, end: float, iterations: int) -> None:
        self.start, self.end, self.iterations = start, end, iterations

    def value(self, step: int) -> float:
        return mix_at(step, self.iterations, self.start, self.end)

    def observe(self, signals: MixSignals) -> MixDecision | None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


def make_mix_control(
    kind: str, mix_start: float, mix_end: float, iterations: int
) -> ScheduleMix | AdaptiveMix:
    """The run's payoff-mix control: `schedule`, or `adaptive` starting at `mix_start` and
    staying between `mix_start` and `mix_end`."""
    if kind == "schedule":
        return ScheduleMix(mix_start, mix_end, iterations)
    if kind == "adaptive":
        low, high = sorted((mix_start, mix_end))
        return AdaptiveMix(MixControlConfig(start=mix_start, low=low, high=high))
    raise ValueError(f"unknown mix_control {kind!r}; choose one of {', '.join(MIX_CONTROLS)}")
