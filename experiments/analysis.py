"""Shape what a training run wrote into the tables its figures are drawn from.

`experiments.report` (PNG figures) and `notebooks/analysis.ipynb` (interactive) share every helper
here, so both draw the same numbers. Reading the run is `experiments.run_data`'s job; its
`load_run` is exported here too, so one import serves a notebook.

    run = load_run("runs/team_battle__1__20261128-101500")
    run.scalars                      # long frame: step, tag, value, wall_time (TensorBoard)
    player_summary(run.matches)      # per player: games, mean return, win rate, invalid-move rate
    capability_table(run)            # per player, capability axes scaled to 0..1 (radar)
    payoff_frame(run.league)         # row player's win rate against column player
    trend(run.scalars, TAG_RETURN)   # wide frame: one column per player, indexed by step
    meta_frame(run.league)           # a population's meta-strategies: player x solver
    lineage_frame(run.league)        # a population's PBT copies, one row each

`league.json` holds `{"league": League json, "ratings": {...}, "payoff": {...}}`. Ratings are read
either way round (`{"elo": {player: x}, "openskill": {player: {"mu", "sigma"}}}` or
`{player: {"elo": x, ...}}`), the payoff as `{"players": [...], "win_rate": [[...]], ...}` or as
nested `{row: {column: x}}`; where either is absent it is recomputed from the league's match
records with `trainers.league.ratings` (pure functions of the records). A population run
(`--population N`) adds "population" (members, their hyperparameters), "meta" ({solver:
{"probabilities": {player: p}}}) and "lineage" ({"records": [...]}, `trainers.league.pbt`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from experiments.run_data import (
    EVENT_GLOB,
    NotARunDirectoryError,
    RunData,
    find_event_files,
    latest_run,
    load_run,
    load_scalars,
    read_matches,
)
from trainers.run import layout as rf

__all__ = [
    "EVENT_GLOB",
    "NotARunDirectoryError",
    "RunData",
    "capability_table",
    "find_event_files",
    "hyperparameter_trends",
    "latest",
    "latest_run",
    "lineage_frame",
    "load_run",
    "load_scalars",
    "meta_frame",
    "payoff_frame",
    "player_summary",
    "population_members",
    "ratings_frame",
    "read_matches",
    "trend",
]

logger = logging.getLogger(__name__)


def trend(scalars: pd.DataFrame, tag_prefix: str, smoothing: float = 0.0) -> pd.DataFrame:
    """Wide frame of the tags under `tag_prefix`: index step, one column per tag suffix.

    Per-player tags (`charts/win_rate/red`) give one column per player; a tag equal to the
    prefix gives one column named by its last part. `smoothing` in [0, 1) applies TensorBoard's
    debiased exponential moving average.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}")
    prefix = tag_prefix.rstrip("/")
    tags = scalars["tag"].astype(str)
    rows = scalars[(tags == prefix) | tags.str.startswith(prefix + "/")]
    if rows.empty:
        return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
    own_name = prefix.rsplit("/", 1)[-1]
    series = rows["tag"].map(lambda t: t[len(prefix) + 1 :] if t != prefix else own_name)
    wide = rows.assign(series=series).pivot_table(
        index="step", columns="series", values="value", aggfunc="last"
    )
    wide.columns.name = None
    wide = wide.sort_index()
    if smoothing:
        wide = wide.ewm(alpha=1.0 - smoothing, adjust=True, ignore_na=True).mean()
    return wide


def latest(scalars: pd.DataFrame, tag_prefix: str) -> pd.Series:
    """The last logged value of every series under `tag_prefix` (see `trend`)."""
    wide = trend(scalars, tag_prefix)
    if wide.empty:
        return pd.Series(dtype=float)
    return wide.ffill().iloc[-1]


