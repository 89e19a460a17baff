"""Deployment -> ReplicaSet -> Pods: names, owners, scaling, rolling updates and rollout status."""

from __future__ import annotations

import re

from ambient_lb.sim.clock import ManualClock
from ambient_lb.sim.controllers.keys import DEPLOYMENTS, PODS, REPLICA_SETS
from ambient_lb.sim.controllers.names import ALPHANUMS
from ambient_lb.sim.controllers.objects import condition, is_true
from ambient_lb.sim.world import build_cluster

from .conftest import Sim, deployment

NAME = re.compile(rf"^in-ambient-[{ALPHANUMS}]{{6,10}}-[{ALPHANUMS}]{{5}}$")


def _dep(sim: Sim, name: str = "in-ambient") -> dict:
    return sim.store.get(DEPLOYMENTS, "httpbin", name)


def _rollout_done(d: dict) -> bool:
    """What ``kubectl rollout status`` checks (kubernetes-api-surface §3.12)."""
    st, want = d.get("status") or {}, d["spec"]["replicas"]
    return (d["metadata"]["generation"] <= st.get("observedGeneration", 0)
            and st.get("updatedReplicas", 0) >= want and st.get("replicas", 0) == st.get("updatedReplicas", 0)
            and st.get("availableReplicas", 0) >= st.get("updatedReplicas", 0))


def test_pods_get_real_shaped_names_and_controller_owner(app: Sim) -> None:
    pods = app.pods("httpbin", app="in-ambient")
    assert len(pods) == 3
    (rs,) = app.store.list(REPLICA_SETS, "httpbin")
    for p in pods:
        assert NAME.match(p["metadata"]["name"]), p["metadata"]["name"]
        assert p["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]
        (ref,) = p["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                       "kind": "ReplicaSet", "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"]}
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_names_are_reproducible_under_a_seed() -> None:
    def names(seed: int) -> list[str]:
        c = build_cluster(clock=ManualClock(), mesh=False, seed=seed)
        sim = Sim(c)
        from ambient_lb.sim.controllers.nodes import create_nodes
        from ambient_lb.sim.topology import cluster_topology
        create_nodes(c, cluster_topology(None))
        sim.namespace("httpbin")
        sim.create(DEPLOYMENTS, deployment("in-ambient", replicas=3))
        sim.advance(1)
        return sorted(p["metadata"]["name"] for p in sim.pods("httpbin"))
    assert names(1) == names(1)
    assert names(1) != names(2)


def test_replicas_spread_over_nodes(app: Sim) -> None:
    nodes = sorted(p["spec"]["nodeName"] for p in app.pods("httpbin", app="in-ambient"))
    assert nodes == ["ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"]


def test_rollout_status_fields_when_complete(app: Sim) -> None:
    d = _dep(app)
    st = d["status"]
    assert st["observedGeneration"] == 1
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in st
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    prog = condition(d, "Progressing")
    assert prog["reason"] == "NewReplicaSetAvailable"
    rs_name = app.store.list(REPLICA_SETS, "httpbin")[0]["metadata"]["name"]
    assert prog["message"] == f'ReplicaSet "{rs_name}" has successfully progressed.'
    assert _rollout_done(d)


def test_rollout_not_done_while_pods_start(bare: Sim) -> None:
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=2))
    bare.advance(1)
    d = _dep(bare)
    assert not _rollout_done(d)
    assert d["status"]["unavailableReplicas"] == 2
    assert condition(d, "Available")["status"] == "False"
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert condition(d, "Progressing")["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    bare.advance(3)
    assert _rollout_done(_dep(bare))


def test_scale_up_creates_pods_and_event(app: Sim) -> None:
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", lambda d: d["spec"].__setitem__("replicas", 5))
    app.advance(0)
    assert len(app.pods("httpbin", app="in-ambient")) == 5
    assert not _rollout_done(_dep(app))
    app.advance(4)
    assert _rollout_done(_dep(app)) and _dep(app)["status"]["readyReplicas"] == 5
    msgs = [e["message"] for e in app.events("ScalingReplicaSet")]
    assert any(m.endswith("from 3 to 5") and m.startswith("Scaled up replica set in-ambient-") for m in msgs)


def test_scale_down_deletes_not_ready_then_newest_first(app: Sim) -> None:
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", lambda d: d["spec"].__setitem__("replicas", 4))
    app.advance(0.5)  # the 4th pod exists but is not Ready
    newest = max(app.pods("httpbin", app="in-ambient"), key=lambda p: p["metadata"]["creationTimestamp"])
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", lambda d: d["spec"].__setitem__("replicas", 3))
    app.advance(0)
    gone = [p for p in app.pods("httpbin", app="in-ambient") if p["metadata"].get("deletionTimestamp")]
    assert [p["metadata"]["name"] for p in gone] == [newest["metadata"]["name"]]
    assert any(e["reason"] == "SuccessfulDelete" for e in app.events())


def test_template_change_rolls_out_a_new_replicaset(app: Sim) -> None:
    """RollingUpdate 25%/25% with 3 replicas: surge 1, unavailable 0: never fewer than 3 available."""
    old_rs = app.store.list(REPLICA_SETS, "httpbin")[0]["metadata"]["name"]
    app.update(DEPLOYMENTS, "httpbin", "in-ambient",
               lambda d: d["spec"]["template"]["metadata"]["labels"].__setitem__("version", "v2"))
    min_available = 3
    for _ in range(200):
        app.advance(0.1)
        ready = [p for p in app.pods("httpbin", app="in-ambient") if is_true(p, "Ready")
                 and not p["metadata"].get("deletionTimestamp")]
        min_available = min(min_available, len(ready))
        alive = [p for p in app.pods("httpbin", app="in-ambient") if not p["metadata"].get("deletionTimestamp")]
        assert len(alive) <= 4
    assert min_available == 3
    d = _dep(app)
    assert _rollout_done(d) and d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    rss = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in app.store.list(REPLICA_SETS, "httpbin")}
    assert rss[old_rs] == 0 and sorted(rss.values()) == [0, 3]
    assert all(p["metadata"]["labels"]["version"] == "v2" for p in app.pods("httpbin", app="in-ambient"))


