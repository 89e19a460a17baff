"""DestinationRule → Envoy cluster in the model: R1.4, R3.1–R3.5, R5.4–R5.6, R8.3."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from mesh_model_helpers import T0, fail_n, hosts

from ambient_lb.sim.mesh.model import (
    EnvoyCluster,
    Host,
    InvalidDestinationRule,
    LbPolicy,
    Leg,
    Locality,
    Mode,
    ModeDecision,
    cluster_config,
    parse_duration,
    sends_unhealthy_endpoints,
)

#: The guide's DR (step 4).
GUIDE_DR = {"host": "in-ambient", "trafficPolicy": {
    "loadBalancer": {"simple": "ROUND_ROBIN"},
    "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"}}}


def wp(dr: dict | None, **kw: object):  # noqa: ANN201
    return cluster_config(dr, leg=Leg.WAYPOINT, name="inbound-vip|8000|http|x", **kw)  # type: ignore[arg-type]


def test_guide_dr_maps_to_envoy_fields_with_envoy_defaults_for_the_rest() -> None:
    """R3.1: set fields map 1:1; maxEjectionPercent stays 10; panic threshold 0; gateway errors detect-only."""
    cfg = wp(GUIDE_DR)
    od = cfg.outlier
    assert od is not None and cfg.lb_policy is LbPolicy.ROUND_ROBIN
    assert (od.consecutive_5xx, od.enforcing_consecutive_5xx) == (5, 100)
    assert (od.consecutive_gateway_failure, od.enforcing_consecutive_gateway_failure) == (5, 0)
    assert (od.interval, od.base_ejection_time, od.max_ejection_percent) == (10.0, 30.0, 10)
    assert od.effective_max_ejection_time == 300.0 and not od.split_external_local_origin_errors
    assert cfg.panic_threshold == 0.0


@pytest.mark.parametrize("spec,attr,expected", [
    ({"consecutive5xxErrors": 0}, "enforcing_consecutive_5xx", 0),
    ({"consecutiveGatewayErrors": 3}, "enforcing_consecutive_gateway_failure", 100),
    ({"consecutiveGatewayErrors": 3}, "consecutive_gateway_failure", 3),
    ({"maxEjectionPercent": 0}, "max_ejection_percent", 10),
    ({"maxEjectionPercent": 100}, "max_ejection_percent", 100),
    ({"interval": "1m"}, "interval", 60.0),
    ({"baseEjectionTime": "500ms"}, "base_ejection_time", 0.5),
    ({"splitExternalLocalOriginErrors": True, "consecutiveLocalOriginFailures": 2},
     "consecutive_local_origin_failure", 2),
    ({"outlierDetectionHttpErrorCodes": [500, 429]}, "error_codes", frozenset({500, 429})),
])
def test_outlier_fields_follow_the_istio_mapping_table(spec: dict, attr: str, expected: object) -> None:
    """R3.1: each outlierDetection field lands in Envoy as Istio's applyOutlierDetection sets it."""
    cfg = wp({"trafficPolicy": {"outlierDetection": spec}})
    assert getattr(cfg.outlier, attr) == expected


def test_min_health_percent_becomes_the_panic_threshold() -> None:
    """R3.1/R4.7: minHealthPercent → healthy_panic_threshold; unset with outlierDetection → 0."""
    assert wp({"trafficPolicy": {"outlierDetection": {"minHealthPercent": 30}}}).panic_threshold == 30.0
    assert wp({"trafficPolicy": {"outlierDetection": {}}}).panic_threshold == 0.0


