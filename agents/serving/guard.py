"""ASGI middleware for server mode: checks what vLLM's own endpoints take on trust.

- With an API key (`--api-key`), every endpoint but `GET /health` and `GET /ping` wants
  `Authorization: Bearer <key>`: vLLM's own `--api-key` guards only `/v1`, `/v2`, `/inference`
  and leaves `/invocations` (inference too), `/tokenize`, `/metrics`, ... open.
- A body is refused (413) from its Content-Length header before any of it is read, and while it
  streams in (chunked uploads have no header): at most the limit plus one chunk is ever held.
- A body that is not a JSON object gets a 400 with a message instead of a stack trace.
- Generation requests are bounded (`RequestLimits`): sequences per request (`n` times the number
  of prompts), tokens per sequence and their product, so one request cannot hold the engine while
  small ones queue behind it.
- `/v1/load_lora_adapter` may only load folders inside the adapter store, whose every file resolves
  inside the store (a symlink to a file elsewhere is refused), with a readable adapter_config.json
  and safetensors weights; anything the engine still fails to load is a 400 (the adapter is what
  the client sent), not a 500.
- `GET /lora_league/info` tells a client the store and model folder, so it can publish into the
  store.

The server (`agents.serving.server`) passes the settings through environment variables, read when
vLLM builds its app.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from agents.serving.adapters import AdapterError, resolve_inside

STORE_ENV = "LORA_LEAGUE_ADAPTER_STORE"
MODEL_ENV = "LORA_LEAGUE_MODEL_PATH"
LIMITS_ENV = "LORA_LEAGUE_SERVER_LIMITS"
API_KEY_ENV = "LORA_LEAGUE_API_KEY"
OPEN_PATHS = frozenset({"/health", "/ping"})  # liveness probes answer without a key
LOAD_ADAPTER_PATH = "/v1/load_lora_adapter"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
MAX_CONFIG_BYTES = 1 << 20
GENERATION_KEYS = frozenset({"prompt", "messages", "input", "sampling_params"})
MAX_SAFETENSORS_HEADER = 100 << 20  # the safetensors library's own cap on its JSON header

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RequestLimits:
    """Per-request bounds. With vLLM's CPU default of 128 running sequences, a request of at most
    16 sequences leaves room for a small request to join the next engine step unless eight such
    requests are already running."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_sequences: int = 16  # n x prompts in one request
    max_tokens: int = 2048  # per sequence (the server sets it to --max-model-len by default)
    max_request_tokens: int = 8192  # sequences x max_tokens
    max_lora_rank: int = 16

    @classmethod
    def from_env(cls) -> RequestLimits:
        raw = os.environ.get(LIMITS_ENV)
        return cls(**json.loads(raw)) if raw else cls()

    def to_env(self) -> str:
        return json.dumps(asdict(self))


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str, kind: str = "BadRequestError") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status)


def store_root() -> Path:
    return Path(os.environ[STORE_ENV]).resolve()


