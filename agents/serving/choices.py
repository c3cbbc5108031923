"""Legal-move constrained decoding: which next tokens keep the completion on one of the choices.

vLLM's structured outputs (`choice=[...]`) accept any tokenisation that spells an allowed string and
then only the end-of-sequence token; the log-probs it returns are those of the logits masked to the
allowed tokens and renormalised. The HF backend and the learner use this same mask, so that all
three
score a constrained move under the same distribution (importance ratios and KL are wrong otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _token_strings(tokenizer: Any) -> tuple[str, ...]:
    special = set(tokenizer.all_special_ids)
    n = len(tokenizer)
    return tuple("" if i in special else tokenizer.decode([i]) for i in range(n))


class ChoiceMask:
    """Allowed next tokens, given the tokens generated so far, for a set of choice strings."""

    def __init__(self, tokenizer: Any, choices: Sequence[str]) -> None:
        if not choices:
            raise ValueError("ChoiceMask needs at least one choice")
        self.tokenizer = tokenizer
        self.choices = tuple(choices)
        self.eos_id = int(tokenizer.eos_token_id)
        self._strings = _token_strings(tokenizer)

    def allowed(self, generated_ids: Sequence[int]) -> list[int]:
        """Token ids that may come next; the end-of-sequence token once a choice is complete."""
        text = self.tokenizer.decode(list(generated_ids), skip_special_tokens=True)
        rests = [c[len(text) :] for c in self.choices if c.startswith(text) and len(c) > len(text)]
        allowed = [
            t for t, s in enumerate(self._strings) if s and any(r.startswith(s) for r in rests)
        ]
        if text in self.choices:
            allowed.append(self.eos_id)
        return allowed

    def is_complete(self, generated_ids: Sequence[int]) -> bool:
        text = self.tokenizer.decode(list(generated_ids), skip_special_tokens=True)
        return text in self.choices
