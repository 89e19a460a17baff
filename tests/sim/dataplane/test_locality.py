"""Locality at the waypoint: mesh-default failover relative to the waypoint's own zone (R5.5, R1.5, R3.5)
and spill to the next priority when the local endpoints are ejected (R4.6, R2.10)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dataplane_helpers import Guide, destination_rule

from ambient_lb.sim.process import running_simulator
from ambient_lb.sim.topology import parse_topology

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

TOPOLOGY = {"nodes": [{"name": "node-a", "region": "us-east1", "zone": "us-east1-a"},
                      {"name": "node-b", "region": "us-east1", "zone": "us-east1-b"},
                      {"name": "node-c", "region": "us-east1", "zone": "us-east1-c"}]}


@pytest.fixture
def zoned_guide() -> Iterator[Guide]:
    with running_simulator(seed=7, speed=20.0, topology=parse_topology(TOPOLOGY)) as sim:
        g = Guide(sim)
        g.install()
        yield g


def _zone_of(guide: Guide, pod: dict) -> str:
    node = json.loads(guide.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json"))
    return node["metadata"]["labels"]["topology.kubernetes.io/zone"]


def test_waypoint_prefers_its_own_zone_then_spills_when_local_pods_are_ejected(zoned_guide: Guide) -> None:
    """R3.5, R5.5, R1.5: a DR with outlierDetection turns on locality failover measured from the
    waypoint pod's node: every request goes to pods in the waypoint's zone. R4.6, R2.10: once those
    are ejected (maxEjectionPercent 100), the next priority (the other zones) takes all traffic."""
    guide = zoned_guide
    guide.add_waypoint()
    guide.apply(destination_rule("ROUND_ROBIN", consecutive5xxErrors=5, interval="10s", baseEjectionTime="30s",
                                 maxEjectionPercent=100))
    guide.synced()
    wp_zone = _zone_of(guide, guide.pods("httpbin", "gateway.networking.k8s.io/gateway-name=httpbin-waypoint")[0])
    zones = {p["metadata"]["name"]: _zone_of(guide, p) for p in guide.pods()}
    local = sorted(n for n, z in zones.items() if z == wp_zone)
    assert local and len(local) < len(zones), f"placement {zones} does not exercise locality"
    assert set(guide.hostnames(12)) == set(local)
    for pod in local:
        guide.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/http-status=500")
    guide.synced()
    assert guide.hostnames(5 * len(local)).count("500") == 5 * len(local)
    spilled = guide.hostnames(8)
    assert set(spilled) == set(zones) - set(local)


def test_gateway_ztunnel_prefers_the_waypoint_replica_in_its_own_zone(zoned_guide: Guide) -> None:
    """R5.7, R5.2, R1.5: the waypoint Service is PreferClose, so ZT(GW) sends every connection to a
    waypoint replica in the gateway pod's zone while one is healthy (strict tiers, no spill)."""
    guide = zoned_guide
    guide.add_waypoint()
    guide.kubectl("scale", "deployment", "httpbin-waypoint", "-n", "httpbin", "--replicas=3")
    guide.kubectl("rollout", "status", "deployment/httpbin-waypoint", "-n", "httpbin", "--timeout=60s")
    guide.synced()
    gw_zone = _zone_of(guide, guide.pods("kgateway-system", "gateway.networking.k8s.io/gateway-name=http")[0])
    replicas = {p["metadata"]["name"]: _zone_of(guide, p)
                for p in guide.pods("httpbin", "gateway.networking.k8s.io/gateway-name=httpbin-waypoint")}
    near = {n for n, z in replicas.items() if z == gw_zone}
    assert near and len(near) < len(replicas), f"placement {replicas} does not exercise locality"
    guide.hostnames(12)
    used = {n for n in replicas
            if any(line.startswith("[") for line in guide.kubectl("logs", "-n", "httpbin", n).splitlines())}
    assert used <= near and used


def test_prefer_close_at_the_waypoint_spills_gradually_when_a_local_pod_is_not_ready(zoned_guide: Guide) -> None:
    """R5.3, R6.3, R4.6: PreferClose on the backend Service makes the waypoint prioritise its own zone
    (failover forced, no DR needed) and send not-ready endpoints as UNHEALTHY; one of k local pods not
    ready lowers P0's health to ⌊140·(k−1)/k⌋ %, and the rest of the load spills to the other zones."""
    guide = zoned_guide
    guide.kubectl("annotate", "service", "in-ambient", "-n", "httpbin",
                  "networking.istio.io/traffic-distribution=PreferClose")
    guide.kubectl("scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=6")
    guide.kubectl("rollout", "status", "deployment/in-ambient", "-n", "httpbin", "--timeout=60s")
    guide.add_waypoint()
    wp_zone = _zone_of(guide, guide.pods("httpbin", "gateway.networking.k8s.io/gateway-name=httpbin-waypoint")[0])
    zones = {p["metadata"]["name"]: _zone_of(guide, p) for p in guide.pods()}
    local = sorted(n for n, z in zones.items() if z == wp_zone)
    assert len(local) >= 2 and len(local) < len(zones), f"placement {zones} does not exercise spill"
    assert set(guide.hostnames(12)) <= set(local)
    guide.kubectl("annotate", "pod", "-n", "httpbin", local[0], "fault.ambient-lb.dev/ready=false")
    guide.kubectl("wait", "-n", "httpbin", f"pod/{local[0]}", "--for=condition=Ready=false", "--timeout=60s")
    guide.synced()
    n = 200
    seq = guide.hostnames(n)
    assert local[0] not in seq
    k = len(local)
    p0 = min(100, 140 * (k - 1) // k) / 100
    spilled = sum(1 for h in seq if h not in local) / n
    sigma = (p0 * (1 - p0) / n) ** 0.5
    assert abs(spilled - (1 - p0)) <= 4 * sigma + 0.01, (spilled, 1 - p0)
