"""Fixes for known vLLM defects, applied in every vLLM process through the `vllm.general_plugins`
entry point (see pyproject.toml).

vLLM runs the model in processes it starts itself (engine core, workers), so patching vLLM in the
process that creates the engine would not reach the model. vLLM calls every `vllm.general_plugins`
entry point once in each of its processes, before the model is built; `register` is ours.

Patches (vLLM versions in `AFFECTED_VERSIONS` only; `LORA_LEAGUE_VLLM_PATCHES=0` turns them off):

- CPU LoRA, no-adapter rows: the plain-torch LoRA ops index the stacked adapter weights with the
  token's slot, and a token without an adapter has slot -1, so it got the LAST slot's delta
  (vllm-project/vllm PR 48421, open). Patched: rows with slot -1 get no delta.
- CPU LoRA, speed: the same ops copied one weight matrix per token before an einsum. The patched
  ops (`_lora_cpu_ops`) multiply each slot's rows by that slot's weights once. The hot path,
  `PunicaWrapperCPU.add_lora_linear` (every LoRA linear layer), gets a plan of the step's rows per
  slot, made once per step in `update_metadata`, and runs each layer's LoRA as two batched matmuls
  over all slots, the slices of a packed layer (q/k/v) fused. Layers whose B is zero for every
  slot in the batch (modules the adapters do not target, lm_head included) are skipped.
- CPU LoRA, compile (`_lora_compile`): vLLM turns torch.compile off for a LoRA engine on a CPU;
  its one trace would freeze the LoRA path's per-step Python state. The LoRA calls of the
  compiled forward become opaque custom ops, and with `LORA_LEAGUE_LORA_COMPILE=1` the engine
  keeps the CPU's compile mode.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

# A child of vLLM's logger: vLLM configures "vllm" (handler, format, VLLM_LOGGING_LEVEL) in each
# process it starts, where nothing configures our own loggers; this line then shows which process
# (EngineCore, Worker) applied the patch.
log = logging.getLogger("vllm.lora_league.patches")

ENV_VAR = "LORA_LEAGUE_VLLM_PATCHES"
# Versions checked to have the defect (and the internals the patches replace). Widen after checking
# a new release: `tests/integration/test_vllm_patches.py` shows whether the bug is still there.
AFFECTED_VERSIONS = ">=0.32.0,<0.33"
UPSTREAM_FIX = "https://github.com/vllm-project/vllm/pull/48421"

_MARK = "__lora_league_patch__"
_OPS_MODULES = (
    "vllm.lora.ops.torch_ops.lora_ops",
    "vllm.lora.ops.torch_ops",  # re-exports the functions
    "vllm.lora.punica_wrapper.punica_cpu",  # imported them by name: its own references
)


def register() -> None:
    """Entry point that vLLM calls once in each of its processes (in the process that creates
    the engine before the engine core starts; in the engine core after its startup handshake)."""
    from agents.serving.lifetime import children_die_with_this_process, die_with_parent

    # Engine core and workers must not outlive a killed trainer, not even during their start.
    children_die_with_this_process()
    die_with_parent()
    apply_patches()


def patches_enabled() -> bool:
    """False when `LORA_LEAGUE_VLLM_PATCHES` is 0/false/no/off (to run stock vLLM)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in {"0", "false", "no", "off"}


