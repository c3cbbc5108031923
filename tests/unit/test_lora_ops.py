"""The grouped CPU LoRA ops (agents/serving/_lora_cpu_ops.py) vs the per-token gather they replace.

First against a copy of the stock core (`W[idx]`, then einsum), on random tensors with mixed slots
and no-adapter rows (slot -1); then, where vLLM is installed, against vLLM's own functions and its
punica CPU wrapper, which also shows that the installed vLLM has the bug the patch fixes.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest
import torch

from agents.serving import _lora_cpu_ops as ops
from agents.serving import vllm_patches

SLOTS = 4
N_ROWS = 24

# Index patterns over N_ROWS rows: name -> slot of each row (-1 = no adapter).
INDEX_CASES: dict[str, list[int]] = {
    "one_slot": [2] * N_ROWS,
    "last_slot_only": [SLOTS - 1] * N_ROWS,
    "no_adapter": [-1] * N_ROWS,
    "round_robin": [i % SLOTS for i in range(N_ROWS)],
    "round_robin_with_base": [i % (SLOTS + 1) - 1 for i in range(N_ROWS)],
    "contiguous_runs": [i * SLOTS // N_ROWS for i in range(N_ROWS)],
    "runs_with_base": [-1] * 5 + [1] * 7 + [-1] * 3 + [3] * 9,
    "imbalanced": [0] * 20 + [3, -1, 1, 3],
    "one_row_each": [3, -1, 0, 2] + [1] * (N_ROWS - 4),
}
DTYPES = [torch.float32, torch.bfloat16]


def gather_matmul(
    x: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """The stock core of vLLM 0.32's torch ops: one weight matrix copied per row, then einsum."""
    selected = weights[indices].to(dtype=dtype)
    if selected.ndim == 4:
        selected = selected.squeeze(dim=1)
    return torch.einsum("bi, boi -> bo", x.to(dtype=dtype), selected)


def fixed_gather_matmul(
    x: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """What the stock core should give: the same, with a zero delta for rows of slot -1."""
    out = gather_matmul(x, weights, indices.clamp_min(0), dtype)
    return out.masked_fill((indices < 0)[:, None], 0.0)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    # fp32: summation order only, dot products of 32 terms: ~32 * 6e-8 = 2e-6 relative, 1e-5 is 5x.
    # bf16: one rounding of the output (same inputs, fp32 accumulation): bf16 keeps 8 significant
    # bits, 2**-8 = 3.9e-3 relative, and 1e-2 allows that plus the fp32 part.
    return {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-2, "rtol": 1e-2}


def random_case(
    dtype: torch.dtype, n_in: int = 32, n_out: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N_ROWS, n_in, generator=gen).to(dtype)
    weights = torch.randn(SLOTS, 1, n_out, n_in, generator=gen).to(dtype)
    return x, weights


# ---------------------------------------------------------------- grouping


def test_group_rows_skips_no_adapter_rows_and_keeps_contiguous_rows_as_slices() -> None:
    groups = ops.group_rows(torch.tensor(INDEX_CASES["runs_with_base"]))
    assert [slot for slot, _ in groups] == [1, 3]
    assert groups[0][1] == slice(5, 12) and groups[1][1] == slice(15, 24)
    scattered = ops.group_rows(torch.tensor([0, 1, 0, -1, 1]))
    assert [(slot, rows.tolist()) for slot, rows in scattered] == [(0, [0, 2]), (1, [1, 4])]
    assert ops.group_rows(torch.tensor([-1, -1])) == []
    assert ops.group_rows(torch.tensor([], dtype=torch.long)) == []
    assert ops.group_rows(torch.tensor([2, 2, 2])) == [(2, slice(0, 3))]


def test_plan_layouts() -> None:
    whole = ops.make_plan(torch.tensor(INDEX_CASES["one_slot"]))
    assert len(whole.batches) == 1 and whole.batches[0].rows is None  # no row copied
    balanced = ops.make_plan(torch.tensor(INDEX_CASES["round_robin_with_base"]))
    (batch,) = balanced.batches  # every slot in one batched matmul
    assert batch.slots.tolist() == [0, 1, 2, 3] and batch.width == 5
    rows = batch.rows.view(SLOTS, batch.width)  # slot 3 has 4 rows: padded with its first row
    assert rows[3].tolist() == [4, 9, 14, 19, 4]
    assert batch.valid is not None and batch.valid[3, :, 0].tolist() == [1, 1, 1, 1, 0]
    assert -1 not in [INDEX_CASES["round_robin_with_base"][r] for r in batch.rows.tolist()]
    imbalanced = ops.make_plan(torch.tensor(INDEX_CASES["imbalanced"]))  # padding would waste >2x
    assert [b.slots.tolist() for b in imbalanced.batches] == [[0], [1], [3]]
    assert ops.make_plan(torch.tensor(INDEX_CASES["no_adapter"])).batches == ()


# ---------------------------------------------------------------- the core and the six ops


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(INDEX_CASES))
def test_lora_matmul_matches_gather_with_zero_for_no_adapter_rows(
    case: str, dtype: torch.dtype
) -> None:
    x, weights = random_case(dtype)
    indices = torch.tensor(INDEX_CASES[case])
    out = ops.lora_matmul(x, weights, indices, dtype)
    torch.testing.assert_close(
        out, fixed_gather_matmul(x, weights, indices, dtype), **tolerance(dtype)
    )
    assert (out[indices < 0] == 0).all()


