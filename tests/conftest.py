"""Suite-wide safety nets.

- Every simulator a test starts as a separate process (``sim up`` from a test, a notebook kernel or the
  runner) stops when this pytest process exits, even if the test that started it was killed before its
  teardown (``AMBIENT_LB_SIM_EXIT_WITH_PID``, read by ``sim.process``).
- ``guide.open_run()`` and step 01.6 export ``KUBECONFIG`` and ``KGATEWAY_IP`` into the process, as they
  do in a notebook kernel; each test gets them back as they were, so none leaks into the next.

And the two fixtures that the guide's tests (tests/guide) and the whole-notebook tests (tests/notebooks) share:
``sim_params`` (a private simulator's params file) and ``run_guide`` (``ambient-lb run`` in this process).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


SPEED = 10  # the same as tools/regenerate_notebooks.py


@pytest.fixture
def sim_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A params file for a private simulator; the simulator is stopped afterwards.

    Like ``tools/regenerate_notebooks.py``, HOME is private, so the simulator's kubeconfig is the
    default ``~/.ambient-lb/sim/kubeconfig`` there and the outputs show the path a learner sees."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    kubeconfig = home / ".ambient-lb" / "sim" / "kubeconfig"
    path = tmp_path / "params.yaml"
    path.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: {SPEED}\n")
    monkeypatch.delenv("LICENSE_KEY", raising=False)  # as on a fresh machine: the sim's demo key
    yield path
    subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                    str(kubeconfig)], check=False, capture_output=True, timeout=60)


@pytest.fixture
def run_guide():
    """``ambient-lb run`` in this process (the papermill import is paid once per worker)."""
    from ambient_lb import cli

    def run(params: Path, out: Path, *extra: str) -> int:
        return cli.main(["run", "--params", str(params), "--out", str(out), *extra])
    return run


# ---- the fault drills' figures (tests/drills/): counted from the reports, printed at the end ----------
_VERDICTS: collections.Counter[str] = collections.Counter()
# the verdicts of tests/drills/drills.py, in the order printed (under xdist the controller never imports the
# drills, so they are named here; tests/drills/test_drills.py checks the two agree)
DRILL_VERDICTS = ("survived", "failed with the right reason", "failed for another reason",
                  "passed, but should have failed", "hung")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "drill":
                _VERDICTS[str(value)] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _VERDICTS:
        return
    survived, right, other, unexpected, hung = DRILL_VERDICTS
    total = sum(_VERDICTS.values())
    terminalreporter.write_sep("-", "fault drills")
    terminalreporter.write_line(
        f"drills run: {total}, survived: {_VERDICTS[survived]}, failed with the right reason: {_VERDICTS[right]}, "
        f"failed for another reason: {_VERDICTS[other]}, passed but should have failed: {_VERDICTS[unexpected]}, "
        f"hung: {_VERDICTS[hung]}")
