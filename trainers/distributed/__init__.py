"""Ray mode: rollout workers as actors owning policy servers, the learner as an actor, the league
in the driver (`trainers.selfplay` with `ray=True`).

- `resources`: per-role resources -> Ray resources and one placement group (pure, no ray import).
- `publication`: versioned adapter publication to every worker (stage everywhere, then switch).
- `workers`: the rollout-worker actor, the pool that supervises it, the distributed rollout.
- `cluster`: joining or starting a Ray cluster; the learner actor.

`ray` is imported only by the modules that need it.
"""
