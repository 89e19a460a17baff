"""kube.py against the simulator: the REAL kubectl for mutations, the kubernetes client for reads,
watch-based waits, and timeouts that say what was seen last.

Two simulators: a bare one (API server only) whose objects the tests change straight in the store,
and a full one (controllers turn Deployments into Ready pods) for the guide's scale-and-wait flow.
"""

from __future__ import annotations

import copy
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ambient_lb.errors import NotFound, SimulatorError, TimedOut
from ambient_lb.kube import Kube, pod_ready
from ambient_lb.shell import CommandLog

process = pytest.importorskip("ambient_lb.sim.process")
from ambient_lb.sim.store import GR  # noqa: E402

pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

NS = "fdn"
PODS, DEPLOYS = GR("", "pods"), GR("apps", "deployments")


def pod(name: str, ready: bool, labels: dict[str, str] | None = None) -> dict[str, Any]:
    cond = "True" if ready else "False"
    state = ({"running": {"startedAt": "2026-01-01T00:00:00Z"}} if ready
             else {"waiting": {"reason": "ContainerCreating"}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {"app": "in-ambient"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "x"}]},
            "status": {"phase": "Running" if ready else "Pending", "podIP": "10.244.0.9",
                       "conditions": [{"type": "Ready", "status": cond, "reason": "Probe", "message": "m"}],
                       "containerStatuses": [{"name": "web", "ready": ready, "restartCount": 0, "image": "x",
                                              "imageID": "", "state": state}]}}


class Bare:
    def __init__(self, sim: Any, kube: Kube) -> None:
        self.sim, self.kube = sim, kube

    def store(self, fn: Callable[[Any], Any]) -> Any:
        return self.sim.call(lambda: copy.deepcopy(fn(self.sim.cluster.store)))

    def set_ready(self, name: str, ready: bool) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["status"] = copy.deepcopy(pod(name, ready)["status"])
        self.store(lambda st: st.mutate(PODS, NS, name, change))


@pytest.fixture(scope="module")
def bare() -> Iterator[Bare]:
    with process.running_simulator(seed=3, speed=50, bare=True, bookmark_seconds=0.5) as sim:
        kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=60)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield Bare(sim, kube)