def player_summary(matches: pd.DataFrame, by: Sequence[str] = ("player",)) -> pd.DataFrame:
    """Per player (or per `by` group, e.g. ("step", "player")), sorted by the group keys.

    games: distinct episodes; seats: rows (a player may hold several seats of an episode);
    mean_return / std_return over seats; win_rate: mean of `won` (draw 0.5) over the episodes
    someone could win (more than one team, payoff not cooperative; NaN without any);
    invalid_moves and moves: totals, `moves` counting every move submitted, valid or not;
    invalid_move_rate = invalid_moves / moves (NaN without moves); moves_per_game; learning:
    any seat trained an adapter.
    """
    keys = list(by)
    columns = [
        "games",
        "seats",
        "mean_return",
        "std_return",
        "win_rate",
        "invalid_moves",
        "moves",
        "invalid_move_rate",
        "moves_per_game",
        "learning",
    ]
    if matches.empty:
        index = pd.MultiIndex.from_tuples([], names=keys) if len(keys) > 1 else pd.Index([])
        index.name = keys[0] if len(keys) == 1 else None
        return pd.DataFrame(columns=columns, index=index)
    matches = matches.assign(_contested=_contested_won(matches))
    groups = matches.groupby(keys, sort=True)
    summary = pd.DataFrame(
        {
            "games": groups["episode"].nunique(),
            "seats": groups.size(),
            "mean_return": groups["return"].mean(),
            "std_return": groups["return"].std(),
            "win_rate": groups["_contested"].mean(),
            "invalid_moves": groups["invalid_moves"].sum(),
            "moves": groups["moves"].sum(),
        }
    )
    moves = summary["moves"].where(summary["moves"] > 0)
    summary["invalid_move_rate"] = summary["invalid_moves"] / moves
    summary["moves_per_game"] = summary["moves"] / summary["games"].where(summary["games"] > 0)
    summary["learning"] = groups["learning"].max().fillna(0).astype(bool)
    return summary[columns]


def _contested_won(matches: pd.DataFrame) -> pd.Series:
    """`won` where someone could win: blank (NaN) in episodes played under the cooperative
    payoff (everyone gets the group's score) or with every seat on one team."""
    won = matches["won"]
    if "payoff" in matches:
        won = won.where(matches["payoff"].astype(str) != "cooperative")
    teams = matches["team"].astype(str) if "team" in matches else None
    if teams is None or (teams == "").any():
        return won  # teams unknown: trust `won`
    sides = teams.groupby(matches["episode"]).transform("nunique")
    return won.where(sides > 1)


