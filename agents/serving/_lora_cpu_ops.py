"""Multi-LoRA matmuls for vLLM's CPU (plain torch) punica path, grouped by adapter slot.

vLLM's CPU ops (`vllm/lora/ops/torch_ops/lora_ops.py`, 0.32) compute every token's LoRA term as
`einsum("bi,boi->bo", x, W[idx])`: they copy one adapter weight matrix per token (`W[idx]`), cast
the copies, then run a batched vector-matrix product. Two problems follow:

- a token without an adapter has slot index -1, and `W[-1]` is the LAST slot's weights, so
  base-model requests batched with LoRA requests get an adapter's delta (vLLM PR 48421);
- the copies dominate: at batch 32 over 4 adapters LoRA costs several times the base model.

Here the rows of each slot are multiplied by that slot's weights once (`lora_matmul`, the six ops'
replacements), or, on the hot path of linear layers, all slots at once in batched matmuls laid out
once per step (`make_plan`, `fused_lora_linear`). Rows with index -1 get an exact zero delta.

The dtype rules of the stock ops are kept: inputs and weights are cast to the output tensor's dtype
before the product (so shrink runs in float32 into the float32 buffer, expand in the model dtype),
and results are written with the same overwrite/add semantics.

This module imports only torch: vLLM's modules are patched with it in `vllm_patches`, and the unit
tests check it against the stock gather implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Rows of one slot: a slice when they are contiguous (no copy needed), else their indices.
Rows = slice | torch.Tensor
SlotRows = tuple[int, Rows]


def group_rows(indices: torch.Tensor) -> list[SlotRows]:
    """(slot, rows) for each adapter slot in `indices`, in slot order; slot -1 rows are left out."""
    n = indices.numel()
    if n == 0:
        return []
    first = int(indices[0])
    if bool((indices == first).all()):  # one adapter (or none) for the whole batch: no grouping
        return [] if first < 0 else [(first, slice(0, n))]
    groups: list[SlotRows] = []
    for slot in torch.unique(indices).tolist():
        if slot < 0:
            continue
        rows = (indices == slot).nonzero().flatten()
        start, count = int(rows[0]), rows.numel()
        if int(rows[-1]) - start + 1 == count:
            groups.append((slot, slice(start, start + count)))
        else:
            groups.append((slot, rows))
    return groups


def _take_rows(t: torch.Tensor, rows: Rows) -> torch.Tensor:
    return t[rows] if isinstance(rows, slice) else t.index_select(0, rows)


def _slot_weights(weights: torch.Tensor) -> torch.Tensor:
    """(slots, out, in) view of stacked LoRA weights, which vLLM stores as (slots, 1, out, in)."""
    return weights.squeeze(1) if weights.ndim == 4 else weights


def lora_matmul(
    x: torch.Tensor,
    weights: torch.Tensor,
    indices: torch.Tensor,
    dtype: torch.dtype,
) -> torch.Tensor:
    """`x[t] @ weights[indices[t]].T` for every row t, in `dtype`; zero where `indices[t] == -1`.

    Equals the stock `einsum("bi,boi->bo", x.to(dtype), weights[indices].to(dtype))` on every row
    whose index is a slot, without copying a weight matrix per row.
    """
    w = _slot_weights(weights)
    groups = group_rows(indices)
    n = x.size(0)
    if len(groups) == 1 and groups[0][1] == slice(0, n):  # whole batch on one slot: no scatter
        slot = groups[0][0]
        return x.to(dtype) @ w[slot].to(dtype).T
    out = torch.zeros((n, w.size(1)), dtype=dtype, device=x.device)
    for slot, rows in groups:
        out[rows] = _take_rows(x, rows).to(dtype) @ w[slot].to(dtype).T
    return out


# Drop-in replacements for the six functions of vllm/lora/ops/torch_ops/lora_ops.py (0.32): same
# signatures, same output-writing code, only the gather + einsum core is replaced by `lora_matmul`.


def bgmv_shrink(
    inputs: torch.Tensor,
    lora_b_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    scaling: float = 1.0,
) -> None:
    outputs = lora_matmul(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand(
    inputs: torch.Tensor,
    lora_b_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    add_inputs: bool = True,
) -> None:
    outputs = lora_matmul(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    # LoRA adapter and model may add different amounts of padding to output (as in vLLM)
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_expand_slice(
    inputs: torch.Tensor,
    lora_b_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = True,
) -> None:
    outputs = lora_matmul(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs[:]


def sgmv_shrink(
    inputs: torch.Tensor,
    lora_a_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    b_seq_start_loc: torch.Tensor,
    seq_len_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    scaling: float,
) -> None:
    exploded_indices = torch.repeat_interleave(lora_indices_tensor, seq_len_tensor)
    bgmv_shrink(inputs, lora_a_weights, output_tensor, exploded_indices, scaling)


def sgmv_expand(
    inputs: torch.Tensor,
    lora_b_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    b_seq_start_loc: torch.Tensor,
    seq_len_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    add_inputs: bool = False,
) -> None:
    exploded_indices = torch.repeat_interleave(lora_indices_tensor, seq_len_tensor)
    bgmv_expand(inputs, lora_b_weights, output_tensor, exploded_indices, add_inputs)


def sgmv_expand_slice(
    inputs: torch.Tensor,
    lora_b_weights: torch.Tensor,
    output_tensor: torch.Tensor,
    b_seq_start_loc: torch.Tensor,
    seq_len_tensor: torch.Tensor,
    lora_indices_tensor: torch.Tensor,
    batches: int,
    max_seq_length: int,
    token_nums: int,
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = False,
) -> None:
    exploded_indices = torch.repeat_interleave(lora_indices_tensor, seq_len_tensor)
    bgmv_expand_slice(
        inputs,
        lora_b_weights,
        output_tensor,
        exploded_indices,
        slice_offset,
        slice_size,
        add_inputs,
    )


OPS = {
    "bgmv_shrink": bgmv_shrink,
    "bgmv_expand": bgmv_expand,
    "bgmv_expand_slice": bgmv_expand_slice,
    "sgmv_shrink": sgmv_shrink,
    "sgmv_expand": sgmv_expand,
    "sgmv_expand_slice": sgmv_expand_slice,
}


@dataclass(frozen=True)
class SlotBatch:
    """Rows of several slots laid out for one batched matmul: `rows` holds, slot after slot, `width`
    row numbers per slot (a short slot repeats its first row; `valid` zeroes those copies).

    `rows` is None when the batch is every row in order (one slot for the whole batch), a slice
    when one slot's rows are contiguous: then no row is copied.
    """

    slots: torch.Tensor  # (S,) slot numbers, ascending
    slot_list: tuple[int, ...]  # the same, for cheap checks in Python
    width: int
    rows: torch.Tensor | slice | None
    valid: torch.Tensor | None  # (S, width, 1) float32 0/1, None without padding


@dataclass(frozen=True)
class LoRAPlan:
    """How one step's token rows map onto adapter slots, worked out once per step (make_plan)."""

    n_rows: int
    batches: tuple[SlotBatch, ...]


