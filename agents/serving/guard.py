"""HTTP middleware for server mode: checks what vLLM's own endpoints take on trust.

- `/v1/load_lora_adapter` may only load folders inside the adapter store (an adapter path is a path
on
  the server's disk: anything else would let a client make the server read arbitrary files).
- Unreadable bodies get a 400 with a message instead of a stack trace.
- `GET /lora_league/info` tells a client the store and model folder, so it can publish into the
store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

STORE_ENV = "LORA_LEAGUE_ADAPTER_STORE"
MODEL_ENV = "LORA_LEAGUE_MODEL_PATH"
MAX_BODY_BYTES = 8 * 1024 * 1024


def error(status: int, message: str, kind: str = "BadRequestError") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status)


def store_root() -> Path:
    return Path(os.environ[STORE_ENV]).resolve()


def check_adapter_path(raw: object) -> str | None:
    """None if `raw` names a folder inside the store, else the error message."""
    if not isinstance(raw, str) or not raw:
        return "lora_path must be a non-empty string"
    root = store_root()
    path = Path(raw).resolve()
    if root not in path.parents:
        return f"adapter path {raw!r} is outside the adapter store {root}"
    if not (path / "adapter_config.json").is_file():
        return f"adapter path {raw!r} holds no adapter_config.json"
    return None


async def guard_requests(request: Request, call_next):
    path = request.url.path
    if path == "/lora_league/info" and request.method == "GET":
        return JSONResponse(
            {"adapter_store": str(store_root()), "model_path": os.environ[MODEL_ENV]}
        )
    if request.method == "POST" and path.startswith("/v1/"):
        body = await request.body()  # cached by starlette: the endpoint reads it again
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            return error(400, f"request body is not valid JSON: {e}")
        if not isinstance(data, dict):
            return error(400, "request body must be a JSON object")
        if path == "/v1/load_lora_adapter":
            problem = check_adapter_path(data.get("lora_path"))
            if problem:
                return error(400, problem)
    return await call_next(request)
