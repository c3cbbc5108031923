"""Device choice and the memory budget, checked before anything heavy starts."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ENGINE_OVERHEAD_GB = 2.5  # vLLM engine core + worker processes, measured 3-4 GB with a 10M model
LEARNER_OVERHEAD_GB = 1.0  # python, torch, tokenizer, optimizer bookkeeping
MAX_AUTO_KV_GIB = 4.0
#: vLLM's default cap on the sequences a CPU engine schedules at once (`max_num_seqs`): a KV
#: cache larger than that many full-length sequences need is never used.
ENGINE_MAX_SEQUENCES = 256
TYPICAL_TOKENS = 512  # tokens of a typical agent chat (the learner's sequence)


@dataclass(frozen=True)
class ResourcePlan:
    device: str
    budget_gb: float
    kv_cache_gib: float
    estimate_gb: float


def detect_device() -> str:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        log.info("device: cuda (%s)", name)
        return "cuda"
    log.info("device: cpu (no CUDA device found)")
    return "cpu"


def machine_memory_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**30


def plan_resources(
    model_path: Path,
    budget_gb: float | None,
    kv_cache_gib: float | None,
    micro_batch_size: int,
    max_model_len: int,
    engine: bool,
) -> ResourcePlan:
    """Size the KV cache from the budget and check that the run fits; raise with what to change."""
    device = detect_device()
    total = machine_memory_gb()
    budget = float(budget_gb) if budget_gb else total
    if budget > total:
        log.warning("memory budget %.1f GB exceeds this machine's %.1f GB", budget, total)
    from agents.models import describe_model

    facts = describe_model(model_path)
    params = facts["params"] or 0
    weights_gb = params * 4 / 2**30  # learner in fp32; the engine's copy counted below
    hidden = facts["hidden_size"] or 1024
    layers = facts["num_layers"] or 12

    # Activations kept for backward: ~16 floats per hidden unit per layer per token, at a typical
    # episode length (chats rarely reach max_model_len; the worst case is noted in the log).
    def activations(tokens: int) -> float:
        return micro_batch_size * tokens * hidden * layers * 16 * 4 / 2**30

    activations_gb = activations(min(max_model_len, TYPICAL_TOKENS))
    worst_gb = activations(max_model_len)
    learner_gb = weights_gb + activations_gb + LEARNER_OVERHEAD_GB
    if device == "cpu":  # eager attention's weights, kept for backward up to a bound
        from trainers.learn.scoring import EAGER_ATTENTION_BYTES

        learner_gb += EAGER_ATTENTION_BYTES / 2**30
    kv = kv_cache_gib
    if engine and kv is None:
        kv = min(MAX_AUTO_KV_GIB, max(1.0, 0.25 * budget))
        if facts["kv_bytes_per_token"]:  # None without the shape; a small model fills less
            needed = ENGINE_MAX_SEQUENCES * max_model_len * facts["kv_bytes_per_token"] / 2**30
            kv = min(kv, max(1.0, math.ceil(needed)))
    engine_gb = (weights_gb + (kv or 0) + ENGINE_OVERHEAD_GB) if engine else 0.0
    estimate = learner_gb + engine_gb
    if device == "cpu" and estimate > budget:
        raise MemoryError(
            f"this run needs about {estimate:.1f} GB (learner {learner_gb:.1f}, engine "
            f"{engine_gb:.1f} incl. KV cache {kv or 0:.1f} GiB) but the memory budget is "
            f"{budget:.1f} GB: lower micro_batch_size, max_model_len or kv_cache_gib, use a "
            f"smaller model, or raise memory_budget_gb"
        )
    if device == "cpu" and estimate - activations_gb + worst_gb > budget:
        # Most games never come near max_model_len: a note for the log file, not the first line
        # every user reads.
        log.info(
            "a micro-batch of %d chats of the full %d tokens would need about %.1f GB more; "
            "lower micro_batch_size or max_model_len if episodes get that long",
            micro_batch_size,
            max_model_len,
            worst_gb - activations_gb,
        )
    log.info(
        "memory plan: ~%.1f GB of %.1f GB budget (KV cache %.1f GiB, %.0fM params)",
        estimate,
        budget,
        kv or 0,
        params / 1e6,
    )
    return ResourcePlan(device, budget, float(kv or 0), estimate)
