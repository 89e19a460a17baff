"""DaemonSets: one pod per matching node (ztunnel, istio-cni-node), with rolling updates.

Who calls it: started by ``all_controllers``; re-runs a DaemonSet when it, one of its pods, or a
node changes (a new or relabelled node gets or loses its pod).

- Eligible nodes: those matching the template's ``nodeSelector`` and required node affinity.
- Each eligible node without a pod gets one, pinned with required affinity
  ``metadata.name In [node]`` as the real controller does; the scheduler binds it.
- Pods on nodes no longer eligible, and duplicates, are deleted.
- RollingUpdate (maxUnavailable 1 by default): old-template pods (by ``controller-revision-hash``)
  are deleted while fewer than maxUnavailable nodes lack an available pod; the replacement comes
  once the old pod is gone.
- Status: desired/current/updated NumberScheduled, numberReady, numberAvailable,
  numberMisscheduled, numberUnavailable, observedGeneration (what ``rollout status ds`` reads).
"""

from __future__ import annotations

import random
from typing import Any

from .common import DAEMON_SETS, edit_status, NODES, PODS, Obj, WorkQueue, controller_of, deleting, is_true, meta, \
    namespace_open, owned_by, random_suffix, template_hash
from .deletion import delete_object
from .deployments import resolve
from .replicasets import pod_available, pod_from_template
from .scheduler import node_fits

REVISION_LABEL = "controller-revision-hash"


def _pod_node(pod: Obj) -> str:
    """The node a DaemonSet pod is for: its ``nodeName``, or the node its affinity pins it to."""
    if pod["spec"].get("nodeName"):
        return pod["spec"]["nodeName"]
    aff = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in aff.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return f["values"][0]
    return ""


def _eligible(ds: Obj, node: Obj) -> bool:
    probe = {"spec": (ds["spec"].get("template") or {}).get("spec") or {}}
    ready_node = {"metadata": node["metadata"], "spec": {},
                  "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    return node_fits(probe, ready_node)


class DaemonSetController:
    name = "daemonset-controller"

    def start(self, cluster: Any) -> None:
        self.cluster = cluster
        self.rng = random.Random(cluster.rng.getrandbits(64))
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == DAEMON_SETS and ev.type != "DELETED":
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == PODS and controller_of(ev.obj, "DaemonSet"):
            self.queue.add((meta(ev.obj)["namespace"], controller_of(ev.obj, "DaemonSet")))
        elif ev.gr == NODES:
            for ds in self.cluster.store.list(DAEMON_SETS):
                self.queue.add((meta(ds)["namespace"], meta(ds)["name"]))

    def _reconcile(self, key: tuple[str, str]) -> None:
        ds = self.cluster.store.get(DAEMON_SETS, *key)
        if ds is None or deleting(ds):
            return
        nodes = {meta(n)["name"]: n for n in self.cluster.store.list(NODES) if _eligible(ds, n)}
        pods = [p for p in self.cluster.store.list(PODS, key[0]) if owned_by(p, ds)]
        by_node: dict[str, list[Obj]] = {}
        for p in pods:
            by_node.setdefault(_pod_node(p), []).append(p)
        for node, here in by_node.items():
            live = [p for p in here if not deleting(p)]
            doomed = live if node not in nodes else live[1:]
            for p in doomed:
                delete_object(self.cluster, PODS, key[0], meta(p)["name"])
        if namespace_open(self.cluster, key[0]):
            for node in sorted(nodes):
                if not by_node.get(node):
                    self._create(ds, node)
        self._roll(ds, nodes, by_node)
        self._status(key)

    def _create(self, ds: Obj, node: str) -> None:
        pod = pod_from_template(self.cluster, ds, "DaemonSet", self.rng, node=node)
        pod["metadata"]["labels"].update({REVISION_LABEL: template_hash(ds["spec"]["template"]),
                                          "pod-template-generation": str(meta(ds).get("generation", 1))})
        while self.cluster.store.get(PODS, meta(ds)["namespace"], pod["metadata"]["name"]) is not None:
            pod["metadata"]["name"] = f"{meta(ds)['name']}-{random_suffix(self.rng)}"
        self.cluster.store.create(PODS, pod)
        self.cluster.extensions["events"].record(ds, "apps/v1", "DaemonSet", "Normal", "SuccessfulCreate",
                                                 f"Created pod: {pod['metadata']['name']}", "daemonset-controller")

    def _roll(self, ds: Obj, nodes: dict[str, Obj], by_node: dict[str, list[Obj]]) -> None:
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        want = template_hash(ds["spec"]["template"])
        max_unavailable = max(1, resolve((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                         len(nodes), True))
        now = self.cluster.clock.now()
        unavailable = sum(1 for n in nodes if not any(
            pod_available(p, 0, now) and not deleting(p) for p in by_node.get(n, [])))
        old = [p for n in sorted(nodes) for p in by_node.get(n, [])
               if not deleting(p) and meta(p).get("labels", {}).get(REVISION_LABEL) != want]
        old.sort(key=lambda p: is_true(p, "Ready"))
        for p in old[:max(0, max_unavailable - unavailable)]:
            delete_object(self.cluster, PODS, meta(p)["namespace"], meta(p)["name"])

    def _status(self, key: tuple[str, str]) -> None:
        ds = self.cluster.store.get(DAEMON_SETS, *key)
        if ds is None:
            return
        want, now = template_hash(ds["spec"]["template"]), self.cluster.clock.now()
        nodes = {meta(n)["name"] for n in self.cluster.store.list(NODES) if _eligible(ds, n)}
        pods = [p for p in self.cluster.store.list(PODS, key[0]) if owned_by(p, ds) and not deleting(p)]
        on = [p for p in pods if _pod_node(p) in nodes]
        available = sum(1 for p in on if pod_available(p, int(ds["spec"].get("minReadySeconds", 0)), now))
        status = {"currentNumberScheduled": len({_pod_node(p) for p in on}),
                  "desiredNumberScheduled": len(nodes),
                  "numberAvailable": available,
                  "numberMisscheduled": len(pods) - len(on),
                  "numberReady": sum(1 for p in on if is_true(p, "Ready")),
                  "numberUnavailable": len(nodes) - available,
                  "observedGeneration": meta(ds).get("generation", 1),
                  "updatedNumberScheduled": sum(1 for p in on if meta(p).get("labels", {}).get(REVISION_LABEL) == want)}
        status = {k: v for k, v in status.items() if v or k in (
            "currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady")}
        edit_status(self.cluster.store, DAEMON_SETS, *key, lambda o: o.__setitem__("status", status))
