"""The simulator in this process: API servers on the running event loop (``start_server``,
``start_servers``), or in a background thread with its own loop (``running_simulator``, for tests and
library use: an ephemeral 127.0.0.1 port, a private kubeconfig, stopped on exit).

Who calls it: ``__main__`` (the ``serve`` process that ``sim up`` starts runs ``start_servers``), the
tests and benchmarks (``running_simulator``).

A multi-cluster topology (e.g. ``two-clusters``) gets one API server per cluster from the same event
loop (one clock, a ``Peering`` for global services, R9.1); the kubeconfig gets one context per
cluster (``kubeconfig.context_name``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SimulatorError
from .kubeconfig import context_name, kubeconfig_text, write_private


def tune_gc() -> None:
    """What the server process does once it is up: move the bootstrap heap out of the collector and
    collect young objects less often. A 1,000-row Table list allocates thousands of short-lived
    containers; with the default thresholds every few lists trigger a full collection over every
    stored object, which is what dominated the p95 latency (benchmarks/bench_sim_api.py)."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def start_server(cluster_kw: dict[str, Any], token: str | None, host: str, port: int,
                       bookmark_seconds: float = 10.0, tls: Any = None) -> tuple[Any, Any, int]:
    """Build the cluster on the running loop and serve it; returns (runner, cluster, port)."""
    from aiohttp import web

    from .clock import ScaledClock
    from .cluster import ServingAddress
    from .controllers.namespaces import publish_root_ca
    from .server import make_app
    from .world import build_cluster

    speed = cluster_kw.pop("speed", 1.0)
    clock = cluster_kw.pop("clock", None) or ScaledClock(speed)
    clock.bind(asyncio.get_running_loop())
    if cluster_kw.pop("bare", False):  # the API server alone: no controllers, no mesh
        from .cluster import Cluster
        cluster_kw.pop("mesh", None)
        cluster_kw.pop("topology_name", None)
        strict = bool(cluster_kw.pop("strict", False))
        cluster = Cluster(clock=clock, **cluster_kw)
        cluster.strict = strict
    else:
        cluster = build_cluster(clock=clock, **cluster_kw)
    if tls is not None:  # R20.2: pods verify the API server with the certificate it serves
        publish_root_ca(cluster, tls.cert_pem.decode())
    app = make_app(cluster, token, bookmark_seconds=bookmark_seconds)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True,
                       ssl_context=tls.server_context() if tls is not None else None)
    await site.start()
    # aiohttp's TCPSite does not say which port it bound (port 0: an ephemeral one); once started its
    # _server is an asyncio.Server, typed Optional
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # R20.2: where a process the kubelet runs on the host reaches this API server
    cluster.extensions["serving"] = ServingAddress(host, bound, tls.cert_pem.decode() if tls is not None else None)
    return runner, cluster, bound


async def start_servers(cluster_kw: dict[str, Any], token: str | None, host: str, port: int,
                        bookmark_seconds: float = 10.0, tls: Any = None) -> list[tuple[Any, Any, int]]:
    """One API server per cluster of the topology, on this loop, sharing one clock; [(runner, cluster,
    port)] in topology order. ``port`` is the first cluster's; the others take free ports. With several
    clusters (and the mesh), a ``Peering`` joins them (``mesh/multicluster.py``, R9.1)."""
    from .clock import ScaledClock

    topology = cluster_kw.get("topology")
    clusters = list(getattr(topology, "clusters", None) or [])
    if len(clusters) < 2:
        return [await start_server(cluster_kw, token, host, port, bookmark_seconds, tls)]
    clock = ScaledClock(cluster_kw.pop("speed", 1.0))
    out = []
    for i, ct in enumerate(clusters):
        kw = dict(cluster_kw, topology=ct, name=ct.name, seed=cluster_kw.get("seed", 0) + i, clock=clock)
        out.append(await start_server(kw, token, host, port if i == 0 else 0, bookmark_seconds, tls))
    if cluster_kw.get("mesh", True) and not cluster_kw.get("bare", False):
        from .mesh.multicluster import Peering

        Peering([c for _, c, _ in out])
    return out


