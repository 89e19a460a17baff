"""ztunnel's choice in the model: R4.5 (random per connection), R5.2 (strict tiers), R7.3."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

from mesh_model_helpers import hosts

from ambient_lb.sim.mesh.model import ConnectionPool, Host, Locality, Mode, ModeDecision, choose_endpoint, resolve_mode
from ambient_lb.sim.mesh.model.ztunnel import no_healthy_upstream_error

GW = Locality(network="n1", region="r1", zone="z-a", node="gw-node")


def test_ztunnel_picks_uniformly_at_random_not_round_robin() -> None:
    """R4.5: uniform choice among healthy endpoints (capacity 1); repeats happen (±0.02)."""
    rng, hs = random.Random(5), hosts(3)
    seq = [choose_endpoint(hs, GW, None, rng).name for _ in range(9000)]  # type: ignore[union-attr]
    assert all(abs(v / 9000 - 1 / 3) < 0.02 for v in Counter(seq).values())
    assert sum(a == b for a, b in pairwise(seq)) > 2000


def test_ztunnel_weights_by_capacity_and_skips_unhealthy() -> None:
    """R4.5: choose_weighted by workload capacity; only healthy endpoints are in the set."""
    hs = hosts(3)
    hs[0].weight, hs[2].healthy = 3, False
    rng = random.Random(2)
    counts = Counter(choose_endpoint(hs, GW, None, rng).name for _ in range(8000))  # type: ignore[union-attr]
    assert "C" not in counts and abs(counts["A"] / 8000 - 0.75) < 0.02


def test_pooled_connection_keeps_its_endpoint() -> None:
    """R4.5: the choice is made when the connection opens; pooled requests reuse it until dropped."""
    pool, rng, hs = ConnectionPool(), random.Random(1), hosts(3)
    key = ("gw-pod", "10.96.0.10:8000")
    first = pool.get(key, lambda: choose_endpoint(hs, GW, None, rng))
    assert all(pool.get(key, lambda: choose_endpoint(hs, GW, None, rng)) is first for _ in range(20))
    pool.drop_endpoint(first.address)  # type: ignore[union-attr]
    assert key not in pool.bound


def test_ztunnel_sends_every_connection_to_best_tier_until_empty() -> None:
    """R5.2: SameZone → FAILOVER [network, region, zone]; 100 % to the best tier, whole move when it empties."""
    hs = [Host("1:1", "A", Locality("n1", "r1", "z-a")), Host("1:2", "B", Locality("n1", "r1", "z-b")),
          Host("1:3", "C", Locality("n1", "r2", "z-c")), Host("1:4", "D", Locality("n2", "r1", "z-a"))]
    mode, rng = resolve_mode("PreferClose"), random.Random(3)
    assert {choose_endpoint(hs, GW, mode, rng).name for _ in range(50)} == {"A"}  # type: ignore[union-attr]
    hs[0].healthy = False
    assert {choose_endpoint(hs, GW, mode, rng).name for _ in range(50)} == {"B"}  # type: ignore[union-attr]
    hs[1].healthy = False
    assert {choose_endpoint(hs, GW, mode, rng).name for _ in range(50)} == {"C"}  # type: ignore[union-attr]
    hs[2].healthy = False
    assert {choose_endpoint(hs, GW, mode, rng).name for _ in range(50)} == {"D"}  # type: ignore[union-attr]


def test_strict_node_drops_other_nodes_and_any_uses_all() -> None:
    """R5.1/R5.2: internalTrafficPolicy Local → only same-node endpoints (none → no healthy upstream)."""
    hs = [Host("1:1", "A", Locality(node="gw-node")), Host("1:2", "B", Locality(node="other"))]
    strict = ModeDecision(Mode.ANY, "internalTrafficPolicy", strict_node=True)
    assert {choose_endpoint(hs, GW, strict, random.Random(1)).name for _ in range(20)} == {"A"}  # type: ignore[union-attr]
    assert choose_endpoint(hs[1:], GW, strict, random.Random(1)) is None


def test_solo_prefer_network_keeps_local_network() -> None:
    """R5.8 [solo][model]: PreferNetwork = FAILOVER [NETWORK]: other networks only when none is local."""
    hs = [Host("1:1", "A", Locality("n1", "r9")), Host("1:2", "B", Locality("n2", "r1", "z-a"))]
    mode = resolve_mode(None, distribution="solo")
    assert {choose_endpoint(hs, GW, mode, random.Random(1)).name for _ in range(20)} == {"A"}  # type: ignore[union-attr]


def test_no_healthy_upstream_when_nothing_is_eligible() -> None:
    """R7.3: no healthy endpoint → None; the log's error text names the VIP."""
    hs = hosts(2)
    for h in hs:
        h.healthy = False
    assert choose_endpoint(hs, GW, None, random.Random(1)) is None
    assert no_healthy_upstream_error("10.96.0.10:8000") == "no healthy upstream: 10.96.0.10:8000"
