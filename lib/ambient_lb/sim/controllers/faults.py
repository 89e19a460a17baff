"""The simulator's fault annotations (``fault.ambient-lb.dev/*``) and strict mode, which turns them off.

Who calls it: the kubelet (``ready``), the data plane (``http-status``, ``refuse-connections``,
``latency``) through ``honoured``; ``all_controllers`` starts ``StrictNotices``. The annotations are
for tests and drills only: a runbook makes a pod fail the way an operator would (an image and a
configuration that answer 500, R14). With ``cluster.strict`` (``ambient-lb sim up --strict``, R14.9)
every fault annotation is ignored, and the pod's log says so once per annotation, in its first
container.
"""

from __future__ import annotations

from typing import Any

from ..protocols import SimCluster
from .keys import PODS
from .objects import Obj, annotations_of, meta

FAULT_PREFIX = "fault.ambient-lb.dev/"
READY = FAULT_PREFIX + "ready"
HTTP_STATUS = FAULT_PREFIX + "http-status"
REFUSE_CONNECTIONS = FAULT_PREFIX + "refuse-connections"
LATENCY = FAULT_PREFIX + "latency"


def fault_annotations(pod: Obj | None) -> dict[str, str]:
    """The pod's ``fault.ambient-lb.dev/*`` annotations, whether or not strict mode honours them."""
    return {k: v for k, v in annotations_of(pod).items() if k.startswith(FAULT_PREFIX)}


def honoured(cluster: SimCluster, pod: Obj | None) -> dict[str, str]:
    """The pod's fault annotations the simulator acts on: none in strict mode."""
    return {} if getattr(cluster, "strict", False) else fault_annotations(pod)


def notice(annotation: str, value: str) -> str:
    """The pod log line strict mode writes for a fault annotation it ignores."""
    return (f"[ambient-lb simulator] strict mode: ignoring the annotation {annotation}={value!r} on this pod; "
            "fault annotations are for tests and drills, make the app fail as it would on a cluster")


class StrictNotices:
    """In strict mode, one line in the pod's log for each fault annotation the simulator ignores."""

    name = "strict-notices"

    def __init__(self) -> None:
        self._noticed: set[tuple[str, str]] = set()

    def start(self, cluster: SimCluster) -> None:
        """Listens to pod changes (it writes its notices only in strict mode)."""
        self.cluster = cluster
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr != PODS or not self.cluster.strict:
            return
        uid = meta(ev.obj).get("uid", "")
        if ev.type == "DELETED":
            self._noticed = {k for k in self._noticed if k[0] != uid}
            return
        containers = (ev.obj.get("spec") or {}).get("containers") or []
        for key, value in fault_annotations(ev.obj).items():
            if (uid, key) in self._noticed or not containers:
                continue
            self._noticed.add((uid, key))
            self.cluster.logs.write(meta(ev.obj).get("namespace", ""), meta(ev.obj)["name"], containers[0]["name"],
                                    notice(key, value))