def test_stock_gather_gives_no_adapter_rows_the_last_slot() -> None:
    """The defect, in the copied stock core: index -1 picks the last slot's weights."""
    x, weights = random_case(torch.float32)
    indices = torch.full((N_ROWS,), -1)
    stock = gather_matmul(x, weights, indices, torch.float32)
    last = gather_matmul(x, weights, torch.full((N_ROWS,), SLOTS - 1), torch.float32)
    torch.testing.assert_close(stock, last)
    assert stock.abs().max() > 0


def reference_add_lora_linear(
    y: torch.Tensor,
    x: torch.Tensor,
    lora_a: tuple[torch.Tensor, ...],
    lora_b: tuple[torch.Tensor, ...],
    scale: float,
    output_slices: tuple[int, ...],
    indices: torch.Tensor,
) -> torch.Tensor:
    """PunicaWrapperCPU.add_lora_linear with the fixed gather core: a float32 shrink buffer per
    slice, then an expand in y's dtype added into the slice's columns."""
    y = y.clone()
    offset = 0
    for a, b, size in zip(lora_a, lora_b, output_slices, strict=True):
        buffer = scale * fixed_gather_matmul(x, a, indices, torch.float32)
        y[:, offset : offset + size] += fixed_gather_matmul(buffer, b, indices, y.dtype)
        offset += size
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(INDEX_CASES))
@pytest.mark.parametrize("output_slices", [(48, 16, 16), (40,)], ids=["qkv", "single"])
def test_fused_lora_linear_matches_per_slice_gather(
    case: str, dtype: torch.dtype, output_slices: tuple[int, ...]
) -> None:
    gen = torch.Generator().manual_seed(1)
    n_in, rank = 48, 8
    x = torch.randn(N_ROWS, n_in, generator=gen).to(dtype)
    lora_a = tuple(
        torch.randn(SLOTS, 1, rank, n_in, generator=gen).to(dtype) for _ in output_slices
    )
    lora_b = tuple(torch.randn(SLOTS, 1, o, rank, generator=gen).to(dtype) for o in output_slices)
    y = torch.randn(N_ROWS, sum(output_slices), generator=gen).to(dtype)
    indices = torch.tensor(INDEX_CASES[case])
    expected = reference_add_lora_linear(y, x, lora_a, lora_b, 0.5, output_slices, indices)
    got = y.clone()
    ops.fused_lora_linear(got, x, lora_a, lora_b, 0.5, output_slices, ops.make_plan(indices))
    torch.testing.assert_close(got, expected, **tolerance(dtype))
    assert torch.equal(got[indices < 0], y[indices < 0])  # no-adapter rows untouched


def test_live_slots_follow_in_place_weight_writes() -> None:
    """Layers an adapter does not target hold zeros in its slot: skipped, until weights change."""
    lora_b = (torch.zeros(SLOTS, 1, 16, 8), torch.zeros(SLOTS, 1, 8, 8))
    cache: dict = {}
    assert ops.live_slots(lora_b, cache) == frozenset()
    lora_b[1][2, 0, :4, :4].copy_(torch.ones(4, 4))  # as vLLM's set_lora writes a slot
    assert ops.live_slots(lora_b, cache) == {2}
    lora_b[1][2] = 0  # as vLLM's reset_lora clears it
    assert ops.live_slots(lora_b, cache) == frozenset()
    with torch.inference_mode():  # no version counter: no caching, every slot counts
        frozen = (torch.zeros(SLOTS, 1, 16, 8),)
    assert ops.live_slots(frozen, cache) is None


def test_fused_lora_linear_skips_only_batches_without_live_slots() -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(N_ROWS, 32, generator=gen)
    lora_a = (torch.randn(SLOTS, 1, 8, 32, generator=gen),)
    lora_b = (torch.randn(SLOTS, 1, 16, 8, generator=gen),)
    y = torch.randn(N_ROWS, 16, generator=gen)
    indices = torch.tensor(INDEX_CASES["imbalanced"])  # batches: slot 0, slot 1, slot 3
    plan = ops.make_plan(indices)
    skipped = y.clone()
    ops.fused_lora_linear(skipped, x, lora_a, lora_b, 1.0, (16,), plan, live=frozenset({1}))
    full = y.clone()
    ops.fused_lora_linear(full, x, lora_a, lora_b, 1.0, (16,), plan)
    on_1 = indices == 1
    torch.testing.assert_close(skipped[on_1], full[on_1])
    assert torch.equal(skipped[~on_1], y[~on_1])


