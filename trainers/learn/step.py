"""One learning step of the loop: finished episodes -> one update per learning adapter.

Per adapter: advantages from the estimator (`estimators`), the samples (plus soft Q targets when
configured, `targets`), the adaptive controller's levers (lr scale, KL coefficient), the update
(inside a trust region when configured, `trust_region`), and the controller's step on the
result. `state_dict()` holds the estimator's baselines and the
controllers' states.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trainers.episode import Episode, Trajectory, decision_states
from trainers.learn.estimators import Estimate, make_estimator
from trainers.learn.targets import DecisionPoint, decision_points

if TYPE_CHECKING:
    from trainers.config import LearnConfig
    from trainers.intervals import WinRate
    from trainers.learn.algorithms import Change
    from trainers.learn.learner import Learner

log = logging.getLogger(__name__)

__all__ = ["LearnStep", "lr_decay_factor", "merge_update_stats"]

SUMMED = ("tokens", "sequence_tokens", "body_tokens", "seconds", "skipped")
"""Update stats that add up over minibatches; the others are per-token figures."""


def merge_update_stats(parts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """One update's stats from its minibatches' `Learner.update` stats: counts and seconds
    summed, rates recomputed from them, every other figure averaged weighted by tokens. A
    figure a minibatch did not measure (NaN: its KL when the reference pass was skipped) is
    left out of the mean; `minibatches` counts the parts."""
    if not parts:
        raise ValueError("no minibatch stats to merge")
    weights = np.array([p["tokens"] for p in parts], dtype=float)
    out: dict[str, float] = {}
    for key in parts[0]:
        values = np.array([p[key] for p in parts], dtype=float)
        if key in SUMMED:
            out[key] = float(values.sum())
            continue
        ok = np.isfinite(values) & (weights > 0)
        out[key] = float(np.average(values[ok], weights=weights[ok])) if ok.any() else math.nan
    seconds = max(out["seconds"], 1e-9)
    out["tokens_per_s"] = out["tokens"] / seconds
    out["sequence_tokens_per_s"] = out["sequence_tokens"] / seconds
    out["minibatches"] = float(len(parts))
    return out


def lr_decay_factor(step: int, iterations: int, decay_start: float) -> float:
    """The lr factor of update `step` (1-based) of `iterations`: 1 until `decay_start` of the
    run, then falling linearly to 1 / remaining at the last update (never 0: the last update
    still learns). The decay phase of warmup-stable-decay schedules: a self-play policy that
    found a good strategy stops being pushed around by the noise of its moving targets, as a
    stochastic approximation needs a step size that shrinks. `decay_start` 1: constant."""
    if not 0.0 <= decay_start <= 1.0:
        raise ValueError(f"decay_start must lie in [0, 1], got {decay_start}")
    first = math.floor(decay_start * iterations)  # updates before the decay
    if step <= first:
        return 1.0
    return (iterations - step + 1) / (iterations - first)


def _opponents(episode: Episode, trajectory: Trajectory) -> tuple[str, ...]:
    """Who fills the other seats of `trajectory`'s game, in seat order: fixed before the game,
    so a baseline keyed by it stays unbiased."""
    return tuple(t.player for t in episode.trajectories.values() if t is not trajectory)


class LearnStep:
    def __init__(self, learner: Learner, config: LearnConfig, lr_signal: str = "reward") -> None:
        """`lr_signal`: what may move the LR ("reference" in zero-sum modes, see `adaptive`)."""
        from trainers.learn.algorithms import AdaptiveConfig, AdaptiveLoRAController

        self.learner = learner
        self.config = config
        self.estimator = make_estimator(
            config.advantage, gamma=config.gamma, critic_alpha=config.critic_alpha
        )
        self.controllers: dict[str, AdaptiveLoRAController] = {}
        if config.adaptive:
            # kl_coef 0 means no KL penalty, and the controller keeps it so: adapting it would
            # double its floor (1e-4) at every KL above target, which is every KL once a policy
            # has learned something, until the penalty pulled the adapter back to the base (in
            # the signal benchmark it reached 6.4e-3 by update 20 and undid what the pair had
            # learned: success 0.74 at update 15, 0.32 at 20). The LR rule still reads the KL.
            adaptive = AdaptiveConfig(
                kl_target=config.kl_target,
                kl_coef=max(config.kl_coef, 1e-4),
                adapt_kl=config.kl_coef > 0,
                lr_signal=lr_signal,  # type: ignore[arg-type]
            )
            self.controllers = {
                name: AdaptiveLoRAController(name, adaptive) for name in learner.adapter_names
            }
        #: KL coefficients set per adapter (population-based training, `set_kl_coef`) where no
        #: controller adapts it; the others use `config.kl_coef`.
        self.kl_coefs: dict[str, float] = {}

    def __call__(
        self,
        episodes: Sequence[Episode],
        reference: WinRate | None = None,
        schedule: float = 1.0,
    ) -> tuple[dict[str, dict[str, float]], list[Change]]:
        """(update stats per adapter, the adaptive controllers' changes); `reference` is the
        last evaluation against fixed references, if one was played since the last call;
        `schedule` multiplies every lr (`lr_decay_factor`)."""
        from trainers.learn.samples import samples_from_trajectories

        by_adapter: dict[str, list[Trajectory]] = defaultdict(list)
        by_opponent = self.config.baseline_by_opponent
        opponents: dict[int, tuple[str, ...]] = {}  # id(trajectory) -> the other seats' players
        for ep in episodes:
            for t in ep.trajectories.values():
                if t.learning and t.turns and t.adapter is not None:
                    by_adapter[t.adapter[0]].append(t)
                    if by_opponent:
                        opponents[id(t)] = _opponents(ep, t)
        stats, changes = {}, []
        for name, trajs in sorted(by_adapter.items()):
            roles = [(t.adapter[0], t.agent) for t in trajs]
            keys = roles  # the baselines' keys (`baseline_by_opponent`)
            if by_opponent:
                keys = [(*role, opponents[id(t)]) for role, t in zip(roles, trajs, strict=True)]
            estimate = self.estimator.estimate(trajs, keys)
            advantages, targets = estimate.advantages, []
            states, points = estimate.states, []
            if self.config.q_target_coef > 0 or self.config.trust_region_kl > 0:
                states = states or [decision_states(t) for t in trajs]
                points = decision_points(trajs, keys, states)  # the critic's keys
            if self.config.q_target_coef > 0:  # config validation: moves are valued
                advantages, targets = self._targets(trajs, keys, estimate, states, points)
            samples = samples_from_trajectories(trajs, advantages) + targets
            ctrl = self.controllers.get(name)
            lr_scale = (ctrl.lr_scale if ctrl else 1.0) * schedule
            s = self._bounded_update(name, samples, self.kl_coef(name), lr_scale, points)
            s["reward_mean"] = float(np.mean([t.episode_return for t in trajs]))
            if self.config.q_target_coef > 0:
                s["q_target_samples"] = float(len(targets))
            if ctrl:
                for change in ctrl.step(s["reward_mean"], s.get("kl"), reference):
                    log.info("adaptive LoRA: %s", change.to_dict())
                    changes.append(change)
            stats[name] = s
        return stats, changes

    def kl_coef(self, name: str) -> float:
        """The KL penalty's coefficient for adapter `name`'s next update: its controller's
        when that adapts it, else the configured one."""
        ctrl = self.controllers.get(name)
        if ctrl and ctrl.config.adapt_kl:
            return ctrl.kl_coef
        return self.kl_coefs.get(name, self.config.kl_coef)

    def set_kl_coef(self, name: str, value: float) -> None:
        """Set adapter `name`'s KL coefficient: its controller's when that adapts it (and goes
        on adapting from there), else a fixed one for this adapter."""
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"kl_coef must be >= 0, got {value}")
        ctrl = self.controllers.get(name)
        if ctrl and ctrl.config.adapt_kl:
            ctrl.kl_coef = float(value)
        else:
            self.kl_coefs[name] = float(value)

    def copy_adapter(self, source: str, target: str) -> None:
        """Give adapter `target` the training state `source` has here (PBT's exploit): its
        controller's state (lr scale, KL coefficient, reward windows) and its KL coefficient.
        The estimator's baselines are kept: they follow the new policy within a few updates."""
        if source in self.controllers:
            self.controllers[target].load_state_dict(self.controllers[source].state_dict())
        if source in self.kl_coefs:
            self.kl_coefs[target] = self.kl_coefs[source]
        else:
            self.kl_coefs.pop(target, None)

    def _bounded_update(
        self, name: str, samples: list, kl_coef: float, lr_scale: float, points: list
    ) -> dict[str, float]:
        """`_update`, inside the trust region when `trust_region_kl` is set (its figures join
        the stats: `trust_kl_full`, `trust_kl`, `trust_alpha`)."""
        if not self.config.trust_region_kl > 0:
            return self._update(name, samples, kl_coef, lr_scale)
        from trainers.learn.trust_region import trust_region_step

        stats, result = trust_region_step(
            self.learner,
            name,
            points,
            lambda: self._update(name, samples, kl_coef, lr_scale),
            self.config.trust_region_kl,
        )
        return {**stats, **(result.stats() if result else {})}

    def _update(
        self, name: str, samples: list, kl_coef: float, lr_scale: float
    ) -> dict[str, float]:
        """One `learner.update` per minibatch (`config.minibatches`, see `samples.minibatches`)
        and pass (`config.epochs`); each pass's deal is seeded by the learner's seed and the
        adapter's step count, so a resumed run deals as the uninterrupted one. The whole
        update's stats."""
        from trainers.learn.samples import minibatches

        k, epochs = self.config.minibatches, self.config.epochs
        if k == 1 and epochs == 1:
            return self.learner.update(name, samples, kl_coef=kl_coef, lr_scale=lr_scale)
        samples = list(self.learner.trained_samples(samples, kl_coef))  # no all-silent part
        groups = self.learner.micro_batches(samples)
        stats = []
        for _ in range(epochs):  # each pass dealt by the step count it starts at
            seed = [self.learner.seed, self.learner.steps(name)]
            for part in minibatches(groups, k, seed):
                stats.append(
                    self.learner.update(
                        name, [samples[i] for i in part], kl_coef=kl_coef, lr_scale=lr_scale
                    )
                )
        return merge_update_stats(stats)

    def _targets(
        self,
        trajs: list[Trajectory],
        roles: list,
        estimate: Estimate,
        states: list,
        points: list[DecisionPoint],
    ) -> tuple[list, list]:
        """(the trajectories' advantages, cross-entropy samples toward softmax(Q / temperature)
        at the states just visited: `trainers.learn.targets`). The update scores the samples in
        its own pass.

        With the rollout's counterfactual values (exact, this policy's), a valued turn learns
        from its target alone: its sampled policy-gradient term knows one move's return where
        the target knows every move's value, so it adds only noise. Without them, the tabular
        critic's running means give the targets, and every turn keeps its policy-gradient term
        as well."""
        from trainers.counterfactual import MoveValues
        from trainers.learn.targets import target_samples

        cfg = self.config
        advantages = estimate.advantages
        if any(t.move_values for t in trajs):
            critic = MoveValues(trajs, roles, states)
            advantages = critic.without_valued_turns(trajs, roles, states, advantages)
        else:
            critic = self.estimator.critic
        if critic is None:
            return advantages, []
        samples = target_samples(
            points, critic, self.learner.tokenizer, cfg.q_target_coef, cfg.q_target_temperature
        )
        return advantages, samples

    def state_dict(self) -> dict[str, Any]:
        """As `trainer_state.json` holds them: {"controllers": {...}, "baselines": ... | None,
        "kl_coefs": {...}}."""
        return {
            "controllers": {n: c.state_dict() for n, c in self.controllers.items()},
            "baselines": self.estimator.state_dict(),
            "kl_coefs": dict(self.kl_coefs),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, ctrl_state in state.get("controllers", {}).items():
            if name in self.controllers:
                self.controllers[name].load_state_dict(ctrl_state)
        self.estimator.load_state_dict(state.get("baselines"))
        self.kl_coefs = {k: float(v) for k, v in (state.get("kl_coefs") or {}).items()}
