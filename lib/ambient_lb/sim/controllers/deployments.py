"""Deployments: a ReplicaSet per pod template, rolled over with maxSurge/maxUnavailable, and the
status fields ``kubectl rollout status`` and ``kubectl wait`` read.

Who calls it: started by ``all_controllers``; re-runs a Deployment on any change of it or of a
ReplicaSet it controls (ReplicaSet status moves as its pods become Ready).

Rules (as kube-controller-manager's deployment controller):
- The new ReplicaSet is ``<deployment>-<pod-template-hash>``; the hash is FNV-32a of the template,
  safe-encoded (``7d8f9b6c54``), and becomes the ``pod-template-hash`` label of its pods.
- RollingUpdate: scale the new ReplicaSet up to at most ``replicas + maxSurge`` pods in all
  (maxSurge rounds up, default 25%), and the old ones down while at least
  ``replicas - maxUnavailable`` pods stay available (maxUnavailable rounds down, default 25%;
  both 0 means maxUnavailable 1). Recreate: old pods all gone first.
- Scaling only changes the new ReplicaSet's replicas.
- Status: observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas,
  unavailableReplicas, and conditions Available (MinimumReplicasAvailable /
  MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated, ReplicaSetUpdated,
  NewReplicaSetAvailable, and ProgressDeadlineExceeded when nothing moved for
  ``progressDeadlineSeconds``, which ends ``kubectl rollout status`` with an error). Events:
  ``ScalingReplicaSet``.
"""

from __future__ import annotations

import math
from typing import Any

from ..clock import parse_rfc3339
from ..protocols import SimCluster
from .admission import admit
from .deletion import delete_object
from .keys import DEPLOYMENTS, PODS, REPLICA_SETS
from .names import template_hash
from .objects import Obj, annotations_of, condition, deep, deleting, meta, namespace_open, set_condition
from .owners import controller_of, owned_by, owner_ref
from .queue import WorkQueue
from .replicasets import active_pods

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def resolve(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString such as 1 or "25%" against ``total`` replicas."""
    try:
        if isinstance(value, str) and value.endswith("%"):
            exact = int(value[:-1]) * total / 100
            return math.ceil(exact) if round_up else math.floor(exact)
        return int(value)
    except (TypeError, ValueError):  # admission rejects these; objects put in the store directly may not
        return 0


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """A Deployment's (maxSurge, maxUnavailable) as pod counts; (0, 0) for Recreate, and never both 0."""
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    desired = int(d["spec"].get("replicas", 1))
    surge = resolve(ru.get("maxSurge", "25%"), desired, True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), desired, False)
    return (surge, 1) if surge == 0 and unavailable == 0 else (surge, unavailable)


