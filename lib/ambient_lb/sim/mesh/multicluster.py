"""Peered clusters: Solo's global services (R9.1) and their PreferNetwork failover (R9.2). `[solo]` `[model]`

Who calls it: ``sim.in_process.start_servers`` builds one ``Peering`` over every cluster of a
multi-cluster topology (one API server each, one event loop) and hangs it on each cluster's
``extensions["peering"]``. ``kgateway`` asks ``has_global`` to resolve an HTTPRoute backendRef
``{group: networking.istio.io, kind: Hostname, name: <name>.<ns>.mesh.internal}``; ``dataplane``
hands a request whose backend is such a hostname to ``Peering.serve``.

What is modelled:

| rule | behaviour |
| --- | --- |
| R9.1 | A Service labelled ``solo.io/service-scope=global`` (else its Namespace so labelled) joins the global service ``<name>.<ns>.mesh.internal``; the endpoints are those of same-named Services in same-named namespaces of every cluster that exports it (namespace sameness). Other scopes are not modelled. |
| R9.2 | ZT(GW) balances the global VIP with the Service's mode resolved by the Solo distribution (R5.8): default PreferNetwork, a strict tier (R5.2): every connection goes to a healthy endpoint on the gateway's network while one exists, else whole to the other networks. |
| R9.1 | A remote endpoint on another network is reached through its cluster's east-west gateway: ZT(GW) logs an outbound HBONE connection to the E/W gateway address (`[model]`: the remote cluster's first node IP, port 15008), and the remote destination ztunnel logs the inbound lines in the remote cluster. |
| R6.4 | Each cluster's endpoints are those of its own istiod's last push. |

The backendRef kind: Istio's Gateway API accepts ``kind: Hostname`` in group ``networking.istio.io``
(istio/istio#35672), and Solo's "ingress to multicluster ambient" guide routes the ingress gateway to
``productpage.bookinfo.mesh.internal``; the simulator's kgateway accepts that form (`[solo]`). GW Envoy
sends it to the global VIP (one host, like the collapsed VIP of R1.3, so no DR applies on this leg);
the VIP is `[model]` an address in 240.240.0.0/16 derived from the hostname. A waypoint on the global
service is not modelled: ZT(GW) balances it directly ("if no waypoint, load balance to global service").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ..cluster import Cluster
from ..store import Event
from ..topology import cluster_topology
from . import objects as o
from .accesslogs import peer
from .dataplane import DataPlane, Downstream, Reply, reset_reply
from .global_names import GLOBAL, SCOPE_LABEL, global_vip, split_host
from .istiod import Endpoint, MeshView, ServiceView
from .model import accesslog as al
from .model.hosts import Host
from .model.locality import ModeDecision, resolve_mode
from .model.ztunnel import choose_endpoint, no_healthy_upstream_error

EAST_WEST_PORT = 15008


def _scoped(labels: dict[str, str], ns_labels: dict[str, str]) -> bool:
    """R9.1: the Service's scope label, else its Namespace's, says ``global``."""
    return (labels.get(SCOPE_LABEL) or ns_labels.get(SCOPE_LABEL, "")) == GLOBAL


@dataclass(frozen=True)
class GlobalName:
    """What the hop loggers need of a service: the name ztunnel logs (the global hostname)."""

    fqdn: str


@dataclass
class Member:
    """One cluster's share of a global service, from that cluster's last istiod push (R6.4)."""

    cluster: Cluster
    view: MeshView
    service: ServiceView


class Peering:
    """The clusters of one simulator, peered: a shared view of their global services."""

    def __init__(self, clusters: list[Cluster]) -> None:
        self.clusters = clusters
        for c in clusters:
            c.extensions["peering"] = self
            c.store.subscribe(functools.partial(self._poke, c))

    def _poke(self, origin: Cluster, ev: Event) -> None:
        """A Service or Namespace changed in one cluster: the others' kgateway re-resolves its routes."""
        if ev.gr not in (o.SERVICES, o.NAMESPACES):
            return
        for c in self.clusters:
            kgw = c.extensions.get("kgateway")
            if c is not origin and kgw is not None:
                kgw._on_event(ev)

    # ---- the control-plane side ----------------------------------------------------------------
    def has_global(self, host: str) -> bool:
        """Does some cluster export ``host`` now (kgateway's ResolvedRefs)?"""
        key = split_host(host)
        if key is None:
            return False
        for c in self.clusters:
            svc = c.store.get(o.SERVICES, key[0], key[1])
            ns = c.store.get(o.NAMESPACES, None, key[0])
            if svc is not None and _scoped(o.labels(svc), o.labels(ns) if ns else {}):
                return True
        return False

    def members(self, host: str) -> list[Member]:
        """R9.1: every cluster whose same-named Service in the same-named namespace is global."""
        key = split_host(host)
        out: list[Member] = []
        if key is None:
            return out
        for c in self.clusters:
            view = c.extensions["istiod"].view
            sv = view.services.get(key)
            ns_labels = (view.namespaces.get(key[0]) or {}).get("labels") or {}
            if sv is not None and _scoped(sv.labels, ns_labels):
                out.append(Member(c, view, sv))
        return out

    def mode(self, members: list[Member], local: Cluster) -> ModeDecision:
        """R9.2, R5.8: the Service's mode under the Solo distribution; default PreferNetwork [solo]."""
        m = next((m for m in members if m.cluster is local), members[0])
        svc = m.cluster.store.get(o.SERVICES, m.service.namespace, m.service.name) or {}
        ns = (m.view.namespaces.get(m.service.namespace) or {}).get("annotations") or {}
        spec = svc.get("spec") or {}
        return resolve_mode(spec.get("trafficDistribution"), o.annotations_of(svc), ns, distribution="solo")

    # ---- the request path ----------------------------------------------------------------------
    async def serve(self, dp: DataPlane, gw: Endpoint, view: MeshView, host: str, port: int,
                    down: Downstream, start: float, route: str) -> Reply:
        """GW Envoy → global VIP → ZT(GW) → a local pod, or the remote E/W gateway → remote pod."""
        members = self.members(host)
        if not members:  # ResolvedRefs=False: kgateway answers 500 itself
            reply = Reply(status=500, headers={}, body=b"", outcome=500, flags="-", details="direct_response")
            dp._gw_log(gw, down, reply, start, route, upstream=None, cluster=None)
            return reply
        vip = f"{global_vip(host)}:{port}"
        by_ip = {ep.ip: (m, ep) for m in members for ep in m.service.endpoints if not ep.terminating}
        hosts = [Host(ep.ip, ep.pod, ep.locality, healthy=ep.ready) for _, ep in by_ip.values()]
        chosen = choose_endpoint(hosts, gw.locality, self.mode(members, dp.cluster), dp.rng)  # R9.2, R5.2
        if chosen is None:  # R7.3: no healthy endpoint in any cluster
            dp.log.ztunnel(view, gw.node, al.connection_failed(dp.clock.now(), f"{gw.ip}:{dp._port()}", vip,
                                                               "outbound", no_healthy_upstream_error(vip)))
            reply = reset_reply()
        else:
            member, ep = by_ip[chosen.address]
            reply = await self._to_endpoint(dp, gw, view, member, ep, port, host, down)
        _as_gateway_sees_it(reply, dp.clock.now() - start)
        dp._gw_log(gw, down, reply, start, route, upstream=vip, cluster=f"outbound|{port}||{host}")
        return reply

    async def _to_endpoint(self, dp: DataPlane, gw: Endpoint, view: MeshView, member: Member, ep: Endpoint,
                           port: int, host: str, down: Downstream) -> Reply:
        tp = member.service.target_port(port)
        name: Any = GlobalName(host)  # the hop loggers read only ``fqdn``
        if member.cluster is dp.cluster:
            return await dp._to_pod(view, gw, True, ep, tp, name, down, outbound_from=gw)
        remote: DataPlane = member.cluster.extensions["dataplane"]
        began = dp.clock.now()
        reply = await remote._to_pod(member.view, gw, True, ep, tp, name, down)  # logged in the remote cluster
        via = self.east_west_address(member.cluster) if ep.locality.network != gw.locality.network else ep.ip
        dst = peer(ep, f"{via}:{EAST_WEST_PORT}", mtls=True, service=host, hbone_addr=f"{ep.ip}:{tp}")
        error = None if reply.extra.get("upstream") else "http status: 503 Service Unavailable"
        dp.log.outbound(view, dp.clock.now(), gw, f"{gw.ip}:{dp._port()}", dst, sent=down.body_len + 200,
                        recv=len(reply.body) + 150, ms=int((dp.clock.now() - began) * 1000), error=error)
        return reply

    def east_west_address(self, cluster: Cluster) -> str:
        """[model] Where another network reaches this cluster's east-west gateway: its first node's IP."""
        return cluster_topology(cluster.topology, cluster.name).nodes[0].internal_ip


def _as_gateway_sees_it(reply: Reply, elapsed: float) -> None:
    """An upstream's answer is passed through (R7.4); Envoy's own reply (UC) has no upstream time."""
    if reply.extra.get("upstream"):
        reply.flags, reply.details = "-", "via_upstream"
        reply.upstream_ms = max(0, int(elapsed * 1000))
    else:
        reply.upstream_ms = None
