"""Subresources: ``status``, ``scale``, pods ``log``, ``proxy``, ``exec``, ``portforward`` and ``attach``.

Who calls it: ``app.py`` when a path has a subresource. ``status`` writes change only ``.status``;
``scale`` speaks ``autoscaling/v1 Scale`` (built-ins, and CRDs that declare a scale subresource);
``log`` serves the container buffers in ``cluster.logs`` (research §3.11) with ``tailLines``,
``sinceSeconds``/``sinceTime``, ``timestamps``, ``limitBytes``, ``previous`` and ``follow`` (a
held-open chunked stream that ends when the pod goes); ``proxy`` forwards to the handler the data
plane registered in ``cluster.pod_ports`` (503 when nothing listens on that port, or only on loopback);
``exec`` and ``portforward`` are the streaming subresources in ``streams/`` (WebSocket and SPDY);
``attach`` is refused with a Status that says what to use instead; serviceaccounts ``token`` is the
TokenRequest (``token_requests.py``, R20.7).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from typing import Any

from aiohttp import web

from .. import selectors
from ..clock import parse_rfc3339
from ..store import GR
from . import bodies, streams, token_requests
from .patching import APPLY, PATCH_TYPES, apply_patch
from .rest import get_or_404
from .routing import Target
from .state import ServerState, json_response, respond_object
from .status import ApiError, method_not_allowed, unsupported_media_type
from .writes import check_rv, commit_update, field_manager, prepare_update

Obj = dict[str, Any]
POD_GR = GR("", "pods")


# ---- status ---------------------------------------------------------------------------------------
async def status(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``/status``: GET, or PUT/PATCH of the status alone (the rest of the object stays)."""
    old = get_or_404(srv, t)
    if request.method == "GET":
        return respond_object(srv, request, t, old)
    body = await bodies.read(request)
    if request.method == "PUT":
        check_rv(t, old, body)
        new_body = body
    elif request.method == "PATCH":
        ctype = bodies.media_type(request)
        if ctype not in PATCH_TYPES or ctype == APPLY:
            raise unsupported_media_type(ctype, ", application/json-patch+json, application/merge-patch+json, "
                                         "application/strategic-merge-patch+json")
        new_body = apply_patch(t, ctype, old, body)
    else:
        raise method_not_allowed(request.method, f"{t.rt.resource}/status")
    new, warnings = prepare_update(srv, request, t, old, new_body, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, new, 200, warnings)
    return respond_object(srv, request, t, commit_update(srv, t.rt, new), 200, warnings)


# ---- scale ----------------------------------------------------------------------------------------
def _scale_paths(srv: ServerState, t: Target) -> tuple[str, str, str | None]:
    """(spec replicas path, status replicas path, label selector path) as dotted paths."""
    crd = srv.crd_for(t.rt)
    if crd is None:
        return "spec.replicas", "status.replicas", None
    for v in (crd.get("spec") or {}).get("versions") or []:
        sc = ((v.get("subresources") or {}).get("scale")) if v.get("name") == t.version else None
        if sc:
            return (sc["specReplicasPath"].lstrip("."), sc["statusReplicasPath"].lstrip("."),
                    (sc.get("labelSelectorPath") or "").lstrip(".") or None)
    raise ApiError("NotFound", "the server could not find the requested resource")


def _dig(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for p in path.split("."):
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur


def _put(obj: Obj, path: str, value: Any) -> None:
    *head, last = path.split(".")
    cur = obj
    for p in head:
        cur = cur.setdefault(p, {})
    cur[last] = value


def _scale_of(srv: ServerState, t: Target, obj: Obj) -> Obj:
    spec_p, status_p, sel_p = _scale_paths(srv, t)
    md = obj["metadata"]
    if sel_p:
        sel = _dig(obj, sel_p) or ""
    else:
        raw = (obj.get("spec") or {}).get("selector") or {}
        # a LabelSelector (apps/v1), or a ReplicationController's plain map (R16.20), as a string (R18.5)
        is_label_selector = "matchLabels" in raw or "matchExpressions" in raw
        sel = selectors.to_string(raw) if is_label_selector else str(selectors.from_set(raw))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in md},
            "spec": {"replicas": int(_dig(obj, spec_p) or 0)},
            "status": {"replicas": int(_dig(obj, status_p) or 0), "selector": sel}}


