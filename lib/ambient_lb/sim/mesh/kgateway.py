"""The ``enterprise-kgateway`` controller: Gateways get proxies, routes get status, the license is checked.

Who calls it: ``sim.mesh.all_controllers``. It watches the store and, on the next tick after any
relevant change, reconciles:

- the controller Deployment the chart stand-in (``charts.py``) installed: its license Secret
  (missing/empty → the controller pod stays not Ready and logs why; [model] the readiness is held
  false through the kubelet's ``fault.ambient-lb.dev/ready`` annotation on that pod) and
  ``KGW_ENABLE_ISTIO_INTEGRATION`` (→ ``self.integration``: mesh traffic captured by ztunnel, R1.4b);
- the GatewayClass: ``Accepted``;
- each Gateway of the class: ServiceAccount, Deployment and LoadBalancer Service named after it
  (Service ports = listener ports), a real listener (``listener.py``) whose loopback address goes
  into the Service's ``status.loadBalancer`` and the Gateway's ``status.addresses``; conditions
  ``Accepted``/``Programmed`` with ``observedGeneration``, and per-listener status;
- each HTTPRoute parent that is such a Gateway: ``Accepted`` (NotAllowedByListeners,
  NoMatchingListenerHostname) and ``ResolvedRefs`` (BackendNotFound, RefNotPermitted);
- the route table the data plane matches requests against (``routes``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from .. import selectors
from ..clock import to_rfc3339
from ..cluster import Cluster
from . import objects as o
from .charts import CONTROLLER_NAME, LICENSE_KEY_FIELD, LICENSE_SECRET
from .global_names import GLOBAL, SCOPE_LABEL, is_hostname_ref
from .routes import RouteEntry, entries, hosts_intersect, parent_refs

PROXY_IMAGE = "us-docker.pkg.dev/solo-public/enterprise-kgateway/envoy-wrapper:2.2.0-rc.2"
PROXY_CONTAINER = "kgateway-proxy"
CONTROLLER_DEPLOYMENT = "enterprise-kgateway"
READY_FAULT = "fault.ambient-lb.dev/ready"
_WATCHED = {o.GATEWAYS, o.HTTP_ROUTES, o.GATEWAY_CLASSES, o.SERVICES, o.NAMESPACES, o.PODS, o.SECRETS,
            o.DEPLOYMENTS}


@dataclass
class GatewayState:
    """A kgateway Gateway as the controller serves it: the host port bound for each listener port."""

    namespace: str
    name: str
    ports: dict[int, int] = field(default_factory=dict)  # listener port -> bound port


def license_problem(key: str) -> str | None:
    """Why a license key is unusable, or None. The simulator accepts any non-empty key without spaces."""
    if not key.strip():
        return ("no license key: set licensing.licenseKey (the guide passes --set-string "
                "licensing.licenseKey=${LICENSE_KEY}); the controller will not serve until it is set")
    if any(c.isspace() for c in key.strip()):
        return "the license key contains whitespace; copy the key exactly as issued"
    return None


class KgatewayController(o.Debounced):
    """The kgateway controller: its GatewayClass, the proxy of each Gateway, listeners and the route table."""

    watched = _WATCHED
    name = "kgateway"

    def __init__(self) -> None:
        self.integration = False
        self.licensed = False
        self.ready = False
        self.routes: dict[int, list[RouteEntry]] = {}
        self.gateways: dict[tuple[str, str], GatewayState] = {}
        self._pending = False
        self._logged: set[tuple[str, str]] = set()

    def start(self, cluster: Cluster) -> None:
        """Publishes the controller as ``cluster.extensions["kgateway"]``, listens to the store, and reconciles."""
        self.cluster = cluster
        cluster.extensions["kgateway"] = self
        cluster.store.subscribe(self._on_event)
        self.reconcile()

    @property
    def listeners(self) -> Any:
        """The data plane's listeners (None before the data plane starts)."""
        return self.cluster.extensions.get("listeners")

    def reconcile(self) -> None:
        """Brings the controller, its GatewayClass and every kgateway Gateway in line with the store."""
        self._controller()
        self._class()
        for gw in self.cluster.store.list(o.GATEWAYS):
            if (gw.get("spec") or {}).get("gatewayClassName") == o.KGATEWAY_CLASS:
                self._gateway(gw)
        self._forget_deleted_gateways()
        self._routes()

    # ---- the controller Deployment, its license and settings -----------------------------------
    def _controller(self) -> None:
        store = self.cluster.store
        dep = store.get(o.DEPLOYMENTS, o.KGATEWAY_NS, CONTROLLER_DEPLOYMENT)
        if dep is None:
            self.ready = self.licensed = False
            return
        env = {e.get("name"): e.get("value") for c in _containers(dep) for e in c.get("env") or []}
        self.integration = str(env.get("KGW_ENABLE_ISTIO_INTEGRATION", "false")).lower() == "true"
        problem = license_problem(self._license_key())
        self.licensed = problem is None
        pods = [p for p in store.list(o.PODS, o.KGATEWAY_NS) if o.owned_by_deployment(p, CONTROLLER_DEPLOYMENT)]
        for pod in pods:
            self._controller_pod(pod, problem)
        self.ready = self.licensed and any(o.pod_ready(p) for p in pods)

    def _license_key(self) -> str:
        sec = self.cluster.store.get(o.SECRETS, o.KGATEWAY_NS, LICENSE_SECRET)
        raw = ((sec or {}).get("data") or {}).get(LICENSE_KEY_FIELD, "")
        try:
            return base64.b64decode(raw).decode() if raw else ((sec or {}).get("stringData") or {}).get(
                LICENSE_KEY_FIELD, "")
        except (ValueError, UnicodeDecodeError):
            return ""

    def _controller_pod(self, pod: o.Obj, problem: str | None) -> None:
        key = (o.name(pod), problem or "")
        if key not in self._logged and o.pod_ip(pod):
            self._logged.add(key)
            text = (f'{{"level":"error","ts":"{to_rfc3339(self.cluster.clock.now())}","logger":"license",'
                    f'"msg":"license check failed: {problem}"}}' if problem else
                    f'{{"level":"info","ts":"{to_rfc3339(self.cluster.clock.now())}","logger":"license",'
                    '"msg":"license validated","product":"enterprise-kgateway"}')
            self.cluster.logs.write(o.KGATEWAY_NS, o.name(pod), "kgateway", text)
        want = "false" if problem else None
        if o.annotations_of(pod).get(READY_FAULT) != want and not o.pod_terminating(pod):
            self.cluster.store.mutate(o.PODS, o.KGATEWAY_NS, o.name(pod), lambda p: _set_ann(p, READY_FAULT, want))

    def _class(self) -> None:
        gwc = self.cluster.store.get(o.GATEWAY_CLASSES, None, o.KGATEWAY_CLASS)
        if gwc is None or not self.ready:
            return
        gen = o.meta(gwc).get("generation", 1)
        cond = [o.now_condition("Accepted", True, "Accepted", "GatewayClass accepted by enterprise-kgateway",
                                gen, self._stamp())]
        self._set_status(o.GATEWAY_CLASSES, gwc, {"conditions": cond})

    def _stamp(self) -> str:
        return to_rfc3339(self.cluster.clock.now())

    def _set_status(self, gr: Any, obj: o.Obj, status: dict[str, Any]) -> None:
        def edit(x: o.Obj) -> None:
            old = x.get("status") or {}
            new = dict(old, **status)
            if "conditions" in status:
                new["conditions"] = o.merge_conditions(old.get("conditions"), status["conditions"])
            x["status"] = new
        self.cluster.store.mutate(gr, o.namespace(obj) or None, o.name(obj), edit)

    # ---- Gateways ------------------------------------------------------------------------------
    def _gateway(self, gw: o.Obj) -> None:
        ns, name = o.namespace(gw), o.name(gw)
        st = self.gateways.setdefault((ns, name), GatewayState(ns, name))
        if not self.ready:
            return
        listeners = (gw.get("spec") or {}).get("listeners") or []
        self._ensure_proxy(gw, listeners)
        if self.listeners is not None:
            wanted = {int(lst["port"]) for lst in listeners}
            for port in set(st.ports) - wanted:  # a listener was removed from the Gateway
                del st.ports[port]
                self._release_if_unused(port)
            for port in sorted(wanted):
                st.ports[port] = self.listeners.ensure(port)
        self._gateway_status(gw, st, listeners)

    def _release_if_unused(self, port: int) -> None:
        if not any(port in g.ports for g in self.gateways.values()):
            self.listeners.release(port)

    def _ensure_proxy(self, gw: o.Obj, listeners: list[o.Obj]) -> None:
        ns, name = o.namespace(gw), o.name(gw)
        sel = proxy_labels(name)
        owner = [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "name": name,
                  "uid": o.meta(gw).get("uid", ""), "controller": True}]
        ports = [{"name": lst.get("name", f"listener-{lst['port']}"), "port": int(lst["port"]),
                  "targetPort": int(lst["port"]), "protocol": "TCP"} for lst in listeners]
        self._create(o.SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": name, "namespace": ns, "labels": sel, "ownerReferences": owner}})
        self._create(o.DEPLOYMENTS, _proxy_deployment(ns, name, sel, owner, ports))
        svc = self.cluster.store.get(o.SERVICES, ns, name)
        if svc is None:
            self._create(o.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {
                "name": name, "namespace": ns, "labels": sel, "ownerReferences": owner},
                "spec": {"type": "LoadBalancer", "selector": sel, "ports": ports}})
        elif _port_keys((svc.get("spec") or {}).get("ports")) != _port_keys(ports):
            self.cluster.store.mutate(o.SERVICES, ns, name, lambda s: s["spec"].__setitem__("ports", ports))

    def _create(self, gr: Any, obj: o.Obj) -> None:
        o.create(self.cluster, gr, obj)

    def _gateway_status(self, gw: o.Obj, st: GatewayState, listeners: list[o.Obj]) -> None:
        ns, name = st.namespace, st.name
        addr = self.listeners.address if self.listeners is not None else ""
        svc = self.cluster.store.get(o.SERVICES, ns, name)
        if svc is not None and addr:
            ingress = [{"ip": addr, "ipMode": "VIP",
                        "ports": [{"port": p, "protocol": "TCP"} for p in st.ports.values()]}]
            if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") != ingress:
                self._set_status(o.SERVICES, svc, {"loadBalancer": {"ingress": ingress}})
                self._log_address(ns, name, addr, st)
        gen = o.meta(gw).get("generation", 1)
        stamp = self._stamp()
        programmed = bool(addr)
        conds = [o.now_condition("Accepted", True, "Accepted", "", gen, stamp),
                 o.now_condition("Programmed", programmed, "Programmed" if programmed else "AddressNotAssigned",
                                 "" if programmed else "No addresses have been assigned to the Gateway", gen, stamp)]
        attached = self._attached_counts(gw)
        lst_status = [{"name": lst.get("name", ""), "attachedRoutes": attached.get(lst.get("name", ""), 0),
                       "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
                                          {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}],
                       "conditions": [o.now_condition(t, v, r, "", gen, stamp) for t, v, r in (
                           ("Accepted", True, "Accepted"), ("Conflicted", False, "NoConflicts"),
                           ("ResolvedRefs", True, "ResolvedRefs"), ("Programmed", programmed, "Programmed"))]}
                      for lst in listeners]
        status: dict[str, Any] = {"conditions": conds, "listeners": lst_status}
        if addr:
            status["addresses"] = [{"type": "IPAddress", "value": addr}]
        self._set_status(o.GATEWAYS, gw, status)

    def _log_address(self, ns: str, name: str, addr: str, st: GatewayState) -> None:
        moved = {lp: bp for lp, bp in st.ports.items() if lp != bp}
        for pod in self.cluster.store.list(o.PODS, ns):
            if o.owned_by_deployment(pod, name):
                for lp, bp in moved.items():
                    self.cluster.logs.write(ns, o.name(pod), PROXY_CONTAINER,
                                            f"[ambient-lb simulator] listener port {lp} is taken on {addr}; "
                                            f"serving it on {addr}:{bp} instead")

    def _forget_deleted_gateways(self) -> None:
        for key in list(self.gateways):
            gw = self.cluster.store.get(o.GATEWAYS, *key)
            if gw is None or (gw.get("spec") or {}).get("gatewayClassName") != o.KGATEWAY_CLASS:
                st = self.gateways.pop(key)
                delete = self.cluster.extensions.get("delete")  # the API's deletion (GC, grace), if served
                for gr in (o.SERVICES, o.DEPLOYMENTS, o.SERVICE_ACCOUNTS):
                    if self.cluster.store.get(gr, *key) is not None:
                        delete(self.cluster, gr, *key) if delete else self.cluster.store.remove(gr, *key)
                if self.listeners is not None:
                    for port in st.ports:
                        self._release_if_unused(port)

    # ---- HTTPRoutes ----------------------------------------------------------------------------
    def _attached_counts(self, gw: o.Obj) -> dict[str, int]:
        counts: dict[str, int] = {}
        for route in self.cluster.store.list(o.HTTP_ROUTES):
            for ref in parent_refs(route, gw):
                ok, _, lsts = self._accept(route, gw, ref)
                for lst in lsts if ok else []:
                    counts[lst.get("name", "")] = counts.get(lst.get("name", ""), 0) + 1
        return counts

    def _routes(self) -> None:
        table: dict[int, list[RouteEntry]] = {}
        for route in self.cluster.store.list(o.HTTP_ROUTES):
            parents = []
            for key in self.gateways:
                gw = self.cluster.store.get(o.GATEWAYS, *key)
                if not gw or not self.ready:
                    continue
                for ref in parent_refs(route, gw):
                    parents.append(self._parent_status(route, gw, ref, table))
            if parents:
                self._route_status(route, parents)
        self.routes = table

    def _parent_status(self, route: o.Obj, gw: o.Obj, ref: o.Obj, table: dict[int, list[RouteEntry]]) -> o.Obj:
        gen, stamp = o.meta(route).get("generation", 1), self._stamp()
        ok, reason, lsts = self._accept(route, gw, ref)
        refs_ok, refs_reason, refs_msg = self._resolve(route)
        if ok:
            for lst in lsts:
                table.setdefault(int(lst["port"]), []).extend(entries(route))
        accepted = o.now_condition("Accepted", ok, "Accepted" if ok else reason, _ACCEPT_MSG.get(reason, ""),
                                   gen, stamp)
        resolved = o.now_condition("ResolvedRefs", refs_ok, refs_reason, refs_msg, gen, stamp)
        pref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": o.name(gw),
                "namespace": o.namespace(gw)}
        if ref.get("sectionName"):
            pref["sectionName"] = ref["sectionName"]
        return {"parentRef": pref, "controllerName": CONTROLLER_NAME, "conditions": [accepted, resolved]}

    def _route_status(self, route: o.Obj, parents: list[o.Obj]) -> None:
        old = {(p["parentRef"]["namespace"], p["parentRef"]["name"]): p
               for p in (route.get("status") or {}).get("parents") or [] if "parentRef" in p}
        for p in parents:
            prev = old.pop((p["parentRef"]["namespace"], p["parentRef"]["name"]), None)
            p["conditions"] = o.merge_conditions((prev or {}).get("conditions"), p["conditions"])
        others = [p for p in old.values() if p.get("controllerName") != CONTROLLER_NAME]
        self._set_status(o.HTTP_ROUTES, route, {"parents": parents + others})

    def _accept(self, route: o.Obj, gw: o.Obj, ref: o.Obj) -> tuple[bool, str, list[o.Obj]]:
        listeners = [lst for lst in (gw.get("spec") or {}).get("listeners") or []
                     if not ref.get("sectionName") or lst.get("name") == ref.get("sectionName")]
        listeners = [lst for lst in listeners if not ref.get("port") or int(lst["port"]) == int(ref["port"])]
        allowed = [lst for lst in listeners if self._allows(lst, gw, route)]
        if not allowed:
            return False, "NotAllowedByListeners", []
        hosts = (route.get("spec") or {}).get("hostnames") or []
        matching = [lst for lst in allowed if hosts_intersect(lst.get("hostname"), hosts)]
        if not matching:
            return False, "NoMatchingListenerHostname", []
        return True, "Accepted", matching

    def _allows(self, lst: o.Obj, gw: o.Obj, route: o.Obj) -> bool:
        if lst.get("protocol", "HTTP") not in ("HTTP", "HTTPS"):
            return False
        ns_rule = ((lst.get("allowedRoutes") or {}).get("namespaces") or {})
        frm = ns_rule.get("from", "Same")
        if frm == "All":
            return True
        if frm == "Same":
            return o.namespace(route) == o.namespace(gw)
        ns = self.cluster.store.get(o.NAMESPACES, None, o.namespace(route))
        return bool(ns) and selectors.matches(ns_rule.get("selector"), o.labels(ns))  # R18.3

    def _resolve(self, route: o.Obj) -> tuple[bool, str, str]:
        for rule in (route.get("spec") or {}).get("rules") or []:
            for b in rule.get("backendRefs") or []:
                if is_hostname_ref(b):  # R9.1 [solo]: a global service's hostname (global_names.py)
                    peering = self.cluster.extensions.get("peering")
                    if peering is None or not peering.has_global(b["name"]):
                        return False, "BackendNotFound", (f'global service "{b["name"]}" not found: no cluster has '
                                                          f'a Service labelled {SCOPE_LABEL}={GLOBAL} for it')
                    continue
                if b.get("kind", "Service") != "Service" or b.get("group", "") not in ("", "core"):
                    return False, "InvalidKind", f"unsupported backend kind {b.get('kind')}"
                ns = b.get("namespace") or o.namespace(route)
                if ns != o.namespace(route) and not self._granted(route, ns, b["name"]):
                    return False, "RefNotPermitted", f"backendRef {ns}/{b['name']} not permitted by any ReferenceGrant"
                if self.cluster.store.get(o.SERVICES, ns, b["name"]) is None:
                    return False, "BackendNotFound", f'Service "{b["name"]}" not found'
        return True, "ResolvedRefs", ""

    def _granted(self, route: o.Obj, ns: str, name: str) -> bool:
        gr = next((t.gr for t in self.cluster.registry.all() if t.kind == "ReferenceGrant"), None)
        for g in self.cluster.store.list(gr, ns) if gr else []:
            spec = g.get("spec") or {}
            frm = any(f.get("kind") == "HTTPRoute" and f.get("namespace") == o.namespace(route)
                      for f in spec.get("from") or [])
            to = any(t.get("kind") == "Service" and t.get("name", name) == name for t in spec.get("to") or [])
            if frm and to:
                return True
        return False


