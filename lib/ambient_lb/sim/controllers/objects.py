"""Readers of API objects and the status helpers controllers write with: metadata, conditions,
copies, and ``edit_status`` for cheap status-only writes.

Who calls it: every module of ``sim/controllers``. Store objects are read-only (``sim/store.py``):
the readers never change them; writes go through ``store.create`` / ``store.mutate`` /
``edit_status`` from a queue flush, never from inside a store listener.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from ..clock import to_rfc3339
from ..protocols import Clock, ObjectStore, SimCluster
from ..store import GR
from .keys import NAMESPACES

Obj = dict[str, Any]

T = TypeVar("T")


def meta(o: Obj | None) -> Obj:
    """The object's metadata ({} when it has none)."""
    return (o or {}).get("metadata") or {}


def labels(o: Obj | None) -> dict[str, str]:
    """The object's labels ({} when it has none)."""
    return meta(o).get("labels") or {}


def annotations_of(o: Obj | None) -> dict[str, str]:
    """The object's annotations ({} when it has none); named apart from the ``__future__`` import."""
    return meta(o).get("annotations") or {}


def uid(o: Obj | None) -> str:
    """The object's uid, or ""."""
    return meta(o).get("uid", "")


def deleting(o: Obj | None) -> bool:
    """True when the object has a deletionTimestamp."""
    return bool(meta(o).get("deletionTimestamp"))


def namespace_open(cluster: SimCluster, namespace: str) -> bool:
    """Whether objects may be created in ``namespace`` (it exists and is not being deleted)."""
    ns = cluster.store.get(NAMESPACES, None, namespace)
    return ns is not None and not deleting(ns)


def condition(o: Obj | None, kind: str) -> Obj | None:
    """The object's status condition of this type, or None."""
    for c in ((o or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def is_true(o: Obj | None, kind: str) -> bool:
    """True when the object's condition of this type has status True."""
    c = condition(o, kind)
    return bool(c and c.get("status") == "True")


def set_condition(status: Obj, cond: Obj, now: float, *, stamp_update: bool = False, touch: bool = False) -> None:
    """Put ``cond`` into ``status.conditions``; keep lastTransitionTime if the status did not change.
    With ``stamp_update`` also keep ``lastUpdateTime`` unless status or reason changed (or ``touch``)."""
    conds = status.setdefault("conditions", [])
    ts = to_rfc3339(now)
    for i, c in enumerate(conds):
        if c.get("type") == cond["type"]:
            new = dict(cond)
            same = c.get("status") == cond.get("status")
            new["lastTransitionTime"] = c.get("lastTransitionTime", ts) if same else ts
            if stamp_update:
                unchanged = same and c.get("reason") == cond.get("reason") and not touch
                new["lastUpdateTime"] = c.get("lastUpdateTime", ts) if unchanged else ts
            conds[i] = {k: v for k, v in sorted(new.items())}
            return
    new = dict(cond, lastTransitionTime=ts)
    if stamp_update:
        new["lastUpdateTime"] = ts
    conds.append({k: v for k, v in sorted(new.items())})


def edit_status(store: ObjectStore, gr: GR, namespace: str | None, name: str, fn: Callable[[Obj], Any],
                *, spec: bool = False) -> Obj | None:
    """``store.mutate`` for controllers that change only ``status`` (and, with ``spec=True``,
    top-level ``spec`` fields such as ``nodeName``): copies just those parts, not the whole object,
    which keeps a pod's many status updates cheap. ``fn`` must not touch anything else."""
    cur = store.get(gr, namespace, name)
    if cur is None:
        return None
    new = dict(cur)
    new["metadata"] = dict(cur["metadata"])
    new["status"] = copy.deepcopy(cur.get("status") or {})
    if spec:
        new["spec"] = dict(cur.get("spec") or {})
    fn(new)
    if new == cur:
        return cur
    return store.update(gr, new)


def deep(o: T) -> T:
    """A deep copy of the object."""
    return copy.deepcopy(o)


def now_str(clock: Clock) -> str:
    """The clock's time as an RFC 3339 timestamp."""
    return to_rfc3339(clock.now())
