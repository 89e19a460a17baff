"""Envoy's load balancer for one worker: priority load and spill (R4.6), panic (R4.7), and the
ROUND_ROBIN / LEAST_REQUEST / RANDOM pickers with their per-instance state (R4.1–R4.4).

Who calls it: ``envoy_cluster.EnvoyCluster`` builds one ``LoadBalancer`` per cluster build (R2.12)
and asks it for a host per request. One worker per proxy (R4.2, §11), so one RR index per host
source, seeded once from the injected RNG (R4.1, §11).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OVERPROVISIONING = 140  # Envoy's default overprovisioning factor 1.4, as a percentage (R4.6)


class LbPolicy(enum.Enum):
    """Envoy's load-balancing policies the model implements."""

    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"


@dataclass(frozen=True)
class PriorityLevel:
    """One priority's hosts: all of them, and the healthy subset (EDS-healthy and not ejected)."""

    hosts: tuple[str, ...]
    healthy: tuple[str, ...]

    @property
    def health(self) -> int:
        """R4.6: min(100, ⌊140 × healthy / total⌋)."""
        if not self.hosts:
            return 0
        return min(100, OVERPROVISIONING * len(self.healthy) // len(self.hosts))

    def in_panic(self, threshold: float) -> bool:
        """R4.7: healthy share below the panic threshold (0 disables panic)."""
        share = 100.0 * len(self.healthy) / len(self.hosts) if self.hosts else 0.0
        return share < threshold


@dataclass(frozen=True)
class PriorityLoad:
    """Per-priority share of requests (percent, sums to 100) and per-priority panic flags."""

    shares: tuple[int, ...]
    panic: tuple[bool, ...]


def priority_load(levels: Sequence[PriorityLevel], panic_threshold: float) -> PriorityLoad:
    """R4.6 cascading normalised shares; R4.7 panic when total health < 100."""
    if not levels:
        return PriorityLoad((), ())
    health = [lv.health for lv in levels]
    total = min(100, sum(health))
    if total == 0 and panic_threshold == 0:  # nothing healthy, panic off: P0 gets the load, UH
        return PriorityLoad(tuple([100] + [0] * (len(levels) - 1)), tuple(False for _ in levels))
    panic = tuple(False if total == 100 else lv.in_panic(panic_threshold) for lv in levels)
    if all(panic):
        return PriorityLoad(_load_in_total_panic(levels), panic)
    return PriorityLoad(_cascade(health, total), panic)


def _cascade(health: Sequence[int], total: int) -> tuple[int, ...]:
    shares: list[int] = []
    remaining, first = 100, None
    for h in health:
        share = min(remaining, h * 100 // total) if total else 0
        if first is None and h > 0:
            first = len(shares)
        shares.append(share)
        remaining -= share
    shares[first if first is not None else 0] += remaining  # rounding leftovers go to the first
    return tuple(shares)


def _load_in_total_panic(levels: Sequence[PriorityLevel]) -> tuple[int, ...]:
    """R4.7: every priority in panic: load proportional to host counts."""
    total = sum(len(lv.hosts) for lv in levels)
    shares = [100 * len(lv.hosts) // total for lv in levels]
    first = next(i for i, lv in enumerate(levels) if lv.hosts)
    shares[first] += 100 - sum(shares)
    return tuple(shares)


class LoadBalancer:
    """One Envoy worker's load balancer for one cluster build.

    ``pick(levels, panic_threshold, active)`` returns a host address or None ("no healthy
    upstream", R4.7/R7.3). ``active`` maps address → in-flight requests (LEAST_REQUEST, R4.3).
    """

    def __init__(self, policy: LbPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.seed = rng.getrandbits(32)  # R4.1: every RR index starts at the seed (§11: seeded)
        self._rr: dict[tuple[int, bool], int] = {}

    def pick(self, levels: Sequence[PriorityLevel], panic_threshold: float,
             active: Mapping[str, int] | None = None, *, load: PriorityLoad | None = None) -> str | None:
        """``load``: ``priority_load(levels, panic_threshold)`` if the caller already has it."""
        if load is None:
            load = priority_load(levels, panic_threshold)
        if not load.shares:
            return None
        p = self._choose_priority(load.shares)
        in_panic = load.panic[p]
        candidates = levels[p].hosts if in_panic else levels[p].healthy  # R4.7: panic ignores health
        if not candidates:
            return None
        return self._pick_from(candidates, (p, in_panic), active or {})

    def _choose_priority(self, shares: Sequence[int]) -> int:
        if sum(1 for s in shares if s) <= 1:
            return next((i for i, s in enumerate(shares) if s), 0)
        draw, acc = self.rng.randrange(100), 0  # R4.6: each request draws its priority
        for i, s in enumerate(shares):
            acc += s
            if draw < acc:
                return i
        return len(shares) - 1

    def _pick_from(self, hosts: Sequence[str], source: tuple[int, bool], active: Mapping[str, int]) -> str:
        if self.policy is LbPolicy.ROUND_ROBIN:
            return self._round_robin(hosts, source)
        if self.policy is LbPolicy.LEAST_REQUEST:
            return self._least_request(hosts, active)
        return hosts[self.rng.randrange(len(hosts))]  # RANDOM, R4.4

    def _round_robin(self, hosts: Sequence[str], source: tuple[int, bool]) -> str:
        """R4.1: hosts[idx++ % len]; the index survives host-set changes (insert keeps the value)."""
        idx = self._rr.setdefault(source, self.seed)
        self._rr[source] = idx + 1
        return hosts[idx % len(hosts)]

    def _least_request(self, hosts: Sequence[str], active: Mapping[str, int]) -> str:
        """R4.3: two random draws, keep the one with fewer active requests; ties keep the first."""
        first = hosts[self.rng.randrange(len(hosts))]
        second = hosts[self.rng.randrange(len(hosts))]
        return second if active.get(second, 0) < active.get(first, 0) else first