def test_no_dr_means_no_outlier_detection_and_panic_threshold_50() -> None:
    """R3.3: no DR (or no outlierDetection): no detector, Envoy's 50 % panic; 0 if unhealthy endpoints are sent."""
    assert wp(None).outlier is None and wp(None).panic_threshold == 50.0
    assert wp({"trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}}).outlier is None
    assert wp(None, supports_unhealthy=True).panic_threshold == 0.0


@pytest.mark.parametrize("simple,policy", [(None, LbPolicy.LEAST_REQUEST), ("UNSPECIFIED", LbPolicy.LEAST_REQUEST),
                                           ("ROUND_ROBIN", LbPolicy.ROUND_ROBIN), ("RANDOM", LbPolicy.RANDOM),
                                           ("LEAST_CONN", LbPolicy.LEAST_REQUEST)])
def test_dr_without_loadbalancer_means_least_request_at_waypoint(simple: str | None, policy: LbPolicy) -> None:
    """R3.4: loadBalancer.simple unset → LEAST_REQUEST (Istio's default); LEAST_CONN → LEAST_REQUEST."""
    lb = {} if simple is None else {"simple": simple}
    assert wp({"trafficPolicy": {"loadBalancer": lb}}).lb_policy is policy
    assert wp(None).lb_policy is LbPolicy.LEAST_REQUEST


def test_gateway_applies_only_outlier_and_locality_and_keeps_round_robin() -> None:
    """R1.2/R1.4b: kgateway never reads loadBalancer.simple; its clusters stay ROUND_ROBIN."""
    dr = {"trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}, "outlierDetection": {"consecutive5xxErrors": 3}}}
    cfg = cluster_config(dr, leg=Leg.GATEWAY, name="kube_httpbin_in-ambient_8000")
    assert cfg.lb_policy is LbPolicy.ROUND_ROBIN and cfg.outlier.consecutive_5xx == 3  # type: ignore[union-attr]
    assert any("ignored at the gateway" in n for n in cfg.notes)
    assert cluster_config(None, leg=Leg.GATEWAY, name="g").lb_policy is LbPolicy.ROUND_ROBIN


def test_ztunnel_never_applies_a_destinationrule() -> None:
    """R1.4c: the workload API carries no DR fields; asking for a ztunnel cluster is an error."""
    with pytest.raises(InvalidDestinationRule, match="ztunnel never applies"):
        cluster_config(GUIDE_DR, leg=Leg.ZTUNNEL, name="z")


@pytest.mark.parametrize("dr,field", [
    ({"outlierDetection": {"interval": "ten seconds"}}, "outlierDetection.interval"),
    ({"outlierDetection": {"baseEjectionTime": "0s"}}, "outlierDetection.baseEjectionTime"),
    ({"outlierDetection": {"maxEjectionPercent": 150}}, "outlierDetection.maxEjectionPercent"),
    ({"outlierDetection": {"consecutive5xxErrors": "five"}}, "outlierDetection.consecutive5xxErrors"),
    ({"loadBalancer": {"simple": "FASTEST"}}, "loadBalancer.simple"),
    ({"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "b"}],
                                             "failoverPriority": ["topology.kubernetes.io/zone"]}}},
     "loadBalancer.localityLbSetting"),
])
def test_invalid_dr_fields_are_named_with_an_example(dr: dict, field: str) -> None:
    """Bad DR values raise an error naming the field and showing a good value."""
    with pytest.raises(InvalidDestinationRule) as err:
        wp({"trafficPolicy": dr}, mode=None)
    assert err.value.field == field and "for example" in str(err.value)


def test_parse_duration_accepts_go_style_durations() -> None:
    """R3.1: DR durations such as `10s`, `1m30s`, `1.5s` become seconds."""
    assert parse_duration("x", "1m30s") == 90.0 and parse_duration("x", "1.5s") == 1.5


def three_zone_hosts() -> list[Host]:
    return hosts(3, zones=["z-a", "z-b", "z-c"])


def test_outlier_detection_turns_on_locality_failover() -> None:
    """R3.5/R5.5: with outlierDetection and no mode, WP in z-a: P0={A}, P1={B,C} → 100 % to A."""
    cfg = wp(GUIDE_DR)
    assert cfg.priority_plan.kind == "locality_failover"
    c = EnvoyCluster(cfg, three_zone_hosts(), now=T0, rng=random.Random(1),
                     proxy_locality=Locality(region="r1", zone="z-a", node="wp-node"))
    assert c.priorities == [0, 1, 1]
    assert {c.pick(T0).name for _ in range(9)} == {"A"}  # type: ignore[union-attr]
    without = EnvoyCluster(wp({"trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}), three_zone_hosts(),
                           now=T0, rng=random.Random(1), proxy_locality=Locality(region="r1", zone="z-a"))
    assert without.priorities == [0, 0, 0]


def test_a_dr_without_locality_setting_keeps_the_services_mode() -> None:
    """R5.4: a DR with only outlierDetection does not cancel the traffic-distribution mode."""
    mode = ModeDecision(Mode.SAME_ZONE, "spec")
    cfg = wp(GUIDE_DR, mode=mode)
    assert cfg.priority_plan.kind == "failover_priority"
    assert cfg.priority_plan.labels[-1] == "topology.kubernetes.io/zone"


def test_locality_setting_enabled_false_disables_locality_even_with_a_mode() -> None:
    """R5.4: DR localityLbSetting.enabled=false wins over the Service's mode."""
    dr = {"trafficPolicy": {"loadBalancer": {"localityLbSetting": {"enabled": False}}, "outlierDetection": {}}}
    assert wp(dr, mode=ModeDecision(Mode.SAME_ZONE, "spec")).priority_plan.kind == "none"


def test_failover_priority_needs_outlier_detection() -> None:
    """R5.6: failover/failoverPriority without outlierDetection have no effect."""
    lls = {"failoverPriority": ["topology.kubernetes.io/zone"]}
    assert wp({"trafficPolicy": {"loadBalancer": {"localityLbSetting": lls}}}).priority_plan.kind == "none"
    with_od = wp({"trafficPolicy": {"loadBalancer": {"localityLbSetting": lls}, "outlierDetection": {}}})
    assert with_od.priority_plan.kind == "failover_priority"


def test_region_failover_pair_orders_remote_regions() -> None:
    """R5.5/R5.6: failover from r1 to r3 puts r3 before r2 when r1 is exhausted `[inferred]`."""
    dr = {"trafficPolicy": {"outlierDetection": {},
                            "loadBalancer": {"localityLbSetting": {"failover": [{"from": "r1", "to": "r3"}]}}}}
    hs = [Host("1.1.1.1:80", "A", Locality(region="r1", zone="a")), Host("1.1.1.2:80", "B", Locality(region="r2")),
          Host("1.1.1.3:80", "C", Locality(region="r3"))]
    assert wp(dr).priority_plan.priorities(hs, Locality(region="r1", zone="a")) == [0, 2, 1]


def test_vip_collapse_makes_gateway_dr_unable_to_eject() -> None:
    """R8.3: GW's cluster is the single VIP; the guide's DR copied there can never eject (1/1 > 10 %)."""
    vip = [Host("10.96.45.123:8000", "in-ambient VIP")]
    gw = EnvoyCluster(cluster_config(GUIDE_DR, leg=Leg.GATEWAY, name="kube_httpbin_in-ambient_8000"), vip, now=T0,
                      rng=random.Random(1))
    fail_n(gw, vip[0].address, 100, T0 + 1, code=503)
    assert gw.ejected() == []
    assert gw.pick(T0 + 2) is not None
    stats = gw.stats()
    assert stats["cluster.kube_httpbin_in-ambient_8000.outlier_detection.ejections_overflow"] == 40  # 20 5xx + 20 gw
    dr100 = {"trafficPolicy": {"outlierDetection": {**GUIDE_DR["trafficPolicy"]["outlierDetection"],  # type: ignore[dict-item]
                                                    "maxEjectionPercent": 100}}}
    gw100 = EnvoyCluster(cluster_config(dr100, leg=Leg.GATEWAY, name="g"), vip, now=T0, rng=random.Random(1))
    fail_n(gw100, vip[0].address, 5, T0 + 1, code=503)
    assert gw100.pick(T0 + 2) is None  # the open question of R8.3: 503 UH for the ejection period


def test_not_ready_endpoints_are_sent_when_a_mode_is_set_or_on_istio_1_31() -> None:
    """R5.3/R6.3: a mode or publishNotReadyAddresses forces UNHEALTHY endpoints; Istio ≥1.31 auto-sends
    unless minHealthPercent > 0."""
    assert sends_unhealthy_endpoints(Mode.SAME_ZONE)
    assert not sends_unhealthy_endpoints(Mode.ANY)
    assert sends_unhealthy_endpoints(Mode.ANY, istio_version=(1, 31))
    assert not sends_unhealthy_endpoints(Mode.ANY, istio_version=(1, 31), dr_min_health_percent=20)


def test_waypoint_round_robin_skips_nothing_with_three_healthy_pods() -> None:
    """R3.4 + R4.1: the guide's DR at WP rotates A, B, C exactly (no locality labels, R5.9)."""
    c = EnvoyCluster(wp(GUIDE_DR), hosts(3), now=T0, rng=random.Random(1))
    names = [c.pick(T0).name for _ in range(9)]  # type: ignore[union-attr]
    assert Counter(names) == Counter({"A": 3, "B": 3, "C": 3})
