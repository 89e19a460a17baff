"""The API server's shared state and the helpers every handler uses to answer.

Who calls it: ``app.py`` builds one ``ServerState`` per server; ``rest.py``, ``watch.py`` and
``subresources.py`` take it as their first argument. Answers are negotiated here: a Table when
kubectl asks ``as=Table`` (research §2.5), JSON otherwise, with the object's ``apiVersion`` set to
the version the client addressed.
"""

from __future__ import annotations

import collections
import copy
import importlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..clock import parse_rfc3339, to_rfc3339
from ..cluster import Cluster
from ..protocols import ObjectStore
from ..resources import ResourceType
from ..store import GR
from . import encoding
from .api_faults import Faults
from .defaults import Allocator
from .responses import json_response  # noqa: F401  (re-exported: handlers import it from here)
from .routing import Target
from .status import ApiError
from .watch_hub import WatchHub

Obj = dict[str, Any]
CRD_GR = GR("apiextensions.k8s.io", "customresourcedefinitions")


def dumps(obj: Any) -> bytes:
    """A compact JSON body as the API server writes it (newline-terminated, R16.8)."""
    return encoding.compact(obj)


def engine(name: str) -> Any:
    """``ambient_lb.sim.patch`` or ``.tables``; a clear 500 if that part is not built yet."""
    try:
        return importlib.import_module(f"ambient_lb.sim.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"ambient_lb.sim.{name}":
            raise
        raise ApiError("InternalError", f"the simulator's {name} engine (ambient_lb.sim.{name}) is "
                       "not installed in this build") from None


@dataclass
class ServerState:
    """What the API server's handlers share: the cluster, the token, watch settings and request timings."""

    cluster: Cluster
    token: str | None = None
    bookmark_seconds: float = 10.0  # wall seconds between BOOKMARKs on watches that allow them
    # (method, path, seconds) of recent requests, server side (handler time, streams included)
    timings: collections.deque[tuple[str, str, float]] = field(
        default_factory=lambda: collections.deque(maxlen=20_000))
    allocator: Allocator = field(init=False)
    hub: WatchHub = field(init=False)
    faults: Faults = field(init=False)  # drills only; empty unless asked (api_faults.py, §19)

    def __post_init__(self) -> None:
        self.allocator = Allocator(self.cluster.store, self.cluster.rng)
        self.hub = WatchHub(self.cluster.store)
        self.faults = Faults()
        self.faults.on_watch_close.append(
            lambda f: self.hub.close_where(lambda w: f.matches("watch", w.gr.resource, w.namespace)))
        self.faults.open_watches = self.hub.count

    @property
    def store(self) -> ObjectStore:
        """The cluster's object store."""
        return self.cluster.store

    def now(self) -> str:
        """The simulated time as an RFC 3339 timestamp."""
        return to_rfc3339(self.cluster.clock.now())

    def crd_for(self, rt: ResourceType) -> Obj | None:
        """The stored CustomResourceDefinition of a CRD-defined type (else the one it was registered with), or None."""
        if rt.crd is None:
            return None
        return self.store.get(CRD_GR, None, f"{rt.resource}.{rt.group}") or rt.crd


def for_version(rt: ResourceType, obj: Obj, version: str) -> Obj:
    """The object as the client addressed it (a CRD's other served version: same body, its apiVersion)."""
    want = rt.api_version(version)
    if obj.get("apiVersion") == want:
        return obj
    out = dict(obj)
    out["apiVersion"] = want
    return out


def wants_table(request: web.Request) -> bool:
    """True when the client asks for a Table (``Accept: ...;as=Table``)."""
    return "as=Table" in (request.headers.get("Accept") or "")


def include_object(request: web.Request) -> str:
    """The ``includeObject`` parameter of a Table request; 400 for a value other than None, Metadata or Object."""
    v = request.query.get("includeObject") or "Metadata"
    if v not in ("None", "Metadata", "Object"):
        raise ApiError("BadRequest", f'includeObject must be one of "None", "Metadata" or "Object", got "{v}"')
    return v


def _to_table() -> Any:
    try:
        return engine("tables").to_table
    except (ApiError, AttributeError):
        return basic_table  # the printers are not built yet: NAME and AGE, as kubectl's own fallback


def table(srv: ServerState, request: web.Request, rt: ResourceType, objs: list[Obj],
          with_headers: bool = True) -> Obj:
    """The objects as a Table (as kubectl get shows them), with the store's resourceVersion."""
    t = _to_table()(rt, objs, now=srv.cluster.clock.now(), include_object=include_object(request),
                    with_headers=with_headers)
    t.setdefault("metadata", {})["resourceVersion"] = str(srv.store.resource_version)
    return t


def _age(now: float, stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    s = max(0, int(now - parse_rfc3339(stamp)))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h" if s < 172800 else f"{s // 86400}d"


def basic_table(rt: ResourceType, objs: list[Obj], *, now: float, include_object: str = "Metadata",
                with_headers: bool = True) -> Obj:
    """A NAME/AGE Table, used only while ``sim.tables`` is missing."""
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}]
    rows = []
    for o in objs:
        md = o.get("metadata") or {}
        row: Obj = {"cells": [md.get("name"), _age(now, md.get("creationTimestamp"))]}
        if include_object == "Object":
            row["object"] = o
        elif include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": cols if with_headers else [], "rows": rows}


def respond_object(srv: ServerState, request: web.Request, target: Target, obj: Obj,
                   status: int = 200, warnings: list[str] | None = None) -> web.Response:
    """The object in the target's version (or as a Table when asked), with any warnings as Warning headers."""
    headers = {"Warning": ", ".join('299 - "' + w.replace('\\', '\\\\').replace('"', '\\"') + '"'
                                    for w in warnings)} if warnings else None
    if wants_table(request) and status == 200 and request.method == "GET":
        return json_response(table(srv, request, target.rt, [obj]), status, headers)
    return json_response(for_version(target.rt, obj, target.version), status, headers)


def list_body(srv: ServerState, target: Target, items: list[Obj]) -> Obj:
    """A list of objects in the target's version, with the store's resourceVersion."""
    return {"kind": target.kind_list, "apiVersion": target.rt.api_version(target.version),
            "metadata": {"resourceVersion": str(srv.store.resource_version)},
            "items": [for_version(target.rt, o, target.version) for o in items]}


def deep(obj: Obj) -> Obj:
    """A deep copy of the object."""
    return copy.deepcopy(obj)
