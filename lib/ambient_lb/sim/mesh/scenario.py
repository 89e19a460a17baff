"""A mesh-only cluster with the guide's objects put straight into the store, for benchmarks and unit tests.

Who calls it: ``benchmarks/bench_dataplane.py`` and the data-plane unit tests that must not depend on
the control-plane controllers (no API server, no kubelet): nodes, one ztunnel per node, the
kgateway chart and Gateway ``http``, the ``in-ambient`` Service with Ready pods, the HTTPRoute, and
optionally the waypoint bound with ``istio.io/use-waypoint`` (R8.2) and the ingress label (R8.1).
The end-to-end tests (``tests/sim/dataplane``) use the real API server and kubectl instead.
"""

from __future__ import annotations

from typing import Any

from ..cluster import Cluster
from . import all_controllers, charts, gatewayapi
from . import objects as o

NODES = (("node-a", "us-central1-a"), ("node-b", "us-central1-a"), ("node-c", "us-central1-a"))


def _pod(ns: str, name: str, labels: dict[str, str], ip: str, node: str, sa: str = "default",
         container: str = "app") -> o.Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": {}},
            "spec": {"nodeName": node, "serviceAccountName": sa, "containers": [{"name": container}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


def mesh_cluster(cluster: Cluster) -> Cluster:
    """Register the Gateway API CRDs and start the mesh controllers on ``cluster``."""
    for crd in gatewayapi.standard_crds():
        cluster.registry.register_crd(crd)
        cluster.store.create(o.CRDS, crd)
    for c in all_controllers(cluster):
        cluster.add_controller(c)
    return cluster


def install_guide(cluster: Cluster, *, replicas: int = 3, nodes: tuple[tuple[str, str], ...] = NODES,
                  license_key: str = "sim-license") -> None:
    """Steps 1–2 of the guide, as objects: nodes, ztunnels, kgateway, Gateway http, in-ambient, HTTPRoute."""
    store = cluster.store
    for i, (node, zone) in enumerate(nodes):
        store.create(o.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {
            o.ZONE: zone, o.REGION: zone.rsplit("-", 1)[0]}}})
        store.create(o.PODS, _pod("istio-system", f"ztunnel-{i}", {"app": "ztunnel"}, f"10.244.{i}.2", node,
                                  "ztunnel", "istio-proxy"))
    for ns in ("kgateway-system", "httpbin"):
        store.create(o.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": ns, "labels": {"istio.io/dataplane-mode": "ambient"}}})
    values = {"licensing": {"licenseKey": license_key},
              "controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": True}}}
    for m in charts.render("enterprise-kgateway", "enterprise-kgateway", "2.2.0-rc.2", "kgateway-system", values):
        store.create(cluster.gr(m["kind"]), m)
    store.create(o.PODS, _pod("kgateway-system", "enterprise-kgateway-5495d98459-46dpk", {}, "10.244.0.5",
                              nodes[0][0], "enterprise-kgateway", "kgateway"))
    store.create(o.GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                              "metadata": {"name": "http", "namespace": "kgateway-system"},
                              "spec": {"gatewayClassName": "enterprise-kgateway", "listeners": [
                                  {"name": "http", "port": 8080, "protocol": "HTTP",
                                   "allowedRoutes": {"namespaces": {"from": "All"}}}]}})
    store.create(o.PODS, _pod("kgateway-system", "http-9db6c8995-l54dw", {
        "gateway.networking.k8s.io/gateway-name": "http"}, "10.244.0.6", nodes[0][0], "http", "kgateway-proxy"))
    store.create(o.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "in-ambient", "namespace": "httpbin", "labels": {"app": "in-ambient"}},
        "spec": {"clusterIP": "10.96.45.123", "selector": {"app": "in-ambient"},
                 "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]}})
    for i in range(replicas):
        node = nodes[i % len(nodes)][0]
        store.create(o.PODS, _pod("httpbin", f"in-ambient-7d8f9b6c54-{i:05d}", {"app": "in-ambient"},
                                  f"10.244.{i % len(nodes)}.{10 + i}", node, "in-ambient", "in-ambient"))
    store.create(o.HTTP_ROUTES, route())


def route(host: str = "httpbin.example.com") -> o.Obj:
    """The guide's HTTPRoute for in-ambient, for the given hostname."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "in-ambient", "namespace": "httpbin"},
            "spec": {"parentRefs": [{"name": "http", "namespace": "kgateway-system"}], "hostnames": [host],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": "in-ambient", "port": 8000}]}]}}


def add_waypoint(cluster: Cluster, *, bind: bool = True, dr: dict[str, Any] | None = None) -> None:
    """Step 3 (+ the R8.2 binding the guide leaves out) and optionally step 4's DestinationRule."""
    store = cluster.store
    store.create(o.GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                              "metadata": {"name": "httpbin-waypoint", "namespace": "httpbin"},
                              "spec": {"gatewayClassName": "istio-waypoint", "listeners": [
                                  {"name": "mesh", "port": 15008, "protocol": "HBONE"}]}})
    store.create(o.PODS, _pod("httpbin", "httpbin-waypoint-6d8d9c5b4f-x1x2x", {
        "gateway.networking.k8s.io/gateway-name": "httpbin-waypoint"}, "10.244.1.50", NODES[1][0],
        "httpbin-waypoint", "istio-proxy"))
    labels = {"istio.io/ingress-use-waypoint": "true"}
    if bind:
        labels["istio.io/use-waypoint"] = "httpbin-waypoint"
    store.mutate(o.SERVICES, "httpbin", "in-ambient", lambda s: s["metadata"]["labels"].update(labels))
    if dr is not None:
        store.create(o.DESTINATION_RULES, {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                                           "metadata": {"name": "in-ambient-failover", "namespace": "httpbin"},
                                           "spec": dr})


def give_waypoint_vip(cluster: Cluster, ip: str = "10.96.0.77") -> None:
    """Without the control plane's service controller, assign the waypoint Service its ClusterIP."""
    cluster.store.mutate(o.SERVICES, "httpbin", "httpbin-waypoint", lambda s: s["spec"].__setitem__("clusterIP", ip))


GUIDE_DR = {"host": "in-ambient", "trafficPolicy": {
    "loadBalancer": {"simple": "ROUND_ROBIN"},
    "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"}}}


def settle(cluster: Cluster) -> None:
    """Run the mesh controllers' reconcilers and an istiod push now (no waiting for their ticks)."""
    for c in cluster.controllers:
        if hasattr(c, "reconcile"):
            c.reconcile()
    cluster.extensions["istiod"].push_now()
