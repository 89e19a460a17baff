"""The project's own image runs as a local process in the simulator (docs/semantics-addendum.md R20.1–R20.4),
driven by the real kubectl: a Job that completes or fails with its process, logs streamed live, mounted
Secrets and env references, SIGTERM on deletion and SIGKILL at the grace period's end, no orphans when
the simulator stops, nothing of the simulator's environment in the process, and a program the image
lacks fails to start as containerd reports it.

One simulator with the mesh (the apps hook runs the image) at speed 5."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from ambient_lb.sim.process import Simulator, running_simulator, running_simulator_process

from .world_fixtures import Kubectl, kubectl_for, kubectl_watch_until, module_world

pytestmark = pytest.mark.kubectl

IMAGE = "ghcr.io/ambient-lb/ambient-lb:0.1.0"
NS = "own"


def pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": IMAGE, "command": command, **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"restartPolicy": "Never", "containers": [container], **spec}}


def job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    template = pod(name, command, **spec.pop("pod", {}))
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
            "spec": {"template": {"spec": template["spec"]}, **spec}}


def python(script: str) -> list[str]:
    return ["python", "-c", script]


sim, cache, kubectl = module_world(seed=20, namespace=NS, speed=5)


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objs))


def get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", "-n", NS, *args, "-o", "json").stdout)


class Follow:
    """``kubectl logs -f``, read line by line as kubectl prints them (event-driven, bounded)."""

    def __init__(self, sim: Simulator, cache: Path, target: str) -> None:
        argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), "logs", "-f", "-n", NS,
                target]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        self.fd, self.lines, self._pending = self.proc.stdout.fileno(), [], b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)

    def until(self, done: Any, timeout: float = 60) -> list[str]:
        """Read until ``done(lines)`` or the stream ends; fails at the timeout."""
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; kubectl logs -f printed {self.lines}"
            if self.sel.select(left):
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                *complete, self._pending = (self._pending + chunk).split(b"\n")
                self.lines.extend(line.decode() for line in complete)
        return self.lines

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def test_a_job_of_the_own_image_runs_ambient_lb_and_completes_with_its_output_in_the_log(kubectl, sim, cache) -> None:
    """R20.1: ``ambient-lb --help`` runs as a process; it exits 0, the pod Succeeds, the Job is Complete,
    and ``kubectl logs job/…`` shows what it printed."""
    apply(kubectl, job("help", ["ambient-lb", "--help"]))
    kubectl("wait", "--for=condition=complete", "job/help", "-n", NS, "--timeout=60s")
    out = kubectl("logs", "job/help", "-n", NS).stdout
    assert out.startswith("usage: ambient-lb")
    assert "run the runbook's notebooks headless with papermill" in out
    (p,) = get(kubectl, "pods", "-l", "job-name=help")["items"]
    assert p["status"]["phase"] == "Succeeded"
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_a_failing_command_fails_the_pod_and_the_job_after_its_backoff_limit(kubectl) -> None:
    """R20.1: exit 3 is the container's exit code; with backoffLimit 0 the Job fails (BackoffLimitExceeded)."""
    apply(kubectl, job("fails", python("import sys; print('giving up', file=sys.stderr); sys.exit(3)"),
                       backoffLimit=0))
    kubectl("wait", "--for=condition=failed", "job/fails", "-n", NS, "--timeout=60s")
    failed = next(c for c in get(kubectl, "job", "fails")["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    (p,) = get(kubectl, "pods", "-l", "job-name=fails")["items"]
    assert p["status"]["phase"] == "Failed"
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert kubectl("logs", "job/fails", "-n", NS).stdout == "giving up\n"


READS_ITS_MOUNTS = """
import os, stat
path = os.environ["CREDS_FILE"]
print("file", open(path).read())
print("env", os.environ["CREDS"])
print("mode", oct(stat.S_IMODE(os.stat(path).st_mode)))
print("workdir", os.getcwd() == os.environ["AMBIENT_LB_CONTAINER_ROOT"] + "/work/out")
print("scratch", os.path.isdir(os.environ["AMBIENT_LB_CONTAINER_ROOT"] + "/work"))
print("canary", os.environ.get("AMBIENT_LB_TEST_CANARY", "absent"))
print("env-names", " ".join(sorted(os.environ)))
"""


def test_a_mounted_secret_and_a_secret_env_reach_the_process_and_the_simulators_env_does_not(
        kubectl, monkeypatch) -> None:
    """R20.2, R20.4: the Secret's file is at the (rewritten) mountPath, mode 0600; ``secretKeyRef`` sets the
    variable; ``workingDir`` under an emptyDir is the process's cwd; a variable of the simulator's own
    environment is not passed, and the process has only the spec's variables and the runtime's few."""
    monkeypatch.setenv("AMBIENT_LB_TEST_CANARY", "leaked")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": NS},
              "stringData": {"key": "s3cr3t-value"}}
    spec = {"container": {"env": [{"name": "CREDS_FILE", "value": "/etc/creds/key"},
                                  {"name": "CREDS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
                                  {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                          "workingDir": "/work/out",
                          "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                                           {"name": "work", "mountPath": "/work"}]},
            "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}, {"name": "work", "emptyDir": {}}]}
    apply(kubectl, secret, pod("mounts", python(READS_ITS_MOUNTS), **spec))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/mounts", "-n", NS, "--timeout=60s")
    lines = dict(line.split(" ", 1) for line in kubectl("logs", "mounts", "-n", NS).stdout.splitlines())
    assert lines["file"] == lines["env"] == "s3cr3t-value"
    assert lines["mode"] == "0o600"
    assert lines["workdir"] == lines["scratch"] == "True"
    assert lines["canary"] == "absent"
    # LC_CTYPE: Python's own C-locale coercion (PEP 538) may set it in the child, not the runtime
    assert set(lines["env-names"].split()) - {"LC_CTYPE"} == {
        "AMBIENT_LB_CONTAINER_ROOT", "CREDS", "CREDS_FILE", "HOME", "HOSTNAME", "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PORT_HTTPS", "PATH", "POD", "PYTHONUNBUFFERED"}


def test_a_missing_secret_is_create_container_config_error_until_it_exists(kubectl) -> None:
    """R20.4: the kubelet's words, the pod Pending; once the Secret is created the container starts."""
    spec = {"container": {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}]}}
    apply(kubectl, pod("waits", python("import os; print(os.environ['X'])"), **spec))
    kubectl("wait", "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CreateContainerConfigError",
            "pod/waits", "-n", NS, "--timeout=60s")
    p = get(kubectl, "pod", "waits")
    assert p["status"]["phase"] == "Pending"
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'secret "later" not found'
    apply(kubectl, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "later", "namespace": NS},
                    "stringData": {"k": "here now"}})
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/waits", "-n", NS, "--timeout=60s")
    assert kubectl("logs", "waits", "-n", NS).stdout == "here now\n"


def test_a_program_the_image_lacks_fails_to_start_as_containerd_says(kubectl) -> None:
    """R20.3: ``curl`` is not in the image: terminated StartError, exit code 128, runc's message."""
    apply(kubectl, pod("nocurl", ["curl", "-s", "http://example.com"]))
    kubectl("wait", "--for=jsonpath={.status.phase}=Failed", "pod/nocurl", "-n", NS, "--timeout=60s")
    terminated = get(kubectl, "pod", "nocurl")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert terminated["message"] == (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: "
        'unable to start container process: exec: "curl": executable file not found in $PATH: unknown')


TRAPS_SIGTERM = """
import os, signal, sys
def stop(*_):
    print("got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", os.getpid(), flush=True)
while True:
    signal.pause()
"""


def test_deleting_the_pod_sigterms_its_process(kubectl, sim, cache) -> None:
    """R20.1: the pod's deletion SIGTERMs the process; its last lines reach the log before the pod goes."""
    apply(kubectl, pod("traps", python(TRAPS_SIGTERM)))
    kubectl("wait", "--for=condition=Ready", "pod/traps", "-n", NS, "--timeout=60s")
    follow = Follow(sim, cache, "pod/traps")
    try:
        lines = follow.until(lambda ls: any(line.startswith("ready") for line in ls))
        pid = int(lines[0].split()[1])
        kubectl("delete", "pod", "traps", "-n", NS, "--wait=false")
        lines = follow.until(lambda ls: "got SIGTERM" in ls)
    finally:
        follow.close()
    assert lines == [f"ready {pid}", "got SIGTERM"]
    kubectl("wait", "--for=delete", "pod/traps", "-n", NS, "--timeout=60s")
    assert not psutil.pid_exists(pid)


def test_a_process_that_ignores_sigterm_is_killed_at_the_grace_periods_end(kubectl, sim, cache) -> None:
    """R20.1: SIGTERM ignored; at terminationGracePeriodSeconds the pod goes and the process is killed."""
    script = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('ready', os.getpid(), flush=True); time.sleep(3600)")
    apply(kubectl, pod("stubborn", python(script), terminationGracePeriodSeconds=3))
    kubectl("wait", "--for=condition=Ready", "pod/stubborn", "-n", NS, "--timeout=60s")
    (line,) = kubectl_watch_until(sim, cache, ["logs", "-f", "-n", NS, "stubborn"], lambda ls: bool(ls))
    pid = int(line.split()[1])
    kubectl("delete", "pod", "stubborn", "-n", NS, "--timeout=60s")
    assert not psutil.pid_exists(pid)


READS_WITH_ITS_TOKEN = """
import os
from kubernetes import client, config
from kubernetes.client.rest import ApiException
sa = os.environ["AMBIENT_LB_CONTAINER_ROOT"] + "/var/run/secrets/kubernetes.io/serviceaccount"
config.incluster_config.InClusterConfigLoader(token_filename=sa + "/token", cert_filename=sa + "/ca.crt").load_and_set()
api = client.CoreV1Api()
print("configmap", api.read_namespaced_config_map("settings", open(sa + "/namespace").read()).data["k"])
try:
    api.list_namespaced_secret("own")
except ApiException as exc:
    print("secrets", exc.status, exc.reason)
"""

RUNNER_RBAC = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": NS}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "runner", "namespace": NS},
     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update", "patch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "runner", "namespace": NS},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runner"},
     "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": NS}]},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS}, "data": {"k": "v1"}},
]


