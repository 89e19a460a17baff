"""The drill endpoint (``/ambient-lb/faults``, §19): each fault answers as a misbehaving API server
does, kubectl reacts as client-go does (R19.2, R19.3), and the runbook's reads retry what they
should and say what they could not (R19.6)."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_lb.errors import ClusterError, SimulatorError, TimedOut
from ambient_lb.kube import Kube
from ambient_lb.sim.fault_client import FaultClient
from ambient_lb.sim.process import Simulator, running_simulator
from ambient_lb.sim.store import GR

pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=5, speed=20, bare=True, bookmark_seconds=0.5) as s:
        def seed() -> None:
            for ns in ("default", "demo", "other"):
                s.cluster.store.create(GR("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": ns}})
            for ns in ("demo", "other"):
                s.cluster.store.create(GR("", "configmaps"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                             "metadata": {"name": "c", "namespace": ns}})
        s.call(seed)
        yield s


@pytest.fixture
def faults(sim: Simulator) -> Iterator[FaultClient]:
    client = FaultClient(sim.kubeconfig)
    yield client
    client.clear()


def kubectl(sim: Simulator, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig)}
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=timeout)


def raw(sim: Simulator, path: str, *, token: bool = True, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One GET with the standard library (no retries), as a bare client sees the answer."""
    ctx = ssl.create_default_context(cadata=(sim.ca_pem or b"").decode())
    conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {sim.token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_nothing_is_injected_until_asked(sim: Simulator, faults: FaultClient) -> None:
    assert faults.list() == []
    assert kubectl(sim, "get", "configmaps", "-A", "-o", "name").stdout.split() == ["configmap/c", "configmap/c"]


def test_the_drill_endpoint_needs_the_token(sim: Simulator) -> None:
    status, _, body = raw(sim, "/ambient-lb/faults", token=False)
    assert status == 401 and json.loads(body)["reason"] == "Unauthorized"


def test_a_429_is_the_overload_filters_plain_text_with_retry_after(sim: Simulator, faults: FaultClient) -> None:
    """R19.1: not a Status: ``text/plain`` with the filter's sentence and ``Retry-After``."""
    faults.add(kind="error", status=429, verbs=["list"], resources=["configmaps"], count=1)
    status, headers, body = raw(sim, "/api/v1/configmaps")
    assert status == 429
    assert headers["content-type"] == "text/plain; charset=utf-8" and headers["retry-after"] == "1"
    assert body == b"Too many requests, please try again later.\n"
    assert raw(sim, "/api/v1/configmaps")[0] == 200  # count 1: the burst is over


def test_kubectl_waits_out_a_burst_that_carries_retry_after(sim: Simulator, faults: FaultClient) -> None:
    """R19.2: client-go sleeps Retry-After and retries; the learner sees only the answer."""
    added = faults.add(kind="error", status=503, retryAfterSeconds=1, verbs=["list"], resources=["configmaps"],
                       count=2)
    r = kubectl(sim, "get", "configmaps", "-n", "demo", "-o", "name")
    assert r.returncode == 0 and r.stdout == "configmap/c\n", r.stderr
    assert faults.list() == [] and added["count"] == 2  # both answers were taken by kubectl's retries


def test_kubectl_fails_at_once_on_a_500_without_retry_after(sim: Simulator, faults: FaultClient) -> None:
    faults.add(kind="error", status=500, verbs=["list"], resources=["configmaps"], count=1)
    r = kubectl(sim, "get", "configmaps", "-n", "demo")
    assert r.returncode == 1
    assert "Error from server (InternalError): Internal error occurred" in r.stderr


def test_a_fault_touches_only_its_verb_resource_and_namespace(sim: Simulator, faults: FaultClient) -> None:
    faults.add(kind="error", status=500, verbs=["get"], resources=["configmaps"], namespace="demo")
    assert kubectl(sim, "get", "configmap", "c", "-n", "demo").returncode == 1
    assert kubectl(sim, "get", "configmap", "c", "-n", "other").returncode == 0  # another namespace
    assert kubectl(sim, "get", "configmaps", "-n", "demo").returncode == 0  # list, not get
    assert kubectl(sim, "get", "namespace", "demo").returncode == 0  # another resource
    assert [f["hits"] for f in faults.list()] == [1]


def test_a_fault_ends_after_its_seconds(sim: Simulator, faults: FaultClient) -> None:
    faults.add(kind="error", status=503, resources=["configmaps"], seconds=0.3)
    assert raw(sim, "/api/v1/configmaps")[0] == 503
    done = threading.Event()
    done.wait(0.4)  # the fault's own lifetime is the thing under test
    assert raw(sim, "/api/v1/configmaps")[0] == 200 and faults.list() == []


def test_a_reset_fault_resets_the_connection_and_kubectl_retries_the_get(sim: Simulator,
                                                                       faults: FaultClient) -> None:
    """R19.3: the client sees ECONNRESET (no answer at all); client-go retries a GET."""
    faults.add(kind="reset", verbs=["list"], resources=["configmaps"], count=1)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError)):
        raw(sim, "/api/v1/configmaps")
    faults.add(kind="reset", verbs=["list"], resources=["configmaps"], count=1)
    r = kubectl(sim, "get", "configmaps", "-n", "demo", "-o", "name")
    assert r.returncode == 0 and r.stdout == "configmap/c\n", r.stderr


