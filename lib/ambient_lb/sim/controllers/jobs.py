"""Jobs: run pods to completion, count them, retry with back-off, and finish Complete or Failed, as
kube-controller-manager's job controller does in 1.31 (R16.18, R16.19).

Who calls it: started by ``all_controllers``; re-runs a Job on any change of it or of a pod it
controls, and at the times it waits for (back-off, active deadline).

- Pods: ``<job>-<5 chars>`` from the Job's template (its labels include ``job-name``,
  ``controller-uid`` and their ``batch.kubernetes.io/`` forms), owned by the Job, created with the
  finalizer ``batch.kubernetes.io/job-tracking``. A pod is counted once, when it has finished
  (``succeeded``/``failed``) or is being deleted before succeeding (failed:
  podReplacementPolicy TerminatingOrFailed); its finalizer goes when it is counted.
- Active pods wanted: ``min(parallelism, completions − succeeded)``; without completions,
  ``parallelism`` until one pod succeeded. After failures, a new pod waits ``10 s × 2^(n−1)``
  (capped at 10 min) from the last failure, n the failures since the last success.
- Failure: more failed pods than ``backoffLimit`` (with restartPolicy OnFailure: the active pods'
  restarts reaching it), or ``activeDeadlineSeconds`` since ``startTime``: the interim condition
  ``FailureTarget`` (BackoffLimitExceeded / DeadlineExceeded), active pods deleted, then ``Failed``
  with the same reason once no pod is terminating; event ``Warning <reason>``.
- Success: the wanted successes and no active pod: ``SuccessCriteriaMet`` then ``Complete`` (reason
  CompletionsReached, "Reached expected number of succeeded pods"), ``completionTime``; event
  ``Completed``.
- ``suspend``: active pods deleted, ``Suspended`` True (JobSuspended); resuming sets it False
  (JobResumed) and resets ``startTime``.
- A Job being deleted, or gone, releases its pods' finalizers; so does a pod left without a
  controller. Jobs with another ``spec.managedBy`` are left alone.
- Status: conditions, startTime, completionTime, active, succeeded, failed (each left out at 0),
  terminating, uncountedTerminatedPods ``{}`` and ready, in the API's field order.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from ..clock import parse_rfc3339, to_rfc3339
from ..protocols import SimCluster
from ..store import GR
from .deletion import delete_object
from .keys import PODS
from .names import named_rng, random_suffix
from .objects import Obj, deleting, edit_status, is_true, meta, namespace_open
from .owners import controller_of, owned_by
from .queue import QueuedController
from .replicasets import pod_from_template

JOBS = GR("batch", "jobs")
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
BACKOFF_START, BACKOFF_MAX = 10.0, 600.0  # DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff
CONTROLLER_NAME = "kubernetes.io/job-controller"
REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
TERMINAL = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}  # interim -> terminal condition


def finished(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has that condition, else None."""
    for kind in ("Complete", "Failed"):
        if is_true(job, kind):
            return kind
    return None


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _counted_failed(pod: Obj) -> bool:
    """``isPodFailed`` (podReplacementPolicy TerminatingOrFailed): Failed, or deleted before it succeeded."""
    phase = (pod.get("status") or {}).get("phase")
    return phase == "Failed" or (deleting(pod) and phase != "Succeeded")