# Pad slots to a common row count only while that wastes at most this factor of LoRA FLOPs
# (decode batches spread round-robin over adapters are balanced; prefill of one long prompt is not).
MAX_PADDING = 2.0


def make_plan(indices: torch.Tensor) -> LoRAPlan:
    """Group the rows of `indices` (slot per row, -1 = no adapter) into batched-matmul layouts."""
    n = indices.numel()
    groups = group_rows(indices)
    if not groups:
        return LoRAPlan(n, ())
    if len(groups) == 1:
        slot, rows = groups[0]
        width = rows.stop - rows.start if isinstance(rows, slice) else rows.numel()
        layout = None if rows == slice(0, n) else rows
        return LoRAPlan(n, (_batch([slot], width, layout, None),))
    rows_of = [torch.arange(r.start, r.stop) if isinstance(r, slice) else r for _, r in groups]
    sizes = [r.numel() for r in rows_of]
    width = max(sizes)
    if len(groups) * width > MAX_PADDING * sum(sizes):
        batches = []
        for (slot, rows), size in zip(groups, sizes, strict=True):
            batches.append(_batch([slot], size, rows, None))
        return LoRAPlan(n, tuple(batches))
    padded = [torch.cat([r, r[:1].expand(width - r.numel())]) for r in rows_of]
    valid = None
    if min(sizes) < width:
        valid = torch.zeros((len(groups), width, 1), dtype=torch.float32)
        for k, size in enumerate(sizes):
            valid[k, :size] = 1.0
    slots = [slot for slot, _ in groups]
    return LoRAPlan(n, (_batch(slots, width, torch.cat(padded), valid),))


def _batch(
    slots: list[int], width: int, rows: torch.Tensor | slice | None, valid: torch.Tensor | None
) -> SlotBatch:
    return SlotBatch(torch.tensor(slots, dtype=torch.long), tuple(slots), width, rows, valid)


