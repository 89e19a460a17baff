"""What ``kubectl logs`` shows after traffic: each hop's lines in the right pod, in the real formats,
parsed by the project's own parsers (R7.6, log-formats.md)."""

from __future__ import annotations

import json

import pytest
from dataplane_helpers import Guide, destination_rule

from ambient_lb.logs import parse_envoy, parse_ztunnel

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

GW_ID = "spiffe://cluster.local/ns/kgateway-system/sa/http"
APP_ID = "spiffe://cluster.local/ns/httpbin/sa/in-ambient"
WP_ID = "spiffe://cluster.local/ns/httpbin/sa/httpbin-waypoint"


def _ztunnel_on(guide: Guide, node: str) -> str:
    pods = guide.pods("istio-system", "app=ztunnel")
    return next(p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == node)


def _node_of(guide: Guide, ns: str, pod: str) -> str:
    return json.loads(guide.kubectl("get", "pod", "-n", ns, pod, "-o", "json"))["spec"]["nodeName"]


def test_gateway_leg_ztunnel_logs_show_both_spiffe_identities(guide: Guide) -> None:
    """Guide step 2 / R1.1: the ztunnel on a backend pod's node logs the request inbound from the
    gateway pod with SPIFFE identities on both sides, HBONE to the pod's port 8080."""
    seq = guide.hostnames(3)
    pod = seq[0]
    zt = parse_ztunnel(guide.kubectl("logs", "-n", "istio-system", _ztunnel_on(guide, _node_of(guide, "httpbin", pod))))
    rows = zt[(zt["dst.workload"] == pod) & (zt["target"] == "http access")]
    assert len(rows) == seq.count(pod)
    row = rows.iloc[0]
    assert (row["src.workload"], row["src.identity"], row["dst.identity"]) == (guide.gateway_pod(), GW_ID, APP_ID)
    assert row["direction"] == "inbound" and row["response_code"] == 200
    assert str(row["dst.hbone_addr"]).endswith(":8080")


def test_waypoint_path_logs_every_hop_where_kubectl_finds_it(guide: Guide) -> None:
    """R1.3, R7.6: GW logs the VIP as upstream; ZT(GW) logs outbound HBONE to the waypoint with the VIP
    as hbone_addr; the waypoint logs inbound-vip|8000|http|… and connect_originate to the pod; the
    destination ztunnel logs the request from the waypoint's identity. All parse with ambient_lb.logs."""
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN"))
    guide.synced()
    seq = guide.hostnames(6)
    vip = guide.kubectl("get", "svc", "-n", "httpbin", "in-ambient", "-o=jsonpath={.spec.clusterIP}")
    gw = parse_envoy(guide.kubectl("logs", "-n", "kgateway-system", "deploy/http"))
    assert len(gw) == 6 and set(gw["upstream_host"]) == {f"{vip}:8000"}
    assert set(gw["upstream_cluster"]) == {"kube_httpbin_in-ambient_8000"}
    wp = parse_envoy(guide.kubectl("logs", "-n", "httpbin", "deploy/httpbin-waypoint"))
    assert set(wp["upstream_cluster"]) == {"inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"}
    ips = {p["status"]["podIP"] for p in guide.pods()}
    assert {h.split("/")[-1].rsplit(":", 1)[0] for h in wp["upstream_host"]} == ips
    assert list(wp["request_id"]) == list(gw["request_id"])
    zt_gw = parse_ztunnel(guide.kubectl("logs", "-n", "istio-system",
                                        _ztunnel_on(guide, _node_of(guide, "kgateway-system", guide.gateway_pod()))))
    out = zt_gw[(zt_gw["direction"] == "outbound") & (zt_gw["src.identity"] == GW_ID)]
    assert len(out) == 6 and set(out["dst.hbone_addr"].astype(str)) == {f"{vip}:8000"}
    assert set(out["dst.identity"]) == {WP_ID}
    pod = seq[0]
    zt = parse_ztunnel(guide.kubectl("logs", "-n", "istio-system", _ztunnel_on(guide, _node_of(guide, "httpbin", pod))))
    inbound = zt[(zt["dst.workload"] == pod) & (zt["target"] == "http access")]
    assert len(inbound) == seq.count(pod) and set(inbound["src.identity"]) == {WP_ID}


def test_refused_connection_logs_uc_at_gateway_and_error_at_destination(guide: Guide) -> None:
    """R7.1: a pod whose app refuses connections: the destination ztunnel logs the connection error
    (ECONNREFUSED), the gateway that chose the pod answers 503 UC connection_termination."""
    pod = guide.pod_names()[0]
    guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/refuse-connections=true")
    codes = [guide.request()[0] for _ in range(3)]
    assert sorted(codes) == [200, 200, 503]
    gw = parse_envoy(guide.kubectl("logs", "-n", "kgateway-system", "deploy/http"))
    failed = gw[gw["response_code"] == 503].iloc[0]
    assert (failed["response_flags"], failed["response_code_details"]) == (
        "UC", "upstream_reset_before_response_started{connection_termination}")
    zt = parse_ztunnel(guide.kubectl("logs", "-n", "istio-system", _ztunnel_on(guide, _node_of(guide, "httpbin", pod))))
    err = zt[(zt["dst.workload"] == pod) & (zt["level"] == "error") & (zt["direction"] == "inbound")]
    assert list(err["error"]) == ["io error: Connection refused (os error 111)"]
