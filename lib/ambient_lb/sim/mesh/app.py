"""The apps in the pods, as the rest of the mesh reaches them: requests, faults, the pods proxy.

Who calls it: ``dataplane`` (through ``cluster.extensions["apps"]``, the ``AppRuntime``), ``admin``
(the pods proxy to an app port: ``pod_proxy_handler`` and ``listening_ports``), and older callers of
``httpbin``/``answer``, which live on here. What a pod answers comes from the model of its image
(``apps/``: go-httpbin, nginx, R14); the ``fault.ambient-lb.dev/*`` annotations apply on top of any
model (``apps/faults.py``), except in strict mode (``ambient-lb sim up --strict``), where they are
ignored.
"""

from __future__ import annotations

import asyncio

from ..cluster import ProxyHandler
from ..protocols import SimCluster
from . import objects as o
from .apps.base import AppRequest, AppResponse
from .apps.faults import (
    LATENCY_FAULT,
    REFUSE_FAULT,
    STATUS_FAULT,
    FaultError,
    PodFaults,
    parse_latency,
    parse_status_cycle,
)
from .apps.httpbin import JSON_TYPE, TEXT_TYPE, httpbin

__all__ = ["AppRequest", "AppResponse", "FaultError", "JSON_TYPE", "LATENCY_FAULT", "PodFaults", "REFUSE_FAULT",
           "STATUS_FAULT", "TEXT_TYPE", "answer", "httpbin", "listening_ports", "parse_latency", "parse_status_cycle",
           "pod_proxy_handler", "serve", "sleep"]

API_SERVER_SOURCE = "10.244.0.1"  # [model] the address the API server's proxy dials pods from


def answer(pod: str, faults: PodFaults, req: AppRequest) -> AppResponse:
    """go-httpbin's answer after the http-status fault cycle (kept for callers that predate the
    image models; ``AppRuntime.answer`` asks the pod's own app)."""
    forced = faults.next_status()
    if forced is not None:
        return AppResponse(forced, {"Content-Type": TEXT_TYPE}, b"")
    return httpbin(pod, req)


def listening_ports(cluster: SimCluster, namespace: str, pod: str) -> set[int]:
    """The TCP ports the pod's apps listen on (what a pods proxy handler can be registered for)."""
    apps = cluster.extensions.get("apps")
    return apps.ports(namespace, pod) if apps is not None else set()


async def serve(cluster: SimCluster, namespace: str, pod: str, port: int, req: AppRequest) -> AppResponse | None:
    """What the pod answers on ``port``, faults applied (latency waits in simulated time); None when
    the connection is refused (nothing listens, the refuse fault, or the app is stopping)."""
    apps = cluster.extensions.get("apps")
    kubelet = cluster.extensions.get("kubelet")
    if apps is None or (kubelet is not None and not kubelet.listening(namespace, pod)):
        return None
    faults = apps.faults(namespace, pod)
    if faults.refuse:
        return None
    if faults.latency > 0:
        await sleep(cluster, faults.latency)
    return apps.answer(namespace, pod, port, faults, req)


def pod_proxy_handler(cluster: SimCluster, namespace: str, pod: str, port: int) -> ProxyHandler:
    """``/api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>``: the API server dials the pod IP
    directly (no ztunnel hop); faults apply; a refused connection is the API server's 503."""
    async def handler(method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        obj = cluster.store.get(o.PODS, namespace, pod)
        ip = ((obj or {}).get("status") or {}).get("podIP", "")
        if not ip:
            return 503, TEXT_TYPE, f"error trying to reach service: pod {pod} has no IP\n".encode()
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        target = "/" + path.lstrip("/") + (f"?{qs}" if qs else "")
        req = AppRequest(method, target, {"host": f"{ip}:{port}"}, API_SERVER_SOURCE, f"{ip}:{port}")
        resp = await serve(cluster, namespace, pod, port, req)
        if resp is None or resp.reset:
            return 503, TEXT_TYPE, (f"error trying to reach service: dial tcp {ip}:{port}: connect: "
                                    "connection refused\n").encode()
        ctype = next((v for k, v in resp.headers.items() if k.lower() == "content-type"), TEXT_TYPE)
        return resp.status, ctype, resp.body
    return handler


async def sleep(cluster: SimCluster, seconds: float) -> None:
    """Wait ``seconds`` of simulated time."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)
    cluster.clock.call_later(seconds, wake)
    await fut
