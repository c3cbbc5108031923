"""vLLM's CPU LoRA path with LoRA League's patches, compiled (`LORA_LEAGUE_LORA_COMPILE=1`), vs
transformers + peft, on one mixed batch.

One `generate` call mixes requests without an adapter with requests on each of 4 adapters (all
engine slots in use). Every request's greedy tokens and per-token log-probs must match transformers
+ peft. Stock vLLM 0.32 fails this: no-adapter rows get the last slot's LoRA delta; the second test
runs the same batch with the patches off (`LORA_LEAGUE_VLLM_PATCHES=0`, in a subprocess so the
setting reaches every vLLM process) and shows that the no-adapter requests then differ from the base
model, so the first test can fail.

The patched engine runs in this process (vLLM starts its engine-core and worker processes itself).
This file is also the subprocess' script: `python tests/integration/test_vllm_patches.py --help`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.engine,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm"),
]

N_ADAPTERS = 4
RANK = 8
NEW_TOKENS = 16
# patched vs stock-with-the-fix and vs transformers + peft: fp32 op-order differences, measured
# ~1e-5 (see test_serving.TOLERANCE); 1e-4 leaves 10x
LOGPROB_TOL = 1e-4
PATCH_LOG = "LoRA League: patched vLLM"
TEXTS = [
    "You are player_0. Your move: [rock], [paper] or [scissors]?",
    "What is 17 + 25?",
    "Your card is the King. You may [check] or [bet].",
    "Board: A1 B2 C3, X to move. Place your mark:",
    "Pool: 3 books, 2 hats, 1 ball. I propose",
    "Send a one-line message: [say I will cooperate if you do]. Then choose",
    "Round 1 of 5.",
    "The target is apple. Give a one-word clue:",
]
# Request i uses adapter ADAPTER_OF[i] (None = base model): no-adapter requests sit between and
# after LoRA requests, and every adapter slot (the last one included) is in use.
ADAPTER_OF: list[int | None] = [None, 0, 1, 2, 3, None, 3, None, 2, 1, 0, None, 1, None, 3]


# ---------------------------------------------------------------- building blocks (also for the
# subprocess)


def build_adapters(model_dir: Path, out_dir: Path) -> list[Path]:
    """N_ADAPTERS random peft adapters (q/k/v/o). B is random and non-zero (peft would start it at
    zero, i.e. no effect), and small enough that fp32 round-off stays far below LOGPROB_TOL."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = LoraConfig(
        r=RANK,
        lora_alpha=2 * RANK,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        lora_dropout=0.0,
    )
    paths = []
    for k in range(N_ADAPTERS):
        torch.manual_seed(100 + k)  # A: peft's own random init, seeded
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, 0.05)
        path = out_dir / f"adapter{k}"
        model.save_pretrained(path)
        paths.append(path)
    return paths


def batch_prompts(model_dir: Path) -> list[list[int]]:
    """Token ids of each request's prompt (vLLM and transformers then see the same tokens)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return [tokenizer(TEXTS[i % len(TEXTS)])["input_ids"] for i in range(len(ADAPTER_OF))]


def run_engine(model_dir: Path, adapters: list[Path]) -> list[dict[str, Any]]:
    """The whole mixed batch in ONE vLLM generate call; greedy tokens and their log-probs (and,
    in every request's record, the compile mode the engine ran)."""
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    llm = LLM(
        str(model_dir),
        dtype="float32",
        enable_lora=True,
        max_loras=N_ADAPTERS,  # = adapters in the batch: the last slot holds one (the bug's source)
        max_lora_rank=RANK,
        max_model_len=256,
        seed=0,
    )
    try:
        loras = [LoRARequest(f"adapter{k}", k + 1, str(p)) for k, p in enumerate(adapters)]
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in batch_prompts(model_dir)]
        requests = [None if k is None else loras[k] for k in ADAPTER_OF]
        params = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS, logprobs=0, ignore_eos=True)
        outputs = llm.generate(prompts, params, lora_request=requests, use_tqdm=False)
        mode = llm.llm_engine.vllm_config.compilation_config.mode.name
    finally:
        llm.llm_engine.engine_core.shutdown()  # one engine at a time: free it before returning
        del llm
        gc.collect()
    results = []
    for out in outputs:
        completion = out.outputs[0]
        tokens = list(completion.token_ids)
        logprobs = [step[t].logprob for step, t in zip(completion.logprobs, tokens, strict=True)]
        results.append({"tokens": tokens, "logprobs": logprobs, "compile_mode": mode})
    return results


