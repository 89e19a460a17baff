"""Istio's waypoint deployment controller for GatewayClass ``istio-waypoint``.

Who calls it: ``sim.mesh.all_controllers``. Like istiod's gateway deployment controller it:
- (the GatewayClasses themselves are istiod's, ``sim/controllers/gatewayclasses.py``);
- for each Gateway of class ``istio-waypoint``: a ServiceAccount, a Deployment (container
  ``istio-proxy``) and a ClusterIP Service with ports 15021 and 15008 annotated
  ``networking.istio.io/traffic-distribution: PreferClose`` (R5.7, Istio's waypoint template);
- sets the Gateway's ``Accepted`` and ``Programmed`` conditions and its address (the Service VIP).

Binding Services to the waypoint is not done here: that needs ``istio.io/use-waypoint`` (R8.2,
``istiod.py``).
"""

from __future__ import annotations

from typing import Any

from ..clock import to_rfc3339
from ..cluster import Cluster
from . import objects as o

PROXY_IMAGE = "docker.io/istio/proxyv2:1.28.0-distroless"
_WATCHED = {o.GATEWAYS, o.SERVICES}


def waypoint_labels(gateway: str) -> dict[str, str]:
    return {"gateway.networking.k8s.io/gateway-name": gateway, "gateway.istio.io/managed": "istio.io-mesh-controller",
            "istio.io/dataplane-mode": "none"}


class WaypointController(o.Debounced):
    watched = _WATCHED
    name = "waypoint"

    def __init__(self) -> None:
        self._pending = False

    def start(self, cluster: Cluster) -> None:
        self.cluster = cluster
        cluster.store.subscribe(self._on_event)
        self.reconcile()

    def reconcile(self) -> None:
        for gw in self.cluster.store.list(o.GATEWAYS):
            if (gw.get("spec") or {}).get("gatewayClassName") == o.WAYPOINT_CLASS:
                self._waypoint(gw)

    def _stamp(self) -> str:
        return to_rfc3339(self.cluster.clock.now())

    def _create(self, gr: Any, obj: o.Obj) -> None:
        o.create(self.cluster, gr, obj)

    def _status(self, gr: Any, obj: o.Obj, conds: list[o.Obj], **extra: Any) -> None:
        def edit(x: o.Obj) -> None:
            st = dict(x.get("status") or {}, **extra)
            st["conditions"] = o.merge_conditions((x.get("status") or {}).get("conditions"), conds)
            x["status"] = st
        self.cluster.store.mutate(gr, o.namespace(obj) or None, o.name(obj), edit)

    def _waypoint(self, gw: o.Obj) -> None:
        ns, name = o.namespace(gw), o.name(gw)
        sel = waypoint_labels(name)
        owner = [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "name": name,
                  "uid": o.meta(gw).get("uid", ""), "controller": True}]
        md = {"name": name, "namespace": ns, "labels": sel, "ownerReferences": owner}
        self._create(o.SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(md)})
        self._create(o.DEPLOYMENTS, _deployment(md, sel))
        self._create(o.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": dict(
            md, annotations={"networking.istio.io/traffic-distribution": "PreferClose"}),  # R5.7
            "spec": {"type": "ClusterIP", "selector": {"gateway.networking.k8s.io/gateway-name": name},
                     "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
                               {"name": "mesh", "port": 15008, "targetPort": 15008, "protocol": "TCP",
                                "appProtocol": "all"}]}})
        svc = self.cluster.store.get(o.SERVICES, ns, name)
        ip = ((svc or {}).get("spec") or {}).get("clusterIP", "")
        gen, stamp = o.meta(gw).get("generation", 1), self._stamp()
        conds = [o.now_condition("Accepted", True, "Accepted", "Resource accepted", gen, stamp),
                 o.now_condition("Programmed", bool(ip), "Programmed" if ip else "AddressNotAssigned",
                                 "Resource programmed, assigned to service(s) "
                                 f"{name}.{ns}.svc.cluster.local:15008" if ip else "Waiting for a service address",
                                 gen, stamp)]
        extra = {"addresses": [{"type": "IPAddress", "value": ip}]} if ip else {}
        self._status(o.GATEWAYS, gw, conds, **extra)


def _deployment(md: dict[str, Any], sel: dict[str, str]) -> o.Obj:
    container = {"name": "istio-proxy", "image": PROXY_IMAGE,
                 "args": ["proxy", "waypoint", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                 "ports": [{"name": "mesh", "containerPort": 15008, "protocol": "TCP"},
                           {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
                 "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}, "periodSeconds": 15}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(md),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name":
                                                                 md["name"]}},
                     "template": {"metadata": {"labels": dict(sel), "annotations": {
                         "istio.io/rev": "default", "sidecar.istio.io/inject": "false"}},
                                  "spec": {"serviceAccountName": md["name"], "terminationGracePeriodSeconds": 2,
                                           "containers": [container]}}}}
