"""Experiments: one config dataclass and `main(cfg)` per training mode, plus the run analysis.

- `experiments.<mode>`: `python -m experiments.<mode> --help` lists every config field.
- `experiments.run_data`: `load_run(run_dir)` reads back what a run wrote (layout in
  `trainers.run.layout`), as far as it got.
- `experiments.analysis`: the tables that the report and the notebook share (and `load_run`).
- `experiments.figures`: the figures, one module per family.
- `experiments.report`: `python -m experiments.report RUN_DIR` draws a run's figures as PNGs.
"""