def test_a_paused_api_answers_nothing_until_the_client_gives_up(sim: Simulator, faults: FaultClient) -> None:
    """R19.5: kubectl with --request-timeout fails as it does against a hung server."""
    faults.add(kind="pause", verbs=["list"], resources=["configmaps"], seconds=30)
    with pytest.raises((TimeoutError, socket.timeout)):
        raw(sim, "/api/v1/configmaps", timeout=0.5)
    r = kubectl(sim, "get", "configmaps", "-A", "--request-timeout=1s")
    assert r.returncode == 1 and re.match(r"Unable to connect to the server: (net/http: request canceled "
                                          r"\(Client\.Timeout exceeded while awaiting headers\)|context deadline "
                                          r"exceeded)", r.stderr), r.stderr


def test_latency_delays_the_answer_but_keeps_it(sim: Simulator, faults: FaultClient) -> None:
    faults.add(kind="latency", delaySeconds=0.5, verbs=["list"], resources=["configmaps"], count=1)
    with pytest.raises((TimeoutError, socket.timeout)):
        raw(sim, "/api/v1/configmaps", timeout=0.2)  # still waiting when the client stops
    faults.add(kind="latency", delaySeconds=0.2, verbs=["list"], resources=["configmaps"], count=1)
    assert raw(sim, "/api/v1/configmaps", timeout=5)[0] == 200


def _watch_lines(sim: Simulator, path: str, out: list[dict[str, Any]], ended: threading.Event) -> None:
    ctx = ssl.create_default_context(cadata=(sim.ca_pem or b"").decode())
    conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {sim.token}"})
        resp = conn.getresponse()
        for line in resp:
            out.append(json.loads(line))
    finally:
        conn.close()
        ended.set()


def test_watch_close_ends_open_watches_and_a_resume_gets_410_expired(sim: Simulator, faults: FaultClient) -> None:
    """R19.4: the stream simply ends; resuming from the last resourceVersion is answered with one
    ERROR event carrying a 410 Expired Status, so the client lists again."""
    events: list[dict[str, Any]] = []
    ended = threading.Event()
    rv = json.loads(raw(sim, "/api/v1/namespaces/demo/configmaps")[2])["metadata"]["resourceVersion"]
    watcher = threading.Thread(target=_watch_lines, args=(sim, f"/api/v1/namespaces/demo/configmaps?watch=true"
                                                               f"&resourceVersion={rv}&timeoutSeconds=60",
                                                          events, ended), daemon=True)
    watcher.start()
    opened = threading.Event()
    for _ in range(100):  # the watch is open once the hub counts it
        if sim.call(lambda: sim.cluster.extensions["api_server"].hub.count()) >= 1:
            break
        opened.wait(0.05)
    faults.add(kind="watch-close", resources=["configmaps"], seconds=10)
    assert ended.wait(10), "the open watch did not end"
    assert events == []
    status, _, body = raw(sim, f"/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion={rv}")
    event = json.loads(body.splitlines()[0])
    assert status == 200 and event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith(f"too old resource version: {rv} (")


