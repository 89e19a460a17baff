"""ztunnel's choice for a connection to a service VIP: random, weighted by capacity, once per
connection, among the best locality tier (R4.5, R5.2), or "no healthy upstream" (R7.3).

Who calls it: the integrator, when ZT(GW) opens a connection to a VIP (the waypoint's or, without
a waypoint, the backend's). A pod-IP destination is not balanced at all (R1.1): the integrator
forwards it as is. ``ConnectionPool`` keeps the choice for a pooled connection (HBONE / keep-alive)
until the caller drops it: existing connections are never re-balanced (R4.5).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from .hosts import Host, Locality
from .locality import Mode, ModeDecision, ztunnel_eligible

NO_HEALTHY_UPSTREAM = "no healthy upstream"


def choose_endpoint(endpoints: Sequence[Host], src: Locality, decision: ModeDecision | None,
                    rng: random.Random) -> Host | None:
    """One new connection from a workload at ``src``: the endpoint, or None (R7.3).

    ``endpoints`` are the service's endpoints in any order; unhealthy ones are skipped (R4.5: only
    healthy endpoints are in a service's set). ``weight`` is the workload capacity (default 1).
    """
    eligible = ztunnel_eligible(endpoints, src, decision or ModeDecision(Mode.ANY, "default"))
    if not eligible:
        return None
    total = sum(max(0, h.weight) for h in eligible)
    if total <= 0:
        return eligible[rng.randrange(len(eligible))]
    draw = rng.uniform(0, total)  # choose_weighted by capacity (R4.5)
    acc = 0.0
    for host in eligible:
        acc += max(0, host.weight)
        if draw < acc:
            return host
    return eligible[-1]


def no_healthy_upstream_error(vip: str) -> str:
    """The ``error`` text ztunnel logs when a VIP has nothing to choose (R7.3) `[inferred]`."""
    return f"{NO_HEALTHY_UPSTREAM}: {vip}"


@dataclass
class ConnectionPool:
    """Pooled connections keyed by whatever the caller uses (e.g. (source pod, VIP:port)).

    ``get(key, choose)`` returns the endpoint already bound to ``key`` or binds a new one with
    ``choose()`` (R4.5: the decision is made when the connection opens). ``drop`` closes it.
    """

    bound: dict[Hashable, Host] = field(default_factory=dict)

    def get(self, key: Hashable, choose: Callable[[], Host | None]) -> Host | None:
        """The host bound to key; a new connection binds choose()'s host (None: nothing to choose, nothing bound)."""
        if key in self.bound:
            return self.bound[key]
        host = choose()
        if host is not None:
            self.bound[key] = host
        return host

    def drop(self, key: Hashable) -> None:
        """Closes the connection of key."""
        self.bound.pop(key, None)

    def drop_endpoint(self, address: str) -> None:
        """The endpoint's workload is gone: its connections break (not re-balanced, R4.5)."""
        for key in [k for k, h in self.bound.items() if h.address == address]:
            del self.bound[key]