def test_recreate_strategy_stops_old_pods_first(app: Sim) -> None:
    def recreate(d: dict) -> None:
        d["spec"]["strategy"] = {"type": "Recreate"}
        d["spec"]["template"]["metadata"]["labels"]["version"] = "v2"
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", recreate)
    app.advance(0.3)
    versions = {p["metadata"]["labels"]["version"] for p in app.pods("httpbin", app="in-ambient")}
    assert versions == {"v1"}
    app.advance(5)
    assert {p["metadata"]["labels"]["version"] for p in app.pods("httpbin", app="in-ambient")} == {"v2"}
    assert _rollout_done(_dep(app))


def test_same_template_keeps_the_same_pod_template_hash(bare: Sim) -> None:
    """Re-applying the same manifest (defaulted again) must not start a rollout."""
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=1))
    bare.advance(4)
    bare.update(DEPLOYMENTS, "httpbin", "in-ambient",
                lambda d: d["metadata"].setdefault("annotations", {}).update(x="1"))
    bare.advance(1)
    assert len(bare.store.list(REPLICA_SETS, "httpbin")) == 1


def test_deleting_a_deployment_collects_replicasets_and_pods(app: Sim) -> None:
    app.delete(DEPLOYMENTS, "httpbin", "in-ambient")
    app.advance(0)
    assert app.store.list(REPLICA_SETS, "httpbin") == []
    assert all(p["metadata"].get("deletionTimestamp") for p in app.pods("httpbin"))
    app.advance(1)
    assert app.pods("httpbin") == []
    assert app.store.list(PODS, "httpbin") == []


def test_stuck_rollout_exceeds_its_progress_deadline(bare: Sim) -> None:
    """A pod that never gets Ready: after progressDeadlineSeconds without progress, Progressing is
    False/ProgressDeadlineExceeded (``kubectl rollout status`` then fails)."""
    from ambient_lb.sim.controllers.kubelet import FAULT_READY
    d = deployment("stuck", replicas=1, progressDeadlineSeconds=30)
    d["spec"]["template"]["metadata"]["annotations"] = {FAULT_READY: "false"}
    bare.create(DEPLOYMENTS, d)
    bare.advance(20)
    assert condition(_dep(bare, "stuck"), "Progressing")["status"] == "True"
    bare.advance(20)
    prog = condition(_dep(bare, "stuck"), "Progressing")
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert prog["message"].endswith("has timed out progressing.")


def test_rollback_reuses_old_replicaset_with_next_revision(app: Sim) -> None:
    """``kubectl rollout undo``: the template goes back, the old ReplicaSet scales up again and
    gets the next revision number."""
    first = app.store.list(REPLICA_SETS, "httpbin")[0]["metadata"]["name"]
    set_version = lambda v: lambda d: d["spec"]["template"]["metadata"]["labels"].__setitem__("version", v)  # noqa: E731
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", set_version("v2"))
    app.advance(20)
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", set_version("v1"))
    app.advance(20)
    rss = {rs["metadata"]["name"]: rs for rs in app.store.list(REPLICA_SETS, "httpbin")}
    assert len(rss) == 2 and rss[first]["spec"]["replicas"] == 3
    assert rss[first]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert _dep(app)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert _rollout_done(_dep(app))
