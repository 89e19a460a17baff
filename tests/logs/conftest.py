"""Fixtures for the access-log parser tests: ``engine`` runs a test once with the compiled scanner and once
in pure Python (a module opts in with ``pytestmark = pytest.mark.usefixtures("engine")``)."""

from __future__ import annotations

import os

import pytest

from ambient_lb import logs
from ambient_lb.logs import scanner


@pytest.fixture(params=["compiled", "python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a parser test with the compiled scanner (lines it is unsure of still go to Python) and without it."""
    if request.param == "python":
        monkeypatch.setattr(scanner, "compiled", None)
    elif logs.engine() != "compiled":
        if os.environ.get("AMBIENT_LB_LOGS_PURE_PYTHON", "") not in ("", "0"):
            pytest.skip("AMBIENT_LB_LOGS_PURE_PYTHON is set: the compiled scanner is off on purpose")
        pytest.fail("the compiled scanner ambient_lb._logscan is not built: pip install -e . (needs a C compiler)")
    return request.param
