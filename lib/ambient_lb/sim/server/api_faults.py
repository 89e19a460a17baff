"""API faults for drills: the API server misbehaving on purpose, the way real ones do (§19).

Who calls it: ``app.py`` mounts the ``api_faults`` middleware (after authentication, so a request
without the token still gets its 401) and the admin endpoint ``/ambient-lb/faults``; ``sim/cli.py``
(``ambient-lb sim fault add | list | clear``) and the drills (``tests/drills/``) drive that endpoint
with the kubeconfig's token, as any client would. Nothing is injected unless asked: the table is
empty at start, and every fault ends after its ``seconds`` (wall time) or its ``count`` of requests.

A fault is a row of :data:`KINDS`, scoped by verb, resource, namespace and (for a drill that aims at
one client) a part of the User-Agent:

| kind | what the matching request gets | the real-world cause | rule |
| --- | --- | --- | --- |
| ``error`` | a 5xx Status, or 429 as plain text with ``Retry-After`` | overload, APF, etcd trouble | R19.1, R19.2 |
| ``latency`` | its answer, ``delaySeconds`` late | a slow or distant API server | R19.5 |
| ``reset`` | the TCP connection reset, no answer | a load balancer or a restarting server | R19.3 |
| ``pause`` | no answer until the fault ends (the client times out first) | a hung API server | R19.5 |
| ``watch-close`` | open watches of the scope end now, a new one ends after its first events, and a resume after such an end gets 410 Expired (so ``count: 2`` is one close and one 410) | an API server restart, etcd compaction | R19.4 |

The admin endpoint answers JSON: ``GET`` lists the active faults, ``POST`` adds one (the body is a
fault, see :func:`parse`; 422 with the field and an example when it is wrong), ``DELETE`` clears
them all, ``DELETE /ambient-lb/faults/<id>`` one. A real API server has no such path (404).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import authn
from .responses import json_response
from .routing import parse as parse_path
from .status import ApiError

PATH = "/ambient-lb/faults"
EXAMPLE = ('{"kind": "error", "status": 503, "retryAfterSeconds": 1, "verbs": ["list"], '
           '"resources": ["pods"], "count": 3, "seconds": 30}')

# kind -> the fields it takes beyond the scope (verbs, resources, namespace, count, seconds)
KINDS: dict[str, tuple[str, ...]] = {
    "error": ("status", "retryAfterSeconds"),
    "latency": ("delaySeconds",),
    "reset": (),
    "pause": (),
    "watch-close": (),
}
# status -> (reason, message) as the API server words it (R19.1, R19.2)
ERRORS: dict[int, tuple[str, str]] = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: the simulator's drill injected this error"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may still be "
                     "processing the request"),
}
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
MAX_SECONDS = 3600.0
_ids = itertools.count(1)


@dataclass(kw_only=True)
class Fault:
    """One injected fault: its kind, its scope, and how long or how often it applies."""

    kind: str
    verbs: frozenset[str] = frozenset()      # empty: every verb
    resources: frozenset[str] = frozenset()  # plural names, ``pods`` or ``pods/log``; empty: every path
    namespace: str | None = None
    user_agent: str | None = None            # only clients whose User-Agent contains this (``kubectl``)
    count: int | None = None                 # at most this many requests, then the fault is gone
    seconds: float = 60.0                    # wall seconds from now
    status: int = 503
    retry_after: int | None = None
    delay: float = 0.0
    id: str = field(default_factory=lambda: f"f{next(_ids)}")
    hits: int = 0
    ends: float = 0.0
    closed: bool = False  # watch-close: it has ended a stream, so resumes now get 410 (R19.4)

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.seconds

    def live(self) -> bool:
        """Still in force: its time has not run out and it has requests left."""
        return time.monotonic() < self.ends and (self.count is None or self.hits < self.count)

    def matches(self, verb: str, resource: str, namespace: str | None, user_agent: str = "") -> bool:
        """The request is in this fault's scope (every scope field left empty matches anything)."""
        return ((not self.verbs or verb in self.verbs)
                and (not self.resources or resource in self.resources or resource.split("/")[0] in self.resources)
                and (self.namespace is None or self.namespace == namespace)
                and (self.user_agent is None or self.user_agent.lower() in user_agent.lower()))

    def to_dict(self) -> dict[str, Any]:
        """The fault as the endpoint shows it (its JSON field names, hits and seconds left)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "verbs": sorted(self.verbs),
                               "resources": sorted(self.resources), "namespace": self.namespace,
                               "userAgent": self.user_agent,
                               "count": self.count, "hits": self.hits,
                               "secondsLeft": round(max(0.0, self.ends - time.monotonic()), 1)}
        if self.kind == "error":
            out.update(status=self.status, retryAfterSeconds=self.retry_after)
        if self.kind == "latency":
            out["delaySeconds"] = self.delay
        return out


def _invalid(field_name: str, value: Any, why: str) -> ApiError:
    return ApiError("Invalid", f"fault.{field_name}: Invalid value: {value!r}: {why}; for example {EXAMPLE}",
                    details={"kind": "fault", "causes": [{"reason": "FieldValueInvalid", "field": field_name,
                                                          "message": why}]})


def _number(body: dict[str, Any], key: str, default: float | None, low: float, high: float) -> float | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _invalid(key, value, f"must be a number from {low:g} to {high:g}")
    return float(value)


def _names(body: dict[str, Any], key: str, allowed: tuple[str, ...] | None) -> frozenset[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _invalid(key, value, "must be a list of names")
    bad = [v for v in value if allowed is not None and v not in allowed]
    if bad:
        raise _invalid(key, bad, f"must be among {', '.join(allowed or ())}")
    return frozenset(value)


def parse(body: Any) -> Fault:
    """A fault from its JSON form; ``ApiError`` 422 naming the field, what is wrong, and an example."""
    if not isinstance(body, dict):
        raise _invalid("", body, "must be a JSON object")
    kind = body.get("kind")
    if kind not in KINDS:
        raise _invalid("kind", kind, f"must be one of {', '.join(KINDS)}")
    known = {"kind", "verbs", "resources", "namespace", "userAgent", "count", "seconds", *KINDS[kind]}
    extra = sorted(set(body) - known)
    if extra:
        raise _invalid(extra[0], body[extra[0]], f"is not a field of a {kind} fault (it takes "
                                                  f"{', '.join(sorted(known))})")
    namespace = body.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise _invalid("namespace", namespace, "must be a namespace name")
    agent = body.get("userAgent")
    if agent is not None and (not isinstance(agent, str) or not agent):
        raise _invalid("userAgent", agent, "must be part of a User-Agent, e.g. kubectl or OpenAPI-Generator")
    count = _number(body, "count", None, 1, 1_000_000)
    fault = Fault(kind=kind, verbs=_names(body, "verbs", VERBS), resources=_names(body, "resources", None),
                  namespace=namespace, user_agent=agent, count=int(count) if count is not None else None,
                  seconds=float(_number(body, "seconds", 60.0, 0.1, MAX_SECONDS) or 60.0))
    if kind == "error":
        status = body.get("status", 503)
        if status not in ERRORS:
            raise _invalid("status", status, f"must be one of {', '.join(map(str, ERRORS))}")
        fault.status = int(status)
        after = _number(body, "retryAfterSeconds", 1 if status == 429 else None, 0, 600)
        fault.retry_after = int(after) if after is not None else None
    if kind == "latency":
        fault.delay = float(_number(body, "delaySeconds", None, 0.001, 600) or 0)
        if not fault.delay:
            raise _invalid("delaySeconds", None, "is required for a latency fault")
    return fault


class Faults:
    """The active faults of one API server, newest last; the first live match applies."""

    def __init__(self) -> None:
        self.rows: list[Fault] = []
        self.on_watch_close: list[Callable[[Fault], int]] = []  # ends the open watches a fault selects
        self.open_watches: Callable[[], int] = lambda: 0

    def add(self, fault: Fault) -> Fault:
        """Put a fault in force (a watch-close one also ends the open watches of its scope at once)."""
        self.rows.append(fault)
        if fault.kind == "watch-close":
            for fn in self.on_watch_close:
                fault.closed = bool(fn(fault)) or fault.closed
        return fault

    def active(self) -> list[Fault]:
        """The faults still in force, forgetting the ones that ended."""
        self.rows = [f for f in self.rows if f.live()]
        return self.rows

    def take(self, verb: str, resource: str, namespace: str | None, kinds: tuple[str, ...],
             user_agent: str = "") -> Fault | None:
        """The live fault of one of ``kinds`` that applies to this request, counted as a hit."""
        for f in self.active():
            if f.kind in kinds and f.matches(verb, resource, namespace, user_agent):
                f.hits += 1
                return f
        return None

    def remove(self, fault_id: str | None = None) -> int:
        """Remove one fault (by id) or all; how many went."""
        before = len(self.rows)
        self.rows = [f for f in self.rows if fault_id is not None and f.id != fault_id]
        return before - len(self.rows)


def request_scope(request: web.Request, registry: Any) -> tuple[str, str, str | None] | None:
    """(verb, resource, namespace) of an API request, as RBAC would name them; None for other paths."""
    if not request.path.startswith(("/api/", "/apis/")):
        return None
    try:
        t = parse_path(registry, request.path)
    except ApiError:
        return None
    resource = t.rt.resource + (f"/{t.sub}" if t.sub else "")
    return authn.request_verb(request.method, bool(t.name), authn.watching(request)), resource, t.namespace


def error_response(fault: Fault) -> web.Response:
    """R19.1/R19.2: 429 is the max-in-flight / APF filter's plain-text answer with ``Retry-After``;
    5xx are Status objects (``Retry-After`` too when the fault sets one)."""
    reason, message = ERRORS[fault.status]
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 429:
        return web.Response(status=429, text=message + "\n", content_type="text/plain", charset="utf-8",
                            headers={**headers, "X-Content-Type-Options": "nosniff"})
    details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after else None
    return json_response(ApiError(reason, message, details=details, code=fault.status).status(), fault.status,
                         headers=headers)


def reset(request: web.Request) -> None:
    """R19.3: close the connection with a TCP RST (SO_LINGER 0), so the client sees ECONNRESET."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(faults_of: Callable[[web.Request], Faults], registry_of: Callable[[web.Request], Any]) -> Any:
    """The aiohttp middleware that applies the first live fault matching each API request."""

    @web.middleware
    async def api_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults = faults_of(request)
        if not faults.rows or request.path.startswith(PATH):
            return await handler(request)
        scope = request_scope(request, registry_of(request))
        if scope is None:
            return await handler(request)
        verb, resource, namespace = scope
        fault = faults.take(verb, resource, namespace, ("error", "reset", "pause", "latency"),
                            request.headers.get("User-Agent", ""))
        if fault is None:
            return await handler(request)
        if fault.kind == "error":
            return error_response(fault)
        if fault.kind == "reset":
            reset(request)
            raise asyncio.CancelledError()  # nothing more is written on this connection
        if fault.kind == "pause":  # no answer while the fault lasts; the client's timeout ends it first
            await asyncio.sleep(max(0.0, fault.ends - time.monotonic()))
        else:
            await asyncio.sleep(fault.delay)
        return await handler(request)

    return api_faults


async def admin(request: web.Request, faults: Faults) -> web.StreamResponse:
    """``GET|POST|DELETE /ambient-lb/faults[/<id>]`` (see the module docstring)."""
    fault_id = request.match_info.get("id") or None
    if request.method == "GET" and fault_id is None:
        return json_response({"faults": [f.to_dict() for f in faults.active()], "openWatches": faults.open_watches()})
    if request.method == "POST" and fault_id is None:
        try:
            body = await request.json()
        except ValueError:
            raise _invalid("", "(not JSON)", "the body must be a JSON object") from None
        return json_response(faults.add(parse(body)).to_dict(), 201)
    if request.method == "DELETE":
        removed = faults.remove(fault_id)
        if fault_id is not None and not removed:
            raise ApiError("NotFound", f"fault {fault_id!r} not found; GET {PATH} lists the active ones")
        return json_response({"removed": removed})
    raise ApiError("MethodNotAllowed", f"{request.method} is not supported on {request.path}; use GET, POST "
                   "or DELETE", code=405)
