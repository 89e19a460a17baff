"""Pod status shapes the kubelet posts at each stage of a pod's life, as a real kubelet does.

Who calls it: ``kubelet.py``, one edit function per stage. Each edit takes the pod dict (a copy,
inside ``store.mutate``) and the simulated time, and changes only ``status``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..clock import to_rfc3339
from .objects import Obj, condition, set_condition

CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def container_id(pod_uid: str, name: str, attempt: int = 0) -> str:
    """A container's containerID (``containerd://`` and a hash of the pod, the container and the attempt)."""
    key = f"{pod_uid}/{name}" + (f"/{attempt}" if attempt else "")
    return "containerd://" + hashlib.sha256(key.encode()).hexdigest()


def image_id(image: str) -> str:
    """A container's imageID: the image's fully qualified repository and a digest derived from the image."""
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


def _container(pod: Obj, name: str) -> Obj:
    return next(cs for cs in pod["status"].get("containerStatuses") or [] if cs.get("name") == name)


def container_exited(pod: Obj, name: str, now: float, exit_code: int, restarts: int) -> None:
    """One container's process exited (R14.8): terminated, Error for a non-zero code; the pod is not Ready."""
    cs = _container(pod, name)
    started = ((cs.get("state") or {}).get("running") or {}).get("startedAt") or to_rfc3339(now)
    cs["state"] = {"terminated": {"containerID": cs.get("containerID", ""), "exitCode": exit_code,
                                  "finishedAt": to_rfc3339(now), "reason": "Error" if exit_code else "Completed",
                                  "startedAt": started}}
    cs.update(ready=False, started=False, restartCount=restarts)
    _conditions(pod, now, Ready=("False", "ContainersNotReady"), ContainersReady=("False", "ContainersNotReady"))


def finished(pod: Obj, now: float, phase: str) -> None:
    """Every container ended for good (R16.22): the terminal phase, and Ready/ContainersReady False with
    the kubelet's reason for it (``PodCompleted``, ``PodFailed``); the sandbox is gone."""
    reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    _conditions(pod, now, PodReadyToStartContainers=("False", None), Ready=("False", reason),
                ContainersReady=("False", reason))
    for kind in ("Ready", "ContainersReady"):
        c = condition(pod, kind)
        if c is not None:
            c.pop("message", None)
    for cs in pod["status"].get("containerStatuses") or []:
        cs["ready"], cs["started"] = False, False
    pod["status"]["phase"] = phase


def container_back_off(pod: Obj, name: str, message: str) -> None:
    """Waiting to be restarted: CrashLoopBackOff, the last run kept as lastState."""
    cs = _container(pod, name)
    term = (cs.get("state") or {}).get("terminated")
    if term is not None:
        cs["lastState"] = {"terminated": term}
    cs["state"] = {"waiting": {"message": message, "reason": "CrashLoopBackOff"}}


def container_restarted(pod: Obj, name: str, now: float, restarts: int) -> None:
    """A new container for the same spec: running again, restartCount up, the last run kept."""
    cs = _container(pod, name)
    term = (cs.get("state") or {}).get("terminated")
    if term is not None:
        cs["lastState"] = {"terminated": term}
    cs["state"] = {"running": {"startedAt": to_rfc3339(now)}}
    cs.update(ready=False, started=True, restartCount=restarts,
              containerID=container_id(pod["metadata"].get("uid", ""), name, restarts))
