"""Owner references: the one a controller writes on what it creates, and the readers that say who
controls an object.

Who calls it: the workload controllers (deployments, replicasets, daemonsets, jobs, cronjobs), the
scheduler (spreading a controller's pods) and the endpoint slices.
"""

from __future__ import annotations

from .objects import Obj, meta, uid


def owner_ref(owner: Obj, api_version: str, kind: str, *, controller: bool = True) -> Obj:
    """An ownerReference to owner (blockOwnerDeletion; controller unless told otherwise)."""
    return {"apiVersion": api_version, "blockOwnerDeletion": True, "controller": controller,
            "kind": kind, "name": meta(owner)["name"], "uid": meta(owner)["uid"]}


def controller_uid(o: Obj) -> str | None:
    """The uid of the object's controller (the ownerReference with controller: true), or None."""
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def owned_by(o: Obj, owner: Obj) -> bool:
    """True when owner is the object's controller."""
    return controller_uid(o) == uid(owner)


def controller_of(o: Obj, kind: str) -> str | None:
    """Name of the controlling owner of ``kind``, if any."""
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return ref.get("name")
    return None
