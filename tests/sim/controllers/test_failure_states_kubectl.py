"""What a learner's kubectl shows for the failure states a cluster gets into, on the simulator: an image
that cannot be pulled (R14.11, R14.12), a container that keeps exiting (R14.8), and a Gateway whose
class no controller owns (R16.30). The real kubectl against one simulator (with the mesh) at speed 50;
waits are kubectl's own (``wait``, ``get -w``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ambient_lb

from .world_fixtures import kubectl_watch_until, module_world, rows

pytestmark = pytest.mark.kubectl

GATEWAY_API = Path(ambient_lb.__file__).parent / "manifests" / "gateway-api" / "standard-install.yaml"


def pod(name: str, image: str, command: str = "") -> str:
    cmd = f", command: [sh, -c, '{command}']" if command else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: drills}}
spec:
  containers: [{{name: app, image: '{image}'{cmd}}}]
"""


sim, cache, kubectl = module_world(seed=41, namespace="drills", speed=50)


def statuses(lines: list[str], name: str) -> list[str]:
    """The STATUS column of ``kubectl get pods -w`` lines about ``name``."""
    return [line.split()[2] for line in lines if line.split()[:1] == [name]]


def test_get_pods_shows_err_image_pull_and_image_pull_back_off(sim, cache, kubectl) -> None:
    """R14.12: STATUS alternates ErrImagePull (after each pull) and ImagePullBackOff (while backing
    off), READY 0/1, no restarts (no container was ever created)."""
    kubectl("apply", "-f", "-", stdin=pod("typo", "nginx:does-not-exist"))
    lines = kubectl_watch_until(sim, cache, ["get", "pods", "-n", "drills", "typo", "-w"],
                                lambda ls: {"ErrImagePull", "ImagePullBackOff"} <= set(statuses(ls, "typo")))
    assert {"ErrImagePull", "ImagePullBackOff"} <= set(statuses(lines, "typo")), lines
    for line in lines[1:]:
        name, ready, status, restarts = line.split()[:4]
        assert (name, ready, restarts) == ("typo", "0/1", "0") and status in (
            "Pending", "ContainerCreating", "ErrImagePull", "ImagePullBackOff"), line
    assert kubectl("get", "pod", "-n", "drills", "typo", "-o", "jsonpath={.status.phase}").stdout == "Pending"


def test_describe_pod_tells_why_the_image_cannot_be_pulled(kubectl) -> None:
    """R14.12: describe shows the waiting reason and the kubelet's events, as on a cluster."""
    kubectl("apply", "-f", "-", stdin=pod("nohost", "registry.invalid/team/app:1.0"))
    kubectl("wait", "-n", "drills", "pod/nohost", "--timeout=60s",
            "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff")
    out = kubectl("describe", "pod", "-n", "drills", "nohost").stdout
    assert re.search(r"State:\s+Waiting\s+Reason:\s+(ImagePullBackOff|ErrImagePull)", out), out
    assert re.search(r"Ready:\s+False", out) and re.search(r"Status:\s+Pending", out)
    assert re.search(r'Normal\s+Pulling\s+.*kubelet\s+Pulling image "registry.invalid/team/app:1.0"', out), out
    assert re.search(r'Warning\s+Failed\s+.*kubelet\s+Failed to pull image "registry.invalid/team/app:1.0": '
                     r'failed to pull and unpack image .*dial tcp: lookup registry.invalid on 172.18.0.1:53: '
                     r'no such host', out), out
    assert re.search(r"Warning\s+Failed\s+.*kubelet\s+Error: ErrImagePull", out), out
    assert re.search(r'Normal\s+BackOff\s+.*kubelet\s+Back-off pulling image "registry.invalid/team/app:1.0"', out)
    assert re.search(r"Warning\s+Failed\s+.*kubelet\s+Error: ImagePullBackOff", out), out


def test_get_pods_shows_crash_loop_back_off_for_a_container_that_exits(sim, cache, kubectl) -> None:
    """R14.8: ``sh -c "exit 1"`` is restarted with back-off: STATUS CrashLoopBackOff, READY 0/1,
    RESTARTS counted (``1 (9s ago)``); describe keeps the last run's exit code."""
    kubectl("apply", "-f", "-", stdin=pod("crash", "busybox:1.36", "exit 1"))
    lines = kubectl_watch_until(sim, cache, ["get", "pods", "-n", "drills", "crash", "-w"],
                                lambda ls: "CrashLoopBackOff" in statuses(ls, "crash"))
    row = next(line.split() for line in lines if line.split()[:1] == ["crash"] and "CrashLoopBackOff" in line)
    assert row[1] == "0/1" and int(row[3]) >= 1 and row[2] == "CrashLoopBackOff", lines
    out = kubectl("describe", "pod", "-n", "drills", "crash").stdout
    assert re.search(r"Last State:\s+Terminated\s+Reason:\s+Error\s+Exit Code:\s+1", out), out


def test_a_gateway_whose_class_has_no_controller_keeps_the_defaulted_status(kubectl) -> None:
    """R16.30: the API server defaults a new Gateway's status from the CRD (Accepted and Programmed
    Unknown, Pending, "Waiting for controller") and no controller ever changes it."""
    kubectl("apply", "-f", str(GATEWAY_API))
    kubectl("wait", "--for=condition=Established", "crd/gateways.gateway.networking.k8s.io", "--timeout=60s")
    kubectl("apply", "-f", "-", stdin="""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: nobody}
spec: {controllerName: example.com/nobody}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: orphan, namespace: drills}
spec:
  gatewayClassName: no-such-class
  listeners: [{name: http, port: 80, protocol: HTTP}]
""")
    kubectl("wait", "--for=condition=Accepted", "gatewayclass/istio-waypoint", "--timeout=60s")  # istiod at work
    (row,) = rows(kubectl("get", "gateway", "-n", "drills").stdout)
    assert row[:3] == ["orphan", "no-such-class", "Unknown"], row  # NAME CLASS (no ADDRESS) PROGRAMMED
    jp = '{range .status.conditions[*]}{.type}={.status}/{.reason}/{.message}/{.lastTransitionTime};{end}'
    pending = "={s}/Pending/Waiting for controller/1970-01-01T00:00:00Z;".format(s="Unknown")
    assert kubectl("get", "gateway", "-n", "drills", "orphan", "-o", f"jsonpath={jp}").stdout == \
        f"Accepted{pending}Programmed{pending}"
    out = kubectl("describe", "gateway", "-n", "drills", "orphan").stdout
    assert re.search(r"Message:\s+Waiting for controller\s+Reason:\s+Pending\s+Status:\s+Unknown\s+"
                     r"Type:\s+Programmed", out), out
    classes = {r[0]: r for r in rows(kubectl("get", "gatewayclass").stdout)}
    assert classes["nobody"][2] == "Unknown" and classes["istio-waypoint"][2] == "True"
    r = kubectl("wait", "-n", "drills", "gateway/orphan", "--for=condition=Programmed", "--timeout=2s", ok=False)
    assert "timed out waiting for the condition" in r.stderr
