"""What a Kuhn poker run's snapshots are worth as a mixture: exact exploitability of each version
the run kept, of the mixtures a league could play over them, and of the least exploitable one.

    python benchmarks/kuhn_meta.py runs/competitive__0__<time>   # its newest complete checkpoint

Reads the policy tables the run's evaluation kept in its checkpoint (`KuhnExploitability`, one
table of the 12 information sets per version: each snapshot's and the last iterate's) and
prints, all exact (no games played):

- each version's exploitability;
- `uniform`: the plain average of the versions (the run's `eval/exploitability/average`);
- `nash`: the Nash equilibrium of the restricted game among the versions, whose payoffs are the
  exact expected values of every pair (each version at both seats, `theory.restricted_game`),
  solved by the project's meta-solver (`trainers.league.meta_solver.nash_distribution`): what
  PSRO would play, and the run's own `eval/exploitability/meta` at its last evaluation;
- `best`: the least exploitable mixture found among each version alone, the uniform one and
  random points of the simplex (Dirichlet draws): close to what any weighting of these
  snapshots can reach.

The run's `eval/exploitability/league` (the snapshots weighted as its matchmaker draws them) is
in its metrics.jsonl; this script needs no engine or model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's packages win

from envs.kuhn_poker import theory
from trainers.league.meta_solver import nash_distribution
from trainers.run import layout as rf
from trainers.run.checkpoint import CheckpointManager, load_json


def newest_tables(run: Path) -> tuple[str, dict[int, dict]]:
    """The newest complete checkpoint's name and its version -> policy table."""
    # CheckpointManager.latest would do, but its constructor tidies the run folder (mkdir,
    # stale temps): this script only reads.
    complete = [p.parent for p in (run / rf.CHECKPOINTS).glob(f"step_*/{rf.COMPLETE}")]
    if not complete:
        raise SystemExit(f"error: no complete checkpoint under {run / rf.CHECKPOINTS}")
    newest = max(complete, key=CheckpointManager.step_of)
    state = load_json(newest, rf.TRAINER_STATE)
    tables = (state.get("mode_eval") or {}).get("tables")
    if not tables:
        raise SystemExit(f"error: {newest} holds no Kuhn policy tables (not a Kuhn poker run?)")
    return newest.name, {int(v): t for v, t in tables.items()}


def best_mixture(tables: list[dict], draws: int, seed: int) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    best, weights = float("inf"), np.full(len(tables), 1.0 / len(tables))
    pure = list(np.eye(len(tables)))  # each version alone: a mixture too
    for w in (weights, *pure, *rng.dirichlet(np.full(len(tables), 0.5), size=draws)):
        value = float(theory.mixture_exploitability(tables, list(w)))
        if value < best:
            best, weights = value, w
    return best, weights


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path, help="a Kuhn poker run folder")
    p.add_argument("--draws", type=int, default=2000, help="random mixtures tried for `best`")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    checkpoint, by_version = newest_tables(args.run)
    versions = sorted(by_version)
    tables = [by_version[v] for v in versions]
    print(f"{args.run.name} ({checkpoint}): versions {versions}")
    for v, t in zip(versions, tables, strict=True):
        print(f"  version {v}: exploitability {float(theory.exploitability(t)):.3f}")
    uniform = float(theory.mixture_exploitability(tables, [1.0] * len(tables)))
    print(f"uniform mixture: {uniform:.3f}")
    names = [str(v) for v in versions]
    nash = nash_distribution(theory.restricted_game(tables), names, kind="margin")
    weights = ", ".join(f"v{n} {q:.2f}" for n, q in zip(names, nash.probabilities, strict=True))
    value = float(theory.mixture_exploitability(tables, list(nash.probabilities)))
    print(f"nash of the restricted game ({weights}): {value:.3f}")
    best, w = best_mixture(tables, args.draws, args.seed)
    weights = ", ".join(f"v{n} {q:.2f}" for n, q in zip(names, w, strict=True))
    print(f"best mixture found ({weights}): {best:.3f}")


if __name__ == "__main__":
    main()
