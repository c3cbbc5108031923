"""`SelfPlayTrainer`: the league loop. One iteration:

matches  = matchmaking over the league        # who plays whom, on which seats
episodes = rollout.play(matches)              # many games at once, one engine call per tick
batch    = advantages(episodes)               # per-role baselines or group baselines
learner.update(batch)                         # every learning adapter on the one base model
publish  -> policy server                     # new adapter versions, served at once
league.record(episodes); snapshots; monitor   # ratings, payoff matrix, TensorBoard, checkpoint
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import envs
from agents.serving.types import SamplingSettings
from trainers.config import TrainerConfig
from trainers.episode import Episode
from trainers.league.modes import family_keys, get_mode, mix_at, share_key, sides
from trainers.league.population import League, LeagueConfig
from trainers.league.publishing import (
    LEARNER,
    AdapterFamily,
    adapter_ref,
    export_versions,
    import_versions,
)
from trainers.league.ratings import MatchRecord, elo_ratings, openskill_ratings
from trainers.learn.estimators import make_estimator
from trainers.rollout import MatchSpec, Rollout, Seat
from trainers.run import layout as rf
from trainers.run.io import TEMP_PREFIX, remove_directory
from trainers.run.metrics import cooperation_stats, match_rows, player_stats, team_win_rates

if TYPE_CHECKING:
    from trainers.run.console import Console

log = logging.getLogger(__name__)


class SelfPlayTrainer:
    def __init__(self, config: TrainerConfig, console: Console | None = None) -> None:
        config.validate()
        self.config = config
        self.mode = get_mode(config.game.mode)
        probe = envs.make(config.game.env_id, payoff=self.mode.payoff, **config.game.env_kwargs)
        probe.reset(seed=0)
        self.agents = list(probe.possible_agents)
        self.teams = {a: probe.infos[a]["team"] for a in self.agents}
        self.sides = sides(self.agents, self.teams)
        if self.mode.adversarial and len(self.sides) < 2:
            raise ValueError(
                f"{config.game.env_id} has one side only: mode {config.game.mode} needs two"
            )
        self.keys = family_keys(self.agents, self.teams, config.game.share)
        self.family = AdapterFamily(LEARNER, self.keys)
        self.adapters = self.family.names
        self.step = 0
        self.episodes_done = 0
        self.weight_updates = 0
        self.rng = np.random.default_rng(config.run.seed)
        from trainers.league.matchmaking import make_matchmaker

        self.matchmaker = make_matchmaker(config.league.matchmaking)
        self.server = None
        #: Where the user's output goes; None leaves stdout/stderr and logging as they are.
        self.console = console
        self.learner = None
        self.fleet = None  # Ray mode: trainers.distributed.cluster.Fleet

    # ------------------------------------------------------------------ setup
    def setup(self) -> Path:
        """Load the model, start the server and learner, open (or resume) the run directory."""
        from agents.models import resolve_model
        from trainers.run.checkpoint import CheckpointManager
        from trainers.run.guard import open_run
        from trainers.run.monitoring import RunMonitor
        from trainers.run.resources import plan_resources

        cfg = self.config
        self._seed_everything(cfg.run.seed)
        self.model_path = resolve_model(cfg.serving.model)
        # Every refusal (not a run, another setup, another trainer, unwritable) before the engine.
        self._run = open_run(
            cfg.to_dict(), cfg.run.runs_dir, cfg.game.experiment, cfg.run.seed, cfg.run.resume
        )
        self.run_dir = self._run.path
        if self.console is not None:
            self.console.attach(self.run_dir)
        self.plan = plan_resources(
            self.model_path,
            cfg.serving.memory_budget_gb,
            cfg.serving.kv_cache_gib,
            cfg.learn.micro_batch_size,
            cfg.serving.max_model_len,
            engine=cfg.serving.backend == "vllm",
        )
        if cfg.distributed.enabled:  # Ray: rollout workers and the learner as actors
            from trainers.distributed.launch import launch

            self.fleet = launch(self, self.run_dir / f"{TEMP_PREFIX}adapters-{os.getpid()}")
            self.server = self.fleet.server
            self.learner = self.fleet.learner or self._start_learner()
        else:
            self.server = self._start_server()
            self.learner = self._start_learner()
        self.league = League(
            LeagueConfig(
                snapshot_every=cfg.league.snapshot_every, max_snapshots=cfg.league.max_snapshots
            )
        )
        self.controllers = self._controllers()
        self.estimator = make_estimator(cfg.learn.advantage)
        self.checkpoints = CheckpointManager(self.run_dir, keep_last=cfg.run.keep_checkpoints)
        latest = self.checkpoints.resume_point() if self._run.resumed else None
        if latest is not None:
            self._restore(latest)
        else:
            self._fresh_league()
        resume_step = None if not self._run.resumed else (self.step if latest else -1)
        self.monitor = RunMonitor(self.run_dir, cfg.to_dict(), resume_step=resume_step)
        if latest is None:
            self.monitor.log_hparams(cfg.to_dict())
        self.rollout = self.fleet.rollout if self.fleet else Rollout(
            self.server,
            cfg.game.env_id,
            cfg.game.env_kwargs,
            self.mode.payoff,
            SamplingSettings(
                temperature=cfg.rollout.temperature, max_tokens=cfg.rollout.max_new_tokens
            ),
            cfg.rollout.constrained,
        )
        self.started = time.time()
        log.info("run directory: %s", self.run_dir)
        return self.run_dir

    def _seed_everything(self, seed: int) -> None:
        import torch

        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _start_server(self):
        from agents.serving import make_policy_server

        cfg = self.config
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "max_model_len": cfg.serving.max_model_len,
            # Published versions live in the run folder (a `.tmp-` name: removed at close, and by
            # the next start in this folder if a kill left it), never in the system temp dir.
            "store_dir": self.run_dir / f"{TEMP_PREFIX}adapters-{os.getpid()}",
        }
        if cfg.serving.backend == "remote":
            return make_policy_server("remote", base_url=cfg.serving.base_url[0], wait_ready=300)
        if cfg.serving.backend == "vllm":
            kwargs.update(
                dtype=cfg.serving.dtype,
                max_loras=max(cfg.serving.max_loras, len(self.adapters)),
                max_lora_rank=cfg.learn.lora_rank,
                kv_cache_gib=self.plan.kv_cache_gib,
                seed=cfg.run.seed,
            )
        return make_policy_server(cfg.serving.backend, **kwargs)

    def _start_learner(self):
        from trainers.learn.learner import Learner

        cfg = self.config
        return Learner(
            self.model_path,
            self.adapters,
            cfg.learn.lora_settings(),
            cfg.learn.learner_config(cfg.rollout.temperature, device=self.plan.device),
            seed=cfg.run.seed,
        )

    def _controllers(self) -> dict:
        from trainers.learn.algorithms import AdaptiveConfig, AdaptiveLoRAController

        if not self.config.learn.adaptive:
            return {}
        ac = AdaptiveConfig(
            kl_target=self.config.learn.kl_target, kl_coef=max(self.config.learn.kl_coef, 1e-4)
        )
        return {name: AdaptiveLoRAController(name, ac) for name in self.adapters}

    def _fresh_league(self) -> None:
        version = self.family.publish(self.server, self.learner.adapter_weights)
        self.league.add_learner(LEARNER, adapter=LEARNER, version=version)
        if self.mode.adversarial:
            for kind in self.config.league.bots:
                self.league.add_bot(f"bot:{kind}", kind)

    # ------------------------------------------------------------------ the loop
    def run(self, on_iteration: Callable[[dict[str, float]], None] | None = None) -> Path:
        """Iterate up to `config.run.iterations`, checkpointing on schedule; `on_iteration(metrics)`
        is called after each iteration (before its checkpoint), e.g. by a benchmark."""
        if self.server is None:
            self.setup()
        cfg = self.config
        stream = None if self.console is None else self.console.stream
        bar = _progress(cfg.run.iterations, self.step, cfg.run.progress, stream)
        try:
            while self.step < cfg.run.iterations:
                metrics = self.iteration()
                if on_iteration is not None:
                    on_iteration(metrics)
                bar.update(1)
                bar.set_postfix(_postfix(metrics))
                if self.step % cfg.run.checkpoint_every == 0 or self.step == cfg.run.iterations:
                    self.save_checkpoint()
        finally:
            bar.close()
        self.monitor.write_report(self.report())
        return self.run_dir

    def iteration(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        self.step += 1
        mix = mix_at(self.step - 1, cfg.run.iterations, cfg.game.mix_start, cfg.game.mix_end)
        if cfg.rollout.async_rollout:
            episodes = self._next_rollout(mix).result()
            if self.step < cfg.run.iterations:  # the next games play while this batch trains
                next_mix = mix_at(
                    self.step, cfg.run.iterations, cfg.game.mix_start, cfg.game.mix_end
                )
                self._pending = self._start_rollout(self.step + 1, next_mix)
        else:
            matches = self.make_matches(cfg.rollout.games_per_iteration)
            episodes = self.rollout.play(matches, step=self.step, mix=mix)
        rollout_s = time.perf_counter() - start
        self._record(episodes)
        learn = self._learn(episodes)
        publish_ms = self._publish_and_snapshot()
        evaluation = (
            self.evaluate()
            if cfg.league.eval_every and self.step % cfg.league.eval_every == 0
            else {}
        )
        metrics = self._metrics(episodes, learn, evaluation, mix, rollout_s, publish_ms)
        if self.monitor.system is not None:
            metrics.update(self.monitor.system.sample())
        self.monitor.log_scalars(self.step, metrics)
        if (
            cfg.run.transcript_every
            and self.step % cfg.run.transcript_every == 1 % cfg.run.transcript_every
        ):
            self.monitor.log_text(self.step, rf.TEXT_TRANSCRIPT, _transcript_md(episodes[0]))
        self._write_league()
        return metrics

    # ------------------------------------------------------------------ asynchronous rollout
    def _start_rollout(self, step: int, mix: float):
        """Matchmake now (main thread), play in the background with the versions served now."""
        from concurrent.futures import ThreadPoolExecutor

        if getattr(self, "_executor", None) is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout")
        matches = self.make_matches(self.config.rollout.games_per_iteration)
        return self._executor.submit(self.rollout.play, matches, step, mix)

    def _next_rollout(self, mix: float):
        pending = getattr(self, "_pending", None)
        self._pending = None
        return pending if pending is not None else self._start_rollout(self.step, mix)

    # ------------------------------------------------------------------ matchmaking
    def _seat(self, player_id: str, agent: str, learning: bool) -> Seat:
        player = self.league.get(player_id)
        if player.kind == "bot":
            return Seat(player_id, bot=player.bot)
        key = share_key(agent, self.teams[agent], self.config.game.share)
        ref = adapter_ref(player.adapter, key, player.version)
        return Seat(player_id, adapter=ref, learning=learning and player.kind == "learner")

    def _next_seed(self) -> int:
        self.episodes_done += 1
        return self.config.run.seed * 1_000_003 + self.episodes_done

    def make_matches(
        self, n: int, opponent: str | None = None, learning: bool = True
    ) -> list[MatchSpec]:
        """`n` matches: the learner on a random side against matchmade (or given) opponents."""
        matches = []
        for _ in range(n):
            seats = {}
            if not self.mode.adversarial:
                seats = {a: self._seat(LEARNER, a, learning) for a in self.agents}
            else:
                mine = int(self.rng.integers(len(self.sides)))
                others = [s for i, s in enumerate(self.sides) if i != mine]
                picks = (
                    [opponent] * len(others)
                    if opponent
                    else self.matchmaker.pick(self.league, LEARNER, len(others), self.rng)
                )
                for a in self.sides[mine]:
                    seats[a] = self._seat(LEARNER, a, learning)
                for side, pick in zip(others, picks, strict=True):
                    for a in side:
                        seats[a] = self._seat(pick, a, learning)
            matches.append(MatchSpec(self._next_seed(), seats))
        return matches

    def _record(self, episodes: Sequence[Episode]) -> None:
        first = self.episodes_done - len(episodes) + 1
        self.monitor.log_matches(match_rows(episodes, first))
        if not self.mode.adversarial:
            return
        for ep in episodes:
            by_team: dict[str, list[Any]] = defaultdict(list)
            for t in ep.trajectories.values():
                by_team[t.team].append(t)
            teams = tuple((trajs[0].player,) for trajs in by_team.values())
            scores = tuple(
                float(np.mean([t.episode_return for t in trajs])) for trajs in by_team.values()
            )
            self.league.record(MatchRecord(ep.env_id, teams, scores, step=self.step))

    # ------------------------------------------------------------------ learning
    def _learn(self, episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
        from trainers.learn.samples import samples_from_trajectories

        by_adapter: dict[str, list] = defaultdict(list)
        for ep in episodes:
            for t in ep.trajectories.values():
                if t.learning and t.turns and t.adapter is not None:
                    by_adapter[t.adapter[0]].append(t)
        stats = {}
        for name, trajs in sorted(by_adapter.items()):
            roles = [(t.adapter[0], t.agent) for t in trajs]
            estimate = self.estimator.estimate(trajs, roles)
            samples = samples_from_trajectories(trajs, estimate.advantages)
            if self.config.learn.q_target_coef > 0:  # config validation: a per-decision critic
                samples += self._target_samples(name, trajs, roles, estimate.states)
            ctrl = self.controllers.get(name)
            kl_coef = ctrl.kl_coef if ctrl else self.config.learn.kl_coef
            lr_scale = ctrl.lr_scale if ctrl else 1.0
            s = self.learner.update(name, samples, kl_coef=kl_coef, lr_scale=lr_scale)
            s["reward_mean"] = float(np.mean([t.episode_return for t in trajs]))
            if ctrl:
                for change in ctrl.step(s["reward_mean"], s.get("kl")):
                    log.info("adaptive LoRA: %s", change.to_dict())
                    self.monitor.log_text(self.step, "adaptive/changes", str(change.to_dict()))
            stats[name] = s
        return stats

    def _target_samples(self, adapter: str, trajs: list, roles: list, states: list) -> list:
        """Cross-entropy samples toward softmax(Q / temperature) at the states just visited
        (`trainers.learn.targets`), scored on-policy so that the PPO ratio starts at 1."""
        from trainers.learn.samples import TrainSample
        from trainers.learn.targets import decision_points, target_samples

        cfg = self.config
        points = decision_points(trajs, roles, states)
        samples = target_samples(
            points, self.estimator.critic, self.learner.tokenizer, cfg.learn.q_target_coef,
            cfg.learn.q_target_temperature,
        )  # fmt: skip
        if not samples:
            return []
        logps = self.learner.logprobs(adapter, samples)
        return [
            TrainSample(
                s.token_ids,
                (replace(s.turns[0], logprobs=tuple(lp.tolist())),),
                s.advantage,
            )
            for s, lp in zip(samples, logps, strict=True)
        ]

    def _publish_and_snapshot(self) -> float:
        if self.mode.adversarial and self.league.snapshot_due(LEARNER, self.step):
            result = self.league.add_snapshot(LEARNER, step=self.step)
            self.family.hold(self.server, result.player.version)
            for old in result.evicted:
                self.family.release(self.server, old.version, family=old.adapter)
        start = time.perf_counter()
        version = self.family.publish(self.server, self.learner.adapter_weights)
        self.league.set_version(LEARNER, version)
        self.weight_updates += 1
        return 1e3 * (time.perf_counter() - start)

    # ------------------------------------------------------------------ evaluation & metrics
    def evaluate(self) -> dict[str, float]:
        """Win rate of the current learner against each bot, in games that do not train."""
        out = {}
        for bot in self.league.bots():
            matches = self.make_matches(
                self.config.league.eval_games, opponent=bot.id, learning=False
            )
            episodes = self.rollout.play(matches, step=self.step)
            self._record(episodes)
            rates = team_win_rates(episodes, LEARNER)
            out[f"{rf.TAG_WIN_RATE}_eval/{bot.id}"] = rates.get(bot.id, float("nan"))
        return out

    def _metrics(self, episodes, learn, evaluation, mix, rollout_s, publish_ms) -> dict[str, float]:
        m: dict[str, float] = {}
        for player, s in player_stats(episodes).items():
            m[f"{rf.TAG_RETURN}/{player}"] = s["return"]
            m[f"{rf.TAG_INVALID_RATE}/{player}"] = s["invalid_rate"]
            if "win_rate" in s:
                m[f"{rf.TAG_WIN_RATE}/{player}"] = s["win_rate"]
        if self.mode.adversarial:
            for opp, rate in team_win_rates(episodes, LEARNER).items():
                m[f"{rf.TAG_TEAM_WIN_RATE}/{opp}"] = rate
        else:
            coop = cooperation_stats(episodes)
            m[rf.TAG_TASK_COMPLETION] = coop["task_completion_rate"]
            m[rf.TAG_COOPERATION] = coop["cooperation_score"]
        if self.mode.name == "mixed":
            m["charts/payoff_mix"] = mix
        m.update(evaluation)
        stats = self.rollout.stats
        m[rf.TAG_EPISODES_PER_S] = len(episodes) / rollout_s if rollout_s else 0.0
        m[rf.TAG_TOKENS_PER_S] = stats.tokens_per_s
        tokens = sum(s.get("sequence_tokens", 0.0) for s in learn.values())
        seconds = sum(s.get("seconds", 0.0) for s in learn.values())
        if seconds:
            m[rf.TAG_LEARNER_TOKENS_PER_S] = tokens / seconds
        for name, s in learn.items():
            m[f"{rf.TAG_POLICY_LOSS}/{name}"] = s.get("policy_loss", s.get("loss"))
            m[f"{rf.TAG_KL}/{name}"] = s.get("kl")
            m[f"{rf.TAG_CLIP_FRACTION}/{name}"] = s.get("clip_fraction")
            m[f"{rf.TAG_ENTROPY}/{name}"] = s.get("entropy")
            m[f"{rf.TAG_LR}/{name}"] = s["lr"]
            m[f"{rf.TAG_KL_COEF}/{name}"] = s["kl_coef"]
        versions = [
            t.adapter[1]
            for ep in episodes
            for t in ep.trajectories.values()
            if t.learning and t.adapter is not None
        ]
        if versions:  # learner versions behind the one the update started from
            m["charts/staleness"] = self.league.get(LEARNER).version - 1 - min(versions)
        m[rf.TAG_PUBLISH_MS] = publish_ms
        m[rf.TAG_WEIGHT_UPDATES] = self.weight_updates
        m[rf.TAG_PLAYERS] = len(self.league)
        if self.fleet is not None:
            m.update(self.fleet.metrics())
        for player, rating in self._ratings()["elo"].items():
            m[f"{rf.TAG_ELO}/{player}"] = rating
        return {k: float(v) for k, v in m.items() if v is not None}

    def _ratings(self) -> dict[str, dict]:
        """Elo and openskill over every record; recomputed only when the league has changed
        (the metrics, league.json and the report all ask for them each iteration)."""
        records = self.league.records
        players = list(self.league.players)
        key = (len(records), tuple(players))
        if getattr(self, "_ratings_cache", (None,))[0] == key:
            return self._ratings_cache[1]
        ratings = self._compute_ratings(records, players)
        self._ratings_cache = (key, ratings)
        return ratings

    @staticmethod
    def _compute_ratings(records, players) -> dict[str, dict]:
        if not records:
            return {"elo": {}, "openskill": {}}
        skill = openskill_ratings(records, players=players)
        return {
            "elo": elo_ratings(records, players=players),
            "openskill": {
                p: {"mu": r.mu, "sigma": r.sigma, "ordinal": r.ordinal} for p, r in skill.items()
            },
        }

    def _write_league(self) -> None:
        players = list(self.league.players)
        matrix = self.league.payoff_matrix(players) if self.league.records else None
        payoff = {
            "players": players,
            "win_rate": None
            if matrix is None
            else np.where(np.isnan(matrix), None, matrix).tolist(),
        }
        self.monitor.write_league(self.league.state_dict(), self._ratings(), payoff)

    def report(self) -> dict[str, Any]:
        from agents.models import describe_model

        ratings = self._ratings()
        stats = self.rollout.stats
        players = {}
        for pid, player in self.league.players.items():
            rate, games = self.league.win_rate_vs_league(pid)
            players[pid] = {
                "kind": player.kind,
                "elo": ratings["elo"].get(pid),
                "openskill": ratings["openskill"].get(pid, {}).get("ordinal"),
                "win_rate_vs_league": rate,
                "games": games,
            }
        publish = self.server.publish_seconds
        return {
            "experiment": self.config.game.experiment,
            "env_id": self.config.game.env_id,
            "mode": self.config.game.mode,
            "seed": self.config.run.seed,
            "model": str(self.model_path),
            "model_info": describe_model(self.model_path),
            "device": self.plan.device,
            "run_dir": str(self.run_dir),
            "iterations": self.step,
            "episodes": self.episodes_done,
            "weight_updates": self.weight_updates,
            "players": players,
            "performance": {
                "rollout_tokens_per_s": stats.tokens_per_s,
                "games_per_s": stats.games / stats.seconds if stats.seconds else 0.0,
                "mean_llm_batch": float(np.mean(stats.per_call_batch))
                if stats.per_call_batch
                else 0,
                "publish_latency_ms_mean": 1e3 * float(np.mean(publish)) if publish else None,
                "wall_seconds": time.time() - self.started,
            },
        }

    # ------------------------------------------------------------------ state and checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The loop's own state (counters, served version) and its stateful parts' that share
        `trainer_state.json`: adaptive controllers and the advantage estimator."""
        return {
            "step": self.step,
            "episodes_done": self.episodes_done,
            "weight_updates": self.weight_updates,
            "version": self.league.get(LEARNER).version,
            "controllers": {n: c.state_dict() for n, c in self.controllers.items()},
            "baselines": self.estimator.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.episodes_done = int(state["episodes_done"])
        self.weight_updates = int(state["weight_updates"])
        for name, ctrl_state in state["controllers"].items():
            if name in self.controllers:
                self.controllers[name].load_state_dict(ctrl_state)
        self.estimator.load_state_dict(state.get("baselines"))

    def save_checkpoint(self) -> Path:
        """`checkpoints/step_N/`: the union of the parts' state dicts (see `trainers.run.layout`),
        the learner's weights and the frozen versions the server still serves."""
        snapshots = [
            ref for p in self.league.snapshots() for ref in self.family.refs(p.version, p.adapter)
        ]

        def write(folder: Path) -> None:
            self.learner.save(folder / rf.LEARNER)
            export_versions(self.server, snapshots, folder / rf.SNAPSHOTS)

        path = self.checkpoints.save(
            self.step,
            write,
            json_files={
                rf.TRAINER_STATE: self.state_dict(),
                rf.LEAGUE: self.league.state_dict(),
                rf.CONFIG: self.config.to_dict(),
                rf.PERFORMANCE: self.report()["performance"],
            },
            generators={"matchmaking": self.rng},
        )
        self.monitor.flush()  # rows up to this checkpoint now survive a kill
        return path

    def _restore(self, folder: Path) -> None:
        from trainers.run.checkpoint import load_json, restore_rng

        self.learner.load(folder / rf.LEARNER)
        self.league.load_state_dict(load_json(folder, rf.LEAGUE))
        # The server is new: publish the frozen versions first (in order, under their old
        # numbers, held as the league holds them), then the learner's current weights.
        import_versions(self.server, folder / rf.SNAPSHOTS)
        state = load_json(folder, rf.TRAINER_STATE)
        self.family.publish(self.server, self.learner.adapter_weights, version=state["version"])
        self.load_state_dict(state)
        restore_rng(folder, {"matchmaking": self.rng})
        self.checkpoints.discard_after(self.step)
        log.info("resumed from %s (step %d)", folder, self.step)

    def close(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if getattr(self, "monitor", None) is not None:
            self.monitor.close()
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.fleet is not None:  # the learner actor, placement group, a local cluster
            self.fleet.close()
            self.fleet = None
        run = getattr(self, "_run", None)
        if run is not None:
            remove_directory(self.run_dir / f"{TEMP_PREFIX}adapters-{os.getpid()}")
            run.lock.release()


def _progress(total: int, initial: int, enabled: bool, stream=None):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="iterations",
        unit="it",
        disable=not enabled,
        file=stream,
        ncols=80,  # the bar and its postfix fit an 80-column terminal
    )


def _postfix(metrics: dict[str, float]) -> dict[str, str]:
    shown = {}
    for key, label in ((f"{rf.TAG_RETURN}/{LEARNER}", "return"), (rf.TAG_COOPERATION, "coop")):
        if key in metrics:
            shown[label] = f"{metrics[key]:.3f}"
    rates = [v for k, v in metrics.items() if k.startswith(rf.TAG_TEAM_WIN_RATE)]
    if rates:
        shown["win"] = f"{np.mean(rates):.2f}"
    return shown


def _transcript_md(episode: Episode) -> str:
    players = ", ".join(f"{a}: {t.player}" for a, t in episode.trajectories.items())
    body = "\n".join(f"    {line}" for line in episode.transcript.splitlines())
    return f"**{episode.env_id}** seed {episode.seed} ({players})\n\n{body}"


def format_summary(report: dict[str, Any]) -> str:
    """The table printed at the end of a run."""
    lines = [f"{'player':<24}{'kind':<10}{'elo':>8}{'openskill':>11}{'win rate':>10}{'games':>7}"]
    for pid, p in sorted(report["players"].items(), key=lambda kv: -(kv[1]["elo"] or 0)):
        elo = f"{p['elo']:.0f}" if p["elo"] is not None else "-"
        skill = f"{p['openskill']:.2f}" if p["openskill"] is not None else "-"
        lines.append(
            f"{pid:<24}{p['kind']:<10}{elo:>8}{skill:>11}{p['win_rate_vs_league']:>10.2f}"
            f"{p['games']:>7}"
        )
    perf = report["performance"]
    lines.append(
        f"rollout {perf['rollout_tokens_per_s']:.0f} tok/s, {report['episodes']} episodes, "
        f"{report['weight_updates']} weight updates, {perf['wall_seconds']:.0f} s"
    )
    lines.append(f"run directory: {report['run_dir']}")
    return "\n".join(lines)
