"""Population-based training's exploit and explore (Jaderberg et al., 2017), as pure pieces.

Every `PBTConfig.every` iterations a member rated clearly below the top of the population
(`choose_exploits`: truncation selection with a significance test on openskill ratings) becomes
a copy of a better member (`copy_member`: LoRA weights and optimizer state, bit for bit) and
takes that member's hyperparameters, each multiplied by a random factor (`perturb`). `plan_round`
decides one round without touching anything; `Lineage` records every copy for league.json and
checkpoints.

Randomness comes only from `PBTConfig.rng(step)`, a generator seeded by (seed, step), so a resumed
run decides each round as the uninterrupted one did without saving a generator's state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from trainers.league.population import League
from trainers.league.ratings import SkillRating, openskill_ratings

__all__ = [
    "DEFAULT_BOUNDS",
    "Lineage",
    "LineageRecord",
    "PBTConfig",
    "PopulationLearner",
    "choose_exploits",
    "copy_member",
    "member_ratings",
    "perturb",
    "plan_round",
]

#: Starting bounds of the hyperparameters PBT may move (names as the trainer calls them).
DEFAULT_BOUNDS: Mapping[str, tuple[float, float]] = {
    "lr": (1e-6, 1e-2),
    "temperature": (0.3, 2.0),
    "entropy_coef": (0.0, 0.1),
    "kl_coef": (0.0, 1.0),
    "lora_scaling": (0.25, 4.0),
}
_FORMAT = 1


@dataclass(frozen=True)
class PBTConfig:
    """When members exploit each other, who counts as clearly worse, how hyperparameters move."""

    #: Exploit and explore every this many iterations (0: never).
    every: int = 10
    #: Truncation selection: the bottom this share of members (by rating mean, at least one)
    #: may copy one of the top this share (the PBT paper uses 0.2); at most 0.5.
    quantile: float = 0.25
    #: Significance: a winner's mu - z sigma must exceed the loser's mu + z sigma.
    z: float = 1.0
    #: A perturbed hyperparameter is multiplied by one of these, drawn uniformly.
    factors: tuple[float, ...] = (0.8, 1.25)
    #: (low, high) per hyperparameter `perturb` may change; a result is clipped into it.
    bounds: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    #: Seed of every round's random choices (with the round's step).
    seed: int = 0

    def __post_init__(self) -> None:
        if self.every < 0 or not 0.0 < self.quantile <= 0.5 or self.z < 0:
            raise ValueError(
                f"need every >= 0, 0 < quantile <= 0.5 and z >= 0, "
                f"got {self.every}, {self.quantile}, {self.z}"
            )
        if not self.factors or any(not f > 0 for f in self.factors):
            raise ValueError(f"factors must be positive, got {self.factors}")
        bad = {k: b for k, b in self.bounds.items() if not (len(b) == 2 and b[0] <= b[1])}
        if bad:
            raise ValueError(f"bounds must be (low, high) with low <= high, got {bad}")

    def due(self, iteration: int) -> bool:
        """Whether a round runs after `iteration` (never at 0: nobody has played yet)."""
        return self.every > 0 and iteration > 0 and iteration % self.every == 0

    def rng(self, step: int) -> np.random.Generator:
        """The generator of the round at `step`: the same for the same (seed, step)."""
        return np.random.default_rng([self.seed, step])


# ALGO LOGIC: exploit


def member_ratings(league: League, members: Sequence[str]) -> dict[str, SkillRating]:
    """Each member's openskill rating from the league (`League.ratings`); a member without games
    has openskill's initial rating."""
    initial = openskill_ratings([], players=members)
    known = league.ratings()["openskill"]
    return {
        m: SkillRating(known[m]["mu"], known[m]["sigma"]) if m in known else initial[m]
        for m in members
    }


