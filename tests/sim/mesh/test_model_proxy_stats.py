"""Which stats a proxy keeps and how its admin prints clusters (R13.3–R13.5, R13.10–R13.12)."""

from __future__ import annotations

import json
from dataclasses import replace

from mesh_model_helpers import T0, fail_n, outlier_cluster

from ambient_lb.sim.mesh.model import (
    FLAVOURS,
    ClusterShape,
    DumpedCluster,
    LbPolicy,
    StatsMatcher,
    clusters_text,
    dynamic_active_clusters,
    istio_stats_matcher,
    stats_text,
)
from ambient_lb.sim.mesh.model.config_dump import duration_json
from ambient_lb.sim.mesh.model.destinationrule import Leg, cluster_config
from ambient_lb.sim.mesh.proxy_config import effective_proxy_config, user_lists

A = "10.0.0.1:8080"
WP = "inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"
OUTLIER_REGEX = {"prefixes": [], "suffixes": [], "regexps": [".*outlier_detection.*"]}


def _ejected_cluster():
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    return c


def test_outlier_stats_are_dropped_by_istios_default_stats_matcher() -> None:
    """R13.3: Istio's inclusion list keeps server.* and cluster_manager.* but no cluster.<svc>.* stat."""
    c = _ejected_cluster()
    extra = {"server.live": 1, "cluster_manager.cluster_added": 1}
    text = stats_text([c], matcher=istio_stats_matcher(), extra=extra)
    assert text == "cluster_manager.cluster_added: 1\nserver.live: 1\n"
    assert stats_text([c], "outlier_detection", matcher=istio_stats_matcher()) == ""


def test_proxy_stats_matcher_regex_must_match_the_whole_name() -> None:
    """R13.4: `.*outlier_detection.*` keeps the outlier stats; a bare prefix matches nothing under cluster."""
    c = _ejected_cluster()
    kept = stats_text([c], matcher=istio_stats_matcher(OUTLIER_REGEX))
    assert f"cluster.{WP}.outlier_detection.ejections_enforced_total: 1\n" in kept
    assert "upstream_rq_total" not in kept
    by_prefix = istio_stats_matcher({"prefixes": ["outlier_detection"]})
    assert "outlier_detection" not in stats_text([c], matcher=by_prefix)
    assert not StatsMatcher(regexps=("outlier_detection",)).includes(f"cluster.{WP}.outlier_detection.x")


def test_istio_inclusion_list_has_the_bootstrap_order() -> None:
    """R13.3: reporter=, workload_discovery (waypoint), user prefixes, required prefixes, component, istio."""
    m = istio_stats_matcher({"prefixes": ["cluster.inbound-vip"]})
    assert m.prefixes == ("reporter=", "workload_discovery", "cluster.inbound-vip", "cluster_manager",
                          "listener_manager", "server", "cluster.xds-grpc", "wasm", "component", "istio")
    assert m.suffixes[-4:] == ("rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied")
    assert m.regexps == (r"vhost\.*\.route\.*",)


def test_proxy_config_annotation_overrides_the_mesh_default_and_old_annotations_win_per_kind() -> None:
    """R13.5: proxy.istio.io/config replaces what it sets; sidecar.istio.io/statsInclusion* replaces
    that kind's ProxyConfig list (not merged); {pod_ip} is substituted."""
    mesh = {"discoveryAddress": "istiod:15012", "proxyStatsMatcher": {"inclusionSuffixes": ["upstream_rq_timeout"]}}
    ann = {"proxy.istio.io/config": "proxyStatsMatcher:\n  inclusionRegexps: ['.*outlier_detection.*']\n",
           "sidecar.istio.io/statsInclusionPrefixes": "http.{pod_ip}_,cluster.outbound"}
    pc, problems = effective_proxy_config(mesh, ann)
    assert problems == [] and pc["discoveryAddress"] == "istiod:15012"
    lists = user_lists(pc, ann, "10.1.2.3")
    assert lists == {"prefixes": ["http.10.1.2.3_", "cluster.outbound"], "suffixes": ["upstream_rq_timeout"],
                     "regexps": [".*outlier_detection.*"]}
    _, problems = effective_proxy_config(mesh, {"proxy.istio.io/config": "proxyStatsMatcher: [unclosed"})
    assert problems and "failed to get proxy config" in problems[0]


