"""Envoy admin on port 15000 of the gateway and waypoint pods, reached through pods/proxy.

Who calls it: ``dataplane`` registers ``register_admin`` at start; on every istiod push the handler
is (re)registered in ``cluster.pod_ports[(ns, pod)][15000]`` for each gateway and waypoint pod, so
``kubectl get --raw /api/v1/namespaces/httpbin/pods/<pod>:15000/proxy/stats`` reaches it through the
API server, the same path a real cluster answers. Served paths:

| path | what |
| --- | --- |
| ``/stats`` | ``cluster.<name>.upstream_rq_*`` and ``cluster.<name>.outlier_detection.*`` (R2.11); ``?filter=<regex>`` |
| ``/clusters`` | per host ``<cluster>::<ip:port>::<stat>::<value>``, ``health_flags`` e.g. ``/failed_outlier_check`` (R2.10) |
| ``/ready`` | ``LIVE`` |
| ``/server_info`` | a short JSON document |

Port 8080 of go-httpbin pods is registered too, so ``.../pods/<pod>:8080/proxy/hostname`` reaches the
app directly, as the API server's proxy does on a real cluster (faults apply; no ztunnel hop).

Only clusters the proxy has built are listed; a proxy builds a cluster on its first request for it
[model].
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable

from ..cluster import Cluster, PodPort
from . import objects as o
from .app import AppRequest, answer
from .istiod import MeshView
from .proxies import Proxy

ADMIN_PORT = 15000
APP_PORT = 8080
TEXT = "text/plain; charset=UTF-8"


def is_envoy_pod(ns: str, pod: o.Obj | None, gateways: set[tuple[str, str]]) -> bool:
    lb = o.labels(pod)
    gw = lb.get("gateway.networking.k8s.io/gateway-name")
    return bool(gw) and (ns, gw) in gateways


def render_stats(proxy: Proxy | None, query: dict[str, str]) -> str:
    out: dict[str, int] = {}
    for entry in (proxy.clusters.values() if proxy else []):
        out.update(entry.cluster.stats())
    pattern = query.get("filter")
    if pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"filter {pattern!r} is not a regular expression ({exc}); for example "
                             "outlier_detection") from exc
        out = {k: v for k, v in out.items() if rx.search(k)}
    if query.get("format") == "json":
        return json.dumps({"stats": [{"name": k, "value": v} for k, v in sorted(out.items())]}, indent=1)
    return "".join(f"{k}: {v}\n" for k, v in sorted(out.items()))


def render_clusters(proxy: Proxy | None) -> str:
    lines: list[str] = []
    for name, entry in sorted((proxy.clusters if proxy else {}).items()):
        c = entry.cluster
        lines += [f"{name}::observability_name::{name}", f"{name}::outlier::success_rate_average::-1",
                  f"{name}::outlier::success_rate_ejection_threshold::-1",
                  f"{name}::default_priority::max_connections::4294967295",
                  f"{name}::default_priority::max_requests::4294967295", f"{name}::added_via_api::true"]
        for row in c.host_rows():
            addr = row["address"]
            lines += [f"{name}::{addr}::{k}::{v}" for k, v in row.items() if k != "address"]
    return "".join(line + "\n" for line in lines)


def make_handler(dp: Any, ns: str, pod: str) -> Callable[[str, str, dict[str, str], bytes],
                                                         Awaitable[tuple[int, str, bytes]]]:
    async def handler(method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        proxy = dp.proxies.by_pod.get((ns, pod))
        path = "/" + path.lstrip("/")
        if path == "/stats":
            try:
                text = render_stats(proxy, query)
            except ValueError as exc:
                return 400, TEXT, f"{exc}\n".encode()
            return 200, "application/json" if query.get("format") == "json" else TEXT, text.encode()
        if path == "/clusters":
            return 200, TEXT, render_clusters(proxy).encode()
        if path == "/ready":
            return 200, TEXT, b"LIVE\n"
        if path == "/server_info":
            return 200, "application/json", json.dumps({"state": "LIVE", "node": {"id": f"{pod}.{ns}"},
                                                        "command_line_options": {"concurrency": 1}}).encode()
        return 404, TEXT, (f"invalid path {path}; try /stats, /stats?filter=outlier_detection, /clusters, "
                           "/ready\n").encode()
    return handler


def is_httpbin_pod(pod: o.Obj | None) -> bool:
    containers = ((pod or {}).get("spec") or {}).get("containers") or []
    return any("go-httpbin" in str(c.get("image", "")) for c in containers)


def app_handler(dp: Any, ns: str, pod: str) -> Callable[[str, str, dict[str, str], bytes],
                                                        Awaitable[tuple[int, str, bytes]]]:
    """``pods/<pod>:8080/proxy/<path>``: the API server dials the app directly (no ztunnel hop)."""
    async def handler(method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        ep = dp.istiod.view.pods.get((ns, pod))
        if ep is None:
            return 503, TEXT, f"error trying to reach service: pod {pod} has no IP\n".encode()
        faults = dp._pod_faults(ep)
        if not dp._accepting(ep, faults):
            return 503, TEXT, f"error trying to reach service: dial tcp {ep.ip}:8080: connect: connection refused\n" \
                .encode()
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        path = "/" + path.lstrip("/") + (f"?{qs}" if qs else "")
        resp = answer(pod, faults, AppRequest(method, path, {"host": f"{ep.ip}:8080"}, "10.244.0.1", f"{ep.ip}:8080"))
        return resp.status, resp.headers.get("Content-Type", TEXT), resp.body
    return handler


def register_admin(cluster: Cluster, dp: Any) -> None:
    """Keep ``cluster.pod_ports`` in step with the pods: port 15000 (Envoy admin) on gateway and
    waypoint pods, port 8080 (the app) on go-httpbin pods."""
    registered: set[tuple[str, str, int]] = set()

    def sync(view: MeshView) -> None:
        gateways = {(o.namespace(g), o.name(g)) for g in cluster.store.list(o.GATEWAYS)}
        alive = set()
        for (ns, pod), ep in view.pods.items():
            obj = cluster.store.get(o.PODS, ns, pod)
            for port, wanted, make in ((ADMIN_PORT, is_envoy_pod(ns, obj, gateways), make_handler),
                                       (APP_PORT, is_httpbin_pod(obj), app_handler)):
                if not wanted:
                    continue
                alive.add((ns, pod, port))
                if (ns, pod, port) not in registered:
                    cluster.pod_ports.setdefault((ns, pod), {})[port] = PodPort(handler=make(dp, ns, pod))
                    registered.add((ns, pod, port))
        for key in registered - alive:
            cluster.pod_ports.get(key[:2], {}).pop(key[2], None)
            registered.discard(key)

    dp.istiod.subscribe(sync)
    sync(dp.istiod.view)
