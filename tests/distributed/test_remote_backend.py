"""`--backend remote --base-url ...`: the trainer plays through a server the user runs
(`python -m agents.serving`, started here for real), publishes into its adapter store, and the
learner agrees with the log-probs the server sampled with."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.distributed.test_ray_run import check_learner_agrees
from tests.engine_layout import IN_PROCESS
from tests.integration.test_server_mode import free_port
from trainers.run import layout as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def server_url(tiny_model, tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+")  # noqa: SIM115 (lives with the server)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", **IN_PROCESS)
    cmd = [sys.executable, "-m", "agents.serving", "--model", str(tiny_model), "--port", str(port)]
    cmd += ["--adapter-store", str(tmp_path_factory.mktemp("store")), "--max-loras", "8"]
    cmd += ["--max-lora-rank", "16", "--dtype", "float32", "--max-model-len", "1024"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait(timeout=60)


def test_trainer_runs_against_a_remote_server(server_url, tmp_path, model_cache):
    from experiments.team_battle import PRESETS
    from trainers.selfplay import SelfPlayTrainer

    cfg = PRESETS["smoke"].replace(
        backend="remote", base_url=(server_url,), runs_dir=str(tmp_path), iterations=2,
        eval_every=0, learner_dtype="float32", progress=False,
    )  # fmt: skip
    trainer = SelfPlayTrainer(cfg)
    try:
        run = trainer.run()
        assert trainer.server.backend == "remote"
        # the server itself lists the versions the trainer published, and serves the current one
        remote = trainer.server.remote_adapters()
        assert set(trainer.server.served()) <= set(remote)
        report = json.loads((run / rf.RUN_REPORT).read_text())
        games = cfg.rollout.games_per_iteration
        assert report["iterations"] == 2 and report["episodes"] == 2 * games
        check_learner_agrees(trainer, trainer.rollout.play(trainer.make_matches(2), step=2))
    finally:
        trainer.close()
