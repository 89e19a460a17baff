"""The scheduler: binds each unscheduled Pod to a node.

Who calls it: started by ``all_controllers``; reacts to new Pods and to Node changes (a pod that
fit nowhere is retried when a node appears or is relabelled).

Filters (in order): node Ready and schedulable, ``spec.nodeSelector``, required node affinity
(``matchExpressions`` on labels and ``matchFields`` on ``metadata.name``, as DaemonSet pods carry).
Score: fewest pods of the same controlling owner, then fewest pods overall, then node name, which
spreads a Deployment's replicas over the nodes. Binding sets ``spec.nodeName`` and the
``PodScheduled`` condition and records ``Scheduled`` (or ``FailedScheduling``) like
``default-scheduler``.
"""

from __future__ import annotations

from typing import Any

from .common import NODES, PODS, Obj, WorkQueue, controller_uid, deleting, labels, match_expressions, meta, \
    set_condition
from .nodes import node_ready


def _affinity_terms(pod: Obj) -> list[Obj]:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    req = aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return req.get("nodeSelectorTerms") or []


def _term_matches(term: Obj, node: Obj) -> bool:
    fields = {"metadata.name": meta(node)["name"]}
    return match_expressions(term.get("matchExpressions") or [], labels(node)) and \
        match_expressions(term.get("matchFields") or [], fields)


def node_fits(pod: Obj, node: Obj) -> bool:
    """Whether ``pod`` may run on ``node`` (readiness, nodeSelector, required node affinity)."""
    if not node_ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return False
    sel = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(labels(node).get(k) != v for k, v in sel.items()):
        return False
    terms = _affinity_terms(pod)
    return not terms or any(_term_matches(t, node) for t in terms)


class Scheduler:
    name = "default-scheduler"

    def start(self, cluster: Any) -> None:
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._schedule)
        self._unschedulable: set[tuple[str, str]] = set()
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == PODS and ev.type != "DELETED" and self._wants(ev.obj):
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == NODES and ev.type != "DELETED":
            for key in sorted(self._unschedulable):
                self.queue.add(key)

    @staticmethod
    def _wants(pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return not spec.get("nodeName") and not deleting(pod) and \
            spec.get("schedulerName", "default-scheduler") == "default-scheduler"

    def _schedule(self, key: tuple[str, str]) -> None:
        pod = self.cluster.store.get(PODS, *key)
        if pod is None or not self._wants(pod):
            self._unschedulable.discard(key)
            return
        nodes = self.cluster.store.list(NODES)
        fits = [n for n in nodes if node_fits(pod, n)]
        if not fits:
            self._fail(key, pod, len(nodes))
            return
        self._unschedulable.discard(key)
        same, total = self._counts(controller_uid(pod))
        self._bind(key, pod, min(fits, key=lambda n: (same.get(meta(n)["name"], 0),
                                                     total.get(meta(n)["name"], 0), meta(n)["name"])))

    def _counts(self, owner: str | None) -> tuple[dict[str, int], dict[str, int]]:
        """Pods per node: of the same controlling owner, and in all (terminating pods not counted)."""
        same: dict[str, int] = {}
        total: dict[str, int] = {}
        for p in self.cluster.store.list(PODS):
            node = (p.get("spec") or {}).get("nodeName")
            if node and not deleting(p):
                total[node] = total.get(node, 0) + 1
                if owner and controller_uid(p) == owner:
                    same[node] = same.get(node, 0) + 1
        return same, total

    def _bind(self, key: tuple[str, str], pod: Obj, node: Obj) -> None:
        node_name, now = meta(node)["name"], self.cluster.clock.now()

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node_name
            set_condition(p.setdefault("status", {}), {"type": "PodScheduled", "status": "True",
                                                       "lastProbeTime": None}, now)
        self.cluster.store.mutate(PODS, *key, bind)
        self.cluster.extensions["events"].record(
            pod, "v1", "Pod", "Normal", "Scheduled",
            f"Successfully assigned {key[0]}/{key[1]} to {node_name}", "default-scheduler")

    def _fail(self, key: tuple[str, str], pod: Obj, total: int) -> None:
        self._unschedulable.add(key)
        msg = (f"0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. "
               f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.")
        now = self.cluster.clock.now()

        def unschedulable(p: Obj) -> None:
            set_condition(p.setdefault("status", {}), {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
                "lastProbeTime": None}, now)
        before = self.cluster.store.get(PODS, *key)
        after = self.cluster.store.mutate(PODS, *key, unschedulable)
        if after is not before:
            self.cluster.extensions["events"].record(pod, "v1", "Pod", "Warning", "FailedScheduling", msg,
                                                     "default-scheduler")
