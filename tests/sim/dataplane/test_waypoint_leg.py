"""The waypoint leg: binding (R8.2), the VIP collapse (R8.1), WP's load balancing (R3.4, R4.1, R4.3)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from dataplane_helpers import WAYPOINT, Guide, destination_rule

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test


def _waypoint_lines(guide: Guide) -> list[str]:
    out = guide.kubectl("logs", "-n", "httpbin", "deploy/httpbin-waypoint")
    return [line for line in out.splitlines() if line.startswith("[")]


def test_ingress_label_alone_does_not_cross_the_waypoint(guide: Guide) -> None:
    """R8.2, R8.1e: the guide's step 3 (waypoint + istio.io/ingress-use-waypoint) binds nothing, so
    traffic still goes GW → pod; adding istio.io/use-waypoint puts the waypoint in the path."""
    guide.add_waypoint(bind=False)
    guide.hostnames(6)
    assert _waypoint_lines(guide) == []
    guide.kubectl("label", "service", "in-ambient", "-n", "httpbin", "istio.io/use-waypoint=httpbin-waypoint")
    guide.synced()
    guide.hostnames(6)
    lines = _waypoint_lines(guide)
    assert len(lines) == 6
    assert all(" inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local " in line for line in lines)


def test_waypoint_rotates_round_robin_with_a_round_robin_dr(guide: Guide) -> None:
    """R3.4, R4.1: with loadBalancer.simple ROUND_ROBIN the waypoint rotates: 9 requests over 3 pods
    give exactly 3 each, periodic with period 3."""
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN"))
    guide.synced()
    seq = guide.hostnames(9)
    assert sorted(set(seq)) == guide.pod_names()
    assert seq[:3] == seq[3:6] == seq[6:9]
    assert len(_waypoint_lines(guide)) == 9


def test_waypoint_without_dr_uses_least_request_not_a_rotation(guide: Guide) -> None:
    """R3.4, R4.3: no DR → LEAST_REQUEST; sequential requests are uniform random picks, so over 30
    requests some pod answers twice in a row (a rotation never does; chance of none ≈ 1e-5)."""
    guide.add_waypoint()
    seq = guide.hostnames(30)
    assert set(seq) <= set(guide.pod_names())
    assert any(a == b for a, b in pairwise(seq))


def test_vip_collapse_leaves_the_gateway_one_host(guide: Guide) -> None:
    """R8.1, R1.3, R8.3: once collapsed, GW's cluster holds only the Service VIP; with the default
    maxEjectionPercent (10) its outlier detection can never eject it, even when every pod fails."""
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s"))
    for pod in guide.pod_names():
        guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/http-status=500")
    guide.synced()
    codes = [guide.request()[0] for _ in range(12)]
    assert codes == [500] * 12
    gw = guide.stats("kgateway-system", guide.gateway_pod())
    name = "cluster.kube_httpbin_in-ambient_8000"
    assert gw[f"{name}.membership_total"] == 1
    assert gw[f"{name}.outlier_detection.ejections_detected_consecutive_5xx"] == 2
    assert gw[f"{name}.outlier_detection.ejections_overflow"] == 2
    assert gw[f"{name}.outlier_detection.ejections_enforced_total"] == 0
    clusters = guide.admin("kgateway-system", guide.gateway_pod(), "clusters")
    vip = guide.kubectl("get", "svc", "-n", "httpbin", "in-ambient", "-o=jsonpath={.spec.clusterIP}")
    assert f"kube_httpbin_in-ambient_8000::{vip}:8000::health_flags::healthy" in clusters


def test_waypoint_gateway_is_programmed_with_prefer_close_service(guide: Guide) -> None:
    """R5.7: the waypoint's Service carries networking.istio.io/traffic-distribution: PreferClose, and
    the waypoint Gateway is Programmed with the Service VIP as its address."""
    guide.apply(WAYPOINT)
    guide.kubectl("wait", "-n", "httpbin", "gateway/httpbin-waypoint", "--for=condition=Programmed", "--timeout=60s")
    ann = guide.kubectl("get", "svc", "-n", "httpbin", "httpbin-waypoint",
                        "-o=jsonpath={.metadata.annotations.networking\\.istio\\.io/traffic-distribution}")
    assert ann == "PreferClose"
    ports = guide.kubectl("get", "svc", "-n", "httpbin", "httpbin-waypoint", "-o=jsonpath={.spec.ports[*].port}")
    assert "15008" in ports.split()
    addr = guide.kubectl("get", "gateway", "-n", "httpbin", "httpbin-waypoint",
                         "-o=jsonpath={.status.addresses[0].value}")
    assert addr == guide.kubectl("get", "svc", "-n", "httpbin", "httpbin-waypoint", "-o=jsonpath={.spec.clusterIP}")


def test_older_kgateway_sends_an_unbound_service_to_its_vip_where_ztunnel_picks_at_random(guide: Guide) -> None:
    """R8.2 with an older kgateway (no binding check, R8.1e off): the guide's step 3 sends to the VIP,
    no waypoint is crossed, and ZT(GW) picks a pod at random per connection (R4.5), not a rotation."""
    guide.sim.cluster.extensions["mesh_options"] = {"kgateway_binding_check": False}
    guide.add_waypoint(bind=False)
    seq = guide.hostnames(30)
    assert set(seq) <= set(guide.pod_names())
    assert any(a == b for a, b in pairwise(seq))
    assert _waypoint_lines(guide) == []
    gw_log = guide.kubectl("logs", "-n", "kgateway-system", "deploy/http").splitlines()
    vip = guide.kubectl("get", "svc", "-n", "httpbin", "in-ambient", "-o=jsonpath={.spec.clusterIP}")
    assert all(f'"{vip}:8000"' in line for line in gw_log[-30:])


def test_the_waypoint_service_takes_its_mode_from_the_gateways_infrastructure_annotations(guide: Guide) -> None:
    """R5.7, R13.6: Istio renders the waypoint's Service from its template (PreferClose) with the Gateway's
    infrastructure annotations over it, on every reconcile: setting networking.istio.io/traffic-distribution
    there later changes the Service, and removing it brings PreferClose back."""
    guide.apply(WAYPOINT)
    guide.kubectl("wait", "-n", "httpbin", "gateway/httpbin-waypoint", "--for=condition=Programmed", "--timeout=60s")
    path = "-o=jsonpath={.metadata.annotations.networking\\.istio\\.io/traffic-distribution}"
    patch = '{"spec":{"infrastructure":{"annotations":{"networking.istio.io/traffic-distribution":%s}}}}'
    guide.kubectl("patch", "gateway", "-n", "httpbin", "httpbin-waypoint", "--type=merge", "-p", patch % '"Any"')
    guide.synced()
    assert guide.kubectl("get", "svc", "-n", "httpbin", "httpbin-waypoint", path) == "Any"
    guide.kubectl("patch", "gateway", "-n", "httpbin", "httpbin-waypoint", "--type=merge", "-p", patch % "null")
    guide.synced()
    assert guide.kubectl("get", "svc", "-n", "httpbin", "httpbin-waypoint", path) == "PreferClose"
