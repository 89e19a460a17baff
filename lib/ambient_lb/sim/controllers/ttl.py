"""The TTL-after-finished controller: a finished Job with ``ttlSecondsAfterFinished`` is deleted that
many seconds after it finished (R16.19).

Who calls it: started by ``all_controllers``. The finish time is the ``lastTransitionTime`` of the
Job's ``Complete`` or ``Failed`` condition; the controller waits on the simulated clock, checks the
Job again (its TTL may have changed), and deletes it with ``propagationPolicy: Foreground`` and a UID
precondition, as kube-controller-manager does: the Job gets ``deletionTimestamp`` and the
``foregroundDeletion`` finalizer, the garbage collector deletes its pods first, then the Job goes.
"""

from __future__ import annotations

from typing import Any

from ..clock import parse_rfc3339, to_rfc3339
from ..protocols import SimCluster
from .jobs import JOBS
from .objects import Obj, deleting, meta
from .queue import WorkQueue


def expires_at(job: Obj) -> float | None:
    """When a finished Job with a TTL may be deleted; None if it has no TTL or has not finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None:
        return None
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True" and c.get("lastTransitionTime"):
            return parse_rfc3339(c["lastTransitionTime"]) + int(ttl)
    return None


class TTLAfterFinished:
    """The TTL-after-finished controller: deletes a finished Job ttlSecondsAfterFinished after it finished."""

    name = "ttl-after-finished-controller"

    def start(self, cluster: SimCluster) -> None:
        """Queues each Job that has a TTL when it changes, and reconciles it from the work queue."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == JOBS and ev.type != "DELETED" and expires_at(ev.obj) is not None:
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"], meta(ev.obj)["uid"]))

    def _reconcile(self, key: tuple[str, str, str]) -> None:
        job = self.cluster.store.get(JOBS, key[0], key[1])
        if job is None or meta(job).get("uid") != key[2] or deleting(job):
            return
        when = expires_at(job)
        if when is None:
            return
        left = when - self.cluster.clock.now()
        if left > 0:
            self.queue.add_after(left, key)
            return

        def foreground(o: Obj) -> None:
            md = o["metadata"]
            md["deletionTimestamp"] = to_rfc3339(self.cluster.clock.now())
            md["deletionGracePeriodSeconds"] = 0
            md["finalizers"] = [f for f in md.get("finalizers") or [] if f != "orphan"] + ["foregroundDeletion"]
        self.cluster.store.mutate(JOBS, key[0], key[1], foreground)
