"""The server-mode guard (`agents.serving.guard`) as an ASGI middleware in front of a stand-in app.

The real server runs the same middleware in front of vLLM (tests/integration/test_server_mode.py);
here each rule is checked on its own, with the bytes a client streams counted exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import torch

from agents.serving.adapters import AdapterError, AdapterStore, write_adapter
from agents.serving.guard import (
    BadRequest,
    GuardMiddleware,
    RequestLimits,
    check_adapter_path,
    check_limits,
)

CONFIG = {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "peft_type": "LORA"}
WEIGHTS = {
    "base_model.model.layers.0.q_proj.lora_A.weight": torch.ones(2, 4),
    "base_model.model.layers.0.q_proj.lora_B.weight": torch.ones(4, 2),
}
LIMITS = RequestLimits(
    max_body_bytes=1 << 20, max_sequences=4, max_tokens=64, max_request_tokens=128
)
CHUNK = 64 * 1024


class Upload:
    """A client streaming `total` bytes in CHUNK pieces; counts what the server pulled."""

    def __init__(self, total: int, body: bytes | None = None) -> None:
        self.body = body
        self.total = total if body is None else len(body)
        self.pulled = 0

    async def receive(self) -> dict:
        if self.body is not None:
            self.pulled = len(self.body)
            return {"type": "http.request", "body": self.body, "more_body": False}
        n = min(CHUNK, self.total - self.pulled)
        self.pulled += n
        return {"type": "http.request", "body": b" " * n, "more_body": self.pulled < self.total}


async def _endpoint(scope, receive, send):
    """The stand-in for vLLM: echoes the body it received, or fails like vLLM's adapter load."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 500 if scope["path"] == "/v1/load_lora_adapter" else 200
    payload = {"error": {"message": "engine failed", "code": 500}} if status == 500 else None
    out = json.dumps(payload).encode() if payload else body
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": out, "more_body": False})


def call(method, path, upload, headers=(), api_key="", limits=LIMITS):
    guard = GuardMiddleware(_endpoint, limits=limits, api_key=api_key)
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, upload.receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def post(path, data, **kwargs):
    upload = Upload(0, json.dumps(data).encode())
    return call("POST", path, upload, **kwargs)


# ---------------------------------------------------------------------- body size
def test_declared_oversize_body_is_refused_before_any_of_it_is_read():
    upload = Upload(300 << 20)
    status, body = call("POST", "/v1/completions", upload, [("Content-Length", str(300 << 20))])
    assert status == 413 and b"over" in body
    assert upload.pulled == 0


def test_streamed_oversize_body_is_refused_after_the_limit_not_at_its_end():
    upload = Upload(300 << 20)  # chunked: no Content-Length
    status, _ = call("POST", "/v1/completions", upload)
    assert status == 413
    assert upload.pulled <= LIMITS.max_body_bytes + CHUNK


def test_a_lying_content_length_does_not_lift_the_limit():
    upload = Upload(300 << 20)
    status, _ = call("POST", "/v1/completions", upload, [("Content-Length", "10")])
    assert status == 413 and upload.pulled <= LIMITS.max_body_bytes + CHUNK


def test_body_within_limits_reaches_the_endpoint_unchanged():
    data = {"model": "base", "prompt": [1, 2, 3], "max_tokens": 8}
    status, body = post("/v1/completions", data)
    assert status == 200 and json.loads(body) == data


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000])
def test_unreadable_bodies_are_400(raw):
    status, body = call("POST", "/v1/completions", Upload(0, raw))
    assert status == 400 and json.loads(body)["error"]["code"] == 400


# ---------------------------------------------------------------------- generation limits
@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"prompt": "hi", "n": 2000, "max_tokens": 256}, "2000 sequences"),
        ({"prompt": [[1], [2], [3]], "n": 2, "max_tokens": 4}, "6 sequences"),
        ({"prompt": "hi", "max_tokens": 65}, "max_tokens 65"),
        ({"messages": [], "max_completion_tokens": 100}, "max_tokens 100"),
        ({"prompt": "hi", "n": 4, "max_tokens": 64}, "4 x 64 = 256"),
        ({"messages": [], "n": 3}, "3 x 64"),  # chat without max_tokens: the rest of the context
        ({"prompt": "hi", "n": 0}, "at least 1"),
        ({"prompt": "hi", "n": "many"}, "integer"),
        ({"prompt": "hi", "max_tokens": 2**70}, "over 2"),
    ],
)
def test_generation_limits(data, match):
    with pytest.raises(BadRequest, match=match):
        check_limits(data, LIMITS)
    status, body = post("/v1/completions", data)
    assert status == 400 and match.split()[0] in json.loads(body)["error"]["message"]


def test_a_number_past_the_json_digit_limit_is_a_400():
    raw = b'{"prompt": "hi", "max_tokens": 1' + b"0" * 5000 + b"}"
    status, body = call("POST", "/v1/completions", Upload(0, raw))
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]["message"]


@pytest.mark.parametrize(
    "data",
    [
        {"prompt": "hi"},  # completions default to 16 tokens
        {"prompt": [1, 2, 3], "n": 2, "max_tokens": 64},
        {"prompt": [[1], [2]], "n": 2, "max_tokens": 32},
        {"messages": [], "n": 2},
        {"model": "x", "lora_name": "y"},  # not a generation request
    ],
)
def test_requests_within_limits_pass(data):
    check_limits(data, LIMITS)
    assert post("/v1/completions", data)[0] == 200


