"""Server mode: `python -m agents.serving` started for real, driven over HTTP by the client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from agents.serving import AdapterError, AdapterRef, GenerationRequest, RequestError
from agents.serving import SamplingSettings as Sampling

pytestmark = [pytest.mark.engine, pytest.mark.slow]
GREEDY = Sampling(temperature=0.0, max_tokens=10)


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
    cmd += ["--dtype", "float32", "--max-model-len", "1024"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    from agents.serving.client import RemotePolicyServer

    try:
        client = RemotePolicyServer(f"http://127.0.0.1:{port}", wait_ready=240)
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
                max(abs(a - b) for a, b in zip(out.logprobs, ref_out.logprobs, strict=True)) <= 1e-4
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
    r = httpx.post(f"{url}/v1/completions", json={"model": "ghost@v1", "prompt": "hi"})
    assert r.status_code in (400, 404) and "ghost" in r.text
    # malformed body
    r = httpx.post(
        f"{url}/v1/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    # adapter path outside the store
    outside = tmp_path / "evil"
    outside.mkdir()
    (outside / "adapter_config.json").write_text("{}")
    r = httpx.post(
        f"{url}/v1/load_lora_adapter", json={"lora_name": "evil", "lora_path": str(outside)}
    )
    assert r.status_code == 400 and "outside the adapter store" in r.json()["error"]["message"]
    # huge prompt
    huge = tuple([p[0]] * 5000)
    with pytest.raises(RequestError, match="exceeds the model length"):
        client.generate([GenerationRequest(huge, None, GREEDY)])
    r = httpx.post(
        f"{url}/v1/completions", json={"model": "base", "prompt": [5] * 5000, "max_tokens": 4}
    )
    assert r.status_code == 400
    # still serving
    assert client.generate([GenerationRequest(p, None, GREEDY)])[0].token_ids


def test_clean_shutdown(server):
    proc, _, _ = server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) in (0, -signal.SIGINT, 130)
