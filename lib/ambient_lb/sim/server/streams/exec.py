"""``pods/exec``: what the API server checks, which program runs, and the Status that ends it.

Who calls it: ``__init__.exec_`` (the route) and the two transports, ``exec_ws.py`` (WebSocket,
what kubectl 1.31 and the Python client use) and ``exec_spdy.py`` (kubectl's SPDY fallback).
``parse`` makes the API server's checks before any upgrade (R15.3): the pod exists (404), the
container is one of the pod's (400), the pod has a node (400), a command and at least one stream
were asked for (400). ``run`` looks the program up in ``cluster.pod_exec`` (what the mesh model
registers per container) and turns its result into the Status the error channel carries: Success,
NonZeroExitCode with the exit code as cause (R15.4), or the InternalError containerd gives for a
program the image does not have (R15.5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ...cluster import ExecResult, ProgramNotFound
from ..rest import get_or_404
from ..routing import Target
from ..state import ServerState
from ..status import ApiError
from . import runtime

log = logging.getLogger("ambient_lb.sim.server.streams")
Obj = dict[str, Any]


@dataclass
class ExecRequest:
    """One exec request: the pod and container, the command, and which streams the client wants."""

    namespace: str
    pod: Obj
    container: str
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @property
    def name(self) -> str:
        """The pod's name."""
        return self.pod["metadata"]["name"]


@dataclass
class Outcome:
    """What an exec produced: stdout, stderr, and the Status for the error channel."""

    stdout: bytes
    stderr: bytes
    status: Obj  # the metav1.Status for the error channel


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def parse(srv: ServerState, request: web.Request, t: Target) -> ExecRequest:
    """Reads an exec request from the URL; 400 for what the API server refuses (no host, no command, no stream, a wrong
    container)."""
    pod = get_or_404(srv, Target(t.rt, t.version, t.namespace, t.name))
    tty = _flag(request, "tty")
    req = ExecRequest(t.namespace or "", pod, _container(pod, request.query.get("container", "")),
                      request.query.getall("command", []), _flag(request, "stdin"),
                      _flag(request, "stdout"), _flag(request, "stderr") and not tty, tty)
    if not (pod.get("spec") or {}).get("nodeName"):
        raise ApiError("BadRequest", f"pod {req.name} does not have a host assigned")
    if not req.command:
        raise ApiError("BadRequest", "you must specify at least one command for the container")
    if not (req.stdin or req.stdout or req.stderr):
        raise ApiError("BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
    return req


def _container(pod: Obj, wanted: str) -> str:
    spec, name = pod.get("spec") or {}, pod["metadata"]["name"]
    main = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    if wanted:
        if wanted not in main + init + [c.get("name") for c in spec.get("ephemeralContainers") or []]:
            raise ApiError("BadRequest", f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(main) == 1:
        return main[0]
    if not main:
        raise ApiError("BadRequest", f"a container name must be specified for pod {name}")
    extra = f" or one of the init containers: [{' '.join(init)}]" if init else ""
    raise ApiError("BadRequest", f"a container name must be specified for pod {name}, choose one of: "
                   f"[{' '.join(main)}]{extra}")


def node_error(req: ExecRequest) -> str | None:
    """What the kubelet says before it starts anything (container not running), or None."""
    return runtime.container_not_running(req.pod, req.container)


async def run(srv: ServerState, req: ExecRequest, stdin: bytes) -> Outcome:
    """Runs the command with the container's programs (a missing program or a crash ends as the runtime says)."""
    programs = srv.cluster.pod_exec.get((req.namespace, req.name), {})
    program = programs.get(req.container)
    try:
        if program is None:
            raise ProgramNotFound(req.command[0])
        result: ExecResult = await program(req.namespace, req.name, list(req.command), stdin)
    except ProgramNotFound as exc:
        return Outcome(b"", b"", internal_error(runtime.exec_not_found(exc.program or req.command[0])))
    except Exception as exc:  # a broken program model is an error of the exec, not of the server
        log.exception("exec handler for %s/%s %s failed", req.namespace, req.name, req.container)
        return Outcome(b"", b"", internal_error(f"error executing command in container: {exc}"))
    out, err = result.stdout, result.stderr
    if req.tty:  # one terminal: stderr goes to it too, and the line discipline turns \n into \r\n
        out, err = (out + err).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), b""
    return Outcome(out if req.stdout or req.tty else b"", err if req.stderr else b"",
                   exit_status(req.command, result.exit_code))


def exit_status(argv: list[str], code: int) -> Obj:
    """The Status an exit code gives on the error channel (Success, or NonZeroExitCode with the code)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": runtime.exit_message(argv, code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_error(message: str) -> Obj:
    """apierrors.NewInternalError: the message prefixed, the bare error as the only cause."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def legacy_text(status: Obj) -> bytes:
    """The error channel of the protocols before v4: the message on failure, nothing on success."""
    return b"" if status.get("status") == "Success" else str(status.get("message", "")).encode()
