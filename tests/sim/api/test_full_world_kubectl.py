"""The API server with the controllers and the mesh behind it (the world `sim up` serves): commands
whose answers depend on state that moves — rollout status, wait for a condition, logs of a
deployment and by label, namespace deletion that cascades. The controllers' suites test the
controllers themselves; this checks that the server carries their state to kubectl."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from ambient_lb.sim.process import Simulator, running_simulator

pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "mccutchen/go-httpbin:v2.15.0", ports: [{containerPort: 8080}]}]
"""


@pytest.fixture(scope="module")
def world() -> Iterator[Simulator]:
    try:
        with running_simulator(seed=7, speed=50) as sim:
            yield sim
    except Exception as exc:  # the controllers/mesh layers are built in parallel; say why, don't hide it
        pytest.fail(f"the full simulated world did not start: {exc}")


@pytest.fixture(scope="module")
def k(world: Simulator):
    cache = tempfile.mkdtemp(prefix="kcache-")

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["kubectl", "--kubeconfig", str(world.kubeconfig), "--cache-dir", cache, *args],
                           capture_output=True, text=True, timeout=90, input=stdin)
        if ok:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r
    return run


@pytest.fixture(scope="module")
def shop(k) -> str:
    k("create", "namespace", "shop")
    assert k("apply", "-f", "-", stdin=DEPLOY).stdout.strip() == "deployment.apps/web created"
    return "shop"


def test_rollout_status_reports_success(k, shop):
    out = k("rollout", "status", "deployment/web", "-n", shop, "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out


def test_wait_for_condition_ready_on_pods_by_label(k, shop):
    out = k("wait", "pod", "-l", "app=web", "-n", shop, "--for=condition=Ready", "--timeout=60s").stdout
    assert out.count("condition met") == 2


def test_get_pods_shows_running_ready_pods_with_real_shaped_names(k, shop):
    k("rollout", "status", "deployment/web", "-n", shop, "--timeout=60s")
    rows = [ln.split() for ln in k("get", "pods", "-n", shop).stdout.splitlines()[1:]]
    assert len(rows) == 2
    for name, ready, status, *_ in rows:
        assert name.startswith("web-") and len(name.split("-")) == 3
        assert (ready, status) == ("1/1", "Running")


def test_logs_of_a_deployment_and_by_label(k, shop):
    k("rollout", "status", "deployment/web", "-n", shop, "--timeout=60s")
    r = k("logs", "deploy/web", "-n", shop)
    assert "Found 2 pods, using pod/web-" in r.stderr  # kubectl picks one pod and says so
    assert "go-httpbin listening" in r.stdout
    out = k("logs", "-l", "app=web", "-n", shop, "--prefix", "--tail=5").stdout
    assert out.count("[pod/web-") >= 1


def test_delete_namespace_cascades_and_waits_until_gone(k):
    k("create", "namespace", "doomed")
    k("create", "configmap", "x", "-n", "doomed")
    out = k("delete", "namespace", "doomed", "--timeout=60s").stdout
    assert out.strip() == 'namespace "doomed" deleted'
    r = k("get", "namespace", "doomed", ok=False)
    assert 'namespaces "doomed" not found' in r.stderr