def live_slots(
    lora_b_stacked: Sequence[torch.Tensor], cache: dict[int, tuple[tuple, frozenset[int]]]
) -> frozenset[int] | None:
    """Slots of a layer whose B matrices are not all zero, or None if that cannot be cached.

    vLLM builds LoRA wrappers for every supported module (MLP too), and activating an adapter
    zeroes its slot in the modules it does not target; a zero B adds nothing, so such layers can
    be skipped. The answer is cached per layer in `cache` until the weights change: vLLM writes
    them in place, which bumps the tensors' version counters. Tensors created in inference mode
    have no version counter: None then (every slot counts as live).
    """
    try:
        key = tuple((b.data_ptr(), b._version) for b in lora_b_stacked)
    except RuntimeError:
        return None
    layer = id(lora_b_stacked[0])
    hit = cache.get(layer)
    if hit is not None and hit[0] == key:
        return hit[1]
    nonzero = torch.stack([b.flatten(1).ne(0).any(dim=1) for b in lora_b_stacked]).any(dim=0)
    live = frozenset(nonzero.nonzero().flatten().tolist())
    cache[layer] = (key, live)
    return live


def _stack_a(lora_a_stacked: Sequence[torch.Tensor], slots: torch.Tensor) -> torch.Tensor:
    """(S, n_slices * rank, in): each slot's A matrices of all slices, one above the other."""
    every = slots.numel() == lora_a_stacked[0].size(0)  # slots are ascending: all of them, in order
    parts = [a[:, 0] if every else a.index_select(0, slots)[:, 0] for a in lora_a_stacked]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _stack_b(
    lora_b_stacked: Sequence[torch.Tensor],
    slots: torch.Tensor,
    output_slices: Sequence[int],
    dtype: torch.dtype,
) -> torch.Tensor:
    """(S, n_slices * rank, sum(out)): each slot's B^T matrices block-diagonally, in `dtype`.

    The zero blocks let one matmul expand every slice into its own column range; they add exact
    zeros, so the sums are those of the per-slice products.
    """
    every = slots.numel() == lora_b_stacked[0].size(0)
    parts = [b[:, 0] if every else b.index_select(0, slots)[:, 0] for b in lora_b_stacked]
    if len(parts) == 1:
        return parts[0].mT.to(dtype)
    rank = parts[0].size(-1)
    out = torch.zeros((slots.numel(), rank * len(parts), sum(output_slices)), dtype=dtype)
    offset = 0
    for k, (part, size) in enumerate(zip(parts, output_slices, strict=True)):
        out[:, k * rank : (k + 1) * rank, offset : offset + size] = part.mT
        offset += size
    return out


def fused_lora_linear(
    y: torch.Tensor,
    x: torch.Tensor,
    lora_a_stacked: Sequence[torch.Tensor],
    lora_b_stacked: Sequence[torch.Tensor],
    scale: float,
    output_slices: Sequence[int],
    plan: LoRAPlan,
    live: frozenset[int] | None = None,
) -> None:
    """`y[:, slice_i] += (x @ A_i^T * scale) @ B_i^T`, each row with its own slot's A and B.

    Same result as PunicaWrapperCPU.add_lora_linear (a float32 shrink buffer, then an expand in y's
    dtype, added into y), in two batched matmuls per `SlotBatch`: the slices' A matrices are
    stacked, so one matmul shrinks every slice, and their B matrices are block-diagonal, so one
    matmul expands every slice into its column range (`sum(output_slices)` contiguous columns).
    A batch whose slots are all outside `live` (all-zero B, see live_slots) is skipped.
    """
    total = sum(output_slices)
    target = y[:, :total]
    for batch in plan.batches:
        if live is not None and live.isdisjoint(batch.slot_list):
            continue
        s = batch.slots.numel()
        if batch.rows is None:
            xs = x.unsqueeze(0)
        elif isinstance(batch.rows, slice):
            xs = x[batch.rows].unsqueeze(0)
        else:
            xs = x.index_select(0, batch.rows).view(s, batch.width, -1)
        a = _stack_a(lora_a_stacked, batch.slots)
        shrunk = torch.bmm(xs.to(torch.float32), a.to(torch.float32).mT)
        if batch.valid is not None:
            shrunk.mul_(batch.valid)
        if scale != 1.0:
            shrunk.mul_(scale)
        b = _stack_b(lora_b_stacked, batch.slots, output_slices, y.dtype)
        delta = torch.bmm(shrunk.to(y.dtype), b)
        if batch.rows is None:
            target += delta[0]
        elif isinstance(batch.rows, slice):
            target[batch.rows] += delta[0]
        else:
            target.index_add_(0, batch.rows, delta.view(-1, total))
