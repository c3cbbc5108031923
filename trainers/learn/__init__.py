"""Learning: the learner (N LoRA adapters on one base), targets, probes and `algorithms/`.

torch is imported by the modules that need it, not here.
"""
