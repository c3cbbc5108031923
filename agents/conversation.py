"""One growing chat per agent per episode, kept as the exact token ids the model saw and produced.

Turn t's prompt is turn t-1's prompt + the tokens the server sampled + the tokens of the new user
turn.
Built this way (instead of re-tokenising the whole chat each turn) the sampled tokens are never
re-tokenised differently, so the learner can score the whole episode in one forward pass over
`token_ids` with `completion_mask` picking out the agent's own tokens, and the engine's prefix cache
reuses every earlier turn.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def user_turn_text(info: Mapping[str, Any], first: bool) -> str:
    """The user message for a turn: rules once, then what happened since, then what to do now."""
    parts = []
    if first and info.get("rules"):
        parts.append(str(info["rules"]))
    events = [str(e) for e in info.get("new_events", [])]
    if events:
        parts.append("\n".join(events))
    parts.append(str(info.get("turn_prompt", "Your move?")))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class TurnTokens:
    """One completion inside a chat: `token_ids[start:start + len(ids)] == ids`."""

    start: int
    ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    #: Adapter version that produced it (None: base model or scripted).
    version: int | None
    #: Legal moves the completion was constrained to, or None (unconstrained).
    choices: tuple[str, ...] | None = None
    #: The completion as text (the move), when known.
    text: str | None = None
    #: Regular expression the completion was constrained to (a free-form phase's format), or
    #: None. At most one of `choices` and `pattern` is set.
    pattern: str | None = None


@dataclass
class Conversation:
    """The chat of one agent in one episode."""

    tokenizer: Any
    system_prompt: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    turns: list[TurnTokens] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.system_prompt:
            self.messages.append({"role": "system", "content": self.system_prompt})

    def _render(self, messages: Sequence[Mapping[str, str]], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def add_user(self, content: str) -> list[int]:
        """Append a user turn; return the full prompt (token ids) for the next completion."""
        before = self._render(self.messages, False) if self.turns else ""
        bridge = ""
        if self.turns:
            # Text the template puts after the last assistant content ("<|im_end|>\n" in ChatML),
            # minus what the sampled tokens already hold (the end-of-turn token, if generated).
            last = self.turns[-1]
            end = before.rfind(last.text) + len(last.text)
            bridge = before[end:]
            eos = self.tokenizer.eos_token
            if last.ids and last.ids[-1] == self.tokenizer.eos_token_id:
                bridge = bridge.removeprefix(eos)
        self.messages.append({"role": "user", "content": content})
        now = self._render(self.messages, True)
        if not self.turns:
            self.token_ids = self._encode(now)
        else:
            if not now.startswith(before):
                raise ValueError("chat template is not prefix-stable; cannot extend the chat")
            self.token_ids.extend(self._encode(bridge + now[len(before) :]))
        return list(self.token_ids)

    def add_completion(
        self,
        completion_ids: Sequence[int],
        logprobs: Sequence[float],
        text: str,
        adapter_version: int | None = None,
        choices: Sequence[str] | None = None,
        pattern: str | None = None,
    ) -> None:
        self.turns.append(
            TurnTokens(
                start=len(self.token_ids),
                ids=tuple(completion_ids),
                logprobs=tuple(logprobs),
                version=adapter_version,
                choices=None if choices is None else tuple(choices),
                text=text,
                pattern=pattern,
            )
        )
        self.token_ids.extend(completion_ids)
        self.messages.append({"role": "assistant", "content": text})

    def copy(self) -> Conversation:
        """An independent copy sharing the tokenizer: a chat that goes on in a copy of the game
        (`trainers.counterfactual`) without touching the real one."""
        twin = copy.copy(self)  # not dataclasses.replace: __post_init__ would add the system turn
        twin.messages = [dict(m) for m in self.messages]
        twin.token_ids = list(self.token_ids)
        twin.turns = list(self.turns)  # TurnTokens are frozen
        return twin

    def completion_mask(self) -> list[bool]:
        """True at every token the agent produced (the tokens a learner trains on)."""
        mask = [False] * len(self.token_ids)
        for turn in self.turns:
            for i in range(turn.start, turn.start + len(turn.ids)):
                mask[i] = True
        return mask
