"""The games that ship with LoRA League, registered when `envs` is imported."""

from __future__ import annotations

from envs.registry import EnvSpec, register

BUILTIN_ENVS: tuple[EnvSpec, ...] = (
    EnvSpec(
        id="rps_v0",
        entry_point="envs.rps.env",
        payoffs=("competitive",),
        players="2",
        description="Iterated rock-paper-scissors, simultaneous moves, N rounds.",
        cyclic=True,
    ),
    EnvSpec(
        id="tictactoe_v0",
        entry_point="envs.tictactoe.env",
        payoffs=("competitive",),
        players="2",
        description="Tic-tac-toe, moves by cell ([B2]).",
    ),
    EnvSpec(
        id="kuhn_poker_v0",
        entry_point="envs.kuhn_poker.env",
        payoffs=("competitive",),
        players="2",
        description="Kuhn poker: J<Q<K, ante 1, check/bet/call/fold; rewards in chips.",
    ),
    EnvSpec(
        id="negotiation_v0",
        entry_point="envs.negotiation.env",
        payoffs=("mixed", "competitive", "cooperative"),
        players="2",
        description=(
            "Divide a pool of items with private values by alternating offers; no deal = 0."
        ),
    ),
    EnvSpec(
        id="prisoners_dilemma_v0",
        entry_point="envs.prisoners_dilemma.env",
        payoffs=("mixed",),
        players="2",
        description="Iterated prisoner's dilemma with a one-line message before each move.",
        cyclic=True,
    ),
    EnvSpec(
        id="public_goods_v0",
        entry_point="envs.public_goods.env",
        payoffs=("mixed", "cooperative"),
        players="3-6",
        description="Contributions are multiplied and shared equally, after a talk phase.",
        cyclic=True,
    ),
    EnvSpec(
        id="signal_v0",
        entry_point="envs.signal.env",
        payoffs=("cooperative",),
        players="2+",
        description=(
            "A speaker clues the target among k candidates without naming it; listeners pick."
        ),
    ),
    EnvSpec(
        id="hidden_sum_v0",
        entry_point="envs.hidden_sum.env",
        payoffs=("cooperative",),
        players="2-4",
        description=(
            "Each holds private numbers; one message each, then everyone answers the total."
        ),
        cyclic=True,
    ),
    EnvSpec(
        id="team_quiz_v0",
        entry_point="envs.team_quiz.env",
        payoffs=("team_battle",),
        players="2 teams of 2-3",
        description=(
            "Generated questions with verifiable answers; teammates propose, the team answers."
        ),
        teams=True,
    ),
    EnvSpec(
        id="codenames_v0",
        entry_point="envs.codenames.env",
        payoffs=("team_battle",),
        players="2 teams of 2",
        description=("A spymaster gives a one-word clue and a number; the guesser picks words."),
        teams=True,
    ),
)


def register_builtin_envs() -> None:
    for s in BUILTIN_ENVS:
        register(s)