@dataclass
class Simulator:
    """A running simulator: where it listens, how to reach it, and (in-thread) its cluster."""

    url: str
    token: str
    kubeconfig: Path
    cluster: Any = None
    pid: int | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    # context name -> cluster object (in-thread) or url (background); one entry per simulated cluster
    contexts: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        """The port of the first cluster's API server."""
        return int(self.url.rsplit(":", 1)[1])

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn()`` on the simulator's loop (the safe way to touch ``cluster`` from a test)."""
        if self.loop is None:
            raise SimulatorError("call() needs an in-thread simulator (running_simulator)")

        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)


class _ServerThread(threading.Thread):
    def __init__(self, cluster_kw: dict[str, Any], token: str | None, bookmark_seconds: float, tls: Any) -> None:
        super().__init__(name="ambient-lb-sim", daemon=True)
        self.cluster_kw, self.token, self.bookmark_seconds, self.tls = cluster_kw, token, bookmark_seconds, tls
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.cluster: Any = None
        self.port = 0
        self.servers: list[tuple[Any, Any, int]] = []

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the caller by start()
            self.error = exc
            self.ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        self.servers = await start_servers(dict(self.cluster_kw), self.token, "127.0.0.1", 0,
                                           self.bookmark_seconds, self.tls)
        _, self.cluster, self.port = self.servers[0]
        self.ready.set()
        try:
            await self.stopping.wait()
        finally:
            for runner, _, _ in reversed(self.servers):
                await runner.cleanup()

    def stop(self) -> None:
        if self.stopping is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=15)


@contextlib.contextmanager
def running_simulator(*, seed: int = 0, speed: float = 1.0, topology: Any = None, mesh: bool = True,
                      bare: bool = False, tls: bool = True, token: str | None = None,
                      workdir: str | Path | None = None, bookmark_seconds: float = 10.0,
                      start_timeout: float = 30.0, strict: bool = False) -> Iterator[Simulator]:
    """A simulator in a background thread on an ephemeral 127.0.0.1 port, with its kubeconfig.

    ``bare=True`` serves a cluster without controllers or mesh (the API server's own tests).
    ``tls=False`` serves plain http without a token (kubectl would not send one over http).
    ``strict=True`` is ``sim up --strict``: the simulator ignores its fault annotations."""
    from .server.tls import self_signed

    topology_name = str(topology) if isinstance(topology, (str, Path)) else None
    if isinstance(topology, (str, Path)):
        from .topology import load_topology
        topology = load_topology(topology)
    identity = self_signed() if tls else None
    token = (token or secrets.token_urlsafe(32)) if tls else None
    kw = {"seed": seed, "speed": speed, "topology": topology, "mesh": mesh, "bare": bare, "strict": strict,
          "topology_name": topology_name}
    th = _ServerThread(kw, token, bookmark_seconds, identity)
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ambient-lb-sim-")))
        th.start()
        stack.callback(th.stop)
        if not th.ready.wait(start_timeout) or th.error is not None:
            raise SimulatorError(f"the in-thread simulator did not start: {th.error!r}") from th.error
        scheme = "https" if tls else "http"
        url = f"{scheme}://127.0.0.1:{th.port}"
        names = [context_name(c.name, i) for i, (_, c, _) in enumerate(th.servers)]
        others = {n: f"{scheme}://127.0.0.1:{p}" for n, (_, _, p) in list(zip(names, th.servers, strict=True))[1:]}
        kubeconfig = root / "kubeconfig"
        write_private(kubeconfig, kubeconfig_text(url, token, identity.cert_pem if identity else None, others=others))
        yield Simulator(url=url, token=token or "", kubeconfig=kubeconfig, cluster=th.cluster, loop=th.loop,
                        ca_pem=identity.cert_pem if identity else None,
                        contexts={n: c for n, (_, c, _) in zip(names, th.servers, strict=True)})
