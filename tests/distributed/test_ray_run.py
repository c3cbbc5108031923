"""Ray mode for real: a local cluster started by the test (2 CPUs), two rollout workers each owning
a vLLM engine of the tiny model, the learner as an actor, the league in the driver.

- A run writes the same run directory as a single-process run, every game counted once, and every
  worker serves exactly the versions the driver published: its engine's adapters are the driver's,
  and games played on each worker carry the learner's log-probs of the current version.
- A worker killed with SIGKILL as an iteration hands out its games is replaced; its games are
  replayed on the replacement and counted once; the run finishes.
- A driver killed with SIGKILL takes its actors and engines with it and resumes with `--resume`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal

import pandas as pd
import psutil
import pytest

from tests.engine_layout import engines_in_process
from tests.killing import kill_after_checkpoint
from trainers.run import layout as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.ray]

TOLERANCE = 1e-4  # max abs log-prob difference, fp32 (as tests/integration agreement test)
GAMES = 4


@pytest.fixture(scope="module")
def ray_cluster(model_cache):
    ray = pytest.importorskip("ray")
    from trainers.distributed.cluster import start_local_cluster

    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"
    # The cluster's processes (its workers' engines) start from this environment; this
    # process keeps its own.
    with engines_in_process():
        start_local_cluster(num_cpus=2, log_to_driver=False)  # ray.init, sized for 2 cores
    yield ray
    ray.shutdown()


def config(runs_dir, iterations: int):
    from experiments.team_battle import PRESETS

    return PRESETS["smoke"].replace(
        ray=True, ray_workers=2, ray_worker_cpus=0.5, ray_learner_cpus=0.5,
        runs_dir=str(runs_dir), iterations=iterations, games_per_iteration=GAMES,
        dtype="float32", learner_dtype="float32", kv_cache_gib=1, progress=False,
        eval_every=0, checkpoint_every=1,
    )  # fmt: skip


def check_run_directory(run, iterations: int) -> pd.DataFrame:
    """The files a single-process run writes, each game once."""
    config = json.loads((run / rf.CONFIG).read_text())
    assert config["ray"] or config["ray_address"]
    report = json.loads((run / rf.RUN_REPORT).read_text())
    assert report["iterations"] == iterations and report["episodes"] == iterations * GAMES
    assert "main" in json.dumps(json.loads((run / rf.LEAGUE).read_text())["league"])
    assert (run / rf.CHECKPOINTS / f"step_{iterations}" / rf.COMPLETE).exists()
    matches = pd.read_csv(run / rf.MATCHES)
    assert list(matches.columns) == list(rf.MATCH_COLUMNS)
    per_step = matches.groupby("step")["episode"].nunique()
    assert per_step.to_dict() == dict.fromkeys(range(1, iterations + 1), GAMES)
    assert not matches.duplicated(["episode", "agent"]).any()
    assert matches["seed"].nunique() == iterations * GAMES
    return matches


def check_learner_agrees(trainer, episodes) -> None:
    """Every learning seat's behaviour log-probs (what the server sampled with) equal the
    learner's log-probs of the same tokens under the current version."""
    from trainers.learn.samples import samples_from_trajectories

    version = trainer.league.get("main").version
    trajs = [t for ep in episodes for t in ep.trajectories.values() if t.learning and t.turns]
    assert trajs and all(t.adapter[1] == version for t in trajs)
    for name in sorted({t.adapter[0] for t in trajs}):
        mine = [t for t in trajs if t.adapter[0] == name]
        samples = samples_from_trajectories(mine, [1.0] * len(mine))
        for sample, score in zip(samples, trainer.learner.logprobs(name, samples), strict=True):
            gap = max(
                abs(float(a) - float(b))
                for a, b in zip(score, sample.behaviour_logprobs, strict=True)
            )
            assert gap <= TOLERANCE, f"{name}: learner vs server gap {gap}"