# ---------------------------------------------------------------- against the installed vLLM


@pytest.fixture(scope="module")
def vllm_lora_ops() -> types.ModuleType:
    pytest.importorskip("vllm")
    from vllm.lora.ops.torch_ops import lora_ops

    return lora_ops


def stock(fn: Callable[..., object]) -> Callable[..., object]:
    """vLLM's own function even where the patches are applied (they keep it as `__wrapped__`)."""
    return getattr(fn, "__wrapped__", fn)


@pytest.fixture
def vllm_stock_ops(
    vllm_lora_ops: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> types.ModuleType:
    """vLLM's modules with vLLM's own ops for the test, even if this process applied the patches
    (an in-process engine does, through the plugin): stock sgmv and punica code call them."""
    from vllm.lora.punica_wrapper import punica_cpu

    for name in ops.OPS:
        for module in (vllm_lora_ops, punica_cpu):
            monkeypatch.setattr(module, name, stock(getattr(module, name)))
    return vllm_lora_ops


def op_calls(name: str, indices: torch.Tensor, dtype: torch.dtype) -> tuple[tuple, torch.Tensor]:
    """Arguments for vLLM op `name` (output tensor last among the tensors) on random data."""
    gen = torch.Generator().manual_seed(2)
    n_in, rank = 32, 8
    if "shrink" in name:  # x (model dtype) @ A -> float32 buffer, overwritten
        x = torch.randn(N_ROWS, n_in, generator=gen).to(dtype)
        w = torch.randn(SLOTS, 1, rank, n_in, generator=gen).to(dtype)
        out = torch.randn(N_ROWS, rank, generator=gen)
    else:  # float32 buffer @ B -> y (model dtype), added (or written) into y or a slice of it
        x = torch.randn(N_ROWS, rank, generator=gen)
        w = torch.randn(SLOTS, 1, 16, rank, generator=gen).to(dtype)
        out = torch.randn(N_ROWS, 40, generator=gen).to(dtype)
    if name.startswith("bgmv"):
        extra = {"bgmv_shrink": (0.5,), "bgmv_expand": (True,), "bgmv_expand_slice": (8, 16, True)}
        return (x, w, out, indices, *extra[name]), out
    # sgmv: per-sequence runs of equal slots, as vLLM's prefill metadata gives them
    slots, lengths = torch.unique_consecutive(indices, return_counts=True)
    starts = torch.cumsum(lengths, 0) - lengths
    meta = (starts, lengths, slots, slots.numel(), int(lengths.max()), N_ROWS)
    extra = {"sgmv_shrink": (0.5,), "sgmv_expand": (False,), "sgmv_expand_slice": (8, 16, False)}
    return (x, w, out, *meta, *extra[name]), out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_ops_match_vllm_where_every_row_has_an_adapter(
    vllm_stock_ops: types.ModuleType, name: str, dtype: torch.dtype
) -> None:
    indices = torch.tensor(INDEX_CASES["round_robin"])
    args, out = op_calls(name, indices, dtype)
    stock_out, ours_out = out.clone(), out.clone()
    getattr(vllm_stock_ops, name)(*args[:2], stock_out, *args[3:])
    ops.OPS[name](*args[:2], ours_out, *args[3:])
    torch.testing.assert_close(ours_out, stock_out, **tolerance(dtype))


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_ops_fix_no_adapter_rows_that_vllm_gets_wrong(
    vllm_stock_ops: types.ModuleType, name: str
) -> None:
    import vllm

    indices = torch.tensor(INDEX_CASES["round_robin_with_base"])
    base = indices < 0
    args, out = op_calls(name, indices, torch.float32)
    stock_out, ours_out = out.clone(), out.clone()
    getattr(vllm_stock_ops, name)(*args[:2], stock_out, *args[3:])
    ops.OPS[name](*args[:2], ours_out, *args[3:])
    torch.testing.assert_close(ours_out[~base], stock_out[~base])
    # no-adapter rows: a zero delta, i.e. zero where the op writes, unchanged where it adds
    writes = "shrink" in name or name.startswith("sgmv_expand")  # these calls use add_inputs=False
    columns = slice(8, 24) if name.endswith("slice") else slice(0, 16)
    rows = ours_out[base][:, columns]
    torch.testing.assert_close(rows, torch.zeros_like(rows) if writes else out[base][:, columns])
    if vllm_patches.version_affected(vllm.__version__):  # the premise of the version gate
        assert not torch.allclose(stock_out[base], ours_out[base])


def make_wrapper(index_mapping: list[int], is_prefill: bool, patched: bool) -> object:
    """A PunicaWrapperCPU set up for one step, as vLLM's LoRA model manager does it (slot k holds
    LoRA id k + 1; id 0 = no adapter); the patched methods bound to it when `patched`."""
    from vllm.lora.layers import LoRAMapping
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    wrapper = PunicaWrapperCPU(max_num_batched_tokens=64, max_batches=64, device="cpu")
    update = stock(PunicaWrapperCPU.update_metadata)
    linear = stock(PunicaWrapperCPU.add_lora_linear)
    logits = stock(PunicaWrapperCPU.add_lora_logits)
    if patched:
        update = vllm_patches._grouping_update_metadata(update)
        linear = vllm_patches._grouped_add_lora_linear(linear)
        logits = vllm_patches._skipping_add_lora_logits(logits)
    wrapper.update_metadata = types.MethodType(update, wrapper)
    wrapper.add_lora_linear = types.MethodType(linear, wrapper)
    wrapper.add_lora_logits = types.MethodType(logits, wrapper)
    mapping = LoRAMapping(tuple(index_mapping), tuple(index_mapping), is_prefill=is_prefill)
    wrapper.update_metadata(mapping, [k + 1 for k in range(SLOTS)], SLOTS + 1, 512)
    return wrapper


@pytest.mark.parametrize("is_prefill", [True, False], ids=["prefill", "decode"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_patched_punica_wrapper_matches_vllm_except_the_bug(
    vllm_stock_ops: types.ModuleType, is_prefill: bool, dtype: torch.dtype
) -> None:
    import vllm

    indices = torch.tensor(INDEX_CASES["round_robin_with_base"])
    gen = torch.Generator().manual_seed(3)
    output_slices, n_in, rank = (32, 16, 16), 32, 8
    x = torch.randn(N_ROWS, n_in, generator=gen).to(dtype)
    lora_a = tuple(torch.randn(SLOTS, 1, rank, n_in, generator=gen).to(dtype) for _ in range(3))
    lora_b = tuple(torch.randn(SLOTS, 1, o, rank, generator=gen).to(dtype) for o in output_slices)
    y = torch.randn(N_ROWS, sum(output_slices), generator=gen).to(dtype)
    results = {}
    for patched in (False, True):
        wrapper = make_wrapper((indices + 1).tolist(), is_prefill, patched)
        results[patched] = y.clone()
        wrapper.add_lora_linear(results[patched], x, lora_a, lora_b, 1.0, output_slices)
    base = indices < 0
    torch.testing.assert_close(results[True][~base], results[False][~base], **tolerance(dtype))
    assert torch.equal(results[True][base], y[base])
    if vllm_patches.version_affected(vllm.__version__):  # stock: the last slot's delta
        assert not torch.equal(results[False][base], y[base])


def test_patched_logits_lora_skips_only_all_zero_adapters(vllm_stock_ops: types.ModuleType) -> None:
    """lm_head LoRA: zero B for every adapter in the batch (none targets lm_head) adds nothing."""
    requests = [0, 1, 3, 0, 2]  # LoRA id per request, 0 = none: slots 0, 2, 1
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(len(requests), 32, generator=gen)
    lora_a = torch.randn(SLOTS, 1, 8, 32, generator=gen)
    logits = torch.randn(len(requests), 64, generator=gen)
    for lora_b, changed in [
        (torch.zeros(SLOTS, 1, 64, 8), False),
        (torch.zeros(SLOTS, 1, 64, 8), True),
    ]:
        if changed:
            lora_b[2, 0] = torch.randn(64, 8, generator=gen)  # slot 2: the request with LoRA id 3
        results = {}
        for patched in (False, True):
            wrapper = make_wrapper(requests, False, patched)
            results[patched] = logits.clone()
            wrapper.add_lora_logits(results[patched], x, lora_a, lora_b, 1.0)
        torch.testing.assert_close(results[True], results[False])
        assert torch.equal(results[True], logits) is not changed


# ---------------------------------------------------------------- gating


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.32.0", True),
        ("0.32.3", True),
        ("0.32.1.dev4+gabc", True),
        ("0.31.2", False),
        ("0.33.0", False),
        ("0.33.0rc1", False),
        ("not-a-version", False),
    ],
)
def test_version_gate(version: str, affected: bool) -> None:
    assert vllm_patches.version_affected(version) is affected


@pytest.mark.parametrize(("value", "enabled"), [(None, True), ("1", True), ("0", False)])
def test_env_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool) -> None:
    if value is None:
        monkeypatch.delenv(vllm_patches.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(vllm_patches.ENV_VAR, value)
    assert vllm_patches.patches_enabled() is enabled
