"""AReaL's getLogger replaces Python's root logger and manager: ours must survive it."""

from __future__ import annotations

import logging

import pytest

areal_logging = pytest.importorskip("areal.utils.logging")


def test_a_logger_made_after_areal_logs_reaches_our_root_at_info(caplog):
    """The CI failure this guards: a module imported after an AReaL getLogger call lost its INFO
    records (its logger sat under AReaL's WARNING root, off the run's handlers)."""
    before = logging.getLogger("tests.areal.made_before")
    areal_logging.getLogger("areal.some_module")  # what every AReaL import does
    after = logging.getLogger("tests.areal.made_after")
    areal_logging.getLogger("areal.another_module")  # and its dictConfig disables existing ones
    with caplog.at_level(logging.INFO):
        before.info("before")
        after.info("after")
    assert [r.getMessage() for r in caplog.records] == ["before", "after"]
    assert logging.Logger.manager is logging.root.manager
    assert after.parent is logging.root or after.parent.parent is logging.root


def test_the_wrapper_is_installed_once():
    from integrations.areal.logging_guard import import_areal

    import_areal()
    wrapped = areal_logging.getLogger
    import_areal()
    assert areal_logging.getLogger is wrapped and wrapped.keeps_our_logging
