"""What the kubelet needs from a container's app: volume mounts, start, readiness probes, stop.

Who calls it: ``kubelet.py``. The mesh registers an ``AppHook`` as ``cluster.extensions["apps"]``
(``sim/mesh/apps/runtime.py``, which knows the images); without it (controller-only tests) every
container starts, writes the kubelet's own start lines and passes its probes, as before.

Kubelet semantics modelled here (R14.7, R14.8, R14.11):

- an image the registry model cannot pull (``AppHook.pull``) leaves its container waiting
  (``ErrImagePull``, then ``ImagePullBackOff``; ``image_pulls.py``); without the hook every image pulls;
- a ConfigMap or Secret volume whose object does not exist (and is not ``optional``) keeps the pod in
  ContainerCreating: ``Warning FailedMount MountVolume.SetUp failed for volume "<v>" : configmap
  "<name>" not found``, retried with back-off (0.5 s doubling to 2 min 2 s) until it appears;
- the files a container sees are read from the store when it starts (ConfigMap ``data`` and
  ``binaryData`` are not mixed; Secrets are base64-decoded; ``items`` and ``subPath`` are honoured);
- readiness probes: ``httpGet`` succeeds for a status in 200–399, fails with ``HTTP probe failed
  with statuscode: <code>``; a refused connection fails with ``Get "http://<ip>:<port><path>": dial
  tcp <ip>:<port>: connect: connection refused``; ``tcpSocket`` succeeds if the app listens, else
  ``dial tcp <ip>:<port>: connect: connection refused``; ``exec`` succeeds (not modelled).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocols import SimCluster
from .keys import CONFIG_MAPS, SECRETS
from .objects import Obj, meta

MOUNT_BACKOFF_START = 0.5  # s, doubling (the volume manager's exponential back-off)
MOUNT_BACKOFF_MAX = 122.0  # s, 2 min 2 s


@dataclass
class ContainerStart:
    """What starting a container gave: the lines it printed (None: the kubelet's image table) and,
    for a process that stops, its exit code (None: it runs) and when: at once, or after ``runs_for``
    simulated seconds, printing ``later_lines`` (seconds from start, line) on the way (R16.21).

    ``reports_exit``: a real process runs (R20.1); the runtime tells the kubelet when it exits
    (``Kubelet.container_exited``). ``start_error``: the runtime could not start it (R20.3): the
    container is terminated ``StartError`` with this message, exit code 128."""

    lines: list[str] | None = None
    exit_code: int | None = None
    runs_for: float | None = None
    later_lines: list[tuple[float, str]] = field(default_factory=list)
    reports_exit: bool = False
    start_error: str | None = None


@dataclass
class ProbeResult:
    """The result of one probe: passed or not, and the kubelet's message when not."""

    ok: bool
    message: str = ""  # the kubelet's words after "Readiness probe failed: "


@dataclass(frozen=True)
class PullError:
    """Why the container runtime could not pull an image (R14.11): the CRI's gRPC code and containerd's text."""

    code: str  # "NotFound", "Unknown"
    detail: str

    @property
    def message(self) -> str:
        """The error as the kubelet reports it: ``remote_image.go`` strips an ``Unknown`` code, keeps others."""
        return self.detail if self.code == "Unknown" else f"rpc error: code = {self.code} desc = {self.detail}"


class AppHook(Protocol):
    """The container runtime's view of what runs in a container (registered by the mesh)."""

    def pull(self, pod: Obj, container: Obj) -> PullError | None:
        """Pull the container's image on the pod's node; None: pulled (R14.11)."""

    def launch(self, pod: Obj, container: Obj, files: dict[str, str], ip: str, now: float) -> ContainerStart | None:
        """A container starts; None: the image is not modelled (it runs, quietly)."""

    def probe(self, pod: Obj, container: Obj, probe: Obj, ip: str) -> ProbeResult | None:
        """A readiness probe of a running container; None: not modelled (it passes)."""

    def stopping(self, pod: Obj, container: Obj, now: float) -> list[str] | None:
        """The container is being stopped; the lines it writes (None: the kubelet's table)."""

    def forget(self, namespace: str, pod: str) -> None:
        """The pod is gone."""


def hook(cluster: SimCluster) -> AppHook | None:
    """The apps hook (what runs in the containers), when the mesh registered one."""
    return cluster.extensions.get("apps")


def pull(cluster: Any, pod: Obj, container: Obj) -> PullError | None:
    """Pull a container's image: the mesh's registry model decides (R14.11); without it every image pulls."""
    app = hook(cluster)
    return app.pull(pod, container) if app is not None else None


# ---- volumes ----------------------------------------------------------------------------------------
def missing_volumes(cluster: SimCluster, pod: Obj) -> list[tuple[str, str]]:
    """(volume, what is missing) for each ConfigMap/Secret volume that cannot be mounted yet."""
    ns = meta(pod).get("namespace", "")
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        for kind, gr, key in (("configMap", CONFIG_MAPS, "name"), ("secret", SECRETS, "secretName")):
            src = vol.get(kind)
            if src is None or src.get("optional"):
                continue
            name = src.get(key, "")
            if cluster.store.get(gr, ns, name) is None:
                what = "configmap" if kind == "configMap" else "secret"
                out.append((vol.get("name", ""), f'{what} "{name}" not found'))
    return out


def mount_failed_message(volume: str, reason: str) -> str:
    """The kubelet's FailedMount message for a volume."""
    return f'MountVolume.SetUp failed for volume "{volume}" : {reason}'


def mounted_files(cluster: SimCluster, pod: Obj, container: Obj) -> dict[str, str]:
    """The files the container's ConfigMap and Secret mounts show, by absolute path."""
    ns = meta(pod).get("namespace", "")
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    out: dict[str, str] = {}
    for m in container.get("volumeMounts") or []:
        vol = volumes.get(m.get("name")) or {}
        files = _volume_files(cluster, ns, vol)
        path, sub = m.get("mountPath", "").rstrip("/"), m.get("subPath")
        if sub:
            if sub in files:
                out[path] = files[sub]
            continue
        out.update({f"{path}/{name}": text for name, text in files.items()})
    return out


def _volume_files(cluster: SimCluster, ns: str, vol: Obj) -> dict[str, str]:
    if vol.get("configMap") is not None:
        src, obj = vol["configMap"], cluster.store.get(CONFIG_MAPS, ns, vol["configMap"].get("name", ""))
        data = dict((obj or {}).get("data") or {})
        data.update({k: _b64(v) for k, v in ((obj or {}).get("binaryData") or {}).items()})
    elif vol.get("secret") is not None:
        src, obj = vol["secret"], cluster.store.get(SECRETS, ns, vol["secret"].get("secretName", ""))
        data = {k: _b64(v) for k, v in ((obj or {}).get("data") or {}).items()}
        data.update((obj or {}).get("stringData") or {})
    else:
        return {}
    items = src.get("items")
    if items:
        return {it.get("path", it.get("key")): data[it["key"]] for it in items if it.get("key") in data}
    return data


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text).decode("utf-8", "replace")
    except ValueError:
        return ""


# ---- probes ---------------------------------------------------------------------------------------
def probe_port(container: Obj, port: Any) -> int | None:
    """A probe's ``port``: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p.get("containerPort", 0))
    return None


def http_failure(status: int) -> ProbeResult:
    """A failed HTTP probe's result with the kubelet's message for this status code."""
    return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")


def refused(ip: str, port: int, path: str | None = None) -> ProbeResult:
    """A failed probe's result for a refused connection, with the kubelet's message (an HTTP GET's, given a path)."""
    dial = f"dial tcp {ip}:{port}: connect: connection refused"
    return ProbeResult(False, f'Get "http://{ip}:{port}{path}": {dial}' if path is not None else dial)


def http_result(status: int) -> ProbeResult:
    """k8s.io/kubernetes pkg/probe/http: 200 <= status < 400 succeeds."""
    return ProbeResult(True) if 200 <= status < 400 else http_failure(status)
