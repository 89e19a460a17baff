"""Envoy load balancing in the model: R4.1–R4.4 (pickers), R4.6 (priority spill), R4.7 (panic)."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

import pytest
from mesh_model_helpers import T0, hosts

from ambient_lb.sim.mesh.model import ClusterConfig, EnvoyCluster, LbPolicy, LoadBalancer, PriorityLevel, priority_load

ADDRS = ("A", "B", "C")


def level(healthy: int, total: int, tag: str = "p") -> PriorityLevel:
    all_ = tuple(f"{tag}{i}" for i in range(total))
    return PriorityLevel(all_, all_[:healthy])


def test_round_robin_visits_each_host_once_per_period() -> None:
    """R4.1: K picks over N hosts: each host ⌊K/N⌋ or ⌈K/N⌉ times, periodic with period N."""
    lb = LoadBalancer(LbPolicy.ROUND_ROBIN, random.Random(3))
    lv = [PriorityLevel(ADDRS, ADDRS)]
    seq = [lb.pick(lv, 50) for _ in range(12)]
    assert all(set(seq[i:i + 3]) == set(ADDRS) for i in range(0, 12, 3))
    assert seq[3:] == seq[:9]
    lb9 = LoadBalancer(LbPolicy.ROUND_ROBIN, random.Random(9))
    counts = Counter(lb9.pick(lv, 50) for _ in range(10))
    assert sorted(counts.values()) == [3, 3, 4]


def test_round_robin_start_is_seeded_from_the_injected_rng() -> None:
    """R4.1/§11: the initial index is the seed; same seed, same sequence."""
    lv = [PriorityLevel(ADDRS, ADDRS)]
    a, b = (LoadBalancer(LbPolicy.ROUND_ROBIN, random.Random(42)) for _ in range(2))
    assert [a.pick(lv, 50) for _ in range(5)] == [b.pick(lv, 50) for _ in range(5)]
    assert a.pick(lv, 50) == ADDRS[(a.seed + 5) % 3]


def test_rr_index_survives_host_removal() -> None:
    """R4.1: the index is not reset when the host set changes; rotation continues over the new list."""
    c = EnvoyCluster(ClusterConfig(name="c", lb_policy=LbPolicy.ROUND_ROBIN), hosts(3), now=T0,
                     rng=random.Random(5))
    seed = c.lb.seed
    first = [c.pick(T0).address for _ in range(4)]  # type: ignore[union-attr]
    assert first == [hosts(3)[(seed + i) % 3].address for i in range(4)]
    remaining = [h for h in hosts(3) if h.name != "B"]
    c.set_hosts(remaining, T0 + 1)
    after = [c.pick(T0 + 1).address for _ in range(4)]  # type: ignore[union-attr]
    assert after == [remaining[(seed + 4 + i) % 2].address for i in range(4)]


def test_least_request_with_sequential_traffic_is_uniform_random() -> None:
    """R4.3: with nothing in flight every pick is uniform with replacement: no rotation.
    Seeded statistical check, tolerance ±0.02 on shares and ±0.03 on P(all 3 in 9) ≈ 0.922."""
    c = EnvoyCluster(ClusterConfig(name="c", lb_policy=LbPolicy.LEAST_REQUEST), hosts(3), now=T0,
                     rng=random.Random(11))
    seq = []
    for _ in range(30_000):
        h = c.pick(T0)
        c.report(h, 200, T0)  # type: ignore[arg-type]
        seq.append(h.name)  # type: ignore[union-attr]
    shares = {k: v / len(seq) for k, v in Counter(seq).items()}
    assert all(abs(s - 1 / 3) < 0.02 for s in shares.values())
    repeats = sum(a == b for a, b in pairwise(seq)) / (len(seq) - 1)
    assert abs(repeats - 1 / 3) < 0.02  # a rotation would give 0
    windows = [set(seq[i:i + 9]) for i in range(0, 27_000, 9)]
    assert abs(sum(len(w) == 3 for w in windows) / len(windows) - 0.922) < 0.03


def test_least_request_prefers_the_host_with_fewer_active_requests() -> None:
    """R4.3: of two random draws the one with fewer active requests wins; a busy host needs both draws."""
    lb = LoadBalancer(LbPolicy.LEAST_REQUEST, random.Random(2))
    lv = [PriorityLevel(ADDRS, ADDRS)]
    counts = Counter(lb.pick(lv, 50, {"A": 5}) for _ in range(9000))
    assert abs(counts["A"] / 9000 - 1 / 9) < 0.02


def test_random_is_uniform_over_healthy_hosts() -> None:
    """R4.4: RANDOM picks uniformly over the healthy hosts only."""
    lb = LoadBalancer(LbPolicy.RANDOM, random.Random(4))
    lv = [PriorityLevel(("A", "B", "C", "D"), ("A", "B", "C"))]
    counts = Counter(lb.pick(lv, 0) for _ in range(9000))
    assert set(counts) == set(ADDRS)
    assert all(abs(v / 9000 - 1 / 3) < 0.02 for v in counts.values())


@pytest.mark.parametrize("healthy,total,p0,p1", [(3, 3, 100, 0), (3, 4, 100, 0), (2, 3, 93, 7), (1, 2, 70, 30),
                                                 (1, 3, 46, 54), (0, 3, 0, 100)])
def test_priority_spill_matches_envoy_health_table(healthy: int, total: int, p0: int, p1: int) -> None:
    """R4.6: health = min(100, ⌊140 × healthy / total⌋); shares cascade (P1 fully healthy)."""
    load = priority_load([level(healthy, total, "a"), level(3, 3, "b")], panic_threshold=0)
    assert load.shares == (p0, p1)


def test_each_request_draws_its_priority_by_load() -> None:
    """R4.6: with P0 at 1/2 healthy, about 70 % of requests stay in P0 (seeded, ±0.02)."""
    lb = LoadBalancer(LbPolicy.ROUND_ROBIN, random.Random(8))
    lv = [PriorityLevel(("a0", "a1"), ("a0",)), PriorityLevel(("b0", "b1"), ("b0", "b1"))]
    counts = Counter(lb.pick(lv, 0)[0] for _ in range(10_000))  # type: ignore[index]
    assert abs(counts["a"] / 10_000 - 0.70) < 0.02


def test_panic_threshold_sends_traffic_to_all_hosts_when_too_few_are_healthy() -> None:
    """R4.7: one priority at 1/3 healthy (33 % < 50 %) is in panic: every host, healthy or not, gets picks."""
    lv = [PriorityLevel(ADDRS, ("A",))]
    lb = LoadBalancer(LbPolicy.ROUND_ROBIN, random.Random(1))
    assert {lb.pick(lv, 50) for _ in range(6)} == set(ADDRS)
    assert priority_load(lv, 50).panic == (True,)
    assert {lb.pick(lv, 0) for _ in range(6)} == {"A"}  # 0 disables panic


def test_panic_threshold_not_reached_keeps_health() -> None:
    """R4.7: 2/3 healthy = 67 % ≥ 50 %: no panic; total health 100 over priorities: no panic either."""
    assert priority_load([PriorityLevel(ADDRS, ("A", "B"))], 50).panic == (False,)
    two = [level(1, 3, "a"), level(3, 3, "b")]  # P0 health 46 + P1 100 → total 100
    assert priority_load(two, 50).panic == (False, False)


def test_panic_threshold_zero_with_nothing_healthy_is_no_healthy_upstream() -> None:
    """R4.7/R7.3: threshold 0 and no healthy host → pick returns None (503 UH)."""
    hs = hosts(3)
    for h in hs:
        h.healthy = False
    c = EnvoyCluster(ClusterConfig(name="c", panic_threshold=0), hs, now=T0, rng=random.Random(1))
    assert c.pick(T0) is None
    assert c.stats()["cluster.c.upstream_cx_none_healthy"] == 1
    c50 = EnvoyCluster(ClusterConfig(name="c", panic_threshold=50), hs, now=T0, rng=random.Random(1))
    assert c50.pick(T0) is not None  # total panic: balance over all hosts
    assert c50.stats()["cluster.c.lb_healthy_panic"] == 1


def test_total_panic_spreads_load_by_host_count() -> None:
    """R4.7: when every priority is in panic, load follows host counts."""
    load = priority_load([level(0, 1, "a"), level(0, 3, "b")], 50)
    assert load.panic == (True, True) and load.shares == (25, 75)


def test_retry_previous_hosts_predicate_avoids_the_failed_host() -> None:
    """R7.2: a retry with previous_hosts re-picks until it finds another host."""
    c = EnvoyCluster(ClusterConfig(name="c", lb_policy=LbPolicy.RANDOM), hosts(3), now=T0, rng=random.Random(6))
    for _ in range(50):
        assert c.pick(T0, exclude={"10.0.0.1:8080"}, attempts=20).address != "10.0.0.1:8080"  # type: ignore[union-attr]
