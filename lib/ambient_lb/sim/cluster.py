"""One simulated cluster: clock, store, type registry, logs, controllers and data-plane hooks.

The API server (``sim/server``) serves a ``Cluster`` over HTTP; controllers (``sim/controllers``)
and the mesh model (``sim/mesh``) are plugged in with ``add_controller`` and keep it moving.
Everything random draws from ``cluster.rng`` (seeded), everything timed from ``cluster.clock``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .clock import Clock, ScaledClock
from .podlogs import PodLogs
from .resources import Registry
from .store import GR, Store

# An HTTP server in a pod, modelled in-process: it gets (method, path, query dict, body bytes) and
# returns (status, content type, body bytes). ``pods/proxy``, ``port-forward`` and ``exec`` reach it.
ProxyHandler = Callable[[str, str, dict[str, str], bytes], Awaitable[tuple[int, str, bytes]]]


@dataclass
class PodPort:
    """One listening socket in a pod's network namespace, as the mesh model registers it.

    Exactly one of ``handler`` (an HTTP server answered in-process) and ``address`` (a real TCP
    listener of the simulator that stands for this socket, e.g. the gateway's ``(ip, 8080)``) is set.
    ``loopback_only`` is a socket bound to 127.0.0.1 inside the pod (Envoy's admin port in Istio and
    kgateway proxies): ``exec`` and ``port-forward`` reach it, because they run in the pod's network
    namespace, but the API server's ``pods/proxy`` dials the pod IP and is refused, as on a cluster.
    """

    handler: ProxyHandler | None = None
    address: tuple[str, int] | None = None
    loopback_only: bool = False


@dataclass
class ExecResult:
    """What a command run with ``kubectl exec`` printed and how it ended."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


# A program in a container: gets the pod's (namespace, name), argv and the stdin bytes (b"" when
# the client sends none) and returns an ExecResult. Registered per image by the mesh model.
ExecHandler = Callable[[str, str, list[str], bytes], Awaitable[ExecResult]]


class ProgramNotFound(Exception):
    """Raised by an ExecHandler for a program its image does not have (``argv[0]``, e.g. ``curl``).

    The API server then answers as containerd does when runc cannot start the process
    ("OCI runtime exec failed: ... executable file not found in $PATH"), the same answer a container
    with no ExecHandler at all gets (docs/semantics-addendum.md R15.5).
    """

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self.program = program


@dataclass(frozen=True)
class ServingAddress:
    """Where this cluster's API server listens, as ``start_server`` publishes it in
    ``cluster.extensions["serving"]`` (R20.2): what a process the kubelet runs on the host gets as
    ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT``, and the serving certificate (PEM; None
    over plain http) that its ``ca.crt`` holds."""

    host: str
    port: int
    ca_pem: str | None = None


class Controller(Protocol):
    """A simulated controller: it watches the store and acts on it, as a real controller does."""

    name: str

    def start(self, cluster: Cluster) -> None:
        """Subscribe to the store, seed initial objects, schedule timers."""


class Cluster:
    """The cluster-in-a-box: its store, resource registry, controllers, clock and seeded random numbers."""

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
        # (namespace, pod) -> {port: PodPort}: the sockets listening in each pod (the data plane
        # registers the Envoy admin, app and gateway ports here)
        self.pod_ports: dict[tuple[str, str], dict[int, PodPort]] = {}
        # (namespace, pod) -> {container: ExecHandler}: what ``kubectl exec`` can run in a container
        self.pod_exec: dict[tuple[str, str], dict[str, ExecHandler]] = {}
        # strict: the simulator refuses its own conveniences (fault annotations are ignored), so a
        # run proves it uses only what a cluster offers (``ambient-lb sim up --strict``)
        self.strict = False
        # free-form place for controllers and the data plane to hang their state, by name
        # ("kubelet", "mesh", "listeners", ...)
        self.extensions: dict[str, Any] = {}
        # coroutines run by the server once its event loop is up (e.g. the gateway HTTP listeners),
        # and before it stops
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    def add_controller(self, c: Controller) -> None:
        """Adds a controller and starts it."""
        self.controllers.append(c)
        c.start(self)

    def gr(self, kind: str, group: str | None = None) -> GR:
        """The group/resource of a kind; KeyError when no resource type has it."""
        t = self.registry.by_kind(kind, group)
        if t is None:
            raise KeyError(f"no resource type for kind {kind!r}")
        return t.gr

    async def start(self) -> None:
        """Run the ``on_start`` hooks (called by the server inside its event loop)."""
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        """Runs the on_stop hooks, last added first."""
        for hook in reversed(self.on_stop):
            await hook()

    def pod_port(self, namespace: str, pod: str, port: int) -> PodPort | None:
        """The socket listening on ``port`` in the pod, or None (a connection would be refused)."""
        return self.pod_ports.get((namespace, pod), {}).get(port)

    async def proxy(self, namespace: str, pod: str, port: int, method: str, path: str,
                    query: dict[str, str], body: bytes = b"") -> tuple[int, str, bytes] | None:
        """Route a pods/proxy request (dialled at the pod IP) to its handler, or None when refused.

        A socket bound to loopback only refuses the pod IP, as on a cluster."""
        sock = self.pod_port(namespace, pod, port)
        if sock is None or sock.loopback_only or sock.handler is None:
            return None
        return await sock.handler(method, path, query, body)
