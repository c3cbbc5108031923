"""How agents improve: the self-play league trainer and its parts.

- `trainers.selfplay`: `SelfPlayTrainer(config).run()`; `iteration()` reads play -> learn -> publish
  -> league, each a call into one of the packages below. `trainers.config` configures it.
- `trainers.rollout`, `trainers.episode`: many games at once (every LLM turn of a tick in one server
  call) and the finished episodes they hand to the learner.
- `trainers.learn`: the learner (one base model, one LoRA adapter and optimizer per learning
  player), scoring, targets, the Kuhn probe, and `algorithms/` (advantages, losses, the adaptive
  LR/KL controller).
- `trainers.league`: the population, who plays whom, Elo/openskill ratings and payoff matrices
  (pure functions of match records), and the modes (payoff kinds, sides, adapter sharing).
- `trainers.run`: the run directory (`layout`), atomic io, checkpoints, TensorBoard monitoring,
  match metrics and the resource plan.

torch, transformers and vLLM are imported inside the functions that use them, so the league,
ratings and matchmaking stay usable without them.
"""
