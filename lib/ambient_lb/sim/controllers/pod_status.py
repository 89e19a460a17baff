"""Pod status shapes the kubelet posts at each stage of a pod's life, as a real kubelet does.

Who calls it: ``kubelet.py``, one edit function per stage. Each edit takes the pod dict (a copy,
inside ``store.mutate``) and the simulated time, and changes only ``status``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..clock import to_rfc3339
from .common import Obj, condition, set_condition

CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def container_id(pod_uid: str, name: str) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}".encode()).hexdigest()


def image_id(image: str) -> str:
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image.split("@")[0]
    if "/" not in repo:
        repo = "docker.io/library/" + repo
    elif "." not in repo.split("/")[0]:
        repo = "docker.io/" + repo
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _conditions(pod: Obj, now: float, **states: tuple[str, str | None]) -> None:
    """Set conditions by type: ``Ready=("False", "ContainersNotReady")``; keep the real order."""
    status = pod.setdefault("status", {})
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    for kind, (value, reason) in states.items():
        cond: Obj = {"type": kind, "status": value, "lastProbeTime": None}
        if reason:
            unready = ", ".join(names)
            cond.update(reason=reason, message=f"containers with unready status: [{unready}]")
        set_condition(status, cond, now)
    order = {k: i for i, k in enumerate(CONDITION_ORDER)}
    status["conditions"].sort(key=lambda c: order.get(c["type"], 99))


def _container_statuses(pod: Obj, state: dict[str, Any], *, ready: bool, started: bool,
                        with_id: bool = True) -> list[Obj]:
    out = []
    for c in pod["spec"].get("containers") or []:
        cs: Obj = {"image": c.get("image", ""), "imageID": image_id(c.get("image", "")) if with_id else "",
                   "lastState": {}, "name": c["name"], "ready": ready, "restartCount": 0,
                   "started": started, "state": state}
        if with_id:
            cs["containerID"] = container_id(pod["metadata"].get("uid", ""), c["name"])
        out.append(dict(sorted(cs.items())))
    return out


def creating(pod: Obj, now: float, host_ip: str) -> None:
    """Pending, ContainerCreating: the sandbox is being set up and the images pulled."""
    status = pod.setdefault("status", {})
    status.update(phase="Pending", hostIP=host_ip, hostIPs=[{"ip": host_ip}], startTime=to_rfc3339(now))
    _conditions(pod, now, PodReadyToStartContainers=("False", None), Initialized=("True", None),
                Ready=("False", "ContainersNotReady"), ContainersReady=("False", "ContainersNotReady"))
    status["containerStatuses"] = _container_statuses(
        pod, {"waiting": {"reason": "ContainerCreating"}}, ready=False, started=False, with_id=False)


def running(pod: Obj, now: float, pod_ip: str) -> None:
    """Running, containers started, not yet Ready (the readiness probe has not passed)."""
    status = pod["status"]
    status.update(phase="Running", podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    _conditions(pod, now, PodReadyToStartContainers=("True", None))
    status["containerStatuses"] = _container_statuses(
        pod, {"running": {"startedAt": to_rfc3339(now)}}, ready=False, started=True)


def readiness(pod: Obj, now: float, ready: bool) -> None:
    """The readiness probe result: Ready/ContainersReady and each container's ``ready``."""
    if ready:
        _conditions(pod, now, Ready=("True", None), ContainersReady=("True", None))
    else:
        _conditions(pod, now, Ready=("False", "ContainersNotReady"), ContainersReady=("False", "ContainersNotReady"))
    for cs in pod["status"].get("containerStatuses") or []:
        cs["ready"] = ready


def exited(pod: Obj, now: float) -> None:
    """Every container exited 0 after SIGTERM; the pod reaches a terminal phase before removal."""
    status = pod["status"]
    for cs in status.get("containerStatuses") or []:
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
        cs["state"] = {"terminated": {"containerID": cs.get("containerID", ""), "exitCode": 0,
                                      "finishedAt": to_rfc3339(now), "reason": "Completed",
                                      "startedAt": started or to_rfc3339(now)}}
        cs["ready"], cs["started"] = False, False
    _conditions(pod, now, PodReadyToStartContainers=("False", None), Ready=("False", "PodCompleted"),
                ContainersReady=("False", "PodCompleted"))
    for kind in ("Ready", "ContainersReady"):
        c = condition(pod, kind)
        if c is not None:
            c.pop("message", None)
    status["phase"] = "Succeeded"
