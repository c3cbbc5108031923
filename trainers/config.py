"""`TrainerConfig`: everything a self-play run needs, validated at start with messages that say what
to fix. Experiments (`experiments/*.py`) build one from their own CLI dataclass."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from trainers.modes import SHARES, get_mode

ADVANTAGES = ("role_ema", "decision_ema", "decision_q", "group")
BACKENDS = ("vllm", "hf")


@dataclass
class TrainerConfig:
    # ---- what to play
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
    # ---- model and serving
    model: str = "default"
    """Base model: Hugging Face id, local folder, 'default' (embedded SmolLM2-135M) or 'tiny'."""
    backend: str = "vllm"
    """Policy server backend: vllm (batched engine) or hf (transformers, slow reference)."""
    dtype: str = "auto"
    """Engine dtype (auto: the model's own)."""
    learner_dtype: str = "bfloat16"
    """Learner compute dtype: bfloat16 (autocast; about 2x faster than float32 on a CPU with
    AVX512-bf16, weights and optimizer stay float32) or float32."""
    max_model_len: int = 2048
    """Longest chat (tokens) an agent may build in one episode."""
    memory_budget_gb: float | None = None
    """Memory the run may use (default: the machine's total); sizes the KV cache."""
    kv_cache_gib: float | None = None
    """vLLM KV cache on CPU (GiB); default: a quarter of the budget, at most 4."""
    max_loras: int = 8
    """Adapters in one engine batch."""
    # ---- rollout
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
    bots: tuple[str, ...] = ("random", "strong")
    """Scripted bots that join the league as opponents (adversarial modes)."""
    # ---- learning
    iterations: int = 30
    """Training iterations (rollout + update + publish)."""
    lora_rank: int = 16
    lora_alpha: int = 32
    lr: float = 2e-4
    """AdamW learning rate (scaled per adapter by the adaptive controller)."""
    loss: str = "ppo_clip"
    """Policy loss: reinforce | ppo_clip | decoupled_ppo."""
    clip_eps: float = 0.2
    kl_coef: float = 0.02
    """Initial KL penalty to the base model (adapted when `adaptive` is on)."""
    kl_target: float = 0.05
    """Per-token KL the adaptive controller aims at."""
    adaptive: bool = True
    """Adapt learning rate and KL coefficient per adapter from reward trend and KL."""
    advantage: str = "role_ema"
    """role_ema (SPIRAL's per-role EMA baseline), decision_ema (an EMA per role and decision
    state, i.e. per identical chat so far, falling back to the role's: for games whose decisions
    repeat, like Kuhn poker's 12 information sets), decision_q (the same baseline, and the
    return replaced by the running mean return of the same move from the same state once known:
    a tabular critic: lower variance, biased while the policy moves) or group (mean of the
    iteration's group)."""
    entropy_coef: float = 0.0
    """Entropy bonus on the move distribution (masked to the legal moves when `constrained`;
    without constraints it spreads mass over the whole vocabulary, i.e. over invalid moves):
    keeps mixed strategies mixed (Kuhn poker's equilibrium bluffs and calls at fixed odds)."""
    micro_batch_size: int = 8
    async_rollout: bool = False
    """Play the next iteration's games while the learner trains on this one (AReaL-style; the
    games then use weights one version old: pair it with loss=decoupled_ppo). Off by default
    until it is shown to learn as well as the synchronous loop."""
    q_target_coef: float = 0.0
    """With advantage=decision_q: weight of a cross-entropy pulling each visited state's move
    distribution toward softmax(Q / q_target_temperature) of the critic's move values (soft
    policy improvement; see `trainers.targets`). 0: off."""
    q_target_temperature: float = 0.2
    """Temperature of those targets (in reward units): lower is closer to a best response."""
    # ---- league
    matchmaking: str = "pfsp"
    """uniform | self_play | pfsp | exploiter."""
    snapshot_every: int = 5
    """Freeze the learner as a league opponent every K updates."""
    max_snapshots: int = 4
    eval_every: int = 5
    """Play evaluation games against every bot every K iterations (0: never)."""
    eval_games: int = 8
    # ---- run
    seed: int = 0
    runs_dir: str = "runs"
    checkpoint_every: int = 5
    keep_checkpoints: int = 3
    resume: str | None = None
    """Run directory to resume from its last checkpoint ('auto': newest run of this experiment)."""
    transcript_every: int = 5
    """Log a sample transcript to TensorBoard every K iterations."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        self.bots = tuple(self.bots)
        self.validate()

    def validate(self) -> None:
        import envs

        if self.env_id not in envs.list_envs():
            raise ValueError(
                f"unknown env_id {self.env_id!r}; registered envs: {', '.join(envs.list_envs())}"
            )
        mode = get_mode(self.mode)
        supported = envs.spec(self.env_id).payoffs
        if mode.payoff not in supported:
            raise ValueError(
                f"mode {self.mode!r} needs payoff {mode.payoff!r}, which {self.env_id} does not "
                f"support (it supports {', '.join(supported)}); pick another env or mode"
            )
        if self.share not in SHARES:
            raise ValueError(f"unknown share {self.share!r}; choose one of {', '.join(SHARES)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {BACKENDS}")
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"unknown advantage {self.advantage!r}; choose one of {ADVANTAGES}")
        for name in ("games_per_iteration", "iterations", "max_new_tokens", "lora_rank"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.mix_start <= 1 or not 0 <= self.mix_end <= 1:
            raise ValueError("mix_start and mix_end must lie in [0, 1]")
        if self.async_rollout and self.loss != "decoupled_ppo":
            import logging

            logging.getLogger(__name__).warning(
                "async_rollout trains on samples one version old: loss=decoupled_ppo corrects "
                "for that, %s does not",
                self.loss,
            )
        if not (math.isfinite(self.entropy_coef) and self.entropy_coef >= 0):
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef}")
        if self.q_target_coef < 0 or not self.q_target_temperature > 0:
            raise ValueError("q_target_coef must be >= 0 and q_target_temperature > 0")
        if self.q_target_coef > 0 and (self.advantage != "decision_q" or not self.constrained):
            raise ValueError(
                "q_target_coef needs the critic of advantage='decision_q' and constrained "
                "moves (its targets are over the legal moves)"
            )
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for policy-gradient training")
        try:  # the env itself checks its kwargs (team sizes, rounds...) with its own message
            envs.make(self.env_id, payoff=mode.payoff, **self.env_kwargs)
        except (TypeError, ValueError) as e:
            raise ValueError(f"env_kwargs {self.env_kwargs} do not fit {self.env_id}: {e}") from e
        from agents.scripted import bot_kinds

        unknown = set(self.bots) - set(bot_kinds(self.env_id))
        if unknown:
            raise ValueError(
                f"no bots {sorted(unknown)} for {self.env_id}; it has {bot_kinds(self.env_id)}"
            )
        from trainers.algorithms import LOSSES
        from trainers.matchmaking import MATCHMAKERS

        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.matchmaking not in MATCHMAKERS:
            raise ValueError(
                f"unknown matchmaking {self.matchmaking!r}; choose one of {', '.join(MATCHMAKERS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bots"] = list(self.bots)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "bots" in known:
            known["bots"] = tuple(known["bots"])
        return cls(**known)
