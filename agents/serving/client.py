"""`RemotePolicyServer`: the `PolicyServer` API over HTTP, talking to `python -m agents.serving`.

Publishing writes the adapter into the server's adapter store (same machine or shared disk) and asks
the server to load it; generation sends token-id prompts to `/v1/completions`, concurrently, and
reads
back token ids and the sampled tokens' log-probs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agents.serving.adapters import AdapterError, AdapterStore, StoredAdapter
from agents.serving.base import PolicyServer, RequestError
from agents.serving.guard import API_KEY_ENV
from agents.serving.server import BASE_MODEL_NAME
from agents.serving.types import AdapterRef, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server answered with an error."""


class RemotePolicyServer(PolicyServer):
    backend = "remote"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = 300.0,
        max_concurrency: int = 64,
        wait_ready: float = 0.0,
        api_key: str | None = None,
    ) -> None:
        """`api_key` (default: `$LORA_LEAGUE_API_KEY`) is sent as `Authorization: Bearer`."""
        import httpx
        from transformers import AutoTokenizer

        self.base_url = base_url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)
        if wait_ready:
            self.wait_ready(wait_ready)
        info = self._get("/lora_league/info")
        models = self._get("/v1/models")["data"]
        max_len = next(m.get("max_model_len", 2048) for m in models if m["id"] == BASE_MODEL_NAME)
        super().__init__(Path(info["model_path"]), AdapterStore(info["adapter_store"]), max_len)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency)

    # ------------------------------------------------------------------ http
    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server at {self.base_url} not ready after {timeout:.0f} s")
            time.sleep(0.5)

    def _check(self, response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except Exception:
                message = response.text[:500]
            raise ServerError(f"HTTP {response.status_code} from {response.url.path}: {message}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:  # the LoRA endpoints answer in plain text
            return response.text

    def _get(self, path: str) -> Any:
        return self._check(self._http.get(path))

    def _post(self, path: str, body: dict) -> Any:
        return self._check(self._http.post(path, json=body))

    # ------------------------------------------------------------------ PolicyServer
    def _load(self, stored: StoredAdapter) -> None:
        body = {"lora_name": stored.ref.lora_name, "lora_path": str(stored.path)}
        try:
            self._post("/v1/load_lora_adapter", body)
        except ServerError as e:
            raise AdapterError(str(e)) from None

    def _unload(self, stored: StoredAdapter) -> None:
        try:
            self._post("/v1/unload_lora_adapter", {"lora_name": stored.ref.lora_name})
        except ServerError as e:
            log.warning("unloading %s: %s", stored.ref, e)

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        s = request.sampling
        body: dict[str, Any] = {
            "model": BASE_MODEL_NAME if request.adapter is None else request.adapter.lora_name,
            "prompt": list(request.prompt_token_ids),
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "logprobs": 0,
            "return_token_ids": True,
            "skip_special_tokens": True,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if request.choices is not None:
            body["structured_outputs"] = {"choice": list(request.choices)}
        elif request.pattern is not None:
            body["structured_outputs"] = {"regex": request.pattern}
        return body

    def _one(self, request: GenerationRequest) -> GenerationResult:
        try:
            out = self._post("/v1/completions", self._body(request))
        except ServerError as e:
            raise RequestError(str(e)) from None
        choice = out["choices"][0]
        token_ids = tuple(int(t) for t in choice["token_ids"])
        logprobs = tuple(float(x) for x in choice["logprobs"]["token_logprobs"])
        return GenerationResult(
            text=choice["text"],
            prompt_token_ids=request.prompt_token_ids,
            token_ids=token_ids,
            logprobs=logprobs,
            adapter=request.adapter,
            finish_reason=str(choice.get("finish_reason")),
            choices=request.choices,
            pattern=request.pattern,
        )

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return list(self._pool.map(self._one, requests))

    def remote_adapters(self) -> list[AdapterRef]:
        """What the server itself lists (adapters loaded over HTTP)."""
        ids = [m["id"] for m in self._get("/v1/models")["data"] if m["id"] != BASE_MODEL_NAME]
        return sorted(AdapterRef.parse(i) for i in ids if "@v" in i)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._http.close()
        # The store belongs to the server: do not delete it (super().close() would for a temp
        # store).