def ratings_frame(league: Mapping[str, Any], scalars: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ratings per player (index) and rating field (columns: elo, openskill_mu, ...).

    Read from league.json's "ratings"; fields it lacks come from the last `league/elo/<player>`
    and `league/openskill_ordinal/<player>` scalars; Elo is recomputed from the league's match
    records (default parameters) when neither has it.
    """
    known = set(_league_players(league))
    frame = _ratings_from_json(league.get("ratings") or {}, known)
    if scalars is not None and not scalars.empty:
        for column, tag in (("elo", rf.TAG_ELO), ("openskill_ordinal", rf.TAG_OPENSKILL)):
            values = latest(scalars, tag)
            if column not in frame.columns and not values.empty:
                frame = frame.join(values.rename(column), how="outer")
    records = _league_records(league)
    if "elo" not in frame.columns and records:
        from trainers.league.ratings import elo_ratings

        logger.info("no stored Elo ratings: recomputing them from %d match records", len(records))
        frame = frame.join(pd.Series(elo_ratings(records), name="elo", dtype=float), how="outer")
    frame.index.name = "player"
    return frame.sort_index()


def _ratings_from_json(raw: Mapping[str, Any], known_players: set[str]) -> pd.DataFrame:
    rows: dict[str, dict[str, float]] = {}

    def put(player: str, column: str, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            rows.setdefault(str(player), {})[column] = float(value)
        elif isinstance(value, Mapping):
            for part, number in value.items():
                put(player, f"{column}_{part}", number)

    for key, value in raw.items():
        if not isinstance(value, Mapping):
            put(key, "rating", value)
        elif key in known_players:  # {player: {system: rating}}
            for system, rating in value.items():
                put(key, str(system), rating)
        else:  # {system: {player: rating}}
            for player, rating in value.items():
                put(player, str(key), rating)
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    for prefix in {c.removesuffix("_mu") for c in frame.columns if c.endswith("_mu")}:
        sigma, ordinal = f"{prefix}_sigma", f"{prefix}_ordinal"
        if sigma in frame.columns and ordinal not in frame.columns:
            frame[ordinal] = frame[f"{prefix}_mu"] - 3.0 * frame[sigma]
    return frame


def _league_json(league: Mapping[str, Any]) -> dict[str, Any]:
    inner = league.get("league") or {}
    return json.loads(inner) if isinstance(inner, str) else dict(inner)


def _league_players(league: Mapping[str, Any]) -> list[str]:
    return [str(p["id"]) for p in _league_json(league).get("players", []) if "id" in p]


def _league_records(league: Mapping[str, Any]) -> list[Any]:
    from trainers.league.ratings import MatchRecord

    return [MatchRecord.from_dict(r) for r in _league_json(league).get("records", [])]


PayoffKind = Literal["win_rate", "margin", "games"]


def payoff_frame(
    league: Mapping[str, Any], kind: PayoffKind = "win_rate", dropna: bool = True
) -> pd.DataFrame:
    """Payoff matrix, row player against column player (win rate by default; NaN: never met).

    Read from league.json's "payoff"; recomputed from the league's match records when absent.
    `dropna` removes players who met nobody.
    """
    frame = _payoff_from_json(league.get("payoff") or {}, kind)
    if frame is None:
        records = _league_records(league)
        players = _league_players(league) or list(
            dict.fromkeys(p for r in records for p in r.players)
        )
        if records and players:
            from trainers.league.ratings import payoff_matrix

            frame = pd.DataFrame(
                payoff_matrix(records, players, kind), index=players, columns=players
            )
        else:
            frame = pd.DataFrame(dtype=float)
    frame = frame.astype(float)
    if dropna and not frame.empty:
        met = frame.fillna(0.0) != 0.0 if kind == "games" else frame.notna()
        keep = frame.index[met.any(axis=1).to_numpy() | met.any(axis=0).to_numpy()]
        frame = frame.loc[keep, keep]
    frame.index.name, frame.columns.name = "player", "opponent"
    return frame


def _payoff_from_json(raw: Mapping[str, Any], kind: str) -> pd.DataFrame | None:
    if not raw:
        return None
    if "players" in raw:
        matrix = raw.get(kind)
        if matrix is None and kind == "win_rate":
            matrix = raw.get("matrix", raw.get("values"))
        if matrix is None:
            return None
        players = [str(p) for p in raw["players"]]
        if isinstance(matrix, Mapping):
            return pd.DataFrame.from_dict(matrix, orient="index").reindex(
                index=players, columns=players
            )
        return pd.DataFrame(matrix, index=players, columns=players, dtype=float)
    nested = raw.get(kind, raw)
    if (
        isinstance(nested, Mapping)
        and nested
        and all(isinstance(v, Mapping) for v in nested.values())
    ):
        frame = pd.DataFrame.from_dict(nested, orient="index")
        order = list(dict.fromkeys([*frame.index, *frame.columns]))
        return frame.reindex(index=order, columns=order)
    return None


def _minmax(values: pd.Series) -> pd.Series:
    """Scale to 0..1 over the finite values; all equal -> 0.5."""
    finite = values[np.isfinite(values.astype(float))]
    if finite.empty:
        return values * np.nan
    low, high = finite.min(), finite.max()
    if high - low <= 1e-12:
        return values.where(values.isna(), 0.5)
    return (values - low) / (high - low)


def _group_axis(scalars: pd.DataFrame, tag: str, players: Sequence[str]) -> pd.Series:
    """The last value of `tag` per player, in 0..1.

    Per-player tags (`<tag>/<player>`) give each player its own value; the run-level tag (a
    cooperative game's group score) is shared by every player. A tag that stayed within 0..1
    all run (a rate) is kept as is; any other is min-max scaled across players, or, when every
    player shares one value, over the range the tag took during the run.
    """
    wide = trend(scalars, tag)
    if wide.empty:
        return pd.Series(np.nan, index=list(players), dtype=float)
    own = tag.rsplit("/", 1)[-1]
    last = wide.ffill().iloc[-1]
    values = last.drop(own, errors="ignore").reindex(list(players)).astype(float)
    if own in last.index:
        values = values.fillna(float(last[own]))
    history = wide.to_numpy(dtype=float)
    low, high = np.nanmin(history), np.nanmax(history)
    if values.dropna().empty or (low >= 0.0 and high <= 1.0):
        return values
    if values.dropna().nunique() > 1:
        return _minmax(values)
    if high - low <= 1e-12:
        return values.where(values.isna(), 0.5)
    return (values - low) / (high - low)


def capability_table(run: RunData, last_steps: int | None = None) -> pd.DataFrame:
    """Per player (index), capability axes in 0..1 for a radar chart.

    win rate (games someone could win); return (min-max over players); valid moves
    (1 - invalid-move rate; a player with no invalid move counts 1 even without counted moves);
    cooperation and task completion (last logged value where the game logs them, see
    `_group_axis`); rating (Elo, else openskill ordinal, min-max over players). The first three
    come from matches.csv, or from the last logged scalars while it has no rows.
    `last_steps`: only the matches of the final N training steps. Axes with no value for any
    player are dropped.
    """
    matches = run.matches
    if last_steps is not None and not matches.empty:
        matches = matches[matches["step"] > matches["step"].max() - last_steps]
    summary = player_summary(matches)
    scalars = run.scalars

    def source(column: str, tag: str) -> pd.Series:
        """From matches.csv; from the last logged scalars when it has no rows yet."""
        return latest(scalars, tag) if summary.empty else summary[column].astype(float)

    win = source("win_rate", rf.TAG_WIN_RATE)
    ret = source("mean_return", rf.TAG_RETURN)
    invalid = source("invalid_move_rate", rf.TAG_INVALID_RATE)
    if not summary.empty:  # no moves counted, but no invalid one either (scripted seats)
        clean = summary["invalid_moves"].astype(float) == 0
        invalid[clean] = invalid[clean].fillna(0.0)
    ratings = ratings_frame(run.league, scalars)
    rating_column = next((c for c in ("elo", "openskill_ordinal", "rating") if c in ratings), None)
    rating = ratings[rating_column] if rating_column else pd.Series(dtype=float)
    players = list(summary.index) or sorted(set(win.index) | set(ret.index))

    def shown(values: pd.Series) -> pd.Series:
        return values.reindex(players).astype(float)

    axes = {
        "win rate": shown(win),
        "return (scaled)": _minmax(shown(ret)),
        "valid moves": (1.0 - shown(invalid)).clip(0.0, 1.0),
        "cooperation": _group_axis(scalars, rf.TAG_COOPERATION, players),
        "task completion": _group_axis(scalars, rf.TAG_TASK_COMPLETION, players),
        "rating (scaled)": _minmax(shown(rating)),
    }
    table = pd.DataFrame(axes, index=players).dropna(axis=1, how="all")
    table.index.name = "player"
    return table


# ---------------------------------------------------------------------------------- population


def population_members(league: Mapping[str, Any]) -> list[str]:
    """The members of a population run (league.json's "population"); [] for the single learner,
    which writes no "population"."""
    population = league.get("population") or {}
    return [str(m) for m in population.get("members", [])]


def meta_frame(league: Mapping[str, Any]) -> pd.DataFrame:
    """The meta-strategies of league.json's "meta": one row per player (members first, then
    snapshots, as the solvers listed them), one column per solver (alpharank, nash); NaN where
    a solver does not weigh a player. Empty without "meta"."""
    columns = {
        str(solver): pd.Series(meta.get("probabilities") or {}, dtype=float)
        for solver, meta in (league.get("meta") or {}).items()
    }
    if not columns:
        return pd.DataFrame(index=pd.Index([], name="player"), dtype=float)
    order = list(dict.fromkeys(p for series in columns.values() for p in series.index))
    frame = pd.DataFrame(columns).reindex(order)
    frame.index.name = "player"
    return frame


def lineage_frame(league: Mapping[str, Any]) -> pd.DataFrame:
    """league.json's PBT lineage, one row per copy in order: step, member (the copy),
    copied_from, then `<hyperparameter>_before` and `<hyperparameter>_after` (lr, kl_coef).
    Empty (those first three columns) without copies."""
    records = (league.get("lineage") or {}).get("records") or []
    rows = []
    for r in records:
        row = {
            "step": int(r["step"]),
            "member": str(r["member"]),
            "copied_from": str(r["copied_from"]),
        }
        for when, key in (("before", "old_hyperparameters"), ("after", "new_hyperparameters")):
            row.update({f"{k}_{when}": float(v) for k, v in (r.get(key) or {}).items()})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["step", "member", "copied_from"])
    return pd.DataFrame(rows).sort_values("step", kind="stable").reset_index(drop=True)


def hyperparameter_trends(scalars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{hyperparameter: wide frame (index step, one column per member)} from the population's
    `pbt/<hyperparameter>/<member>` scalars (`pbt/copies`, one value per step, is not one)."""
    prefix = f"{rf.TAG_PBT}/"
    tags = scalars["tag"].astype(str) if not scalars.empty else pd.Series(dtype=str)
    names = sorted(
        {t.split("/")[1] for t in tags.unique() if t.startswith(prefix) and t.count("/") == 2}
    )
    return {name: trend(scalars, f"{prefix}{name}") for name in names}
