"""`TrainerConfig`: everything a self-play run needs, as one nested config (one group per part of
the loop) that tyro turns into a command line with every field and its docstring.

    cfg = TrainerConfig.build(env_id="kuhn_poker_v0", mode="competitive", lr=5e-4)  # flat names
    smoke = cfg.replace(model="tiny", iterations=2)
    cfg.learn.lr, cfg.run.seed                                                      # nested

Field names are unique across the groups, so a flat name (`lr`, `--lr` on the command line,
a key of `config.json`) says which field it is. `validate()` checks the whole config once, with
messages that say what to fix: `SelfPlayTrainer` calls it at start, `from_dict` on loading.
`config.json` is the flat `to_dict()`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any

from agents.serving import BACKENDS
from trainers.distributed.resources import DistributedConfig
from trainers.league.modes import SHARES, get_mode
from trainers.learn.estimators import ESTIMATORS

__all__ = [
    "ADVANTAGES",
    "BACKENDS",
    "DistributedConfig",
    "GameConfig",
    "LeagueSettings",
    "LearnConfig",
    "RolloutConfig",
    "RunConfig",
    "ServingConfig",
    "TrainerConfig",
]

ADVANTAGES = tuple(ESTIMATORS)


class ConfigError(ValueError):
    """A config that cannot run; the message names the field and what to fix."""


@dataclass
class GameConfig:
    """What to play, and who shares an adapter."""

    experiment: str = "team_battle"
    """Name of the run (first part of the run directory name)."""
    env_id: str = "team_quiz_v0"
    """Registered env id (see `envs.list_envs()`)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra env arguments, e.g. {"rounds": 3}."""
    mode: str = "team_battle"
    """cooperative | competitive | team_battle | mixed."""
    share: str = "team"
    """Who shares an adapter: all | team | role | agent."""
    mix_start: float = 1.0
    """Mixed mode: payoff mix l at the first iteration (1 = selfish)."""
    mix_end: float = 0.5
    """Mixed mode: payoff mix l at the last iteration."""


@dataclass
class ServingConfig:
    """The base model and the policy server that plays it."""

    model: str = "default"
    """Base model: Hugging Face id, local folder, 'default' (embedded SmolLM2-135M) or 'tiny'."""
    backend: str = "vllm"
    """Policy server backend: vllm (batched engine), hf (transformers, slow reference) or remote
    (servers started with `python -m agents.serving`, at base_url)."""
    base_url: tuple[str, ...] = ()
    """backend=remote: the server's URL, e.g. http://127.0.0.1:8000 (in Ray mode one per rollout
    worker). The server must serve the same model and see the run's machine's disk (adapters
    are published through its adapter store)."""
    dtype: str = "auto"
    """Engine dtype (auto: the model's own)."""
    max_model_len: int = 2048
    """Longest chat (tokens) an agent may build in one episode."""
    memory_budget_gb: float | None = None
    """Memory the run may use (default: the machine's total); sizes the KV cache."""
    kv_cache_gib: float | None = None
    """vLLM KV cache on CPU (GiB); default: a quarter of the budget, at most 4."""
    max_loras: int = 8
    """Adapters in one engine batch."""


@dataclass
class RolloutConfig:
    """How the games are played."""

    games_per_iteration: int = 16
    """Games played at once per iteration (their turns are batched into single engine calls)."""
    max_new_tokens: int = 24
    """Token budget of one move."""
    temperature: float = 1.0
    """Sampling temperature of the learners (the learner scores under the same one). Raise it
    (e.g. 2.0) when a chat model puts nearly all its mass on one legal move: no exploration, no
    learning signal."""
    constrained: bool = True
    """Decode moves constrained to the legal moves when the env lists them."""
    move_values: bool = False
    """Value every other legal move of each constrained decision of a learning seat by
    replaying a copy of the game with it (the other players' real moves, up to the agent's next
    turn; `trainers.counterfactual`): exact where nobody acting in that window sees the move
    (the team quiz's answers). With `q_target_coef`, the learner pulls each decision toward
    softmax(values / q_target_temperature)."""
    fresh_replies: bool = False
    """With move_values: in each copy, the language players reply afresh to what they see
    (sampled from their adapters, batched with the real games' requests) instead of repeating
    their real moves: an unbiased value, one game's worth of noise, for a move others react to
    (the signal game's clue); bots answer afresh too. Costs one request per copy and reply."""
    expected_replies: bool = False
    """With fresh_replies: a copy whose window one reply closes (the signal listener's pick) is
    valued by that reply's expectation over the replier's legal moves, its probabilities read
    from the learner after the games, instead of by one sampled reply: the same mean without
    its 0/1 noise (`trainers.counterfactual`). The move played is valued the same way. Costs
    a learner forward pass of each such reply's legal moves; replies by adapters the learner
    does not hold at the served version keep their sampled value."""
    async_rollout: bool = False
    """Play the next iteration's games while the learner trains on this one (AReaL-style; the
    games then use weights one version old: pair it with loss=decoupled_ppo). Off by default
    until it is shown to learn as well as the synchronous loop."""


@dataclass
class LearnConfig:
    """How the adapters learn: LoRA shape, optimizer, loss, advantages, adaptive control.

    Fields named like `trainers.learn.LearnerConfig`'s feed it by name (`learner_config()`),
    the `lora_*` fields feed `LoRASettings` (`lora_settings()`)."""

    lora_rank: int = 16
    """LoRA rank r of every adapter."""
    lora_alpha: int = 32
    """LoRA alpha; the update is scaled by alpha / rank."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input during updates."""
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Names of the linear layers that get an adapter."""
    lr: float = 2e-4
    """AdamW learning rate (scaled per adapter by the adaptive controller)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    lora_plus_ratio: float = 1.0
    """LoRA+: the B matrices learn at lr * ratio (the paper uses 16); 1: plain LoRA."""
    lr_decay_start: float = 1.0
    """Fraction of the run's iterations after which the lr falls linearly to 1/remaining at
    the last (`trainers.learn.step.lr_decay_factor`): a self-play policy that found a good
    strategy stops being pushed around by its targets' noise. 1: constant lr."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW moment decay rates."""
    max_grad_norm: float | None = 1.0
    """Clip each adapter's gradient to this global norm; None: no clipping."""
    micro_batch_size: int = 8
    """Sequences per learner forward/backward pass (gradients accumulate over the batch)."""
    minibatches: int = 1
    """Optimizer steps per update (PPO's minibatches): each adapter's samples of the iteration,
    dealt as whole micro-batches into this many shuffled minibatches, one AdamW step each. The
    same tokens are scored once, so an update costs about the same; early LoRA learning is
    bound by the number of steps more than by their batch size. Later minibatches are a step
    off-policy: ppo_clip's ratio to the behaviour log-probs covers that."""
    epochs: int = 1
    """Passes over each update's samples (PPO's epochs), each dealt afresh into `minibatches`:
    epochs x minibatches optimizer steps toward the same targets, so a small adapter fits
    the differences between states that one step, mostly spent on their common part, leaves
    out. Later passes are off-policy: ppo_clip's ratio covers the sampled terms."""
    loss: str = "ppo_clip"
    """Policy loss: reinforce | ppo_clip | decoupled_ppo."""
    aggregation: str = "token_mean"
    """How token losses reduce to a scalar: token_mean or sequence_mean."""
    clip_eps: float = 0.2
    """PPO clip range around a ratio of 1."""
    clip_eps_high: float | None = None
    """Upper clip range (DAPO's clip-higher); None: clip_eps."""
    weight_cap: float | None = None
    """decoupled_ppo only: cap on the behaviour importance weight; None: no cap."""
    kl_coef: float = 0.02
    """Initial KL penalty to the base model (adapted when `adaptive` is on)."""
    kl_estimator: str = "k3"
    """KL estimator: k1, k2 or k3."""
    track_kl: bool = True
    """Measure the KL to the base even when kl_coef is 0 (one extra no-grad forward pass)."""
    kl_skip_below: float = 1e-3
    """A KL coefficient below this counts as 0: no penalty, and the reference pass runs only
    every `kl_every`-th update (to log the KL and steer the controller). 0: never skip."""
    kl_every: int = 4
    """While the KL penalty is skipped: measure the KL on every k-th update."""
    reference_cache: bool = True
    """Learner: reuse the base model's log-probs of tokens already scored in the same chat
    context by the KL reference pass (exact; Kuhn poker's decisions repeat)."""
    skip_silent: bool = True
    """Learner: in an update without a KL or entropy term, leave out samples whose advantages are
    all 0 (zero gradient; under token_mean they would only dilute the others)."""
    shared_prefix: bool = True
    """Learner: score each micro-batch's shared prefix (rules text) once (same log-probs and
    gradients, fewer tokens); False: the plain pass."""
    entropy_coef: float = 0.0
    """Entropy bonus on the move distribution (masked to the legal moves when `constrained`;
    without constraints it spreads mass over the whole vocabulary, i.e. over invalid moves):
    keeps mixed strategies mixed (Kuhn poker's equilibrium bluffs and calls at fixed odds)."""
    learner_dtype: str = "bfloat16"
    """Learner compute dtype: bfloat16 (autocast; about 2x faster than float32 on a CPU with
    AVX512-bf16, weights and optimizer stay float32) or float32."""
    adaptive: bool = True
    """Adapt learning rate and KL coefficient per adapter from reward trend and KL."""
    kl_target: float = 0.05
    """Per-token KL the adaptive controller aims at."""
    advantage: str = "role_ema"
    """role_ema (SPIRAL's per-role EMA baseline), decision_ema (an EMA per role and decision
    state, i.e. per identical chat so far, falling back to the role's: for games whose decisions
    repeat, like Kuhn poker's 12 information sets), decision_q (the same baseline, and the
    return replaced by the running mean return of the same move from the same state once known:
    a tabular critic: lower variance, biased while the policy moves), group (mean of the
    iteration's group) or turn_ema (each turn scored by its own return-to-go with `gamma`, minus
    an EMA per role and turn index: for games that score as they go, like team_quiz)."""
    gamma: float = 1.0
    """With advantage=turn_ema: discount per own turn of the rewards after a turn (0: a move
    answers only for the rewards before the agent's next move)."""
    critic_alpha: float = 0.95
    """With advantage=decision_ema/decision_q: the memory of the per-state critic. Each state's
    (and move's) value is a running mean over its first 1 / (1 - critic_alpha) visits, an EMA
    after. 0.95 (about 20 visits) follows the current opponents: targets from it chase the last
    few iterations' play, and self-play cycles. Closer to 1 (0.998: about 500 visits) values
    each move against the opponents' play averaged over many iterations, as fictitious play
    does (smoothed fictitious play settles in two-player zero-sum games)."""
    q_target_coef: float = 0.0
    """With advantage=decision_q: weight of a cross-entropy pulling each visited state's move
    distribution toward softmax(Q / q_target_temperature) of the critic's move values (soft
    policy improvement; see `trainers.learn.targets`). 0: off."""
    q_target_temperature: float = 0.2
    """Temperature of those targets (in reward units): lower is closer to a best response."""
    trust_region_kl: float = 0.0
    """Most an update may move the policy: the visit-weighted mean KL(old || new) of the move
    distributions at the batch's (most visited) decision states. A longer step is shrunk back
    toward the old weights (TRPO's line search; `trainers.learn.trust_region`): one Adam step
    moves every weight by about the lr, and in self-play that can lurch the whole policy. Needs
    constrained moves; costs a forward pass of the states' legal moves per try. 0: off."""

    def learner_config(self, temperature: float, device: str | None = None) -> Any:
        """The `LearnerConfig` these fields describe (validated there)."""
        from trainers.learn.settings import LearnerConfig

        mine = {f.name: getattr(self, f.name) for f in fields(self)}
        shared = {f.name: mine[f.name] for f in fields(LearnerConfig) if f.name in mine}
        return LearnerConfig(
            **shared, dtype=self.learner_dtype, temperature=temperature, device=device
        )

    def lora_settings(self) -> Any:
        """The `LoRASettings` of the `lora_*` fields (validated there)."""
        from trainers.learn.settings import LoRASettings

        return LoRASettings(
            rank=self.lora_rank,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            target_modules=tuple(self.lora_target_modules),
        )


@dataclass
class LeagueSettings:
    """Who the learner meets: bots, matchmaking, snapshots, evaluation games."""

    bots: tuple[str, ...] = ("random", "strong")
    """Scripted bots that join the league as opponents (adversarial modes)."""
    partners: tuple[str, ...] = ()
    """Cooperative and mixed modes: scripted bots that play beside the learner, one of them in
    one seat drawn at random, in a share of the training games (`partner_share`), so each seat
    learns from a partner that plays the game's convention (`strong`: the signal game's category
    speaker and listener) instead of from an untrained adapter. Evaluation games never have one."""
    partner_share: float = 0.5
    """With `partners`: the share of the first iteration's training games that have a partner."""
    partner_share_end: float | None = None
    """With `partners`: the share at the last iteration, reached linearly (0: the run ends in
    pure self-play); None: `partner_share` throughout."""
    matchmaking: str = "pfsp"
    """uniform | self_play | pfsp | exploiter."""
    snapshot_every: int = 5
    """Freeze the learner as a league opponent every K updates."""
    max_snapshots: int = 4
    """Frozen snapshots kept in the league (the oldest is evicted)."""
    eval_every: int = 5
    """Play evaluation games against every bot every K iterations (0: never)."""
    eval_games: int = 8
    """Games per bot in each evaluation."""
    final_eval_games: int = 0
    """Games per bot at step 0 (the untrained adapter) and after the last iteration, where a
    reader compares the two: about 100 gives a 95% interval of +-0.1 (0: `eval_games`)."""
    eval_temperature: float | None = None
    """Sampling temperature of the learner in evaluation games; None: the training temperature.
    0 evaluates the greedy policy (the deterministic policy, as Stable-Baselines3's
    `evaluate_policy` does by default): right for games with a best move (the quiz), wrong for
    games whose equilibria are mixed (Kuhn poker, RPS), where greedy play is exploitable."""


@dataclass
class RunConfig:
    """How long, where, and how the run is kept."""

    iterations: int = 30
    """Training iterations (rollout + update + publish)."""
    seed: int = 0
    """Seed of every random number generator of the run."""
    runs_dir: str = "runs"
    """Folder that holds the run directories."""
    checkpoint_every: int = 5
    """Write a checkpoint every K iterations (and after the last)."""
    keep_checkpoints: int = 3
    """Checkpoints kept (the oldest are removed)."""
    resume: str | None = None
    """Run directory to resume from its last checkpoint ('auto': newest run of this experiment)."""
    transcript_every: int = 5
    """Log a sample transcript to TensorBoard every K iterations."""
    progress: bool = True
    """Show a progress bar."""
    verbose: bool = False
    """Show every log line (vLLM's included) on the console; by default they go to train.log."""
    debug: bool = False
    """On an error, show the full traceback instead of one line."""


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
        unknown = set(flat) - set(where)
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
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
        """The config of a flat dict (e.g. `config.json`; unknown keys are ignored), validated."""
        where = cls.field_groups()
        known = {k: v for k, v in data.items() if k in where}
        for key in _tuple_fields():
            if key in known and known[key] is not None:
                known[key] = tuple(known[key])
        cfg = cls.build(**known)
        cfg.validate()
        return cfg

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming what to fix; run once, when a run starts."""
        import envs

        game, learn = self.game, self.learn
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
        if game.share not in SHARES:
            raise ConfigError(f"unknown share {game.share!r}; choose one of {', '.join(SHARES)}")
        if not 0 <= game.mix_start <= 1 or not 0 <= game.mix_end <= 1:
            raise ConfigError("mix_start and mix_end must lie in [0, 1]")
        self._validate_counts()
        if self.serving.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.serving.backend!r}; choose one of {BACKENDS}")
        self._validate_serving()
        if learn.advantage not in ADVANTAGES:
            raise ConfigError(f"unknown advantage {learn.advantage!r}; choose one of {ADVANTAGES}")
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
        learn.learner_config(self.rollout.temperature)  # the learner's own checks, now
        learn.lora_settings()

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
        from trainers.league.matchmaking import MATCHMAKERS

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
        if league.matchmaking not in MATCHMAKERS:
            raise ConfigError(
                f"unknown matchmaking {league.matchmaking!r}; choose one of "
                f"{', '.join(MATCHMAKERS)}"
            )
        if league.eval_temperature is not None and not league.eval_temperature >= 0:
            raise ConfigError(f"eval_temperature must be >= 0, got {league.eval_temperature}")


def _tuple_fields() -> set[str]:
    """Flat names of the tuple-typed fields (json gives lists back)."""
    return {
        f.name
        for group in fields(TrainerConfig)
        for f in fields(group.default_factory)
        if str(f.type).startswith("tuple")
    }