async def scale(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``/scale``: GET, or PUT/PATCH of spec.replicas through a Scale object."""
    obj = get_or_404(srv, t)
    current = _scale_of(srv, t, obj)
    if request.method == "GET":
        return json_response(current)
    body = await bodies.read(request)
    if request.method == "PUT":
        check_rv(t, obj, body)
        wanted = body
    elif request.method == "PATCH":
        ctype = bodies.media_type(request)
        if ctype not in PATCH_TYPES or ctype == APPLY:
            raise unsupported_media_type(ctype, ", application/merge-patch+json, application/json-patch+json")
        wanted = apply_patch(Target(t.rt, t.version, t.namespace, t.name), ctype, current, body)
    else:
        raise method_not_allowed(request.method, f"{t.rt.resource}/scale")
    replicas = ((wanted or {}).get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError("Invalid", f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: Invalid value: '
                       f"{replicas!r}: must be greater than or equal to 0", details={"name": t.name, "kind": "Scale"})
    new = copy.deepcopy(obj)
    _put(new, _scale_paths(srv, t)[0], replicas)
    main = Target(t.rt, t.version, t.namespace, t.name)
    new, _ = prepare_update(srv, request, main, obj, new, field_manager(request))
    if bodies.dry_run(request):
        return json_response(_scale_of(srv, t, new))
    return json_response(_scale_of(srv, t, commit_update(srv, t.rt, new)))


# ---- log ------------------------------------------------------------------------------------------
def _container(obj: Obj, wanted: str | None) -> str:
    spec, md = obj.get("spec") or {}, obj["metadata"]
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
             + (spec.get("ephemeralContainers") or [])]
    if wanted:
        if wanted not in names:
            raise ApiError("BadRequest", f"container {wanted} is not valid for pod {md['name']}")
        return wanted
    default = (md.get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    main = [c.get("name") for c in spec.get("containers") or []]
    if isinstance(default, str) and default in main:
        return default
    if len(main) == 1:
        return main[0]
    raise ApiError("BadRequest", f"a container name must be specified for pod {md['name']}, choose one of: "
                   f"[{' '.join(main)}]")


def _check_running(obj: Obj, container: str, previous: bool) -> None:
    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        if previous and not cs.get("restartCount"):
            raise ApiError("BadRequest", f'previous terminated container "{container}" in pod '
                           f'"{obj["metadata"]["name"]}" not found')
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and not cs.get("restartCount"):
            raise ApiError("BadRequest", f'container "{container}" in pod "{obj["metadata"]["name"]}" is '
                           f"waiting to start: {waiting.get('reason') or 'ContainerCreating'}")


def _stamp(epoch: float) -> str:
    d = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond * 1000:09d}Z"


class _LogOptions:
    def __init__(self, srv: ServerState, request: web.Request) -> None:
        self.tail = bodies.int_param(request, "tailLines")
        self.limit = bodies.int_param(request, "limitBytes")
        since = bodies.int_param(request, "sinceSeconds")
        self.since: float | None = None if since is None else srv.cluster.clock.now() - since
        if request.query.get("sinceTime"):
            try:
                self.since = parse_rfc3339(request.query["sinceTime"])
            except ValueError:
                raise ApiError("BadRequest", f'sinceTime must be RFC3339, e.g. 2025-03-19T17:32:42Z, got '
                               f'"{request.query["sinceTime"]}"') from None
        self.timestamps = bodies.bool_param(request, "timestamps")
        self.follow = bodies.bool_param(request, "follow")
        self.previous = bodies.bool_param(request, "previous")
        for name, v in (("tailLines", self.tail), ("limitBytes", self.limit), ("sinceSeconds", since)):
            if v is not None and v < (1 if name != "tailLines" else 0):
                raise ApiError("BadRequest", f"{name} must be {'>= 0' if name == 'tailLines' else '> 0'}, got {v}")

    def render(self, line: tuple[float, str]) -> bytes:
        text = f"{_stamp(line[0])} {line[1]}" if self.timestamps else line[1]
        return (text + "\n").encode()


async def log(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``pods/log``: a container's log (previous, tail, since, timestamps), or followed as it grows."""
    if request.method != "GET":
        raise method_not_allowed(request.method, "pods/log")
    obj = get_or_404(srv, t)
    opts = _LogOptions(srv, request)
    container = _container(obj, request.query.get("container"))
    _check_running(obj, container, opts.previous)
    lines = [] if opts.previous else srv.cluster.logs.read(t.namespace or "", t.name or "", container)
    if opts.since is not None:
        lines = [ln for ln in lines if ln[0] >= opts.since]
    if opts.tail is not None:
        lines = lines[-opts.tail:] if opts.tail else []
    body = b"".join(opts.render(ln) for ln in lines)
    if opts.limit is not None:
        body = body[: opts.limit]
    if not opts.follow or opts.previous:
        return web.Response(body=body, content_type="text/plain")
    return await _follow(srv, request, t, container, opts, body)


async def _follow(srv: ServerState, request: web.Request, t: Target, container: str, opts: _LogOptions,
                  first: bytes) -> web.StreamResponse:
    """Stream new lines until the pod is deleted, the byte limit is reached or the client goes."""
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    ns, name = t.namespace or "", t.name or ""
    stop_follow = srv.cluster.logs.follow(ns, name, container, queue.put_nowait)
    stop_watch = srv.store.subscribe(
        lambda ev: queue.put_nowait(None) if ev.gr == POD_GR and ev.type == "DELETED"
        and ev.obj["metadata"].get("namespace") == ns and ev.obj["metadata"]["name"] == name else None)
    sent = len(first)
    try:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if first:
            await resp.write(first)
        while opts.limit is None or sent < opts.limit:
            line = await queue.get()
            if line is None:
                break
            chunk = opts.render(line)
            if opts.limit is not None:
                chunk = chunk[: opts.limit - sent]
            sent += len(chunk)
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    except (ConnectionResetError, ConnectionError):
        return web.Response(status=499)
    finally:
        stop_follow()
        stop_watch()


# ---- proxy ----------------------------------------------------------------------------------------
def _proxy_port(obj: Obj, name_part: str) -> tuple[str, int]:
    """``web``, ``web:15000`` or ``http:web:15000`` → (pod name, port); default the first container port."""
    parts = name_part.split(":")
    name = parts[1] if len(parts) == 3 else parts[0]
    port_s = parts[-1] if len(parts) >= 2 else ""
    if port_s:
        if port_s.isdigit():
            return name, int(port_s)
        for c in (obj.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == port_s:
                    return name, int(p["containerPort"])
        raise ApiError("BadRequest", f'no port named "{port_s}" on pod "{name}"; use a number, e.g. {name}:15000')
    for c in (obj.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            return name, int(p["containerPort"])
    return name, 80


async def proxy(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``pods/proxy``: an HTTP request to a pod's port."""
    if t.rt.kind != "Pod":
        raise ApiError("ServiceUnavailable", f"the simulator proxies only to pods, not to {t.rt.resource}; "
                       "use /api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>")
    pod_name = (t.name or "").split(":")[1] if (t.name or "").count(":") == 2 else (t.name or "").split(":")[0]
    obj = get_or_404(srv, Target(t.rt, t.version, t.namespace, pod_name))
    name, port = _proxy_port(obj, t.name or "")
    body = await request.read()
    query = {k: v for k, v in request.query.items()}
    answer = await srv.cluster.proxy(t.namespace or "", name, port, request.method, "/" + t.rest, query, body)
    if answer is None:
        ip = (obj.get("status") or {}).get("podIP") or "<none>"
        raise ApiError("ServiceUnavailable", f"error trying to reach service: dial tcp {ip}:{port}: "
                       "connect: connection refused")
    code, ctype, data = answer
    return web.Response(status=code, body=data, headers={"Content-Type": ctype})


# ---- attach: nothing to attach to (R15.17) --------------------------------------------------------
ATTACH = ("kubectl attach is not supported by the ambient-lb cluster-in-a-box: its containers are "
          "models, not processes with a terminal to attach to; read what they print with kubectl logs -f, "
          "or run a command in them with kubectl exec")


async def attach(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``pods/attach``: 400, attach is not modelled (the message says what to use instead)."""
    get_or_404(srv, Target(t.rt, t.version, t.namespace, t.name))
    raise ApiError("BadRequest", ATTACH)


HANDLERS = {"status": status, "scale": scale, "log": log, "proxy": proxy, "attach": attach,
            "exec": streams.exec_, "portforward": streams.portforward, "token": token_requests.token}
