"""Fixtures for the API server's contract tests: a bare simulator (no controllers) with seeded
objects, the real kubectl pointed at it with a fresh discovery cache, and the kubernetes client.

Objects are seeded straight into the store with fixed statuses, so what kubectl prints is
deterministic; the controllers' own suites cover moving state.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_lb.sim.process import Simulator, running_simulator
from ambient_lb.sim.store import GR

KUBECTL = shutil.which("kubectl")
NODES = ("sim-node-1", "sim-node-2")


def _pod(name: str, ns: str, labels: dict[str, str], node: str, phase: str = "Running",
         ready: bool = True, ip: str = "10.244.0.10") -> dict[str, Any]:
    cond = "True" if ready else "False"
    state = {"running": {"startedAt": "2025-01-01T00:00:00Z"}} if phase == "Running" else \
        {"waiting": {"reason": "ContainerCreating"}}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 30,
                 "containers": [{"name": "web", "image": "mccutchen/go-httpbin:v2.15.0",
                                 "ports": [{"containerPort": 8080}]}]},
        "status": {"phase": phase, "podIP": ip, "hostIP": "172.18.0.2", "qosClass": "BestEffort",
                   "startTime": "2025-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": cond}, {"type": "ContainersReady", "status": cond},
                                  {"type": "PodScheduled", "status": "True"}],
                   "containerStatuses": [{"name": "web", "ready": ready, "restartCount": 0, "image": "x",
                                          "imageID": "", "started": ready, "state": state}]},
    }


def seed(sim: Simulator) -> None:
    """default/demo/other namespaces, two nodes, three pods in demo (one Pending), one in other."""
    def run() -> None:
        st = sim.cluster.store
        for ns in ("default", "kube-system", "demo", "other"):
            st.create(GR("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                      "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        for n in NODES:
            st.create(GR("", "nodes"), {"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": n, "labels": {"kubernetes.io/hostname": n, "topology.kubernetes.io/zone": "zone-a"}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}],
                           "nodeInfo": {"kubeletVersion": "v1.31.9"}}})
        pods = [_pod("web-1", "demo", {"app": "web", "tier": "front"}, NODES[0], ip="10.244.0.11"),
                _pod("web-2", "demo", {"app": "web", "tier": "back"}, NODES[1], ip="10.244.0.12"),
                _pod("api-1", "demo", {"app": "api"}, NODES[0], phase="Pending", ready=False, ip=""),
                _pod("db-1", "other", {"app": "db"}, NODES[1], ip="10.244.0.13")]
        for p in pods:
            st.create(GR("", "pods"), p)
        for i in range(3):
            sim.cluster.logs.write("demo", "web-1", "web", f"line {i}")
        st.create(GR("", "events"), {"apiVersion": "v1", "kind": "Event", "metadata": {
            "name": "web-1.1", "namespace": "demo"}, "involvedObject": {
            "kind": "Pod", "namespace": "demo", "name": "web-1", "apiVersion": "v1",
            "uid": st.get(GR("", "pods"), "demo", "web-1")["metadata"]["uid"]},
            "reason": "Started", "message": "Started container web", "type": "Normal", "count": 1,
            "source": {"component": "kubelet", "host": NODES[0]},
            "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:00:00Z"})
    sim.call(run)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=1, speed=50, bare=True, bookmark_seconds=0.5) as s:
        seed(s)
        yield s


@pytest.fixture(scope="module")
def kubectl(sim: Simulator,
            tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``kubectl(*args, ok=True, binary="kubectl")``: runs the real kubectl, fresh cache per server."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    caches: dict[str, Path] = {}

    def run(*args: str, ok: bool | None = True, binary: str = "kubectl", stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cache = caches.setdefault(binary, tmp_path_factory.mktemp("kcache"))
        argv = [binary, "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
        if ok is True:
            assert r.returncode == 0, f"{' '.join(args)} failed: {r.stderr}"
        elif ok is False:
            assert r.returncode != 0, f"{' '.join(args)} unexpectedly succeeded: {r.stdout}"
        return r
    return run


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    from kubernetes import config
    return config.new_client_from_config(config_file=str(sim.kubeconfig))


def store_get(sim: Simulator, gr: GR, ns: str | None, name: str) -> dict[str, Any] | None:
    return sim.call(lambda: copy.deepcopy(sim.cluster.store.get(gr, ns, name)))


def _has_tables() -> bool:
    try:
        from ambient_lb.sim import tables
        return hasattr(tables, "to_table")
    except ImportError:
        return False


@pytest.fixture
def tables_ready() -> None:
    """Skips a test that asserts on real printer columns while ``sim.tables`` is not built yet."""
    if not _has_tables():
        pytest.skip("sim.tables (the Table printers) is not built yet")
