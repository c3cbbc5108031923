"""Tests of the AReaL integration. AReaL is imported here once, and the environment variables
its import sets (OPENAI_API_KEY, OPENAI_BASE_URL, RAY_CLIENT_MODE, ...) are put back, so that
the rest of a test session runs as it would without it."""

from __future__ import annotations

import contextlib
import os

_before = dict(os.environ)
with contextlib.suppress(ImportError):  # the tests skip (pytest.importorskip) without AReaL
    import areal
    import areal.engine.vllm_remote
    import areal.infra.workflow_executor
    import areal.utils.functional  # noqa: F401
for _key in set(os.environ) - set(_before):
    del os.environ[_key]
os.environ.update(_before)
