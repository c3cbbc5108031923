"""Shared-prefix scoring: the transformer body over a micro-batch whose chats all start alike.

Every chat of a game starts with the same system prompt and rules text (Kuhn poker: about 140 of
220 first-turn tokens). Scoring B such chats the plain way runs the body over that prefix B
times. Here the longest prefix common to every row runs once, at batch 1, with the key/value
cache on; its keys and values are expanded (a view, no copy) over the batch, and the B suffixes
run on top of them, attending to the prefix as they would in one pass. The result is the hidden
state of every position, exactly the shape and values the plain pass gives:

    hidden = body_hidden(body, input_ids, attention_mask)      # [B, T, H], shared prefix
    hidden = body_hidden(body, input_ids, attention_mask, shared_prefix=False)   # plain

Gradients flow back through the expanded keys and values and the prefix's hidden states to the
LoRA weights that made them (autograd sums an expand over the batch), so a backward pass gives
the gradient of the plain pass. The same maths on fewer tokens: the results differ from the
plain pass only by floating-point summation order (matmuls of other shapes), about 1e-6
relative in fp32.

Which chats share a micro-batch decides how much is shared: the rules text names the seat ("You
are player_0 ..."), so chats of different seats share only the chat template's header.
`prefix_micro_batches` orders the chats by their tokens and cuts that order where it is cheapest
(fewest tokens through the body, padding included), so each micro-batch holds chats of one seat,
often of one deal. Grouping changes only which terms of the batch's gradient sum are added
together first, never the step.

Rows must be right-padded (`attention_mask` a run of ones, then zeros), as the learner collates
them. The prefix is cut one token short of the shortest row, so every row keeps at least one
suffix token, and sharing is skipped (plain pass) when the prefix would be shorter than
`min_prefix` tokens or the batch holds one row: then it saves nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch

log = logging.getLogger(__name__)

__all__ = [
    "MIN_PREFIX",
    "body_hidden",
    "body_positions",
    "common_prefix_length",
    "prefix_micro_batches",
    "run_once_prefix",
]

MIN_PREFIX = 16
"""Shortest common prefix worth a separate pass (below it the extra call costs more than it
saves)."""
CALL_TOKENS = 64
"""What one more micro-batch costs, in tokens through the body (a forward + backward call's
fixed overhead), when `prefix_micro_batches` weighs cutting a group in two."""


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def prefix_micro_batches(
    sequences: Sequence[Sequence[int]], size: int, call_tokens: int = CALL_TOKENS
) -> list[list[int]]:
    """Indices of `sequences` (the tokens each row reads) in micro-batches of at most `size`,
    chosen to minimise the tokens the body runs with a shared prefix: sort by tokens (rows
    sharing a long prefix become neighbours; the common prefix of a sorted run is the smallest
    common prefix of neighbours), then cut by dynamic programming over the cost of a run,
    prefix + rows x (longest row - prefix) + `call_tokens`."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i]))
    rows = [sequences[i] for i in order]
    n = len(rows)
    neighbour = [_lcp(rows[k - 1], rows[k]) for k in range(1, n)]  # neighbour[k-1]: k-1 vs k
    best = [0.0] + [math.inf] * n  # best[j]: cheapest cut of rows[:j]
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        shared, longest, shortest = math.inf, 0, math.inf
        for i in range(j - 1, max(j - size, 0) - 1, -1):  # the run rows[i:j], growing leftwards
            if i < j - 1:
                shared = min(shared, neighbour[i])
            longest, shortest = max(longest, len(rows[i])), min(shortest, len(rows[i]))
            prefix = 0 if i == j - 1 else min(shared, shortest - 1)
            prefix = prefix if prefix >= MIN_PREFIX else 0
            cost = best[i] + prefix + (j - i) * (longest - prefix) + call_tokens
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups = []
    j = n
    while j > 0:
        groups.append([order[k] for k in range(cut[j], j)])
        j = cut[j]
    return groups[::-1]


def common_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Length of the longest prefix every row shares, at most the shortest row's length - 1
    (every row keeps a suffix token)."""
    if input_ids.shape[0] == 0:
        return 0
    shortest = int(attention_mask.sum(dim=1).min())
    same = (input_ids == input_ids[:1]).all(dim=0)
    differs = (~same).nonzero()
    length = int(differs[0, 0]) if len(differs) else input_ids.shape[1]
    return max(0, min(length, shortest - 1))


def run_once_prefix(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    shared_prefix: bool = True,
    min_prefix: int = MIN_PREFIX,
) -> int:
    """The prefix `body_hidden` runs once for these rows: their common prefix, or 0 where it
    runs them plain (sharing off, one row, or a prefix shorter than `min_prefix`)."""
    if not shared_prefix or input_ids.shape[0] < 2:
        return 0
    prefix = common_prefix_length(input_ids, attention_mask)
    return prefix if prefix >= min_prefix else 0


def body_positions(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    shared_prefix: bool = True,
    min_prefix: int = MIN_PREFIX,
) -> int:
    """Positions `body_hidden` runs the body over for these rows, padding included: the
    prefix once and every row's suffix, or every row whole. What a learner step costs, in
    tokens, where `Batch.sequence_tokens` counts what it reads."""
    batch, width = input_ids.shape
    prefix = run_once_prefix(
        input_ids, attention_mask, shared_prefix=shared_prefix, min_prefix=min_prefix
    )
    return prefix + batch * (width - prefix)


def body_hidden(
    body: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    shared_prefix: bool = True,
    min_prefix: int = MIN_PREFIX,
) -> torch.Tensor:
    """[B, T, H] last hidden states of the decoder `body` (e.g. `model.get_decoder()` of a
    transformers causal LM, LoRA layers included) over right-padded rows; with `shared_prefix`
    the rows' common prefix runs once (see the module docstring)."""
    batch, width = input_ids.shape
    prefix = run_once_prefix(
        input_ids, attention_mask, shared_prefix=shared_prefix, min_prefix=min_prefix
    )
    if not prefix:
        return body(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
    from transformers.cache_utils import DynamicCache

    cache = DynamicCache()
    head = body(
        input_ids=input_ids[:1, :prefix],
        attention_mask=attention_mask[:1, :prefix],
        past_key_values=cache,
        use_cache=True,
    )
    cache = head.past_key_values
    for layer in cache.layers:
        layer.keys = layer.keys.expand(batch, -1, -1, -1)
        layer.values = layer.values.expand(batch, -1, -1, -1)
    positions = torch.arange(prefix, width, device=input_ids.device).unsqueeze(0).expand(batch, -1)
    tail = body(
        input_ids=input_ids[:, prefix:],
        attention_mask=attention_mask,
        past_key_values=cache,
        position_ids=positions,
        use_cache=True,
    ).last_hidden_state
    shared = head.last_hidden_state.expand(batch, -1, -1)
    return torch.cat([shared, tail], dim=1)
