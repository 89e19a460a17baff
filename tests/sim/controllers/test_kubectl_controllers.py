"""The real kubectl against the simulator's moving state: rollouts, waits, scaling, logs, describe,
events, pod deletion with replacement (R6.1, R6.9) and namespace cascade (api-surface §3.10-3.14).

One simulator per module at speed 20 (a pod starts in 3.2 simulated s = 0.16 s wall)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ambient_lb.sim.process import Simulator, running_simulator

pytestmark = pytest.mark.kubectl

MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: NS, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Service
metadata: {name: in-ambient, namespace: NS, labels: {app: in-ambient}}
spec:
  selector: {app: in-ambient}
  ports: [{name: http, port: 8000, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: in-ambient, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: in-ambient, version: v1}}
  template:
    metadata: {labels: {app: in-ambient, version: v1}}
    spec:
      containers:
      - name: in-ambient
        image: docker.io/mccutchen/go-httpbin:v2.15.0
        ports: [{containerPort: 8080}]
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=11, speed=20, mesh=False) as s:
        yield s


@pytest.fixture(scope="module")
def kubectl(sim: Simulator,
            tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    cache = tmp_path_factory.mktemp("kcache")

    def run(*args: str, ok: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args]
        r = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout)
        if ok:
            assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
        return r
    return run


def _app(kubectl: Callable[..., Any], ns: str, replicas: int = 1) -> None:
    kubectl("apply", "-f", "-", stdin=MANIFEST.replace("NS", ns))
    if replicas != 1:
        kubectl("scale", "deployment", "in-ambient", "-n", ns, f"--replicas={replicas}")
    kubectl("rollout", "status", "deployment/in-ambient", "-n", ns, "--timeout=60s")


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


def test_bootstrap_pods_show_node_and_ip_wide(kubectl) -> None:
    kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=ztunnel", "-n", "istio-system", "--timeout=60s")
    rows = _rows(kubectl("get", "pods", "-n", "istio-system", "-l", "app=ztunnel", "-o", "wide").stdout)
    assert len(rows) == 3
    assert sorted(r[6] for r in rows) == ["ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"]
    assert all(r[1] == "1/1" and r[2] == "Running" and r[5].startswith("10.244.") for r in rows)


def test_rollout_status_reports_success(kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=MANIFEST.replace("NS", "roll"))
    out = kubectl("rollout", "status", "deployment/in-ambient", "-n", "roll", "--timeout=60s").stdout
    assert 'deployment "in-ambient" successfully rolled out' in out
    kubectl("set", "image", "deployment/in-ambient", "-n", "roll", "in-ambient=docker.io/mccutchen/go-httpbin:v2.15.1")
    out = kubectl("rollout", "status", "deployment/in-ambient", "-n", "roll", "--timeout=60s").stdout
    assert out.strip().endswith('deployment "in-ambient" successfully rolled out')
    images = kubectl("get", "pods", "-n", "roll", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout.split()
    assert set(images) == {"docker.io/mccutchen/go-httpbin:v2.15.1"}


def test_scale_then_wait_for_ready_pods(kubectl) -> None:
    _app(kubectl, "scale")
    kubectl("scale", "deployment", "in-ambient", "-n", "scale", "--replicas=3")
    kubectl("rollout", "status", "deployment/in-ambient", "-n", "scale", "--timeout=60s")
    out = kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=in-ambient", "-n", "scale", "--timeout=60s").stdout
    assert out.count("condition met") == 3
    rows = _rows(kubectl("get", "pods", "-n", "scale", "-o", "wide").stdout)
    assert len(rows) == 3 and all(r[0].startswith("in-ambient-") and r[1] == "1/1" for r in rows)
    assert len({r[6] for r in rows}) == 3  # spread over the three nodes
    ready = kubectl("get", "deployment", "in-ambient", "-n", "scale", "-o", "jsonpath={.status.readyReplicas}").stdout
    assert ready == "3"


def test_logs_of_deployment_and_by_label(kubectl) -> None:
    _app(kubectl, "logs", replicas=2)
    r = kubectl("logs", "deploy/in-ambient", "-n", "logs")
    assert 'msg="go-httpbin listening on http://0.0.0.0:8080"' in r.stdout
    r = kubectl("logs", "-l", "app=in-ambient", "-n", "logs", "--prefix")
    lines = [line for line in r.stdout.splitlines() if "go-httpbin listening" in line]
    assert len(lines) == 2 and all(line.startswith("[pod/in-ambient-") for line in lines)


def test_describe_pod_and_get_events_tell_the_story(kubectl) -> None:
    _app(kubectl, "story")
    pod = kubectl("get", "pods", "-n", "story", "-o", "name").stdout.strip().split("/")[1]
    out = kubectl("describe", "pod", pod, "-n", "story").stdout
    assert "Controlled By:  ReplicaSet/in-ambient-" in out
    assert "Node:             ambient-lb-sim-worker" in out
    assert "Successfully assigned story/" + pod in out
    assert "Started container in-ambient" in out
    events = kubectl("get", "events", "-n", "story").stdout
    for reason in ("Scheduled", "Pulled", "Created", "Started", "SuccessfulCreate", "ScalingReplicaSet"):
        assert reason in events, reason


def test_delete_running_pods_terminating_then_replaced(sim, kubectl) -> None:
    """R6.9: the guide's delete selects every running pod; R6.1: they show Terminating while the
    replacements start, then only the replacements remain, Running."""
    _app(kubectl, "del", replicas=2)
    sim.call(lambda: setattr(sim.cluster.extensions["kubelet"].timings, "exit_after_sigterm", 40.0))
    try:
        before = set(kubectl("get", "pods", "-n", "del", "-o", "name").stdout.split())
        out = kubectl("delete", "pod", "-n", "del", "-l", "app=in-ambient", "--field-selector=status.phase=Running",
                      "--wait=false").stdout
        assert out.count("deleted") == 2
        rows = _rows(kubectl("get", "pods", "-n", "del").stdout)
        assert sum(1 for r in rows if r[2] == "Terminating") == 2
        for name in before:
            kubectl("wait", "--for=delete", name, "-n", "del", "--timeout=60s")
        kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=in-ambient", "-n", "del", "--timeout=60s")
        rows = _rows(kubectl("get", "pods", "-n", "del").stdout)
        assert len(rows) == 2 and all(r[2] == "Running" and r[1] == "1/1" for r in rows)
        assert not before & set(kubectl("get", "pods", "-n", "del", "-o", "name").stdout.split())
    finally:
        sim.call(lambda: setattr(sim.cluster.extensions["kubelet"].timings, "exit_after_sigterm", 0.5))


def test_delete_namespace_cascades(kubectl) -> None:
    _app(kubectl, "gone", replicas=2)
    out = kubectl("delete", "namespace", "gone", "--timeout=60s").stdout
    assert 'namespace "gone" deleted' in out
    r = kubectl("get", "namespace", "gone", ok=False)
    assert r.returncode != 0 and 'namespaces "gone" not found' in r.stderr
    r = kubectl("get", "pods,deploy,rs,svc,endpointslices", "-n", "gone")
    assert r.stdout == "" and "No resources found in gone namespace." in r.stderr


def test_gateway_api_crds_bring_istiods_gatewayclasses(kubectl) -> None:
    """The guide installs the Gateway API CRDs; istiod then creates and accepts its classes."""
    from pathlib import Path

    import ambient_lb
    crds = Path(ambient_lb.__file__).parent / "manifests" / "gateway-api" / "standard-install.yaml"
    kubectl("apply", "-f", str(crds))
    kubectl("wait", "--for=condition=Accepted", "gatewayclass/istio-waypoint", "--timeout=60s")
    rows = _rows(kubectl("get", "gatewayclass").stdout)
    classes = {r[0]: r for r in rows}
    assert {"istio", "istio-remote", "istio-waypoint"} <= set(classes)
    assert classes["istio-waypoint"][1] == "istio.io/mesh-controller" and classes["istio-waypoint"][2] == "True"