def test_the_pods_token_authenticates_as_its_service_account_with_tls_verified(kubectl) -> None:
    """R20.2, R20.5, R20.6: the in-cluster client (token, ca.crt, namespace, KUBERNETES_SERVICE_*) reaches the
    API server; the Role allows the ConfigMap (200) and not the Secrets (403)."""
    apply(kubectl, *RUNNER_RBAC, pod("reader", python(READS_WITH_ITS_TOKEN), serviceAccountName="runner"))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/reader", "-n", NS, "--timeout=60s")
    assert kubectl("logs", "reader", "-n", NS).stdout == "configmap v1\nsecrets 403 Forbidden\n"


def test_a_token_bound_to_a_pod_is_allowed_forbidden_and_unauthorized_once_the_pod_is_gone(kubectl) -> None:
    """R20.6, R20.7: ``kubectl create token --bound-object-kind Pod``: RBAC allows get configmaps (200),
    refuses secrets (403 with the API server's message), and the token is 401 once its pod is deleted."""
    apply(kubectl, *RUNNER_RBAC, pod("holder", python("import time; time.sleep(3600)"), serviceAccountName="runner"))
    kubectl("wait", "--for=condition=Ready", "pod/holder", "-n", NS, "--timeout=60s")
    token = kubectl("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                    "--bound-object-name", "holder").stdout.strip()
    assert token.count(".") == 2
    as_runner = ("--token", token, "-n", NS)
    assert kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.k}", *as_runner).stdout == "v1"
    denied = kubectl("get", "secrets", *as_runner, ok=False).stderr
    assert ('secrets is forbidden: User "system:serviceaccount:own:runner" cannot list resource "secrets" in API '
            'group "" in the namespace "own"') in denied
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", *as_runner).stdout)["status"]["userInfo"]
    assert whoami["groups"] == ["system:serviceaccounts", "system:serviceaccounts:own", "system:authenticated"]
    kubectl("delete", "pod", "holder", "-n", NS, "--grace-period=1", "--timeout=60s")
    gone = kubectl("get", "configmap", "settings", *as_runner, ok=False).stderr
    assert "error: You must be logged in to the server (Unauthorized)" in gone


