"""benchmarks/kuhn_meta.py on a run folder made by hand: the uniform policy (exploitability
11/24) and the Nash policy (0) as its two versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from envs.kuhn_poker.theory import nash_policy, uniform_policy
from trainers.run import layout as rf

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import kuhn_meta


def plain(table) -> dict:
    return {key: {a: float(p) for a, p in probs.items()} for key, probs in table.items()}


def test_reads_the_newest_complete_checkpoint_and_solves_its_versions(tmp_path, capsys):
    run = tmp_path / "competitive__0__x"
    for step, tables in ((1, {"1": plain(uniform_policy())}),
                         (2, {"1": plain(uniform_policy()), "2": plain(nash_policy())}),
                         (3, {"9": plain(uniform_policy())})):  # fmt: skip
        folder = run / rf.CHECKPOINTS / f"step_{step}"
        folder.mkdir(parents=True)
        (folder / rf.TRAINER_STATE).write_text(json.dumps({"mode_eval": {"tables": tables}}))
        if step < 3:  # step_3 was never completed: skipped
            (folder / rf.COMPLETE).write_text("")
    kuhn_meta.main([str(run), "--draws", "20"])
    out = capsys.readouterr().out
    assert "(step_2): versions [1, 2]" in out
    assert "version 1: exploitability 0.458" in out and "version 2: exploitability 0.000" in out
    nash = next(line for line in out.splitlines() if line.startswith("nash"))
    assert nash.endswith(": 0.000") and "v2 1.00" in nash, nash
    assert out.rstrip().endswith(": 0.000")  # the best mixture: the Nash version alone
