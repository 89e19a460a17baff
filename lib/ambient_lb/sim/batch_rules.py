"""What the API server's batch/v1 strategies do to a Job or a CronJob before it is stored (R16.17, R16.24).

Who calls it: the API server (``server/defaults.py`` on every write, ``server/validation.py``) and the
CronJob controller, which creates Jobs itself and runs ``job_defaults`` on them, as the API server
would for its POST.

- ``job_defaults`` (``SetDefaults_Job`` and the strategy's ``generateSelector``): completions and
  parallelism 1 when both are unset, parallelism 1, backoffLimit 6, completionMode NonIndexed,
  suspend false, podReplacementPolicy TerminatingOrFailed, manualSelector false; unless
  ``manualSelector``, the template gets the labels ``batch.kubernetes.io/controller-uid``,
  ``batch.kubernetes.io/job-name``, ``controller-uid`` and ``job-name`` and the selector
  ``matchLabels: {batch.kubernetes.io/controller-uid: <uid>}``; then a Job without labels gets the
  template's (the stored Job is defaulted again when it is read back, so the generated ones too).
- ``cronjob_defaults`` (``SetDefaults_CronJob``): concurrencyPolicy Allow, suspend false, history
  limits 3 (successful) and 1 (failed).
- ``job_causes`` / ``cronjob_causes``: the validation this simulator repeats (restartPolicy OnFailure
  or Never, non-negative counts, a selector that selects the template, a parseable schedule and a
  known time zone, a CronJob name of at most 52 characters).
- ``refusal``: what the simulator does not model is refused (403, like an admission plugin's denial)
  rather than silently ignored: Indexed completion, podFailurePolicy, successPolicy,
  backoffLimitPerIndex, maxFailedIndexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import cron, selectors

Obj = dict[str, Any]
Cause = tuple[str, str, str]
JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")
UNMODELLED = {"podFailurePolicy": "a pod failure policy", "successPolicy": "a success policy",
              "backoffLimitPerIndex": "a backoff limit per index", "maxFailedIndexes": "a maximum of failed indexes"}
CRONJOB_NAME_MAX = 52  # 63 minus the 11 characters of the "-<minutes>" suffix of its Jobs


def job_spec_defaults(spec: Obj) -> None:
    """Defaults a Job spec (or a CronJob's job template spec) as the API server does."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"], spec["parallelism"] = 1, 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)


def job_defaults(obj: Obj, new_uid: Callable[[], str]) -> None:
    """Defaults and the generated selector; ``new_uid`` gives the Job its uid if it has none yet."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    job_spec_defaults(spec)
    md = obj.setdefault("metadata", {})
    tmpl = spec.setdefault("template", {})
    tmpl_md = tmpl.setdefault("metadata", {}) if isinstance(tmpl, dict) else {}
    if not spec.get("manualSelector"):
        uid = md.get("uid") or md.setdefault("uid", new_uid())
        labels = tmpl_md.setdefault("labels", {})
        for key in JOB_LABELS:
            labels.setdefault(key, uid if key.endswith("controller-uid") else md.get("name", ""))
        selector = spec.setdefault("selector", {})
        selector.setdefault("matchLabels", {}).setdefault("batch.kubernetes.io/controller-uid", uid)
    # the API server defaults again when it reads the stored Job, so the generated labels reach it too
    if tmpl_md.get("labels") and not md.get("labels"):
        md["labels"] = dict(tmpl_md["labels"])


def cronjob_defaults(obj: Obj) -> None:
    """Defaults a CronJob as the API server does, its job template's spec included."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)  # the jobTemplate's JobSpec stays as written: its Jobs get defaults


# ---- validation --------------------------------------------------------------------------------------
def _non_negative(spec: Obj, at: str, keys: tuple[str, ...]) -> list[Cause]:
    out = []
    for k in keys:
        v = spec.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            out.append(("FieldValueInvalid", f"{at}.{k}", f"Invalid value: {v}: must be greater than or equal to 0"))
    return out


def job_spec_causes(spec: Obj, at: str, *, selector: bool = True) -> list[Cause]:
    """The validation errors of a Job spec at path ``at`` (the selector too, unless selector=False)."""
    out = _non_negative(spec, at, ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        out.append(("FieldValueInvalid", f"{at}.activeDeadlineSeconds",
                    f"Invalid value: {deadline}: must be greater than 0"))
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        out.append(("FieldValueNotSupported", f"{at}.completionMode",
                    f'Unsupported value: "{mode}": supported values: "NonIndexed", "Indexed"'))
    tmpl = found if isinstance(found := spec.get("template"), dict) else {}
    policy = (tmpl.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Always":
        out.append(("FieldValueRequired", f"{at}.template.spec.restartPolicy",
                    'Required value: valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        out.append(("FieldValueNotSupported", f"{at}.template.spec.restartPolicy",
                    f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'))
    sel = spec.get("selector")
    if selector and isinstance(sel, dict):  # R18.4: a valid selector that selects the template
        out += selectors.selector_causes(sel, f"{at}.selector")
        labels = ((tmpl.get("metadata") or {}).get("labels")) or {}
        try:
            selects = selectors.as_selector(sel).matches(labels)
        except selectors.SelectorError:
            selects = True  # ValidateJobSpec checks the template only with a selector it can convert
        if not selects:
            shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"
            out.append(("FieldValueInvalid", f"{at}.template.metadata.labels",
                        f"Invalid value: {shown}: `selector` does not match template `labels`"))
    return out


def job_causes(obj: Obj) -> list[Cause]:
    """The validation errors of a Job."""
    spec = found if isinstance(found := obj.get("spec"), dict) else {}
    return job_spec_causes(spec, "spec")


def cronjob_causes(obj: Obj) -> list[Cause]:
    """The validation errors of a CronJob: its name length, schedule, time zone, policy and job template."""
    spec = found if isinstance(found := obj.get("spec"), dict) else {}
    name = str((obj.get("metadata") or {}).get("name") or "")
    out: list[Cause] = []
    if len(name) > CRONJOB_NAME_MAX:
        out.append(("FieldValueInvalid", "metadata.name",
                    f'Invalid value: "{name}": must be no more than {CRONJOB_NAME_MAX} characters'))
    schedule = spec.get("schedule")
    if not schedule:
        out.append(("FieldValueRequired", "spec.schedule", "Required value"))
    else:
        try:
            cron.Schedule.parse(str(schedule))
        except cron.CronError as exc:
            out.append(("FieldValueInvalid", "spec.schedule", f'Invalid value: "{schedule}": {exc}'))
        if "TZ" in str(schedule):
            out.append(("FieldValueInvalid", "spec.schedule", f'Invalid value: "{schedule}": cannot use TZ or '
                        "CRON_TZ in schedule, use timeZone field instead"))
    tz = spec.get("timeZone")
    if tz is not None:
        try:
            cron.zone(str(tz))
        except cron.CronError as exc:
            out.append(("FieldValueInvalid", "spec.timeZone", f'Invalid value: "{tz}": {exc}'))
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ("Allow", "Forbid", "Replace"):
        out.append(("FieldValueNotSupported", "spec.concurrencyPolicy",
                    f'Unsupported value: "{policy}": supported values: "Allow", "Forbid", "Replace"'))
    out += _non_negative(spec, "spec", ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                                         "failedJobsHistoryLimit"))
    job_spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return out + job_spec_causes(job_spec, "spec.jobTemplate.spec", selector=False)


def refusal(kind: str, obj: Obj) -> str | None:
    """Why the simulator refuses this Job or CronJob (R16.24), or None."""
    spec = found if isinstance(found := obj.get("spec"), dict) else {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    what = [text for key, text in UNMODELLED.items() if spec.get(key) is not None]
    if spec.get("completionMode") == "Indexed":
        what.insert(0, "Indexed completion (completionMode: Indexed)")
    if not what:
        return None
    return (f"the ambient-lb simulator does not model {' or '.join(what)} (docs/semantics-addendum.md R16.24); "
            "remove it, or run this Job on a real cluster")
