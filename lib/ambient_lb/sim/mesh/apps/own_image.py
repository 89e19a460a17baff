"""The project's own image, ``ghcr.io/ambient-lb/ambient-lb:<any tag>``: the simulator's stand-in for a
container runtime runs its command as a local process (R20.1–R20.4).

Who calls it: ``runtime.AppRuntime`` registers ``OwnImage(cluster).launch`` for ``OWN_IMAGE_REPOSITORY``
(the cluster's own image: it always pulls); the kubelet launches it, SIGTERMs it (``stop_lines``) and
forgets it (``close``) through the apps hook.

What a container of this image gets (a runtime would give it the same, inside a container):

- argv: ``command`` (else the image's entrypoint ``ambient-lb``) + ``args``. ``ambient-lb`` runs
  ``python -m ambient_lb.cli``, ``python``/``python3`` this interpreter (also as ``/usr/local/bin/<name>``);
  any other program cannot start: ``StartError`` (R20.3).
- files: a private root (0700) holding its mounts (``container_root.py``); argv elements, env values and
  ``workingDir`` at or under a ``mountPath`` are rewritten to the root (R20.2).
- env: exactly the pod spec's (``container_env.py``, R20.4), over ``PATH`` (the simulator's), ``HOME``
  (under the root), ``HOSTNAME``, ``PYTHONUNBUFFERED=1`` (the image's) and
  ``KUBERNETES_SERVICE_HOST``/``_PORT``/``_PORT_HTTPS`` (the API server, ``cluster.extensions["serving"]``);
  plus ``AMBIENT_LB_CONTAINER_ROOT``, the root, set only by this stand-in. Nothing else of the
  simulator's environment.
- output: each stdout/stderr line in the container's log as it is written (``kubectl logs -f``).
- exit: reported to the kubelet with its code (``Kubelet.container_exited``): the pod Succeeds or
  Fails, and the Job controller acts on it.
- pod deleted: SIGTERM to its process group; at the grace period's end (or when the pod is gone)
  SIGKILL to it and its descendants; the root is removed.
- simulator stops: every process is killed and reaped (``cluster.on_stop``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field

from ...controllers.container_env import ConfigError, resolve
from ...protocols import SimCluster
from .. import objects as o
from .base import AppRequest, AppResponse, Container, Launch
from .container_root import ContainerRoot
from .local_process import LocalProcess

OWN_IMAGE_REPOSITORY = "ghcr.io/ambient-lb/ambient-lb"
CONTAINER_ROOT_ENV = "AMBIENT_LB_CONTAINER_ROOT"  # set only by this stand-in: where the container's "/" is
IMAGE_ENTRYPOINT = ("ambient-lb",)  # the image's ENTRYPOINT [model: the project's Dockerfile]
IMAGE_ENV = {"PYTHONUNBUFFERED": "1"}  # the image's ENV [model: the project's Dockerfile]
IMAGE_BIN = "/usr/local/bin"
PROGRAMS = {"ambient-lb": (sys.executable, "-m", "ambient_lb.cli"), "python": (sys.executable,),
            "python3": (sys.executable,)}


def program(name: str) -> tuple[str, ...] | None:
    """The host argv prefix for a program of the image (``ambient-lb``, ``python``), or None: not in it."""
    base = name[len(IMAGE_BIN) + 1:] if name.startswith(IMAGE_BIN + "/") else name
    return PROGRAMS.get(base)


def start_error(name: str) -> str:
    """containerd + runc when the program is not in the image (R20.3)."""
    why = f"stat {name}: no such file or directory" if "/" in name else "executable file not found in $PATH"
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
            f'failed: unable to start container process: exec: "{name}": {why}: unknown')


@dataclass
class OwnProcess:
    """A running container of the project's image: its process and its root."""

    process: LocalProcess
    root: ContainerRoot
    closed: bool = field(default=False)

    def ports(self) -> frozenset[int]:
        """It listens on no port the simulator knows of [model]: connections are refused."""
        return frozenset()

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        """Never called (it listens on nothing); a reset if it were."""
        return AppResponse(0, {}, b"", reset=True)

    def stop_lines(self, now: float) -> list[str]:
        """SIGTERM to the process group; the process writes its own lines (R20.1)."""
        self.process.terminate()
        return []

    def close(self) -> None:
        """Kill what still runs, reap it, remove the root."""
        if not self.closed:
            self.closed = True
            self.process.kill()
            self.root.remove()


