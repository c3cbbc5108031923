"""`--resume auto` picks the newest folder that is a run, passing over half-made ones."""

from __future__ import annotations

import logging

from trainers.run import layout as rf
from trainers.run.guard import mark_run, newest_run, open_run

CONFIG = {
    "experiment": "competitive",
    "env_id": "kuhn_poker_v0",
    "env_kwargs": {},
    "mode": "competitive",
    "share": "all",
    "model": "tiny",
    "lora_rank": 8,
}


def folder(runs, stamp: str, seed: int = 0):
    path = runs / rf.RUN_NAME_SEP.join(("competitive", str(seed), stamp))
    path.mkdir(parents=True)
    return path


def test_auto_passes_over_a_half_made_folder_and_says_which_it_resumes(tmp_path, caplog):
    older = folder(tmp_path, "20260101-000000")
    mark_run(older, CONFIG)
    real = folder(tmp_path, "20260102-000000")
    mark_run(real, CONFIG)
    empty = folder(tmp_path, "20260103-000000")  # a trainer killed before writing its marker
    folder(tmp_path, "20260104-000000", seed=1)  # another seed's run: not a candidate
    with caplog.at_level(logging.INFO, logger="trainers"):
        opened = open_run(CONFIG, tmp_path, "competitive", 0, resume="auto")
    opened.lock.release()
    assert opened.path == real and opened.resumed
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and empty.name in said[0] and str(real) in said[0], said
    assert list(empty.iterdir()) == []  # passed over, not written


def test_auto_with_only_half_made_folders_starts_a_new_run(tmp_path, caplog):
    empty = folder(tmp_path, "20260103-000000")
    assert newest_run(tmp_path, "competitive", 0) is None
    opened = open_run(CONFIG, tmp_path, "competitive", 0, resume="auto")
    opened.lock.release()
    assert not opened.resumed and opened.path != empty
    assert (opened.path / rf.RUN_MARKER).is_file()


def test_auto_in_a_missing_runs_dir_starts_a_new_run(tmp_path):
    assert newest_run(tmp_path / "absent", "competitive", 0) is None
