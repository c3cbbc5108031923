"""Policy-server benchmarks; every figure is a ratio to a baseline measured in the same run.

    python benchmarks/serving.py                    # tiny test model (seconds)
    python benchmarks/serving.py --model default    # SmolLM2-135M-Instruct, as in the notes

- P1  32 concurrent game turns over 8 adapters: one batched vLLM call vs the same turns one by one
      with transformers + peft (tokens/s).
- P2  throughput with 1, 2, 4, 8 distinct adapters vs the base model alone, stock vLLM LoRA ops vs
      LoRA League's patched ones: runs `benchmarks/lora_op.py` (one engine per process).
- P3  publish latency (trainer-memory weights -> engine serving them) vs restarting the engine.
- P4  resident memory of the engine's process tree with 1, 8 and 32 adapters loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
HERE = Path(__file__).resolve().parent


def random_adapter(base: Path, seed: int, rank: int):
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    peft_model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(seed)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=gen) * 0.02
    return {k: v.clone() for k, v in get_peft_model_state_dict(peft_model).items()}, config


def game_turn_prompts(tokenizer, n: int) -> list[tuple[int, ...]]:
    """First-turn chat prompts of real games, as the rollout builds them."""
    import envs
    from agents.conversation import Conversation, user_turn_text

    prompts = []
    ids = envs.list_envs("")  # the home games (foreign ones: benchmarks/foreign_learning.py)
    seed = 0
    while len(prompts) < n:
        env = envs.make(ids[seed % len(ids)])
        env.reset(seed=seed)
        agent = env.agent_selection
        chat = Conversation(tokenizer)
        prompts.append(tuple(chat.add_user(user_turn_text(env.infos[agent], first=True))))
        seed += 1
    return prompts


def rss_gb() -> float:
    import psutil

    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**30


def p1(model: Path, adapters, new_tokens: int, dtype: str) -> None:
    from agents.serving import GenerationRequest, SamplingSettings, make_policy_server

    vllm = make_policy_server("vllm", model=model, dtype=dtype, max_loras=8, max_lora_rank=16)
    refs = [vllm.publish(f"a{i}", *adapters[i]) for i in range(8)]
    prompts = game_turn_prompts(vllm.tokenizer, 32)
    sampling = [SamplingSettings(temperature=1.0, max_tokens=new_tokens, seed=i) for i in range(32)]
    requests = [GenerationRequest(p, refs[i % 8], sampling[i]) for i, p in enumerate(prompts)]
    vllm.generate(requests[:2])  # warm-up
    t = time.perf_counter()
    out = vllm.generate(requests)
    v_s = time.perf_counter() - t
    v_tok = sum(len(o.token_ids) for o in out)
    vllm.close()
    hf = make_policy_server(
        "hf", model=model, dtype="float32" if dtype == "float32" else "bfloat16"
    )
    hrefs = [hf.publish(f"a{i}", *adapters[i]) for i in range(8)]
    for r in hrefs:
        hf.hold(r)
    hreqs = [GenerationRequest(p, hrefs[i % 8], sampling[i]) for i, p in enumerate(prompts)]
    t = time.perf_counter()
    hout = [hf.generate([r])[0] for r in hreqs]  # one by one, as a per-agent loop would
    h_s = time.perf_counter() - t
    h_tok = sum(len(o.token_ids) for o in hout)
    hf.close()
    print("\nP1  32 game turns over 8 adapters")
    print(f"    batched vLLM       {v_tok:5d} tokens in {v_s:6.2f} s = {v_tok / v_s:7.1f} tok/s")
    print(f"    one by one HF+peft {h_tok:5d} tokens in {h_s:6.2f} s = {h_tok / h_s:7.1f} tok/s")
    print(f"    ratio              {(v_tok / v_s) / (h_tok / h_s):.1f}x")


def p2(model_arg: str, dtype: str, new_tokens: int) -> None:
    print(
        "\nP2  adapters vs base model (benchmarks/lora_op.py, one engine per process)", flush=True
    )
    cmd = [sys.executable, str(HERE / "lora_op.py"), "--model", model_arg, "--dtype", dtype]
    cmd += ["--new-tokens", str(new_tokens), "--repeats", "1"]
    subprocess.run(cmd, check=True)


def p3_p4(model: Path, adapters, dtype: str) -> None:
    from agents.serving import make_policy_server

    t = time.perf_counter()
    server = make_policy_server("vllm", model=model, dtype=dtype, max_loras=8, max_cpu_loras=64)
    start_s = time.perf_counter() - t
    base_rss = rss_gb()
    rss = {}
    for i in range(32):
        server.publish(f"p{i}", *adapters[i % len(adapters)])
        if i + 1 in (1, 8, 32):
            rss[i + 1] = rss_gb()
    publish_ms = [1e3 * s for s in server.publish_seconds]
    # republishing one name: the steady state of training (old version evicted each time)
    server.publish_seconds.clear()
    for _ in range(20):
        server.publish("learner", *adapters[0])
    steady_ms = sorted(1e3 * s for s in server.publish_seconds)
    median = steady_ms[len(steady_ms) // 2]
    server.close()
    t = time.perf_counter()
    again = make_policy_server("vllm", model=model, dtype=dtype, max_loras=8)
    again.publish("learner", *adapters[0])
    restart_s = time.perf_counter() - t
    again.close()
    print("\nP3  publish latency (weights in trainer memory -> served)")
    print(
        f"    publish, median of 20   {median:8.1f} ms  (first 32 names: "
        f"{sum(publish_ms) / len(publish_ms):.1f} ms mean)"
    )
    print(f"    engine restart + load   {1e3 * restart_s:8.0f} ms  (first start {start_s:.1f} s)")
    print(f"    ratio                   {1e3 * restart_s / median:8.0f}x faster to publish")
    print("\nP4  resident memory of the engine process tree")
    print(f"    engine, no adapter      {base_rss:6.2f} GB")
    for n, gb in rss.items():
        print(
            f"    {n:2d} adapters loaded      {gb:6.2f} GB  (+{1024 * (gb - base_rss):6.1f} MB, "
            f"ratio {gb / base_rss:.3f})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="tiny", help="model name or folder (agents.models)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--only", nargs="*", default=["P1", "P2", "P3", "P4"])
    args = p.parse_args()
    from agents.models import resolve_model

    model = resolve_model(args.model)
    adapters = [random_adapter(model, seed, args.rank) for seed in range(8)]
    print(f"model {model.name}, LoRA rank {args.rank}, {os.cpu_count()} CPUs")
    if "P1" in args.only:
        p1(model, adapters, args.new_tokens, args.dtype)
    if "P3" in args.only or "P4" in args.only:
        p3_p4(model, adapters, args.dtype)
    if "P2" in args.only:
        p2(args.model, args.dtype, args.new_tokens)


if __name__ == "__main__":
    main()
