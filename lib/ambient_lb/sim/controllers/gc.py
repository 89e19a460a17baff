"""Garbage collection: dependents go when their owners go (ownerReferences, by uid).

Who calls it: started by ``all_controllers``; the API server may call
``cluster.extensions["gc"].orphan(uid)`` before removing an owner deleted with
``propagationPolicy=Orphan`` (or set the ``orphan`` finalizer, as a real API server does).

Policies, as in the real garbage collector:
- Background (the default): once the owner is gone, each dependent loses that owner reference; a
  dependent with no live owner left is deleted (pods gracefully, see ``deletion.py``).
- Orphan: dependents lose the owner reference and stay.
- Foreground: an owner with ``deletionTimestamp`` and the ``foregroundDeletion`` finalizer has its
  dependents deleted first; then the finalizer goes and the owner is removed.
"""

from __future__ import annotations

import collections
from typing import Any

from ..protocols import SimCluster
from ..store import GR
from .deletion import delete_object
from .objects import Obj, meta

Key = tuple[GR, str, str]


def _key(gr: GR, o: Obj) -> Key:
    return gr, meta(o).get("namespace") or "", meta(o)["name"]


def _owner_uids(o: Obj | None) -> set[str]:
    return {r.get("uid") for r in meta(o).get("ownerReferences") or [] if r.get("uid")}


class GarbageCollector:
    """The garbage collector: dependents go when their owners go (ownerReferences, by uid)."""

    name = "garbage-collector"

    def __init__(self) -> None:
        self._by_uid: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = collections.defaultdict(set)
        self._orphan: set[str] = set()

    def start(self, cluster: SimCluster) -> None:
        """Publishes itself as ``cluster.extensions["gc"]``, indexes the stored objects' owners, and listens to the
        store."""
        self.cluster = cluster
        cluster.extensions["gc"] = self
        for gr, obj in list(cluster.store):
            self._index(gr, obj, None)
        cluster.store.subscribe(self._on_event)

    def orphan(self, owner_uid: str) -> None:
        """Keep the dependents of ``owner_uid`` when it is deleted (propagationPolicy=Orphan)."""
        self._orphan.add(owner_uid)

    def dependents(self, owner_uid: str) -> list[Key]:
        """The keys of the objects that name owner_uid in their ownerReferences, sorted."""
        return sorted(self._dependents.get(owner_uid, ()))

    # ---- indexing ---------------------------------------------------------------------------
    def _index(self, gr: GR, obj: Obj, old: Obj | None) -> None:
        key = _key(gr, obj)
        self._by_uid[meta(obj).get("uid", "")] = key
        for u in _owner_uids(old) - _owner_uids(obj):
            self._dependents[u].discard(key)
        for u in _owner_uids(obj):
            self._dependents[u].add(key)

    def _on_event(self, ev: Any) -> None:
        if ev.type == "DELETED":
            self._forget(ev.gr, ev.obj)
            return
        self._index(ev.gr, ev.obj, ev.old)
        fins = meta(ev.obj).get("finalizers") or []
        if meta(ev.obj).get("deletionTimestamp") and ("orphan" in fins or "foregroundDeletion" in fins):
            self.cluster.clock.call_later(0, self._finalize, ev.gr, _key(ev.gr, ev.obj))
        elif ev.type == "ADDED" and _owner_uids(ev.obj):
            self.cluster.clock.call_later(0, self._check_dangling, _key(ev.gr, ev.obj))

    def _forget(self, gr: GR, obj: Obj) -> None:
        u = meta(obj).get("uid", "")
        if self._by_uid.get(u) == _key(gr, obj):
            del self._by_uid[u]
        for o in _owner_uids(obj):
            self._dependents[o].discard(_key(gr, obj))
            if o in self._by_uid:  # a foreground-deleting owner may now be free to go
                self.cluster.clock.call_later(0, self._finalize, *self._by_uid[o][:1], self._by_uid[o])
        deps = self._dependents.pop(u, set())
        orphan = u in self._orphan
        self._orphan.discard(u)
        for dep in sorted(deps):
            self.cluster.clock.call_later(0, self._release if orphan else self._collect, dep, u)

    # ---- actions (scheduled, never inside a listener) ---------------------------------------
    def _get(self, key: Key) -> Obj | None:
        return self.cluster.store.get(key[0], key[1] or None, key[2])

    def _release(self, key: Key, owner_uid: str) -> None:
        def strip(o: Obj) -> None:
            refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
            if refs:
                o["metadata"]["ownerReferences"] = refs
            else:
                o["metadata"].pop("ownerReferences", None)
        self.cluster.store.mutate(key[0], key[1] or None, key[2], strip)

    def _collect(self, key: Key, owner_uid: str) -> None:
        obj = self._get(key)
        if obj is None:
            return
        live = [u for u in _owner_uids(obj) if u != owner_uid and u in self._by_uid]
        if live:
            self._release(key, owner_uid)
        else:
            delete_object(self.cluster, key[0], key[1] or None, key[2])

    def _check_dangling(self, key: Key) -> None:
        obj = self._get(key)
        if obj is not None and _owner_uids(obj) and not any(u in self._by_uid for u in _owner_uids(obj)):
            delete_object(self.cluster, key[0], key[1] or None, key[2])

    def _finalize(self, gr: GR, key: Key) -> None:
        owner = self._get(key)
        if owner is None or not meta(owner).get("deletionTimestamp"):
            return
        u, fins = meta(owner)["uid"], meta(owner).get("finalizers") or []
        deps = [d for d in self.dependents(u) if self._get(d) is not None]
        if "orphan" in fins:
            for dep in deps:
                self._release(dep, u)
            self._drop_finalizer(key, "orphan")
        elif "foregroundDeletion" in fins:
            for dep in deps:
                delete_object(self.cluster, dep[0], dep[1] or None, dep[2])
            if not deps:
                self._drop_finalizer(key, "foregroundDeletion")

    def _drop_finalizer(self, key: Key, fin: str) -> None:
        obj = self.cluster.store.mutate(key[0], key[1] or None, key[2], lambda o: o["metadata"].__setitem__(
            "finalizers", [f for f in o["metadata"].get("finalizers") or [] if f != fin]))
        if obj is not None and not meta(obj).get("finalizers"):
            self.cluster.store.remove(key[0], key[1] or None, key[2])
