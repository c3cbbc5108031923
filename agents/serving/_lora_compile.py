"""CPU LoRA under torch.compile: the LoRA calls as opaque custom ops, and the compile mode kept.

vLLM's CPU platform turns torch.compile off whenever LoRA is enabled (`CpuPlatform.
check_and_update_config` sets `CompilationMode.NONE`), so a LoRA engine runs the whole model
eagerly. The reason is in how the CPU compiles: `DYNAMO_TRACE_ONCE` traces the model's forward
once, during the warm-up run, with `fullgraph=True` and no guards. Every Python value the LoRA
path reads while tracing becomes a constant of the graph: the punica wrapper's `no_lora` flag
(True at warm-up, so the traced graph would never apply an adapter), its batch sizes, and our
patched ops' per-step plan of rows per slot. Nothing would fail; every request would silently
get the base model.

The fix, as vLLM does for its GPU and XPU LoRA kernels (`lora/ops/triton_ops/lora_shrink_op.py`,
`direct_register_custom_op`): the two LoRA calls in the compiled forward, `add_lora_linear`
(every LoRA linear layer) and `add_lora_embedding`, become custom ops, `lora_league::
add_lora_linear` and `lora_league::add_lora_embedding`, that dynamo records as one opaque node
each and never traces into. Their bodies run eagerly at every step, the patched ops with the
step's plan. An op finds its wrapper by a key that is a constant of the layer (`keyed_init`,
one per `PunicaWrapperCPU`). `add_lora_logits` needs nothing: the logits are computed outside the
compiled forward. Outside tracing the wrapper's methods call the eager code directly, so an
engine without compile is unchanged.

`keep_compile_mode` then puts back the CPU's compile mode for a LoRA engine. It is opt-in
(`LORA_LEAGUE_LORA_COMPILE=1`) until it measures better: the warm-up compile costs time at every
engine start (vLLM caches the compiled graph on disk between runs).
"""

from __future__ import annotations

import itertools
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

import torch

log = logging.getLogger("vllm.lora_league.compile")

ENV_VAR = "LORA_LEAGUE_LORA_COMPILE"

#: Key -> live PunicaWrapperCPU. A key is a constant of the compiled graph, and vLLM may reload a
#: graph compiled in another process (its AOT cache): there the first wrapper is key 0 as well.
#: A second engine in one process gets key 1 but may load a graph that says 0: the first
#: engine's wrapper is gone by then (weak references), so the op fails loudly instead of
#: serving another engine's LoRA state.
_WRAPPERS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_KEYS = itertools.count()
#: Logged by an op's first call: proof, in the engine's log, that a compiled graph runs the ops.
OP_LOG = "LoRA League: LoRA runs as custom ops of the compiled graph"
_logged: list[bool] = []


def compile_enabled() -> bool:
    """True when `LORA_LEAGUE_LORA_COMPILE` is 1/true/yes/on."""
    return os.environ.get(ENV_VAR, "0").strip().lower() in {"1", "true", "yes", "on"}


def keyed_init(stock: Callable[..., None]) -> Callable[..., None]:
    """`PunicaWrapperCPU.__init__` that gives the wrapper the key the custom ops find it by."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        stock(self, *args, **kwargs)
        self._lora_league_key = next(_KEYS)
        _WRAPPERS[self._lora_league_key] = self

    return __init__


def _target(key: int) -> Any:
    wrapper = _WRAPPERS.get(key)
    if wrapper is None:
        raise RuntimeError(
            f"compiled LoRA op for punica wrapper {key}, which this process does not hold: "
            f"a graph compiled for another engine; clear vLLM's compile cache or unset {ENV_VAR}"
        )
    if not _logged:
        _logged.append(True)
        log.info("%s (pid %d)", OP_LOG, os.getpid())
    return wrapper


@torch.library.custom_op("lora_league::add_lora_linear", mutates_args=("y",))
def add_lora_linear_op(
    y: torch.Tensor,
    x: torch.Tensor,
    lora_a: list[torch.Tensor],
    lora_b: list[torch.Tensor],
    scale: float,
    output_slices: list[int],
    wrapper: int,
) -> None:
    """y += LoRA(x) for the rows of each adapter slot, as the wrapper's current step says."""
    _target(wrapper)._lora_league_eager_linear(
        y, x, tuple(lora_a), tuple(lora_b), scale, tuple(output_slices)
    )


