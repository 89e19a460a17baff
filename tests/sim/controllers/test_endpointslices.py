"""EndpointSlices and Endpoints: R6.2 conditions, ports, zones, and the legacy object."""

from __future__ import annotations

from ambient_lb.sim.controllers.keys import DEPLOYMENTS, ENDPOINT_SLICES, ENDPOINTS, NODES, PODS, SERVICES
from ambient_lb.sim.controllers.kubelet import FAULT_READY

from .conftest import Sim, deployment, service


def _slice(sim: Sim, name: str = "in-ambient") -> dict:
    (s,) = [s for s in sim.store.list(ENDPOINT_SLICES, "httpbin")
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == name]
    return s


def _by_pod(s: dict) -> dict[str, dict]:
    return {e["targetRef"]["name"]: e for e in s["endpoints"]}


def test_slice_has_labels_owner_ports_and_ready_endpoints(app: Sim) -> None:
    s = _slice(app)
    svc = app.store.get(SERVICES, "httpbin", "in-ambient")
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert s["metadata"]["name"].startswith("in-ambient-")
    assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert len(s["endpoints"]) == 3
    for e in s["endpoints"]:
        pod = app.store.get(PODS, "httpbin", e["targetRef"]["name"])
        assert e["addresses"] == [pod["status"]["podIP"]]
        assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert e["nodeName"] == pod["spec"]["nodeName"]
        assert e["zone"] == "us-central1-a"


def test_new_pod_endpoint_is_not_ready_until_pod_ready(bare: Sim) -> None:
    """R6.2: a new pod's endpoint has ready=false until the pod is Ready."""
    bare.create(SERVICES, service("in-ambient"))
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=1))
    bare.advance(2.3)
    (e,) = _slice(bare)["endpoints"]
    assert e["conditions"] == {"ready": False, "serving": False, "terminating": False}
    bare.advance(1)
    (e,) = _slice(bare)["endpoints"]
    assert e["conditions"]["ready"] is True


def test_terminating_endpoint_is_not_ready_but_serving_until_pod_removed(app: Sim) -> None:
    """R6.2: terminating endpoint: ready=false, serving=pod readiness, terminating=true; it leaves
    the slice when the Pod object is deleted."""
    victim = app.pods("httpbin", app="in-ambient")[0]["metadata"]["name"]
    app.delete(PODS, "httpbin", victim)
    app.advance(0)
    e = _by_pod(_slice(app))[victim]
    assert e["conditions"] == {"ready": False, "serving": True, "terminating": True}
    app.advance(1)
    assert victim not in _by_pod(_slice(app))


def test_publish_not_ready_addresses_makes_endpoints_ready(bare: Sim) -> None:
    """R6.2 exception: with publishNotReadyAddresses the endpoint is always ready=true."""
    bare.create(SERVICES, service("in-ambient", publishNotReadyAddresses=True))
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=1))
    bare.advance(2.3)
    (e,) = _slice(bare)["endpoints"]
    assert e["conditions"] == {"ready": True, "serving": False, "terminating": False}


def test_fault_not_ready_pod_endpoint_goes_not_ready(app: Sim) -> None:
    name = app.pods("httpbin", app="in-ambient")[0]["metadata"]["name"]
    app.update(PODS, "httpbin", name,
               lambda p: p["metadata"].setdefault("annotations", {}).update({FAULT_READY: "false"}))
    app.advance(31)
    assert _by_pod(_slice(app))[name]["conditions"] == {"ready": False, "serving": False, "terminating": False}


def test_named_target_port_resolves_against_container_ports(bare: Sim) -> None:
    bare.create(SERVICES, service("in-ambient", target="http"))
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=1, port=9090))
    bare.advance(4)
    assert _slice(bare)["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]


def test_zone_follows_node_label_changes(app: Sim) -> None:
    node = app.pods("httpbin", app="in-ambient")[0]["spec"]["nodeName"]
    app.update(NODES, None, node, lambda n: n["metadata"]["labels"].update({"topology.kubernetes.io/zone": "zone-b"}))
    app.advance(0)
    zones = {e["nodeName"]: e["zone"] for e in _slice(app)["endpoints"]}
    assert zones[node] == "zone-b" and sorted(zones.values()).count("us-central1-a") == 2


def test_legacy_endpoints_split_ready_and_not_ready_and_drop_terminating(app: Sim) -> None:
    pods = app.pods("httpbin", app="in-ambient")
    app.delete(PODS, "httpbin", pods[0]["metadata"]["name"])
    app.advance(0.3)  # replacement exists (Pending, no IP yet); victim terminating
    ep = app.store.get(ENDPOINTS, "httpbin", "in-ambient")
    (subset,) = ep["subsets"]
    assert {a["targetRef"]["name"] for a in subset["addresses"]} == {p["metadata"]["name"] for p in pods[1:]}
    assert "notReadyAddresses" not in subset
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    app.advance(2.5)
    (subset,) = app.store.get(ENDPOINTS, "httpbin", "in-ambient")["subsets"]
    assert len(subset["notReadyAddresses"]) == 1


def test_service_without_selector_is_left_alone(bare: Sim) -> None:
    svc = service("external")
    del svc["spec"]["selector"]
    bare.create(SERVICES, svc)
    bare.advance(1)
    assert bare.store.list(ENDPOINT_SLICES, "httpbin") == []
    assert bare.store.get(ENDPOINTS, "httpbin", "external") is None


def test_deleting_service_removes_slice_and_endpoints(app: Sim) -> None:
    app.delete(SERVICES, "httpbin", "in-ambient")
    app.advance(0)
    assert app.store.list(ENDPOINT_SLICES, "httpbin") == []
    assert app.store.get(ENDPOINTS, "httpbin", "in-ambient") is None


def test_endpoints_are_in_pod_creation_order(app: Sim) -> None:
    """§11: EDS host order is pod creation order."""
    pods = sorted(app.pods("httpbin", app="in-ambient"),
                  key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))
    assert [e["targetRef"]["name"] for e in _slice(app)["endpoints"]] == [p["metadata"]["name"] for p in pods]