def version_affected(version: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return SpecifierSet(AFFECTED_VERSIONS).contains(parsed, prereleases=True)


def apply_patches() -> bool:
    """Patch this process's vLLM where needed; True when the patches are in place.

    Idempotent: patched objects carry a marker, so a second call changes nothing and logs nothing.
    """
    import vllm

    if not patches_enabled():
        log.info("LoRA League vLLM patches disabled (%s=0): stock vLLM LoRA ops", ENV_VAR)
        return False
    if not version_affected(vllm.__version__):
        log.info(
            "LoRA League: vLLM %s is not in %s, CPU LoRA patches not applied (upstream fix: %s)",
            vllm.__version__,
            AFFECTED_VERSIONS,
            UPSTREAM_FIX,
        )
        return False
    newly = _patch_torch_ops() + _patch_punica_cpu() + _patch_cpu_compile()
    if newly:
        log.info(
            "LoRA League: patched vLLM %s CPU LoRA (pid %d): no-adapter rows get no delta (%s), "
            "LoRA matmuls grouped by adapter slot",
            vllm.__version__,
            os.getpid(),
            UPSTREAM_FIX,
        )
    return True


def cpu_lora_patched() -> bool:
    """Whether this process's vLLM CPU LoRA path is patched (imports vLLM's LoRA modules)."""
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    return _is_patched(PunicaWrapperCPU.add_lora_linear)


def _is_patched(obj: object) -> bool:
    return getattr(obj, _MARK, False)


def _wrap(original: Callable[..., Any], impl: Callable[..., Any]) -> Callable[..., Any]:
    """`impl` under `original`'s name, with `__wrapped__` pointing at the stock function."""

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        return impl(*args, **kwargs)

    setattr(patched, _MARK, True)
    return patched


def _patch_torch_ops() -> int:
    """Replace the six plain-torch LoRA ops wherever vLLM holds a reference to them."""
    import importlib

    from agents.serving import _lora_cpu_ops

    modules = [importlib.import_module(name) for name in _OPS_MODULES]
    count = 0
    for name, impl in _lora_cpu_ops.OPS.items():
        stock = getattr(modules[0], name)
        if _is_patched(stock):
            continue
        patched = _wrap(stock, impl)
        for module in modules:
            if getattr(module, name, None) is stock:
                setattr(module, name, patched)
                count += 1
    return count


def _patch_punica_cpu() -> int:
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    if _is_patched(PunicaWrapperCPU.add_lora_linear):
        return 0
    from agents.serving import _lora_compile as lc

    cls = PunicaWrapperCPU
    cls.update_metadata = _grouping_update_metadata(cls.update_metadata)
    grouped = _grouped_add_lora_linear(cls.add_lora_linear)
    embedding = cls.add_lora_embedding
    # The eager methods, which the compiled graph's custom ops call (`_lora_compile`).
    cls._lora_league_eager_linear = grouped
    cls._lora_league_eager_embedding = embedding
    cls.add_lora_linear = _wrap(grouped, lc.traced_add_lora_linear)
    cls.add_lora_embedding = _wrap(embedding, lc.traced_add_lora_embedding)
    cls.add_lora_logits = _skipping_add_lora_logits(cls.add_lora_logits)
    cls.__init__ = _wrap(cls.__init__, lc.keyed_init(cls.__init__))
    return 5


def _patch_cpu_compile() -> int:
    """A LoRA engine keeps the CPU's compile mode, with `LORA_LEAGUE_LORA_COMPILE=1`."""
    from vllm.platforms.cpu import CpuPlatform

    from agents.serving import _lora_compile as lc

    stock = CpuPlatform.__dict__["check_and_update_config"].__func__
    if _is_patched(stock):
        return 0
    patched = _wrap(stock, lc.keep_compile_mode(stock))
    CpuPlatform.check_and_update_config = classmethod(patched)
    return 1


def _grouping_update_metadata(stock: Callable[..., None]) -> Callable[..., None]:
    from agents.serving._lora_cpu_ops import make_plan

    @functools.wraps(stock)
    def update_metadata(self: Any, *args: Any, **kwargs: Any) -> None:
        stock(self, *args, **kwargs)
        # Every LoRA layer of the step sees the same token -> slot mapping: group the rows once
        # here, not in each layer's call. vLLM calls this whenever the mapping or slots change.
        self._lora_league_plan = make_plan(self.token_lora_indices)
        self._lora_league_sampler_slots = frozenset(self.sampler_indices.tolist()) - {-1}

    setattr(update_metadata, _MARK, True)
    return update_metadata


def _grouped_add_lora_linear(stock: Callable[..., None]) -> Callable[..., None]:
    from agents.serving._lora_cpu_ops import fused_lora_linear, live_slots

    @functools.wraps(stock)
    def add_lora_linear(
        self: Any,
        y: Any,
        x: Any,
        lora_a_stacked: Sequence[Any],
        lora_b_stacked: Sequence[Any],
        scale: float,
        output_slices: Sequence[int],
        *,
        buffer: Any = None,
        **kwargs: Any,
    ) -> None:
        x2 = x.view(-1, x.shape[-1])
        plan = getattr(self, "_lora_league_plan", None)
        ranks = {t.shape[-2] for t in lora_a_stacked} | {t.shape[-1] for t in lora_b_stacked}
        fusable = buffer is None and not kwargs and len(ranks) == 1
        if not fusable or plan is None or plan.n_rows != x2.size(0):
            # Not a case the fused path was written for: the stock code, whose ops are patched
            # too (correct for no-adapter rows, grouped per call).
            stock(
                self,
                y,
                x,
                lora_a_stacked,
                lora_b_stacked,
                scale,
                output_slices,
                buffer=buffer,
                **kwargs,
            )
            return
        live_cache = self.__dict__.setdefault("_lora_league_live", {})
        fused_lora_linear(
            y.view(-1, y.shape[-1]),
            x2,
            lora_a_stacked,
            lora_b_stacked,
            scale,
            output_slices,
            plan,
            live_slots(lora_b_stacked, live_cache),
        )

    setattr(add_lora_linear, _MARK, True)
    return add_lora_linear


def _skipping_add_lora_logits(stock: Callable[..., None]) -> Callable[..., None]:
    from agents.serving._lora_cpu_ops import live_slots

    @functools.wraps(stock)
    def add_lora_logits(
        self: Any,
        y: Any,
        x: Any,
        lora_a_stacked: Any,
        lora_b_stacked: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        # vLLM wraps the logits processor whenever lm_head supports LoRA; adapters without lm_head
        # weights leave it zero, and a zero B adds nothing: skip the (vocabulary-wide) expand.
        used = getattr(self, "_lora_league_sampler_slots", None)
        live = live_slots((lora_b_stacked,), self.__dict__.setdefault("_lora_league_live", {}))
        if used is not None and live is not None and live.isdisjoint(used):
            return
        stock(self, y, x, lora_a_stacked, lora_b_stacked, *args, **kwargs)

    setattr(add_lora_logits, _MARK, True)
    return add_lora_logits
