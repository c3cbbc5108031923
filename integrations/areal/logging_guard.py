"""Keep Python's logging as it was across AReaL code.

AReaL's `areal.utils.logging.getLogger`, which its modules call when imported (and some of its
functions call again), installs a new root logger and logger manager and applies a dictConfig
that disables existing loggers. In a LoRA League process that cuts every logger made afterwards
off the root, where the run's handlers are (its log file, the console): their records reach
Python's last-resort handler on stderr instead. `kept_logging()` puts the root, the manager and
the loggers' disabled flags back when AReaL's code returns.
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
