"""The request path, hop by hop: listener → GW Envoy → ZT(GW) → [WP Envoy] → destination ztunnel → app.

Who calls it: ``listener`` hands every real HTTP request to ``DataPlane.handle``; benchmarks and
tests may call ``serve`` directly. Every decision uses the last view istiod *pushed* (R6.4) and
the model in ``model/``; everything is timed by ``cluster.clock``.

1. Route: the Gateway listening on the port, then the HTTPRoute rule by hostname and path
   (kgateway's route table). No match → ``404 NR route_not_found``, empty body.
2. GW Envoy picks from its cluster for the backend: the ready pod IPs by ROUND_ROBIN (R1.1, R1.2),
   or the Service VIP alone when kgateway collapses it (R8.1, R1.3). With Istio integration on, a
   DR's outlierDetection and localityLbSetting apply here (R1.4b), which on the VIP is useless (R8.3).
3. Collapsed: ZT(GW) picks a waypoint pod for the VIP at random among the best locality tier
   (R4.5, R5.2, R5.7), and the waypoint's ``inbound-vip`` cluster picks the pod with the DR's whole
   trafficPolicy (R1.4a, R3.1–R3.5, R5.3–R5.5), default LEAST_REQUEST (R3.4), retries per R7.2.
4. Destination ztunnel → app: the pod's app is the model of its image (``apps/``, R14: go-httpbin,
   nginx from its configuration); a pod whose app does not accept connections on the port (stopped
   after SIGTERM during the deletion window R6.7, nothing listening there, an nginx that failed to
   start, or the refuse-connections fault) fails with ``503 UC`` at the proxy that chose it (R7.1);
   an app 5xx is passed through (R7.4). Fault annotations apply on top of the app, except in strict
   mode.
Each proxy's cluster gets the attempt's outcome for outlier detection (R2.1–R2.3).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from ..cluster import Cluster
from . import objects as o
from .accesslogs import GATEWAY_CONTAINER, WAYPOINT_CONTAINER, HopLogger, peer, src_peer
from .app import AppRequest, PodFaults
from .apps.runtime import AppRuntime
from .istiod import Endpoint, Istiod, MeshView, ServiceView
from .kgateway import KgatewayController
from .listener import Listeners
from .model import accesslog as al
from .model.destinationrule import Leg, cluster_config
from .model.envoy_cluster import ClusterConfig, EnvoyCluster
from .model.errors import ModelError
from .model.hosts import Failure, Host, Outcome
from .model.responses import RESPONSES, Kind, retry_policy
from .model.ztunnel import choose_endpoint, no_healthy_upstream_error
from .pod_sockets import track_pod_sockets
from .proxies import Proxies, Proxy
from .routes import match_route

REFUSED = "io error: Connection refused (os error 111)"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
                        "trailer", "content-length"})
RESET = "io error: Connection reset by peer (os error 104)"

#: [model] switches, set in ``cluster.extensions["mesh_options"]`` (a dict) at any time.
MESH_OPTIONS: dict[str, Any] = {
    "kgateway_binding_check": True,  # R8.1e: newer kgateway collapses only Services bound to a waypoint
    "gateway_vip_ejection": False,  # R8.3 open question: may GW eject the VIP host itself?
}


@dataclass(kw_only=True)
class Downstream:
    """The client's request as the gateway listener received it."""

    method: str
    path: str
    host: str
    headers: dict[str, str]
    client: str  # ip:port
    listener: str  # address:port the client connected to
    request_id: str = ""
    body_len: int = 0

    @property
    def user_agent(self) -> str:
        """The request's User-Agent header, or ""."""
        return self.headers.get("user-agent", "")


@dataclass(kw_only=True)
class Reply:
    """What one hop got back: status, headers, body, the outcome for outlier detection, log fields."""

    status: int
    headers: dict[str, str]
    body: bytes
    outcome: Outcome
    flags: str = "-"
    details: str = "via_upstream"
    upstream_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def envoy_reply(kind: Kind, outcome: Outcome | None = None) -> Reply:
    """A reply Envoy itself generates (R7.1, R7.3, NR); ``outcome`` is what outlier detection counts."""
    row = RESPONSES[kind]
    status = row.status or 503
    body = row.body.encode()
    headers = {"content-type": "text/plain"} if body else {}
    return Reply(status=status, headers=headers, body=body, outcome=status if outcome is None else outcome,
                 flags=row.flags, details=row.details, extra={"transport_failure": row.transport_failure or None})


