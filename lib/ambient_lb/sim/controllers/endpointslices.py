"""EndpointSlices and legacy Endpoints for every Service with a selector.

Who calls it: started by ``all_controllers``; re-runs a Service when it changes, when a pod it
selects (before or after the change) changes, and when a node changes (its zone label is the
endpoints' zone). The data plane (``sim/mesh``) reads the slices as istiod and kgateway do.

Each endpoint is a pod with an IP that is not in a terminal phase, in pod creation order (§11), with
``nodeName``, ``zone`` (the node's ``topology.kubernetes.io/zone`` label, read now), ``targetRef``
and conditions per R6.2:

    ready       = publishNotReadyAddresses or (pod Ready and not terminating)
    serving     = pod Ready
    terminating = pod has a deletionTimestamp

A terminating endpoint stays until the Pod object is removed (or its containers exit). Ports are
the Service's ``targetPort``s, named ports resolved against the pods' container ports. The legacy
Endpoints object lists ready pods as ``addresses``, not-ready ones as ``notReadyAddresses``, and
leaves terminating pods out (unless ``publishNotReadyAddresses``).
"""

from __future__ import annotations

from typing import Any

from .. import selectors
from ..clock import parse_rfc3339, to_rfc3339
from .keys import ENDPOINT_SLICES, ENDPOINTS, NODES, PODS, SERVICES
from .names import random_suffix
from .objects import Obj, deleting, is_true, labels, meta, namespace_open
from .owners import owner_ref
from .queue import QueuedController

MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
ZONE = "topology.kubernetes.io/zone"


def endpoint_conditions(pod: Obj, publish_not_ready: bool) -> Obj:
    """R6.2: the ready/serving/terminating conditions of a pod's endpoint."""
    serving, terminating = is_true(pod, "Ready"), deleting(pod)
    return {"ready": publish_not_ready or (serving and not terminating), "serving": serving,
            "terminating": terminating}


