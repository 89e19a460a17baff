"""The drills' simulator, set up once: the guide's state after notebook 02, on a private HOME; and the
figures the README keeps (drills run, survived, failed with the right reason, hung), printed at the end.

The outcome of each drill travels in its test report's ``user_properties`` (``("drill", verdict)``);
``tests/conftest.py`` adds them up and prints the figures (there, because under pytest-xdist only the
top conftest is loaded by the controller, which receives the reports).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_lb import guide
from ambient_lb.sim.fault_client import FaultClient

SPEED = 20


@pytest.fixture(scope="module")
def drill_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(params file, kubeconfig) of a simulator started the runbook's way, with notebooks 00-02 done."""
    root = tmp_path_factory.mktemp("drills")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("AMBIENT_LB_HEADLESS", "1")
        mp.delenv("LICENSE_KEY", raising=False)
        params = root / "params.yaml"
        params.write_text(f"target: sim\nsim:\n  seed: 7\n  speed: {SPEED}\n")
        kubeconfig = home / ".ambient-lb" / "sim" / "kubeconfig"
        try:
            run = guide.open_run(str(params), "drill", "no")
            guide.ensure_simulator(run)
            guide.prepare(run, "03")  # everything notebooks 00-02 build
            yield params, kubeconfig
        finally:
            subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig", str(kubeconfig)],
                           capture_output=True, timeout=60, check=False)


@pytest.fixture
def env(drill_world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    from .drills import Env

    params, kubeconfig = drill_world
    monkeypatch.setenv("HOME", str(kubeconfig.parents[2]))
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")
    monkeypatch.delenv("LICENSE_KEY", raising=False)
    return Env(params, kubeconfig, FaultClient(kubeconfig), monkeypatch)
