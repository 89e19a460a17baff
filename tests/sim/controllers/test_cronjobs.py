"""batch/v1 CronJobs on the simulated clock (docs/semantics-addendum.md R16.25, R16.26), driven by the
real kubectl and the kubernetes client: the docs' hello CronJob runs every minute, concurrency
policies, history limits, suspension, validation, watch and delete.

One simulator with the mesh at speed 60: a simulated minute is one wall second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from ambient_lb.sim.clock import parse_rfc3339
from ambient_lb.sim.process import Simulator, running_simulator

from .world_fixtures import Kubectl, api_client, header, kubectl_for, kubectl_watch_until, rows

pytestmark = pytest.mark.kubectl


def cronjob(name: str, script: str, *, ns: str = "cron", schedule: str = "* * * * *", **spec: Any) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in spec.items())
    return f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}, namespace: {ns}}}
spec:
  schedule: "{schedule}"
{extra}  jobTemplate:
    spec:
      template:
        spec:
          containers: [{{name: main, image: busybox:1.28, command: [/bin/sh, -c, '{script}']}}]
          restartPolicy: OnFailure
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=37, speed=60) as s:
        yield s


@pytest.fixture(scope="module")
def kubectl(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    run = kubectl_for(sim, tmp_path_factory.mktemp("kcache"))
    run("create", "namespace", "cron")
    return run


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    return api_client(sim)


def _get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def _jobs_of(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    return [j for j in _get(kubectl, "jobs", "-n", "cron")["items"]
            if any(r["kind"] == "CronJob" and r["name"] == name for r in j["metadata"].get("ownerReferences") or [])]


def test_docs_hello_cronjob_runs_every_minute(client, kubectl) -> None:
    """R16.25: the Job for scheduled time t is <cronjob>-<t in minutes>, annotated with t; it runs the
    docs' script (date; echo); the CronJob records lastScheduleTime and lastSuccessfulTime."""
    kubectl("apply", "-f", "-", stdin=cronjob("hello", "date; echo Hello from the Kubernetes cluster"))
    seen: list[str] = []
    for ev in watch.Watch().stream(k8s.BatchV1Api(client).list_namespaced_job, "cron", timeout_seconds=30):
        if ev["type"] == "ADDED" and ev["object"].metadata.name.startswith("hello-"):
            seen.append(ev["object"].metadata.name)
        if len(seen) == 2:
            break
    first, second = sorted(seen)
    assert int(second.split("-")[1]) == int(first.split("-")[1]) + 1  # one a minute
    job = _get(kubectl, "job", first, "-n", "cron")
    stamp = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert parse_rfc3339(stamp) == int(first.split("-")[1]) * 60 and stamp.endswith(":00Z")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    kubectl("wait", "--for=condition=complete", f"job/{first}", "-n", "cron", "--timeout=30s")
    log = kubectl("logs", f"job/{first}", "-n", "cron").stdout.splitlines()
    assert log[1] == "Hello from the Kubernetes cluster" and log[0].endswith(stamp[:4]) and " UTC " in log[0]
    kubectl("wait", "--for=jsonpath={.status.lastSuccessfulTime}", "cronjob/hello", "-n", "cron", "--timeout=30s")
    out = kubectl("get", "cronjob", "hello", "-n", "cron", "-o", "wide").stdout
    assert header(out) == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE",
                           "CONTAINERS", "IMAGES", "SELECTOR"]
    row = rows(out)[0]
    assert row[:6] == ["hello", "*", "*", "*", "*", "*"] and row[6:8] == ["<none>", "False"]
    events = kubectl("get", "events", "-n", "cron", "--field-selector", "involvedObject.name=hello").stdout
    assert f"Created job {first}" in events and f"Saw completed job: {first}, condition: Complete" in events
    kubectl("patch", "cronjob", "hello", "-n", "cron", "--type=merge", "-p", '{"spec":{"suspend":true}}')


