"""HTTPRoute matching as kgateway's Envoy does it: parent refs, hostname intersection, the route table.

Who calls it: ``kgateway`` builds the per-port route table (``entries``) for accepted routes and checks
listener/route hostnames (``hosts_intersect``); ``dataplane`` matches each request (``match_route``):
the most specific hostname first (exact, then wildcard, then a route without hostnames), then Exact
before PathPrefix, then the longest path.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import objects as o


@dataclass
class RouteEntry:
    """One HTTPRoute rule attached to a listener port, ready to match (host, path)."""

    route: tuple[str, str]
    hostnames: list[str]
    matches: list[tuple[str, str]]  # (PathPrefix | Exact, value)
    backends: list[tuple[str, str, int, int]]  # (namespace, service, port, weight)
    name: str = ""


def parent_refs(route: o.Obj, gw: o.Obj | None) -> list[o.Obj]:
    """The parentRefs of a route that name this Gateway."""
    if gw is None:
        return []
    out = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("kind", "Gateway") != "Gateway":
            continue
        if ref.get("name") == o.name(gw) and (ref.get("namespace") or o.namespace(route)) == o.namespace(gw):
            out.append(ref)
    return out


def _host_match(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return pattern == host


def hosts_intersect(listener_host: str | None, route_hosts: list[str]) -> bool:
    """True when a listener's hostname and a route's hostnames have a host in common (no hostname: any)."""
    if not listener_host or not route_hosts:
        return True
    return any(_host_match(listener_host, h) or _host_match(h, listener_host) for h in route_hosts)


def entries(route: o.Obj) -> list[RouteEntry]:
    """The route table entries of an HTTPRoute: one per rule, with its matches and backends."""
    spec = route.get("spec") or {}
    out = []
    for i, rule in enumerate(spec.get("rules") or [{}]):
        matches = [((m.get("path") or {}).get("type", "PathPrefix"), (m.get("path") or {}).get("value", "/"))
                   for m in rule.get("matches") or [{}]]
        backends = [(b.get("namespace") or o.namespace(route), b["name"], int(b.get("port", 80)),
                     int(b.get("weight", 1))) for b in rule.get("backendRefs") or []]
        out.append(RouteEntry((o.namespace(route), o.name(route)), [h.lower() for h in spec.get("hostnames") or []],
                              matches, backends, f"httproute/{o.namespace(route)}/{o.name(route)}/rule/{i}/match/0"))
    return out


def match_route(entries: list[RouteEntry], host: str, path: str) -> RouteEntry | None:
    """Envoy's choice: the most specific hostname (exact > wildcard > any), then the longest match."""
    host = host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()
    best: tuple[int, int, int] | None = None
    chosen = None
    for e in entries:
        hs = 2 if host in e.hostnames else (1 if any(_host_match(h, host) for h in e.hostnames if h.startswith("*"))
                                            else (0 if not e.hostnames else -1))
        if hs < 0:
            continue
        for kind, value in e.matches:
            if (kind == "Exact" and path.split("?", 1)[0] == value) or (kind == "PathPrefix" and _prefix(path, value)):
                rank = (hs, 1 if kind == "Exact" else 0, len(value))
                if best is None or rank > best:
                    best, chosen = rank, e
    return chosen


def _prefix(path: str, value: str) -> bool:
    p = path.split("?", 1)[0]
    v = value.rstrip("/")
    return not v or p == v or p.startswith(v + "/")
