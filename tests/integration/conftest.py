"""Fixtures for integration tests: the tiny model's servers and LoRA adapters with real,
distinct weights."""

from __future__ import annotations

from pathlib import Path

import pytest

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def random_adapter(base: Path, seed: int, rank: int = 8, scale: float = 0.3):
    """(peft state dict, LoraConfig) of an adapter with random B matrices: it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(seed)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=gen) * scale
    return get_peft_model_state_dict(peft_model), config


def tiny_vllm_server(model: Path, store_dir: Path, max_loras: int, max_lora_rank: int):
    """The real vLLM engine on the tiny model, fp32, with a small KV cache."""
    from agents.serving import make_policy_server

    return make_policy_server(
        "vllm",
        model=model,
        dtype="float32",
        max_loras=max_loras,
        max_lora_rank=max_lora_rank,
        kv_cache_gib=1,
        store_dir=store_dir,
    )


@pytest.fixture(scope="session")
def adapters(tiny_model):
    return [random_adapter(tiny_model, seed) for seed in range(6)]
