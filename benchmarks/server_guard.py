"""Server-mode guard probes: what one hostile or greedy client costs `python -m agents.serving`.

    python benchmarks/server_guard.py                # tiny test model, default limits
    python benchmarks/server_guard.py --baseline     # also a server with the limits lifted

- G1  a 300 MB body, declared (Content-Length) and chunked: server RSS and peak RSS (VmHWM) before
      and after, bytes the client got out before the answer, and the answer.
- G2  one greedy request (`n=2000, max_tokens=256`, then the largest one the limits allow) while a
      4-token request arrives 1 s later: the small request's wait vs the same request alone.
- G3  no API key, a symlinked weights file, a malformed adapter_config.json: the answers.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

API_KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of one process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_server(model: Path, store: Path, extra: list[str]):
    import httpx

    port = free_port()
    log = open(store.parent / f"server-{port}.log", "w")  # noqa: SIM115 (lives with the server)
    cmd = [sys.executable, "-m", "agents.serving", "--model", str(model), "--port", str(port)]
    cmd += ["--adapter-store", str(store), "--max-lora-rank", "8", "--dtype", "float32"]
    cmd += ["--max-model-len", "1024", "--api-key", API_KEY, *extra]
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return proc, port, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(1)
    proc.kill()
    sys.exit(f"server did not start, see {log.name}")


def raw_post(port: int, head: bytes, chunks, budget: int) -> tuple[bytes, int]:
    """Stream a body until the server answers or `budget` bytes went out."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setblocking(False)
    pending, sent, answer = head, 0, b""
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock] if sent < budget else [], [], 120)
            if not (readable or writable):
                break
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
                continue
            if not pending:
                pending = next(chunks)
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending, sent = pending[n:], sent + n
    finally:
        sock.close()
    return answer, sent


def g1_body(proc, port: int) -> None:
    total = 300 << 20
    head = (
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
    )
    piece = b" " * 65536
    cases = {
        "declared": (head + f"Content-Length: {total}\r\n\r\n", iter(lambda: piece, None)),
        "chunked": (
            head + "Transfer-Encoding: chunked\r\n\r\n",
            iter(lambda: b"10000\r\n" + piece + b"\r\n", None),
        ),
    }
    for name, (h, chunks) in cases.items():
        before = rss_mb(proc.pid)
        t0 = time.perf_counter()
        answer, sent = raw_post(port, h.encode(), chunks, total)
        took = time.perf_counter() - t0
        after = rss_mb(proc.pid)
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(no answer)"
        print(
            f"G1 300 MB body {name:8s}: {status}; client sent {sent / 2**20:.1f} MB in "
            f"{took:.2f} s; server RSS {before[0]:.0f} -> {after[0]:.0f} MB, "
            f"peak {before[1]:.0f} -> {after[1]:.0f} MB"
        )


def g2_wait(url: str, label: str, greedy: dict) -> None:
    import httpx

    small = {"model": "base", "prompt": [1, 2, 3, 4], "max_tokens": 4, "temperature": 0}

    def timed(body):
        t0 = time.perf_counter()
        r = httpx.post(f"{url}/v1/completions", json=body, headers=AUTH, timeout=600)
        return r, time.perf_counter() - t0

    timed(small)
    _, alone = timed(small)
    result: dict = {}
    big = {"model": "base", "prompt": [1, 2, 3, 4], "temperature": 1.0, "ignore_eos": True}
    thread = threading.Thread(target=lambda: result.update(big=timed({**big, **greedy})))
    thread.start()
    time.sleep(1.0)
    r_small, waited = timed(small)
    thread.join()
    r_big, big_s = result["big"]
    print(
        f"G2 {label}: greedy {greedy} -> HTTP {r_big.status_code} after {big_s:.2f} s; "
        f"4-token request {waited:.2f} s (alone {alone:.2f} s, x{waited / alone:.1f})"
    )
    if r_big.status_code != 200:
        print(f"   answer: {r_big.json()['error']['message']}")
    assert r_small.status_code == 200


def g3_refusals(url: str, store: Path, model: Path) -> None:
    import httpx
    import torch
    from peft import LoraConfig

    from agents.serving.adapters import AdapterStore

    r = httpx.post(f"{url}/v1/completions", json={"model": "base", "prompt": [1]})
    print(f"G3 no API key: HTTP {r.status_code}")
    r = httpx.get(f"{url}/lora_league/info")
    print(f"G3 no API key on /lora_league/info: HTTP {r.status_code}")
    from transformers import AutoConfig

    hidden = AutoConfig.from_pretrained(model).hidden_size
    weights = {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(8, hidden),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": torch.zeros(hidden, 8),
    }
    stored = AdapterStore(store).add("probe", weights, LoraConfig(r=8, target_modules=["q_proj"]))
    target = stored.path / "adapter_model.safetensors"
    target.unlink()
    target.symlink_to("/etc/passwd")

    def load(name: str) -> httpx.Response:
        body = {"lora_name": name, "lora_path": str(stored.path)}
        return httpx.post(f"{url}/v1/load_lora_adapter", json=body, headers=AUTH)

    r = load("link")
    print(f"G3 weights symlinked outside the store: HTTP {r.status_code}: {r.json()['error']}")
    target.unlink()
    AdapterStore(store).add("probe2", weights, LoraConfig(r=8, target_modules=["q_proj"]))
    os.replace(store / "probe2@v1" / "adapter_model.safetensors", target)
    (stored.path / "adapter_config.json").write_text("{not json")
    r = load("config")
    print(f"G3 malformed adapter_config.json: HTTP {r.status_code}: {r.json()['error']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--baseline", action="store_true", help="also measure with limits lifted")
    args = p.parse_args()
    from agents.models import resolve_model

    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("default limits", [])]
        if args.baseline:
            lifted = ["--max-sequences", "4096", "--max-request-tokens", str(10**7)]
            runs.insert(0, ("limits lifted", lifted))
        for label, extra in runs:
            store = Path(tmp) / label.replace(" ", "_")
            proc, port, url = start_server(model, store, extra)
            try:
                print(f"--- {label} ({' '.join(extra) or 'no flags'})")
                g2_wait(url, label, {"n": 2000, "max_tokens": 256})
                if not extra:
                    g2_wait(url, label, {"n": 16, "max_tokens": 256})
                    g1_body(proc, port)
                    g3_refusals(url, store, model)
            finally:
                proc.terminate()
                proc.wait(60)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
