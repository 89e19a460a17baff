"""DaemonSets: one pod per matching node (ztunnel, istio-cni-node), with rolling updates.

Who calls it: started by ``all_controllers``; re-runs a DaemonSet when it, one of its pods, or a
node changes (a new or relabelled node gets or loses its pod).

- Eligible nodes: those matching the template's ``nodeSelector`` and required node affinity.
- Each eligible node without a pod gets one, pinned with required affinity
  ``metadata.name In [node]`` as the real controller does; the scheduler binds it.
- Pods on nodes no longer eligible, and duplicates, are deleted.
- RollingUpdate, by ``controller-revision-hash``: with ``maxSurge`` (ztunnel: 1) the new pod starts
  beside the old one, which is deleted once the new one is available; otherwise (maxUnavailable 1
  by default) old pods are deleted while fewer than maxUnavailable nodes lack an available pod,
  and the replacement is created at once (a terminating pod does not count as the node's pod).
- Status: desired/current/updated NumberScheduled, numberReady, numberAvailable,
  numberMisscheduled, numberUnavailable, observedGeneration (what ``rollout status ds`` reads).
"""

from __future__ import annotations

from typing import Any

from .deletion import delete_object
from .deployments import resolve
from .keys import DAEMON_SETS, NODES, PODS
from .names import random_suffix, template_hash
from .objects import Obj, deleting, edit_status, is_true, meta, namespace_open
from .owners import controller_of, owned_by
from .queue import QueuedController
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


def _revision(pod: Obj) -> str:
    return (meta(pod).get("labels") or {}).get(REVISION_LABEL, "")


def _eligible(ds: Obj, node: Obj) -> bool:
    probe = {"spec": (ds["spec"].get("template") or {}).get("spec") or {}}
    ready_node = {"metadata": node["metadata"], "spec": {},
                  "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    return node_fits(probe, ready_node)


class DaemonSetController(QueuedController):
    """The DaemonSet controller: one pod per matching node, with rolling updates."""

    name = "daemonset-controller"

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
        by_node: dict[str, list[Obj]] = {}
        for p in self.cluster.store.list(PODS, key[0]):
            if owned_by(p, ds) and not deleting(p):
                by_node.setdefault(_pod_node(p), []).append(p)
        want = template_hash(ds["spec"]["template"])
        for node, live in by_node.items():
            new = [p for p in live if _revision(p) == want]
            old = [p for p in live if _revision(p) != want]
            keep = (new[:1] + old[:1]) if node in nodes else []
            if new and old and pod_available(new[0], 0, self.cluster.clock.now()):
                keep = new[:1]  # a surged pod took over this node
            for p in live:
                if p not in keep:
                    delete_object(self.cluster, PODS, key[0], meta(p)["name"])
        if namespace_open(self.cluster, key[0]):
            for node in sorted(nodes):
                if not by_node.get(node):
                    self._create(ds, node)
            self._roll(ds, want, nodes, by_node)
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

    def _roll(self, ds: Obj, want: str, nodes: dict[str, Obj], by_node: dict[str, list[Obj]]) -> None:
        """RollingUpdate: with maxSurge, start the new pod beside the old one (the old one goes once
        the new one is available); otherwise delete old pods while few enough nodes are unavailable."""
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        ru, now = strategy.get("rollingUpdate") or {}, self.cluster.clock.now()
        surge = resolve(ru.get("maxSurge", 0), len(nodes), True)
        max_unavailable = resolve(ru.get("maxUnavailable", 1), len(nodes), True)
        here = {n: by_node.get(n, []) for n in sorted(nodes)}
        only_old = [n for n, live in here.items() if live and all(_revision(p) != want for p in live)]
        if surge > 0:
            surging = sum(1 for live in here.values() if {_revision(p) == want for p in live} == {True, False})
            for node in only_old[:max(0, surge - surging)]:
                self._create(ds, node)
            return
        unavailable = sum(1 for live in here.values() if not any(pod_available(p, 0, now) for p in live))
        old = sorted((p for n in only_old for p in here[n]), key=lambda p: is_true(p, "Ready"))
        for p in old[:max(0, max(1, max_unavailable) - unavailable)]:
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