def test_a_token_request_has_the_api_servers_shape_and_refuses_a_short_expiry(kubectl, sim) -> None:
    """R20.7: TokenRequest defaults (3600 s, the issuer as audience); under 600 s is Invalid."""
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cadata=(sim.ca_pem or b"").decode())

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        req = urllib.request.Request(f"{sim.url}/api/v1/namespaces/{NS}/serviceaccounts/default/token",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {sim.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, out = post({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201 and out["kind"] == "TokenRequest" and out["apiVersion"] == "authentication.k8s.io/v1"
    assert out["spec"]["expirationSeconds"] == 3600
    assert out["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert out["status"]["token"] and out["status"]["expirationTimestamp"].endswith("Z")
    status, out = post({"spec": {"expirationSeconds": 10}})
    assert status == 422 and out["message"].endswith(
        "spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes")


@pytest.mark.parametrize("simulator", [running_simulator, running_simulator_process], ids=["in-process", "daemon"])
def test_no_process_outlives_the_simulator(tmp_path: Path, simulator: Any) -> None:
    """R20.1: when the simulator stops (in-process close, or the daemon's shutdown as ``sim down`` does it),
    the process and a child it started in its own session are killed."""
    script = ("import os, subprocess, sys, time; "
              "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'], start_new_session=True); "
              "print('pids', os.getpid(), c.pid, flush=True); time.sleep(3600)")
    with simulator(seed=21, speed=5, workdir=tmp_path / "sim") as s:
        run = kubectl_for(s, tmp_path)
        run("create", "namespace", NS)
        apply(run, pod("lingers", python(script)))
        run("wait", "--for=condition=Ready", "pod/lingers", "-n", NS, "--timeout=60s")
        (line,) = kubectl_watch_until(s, tmp_path, ["logs", "-f", "-n", NS, "lingers"], lambda ls: bool(ls))
        pids = [int(p) for p in line.split()[1:]]
        assert all(psutil.pid_exists(p) for p in pids)
    assert not [p for p in pids if psutil.pid_exists(p)]


def test_the_images_path_is_the_hosts_even_when_a_mount_shares_its_prefix(kubectl, tmp_path, monkeypatch) -> None:
    """R20.2: only the pod spec's values are container paths. A host PATH entry under /tmp (where the Job of
    `workshop --jobs` mounts an emptyDir) stays as it is: mapped into the root it named nothing, and a tool
    the image has was "not found"."""
    tool_dir = "/tmp/" + tmp_path.name  # under /tmp, like pytest's own directories
    os.makedirs(tool_dir, exist_ok=True)
    monkeypatch.setenv("PATH", f"{tool_dir}{os.pathsep}{os.environ['PATH']}")
    apply(kubectl, job("paths", python("import os; print(os.environ['PATH'].split(os.pathsep)[0]); "
                                        "print(os.environ['SCRATCH'])"),
                       backoffLimit=0, pod={"container": {
                           "env": [{"name": "SCRATCH", "value": "/tmp/scratch"}],
                           "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
                           "volumes": [{"name": "tmp", "emptyDir": {}}]}))
    kubectl("wait", "--for=condition=complete", "job/paths", "-n", NS, "--timeout=60s")
    first, scratch = kubectl("logs", "job/paths", "-n", NS).stdout.splitlines()
    assert first == tool_dir  # the host's, untouched
    assert scratch != "/tmp/scratch" and scratch.endswith("/tmp/scratch")  # the spec's: under the root
