"""batch/v1 Jobs, served and run as a 1.31 cluster runs them (docs/semantics-addendum.md R16.17–R16.24),
driven by the real kubectl and the kubernetes client: apply, get with the printer's columns, watch,
delete; a pod that completes, a Job that fails after its backoff limit, parallelism, the active
deadline, the TTL, suspension, and the commands the simulator models (R16.21).

One simulator with the mesh (its app models decide how a container ends) at speed 50."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from ambient_lb.sim.clock import parse_rfc3339
from ambient_lb.sim.process import Simulator

from .world_fixtures import Kubectl, api_client, header, kubectl_watch_until, module_world, rows

pytestmark = pytest.mark.kubectl


def job(name: str, script: str, *, ns: str = "jobs", policy: str = "Never", image: str = "busybox:1.36",
        **spec: Any) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in spec.items())
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {ns}}}
spec:
{extra}  template:
    spec:
      containers: [{{name: main, image: {image}, command: [sh, -c, '{script}']}}]
      restartPolicy: {policy}
"""


sim, cache, kubectl = module_world(seed=31, namespace="jobs", speed=50)


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    return api_client(sim)


def _json(kubectl: Kubectl, *args: str) -> Any:
    import json
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def test_job_pod_completes_and_the_job_is_complete(kubectl) -> None:
    """R16.18/R16.21: the pod runs its script and Succeeds (Completed); the Job gets
    SuccessCriteriaMet then Complete (CompletionsReached) and a completionTime."""
    kubectl("apply", "-f", "-", stdin=job("hello", "echo start; sleep 4; echo done"))
    kubectl("wait", "--for=condition=complete", "job/hello", "-n", "jobs", "--timeout=60s")
    out = kubectl("get", "jobs", "hello", "-n", "jobs", "-o", "wide").stdout
    assert header(out) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    (row,) = rows(out)
    assert row[:3] == ["hello", "Complete", "1/1"]
    assert row[7].startswith("batch.kubernetes.io/controller-uid=")
    pods = rows(kubectl("get", "pods", "-n", "jobs", "-l", "job-name=hello").stdout)
    assert len(pods) == 1 and pods[0][1:4] == ["0/1", "Completed", "0"]
    assert pods[0][0].startswith("hello-") and len(pods[0][0]) == len("hello-") + 5
    assert kubectl("logs", "job/hello", "-n", "jobs").stdout == "start\ndone\n"
    j = _json(kubectl, "job", "hello", "-n", "jobs")
    conds = [(c["type"], c["status"], c.get("reason")) for c in j["status"]["conditions"]]
    assert conds == [("SuccessCriteriaMet", "True", "CompletionsReached"), ("Complete", "True", "CompletionsReached")]
    assert j["status"]["succeeded"] == 1 and j["status"]["ready"] == 0 and j["status"]["terminating"] == 0
    assert j["status"]["uncountedTerminatedPods"] == {} and "failed" not in j["status"]
    assert j["status"]["completionTime"] == j["status"]["conditions"][1]["lastTransitionTime"]
    # DURATION is completionTime - startTime: 2 s to start, then the script's 4 s, at least (at speed 50 a
    # simulated second is 20 ms of wall time, so a busy machine's event-loop lag adds to it, by any amount)
    took = (datetime.fromisoformat(j["status"]["completionTime"].replace("Z", "+00:00"))
            - datetime.fromisoformat(j["status"]["startTime"].replace("Z", "+00:00"))).total_seconds()
    assert took >= 6
    assert row[3] == f"{int(took)}s"  # under two minutes kubectl prints whole seconds
    assert j["spec"]["backoffLimit"] == 6 and j["spec"]["completions"] == 1 and j["spec"]["parallelism"] == 1
    uid = j["metadata"]["uid"]
    assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert j["metadata"]["labels"] == {"batch.kubernetes.io/controller-uid": uid,
                                       "batch.kubernetes.io/job-name": "hello",
                                       "controller-uid": uid, "job-name": "hello"}
    pod = _json(kubectl, "pods", "-n", "jobs", "-l", "job-name=hello")["items"][0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job" and "finalizers" not in pod["metadata"]
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"], pod["status"]["phase"]) == (0, "Completed", "Succeeded")
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    events = kubectl("get", "events", "-n", "jobs", "--field-selector", "involvedObject.name=hello").stdout
    assert "SuccessfulCreate" in events and "Job completed" in events


def test_job_fails_after_its_backoff_limit(kubectl) -> None:
    """R16.18: with restartPolicy Never each failure is a new pod, after 10 s then 20 s of back-off;
    the third failure exceeds backoffLimit 2: FailureTarget, then Failed (BackoffLimitExceeded)."""
    kubectl("apply", "-f", "-", stdin=job("fails", "echo trying; exit 3", backoffLimit=2))
    kubectl("wait", "--for=condition=failed", "job/fails", "-n", "jobs", "--timeout=90s")
    j = _json(kubectl, "job", "fails", "-n", "jobs")
    conds = [(c["type"], c.get("reason"), c.get("message")) for c in j["status"]["conditions"]]
    assert conds == [("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                     ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    assert j["status"]["failed"] == 3 and "completionTime" not in j["status"]
    pods = _json(kubectl, "pods", "-n", "jobs", "-l", "job-name=fails")["items"]
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Failed"}
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    started = sorted(parse_rfc3339(p["metadata"]["creationTimestamp"]) for p in pods)
    assert started[1] - started[0] >= 10 and started[2] - started[1] >= 20  # back-off 10 s, 20 s
    assert {r[2] for r in rows(kubectl("get", "pods", "-n", "jobs", "-l", "job-name=fails").stdout)} == {"Error"}
    (row,) = rows(kubectl("get", "job", "fails", "-n", "jobs").stdout)
    assert row[1:3] == ["Failed", "0/1"]
    events = kubectl("get", "events", "-n", "jobs", "--field-selector", "involvedObject.name=fails").stdout
    assert "BackoffLimitExceeded" in events and "Warning" in events


def test_parallelism_bounds_the_active_pods(kubectl) -> None:
    """R16.18: completions 4, parallelism 2: never more than two pods at once, four successes."""
    kubectl("apply", "-f", "-", stdin=job("par", "sleep 3", completions=4, parallelism=2))
    kubectl("wait", "--for=condition=complete", "job/par", "-n", "jobs", "--timeout=60s")
    pods = _json(kubectl, "pods", "-n", "jobs", "-l", "job-name=par")["items"]
    spans = [(parse_rfc3339(p["metadata"]["creationTimestamp"]),
              parse_rfc3339(p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"])) for p in pods]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert len(pods) == 4 and overlap == 2
    assert rows(kubectl("get", "job", "par", "-n", "jobs").stdout)[0][2] == "4/4"


def test_active_deadline_fails_the_job_and_stops_its_pod(kubectl) -> None:
    """R16.18: activeDeadlineSeconds since startTime: DeadlineExceeded, the running pod deleted."""
    kubectl("apply", "-f", "-", stdin=job("slow", "sleep 600", activeDeadlineSeconds=8))
    kubectl("wait", "--for=condition=failed", "job/slow", "-n", "jobs", "--timeout=60s")
    j = _json(kubectl, "job", "slow", "-n", "jobs")
    assert [c.get("reason") for c in j["status"]["conditions"]] == ["DeadlineExceeded", "DeadlineExceeded"]
    assert j["status"]["failed"] == 1 and j["status"].get("active") is None
    kubectl("wait", "--for=delete", "pod", "-l", "job-name=slow", "-n", "jobs", "--timeout=60s")


def test_ttl_after_finished_deletes_the_job_and_its_pods(client, kubectl) -> None:
    """R16.19: ttlSecondsAfterFinished: deleted with the foreground policy that long after it finished."""
    batch = k8s.BatchV1Api(client)
    since = batch.list_namespaced_job("jobs").metadata.resource_version  # watch from before the apply: the
    kubectl("apply", "-f", "-", stdin=job("brief", "true", ttlSecondsAfterFinished=30))  # TTL is 0.6 s of wall
    last = None
    for ev in watch.Watch().stream(batch.list_namespaced_job, "jobs", resource_version=since,
                                   field_selector="metadata.name=brief", timeout_seconds=60):
        last = ev
        if ev["type"] == "DELETED":
            break
    assert last is not None and last["type"] == "DELETED"
    gone = last["object"]
    finished_at = next(c.last_transition_time for c in gone.status.conditions if c.type == "Complete")
    assert 30 <= (gone.metadata.deletion_timestamp - finished_at).total_seconds() < 36  # never early; lag late
    assert kubectl("get", "pods", "-n", "jobs", "-l", "job-name=brief", "-o", "name").stdout == ""


def test_on_failure_restarts_count_toward_the_backoff_limit(kubectl) -> None:
    """R16.18/R16.22: restartPolicy OnFailure restarts the container in place (CrashLoopBackOff); the
    restarts reaching backoffLimit fail the Job and its pod is deleted."""
    kubectl("apply", "-f", "-", stdin=job("flaky", "exit 1", policy="OnFailure", backoffLimit=2))
    kubectl("wait", "--for=condition=failed", "job/flaky", "-n", "jobs", "--timeout=90s")
    j = _json(kubectl, "job", "flaky", "-n", "jobs")
    assert j["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"
    kubectl("wait", "--for=delete", "pod", "-l", "job-name=flaky", "-n", "jobs", "--timeout=60s")


def test_suspended_job_runs_once_resumed(kubectl) -> None:
    """R16.18: suspend: no pods, Suspended True; resumed: Suspended False (JobResumed), then Complete."""
    kubectl("apply", "-f", "-", stdin=job("later", "echo ran", suspend="true"))
    kubectl("wait", "--for=condition=suspended", "job/later", "-n", "jobs", "--timeout=30s")
    assert rows(kubectl("get", "job", "later", "-n", "jobs").stdout)[0][1] == "Suspended"
    assert kubectl("get", "pods", "-n", "jobs", "-l", "job-name=later", "-o", "name").stdout == ""
    kubectl("patch", "job", "later", "-n", "jobs", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    kubectl("wait", "--for=condition=complete", "job/later", "-n", "jobs", "--timeout=60s")
    conds = {c["type"]: c for c in _json(kubectl, "job", "later", "-n", "jobs")["status"]["conditions"]}
    assert (conds["Suspended"]["status"], conds["Suspended"]["reason"]) == ("False", "JobResumed")


def test_kubectl_get_jobs_watch_shows_the_job_complete(sim, cache, kubectl) -> None:
    """A watch with Tables (kubectl get -w) sees the Job go from Running to Complete."""
    kubectl("apply", "-f", "-", stdin=job("watched", "sleep 60"))
    lines = kubectl_watch_until(sim, cache, ["get", "job", "watched", "-n", "jobs", "-w"],
                                lambda ls: any(" Complete " in line for line in ls))
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert any(" Running " in line for line in lines) and any(" Complete " in line for line in lines)


def test_docs_pi_job_prints_pi(kubectl) -> None:
    """R16.21: the Kubernetes docs' Job (perl, bpi(2000)) completes and prints pi to 2000 digits."""
    pi = """
apiVersion: batch/v1
kind: Job
metadata: {name: pi, namespace: jobs}
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"""
    kubectl("apply", "-f", "-", stdin=pi)
    kubectl("wait", "--for=condition=complete", "job/pi", "-n", "jobs", "--timeout=60s")
    digits = kubectl("logs", "job/pi", "-n", "jobs").stdout.strip()
    assert digits.startswith("3.14159265358979323846264338327950288") and len(digits) == 2001


def test_unmodelled_command_runs_until_stopped_and_says_so(kubectl) -> None:
    """R16.21: a command outside the model runs like a server; its log says it is not modelled."""
    kubectl("apply", "-f", "-", stdin=job("wget", "wget -q -O- http://example.com"))
    kubectl("wait", "--for=condition=ready", "pod", "-l", "job-name=wget", "-n", "jobs", "--timeout=30s")
    log = kubectl("logs", "job/wget", "-n", "jobs").stdout
    assert "is not modelled; this container runs until it is stopped" in log
    assert rows(kubectl("get", "job", "wget", "-n", "jobs").stdout)[0][1] == "Running"
    kubectl("delete", "job", "wget", "-n", "jobs")


def test_python_client_creates_watches_and_deletes_a_job(client, kubectl) -> None:
    """The kubernetes client: create, watch until Complete, read; delete without a policy orphans the
    pods (batch/v1's default, R16.3): the answer is the Job held by the orphan finalizer."""
    batch, v1 = k8s.BatchV1Api(client), k8s.CoreV1Api(client)
    batch.create_namespaced_job("jobs", {"metadata": {"name": "py"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "alpine:3.20", "command": ["sleep", "1"]}]}}}})
    complete = False
    for ev in watch.Watch().stream(batch.list_namespaced_job, "jobs", field_selector="metadata.name=py",
                                   timeout_seconds=60):
        if any(c.type == "Complete" and c.status == "True" for c in ev["object"].status.conditions or []):
            complete = True
            break
    assert complete and batch.read_namespaced_job_status("py", "jobs").status.succeeded == 1
    out = batch.delete_namespaced_job("py", "jobs")
    assert out["kind"] == "Job" and out["metadata"]["finalizers"] == ["orphan"]
    kubectl("wait", "--for=delete", "job/py", "-n", "jobs", "--timeout=60s")
    pods = v1.list_namespaced_pod("jobs", label_selector="job-name=py").items
    assert len(pods) == 1 and not pods[0].metadata.owner_references


def test_kubectl_delete_job_takes_its_pods(kubectl) -> None:
    """kubectl deletes with propagationPolicy=Background: the Job goes and the GC takes its pods."""
    kubectl("apply", "-f", "-", stdin=job("gone", "true"))
    kubectl("wait", "--for=condition=complete", "job/gone", "-n", "jobs", "--timeout=60s")
    assert kubectl("delete", "job", "gone", "-n", "jobs").stdout.strip() == 'job.batch "gone" deleted'
    kubectl("wait", "--for=delete", "pod", "-l", "job-name=gone", "-n", "jobs", "--timeout=60s")


def test_invalid_and_unmodelled_jobs_are_refused(kubectl) -> None:
    """R16.17/R16.24: the API server's validation (restartPolicy, immutable template) and the
    simulator's refusal of Indexed completion, with a clear Forbidden."""
    r = kubectl("apply", "-f", "-", stdin=job("always", "true", policy="Always"), ok=False)
    assert ('The Job "always" is invalid: spec.template.spec.restartPolicy: Required value: valid values: '
            '"OnFailure", "Never"') in r.stderr
    kubectl("apply", "-f", "-", stdin=job("fixed", "sleep 60"))
    r = kubectl("apply", "-f", "-", stdin=job("fixed", "sleep 61"), ok=False)
    assert 'The Job "fixed" is invalid: spec.template: Invalid value: core.PodTemplateSpec{…}: field is immutable' \
        in r.stderr
    r = kubectl("apply", "-f", "-", stdin=job("indexed", "true", completionMode="Indexed", completions=2), ok=False)
    assert 'jobs.batch "indexed" is forbidden: the ambient-lb simulator does not model Indexed completion' in r.stderr


def test_api_resources_lists_batch(kubectl) -> None:
    """R16.9: cronjobs (cj) and jobs in batch/v1, both in the category all."""
    out = kubectl("api-resources", "--api-group=batch", "-o", "wide").stdout
    verbs = "create,delete,deletecollection,get,list,patch,update,watch"
    assert rows(out) == [["cronjobs", "cj", "batch/v1", "true", "CronJob", verbs, "all"],
                         ["jobs", "batch/v1", "true", "Job", verbs, "all"]]
    kubectl("apply", "-f", "-", stdin=job("listed", "true"))
    assert "job.batch/listed" in kubectl("get", "all", "-n", "jobs").stdout
