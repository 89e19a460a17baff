"""The gateway's REAL HTTP listener: an aiohttp server on a loopback address of this simulator.

Who calls it: ``kgateway`` asks for a port when a Gateway of class ``enterprise-kgateway`` has a
listener (``ensure(8080)``) and publishes ``address`` in the Service's
``status.loadBalancer.ingress[0].ip`` and the Gateway's ``status.addresses``; ``dataplane`` gives
the request handler. Servers start when the cluster's event loop is up (``cluster.on_start``) or at
once if it already runs, and stop with the cluster (``cluster.on_stop``).

Address: the first address of a sequence ``127.0.<a>.<b>`` (never 127.0.0.1) derived from the seed
and the simulator's process id, on which the port binds, so two simulators on one machine do not
collide, not even one after the other (a simulator that released its listener must not find its
address answered by another one started later with the same seed), and the guide's
``curl http://$KGATEWAY_IP:8080/...`` reaches this one. Fallback (documented): if no such address
binds (systems without the 127.0.0.0/8 route), ``127.0.0.1``; and if the listener port itself is
taken there, a free port, which the Service status and a log line in the gateway pod report.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..cluster import Cluster

Handler = Callable[[int, web.BaseRequest], Awaitable[web.StreamResponse]]
_CANDIDATES = 48


def _bind(host: str, port: int) -> socket.socket | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    s.listen(512)
    s.setblocking(False)
    return s


def candidate_addresses(seed: int, salt: int = 0) -> list[str]:
    """The loopback addresses tried in order (from the seed and a salt), then 127.0.0.1 (the fallback)."""
    out = []
    for i in range(_CANDIDATES):
        n = (seed * 7919 + salt * 31337 + i * 104729) % (254 * 254)
        out.append(f"127.0.{1 + n // 254}.{1 + n % 254}")
    return out + ["127.0.0.1"]


class Listeners:
    """Listening sockets by Gateway listener port, all on one loopback address."""

    def __init__(self, cluster: Cluster, handler: Handler) -> None:
        self.cluster = cluster
        self.handler = handler
        self.address = ""
        self.ports: dict[int, int] = {}  # listener port -> bound port (equal unless it fell back)
        self._socks: dict[int, socket.socket] = {}
        self._servers: dict[int, asyncio.AbstractServer] = {}
        self._started = False
        cluster.on_start.append(self.start)
        cluster.on_stop.append(self.stop)

    def ensure(self, port: int) -> int:
        """Bind ``port`` (once) and serve it; returns the port actually bound."""
        if port in self.ports:
            return self.ports[port]
        sock = self._first_bind(port) if not self.address else _bind(self.address, port)
        if sock is None:  # taken on our address: fall back to a free port, reported by the caller
            sock = _bind(self.address, 0)
            if sock is None:
                raise OSError(f"cannot bind any port on {self.address} for gateway listener {port}")
        self._socks[port] = sock
        self.ports[port] = sock.getsockname()[1]
        if self._started:
            asyncio.get_running_loop().create_task(self._serve(port))
        return self.ports[port]

    def _first_bind(self, port: int) -> socket.socket | None:
        for host in candidate_addresses(self.cluster.seed, os.getpid()):
            sock = _bind(host, port)
            if sock is not None:
                self.address = host
                return sock
        self.address = "127.0.0.1"
        return None

    async def start(self) -> None:
        """Starts serving every listener port bound so far (and those bound later at once)."""
        self._started = True
        for port in list(self._socks):
            await self._serve(port)

    async def _serve(self, port: int) -> None:
        if port in self._servers:
            return
        server = web.Server(lambda req: self.handler(port, req), handler_cancellation=False,
                            access_log=None)
        loop = asyncio.get_running_loop()
        self._servers[port] = await loop.create_server(server, sock=self._socks[port], backlog=512)

    def release(self, port: int) -> None:
        """Stop serving a listener port the Gateway no longer has."""
        srv = self._servers.pop(port, None)
        if srv is not None:
            srv.close()
        sock = self._socks.pop(port, None)
        if sock is not None and srv is None:
            sock.close()
        self.ports.pop(port, None)

    async def stop(self) -> None:
        """Releases every listener port and waits for its server to close."""
        for port in list(self.ports):
            srv = self._servers.get(port)
            self.release(port)
            if srv is not None:
                await srv.wait_closed()
        self._started = False