def test_stats_counters_survive_a_destination_rule_change() -> None:
    """R13.10: the rebuilt cluster keeps upstream_rq_total and outlier_detection.* by name,
    ejections_active drops to 0, response-code stats restart, per-host /clusters counters restart."""
    c = _ejected_cluster()
    c.report(c.pick(T0 + 2), 200, T0 + 2)  # type: ignore[arg-type]
    before = c.stats()
    r = c.rebuilt(replace(c.config, lb_policy=LbPolicy.RANDOM), T0 + 3)
    after = r.stats()
    name = f"cluster.{c.config.name}"
    assert after[f"{name}.upstream_rq_total"] == before[f"{name}.upstream_rq_total"] > 0
    assert after[f"{name}.outlier_detection.ejections_enforced_consecutive_5xx"] == 1
    assert before[f"{name}.outlier_detection.ejections_active"] == 1
    assert after[f"{name}.outlier_detection.ejections_active"] == 0
    assert before[f"{name}.upstream_rq_2xx"] == 1 and after[f"{name}.upstream_rq_2xx"] == 0
    assert f"{c.config.name}::{A}::rq_error::0" in clusters_text([r]).splitlines()


def test_clusters_text_has_envoys_header_lines_and_host_order() -> None:
    """R13.11: observability_name, outlier lines, both priorities' thresholds, added_via_api,
    eds_service_name, then per host its stats in name order and its attributes."""
    lines = clusters_text([_ejected_cluster()]).splitlines()
    assert lines[:6] == [f"{WP}::observability_name::{WP}", f"{WP}::outlier::success_rate_average::-1",
                         f"{WP}::outlier::success_rate_ejection_threshold::-1",
                         f"{WP}::outlier::local_origin_success_rate_average::-1",
                         f"{WP}::outlier::local_origin_success_rate_ejection_threshold::-1",
                         f"{WP}::default_priority::max_connections::4294967295"]
    assert f"{WP}::high_priority::max_retries::3" in lines
    assert lines[13:15] == [f"{WP}::added_via_api::true", f"{WP}::eds_service_name::{WP}"]
    host = [line.split("::")[2] for line in lines if f"::{A}::" in line]
    assert host[:8] == ["cx_active", "cx_connect_fail", "cx_total", "rq_active", "rq_error", "rq_success",
                        "rq_timeout", "rq_total"]
    assert host[8:10] == ["hostname", "health_flags"] and host[-1] == "local_origin_success_rate"
    assert f"{WP}::{A}::health_flags::/failed_outlier_check" in lines


def test_config_dump_shows_the_drs_fields_and_leaves_out_round_robin() -> None:
    """R13.12: one configs entry per cluster; outlier_detection has the DR's fields plus
    enforcing_success_rate 0; ROUND_ROBIN prints no lb_policy; panic 0 prints as {}."""
    dr = {"trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"},
                            "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s",
                                                 "baseEjectionTime": "30s", "maxEjectionPercent": 100}}}
    c = outlier_cluster()
    c.config = cluster_config(dr, leg=Leg.WAYPOINT, name=WP)
    shape = ClusterShape(FLAVOURS["istio"], "EDS", WP)
    doc = dynamic_active_clusters([DumpedCluster(c, shape, "2026-01-01T00:00:00Z/3", "2026-01-01T00:00:00.000Z")])
    (entry,) = json.loads(json.dumps(doc))["configs"]
    assert entry["@type"] == "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster"
    cl = entry["cluster"]
    assert cl["name"] == WP and cl["type"] == "EDS" and "lb_policy" not in cl
    assert cl["outlier_detection"] == {"consecutive_5xx": 5, "interval": "10s", "base_ejection_time": "30s",
                                       "max_ejection_percent": 100, "enforcing_consecutive_5xx": 100,
                                       "enforcing_success_rate": 0}
    assert cl["common_lb_config"] == {"healthy_panic_threshold": {}}
    c.config = cluster_config(None, leg=Leg.WAYPOINT, name=WP)
    cl = dynamic_active_clusters([DumpedCluster(c, shape, "v", "t")])["configs"][0]["cluster"]
    assert cl["lb_policy"] == "LEAST_REQUEST" and "outlier_detection" not in cl


def test_durations_print_as_proto3_json() -> None:
    assert [duration_json(s) for s in (10, 0.5, 1.25, 90.000001)] == ["10s", "0.500s", "1.250s", "90.000001s"]
