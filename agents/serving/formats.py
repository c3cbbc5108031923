"""Format-constrained decoding: which next tokens keep a completion inside a regular expression.

vLLM's structured outputs (`regex=...`) compile the pattern with xgrammar over the model's
vocabulary; each step's logits are masked to the tokens that keep the text a prefix of a match,
and, once the match is complete, to those that may still extend it and the end-of-sequence token
(only that token when nothing can). The log-probs it returns are those of the masked logits,
renormalised. `FormatMask` builds the same mask with the same library, from the same tokenizer
and vocabulary size, so that the HF backend and the learner score a format-constrained move under
the distribution vLLM sampled it from (`agents.serving.choices` does the same for legal moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def check_pattern(pattern: str) -> None:
    """Raise ValueError unless xgrammar reads `pattern` (the check vLLM makes before it serves a
    regex: a pattern it cannot read fails the request there, or crashes a batch)."""
    if "\x00" in pattern:
        raise ValueError("a pattern must not contain a NUL character")
    try:
        _grammar(pattern)
    except RuntimeError as e:  # xgrammar's parse error, with the C++ location first
        reason = str(e).strip().splitlines()[-1].split(": ", 1)[-1]
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {reason}") from None


@lru_cache(maxsize=256)
def _grammar(pattern: str) -> Any:
    import xgrammar

    return xgrammar.Grammar.from_regex(pattern)


def max_chars(pattern: str) -> int | None:
    """The most characters a full match of `pattern` can hold, or None when Python's regular
    expression parser finds it unbounded (a `*` or `+`) or cannot read it."""
    try:
        from re import _parser

        _, most = _parser.parse(pattern).getwidth()
    except Exception:  # a pattern in xgrammar's dialect that Python reads otherwise
        return None
    return None if most >= _parser.MAXREPEAT else int(most)


@lru_cache(maxsize=8)
def _compiler(tokenizer: Any, vocab_size: int) -> Any:
    """xgrammar's compiler over the tokenizer's vocabulary, padded to the model's `vocab_size`
    (the size of its logits), as vLLM builds it. Built once per tokenizer: about 0.5 s for a
    49k vocabulary."""
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    return xgrammar.GrammarCompiler(info, max_threads=1)


@lru_cache(maxsize=256)
def _compiled(tokenizer: Any, vocab_size: int, pattern: str) -> Any:
    return _compiler(tokenizer, vocab_size).compile_regex(pattern)


class FormatMask:
    """Allowed next tokens, given the tokens generated so far, for one regular expression.

    `vocab_size`: the model's (its logits' width; default the tokenizer's length). The end of
    sequence is `tokenizer.eos_token_id`, allowed once the match is complete.
    """

    def __init__(self, tokenizer: Any, pattern: str, vocab_size: int | None = None) -> None:
        import torch
        import xgrammar

        check_pattern(pattern)
        self.tokenizer = tokenizer
        self.pattern = pattern
        self.vocab_size = int(vocab_size or len(tokenizer))
        self.eos_id = int(tokenizer.eos_token_id)
        compiled = _compiled(tokenizer, self.vocab_size, pattern)
        self._matcher = xgrammar.GrammarMatcher(compiled, override_stop_tokens=[self.eos_id])
        self._bitmask = xgrammar.allocate_token_bitmask(1, self.vocab_size)
        self._accepted: list[int] = []
        self._bits = torch.arange(32, dtype=torch.int32)

    def _follow(self, generated_ids: Sequence[int]) -> None:
        """Bring the matcher to the state after `generated_ids` (extending the last call's
        tokens when they are a prefix, as a decoder asks; from the start otherwise)."""
        ids = [int(t) for t in generated_ids]
        done = len(self._accepted)
        if ids[:done] != self._accepted:
            self._matcher.reset()
            self._accepted, done = [], 0
        for token in ids[done:]:
            if not self._matcher.accept_token(token):
                self._matcher.reset()
                self._accepted = []
                text = self.tokenizer.decode([token])
                raise ValueError(f"token {token} ({text!r}) leaves the format {self.pattern!r}")
            self._accepted.append(token)

    def _row(self) -> torch.Tensor:
        self._matcher.fill_next_token_bitmask(self._bitmask)
        bits = (self._bitmask[0].unsqueeze(-1) >> self._bits) & 1
        return bits.flatten()[: self.vocab_size].bool()

    def row(self, generated_ids: Sequence[int]) -> torch.Tensor:
        """[vocab_size] bool: True at the tokens that may follow `generated_ids`."""
        self._follow(generated_ids)
        return self._row()

    def rows(self, completion_ids: Sequence[int]) -> torch.Tensor:
        """[len(completion_ids), vocab_size] bool: the mask each token of a completion was
        sampled under (row k: after the first k tokens)."""
        import torch

        ids = [int(t) for t in completion_ids]
        out = []
        for k in range(len(ids)):
            self._follow(ids[:k])
            out.append(self._row())
        return torch.stack(out) if out else torch.zeros(0, self.vocab_size, dtype=torch.bool)

    def allowed(self, generated_ids: Sequence[int]) -> list[int]:
        """Token ids that may come next (the end-of-sequence token once the match is complete)."""
        return self.row(generated_ids).nonzero().flatten().tolist()

    def is_complete(self, generated_ids: Sequence[int]) -> bool:
        """Whether `generated_ids` (without the end-of-sequence token) spell a full match."""
        self._follow(generated_ids)
        return bool(self._matcher.is_completed())
