"""Each hop's access-log lines, written with the model's writers into the right pod's container log.

Who calls it: ``dataplane`` once per hop of a request. Lines land where ``kubectl logs`` finds them:

| hop | pod | container | format |
| --- | --- | --- | --- |
| gateway Envoy | the Gateway's proxy pod (``http-…``) | ``kgateway-proxy`` | Istio ``EnvoyTextLogFormat`` |
| waypoint Envoy | the waypoint pod | ``istio-proxy`` | Istio ``EnvoyTextLogFormat``, cluster ``inbound-vip|…`` (R7.6) |
| ZT(GW), outbound | the ztunnel on the gateway pod's node | its first container | ``access connection complete`` |
| destination ztunnel, inbound | the ztunnel on the backend pod's node | its first container | Solo ``http access request complete`` + ``access connection complete`` |

[model] kgateway's proxies write no access log unless a listener policy turns it on; the simulator
always writes the gateway's lines (Istio's default format) so the runbook can show every hop.
Outlier EJECT/UNEJECT events (R2.11, JSON) go to the same container as the proxy's access log.

[model] ztunnel logs ``connection complete`` per *connection* (R7.6). The simulator treats every
request as carried by its own upstream connection, so each request yields one such line per
ztunnel it crosses; the Solo per-request line is written by the destination ztunnel. Retention
is bounded by ``cluster.logs`` (a rotated container log).
"""

from __future__ import annotations

import functools
from typing import Any

from ..cluster import Cluster
from . import objects as o
from .istiod import Endpoint, MeshView
from .model import accesslog as al

GATEWAY_CONTAINER = "kgateway-proxy"
WAYPOINT_CONTAINER = "istio-proxy"


def quote(text: str | None) -> str | None:
    """Pre-render a quoted ztunnel field: plain text is just wrapped in quotes (the model's Bare
    values are written as is); text that needs Rust Debug escaping is left to the model."""
    if text is None:
        return None
    if text.isprintable() and '"' not in text and "\\" not in text:
        return al.Bare(f'"{text}"')
    return text


#: ``quote`` for the values that repeat (pod names, namespaces, hosts, paths, user agents). A request
#: id is new on every request: cached, it only evicted those and held ~2 MiB of ids (found by the soak).
q = functools.lru_cache(maxsize=8192)(quote)


_PEERS: dict[tuple[Any, ...], tuple[Endpoint, al.Peer]] = {}  # id(endpoint), ... -> (endpoint, peer)
_MAX_PEERS = 4096


def peer(ep: Endpoint, addr: str, *, mtls: bool, service: str | None = None,
         hbone_addr: str | None = None) -> al.Peer:
    """A destination side (fixed address): the same Peer object while istiod's endpoint is the same."""
    key = (id(ep), addr, mtls, service, hbone_addr)
    hit = _PEERS.get(key)
    if hit is not None and hit[0] is ep:
        return hit[1]
    if len(_PEERS) >= _MAX_PEERS:
        _PEERS.clear()
    p = src_peer(ep, addr, mtls=mtls, service=service, hbone_addr=hbone_addr)
    _PEERS[key] = (ep, p)
    return p


def src_peer(ep: Endpoint, addr: str, *, mtls: bool, service: str | None = None,
             hbone_addr: str | None = None) -> al.Peer:
    """A source side, whose address carries a fresh ephemeral port each time (not cached)."""
    return al.Peer(addr=addr, workload=q(ep.pod), namespace=q(ep.namespace),
                   identity=q(ep.identity) if mtls else None, service=q(service), hbone_addr=hbone_addr)


class HopLogger:
    """Writes each hop's access-log lines into the log of the proxy or ztunnel that handled it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.logs = cluster.logs
        self._containers: dict[str, str] = {}

    def envoy(self, ep: Endpoint, container: str, record: al.EnvoyRecord) -> None:
        """Writes an Envoy access-log line into the proxy pod's container log."""
        self.logs.write(ep.namespace, ep.pod, container, al.envoy_line(record))

    def envoy_text(self, ep: Endpoint, container: str, line: str) -> None:
        """``envoy`` for a line already rendered with ``al.envoy_line_of`` (the per-request path: no record built)."""
        self.logs.write(ep.namespace, ep.pod, container, line)

    def _ztunnel(self, view: MeshView, node: str) -> tuple[str, str] | None:
        pod = view.ztunnels.get(node)
        if pod is None:
            return None
        c = self._containers.get(pod)
        if c is None:
            obj = self.cluster.store.get(o.PODS, "istio-system", pod) or {}
            cs = (obj.get("spec") or {}).get("containers") or [{"name": "istio-proxy"}]
            c = self._containers[pod] = cs[0].get("name", "istio-proxy")
        return pod, c

    def ztunnel(self, view: MeshView, node: str, *lines: str) -> None:
        """Writes lines into the log of the ztunnel on this node (nothing when the node has none)."""
        zt = self._ztunnel(view, node)
        if zt is not None:
            for line in lines:
                self.logs.write("istio-system", zt[0], zt[1], line)

    def outbound(self, view: MeshView, now: float, src: Endpoint, src_addr: str, dst: al.Peer, *, sent: int,
                 recv: int, ms: int, error: str | None = None) -> None:
        """ZT(src node): the source side of an HBONE connection (mTLS, so identities are known)."""
        line = al.connection_complete(now, src_peer(src, src_addr, mtls=True), dst, "outbound", sent, recv, ms,
                                      error)
        self.ztunnel(view, src.node, line)

    def inbound(self, view: MeshView, now: float, src: al.Peer, dst: Endpoint, dst_port: int, service: str | None,
                req: Any, *, status: int | None, sent: int, recv: int, ms: int, error: str | None = None) -> None:
        """The destination ztunnel: Solo's per-request line (when a response came) and connection complete."""
        d = peer(dst, f"{dst.ip}:15008" if src.identity else f"{dst.ip}:{dst_port}", mtls=bool(src.identity),
                 service=service, hbone_addr=f"{dst.ip}:{dst_port}" if src.identity else None)
        lines = []
        if status is not None:
            lines.append(al.http_request_complete(
                now, src, d, "inbound", method=req.method, path=q(req.path), protocol="HTTP1", response_code=status,
                host=q(req.host), user_agent=q(req.user_agent), request_id=quote(req.request_id), duration_ms=ms))
        lines.append(al.connection_complete(now, src, d, "inbound", sent, recv, ms, error))
        self.ztunnel(view, dst.node, *lines)
