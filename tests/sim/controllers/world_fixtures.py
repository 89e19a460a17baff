"""Helpers for contract tests against a whole simulated world (controllers, optionally the mesh):
the real kubectl with a fresh discovery cache per module, and the kubernetes client.

Who calls it: the module-scoped fixtures of the workload and RBAC contract tests
(``test_replication_controllers.py``, ``test_jobs.py``, ``test_cronjobs.py``, ``test_rbac_and_reviews.py``);
``module_world`` gives a module its ``sim``, ``cache`` and ``kubectl`` fixtures (``test_jobs.py``,
``test_failure_states_kubectl.py``, ``test_own_image_runtime.py``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_lb.sim.process import running_simulator

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def module_world(seed: int, namespace: str, speed: float = 50) -> tuple[Any, Any, Any]:
    """The module fixtures ``sim`` (a whole world of its own, ``seed``), ``cache`` (kubectl's discovery cache)
    and ``kubectl`` (on that world, with ``namespace`` created): ``sim, cache, kubectl = module_world(31, "jobs")``."""

    @pytest.fixture(scope="module")
    def sim() -> Iterator[Any]:
        with running_simulator(seed=seed, speed=speed) as s:
            yield s

    @pytest.fixture(scope="module")
    def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp("kcache")

    @pytest.fixture(scope="module")
    def kubectl(sim: Any, cache: Path) -> Kubectl:
        run = kubectl_for(sim, cache)
        run("create", "namespace", namespace)
        return run
    return sim, cache, kubectl


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


def kubectl_watch_until(sim: Any, cache: Path, args: list[str], done: Callable[[list[str]], bool],
                        timeout: float = 60) -> list[str]:
    """Run ``kubectl <args>`` (a ``get -w``), collecting its lines until ``done(lines)`` or ``timeout``
    wall seconds; the process is then stopped. Event-driven: it reacts to each line kubectl prints."""
    import os
    import selectors
    import time
    argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines: list[str] = []
    pending = b""
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()  # read the pipe itself: a buffered readline would hide a second line
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while not done(lines) and time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *complete, pending = (pending + chunk).split(b"\n")
                lines.extend(line.decode() for line in complete)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return lines