def resolve_port(target: Any, pods: list[Obj]) -> int | None:
    """A Service ``targetPort`` as a number: itself, or the named container port of the pods."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for pod in pods:
        for c in pod["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
    return None


def _pod_key(pod: Obj) -> tuple[float, str]:
    return parse_rfc3339(meta(pod).get("creationTimestamp", "1970-01-01T00:00:00Z")), meta(pod)["name"]


class EndpointSliceController(QueuedController):
    """The EndpointSlice controller: the slices (and legacy Endpoints) of every Service with a selector."""

    name = "endpointslice-controller"

    def _on_event(self, ev: Any) -> None:
        if ev.gr == SERVICES:
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == PODS:
            ns = meta(ev.obj)["namespace"]
            for svc in self.cluster.store.list(SERVICES, ns):
                sel = svc["spec"].get("selector")
                if selectors.service_selects(sel, labels(ev.obj)) or selectors.service_selects(sel, labels(ev.old)):
                    self.queue.add((ns, meta(svc)["name"]))
        elif ev.gr == NODES and ev.type == "MODIFIED" and labels(ev.obj) != labels(ev.old):
            for svc in self.cluster.store.list(SERVICES):
                self.queue.add((meta(svc)["namespace"], meta(svc)["name"]))
        elif ev.gr in (ENDPOINT_SLICES, ENDPOINTS) and ev.type == "DELETED":
            name = labels(ev.obj).get(SERVICE_NAME) if ev.gr == ENDPOINT_SLICES else meta(ev.obj)["name"]
            if name:
                self.queue.add((meta(ev.obj)["namespace"], name))

    def _reconcile(self, key: tuple[str, str]) -> None:
        svc = self.cluster.store.get(SERVICES, *key)
        if svc is None or deleting(svc) or not svc["spec"].get("selector"):
            if svc is None and self.cluster.store.get(ENDPOINTS, *key) is not None:
                self.cluster.store.remove(ENDPOINTS, *key)
            return
        pods = sorted((p for p in self.cluster.store.list(PODS, key[0])
                       if selectors.service_selects(svc["spec"]["selector"], labels(p))
                       and (p.get("status") or {}).get("podIP")
                       and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")), key=_pod_key)
        ports = self._ports(svc, pods)
        self._write_slice(svc, self._endpoints(svc, pods), ports)
        self._write_endpoints(svc, pods, ports)

    def _ports(self, svc: Obj, pods: list[Obj]) -> list[Obj]:
        out = []
        for sp in svc["spec"].get("ports") or []:
            port = resolve_port(sp.get("targetPort", sp.get("port")), pods)
            if port is None:
                continue
            p = {"name": sp.get("name", ""), "port": port, "protocol": sp.get("protocol", "TCP")}
            if sp.get("appProtocol"):
                p["appProtocol"] = sp["appProtocol"]
            out.append(p)
        return out

    def _endpoints(self, svc: Obj, pods: list[Obj]) -> list[Obj]:
        pnr = bool(svc["spec"].get("publishNotReadyAddresses"))
        hints = svc["spec"].get("trafficDistribution") in ("PreferClose", "PreferSameZone")
        out = []
        for pod in pods:
            node = self.cluster.store.get(NODES, None, pod["spec"].get("nodeName", ""))
            ep: Obj = {"addresses": [pod["status"]["podIP"]], "conditions": endpoint_conditions(pod, pnr),
                       "nodeName": pod["spec"].get("nodeName", ""),
                       "targetRef": {"kind": "Pod", "name": meta(pod)["name"], "namespace": meta(pod)["namespace"],
                                     "uid": meta(pod)["uid"]}}
            zone = labels(node).get(ZONE)
            if zone:
                ep["zone"] = zone
                if hints:
                    ep["hints"] = {"forZones": [{"name": zone}]}
            out.append(ep)
        return out

    def _write_slice(self, svc: Obj, endpoints: list[Obj], ports: list[Obj]) -> None:
        ns, name = meta(svc)["namespace"], meta(svc)["name"]
        mine = [s for s in self.cluster.store.list(ENDPOINT_SLICES, ns)
                if labels(s).get(SERVICE_NAME) == name and labels(s).get(MANAGED_BY) == CONTROLLER]
        for extra in mine[1:]:
            self.cluster.store.remove(ENDPOINT_SLICES, ns, meta(extra)["name"])
        lbls = {k: v for k, v in labels(svc).items() if k != "service.kubernetes.io/headless"}
        lbls.update({MANAGED_BY: CONTROLLER, SERVICE_NAME: name})
        want = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        now = to_rfc3339(self.cluster.clock.now())
        if not mine:
            if not namespace_open(self.cluster, ns):
                return
            self.cluster.store.create(ENDPOINT_SLICES, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-{random_suffix(self.rng)}", "generateName": f"{name}-",
                             "namespace": ns, "labels": lbls, "annotations": {TRIGGER: now},
                             "ownerReferences": [owner_ref(svc, "v1", "Service")]}, **want})
            return
        cur = mine[0]
        if {k: cur.get(k) for k in want} == want and labels(cur) == lbls:
            return

        def edit(s: Obj) -> None:
            s.update(want)
            s["metadata"]["labels"] = lbls
            s["metadata"].setdefault("annotations", {})[TRIGGER] = now
        self.cluster.store.mutate(ENDPOINT_SLICES, ns, meta(cur)["name"], edit)

    def _write_endpoints(self, svc: Obj, pods: list[Obj], ports: list[Obj]) -> None:
        ns, name = meta(svc)["namespace"], meta(svc)["name"]
        pnr = bool(svc["spec"].get("publishNotReadyAddresses"))
        ready: list[Obj] = []
        not_ready: list[Obj] = []
        for pod in pods:
            if deleting(pod) and not pnr:
                continue
            addr = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
                    "targetRef": {"kind": "Pod", "name": meta(pod)["name"], "namespace": ns, "uid": meta(pod)["uid"]}}
            (ready if pnr or is_true(pod, "Ready") else not_ready).append(addr)
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if subset:
            subset["ports"] = [{k: v for k, v in p.items() if v != ""} for p in ports]
        body = {"subsets": [subset]} if subset else {}
        lbls = {k: v for k, v in labels(svc).items() if k != "service.kubernetes.io/headless"}
        cur = self.cluster.store.get(ENDPOINTS, ns, name)
        now = to_rfc3339(self.cluster.clock.now())
        if cur is None:
            if namespace_open(self.cluster, ns):
                self.cluster.store.create(ENDPOINTS, {
                    "apiVersion": "v1", "kind": "Endpoints", **body,
                    "metadata": {"name": name, "namespace": ns, "labels": lbls, "annotations": {TRIGGER: now}}})
            return
        if cur.get("subsets") == body.get("subsets") and labels(cur) == lbls:
            return

        def edit(e: Obj) -> None:
            e.pop("subsets", None)
            e.update(body)
            e["metadata"]["labels"] = lbls
            e["metadata"].setdefault("annotations", {})[TRIGGER] = now
        self.cluster.store.mutate(ENDPOINTS, ns, name, edit)
