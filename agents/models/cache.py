"""Where models are built and converted: a cache directory, filled atomically and under a lock."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "LORA_LEAGUE_CACHE"
_PARTIAL = ".partial"  # suffix of a folder that a build is still writing

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$LORA_LEAGUE_CACHE`, else `$XDG_CACHE_HOME/lora_league`, else `~/.cache/lora_league`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "lora_league"


def atomic_build(target: Path, build: Callable[[Path], object]) -> Path:
    """Return `target`, building it first with `build(tmp_dir)` if it does not exist.

    The build goes to a temporary sibling folder that is renamed into place when complete, so a
    killed build never leaves a half-written model; a file lock makes concurrent processes build it
    once. A build that raises leaves nothing behind; the next call builds again.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        _remove_stale_builds(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=_PARTIAL, dir=target.parent))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model folder is shared
            build(tmp)
            _make_readable(tmp)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _remove_stale_builds(target: Path) -> None:
    """Delete temporary folders left by killed builds of `target` (the caller holds the lock)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]+{re.escape(_PARTIAL)}")
    for stale in target.parent.iterdir():
        if pattern.fullmatch(stale.name) and stale.is_dir() and not stale.is_symlink():
            log.info("removing %s, left by an interrupted build", stale)
            shutil.rmtree(stale, ignore_errors=True)


def _make_readable(folder: Path) -> None:
    """Give group and others read access: some writers (safetensors) create files private."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, path.stat().st_mode | 0o044)
