"""The kubelet's stages (§11 timings) and pod deletion (R6.1, R6.6, R6.7)."""

from __future__ import annotations

from ambient_lb.sim.controllers.keys import DEPLOYMENTS, PODS
from ambient_lb.sim.controllers.kubelet import FAULT_READY
from ambient_lb.sim.controllers.objects import condition, is_true

from .conftest import Sim, deployment


def _one_pod(sim: Sim, name: str = "web") -> dict:
    sim.create(DEPLOYMENTS, deployment(name, replicas=1))
    sim.advance(0)
    (pod,) = sim.pods("httpbin", app=name)
    return pod


def _get(sim: Sim, pod: dict) -> dict:
    return sim.store.get(PODS, "httpbin", pod["metadata"]["name"])


def test_pod_is_scheduled_then_container_creating_after_pending_delay(bare: Sim) -> None:
    """§11: Pending 0.2 s, then ContainerCreating with a waiting reason and the host IP."""
    pod = _one_pod(bare)
    assert _get(bare, pod)["spec"]["nodeName"].startswith("ambient-lb-sim-worker")
    assert is_true(_get(bare, pod), "PodScheduled")
    bare.advance(0.1)
    assert "containerStatuses" not in _get(bare, pod)["status"]
    bare.advance(0.15)
    st = _get(bare, pod)["status"]
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert st["hostIP"].startswith("172.18.0.")
    assert "podIP" not in st


