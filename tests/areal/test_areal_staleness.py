"""AReaL's admission rule (`StalenessManager`) against LoRA League's async rollout.

Our `rollout.async_rollout` plays iteration k+1's games (one batch of G) while the learner trains
on iteration k's, with the weights served then, and never more than that one batch ahead. These
tests put that schedule through AReaL's StalenessManager: with `max_staleness=1` and
`consumer_batch_size=G` it admits exactly our schedule and nothing more; with `max_staleness=0`
it would hold each batch until the update before it (the synchronous loop). So AReaL's rule does
the job of ours, and ours is its special case; docs/areal.md says why the trainer keeps its own.
"""

from __future__ import annotations

import pytest

pytest.importorskip("areal")
from areal.infra.staleness_manager import StalenessManager

G = 4  # games per iteration


class Learner:
    """AReaL's version provider: the learner's version is the number of updates done."""

    def __init__(self) -> None:
        self.version = 0

    def get_version(self) -> int:
        return self.version


def start(manager: StalenessManager, n: int) -> None:
    for _ in range(n):
        manager.on_rollout_enqueued()
        manager.on_rollout_submitted()


def finish(manager: StalenessManager, n: int) -> None:
    for _ in range(n):
        manager.on_rollout_accepted()


def test_max_staleness_one_admits_exactly_our_async_rollout():
    learner = Learner()
    manager = StalenessManager(learner, 2 * G, consumer_batch_size=G, max_staleness=1)
    sampled_at: dict[int, int] = {}
    start(manager, G)  # iteration 1: its own games first, played with version 0
    sampled_at[1] = learner.version
    finish(manager, G)
    for k in range(1, 12):
        # iteration k: the next batch starts with the weights served now ...
        assert manager.get_capacity() == G
        start(manager, G)
        sampled_at[k + 1] = learner.version
        assert manager.get_capacity() == 0  # ... and nothing beyond it
        learner.version += 1  # ... while the learner trains on batch k
        finish(manager, G)
    # every batch after the first is trained one version after the one that sampled it
    assert all(k - 1 - sampled_at[k] == 1 for k in range(2, 13))


def test_max_staleness_zero_is_the_synchronous_loop():
    learner = Learner()
    manager = StalenessManager(learner, 2 * G, consumer_batch_size=G, max_staleness=0)
    start(manager, G)
    finish(manager, G)
    for _ in range(5):
        assert manager.get_capacity() == 0  # the next batch waits for the update
        learner.version += 1
        assert manager.get_capacity() == G
        start(manager, G)
        finish(manager, G)


def test_without_version_updates_areal_stops_admitting():
    """What the rollout test has to allow for: with no trainer advancing the version, AReaL
    admits (max_staleness + version + 1) x consumer_batch_size episodes in all."""
    learner = Learner()
    learner.version = 1
    manager = StalenessManager(learner, 100, consumer_batch_size=G, max_staleness=2)
    admitted = 0
    while manager.get_capacity() > 0:
        start(manager, 1)
        finish(manager, 1)
        admitted += 1
    assert admitted == (2 + 1 + 1) * G
