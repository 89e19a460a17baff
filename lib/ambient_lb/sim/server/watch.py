"""Watch streams: chunked JSON lines of ADDED / MODIFIED / DELETED / BOOKMARK / ERROR events.

Who calls it: ``rest.list_`` when the query says ``watch=true`` (or ``True``/``1``). Semantics as in
research §2.6:
- ``resourceVersion`` unset or ``"0"``: synthetic ADDED for every current match first;
  ``N``: every event after N from the store's history, or one ERROR event with a 410 Expired
  Status when the history no longer reaches back that far (the client re-lists).
- a selector turns transitions into ADDED (starts matching) and DELETED (stops matching).
- ``timeoutSeconds`` (wall seconds) ends the stream; without it the stream stays open until the
  client goes away or the server stops (kubectl get -w exits when the stream ends).
- ``allowWatchBookmarks=true``: a BOOKMARK carrying the current resourceVersion every
  ``bookmark_seconds``.
- Table watches (``kubectl get -w``) carry one-row Tables, with column definitions only on the
  first event (apiserver serveWatch).

One ``WatchHub`` (``watch_hub.py``) listens to the store and hands events to the open watches of that type.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..store import Event, Expired
from . import bodies
from .routing import Target
from .state import ServerState, dumps, for_version, table, wants_table
from .status import ApiError
from .watch_hub import Watcher

Obj = dict[str, Any]


def transition(ev: Event, pred: Callable[[Obj], bool] | None) -> tuple[str, Obj] | None:
    """The event a watcher with selector ``pred`` sees for a store event, or None."""
    if pred is None:
        return ev.type, ev.obj
    if ev.type == "ADDED":
        return ("ADDED", ev.obj) if pred(ev.obj) else None
    if ev.type == "DELETED":
        return ("DELETED", ev.obj) if pred(ev.obj) else None
    was, now = ev.old is not None and pred(ev.old), pred(ev.obj)
    if was and now:
        return "MODIFIED", ev.obj
    if now:
        return "ADDED", ev.obj
    if was:
        return "DELETED", ev.obj
    return None


def _start_rv(request: web.Request) -> int | None:
    raw = request.query.get("resourceVersion") or ""
    if raw in ("", "0"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError("BadRequest", f'resourceVersion must be an integer, got "{raw}"; use the '
                       "metadata.resourceVersion of a list, or 0 to start from the current state") from None


class _Encoder:
    """Turns (type, object) into watch-event lines, JSON objects or one-row Tables."""

    def __init__(self, srv: ServerState, request: web.Request, t: Target) -> None:
        self.srv, self.request, self.t = srv, request, t
        self.as_table = wants_table(request)
        self.first = True

    def line(self, kind: str, obj: Obj) -> bytes:
        if self.as_table:
            out: Obj = table(self.srv, self.request, self.t.rt, [obj], with_headers=self.first)
            out["metadata"]["resourceVersion"] = (obj.get("metadata") or {}).get("resourceVersion", "")
            self.first = False
        else:
            out = for_version(self.t.rt, obj, self.t.version)
        return dumps({"type": kind, "object": out})

    def bookmark(self, rv: int) -> bytes:
        obj = {"kind": self.t.rt.kind, "apiVersion": self.t.rt.api_version(self.t.version),
               "metadata": {"resourceVersion": str(rv)}}
        return dumps({"type": "BOOKMARK", "object": obj})


def _expired(message: str) -> bytes:
    status = ApiError("Expired", message).status()
    return dumps({"type": "ERROR", "object": status})


def _backlog(srv: ServerState, t: Target, pred: Any, start: int | None, enc: _Encoder) -> list[bytes]:
    """The lines to send first: synthetic ADDED (no start RV) or the history after ``start``."""
    if start is None:
        return [enc.line("ADDED", o) for o in srv.store.list(t.rt.gr, t.namespace, pred)]
    out = []
    for ev in srv.store.events_since(start):
        if ev.gr != t.rt.gr or (t.namespace and (ev.obj.get("metadata") or {}).get("namespace") != t.namespace):
            continue
        tr = transition(ev, pred)
        if tr:
            out.append(enc.line(*tr))
    return out


async def serve(srv: ServerState, request: web.Request, t: Target, pred: Any) -> web.StreamResponse:
    """A watch: events from the requested resourceVersion on, with bookmarks and a timeout when asked."""
    start = _start_rv(request)
    timeout = bodies.int_param(request, "timeoutSeconds")
    bookmarks = bodies.bool_param(request, "allowWatchBookmarks")
    enc = _Encoder(srv, request, t)
    w = srv.hub.open(t.rt.gr, t.namespace)
    try:
        try:
            closing = srv.faults.take("watch", t.rt.resource, t.namespace, ("watch-close",),
                                      request.headers.get("User-Agent", "")) if srv.faults.rows else None
            if closing is not None and closing.closed and start is not None:  # R19.4: the resume is too late
                raise Expired(f"too old resource version: {start} ({srv.store.resource_version})")
            first = _backlog(srv, t, pred, start, enc)
            if closing is not None:  # R19.4: the server "restarts" under this stream, after its backlog
                closing.closed = True
                timeout = 0
        except Expired as exc:
            first = [_expired(str(exc))]
            timeout = 0
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if first:
            await resp.write(b"".join(first))
        await _pump(srv, resp, w, pred, enc, timeout, bookmarks)
        await resp.write_eof()
        return resp
    except (ConnectionResetError, ConnectionError):
        return web.Response(status=499)  # the client went away; nothing is sent
    finally:
        srv.hub.close(w)


async def _pump(srv: ServerState, resp: web.StreamResponse, w: Watcher, pred: Any, enc: _Encoder,
                timeout: int | None, bookmarks: bool) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    next_mark = time.monotonic() + srv.bookmark_seconds
    while True:
        now = time.monotonic()
        waits = [d - now for d in (deadline, next_mark if bookmarks else None) if d is not None]
        try:
            ev = await asyncio.wait_for(w.queue.get(), timeout=max(0.0, min(waits))) if waits \
                else await w.queue.get()
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                return
            await resp.write(enc.bookmark(srv.store.resource_version))
            next_mark = time.monotonic() + srv.bookmark_seconds
            continue
        if ev is None:
            return
        tr = transition(ev, pred)
        if tr:
            await resp.write(enc.line(*tr))
