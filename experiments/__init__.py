"""Experiments: one config dataclass and `main(cfg)` per training mode, plus the run analysis.

- `experiments.<mode>`: `python -m experiments.<mode> --help` lists every config field.
- `experiments.analysis`: `load_run(run_dir)` reads back what a run wrote (layout in
  `trainers.run.layout`) and the helpers that the report and the notebook share.
- `experiments.report`: `python -m experiments.report RUN_DIR` draws a run's figures as PNGs.
"""
