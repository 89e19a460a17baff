"""ReplicationControllers, served and run like ReplicaSets (docs/semantics-addendum.md R16.20), driven
by the real kubectl and the kubernetes client: apply, get with the printer's columns, scale, watch,
delete with the v1 default (orphan) and with kubectl's background cascade."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from ambient_lb.sim.process import Simulator, running_simulator

from .world_fixtures import Kubectl, api_client, header, kubectl_for, rows

pytestmark = pytest.mark.kubectl

RC = """
apiVersion: v1
kind: Namespace
metadata: {name: NS}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: web, namespace: NS}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: docker.io/mccutchen/go-httpbin:v2.15.0, ports: [{containerPort: 8080}]}]
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=21, speed=20, mesh=False) as s:
        yield s


@pytest.fixture(scope="module")
def kubectl(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(sim, tmp_path_factory.mktemp("kcache"))


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    return api_client(sim)


def _ready_rc(kubectl: Kubectl, ns: str, replicas: int = 2) -> None:
    kubectl("apply", "-f", "-", stdin=RC.replace("NS", ns))
    kubectl("wait", f"--for=jsonpath={{.status.readyReplicas}}={replicas}", "rc/web", "-n", ns, "--timeout=60s")


def test_rc_is_defaulted_from_its_template(kubectl) -> None:
    """R16.20: SetDefaults_ReplicationController: selector and labels from the template labels."""
    _ready_rc(kubectl, "rc-defaults")
    sel = kubectl("get", "rc", "web", "-n", "rc-defaults", "-o", "jsonpath={.spec.selector}{.metadata.labels}").stdout
    assert sel == '{"app":"web"}{"app":"web"}'
    again = RC.replace("NS", "rc-defaults").replace("go-httpbin:v2.15.0", "go-httpbin:v2.15.1")
    assert "replicationcontroller/web configured" in kubectl("apply", "-f", "-", stdin=again).stdout


def test_get_rc_prints_desired_current_ready(kubectl) -> None:
    """The apiserver's ReplicationController printer: NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR."""
    _ready_rc(kubectl, "rc-get")
    out = kubectl("get", "rc", "-n", "rc-get", "-o", "wide").stdout
    assert header(out) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    (row,) = rows(out)
    assert row[:4] == ["web", "2", "2", "2"] and row[5:] == ["web", "docker.io/mccutchen/go-httpbin:v2.15.0", "app=web"]
    pods = rows(kubectl("get", "pods", "-n", "rc-get", "-l", "app=web").stdout)
    assert len(pods) == 2 and all(p[0].startswith("web-") and len(p[0]) == 9 and p[1] == "1/1" for p in pods)
    owners = kubectl("get", "pods", "-n", "rc-get",
                     "-o", "jsonpath={.items[*].metadata.ownerReferences[0].kind}").stdout
    assert owners.split() == ["ReplicationController"] * 2
    assert "replicationcontroller/web" in kubectl("get", "all", "-n", "rc-get").stdout


def test_api_resources_lists_replication_controllers_as_a_cluster_does(kubectl) -> None:
    """R16.9: core v1 replicationcontrollers, short name rc, namespaced, in the category all, with the
    status and scale subresources kubectl auth can-i resolves."""
    out = kubectl("api-resources", "--api-group=", "-o", "wide").stdout
    row = next(r for r in rows(out) if r[0] == "replicationcontrollers")
    assert row == ["replicationcontrollers", "rc", "v1", "true", "ReplicationController",
                   "create,delete,deletecollection,get,list,patch,update,watch", "all"]
    for sub in ("status", "scale"):
        r = kubectl("auth", "can-i", "update", "rc", f"--subresource={sub}", "-n", "default")
        assert r.stdout.strip() == "yes" and "Warning" not in r.stderr


def test_scale_rc_through_the_scale_subresource(kubectl) -> None:
    """kubectl scale patches rc/scale; the Scale's selector is the map written as a label selector."""
    _ready_rc(kubectl, "rc-scale")
    kubectl("scale", "rc", "web", "-n", "rc-scale", "--replicas=3")
    kubectl("wait", "--for=jsonpath={.status.readyReplicas}=3", "rc/web", "-n", "rc-scale", "--timeout=60s")
    scale = kubectl("get", "--raw", "/api/v1/namespaces/rc-scale/replicationcontrollers/web/scale").stdout
    assert '"selector":"app=web"' in scale and '"replicas":3' in scale


def test_python_client_watches_the_rc_become_ready(client, kubectl) -> None:
    """The kubernetes client creates an RC and watches it until two replicas are ready."""
    kubectl("create", "namespace", "rc-py")
    v1 = k8s.CoreV1Api(client)
    v1.create_namespaced_replication_controller("rc-py", {
        "metadata": {"name": "web"}, "spec": {"replicas": 2, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "docker.io/mccutchen/go-httpbin:v2.15.0"}]}}}})
    ready = 0
    for ev in watch.Watch().stream(v1.list_namespaced_replication_controller, "rc-py", timeout_seconds=30):
        ready = ev["object"].status.ready_replicas or 0
        if ready == 2:
            break
    assert ready == 2
    rc = v1.read_namespaced_replication_controller("web", "rc-py")
    assert rc.status.replicas == 2 and rc.status.observed_generation == 1


def test_kubectl_delete_rc_cascades_in_the_background(kubectl) -> None:
    """kubectl sends propagationPolicy=Background: the RC goes, then the GC deletes its pods."""
    _ready_rc(kubectl, "rc-del")
    assert kubectl("delete", "rc", "web", "-n", "rc-del").stdout.strip() == 'replicationcontroller "web" deleted'
    kubectl("wait", "--for=delete", "pod", "-l", "app=web", "-n", "rc-del", "--timeout=60s")


def test_python_client_delete_rc_orphans_its_pods_by_default(client, kubectl) -> None:
    """R16.3: v1 ReplicationControllers default to OrphanDependents: the answer is the RC held by the
    orphan finalizer; the GC releases the pods, which stay without an owner."""
    _ready_rc(kubectl, "rc-orphan")
    v1 = k8s.CoreV1Api(client)
    out = v1.delete_namespaced_replication_controller("web", "rc-orphan")
    assert out["kind"] == "ReplicationController" and out["metadata"]["finalizers"] == ["orphan"]
    assert out["metadata"]["deletionTimestamp"]
    kubectl("wait", "--for=delete", "rc/web", "-n", "rc-orphan", "--timeout=60s")
    pods = v1.list_namespaced_pod("rc-orphan", label_selector="app=web").items
    assert len(pods) == 2 and all(not p.metadata.owner_references for p in pods)