def test_pod_gets_running_then_ready_after_first_probe(bare: Sim) -> None:
    """§11: ContainerCreating 2 s, then Running 0/1; the first readiness probe 1 s later makes it Ready."""
    pod = _one_pod(bare)
    bare.advance(0.2 + 2.0)
    st = _get(bare, pod)["status"]
    assert st["phase"] == "Running"
    assert st["podIP"].startswith("10.244.")
    assert st["containerStatuses"][0]["started"] is True
    assert not is_true(_get(bare, pod), "Ready")
    assert condition(_get(bare, pod), "Ready")["reason"] == "ContainersNotReady"
    kubelet = bare.cluster.extensions["kubelet"]
    assert kubelet.listening("httpbin", pod["metadata"]["name"])
    bare.advance(1.0)
    assert is_true(_get(bare, pod), "Ready")
    assert [c["type"] for c in _get(bare, pod)["status"]["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]


def test_pod_lifecycle_events_tell_the_story(bare: Sim) -> None:
    pod = _one_pod(bare)
    bare.advance(4)
    mine = [e for e in bare.events() if e["involvedObject"]["name"] == pod["metadata"]["name"]]
    assert [e["reason"] for e in mine] == ["Scheduled", "Pulled", "Created", "Started"]
    assert mine[0]["source"] == {"component": "default-scheduler"}
    assert mine[1]["message"] == 'Container image "docker.io/mccutchen/go-httpbin:v2.15.0" already present on machine'
    assert mine[2]["involvedObject"]["fieldPath"] == "spec.containers{web}"


def test_container_writes_its_startup_log_line(bare: Sim) -> None:
    pod = _one_pod(bare)
    bare.advance(3)
    lines = [t for _, t in bare.cluster.logs.read("httpbin", pod["metadata"]["name"], "web")]
    assert lines and 'msg="go-httpbin listening on http://0.0.0.0:8080"' in lines[0]


def test_deleted_pod_gets_sigterm_then_exits_then_is_removed(bare: Sim) -> None:
    """R6.1/§11: SIGTERM 0.1 s after the delete, the app stops listening at SIGTERM (R6.7),
    containers exit 0.5 s later (R6.6), then the Pod object is removed."""
    pod = _one_pod(bare)
    name = pod["metadata"]["name"]
    bare.advance(4)
    kubelet = bare.cluster.extensions["kubelet"]
    seen: list[tuple[str, bool]] = []
    kubelet.subscribe(lambda ns, p, listening: seen.append((p, listening)))
    t0 = bare.clock.now()
    bare.delete(PODS, "httpbin", name)
    assert _get(bare, pod)["metadata"]["deletionGracePeriodSeconds"] == 30
    bare.advance(0.05)
    assert kubelet.listening("httpbin", name)
    bare.advance(0.06)
    assert not kubelet.listening("httpbin", name)
    assert abs(kubelet.sigterm_at("httpbin", name) - (t0 + 0.1)) < 1e-6
    assert (name, False) in seen
    assert is_true(_get(bare, pod), "Ready")  # still serving until the containers exit
    bare.advance(0.5)
    assert _get(bare, pod) is None
    assert bare.cluster.logs.read("httpbin", name, "web") == []
    assert any(e["reason"] == "Killing" and e["message"] == "Stopping container web" for e in bare.events())


def test_containers_exit_at_grace_deadline_when_shorter(bare: Sim) -> None:
    """R6.1: an app slower to stop than the grace period is killed at the deadline."""
    bare.cluster.extensions["kubelet"].timings.exit_after_sigterm = 5.0
    pod = _one_pod(bare)
    bare.advance(4)
    bare.delete(PODS, "httpbin", pod["metadata"]["name"], grace=1)
    bare.advance(0.95)
    assert _get(bare, pod) is not None
    bare.advance(0.1)
    assert _get(bare, pod) is None


def test_replacement_pod_is_created_at_once_while_old_one_terminates(bare: Sim) -> None:
    """R6.1 step 2: the ReplicaSet stops counting the terminating pod and creates a replacement."""
    pod = _one_pod(bare)
    bare.advance(4)
    bare.delete(PODS, "httpbin", pod["metadata"]["name"])
    bare.advance(0)
    names = {p["metadata"]["name"] for p in bare.pods("httpbin", app="web")}
    assert len(names) == 2 and pod["metadata"]["name"] in names


def test_fault_annotation_makes_readiness_fail_then_recover(bare: Sim) -> None:
    """``fault.ambient-lb.dev/ready: "false"``: probes fail, the pod goes 0/1 after failureThreshold
    (3 x 10 s), stays Running, and is Ready again at the first probe after the annotation goes."""
    pod = _one_pod(bare)
    bare.advance(4)
    name = pod["metadata"]["name"]
    bare.update(PODS, "httpbin", name,
                lambda p: p["metadata"].setdefault("annotations", {}).update({FAULT_READY: "false"}))
    bare.advance(25)
    assert is_true(_get(bare, pod), "Ready")  # two failures so far
    bare.advance(10)
    assert not is_true(_get(bare, pod), "Ready")
    assert _get(bare, pod)["status"]["phase"] == "Running"
    assert any(e["reason"] == "Unhealthy" and e["count"] >= 3 for e in bare.events())
    bare.update(PODS, "httpbin", name, lambda p: p["metadata"]["annotations"].update({FAULT_READY: "true"}))
    bare.advance(10)
    assert is_true(_get(bare, pod), "Ready")


def test_pod_with_failing_first_probe_never_becomes_ready(bare: Sim) -> None:
    d = deployment("sick", replicas=1)
    d["spec"]["template"]["metadata"]["annotations"] = {FAULT_READY: "false"}
    bare.create(DEPLOYMENTS, d)
    bare.advance(60)
    (pod,) = bare.pods("httpbin", app="sick")
    assert pod["status"]["phase"] == "Running" and not is_true(pod, "Ready")


def test_unscheduled_pod_is_removed_at_once_on_delete(bare: Sim) -> None:
    bare.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nowhere", "namespace": "httpbin"},
                       "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "busybox"}]}})
    bare.advance(1)
    assert bare.store.get(PODS, "httpbin", "nowhere")["status"]["phase"] == "Pending"
    bare.delete(PODS, "httpbin", "nowhere")
    assert bare.store.get(PODS, "httpbin", "nowhere") is None


def test_pod_ips_come_from_the_node_pod_cidr_and_are_not_reused_at_once(bare: Sim) -> None:
    bare.create(DEPLOYMENTS, deployment("web", replicas=3))
    bare.advance(4)
    ips = {p["status"]["podIP"] for p in bare.pods("httpbin", app="web")}
    assert len(ips) == 3
    victim = bare.pods("httpbin", app="web")[0]
    bare.delete(PODS, "httpbin", victim["metadata"]["name"])
    bare.advance(5)
    new_ips = {p["status"]["podIP"] for p in bare.pods("httpbin", app="web")}
    assert victim["status"]["podIP"] not in new_ips


def test_second_delete_with_shorter_grace_kills_sooner(bare: Sim) -> None:
    """R6.1: a repeated delete with a shorter grace period moves the kill deadline forward."""
    bare.cluster.extensions["kubelet"].timings.exit_after_sigterm = 20.0
    pod = _one_pod(bare)
    bare.advance(4)
    bare.delete(PODS, "httpbin", pod["metadata"]["name"])
    bare.advance(1)
    assert _get(bare, pod) is not None
    bare.store.mutate(PODS, "httpbin", pod["metadata"]["name"],
                      lambda p: p["metadata"].update(deletionGracePeriodSeconds=1))
    bare.advance(0.9)
    assert _get(bare, pod) is not None
    bare.advance(0.2)
    assert _get(bare, pod) is None
