"""A population run killed with SIGKILL resumes exactly: every member's adapter weights and AdamW
state, its hyperparameters, the PBT lineage and the league are what the checkpoint holds; and the
finished run's files hold what a population run writes (every member pair played, the
meta-solvers, the lineage, each member's exploitability).

The killed run is the real script in a subprocess (a kill -9 needs a process); the resumed
one is the same command line's config, `--resume RUN`, in this process, so that the learner
can be read right after the restore, before it trains on.

Three tiny iterations of four games a member are too few for a PBT copy (openskill's intervals
stay wide: none was made when this was written), and the members' lr and KL coefficient then
stay at the preset's. So the hyperparameters and lineage are checked as they are, a copy and its
source (if a round made one) must have equal weights, and the weights and AdamW state, which
differ from member to member, carry the test. The lineage's own round trip and a copy's exact
weights and optimizer state are unit-tested in tests/unit (`trainers.league.pbt`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.engine_layout import IN_PROCESS
from tests.killing import kill_after_checkpoint
from tests.smoke.test_experiments import tags_in, the_run
from trainers.run import layout as rf

pytestmark = [pytest.mark.engine, pytest.mark.slow]
MEMBERS = ["main0", "main1", "main2"]
ARGS = ["smoke", "--population", "3", "--pbt-every", "1", "--iterations", "3",
        "--checkpoint-every", "1", "--no-progress"]  # fmt: skip
KILL_AFTER = 2  # the checkpoint the kill follows


def saved_adapter(checkpoint: Path, adapter: str) -> tuple[dict, dict, list[str]]:
    """(weights, AdamW state as `<param key>:<field>` -> tensor, the parameters' order) of an
    adapter in the checkpoint, read from its files (`trainers.learn.state`'s layout)."""
    from safetensors.torch import load_file

    from agents.serving.adapters import ADAPTER_WEIGHTS
    from trainers.learn.state import ADAPTERS_DIR, OPTIMIZER_DIR

    folder = checkpoint / rf.LEARNER
    weights = load_file(folder / ADAPTERS_DIR / adapter / ADAPTER_WEIGHTS)
    moments = load_file(folder / OPTIMIZER_DIR / f"{adapter}.safetensors")
    order = json.loads((folder / OPTIMIZER_DIR / f"{adapter}.json").read_text())["params"]
    return weights, moments, order


def plain(data: object) -> object:
    """`data` as league.json and trainer_state.json hold it (tuples as lists)."""
    return json.loads(json.dumps(data))


def check_population_files(run: Path, step: int) -> None:
    """Three members in one learner and engine: every member pair played, the meta-solvers and
    the lineage in league.json and TensorBoard, each member's exploitability and the population's
    meta-strategy's, the population in the checkpoint of `step`."""
    league = json.loads((run / rf.LEAGUE).read_text())
    players = league["payoff"]["players"]
    cells = league["payoff"]["win_rate"]
    for a in MEMBERS:
        for b in MEMBERS:
            if a != b:
                assert cells[players.index(a)][players.index(b)] is not None, (a, b)
    alpharank = league["meta"]["alpharank"]["probabilities"]
    assert set(MEMBERS) <= set(alpharank) and sum(alpharank.values()) == pytest.approx(1.0)
    assert "nash" in league["meta"]  # Kuhn poker: two sides, zero-sum
    assert league["lineage"]["format"] == 1 and "records" in league["lineage"]
    assert set(league["population"]["hyperparameters"]) == set(MEMBERS)
    tags = tags_in(run)
    assert any(t.startswith(f"{rf.TAG_META}/alpharank/") for t in tags), sorted(tags)
    assert any(t.startswith(f"{rf.TAG_META}/nash/") for t in tags), sorted(tags)
    for member in MEMBERS:
        assert f"{rf.TAG_PBT}/lr/{member}" in tags and f"eval/exploitability/{member}" in tags
    assert "eval/exploitability/population_meta" in tags
    state = json.loads((run / rf.CHECKPOINTS / f"step_{step}" / rf.TRAINER_STATE).read_text())
    assert state["population"]["members"] == MEMBERS and "lineage" in state["population"]


def test_killed_population_run_resumes_every_member_exactly(tmp_path, model_cache_env, monkeypatch):
    import torch

    from experiments import cli
    from experiments.competitive import PRESETS
    from trainers.selfplay import SelfPlayTrainer

    cmd = [sys.executable, "-m", "experiments.competitive", *ARGS, "--runs-dir", str(tmp_path)]
    kill_after_checkpoint(cmd, tmp_path, KILL_AFTER, timeout=900)
    run = the_run(tmp_path)

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    # This engine starts in the test's own long-lived process: vLLM's default layout, not the
    # in-process engine of the killed run (which binds the process's threads to cores, and fails
    # on objects other tests leave in sys.modules).
    for name in IN_PROCESS:
        monkeypatch.delenv(name)
    args = [*ARGS, "--runs-dir", str(tmp_path), "--resume", str(run)]
    cfg = cli.parse(PRESETS, "competitive", "competitive", args=args)
    trainer = SelfPlayTrainer(cfg)
    try:
        trainer.setup()
        assert trainer.step == KILL_AFTER  # the newest checkpoint, whole
        checkpoint = run / rf.CHECKPOINTS / f"step_{trainer.step}"
        state = json.loads((checkpoint / rf.TRAINER_STATE).read_text())["population"]
        saved_league = json.loads((checkpoint / rf.LEAGUE).read_text())
        population, learner, learn_step = trainer.population, trainer.learner, trainer.learn_step

        # hyperparameters and lineage: as the checkpoint holds them, and so in league.json
        assert state["members"] == MEMBERS == population.names
        assert population.hyperparameters(learner, learn_step) == state["hyperparameters"]
        assert plain(population.lineage.to_dict()) == state["lineage"]
        written = plain(population.league_json(learner, learn_step))
        assert written["population"]["hyperparameters"] == state["hyperparameters"]
        assert written["lineage"] == state["lineage"]
        # the league: players and their versions, every record (a copy's relabelled games too)
        assert plain(trainer.league.state_dict()) == saved_league
        # every member's adapters, bit for bit: weights and AdamW state
        weights = {}
        for name in population.adapters:
            saved, moments, order = saved_adapter(checkpoint, name)
            live, _ = learner.adapter_weights(name)
            assert sorted(live) == sorted(saved), name
            assert all(torch.equal(live[k], saved[k]) for k in saved), name
            weights[name] = saved
            optimizer = learner.optimizer(name).state_dict()["state"]
            assert moments and len(optimizer) == len(order), name  # it has stepped
            for flat, tensor in moments.items():
                key, _, field = flat.rpartition(":")
                assert torch.equal(optimizer[order.index(key)][field].cpu(), tensor), (name, flat)
        # the check tells members apart: their weights differ, except a copy and its source
        # when the checkpoint's own PBT round made one
        names = [population.families[m].names[0] for m in MEMBERS]
        same = {
            (a, b)
            for a in names
            for b in names
            if a < b and all(torch.equal(weights[a][k], weights[b][k]) for k in weights[a])
        }
        copied = {
            tuple(sorted(population.families[m].names[0] for m in (r.member, r.copied_from)))
            for r in population.lineage.records
            if r.step == KILL_AFTER
        }
        assert same == copied
        # the rest of the run, from there
        trainer.run()
    finally:
        trainer.close()
    league = json.loads((run / rf.LEAGUE).read_text())
    assert league["population"]["members"] == MEMBERS
    assert league["lineage"] == state["lineage"]  # no PBT round after the last update
    metrics = [json.loads(line) for line in (run / rf.METRICS).read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3]
    assert json.loads((run / rf.RUN_REPORT).read_text())["iterations"] == 3
    check_population_files(run, step=3)
