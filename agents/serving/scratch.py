"""A temp folder of the engine's own, so that what it writes there goes when it does.

vLLM's processes talk over ZMQ `ipc://` sockets: files named by a UUID in `VLLM_RPC_BASE_PATH`
(the system temp folder by default) that nothing removes, about seven for every engine start,
clean exit or not. The engine core also puts a torch.distributed rendezvous file
(`vllm_dist_<hex>`) in its temp folder, left there when the core is killed.

`EngineScratch` makes `<tmp>/lora_league_vllm_<pid>_<random>` and gives it to the engine's
processes as `VLLM_RPC_BASE_PATH` and `TMPDIR` while they start (`environment()`); `close()`
removes it, and so does the interpreter's exit. A folder whose process is gone (a killed trainer)
is removed by the next engine start. A `VLLM_RPC_BASE_PATH` the user set is left as it is.

torch's compiler keeps its cache in `<temp folder>/torchinductor_<user>` unless
`TORCHINDUCTOR_CACHE_DIR` says otherwise; the engine compiles kernels, and in the engine's folder
they would be lost at every close. So the variable is set (in this process, from the first
`EngineScratch` on) to `<LoRA League cache>/torchinductor`, unless the user set it; what torch
keeps under its default path whatever the variable says (precompiled headers) follows a link
from the engine's folder to the same place.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from agents.serving.adapters import process_alive

log = logging.getLogger(__name__)

PREFIX = "lora_league_vllm_"
COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
#: Longest path of a Unix socket (108 bytes with the closing NUL); vLLM's names are UUIDs.
_SOCKET_PATH_MAX = 107
_SOCKET_NAME_LEN = 36


def remove_orphans(tmp_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Delete engine folders whose process is gone; those of live processes stay."""
    removed = []
    for entry in Path(tmp_dir or tempfile.gettempdir()).glob(f"{PREFIX}*_*"):
        pid = entry.name[len(PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and entry.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def torch_cache_name() -> str:
    """The name of torch's default compile cache folder in the temp folder (torch's own rule,
    `torch._inductor.runtime.cache_dir_utils`, whose import makes that folder)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid_{os.getuid()}"
    return "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user)


def pin_compile_cache() -> Path:
    """Keep torch's compile cache out of the temp folder (see the module docstring)."""
    from agents.models.cache import default_cache_dir

    chosen = os.environ.get(COMPILE_CACHE_ENV)
    torch_default = os.path.join(tempfile.gettempdir(), torch_cache_name())
    # torch sets the variable to its default the first time it asks: then it is not the user's.
    if chosen is None or os.path.abspath(chosen) == os.path.abspath(torch_default):
        chosen = str(default_cache_dir() / "torchinductor")
        os.environ[COMPILE_CACHE_ENV] = chosen
    Path(chosen).mkdir(parents=True, exist_ok=True)
    return Path(chosen)


class EngineScratch:
    """One engine's temp folder (see the module docstring). Make it before vLLM is imported."""

    def __init__(self) -> None:
        remove_orphans()
        self.compile_cache = pin_compile_cache()
        # Made through `tempfile`, which fixes this process's own temp folder first: the engine's
        # `TMPDIR` must not become this process's when something here asks for it the first time.
        self._dir = tempfile.TemporaryDirectory(
            prefix=f"{PREFIX}{os.getpid()}_", ignore_cleanup_errors=True
        )
        self.path = Path(self._dir.name)
        with contextlib.suppress(OSError):
            (self.path / torch_cache_name()).symlink_to(self.compile_cache, True)

    def environment(self) -> dict[str, str]:
        """Variables for the engine's processes, to be set while they start."""
        env = {"TMPDIR": str(self.path)}
        if "VLLM_RPC_BASE_PATH" not in os.environ:
            if len(os.fsencode(self.path)) + 1 + _SOCKET_NAME_LEN <= _SOCKET_PATH_MAX:
                env["VLLM_RPC_BASE_PATH"] = str(self.path)
            else:  # vLLM's default, the system temp folder, is shorter
                log.debug("engine sockets stay in the temp folder: %s is a long path", self.path)
        return env

    def close(self) -> None:
        self._dir.cleanup()
