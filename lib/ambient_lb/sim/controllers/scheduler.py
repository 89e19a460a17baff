"""The scheduler: binds each unscheduled Pod to a node.

Who calls it: started by ``all_controllers``; reacts to new Pods and to Node changes (a pod that
fit nowhere is retried when a node appears or is relabelled).

Filters (in order): node Ready and schedulable, ``spec.nodeSelector``, required node affinity
(``matchExpressions`` on labels and ``matchFields`` on ``metadata.name``, as DaemonSet pods carry),
and room under the node's ``allocatable.pods`` (110 by default: "Too many pods").
Score: fewest pods of the same controlling owner, then fewest pods overall, then node name, which
spreads a Deployment's replicas over the nodes. Binding sets ``spec.nodeName`` and the
``PodScheduled`` condition and records ``Scheduled`` (or ``FailedScheduling``) like
``default-scheduler``.
"""

from __future__ import annotations

from typing import Any

from .. import selectors
from ..protocols import SimCluster
from ..store import Event
from .keys import NODES, PODS
from .nodes import max_pods, node_ready
from .objects import Obj, deleting, edit_status, labels, meta, set_condition
from .owners import controller_uid
from .queue import WorkQueue


def _required_affinity(pod: Obj) -> Obj | None:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    return aff.get("requiredDuringSchedulingIgnoredDuringExecution")


def node_fits(pod: Obj, node: Obj) -> bool:
    """Whether ``pod`` may run on ``node`` (readiness, nodeSelector, required node affinity)."""
    if not node_ready(node) or (node.get("spec") or {}).get("unschedulable"):
        return False
    if not selectors.set_matches((pod.get("spec") or {}).get("nodeSelector"), labels(node)):
        return False
    required = _required_affinity(pod)  # R18.6: terms ORed, an empty term selects no node
    return required is None or selectors.node_selector_matches(required, labels(node), meta(node)["name"])


class Scheduler:
    """The default scheduler: binds each unscheduled pod to a node."""

    name = "default-scheduler"

    def start(self, cluster: SimCluster) -> None:
        """Queues pods to schedule from store events and keeps the placements it spreads pods by."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._schedule)
        self._unschedulable: set[tuple[str, str]] = set()
        # pod -> (node, owner uid, counts for spreading); kept current from store events so a
        # scheduling decision does not scan every pod
        self._placed: dict[tuple[str, str], tuple[str, str | None, bool]] = {}
        self._occupied: dict[str, int] = {}
        self._spread: dict[str, int] = {}
        self._same: dict[tuple[str | None, str], int] = {}
        for pod in cluster.store.list(PODS):
            self._account(Event("ADDED", PODS, pod, None, 0))
        cluster.store.subscribe(self._on_event)

    def _account(self, ev: Any) -> None:
        key = (meta(ev.obj).get("namespace", ""), meta(ev.obj)["name"])
        old = self._placed.pop(key, None)
        if old is not None:
            self._count(old, -1)
        spec, status = ev.obj.get("spec") or {}, ev.obj.get("status") or {}
        if ev.type != "DELETED" and spec.get("nodeName") and status.get("phase") not in ("Succeeded", "Failed"):
            new = (spec["nodeName"], controller_uid(ev.obj), not deleting(ev.obj))
            self._placed[key] = new
            self._count(new, 1)

    def _count(self, placed: tuple[str, str | None, bool], delta: int) -> None:
        node, owner, spreads = placed
        self._occupied[node] = self._occupied.get(node, 0) + delta
        if spreads:
            self._spread[node] = self._spread.get(node, 0) + delta
            if owner:
                self._same[(owner, node)] = self._same.get((owner, node), 0) + delta

    def _on_event(self, ev: Any) -> None:
        if ev.gr == PODS:
            self._account(ev)
        if ev.gr == PODS and ev.type != "DELETED" and self._wants(ev.obj):
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif (ev.gr == NODES and ev.type != "DELETED") or (ev.gr == PODS and ev.type == "DELETED"):
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
        owner = controller_uid(pod)
        matching = [n for n in nodes if node_fits(pod, n)]
        fits = [n for n in matching if self._occupied.get(meta(n)["name"], 0) < max_pods(n)]
        if not fits:
            self._fail(key, pod, len(nodes), len(matching))
            return
        self._unschedulable.discard(key)
        self._bind(key, pod, min(fits, key=lambda n: (self._same.get((owner, meta(n)["name"]), 0) if owner else 0,
                                                     self._spread.get(meta(n)["name"], 0), meta(n)["name"])))

    def _bind(self, key: tuple[str, str], pod: Obj, node: Obj) -> None:
        node_name, now = meta(node)["name"], self.cluster.clock.now()

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node_name
            set_condition(p.setdefault("status", {}), {"type": "PodScheduled", "status": "True",
                                                       "lastProbeTime": None}, now)
        edit_status(self.cluster.store, PODS, *key, bind, spec=True)
        self.cluster.extensions["events"].record(
            pod, "v1", "Pod", "Normal", "Scheduled",
            f"Successfully assigned {key[0]}/{key[1]} to {node_name}", "default-scheduler")

    def _fail(self, key: tuple[str, str], pod: Obj, total: int, matching: int) -> None:
        self._unschedulable.add(key)
        reasons = [f"{n} {why}" for n, why in ((total - matching, "node(s) didn't match Pod's node affinity/selector"),
                                               (matching, "Too many pods")) if n]
        msg = (f"0/{total} nodes are available: {', '.join(reasons)}. preemption: 0/{total} nodes are "
               f"available: {total} Preemption is not helpful for scheduling.")
        now = self.cluster.clock.now()

        def unschedulable(p: Obj) -> None:
            set_condition(p.setdefault("status", {}), {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg,
                "lastProbeTime": None}, now)
        before = self.cluster.store.get(PODS, *key)
        after = edit_status(self.cluster.store, PODS, *key, unschedulable)
        if after is not before:
            self.cluster.extensions["events"].record(pod, "v1", "Pod", "Warning", "FailedScheduling", msg,
                                                     "default-scheduler")
