"""Backend images through the real gateway listener and the real kubectl (R14): the runbook's faulty
nginx replica behind the in-ambient Service, nginx that cannot start, strict mode, and the ConfigMap
that says what the simulator is."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from dataplane_helpers import SPEED, Guide, destination_rule

from ambient_lb import manifests
from ambient_lb.params import load_params
from ambient_lb.sim.process import Simulator, running_simulator

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

FAULTY = "in-ambient-faulty"


def apply_faulty(guide: Guide) -> dict:
    """What the runbook applies: the template ``in-ambient-faulty`` rendered from the default params."""
    guide.apply(manifests.to_yaml(manifests.render(FAULTY, load_params(), "test-run")))
    guide.kubectl("rollout", "status", f"deployment/{FAULTY}", "-n", "httpbin", "--timeout=60s")
    (pod,) = guide.pods(selector="app=in-ambient,variant=faulty")
    return pod


def test_faulty_deployment_behind_the_service_answers_500_through_the_waypoint(guide: Guide) -> None:
    """The nginx replica is Ready (its /healthz answers 200) and answers 500 with its name to the
    requests the waypoint sends it; the waypoint's access log line for its IP carries 500 via_upstream."""
    pod = apply_faulty(guide)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN"))  # 4 endpoints, no outlier detection: 1 in 4 goes to nginx
    guide.synced()
    answers = [guide.request() for _ in range(16)]
    failed = [(s, h, b) for s, h, b in answers if s != 200]
    assert len(failed) == 4
    assert all(s == 500 and b == f"{name}\n".encode() and h["content-type"] == "text/plain" for s, h, b in failed)
    wp_log = guide.kubectl("logs", "-n", "httpbin", "deploy/httpbin-waypoint").splitlines()
    to_nginx = [line for line in wp_log if f'"envoy://connect_originate/{ip}:8080"' in line]
    size = len(name) + 1
    assert len(to_nginx) == 4
    assert all(f'"GET /hostname HTTP/1.1" 500 - via_upstream - "-" 0 {size} ' in line for line in to_nginx)
    nginx_log = guide.kubectl("logs", "-n", "httpbin", f"deploy/{FAULTY}").splitlines()
    wp_ip = guide.pods(selector="gateway.networking.k8s.io/gateway-name=httpbin-waypoint")[0]["status"]["podIP"]
    served = [line for line in nginx_log if f'"GET /hostname HTTP/1.1" 500 {size} "-" "curl/8.7.1"' in line]
    assert len(served) == 4 and all(line.startswith(f"{wp_ip} - - [") for line in served)
    assert "nginx/1.30.5" in "\n".join(nginx_log)


def test_nginx_that_cannot_start_crash_loops_and_says_why(sim: Simulator) -> None:
    """R14.5, R14.8 through kubectl: a missing ConfigMap is FailedMount in describe; a config nginx
    cannot parse makes the pod Error/CrashLoopBackOff, and kubectl logs shows the [emerg]."""
    g = Guide(sim)
    params = load_params(overrides={"faulty.name": "broken"})
    docs = manifests.render(FAULTY, params, "test-run")
    g.apply(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "httpbin"}}))
    g.apply(manifests.to_yaml([d for d in docs if d["kind"] == "Deployment"]))
    g.kubectl("wait", "-n", "httpbin", "pod", "-l", "variant=faulty", "--for=jsonpath={.status.phase}=Pending",
              "--timeout=30s")
    assert 'MountVolume.SetUp failed for volume "conf" : configmap "broken" not found' in \
        g.kubectl("describe", "pod", "-n", "httpbin", "-l", "variant=faulty")
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    cm["data"]["default.conf"] = cm["data"]["default.conf"].replace("return 200", "retrun 200")
    g.apply(manifests.to_yaml([cm]))
    g.kubectl("wait", "-n", "httpbin", "pod", "-l", "variant=faulty", "--timeout=60s",
              "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CrashLoopBackOff")
    table = g.kubectl("get", "pods", "-n", "httpbin", "-l", "variant=faulty")
    assert re.search(r"0/1\s+CrashLoopBackOff\s+\d+", table), table
    logs = g.kubectl("logs", "-n", "httpbin", "deploy/broken")
    assert 'nginx: [emerg] unknown directive "retrun" in /etc/nginx/conf.d/default.conf:7' in logs
    described = g.kubectl("describe", "pod", "-n", "httpbin", "-l", "variant=faulty")
    assert "Back-off restarting failed container nginx in pod" in described
    assert re.search(r"Last State:\s+Terminated\s+Reason:\s+Error\s+Exit Code:\s+1", described), described


@pytest.fixture
def strict_guide() -> Iterator[Guide]:
    with running_simulator(seed=7, speed=SPEED, strict=True) as sim:
        g = Guide(sim)
        g.install()
        yield g


def test_strict_mode_ignores_fault_annotations(strict_guide: Guide) -> None:
    """``sim up --strict``: an http-status fault changes nothing, the pod's log says it is ignored,
    and the cluster says it is strict (kube-public/ambient-lb-simulator)."""
    pod = strict_guide.pod_names()[0]
    strict_guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/http-status=500")
    strict_guide.synced()
    assert "500" not in strict_guide.hostnames(9)
    log = strict_guide.kubectl("logs", "-n", "httpbin", pod)
    assert "[ambient-lb simulator] strict mode: ignoring the annotation fault.ambient-lb.dev/http-status='500'" in log
    data = json.loads(strict_guide.kubectl("get", "configmap", "-n", "kube-public", "ambient-lb-simulator",
                                           "-o", "json"))["data"]
    assert data["strict"] == "true"


def test_simulator_publishes_speed_seed_strict_and_topology(sim: Simulator) -> None:
    out = json.loads(Guide(sim).kubectl("get", "configmap", "-n", "kube-public", "ambient-lb-simulator", "-o", "json"))
    assert out["data"] == {"speed": f"{SPEED:g}", "seed": "7", "strict": "false", "topology": "default"}
