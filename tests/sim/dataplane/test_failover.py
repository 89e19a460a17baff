"""Step 4 of the guide and its rules: outlier detection at the waypoint (R2.x), max ejection percent
(R2.4), pod deletion and its failure window (R6, R7), not-ready pods (R6.3)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator

import pytest
from dataplane_helpers import KUBECTL, Guide, destination_rule

from ambient_lb.sim.clock import parse_rfc3339
from ambient_lb.sim.process import running_simulator

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

UC_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"
WP_CLUSTER = "cluster.inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"


def _fail(guide: Guide, pod: str, codes: str = "500") -> None:
    guide.kubectl("annotate", "pod", "-n", "httpbin", pod, f"fault.ambient-lb.dev/http-status={codes}")


class LogFollower:
    """``kubectl logs -f`` in a thread; ``wait_for(text)`` returns the first new line containing it."""

    def __init__(self, guide: Guide, *args: str) -> None:
        self.proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(guide.sim.kubeconfig), "logs", "-f", *args],
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if text in line:
                return line

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def guide_speed5() -> Iterator[Guide]:
    """Speed 5: the 30–40 s ejection lasts 6–8 s of wall time, room for the kubectl checks while it holds."""
    with running_simulator(seed=7, speed=5.0) as sim:
        g = Guide(sim)
        g.install()
        yield g


def test_outlier_ejects_on_fifth_error_and_returns_at_a_sweep(guide_speed5: Guide) -> None:
    """R2.3, R2.6, R2.10: with maxEjectionPercent 100, the failing pod is ejected on its 5th 5xx,
    gets no traffic while ejected, and returns at the first 10 s sweep ≥ 30 s later, i.e. 30–40 s."""
    guide = guide_speed5
    guide.add_waypoint(outlier_stats=True)
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s",
                                 maxEjectionPercent=100))
    bad = guide.pod_names()[0]
    _fail(guide, bad)
    guide.synced()
    follower = LogFollower(guide, "-n", "httpbin", "deploy/httpbin-waypoint")
    try:
        seq = guide.hostnames(15)
        assert seq.count("500") == 5  # RR over 3 pods: the bad pod got every third request
        after = guide.hostnames(6)
        assert "500" not in after and bad not in after  # R2.3: ejected before the next request
        wp = guide.waypoint_pod()
        assert "::health_flags::/failed_outlier_check" in guide.admin("httpbin", wp, "clusters")
        stats = guide.stats("httpbin", wp)
        assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_enforced_consecutive_5xx"] == 1
        eject = json.loads(follower.wait_for('"action":"EJECT"'))
        uneject = json.loads(follower.wait_for('"action":"UNEJECT"', timeout=60))
    finally:
        follower.close()
    out_for = parse_rfc3339(uneject["timestamp"]) - parse_rfc3339(eject["timestamp"])
    assert 30.0 <= out_for < 40.0 + 0.5
    assert "500" in guide.hostnames(3)  # back in rotation, still failing


def test_default_max_ejection_percent_ejects_nothing_with_three_pods(guide: Guide) -> None:
    """R2.4, R3.1: the guide's DR leaves maxEjectionPercent at 10 %; with 3 hosts one ejection is 33 %,
    so the failing pod is detected (twice in 30 requests) but never ejected and keeps getting traffic."""
    guide.add_waypoint(outlier_stats=True)
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s"))
    _fail(guide, guide.pod_names()[0])
    guide.synced()
    seq = guide.hostnames(30)
    assert seq.count("500") == 10
    stats = guide.stats("httpbin", guide.waypoint_pod())
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_detected_consecutive_5xx"] == 2
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_overflow"] == 2
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_enforced_total"] == 0


def test_not_ready_pod_gets_no_traffic_on_either_path(guide: Guide) -> None:
    """R6.3, R1.1: a pod that is not Ready is skipped by the gateway's EDS and by the waypoint."""
    pod = guide.pod_names()[0]
    guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/ready=false")
    guide.kubectl("wait", "-n", "httpbin", f"pod/{pod}", "--for=condition=Ready=false", "--timeout=60s")
    guide.synced()
    assert pod not in guide.hostnames(9)
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN"))
    guide.synced()
    seq = guide.hostnames(9)
    assert pod not in seq and len(set(seq)) == 2


@pytest.fixture
def slow_guide():
    """At speed 1 the failure window (SIGTERM at +0.1 s, istiod push at +0.3 s) lasts ~0.2 s of wall time."""
    with running_simulator(seed=5, speed=1.0) as sim:
        g = Guide(sim)
        g.install()
        yield g


def test_deleted_pod_fails_only_in_the_window_then_only_survivors_answer(slow_guide: Guide) -> None:
    """R6.1, R6.4, R6.7, R7.1, R6.8: requests routed to a deleted pod between SIGTERM and the push fail
    with 503 UC (connection termination); afterwards only the other pods answer; no ejection."""
    guide = slow_guide
    guide.add_waypoint(outlier_stats=True)
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s"))
    guide.synced()
    victim = guide.pod_names()[0]
    assert victim in guide.hostnames(6)
    guide.kubectl("delete", "pod", "-n", "httpbin", victim, "--wait=false")
    results = [guide.request() for _ in range(250)]
    fails = [i for i, (s, _, _) in enumerate(results) if s != 200]
    assert fails, "no request landed in the deletion window"
    assert all(results[i][0] == 503 and results[i][2] == UC_BODY for i in fails)
    answered = [json.loads(b)["hostname"] for s, _, b in results if s == 200]
    assert victim not in [json.loads(b)["hostname"] for s, _, b in results[fails[0]:] if s == 200]
    assert len(set(answered) - {victim}) >= 2
    wp_log = guide.kubectl("logs", "-n", "httpbin", "deploy/httpbin-waypoint")
    assert " 503 UC upstream_reset_before_response_started{connection_termination} " in wp_log
    stats = guide.stats("httpbin", guide.waypoint_pod())
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_enforced_total"] == 0


def test_changing_the_dr_rebuilds_the_cluster_and_forgets_ejections(guide_speed5: Guide) -> None:
    """R2.12, R13.10: a DR change rebuilds the waypoint's cluster: the ejected pod is back at once;
    the outlier counters keep their values and ejections_active drops to 0."""
    guide = guide_speed5
    guide.add_waypoint(outlier_stats=True)
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s",
                                 maxEjectionPercent=100))
    bad = guide.pod_names()[0]
    _fail(guide, bad)
    guide.synced()
    assert guide.hostnames(15).count("500") == 5
    assert "500" not in guide.hostnames(3)
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=7, interval="10s", baseEjectionTime="30s",
                                 maxEjectionPercent=100))
    guide.synced()
    assert guide.hostnames(3).count("500") == 1
    stats = guide.stats("httpbin", guide.waypoint_pod())
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_enforced_total"] == 1
    assert stats[f"{WP_CLUSTER}.outlier_detection.ejections_active"] == 0