@pytest.mark.parametrize("body, field, words", [
    ({"kind": "crash"}, "kind", "must be one of error, latency, reset, pause, watch-close"),
    ({"kind": "error", "status": 404}, "status", "must be one of 429, 500, 503, 504"),
    ({"kind": "error", "verbs": ["explode"]}, "verbs", "must be among get, list, watch"),
    ({"kind": "latency"}, "delaySeconds", "is required for a latency fault"),
    ({"kind": "pause", "seconds": 99999}, "seconds", "must be a number from 0.1 to 3600"),
    ({"kind": "reset", "delaySeconds": 1}, "delaySeconds", "is not a field of a reset fault"),
])
def test_a_bad_fault_is_422_naming_the_field_with_an_example(faults: FaultClient, body: dict, field: str,
                                                            words: str) -> None:
    with pytest.raises(SimulatorError, match="HTTP 422") as info:
        faults.add(**body)
    text = str(info.value)
    assert f"fault.{field}: Invalid value" in text and words in text and 'for example {"kind": "error"' in text
    assert faults.list() == []  # nothing was added


def test_the_runbooks_reads_wait_out_5xx_and_say_so(sim: Simulator, faults: FaultClient) -> None:
    """R19.6: a read retried after Retry-After (and after a back-off without it) succeeds, and the
    Kube notes what it survived."""
    kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=20)
    faults.add(kind="error", status=503, retryAfterSeconds=1, verbs=["get"], resources=["configmaps"], count=1)
    faults.add(kind="error", status=500, verbs=["get"], resources=["configmaps"], count=2)
    assert kube.read("configmap", "c", "demo")["metadata"]["name"] == "c"
    assert [r.split(" (")[0] for r in kube.retried] == ["reading ConfigMap c in namespace demo failed: HTTP 503 "
                                                        "Service Unavailable"] + [
        "reading ConfigMap c in namespace demo failed: HTTP 500 Internal Server Error"] * 2


def test_the_runbooks_read_of_a_paused_api_fails_at_its_timeout_saying_so(sim: Simulator,
                                                                          faults: FaultClient) -> None:
    kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=1)
    faults.add(kind="pause", verbs=["get"], resources=["configmaps"], seconds=30)
    with pytest.raises(TimedOut, match=r"the API server of context ambient-lb-sim did not answer within 1 s") as info:
        kube.read("configmap", "c", "demo")
    assert "kubectl get --raw /readyz" in str(info.value)


def test_the_runbooks_read_is_not_retried_on_a_4xx(sim: Simulator) -> None:
    kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=5)
    with pytest.raises(ClusterError):
        kube.read("configmap", "missing", "demo")
    assert kube.retried == []


def test_sim_fault_command_adds_lists_and_clears(sim: Simulator) -> None:
    cli = [sys.executable, "-m", "ambient_lb.cli", "sim", "fault"]
    kc = ["--kubeconfig", str(sim.kubeconfig)]
    run = lambda *a: subprocess.run([*cli, *a, *kc], capture_output=True, text=True, timeout=60)  # noqa: E731
    added = run("add", "error", "--status", "503", "--retry-after", "2", "--verbs", "list,get",
                "--resources", "pods", "--count", "3")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("fault f") and "HTTP 503 (Retry-After 2 s), get,list on pods;" in added.stdout
    assert "3 of 3 requests left" in run("list").stdout
    assert run("clear").stdout == "1 fault(s) removed\n"
    assert run("list").stdout == "no faults are active\n"
    bad = run("add", "meteor")
    assert bad.returncode == 2 and "the kind must be one of error, latency, reset, pause, watch-close" in bad.stderr


def test_sim_fault_on_a_server_that_does_not_answer_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "kubeconfig"
    cfg.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: [{name: x, context: "
                   "{cluster: x, user: x}}]\nclusters: [{name: x, cluster: {server: 'https://127.0.0.1:9'}}]\n"
                   "users: [{name: x, user: {token: t}}]\n")
    unreachable = "cannot reach the simulator at https://127.0.0.1:9 .*ambient-lb sim status"
    with pytest.raises(SimulatorError, match=unreachable):
        FaultClient(cfg).list()
    with pytest.raises(Exception, match="no context named 'y'"):
        FaultClient(cfg, "y")
