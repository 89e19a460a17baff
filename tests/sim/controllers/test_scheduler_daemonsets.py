"""Scheduler (nodeName, nodeSelector, node affinity, spreading) and DaemonSets."""

from __future__ import annotations

from ambient_lb.sim.controllers.keys import DAEMON_SETS, NODES, PODS
from ambient_lb.sim.controllers.objects import condition, is_true

from .conftest import Sim


def _pod(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "httpbin"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec}}


def test_node_selector_is_honoured(bare: Sim) -> None:
    bare.update(NODES, None, "ambient-lb-sim-worker3", lambda n: n["metadata"]["labels"].update(disk="ssd"))
    bare.create(PODS, _pod("p", nodeSelector={"disk": "ssd"}))
    bare.advance(0)
    assert bare.store.get(PODS, "httpbin", "p")["spec"]["nodeName"] == "ambient-lb-sim-worker3"
    assert any(e["reason"] == "Scheduled"
               and e["message"] == "Successfully assigned httpbin/p to ambient-lb-sim-worker3"
               for e in bare.events())


def test_required_node_affinity_is_honoured(bare: Sim) -> None:
    aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["ambient-lb-sim-worker2"]}]}]}}}
    bare.create(PODS, _pod("p", affinity=aff))
    bare.advance(0)
    assert bare.store.get(PODS, "httpbin", "p")["spec"]["nodeName"] == "ambient-lb-sim-worker2"


def test_preset_node_name_skips_the_scheduler(bare: Sim) -> None:
    bare.create(PODS, _pod("p", nodeName="ambient-lb-sim-worker2"))
    bare.advance(4)
    pod = bare.store.get(PODS, "httpbin", "p")
    assert pod["status"]["phase"] == "Running" and not any(e["reason"] == "Scheduled" for e in bare.events())


def test_unschedulable_pod_waits_then_schedules_when_a_node_fits(bare: Sim) -> None:
    bare.create(PODS, _pod("p", nodeSelector={"disk": "ssd"}))
    bare.advance(1)
    pod = bare.store.get(PODS, "httpbin", "p")
    cond = condition(pod, "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
    assert any(e["reason"] == "FailedScheduling" and e["type"] == "Warning" for e in bare.events())
    bare.update(NODES, None, "ambient-lb-sim-worker", lambda n: n["metadata"]["labels"].update(disk="ssd"))
    bare.advance(4)
    pod = bare.store.get(PODS, "httpbin", "p")
    assert pod["spec"]["nodeName"] == "ambient-lb-sim-worker" and is_true(pod, "Ready")


def _ds(name: str = "agent", **tmpl_spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "httpbin"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "busybox:1.36"}], **tmpl_spec}}}}


def test_daemonset_runs_one_ready_pod_per_node(bare: Sim) -> None:
    bare.create(DAEMON_SETS, _ds())
    bare.advance(4)
    pods = bare.pods("httpbin", app="agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == [
        "ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"]
    assert all(p["metadata"]["name"].startswith("agent-") and len(p["metadata"]["name"]) == len("agent-") + 5
               for p in pods)
    st = bare.store.get(DAEMON_SETS, "httpbin", "agent")["status"]
    assert (st["desiredNumberScheduled"], st["currentNumberScheduled"], st["numberReady"], st["numberAvailable"],
            st["updatedNumberScheduled"], st["numberMisscheduled"]) == (3, 3, 3, 3, 3, 0)


def test_daemonset_follows_node_selector_and_node_labels(bare: Sim) -> None:
    bare.create(DAEMON_SETS, _ds(nodeSelector={"role": "edge"}))
    bare.advance(1)
    assert bare.pods("httpbin", app="agent") == []
    bare.update(NODES, None, "ambient-lb-sim-worker2", lambda n: n["metadata"]["labels"].update(role="edge"))
    bare.advance(4)
    (pod,) = bare.pods("httpbin", app="agent")
    assert pod["spec"]["nodeName"] == "ambient-lb-sim-worker2"
    bare.update(NODES, None, "ambient-lb-sim-worker2", lambda n: n["metadata"]["labels"].pop("role"))
    bare.advance(2)
    assert bare.pods("httpbin", app="agent") == []


def test_daemonset_rolling_update_replaces_one_node_at_a_time(bare: Sim) -> None:
    bare.create(DAEMON_SETS, _ds())
    bare.advance(4)
    bare.update(DAEMON_SETS, "httpbin", "agent",
                lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "busybox:1.37"))
    most_down = 0
    for _ in range(150):
        bare.advance(0.1)
        ready = [p for p in bare.pods("httpbin", app="agent")
                 if is_true(p, "Ready") and not p["metadata"].get("deletionTimestamp")]
        most_down = max(most_down, 3 - len(ready))
    assert most_down == 1
    pods = bare.pods("httpbin", app="agent")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:1.37"} and len(pods) == 3
    st = bare.store.get(DAEMON_SETS, "httpbin", "agent")["status"]
    assert st["updatedNumberScheduled"] == 3 and st["numberAvailable"] == 3


def test_full_nodes_leave_pods_pending_with_too_many_pods() -> None:
    from ambient_lb.sim.clock import ManualClock
    from ambient_lb.sim.controllers.keys import DEPLOYMENTS
    from ambient_lb.sim.controllers.nodes import create_nodes
    from ambient_lb.sim.topology import parse_topology
    from ambient_lb.sim.world import build_cluster

    from .conftest import deployment
    topo = parse_topology({"nodes": [{"max_pods": 2}, {"max_pods": 2}]})
    c = build_cluster(clock=ManualClock(), mesh=False, topology=topo)
    create_nodes(c, topo.cluster())
    sim = Sim(c)
    sim.namespace("httpbin")
    sim.create(DEPLOYMENTS, deployment("web", replicas=5))
    sim.advance(4)
    pending = [p for p in sim.pods("httpbin") if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    assert condition(pending[0], "PodScheduled")["message"].startswith("0/2 nodes are available: 2 Too many pods.")
    running = [p for p in sim.pods("httpbin") if p["spec"].get("nodeName")]
    sim.delete(PODS, "httpbin", running[0]["metadata"]["name"])
    sim.advance(5)  # the freed slot goes to a pending pod; 5 replicas still want 4 slots + 1
    placed = [p for p in sim.pods("httpbin") if p["spec"].get("nodeName")]
    assert len(placed) == 4 and len(sim.pods("httpbin")) == 5
    assert running[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in placed}


def test_daemonset_with_max_surge_starts_new_pod_before_stopping_old(bare: Sim) -> None:
    """ztunnel's strategy (maxSurge 1, maxUnavailable 0): every node keeps an available pod."""
    ds = _ds()
    ds["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    bare.create(DAEMON_SETS, ds)
    bare.advance(4)
    bare.update(DAEMON_SETS, "httpbin", "agent",
                lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "busybox:1.37"))
    most_pods = 0
    for _ in range(200):
        bare.advance(0.1)
        live = [p for p in bare.pods("httpbin", app="agent") if not p["metadata"].get("deletionTimestamp")]
        by_node: dict[str, int] = {}
        for p in live:
            if is_true(p, "Ready"):
                by_node[p["spec"]["nodeName"]] = by_node.get(p["spec"]["nodeName"], 0) + 1
        assert len(by_node) == 3  # no node is ever without a Ready agent
        most_pods = max(most_pods, len(live))
    assert most_pods == 4
    pods = bare.pods("httpbin", app="agent")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:1.37"} and len(pods) == 3
