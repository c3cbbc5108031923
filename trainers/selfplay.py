"""`SelfPlayTrainer`: the league loop, PSRO-style. One `iteration()`:

    episodes = self.play(mix)          # fixtures over the league, many games at once
    self.update_league(episodes)       # match records -> payoff matrix and ratings
    learn = self.learn(episodes)       # advantages, then one update per learning adapter
    self.publish()                     # new adapter versions served; snapshots held
    self.log(...)                      # TensorBoard, league.json

Everything else here is wiring: the parts live in `trainers.learn` (learner, `LearnStep`),
`trainers.league` (league, fixtures, publishing) and `trainers.run` (checkpoints, monitoring).
A checkpoint is the union of the parts' state dicts (`trainers.checkpointing`).
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import envs
from agents.serving.types import SamplingSettings
from trainers import checkpointing
from trainers.config import TrainerConfig
from trainers.episode import Episode
from trainers.intervals import WinRate
from trainers.league.evaluation import custom_scalar_layout, eval_scalars, play_groups
from trainers.league.fixtures import Fixtures
from trainers.league.members import Population
from trainers.league.mix_control import (
    TEXT_MIX_DECISIONS,
    family_games,
    make_mix_control,
    mix_signals,
)
from trainers.league.mode_eval import make_mode_evaluation
from trainers.league.modes import family_keys, get_mode, mix_at
from trainers.league.population import League, LeagueConfig
from trainers.league.publishing import LEARNER
from trainers.league.ratings import MatchRecord
from trainers.learn.step import LearnStep, lr_decay_factor
from trainers.rollout import MatchSpec, Rollout
from trainers.run import layout as rf
from trainers.run.console import progress_bar
from trainers.run.guard import ADAPTER_STORE_PREFIX
from trainers.run.io import remove_directory
from trainers.run.metrics import match_rows
from trainers.run.scalars import (
    IterationFacts,
    format_summary,
    iteration_scalars,
    postfix,
    transcript_md,
)
from trainers.run.timing import PhaseTimer
from trainers.startup import start_learner, start_server

if TYPE_CHECKING:
    from trainers.run.console import Console

log = logging.getLogger(__name__)

__all__ = ["LEARNER", "SelfPlayTrainer", "format_summary"]


class SelfPlayTrainer:
    def __init__(self, config: TrainerConfig, console: Console | None = None) -> None:
        from trainers.league.matchmaking import make_matchmaker

        config.validate()
        self.config = config
        game = config.game
        self.mode = get_mode(game.mode)
        probe = envs.make(game.env_id, payoff=self.mode.payoff, **game.env_kwargs)
        probe.reset(seed=0)
        self.agents = list(probe.possible_agents)
        self.teams = {a: probe.infos[a]["team"] for a in self.agents}
        self.fixtures = Fixtures(
            self.agents, self.teams, game.share, self.mode.adversarial,
            make_matchmaker(config.league.matchmaking), config.run.seed,
            partners=config.league.partners,  # validated: cooperative and mixed modes only
        )  # fmt: skip
        if self.mode.adversarial and len(self.fixtures.sides) < 2:
            raise ValueError(f"{game.env_id} has one side only: mode {game.mode} needs two")
        keys = family_keys(self.agents, self.teams, game.share)
        #: The learners: `main`, or members main0.. (`--population`, `trainers.league.members`).
        self.population = Population(
            config.league.population, keys, config.league.pbt_every, config.run.seed,
            sides=len(self.fixtures.sides),
        )  # fmt: skip
        self.lead = self.population.lead
        self.family = self.population.families[self.lead]
        self.adapters = self.population.adapters
        self.step = 0
        self.weight_updates = 0
        self.server = None
        self.learner = None
        self.fleet = None  # Ray mode: trainers.distributed.cluster.Fleet
        #: Where the user's output goes; None leaves stdout/stderr and logging as they are.
        self.console = console
        self._reference: WinRate | None = None  # pooled result of the last evaluation
        #: Seconds per phase of each iteration (`time/<phase>` metrics, the closing summary).
        self.timer = PhaseTimer()
        #: Mixed mode's payoff mix l: the fixed schedule or the controller (`league.mix_control`).
        self.mix_control = make_mix_control(
            game.mix_control, game.mix_start, game.mix_end, config.run.iterations
        )
        #: The mode's own evaluation (exploitability, the pair alone, the dilemma panel).
        self.mode_eval = make_mode_evaluation(
            game.mode, game.env_id, game.env_kwargs, config.league.partners,
            config.league.population,
        )  # fmt: skip

    # ------------------------------------------------------------------ setup
    def setup(self) -> Path:
        """Load the model, start the server and learner, open (or resume) the run directory."""
        from agents.models import resolve_model
        from trainers.run.checkpoint import CheckpointManager, seed_everything
        from trainers.run.guard import open_run
        from trainers.run.monitoring import RunMonitor
        from trainers.run.resources import plan_resources

        cfg = self.config
        seed_everything(cfg.run.seed)
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
            from trainers.distributed.launch import RunFacts, launch

            facts = RunFacts(
                self.model_path, tuple(self.adapters), self.mode.payoff, self.plan.kv_cache_gib
            )
            self.fleet = launch(cfg, facts, self._store_dir)
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
        # Zero-sum self-play reward says nothing about the LR (see `algorithms.adaptive`).
        lr_signal = "reference" if self.mode.adversarial else "reward"
        self.learn_step = LearnStep(self.learner, cfg.learn, lr_signal)
        self.checkpoints = CheckpointManager(self.run_dir, keep_last=cfg.run.keep_checkpoints)
        resumed = self._run.resumed
        latest = checkpointing.resume_point(self.checkpoints, self.run_dir) if resumed else None
        if latest is not None:
            checkpointing.restore(self, latest)
        else:
            self._fresh_league()
        resume_step = (self.step if latest else -1) if resumed else None
        self.monitor = RunMonitor(self.run_dir, cfg.to_dict(), resume_step=resume_step)
        if latest is None:
            self.monitor.log_hparams(cfg.to_dict())
            figures = self.mode_eval.figures(self.agents) if self.mode_eval else []
            bots = [p.id for p in self.league.bots()]
            self.monitor.log_layout(custom_scalar_layout(bots, figures))
        self.rollout = Rollout(
            self.server,
            cfg.game.env_id,
            cfg.game.env_kwargs,
            self.mode.payoff,
            SamplingSettings(
                temperature=cfg.rollout.temperature, max_tokens=cfg.rollout.max_new_tokens
            ),
            cfg.rollout.constrained,
            cfg.rollout.move_values,
            cfg.rollout.fresh_replies,
            cfg.rollout.expected_replies,
        )
        if cfg.rollout.expected_replies:
            self.rollout.reply_scorer = self._reply_probabilities
        if self.fleet is not None:  # the same games, played across the rollout workers
            self.rollout = self.fleet.rollout
        self._time_parts()
        self.started = time.time()
        log.info("run directory: %s", self.run_dir)
        return self.run_dir

    def _reply_probabilities(
        self, items: Sequence[tuple[Any, tuple[int, ...], tuple[str, ...]]]
    ) -> list[dict[str, float] | None]:
        """Expected replies (`counterfactual.ReplyScorer`): each replier's move probabilities
        read from the learner, for the learning adapters at the version served now (the weights
        that played); None for any other (a snapshot, the base model)."""
        from trainers.learn.probe import served_reply_probabilities

        served = self.population.current_refs(self.league)
        return served_reply_probabilities(self.learner, served, items)

    def _time_parts(self) -> None:
        """Phases inside the parts: engine calls and bots (not from the async rollout's
        thread: the timer is the loop's), the learner's KL reference pass and optimizer step,
        the soft Q targets."""
        if not self.config.rollout.async_rollout:
            self.rollout.timer = self.timer
        if self.fleet is None or self.fleet.learner is None:  # not inside a learner actor
            self.timer.wrap(self.learner, "_reference", "kl_ref")
            self.timer.wrap(self.learner, "_step", "optimizer")
        self.timer.wrap(self.learn_step, "_targets", "q_targets")

    @property
    def _store_dir(self) -> Path:
        return self.run_dir / f"{ADAPTER_STORE_PREFIX}{os.getpid()}"

    def _start_server(self):
        return start_server(self.config, self.model_path, self.adapters, self.plan, self._store_dir)

    def _start_learner(self):
        return start_learner(self.config, self.model_path, self.adapters, self.plan.device)

    def _fresh_league(self) -> None:
        self.population.join(self.league, self.server, self.learner.adapter_weights)
        if self.mode.adversarial:
            for kind in self.config.league.bots:
                self.league.add_bot(f"bot:{kind}", kind)

    # ------------------------------------------------------------------ the loop
    def run(self, on_iteration: Callable[[dict[str, float]], None] | None = None) -> Path:
        """Iterate up to `config.run.iterations`, checkpointing on schedule; `on_iteration(metrics)`
        is called after each iteration (before its checkpoint), e.g. by a benchmark."""
        if self.server is None:
            self.setup()
        cfg = self.config.run
        if self.step == 0 and self.config.league.eval_every and self._evaluates():
            # The untrained adapter's point: what every later evaluation is read against.
            final = self.config.league.final_eval_games or None
            with self.timer.phase("eval", absorb=True):  # counted in iteration 1, as eval
                self.monitor.log_scalars(0, self.evaluate(final))
        stream = None if self.console is None else self.console.stream
        bar = progress_bar(cfg.iterations, self.step, cfg.progress, stream)
        try:
            while self.step < cfg.iterations:
                metrics = self.iteration()
                if on_iteration is not None:
                    on_iteration(metrics)
                bar.update(1)
                bar.set_postfix(postfix(metrics, self.lead))
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iterations:
                    with self.timer.phase("checkpoint"):  # counted in the next iteration
                        self.save_checkpoint()
        finally:
            bar.close()
        self.monitor.write_report(self.report())
        return self.run_dir

    def iteration(self) -> dict[str, float]:
        """One round of play -> update league -> learn -> publish, then logging."""
        self.step += 1
        start = time.perf_counter()
        mix = self._mix(self.step - 1)
        phase = self.timer.phase
        with phase("rollout"):
            episodes = self.play(mix)
        rollout_s = time.perf_counter() - start
        with phase("league"):
            self.update_league(episodes)
        with phase("learner"):
            learn = self.learn(episodes)
            self.population.evolve(self)  # PBT's copies, when due: published below
        with phase("publish"):
            publish_ms = self.publish()
        with phase("eval", absorb=True):
            if self.mode_eval is not None and self.config.league.eval_every:
                self.mode_eval.observe(self)  # every published version, e.g. for snapshots
            evaluation = self._evaluation_due()
        with phase("monitor"):
            return self.log(episodes, learn, evaluation, mix, rollout_s, publish_ms)

    def _mix(self, step: int) -> float:
        return self.mix_control.value(step)

    # ------------------------------------------------------------------ play
    def play(self, mix: float) -> list[Episode]:
        """This iteration's games. With `async_rollout` they were started during the previous
        iteration's update, and the next iteration's start now."""
        cfg = self.config
        if not cfg.rollout.async_rollout:
            matches = self.make_matches(cfg.rollout.games_per_iteration, step=self.step)
            return self.rollout.play(matches, step=self.step, mix=mix)
        pending, self._pending = getattr(self, "_pending", None), None
        episodes = (pending or self._start_rollout(self.step, mix)).result()
        if self.step < cfg.run.iterations:  # the next games play while this batch trains
            self._pending = self._start_rollout(self.step + 1, self._mix(self.step))
        return episodes

    def _start_rollout(self, step: int, mix: float):
        """Matchmake now (main thread), play in the background with the versions served now."""
        from concurrent.futures import ThreadPoolExecutor

        if getattr(self, "_executor", None) is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout")
        matches = self.make_matches(self.config.rollout.games_per_iteration, step=step)
        return self._executor.submit(self.rollout.play, matches, step, mix)

    def make_matches(
        self, n: int, opponent: str | None = None, learning: bool = True, step: int | None = None
    ) -> list[MatchSpec]:
        """`n` matches: the learner on a random side against matchmade (or given) opponents;
        training matches of iteration `step` (1-based) may take partners (`partner_share`)."""
        share = 0.0 if step is None else self.partner_share(step)  # Fixtures: training only
        matches = self.population.matches(self.fixtures, self.league, n, opponent, learning, share)
        if self.mode.name == "mixed":  # l shares rewards within the family: a bot is an outsider
            for match in matches:
                match.mix = 1.0 if any(s.bot for s in match.seats.values()) else None
        return matches

    def partner_share(self, step: int) -> float:
        """The share of iteration `step`'s training games with a partner bot: `partner_share`
        at the first, moving linearly to `partner_share_end` at the last."""
        league = self.config.league
        if not league.partners:
            return 0.0
        start, end = league.partner_share, league.partner_share_end
        return mix_at(step - 1, self.config.run.iterations, start, start if end is None else end)

    # ------------------------------------------------------------------ update the league
    def update_league(self, episodes: Sequence[Episode]) -> None:
        """matches.csv rows, and (adversarial modes) one match record per game."""
        first = self.fixtures.episodes_done - len(episodes) + 1
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

    # ------------------------------------------------------------------ learn
    def learn(self, episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
        reference, self._reference = self._reference, None  # the last evaluation, read once
        cfg = self.config
        schedule = lr_decay_factor(self.step, cfg.run.iterations, cfg.learn.lr_decay_start)
        stats, changes = self.learn_step(episodes, reference, schedule)
        for change in changes:
            self.monitor.log_text(self.step, "adaptive/changes", str(change.to_dict()))
        return stats

    # ------------------------------------------------------------------ publish
    def publish(self) -> float:
        """Snapshot each learner into the league when due (holding that version on the server,
        releasing evicted ones), then publish the new weights; returns the publish time (ms)."""
        if self.mode.adversarial:
            self.population.snapshot(self.server, self.league, self.step)
        start = time.perf_counter()
        self.population.publish(self.server, self.league, self.learner.adapter_weights)
        self.weight_updates += 1
        return 1e3 * (time.perf_counter() - start)

    # ------------------------------------------------------------------ evaluate and log
    def evaluate(self, games: int | None = None) -> dict[str, float]:
        """Win rate of the current learner against each bot, with its 95% interval, in games
        that do not train (the controllers read the pooled result as their reference signal),
        and the mode's own figures (`trainers.league.mode_eval`)."""
        n = games or self.config.league.eval_games
        by_bot = {b.id: self.make_matches(n, b.id, learning=False) for b in self.league.bots()}
        played = play_groups(self, by_bot)  # every bot's games in the same engine batches
        # logged together, in the order made: matches.csv numbers them from the matches made
        self.update_league([ep for episodes in played.values() for ep in episodes])
        results = {bot: self.population.win_count(eps, bot) for bot, eps in played.items()}
        if results:
            wins = sum(r.wins for r in results.values())
            self._reference = WinRate(wins, sum(r.games for r in results.values()))
        out = eval_scalars(results)
        if self.mode_eval is not None:  # the mode's own figure (`trainers.league.mode_eval`)
            out.update(self.mode_eval.measure(self, games or self.config.league.eval_games))
        return out

    def _evaluates(self) -> bool:
        return bool(self.league.bots()) or self.mode_eval is not None

    def _evaluation_due(self) -> dict[str, float]:
        """Every `eval_every` steps, and the last step with `final_eval_games` (the step-0
        point of the untrained adapter is played in `run`)."""
        league = self.config.league
        if not league.eval_every or not self._evaluates():
            return {}
        if self.step == self.config.run.iterations:
            return self.evaluate(league.final_eval_games or None)
        return self.evaluate() if self.step % league.eval_every == 0 else {}

    def log(self, episodes, learn, evaluation, mix, rollout_s, publish_ms) -> dict[str, float]:
        """TensorBoard scalars (and a transcript when due) and league.json; returns the scalars."""
        facts = IterationFacts(
            learner=self.lead, adversarial=self.mode.adversarial, mixed=self.mode.name == "mixed",
            mix=mix, rollout_s=rollout_s, rollout_tokens_per_s=self.rollout.stats.tokens_per_s,
            publish_ms=publish_ms, weight_updates=self.weight_updates, players=len(self.league),
            learner_version=self.league.get(self.lead).version, elo=self.league.ratings()["elo"],
        )  # fmt: skip
        metrics = iteration_scalars(episodes, learn, evaluation, facts)
        metrics.update(self.population.scalars(self.league, self.learner, self.learn_step))
        if self.mode.name == "mixed":  # the payoff mix's control reads this iteration's games
            signals = mix_signals(family_games(episodes))
            metrics.update(signals.scalars())
            decision = self.mix_control.observe(signals)
            if decision is not None:
                self.monitor.log_text(self.step, TEXT_MIX_DECISIONS, decision.describe())
        if self.fleet is not None:
            metrics.update(self.fleet.metrics())
        if self.monitor.system is not None:
            metrics.update(self.monitor.system.sample())
        # This iteration's split; the logging below counts in the next one's.
        metrics.update({f"{rf.TAG_TIME}/{k}": v for k, v in self.timer.lap().items()})
        self.monitor.log_scalars(self.step, metrics)
        every = self.config.run.transcript_every
        if every and self.step % every == 1 % every:
            self.monitor.log_text(self.step, rf.TEXT_TRANSCRIPT, transcript_md(episodes[0]))
        league, extra = self.league, self.population.league_json(self.learner, self.learn_step)
        self.monitor.write_league(
            league.state_dict(), league.ratings(), league.payoff_table(), extra
        )
        return metrics

    def report(self) -> dict[str, Any]:
        """`report.json`: what ran, where, how fast (`trainers.run.run_report`)."""
        from trainers.run.run_report import run_report

        return run_report(self)

    # ------------------------------------------------------------------ state and checkpoints
    def state_dict(self) -> dict[str, Any]:
        """What `trainer_state.json` holds: the loop's counters and served version, with the
        state of the fixtures (episode count), the controllers and the estimator."""
        return {
            "step": self.step,
            "episodes_done": self.fixtures.episodes_done,
            "weight_updates": self.weight_updates,
            "version": self.league.get(self.lead).version,
            **self.learn_step.state_dict(),
            "population": self.population.state_dict(self.learner, self.learn_step),
            "mix_control": self.mix_control.state_dict(),
            "mode_eval": {} if self.mode_eval is None else self.mode_eval.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.weight_updates = int(state["weight_updates"])
        self.fixtures.episodes_done = int(state["episodes_done"])
        self.learn_step.load_state_dict(state)
        self.population.load_state_dict(state.get("population"), self.learner, self.learn_step)
        if state.get("mix_control"):  # empty for the schedule; absent in older checkpoints
            self.mix_control.load_state_dict(state["mix_control"])
        if self.mode_eval is not None and state.get("mode_eval"):
            self.mode_eval.load_state_dict(state["mode_eval"])

    def save_checkpoint(self) -> Path:
        """`checkpoints/step_N/`: the union of the parts' state dicts (`trainers.checkpointing`)."""
        return checkpointing.save(self)

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
            remove_directory(self._store_dir)
            run.lock.release()
