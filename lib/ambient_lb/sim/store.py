"""The simulator's object store: every API object, its resourceVersion, and the event history.

Who calls it: the API server (``sim/server``) for every REST verb and watch, and the controllers
(``sim/controllers``, ``sim/mesh``) that move state the way a cluster's controllers do.

Rules it keeps (as a real apiserver does):
- ``metadata.resourceVersion`` is a string of one global, monotonically increasing counter.
- ``metadata.generation`` starts at 1 and is bumped whenever anything outside ``metadata`` and
  ``status`` changes.
- Each change is one ``Event`` in a bounded history, so a watch can resume from an old
  resourceVersion, or learn it is too old (``Expired``, which the server answers as 410).
- Objects handed out are the stored dicts themselves: treat them as read-only. Change an object
  with ``update`` (a full replacement) or ``mutate`` (copy, edit, replace).

Listeners (``subscribe``) are called synchronously after each change, in order. A listener must not
change the store from inside the callback; it schedules its work instead (``clock.call_later(0, …)``
or ``loop.call_soon``), which keeps every change a separate, ordered event.
"""

from __future__ import annotations

import builtins
import collections
import copy
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .clock import Clock, to_rfc3339

Obj = dict[str, Any]
log = logging.getLogger("ambient_lb.sim.store")


@dataclass(frozen=True, order=True)
class GR:
    """A group and resource (plural), the store's key for a type: ``GR("apps", "deployments")``."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class Event:
    """One change in the store: ADDED, MODIFIED or DELETED, with the object before and after."""

    type: str  # ADDED | MODIFIED | DELETED
    gr: GR
    obj: Obj  # the object after the change (for DELETED: as it was last)
    old: Obj | None  # the object before the change, None for ADDED
    rv: int


class Expired(Exception):
    """The requested resourceVersion is older than the retained history (HTTP 410 Expired)."""


class StoreError(Exception):
    """A write the store refuses: AlreadyExists, NotFound or Conflict."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # AlreadyExists | NotFound | Conflict


def _spec_part(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    """The objects of every type, with resourceVersions, change history and listeners (what etcd is to the API
    server)."""

    def __init__(self, clock: Clock, rng: random.Random | None = None, history: int = 20_000) -> None:
        self.clock = clock
        self.rng = rng or random.Random(0)
        self._objects: dict[GR, dict[tuple[str, str], Obj]] = collections.defaultdict(dict)
        self._rv = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        self._listeners: list[Callable[[Event], None]] = []
        # types whose deletion some controller completes (the kubelet removes pods after their
        # grace period, the namespace controller removes namespaces); any other object that is
        # being deleted goes as soon as an update leaves it without finalizers, and so does one of
        # these whose grace period is over (0) when its last finalizer goes (``shouldDeleteDuringUpdate``)
        self.graceful: set[GR] = {GR("", "pods"), GR("", "namespaces")}

    # ---- reads -------------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        """The resourceVersion of the last change."""
        return self._rv

    def get(self, gr: GR, namespace: str | None, name: str) -> Obj | None:
        """The stored object, or None."""
        return self._objects[gr].get((namespace or "", name))

    def list(self, gr: GR, namespace: str | None = None,
             where: Callable[[Obj], bool] | None = None) -> list[Obj]:
        """Objects of ``gr`` (in ``namespace`` if given), ordered by namespace and name."""
        items = self._objects[gr]
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        out = [items[k] for k in keys]
        return [o for o in out if where(o)] if where else out

    def types(self) -> Iterable[GR]:
        """The group/resources that have had objects."""
        return list(self._objects)

    def events_since(self, rv: int) -> builtins.list[Event]:
        """Events with resourceVersion > ``rv``; raises ``Expired`` if history no longer reaches back."""
        if rv >= self._rv:
            return []
        if not self._history or self._history[0].rv > rv + 1:
            raise Expired(f"too old resource version: {rv} ({self._history[0].rv - 1 if self._history else self._rv})")
        return [e for e in self._history if e.rv > rv]

    # ---- writes ------------------------------------------------------------------------------
    def new_uid(self) -> str:
        """A new random uid (drawn from the store's seeded rng)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def create(self, gr: GR, obj: Obj) -> Obj:
        """Store a new object; fills uid, resourceVersion, creationTimestamp, generation."""
        md = obj.setdefault("metadata", {})
        key = (md.get("namespace") or "", md["name"])
        if key in self._objects[gr]:
            raise StoreError("AlreadyExists", f'{gr} "{md["name"]}" already exists')
        md.setdefault("uid", self.new_uid())
        md.setdefault("creationTimestamp", to_rfc3339(self.clock.now()))
        md["generation"] = 1
        return self._commit("ADDED", gr, key, obj, None)

    def update(self, gr: GR, obj: Obj, *, check_rv: bool = False) -> Obj:
        """Replace a stored object. With ``check_rv`` a stale resourceVersion raises Conflict."""
        md = obj["metadata"]
        key = (md.get("namespace") or "", md["name"])
        old = self._objects[gr].get(key)
        if old is None:
            raise StoreError("NotFound", f'{gr} "{md["name"]}" not found')
        if check_rv and md.get("resourceVersion") not in (None, "", old["metadata"]["resourceVersion"]):
            raise StoreError("Conflict", f'Operation cannot be fulfilled on {gr} "{md["name"]}": '
                             "the object has been modified; please apply your changes to the latest "
                             "version and try again")
        for k in ("uid", "creationTimestamp"):
            md[k] = old["metadata"][k]
        gen = old["metadata"].get("generation", 1)
        md["generation"] = gen + 1 if _spec_part(obj) != _spec_part(old) else gen
        if obj == old:
            return old
        out = self._commit("MODIFIED", gr, key, obj, old)
        if md.get("deletionTimestamp") and not md.get("finalizers") and (
                gr not in self.graceful or (old["metadata"].get("finalizers") and
                                            md.get("deletionGracePeriodSeconds") == 0)):
            self.remove(gr, key[0], key[1])  # the last finalizer went: the deletion completes
        return out

    def mutate(self, gr: GR, namespace: str | None, name: str, fn: Callable[[Obj], Any]) -> Obj | None:
        """Copy the object, let ``fn`` edit the copy, store it. None if the object is gone."""
        cur = self.get(gr, namespace, name)
        if cur is None:
            return None
        new = copy.deepcopy(cur)
        fn(new)
        if new == cur:
            return cur
        return self.update(gr, new)

    def remove(self, gr: GR, namespace: str | None, name: str) -> Obj | None:
        """Delete for good (no grace, no finalizers: the API layer decides when to call this)."""
        key = (namespace or "", name)
        old = self._objects[gr].pop(key, None)
        if old is None:
            return None
        self._rv += 1
        gone = copy.copy(old)
        gone["metadata"] = dict(old["metadata"], resourceVersion=str(self._rv))
        ev = Event("DELETED", gr, gone, old, self._rv)
        self._history.append(ev)
        self._emit(ev)
        return gone

    # ---- listeners ---------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``fn(event)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _commit(self, kind: str, gr: GR, key: tuple[str, str], obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[gr][key] = obj
        ev = Event(kind, gr, obj, old, self._rv)
        self._history.append(ev)
        self._emit(ev)
        return obj

    def _emit(self, ev: Event) -> None:
        # one failing listener must neither stop the others (watches would miss the event) nor
        # fail the write that already happened; the failure is logged with its traceback
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:
                log.exception("store listener %r failed on %s %s", fn, ev.type, ev.gr)

    def __iter__(self) -> Iterator[tuple[GR, Obj]]:
        for gr, objs in self._objects.items():
            for o in objs.values():
                yield gr, o