def reset_reply() -> Reply:
    """R7.1: the destination refused; the choosing proxy sees the upstream terminated: 503 UC."""
    return envoy_reply(Kind.UPSTREAM_RESET, Failure.CONNECTION_TERMINATION)


class DataPlane:
    """The request path, hop by hop, from the gateway's listener to the app, as of istiod's last push."""

    name = "dataplane"

    def __init__(self) -> None:
        self._rr = itertools.count()
        self._configs: dict[tuple[Any, ...], ClusterConfig] = {}
        self._hosts: dict[tuple[Any, ...], list[Host]] = {}
        self._by_ip: dict[str, Endpoint] = {}
        self._gw_pods: dict[tuple[str, str], list[Endpoint]] = {}
        self._version = -1
        # (proxy ns, proxy pod, cluster name) -> how to bring that built cluster up to a new push
        self._built: dict[tuple[str, str, str], Callable[[MeshView, Proxy], None]] = {}

    def start(self, cluster: Cluster) -> None:
        """Wires the data plane to istiod, kgateway and the apps, opens the listeners, and takes the current push."""
        self.cluster = cluster
        self.clock = cluster.clock
        self.rng = cluster.rng
        self.istiod: Istiod = cluster.extensions["istiod"]
        self.kgw: KgatewayController = cluster.extensions["kgateway"]
        self.apps: AppRuntime = cluster.extensions["apps"]
        self.log = HopLogger(cluster)
        self.proxies = Proxies(cluster.rng, self._outlier_event, cluster.clock)
        self.listeners = cluster.extensions["listeners"] = Listeners(cluster, self.handle)
        cluster.extensions["dataplane"] = self
        self.istiod.subscribe(self._on_push)
        self._on_push(self.istiod.view)
        self.kgw.reconcile()
        track_pod_sockets(cluster, self)

    # ---- istiod pushes -------------------------------------------------------------------------
    def _on_push(self, view: MeshView) -> None:
        self._configs.clear()
        self._hosts.clear()
        by_ip = {ep.ip: ep for ep in view.pods.values() if ep.terminating}
        by_ip.update({ep.ip: ep for ep in view.pods.values() if not ep.terminating})  # a reused IP: the live pod
        self._by_ip = by_ip
        self._gw_pods.clear()
        self.proxies.forget(set(view.pods))
        self._version = view.version
        self._apply_push(view)

    def _apply_push(self, view: MeshView) -> None:
        """Every cluster a proxy has built takes the push now, not at its next request: a DR change
        rebuilds it (R2.12, R13.10) and new endpoints replace its hosts (R6.4), so its admin
        (``config_dump``, ``/clusters``, the sweep phase) shows the pushed state with no traffic."""
        for (ns, pod, name), remake in list(self._built.items()):
            proxy = self.proxies.by_pod.get((ns, pod))
            if proxy is None or name not in proxy.clusters:
                del self._built[(ns, pod, name)]
                continue
            remake(view, proxy)

    def _outlier_event(self, proxy: Proxy, ev: Any) -> None:
        container = WAYPOINT_CONTAINER if proxy.namespace != o.KGATEWAY_NS else GATEWAY_CONTAINER
        self.cluster.logs.write(proxy.namespace, proxy.pod, container, ev.json_line())

    # ---- the HTTP entry point ------------------------------------------------------------------
    async def handle(self, port: int, request: web.BaseRequest) -> web.Response:
        """Serves one HTTP request received on a gateway port and answers as Envoy does (hop-by-hop headers removed)."""
        body = await request.read() if request.can_read_body else b""
        peername = request.transport.get_extra_info("peername") if request.transport else None
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        down = Downstream(method=request.method, path=request.path_qs, host=request.headers.get("Host", ""),
                          headers={k.lower(): v for k, v in request.headers.items()},
                          client=f"{peername[0]}:{peername[1]}" if peername else "127.0.0.1:0",
                          listener=f"{sock[0]}:{sock[1]}" if sock else f"{self.listeners.address}:{port}",
                          body_len=len(body))
        reply = await self.serve(port, down)
        # Envoy removes the upstream's hop-by-hop headers (an nginx "connection: keep-alive" must
        # not reach a client that asked to close) and frames the body itself (RFC 9110 §7.6.1)
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["server"] = "envoy"
        if reply.upstream_ms is not None:
            headers["x-envoy-upstream-service-time"] = str(reply.upstream_ms)
        return web.Response(status=reply.status, body=reply.body, headers=headers)

    async def serve(self, port: int, down: Downstream) -> Reply:
        """One request through the simulated mesh; returns what the client gets."""
        view = self.istiod.view
        down.request_id = down.headers.get("x-request-id") or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        client_ip = down.client.rsplit(":", 1)[0]
        down.headers.update({"x-forwarded-for": down.headers.get("x-forwarded-for") or client_ip,
                             "x-forwarded-proto": "http", "x-request-id": down.request_id,
                             "x-envoy-external-address": client_ip, "x-envoy-attempt-count": "1"})
        gw = self._gateway_pod(port, view)
        if gw is None:
            return envoy_reply(Kind.NO_HEALTHY_UPSTREAM)
        start = self.clock.now()
        entry = match_route(self.kgw.routes.get(port, []), down.host, down.path)
        if entry is None or not entry.backends:
            reply = envoy_reply(Kind.ROUTE_NOT_FOUND)
            self._gw_log(gw, down, reply, start, "-", upstream=None, cluster=None)
            return reply
        ns, svc, svc_port, _ = self._backend(entry.backends)
        peering = self.cluster.extensions.get("peering")
        if peering is not None and svc.endswith(".mesh.internal"):  # R9.1 [solo]: a global hostname backend
            return await peering.serve(self, gw, view, svc, svc_port, down, start, entry.name)
        sv = view.services.get((ns, svc))
        if sv is None:  # ResolvedRefs=False: kgateway answers 500 itself
            reply = Reply(status=500, headers={}, body=b"", outcome=500, flags="-", details="direct_response")
            self._gw_log(gw, down, reply, start, entry.name, upstream=None, cluster=None)
            return reply
        return await self._through_gateway(gw, view, sv, svc_port, down, start, entry.name)

    def _backend(self, backends: list[tuple[str, str, int, int]]) -> tuple[str, str, int, int]:
        if len(backends) == 1:
            return backends[0]
        total = sum(max(0, b[3]) for b in backends) or 1
        draw, acc = self.rng.uniform(0, total), 0.0
        for b in backends:
            acc += max(0, b[3])
            if draw < acc:
                return b
        return backends[-1]

    def _gateway_pod(self, port: int, view: MeshView) -> Endpoint | None:
        key = next((k for k, st in self.kgw.gateways.items() if port in st.ports), None)
        if key is None:
            return None
        pods = self._gw_pods.get(key)
        if pods is None:
            pods = self._gw_pods[key] = [ep for (ns, name), ep in view.pods.items()
                                         if ns == key[0] and ep.ready and o.owned_by_deployment({"metadata": {
                                             "name": name}}, key[1])]
        return pods[next(self._rr) % len(pods)] if pods else None

    # ---- GW Envoy ------------------------------------------------------------------------------
    def _captured(self, gw: Endpoint, view: MeshView) -> bool:
        """R8.1c: the gateway pod is in the ambient mesh (and kgateway's Istio integration is on)."""
        ns_labels = (view.namespaces.get(gw.namespace) or {}).get("labels") or {}
        return self.kgw.integration and ns_labels.get("istio.io/dataplane-mode") == "ambient"

    def option(self, name: str) -> Any:
        """A mesh modelling option from ``cluster.extensions["mesh_options"]`` (read per request)."""
        return self.cluster.extensions.get("mesh_options", {}).get(name, MESH_OPTIONS[name])

    def _collapsed(self, gw: Endpoint, sv: ServiceView, view: MeshView) -> bool:
        """R8.1 (a)–(e): kgateway sends to the VIP only if all hold. (e), the binding check, is what
        newer builds do; ``kgateway_binding_check: false`` models the older builds (R8.2)."""
        bound = sv.waypoint is not None or not self.option("kgateway_binding_check")
        return self._captured(gw, view) and sv.ingress_use_waypoint and bound and bool(sv.cluster_ip)

    async def _through_gateway(self, gw: Endpoint, view: MeshView, sv: ServiceView, svc_port: int,
                               down: Downstream, start: float, route: str) -> Reply:
        captured = self._captured(gw, view)
        collapsed = self._collapsed(gw, sv, view)
        proxy = self.proxies.proxy(gw.namespace, gw.pod, gw.locality, {})
        cluster = self._gw_cluster(proxy, sv, svc_port, collapsed, captured)
        host = cluster.pick(self.clock.now())
        if host is None:
            reply = envoy_reply(Kind.NO_HEALTHY_UPSTREAM)
            self._gw_log(gw, down, reply, start, route, upstream=None, cluster=cluster.config.name)
            return reply
        if collapsed and sv.waypoint is None:  # older kgateway, unbound Service: ztunnel balances the VIP
            reply = await self._via_ztunnel_vip(gw, view, sv, svc_port, down)
        elif collapsed:
            reply = await self._via_waypoint(gw, view, sv, svc_port, down)
        else:
            target = self._by_ip.get(host.address.rsplit(":", 1)[0])
            reply = await self._to_pod(view, gw, captured, target, int(host.address.rsplit(":", 1)[1]),
                                       sv, down, outbound_from=gw if captured else None)
        self.proxies.emit(proxy, cluster.report(host, reply.outcome, self.clock.now()), cluster)
        if reply.extra.get("upstream"):  # an answer from the waypoint or the app is passed through (R7.4)
            reply.flags, reply.details = "-", "via_upstream"
            reply.upstream_ms = max(0, int((self.clock.now() - start) * 1000))
        else:  # Envoy's own reply (UC, UH): no upstream service time
            reply.upstream_ms = None
        self._gw_log(gw, down, reply, start, route, upstream=host.address, cluster=cluster.config.name)
        return reply

    def _gw_cluster(self, proxy: Proxy, sv: ServiceView, port: int, collapsed: bool, captured: bool) -> EnvoyCluster:
        name = f"kube_{sv.namespace}_{sv.name}_{port}"

        def remake(view: MeshView, px: Proxy) -> None:
            gw, fresh = view.pods.get((px.namespace, px.pod)), view.services.get((sv.namespace, sv.name))
            if gw is not None and fresh is not None:
                self._gw_cluster(px, fresh, port, self._collapsed(gw, fresh, view), self._captured(gw, view))
        self._built.setdefault((proxy.namespace, proxy.pod, name), remake)
        ckey = ("gw", sv.namespace, sv.name, port, collapsed, captured, self.option("gateway_vip_ejection"))
        config = self._configs.get(ckey)
        if config is None:
            dr = sv.dr if captured else None  # R1.4b: the DR reaches GW only through the Istio integration
            mode = None if collapsed else sv.distribution  # R5.10 [solo][model]
            config = self._configs[ckey] = self._vip_guard(self._config(dr, Leg.GATEWAY, name, mode, False),
                                                           collapsed)

        def hosts() -> list[Host]:
            if collapsed:  # R1.3: a STATIC cluster of the VIP
                return [Host(f"{sv.cluster_ip}:{port}", sv.fqdn)]
            tp = sv.target_port(port)  # R1.1: kgateway skips ready=false endpoints
            return [Host(f"{ep.ip}:{tp}", ep.pod, ep.locality) for ep in sv.endpoints if ep.ready]
        return self.proxies.cluster(proxy, config, self._version, self.clock.now(), hosts)

    def _vip_guard(self, config: ClusterConfig, collapsed: bool) -> ClusterConfig:
        """R8.3 open question, not modelled by default: could GW eject the VIP itself when a DR sets
        maxEjectionPercent 100? [model] By default no: on the collapsed cluster the ejection always
        overflows (detected, counted in ``ejections_overflow``, never enforced). The mesh option
        ``gateway_vip_ejection: true`` lets it happen."""
        if not collapsed or config.outlier is None or self.option("gateway_vip_ejection"):
            return config
        return replace(config, outlier=config.outlier.with_(max_ejection_percent=min(
            config.outlier.max_ejection_percent, 99)))

    def _config(self, dr: dict[str, Any] | None, leg: Leg, name: str, mode: Any, unhealthy: bool) -> ClusterConfig:
        try:
            return cluster_config(dr, leg=leg, name=name, mode=mode, supports_unhealthy=unhealthy)
        except ModelError:  # Istio's webhook would have rejected this DR: treat it as absent
            return cluster_config(None, leg=leg, name=name, mode=mode, supports_unhealthy=unhealthy)

    def _gw_log(self, gw: Endpoint, down: Downstream, reply: Reply, start: float, route: str, *,
                upstream: str | None, cluster: str | None) -> None:
        now = self.clock.now()
        self.log.envoy_text(gw, GATEWAY_CONTAINER, al.envoy_line_of(
            start_time=start, method=down.method, path=down.path, protocol="HTTP/1.1", response_code=reply.status,
            response_flags=reply.flags, response_code_details=reply.details, connection_termination_details=None,
            upstream_transport_failure_reason=reply.extra.get("transport_failure"), bytes_received=down.body_len,
            bytes_sent=len(reply.body), duration=int((now - start) * 1000), upstream_service_time=reply.upstream_ms,
            x_forwarded_for=down.headers.get("x-forwarded-for"), user_agent=down.user_agent,
            request_id=down.request_id, authority=down.host, upstream_host=upstream, upstream_cluster=cluster,
            upstream_local_address=f"{gw.ip}:{self._port()}" if upstream else None,
            downstream_local_address=down.listener, downstream_remote_address=down.client,
            requested_server_name=None, route_name=route if route != "-" else None))

    def _port(self) -> int:
        return 32768 + self.rng.randrange(28000)

    # ---- ZT(GW) → waypoint → pod ---------------------------------------------------------------
    async def _via_waypoint(self, gw: Endpoint, view: MeshView, sv: ServiceView, svc_port: int,
                            down: Downstream) -> Reply:
        wsv = view.services.get(sv.waypoint) if sv.waypoint else None
        vip = f"{sv.cluster_ip}:{svc_port}"
        wp_hosts = [Host(ep.ip, ep.pod, ep.locality, healthy=ep.ready) for ep in (wsv.endpoints if wsv else [])]
        chosen = choose_endpoint(wp_hosts, gw.locality, wsv.distribution if wsv else None, self.rng)  # R4.5, R5.7
        now = self.clock.now()
        if chosen is None:  # R7.3: ztunnel closes the connection, GW logs 503 UC
            self.log.ztunnel(view, gw.node, al.connection_failed(now, src_addr=f"{gw.ip}:{self._port()}", dst_addr=vip,
                                                                 direction="outbound",
                                                                 error=no_healthy_upstream_error(vip)))
            return reset_reply()
        wp = self._by_ip[chosen.address]
        reply = await self._waypoint(wp, gw, view, sv, svc_port, down)
        dst = peer(wp, f"{wp.ip}:15008", mtls=True, service=sv.fqdn, hbone_addr=vip)
        self.log.outbound(view, self.clock.now(), gw, f"{gw.ip}:{self._port()}", dst, sent=down.body_len + 200,
                          recv=len(reply.body) + 150, ms=int((self.clock.now() - now) * 1000))
        reply.extra["upstream"] = True
        reply.outcome = reply.status
        return reply

    async def _via_ztunnel_vip(self, gw: Endpoint, view: MeshView, sv: ServiceView, svc_port: int,
                               down: Downstream) -> Reply:
        """R4.5, R5.2, R8.2: a VIP without a waypoint: ZT(GW) picks a healthy endpoint at random (in the
        best locality tier of the Service's mode) and tunnels to it; no DR applies (R1.4c)."""
        hosts = [Host(ep.ip, ep.pod, ep.locality, healthy=ep.ready) for ep in sv.endpoints if not ep.terminating]
        chosen = choose_endpoint(hosts, gw.locality, sv.distribution, self.rng)
        if chosen is None:  # R7.3
            vip = f"{sv.cluster_ip}:{svc_port}"
            self.log.ztunnel(view, gw.node, al.connection_failed(self.clock.now(), src_addr=f"{gw.ip}:{self._port()}",
                                                                 dst_addr=vip, direction="outbound",
                                                                 error=no_healthy_upstream_error(vip)))
            return reset_reply()
        return await self._to_pod(view, gw, True, self._by_ip.get(chosen.address), sv.target_port(svc_port), sv,
                                  down, outbound_from=gw)

    async def _waypoint(self, wp: Endpoint, gw: Endpoint, view: MeshView, sv: ServiceView, svc_port: int,
                        down: Downstream) -> Reply:
        start = self.clock.now()
        proxy = self.proxies.proxy(wp.namespace, wp.pod, wp.locality, {})
        cluster = self._wp_cluster(proxy, sv, svc_port)
        policy, reply, host = retry_policy("waypoint"), None, None
        tried: list[str] = []
        for attempt in range(policy.num_retries + 1):
            host = cluster.pick(self.clock.now(), exclude=tried if policy.previous_hosts else ())
            if host is None:
                reply = envoy_reply(Kind.NO_HEALTHY_UPSTREAM)
                break
            if attempt:
                cluster.note_retry()
            target = self._by_ip.get(host.address.rsplit(":", 1)[0])
            reply = await self._to_pod(view, wp, True, target, int(host.address.rsplit(":", 1)[1]), sv, down)
            self.proxies.emit(proxy, cluster.report(host, reply.outcome, self.clock.now()), cluster)  # R2.2
            tried.append(host.address)
            if not policy.retries(reply.outcome):  # R7.2: app 5xx and UC are not retried
                break
        assert reply is not None
        self._wp_log(wp, gw, sv, svc_port, down, reply, start, host=host, cluster=cluster.config.name)
        return reply

    def _wp_cluster(self, proxy: Proxy, sv: ServiceView, port: int) -> EnvoyCluster:
        name = al.inbound_vip_cluster(port, sv.fqdn)

        def remake(view: MeshView, px: Proxy) -> None:
            fresh = view.services.get((sv.namespace, sv.name))
            if fresh is not None:
                self._wp_cluster(px, fresh, port)
        self._built.setdefault((proxy.namespace, proxy.pod, name), remake)
        ckey = ("wp", sv.namespace, sv.name, port)
        config = self._configs.get(ckey)
        if config is None:
            config = self._configs[ckey] = self._config(sv.dr, Leg.WAYPOINT, name, sv.distribution,
                                                        sv.forces_unhealthy)

        def hosts() -> list[Host]:  # R6.3: terminating never; not-ready only if the mode forces it
            tp = sv.target_port(port)
            return [Host(f"{ep.ip}:{tp}", ep.pod, ep.locality, healthy=ep.ready) for ep in sv.endpoints
                    if not ep.terminating and (ep.ready or sv.forces_unhealthy)]
        return self.proxies.cluster(proxy, config, self._version, self.clock.now(), hosts)

    def _wp_log(self, wp: Endpoint, gw: Endpoint, sv: ServiceView, port: int, down: Downstream, reply: Reply,
                start: float, *, host: Host | None, cluster: str) -> None:
        now = self.clock.now()
        ip, _, tp = host.address.rpartition(":") if host else ("", "", "")
        self.log.envoy_text(wp, WAYPOINT_CONTAINER, al.envoy_line_of(
            start_time=start, method=down.method, path=down.path, protocol="HTTP/1.1", response_code=reply.status,
            response_flags=reply.flags, response_code_details=reply.details, connection_termination_details=None,
            upstream_transport_failure_reason=None, bytes_received=down.body_len, bytes_sent=len(reply.body),
            duration=int((now - start) * 1000), upstream_service_time=reply.upstream_ms,
            x_forwarded_for=down.headers.get("x-forwarded-for"), user_agent=down.user_agent,
            request_id=down.request_id, authority=down.host,
            upstream_host=al.connect_originate(ip, int(tp)) if host else None, upstream_cluster=cluster,
            upstream_local_address=al.INTERNAL_CLIENT_ADDRESS if host else None,
            downstream_local_address=f"{sv.cluster_ip}:{port}", downstream_remote_address=f"{gw.ip}:{self._port()}",
            requested_server_name=None, route_name="default"))

    # ---- destination ztunnel → app -------------------------------------------------------------
    def _accepting(self, ep: Endpoint, faults: PodFaults, port: int | None = None) -> bool:
        """Does the pod accept a connection on ``port`` (any app port if None)? Not when its app has
        stopped (kubelet R6.6/R6.7), nothing listens there (R14), or the refuse fault is set."""
        if faults.refuse or self.cluster.store.get(o.PODS, ep.namespace, ep.pod) is None:
            return False
        kubelet = self.cluster.extensions.get("kubelet")
        if not (kubelet.listening(ep.namespace, ep.pod) if kubelet is not None else not ep.terminating):
            return False
        return self.apps.app_on(ep.namespace, ep.pod, port) is not None

    def _pod_faults(self, ep: Endpoint) -> PodFaults:
        return self.apps.faults(ep.namespace, ep.pod)

    async def _to_pod(self, view: MeshView, src: Endpoint, mtls: bool, dst: Endpoint | None, port: int,
                      sv: ServiceView, down: Downstream, outbound_from: Endpoint | None = None) -> Reply:
        start = self.clock.now()
        origin = src_peer(src, f"{src.ip}:{self._port()}", mtls=mtls)
        if dst is None:  # the workload is gone: the destination refuses (R7.1)
            return reset_reply()
        faults = self._pod_faults(dst)
        if not self._accepting(dst, faults, port):  # R7.1: ECONNREFUSED at the destination ztunnel → 503 UC
            return self._refused(view, start, origin, dst, port, sv, down, outbound_from=outbound_from, error=REFUSED)
        if faults.latency > 0:
            await self._sleep(faults.latency)
        resp = self.apps.answer(dst.namespace, dst.pod, port, faults,
                                AppRequest(down.method, down.path, down.headers, src.ip, down.host))
        if resp is None or resp.reset:  # stopped while it waited, or the app closed the connection (444)
            return self._refused(view, start, origin, dst, port, sv, down, outbound_from=outbound_from,
                                 error=REFUSED if resp is None else RESET)
        ms = int((self.clock.now() - start) * 1000)
        self.log.inbound(view, self.clock.now(), origin, dst, port, sv.fqdn, down, status=resp.status,
                         sent=len(resp.body) + 120, recv=down.body_len + 200, ms=ms)
        if outbound_from is not None:
            self._outbound_pod(view, outbound_from, dst, port, sv, sent=down.body_len + 200, recv=len(resp.body) + 120,
                               ms=ms)
        return Reply(status=resp.status, headers={k.lower(): v for k, v in resp.headers.items()}, body=resp.body,
                     outcome=resp.status, upstream_ms=ms, extra={"upstream": True})

    def _refused(self, view: MeshView, start: float, origin: Any, dst: Endpoint, port: int, sv: ServiceView,
                 down: Downstream, *, outbound_from: Endpoint | None, error: str) -> Reply:
        self.log.inbound(view, start, origin, dst, port, sv.fqdn, down, status=None, sent=0, recv=0, ms=0, error=error)
        if outbound_from is not None:
            self._outbound_pod(view, outbound_from, dst, port, sv, sent=0, recv=0, ms=0,
                               error="http status: 503 Service Unavailable")
        return reset_reply()

    def _outbound_pod(self, view: MeshView, src: Endpoint, dst: Endpoint, port: int, sv: ServiceView, *, sent: int,
                      recv: int, ms: int, error: str | None = None) -> None:
        """R1.1: ZT(GW) forwards a pod-IP destination as is, over HBONE to that pod."""
        d = peer(dst, f"{dst.ip}:15008", mtls=True, service=sv.fqdn, hbone_addr=f"{dst.ip}:{port}")
        self.log.outbound(view, self.clock.now(), src, f"{src.ip}:{self._port()}", d, sent=sent, recv=recv, ms=ms,
                          error=error)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (a model delay, e.g. the latency fault)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)
        self.clock.call_later(seconds, wake)
        await fut
