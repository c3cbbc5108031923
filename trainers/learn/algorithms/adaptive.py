"""Per-adapter control of the learning-rate scale and the KL coefficient.

Every LoRA adapter in the league learns at its own pace: one may be drifting away from the base
model while another has stopped improving. A fixed LR and KL coefficient cannot suit both, so each
adapter gets an `AdaptiveLoRAController` that the trainer steps once per update with that
adapter's mean reward and measured KL, and that returns every change it made so the trainer can
apply and log it.

Which signal may move the learning rate depends on the mode (`AdaptiveConfig.lr_signal`). In
cooperative and mixed games an adapter's own reward is measured against a fixed task, so its
trend says whether updates help. In competitive and team-battle self-play it does not: the
opponent is a copy that improves too, so one side's falling reward is the other side's rising one,
and a controller that braked on it would throttle exactly the side that is losing to an improving
opponent. There the LR listens only to evaluations against fixed references (scripted bots,
frozen snapshots), and only to differences those evaluations' 95% intervals can resolve.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from trainers.intervals import WinRate

__all__ = ["AdaptiveConfig", "AdaptiveLoRAController", "Change"]


@dataclass(frozen=True)
class AdaptiveConfig:
    """The controller's targets, factors and bounds."""

    #: KL (per token, the `kl_penalty` estimate) the adapter should stay near.
    kl_target: float = 0.02
    #: KL coefficient at the start.
    kl_coef: float = 0.05
    #: KL above target * tolerance doubles the coefficient, below target / tolerance halves it.
    kl_tolerance: float = 1.5
    #: Factor applied to the KL coefficient per adjustment.
    kl_factor: float = 2.0
    kl_coef_min: float = 1e-4
    kl_coef_max: float = 10.0
    #: Learning-rate scale at the start (the trainer multiplies its base LR by it).
    lr_scale: float = 1.0
    lr_scale_min: float = 0.1
    lr_scale_max: float = 3.0
    #: Factor when the reward stagnates (a small push).
    lr_up: float = 1.2
    #: Factor when the reward falls (a firm brake).
    lr_down: float = 0.5
    #: Updates per window: every `trend_window` updates, the trend compares the mean reward of
    #: the last `trend_window` with that of the `trend_window` before them.
    trend_window: int = 8
    #: How many standard errors of that difference make it clear.
    trend_z: float = 2.5
    #: A difference whose whole interval lies within +-this counts as stagnating (reward units).
    stagnation_tol: float = 0.05
    #: Reward observations before the LR may change (at least two windows are needed).
    warmup_steps: int = 5
    #: Steps between two LR changes, so that one change can show its effect first.
    lr_cooldown: int = 5
    adapt_kl: bool = True
    adapt_lr: bool = True
    #: What may move the LR: "reward" (the adapter's own reward trend: cooperative and mixed
    #: games) or "reference" (win rates against fixed references only: zero-sum self-play).
    lr_signal: Literal["reward", "reference"] = "reward"
    #: With "reference": evaluations without a clear gain before the LR gets a small push.
    reference_patience: int = 3

    def __post_init__(self) -> None:
        if self.kl_target <= 0 or self.kl_tolerance <= 1 or self.kl_factor <= 1:
            raise ValueError("need kl_target > 0, kl_tolerance > 1 and kl_factor > 1")
        if not 0 < self.kl_coef_min <= self.kl_coef <= self.kl_coef_max:
            raise ValueError("need 0 < kl_coef_min <= kl_coef <= kl_coef_max")
        if not 0 < self.lr_scale_min <= self.lr_scale <= self.lr_scale_max:
            raise ValueError("need 0 < lr_scale_min <= lr_scale <= lr_scale_max")
        if self.lr_up <= 1 or not 0 < self.lr_down < 1:
            raise ValueError("need lr_up > 1 and 0 < lr_down < 1")
        if self.trend_window < 2 or not self.trend_z > 0:
            raise ValueError("need trend_window >= 2 and trend_z > 0")
        if self.stagnation_tol < 0 or self.warmup_steps < 2 or self.lr_cooldown < 0:
            raise ValueError("need stagnation_tol >= 0, warmup_steps >= 2, lr_cooldown >= 0")
        if self.lr_signal not in ("reward", "reference") or self.reference_patience < 1:
            raise ValueError("lr_signal must be 'reward' or 'reference'; reference_patience >= 1")


