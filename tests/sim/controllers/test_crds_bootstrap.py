"""CRDs (register, Established, delete), istiod's GatewayClasses, and the bootstrap state."""

from __future__ import annotations

from ambient_lb.sim.controllers.keys import (
    CRDS,
    DAEMON_SETS,
    DEPLOYMENTS,
    GATEWAY_CLASSES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
)
from ambient_lb.sim.controllers.objects import condition, is_true
from ambient_lb.sim.store import GR

from .conftest import Sim

PRESERVE_UNKNOWN = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": PRESERVE_UNKNOWN}]}}

GATEWAYCLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gatewayclasses.gateway.networking.k8s.io"},
    "spec": {"group": "gateway.networking.k8s.io", "scope": "Cluster",
             "names": {"kind": "GatewayClass", "plural": "gatewayclasses", "shortNames": ["gc"],
                       "categories": ["gateway-api"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": PRESERVE_UNKNOWN},
                          {"name": "v1beta1", "served": True, "storage": False,
                           "schema": PRESERVE_UNKNOWN}]}}


def test_crd_kind_is_servable_at_once_and_established_soon(bare: Sim) -> None:
    bare.create(CRDS, WIDGET_CRD)
    t = bare.cluster.registry.by_kind("Widget")
    assert t is not None and t.gr == GR("example.com", "widgets") and t.short_names == ("wd",)
    bare.advance(0)
    crd = bare.store.get(CRDS, None, "widgets.example.com")
    assert is_true(crd, "Established") and condition(crd, "Established")["reason"] == "InitialNamesAccepted"
    assert condition(crd, "NamesAccepted")["reason"] == "NoConflicts"
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]


def test_deleting_crd_removes_kind_and_objects(bare: Sim) -> None:
    bare.create(CRDS, WIDGET_CRD)
    gr = GR("example.com", "widgets")
    bare.store.create(gr, {"apiVersion": "example.com/v1", "kind": "Widget",
                           "metadata": {"name": "w", "namespace": "httpbin"}})
    bare.store.remove(CRDS, None, "widgets.example.com")
    assert bare.cluster.registry.get(gr) is None
    bare.advance(0)
    assert bare.store.list(gr) == []


def test_gatewayclasses_appear_when_gateway_api_crds_are_installed(seeded: Sim) -> None:
    assert seeded.cluster.registry.get(GATEWAY_CLASSES) is None
    seeded.create(CRDS, GATEWAYCLASS_CRD)
    seeded.advance(0)
    classes = {g["metadata"]["name"]: g for g in seeded.store.list(GATEWAY_CLASSES)}
    assert sorted(classes) == ["istio", "istio-remote", "istio-waypoint"]
    wp = classes["istio-waypoint"]
    assert wp["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert wp["spec"]["controllerName"] == "istio.io/mesh-controller"
    acc = condition(wp, "Accepted")
    assert acc["status"] == "True" and acc["observedGeneration"] == 1
    seeded.store.remove(GATEWAY_CLASSES, None, "istio-waypoint")
    seeded.advance(0)
    assert seeded.store.get(GATEWAY_CLASSES, None, "istio-waypoint") is not None


def test_bootstrap_has_an_ambient_mesh_ready(seeded: Sim) -> None:
    assert {n["metadata"]["name"] for n in seeded.store.list(NODES)} == {
        "ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"}
    assert {n["metadata"]["name"] for n in seeded.store.list(NAMESPACES)} >= {
        "default", "kube-system", "kube-public", "kube-node-lease", "istio-system"}
    istiod = seeded.store.get(DEPLOYMENTS, "istio-system", "istiod")
    assert istiod["status"]["availableReplicas"] == 1
    zt = seeded.store.get(DAEMON_SETS, "istio-system", "ztunnel")
    assert zt["status"]["numberReady"] == 3 == zt["status"]["desiredNumberScheduled"]
    zpods = [p for p in seeded.store.list(PODS, "istio-system") if p["metadata"]["labels"].get("app") == "ztunnel"]
    assert sorted(p["spec"]["nodeName"] for p in zpods) == [
        "ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"]
    c = zpods[0]["spec"]["containers"][0]
    assert c["name"] == "istio-proxy" and c["image"].startswith("docker.io/istio/ztunnel:")
    assert all(is_true(p, "Ready") for p in seeded.store.list(PODS))
    assert seeded.store.get(SERVICES, "default", "kubernetes")["spec"]["clusterIP"] == "10.96.0.1"
    assert seeded.store.get(DAEMON_SETS, "istio-system", "istio-cni-node")["status"]["numberReady"] == 3
    kinds = {t.kind for t in seeded.cluster.registry.all()}
    assert {"DestinationRule", "ServiceEntry", "VirtualService", "PeerAuthentication", "AuthorizationPolicy",
            "Telemetry", "WorkloadEntry", "Sidecar"} <= kinds
    assert seeded.cluster.registry.by_kind("Gateway", "networking.istio.io") is not None
    assert seeded.cluster.registry.by_kind("GatewayClass") is None  # the runbook installs Gateway API


def test_destinationrule_crd_has_istio_printer_columns(seeded: Sim) -> None:
    crd = seeded.store.get(CRDS, None, "destinationrules.networking.istio.io")
    v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    assert [c["name"] for c in v1["additionalPrinterColumns"]] == ["Host", "Age"]
    assert crd["spec"]["names"]["shortNames"] == ["dr"]
    assert seeded.cluster.registry.by_kind("DestinationRule").version == "v1"


def test_istiod_and_ztunnel_write_startup_logs(seeded: Sim) -> None:
    pod = next(p for p in seeded.store.list(PODS, "istio-system") if p["metadata"]["labels"].get("app") == "istiod")
    lines = [t for _, t in seeded.cluster.logs.read("istio-system", pod["metadata"]["name"], "discovery")]
    assert any("marking server ready" in line for line in lines)
