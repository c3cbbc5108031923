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
def _tokens_by_string(tokenizer: Any) -> dict[str, tuple[int, ...]]:
    """Every non-special token id under the text it decodes to (several ids may spell the same
    text). Built once per tokenizer: `allowed` then looks up the few prefixes of the choices
    instead of scanning the vocabulary (49k tokens: about 36 ms a call, paid for every new
    decision the learner masks)."""
    special = set(tokenizer.all_special_ids)
    index: dict[str, list[int]] = {}
    for i in range(len(tokenizer)):
        if i not in special:
            text = tokenizer.decode([i])
            if text:
                index.setdefault(text, []).append(i)
    return {text: tuple(ids) for text, ids in index.items()}


class ChoiceMask:
    """Allowed next tokens, given the tokens generated so far, for a set of choice strings."""

    def __init__(self, tokenizer: Any, choices: Sequence[str]) -> None:
        if not choices:
            raise ValueError("ChoiceMask needs at least one choice")
        self.tokenizer = tokenizer
        self.choices = tuple(choices)
        self.eos_id = int(tokenizer.eos_token_id)
        self._by_string = _tokens_by_string(tokenizer)

    def allowed(self, generated_ids: Sequence[int]) -> list[int]:
        """Token ids that may come next; the end-of-sequence token once a choice is complete."""
        text = self.tokenizer.decode(list(generated_ids), skip_special_tokens=True)
        rests = [c[len(text) :] for c in self.choices if c.startswith(text) and len(c) > len(text)]
        # A token may come next if its text starts one of the rests: look up each rest's prefixes.
        prefixes = {r[:i] for r in rests for i in range(1, len(r) + 1)}
        allowed = sorted(t for p in prefixes for t in self._by_string.get(p, ()))
        if text in self.choices:
            allowed.append(self.eos_id)
        return allowed

    def is_complete(self, generated_ids: Sequence[int]) -> bool:
        text = self.tokenizer.decode(list(generated_ids), skip_special_tokens=True)
        return text in self.choices
