"""One simulated cluster: clock, store, type registry, logs, controllers and data-plane hooks.

The API server (``sim/server``) serves a ``Cluster`` over HTTP; controllers (``sim/controllers``)
and the mesh model (``sim/mesh``) are plugged in with ``add_controller`` and keep it moving.
Everything random draws from ``cluster.rng`` (seeded), everything timed from ``cluster.clock``.
"""

from __future__ import annotations

import random
from typing import Any, Awaitable, Callable, Protocol

from .clock import Clock, ScaledClock
from .podlogs import PodLogs
from .resources import Registry
from .store import GR, Store

# A pod-proxy handler answers ``GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}``.
# It gets (method, path, query dict, body bytes) and returns (status, content type, body bytes).
ProxyHandler = Callable[[str, str, dict[str, str], bytes], Awaitable[tuple[int, str, bytes]]]


class Controller(Protocol):
    name: str

    def start(self, cluster: "Cluster") -> None:
        """Subscribe to the store, seed initial objects, schedule timers."""


class Cluster:
    def __init__(self, *, name: str = "ambient-lb-sim", seed: int = 0, speed: float = 1.0,
                 clock: Clock | None = None, topology: Any = None) -> None:
        self.name = name
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock: Clock = clock or ScaledClock(speed)
        self.store = Store(self.clock, random.Random(self.rng.getrandbits(64)))
        self.registry = Registry()
        self.logs = PodLogs(self.clock)
        self.topology = topology
        self.controllers: list[Controller] = []
        # (namespace, pod) -> {port: handler}; the data plane registers admin and app ports here
        self.pod_proxies: dict[tuple[str, str], dict[int, ProxyHandler]] = {}
        # free-form place for controllers and the data plane to hang their state, by name
        # ("kubelet", "mesh", "listeners", ...)
        self.extensions: dict[str, Any] = {}
        # coroutines run by the server once its event loop is up (e.g. the gateway HTTP listeners),
        # and before it stops
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    def add_controller(self, c: Controller) -> None:
        self.controllers.append(c)
        c.start(self)

    def gr(self, kind: str, group: str | None = None) -> GR:
        t = self.registry.by_kind(kind, group)
        if t is None:
            raise KeyError(f"no resource type for kind {kind!r}")
        return t.gr

    async def start(self) -> None:
        """Run the ``on_start`` hooks (called by the server inside its event loop)."""
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        for hook in reversed(self.on_stop):
            await hook()

    async def proxy(self, namespace: str, pod: str, port: int, method: str, path: str,
                    query: dict[str, str], body: bytes = b"") -> tuple[int, str, bytes] | None:
        """Route a pods/proxy request to the handler the data plane registered, or None."""
        handler = self.pod_proxies.get((namespace, pod), {}).get(port)
        if handler is None:
            return None
        return await handler(method, path, query, body)
