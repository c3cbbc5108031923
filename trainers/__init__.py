"""How agents improve: the self-play league trainer and its parts.

- `trainers.selfplay`: `SelfPlayTrainer(config).run()`; `iteration()` reads play -> update the
  league -> learn -> publish, each a call into one of the packages below. `trainers.config`
  configures it (one nested `TrainerConfig`).
- `trainers.rollout`, `trainers.episode`: many games at once (every LLM turn of a tick in one server
  call) and the finished episodes they hand to the learner.
- `trainers.learn`: the learner (one base model, one LoRA adapter and optimizer per learning
  player), settings, samples, scoring, the objective, its state, advantage estimators by name,
  `LearnStep`, targets, the Kuhn probe, and `algorithms/` (pure advantages, losses, the adaptive
  LR/KL controller).
- `trainers.league`: the population, fixtures (who plays whom next), Elo/openskill ratings and
  payoff matrices (pure functions of match records), the modes (payoff kinds, sides, adapter
  sharing) and publishing of adapter families.
- `trainers.run`: the run directory (`layout`), atomic io, checkpoints, TensorBoard monitoring,
  match metrics, iteration scalars and the resource plan.

Every stateful part has `state_dict()` / `load_state_dict()`; a checkpoint is their union.
torch, transformers and vLLM are imported inside the functions that use them, so the league,
ratings and matchmaking stay usable without them.
"""