def _watch_jobs(client: Any, prefix: str, until: Any, timeout: int = 30) -> list[tuple[str, str]]:
    """(event type, job name) for the CronJob's Jobs, until ``until(events)``; event-driven."""
    events: list[tuple[str, str]] = []
    for ev in watch.Watch().stream(k8s.BatchV1Api(client).list_namespaced_job, "cron", timeout_seconds=timeout):
        if ev["object"].metadata.name.startswith(prefix + "-"):
            events.append((ev["type"], ev["object"].metadata.name))
            if until(events):
                break
    return events


def test_successful_jobs_history_is_trimmed(client, kubectl) -> None:
    """R16.25: only the newest successfulJobsHistoryLimit Complete Jobs stay; older ones are deleted."""
    kubectl("apply", "-f", "-", stdin=cronjob("trim", "true", successfulJobsHistoryLimit=1))
    events = _watch_jobs(client, "trim", lambda evs: any(t == "DELETED" for t, _ in evs))
    kubectl("patch", "cronjob", "trim", "-n", "cron", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    deleted = [n for t, n in events if t == "DELETED"]
    added = sorted({n for t, n in events if t == "ADDED"})
    assert deleted and deleted[0] == added[0]  # the oldest goes
    assert "Deleted job " + deleted[0] in kubectl("get", "events", "-n", "cron", "--field-selector",
                                                  "involvedObject.name=trim").stdout


def test_forbid_skips_a_run_while_one_is_active(client, kubectl) -> None:
    """R16.25: concurrencyPolicy Forbid: a long Job blocks the next runs (JobAlreadyActive)."""
    kubectl("apply", "-f", "-", stdin=cronjob("forbid", "sleep 3600", concurrencyPolicy="Forbid"))
    skipped = False
    for ev in watch.Watch().stream(k8s.CoreV1Api(client).list_namespaced_event, "cron",
                                   field_selector="involvedObject.name=forbid", timeout_seconds=30):
        if ev["object"].reason == "JobAlreadyActive":
            skipped = True
            break
    kubectl("patch", "cronjob", "forbid", "-n", "cron", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    assert skipped and len(_jobs_of(kubectl, "forbid")) == 1
    active = rows(kubectl("get", "cronjob", "forbid", "-n", "cron").stdout)[0][8]  # ACTIVE (the schedule is 5 words)
    assert active == "1"


def test_replace_deletes_the_active_job_for_the_next_run(client, kubectl) -> None:
    """R16.25: concurrencyPolicy Replace: the next run deletes the active Job and starts its own."""
    kubectl("apply", "-f", "-", stdin=cronjob("replace", "sleep 3600", concurrencyPolicy="Replace"))
    events = _watch_jobs(client, "replace", lambda evs: sum(t == "ADDED" for t, _ in evs) >= 2
                         and any(t == "DELETED" for t, _ in evs))
    kubectl("patch", "cronjob", "replace", "-n", "cron", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    first = sorted(n for t, n in events if t == "ADDED")[0]
    assert ("DELETED", first) in events


def test_suspended_cronjob_creates_no_job(kubectl) -> None:
    """R16.25: suspend stops new Jobs (SUSPEND True, LAST SCHEDULE <none>)."""
    kubectl("apply", "-f", "-", stdin=cronjob("paused", "true", suspend="true"))
    kubectl("wait", "--for=jsonpath={.spec.suspend}=true", "cronjob/paused", "-n", "cron", "--timeout=10s")
    row = rows(kubectl("get", "cronjob", "paused", "-n", "cron").stdout)[0]
    assert row[6:10] == ["<none>", "True", "0", "<none>"]  # TIMEZONE SUSPEND ACTIVE LAST SCHEDULE
    assert _jobs_of(kubectl, "paused") == []


def test_invalid_cronjobs_are_refused(kubectl) -> None:
    """R16.26: the schedule parsed as robfig/cron does, a known time zone, a name of at most 52."""
    r = kubectl("apply", "-f", "-", stdin=cronjob("bad", "true", schedule="61 * * * *"), ok=False)
    assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in r.stderr
    r = kubectl("apply", "-f", "-", stdin=cronjob("tz", "true", timeZone="Mars/Olympus"), ok=False)
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in r.stderr
    r = kubectl("apply", "-f", "-", stdin=cronjob("x" * 53, "true"), ok=False)
    assert "must be no more than 52 characters" in r.stderr


def test_python_client_cronjob_lifecycle(client, kubectl) -> None:
    """The kubernetes client: create, list, read; delete answers a Status (batch/v1 CronJobs delete
    their Jobs in the background by default, R16.3) and the garbage collector takes the Jobs."""
    batch = k8s.BatchV1Api(client)
    batch.create_namespaced_cron_job("cron", {"metadata": {"name": "py"}, "spec": {
        "schedule": "*/1 * * * *", "timeZone": "Europe/Berlin", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}})
    created = batch.read_namespaced_cron_job("py", "cron")
    assert created.spec.concurrency_policy == "Allow" and created.spec.successful_jobs_history_limit == 3
    assert created.spec.failed_jobs_history_limit == 1 and created.spec.suspend is False
    _watch_jobs(client, "py", lambda evs: any(t == "ADDED" for t, _ in evs))
    job = _jobs_of(kubectl, "py")[0]
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].endswith("+01:00")
    assert [c.metadata.name for c in batch.list_cron_job_for_all_namespaces().items if c.metadata.name == "py"]
    out = batch.delete_namespaced_cron_job("py", "cron")
    assert out["status"] == "Success" and out["details"] == {"name": "py", "group": "batch", "kind": "cronjobs",
                                                             "uid": created.metadata.uid}
    kubectl("wait", "--for=delete", f"job/{job['metadata']['name']}", "-n", "cron", "--timeout=30s")
    with pytest.raises(ApiException) as exc:
        batch.read_namespaced_cron_job("py", "cron")
    assert exc.value.status == 404


def test_kubectl_watch_sees_the_schedule_then_delete_takes_the_jobs(sim, kubectl, tmp_path) -> None:
    """R16.23/R16.25/R16.3: kubectl get -w (Tables) shows the CronJob's LAST SCHEDULE change from
    <none> when its first Job is made; kubectl delete (background) removes it and the garbage
    collector its Jobs."""
    kubectl("apply", "-f", "-", stdin=cronjob("watched", "true", suspend="true"))  # a minute is 1 s here
    resumed: list[bool] = []

    def scheduled(lines: list[str]) -> bool:
        if len(lines) >= 2 and not resumed:  # the watch shows the suspended CronJob: let it run
            kubectl("patch", "cronjob", "watched", "-n", "cron", "--type=merge", "-p", '{"spec":{"suspend":false}}')
            resumed.append(True)
        return any(line.startswith("MODIFIED") and line.split()[10] != "<none>" for line in lines[1:])
    lines = kubectl_watch_until(sim, tmp_path, ["get", "cronjob", "watched", "-n", "cron", "-w",
                                                "--output-watch-events"], scheduled)
    assert lines[0].split()[:3] == ["EVENT", "NAME", "SCHEDULE"]
    assert lines[1].split()[:2] == ["ADDED", "watched"] and lines[1].split()[10] == "<none>"  # LAST SCHEDULE
    assert scheduled(lines)
    jobs = [j["metadata"]["name"] for j in _jobs_of(kubectl, "watched")]
    assert jobs and all(n.startswith("watched-") for n in jobs)
    assert kubectl("delete", "cronjob", "watched", "-n", "cron").stdout.strip() == 'cronjob.batch "watched" deleted'
    kubectl("wait", "--for=delete", *[f"job/{n}" for n in jobs], "-n", "cron", "--timeout=30s")
