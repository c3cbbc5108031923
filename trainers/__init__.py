"""How agents improve: algorithms, ratings, the league, matchmaking (and, later, the trainer loop).

The pure parts live here side by side so the trainer can call them without a model or an engine:

- `trainers.algorithms`: advantages, policy-gradient losses and the adaptive LR/KL controller
  (torch, pure functions of tensors).
- `trainers.ratings`: Elo and openskill ratings, payoff matrices and win rates from match records.
- `trainers.league`: the population of learners, frozen snapshots and scripted bots.
- `trainers.matchmaking`: who plays whom, by name (`uniform`, `self_play`, `pfsp`, `exploiter`).

Only `trainers.algorithms` imports torch, so the league and ratings stay usable without it.
"""