@dataclass(frozen=True)
class Change:
    """One adjustment the controller made, for the trainer to apply and log."""

    adapter: str
    #: The controller's step count when it made the change (1 = first `step()` call).
    step: int
    name: Literal["kl_coef", "lr_scale"]
    old: float
    new: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class AdaptiveLoRAController:
    """Adjusts one adapter's KL coefficient and LR scale from its measured KL and reward trend.

    The rule, applied at every `step(reward_mean, kl)`:

    1. KL (the adaptive KL penalty of the PPO paper, Schulman et al. 2017, section 4, with tol = 1.5
       and factor = 2 there): kl > target * tol -> kl_coef *= factor; kl < target / tol ->
       kl_coef /= factor; clamped to [kl_coef_min, kl_coef_max]. A missing or non-finite KL
       changes nothing.
    2. Reward trend: every `trend_window` updates, d = mean reward of the last `trend_window`
       updates minus that of the window before, with its standard error se from the spread of
       the per-update means in the two windows (Welch). A batch of 32 games has a mean reward
       noisy by about +-0.1, so a slope read from consecutive updates moves on noise; two
       windows and their se tell a trend from it, and testing only at window ends keeps the
       false alarms rare (defaults, on synthetic curves of 40 updates with per-update noise
       0.1: a flat curve is cut in 5% of runs, one falling 0.03 per update in all, one
       falling 0.01 per update in 70%; the EMA-slope rule this replaced cut 92% of the flat
       ones). After two full windows (and `warmup_steps`), and at
       least `lr_cooldown` steps after the last LR change:
       - clearly falling, d + trend_z * se < 0 and d < -stagnation_tol: lr_scale *= lr_down,
         the update is likely too large;
       - clearly flat, |d| + trend_z * se <= stagnation_tol: lr_scale *= lr_up, unless this
         step's KL is above target * tol (a larger step would widen a KL already too large);
       - anything else (rising, or a difference the noise cannot resolve): no change.
       lr_scale is clamped to [lr_scale_min, lr_scale_max].
    2'. With `lr_signal="reference"` the reward is ignored, and `step(..., reference=WinRate)`
       brings an evaluation against fixed references when one was played. Against the best
       evaluation so far: a new one whose 95% interval lies wholly below the best one's
       (`WinRate.clearly_below`) is a real regression: lr_scale *= lr_down; `reference_patience`
       evaluations in a row that are not clearly above the best: lr_scale *= lr_up (unless KL is
       high); anything else, or a step without an evaluation: no change. Cooldown as above.

    A change clamped back to the value it had is not a change and is not reported. The state is
    plain floats (`state_dict`), so a resumed run continues with the same coefficients.
    """

    def __init__(self, adapter: str, config: AdaptiveConfig | None = None) -> None:
        self.adapter = adapter
        self.config = config or AdaptiveConfig()
        self.kl_coef = self.config.kl_coef
        self.lr_scale = self.config.lr_scale
        self.steps = 0
        self.rewards: list[float] = []  # the last two windows' mean rewards, oldest first
        self.rewards_seen = 0
        self.steps_since_lr_change = self.config.lr_cooldown
        self.best_reference: WinRate | None = None
        self.evals_without_gain = 0

    def step(
        self,
        reward_mean: float | None,
        kl: float | None = None,
        reference: WinRate | None = None,
    ) -> list[Change]:
        """Take one update's mean reward, KL and (if one was played) evaluation against fixed
        references; return the changes made (possibly none)."""
        self.steps += 1
        self.steps_since_lr_change += 1
        changes: list[Change] = []
        if self.config.adapt_kl and _finite(kl):
            changes.extend(self._adapt_kl(float(kl)))
        kl_high = _finite(kl) and float(kl) > self._kl_high
        if self.config.lr_signal == "reference":
            if self.config.adapt_lr and reference is not None and reference.games > 0:
                changes.extend(self._adapt_lr_to_reference(reference, kl_high))
            return changes
        if _finite(reward_mean):
            self._observe_reward(float(reward_mean))
        if self.config.adapt_lr:
            changes.extend(self._adapt_lr(kl_high))
        return changes

    def _adapt_lr_to_reference(self, score: WinRate, kl_high: bool) -> list[Change]:
        cfg = self.config
        best = self.best_reference
        if best is None or best.clearly_below(score):
            self.best_reference, self.evals_without_gain = score, 0
            return []
        if best.rate < score.rate:
            self.best_reference = score  # better, though not clearly: keep the higher mark
        self.evals_without_gain += 1
        if self.steps_since_lr_change < cfg.lr_cooldown:
            return []
        if score.clearly_below(best):
            lo, hi = score.interval
            new = self.lr_scale * cfg.lr_down
            reason = f"reference win rate fell to {score.rate:.2f} [{lo:.2f}, {hi:.2f}]"
        elif self.evals_without_gain >= cfg.reference_patience and not kl_high:
            new = self.lr_scale * cfg.lr_up
            reason = f"no clear gain against references in {self.evals_without_gain} evaluations"
        else:
            return []
        changes = self._change(
            "lr_scale", min(max(new, cfg.lr_scale_min), cfg.lr_scale_max), reason
        )
        if changes:
            self.steps_since_lr_change = 0
            self.evals_without_gain = 0
        return changes

    @property
    def _kl_high(self) -> float:
        return self.config.kl_target * self.config.kl_tolerance

    def _change(
        self, name: Literal["kl_coef", "lr_scale"], new: float, reason: str
    ) -> list[Change]:
        old = getattr(self, name)
        if new == old:
            return []
        setattr(self, name, new)
        return [Change(self.adapter, self.steps, name, old, new, reason)]

    def _adapt_kl(self, kl: float) -> list[Change]:
        cfg = self.config
        low = cfg.kl_target / cfg.kl_tolerance
        if kl > self._kl_high:
            new, reason = self.kl_coef * cfg.kl_factor, f"kl {kl:.4g} > {self._kl_high:.4g}"
        elif kl < low:
            new, reason = self.kl_coef / cfg.kl_factor, f"kl {kl:.4g} < {low:.4g}"
        else:
            return []
        return self._change("kl_coef", min(max(new, cfg.kl_coef_min), cfg.kl_coef_max), reason)

    def _observe_reward(self, reward: float) -> None:
        self.rewards_seen += 1
        self.rewards = [*self.rewards, reward][-2 * self.config.trend_window :]

    def reward_trend(self) -> tuple[float, float] | None:
        """(d, se): the last window's mean reward minus the one before, and its standard error;
        None before two full windows."""
        w = self.config.trend_window
        if len(self.rewards) < 2 * w:
            return None
        before, last = self.rewards[:w], self.rewards[w:]
        d = statistics.fmean(last) - statistics.fmean(before)
        return d, math.sqrt((statistics.variance(before) + statistics.variance(last)) / w)

    def _adapt_lr(self, kl_high: bool) -> list[Change]:
        cfg = self.config
        trend = self.reward_trend()
        if trend is None or self.rewards_seen < cfg.warmup_steps:
            return []
        if self.rewards_seen % cfg.trend_window:  # between window ends
            return []
        if self.steps_since_lr_change < cfg.lr_cooldown:
            return []
        d, se = trend
        shown = f"reward {d:+.3g} +- {cfg.trend_z * se:.2g} over {cfg.trend_window} updates"
        if d + cfg.trend_z * se < 0 and d < -cfg.stagnation_tol:
            new, reason = self.lr_scale * cfg.lr_down, f"{shown}: falling"
        elif abs(d) + cfg.trend_z * se <= cfg.stagnation_tol and not kl_high:
            new, reason = self.lr_scale * cfg.lr_up, f"{shown}: stagnating"
        else:
            return []
        changes = self._change(
            "lr_scale", min(max(new, cfg.lr_scale_min), cfg.lr_scale_max), reason
        )
        if changes:
            self.steps_since_lr_change = 0
        return changes

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON data; the config is included for the record, not restored."""
        return {
            "adapter": self.adapter,
            "kl_coef": self.kl_coef,
            "lr_scale": self.lr_scale,
            "steps": self.steps,
            "rewards": list(self.rewards),
            "rewards_seen": self.rewards_seen,
            "steps_since_lr_change": self.steps_since_lr_change,
            "best_reference": None
            if self.best_reference is None
            else [self.best_reference.wins, self.best_reference.games],
            "evals_without_gain": self.evals_without_gain,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore coefficients and trend; the bounds stay those of this controller's config."""
        self.kl_coef = float(state["kl_coef"])
        self.lr_scale = float(state["lr_scale"])
        self.steps = int(state["steps"])
        # A checkpoint of the older EMA rule has no window: the trend starts afresh.
        self.rewards = [float(r) for r in state.get("rewards", ())]
        self.rewards_seen = int(state["rewards_seen"])
        self.steps_since_lr_change = int(state["steps_since_lr_change"])
        best = state.get("best_reference")  # absent in checkpoints written before it existed
        self.best_reference = None if best is None else WinRate(float(best[0]), int(best[1]))
        self.evals_without_gain = int(state.get("evals_without_gain", 0))
