"""Traffic distribution and locality in the model: R5.1–R5.3, R5.5, R5.8, R5.9, R5.10, R1.5."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from mesh_model_helpers import T0, hosts

from ambient_lb.sim.mesh.model import (
    EnvoyCluster,
    Host,
    InvalidModelInput,
    Leg,
    Locality,
    Mode,
    cluster_config,
    priority_load,
    resolve_mode,
)
from ambient_lb.sim.mesh.model.locality import ANNOTATION


@pytest.mark.parametrize("spec,svc,ns,expected,source", [
    ("PreferClose", "PreferSameNode", None, Mode.SAME_ZONE, "spec"),
    ("PreferSameNode", None, None, Mode.SAME_NODE, "spec"),
    ("SomethingNew", "PreferSameNode", None, Mode.SAME_NODE, "service annotation"),
    (None, "preferclose", None, Mode.SAME_ZONE, "service annotation"),
    (None, "PreferNetwork", None, Mode.ANY, "service annotation"),
    (None, None, "PreferSameZone", Mode.SAME_ZONE, "namespace annotation"),
    (None, "PreferClose", "PreferSameNode", Mode.SAME_ZONE, "service annotation"),
    (None, None, None, Mode.ANY, "default"),
])
def test_trafficdistribution_precedence(spec: str | None, svc: str | None, ns: str | None, expected: Mode,
                                        source: str) -> None:
    """R5.1: spec (if recognised) → Service annotation (case-insensitive, unknown = Any) → Namespace → Any."""
    d = resolve_mode(spec, {ANNOTATION: svc} if svc else {}, {ANNOTATION: ns} if ns else {})
    assert (d.mode, d.source) == (expected, source)


def test_unknown_annotation_value_means_any_with_a_warning() -> None:
    """R5.1/R5.8: upstream does not know PreferNetwork: Any, and the learner is told."""
    d = resolve_mode(None, {ANNOTATION: "PreferNetwork"})
    assert d.mode is Mode.ANY and any("not a known mode" in n for n in d.notes)


def test_version_gates_for_prefer_same_node_and_namespace_annotation() -> None:
    """R5.1: PreferSameNode needs Istio ≥1.27; the Namespace annotation Istio ≥1.30; the spec values
    need Kubernetes ≥1.33 (PreferClose ≥1.31)."""
    old = resolve_mode("PreferSameNode", istio_version=(1, 26))
    assert old.mode is Mode.ANY and old.source == "default"
    assert resolve_mode(None, None, {ANNOTATION: "PreferClose"}, istio_version=(1, 29)).mode is Mode.ANY
    k32 = resolve_mode("PreferSameZone", kube_version=(1, 32))
    assert any("Kubernetes >= 1.33" in n for n in k32.notes)


def test_internal_traffic_policy_local_is_strict_node() -> None:
    """R5.1: internalTrafficPolicy Local overrides everything for ztunnel: STRICT [NODE]."""
    d = resolve_mode("PreferClose", internal_traffic_policy="Local")
    assert d.strict_node and d.source == "internalTrafficPolicy"


def test_solo_modes_only_behind_the_solo_switch() -> None:
    """R5.8: PreferNetwork/PreferRegion and the PreferNetwork backend default exist only with distribution=solo."""
    assert resolve_mode(None, {ANNOTATION: "PreferRegion"}, distribution="solo").mode is Mode.PREFER_REGION
    assert resolve_mode(None, distribution="solo").mode is Mode.PREFER_NETWORK
    assert resolve_mode(None).mode is Mode.ANY
    with pytest.raises(InvalidModelInput, match="distribution='gloo'"):
        resolve_mode(None, distribution="gloo")


def zoned(*zones: str) -> list[Host]:
    return hosts(len(zones), zones=list(zones))


def test_waypoint_spills_gradually() -> None:
    """R5.3 + R4.6: SameZone at WP: P0 = WP's zone; one of two local pods unhealthy → ~70 % stays local."""
    hs = zoned("z-a", "z-a", "z-b", "z-b")
    hs[0].healthy = False  # not ready, sent as UNHEALTHY because a mode is set (R5.3)
    cfg = cluster_config(None, leg=Leg.WAYPOINT, name="wp", mode=resolve_mode("PreferClose"), supports_unhealthy=True)
    c = EnvoyCluster(cfg, hs, now=T0, rng=random.Random(3), proxy_locality=Locality(region="r1", zone="z-a"))
    assert c.priorities == [0, 0, 1, 1]
    assert priority_load(c.levels(), cfg.panic_threshold).shares == c.load().shares == (70, 30)
    counts = Counter(c.pick(T0).name for _ in range(10_000))  # type: ignore[union-attr]
    assert counts["A"] == 0 and abs(counts["B"] / 10_000 - 0.70) < 0.02


