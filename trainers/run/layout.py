"""The files a run writes: one source of truth for the trainer, the report and the notebook.

    runs/<experiment>__<seed>__<YYYYmmdd-HHMMSS>/
        lora_league_run.json       marker: this folder is a run, and its identity (env, mode, ...)
        .lock                      held (flock) by the trainer writing the run
        train.log                  everything the console does not show (engine, libraries)
        events.out.tfevents.*      TensorBoard scalars (tags below) and text (transcripts, config)
        config.json                the full config of the run
        metrics.jsonl              one json object per iteration: {"step": N, "<tag>": value, ...}
        matches.csv                one row per agent per episode (MATCH_COLUMNS)
        league.json                {"league": League json,
                                    "ratings": {"elo": {player: x},
                                                "openskill": {player: {mu, sigma, ordinal}}},
                                    "payoff": {"players": [...], "win_rate": [[...]] | null},
                                    with --population N > 1 also
                                    "population": {"members", "hyperparameters"},
                                    "meta": {solver: {"solver", "probabilities"}},
                                    "lineage": {"format", "records": [...]}}
        run_report.json            summary: players, ratings, win rates, performance, paths
        checkpoints/step_N/        learner/ (`trainers.learn.state`: adapters/<name>/ as peft
                                   safetensors, optimizer/<name>.safetensors, learner.json),
                                   snapshots/<name>@v<K>/, league.json, rng.json,
                                   rng_torch.safetensors, trainer_state.json, config.json,
                                   performance_metrics.json, COMPLETE (written last: the step
                                   and the size and sha256 of every file, checked on resume)
        visualization_outputs/     PNG figures written by `python -m experiments.report`

All files are written atomically (temp file + rename): a killed run never leaves a half-written one.
Temp files and folders start with `.tmp-` and are removed by the next run; the append-only logs
(metrics.jsonl, matches.csv) are cut back to the checkpoint's step on resume.
"""

from __future__ import annotations

RUN_MARKER = "lora_league_run.json"
LOG = "train.log"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
MATCHES = "matches.csv"
LEAGUE = "league.json"
RUN_REPORT = "run_report.json"
CHECKPOINTS = "checkpoints"
FIGURES = "visualization_outputs"

# Run directory name: <experiment>__<seed>__<time>, the time in RUN_TIME_FORMAT.
RUN_NAME_SEP = "__"
RUN_TIME_FORMAT = "%Y%m%d-%H%M%S"

# Inside checkpoints/step_N/ (STEP_PREFIX + N).
STEP_PREFIX = "step_"
LEARNER = "learner"  # the learner's own folder (`trainers.learn.state`)
SNAPSHOTS = "snapshots"  # frozen league versions, `<adapter>@v<K>/` peft folders
ADAPTERS = "adapters"
OPTIMIZER = "optimizer"
RNG = "rng.json"
RNG_TORCH = "rng_torch.safetensors"
TRAINER_STATE = "trainer_state.json"
PERFORMANCE = "performance_metrics.json"
#: Marker file written last: a step folder without it is not a checkpoint.
COMPLETE = "COMPLETE"

MATCH_COLUMNS = (
    "step",  # training iteration
    "env_id",
    "episode",  # running episode number in the run
    "seed",
    "payoff",
    "mix",
    "agent",  # env agent name, e.g. red_0
    "player",  # league player id, e.g. red, red@v3, bot:strong
    "team",
    "learning",  # 1 if this seat trained an adapter
    "return",  # episode return under the payoff
    "raw_score",
    "invalid_moves",
    "moves",  # actions submitted, valid or not
    "won",  # 1 win, 0 loss, 0.5 draw (team-level)
    "truncated",
)

# TensorBoard tag prefixes (CleanRL-style namespaces). Per-player tags end in /<player>.
TAG_RETURN = "charts/episode_return"
TAG_WIN_RATE = "charts/win_rate"
TAG_INVALID_RATE = "charts/invalid_move_rate"
TAG_TEAM_WIN_RATE = "charts/team_win_rate"
TAG_TASK_COMPLETION = "charts/task_completion_rate"
TAG_COOPERATION = "charts/cooperation_score"
TAG_EPISODES_PER_S = "charts/episodes_per_s"
TAG_TOKENS_PER_S = "charts/rollout_tokens_per_s"
TAG_LEARNER_TOKENS_PER_S = "charts/learner_tokens_per_s"
#: Positions the learner's body ran per second, padding included, a shared prefix once.
TAG_LEARNER_BODY_TOKENS_PER_S = "charts/learner_body_tokens_per_s"
TAG_POLICY_LOSS = "losses/policy_loss"
TAG_KL = "losses/kl"
TAG_CLIP_FRACTION = "losses/clip_fraction"
TAG_ENTROPY = "losses/entropy"
TAG_LR = "losses/learning_rate"
TAG_KL_COEF = "losses/kl_coef"
TAG_Q_TARGETS = "losses/q_target_samples"  # cross-entropy samples toward move-value targets
TAG_TRUST_KL = "losses/trust_kl"  # the policy change an update kept (`trust_region_kl`)
TAG_TRUST_KL_FULL = "losses/trust_kl_full"  # ... and the optimizer's full step would have made
TAG_TRUST_ALPHA = "losses/trust_alpha"  # the share of the full step kept
TAG_ELO = "league/elo"
TAG_OPENSKILL = "league/openskill_ordinal"
TAG_PLAYERS = "league/players"
TAG_WEIGHT_UPDATES = "league/weight_updates"
TAG_PUBLISH_MS = "league/publish_latency_ms"
TAG_META = "league/meta"  # league/meta/<solver>/<player>: a population's meta-strategies
TAG_PBT = "pbt"  # pbt/<hyperparameter>/<member>, pbt/copies: population-based training
TAG_TIME = "time"  # time/<phase>: seconds of each phase of an iteration (trainers.run.timing)
TAG_CPU = "system/cpu_percent"
TAG_RSS = "system/memory_rss_gb"
TAG_MEM_PERCENT = "system/memory_percent"
TAG_GPU_UTIL = "system/gpu_util_percent"
TAG_GPU_MEM = "system/gpu_memory_gb"
TAG_DISK_FREE = "system/disk_free_gb"
TEXT_TRANSCRIPT = "transcripts/sample"
TEXT_CONFIG = "hyperparameters"
TEXT_LINEAGE = "pbt/lineage"  # who copied whom in each PBT round
