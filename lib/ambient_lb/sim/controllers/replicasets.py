"""ReplicaSets and ReplicationControllers: keep ``spec.replicas`` pods alive, and report how many are
ready and available.

Who calls it: started by ``all_controllers``; the Deployment controller sets a ReplicaSet's
``spec.replicas``. ``ReplicationControllerController`` is the same controller for core/v1
ReplicationControllers (R16.20): pods owned by ``v1 ReplicationController``, events from
``replication-controller``, a plain map selector; the rules below are the same.

- Too few pods (not counting terminating ones, R6.1 step 2): create the missing ones at once, named
  ``<rs>-<5 chars>`` from the seeded rng, owned by the ReplicaSet (``controller: true``).
- Too many: delete the surplus gracefully, choosing like the real controller: unscheduled before
  scheduled, Pending before Running, not Ready before Ready, newest first.
- Status: ``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``
  (Ready for ``minReadySeconds``) and ``observedGeneration``.
"""

from __future__ import annotations

import random
from typing import Any

from .. import selectors
from ..clock import parse_rfc3339
from ..protocols import SimCluster
from .admission import admit
from .deletion import delete_object
from .keys import PODS, REPLICA_SETS, REPLICATION_CONTROLLERS
from .names import named_rng, random_suffix
from .objects import Obj, condition, deep, deleting, edit_status, is_true, labels, meta, namespace_open
from .owners import controller_of, owned_by, owner_ref
from .queue import QueuedController


def active_pods(cluster: SimCluster, owner: Obj) -> list[Obj]:
    """Pods the owner controls that are not terminating and not in a terminal phase."""
    return [p for p in cluster.store.list(PODS, meta(owner)["namespace"])
            if owned_by(p, owner) and not deleting(p)
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def pod_available(pod: Obj, min_ready: int, now: float) -> bool:
    """True when the pod has been Ready for at least min_ready seconds."""
    c = condition(pod, "Ready")
    if not c or c.get("status") != "True":
        return False
    since = c.get("lastTransitionTime")
    return min_ready <= 0 or (since is not None and parse_rfc3339(since) + min_ready <= now)


def pod_from_template(cluster: SimCluster, owner: Obj, kind: str, rng: random.Random, node: str | None = None,
                      api_version: str = "apps/v1") -> Obj:
    """A new Pod from ``owner.spec.template``, owned by it, defaulted by the admission chain."""
    tmpl = deep(owner["spec"]["template"])
    md = tmpl.get("metadata") or {}
    name = f"{meta(owner)['name']}-{random_suffix(rng)}"
    pod: Obj = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "generateName": f"{meta(owner)['name']}-",
                             "namespace": meta(owner)["namespace"], "labels": dict(md.get("labels") or {}),
                             "ownerReferences": [owner_ref(owner, api_version, kind)]},
                "spec": tmpl.get("spec") or {}}
    if md.get("annotations"):
        pod["metadata"]["annotations"] = dict(md["annotations"])
    if node:
        pod["spec"]["affinity"] = _node_affinity(pod["spec"].get("affinity"), node)
    return admit(cluster, "CREATE", PODS, pod)


def _node_affinity(affinity: Obj | None, node: str) -> Obj:
    """What the DaemonSet controller adds: required affinity ``metadata.name In [node]``."""
    aff = deep(affinity or {})
    aff.setdefault("nodeAffinity", {})["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    return aff


def _deletion_rank(pod: Obj) -> tuple[int, int, int, float]:
    """Smaller ranks go first (controller.ActivePodsWithRanks, simplified)."""
    status = pod.get("status") or {}
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    created = parse_rfc3339(meta(pod).get("creationTimestamp", "1970-01-01T00:00:00Z"))
    return (1 if pod["spec"].get("nodeName") else 0, phase, 1 if is_true(pod, "Ready") else 0, -created)


class ReplicaSetController(QueuedController):
    """The ReplicaSet controller: keeps spec.replicas pods alive and reports how many are ready and available."""

    name = "replicaset-controller"
    gr, kind, api_version = REPLICA_SETS, "ReplicaSet", "apps/v1"

    def _on_event(self, ev: Any) -> None:
        if ev.gr == self.gr and ev.type != "DELETED":
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == PODS:
            owner = controller_of(ev.obj, self.kind)
            if owner:
                self.queue.add((meta(ev.obj)["namespace"], owner))

    def _reconcile(self, key: tuple[str, str]) -> None:
        rs = self.cluster.store.get(self.gr, *key)
        if rs is None or deleting(rs):
            return
        pods = active_pods(self.cluster, rs)
        diff = int(rs["spec"].get("replicas", 1)) - len(pods)
        if diff > 0 and namespace_open(self.cluster, key[0]):
            for _ in range(diff):
                self._create(rs)
        elif diff < 0:
            for pod in sorted(pods, key=_deletion_rank)[:-diff]:
                delete_object(self.cluster, PODS, key[0], meta(pod)["name"])
                self._event(rs, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}")
        self._status(key)

    def _create(self, rs: Obj) -> None:
        pod = pod_from_template(self.cluster, rs, self.kind, self.rng, api_version=self.api_version)
        while self.cluster.store.get(PODS, meta(rs)["namespace"], pod["metadata"]["name"]) is not None:
            pod["metadata"]["name"] = f"{meta(rs)['name']}-{random_suffix(self.rng)}"
        self.cluster.store.create(PODS, pod)
        self._event(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

    def _event(self, rs: Obj, reason: str, message: str) -> None:
        self.cluster.extensions["events"].record(rs, self.api_version, self.kind, "Normal", reason, message,
                                                 self.name)

    def _status(self, key: tuple[str, str]) -> None:
        rs = self.cluster.store.get(self.gr, *key)
        if rs is None:
            return
        pods = active_pods(self.cluster, rs)
        now, min_ready = self.cluster.clock.now(), int(rs["spec"].get("minReadySeconds", 0))
        # the template's labels as a map selector (R18.3): pods that carry all of them
        tmpl_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        status = {"replicas": len(pods),
                  "fullyLabeledReplicas": sum(1 for p in pods if selectors.set_matches(tmpl_labels, labels(p))),
                  "readyReplicas": sum(1 for p in pods if is_true(p, "Ready")),
                  "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
                  "observedGeneration": meta(rs).get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if min_ready and status.get("readyReplicas", 0) > status.get("availableReplicas", 0):
            self.queue.add_after(min_ready, key)
        edit_status(self.cluster.store, self.gr, *key, lambda o: o.__setitem__("status", status))


class ReplicationControllerController(ReplicaSetController):
    """core/v1 ReplicationControllers, with the ReplicaSet controller's shape (R16.20)."""

    name = "replication-controller"
    gr, kind, api_version = REPLICATION_CONTROLLERS, "ReplicationController", "v1"

    def _make_rng(self, cluster: SimCluster) -> random.Random:
        return named_rng(cluster, self.name)