def test_nested_sampling_params_count():
    status, _ = post("/inference/v1/generate", {"token_ids": [1], "sampling_params": {"n": 99}})
    assert status == 400


# ---------------------------------------------------------------------- api key
def test_api_key_guards_every_path_but_health():
    data = {"prompt": "hi"}
    for path in ("/v1/completions", "/invocations", "/tokenize", "/lora_league/info"):
        method = "GET" if path == "/lora_league/info" else "POST"
        upload = Upload(0, json.dumps(data).encode())
        assert call(method, path, upload, api_key="s3cret")[0] == 401, path
        wrong = [("Authorization", "Bearer nope")]
        assert call(method, path, Upload(0, b"{}"), wrong, api_key="s3cret")[0] == 401, path
    right = [("Authorization", "Bearer s3cret")]
    assert call("POST", "/v1/completions", Upload(0, b"{}"), right, api_key="s3cret")[0] == 200
    assert call("GET", "/health", Upload(0, b""), api_key="s3cret")[0] == 200
    assert call("POST", "/v1/completions", Upload(0, b"{}"))[0] == 200  # no key configured


def test_api_key_guards_websockets():
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/v1/realtime", "headers": []}
    asyncio.run(GuardMiddleware(_endpoint, limits=LIMITS, api_key="k")(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_api_key_is_checked_before_the_body_is_read():
    upload = Upload(300 << 20)
    assert call("POST", "/v1/completions", upload, api_key="k")[0] == 401
    assert upload.pulled == 0


# ---------------------------------------------------------------------- adapter folders
@pytest.fixture
def store(tmp_path) -> AdapterStore:
    return AdapterStore(tmp_path / "store")


def _adapter(store: AdapterStore) -> Path:
    return store.add("red", WEIGHTS, CONFIG).path


def test_a_good_adapter_folder_passes(store):
    assert check_adapter_path(str(_adapter(store)), store.root) is None


def test_symlinked_weights_pointing_outside_the_store_are_refused(store, tmp_path):
    folder = _adapter(store)
    outside = tmp_path / "secret.safetensors"
    write_adapter(tmp_path / "elsewhere", WEIGHTS, CONFIG)
    os.replace(tmp_path / "elsewhere" / "adapter_model.safetensors", outside)
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.safetensors").symlink_to(outside)
    problem = check_adapter_path(str(folder), store.root)
    assert problem and "outside the adapter store" in problem
    with pytest.raises(AdapterError, match="outside the adapter store"):
        store.check_inside(folder)


def test_symlinked_subfolder_pointing_outside_is_refused(store, tmp_path):
    folder = _adapter(store)
    (folder / "extra").symlink_to(tmp_path, target_is_directory=True)
    assert "outside the adapter store" in check_adapter_path(str(folder), store.root)


def test_symlink_inside_the_store_is_fine(store):
    folder = _adapter(store)
    other = store.add("blue", WEIGHTS, CONFIG).path
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.safetensors").symlink_to(other / "adapter_model.safetensors")
    assert check_adapter_path(str(folder), store.root) is None


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("\"r\"", "JSON object"),
        (json.dumps({**CONFIG, "r": "eight"}), "positive integer"),
        (json.dumps({**CONFIG, "r": 0}), "positive integer"),
        (json.dumps({**CONFIG, "r": 64}), "over this server's limit"),
        (json.dumps({k: v for k, v in CONFIG.items() if k != "r"}), "positive integer"),
        (json.dumps({**CONFIG, "lora_alpha": None}), "lora_alpha"),
        (json.dumps({**CONFIG, "target_modules": 3}), "target_modules"),
        (json.dumps({**CONFIG, "target_modules": []}), "target_modules"),
        (json.dumps({**CONFIG, "rank_pattern": [1]}), "rank_pattern"),
    ],
)
def test_malformed_adapter_config_is_named(store, config, match):
    folder = _adapter(store)
    (folder / "adapter_config.json").write_text(config)
    problem = check_adapter_path(str(folder), store.root)
    assert problem and match in problem


@pytest.mark.parametrize("keep", [0, 7, 40, -10])
def test_truncated_weights_are_named(store, keep):
    folder = _adapter(store)
    weights = folder / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:keep])
    problem = check_adapter_path(str(folder), store.root)
    assert problem and "adapter_model.safetensors" in problem


def test_missing_weights_and_outside_paths(store, tmp_path):
    folder = _adapter(store)
    (folder / "adapter_model.safetensors").unlink()
    assert "holds no adapter_model.safetensors" in check_adapter_path(str(folder), store.root)
    assert "outside" in check_adapter_path(str(tmp_path), store.root)
    assert "store itself" in check_adapter_path(str(store.root), store.root)
    assert "non-empty string" in check_adapter_path(["x"], store.root)


def test_engine_failure_to_load_an_adapter_is_a_400(store, monkeypatch):
    monkeypatch.setenv("LORA_LEAGUE_ADAPTER_STORE", str(store.root))
    data = {"lora_name": "red@v1", "lora_path": str(_adapter(store))}
    status, body = post("/v1/load_lora_adapter", data)
    error = json.loads(body)["error"]
    assert status == 400 and error["code"] == 400
    assert error["message"] == "adapter could not be loaded: engine failed"


def test_malformed_config_over_the_middleware_is_a_400(store, monkeypatch):
    monkeypatch.setenv("LORA_LEAGUE_ADAPTER_STORE", str(store.root))
    folder = _adapter(store)
    (folder / "adapter_config.json").write_text("{")
    status, body = post("/v1/load_lora_adapter", {"lora_name": "a", "lora_path": str(folder)})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]["message"]