def score_with_peft(
    model_dir: Path,
    adapters: list[Path],
    results: list[dict[str, Any]],
    adapter_of: list[int | None] = ADAPTER_OF,
) -> list[dict[str, Any]]:
    """transformers + peft (adapter `adapter_of[i]` for request i) on each request's prompt +
    engine tokens, one forward pass each.

    `greedy`: at every position the engine's token is transformers' argmax, which (by induction
    over positions) is the same as transformers' own greedy generation giving the same tokens.
    `max_diff`: the largest |engine log-prob - transformers log-prob| over the generated tokens.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapters[0], adapter_name="adapter0")
    for k, path in enumerate(adapters[1:], start=1):
        model.load_adapter(path, adapter_name=f"adapter{k}")
    model.eval()
    scores = []
    for prompt, adapter, result in zip(batch_prompts(model_dir), adapter_of, results, strict=True):
        tokens = torch.tensor(result["tokens"])
        ids = torch.tensor([prompt + result["tokens"]])
        with torch.no_grad():
            if adapter is None:
                with model.disable_adapter():
                    logits = model(ids).logits[0]
            else:
                model.set_adapter(f"adapter{adapter}")
                logits = model(ids).logits[0]
        logprobs = torch.log_softmax(logits[len(prompt) - 1 : -1].float(), dim=-1)
        engine = torch.tensor(result["logprobs"], dtype=torch.float32)
        scores.append(
            {
                "greedy": bool((logprobs.argmax(-1) == tokens).all()),
                "max_diff": float((logprobs.gather(1, tokens[:, None])[:, 0] - engine).abs().max()),
            }
        )
    return scores


# ---------------------------------------------------------------- fixtures and tests


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agents.models.tiny import tiny_model_path

    cache = os.environ.get("LORA_LEAGUE_CACHE") or tmp_path_factory.mktemp("model_cache")
    return tiny_model_path(Path(cache))


@pytest.fixture(scope="module")
def adapters(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_adapters(model_dir, tmp_path_factory.mktemp("adapters"))


def _describe(scores: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"request {i}, adapter {a}: greedy {s['greedy']}, max |log-prob diff| {s['max_diff']:.1e}"
        for i, (a, s) in enumerate(zip(ADAPTER_OF, scores, strict=True))
    )


def test_mixed_batch_matches_transformers_peft(
    model_dir: Path,
    adapters: list[Path],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LORA_LEAGUE_VLLM_PATCHES", raising=False)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))
    # Compiled, as an engine without LoRA is (`agents.serving._lora_compile`): the graph traced
    # once at warm-up, with no adapter active, must still apply every request's adapter. The
    # eager patched engine meets the same batch in tests/integration/test_serving.py.
    monkeypatch.setenv("LORA_LEAGUE_LORA_COMPILE", "1")
    results = run_engine(model_dir, adapters)
    assert {r["compile_mode"] for r in results} == {"DYNAMO_TRACE_ONCE"}
    logs = capfd.readouterr()
    # vLLM runs the model in processes of its own: the plugin must have patched them.
    patched = [line for line in (logs.out + logs.err).splitlines() if PATCH_LOG in line]
    assert any("Worker" in line for line in patched), "no patch log line from a vLLM worker"
    # and its compiled graph called the LoRA custom ops (an eager engine would not)
    assert "LoRA runs as custom ops of the compiled graph" in logs.out + logs.err
    scores = score_with_peft(model_dir, adapters, results)
    report = _describe(scores)
    assert all(s["greedy"] for s in scores), report
    assert max(s["max_diff"] for s in scores) <= LOGPROB_TOL, report
    # and the adapters matter: their requests are far from what the base model would give
    as_base = score_with_peft(model_dir, adapters, results, [None] * len(ADAPTER_OF))
    for adapter, score in zip(ADAPTER_OF, as_base, strict=True):
        assert adapter is None or not score["greedy"] or score["max_diff"] > 1e-2


def test_without_patches_no_adapter_requests_get_a_lora_delta(
    model_dir: Path, adapters: list[Path], tmp_path: Path
) -> None:
    """The bug the patch fixes is real on this vLLM: with the patches off, the same batch gives
    every no-adapter request some adapter's delta (while LoRA requests stay right)."""
    out = tmp_path / "stock.json"
    cmd = [sys.executable, __file__, "--model", str(model_dir), "--out", str(out)]
    cmd += ["--adapters", *map(str, adapters)]
    env = dict(os.environ, LORA_LEAGUE_VLLM_PATCHES="0", VLLM_CPU_KVCACHE_SPACE="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-10000:]
    assert PATCH_LOG not in proc.stdout + proc.stderr
    scores = score_with_peft(model_dir, adapters, json.loads(out.read_text()))
    report = _describe(scores)
    for adapter, score in zip(ADAPTER_OF, scores, strict=True):
        if adapter is None:
            assert not score["greedy"] or score["max_diff"] > 1e-2, report
        else:
            assert score["greedy"] and score["max_diff"] <= LOGPROB_TOL, report


# ---------------------------------------------------------------- subprocess entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the mixed LoRA batch in one vLLM engine.")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--adapters", type=Path, nargs=N_ADAPTERS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="results as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    args.out.write_text(json.dumps(run_engine(args.model, args.adapters)))


if __name__ == "__main__":  # vLLM spawns processes: engine creation must sit behind this guard
    main()