def test_priorities_are_relative_to_the_deciding_proxy() -> None:
    """R1.5: WP→backend ranks against the waypoint pod's node, not the client's."""
    plan = cluster_config(None, leg=Leg.WAYPOINT, name="wp", mode=resolve_mode("PreferClose")).priority_plan
    hs = zoned("z-a", "z-b", "z-c")
    assert plan.priorities(hs, Locality(region="r1", zone="z-b")) == [1, 0, 1]
    assert plan.priorities(hs, Locality(region="r1", zone="z-a")) == [0, 1, 1]


def test_same_node_mode_ranks_the_proxys_node_first() -> None:
    """R5.3: SameNode appends subzone and hostname to the ladder."""
    plan = cluster_config(None, leg=Leg.WAYPOINT, name="wp", mode=resolve_mode("PreferSameNode")).priority_plan
    hs = [Host("1.0.0.1:80", "A", Locality(region="r", zone="a", node="n1")),
          Host("1.0.0.2:80", "B", Locality(region="r", zone="a", node="n2")),
          Host("1.0.0.3:80", "C", Locality(region="r", zone="b", node="n3"))]
    assert plan.priorities(hs, Locality(region="r", zone="a", node="n1")) == [0, 1, 2]


def test_mesh_default_failover_compacts_empty_priorities() -> None:
    """R5.5: P0 same zone, P1 same region other zone… empty levels compacted away."""
    plan = cluster_config({"trafficPolicy": {"outlierDetection": {}}}, leg=Leg.WAYPOINT, name="wp").priority_plan
    hs = [Host("1:1", "A", Locality(region="r1", zone="b")), Host("1:2", "B", Locality(region="r2", zone="x"))]
    assert plan.priorities(hs, Locality(region="r1", zone="a")) == [0, 1]


def test_without_locality_labels_nothing_ranks() -> None:
    """R5.9: without region/zone labels every endpoint has the same locality: one priority."""
    cfg = cluster_config({"trafficPolicy": {"outlierDetection": {}}}, leg=Leg.WAYPOINT, name="wp",
                         mode=resolve_mode("PreferClose"))
    c = EnvoyCluster(cfg, hosts(3), now=T0, rng=random.Random(1))
    assert c.priorities == [0, 0, 0]


def test_gateway_leg_ranks_against_the_gateway_node_when_a_mode_is_set() -> None:
    """R5.10 [model]: GW → backend with a mode ranks against GW's node; best tier fully healthy gets 100 %."""
    cfg = cluster_config(None, leg=Leg.GATEWAY, name="gw", mode=resolve_mode("PreferClose"))
    c = EnvoyCluster(cfg, zoned("z-a", "z-b", "z-c"), now=T0, rng=random.Random(1),
                     proxy_locality=Locality(region="r1", zone="z-c"))
    assert {c.pick(T0).name for _ in range(6)} == {"C"}  # type: ignore[union-attr]


def test_waypoint_service_prefers_close_so_ztunnel_keeps_the_same_zone_replica() -> None:
    """R5.7: the waypoint Service carries PreferClose, so ZT(GW) picks a waypoint replica in GW's zone."""
    from ambient_lb.sim.mesh.model import choose_endpoint
    from ambient_lb.sim.mesh.model.locality import WAYPOINT_SERVICE_ANNOTATIONS

    mode = resolve_mode(None, WAYPOINT_SERVICE_ANNOTATIONS)
    assert mode.mode is Mode.SAME_ZONE
    replicas = zoned("z-a", "z-b")
    gw = Locality(region="r1", zone="z-b", node="gw")
    assert {choose_endpoint(replicas, gw, mode, random.Random(i)).name for i in range(20)} == {"B"}  # type: ignore[union-attr]


def test_failover_priority_label_override_compares_with_the_given_value() -> None:
    """R5.6: a `key=value` failoverPriority entry prefers endpoints with that value, wherever the proxy runs."""
    dr = {"trafficPolicy": {"outlierDetection": {}, "loadBalancer": {"localityLbSetting": {
        "failoverPriority": ["topology.kubernetes.io/zone=z-c"]}}}}
    plan = cluster_config(dr, leg=Leg.WAYPOINT, name="wp").priority_plan
    assert plan.priorities(zoned("z-a", "z-b", "z-c"), Locality(region="r1", zone="z-a")) == [1, 1, 0]


def test_failover_priority_on_a_pod_label() -> None:
    """R5.6: failoverPriority can name any pod label; the proxy's own labels are the reference."""
    dr = {"trafficPolicy": {"outlierDetection": {}, "loadBalancer": {"localityLbSetting": {
        "failoverPriority": ["version"]}}}}
    plan = cluster_config(dr, leg=Leg.WAYPOINT, name="wp").priority_plan
    hs = [Host("1:1", "A", labels={"version": "v1"}), Host("1:2", "B", labels={"version": "v2"})]
    assert plan.priorities(hs, Locality(), {"version": "v2"}) == [1, 0]
