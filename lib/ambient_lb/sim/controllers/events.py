"""Events: the story ``kubectl describe`` and ``kubectl get events`` tell.

Who calls it: every controller, through ``cluster.extensions["events"]`` (an ``EventRecorder``), with
the object the event is about, a type (Normal/Warning), a reason, a message and the reporting
component (``default-scheduler``, ``kubelet``, ``replicaset-controller``, …).

Events are stored once, as core/v1 Events; the API server serves them as events.k8s.io/v1 too.
Like client-go's recorder, a repeat of the same (object, reason, message, source) raises ``count``
and ``lastTimestamp`` instead of adding an object, and the total is bounded (the oldest go first;
a real cluster expires them after an hour). No events are written into a namespace that is being
deleted (the API server refuses creates there).
"""

from __future__ import annotations

import collections
from typing import Any

from ..clock import to_rfc3339
from ..protocols import SimCluster
from .keys import EVENTS, NAMESPACES
from .objects import Obj, deleting, meta

MAX_EVENTS = 2000


def _involved(obj: Obj, api_version: str, kind: str, field_path: str | None) -> Obj:
    md = meta(obj)
    ref = {"apiVersion": api_version, "kind": kind, "name": md.get("name", ""),
           "namespace": md.get("namespace") or "default", "resourceVersion": md.get("resourceVersion", ""),
           "uid": md.get("uid", "")}
    if not md.get("namespace"):
        ref.pop("namespace")
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Records Events as the components of a cluster do, and keeps at most max_events of them."""

    name = "events"

    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self.max_events = max_events
        self._order: collections.deque[tuple[str, str]] = collections.deque()
        self._by_key: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._key_of: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._seq = 0

    def start(self, cluster: SimCluster) -> None:
        """Publishes the recorder as ``cluster.extensions["events"]`` and listens to the store."""
        self.cluster = cluster
        cluster.extensions["events"] = self
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.type == "DELETED" and ev.gr == EVENTS:
            key = self._key_of.pop((meta(ev.obj).get("namespace", ""), meta(ev.obj).get("name", "")), None)
            if key is not None:
                self._by_key.pop(key, None)

    def record(self, obj: Obj, api_version: str, kind: str, type_: str, reason: str, message: str,
               component: str, *, host: str | None = None, field_path: str | None = None) -> None:
        """Schedule one event about ``obj`` (safe to call from anywhere, listeners included)."""
        snapshot = _involved(obj, api_version, kind, field_path)
        self.cluster.clock.call_later(0, self._write, snapshot, type_, reason, message, component, host)

    def _write(self, ref: Obj, type_: str, reason: str, message: str, component: str, host: str | None) -> None:
        ns = ref.get("namespace") or "default"
        if deleting(self.cluster.store.get(NAMESPACES, None, ns)) or \
                self.cluster.store.get(NAMESPACES, None, ns) is None:
            return
        key = (ref["uid"], ref.get("fieldPath"), reason, message, component)
        now = self.cluster.clock.now()
        if key in self._by_key and self._bump(self._by_key[key], now):
            return
        self._seq += 1
        name = f"{ref['name']}.{int(now * 1e9) + self._seq:x}"
        source = {"component": component, **({"host": host} if host else {})}
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
              "involvedObject": ref, "reason": reason, "message": message, "source": source,
              "firstTimestamp": to_rfc3339(now), "lastTimestamp": to_rfc3339(now), "count": 1,
              "type": type_, "eventTime": None, "reportingComponent": component,
              "reportingInstance": host or ""}
        self.cluster.store.create(EVENTS, ev)
        self._by_key[key] = (ns, name)
        self._key_of[(ns, name)] = key
        self._order.append((ns, name))
        self._trim()

    def _bump(self, where: tuple[str, str], now: float) -> bool:
        def inc(e: Obj) -> None:
            e["count"] = int(e.get("count", 1)) + 1
            e["lastTimestamp"] = to_rfc3339(now)
        return self.cluster.store.mutate(EVENTS, where[0], where[1], inc) is not None

    def _trim(self) -> None:
        while len(self._order) > self.max_events:
            ns, name = self._order.popleft()
            self.cluster.store.remove(EVENTS, ns, name)