# ---------------------------------------------------------------------- generation limits
def _int_field(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer, got {type(value).__name__}")
    if abs(value) > 2**63:
        raise BadRequest(f"{key} is over 2**63")
    return value


def _prompt_count(prompt: object) -> int:
    """Prompts in a completion request: a string or a token-id list is one; a list of them is
    several."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], list | str):
        return len(prompt)
    return 1


def check_limits(data: dict, limits: RequestLimits) -> None:
    """Raise BadRequest if a generation request asks for more than `limits` allow. A request
    that does not say how many tokens it wants counts as wanting `limits.max_tokens` (chat and
    responses requests default to the rest of the context), except completions (vLLM's default
    is 16)."""
    n = _int_field(data, "n")
    if n is not None and n < 1:
        raise BadRequest(f"n must be at least 1, got {n}")
    sequences = (n or 1) * _prompt_count(data.get("prompt"))
    if sequences > limits.max_sequences:
        raise BadRequest(
            f"request asks for {sequences} sequences (n x prompts); this server allows "
            f"{limits.max_sequences} per request (--max-sequences)"
        )
    asked = [
        v
        for key in ("max_tokens", "max_completion_tokens", "max_output_tokens", "min_tokens")
        if (v := _int_field(data, key)) is not None
    ]
    if asked:
        tokens = max(asked)
    elif "prompt" in data and "messages" not in data:
        tokens = 16  # vLLM's completions default
    else:
        tokens = limits.max_tokens
    if tokens > limits.max_tokens:
        raise BadRequest(
            f"max_tokens {tokens} is over this server's limit of {limits.max_tokens} "
            "(--max-tokens)"
        )
    if sequences * tokens > limits.max_request_tokens:
        raise BadRequest(
            f"request asks for up to {sequences} x {tokens} = {sequences * tokens} tokens; this "
            f"server allows {limits.max_request_tokens} per request (--max-request-tokens): "
            "lower n or max_tokens"
        )


# ---------------------------------------------------------------------- adapter folders
def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise BadRequest(f"{path.name} is truncated ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_SAFETENSORS_HEADER):
            raise BadRequest(f"{path.name} is truncated or not safetensors (header of {n} bytes)")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"{path.name} has an unreadable header: {e}") from None
    if not isinstance(header, dict):
        raise BadRequest(f"{path.name} has an unreadable header")
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            raise BadRequest(f"{path.name}: tensor {key!r} has no data_offsets")
        end = max(end, *(int(o) for o in offsets))
    if 8 + n + end > size:
        raise BadRequest(f"{path.name} is truncated: {size} bytes, its header needs {8 + n + end}")


def _check_config(path: Path, max_rank: int) -> None:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise BadRequest(f"{ADAPTER_CONFIG} is over {MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"{ADAPTER_CONFIG} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise BadRequest(f"{ADAPTER_CONFIG} must hold a JSON object")
    r = config.get("r")
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise BadRequest(f"{ADAPTER_CONFIG}: r must be a positive integer, got {r!r}")
    if r > max_rank:
        raise BadRequest(f"{ADAPTER_CONFIG}: rank {r} is over this server's limit {max_rank}")
    alpha = config.get("lora_alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise BadRequest(f"{ADAPTER_CONFIG}: lora_alpha must be a number, got {alpha!r}")
    targets = config.get("target_modules")
    if not (
        isinstance(targets, str)
        or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))
    ):
        raise BadRequest(f"{ADAPTER_CONFIG}: target_modules must be a name or a list of names")
    for key in ("rank_pattern", "alpha_pattern"):
        if not isinstance(config.get(key) or {}, dict):
            raise BadRequest(f"{ADAPTER_CONFIG}: {key} must be an object")


def check_adapter_path(raw: object, root: Path | None = None, max_rank: int = 16) -> str | None:
    """None if `raw` names a loadable adapter folder inside the store, else the error message."""
    if not isinstance(raw, str) or not raw:
        return "lora_path must be a non-empty string"
    root = store_root() if root is None else root.resolve()
    try:
        if Path(raw).resolve() == root:
            return f"adapter path {raw!r} is the adapter store itself, not a folder inside it"
        path = resolve_inside(root, raw)
        if not path.is_dir():
            return f"adapter path {raw!r} is not a folder"
        config, weights = path / ADAPTER_CONFIG, path / ADAPTER_WEIGHTS
        if not config.is_file():
            return f"adapter path {raw!r} holds no {ADAPTER_CONFIG}"
        if not weights.is_file():
            return f"adapter path {raw!r} holds no {ADAPTER_WEIGHTS}"
        _check_config(config, max_rank)
        _check_safetensors(weights)
    except AdapterError as e:
        return str(e)
    except BadRequest as e:
        return f"adapter path {raw!r}: {e}"
    except (OSError, RuntimeError, ValueError) as e:  # unreadable file, symlink loop, ...
        return f"adapter path {raw!r} cannot be read: {e}"
    return None


# ---------------------------------------------------------------------- the middleware
def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class GuardMiddleware:
    """The pure-ASGI guard vLLM mounts with `--middleware agents.serving.guard.GuardMiddleware`."""

    def __init__(
        self, app: ASGIApp, limits: RequestLimits | None = None, api_key: str | None = None
    ) -> None:
        self.app = app
        self.limits = limits or RequestLimits.from_env()
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        self._key = _key_digest(key) if key else None

    def authorised(self, headers: Headers) -> bool:
        if self._key is None:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            _key_digest(token.strip()), self._key
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not self.authorised(Headers(scope=scope)):
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = Headers(scope=scope)
        if method != "OPTIONS" and path not in OPEN_PATHS and not self.authorised(headers):
            response = error(401, "missing or wrong API key (Authorization: Bearer <key>)",
                             "AuthenticationError")  # fmt: skip
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        if path == "/lora_league/info" and method == "GET":
            info = {"adapter_store": str(store_root()), "model_path": os.environ[MODEL_ENV]}
            await JSONResponse(info)(scope, receive, send)
            return
        if method != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(headers, receive)
            if body is None:  # the client went away
                return
            self._check(path, body)
        except BadRequest as e:
            await error(e.status, str(e))(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), self._send_for(scope, send))

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes | None:
        limit = self.limits.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise BadRequest(f"bad Content-Length header {declared[:40]!r}") from None
            if size > limit:
                raise BadRequest(f"request body of {size} bytes is over {limit} bytes", 413)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise BadRequest(f"request body over {limit} bytes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check(self, path: str, body: bytes) -> None:
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise BadRequest(f"request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        if path == LOAD_ADAPTER_PATH:
            problem = check_adapter_path(data.get("lora_path"), max_rank=self.limits.max_lora_rank)
            if problem:
                raise BadRequest(problem)
        elif GENERATION_KEYS.intersection(data):
            params = data.get("sampling_params")  # the token-in token-out endpoint nests them
            check_limits({**data, **params} if isinstance(params, dict) else data, self.limits)

    def _send_for(self, scope: Scope, send: Send) -> Send:
        """For adapter loads, the engine's 500 (it could not load what the client sent) is a 400."""
        if scope["path"] != LOAD_ADAPTER_PATH:
            return send
        failed: list[bytes] | None = None

        async def wrapped(message: Message) -> None:
            nonlocal failed
            if message["type"] == "http.response.start" and message["status"] == 500:
                failed = []  # answered once the whole body is in
                return
            if failed is None or message["type"] != "http.response.body":
                await send(message)
                return
            failed.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(failed)
            try:
                detail = json.loads(body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = body[:500].decode("utf-8", "replace")
            await error(400, f"adapter could not be loaded: {detail}")(scope, _no_receive, send)

        return wrapped


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the endpoint the body already read, then defers to the server's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
