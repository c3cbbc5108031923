"""How agents improve: the self-play league trainer and its parts.

- `trainers.selfplay`: `SelfPlayTrainer(config).run()`, the loop (matchmaking, rollout, update,
  publish, league, monitoring, checkpoints); `trainers.config.TrainerConfig` configures it.
- `trainers.rollout`: many games at once, every LLM turn of a tick in one server call.
- `trainers.learner`: one base model, one LoRA adapter (and optimizer) per learning player.
- `trainers.algorithms`: advantages, policy-gradient losses, the adaptive LR/KL controller.
- `trainers.league`, `trainers.matchmaking`, `trainers.ratings`: the population, who plays whom,
  Elo/openskill ratings and payoff matrices (pure functions of match records).
- `trainers.modes`: payoff kinds, sides and adapter sharing per training mode.
- `trainers.monitoring`, `trainers.checkpoint`, `trainers.io`, `trainers.persistence`:
  TensorBoard and run files, atomic checkpoints, resume (`trainers.run_format` is the layout).

torch, transformers and vLLM are imported inside the functions that use them, so the league,
ratings and matchmaking stay usable without them.
"""
