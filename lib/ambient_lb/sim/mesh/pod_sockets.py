"""What listens in each pod and what ``kubectl exec`` can run there, kept in step with the pods.

Who calls it: ``DataPlane.start()`` calls ``track_pod_sockets``; it
re-syncs ``cluster.pod_ports`` and ``cluster.pod_exec`` on every istiod push. The API server's
``pods/proxy``, ``port-forward`` and ``exec`` (``sim/server``) read them.

| pod | port | socket |
| --- | --- | --- |
| waypoint (Gateway class ``istio-waypoint``) | 15000 | Envoy admin, 127.0.0.1 only (R13.1) |
| waypoint | 15021 | pilot-agent's status port, ``/healthz/ready`` (wildcard, R13.1) |
| kgateway proxy (class ``enterprise-kgateway``) | 19000 | Envoy admin, 127.0.0.1 only (R13.2) |
| kgateway proxy | 8082 | the readiness listener, ``/ready`` (wildcard, R13.2) |
| kgateway proxy | each listener port of its Gateway | the simulator's real listener (``listener.py``, R13.13) |
| any other pod | the ports its apps listen on | the app, faults applied (``app.pod_proxy_handler``) |

Programs (R13.8): the Envoy container of both proxies gets its image's programs (``images.py``).
Only what this module registered is ever replaced or removed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..cluster import Cluster, ExecHandler, PodPort
from . import objects as o
from .admin import EnvoyAdmin, matcher_for
from .app import listening_ports, pod_proxy_handler
from .images import exec_handler
from .istiod import MeshView
from .model.proxy_flavours import FLAVOURS, Flavour

TEXT = "text/plain; charset=utf-8"
#: Gateway class → the proxy flavour its pods run (R13.1, R13.2).
CLASS_FLAVOURS = {o.WAYPOINT_CLASS: FLAVOURS["istio"], o.KGATEWAY_CLASS: FLAVOURS["kgateway"]}
STATUS_PORTS = {"istio": (15021, "/healthz/ready"), "kgateway": (8082, "/ready")}

Key = tuple[str, str]
Wanted = dict[int, tuple[Any, Callable[[], PodPort]]]  # port -> (identity, how to build the socket)


class PodSockets:
    """The sockets of each meshed pod: app ports, the proxies' admin ports, and the programs exec can run."""

    def __init__(self, cluster: Cluster, dp: Any) -> None:
        self.cluster, self.dp = cluster, dp
        self._ports: dict[tuple[str, str, int], tuple[Any, PodPort]] = {}
        self._execs: dict[tuple[str, str, str], ExecHandler] = {}
        self._admins: dict[tuple[str, str, str], EnvoyAdmin] = {}  # (ns, pod, uid)

    def sync(self, view: MeshView) -> None:
        """Opens the sockets and exec handlers the pods of a pushed view need, and closes those of pods gone."""
        classes = {(o.namespace(g), o.name(g)): (g.get("spec") or {}).get("gatewayClassName")
                   for g in self.cluster.store.list(o.GATEWAYS)}
        wanted_ports: dict[tuple[str, str, int], tuple[Any, Callable[[], PodPort]]] = {}
        wanted_execs: dict[tuple[str, str, str], Callable[[], ExecHandler]] = {}
        for ns, name in view.pods:
            pod = self.cluster.store.get(o.PODS, ns, name)
            if pod is None:
                continue
            gw = o.labels(pod).get("gateway.networking.k8s.io/gateway-name")
            flavour = CLASS_FLAVOURS.get(classes.get((ns, gw or "")) or "")
            ports = self._proxy_ports(pod, flavour, gw or "") if flavour else self._app_ports(ns, name)
            wanted_ports.update({(ns, name, port): spec for port, spec in ports.items()})
            if flavour:
                wanted_execs.update(self._programs(pod, flavour))
        self._apply_ports(wanted_ports)
        self._apply_execs(wanted_execs)

    # ---- what each pod should have ------------------------------------------------------------------
    def _proxy_ports(self, pod: o.Obj, flavour: Flavour, gateway: str) -> Wanted:
        ns, name, uid = o.namespace(pod), o.name(pod), o.meta(pod).get("uid", "")
        admin = self._admin(ns, name, uid, flavour)
        status_port, status_path = STATUS_PORTS[flavour.name]
        out: Wanted = {flavour.admin_port: (("admin", uid), lambda: PodPort(handler=admin, loopback_only=True)),
                       status_port: (("status", uid), lambda: PodPort(handler=_status(admin, status_path)))}
        listeners = self.cluster.extensions.get("listeners")
        state = self.dp.kgw.gateways.get((ns, gateway)) if flavour.name == "kgateway" else None
        if state is not None and listeners is not None:
            for port, bound in state.ports.items():
                address = (listeners.address, bound)
                out[port] = (("listener", address), functools.partial(PodPort, address=address))
        return out

    def _app_ports(self, ns: str, name: str) -> Wanted:
        def app_port(p: int) -> PodPort:
            return PodPort(handler=pod_proxy_handler(self.cluster, ns, name, p))
        return {port: (("app",), functools.partial(app_port, port)) for port in listening_ports(self.cluster, ns, name)}

    def _programs(self, pod: o.Obj, flavour: Flavour) -> dict[tuple[str, str, str], Callable[[], ExecHandler]]:
        ns, name = o.namespace(pod), o.name(pod)
        out: dict[tuple[str, str, str], Callable[[], ExecHandler]] = {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("name") == flavour.container:
                out[(ns, name, c["name"])] = functools.partial(exec_handler, self.cluster, str(c.get("image", "")))
        return out

    def _admin(self, ns: str, name: str, uid: str, flavour: Flavour) -> EnvoyAdmin:
        key = (ns, name, uid)
        if key not in self._admins:
            self._admins[key] = EnvoyAdmin(self.cluster, self.dp, ns, name, flavour,
                                           matcher_for(self.cluster, flavour, ns, name))
        return self._admins[key]

    # ---- applying the difference --------------------------------------------------------------------
    def _apply_ports(self, wanted: dict[tuple[str, str, int], tuple[Any, Callable[[], PodPort]]]) -> None:
        for key in [k for k in self._ports if k not in wanted]:
            registered = self._ports.pop(key)[1]
            socks = self.cluster.pod_ports.get(key[:2], {})
            if socks.get(key[2]) is registered:
                del socks[key[2]]
        for key, (identity, build) in wanted.items():
            mine = self._ports.get(key)
            socks = self.cluster.pod_ports.setdefault(key[:2], {})
            if mine is not None and mine[0] == identity and socks.get(key[2]) is mine[1]:
                continue
            if mine is None and key[2] in socks:
                continue  # someone else's socket on that port: leave it
            sock = build()
            socks[key[2]] = sock
            self._ports[key] = (identity, sock)
        live = {(ns, pod) for ns, pod, _ in self._ports}
        self._admins = {k: v for k, v in self._admins.items() if k[:2] in live}

    def _apply_execs(self, wanted: dict[tuple[str, str, str], Callable[[], ExecHandler]]) -> None:
        for key in [k for k in self._execs if k not in wanted]:
            programs = self.cluster.pod_exec.get(key[:2], {})
            if programs.get(key[2]) is self._execs.pop(key):
                del programs[key[2]]
        for key, build in wanted.items():
            if key not in self._execs:
                self._execs[key] = self.cluster.pod_exec.setdefault(key[:2], {})[key[2]] = build()


def _status(admin: EnvoyAdmin, path: str) -> Callable[..., Any]:
    """The wildcard readiness socket: pilot-agent's ``/healthz/ready`` or kgateway's ``/ready``."""
    async def handler(method: str, req_path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        if "/" + req_path.lstrip("/") != path:
            return 404, TEXT, b"404 page not found\n"
        if admin.flavour.name == "kgateway":
            return await admin("GET", "/ready", {}, b"")
        return 200, TEXT, b""
    return handler


def track_pod_sockets(cluster: Cluster, dp: Any) -> PodSockets:
    """Makes the pods' sockets follow istiod's pushes, and publishes them as ``cluster.extensions["pod_sockets"]``."""
    sockets = PodSockets(cluster, dp)
    dp.istiod.subscribe(sockets.sync)
    sockets.sync(dp.istiod.view)
    cluster.extensions["pod_sockets"] = sockets
    return sockets
