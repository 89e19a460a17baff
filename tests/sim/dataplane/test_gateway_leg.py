"""The ingress leg without a waypoint: kgateway's Envoy balances pod IPs itself (R1.1, R1.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dataplane_helpers import SPEED, Guide

from ambient_lb.sim.process import running_simulator

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test


@pytest.fixture(scope="module")
def guide() -> Iterator[Guide]:
    """One simulator for this module: these tests only send requests and read logs."""
    with running_simulator(seed=7, speed=SPEED) as sim:
        g = Guide(sim)
        g.install()
        yield g


def test_gateway_round_robins_pods_when_waypoint_is_bypassed(guide: Guide) -> None:
    """R1.1, R1.2: without a waypoint, GW's Envoy picks the pod by ROUND_ROBIN over ready pod IPs:
    nine sequential requests give each of the three pods exactly three, in a period-3 rotation."""
    seq = guide.hostnames(9)
    assert sorted(set(seq)) == guide.pod_names()
    assert all(seq.count(p) == 3 for p in set(seq))
    assert seq[:3] == seq[3:6] == seq[6:9]


def test_hostname_answers_like_go_httpbin_through_envoy(guide: Guide) -> None:
    """go-httpbin's /hostname JSON, passed through unchanged (R7.4) with Envoy's response headers."""
    status, headers, body = guide.request("/hostname")
    assert status == 200
    assert headers["server"] == "envoy"
    assert int(headers["x-envoy-upstream-service-time"]) >= 0
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert body.decode().startswith('{\n  "hostname": "in-ambient-')
    assert json.loads(body)["hostname"] in guide.pod_names()


def test_unmatched_host_gets_envoy_404_route_not_found(guide: Guide) -> None:
    """No HTTPRoute matches the Host: Envoy answers 404 with an empty body and logs NR route_not_found."""
    status, headers, body = guide.request("/hostname", host="other.example.com")
    assert (status, body, headers["server"]) == (404, b"", "envoy")
    log = guide.kubectl("logs", "-n", "kgateway-system", guide.gateway_pod())
    assert ' 404 NR route_not_found ' in log.splitlines()[-1]


def test_app_status_endpoint_passes_5xx_through(guide: Guide) -> None:
    """R7.4: a 5xx the app returns reaches the client unchanged, flag '-' and via_upstream."""
    status, _, body = guide.request("/status/503")
    assert (status, body) == (503, b"")
    log = guide.kubectl("logs", "-n", "kgateway-system", guide.gateway_pod())
    assert '"GET /status/503 HTTP/1.1" 503 - via_upstream ' in log.splitlines()[-1]


def test_pod_proxy_reaches_the_app_directly(guide: Guide) -> None:
    """``kubectl get --raw …/pods/<pod>:8080/proxy/hostname`` answers from that pod, as on a real cluster."""
    pod = guide.pod_names()[1]
    out = guide.kubectl("get", "--raw", f"/api/v1/namespaces/httpbin/pods/{pod}:8080/proxy/hostname")
    assert json.loads(out) == {"hostname": pod}


def test_app_sees_envoy_request_headers(guide: Guide) -> None:
    """go-httpbin's /headers shows what the gateway's Envoy added: x-request-id, x-forwarded-for/-proto."""
    status, _, body = guide.request("/headers")
    headers = json.loads(body)["headers"]
    assert status == 200 and headers["Host"] == ["httpbin.example.com"]
    assert headers["X-Forwarded-Proto"] == ["http"] and headers["X-Forwarded-For"][0].startswith("127.")
    assert len(headers["X-Request-Id"][0]) == 36


def test_latency_fault_delays_that_pod_in_simulated_time(guide: Guide) -> None:
    """fault.ambient-lb.dev/latency: the pod answers after the delay (simulated seconds), which the
    gateway's access log and x-envoy-upstream-service-time show."""
    pod = guide.pod_names()[2]
    guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/latency=20s")
    try:
        times = {}
        for _ in range(3):
            status, headers, body = guide.request()
            times[json.loads(body)["hostname"]] = int(headers["x-envoy-upstream-service-time"])
        assert times[pod] >= 20000 and all(t < 20000 for p, t in times.items() if p != pod)
    finally:
        guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/latency-")
