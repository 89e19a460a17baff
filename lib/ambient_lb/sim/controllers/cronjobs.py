"""CronJobs: a Job at every scheduled time on the simulated clock, as the cronjob controller (v2) does
(R16.25, R16.26).

Who calls it: started by ``all_controllers``; runs a CronJob when it or one of its Jobs changes, and
at the next time its schedule fires (``sim/cron.py``, in ``spec.timeZone``, UTC by default).

- The Job for a scheduled time ``t`` is ``<cronjob>-<t in minutes since the epoch>``, with the job
  template's labels and annotations, the annotation ``batch.kubernetes.io/cronjob-scheduled-timestamp``
  (``t`` in RFC 3339, in the CronJob's zone), owned by the CronJob; event ``SuccessfulCreate``
  ``Created job <name>``. The most recent missed time since ``lastScheduleTime`` (else the CronJob's
  creation) runs once; more than 100 missed times also give the warning ``TooManyMissedTimes``; a
  time older than ``startingDeadlineSeconds`` is skipped (``MissSchedule``).
- ``concurrencyPolicy``: Allow runs Jobs side by side; Forbid skips a time while a Job is active
  (``JobAlreadyActive``); Replace deletes the active Jobs first (``SuccessfulDelete``).
- ``suspend`` stops new Jobs; running ones go on.
- Status: ``active`` (references to unfinished Jobs), ``lastScheduleTime``, ``lastSuccessfulTime``;
  a finished Job leaves ``active`` with the event ``SawCompletedJob``.
- History: the newest ``successfulJobsHistoryLimit`` (3) Complete and ``failedJobsHistoryLimit`` (1)
  Failed Jobs are kept, older ones deleted (in the background: the garbage collector takes their pods).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from .. import batch_rules, cron
from ..clock import parse_rfc3339, to_rfc3339
from ..protocols import SimCluster
from ..store import GR, StoreError
from .admission import admit
from .deletion import delete_object
from .jobs import JOBS, finished
from .objects import Obj, deleting, edit_status, meta
from .owners import controller_of, owned_by, owner_ref
from .queue import WorkQueue

CRONJOBS = GR("batch", "cronjobs")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MANY_MISSED = 100


def job_name(cronjob: Obj, scheduled: float) -> str:
    """The name of the Job a CronJob creates for a scheduled time (its name and the minute since the epoch)."""
    return f"{meta(cronjob)['name']}-{int(scheduled) // 60}"


def job_for(cronjob: Obj, scheduled: float, tz: dt.tzinfo) -> Obj:
    """``getJobFromTemplate2``: the Job a CronJob creates for ``scheduled``."""
    tmpl = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
    tmd = tmpl.get("metadata") or {}
    annotations = dict(tmd.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = dt.datetime.fromtimestamp(scheduled, tz).isoformat().replace("+00:00", "Z")
    md: Obj = {"name": job_name(cronjob, scheduled), "namespace": meta(cronjob)["namespace"],
               "annotations": annotations, "ownerReferences": [owner_ref(cronjob, "batch/v1", "CronJob")]}
    if tmd.get("labels"):
        md["labels"] = dict(tmd["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md, "spec": tmpl.get("spec") or {}}


def _ref(job: Obj) -> Obj:
    md = meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"], "namespace": md["namespace"],
            "resourceVersion": md.get("resourceVersion", ""), "uid": md["uid"]}


def _start(job: Obj) -> str:
    return (job.get("status") or {}).get("startTime") or meta(job).get("creationTimestamp", "")


class CronJobController:
    """The cronjob controller (v2): a Job at every scheduled time, the concurrency policy, and the history limits."""

    name = "cronjob-controller"

    def start(self, cluster: SimCluster) -> None:
        """Queues a CronJob when it or one of its Jobs changes, and reconciles it from the work queue."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == CRONJOBS and ev.type != "DELETED":
            self.queue.add((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif ev.gr == JOBS:
            owner = controller_of(ev.obj, "CronJob")
            if owner:
                self.queue.add((meta(ev.obj)["namespace"], owner))

    def _reconcile(self, key: tuple[str, str]) -> None:
        cj = self.cluster.store.get(CRONJOBS, *key)
        if cj is None:
            return
        jobs = [j for j in self.cluster.store.list(JOBS, key[0]) if owned_by(j, cj)]
        status = copy.deepcopy(cj.get("status") or {})
        self._sync_active(cj, status, jobs)
        if not deleting(cj):
            self._schedule(cj, status, jobs)
            self._cleanup(cj, jobs)
        ordered = {k: status[k] for k in ("active", "lastScheduleTime", "lastSuccessfulTime") if status.get(k)}
        edit_status(self.cluster.store, CRONJOBS, *key, lambda o: o.__setitem__("status", ordered))

    def _sync_active(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        active = {ref.get("uid"): ref for ref in status.get("active") or []}
        by_uid = {meta(j)["uid"]: j for j in jobs}
        for uid, job in by_uid.items():
            state = finished(job)
            if state is None and uid not in active and not deleting(job):
                active[uid] = _ref(job)
            elif state is not None and uid in active:
                del active[uid]
                self._event(cj, "Normal", "SawCompletedJob", f"Saw completed job: {meta(job)['name']}, "
                            f"condition: {state}")
                done = (job.get("status") or {}).get("completionTime")
                if state == "Complete" and done and done > (status.get("lastSuccessfulTime") or ""):
                    status["lastSuccessfulTime"] = done
        for uid in [u for u in active if u not in by_uid]:
            self._event(cj, "Normal", "MissingJob", f"Active job went missing: {active.pop(uid)['name']}")
        status["active"] = sorted(active.values(), key=lambda r: r["name"])

    def _schedule(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        spec, key = cj.get("spec") or {}, (meta(cj)["namespace"], meta(cj)["name"])
        try:
            schedule = cron.Schedule.parse(str(spec.get("schedule", "")), spec.get("timeZone"))
        except cron.CronError as exc:
            reason = "UnknownTimeZone" if "time zone" in str(exc) else "UnparseableSchedule"
            self._event(cj, "Warning", reason, f"invalid schedule: {spec.get('schedule')!r}: {exc}")
            return
        if spec.get("suspend"):
            return
        now = self.cluster.clock.now()
        scheduled = self._most_recent(cj, schedule, now, status)
        nxt = schedule.next_after(now)
        if nxt is not None:
            self.queue.add_after(max(0.0, nxt - now), key)
        if scheduled is None or parse_rfc3339(status.get("lastScheduleTime") or "1970-01-01T00:00:00Z") >= scheduled:
            return
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + int(deadline) < now:
            self._event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                        f"{dt.datetime.fromtimestamp(scheduled, dt.UTC):%a, %d %b %Y %H:%M:%S +0000}")
            return
        if status.get("active") and spec.get("concurrencyPolicy") == "Forbid":
            self._event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running "
                        "and concurrency policy is Forbid")
            return
        if status.get("active") and spec.get("concurrencyPolicy") == "Replace":
            for ref in status["active"]:
                delete_object(self.cluster, JOBS, ref["namespace"], ref["name"])
                self._event(cj, "Normal", "SuccessfulDelete", f"Deleted job {ref['name']}")
            status["active"] = []
        job = self._create_job(cj, scheduled, schedule.tz)
        if job is not None:
            status["active"] = sorted(status.get("active", []) + [_ref(job)], key=lambda r: r["name"])
        status["lastScheduleTime"] = to_rfc3339(scheduled)

    def _most_recent(self, cj: Obj, schedule: cron.Schedule, now: float, status: Obj) -> float | None:
        """``mostRecentScheduleTime``: the last time the schedule fired since the last run (or creation)."""
        earliest = parse_rfc3339(status.get("lastScheduleTime") or meta(cj)["creationTimestamp"])
        deadline = (cj.get("spec") or {}).get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - int(deadline))
        found, missed, t = None, 0, schedule.next_after(earliest)
        while t is not None and t <= now and missed <= MANY_MISSED:
            found, missed, t = t, missed + 1, schedule.next_after(t)
        if missed > MANY_MISSED:
            self._event(cj, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                        ".spec.startingDeadlineSeconds or check clock skew")
            while t is not None and t <= now:  # still run the most recent one
                found, t = t, schedule.next_after(t)
        return found

    def _create_job(self, cj: Obj, scheduled: float, tz: dt.tzinfo) -> Obj | None:
        job = job_for(cj, scheduled, tz)
        batch_rules.job_defaults(job, self.cluster.store.new_uid)
        try:
            created = self.cluster.store.create(JOBS, admit(self.cluster, "CREATE", JOBS, job))
        except StoreError:
            return self.cluster.store.get(JOBS, meta(cj)["namespace"], job["metadata"]["name"])
        self._event(cj, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for state, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                             ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            done = sorted((j for j in jobs if finished(j) == state and not deleting(j)), key=_start)
            for job in done[:max(0, len(done) - int(limit))]:
                delete_object(self.cluster, JOBS, meta(job)["namespace"], meta(job)["name"])
                self._event(cj, "Normal", "SuccessfulDelete", f"Deleted job {meta(job)['name']}")

    def _event(self, cj: Obj, type_: str, reason: str, message: str) -> None:
        self.cluster.extensions["events"].record(cj, "batch/v1", "CronJob", type_, reason, message, self.name)