def finish_time(pod: Obj) -> float:
    """``getFinishedTime``: the last container's finishedAt, else Ready's transition, else the deletion."""
    ends = [((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
            for cs in (pod.get("status") or {}).get("containerStatuses") or []]
    if ends and all(ends):
        return max(parse_rfc3339(e) for e in ends if e)
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "False" and c.get("lastTransitionTime"):
            return parse_rfc3339(c["lastTransitionTime"])
    md = meta(pod)
    if md.get("deletionTimestamp"):
        return parse_rfc3339(md["deletionTimestamp"]) - float(md.get("deletionGracePeriodSeconds") or 0)
    return parse_rfc3339(md.get("creationTimestamp", "1970-01-01T00:00:00Z"))


def backoff_wait(failures: int) -> float:
    """How long the job controller waits before a new pod after this many failures (exponential, capped)."""
    return 0.0 if failures <= 0 else min(BACKOFF_MAX, BACKOFF_START * 2 ** (failures - 1))


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    out: Obj = {"type": kind, "status": status, "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


class JobController(QueuedController):
    """The job controller: pods run to completion, counted, retried with back-off, and the Job finishes."""

    name = "job-controller"

    def start(self, cluster: SimCluster) -> None:
        """Starts as a queued controller, with no back-off recorded yet."""
        super().start(cluster)
        self._backoff: dict[tuple[str, str], tuple[int, float | None]] = {}  # failures since success, last failure

    def _make_rng(self, cluster: SimCluster) -> random.Random:
        return named_rng(cluster, self.name)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == JOBS:
            key = (meta(ev.obj)["namespace"], meta(ev.obj)["name"])
            if ev.type == "DELETED":
                self._backoff.pop(key, None)
                self.queue.add(("gone", meta(ev.obj)["namespace"], meta(ev.obj)["uid"]))
            else:
                self.queue.add(key)
        elif ev.gr == PODS:
            owner = controller_of(ev.obj, "Job")
            if owner:
                self.queue.add((meta(ev.obj)["namespace"], owner))
            elif ev.type != "DELETED" and TRACKING_FINALIZER in (meta(ev.obj).get("finalizers") or []):
                self.queue.add(("orphan", meta(ev.obj)["namespace"], meta(ev.obj)["name"]))

    # ---- reconcile ------------------------------------------------------------------------------
    def _reconcile(self, key: tuple[str, ...]) -> None:
        if key[0] == "gone":
            self._release_all(key[1], lambda p: (controller_uid_of(p) == key[2]))
            return
        if key[0] == "orphan":
            self._release_all(key[1], lambda p: meta(p)["name"] == key[2] and controller_of(p, "Job") is None)
            return
        job = self.cluster.store.get(JOBS, *key)
        if job is None or (job.get("spec") or {}).get("managedBy", CONTROLLER_NAME) != CONTROLLER_NAME:
            return
        pods = [p for p in self.cluster.store.list(PODS, key[0]) if owned_by(p, job)]
        if deleting(job) or finished(job):
            self._release(pods)
            return
        self._sync(job, pods)

    def _sync(self, job: Obj, pods: list[Obj]) -> None:
        key, spec, now = (meta(job)["namespace"], meta(job)["name"]), job["spec"], self.cluster.clock.now()
        status = copy.deepcopy(job.get("status") or {})
        new_succeeded = [p for p in pods if self._tracked(p) and (p.get("status") or {}).get("phase") == "Succeeded"]
        new_failed = [p for p in pods if self._tracked(p) and p not in new_succeeded and _counted_failed(p)]
        status["succeeded"] = int(status.get("succeeded") or 0) + len(new_succeeded)
        status["failed"] = int(status.get("failed") or 0) + len(new_failed)
        self._record_backoff(key, new_succeeded, new_failed)
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = to_rfc3339(now)
        active = [p for p in pods if not deleting(p) and not _terminal(p)]
        decided = any(c.get("type") in TERMINAL and c.get("status") == "True" for c in status.get("conditions") or [])
        interim = None if decided else self._interim(job, status, active, now)
        if decided or interim is not None or suspended:  # nothing more runs: the active pods go
            self._delete_pods(job, active)
            active = []
        else:
            active = self._manage(job, status, active)
        self._suspension(job, status, suspended, now)
        if interim is None and not decided and not suspended and self._succeeded_enough(spec, status, active):
            interim = _condition("SuccessCriteriaMet", "True", *REACHED, to_rfc3339(now))
        self._write(job, status, pods, active, interim, new_succeeded + new_failed, now)

    def _tracked(self, pod: Obj) -> bool:
        return TRACKING_FINALIZER in (meta(pod).get("finalizers") or []) and (_terminal(pod) or deleting(pod))

    def _record_backoff(self, key: tuple[str, str], succeeded: list[Obj], failed: list[Obj]) -> None:
        """``newBackoffRecord``: failures since the last success, and when the last one finished."""
        count, last = self._backoff.get(key, (0, None))
        if succeeded:
            last_success = max(finish_time(p) for p in succeeded)
            later = sorted(finish_time(p) for p in failed if finish_time(p) > last_success)
            count, last = len(later), (later[-1] if later else None)
        elif failed:
            count, last = count + len(failed), max(finish_time(p) for p in failed)
        self._backoff[key] = (count, last)

    def _interim(self, job: Obj, status: Obj, active: list[Obj], now: float) -> Obj | None:
        """The FailureTarget condition to add now, if the Job has just failed (R16.18)."""
        spec, stamp = job["spec"], to_rfc3339(now)
        limit = int(spec.get("backoffLimit", 6))
        if status["failed"] > limit or self._past_backoff_on_failure(spec, active, limit):
            return _condition("FailureTarget", "True", *BACKOFF_EXCEEDED, stamp)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and status.get("startTime") and not spec.get("suspend"):
            left = parse_rfc3339(status["startTime"]) + int(deadline) - now
            if left <= 0:
                return _condition("FailureTarget", "True", *DEADLINE_EXCEEDED, stamp)
            self.queue.add_after(left, (meta(job)["namespace"], meta(job)["name"]))
        return None

    @staticmethod
    def _past_backoff_on_failure(spec: Obj, active: list[Obj], limit: int) -> bool:
        if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
            return False
        restarts = sum(int(cs.get("restartCount") or 0) for p in active
                       for cs in ((p.get("status") or {}).get("initContainerStatuses") or [])
                       + ((p.get("status") or {}).get("containerStatuses") or []))
        return restarts > 0 if limit == 0 else restarts >= limit

    def _manage(self, job: Obj, status: Obj, active: list[Obj]) -> list[Obj]:
        """``manageJob``: create or delete pods toward the wanted number of active ones."""
        spec = job["spec"]
        parallelism, completions = int(spec.get("parallelism", 1)), spec.get("completions")
        if completions is None:
            want = len(active) if status["succeeded"] > 0 else parallelism
        else:
            want = max(0, min(parallelism, int(completions) - status["succeeded"]))
        if len(active) > want:
            newest_first = sorted(active, key=lambda p: meta(p).get("creationTimestamp", ""), reverse=True)
            extra = newest_first[:len(active) - want]
            self._delete_pods(job, extra)
            return [p for p in active if p not in extra]
        if len(active) < want and namespace_open(self.cluster, meta(job)["namespace"]):
            key = (meta(job)["namespace"], meta(job)["name"])
            failures, last = self._backoff.get(key, (0, None))
            wait = backoff_wait(failures) - (self.cluster.clock.now() - last) if last is not None else 0.0
            if wait > 0:
                self.queue.add_after(wait, key)
                return active
            return active + [self._create_pod(job) for _ in range(want - len(active))]
        return active

    def _create_pod(self, job: Obj) -> Obj:
        pod = pod_from_template(self.cluster, job, "Job", self.rng, api_version="batch/v1")
        pod["metadata"]["finalizers"] = [TRACKING_FINALIZER]
        ns = meta(job)["namespace"]
        while self.cluster.store.get(PODS, ns, pod["metadata"]["name"]) is not None:
            pod["metadata"]["name"] = f"{meta(job)['name']}-{random_suffix(self.rng)}"
        created = self.cluster.store.create(PODS, pod)
        self._event(job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def _delete_pods(self, job: Obj, pods: list[Obj]) -> None:
        for p in pods:
            delete_object(self.cluster, PODS, meta(p)["namespace"], meta(p)["name"])
            self._event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(p)['name']}")

    def _suspension(self, job: Obj, status: Obj, suspended: bool, now: float) -> None:
        conds = status.setdefault("conditions", [])
        current = next((c for c in conds if c.get("type") == "Suspended"), None)
        stamp = to_rfc3339(now)
        if suspended and (current is None or current.get("status") != "True"):
            cond = _condition("Suspended", "True", "JobSuspended", "Job suspended", stamp)
            conds[:] = [c for c in conds if c is not current] + [cond]
            self._event(job, "Normal", "Suspended", "Job suspended")
        elif not suspended and current is not None and current.get("status") == "True":
            current.update(_condition("Suspended", "False", "JobResumed", "Job resumed", stamp))
            status["startTime"] = stamp  # a resumed Job's activeDeadlineSeconds counts from now
            self._event(job, "Normal", "Resumed", "Job resumed")
        if not conds:
            status.pop("conditions")

    @staticmethod
    def _succeeded_enough(spec: Obj, status: Obj, active: list[Obj]) -> bool:
        if active:
            return False
        completions = spec.get("completions")
        return status["succeeded"] > 0 if completions is None else status["succeeded"] >= int(completions)

    def _write(self, job: Obj, status: Obj, pods: list[Obj], active: list[Obj], interim: Obj | None,
               counted: list[Obj], now: float) -> None:
        conds = status.setdefault("conditions", [])
        if interim is not None:
            conds.append(interim)
        pending = next((c for c in conds if c.get("type") in TERMINAL and c.get("status") == "True"), None)
        terminating = [p for p in self._current_pods(job) if deleting(p) and not _terminal(p)]
        done = None
        if pending is not None and not terminating:  # R16.18: the terminal condition once pods are gone
            done = _condition(TERMINAL[pending["type"]], "True", pending.get("reason", ""),
                              pending.get("message", ""), to_rfc3339(now))
            conds.append(done)
            if done["type"] == "Complete":
                status["completionTime"] = done["lastTransitionTime"]
        if not conds:
            status.pop("conditions")
        ready = sum(1 for p in active if is_true(p, "Ready"))
        counts = {"active": len(active), "succeeded": status.get("succeeded", 0), "failed": status.get("failed", 0)}
        ordered: Obj = {k: status[k] for k in ("conditions", "startTime", "completionTime") if status.get(k)}
        ordered.update({k: v for k, v in counts.items() if v})
        ordered.update(terminating=len(terminating), uncountedTerminatedPods={}, ready=ready)
        ns, name = meta(job)["namespace"], meta(job)["name"]
        edit_status(self.cluster.store, JOBS, ns, name, lambda o: o.__setitem__("status", ordered))
        self._release(counted if done is None else pods)
        if done is not None:
            if done["type"] == "Complete":
                self._event(job, "Normal", "Completed", "Job completed")
            else:
                self._event(job, "Warning", done.get("reason", ""), done.get("message", ""))
        elif pending is not None and terminating:
            self._release([p for p in pods if deleting(p)])

    def _current_pods(self, job: Obj) -> list[Obj]:
        return [p for p in self.cluster.store.list(PODS, meta(job)["namespace"]) if owned_by(p, job)]

    # ---- finalizers -----------------------------------------------------------------------------
    def _release(self, pods: list[Obj]) -> None:
        for p in pods:
            if TRACKING_FINALIZER in (meta(p).get("finalizers") or []):
                self.cluster.store.mutate(PODS, meta(p)["namespace"], meta(p)["name"], _drop_finalizer)

    def _release_all(self, namespace: str, which: Any) -> None:
        self._release([p for p in self.cluster.store.list(PODS, namespace) if which(p)])

    def _event(self, job: Obj, type_: str, reason: str, message: str) -> None:
        self.cluster.extensions["events"].record(job, "batch/v1", "Job", type_, reason, message, self.name)


def controller_uid_of(pod: Obj) -> str | None:
    """The uid of the Job that controls the pod, or None."""
    for ref in meta(pod).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "Job":
            return ref.get("uid")
    return None


def _drop_finalizer(pod: Obj) -> None:
    fins = [f for f in pod["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER]
    if fins:
        pod["metadata"]["finalizers"] = fins
    else:
        pod["metadata"].pop("finalizers", None)
