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


def running(pod: Obj, now: float, pod_ip: str, waiting: dict[str, tuple[str, str]] | None = None) -> None:
    """Running, containers started, not yet Ready (the readiness probe has not passed). A container in
    ``waiting`` (name -> (reason, message), an image not pulled, R14.12) was not created: it waits, and
    while it does the pod stays Pending (``getPhase``: a container that never ran is ``waiting``)."""
    status = pod["status"]
    status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    _conditions(pod, now, PodReadyToStartContainers=("True", None))
    status["containerStatuses"] = _container_statuses(
        pod, {"running": {"startedAt": to_rfc3339(now)}}, ready=False, started=True)
    for name, (reason, message) in (waiting or {}).items():
        image_waiting(pod, name, reason, message)
    status["phase"] = _started_phase(pod)


def _started_phase(pod: Obj) -> str:
    """Pending while a container has never run (waiting, no terminated last state), else Running."""
    never_ran = [cs for cs in pod["status"].get("containerStatuses") or []
                 if "waiting" in (cs.get("state") or {}) and not (cs.get("lastState") or {}).get("terminated")]
    return "Pending" if never_ran else "Running"


def image_waiting(pod: Obj, name: str, reason: str, message: str, image: str | None = None) -> None:
    """A container whose image is not pulled (R14.12): not created, so no containerID and no imageID;
    ``image`` is the spec's (it may have been changed since the pod started)."""
    cs = _container(pod, name)
    cs.pop("containerID", None)
    cs.update(imageID="", ready=False, started=False, state={"waiting": {"message": message, "reason": reason}})
    if image is not None:
        cs["image"] = image


def config_waiting(pod: Obj, name: str, message: str) -> None:
    """A container the kubelet cannot create, its environment unresolved (R20.4): waiting in
    ``CreateContainerConfigError``; the pod stays Pending while it has never run."""
    cs = _container(pod, name)
    cs.pop("containerID", None)
    cs.update(ready=False, started=False, state={"waiting": {"message": message,
                                                            "reason": "CreateContainerConfigError"}})
    pod["status"]["phase"] = _started_phase(pod)


def container_started(pod: Obj, name: str, now: float, image: str) -> None:
    """A container created at last, its image now pulled: running; the pod Running once none waits for one."""
    cs = _container(pod, name)
    cs.update(containerID=container_id(pod["metadata"].get("uid", ""), name), image=image, imageID=image_id(image),
              started=True, ready=False, state={"running": {"startedAt": to_rfc3339(now)}})
    pod["status"]["containerStatuses"] = [dict(sorted(c.items())) for c in pod["status"]["containerStatuses"]]
    pod["status"]["phase"] = _started_phase(pod)


def readiness(pod: Obj, now: float, ready: bool) -> None:
    """The readiness probe result: Ready/ContainersReady and each container's ``ready``."""
    if ready:
        _conditions(pod, now, Ready=("True", None), ContainersReady=("True", None))
    else:
        _conditions(pod, now, Ready=("False", "ContainersNotReady"), ContainersReady=("False", "ContainersNotReady"))
    for cs in pod["status"].get("containerStatuses") or []:
        cs["ready"] = ready


def exited(pod: Obj, now: float, codes: dict[str, int] | None = None) -> None:
    """Every container exited after SIGTERM (0, or its process's code in ``codes``, R20.1); the pod
    reaches a terminal phase before removal: Failed if a code is not 0, else Succeeded."""
    status, codes = pod["status"], codes or {}
    for cs in status.get("containerStatuses") or []:
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
        code = codes.get(cs.get("name", ""), 0)
        cs["state"] = {"terminated": {"containerID": cs.get("containerID", ""), "exitCode": code,
                                      "finishedAt": to_rfc3339(now), "reason": "Error" if code else "Completed",
                                      "startedAt": started or to_rfc3339(now)}}
        cs["ready"], cs["started"] = False, False
    _conditions(pod, now, PodReadyToStartContainers=("False", None), Ready=("False", "PodCompleted"),
                ContainersReady=("False", "PodCompleted"))
    for kind in ("Ready", "ContainersReady"):
        c = condition(pod, kind)
        if c is not None:
            c.pop("message", None)
    status["phase"] = "Failed" if any(codes.values()) else "Succeeded"


def _container(pod: Obj, name: str) -> Obj:
    return next(cs for cs in pod["status"].get("containerStatuses") or [] if cs.get("name") == name)


def container_exited(pod: Obj, name: str, now: float, exit_code: int, restarts: int, reason: str | None = None,
                     message: str | None = None) -> None:
    """One container's process exited (R14.8): terminated, Error for a non-zero code (or ``reason``
    with ``message``: StartError, R20.3); the pod is not Ready."""
    cs = _container(pod, name)
    started = ((cs.get("state") or {}).get("running") or {}).get("startedAt") or to_rfc3339(now)
    cs["state"] = {"terminated": {"containerID": cs.get("containerID", ""), "exitCode": exit_code,
                                  "finishedAt": to_rfc3339(now),
                                  "reason": reason or ("Error" if exit_code else "Completed"), "startedAt": started}}
    if message:
        cs["state"]["terminated"]["message"] = message
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
