"""`TrainerConfig`: everything a self-play run needs, as one nested config (one group per part of
the loop, `trainers.config_groups`) that tyro turns into a command line with every field and its
docstring.

    cfg = TrainerConfig.build(env_id="kuhn_poker_v0", mode="competitive", lr=5e-4)  # flat names
    smoke = cfg.replace(model="tiny", iterations=2)
    cfg.learn.lr, cfg.run.seed                                                      # nested

Field names are unique across the groups, so a flat name (`lr`, `--lr` on the command line,
a key of `config.json`) says which field it is; each is defined once (the learner's own in
`trainers.learn.settings`). `validate()` checks the whole config once, with messages that say
what to fix: `SelfPlayTrainer` calls it at start, `from_dict` on loading. `config.json` is the
flat `to_dict()`; `from_dict` refuses a key it does not know instead of dropping a setting.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

from trainers.config_groups import (
    AdvantageName,
    BackendName,
    GameConfig,
    LeagueSettings,
    LearnConfig,
    RolloutConfig,
    RunConfig,
    ServingConfig,
)
from trainers.distributed.resources import DistributedConfig
from trainers.league.modes import get_mode

__all__ = [
    "ADVANTAGES",
    "BACKENDS",
    "ConfigError",
    "DistributedConfig",
    "GameConfig",
    "LeagueSettings",
    "LearnConfig",
    "RolloutConfig",
    "RunConfig",
    "ServingConfig",
    "TrainerConfig",
]

ADVANTAGES: tuple[str, ...] = get_args(AdvantageName)
BACKENDS: tuple[str, ...] = get_args(BackendName)


class ConfigError(ValueError):
    """A config that cannot run; the message names the field and what to fix."""


_GROUPS = ("game", "serving", "rollout", "learn", "league", "run", "distributed")


@dataclass
class TrainerConfig:
    """A self-play league run."""

    game: GameConfig = field(default_factory=GameConfig)
    """What to play."""
    serving: ServingConfig = field(default_factory=ServingConfig)
    """Model and serving."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Rollout."""
    learn: LearnConfig = field(default_factory=LearnConfig)
    """Learning."""
    league: LeagueSettings = field(default_factory=LeagueSettings)
    """League."""
    run: RunConfig = field(default_factory=RunConfig)
    """Run."""
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    """Ray mode (off by default)."""

    # ------------------------------------------------------------------ flat names
    @classmethod
    def field_groups(cls) -> dict[str, str]:
        """Flat field name -> the group that holds it."""
        out = {}
        for group in fields(cls):
            for f in fields(group.default_factory):
                out[f.name] = group.name
        return out

    @classmethod
    def build(cls, **flat: Any) -> TrainerConfig:
        """A config from flat field names (defaults elsewhere); not validated."""
        return cls().replace(**flat)

    def replace(self, **flat: Any) -> TrainerConfig:
        """A copy with the given fields (flat names) replaced; not validated."""
        where = self.field_groups()
        _refuse_unknown(flat, where)
        groups = {}
        for name in _GROUPS:
            mine = {k: v for k, v in flat.items() if where[k] == name}
            groups[name] = dataclasses.replace(getattr(self, name), **mine)
        return TrainerConfig(**groups)

    def to_dict(self) -> dict[str, Any]:
        """The flat dict `config.json` holds."""
        out = {}
        for name in _GROUPS:
            out.update(dataclasses.asdict(getattr(self, name)))
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerConfig:
        """The config of a flat dict (e.g. `config.json`), validated. A missing key keeps its
        default; an unknown one (a renamed or removed field) is a ConfigError naming it."""
        _refuse_unknown(data, cls.field_groups())
        flat = dict(data)
        for key in _tuple_fields():
            if key in flat and flat[key] is not None:
                flat[key] = tuple(flat[key])
        cfg = cls.build(**flat)
        cfg.validate()
        return cfg

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        """Flat name -> the allowed values of every choice (`Literal`) field."""
        return {
            name: get_args(hint)
            for group in fields(cls)
            for name, hint in get_type_hints(group.default_factory).items()
            if get_origin(hint) is Literal
        }

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming what to fix; run once, when a run starts."""
        import envs

        game, learn = self.game, self.learn
        self._validate_choices()
        if game.env_id in envs.refused():  # a foreign game that cannot run here, and why
            raise ConfigError(f"env_id {game.env_id!r}: {envs.refused()[game.env_id]}")
        if game.env_id not in envs.list_envs():
            raise ConfigError(
                f"unknown env_id {game.env_id!r}; registered envs: {', '.join(envs.list_envs())}"
            )
        mode = get_mode(game.mode)
        supported = envs.spec(game.env_id).payoffs
        if mode.payoff not in supported:
            raise ConfigError(
                f"mode {game.mode!r} needs payoff {mode.payoff!r}, which {game.env_id} does not "
                f"support (it supports {', '.join(supported)}); pick another env or mode"
            )
        if not 0 <= game.mix_start <= 1 or not 0 <= game.mix_end <= 1:
            raise ConfigError("mix_start and mix_end must lie in [0, 1]")
        self._validate_counts()
        self._validate_serving()
        if self.rollout.async_rollout and learn.loss != "decoupled_ppo":
            logging.getLogger(__name__).warning(
                "async_rollout trains on samples one version old: loss=decoupled_ppo corrects "
                "for that, %s does not",
                learn.loss,
            )
        if not (math.isfinite(learn.entropy_coef) and learn.entropy_coef >= 0):
            raise ConfigError(f"entropy_coef must be >= 0, got {learn.entropy_coef}")
        if learn.minibatches < 1:
            raise ConfigError(f"minibatches must be >= 1, got {learn.minibatches}")
        if learn.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {learn.epochs}")
        if not 0.0 <= learn.gamma <= 1.0:
            raise ConfigError(f"gamma must lie in [0, 1], got {learn.gamma}")
        if not 0.0 <= learn.critic_alpha < 1.0:
            raise ConfigError(f"critic_alpha must lie in [0, 1), got {learn.critic_alpha}")
        if not 0.0 <= learn.lr_decay_start <= 1.0:
            raise ConfigError(f"lr_decay_start must lie in [0, 1], got {learn.lr_decay_start}")
        if learn.q_target_coef < 0 or not learn.q_target_temperature > 0:
            raise ConfigError("q_target_coef must be >= 0 and q_target_temperature > 0")
        valued = learn.advantage == "decision_q" or self.rollout.move_values
        if learn.q_target_coef > 0 and not (valued and self.rollout.constrained):
            raise ConfigError(
                "q_target_coef needs move values (advantage='decision_q' or move_values) and "
                "constrained moves (its targets are over the legal moves)"
            )
        if not (math.isfinite(learn.trust_region_kl) and learn.trust_region_kl >= 0):
            raise ConfigError(f"trust_region_kl must be >= 0, got {learn.trust_region_kl}")
        if learn.trust_region_kl > 0 and not self.rollout.constrained:
            raise ConfigError("trust_region_kl measures the policy over legal moves: constrained")
        if self.rollout.fresh_replies and not self.rollout.move_values:
            raise ConfigError("fresh_replies answers in the copies move_values makes: set both")
        if self.rollout.expected_replies and not self.rollout.fresh_replies:
            raise ConfigError("expected_replies averages the copies' fresh replies: set both")
        if self.rollout.expected_replies and self.distributed.enabled:
            raise ConfigError("expected_replies needs the learner beside the rollout: not on Ray")
        if self.rollout.expected_replies and self.rollout.async_rollout:
            raise ConfigError(
                "expected_replies scores replies with the learner, which async_rollout trains "
                "while the games are played: not both"
            )
        if self.rollout.temperature <= 0:
            raise ConfigError("temperature must be > 0 for policy-gradient training")
        try:  # the env itself checks its kwargs (team sizes, rounds...) with its own message
            envs.make(game.env_id, payoff=mode.payoff, **game.env_kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"env_kwargs {game.env_kwargs} do not fit {game.env_id}: {e}") from e
        self._validate_league()
        try:  # the learner's own checks, now rather than when it is built
            learn.learner_config(self.rollout.temperature)
            learn.lora_settings()
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def _validate_choices(self) -> None:
        """tyro checks a choice on the command line; this catches one set in Python or loaded
        from a file."""
        where = self.field_groups()
        for name, allowed in self.choices().items():
            value = getattr(getattr(self, where[name]), name)
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")

    def _validate_counts(self) -> None:
        for group, name in (
            ("rollout", "games_per_iteration"),
            ("run", "iterations"),
            ("rollout", "max_new_tokens"),
            ("learn", "lora_rank"),
        ):
            value = getattr(getattr(self, group), name)
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")

    def _validate_serving(self) -> None:
        serving, distributed = self.serving, self.distributed
        if serving.backend == "remote" and not serving.base_url:
            raise ConfigError("backend=remote needs --base-url (the server's URL)")
        if serving.backend != "remote" and serving.base_url:
            raise ConfigError("base_url is for backend=remote only")
        if distributed.enabled:
            try:
                distributed.validate(serving.backend, tuple(serving.base_url))
            except ValueError as e:
                raise ConfigError(str(e)) from None
        elif serving.backend == "remote" and len(serving.base_url) != 1:
            raise ConfigError("backend=remote without Ray talks to one server: give one base_url")

    def _validate_league(self) -> None:
        from agents.scripted import bot_kinds

        env_id, league = self.game.env_id, self.league
        kinds = bot_kinds(env_id)
        for name in ("bots", "partners"):
            unknown = set(getattr(league, name)) - set(kinds)
            if unknown:
                raise ConfigError(f"no {name} {sorted(unknown)} for {env_id}; it has {kinds}")
        if league.partners and get_mode(self.game.mode).adversarial:
            raise ConfigError(
                f"partners play beside the learner (cooperative and mixed modes); in mode "
                f"{self.game.mode!r} bots join the league as opponents: use bots"
            )
        for name in ("partner_share", "partner_share_end"):
            value = getattr(league, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if league.eval_temperature is not None and not league.eval_temperature >= 0:
            raise ConfigError(f"eval_temperature must be >= 0, got {league.eval_temperature}")
        self._validate_population()

    def _validate_population(self) -> None:
        league = self.league
        if league.population < 1 or league.pbt_every < 0:
            raise ConfigError(
                f"need population >= 1 and pbt_every >= 0, got {league.population} and "
                f"{league.pbt_every}"
            )
        if league.pbt_every and league.population < 2:
            raise ConfigError("pbt_every copies between members: set population >= 2")
        if league.population == 1:
            return
        if not get_mode(self.game.mode).adversarial:
            raise ConfigError(
                f"population > 1 trains adversarial modes (competitive, team_battle); mode "
                f"{self.game.mode!r} is not supported yet: use population 1"
            )
        if self.distributed.enabled:
            raise ConfigError("population > 1 is not supported on Ray yet: leave distributed off")


def _refuse_unknown(flat: dict[str, Any], known: dict[str, str]) -> None:
    unknown = sorted(set(flat) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown config fields {unknown} (renamed or removed? `--help` lists the fields)"
        )


def _tuple_fields() -> set[str]:
    """Flat names of the tuple-typed fields (json gives lists back)."""
    return {
        name
        for group in fields(TrainerConfig)
        for name, hint in get_type_hints(group.default_factory).items()
        if get_origin(hint) is tuple
    }