_ACCEPT_MSG = {"NotAllowedByListeners": "No listeners allow this route's kind and namespace",
               "NoMatchingListenerHostname": "No listener hostname matches the route's hostnames"}


def proxy_labels(gateway: str) -> dict[str, str]:
    """The labels kgateway puts on a Gateway's proxy pods."""
    return {"app.kubernetes.io/name": gateway, "app.kubernetes.io/instance": gateway,
            "gateway.networking.k8s.io/gateway-name": gateway}


def _port_keys(ports: list[o.Obj] | None) -> list[tuple[Any, ...]]:
    return [(p.get("name"), p.get("port"), p.get("targetPort")) for p in ports or []]


def _set_ann(pod: o.Obj, key: str, value: str | None) -> None:
    ann = pod["metadata"].setdefault("annotations", {})
    if value is None:
        ann.pop(key, None)
    else:
        ann[key] = value


def _containers(dep: o.Obj) -> list[o.Obj]:
    return (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def _proxy_deployment(ns: str, name: str, sel: dict[str, str], owner: list[o.Obj],
                      ports: list[o.Obj]) -> o.Obj:
    container = {"name": PROXY_CONTAINER, "image": PROXY_IMAGE,
                 # R13.2: the admin (127.0.0.1:19000) is no container port; readiness is 0.0.0.0:8082
                 "ports": [{"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in ports],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8082}, "periodSeconds": 10}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": sel, "ownerReferences": owner},
            "spec": {"replicas": 1, "selector": {"matchLabels": sel},
                     "template": {"metadata": {"labels": dict(sel)},
                                  "spec": {"serviceAccountName": name, "containers": [container]}}}}
