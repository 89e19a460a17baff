"""istiod's view of the mesh: services, endpoints, waypoint bindings, DestinationRules, localities.

Who calls it: ``dataplane`` (every proxy reads the last *pushed* view), ``kgateway`` (is a Service
bound to a waypoint, R8.1e), ``admin`` (cluster names). The view is recomputed from the store and
published ``push_delay`` simulated seconds after the first change that follows a push (R6.4;
§11 default 0.3 s, configurable 0.1–10 s), so proxies act on state that is a little old, as real
ones do. That lag is what opens the deletion window of R6.7.

Rules implemented here:
- R8.2 binding: ``istio.io/use-waypoint`` on the Service, else on its Namespace (``none`` opts out;
  ``istio.io/use-waypoint-namespace`` names another namespace); the waypoint Gateway must exist.
- R8.1d/R8.4 ``istio.io/ingress-use-waypoint=true`` on the Service, else on the Namespace.
- R5.1 traffic-distribution precedence, resolved by ``model.locality.resolve_mode``.
- R6.3 endpoint health: ready → healthy; not ready → unhealthy; deletionTimestamp → terminating.
- R5.9 locality from the node's region/zone/subzone labels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import selectors
from ..clock import Timer
from ..cluster import Cluster
from ..store import Event
from . import objects as o
from .model.hosts import Locality
from .model.locality import Mode, ModeDecision, resolve_mode

DEFAULT_PUSH_DELAY = 0.3  # §11
_WATCHED = {o.PODS, o.SERVICES, o.NODES, o.NAMESPACES, o.GATEWAYS, o.DESTINATION_RULES}



@dataclass(frozen=True)
class Endpoint:
    """A pod as istiod pushes it: address, node and locality, service account, readiness."""

    namespace: str
    pod: str
    ip: str
    node: str
    locality: Locality  # of the pod's node (R5.9)
    sa: str
    ready: bool
    terminating: bool

    @property
    def identity(self) -> str:
        """The pod's SPIFFE identity."""
        return o.spiffe(self.namespace, self.sa)


@dataclass
class ServiceView:
    """A Service as istiod pushes it: its VIP, ports, labels, and the waypoint it uses (R8.2)."""

    namespace: str
    name: str
    cluster_ip: str
    ports: list[dict[str, Any]]
    labels: dict[str, str]
    waypoint: tuple[str, str] | None  # R8.2
    ingress_use_waypoint: bool  # R8.1d
    distribution: ModeDecision  # R5.1
    endpoints: list[Endpoint]
    dr: dict[str, Any] | None = None  # the DestinationRule spec
    dr_version: str = ""  # R2.12: a DR change rebuilds the clusters

    @property
    def forces_unhealthy(self) -> bool:
        """R5.3/R6.3: a traffic-distribution mode makes Istio send not-ready endpoints as UNHEALTHY."""
        return self.distribution.mode is not Mode.ANY

    @property
    def fqdn(self) -> str:
        """The Service's cluster-local DNS name."""
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    def target_port(self, port: int) -> int:
        """The pod port a Service port sends to (a named targetPort counts as the same port)."""
        for p in self.ports:
            if p.get("port") == port:
                tp = p.get("targetPort", port)
                return tp if isinstance(tp, int) else port
        return port


@dataclass
class MeshView:
    """What istiod last pushed: services, VIPs, pods, ztunnels, namespaces and node localities, with a version."""

    version: int = 0
    services: dict[tuple[str, str], ServiceView] = field(default_factory=dict)
    by_vip: dict[str, ServiceView] = field(default_factory=dict)
    pods: dict[tuple[str, str], Endpoint] = field(default_factory=dict)
    ztunnels: dict[str, str] = field(default_factory=dict)  # node -> ztunnel pod name
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> metadata
    node_locality: dict[str, Locality] = field(default_factory=dict)


