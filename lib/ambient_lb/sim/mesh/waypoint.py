"""Istio's waypoint deployment controller for GatewayClass ``istio-waypoint``.

Who calls it: ``sim.mesh.all_controllers``. Like istiod's gateway deployment controller it:
- (the GatewayClasses themselves are istiod's, ``sim/controllers/gatewayclasses.py``);
- for each Gateway of class ``istio-waypoint``: a ServiceAccount, a Deployment (container
  ``istio-proxy``) and a ClusterIP Service with ports 15021 and 15008 annotated
  ``networking.istio.io/traffic-distribution: PreferClose`` (R5.7, Istio's waypoint template);
- sets the Gateway's ``Accepted`` and ``Programmed`` conditions and its address (the Service VIP);
- copies the Gateway's infrastructure annotations and labels (``spec.infrastructure.*`` if set, else
  ``metadata.*``, R13.6) onto the pod template, the Deployment, the ServiceAccount and the Service,
  and keeps the Deployment's pod template in step when they change (a rollout follows). That is how
  ``proxy.istio.io/config`` on a Gateway reaches the waypoint's pilot-agent (R13.5).

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
#: R13.6: what the waypoint template leaves out of the infrastructure annotations, and adds to the pod's.
OMITTED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "gateway.istio.io/name-override",
                       "gateway.istio.io/service-account", "gateway.istio.io/controller-version")
POD_ANNOTATIONS = {"istio.io/rev": "default", "prometheus.io/path": "/stats/prometheus",
                   "prometheus.io/port": "15020", "prometheus.io/scrape": "true"}
POD_LABELS = {"sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none",
              "service.istio.io/canonical-revision": "latest"}


def infrastructure(gw: o.Obj, kind: str) -> dict[str, str]:
    """R13.6 ``extractInfrastructureMetadata``: ``spec.infrastructure.<kind>`` if set (keys under
    ``gateway.networking.k8s.io/`` dropped), else a copy of the Gateway's ``metadata.<kind>``."""
    infra = ((gw.get("spec") or {}).get("infrastructure") or {}).get(kind)
    if infra is not None:
        return {k: str(v) for k, v in infra.items() if not k.startswith("gateway.networking.k8s.io/")}
    return dict(o.meta(gw).get(kind) or {})


def infra_annotations(gw: o.Obj) -> dict[str, str]:
    """The Gateway's infrastructure annotations, less those Istio does not copy to the waypoint's pods."""
    return {k: v for k, v in infrastructure(gw, "annotations").items() if k not in OMITTED_ANNOTATIONS}


def waypoint_labels(gateway: str) -> dict[str, str]:
    """The labels Istio puts on a waypoint's Deployment and pods."""
    return {"gateway.networking.k8s.io/gateway-name": gateway, "gateway.istio.io/managed": "istio.io-mesh-controller",
            "istio.io/dataplane-mode": "none"}


class WaypointController(o.Debounced):
    """Istio's waypoint controller: a Deployment and a Service for each waypoint Gateway."""

    watched = _WATCHED
    name = "waypoint"

    def __init__(self) -> None:
        self._pending = False

    def start(self, cluster: Cluster) -> None:
        """Listens to the store and reconciles."""
        self.cluster = cluster
        cluster.store.subscribe(self._on_event)
        self.reconcile()

    def reconcile(self) -> None:
        """Brings the Deployment and Service of every waypoint Gateway in line with the store."""
        for gw in self.cluster.store.list(o.GATEWAYS):
            if (gw.get("spec") or {}).get("gatewayClassName") == o.WAYPOINT_CLASS:
                self._waypoint(gw)

    def _stamp(self) -> str:
        return to_rfc3339(self.cluster.clock.now())

    def _create(self, gr: Any, obj: o.Obj) -> o.Obj | None:
        return o.create(self.cluster, gr, obj)

    def _sync_template(self, ns: str, name: str, annotations: dict[str, str], template: o.Obj) -> None:
        """R13.6: istiod re-applies the rendered Deployment; a changed pod template rolls new pods."""
        def edit(dep: o.Obj) -> None:
            if annotations:  # other writers' annotations (deployment.kubernetes.io/revision) stay
                dep["metadata"]["annotations"] = {**(dep["metadata"].get("annotations") or {}), **annotations}
            current = dep["spec"]["template"].setdefault("metadata", {})
            current.update(template)
        self.cluster.store.mutate(o.DEPLOYMENTS, ns, name, edit)

    def _sync_service(self, ns: str, name: str, annotations: dict[str, str]) -> None:
        """R5.7, R13.6: istiod re-applies the rendered Service on every reconcile, so the template's
        PreferClose, overridden by the Gateway's infrastructure annotations, is what the Service carries
        (a ``networking.istio.io/traffic-distribution`` set there changes the waypoint's mode; removed,
        PreferClose comes back). Other writers' annotations stay."""
        svc = self.cluster.store.get(o.SERVICES, ns, name)
        have = o.meta(svc).get("annotations") or {} if svc is not None else {}
        if svc is None or all(have.get(k) == v for k, v in annotations.items()):
            return

        def edit(obj: o.Obj) -> None:
            obj["metadata"]["annotations"] = {**(obj["metadata"].get("annotations") or {}), **annotations}
        self.cluster.store.mutate(o.SERVICES, ns, name, edit)

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
        ann, infra_labels = infra_annotations(gw), infrastructure(gw, "labels")
        md: o.Obj = {"name": name, "namespace": ns, "labels": {**infra_labels, **sel}, "ownerReferences": owner}
        if ann:
            md["annotations"] = ann
        self._create(o.SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(md)})
        template = _template_metadata(name, sel, ann, infra_labels)
        if self._create(o.DEPLOYMENTS, _deployment(md, sel, template)) is None:
            self._sync_template(ns, name, md.get("annotations") or {}, template)
        service_ann = {"networking.istio.io/traffic-distribution": "PreferClose", **ann}  # R5.7, R13.6
        if self._create(o.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": dict(
            md, annotations=service_ann),
            "spec": {"type": "ClusterIP", "selector": {"gateway.networking.k8s.io/gateway-name": name},
                     "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
                               {"name": "mesh", "port": 15008, "targetPort": 15008, "protocol": "TCP",
                                "appProtocol": "all"}]}}) is None:
            self._sync_service(ns, name, service_ann)
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


def _template_metadata(name: str, sel: dict[str, str], ann: dict[str, str], labels: dict[str, str]) -> o.Obj:
    """The pod template's metadata as the waypoint template renders it (R13.6)."""
    return {"labels": {**POD_LABELS, "service.istio.io/canonical-name": name, **labels, **sel},
            "annotations": {**ann, **POD_ANNOTATIONS}}


def _deployment(md: dict[str, Any], sel: dict[str, str], template: o.Obj) -> o.Obj:
    container = {"name": "istio-proxy", "image": PROXY_IMAGE,
                 "args": ["proxy", "waypoint", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                 "ports": [{"name": "metrics", "containerPort": 15020, "protocol": "TCP"},
                           {"name": "status-port", "containerPort": 15021, "protocol": "TCP"},
                           {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
                 "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}, "periodSeconds": 15}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(md),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name":
                                                                 md["name"]}},
                     "template": {"metadata": template,
                                  "spec": {"serviceAccountName": md["name"], "terminationGracePeriodSeconds": 2,
                                           "containers": [container]}}}}
