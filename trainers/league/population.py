"""The league: who is in the population, what they have played, and which adapter versions it needs.

Three kinds of player:
- `learner`: a LoRA adapter being trained; `version` is its latest published version.
- `snapshot`: a frozen past version of a learner (`parent`), kept as an opponent. Its id is
  "<learner>@v<version>", the engine's name for that version.
- `bot`: a scripted policy (`bot` holds its spec, e.g. "random" or "strong"), the fixed yardsticks.

A learner may be flagged `exploiter`: it trains against the main agents (the other learners) to
find their weaknesses, as in AlphaStar's league; matchmaking reads the flag.

The league records every `MatchRecord` and keeps per-pair win counts, so matchmaking can ask
`win_rate(a, b)` cheaply; ratings are recomputed from `records` by `league.ratings`. A learner
keeps one id across versions, so its results pile up over all of them; its snapshots give the
per-version picture. Snapshots
beyond `max_snapshots` per learner are evicted oldest first, and every call that drops a player or
moves a learner's version reports the (adapter, version) pairs the league no longer references, so
the serving side can unload them once no rollout still holds them. Serialised as plain JSON
(`state_dict()`).

(Over 400 lines: `League` is one class whose queries, ratings and state dict all read the same
records and players; the pure rating functions live in `ratings`.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from trainers.league.ratings import (
    MatchRecord,
    elo_ratings,
    meetings,
    openskill_ratings,
    payoff_matrix,
)

__all__ = ["PLAYER_KINDS", "AdapterVersion", "League", "LeagueConfig", "Player", "SnapshotResult"]

PlayerKind = Literal["learner", "snapshot", "bot"]
PLAYER_KINDS: tuple[str, ...] = ("learner", "snapshot", "bot")
#: (adapter name, version): what the policy server serves (`AdapterRef(*pair)` there).
AdapterVersion = tuple[str, int]
_FORMAT = 1


@dataclass(frozen=True)
class Player:
    """One member of the league."""

    id: str
    kind: PlayerKind
    #: LoRA adapter name (learners and snapshots).
    adapter: str | None = None
    #: Adapter version: a learner's latest published one, a snapshot's frozen one.
    version: int | None = None
    #: Scripted bot spec (bots only), as `agents.scripted.make_bot(env_id, kind)` takes it.
    bot: str | None = None
    #: The learner a snapshot was taken from.
    parent: str | None = None
    #: Learner update step at which the player joined.
    created_step: int = 0
    #: An exploiter learner trains against the main agents, not for its own strength.
    exploiter: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a player needs a non-empty id")
        if self.kind not in PLAYER_KINDS:
            raise ValueError(f"unknown player kind {self.kind!r}; choose one of {PLAYER_KINDS}")
        if self.kind == "bot":
            if not self.bot or self.adapter is not None:
                raise ValueError(f"bot {self.id!r} needs a bot spec and no adapter")
        elif not self.adapter or self.version is None:
            raise ValueError(f"{self.kind} {self.id!r} needs an adapter name and a version")
        if self.kind == "snapshot" and not self.parent:
            raise ValueError(f"snapshot {self.id!r} needs its parent learner id")
        if self.exploiter and self.kind != "learner":
            raise ValueError(f"only learners can be exploiters, not {self.kind} {self.id!r}")

    @property
    def adapter_version(self) -> AdapterVersion | None:
        """(adapter, version) this player is served with, or None for a bot."""
        if self.adapter is None or self.version is None:
            return None
        return (self.adapter, self.version)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Player:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class LeagueConfig:
    """When to snapshot and how many snapshots to keep."""

    #: Snapshot a learner every this many updates (0: never by count).
    snapshot_every: int = 10
    #: Snapshot early when the learner's win rate against the league since its last snapshot
    #: reaches this (AlphaStar uses 0.7); None: never by win rate.
    snapshot_win_rate: float | None = 0.7
    #: Games since the last snapshot before the win-rate rule may fire.
    snapshot_min_games: int = 20
    #: Snapshots kept per learner; the oldest is evicted beyond it.
    max_snapshots: int = 8

    def __post_init__(self) -> None:
        if self.snapshot_every < 0 or self.snapshot_min_games < 0 or self.max_snapshots < 1:
            raise ValueError(
                "need snapshot_every >= 0, snapshot_min_games >= 0, max_snapshots >= 1"
            )
        if self.snapshot_win_rate is not None and not 0.0 < self.snapshot_win_rate <= 1.0:
            raise ValueError(f"snapshot_win_rate must lie in (0, 1], got {self.snapshot_win_rate}")


@dataclass(frozen=True)
class SnapshotResult:
    """What `add_snapshot` did: the new player, the evicted ones and the versions now unused."""

    player: Player
    evicted: tuple[Player, ...] = ()
    released: tuple[AdapterVersion, ...] = ()


@dataclass
class _PairStats:
    games: int = 0
    #: Wins count 1, ties 0.5.
    wins: float = 0.0
    margin: float = 0.0


class League:
    """The population, its match history and per-pair results. See the module docstring."""

    def __init__(self, config: LeagueConfig | None = None) -> None:
        self.config = config or LeagueConfig()
        #: Player id -> player, in the order they joined.
        self.players: dict[str, Player] = {}
        #: Every recorded game, in the order recorded (evicted players' games included).
        self.records: list[MatchRecord] = []
        #: Learner id -> step of its last snapshot (its creation step before the first).
        self.last_snapshot: dict[str, int] = {}
        #: Learner id -> len(records) at its last snapshot: the games since then decide the
        #: win-rate rule, and none of them is counted twice.
        self.snapshot_marks: dict[str, int] = {}
        self._pairs: dict[tuple[str, str], _PairStats] = {}

    def __repr__(self) -> str:
        kinds = {k: sum(p.kind == k for p in self.players.values()) for k in PLAYER_KINDS}
        return f"League({kinds}, records={len(self.records)})"

    # ---- membership

    def _add(self, player: Player) -> Player:
        if player.id in self.players:
            raise ValueError(f"player {player.id!r} is already in the league")
        self.players[player.id] = player
        return player

    def add_learner(
        self,
        learner_id: str,
        adapter: str | None = None,
        version: int = 0,
        step: int = 0,
        exploiter: bool = False,
    ) -> Player:
        """Add a learning adapter (named `learner_id` unless `adapter` says otherwise)."""
        player = Player(
            learner_id,
            "learner",
            adapter or learner_id,
            version,
            created_step=step,
            exploiter=exploiter,
        )
        self._add(player)
        self.last_snapshot[learner_id] = step
        self.snapshot_marks[learner_id] = len(self.records)
        return player

    def add_bot(self, bot_id: str, spec: str, step: int = 0) -> Player:
        """Add a scripted bot; `spec` names it for `agents.scripted.make_bot`."""
        return self._add(Player(bot_id, "bot", bot=spec, created_step=step))

    def get(self, player_id: str) -> Player:
        try:
            return self.players[player_id]
        except KeyError:
            raise KeyError(f"no player {player_id!r} in the league") from None

    def __contains__(self, player_id: object) -> bool:
        return player_id in self.players

    def __len__(self) -> int:
        return len(self.players)

    def learners(self, exploiters: bool | None = None) -> list[Player]:
        """Learners; `exploiters=False` only main agents, `True` only exploiters, None all."""
        return [
            p
            for p in self.players.values()
            if p.kind == "learner" and (exploiters is None or p.exploiter == exploiters)
        ]

    def snapshots(self, of: str | None = None) -> list[Player]:
        """Snapshots, oldest first; of one learner when `of` is given."""
        found = [
            p
            for p in self.players.values()
            if p.kind == "snapshot" and (of is None or p.parent == of)
        ]
        return sorted(found, key=lambda p: (p.created_step, p.version or 0))

    def bots(self) -> list[Player]:
        return [p for p in self.players.values() if p.kind == "bot"]

    def referenced_versions(self) -> set[AdapterVersion]:
        """Every (adapter, version) some player in the league is served with."""
        return {v for p in self.players.values() if (v := p.adapter_version) is not None}

    def _released(self, candidates: Iterable[AdapterVersion | None]) -> tuple[AdapterVersion, ...]:
        used = self.referenced_versions()
        return tuple(dict.fromkeys(c for c in candidates if c is not None and c not in used))

    def set_version(self, learner_id: str, version: int) -> tuple[AdapterVersion, ...]:
        """Record that a learner published `version`; return its old version if now unused."""
        learner = self._learner(learner_id)
        self.players[learner_id] = replace(learner, version=int(version))
        return self._released([learner.adapter_version])

    def remove(self, player_id: str) -> tuple[AdapterVersion, ...]:
        """Drop a player (its records stay); return its version if now unused."""
        player = self.players.pop(self.get(player_id).id)
        self.last_snapshot.pop(player_id, None)
        self.snapshot_marks.pop(player_id, None)
        return self._released([player.adapter_version])

    def restart(self, player_id: str, old_id: str) -> None:
        """A fresh start for a player in the ratings and payoffs: its games so far are
        relabelled `old_id`, a player the league no longer holds (population-based training
        does this when it overwrites a learner with a copy of another: those games were played
        by the policy it had before). Its snapshots, and their games, keep their ids."""
        self.get(player_id)
        if old_id in self.players or old_id == player_id:
            raise ValueError(f"{old_id!r} must be a new id, not one of the league's players")

        def relabel(team: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(old_id if p == player_id else p for p in team)

        records = [replace(r, teams=tuple(map(relabel, r.teams))) for r in self.records]
        self.records, self._pairs, self._ratings_cache = [], {}, None
        for record in records:
            self.record(record)

    def _learner(self, learner_id: str) -> Player:
        player = self.get(learner_id)
        if player.kind != "learner":
            raise ValueError(f"{learner_id!r} is a {player.kind}, not a learner")
        return player

    # ---- snapshots

    def snapshot_due(self, learner_id: str, step: int) -> bool:
        """True when the learner should be frozen into a snapshot at update `step`.

        Either `snapshot_every` updates have passed since its last snapshot, or in the games
        recorded since then it has met others at least `snapshot_min_games` times and won
        `snapshot_win_rate` of them (it has outgrown the current league: AlphaStar's rule).
        """
        self._learner(learner_id)
        cfg = self.config
        if (
            cfg.snapshot_every
            and step - self.last_snapshot.get(learner_id, 0) >= cfg.snapshot_every
        ):
            return True
        if cfg.snapshot_win_rate is None:
            return False
        since = self.records[self.snapshot_marks.get(learner_id, 0) :]
        rate, games = _win_rate_in(learner_id, since)
        return games >= max(cfg.snapshot_min_games, 1) and rate >= cfg.snapshot_win_rate

    def add_snapshot(
        self, learner_id: str, version: int | None = None, step: int = 0
    ) -> SnapshotResult:
        """Freeze `version` (default: the learner's current one) of a learner as an opponent.

        Evicts that learner's oldest snapshots beyond `max_snapshots` and reports the adapter
        versions nobody in the league uses any more.
        """
        learner = self._learner(learner_id)
        version = learner.version if version is None else int(version)
        snapshot = self._add(
            Player(
                f"{learner_id}@v{version}",
                "snapshot",
                learner.adapter,
                version,
                parent=learner_id,
                created_step=step,
            )
        )
        self.last_snapshot[learner_id] = step
        self.snapshot_marks[learner_id] = len(self.records)
        own = self.snapshots(of=learner_id)
        evicted = tuple(own[: max(0, len(own) - self.config.max_snapshots)])
        for old in evicted:
            del self.players[old.id]
        released = self._released(p.adapter_version for p in evicted)
        return SnapshotResult(snapshot, evicted, released)

    # ---- results

    def record(self, match: MatchRecord) -> None:
        """Add a finished game to the history and to the per-pair stats."""
        self.records.append(match)
        for a, b, outcome, margin in meetings(match):
            stats = self._pairs.setdefault((a, b), _PairStats())
            stats.games += 1
            stats.wins += outcome
            stats.margin += margin

    def games(self, a: str, b: str) -> int:
        """Games in which a and b met (on different teams)."""
        stats = self._pairs.get((a, b))
        return stats.games if stats else 0

    def win_rate(self, a: str, b: str, default: float = 0.5) -> float:
        """a's win rate against b (ties count half); `default` when they never met."""
        stats = self._pairs.get((a, b))
        return stats.wins / stats.games if stats and stats.games else default

    def mean_margin(self, a: str, b: str, default: float = 0.0) -> float:
        """a's mean score margin over b; `default` when they never met."""
        stats = self._pairs.get((a, b))
        return stats.margin / stats.games if stats and stats.games else default

    def win_rate_vs_league(self, player_id: str, since_step: int = 0) -> tuple[float, int]:
        """(win rate, games) of a player against everyone it met in games at step >= since_step.

        Each opponent met in a game counts once. The rate is NaN without games.
        """
        return _win_rate_in(player_id, (m for m in self.records if m.step >= since_step))

    def payoff_matrix(
        self,
        players: Sequence[str] | None = None,
        kind: Literal["win_rate", "margin", "games"] = "win_rate",
    ) -> np.ndarray:
        """Row-vs-column payoff over the recorded games (default: current players, in order)."""
        return payoff_matrix(self.records, list(players or self.players), kind)

    def ratings(self) -> dict[str, dict]:
        """{"elo": {player: x}, "openskill": {player: {mu, sigma, ordinal}}} over every record;
        recomputed only when the records or players have changed (the metrics, league.json and
        the report all ask each iteration)."""
        players = list(self.players)
        key = (len(self.records), tuple(players))
        cached = getattr(self, "_ratings_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        ratings: dict[str, dict] = {"elo": {}, "openskill": {}}
        if self.records:
            skill = openskill_ratings(self.records, players=players)
            ratings = {
                "elo": elo_ratings(self.records, players=players),
                "openskill": {
                    p: {"mu": r.mu, "sigma": r.sigma, "ordinal": r.ordinal}
                    for p, r in skill.items()
                },
            }
        self._ratings_cache = (key, ratings)
        return ratings

    def standings(self) -> dict[str, dict[str, Any]]:
        """Per player: kind, Elo, openskill ordinal, win rate against the league and games."""
        ratings = self.ratings()
        out = {}
        for pid, player in self.players.items():
            rate, games = self.win_rate_vs_league(pid)
            out[pid] = {
                "kind": player.kind,
                "elo": ratings["elo"].get(pid),
                "openskill": ratings["openskill"].get(pid, {}).get("ordinal"),
                "win_rate_vs_league": rate,
                "games": games,
            }
        return out

    def payoff_table(self) -> dict[str, Any]:
        """{"players": [...], "win_rate": [[...]] | None}: the win-rate matrix as plain data
        (None where a pair never met), as league.json holds it."""
        players = list(self.players)
        matrix = self.payoff_matrix(players) if self.records else None
        return {
            "players": players,
            "win_rate": None
            if matrix is None
            else np.where(np.isnan(matrix), None, matrix).tolist(),
        }

    # ---- persistence

    def state_dict(self) -> dict[str, Any]:
        """The whole league as plain data: config, players, last snapshots and every record."""
        return {
            "format": _FORMAT,
            "config": asdict(self.config),
            "players": [p.to_dict() for p in self.players.values()],
            "last_snapshot": dict(self.last_snapshot),
            "snapshot_marks": dict(self.snapshot_marks),
            "records": [r.to_dict() for r in self.records],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Become the league `state_dict()` described; per-pair stats are replayed from the
        records."""
        if state.get("format") != _FORMAT:
            raise ValueError(f"unsupported league format {state.get('format')!r}, need {_FORMAT}")
        fresh = type(self)(config=LeagueConfig(**state["config"]))
        for entry in state["players"]:
            player = Player.from_dict(entry)
            fresh.players[player.id] = player
        fresh.last_snapshot = {k: int(v) for k, v in state["last_snapshot"].items()}
        fresh.snapshot_marks = {k: int(v) for k, v in state["snapshot_marks"].items()}
        for entry in state["records"]:
            fresh.record(MatchRecord.from_dict(entry))
        self.__dict__.update(fresh.__dict__)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> League:
        league = cls()
        league.load_state_dict(state)
        return league

    def to_json(self, indent: int | None = None) -> str:
        """`state_dict()` as JSON text."""
        return json.dumps(self.state_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> League:
        """Rebuild a league from `to_json()`."""
        return cls.from_state_dict(json.loads(text))


def _win_rate_in(player_id: str, records: Iterable[MatchRecord]) -> tuple[float, int]:
    wins, games = 0.0, 0
    for match in records:
        for a, _b, outcome, _margin in meetings(match):
            if a == player_id:
                wins += outcome
                games += 1
    return (wins / games if games else math.nan), games