class Istiod:
    """The mesh control plane's computed view, pushed with a delay (R6.4)."""

    name = "istiod"

    def __init__(self, push_delay: float = DEFAULT_PUSH_DELAY) -> None:
        if not 0.0 <= push_delay <= 10.0:
            raise ValueError(f"istiod push delay must be within 0–10 s, got {push_delay!r}; for example 0.3")
        self.push_delay = push_delay
        self.problem = ""  # why a mesh_options push_delay was not used, if it was not
        self.view = MeshView()
        self._pending: Timer | None = None
        self._seen = itertools.count()
        self._order: dict[str, int] = {}  # pod uid -> first-seen index (§11 EDS order)
        self._listeners: list[Callable[[MeshView], None]] = []
        self.pushed_rv = 0  # the store resourceVersion the current view was built from
        self._waiters: list[tuple[int, Callable[[], None]]] = []

    def start(self, cluster: Cluster) -> None:
        """Publishes istiod as ``cluster.extensions["istiod"]``, listens to the store, and pushes the first view."""
        self.cluster = cluster
        cluster.extensions["istiod"] = self
        cluster.store.subscribe(self._on_event)
        self.push_now()

    def subscribe(self, fn: Callable[[MeshView], None]) -> None:
        """Calls fn with every view istiod pushes."""
        self._listeners.append(fn)

    def delay(self) -> float:
        """The push delay: ``mesh_options["push_delay"]`` if set (changeable at run time), else the default."""
        value = self.cluster.extensions.get("mesh_options", {}).get("push_delay", self.push_delay)
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 10.0:
            # called from a store listener, which must not raise: keep the default and say why
            self.problem = (f"mesh_options push_delay must be a number of seconds within 0–10, got {value!r}; "
                            f"for example 0.3; using {self.push_delay}")
            return self.push_delay
        self.problem = ""
        return float(value)

    def _on_event(self, ev: Event) -> None:
        if ev.gr in _WATCHED and self._pending is None:
            self._pending = self.cluster.clock.call_later(self.delay(), self._push)

    def _push(self) -> None:
        self._pending = None
        self.push_now()

    def push_now(self) -> None:
        """Recompute the view from the store and hand it to every proxy."""
        self.pushed_rv = self.cluster.store.resource_version
        self.view = build_view(self.cluster, self.view.version + 1, self._order, self._seen)
        for fn in list(self._listeners):
            fn(self.view)
        due = [fn for rv, fn in self._waiters if rv <= self.pushed_rv]
        self._waiters = [(rv, fn) for rv, fn in self._waiters if rv > self.pushed_rv]
        for waiter in due:
            waiter()

    def when_pushed(self, rv: int, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the proxies have a view built from store resourceVersion ``rv`` or later.

        Lets a caller (a test, a runbook check) wait for propagation without guessing a delay."""
        if self.pushed_rv >= rv:
            fn()
        else:
            self._waiters.append((rv, fn))
            if self._pending is None:
                self._pending = self.cluster.clock.call_later(self.delay(), self._push)


def _locality(node: o.Obj) -> Locality:
    return Locality.from_node_labels(o.name(node), o.labels(node))


def _pods(cluster: Cluster, localities: dict[str, Locality], order: dict[str, int],
          seen: Any) -> list[tuple[o.Obj, Endpoint]]:
    out = []
    for pod in cluster.store.list(o.PODS):
        ip = o.pod_ip(pod)
        if not ip or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        uid = o.meta(pod).get("uid", o.name(pod))
        if uid not in order:
            order[uid] = next(seen)
        ep = Endpoint(o.namespace(pod), o.name(pod), ip, o.pod_node(pod),
                      localities.get(o.pod_node(pod)) or Locality(node=o.pod_node(pod)), o.pod_sa(pod),
                      o.pod_ready(pod) and not o.pod_terminating(pod), o.pod_terminating(pod))
        out.append((pod, ep))
    out.sort(key=lambda pe: order[o.meta(pe[0]).get("uid", o.name(pe[0]))])
    return out


def _label_or_ns(svc: o.Obj, ns: dict[str, Any], key: str) -> str:
    return o.labels(svc).get(key) or (ns.get("labels") or {}).get(key, "")


def waypoint_of(svc: o.Obj, ns: dict[str, Any], gateways: set[tuple[str, str]]) -> tuple[str, str] | None:
    """R8.2: the waypoint a Service is bound to, or None."""
    use = _label_or_ns(svc, ns, "istio.io/use-waypoint")
    if not use or use == "none":
        return None
    wns = _label_or_ns(svc, ns, "istio.io/use-waypoint-namespace") or o.namespace(svc)
    return (wns, use) if (wns, use) in gateways else None


def distribution_of(svc: o.Obj, ns: dict[str, Any]) -> ModeDecision:
    """R5.1: spec.trafficDistribution, then the Service annotation, then the Namespace's, else Any."""
    spec = svc.get("spec") or {}
    return resolve_mode(spec.get("trafficDistribution"), o.annotations_of(svc), ns.get("annotations") or {},
                        internal_traffic_policy=spec.get("internalTrafficPolicy"))


def _dr_for(cluster: Cluster, ns: str, name: str) -> o.Obj | None:
    hosts = {name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"}
    for dr in cluster.store.list(o.DESTINATION_RULES, ns):
        if (dr.get("spec") or {}).get("host") in hosts:
            return dr
    fqdn = f"{name}.{ns}.svc.cluster.local"
    for dr in cluster.store.list(o.DESTINATION_RULES):
        if (dr.get("spec") or {}).get("host") == fqdn:
            return dr
    return None


def build_view(cluster: Cluster, version: int, order: dict[str, int], seen: Any) -> MeshView:
    """The mesh as the store shows it now, as istiod would push it (version and EDS order given)."""
    store = cluster.store
    v = MeshView(version=version)
    v.node_locality = {o.name(n): _locality(n) for n in store.list(o.NODES)}
    v.namespaces = {o.name(n): o.meta(n) for n in store.list(o.NAMESPACES)}
    waypoints = {(o.namespace(g), o.name(g)) for g in store.list(o.GATEWAYS)
                 if (g.get("spec") or {}).get("gatewayClassName") == o.WAYPOINT_CLASS}
    pods = _pods(cluster, v.node_locality, order, seen)
    for pod, ep in pods:
        v.pods[(ep.namespace, ep.pod)] = ep
        if ep.namespace == "istio-system" and o.labels(pod).get("app") == "ztunnel" and not ep.terminating:
            v.ztunnels[ep.node] = ep.pod
    for svc in store.list(o.SERVICES):
        sv = _service_view(cluster, svc, v.namespaces.get(o.namespace(svc), {}), waypoints, pods)
        v.services[(sv.namespace, sv.name)] = sv
        if sv.cluster_ip:
            v.by_vip[sv.cluster_ip] = sv
    return v


def _service_view(cluster: Cluster, svc: o.Obj, ns: dict[str, Any], waypoints: set[tuple[str, str]],
                  pods: list[tuple[o.Obj, Endpoint]]) -> ServiceView:
    spec = svc.get("spec") or {}
    sel = spec.get("selector") or {}
    eps = [ep for pod, ep in pods
           if ep.namespace == o.namespace(svc) and selectors.service_selects(sel, o.labels(pod))]
    ip = spec.get("clusterIP") or ""
    sv = ServiceView(o.namespace(svc), o.name(svc), "" if ip == "None" else ip, list(spec.get("ports") or []),
                     o.labels(svc), waypoint_of(svc, ns, waypoints),
                     _label_or_ns(svc, ns, "istio.io/ingress-use-waypoint") == "true",
                     distribution_of(svc, ns), eps)
    dr = _dr_for(cluster, sv.namespace, sv.name)
    if dr is not None:
        sv.dr = dr.get("spec") or {}
        sv.dr_version = o.meta(dr).get("uid", "") + "/" + str(o.meta(dr).get("generation", 1))
    return sv
