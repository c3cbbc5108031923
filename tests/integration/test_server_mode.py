"""Server mode: `python -m agents.serving` started for real, driven over HTTP by the client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from agents.serving import AdapterError, AdapterRef, GenerationRequest, RequestError
from agents.serving import SamplingSettings as Sampling
from agents.serving.adapters import lora_config_dict

pytestmark = [pytest.mark.engine, pytest.mark.slow]
GREEDY = Sampling(temperature=0.0, max_tokens=10)
TOLERANCE = 1e-4  # vLLM over HTTP vs transformers + peft, fp32: as in test_serving.TOLERANCE
API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MAX_BODY = 1 << 20  # --max-body-mb 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+")  # noqa: SIM115 (lives with the server)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "agents.serving", "--model", str(tiny_model), "--port", str(port)]
    cmd += ["--adapter-store", str(store), "--max-loras", "4", "--max-lora-rank", "8"]
    cmd += ["--dtype", "float32", "--max-model-len", "1024", "--api-key", API_KEY]
    cmd += ["--max-sequences", "8", "--max-tokens", "64", "--max-request-tokens", "256"]
    cmd += ["--max-body-mb", "1"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    from agents.serving.client import RemotePolicyServer

    try:
        client = RemotePolicyServer(f"http://127.0.0.1:{port}", wait_ready=240, api_key=API_KEY)
    except Exception:
        proc.kill()
        log.seek(0)
        pytest.fail(f"server did not start:\n{log.read()[-3000:]}")
    yield proc, client, port
    client.close()
    if proc.poll() is None:
        proc.kill()


def prompt(tok, text):
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    return tuple(int(i) for i in ids)


def test_binds_loopback_and_reports_store(server):
    _, client, port = server
    assert client.base_url == f"http://127.0.0.1:{port}"
    assert client.store.root.is_dir()


def test_publish_over_http_and_concurrent_mixed_requests(server, adapters, tiny_model, tmp_path):
    _, client, _ = server
    from agents.serving import make_policy_server

    refs = [client.publish(f"remote{i}", *adapters[i]) for i in range(3)]
    assert set(refs) <= set(client.remote_adapters())
    p = prompt(client.tokenizer, "Your move?")
    requests = [GenerationRequest(p, ref, GREEDY) for ref in [None, *refs] for _ in range(3)]
    with ThreadPoolExecutor(4) as pool:  # several callers at once, each a batch
        outs = [
            o
            for batch in pool.map(client.generate, [requests[i::4] for i in range(4)])
            for o in batch
        ]
    assert len(outs) == len(requests)
    hf = make_policy_server("hf", model=tiny_model, store_dir=tmp_path)
    expected = {}
    for i, ref in enumerate(refs):
        h = hf.publish(f"remote{i}", *adapters[i])
        hf.hold(h)
        expected[ref] = hf.generate([GenerationRequest(p, h, GREEDY)])[0]
    expected[None] = hf.generate([GenerationRequest(p, None, GREEDY)])[0]
    for batch in [client.generate(requests)]:
        for req, out in zip(requests, batch, strict=True):
            ref_out = expected[req.adapter]
            assert out.token_ids == ref_out.token_ids
            assert (
                max(abs(a - b) for a, b in zip(out.logprobs, ref_out.logprobs, strict=True))
                <= TOLERANCE
            )
    # a new version replaces the old one on the server
    v2 = client.publish("remote0", *adapters[3])
    assert v2 == AdapterRef("remote0", 2)
    assert AdapterRef("remote0", 1) not in client.remote_adapters()


def test_bad_requests_get_clear_errors_and_server_keeps_serving(server, adapters, tmp_path):
    import httpx

    _, client, port = server
    url = f"http://127.0.0.1:{port}"
    p = prompt(client.tokenizer, "hello")
    # unknown adapter
    with pytest.raises(AdapterError, match="not served"):
        client.generate([GenerationRequest(p, AdapterRef("ghost", 1), GREEDY)])
    r = httpx.post(
        f"{url}/v1/completions", json={"model": "ghost@v1", "prompt": "hi"}, headers=AUTH
    )
    assert r.status_code in (400, 404) and "ghost" in r.text
    # malformed body
    r = httpx.post(
        f"{url}/v1/completions",
        content=b"{not json",
        headers={"content-type": "application/json", **AUTH},
    )
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    # adapter path outside the store
    outside = tmp_path / "evil"
    outside.mkdir()
    (outside / "adapter_config.json").write_text("{}")
    r = httpx.post(
        f"{url}/v1/load_lora_adapter",
        json={"lora_name": "evil", "lora_path": str(outside)},
        headers=AUTH,
    )
    assert r.status_code == 400 and "outside the adapter store" in r.json()["error"]["message"]
    # huge prompt
    huge = tuple([p[0]] * 5000)
    with pytest.raises(RequestError, match="exceeds the model length"):
        client.generate([GenerationRequest(huge, None, GREEDY)])
    r = httpx.post(
        f"{url}/v1/completions",
        json={"model": "base", "prompt": [5] * 5000, "max_tokens": 4},
        headers=AUTH,
    )
    assert r.status_code == 400
    # still serving
    assert client.generate([GenerationRequest(p, None, GREEDY)])[0].token_ids


def test_format_constrained_requests_travel_as_a_regex(server, hf_server, adapters):
    from envs.core.formats import matches
    from envs.prisoners_dilemma.rules import TALK_FORMAT

    _, client, _ = server
    ref = client.publish("talker", *adapters[4])
    href = hf_server.publish("talker", *adapters[4])
    p = prompt(client.tokenizer, "Send your message: [say ...]")
    greedy = GenerationRequest(p, ref, GREEDY, pattern=TALK_FORMAT)
    sampling = Sampling(temperature=1.0, max_tokens=8, seed=3)
    sampled = GenerationRequest(p, ref, sampling, pattern=TALK_FORMAT)
    out, free = client.generate([greedy, sampled])
    for o in (out, free):
        assert o.pattern == TALK_FORMAT and matches(TALK_FORMAT, o.text), o.text
        assert o.finish_reason == "stop"  # max_tokens was raised to fit the longest match
    (expected,) = hf_server.generate([GenerationRequest(p, href, GREEDY, pattern=TALK_FORMAT)])
    assert out.token_ids == expected.token_ids
    gap = max(abs(a - b) for a, b in zip(out.logprobs, expected.logprobs, strict=True))
    assert gap <= TOLERANCE
    both = GenerationRequest(p, ref, GREEDY, choices=("[a]",), pattern=TALK_FORMAT)
    broken = GenerationRequest(p, ref, GREEDY, pattern="[say (")
    for bad, match in ((both, "not both"), (broken, "not a regular expression")):
        with pytest.raises(RequestError, match=match):
            client.generate([bad])


def test_api_key_is_required_everywhere_but_health(server):
    import httpx

    _, client, port = server
    url = f"http://127.0.0.1:{port}"
    body = {"model": "base", "prompt": [1, 2, 3], "max_tokens": 2}
    for path in ("/v1/completions", "/invocations", "/tokenize"):
        assert httpx.post(f"{url}{path}", json=body).status_code == 401, path
        wrong = {"Authorization": "Bearer wrong"}
        assert httpx.post(f"{url}{path}", json=body, headers=wrong).status_code == 401, path
    for path in ("/lora_league/info", "/v1/models", "/metrics"):
        assert httpx.get(f"{url}{path}").status_code == 401, path
    assert httpx.get(f"{url}/health").status_code == 200
    r = httpx.post(f"{url}/v1/completions", json=body, headers=AUTH)
    assert r.status_code == 200 and r.json()["choices"][0]["text"] is not None
    with pytest.raises(Exception, match="401"):
        type(client)(url)  # a client without the key is told why


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"n": 2000, "max_tokens": 256}, "sequences"),
        ({"prompt": [[1, 2]] * 9, "max_tokens": 4}, "sequences"),
        ({"max_tokens": 65}, "max_tokens 65"),
        ({"n": 8, "max_tokens": 64}, "8 x 64 = 512"),
    ],
)
def test_generation_limits_are_enforced(server, body, match):
    import httpx

    _, _, port = server
    data = {"model": "base", "prompt": [1, 2, 3], **body}
    r = httpx.post(f"http://127.0.0.1:{port}/v1/completions", json=data, headers=AUTH)
    assert r.status_code == 400 and match in r.json()["error"]["message"]


def _raw_post(port: int, head: str, chunks, budget: int) -> tuple[bytes, int]:
    """Send `head` then `chunks` until the server answers or `budget` bytes went out; return
    (what it answered, bytes of body sent by then)."""
    import select

    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setblocking(False)
    pending, sent, answer = head.encode(), 0, b""
    chunk_iter = iter(chunks)
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock] if sent < budget else [], [], 60)
            if not readable and not writable:
                break
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer:
                    break
                continue
            if not pending:
                pending = next(chunk_iter, b"")
                if not pending:
                    break
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending = pending[n:]
            sent += n
    finally:
        sock.close()
    return answer, sent


def test_oversized_bodies_are_refused_without_reading_them(server):
    _, _, port = server
    total = 64 * MAX_BODY
    head = (
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
    )
    # declared: refused from the header
    answer, sent = _raw_post(
        port, head + f"Content-Length: {total}\r\n\r\n", iter(lambda: b" " * 65536, None), total
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < total // 2
    # chunked, no length: refused while it streams, long before its end

    def chunks():
        while True:
            yield b"10000\r\n" + b" " * 0x10000 + b"\r\n"

    answer, sent = _raw_post(port, head + "Transfer-Encoding: chunked\r\n\r\n", chunks(), total)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < total // 2


def test_adapter_folders_are_checked_before_the_engine_sees_them(server, adapters):
    import httpx

    _, client, port = server
    url = f"http://127.0.0.1:{port}"
    stored = client.store.add("probe", *adapters[0])

    def load(name):
        body = {"lora_name": name, "lora_path": str(stored.path)}
        return httpx.post(f"{url}/v1/load_lora_adapter", json=body, headers=AUTH)

    weights = stored.path / "adapter_model.safetensors"
    good = weights.read_bytes()
    outside = stored.path.parent.parent / "outside.safetensors"
    outside.write_bytes(good)
    weights.unlink()
    weights.symlink_to(outside)
    r = load("probe-link")
    assert r.status_code == 400 and "outside the adapter store" in r.json()["error"]["message"]
    weights.unlink()
    weights.write_bytes(good)
    config = stored.path / "adapter_config.json"
    for bad in ("{not json", "[]", '{"r": "x"}'):
        config.write_text(bad)
        r = load("probe-config")
        assert r.status_code == 400, (bad, r.text)
    # a config the guard passes on but the engine refuses (vLLM has no DoRA): 400, not 500
    config.write_text(json.dumps({**lora_config_dict(adapters[0][1]), "use_dora": True}))
    r = load("probe-engine")
    assert r.status_code == 400 and "DoRA" in r.json()["error"]["message"], r.text
    # and the server still serves
    assert client.generate([GenerationRequest(prompt(client.tokenizer, "hi"), None, GREEDY)])


def test_clean_shutdown(server):
    proc, _, _ = server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) in (0, -signal.SIGINT, 130)
