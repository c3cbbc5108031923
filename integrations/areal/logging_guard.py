"""Keep Python's logging as it was across AReaL code.

AReaL's `areal.utils.logging.getLogger`, which its modules call when imported (and some of its
functions call again), installs a new root logger and logger manager and applies a dictConfig
that disables existing loggers. In a LoRA League process that cuts every logger made afterwards
off the root, where the run's handlers are (its log file, the console): their records reach
Python's last-resort handler on stderr instead. `kept_logging()` puts the root, the manager and
the loggers' disabled flags back when AReaL's code returns.

A guard around each call is not enough: a module of ours imported while AReaL's manager is
installed (a lazy import inside a test, a thread AReaL started) registers its logger there for
good, under a root at WARNING, and its INFO records vanish. `import_areal()` therefore imports
AReaL once under the guard and makes its `getLogger` keep our logging on every later call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    root, manager = logging.Logger.root, logging.Logger.manager
    disabled = {
        name: logger.disabled
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        logging.Logger.root, logging.Logger.manager = root, manager
        logging.root = root
        for name, flag in disabled.items():
            logger = manager.loggerDict.get(name)
            if isinstance(logger, logging.Logger):
                logger.disabled = flag


def import_areal() -> None:
    """Import AReaL (its package runs every `areal.infra` module) with our logging kept, and
    wrap `areal.utils.logging.getLogger` so that AReaL's later imports and calls keep it too.
    Raises ImportError without AReaL."""
    with kept_logging():
        import areal  # noqa: F401 (the package's import runs every areal.infra module)
        import areal.utils.logging as areal_logging
    original = areal_logging.getLogger
    if not getattr(original, "keeps_our_logging", False):

        def getLogger(*args, **kwargs) -> logging.Logger:  # AReaL's name
            with kept_logging():
                return original(*args, **kwargs)

        getLogger.keeps_our_logging = True  # type: ignore[attr-defined]
        areal_logging.getLogger = getLogger
