"""Round robin between checkpoints of a run and scripted bots: payoff matrix and ratings.

    python -m experiments.evaluate runs/<run>                       # every checkpoint + the bots
    python -m experiments.evaluate runs/<run> --checkpoints 5 10 --bots strong --games 32

Writes `<run>/evaluation.json` (players, win-rate matrix, Elo and openskill ratings, mean returns)
and `<run>/evaluation_matches.csv`. In cooperative and mixed runs, where every seat belongs to one
learner, each checkpoint plays with itself and the table compares their returns.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from trainers.run import layout as rf

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m experiments.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, help="a run directory (holds config.json, checkpoints/)")
    p.add_argument("--checkpoints", type=int, nargs="*", help="steps to include (default: all)")
    p.add_argument("--bots", nargs="*", default=None, help="bot kinds (default: the run's bots)")
    p.add_argument("--games", type=int, default=16, help="games per pairing and seat order")
    p.add_argument("--backend", default=None, help="vllm or hf (default: the run's)")
    p.add_argument("--seed", type=int, default=12345)
    return p.parse_args(argv)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from agents.serving import make_policy_server
    from agents.serving.types import SamplingSettings
    from trainers.config import TrainerConfig
    from trainers.league.modes import family_keys, get_mode, share_key, sides
    from trainers.league.publishing import LEARNER, AdapterFamily
    from trainers.league.ratings import MatchRecord, elo_ratings, openskill_ratings, payoff_matrix
    from trainers.rollout import MatchSpec, Rollout, Seat
    from trainers.run.checkpoint import CheckpointManager
    from trainers.run.metrics import match_rows, player_stats

    run = args.run_dir
    if not (run / rf.CONFIG).is_file():
        raise SystemExit(f"{run} is not a run directory (no {rf.CONFIG})")
    cfg = TrainerConfig.from_dict(json.loads((run / rf.CONFIG).read_text()))
    mode = get_mode(cfg.game.mode)
    manager = CheckpointManager(run, keep_last=None)
    steps = args.checkpoints or manager.steps()
    if not steps:
        raise SystemExit(f"{run} has no checkpoints to evaluate")
    missing = [s for s in steps if s not in manager.steps()]
    if missing:
        raise SystemExit(f"no checkpoint for steps {missing}; available: {manager.steps()}")

    import envs

    probe = envs.make(cfg.game.env_id, payoff=mode.payoff, **cfg.game.env_kwargs)
    probe.reset(seed=0)
    agents = list(probe.possible_agents)
    teams = {a: probe.infos[a]["team"] for a in agents}
    game_sides = sides(agents, teams)
    keys = family_keys(agents, teams, cfg.game.share)

    server = make_policy_server(
        args.backend or cfg.serving.backend,
        model=cfg.serving.model,
        max_model_len=cfg.serving.max_model_len,
    )
    learner = AdapterFamily(LEARNER, keys)  # the names the run trained under
    players: dict[str, dict[str, Seat]] = {}
    for step in steps:
        folder = manager.path(step) / rf.LEARNER / rf.ADAPTERS
        pid = f"step_{step}"
        family = AdapterFamily(f"ck{step}", keys)
        refs = {
            key: server.publish(name, folder / trained)
            for key, name, trained in zip(keys, family.names, learner.names, strict=True)
        }
        players[pid] = {
            a: Seat(pid, adapter=refs[share_key(a, teams[a], cfg.game.share)]) for a in agents
        }
    bots = cfg.league.bots if args.bots is None else tuple(args.bots)
    if mode.adversarial:
        for kind in bots:
            players[f"bot:{kind}"] = {a: Seat(f"bot:{kind}", bot=kind) for a in agents}

    rollout = Rollout(
        server,
        cfg.game.env_id,
        cfg.game.env_kwargs,
        mode.payoff,
        SamplingSettings(
            temperature=cfg.rollout.temperature, max_tokens=cfg.rollout.max_new_tokens
        ),
        cfg.rollout.constrained,
    )
    rng_seed = args.seed
    matches: list[MatchSpec] = []
    if mode.adversarial:
        for a, b in itertools.permutations(players, 2):  # both seat orders
            for _ in range(args.games):
                seats = {ag: players[a][ag] for ag in game_sides[0]}
                for side in game_sides[1:]:
                    seats.update({ag: players[b][ag] for ag in side})
                matches.append(MatchSpec(rng_seed, seats))
                rng_seed += 1
    else:
        for seats in players.values():
            for _ in range(args.games):
                matches.append(MatchSpec(rng_seed, dict(seats)))
                rng_seed += 1
    log.info("playing %d evaluation games", len(matches))
    episodes = rollout.play(matches, step=0)
    server.close()

    records = []
    for ep in episodes:
        by_team: dict[str, list] = {}
        for t in ep.trajectories.values():
            by_team.setdefault(t.team, []).append(t)
        if len(by_team) > 1:
            teams_ = tuple((ts[0].player,) for ts in by_team.values())
            scores = tuple(
                float(np.mean([t.episode_return for t in ts])) for ts in by_team.values()
            )
            records.append(MatchRecord(ep.env_id, teams_, scores))
    ids = list(players)
    result: dict[str, Any] = {
        "run_dir": str(run),
        "env_id": cfg.game.env_id,
        "players": ids,
        "games": len(episodes),
        "stats": player_stats(episodes),
    }
    if records:
        matrix = payoff_matrix(records, ids)
        skill = openskill_ratings(records, players=ids)
        result["win_rate"] = np.where(np.isnan(matrix), None, matrix).tolist()
        result["elo"] = elo_ratings(records, players=ids)
        result["openskill"] = {p: r.ordinal for p, r in skill.items()}
    from trainers.run.io import AppendLog, atomic_write_json

    atomic_write_json(run / "evaluation.json", result)
    out = run / "evaluation_matches.csv"
    out.unlink(missing_ok=True)
    with AppendLog(out, columns=rf.MATCH_COLUMNS) as log_file:
        log_file.append_many(match_rows(episodes, 1))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = evaluate(parse_args(argv))
    print(f"{'player':<16}{'return':>9}{'win rate':>10}{'elo':>8}")
    for pid in result["players"]:
        s = result["stats"].get(pid, {})
        elo = result.get("elo", {}).get(pid)
        win = s.get("win_rate")
        print(
            f"{pid:<16}{s.get('return', float('nan')):>9.3f}"
            f"{'-' if win is None else f'{win:.2f}':>10}{'-' if elo is None else f'{elo:.0f}':>8}"
        )
    print(f"written: {Path(result['run_dir']) / 'evaluation.json'}")
    return result


if __name__ == "__main__":
    main()
