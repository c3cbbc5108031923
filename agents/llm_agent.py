"""`LLMAgent`: a policy served by a `PolicyServer`: observation -> chat -> request -> move text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.conversation import Conversation, user_turn_text
from agents.policy import ActRequest, ActResponse
from agents.serving.base import PolicyServer
from agents.serving.types import AdapterRef, GenerationRequest, GenerationResult, SamplingSettings


@dataclass(frozen=True)
class LLMResponse(ActResponse):
    """The move text plus everything the learner needs about how it was produced."""

    result: GenerationResult | None = None


class LLMAgent:
    """A language agent: its adapter version, its sampling settings, and one chat per game it plays.

    `constrained`: decode each move inside its legal moves (`info["legal_moves"]`) or, in a
    free-form phase, inside its format (`info["move_format"]`, a regular expression).
    `act()` sends all its requests to the server in one batched call. Requests are told apart by
    (`game_index`, `agent`); call `end_game(game_index)` when a game ends to get its conversations.
    """

    def __init__(
        self,
        name: str,
        server: PolicyServer,
        adapter: AdapterRef | None = None,
        sampling: SamplingSettings | None = None,
        constrained: bool = False,
        system_prompt: str | None = None,
    ) -> None:
        self.name = name
        self.server = server
        self.adapter = adapter
        self.sampling = sampling or SamplingSettings()
        self.constrained = constrained
        self.system_prompt = system_prompt
        self.conversations: dict[tuple[int, str], Conversation] = {}

    def conversation(self, game_index: int, agent: str) -> Conversation:
        key = (game_index, agent)
        if key not in self.conversations:
            self.conversations[key] = self.new_conversation()
        return self.conversations[key]

    def new_conversation(self) -> Conversation:
        return Conversation(self.server.tokenizer, self.system_prompt)

    def build_request(
        self, request: ActRequest, chat: Conversation | None = None
    ) -> GenerationRequest:
        """The request for `request`'s move, extending its game's chat (or `chat`, one kept
        apart from the agent's games: a copy of a game replayed with another move)."""
        chat = chat if chat is not None else self.conversation(request.game_index, request.agent)
        prompt = chat.add_user(user_turn_text(request.info, first=not chat.turns))
        legal = request.info.get("legal_moves") or None
        pattern = request.info.get("move_format") if self.constrained and not legal else None
        return GenerationRequest(
            prompt_token_ids=tuple(prompt),
            adapter=self.adapter,
            sampling=self.sampling,
            choices=tuple(legal) if self.constrained and legal else None,
            pattern=pattern or None,
        )

    def record(
        self, request: ActRequest, result: GenerationResult, chat: Conversation | None = None
    ) -> LLMResponse:
        chat = chat if chat is not None else self.conversation(request.game_index, request.agent)
        version = None if result.adapter is None else result.adapter.version
        chat.add_completion(
            result.token_ids, result.logprobs, result.text, version, result.choices, result.pattern
        )
        return LLMResponse(text=result.text, result=result)

    def act(self, requests: Sequence[ActRequest]) -> list[ActResponse]:
        generation = [self.build_request(r) for r in requests]
        results = self.server.generate(generation)
        return [self.record(r, res) for r, res in zip(requests, results, strict=True)]

    def end_game(self, game_index: int) -> dict[str, Conversation]:
        """Forget the chats of a finished game and return them, by agent name."""
        done = {a: c for (g, a), c in self.conversations.items() if g == game_index}
        for agent in done:
            del self.conversations[(game_index, agent)]
        return done
