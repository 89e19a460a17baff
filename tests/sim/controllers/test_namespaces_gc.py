"""Namespaces (defaults, cascading deletion) and the garbage collector."""

from __future__ import annotations

from ambient_lb.sim.controllers.keys import (
    CONFIG_MAPS,
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    REPLICA_SETS,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from ambient_lb.sim.controllers.objects import condition

from .conftest import Sim, deployment


def test_new_namespace_gets_default_serviceaccount_and_root_ca(bare: Sim) -> None:
    bare.namespace("demo")
    ns = bare.store.get(NAMESPACES, None, "demo")
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "demo"
    assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
    assert bare.store.get(SERVICE_ACCOUNTS, "demo", "default") is not None
    assert "ca.crt" in bare.store.get(CONFIG_MAPS, "demo", "kube-root-ca.crt")["data"]


def test_deleted_default_serviceaccount_comes_back(bare: Sim) -> None:
    bare.store.remove(SERVICE_ACCOUNTS, "httpbin", "default")
    bare.advance(0)
    assert bare.store.get(SERVICE_ACCOUNTS, "httpbin", "default") is not None


def test_namespace_deletion_cascades_through_terminating(app: Sim) -> None:
    """kubernetes-api-surface §3.10: Terminating with conditions, contents deleted (pods gracefully),
    then the namespace is removed."""
    events = []
    app.store.subscribe(lambda ev: events.append((ev.type, ev.gr.resource, ev.obj["metadata"]["name"])))
    app.delete(NAMESPACES, None, "httpbin")
    app.advance(0)
    ns = app.store.get(NAMESPACES, None, "httpbin")
    assert ns["status"]["phase"] == "Terminating"
    remaining = condition(ns, "NamespaceContentRemaining")
    assert remaining["status"] == "True" and remaining["reason"] == "SomeResourcesRemain"
    assert "pods. has 3 resource instances" in remaining["message"]
    assert condition(ns, "NamespaceDeletionDiscoveryFailure")["reason"] == "ResourcesDiscovered"
    assert all(p["metadata"].get("deletionTimestamp") for p in app.pods("httpbin"))
    assert app.store.list(SERVICES, "httpbin") == [] and app.store.list(DEPLOYMENTS, "httpbin") == []
    app.advance(1)
    assert app.store.get(NAMESPACES, None, "httpbin") is None
    assert app.store.list(PODS, "httpbin") == []
    assert ("DELETED", "namespaces", "httpbin") == events[-1]
    pod_gone = [i for i, e in enumerate(events) if e[:2] == ("DELETED", "pods")]
    assert len(pod_gone) == 3 and max(pod_gone) < len(events) - 1  # pods went before the namespace


def test_no_new_pods_in_a_terminating_namespace(app: Sim) -> None:
    app.delete(NAMESPACES, None, "httpbin")
    app.advance(0.05)
    app.advance(2)
    assert app.store.list(PODS, "httpbin") == []
    assert app.store.list(REPLICA_SETS, "httpbin") == []


def test_orphan_keeps_dependents(app: Sim) -> None:
    (rs,) = app.store.list(REPLICA_SETS, "httpbin")
    app.cluster.extensions["gc"].orphan(rs["metadata"]["uid"])
    app.store.remove(REPLICA_SETS, "httpbin", rs["metadata"]["name"])
    app.advance(0)
    pods = app.pods("httpbin", app="in-ambient")
    # the Deployment makes a new ReplicaSet with the same name; the orphaned pods lost their owner
    orphans = [p for p in pods if not p["metadata"].get("ownerReferences")]
    assert len(orphans) == 3 and not any(p["metadata"].get("deletionTimestamp") for p in orphans)


def test_orphan_finalizer_releases_dependents_then_removes_owner(app: Sim) -> None:
    def orphan(d: dict) -> None:
        d["metadata"]["finalizers"] = ["orphan"]
        d["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", orphan)
    app.advance(0)
    assert app.store.get(DEPLOYMENTS, "httpbin", "in-ambient") is None
    (rs,) = app.store.list(REPLICA_SETS, "httpbin")
    assert "ownerReferences" not in rs["metadata"]


def test_foreground_deletion_waits_for_dependents(app: Sim) -> None:
    def foreground(d: dict) -> None:
        d["metadata"]["finalizers"] = ["foregroundDeletion"]
        d["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    app.update(DEPLOYMENTS, "httpbin", "in-ambient", foreground)
    app.advance(0)
    assert app.store.list(REPLICA_SETS, "httpbin") == []
    app.advance(2)
    assert app.store.get(DEPLOYMENTS, "httpbin", "in-ambient") is None


def test_object_with_dangling_owner_is_collected(bare: Sim) -> None:
    bare.create(SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "stray", "namespace": "httpbin", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid", "controller": True}]}})
    bare.advance(0)
    assert bare.store.get(SERVICE_ACCOUNTS, "httpbin", "stray") is None


def test_deployment_delete_event_story(bare: Sim) -> None:
    bare.create(DEPLOYMENTS, deployment("web", replicas=2))
    bare.advance(4)
    bare.delete(DEPLOYMENTS, "httpbin", "web")
    bare.advance(2)
    assert bare.pods("httpbin", app="web") == []
