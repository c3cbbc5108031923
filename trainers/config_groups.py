"""The groups of `TrainerConfig`, one per part of the loop, and the choices of its choice fields.

A choice field is typed as a `Literal`, so that `--help` lists the choices and tyro refuses any
other. Where a registry holds the choices (`trainers.league.modes.MODES`, `SHARES`,
`trainers.league.matchmaking.MATCHMAKERS`, `trainers.learn.estimators.ESTIMATORS`,
`agents.serving.BACKENDS`, `trainers.league.mix_control.MIX_CONTROLS`), a unit test keeps the
`Literal` equal to it. The learner's own fields are inherited from `trainers.learn.settings`,
where each is defined once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from trainers.learn.settings import LearnerConfig, LearnerOptions, LoRAOptions, LoRASettings

__all__ = [
    "AdvantageName",
    "BackendName",
    "EngineDtype",
    "GameConfig",
    "LeagueSettings",
    "LearnConfig",
    "MatchmakerName",
    "MixControlName",
    "ModeName",
    "RolloutConfig",
    "RunConfig",
    "ServingConfig",
    "ShareName",
]

ModeName = Literal["cooperative", "competitive", "team_battle", "mixed"]
ShareName = Literal["all", "team", "role", "agent"]
BackendName = Literal["vllm", "hf", "remote"]
EngineDtype = Literal["auto", "float16", "bfloat16", "float32"]
AdvantageName = Literal["role_ema", "decision_ema", "decision_q", "group", "turn_ema"]
MatchmakerName = Literal["uniform", "self_play", "pfsp", "exploiter", "psro"]
MixControlName = Literal["schedule", "adaptive"]


@dataclass
class GameConfig:
    """What to play, and who shares an adapter."""

    experiment: str = "team_battle"
    """Name of the run (first part of the run directory name)."""
    env_id: str = "team_quiz_v0"
    """Registered env id (see `envs.list_envs()`)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra env arguments, e.g. {"rounds": 3}."""
    mode: ModeName = "team_battle"
    """Payoff: cooperative (everyone gets the group's score), competitive (zero-sum), team_battle
    (teammates share, teams zero-sum) or mixed (own and group score mixed by l). In competitive
    and team_battle the league fills the other sides; otherwise the learner fills every seat."""
    share: ShareName = "team"
    """Who shares an adapter: all (one adapter), team (one per team), role (one per position in
    a team, across teams) or agent (one per agent)."""
    mix_start: float = 1.0
    """Mixed mode: payoff mix l at the first iteration (1 = selfish)."""
    mix_end: float = 0.5
    """Mixed mode: payoff mix l at the last iteration."""
    mix_control: MixControlName = "schedule"
    """Mixed mode: how l moves. schedule: linearly from mix_start to mix_end; adaptive: from
    mix_start, between mix_start and mix_end, toward shared when the family splits (its
    cooperators exploited by its defectors) or the group score falls or stays flat in mutual
    defection, each change beyond the measurements' noise (`trainers.league.mix_control`)."""


@dataclass
class ServingConfig:
    """The base model and the policy server that plays it."""

    model: str = "default"
    """Base model: Hugging Face id, local folder, 'default' (embedded SmolLM2-135M) or 'tiny'."""
    backend: BackendName = "vllm"
    """Policy server backend: vllm (batched engine), hf (transformers, slow reference) or remote
    (servers started with `python -m agents.serving`, at base_url)."""
    base_url: tuple[str, ...] = ()
    """backend=remote: the server's URL, e.g. http://127.0.0.1:8000 (in Ray mode one per rollout
    worker). The server must serve the same model and see the run's machine's disk (adapters
    are published through its adapter store)."""
    dtype: EngineDtype = "auto"
    """Engine dtype (auto: the model's own)."""
    max_model_len: int = 2048
    """Longest chat (tokens) an agent may build in one episode."""
    memory_budget_gb: float | None = None
    """Memory the run may use (default: the machine's total); sizes the KV cache."""
    kv_cache_gib: float | None = None
    """vLLM KV cache on CPU (GiB); default: a quarter of the budget, at most 4 and at most what
    256 sequences of max_model_len tokens fill."""
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
    """Decode moves constrained to the legal moves when the env lists them, and in a free-form
    phase to its move format when the game gives one (a regular expression, e.g. `[say ...]`)."""
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


@dataclass(frozen=True)  # frozen like the learner's bases it inherits (dataclasses require it)
class LearnConfig(LearnerOptions, LoRAOptions):
    """How the adapters learn: LoRA shape, optimizer, loss, advantages, adaptive control.

    The LoRA and optimizer fields are the learner's own (`trainers.learn.settings`):
    `lora_settings()` and `learner_config()` hand them over."""

    lr_decay_start: float = 1.0
    """Fraction of the run's iterations after which the lr falls linearly to 1/remaining at
    the last (`trainers.learn.step.lr_decay_factor`): a self-play policy that found a good
    strategy stops being pushed around by its targets' noise. 1: constant lr."""
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
    adaptive: bool = True
    """Adapt learning rate and KL coefficient per adapter from reward trend and KL."""
    kl_target: float = 0.05
    """Per-token KL the adaptive controller aims at."""
    advantage: AdvantageName = "role_ema"
    """role_ema (SPIRAL's per-role EMA baseline), decision_ema (an EMA per role and decision
    state, i.e. per identical chat so far, falling back to the role's: for games whose decisions
    repeat, like Kuhn poker's 12 information sets), decision_q (the same baseline, and the
    return replaced by the running mean return of the same move from the same state once known:
    a tabular critic: lower variance, biased while the policy moves), group (mean of the
    iteration's group) or turn_ema (each turn scored by its own return-to-go with `gamma`, minus
    an EMA per role and turn index: for games that score as they go, like team_quiz)."""
    baseline_by_opponent: bool = False
    """Keep the advantage baselines per opponent too: each role's baseline is split by who
    fills the game's other seats (a partner bot, a snapshot, the learner's own family), so a
    game against always-defect is scored against other such games, not against the pair's
    cooperative returns. Who plays is fixed before the game, so the baseline stays unbiased;
    with a mix of partners the scripted ones' returns stop setting the sign of the pair's.
    The opponent is the player id, so each snapshot (`main@v5`) starts a baseline of its own.
    The per-state critic (decision_ema, decision_q) and its targets use the same keys."""
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

    def learner_config(self, temperature: float, device: str | None = None) -> LearnerConfig:
        """The `LearnerConfig` of these fields (validated there)."""
        options = {f.name: getattr(self, f.name) for f in fields(LearnerOptions)}
        return LearnerConfig(**options, temperature=temperature, device=device)

    def lora_settings(self) -> LoRASettings:
        """The `LoRASettings` of the `lora_*` fields (validated there)."""
        return LoRASettings(**{f.name: getattr(self, f.name) for f in fields(LoRAOptions)})


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
    matchmaking: MatchmakerName = "pfsp"
    """How opponents are drawn from the league (`trainers.league.matchmaking`): uniform (any
    player), self_play (the learner itself, sometimes a snapshot), pfsp (AlphaStar's prioritised
    fictitious self-play), exploiter (AlphaStar's main exploiter) or psro (the meta-solver's Nash
    over the other players' empirical game: for a population, whose members play each other)."""
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
    population: int = 1
    """Learners trained at once (adversarial modes): members main0..main{N-1}, every member's
    adapters in the one learner and engine, each member `games_per_iteration` games per
    iteration against the least-met other members first, then matchmade from the league
    (`trainers.league.members`); a meta-solver (alpha-rank, and Nash for two sides) over the
    members and their snapshots each iteration. 1: the single learner `main`."""
    pbt_every: int = 0
    """With population > 1: population-based training every K iterations: a member rated
    clearly below the top (openskill intervals apart) becomes a copy of a better one (weights,
    optimizer state) with its lr and kl_coef perturbed (`trainers.league.pbt`). 0: off."""
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
