"""A small run directory in the documented format (trainers/run/layout.py), written for real.

`write_synthetic_run(path)` writes what a 5-step run of three players would: TensorBoard events with
torch's SummaryWriter, matches.csv with csv, league.json from a real `League`, ratings and payoff
from `league.ratings`, run_report.json, config.json and metrics.jsonl. It returns what it wrote,
so tests can compare the read-back values.

`population_run` is the same run with a population's league.json keys and `pbt/` scalars
(`population_run.py`). The generic tests take the `run_dir` fixture. It is the synthetic run,
and also the run named by the environment variable LORA_LEAGUE_TEST_RUN_DIR when that is set
(e.g. a real smoke run).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from trainers.league.population import League
from trainers.league.ratings import MatchRecord, elo_ratings, openskill_ratings, payoff_matrix
from trainers.run import layout as rf

PLAYERS = ("red", "blue", "bot:strong")
LEARNERS = ("red", "blue")
STEPS = 5
ENV_ID = "rps_v0"
RUN_NAME = "synthetic__1__20261128-120000"
# Per player: chance to win a game at step 0 and at the last step, invalid-move chance at step 0.
_SKILL = {"red": (0.3, 0.9, 0.4), "blue": (0.3, 0.5, 0.3), "bot:strong": (0.6, 0.6, 0.0)}


@dataclass
class SyntheticRun:
    path: Path
    #: (tag, step) -> value, every scalar written.
    scalars: dict[tuple[str, int], float] = field(default_factory=dict)
    #: The matches.csv rows as dicts.
    matches: list[dict[str, object]] = field(default_factory=list)
    league: dict[str, object] = field(default_factory=dict)
    config: dict[str, object] = field(default_factory=dict)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _play(rng: np.random.Generator, step: int, episode: int, a: str, b: str) -> list[dict]:
    """One rps-like game between a and b: rows of matches.csv, seat red_0 for a, blue_0 for b."""
    frac = step / (STEPS - 1)

    def strength(p: str) -> float:
        start, end, _ = _SKILL[p]
        return start + (end - start) * frac

    p_a = strength(a) / (strength(a) + strength(b))
    roll = rng.random()
    outcome_a = 1.0 if roll < p_a * 0.9 else 0.5 if roll < p_a * 0.9 + 0.1 else 0.0
    rows = []
    for agent, player, team, won in (
        ("red_0", a, "red", outcome_a),
        ("blue_0", b, "blue", 1 - outcome_a),
    ):
        moves = int(rng.integers(3, 7))
        invalid_chance = _SKILL[player][2] * (1.0 - frac)
        invalid = int(rng.binomial(moves, invalid_chance))
        ret = {1.0: 1.0, 0.5: 0.0, 0.0: -1.0}[won] - 0.1 * invalid
        rows.append(
            {
                "step": step,
                "env_id": ENV_ID,
                "episode": episode,
                "seed": 1000 + episode,
                "payoff": "competitive",
                "mix": 1.0,
                "agent": agent,
                "player": player,
                "team": team,
                "learning": int(player in LEARNERS),
                "return": round(ret, 3),
                "raw_score": won,
                "invalid_moves": invalid,
                "moves": moves,
                "won": won,
                "truncated": 0,
            }
        )
    return rows


def write_synthetic_run(path: str | Path) -> SyntheticRun:
    """Write a small, plausible run directory at `path` (created) and return what was written."""
    from torch.utils.tensorboard import SummaryWriter

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    run = SyntheticRun(path)
    rng = np.random.default_rng(7)
    run.config = {"experiment": "synthetic", "seed": 1, "env_id": ENV_ID, "steps": STEPS}
    _atomic_write(path / rf.CONFIG, json.dumps(run.config, indent=2))

    league = League()
    for learner in LEARNERS:
        league.add_learner(learner, version=0)
    league.add_bot("bot:strong", "strong")
    writer = SummaryWriter(log_dir=str(path))
    writer.add_text(rf.TEXT_CONFIG, "| field | value |\n|-|-|\n| seed | 1 |", 0)
    metrics_lines = []
    episode = 0
    pairs = [(a, b) for i, a in enumerate(PLAYERS) for b in PLAYERS[i + 1 :]]
    for step in range(STEPS):
        rows: list[dict] = []
        for a, b in pairs * 2:  # every pair twice a step
            game = _play(rng, step, episode, a, b)
            rows += game
            league.record(MatchRecord(ENV_ID, ((a,), (b,)), (game[0]["won"], game[1]["won"]), step))
            episode += 1
        run.matches += rows
        for learner in LEARNERS:
            league.set_version(learner, step + 1)
        elo = elo_ratings(league.records, players=PLAYERS)
        scalars: dict[str, float] = {}
        for player in PLAYERS:
            mine = [r for r in rows if r["player"] == player]
            moves = sum(r["moves"] for r in mine)
            scalars[f"{rf.TAG_RETURN}/{player}"] = float(np.mean([r["return"] for r in mine]))
            scalars[f"{rf.TAG_WIN_RATE}/{player}"] = float(np.mean([r["won"] for r in mine]))
            scalars[f"{rf.TAG_INVALID_RATE}/{player}"] = (
                sum(r["invalid_moves"] for r in mine) / moves
            )
            scalars[f"{rf.TAG_ELO}/{player}"] = elo[player]
        for i, learner in enumerate(LEARNERS):
            scalars[f"{rf.TAG_POLICY_LOSS}/{learner}"] = 0.8 * math.exp(-0.4 * step) + 0.05 * i
            scalars[f"{rf.TAG_KL}/{learner}"] = 0.002 * (step + 1) * (1 + i)
        scalars[rf.TAG_EPISODES_PER_S] = 2.0 + 0.1 * step
        scalars[rf.TAG_CPU] = 50.0 + step
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
            run.scalars[(tag, step)] = value
        writer.add_text(
            rf.TEXT_TRANSCRIPT, f"step {step}: red plays [paper], blue plays [rock]", step
        )
        metrics_lines.append(json.dumps({"step": step, **scalars}))
    writer.close()

    with open(path / rf.MATCHES, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rf.MATCH_COLUMNS))
        out.writeheader()
        out.writerows(run.matches)
    _atomic_write(path / rf.METRICS, "\n".join(metrics_lines) + "\n")

    ids = list(league.players)
    skill = openskill_ratings(league.records, players=ids)
    win = payoff_matrix(league.records, ids, "win_rate")
    run.league = {
        "league": league.state_dict(),
        "ratings": {
            "elo": elo_ratings(league.records, players=ids),
            "openskill": {
                p: {"mu": r.mu, "sigma": r.sigma, "ordinal": r.ordinal} for p, r in skill.items()
            },
        },
        "payoff": {
            "players": ids,
            "win_rate": [[None if math.isnan(x) else x for x in row] for row in win.tolist()],
            "games": payoff_matrix(league.records, ids, "games").tolist(),
        },
    }
    _atomic_write(path / rf.LEAGUE, json.dumps(run.league, indent=1))
    report = {
        "run": path.name,
        "steps": STEPS,
        "players": ids,
        "ratings": run.league["ratings"]["elo"],
        "win_rates": {p: scalars[f"{rf.TAG_WIN_RATE}/{p}"] for p in PLAYERS},
        "performance": {"episodes_per_s": scalars[rf.TAG_EPISODES_PER_S]},
        "paths": {"matches": rf.MATCHES, "league": rf.LEAGUE},
    }
    _atomic_write(path / rf.RUN_REPORT, json.dumps(report, indent=2))
    return run


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory) -> SyntheticRun:
    return write_synthetic_run(tmp_path_factory.mktemp("runs") / RUN_NAME)


@pytest.fixture(scope="session")
def population_run(tmp_path_factory):
    """The synthetic run with what `--population` adds (`population_run.write_population_run`)."""
    from tests.analysis.population_run import write_population_run

    return write_population_run(tmp_path_factory.mktemp("runs") / "population__1__20261128-120000")


def _run_dir_params() -> list[str]:
    return ["synthetic", *(["external"] if os.environ.get("LORA_LEAGUE_TEST_RUN_DIR") else [])]


@pytest.fixture(scope="session", params=_run_dir_params())
def run_dir(request, synthetic_run) -> Path:
    """A run directory to analyse: the synthetic run, or LORA_LEAGUE_TEST_RUN_DIR."""
    if request.param == "external":
        return Path(os.environ["LORA_LEAGUE_TEST_RUN_DIR"])
    return synthetic_run.path