def check_workers_serve_the_published_versions(trainer) -> None:
    driver = trainer.server.served()
    for served in trainer.server.worker_served():
        assert served == driver
    # Two games per worker (contiguous shards), each seat scored by the learner actor.
    episodes = trainer.rollout.play(trainer.make_matches(GAMES), step=trainer.step)
    check_learner_agrees(trainer, episodes[:2])  # worker 0
    check_learner_agrees(trainer, episodes[2:])  # worker 1


def test_two_workers_count_every_game_once_even_when_one_is_killed_and_replaced(
    ray_cluster, tmp_path
):
    """A run on two rollout workers and a learner actor, whose worker 1 is killed with SIGKILL
    as iteration 2 hands out its games: the worker is replaced, its shard replayed in full,
    every game counted once, and both workers (the replacement too) serve the versions the
    driver published, with the learner's log-probs equal to the servers'. (One run checks the
    plain two-worker run and the kill: a run of its own for each cost two minutes.)"""
    from trainers.distributed.cluster import RemoteLearner
    from trainers.selfplay import SelfPlayTrainer

    trainer = SelfPlayTrainer(config(tmp_path, iterations=3))
    killed: dict[str, object] = {}
    try:
        trainer.setup()
        assert isinstance(trainer.learner, RemoteLearner)
        pool = trainer.server.pool
        assert pool.size == 2 and len({i["pid"] for i in pool.infos}) == 2
        play = trainer.rollout.play

        def kill_worker_1() -> None:
            process = psutil.Process(pool.infos[1]["pid"])
            killed["children"] = process.children(recursive=True)
            killed["pid"] = process.pid
            process.send_signal(signal.SIGKILL)

        def play_and_kill(matches, step=0, mix=0.5):
            if step == 2 and not killed:  # worker 1 dies as iteration 2 hands out its games
                kill_worker_1()
            return play(matches, step=step, mix=mix)

        trainer.rollout.play = play_and_kill
        run = trainer.run()
        assert killed, "the worker was never killed"
        assert pool.restarts == 1 and pool.incarnations == [0, 1]
        assert pool.replayed_games == GAMES // 2  # worker 1's shard, replayed in full
        assert pool.infos[1]["pid"] != killed["pid"]
        # the killed worker's engine processes died with it
        _, alive = psutil.wait_procs(killed["children"], timeout=60)
        assert not alive, [p.pid for p in alive]
        check_run_directory(run, 3)
        check_workers_serve_the_published_versions(trainer)  # the replacement too
    finally:
        trainer.close()
    assert trainer.fleet is None


def test_a_killed_driver_resumes_on_the_cluster(ray_cluster, tmp_path, model_cache):
    """The driver (a real experiment process, joining the test's cluster) is killed with SIGKILL
    after its second checkpoint: its actors and their engines go with it, and `--resume` on the
    same cluster finishes the run with every game counted once."""
    import subprocess
    import sys

    address = ray_cluster.get_runtime_context().gcs_address
    env = dict(os.environ, LORA_LEAGUE_CACHE=str(model_cache), VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "experiments.team_battle", "smoke", "--runs-dir", str(tmp_path)]
    cmd += ["--no-progress", "--iterations", "3", "--games-per-iteration", str(GAMES)]
    cmd += ["--eval-every", "0", "--ray-address", address, "--ray-worker-cpus", "0.5"]
    cmd += ["--ray-learner-cpus", "0.5", "--dtype", "float32", "--learner-dtype", "float32"]

    def actors() -> list[psutil.Process]:
        names = ("ray::RolloutWorker", "ray::LearnerActor")
        found = []
        for p in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if p.cmdline() and p.cmdline()[0].startswith(names):
                    found.append(p)
        return found

    def doomed(driver: psutil.Process) -> list[psutil.Process]:
        found = actors()
        return found + [c for p in found for c in p.children(recursive=True)]  # their engines

    killed = kill_after_checkpoint(cmd, tmp_path, 2, timeout=600, env=env, doomed=doomed, grace=120)
    assert len(killed) >= 3  # two workers and the learner, with their engines
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    resumed = subprocess.run(
        [*cmd, "--resume", str(run)], capture_output=True, text=True, timeout=900, env=env
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    check_run_directory(run, 3)