def in_background(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``fn`` in a thread; the returned function joins it and returns (or raises) its result."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc
    th = threading.Thread(target=target, daemon=True)
    th.start()

    def join() -> Any:
        th.join(90)
        assert not th.is_alive(), "the wait did not return"
        if "error" in out:
            raise out["error"]
        return out.get("value")
    return join


def test_label_and_annotate_namespace_with_real_kubectl(bare: Bare) -> None:
    kube = bare.kube
    with CommandLog() as log:
        kube.label("ns", NS, {"istio.io/dataplane-mode": "ambient"})
        kube.annotate("ns", NS, {"example.com/owner": "ambient-lb"})
    ns = kube.read("namespace", NS)
    assert ns["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert ns["metadata"]["annotations"]["example.com/owner"] == "ambient-lb"
    assert log.lines()[0] == f"kubectl label ns {NS} istio.io/dataplane-mode=ambient"
    kube.label("ns", NS, {"istio.io/dataplane-mode": None})
    assert "istio.io/dataplane-mode" not in (kube.read("namespace", NS)["metadata"].get("labels") or {})


def test_server_side_apply_and_client_reads(bare: Bare) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
          "data": {"a": "1"}}
    bare.kube.apply(cm, server_side=True, field_manager="ambient-lb")
    assert bare.kube.read("configmap", "settings", NS)["data"] == {"a": "1"}
    assert [c["metadata"]["name"] for c in bare.kube.items("cm", NS)] == ["settings"]
    assert "settings" in bare.kube.get("configmap", namespace=NS).stdout


def test_read_of_a_missing_object_is_not_found_naming_it(bare: Bare) -> None:
    with pytest.raises(NotFound, match="Gateway http not found in namespace kgateway-system|"
                                       "gateways not found"):
        bare.kube.read("gateway", "http", "kgateway-system")
    with pytest.raises(NotFound, match=f"Pod ghost not found in namespace {NS}"):
        bare.kube.read("pod", "ghost", NS)


def test_wait_for_ready_pods_follows_a_watch(bare: Bare) -> None:
    """Pods turn Ready after the wait started; the watch sees it (no polling)."""
    for i in range(3):
        bare.store(lambda st, i=i: st.create(PODS, pod(f"w-{i}", ready=False)))
    join = in_background(lambda: bare.kube.wait_for_ready_pods(NS, "app=in-ambient", 3, timeout=60))
    for i in range(3):
        bare.set_ready(f"w-{i}", True)
    ready = join()
    assert [p["metadata"]["name"] for p in ready] == ["w-0", "w-1", "w-2"]
    assert all(pod_ready(p) for p in ready)


def test_wait_for_ready_pods_timeout_lists_each_pod_state(bare: Bare) -> None:
    bare.store(lambda st: st.create(PODS, pod("slow-0", ready=False, labels={"app": "slow"})))
    with pytest.raises(TimedOut) as info:
        bare.kube.wait_for_ready_pods(NS, "app=slow", 1, timeout=1)
    assert "last seen: slow-0 ContainerCreating" in str(info.value)


def test_wait_for_condition_reports_last_reason_and_message(bare: Bare) -> None:
    bare.store(lambda st: st.create(PODS, pod("cond-0", ready=False, labels={"app": "cond"})))
    with pytest.raises(TimedOut) as info:
        bare.kube.wait_for_condition("pod", "cond-0", NS, "Ready", timeout=1)
    assert "last seen: Ready=False reason=Probe message='m'" in str(info.value)
    join = in_background(lambda: bare.kube.wait_for_condition("pod", "cond-0", NS, "Ready", timeout=60))
    bare.set_ready("cond-0", True)
    assert join()["metadata"]["name"] == "cond-0"


def test_wait_for_jsonpath_value(bare: Bare) -> None:
    bare.store(lambda st: st.create(PODS, pod("jp-0", ready=False, labels={"app": "jp"})))
    join = in_background(lambda: bare.kube.wait_for_jsonpath("pod", "jp-0", NS, "{.status.phase}", "Running",
                                                             timeout=60))
    bare.set_ready("jp-0", True)
    assert join()["status"]["phase"] == "Running"
    with pytest.raises(TimedOut, match=r"last seen: \{.status.phase\} = Running"):
        bare.kube.wait_for_jsonpath("pod", "jp-0", NS, "{.status.phase}", "Failed", timeout=1)


def test_wait_for_missing_object_says_it_does_not_exist(bare: Bare) -> None:
    with pytest.raises(TimedOut, match="the object does not exist"):
        bare.kube.wait_for_condition("pod", "nope", NS, "Ready", timeout=1)


def test_delete_with_selectors_and_wait_for_deletion(bare: Bare) -> None:
    """The guide's failover delete: label + field selector, --wait=false; then a watch until gone
    (the bare sim has no kubelet: the pod stays Terminating until the test removes it)."""
    bare.store(lambda st: st.create(PODS, pod("del-0", ready=True, labels={"app": "del"})))
    res = bare.kube.delete("pod", namespace=NS, selector="app=del", field_selector="status.phase=Running",
                           wait=False)
    assert 'pod "del-0" deleted' in res.stdout
    with pytest.raises(TimedOut, match="still present \\(terminating"):
        bare.kube.wait_for_deletion("pod", "del-0", NS, timeout=1)
    join = in_background(lambda: bare.kube.wait_for_deletion("pod", "del-0", NS, timeout=60))
    bare.store(lambda st: st.remove(PODS, NS, "del-0"))  # the bare sim has no kubelet to finish it
    join()
    with pytest.raises(NotFound):
        bare.kube.read("pod", "del-0", NS)


def test_wait_for_deletion_of_absent_object_returns_at_once(bare: Bare) -> None:
    bare.kube.wait_for_deletion("pod", "never-existed", NS, timeout=30)


def test_read_logs_through_the_client(bare: Bare) -> None:
    bare.store(lambda st: st.create(PODS, pod("log-0", ready=True, labels={"app": "log"})))
    bare.sim.call(lambda: bare.sim.cluster.logs.write(NS, "log-0", "web", "hello from log-0"))
    assert "hello from log-0" in bare.kube.read_logs("log-0", NS)
    assert "hello from log-0" in bare.kube.logs("log-0", namespace=NS).stdout


# -- with controllers: the guide's own flow -------------------------------------------------------

APP = {"apiVersion": "apps/v1", "kind": "Deployment",
       "metadata": {"name": "in-ambient", "namespace": NS, "labels": {"app": "in-ambient"}},
       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "in-ambient"}},
                "template": {"metadata": {"labels": {"app": "in-ambient"}},
                             "spec": {"containers": [{"name": "in-ambient",
                                                      "image": "docker.io/mccutchen/go-httpbin:v2.15.0"}]}}}}


@pytest.fixture(scope="module")
def full() -> Iterator[Kube]:
    try:
        ctx = process.running_simulator(seed=3, speed=50, mesh=False)
        sim = ctx.__enter__()
    except SimulatorError as exc:
        pytest.skip(f"simulator controllers not available yet: {exc}")
    try:
        kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=60)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        kube.apply(APP, server_side=True)
        yield kube
    finally:
        ctx.__exit__(None, None, None)


def test_scale_rollout_and_wait_for_three_ready_pods(full: Kube) -> None:
    """`kubectl scale deployment in-ambient --replicas=3`, then watch until 3 pods are Ready."""
    full.scale("deployment", "in-ambient", 3, namespace=NS)
    pods = full.wait_for_ready_pods(NS, "app=in-ambient", 3, timeout=60)
    assert len(pods) == 3
    full.wait_for_jsonpath("deployment", "in-ambient", NS, "{.status.readyReplicas}", 3, timeout=60)
    full.rollout_status("deployment", "in-ambient", namespace=NS, timeout=60)
    full.wait_for_condition("deployment", "in-ambient", NS, "Available", timeout=60)


def test_deleted_pod_is_replaced(full: Kube) -> None:
    victim = full.wait_for_ready_pods(NS, "app=in-ambient", 3, timeout=60)[0]["metadata"]["name"]
    full.delete("pod", [victim], namespace=NS, wait=False)
    full.wait_for_deletion("pod", victim, NS, timeout=60)
    names = [p["metadata"]["name"] for p in full.wait_for_ready_pods(NS, "app=in-ambient", 3, timeout=60)]
    assert victim not in names
