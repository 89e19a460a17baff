"""Reading the proxies' Envoy admin the way a cluster allows, through the real kubectl (R13.1–R13.13)."""

from __future__ import annotations

import http.client
import json
import subprocess

import pytest
from dataplane_helpers import HOST, KUBECTL, WAYPOINT, WAYPOINT_WITH_OUTLIER_STATS, Guide, destination_rule

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

WP_CLUSTER = "inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"
OUTLIER = "stats?filter=outlier_detection"


def _exec(guide: Guide, ns: str, target: str, *argv: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL, "kubectl is not on PATH"
    return subprocess.run([KUBECTL, "--kubeconfig", str(guide.sim.kubeconfig), "exec", "-n", ns, target, "--", *argv],
                          capture_output=True, text=True, timeout=60)


def _pilot_agent(guide: Guide, path: str) -> str:
    r = _exec(guide, "httpbin", "deploy/httpbin-waypoint", "pilot-agent", "request", "GET", path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _get(port: int, path: str, host: str = "") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _ejecting_dr(guide: Guide, lb: str = "ROUND_ROBIN") -> None:
    guide.apply(destination_rule(lb, consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s",
                                 maxEjectionPercent=100))


def test_pod_proxy_to_the_waypoint_admin_port_is_refused_like_a_cluster(guide: Guide) -> None:
    """R13.1: the API server dials the pod IP; Envoy's admin listens on 127.0.0.1 only."""
    guide.add_waypoint()
    for ns, pod, port in (("httpbin", guide.waypoint_pod(), 15000), ("kgateway-system", guide.gateway_pod(), 19000)):
        r = subprocess.run([KUBECTL or "kubectl", "--kubeconfig", str(guide.sim.kubeconfig), "get", "--raw",
                            f"/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/stats"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1 and "connection refused" in r.stderr, r.stderr
    assert guide.kubectl("get", "--raw", f"/api/v1/namespaces/kgateway-system/pods/{guide.gateway_pod()}:8082/proxy/"
                         "ready") == "LIVE\n"


def test_outlier_stats_are_dropped_by_istios_default_stats_matcher(guide: Guide) -> None:
    """R13.3: the guide's waypoint Gateway asks for nothing, so pilot-agent prints only its newline,
    while the cluster_manager stats are there."""
    guide.add_waypoint()
    _ejecting_dr(guide)
    guide.synced()
    guide.hostnames(6)
    assert _pilot_agent(guide, OUTLIER) == "\n"
    stats = guide.stats("httpbin", guide.waypoint_pod())
    assert stats["cluster_manager.active_clusters"] == 1 and not any(k.startswith("cluster.") for k in stats)


def test_waypoint_gateway_proxy_config_annotation_includes_outlier_stats(guide: Guide) -> None:
    """R13.5, R13.6: proxy.istio.io/config on the Gateway lands on the waypoint pod, and its
    proxyStatsMatcher keeps the outlier counters."""
    guide.add_waypoint(outlier_stats=True)
    pod = guide.waypoint_pod()
    ann = guide.kubectl("get", "pod", "-n", "httpbin", pod, "-o", "jsonpath={.metadata.annotations}")
    assert "outlier_detection" in json.loads(ann)["proxy.istio.io/config"]
    _ejecting_dr(guide)
    guide.kubectl("annotate", "pod", "-n", "httpbin", guide.pod_names()[0], "fault.ambient-lb.dev/http-status=500")
    guide.synced()
    guide.hostnames(15)
    out = _pilot_agent(guide, OUTLIER)
    assert f"cluster.{WP_CLUSTER}.outlier_detection.ejections_enforced_consecutive_5xx: 1\n" in out
    assert "upstream_rq_total" not in out


def test_gateway_infrastructure_annotations_win_over_its_metadata_annotations(guide: Guide) -> None:
    """R13.6: with spec.infrastructure.annotations set, the Gateway's own annotations are not copied."""
    doc = WAYPOINT.replace("spec:\n", "spec:\n  infrastructure:\n    annotations: {example.com/infra: \"yes\"}\n")
    doc = doc.replace("metadata: {name: httpbin-waypoint, namespace: httpbin}",
                      "metadata: {name: httpbin-waypoint, namespace: httpbin, "
                      "annotations: {example.com/meta: \"yes\"}}")
    guide.apply(doc)
    guide.kubectl("rollout", "status", "deployment/httpbin-waypoint", "-n", "httpbin", "--timeout=60s")
    ann = json.loads(guide.kubectl("get", "pod", "-n", "httpbin", guide.waypoint_pod(), "-o",
                                   "jsonpath={.metadata.annotations}"))
    assert ann.get("example.com/infra") == "yes" and "example.com/meta" not in ann
    assert ann["istio.io/rev"] == "default"


def test_annotating_the_gateway_rolls_a_waypoint_that_keeps_outlier_stats(guide: Guide) -> None:
    """R13.5, R13.6: the matcher is fixed when the proxy starts; annotating the Gateway re-renders the
    Deployment and the new pod's Envoy keeps the outlier counters."""
    guide.add_waypoint()
    old = guide.waypoint_pod()
    _ejecting_dr(guide)
    guide.synced()
    guide.hostnames(3)
    assert _pilot_agent(guide, OUTLIER) == "\n"
    guide.apply(WAYPOINT_WITH_OUTLIER_STATS)
    guide.kubectl("rollout", "status", "deployment/httpbin-waypoint", "-n", "httpbin", "--timeout=60s")
    guide.kubectl("wait", "-n", "httpbin", f"pod/{old}", "--for=delete", "--timeout=60s")
    guide.synced()
    guide.hostnames(3)
    assert f"cluster.{WP_CLUSTER}.outlier_detection.ejections_active: 0\n" in _pilot_agent(guide, OUTLIER)


def test_stats_counters_survive_a_destination_rule_change_and_config_dump_shows_the_new_rule(
        guide: Guide) -> None:
    """R13.10, R13.12: after a DR change the outlier counters keep their values, ejections_active is
    0, cluster_manager.cluster_modified counts the update, and config_dump shows the new rule."""
    guide.add_waypoint(outlier_stats=True)
    _ejecting_dr(guide)
    guide.kubectl("annotate", "pod", "-n", "httpbin", guide.pod_names()[0], "fault.ambient-lb.dev/http-status=500")
    guide.synced()
    guide.hostnames(15)
    dump = json.loads(_pilot_agent(guide, "config_dump?resource=dynamic_active_clusters"))
    (before,) = [c for c in dump["configs"] if c["cluster"]["name"] == WP_CLUSTER]
    assert "lb_policy" not in before["cluster"]  # ROUND_ROBIN is proto3's default
    _ejecting_dr(guide, lb="LEAST_REQUEST")
    guide.synced()
    guide.hostnames(3)
    stats = guide.stats("httpbin", guide.waypoint_pod())
    assert stats[f"cluster.{WP_CLUSTER}.outlier_detection.ejections_enforced_total"] == 1
    assert stats[f"cluster.{WP_CLUSTER}.outlier_detection.ejections_active"] == 0
    assert stats["cluster_manager.cluster_modified"] == 1
    dump = json.loads(_pilot_agent(guide, "config_dump?resource=dynamic_active_clusters"))
    (after,) = [c for c in dump["configs"] if c["cluster"]["name"] == WP_CLUSTER]
    assert after["cluster"]["lb_policy"] == "LEAST_REQUEST"
    assert after["cluster"]["outlier_detection"]["max_ejection_percent"] == 100
    assert after["last_updated"] > before["last_updated"]


def test_programs_the_proxy_images_lack_fail_like_containerd(guide: Guide) -> None:
    """R13.8: no curl in the distroless waypoint nor in kgateway's proxy: the exec does not start."""
    guide.add_waypoint()
    for ns, target in (("httpbin", "deploy/httpbin-waypoint"), ("kgateway-system", "deploy/http")):
        r = _exec(guide, ns, target, "curl", "-s", "localhost:15000/stats")
        assert r.returncode == 1
        assert 'exec: "curl": executable file not found in $PATH: unknown' in r.stderr


def test_port_forward_reaches_the_gateway_admin_and_listener(guide: Guide) -> None:
    """R13.2, R13.9, R13.13: `kubectl port-forward deployment/http 19000` reaches the admin, whose
    /clusters names kube_httpbin_in-ambient_8000; a forward to 8080 reaches the real listener."""
    guide.hostnames(3)
    with guide.port_forward("kgateway-system", "deployment/http", 19000) as local:
        status, body = _get(local, "/clusters")
    assert status == 200 and "kube_httpbin_in-ambient_8000::default_priority::max_connections::1024" in body
    with guide.port_forward("kgateway-system", "deployment/http", 8080) as local:
        status, body = _get(local, "/hostname", HOST)
    assert status == 200 and json.loads(body)["hostname"] in guide.pod_names()


def test_the_clients_exec_stream_reads_what_kubectl_exec_prints(guide: Guide) -> None:
    """kube.exec_output (the runbook's hidden reads of the counters) and `kubectl exec` print the same."""
    from ambient_lb.errors import ClusterError, NotFound
    from ambient_lb.kube import Kube

    guide.add_waypoint()
    kube = Kube("ambient-lb-sim", guide.sim.kubeconfig, timeout=60)
    argv = ["pilot-agent", "request", "GET", "stats?filter=cluster_manager.active_clusters"]
    assert kube.exec_output("httpbin", "deploy/httpbin-waypoint", argv) == _pilot_agent(guide, argv[-1])
    assert kube.exec_output("httpbin", guide.waypoint_pod(), argv) == _pilot_agent(guide, argv[-1])
    with pytest.raises(ClusterError, match=r"no-such-program .*executable file not found") as failed:
        kube.exec_output("httpbin", "deploy/httpbin-waypoint", ["no-such-program"])
    assert failed.value.returncode == 126
    with pytest.raises(NotFound):
        kube.exec_output("httpbin", "deploy/no-such-deployment", argv)