@add_lora_linear_op.register_fake
def _(y, x, lora_a, lora_b, scale, output_slices, wrapper) -> None:
    return None


@torch.library.custom_op("lora_league::add_lora_embedding", mutates_args=("y",))
def add_lora_embedding_op(
    y: torch.Tensor, x: torch.Tensor, lora_b: torch.Tensor, add_inputs: bool, wrapper: int
) -> None:
    """y += x @ B for the rows of each adapter slot (the embedding's LoRA)."""
    _target(wrapper)._lora_league_eager_embedding(y, x, lora_b, add_inputs)


@add_lora_embedding_op.register_fake
def _(y, x, lora_b, add_inputs, wrapper) -> None:
    return None


# The wrapper's two LoRA methods. Each runs the eager method its class keeps
# (`_lora_league_eager_linear`, `_lora_league_eager_embedding`, set by `vllm_patches`); while
# dynamo traces, it records the custom op instead, which runs that same method at every call.
def traced_add_lora_linear(
    self: Any,
    y: torch.Tensor,
    x: torch.Tensor,
    lora_a_stacked: tuple[torch.Tensor, ...],
    lora_b_stacked: tuple[torch.Tensor, ...],
    scale: float,
    output_slices: tuple[int, ...],
    *,
    buffer: Any = None,
    **kwargs: Any,
) -> None:
    if not torch.compiler.is_compiling():
        self._lora_league_eager_linear(y, x, lora_a_stacked, lora_b_stacked, scale,
                                       output_slices, buffer=buffer, **kwargs)  # fmt: skip
        return
    if buffer is not None or kwargs:  # traced, the eager code would freeze its state
        raise NotImplementedError(f"compiled CPU LoRA: no buffer or {sorted(kwargs)}")
    torch.ops.lora_league.add_lora_linear(
        y, x, list(lora_a_stacked), list(lora_b_stacked), float(scale),
        [int(s) for s in output_slices], self._lora_league_key,
    )  # fmt: skip


def traced_add_lora_embedding(
    self: Any,
    y: torch.Tensor,
    x: torch.Tensor,
    lora_b_stacked: torch.Tensor,
    add_inputs: bool = True,
    **kwargs: Any,
) -> None:
    if not torch.compiler.is_compiling():
        self._lora_league_eager_embedding(y, x, lora_b_stacked, add_inputs, **kwargs)
        return
    # vLLM 0.32's embedding layer passes `add_input=True` (sic), which lands in kwargs.
    add_inputs = kwargs.pop("add_input", add_inputs)
    if kwargs:  # traced, the eager code would freeze its state
        raise NotImplementedError(f"compiled CPU LoRA embedding: no {sorted(kwargs)}")
    torch.ops.lora_league.add_lora_embedding(
        y, x, lora_b_stacked, bool(add_inputs), self._lora_league_key
    )


def keep_compile_mode(stock: Callable[..., None]) -> Callable[..., None]:
    """`CpuPlatform.check_and_update_config` (the function under the classmethod) that leaves a
    LoRA engine in the compile mode the CPU gives an engine without LoRA."""

    def check_and_update_config(cls: Any, vllm_config: Any) -> None:
        from vllm.config import CompilationMode

        wanted = vllm_config.compilation_config.mode
        stock(cls, vllm_config)
        if (
            compile_enabled()
            and vllm_config.lora_config is not None
            # VLLM_COMPILE as asked; DYNAMO_TRACE_ONCE when a config is checked a second time
            and wanted in (CompilationMode.VLLM_COMPILE, CompilationMode.DYNAMO_TRACE_ONCE)
            and vllm_config.compilation_config.mode == CompilationMode.NONE
        ):
            vllm_config.compilation_config.mode = CompilationMode.DYNAMO_TRACE_ONCE

    return check_and_update_config
