"""Learning: N LoRA adapters on one base model, and what they learn from.

- `learner`: `Learner` (adapters, optimizers, `update()`, `state_dict()`).
- `settings`: `LoRASettings`, `LearnerConfig`.
- `samples`: `TrainSample` and collation into padded micro-batches (`Batch`).
- `scoring`: `Scorer.score(batch)`, the forward pass from a batch to per-token log-probs
  (own-position projection, legal-move masks, entropy).
- `objective`: a scored micro-batch's loss (policy loss, entropy bonus, KL to the base).
- `adapters`: peft wrapping, adapter names and parameter keys.
- `state`: the learner's checkpoint folder (its state dict on disk).
- `targets`, `probe`: exact per-decision targets and the Kuhn policy probe.
- `algorithms/`: pure advantages, losses and the adaptive LR/KL controller.

torch is imported by the modules that need it, not here.
"""
