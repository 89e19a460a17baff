"""How a controller deletes an object, the way the API server would for its DELETE call.

Who calls it: the ReplicaSet and DaemonSet controllers (scale down), the namespace controller
(cascade) and the garbage collector; also offered to the API server as
``cluster.extensions["delete"]`` so both sides agree on graceful deletion.

- A Pod bound to a node is deleted gracefully: ``deletionTimestamp`` = now + grace period and
  ``deletionGracePeriodSeconds``; the kubelet stops it and removes the object (R6.1). A Pod not yet
  bound to a node, or finished, is removed at once (as the API server does), unless finalizers hold it.
- A Namespace gets ``deletionTimestamp`` and phase Terminating; the namespace controller empties it.
- Anything with finalizers gets ``deletionTimestamp`` and waits for them; everything else is removed.
"""

from __future__ import annotations

from ..clock import to_rfc3339
from ..protocols import SimCluster
from ..store import GR
from .keys import NAMESPACES, PODS
from .objects import Obj, deleting, meta


def delete_object(cluster: SimCluster, gr: GR, namespace: str | None, name: str,
                  grace_seconds: int | None = None) -> Obj | None:
    """Delete ``gr`` ``namespace/name`` as a DELETE call would (graceful for pods and namespaces)."""
    store, now = cluster.store, cluster.clock.now()
    obj = store.get(gr, namespace, name)
    if obj is None or deleting(obj):
        return obj
    if gr == PODS:
        return _delete_pod(cluster, obj, grace_seconds)
    if gr == NAMESPACES:
        def terminate(o: Obj) -> None:
            o["metadata"]["deletionTimestamp"] = to_rfc3339(now)
            o.setdefault("status", {})["phase"] = "Terminating"
        return store.mutate(gr, None, name, terminate)
    if meta(obj).get("finalizers"):
        return store.mutate(gr, namespace, name, lambda o: _stamp(o, now, 0))
    return store.remove(gr, namespace, name)


def _delete_pod(cluster: SimCluster, pod: Obj, grace_seconds: int | None) -> Obj | None:
    md = meta(pod)
    spec = pod.get("spec") or {}
    if grace_seconds is None:
        grace_seconds = int(spec.get("terminationGracePeriodSeconds", 30))
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        grace_seconds = 0  # a finished pod has nothing to stop (the pod strategy's CheckGracefulDelete)
    if not spec.get("nodeName") or grace_seconds <= 0 and not md.get("finalizers"):
        return cluster.store.remove(PODS, md.get("namespace"), md["name"])
    now = cluster.clock.now()
    return cluster.store.mutate(PODS, md.get("namespace"), md["name"], lambda o: _stamp(o, now, grace_seconds))


def _stamp(o: Obj, now: float, grace: int) -> None:
    o["metadata"]["deletionTimestamp"] = to_rfc3339(now + grace)
    o["metadata"]["deletionGracePeriodSeconds"] = grace