def choose_exploits(
    ratings: Mapping[str, SkillRating], config: PBTConfig, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """(loser, winner) pairs: each loser is to become a copy of its winner.

    Truncation selection: members are ranked by mu (ties by id); each of the bottom `quantile`
    (at least one) copies a member drawn uniformly from those of the top `quantile` that beat it
    significantly: winner.mu - z winner.sigma > loser.mu + z loser.sigma, openskill's intervals
    not overlapping. That is stricter than a test of the difference (whose deviation
    sqrt(s_w^2 + s_l^2) is at most s_w + s_l): at z = 1 a copy needs the means at least one, up
    to sqrt(2), deviations of their difference apart, under openskill's Gaussian posterior.
    The uncertainty matters: a copy throws a member's learning away, and a member that has
    played little (sigma near its initial 25/3) is never judged on luck. The two groups never
    overlap, so nobody copies itself and no winner is overwritten in the same round; equal
    ratings never qualify.
    """
    n = len(ratings)
    if n < 2:
        return []
    ranked = sorted(ratings, key=lambda m: (ratings[m].mu, m))
    k = max(1, int(n * config.quantile))
    bottom, top = ranked[:k], ranked[n - k :]
    pairs = []
    for loser in bottom:
        low = ratings[loser]
        better = [
            w
            for w in top
            if ratings[w].mu - config.z * ratings[w].sigma > low.mu + config.z * low.sigma
        ]
        if better:
            pairs.append((loser, better[int(rng.integers(len(better)))]))
    return pairs


# ALGO LOGIC: explore


def perturb(
    hyperparameters: Mapping[str, float], rng: np.random.Generator, config: PBTConfig
) -> dict[str, float]:
    """Each hyperparameter times a factor drawn from `config.factors`, clipped to its bounds.

    Factors are drawn in sorted name order, so the result depends on the seed and the values,
    not on the mapping's order. A value of 0 stays 0 unless its lower bound is above 0.
    Every name needs bounds in `config.bounds`: a hyperparameter PBT should move must be said.
    """
    missing = sorted(set(hyperparameters) - set(config.bounds))
    if missing:
        raise ValueError(f"no bounds for {missing}: add them to PBTConfig.bounds")
    moved = {}
    for name in sorted(hyperparameters):
        low, high = config.bounds[name]
        factor = config.factors[int(rng.integers(len(config.factors)))]
        moved[name] = float(np.clip(float(hyperparameters[name]) * factor, low, high))
    return {name: moved[name] for name in hyperparameters}


# ---------------------------------------------------------------------------------- copy


class PopulationLearner(Protocol):
    """What `copy_member` needs of `trainers.learn.learner.Learner` (one AdamW per adapter name,
    weights in peft's saved format); a Protocol keeps the league package free of torch."""

    def adapter_weights(self, adapter: str) -> tuple[dict[str, Any], Any]: ...
    def set_adapter_weights(self, adapter: str, weights: Mapping[str, Any]) -> None: ...
    def parameters(self, adapter: str) -> list[Any]: ...
    def optimizer(self, adapter: str) -> Any: ...
    def lr(self, adapter: str) -> float: ...
    def set_lr(self, adapter: str, lr: float) -> None: ...


def copy_member(learner: PopulationLearner, source: str, target: str) -> None:
    """Make adapter `target` an exact copy of adapter `source`: LoRA weights, AdamW state (moments
    and step count, which the bias correction reads) and base lr. `source` is left unchanged.

    The optimizer state is deep-copied first: `Optimizer.load_state_dict` keeps tensors that
    already have the parameter's dtype and device, so without the copy the two adapters would
    share (and both step) the same moment tensors. The learner's count of an adapter's steps
    (`Learner.steps`, which times `kl_every`) is not copied: it has no setter.
    """
    if source == target:
        raise ValueError(f"cannot copy adapter {source!r} onto itself")
    # the optimizer's state is matched to parameters by position: the orders must agree
    theirs, ours = learner.parameters(source), learner.parameters(target)
    shapes = [tuple(p.shape) for p in theirs], [tuple(p.shape) for p in ours]
    if shapes[0] != shapes[1]:
        raise ValueError(f"adapters {source!r} and {target!r} have different parameter shapes")
    weights, _config = learner.adapter_weights(source)
    learner.set_adapter_weights(target, weights)
    learner.optimizer(target).load_state_dict(copy.deepcopy(learner.optimizer(source).state_dict()))
    learner.set_lr(target, learner.lr(source))


# ---------------------------------------------------------------------------------- lineage


@dataclass(frozen=True)
class LineageRecord:
    """One exploit-and-explore: `member` became a copy of `copied_from` at `step`."""

    step: int
    member: str
    copied_from: str
    #: The member's hyperparameters before the copy.
    old_hyperparameters: dict[str, float]
    #: What it trains with after: `copied_from`'s, perturbed.
    new_hyperparameters: dict[str, float]
    #: member and copied_from's ratings at the time: {id: {"mu": ..., "sigma": ...}}.
    ratings: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageRecord:
        return cls(
            step=int(data["step"]),
            member=str(data["member"]),
            copied_from=str(data["copied_from"]),
            old_hyperparameters={k: float(v) for k, v in data["old_hyperparameters"].items()},
            new_hyperparameters={k: float(v) for k, v in data["new_hyperparameters"].items()},
            ratings={m: {k: float(v) for k, v in r.items()} for m, r in data["ratings"].items()},
        )


class Lineage:
    """Every copy the population made, in order."""

    def __init__(self, records: Sequence[LineageRecord] = ()) -> None:
        self.records: list[LineageRecord] = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lineage) and self.records == other.records

    def append(self, record: LineageRecord) -> None:
        self.records.append(record)

    def of(self, member: str) -> list[LineageRecord]:
        """The copies that overwrote `member`, oldest first."""
        return [r for r in self.records if r.member == member]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: {"format": 1, "records": [...]}."""
        return {"format": _FORMAT, "records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        if data.get("format") != _FORMAT:
            raise ValueError(f"unsupported lineage format {data.get('format')!r}, need {_FORMAT}")
        return cls([LineageRecord.from_dict(r) for r in data["records"]])

    def state_dict(self) -> dict[str, Any]:
        return self.to_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.records = Lineage.from_dict(state).records


def plan_round(
    step: int,
    ratings: Mapping[str, SkillRating],
    hyperparameters: Mapping[str, Mapping[str, float]],
    config: PBTConfig,
) -> list[LineageRecord]:
    """What the round at `step` does, decided from (seed, step) and touching nothing: for each
    (loser, winner) of `choose_exploits`, the loser's new hyperparameters are the winner's,
    perturbed. The caller applies each record (`copy_member`, then the new hyperparameters) and
    appends it to the `Lineage`."""
    rng = config.rng(step)
    records = []
    for loser, winner in choose_exploits(ratings, config, rng):
        records.append(
            LineageRecord(
                step=int(step),
                member=loser,
                copied_from=winner,
                old_hyperparameters=dict(hyperparameters[loser]),
                new_hyperparameters=perturb(hyperparameters[winner], rng, config),
                ratings={
                    m: {"mu": ratings[m].mu, "sigma": ratings[m].sigma} for m in (loser, winner)
                },
            )
        )
    return records