def _without_hash(template: Obj) -> Obj:
    t = deep(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


def _replicas(rs: Obj) -> int:
    return int(rs["spec"].get("replicas", 0))


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


class DeploymentController:
    """The deployment controller: a ReplicaSet per pod template, rolled over with maxSurge/maxUnavailable."""

    name = "deployment-controller"

    def start(self, cluster: SimCluster) -> None:
        """Queues a Deployment when it or one of its ReplicaSets changes (and when a ReplicaSet's pod goes), and
        reconciles it from the work queue."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        self._deadline_checks: set[tuple[str, str]] = set()
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == DEPLOYMENTS and ev.type != "DELETED":
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == REPLICA_SETS:
            owner = controller_of(ev.obj, "Deployment")
            if owner:
                self.queue.add((meta(ev.obj)["namespace"], owner))
        elif ev.gr == PODS and ev.type == "DELETED" and controller_of(ev.obj, "ReplicaSet"):
            self.queue.add_after(0, ("pods-gone", meta(ev.obj)["namespace"]))  # Recreate waits for these

    # ---- reconcile ------------------------------------------------------------------------------
    def _reconcile(self, key: tuple[str, str]) -> None:
        if key[0] == "pods-gone":
            for dep in self.cluster.store.list(DEPLOYMENTS, key[1]):
                if (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
                    self.queue.add((key[1], meta(dep)["name"]))
            return
        d = self.cluster.store.get(DEPLOYMENTS, *key)
        if d is None or deleting(d) or d["spec"].get("paused"):
            return
        rss = sorted((rs for rs in self.cluster.store.list(REPLICA_SETS, key[0]) if owned_by(rs, d)),
                     key=lambda rs: (parse_rfc3339(meta(rs)["creationTimestamp"]), meta(rs)["name"]))
        new = self._find_new(d, rss)
        created = False
        if new is None:
            if not namespace_open(self.cluster, key[0]):
                return
            new, created = self._create_rs(d, rss), True
            rss.append(new)
        old = [rs for rs in rss if rs is not new and meta(rs)["name"] != meta(new)["name"]]
        self._bump_revision(new, old)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._recreate(d, new, old)
        else:
            self._roll(d, new, old)
        self._cleanup(d, old)
        self._status(key, created)

    def _find_new(self, d: Obj, rss: list[Obj]) -> Obj | None:
        want = d["spec"].get("template") or {}
        h = template_hash(want)
        for rs in rss:
            if (meta(rs).get("labels") or {}).get(HASH_LABEL) == h or \
                    _without_hash(rs["spec"].get("template") or {}) == want:
                return rs
        return None

    def _bump_revision(self, new: Obj, old: list[Obj]) -> None:
        """An older ReplicaSet that becomes the new one again (``rollout undo``) gets the next revision."""
        top = max([int(annotations_of(rs).get(REVISION, "0")) for rs in old] + [0])
        if int(annotations_of(new).get(REVISION, "0")) < top:
            self.cluster.store.mutate(REPLICA_SETS, meta(new)["namespace"], meta(new)["name"],
                                      lambda o: o["metadata"].setdefault("annotations", {}).update(
                                          {REVISION: str(top + 1)}))

    def _create_rs(self, d: Obj, rss: list[Obj]) -> Obj:
        template = deep(d["spec"].get("template") or {})
        h = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = deep(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        revision = 1 + max([int(annotations_of(rs).get(REVISION, "0")) for rs in rss] + [0])
        desired = int(d["spec"].get("replicas", 1))
        surge, _ = surge_and_unavailable(d)
        current = sum(_replicas(rs) for rs in rss)
        start = desired if not rss else max(0, min(desired, desired + surge - current))
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate" and any(_replicas(r) for r in rss):
            start = 0
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta(d)['name']}-{h}", "namespace": meta(d)["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": {"deployment.kubernetes.io/desired-replicas": str(desired),
                                           "deployment.kubernetes.io/max-replicas": str(desired + surge),
                                           REVISION: str(revision)},
                           "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")]},
              "spec": {"replicas": start, "selector": selector, "template": template,
                       **({"minReadySeconds": d["spec"]["minReadySeconds"]}
                          if d["spec"].get("minReadySeconds") else {})}}
        rs = self.cluster.store.create(REPLICA_SETS, admit(self.cluster, "CREATE", REPLICA_SETS, rs))
        if start:
            self._scaled_event(d, rs, 0, start)
        return rs

    def _scale(self, d: Obj, rs: Obj, to: int) -> None:
        frm = _replicas(rs)
        if frm == to:
            return
        desired = int(d["spec"].get("replicas", 1))
        surge, _ = surge_and_unavailable(d)

        def edit(o: Obj) -> None:
            o["spec"]["replicas"] = to
            o["metadata"].setdefault("annotations", {}).update({
                "deployment.kubernetes.io/desired-replicas": str(desired),
                "deployment.kubernetes.io/max-replicas": str(desired + surge)})
        self.cluster.store.mutate(REPLICA_SETS, meta(rs)["namespace"], meta(rs)["name"], edit)
        self._scaled_event(d, rs, frm, to)

    def _scaled_event(self, d: Obj, rs: Obj, frm: int, to: int) -> None:
        verb = "up" if to > frm else "down"
        self.cluster.extensions["events"].record(
            d, "apps/v1", "Deployment", "Normal", "ScalingReplicaSet",
            f"Scaled {verb} replica set {meta(rs)['name']} from {frm} to {to}", "deployment-controller")

    # ---- strategies -----------------------------------------------------------------------------
    def _roll(self, d: Obj, new: Obj, old: list[Obj]) -> None:
        desired = int(d["spec"].get("replicas", 1))
        surge, unavailable = surge_and_unavailable(d)
        all_rs = [new, *old]
        if _replicas(new) > desired or not old:
            self._scale(d, new, desired)
        elif _replicas(new) < desired:
            current = sum(_replicas(rs) for rs in all_rs)
            room = desired + surge - current
            if room > 0:
                self._scale(d, new, _replicas(new) + min(room, desired - _replicas(new)))
        self._scale_down_old(d, self._fresh(new), [self._fresh(rs) for rs in old], desired, unavailable)

    def _fresh(self, rs: Obj) -> Obj:
        return self.cluster.store.get(REPLICA_SETS, meta(rs)["namespace"], meta(rs)["name"]) or rs

    def _scale_down_old(self, d: Obj, new: Obj, old: list[Obj], desired: int, unavailable: int) -> None:
        if not sum(_replicas(rs) for rs in old):
            return
        min_available = desired - unavailable
        all_pods = _replicas(new) + sum(_replicas(rs) for rs in old)
        budget = all_pods - min_available - (_replicas(new) - _available(new))
        for rs in old:  # unhealthy pods of old ReplicaSets go first
            cut = min(budget, _replicas(rs) - _available(rs))
            if cut > 0:
                self._scale(d, rs, _replicas(rs) - cut)
                budget -= cut
        old = [self._fresh(rs) for rs in old]
        available = _available(new) + sum(_available(rs) for rs in old)
        budget = min(budget, available - min_available)
        for rs in old:
            cut = min(_replicas(rs), budget)
            if cut > 0:
                self._scale(d, rs, _replicas(rs) - cut)
                budget -= cut

    def _recreate(self, d: Obj, new: Obj, old: list[Obj]) -> None:
        for rs in old:
            self._scale(d, rs, 0)
        if any(active_pods(self.cluster, rs) or self._terminating(rs) for rs in old):
            return
        self._scale(d, new, int(d["spec"].get("replicas", 1)))

    def _terminating(self, rs: Obj) -> bool:
        return any(owned_by(p, rs) for p in self.cluster.store.list(PODS, meta(rs)["namespace"]))

    def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _replicas(self._fresh(rs)) == 0 and not (rs.get("status") or {}).get("replicas")]
        for rs in idle[:max(0, len(idle) - limit)]:
            delete_object(self.cluster, REPLICA_SETS, meta(rs)["namespace"], meta(rs)["name"])

    # ---- status ---------------------------------------------------------------------------------
    def _status(self, key: tuple[str, str], created: bool) -> None:
        d = self.cluster.store.get(DEPLOYMENTS, *key)
        if d is None:
            return
        rss = [rs for rs in self.cluster.store.list(REPLICA_SETS, key[0]) if owned_by(rs, d)]
        new = self._find_new(d, rss)
        st = lambda rs, k: int((rs.get("status") or {}).get(k, 0))  # noqa: E731
        desired = int(d["spec"].get("replicas", 1))
        available = sum(st(rs, "availableReplicas") for rs in rss)
        status: Obj = {"observedGeneration": meta(d).get("generation", 1),
                       "replicas": sum(st(rs, "replicas") for rs in rss),
                       "updatedReplicas": st(new, "replicas") if new else 0,
                       "readyReplicas": sum(st(rs, "readyReplicas") for rs in rss),
                       "availableReplicas": available,
                       "unavailableReplicas": max(0, sum(_replicas(rs) for rs in rss) - available)}
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        complete = (status.get("updatedReplicas", 0) == desired and status.get("replicas", 0) == desired
                    and available == desired)
        _, unavailable = surge_and_unavailable(d)
        self._write_status(d, new, status, desired, available, unavailable, complete, created)

    def _write_status(self, d: Obj, new: Obj | None, status: Obj, desired: int, available: int,
                      unavailable: int, complete: bool, created: bool) -> None:
        now, rs_name = self.cluster.clock.now(), meta(new)["name"] if new else ""
        if available >= desired - unavailable:
            avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        revision = annotations_of(new).get(REVISION) if new else None
        deadline = d["spec"].get("progressDeadlineSeconds", 600)

        def edit(o: Obj) -> None:
            old = o.get("status") or {}
            new_status = dict(status, conditions=deep(old.get("conditions") or []))
            if old.get("collisionCount"):
                new_status["collisionCount"] = old["collisionCount"]
            set_condition(new_status, {"type": "Available", "status": avail[0], "reason": avail[1],
                                       "message": avail[2]}, now, stamp_update=True)
            progressed = created or any(new_status.get(k, 0) != old.get(k, 0) for k in _PROGRESS_FIELDS)
            value, reason, message = self._progressing(old, rs_name, complete, created, progressed, deadline, now)
            set_condition(new_status, {"type": "Progressing", "status": value, "reason": reason, "message": message},
                          now, stamp_update=True, touch=progressed and not complete)
            new_status["conditions"].sort(key=lambda c: c["type"] != "Available")
            o["status"] = new_status
            if revision:
                o["metadata"].setdefault("annotations", {})[REVISION] = revision
        after = self.cluster.store.mutate(DEPLOYMENTS, meta(d)["namespace"], meta(d)["name"], edit)
        key = (meta(d)["namespace"], meta(d)["name"])
        prog = condition(after, "Progressing")
        if prog and prog["status"] == "True" and not complete and isinstance(deadline, int) \
                and key not in self._deadline_checks:
            due = parse_rfc3339(prog.get("lastUpdateTime") or prog["lastTransitionTime"]) + deadline
            self._deadline_checks.add(key)
            self.cluster.clock.call_later(max(0.0, due - now) + 1.0, self._check_deadline, key)

    def _check_deadline(self, key: tuple[str, str]) -> None:
        self._deadline_checks.discard(key)
        self.queue.add(key)

    @staticmethod
    def _progressing(old: Obj, rs_name: str, complete: bool, created: bool, progressed: bool,
                     deadline: Any, now: float) -> tuple[str, str, str]:
        """The Progressing condition: created, progressing, done, or stuck past the deadline."""
        if complete:
            return "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
        if created:
            return "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"'
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "Progressing"), None)
        since = parse_rfc3339(prev["lastUpdateTime"]) if prev and prev.get("lastUpdateTime") else now
        if not progressed and isinstance(deadline, int) and now - since >= deadline:
            return "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.'
        if prev and prev.get("reason") == "ProgressDeadlineExceeded" and not progressed:
            return "False", "ProgressDeadlineExceeded", prev.get("message", "")
        return "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'


_PROGRESS_FIELDS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
