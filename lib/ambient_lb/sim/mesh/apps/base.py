"""The shapes every app model shares: a request, a response, an image reference, a container being
started, and what starting it gives.

Who calls it: the models in this package (``httpbin``, ``nginx``, ``registry``), ``runtime`` (which
launches them for the kubelet and asks them for answers), and ``mesh/app.py`` (re-exports).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_DIGEST = re.compile(r"^[a-z0-9]+:[0-9a-f]{32,}$")


@dataclass
class AppResponse:
    """An app's answer to one HTTP request (or a reset: the connection closed without one)."""

    status: int
    headers: dict[str, str]
    body: bytes
    reset: bool = False  # the app closed the connection without answering (nginx's 444)


@dataclass
class AppRequest:
    """One HTTP request as the app receives it."""

    method: str
    path: str  # with query string
    headers: Mapping[str, str]
    origin: str  # the peer address the app sees
    host: str


@dataclass(frozen=True)
class ImageRef:
    """``[registry/]path[:tag][@digest]`` taken apart the way container runtimes read it."""

    registry: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        """``docker.io/library/nginx`` for ``nginx:1.30-alpine``: the key the model table uses."""
        return f"{self.registry}/{self.path}"

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """Takes an image reference apart as container runtimes do (Docker Hub's ``library/`` included)."""
        ref, _, digest = image.strip().partition("@")
        if digest and not _DIGEST.match(digest):
            digest = ""
        name, tag = ref, ""
        last = ref.rsplit("/", 1)[-1]
        if ":" in last:
            name, _, tag = ref.rpartition(":")
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = DOCKER_HUB, name
        if registry in _DOCKER_HUB_ALIASES:
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        return cls(registry, path, tag, digest)


@dataclass
class Container:
    """One container the kubelet is starting, as its app model sees it.

    ``files`` are the files its volume mounts give it (ConfigMap and Secret volumes, read from the
    store when the container starts, by absolute path); ``log`` writes one line to its log (what
    ``kubectl logs`` shows); ``node`` is the Node it runs on (kernel version, CPUs)."""

    namespace: str
    pod: str  # the pod's name, which is also its hostname
    image: str
    spec: Obj
    files: dict[str, str]
    now: float
    log: Callable[[str], None]
    clock: Callable[[], float]
    node: Obj | None = None
    ip: str = ""
    mount_points: tuple[str, ...] = ()

    @property
    def ref(self) -> ImageRef:
        """The container's image reference, taken apart."""
        return ImageRef.parse(self.image)

    def env(self, name: str, default: str = "") -> str:
        """The value of an environment variable the container spec sets literally, else default."""
        for e in self.spec.get("env") or []:
            if e.get("name") == name and "value" in e:
                return str(e["value"])
        return default

    def declared_ports(self) -> frozenset[int]:
        """The containerPorts the container spec declares."""
        return frozenset(int(p["containerPort"]) for p in self.spec.get("ports") or [] if p.get("containerPort"))


class App(Protocol):
    """A process running in a container."""

    def ports(self) -> frozenset[int] | None:
        """The TCP ports it listens on (None: any port; the simulator does not know)."""

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        """Its answer to one HTTP request received on ``port``."""

    def stop_lines(self, now: float) -> list[str] | None:
        """What it writes when the kubelet stops it (None: the kubelet's own table)."""


@dataclass
class Launch:
    """What starting a container gave: the running app, or the exit code of a process that stopped
    at once (or, with ``runs_for``, after that many simulated seconds: a run-to-completion command,
    R16.21); the lines it printed at once (None: the kubelet's own table of start lines) and the
    ones it prints later, as (seconds from start, line). A real process (``reports_exit``, R20.1)
    reports its own exit; ``start_error`` is a container the runtime could not start (R20.3)."""

    app: App | None
    lines: list[str] | None = None
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)
    runs_for: float | None = None
    later_lines: list[tuple[float, str]] = field(default_factory=list)
    reports_exit: bool = False  # a real process: the runtime reports its exit (R20.1)
    start_error: str | None = None  # the runtime could not start it: StartError (R20.3)


Model = Callable[[Container], Launch]
