"""AEC steps per second for every registered game under scripted play.

    python benchmarks/env_throughput.py [--seconds 1.0] [--bots random|strong]

Baseline, measured in the same run: the same games driven through the pure rules (`Game.submit`,
no PettingZoo, no observation text). The ratio AEC / rules is what the env API costs; the bots'
own thinking time is excluded from both by replaying recorded actions.
"""

from __future__ import annotations

import argparse
import time

import envs
from agents.policy import ActRequest
from agents.scripted import make_bot


def record_episodes(env_id: str, kind: str, seconds: float) -> list[tuple[int, list[str]]]:
    """Play episodes with bots for about `seconds`; return (seed, actions in AEC order) each."""
    episodes = []
    deadline = time.perf_counter() + seconds
    seed = 0
    while time.perf_counter() < deadline or not episodes:
        env = envs.make(env_id)
        env.reset(seed=seed)
        bots = {a: make_bot(env_id, kind, seed=seed + i) for i, a in enumerate(env.possible_agents)}
        actions = []
        for agent in env.agent_iter():
            obs, _, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
                continue
            (move,) = bots[agent].act([ActRequest(agent, obs["text"], info)])
            actions.append(move.text)
            env.step(move.text)
        episodes.append((seed, actions))
        seed += 1
    return episodes


def time_aec(env_id: str, episodes: list[tuple[int, list[str]]]) -> tuple[int, float]:
    env = envs.make(env_id)
    steps = 0
    start = time.perf_counter()
    for seed, actions in episodes:
        env.reset(seed=seed)
        moves = iter(actions)
        for _ in env.agent_iter():
            _, _, term, trunc, _ = env.last()  # observation text is built, as an agent needs it
            if term or trunc:
                env.step(None)
                continue
            env.step(next(moves))
            steps += 1
    return steps, time.perf_counter() - start


def time_rules(env_id: str, episodes: list[tuple[int, list[str]]]) -> tuple[int, float]:
    raw = envs.make(env_id).unwrapped
    game_cls, kwargs = raw.game_cls, raw.config.game_kwargs
    steps = 0
    start = time.perf_counter()
    for seed, actions in episodes:
        game = game_cls(seed=seed, **kwargs)
        for action in actions:
            if game.is_over():
                break
            game.submit(game.to_act()[0], action)
            steps += 1
    return steps, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.0, help="recording time per game")
    p.add_argument("--bots", default="strong", choices=["random", "strong"])
    args = p.parse_args()
    print(f"{'env':<22}{'episodes':>9}{'AEC steps/s':>13}{'rules steps/s':>15}{'AEC/rules':>11}")
    for env_id in envs.list_envs(""):  # home games; foreign ones have their own contract tests
        episodes = record_episodes(env_id, args.bots, args.seconds)
        aec_steps, aec_s = time_aec(env_id, episodes)
        rule_steps, rule_s = time_rules(env_id, episodes)
        aec_rate, rule_rate = aec_steps / aec_s, rule_steps / rule_s
        print(
            f"{env_id:<22}{len(episodes):>9}{aec_rate:>13,.0f}{rule_rate:>15,.0f}"
            f"{aec_rate / rule_rate:>11.2f}"
        )


if __name__ == "__main__":
    main()