class OwnImage:
    """The model of ``OWN_IMAGE_REPOSITORY`` for one cluster: starts, tracks and stops its processes."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.running: list[OwnProcess] = []
        cluster.on_stop.append(self.stop_all)

    def launch(self, ctx: Container) -> Launch:
        """Start the container's command as a local process (R20.1), or fail to start it (R20.3)."""
        spec = ctx.spec
        argv = [str(a) for a in (spec.get("command") or IMAGE_ENTRYPOINT)] + [str(a) for a in spec.get("args") or []]
        exe = program(argv[0])
        pod = self.cluster.store.get(o.PODS, ctx.namespace, ctx.pod)
        if exe is None or pod is None:
            return Launch(None, lines=[], start_error=start_error(argv[0]))
        try:
            loop = asyncio.get_running_loop()
            env = resolve(self.cluster, pod, spec, ctx.ip)
        except (RuntimeError, ConfigError) as exc:
            return Launch(None, lines=[], start_error=f"failed to create containerd task: {exc}")
        root = ContainerRoot(self.cluster, pod, spec, self._token)
        key = (ctx.namespace, ctx.pod, str(spec.get("name", "")), o.meta(pod).get("uid", ""))
        holder: list[OwnProcess] = []
        process = LocalProcess([*exe, *map(root.map, argv[1:])], self._env(ctx, env, root),
                               root.workdir(str(spec.get("workingDir") or "")), loop,
                               lambda line: self._line(holder, key, line), lambda code: self._exit(holder, key, code))
        run = OwnProcess(process, root)
        holder.append(run)
        self.running.append(run)
        return Launch(run, lines=[], reports_exit=True)

    async def stop_all(self) -> None:
        """The simulator stops: every process is killed and reaped, every root removed."""
        for run in list(self.running):
            run.close()
        self.running.clear()

    def forget(self, run: OwnProcess) -> None:
        """The kubelet is done with a container: kill what still runs, remove its root."""
        run.close()
        if run in self.running:
            self.running.remove(run)

    def _env(self, ctx: Container, spec_env: dict[str, str], root: ContainerRoot) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(root.home), "HOSTNAME": ctx.pod, **IMAGE_ENV}
        serving = self.cluster.extensions.get("serving")
        if serving is not None:
            port = str(serving.port)
            env.update(KUBERNETES_SERVICE_HOST=serving.host, KUBERNETES_SERVICE_PORT=port,
                       KUBERNETES_SERVICE_PORT_HTTPS=port)
        # R20.2: only what the pod spec says is a container path; the image's PATH is the host's, not under a
        # mount (a host PATH entry under /tmp would otherwise be taken for the pod's /tmp emptyDir)
        env.update({k: root.map(v) for k, v in spec_env.items()})
        env[CONTAINER_ROOT_ENV] = str(root.path)
        return env

    def _token(self, pod: o.Obj, seconds: int) -> str | None:
        """A token bound to the pod for its ServiceAccount (R20.5); None without an API server or the account."""
        tokens = self.cluster.extensions.get("sa_tokens")
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        if tokens is None:
            return None
        try:
            token, _ = tokens.issue(o.namespace(pod), sa, seconds, ("Pod", o.name(pod), o.meta(pod).get("uid", "")))
        except LookupError:
            return None
        return str(token)

    def _line(self, holder: list[OwnProcess], key: tuple[str, str, str, str], line: str) -> None:
        if holder and not holder[0].closed:
            self.cluster.logs.write(key[0], key[1], key[2], line)

    def _exit(self, holder: list[OwnProcess], key: tuple[str, str, str, str], code: int) -> None:
        kubelet = self.cluster.extensions.get("kubelet")
        if holder and not holder[0].closed and kubelet is not None:
            kubelet.container_exited(key[0], key[1], key[3], key[2], code)
