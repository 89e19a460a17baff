"""Helpers for contract tests against a whole simulated world (controllers, optionally the mesh):
the real kubectl with a fresh discovery cache per module, and the kubernetes client.

Who calls it: the module-scoped fixtures of the workload and RBAC contract tests
(``test_replication_controllers.py``, ``test_jobs.py``, ``test_cronjobs.py``, ``test_rbac_and_reviews.py``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def kubectl_for(sim: Any, cache: Path) -> Kubectl:
    """``kubectl(*args, ok=True, stdin=None, timeout=60)``: the real kubectl on the simulator."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str, ok: bool | None = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args]
        r = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout)
        if ok is True:
            assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
        elif ok is False:
            assert r.returncode != 0, f"kubectl {' '.join(args)} unexpectedly succeeded: {r.stdout}"
        return r
    return run


def api_client(sim: Any) -> Any:
    from kubernetes import config
    return config.new_client_from_config(config_file=str(sim.kubeconfig))


def rows(out: str) -> list[list[str]]:
    """The data rows of a ``kubectl get`` table, split on whitespace."""
    return [line.split() for line in out.strip().splitlines()[1:]]


def header(out: str) -> list[str]:
    return out.strip().splitlines()[0].split()
