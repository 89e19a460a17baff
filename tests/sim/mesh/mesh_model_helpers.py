"""Builders for the pure data-plane model tests: hosts, localities, clusters (a plain module, not a conftest)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ambient_lb.sim.mesh.model import ClusterConfig, EnvoyCluster, Host, LbPolicy, Locality, OutlierConfig

T0 = 1_700_000_000.0  # detector/cluster creation time used by the tests


def hosts(n: int, *, zones: Sequence[str] | None = None, region: str = "r1") -> list[Host]:
    """``n`` pods A, B, C… at 10.0.0.1:8080… in EDS order, optionally spread over ``zones``."""
    out = []
    for i in range(n):
        zone = zones[i] if zones else ""
        loc = Locality(region=region if zones else "", zone=zone, node=f"node-{zone or 'x'}")
        out.append(Host(address=f"10.0.0.{i + 1}:8080", name=chr(ord("A") + i), locality=loc))
    return out


def outlier_cluster(n: int = 3, *, now: float = T0, seed: int = 7, lb: LbPolicy = LbPolicy.ROUND_ROBIN,
                    panic: float = 0.0, **outlier: object) -> EnvoyCluster:
    cfg = ClusterConfig(name="inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local", lb_policy=lb,
                        outlier=OutlierConfig(**outlier), panic_threshold=panic)  # type: ignore[arg-type]
    return EnvoyCluster(cfg, hosts(n), now=now, rng=random.Random(seed))


def fail_n(cluster: EnvoyCluster, address: str, n: int, now: float, code: object = 500) -> list:
    events = []
    for _ in range(n):
        events += cluster.report(address, code, now)  # type: ignore[arg-type]
    return events

