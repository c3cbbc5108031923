"""`PolicyServer`: one API over every backend (vLLM in-process or over HTTP, transformers+peft)."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.serving.adapters import AdapterError, AdapterStore, StoredAdapter
from agents.serving.types import AdapterRef, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


class RequestError(ValueError):
    """A request the server cannot serve (prompt too long, bad settings)."""


def room_for_choices(request: GenerationRequest) -> GenerationRequest:
    """Constrained decoding may spell a choice one character per token: every backend must leave
    room for the longest choice and the end-of-turn token, or the move is cut off (invalid). The
    same for a pattern whose matches are bounded (`formats.max_chars`); an unbounded one keeps
    the request's budget."""
    longest = None
    if request.choices:
        longest = max(len(c) for c in request.choices)
    elif request.pattern is not None:
        from agents.serving.formats import max_chars

        longest = max_chars(request.pattern)
    if longest is None:
        return request
    needed = longest + 1
    if request.sampling.max_tokens >= needed:
        return request
    return replace(request, sampling=replace(request.sampling, max_tokens=needed))


class PolicyServer(ABC):
    """Serves the base model and every published adapter version, many of them in one batch.

    - `generate(requests)`: results in request order; each request names its adapter version (or
    None).
    - `publish(name, weights, config)`: a new version of `name`, servable when the call returns.
    - `hold(ref)` / `release(ref)`: keep an older version servable while something uses it.
    - `retire(ref)`: drop a version once nothing holds it. `served()`: what is servable now.
    """

    backend: str = "abstract"

    def __init__(self, model_path: Path, store: AdapterStore, max_model_len: int) -> None:
        self.model_path = Path(model_path)
        self.store = store
        self.max_model_len = int(max_model_len)
        self.publish_seconds: list[float] = []

    # ------------------------------------------------------------------ generation
    @abstractmethod
    def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        requests = [room_for_choices(r) for r in requests]
        for r in requests:
            self.check_request(r)
        if not requests:
            return []
        return self._generate(requests)

    def check_request(self, request: GenerationRequest) -> None:
        if request.adapter is not None:
            self.store.get(request.adapter)  # raises AdapterError naming what is served
        n = len(request.prompt_token_ids)
        if n == 0:
            raise RequestError("empty prompt")
        if n + request.sampling.max_tokens > self.max_model_len:
            raise RequestError(
                f"prompt of {n} tokens + max_tokens {request.sampling.max_tokens} exceeds the "
                f"model length {self.max_model_len}; shorten the prompt or raise max_model_len"
            )
        if request.choices is not None and not request.choices:
            raise RequestError("choices, when given, must not be empty")
        if request.pattern is not None:
            from agents.serving.formats import check_pattern

            if request.choices is not None:
                raise RequestError("a request takes choices or a pattern, not both")
            try:
                check_pattern(request.pattern)
            except ValueError as e:
                raise RequestError(str(e)) from None

    # ------------------------------------------------------------------ adapters
    @abstractmethod
    def _load(self, stored: StoredAdapter) -> None: ...

    @abstractmethod
    def _unload(self, stored: StoredAdapter) -> None: ...

    def publish(
        self,
        name: str,
        weights: Mapping[str, Any] | Path | str,
        config: Any = None,
        version: int | None = None,
    ) -> AdapterRef:
        """Store and load a new version of `name`; return its ref. Older ones stay while held.

        `weights`: a peft state dict (with its LoraConfig) or a peft adapter folder. `version`
        skips ahead to a given number (used when a run resumes); by default the next one.
        """
        start = time.perf_counter()
        try:
            previous: AdapterRef | None = self.store.latest(name)
        except AdapterError:
            previous = None
        stored = self.store.add(name, weights, config, version)
        try:
            self._load(stored)
        except Exception:  # the previous version stays current and servable
            self.store.abandon(stored.ref, previous)
            raise
        self._evict()
        self.publish_seconds.append(time.perf_counter() - start)
        log.debug("published %s in %.1f ms", stored.ref, 1e3 * self.publish_seconds[-1])
        return stored.ref

    def latest(self, name: str) -> AdapterRef:
        return self.store.latest(name)

    def served(self) -> list[AdapterRef]:
        return self.store.served()

    def export(self, ref: AdapterRef, folder: Path | str) -> Path:
        """Copy a served version to `folder` (a new peft adapter folder: safetensors + json), e.g.
        into a checkpoint; `publish(name, folder, version=...)` serves it again."""
        import shutil

        folder = Path(folder)
        shutil.copytree(self.store.get(ref).path, folder)
        return folder

    def hold(self, ref: AdapterRef) -> None:
        self.store.hold(ref)

    def release(self, ref: AdapterRef) -> None:
        self.store.release(ref)
        self._evict()

    @contextmanager
    def holding(self, refs: Sequence[AdapterRef | None]) -> Iterator[None]:
        """Hold every non-None ref for the duration (e.g. a batch of games in flight)."""
        held: list[AdapterRef] = []
        try:
            for ref in refs:
                if ref is not None:
                    self.hold(ref)
                    held.append(ref)
            yield
        finally:
            for ref in held:
                self.release(ref)

    def retire(self, ref: AdapterRef) -> None:
        self.store.retire(ref)
        self._evict()

    def _evict(self) -> None:
        for stored in self.store.evictable():
            try:
                self._unload(stored)
            finally:
                self.store.remove(stored)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> PolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AdapterError", "PolicyServer", "RequestError"]
