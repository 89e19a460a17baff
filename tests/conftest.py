"""Suite-wide safety nets.

- Every simulator a test starts as a separate process (``sim up`` from a test, a notebook kernel or the
  runner) stops when this pytest process exits, even if the test that started it was killed before its
  teardown (``AMBIENT_LB_SIM_EXIT_WITH_PID``, read by ``sim.process``).
- ``guide.open_run()`` and step 01.6 export ``KUBECONFIG`` and ``KGATEWAY_IP`` into the process, as they
  do in a notebook kernel; each test gets them back as they were, so none leaks into the next.
"""

from __future__ import annotations

import os

import pytest

from ambient_lb.sim.process import EXIT_WITH_PID_ENV

os.environ.setdefault(EXIT_WITH_PID_ENV, str(os.getpid()))

RUNBOOK_EXPORTS = ("KUBECONFIG", "KGATEWAY_IP")


@pytest.fixture(autouse=True)
def _runbook_exports_do_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in RUNBOOK_EXPORTS:
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])  # recorded: restored after the test
        else:
            monkeypatch.delenv(var, raising=False)
