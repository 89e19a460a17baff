"""A room's results in the trainer's cluster: each Job publishes its run, the report reads them back.

Who calls it: ``runner.py`` (``ambient-lb run --publish ROOM``, inside a Job ``workshop --jobs``
started) and ``workshop_jobs.py`` / ``report.py`` (``ambient-lb report --from-cluster ROOM``).

- Publishing: the run's ``summary.json`` goes into ``ConfigMap ambient-lb-result-<attendee>`` in the pod's
  namespace, labelled ``ambient-lb.dev/workshop=<room>`` and ``ambient-lb.dev/attendee=<attendee>``, with
  the pod's own service account (``kube.PodConfigMaps``). It is written first before any notebook runs
  (so a missing permission stops the run before it changes the attendee's cluster), again after every
  notebook (``"finished": false``: the room page shows the attendee as running, and where), and last
  with the final summary.
- Reading back: every result ConfigMap of the room becomes ``<out>/<attendee>/summary.json``, the same
  file a local run writes, so the text table and the room page (``report.py``) need nothing new. A Job
  that failed before it published anything (image not pulled, kubeconfig Secret missing, deadline) gets a
  ``not-published.json`` with the Job's and the pod's own reason instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ParameterError
from .job_manifests import ATTENDEE_LABEL, CONTEXT_ANNOTATION, WORKSHOP_LABEL, dns_label, result_name

if TYPE_CHECKING:
    from .kube import Kube

SUMMARY_KEY = "summary.json"
NOT_PUBLISHED = "not-published.json"
MAX_BYTES = 900 * 1024  # a ConfigMap holds at most 1 MiB; leave room for the metadata


class Publisher:
    """Writes one attendee's run to their result ConfigMap in the pod's namespace."""

    def __init__(self, workshop: str, attendee: str) -> None:
        from .kube import PodConfigMaps

        self.workshop = dns_label(workshop, "--publish", "--publish room-12", 63)
        self.attendee = dns_label(attendee, "--run-id (the attendee's name)", "--run-id alice", 45)
        self.target = PodConfigMaps()

    def publish(self, summary: dict[str, Any], *, finished: bool) -> None:
        """Puts the summary (marked unfinished while the run goes on) into the attendee's ConfigMap."""
        doc = {**summary, "finished": finished}
        text = json.dumps(doc, indent=1)
        if len(text.encode()) > MAX_BYTES:  # keep who/where/why; drop the per-step detail of passed notebooks
            doc["notebooks"] = [n if not n.get("ok") else {**n, "steps": []} for n in summary.get("notebooks", [])]
            text = json.dumps(doc)
        self.target.put({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": result_name(self.attendee),
                                      "labels": {WORKSHOP_LABEL: self.workshop, ATTENDEE_LABEL: self.attendee,
                                                 "app.kubernetes.io/name": "ambient-lb"}},
                         "data": {SUMMARY_KEY: text}})


def fetch(kube: Kube, namespace: str, workshop: str, out: Path) -> list[Path]:
    """Writes every result of the room under ``out`` (one directory per attendee); returns the directories,
    those of Jobs that never published included. ParameterError when the room has neither."""
    selector = f"{WORKSHOP_LABEL}={workshop}"
    maps = kube.items("configmap", namespace, selector=selector)
    jobs = {(j["metadata"].get("labels") or {}).get(ATTENDEE_LABEL, j["metadata"]["name"]): j
            for j in kube.items("job", namespace, selector=selector)}
    if not maps and not jobs:
        raise ParameterError(f"workshop {workshop!r}: no Jobs and no results labelled {selector} in namespace "
                             f"{namespace} of context {kube.context}",
                             hint=f"check the name and namespace: kubectl get jobs -A -l {WORKSHOP_LABEL}")
    dirs: dict[str, Path] = {}
    for cm in maps:
        attendee = (cm["metadata"].get("labels") or {}).get(ATTENDEE_LABEL)
        text = (cm.get("data") or {}).get(SUMMARY_KEY)
        if not attendee or text is None:
            continue
        d = _fresh_dir(out, attendee)
        (d / "summary.json").write_text(text)
        dirs[attendee] = d
    for attendee, job in sorted(jobs.items()):
        if attendee in dirs:
            continue
        d = _fresh_dir(out, attendee)
        (d / NOT_PUBLISHED).write_text(json.dumps(job_state(kube, namespace, job), indent=1))
        dirs[attendee] = d
    return [dirs[a] for a in sorted(dirs)]


def _fresh_dir(out: Path, attendee: str) -> Path:
    d = out / dns_label(attendee, "attendee label", "alice")  # a label value is also a safe path part
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def job_state(kube: Kube, namespace: str, job: dict[str, Any]) -> dict[str, str]:
    """Why a Job has no result: its condition, else its pod's waiting or terminated reason, and where to look."""
    name = job["metadata"]["name"]
    context = (job["metadata"].get("annotations") or {}).get(CONTEXT_ANNOTATION, "")
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"}
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    pods = kube.items("pod", namespace, selector=f"job-name={name}")
    pod_reason = ""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            state = cs.get("state") or {}
            detail = state.get("waiting") or state.get("terminated") or {}
            if detail.get("reason") and detail.get("reason") != "Completed":
                pod_reason = f"pod {pod['metadata']['name']}: {detail['reason']}" + (
                    f": {detail['message']}" if detail.get("message") else "")
    if failed:
        state, why = "failed", f"Job {name} failed: {failed.get('reason', '')}: {failed.get('message', '')}"
    elif conditions.get("Complete"):
        state, why = "finished", f"Job {name} completed without publishing a result"
    else:
        state, why = "waiting", f"Job {name} has not published yet ({len(pods)} pod(s))"
    return {"job": name, "context": context, "state": state, "detail": why, "pod": pod_reason,
            "hint": f"kubectl logs job/{name} -n {namespace}; kubectl describe job {name} -n {namespace}"}
