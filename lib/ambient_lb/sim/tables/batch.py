"""Printers for batch/v1: what ``kubectl get jobs`` and ``kubectl get cronjobs`` show (R16.23).

Who calls it: ``tables.to_table`` through ``PRINTERS``. The apiserver's ``printJob`` and
``printCronJob`` (pkg/printers/internalversion):

- Job: NAME, STATUS (Complete, Failed, Terminating, Suspended, FailureTarget, else Running: the first
  that holds), COMPLETIONS (``succeeded/completions``; without completions ``succeeded/1``, or
  ``succeeded/1 of parallelism`` when parallelism > 1), DURATION (completionTime − startTime, or
  now − startTime while there is no completionTime: a failed Job's keeps growing; empty before it
  starts), AGE | CONTAINERS, IMAGES, SELECTOR.
- CronJob: NAME, SCHEDULE, TIMEZONE (``<none>``), SUSPEND, ACTIVE (jobs in status.active), LAST
  SCHEDULE (``<none>``, else its age), AGE | CONTAINERS, IMAGES, SELECTOR (the job template's,
  ``<none>`` when unset).
"""

from __future__ import annotations

from typing import Any

from ..clock import parse_rfc3339
from .builtin import AGE, NAME, Printer, Row, col
from .cells import containers_and_images, format_selector
from .duration import age, human_duration

Obj = dict[str, Any]
WIDE = [col("Containers", priority=1, desc="Names of each container in the template."),
        col("Images", priority=1, desc="Images referenced by each container in the template."),
        col("Selector", priority=1, desc="A label query over pods that should match the pod count.")]
JOB_COLUMNS = [NAME, col("Status", desc="Status of the job."),
               col("Completions", desc="The number of pods which reached phase Succeeded."),
               col("Duration", desc="Time required to complete the job."), AGE, *WIDE]
CRONJOB_COLUMNS = [NAME, col("Schedule", desc="The schedule in Cron format."),
                   col("Timezone", desc="The time zone name for the given schedule."),
                   col("Suspend", "boolean", desc="This flag tells the controller to suspend subsequent executions."),
                   col("Active", "integer", desc="A list of pointers to currently running jobs."),
                   col("Last Schedule", desc="Information when was the last time the job was successfully scheduled."),
                   AGE, *WIDE]
STATUS_ORDER = (("Complete", "Complete"), ("Failed", "Failed"), ("Suspended", "Suspended"),
                ("FailureTarget", "FailureTarget"))


def _has(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def job_status(obj: Obj) -> str:
    """A Job's STATUS column (Complete, Failed, Suspended, Terminating, Running, ...)."""
    status = obj.get("status") or {}
    for kind, text in STATUS_ORDER[:2]:
        if _has(status, kind):
            return text
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for kind, text in STATUS_ORDER[2:]:
        if _has(status, kind):
            return text
    return "Running"


def _completions(spec: Obj, succeeded: int) -> str:
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = int(spec.get("parallelism") or 0)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(status: Obj, now: float) -> str:
    if not status.get("startTime"):
        return ""
    start = parse_rfc3339(status["startTime"])
    end = parse_rfc3339(status["completionTime"]) if status.get("completionTime") else now
    return human_duration(end - start)


def _wide(spec: Obj, template_spec: Obj | None) -> list[str]:
    names, images = containers_and_images(template_spec)
    return [names, images, format_selector(spec.get("selector")) or "<none>"]


def job_row(obj: Obj, now: float) -> Row:
    """A Job's row as ``kubectl get jobs`` (and ``-o wide``) shows it."""
    spec, status, md = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    return [md.get("name", ""), job_status(obj), _completions(spec, int(status.get("succeeded") or 0)),
            _duration(status, now), age(md.get("creationTimestamp"), now),
            *_wide(spec, (spec.get("template") or {}).get("spec"))], None


def _bool(v: Any) -> str:
    return "<unset>" if v is None else "True" if v else "False"


def cronjob_row(obj: Obj, now: float) -> Row:
    """A CronJob's row as ``kubectl get cronjobs`` (and ``-o wide``) shows it."""
    spec, status, md = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = age(status["lastScheduleTime"], now) if status.get("lastScheduleTime") else "<none>"
    return [md.get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or "<none>", _bool(spec.get("suspend")),
            len(status.get("active") or []), last, age(md.get("creationTimestamp"), now),
            *_wide(job_spec, (job_spec.get("template") or {}).get("spec"))], None


PRINTERS: dict[tuple[str, str], Printer] = {
    ("batch", "Job"): (JOB_COLUMNS, job_row),
    ("batch", "CronJob"): (CRONJOB_COLUMNS, cronjob_row),
}
