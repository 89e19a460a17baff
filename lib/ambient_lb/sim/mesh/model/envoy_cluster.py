"""One Envoy upstream cluster as a proxy holds it: hosts, priorities, load balancer, outlier
detector, counters. The integrator's per-request entry point for the gateway and the waypoint.

Who calls it: the simulator's data plane keeps one ``EnvoyCluster`` per (proxy, cluster name). Per
request it calls ``pick(now)``, sends the attempt, then ``report(host, outcome, now)``; on an EDS
push ``set_hosts(hosts, now)`` (RR index kept R4.1, removed hosts' outlier state dropped R2.8); on a
DestinationRule change ``rebuilt(config, now)`` (R2.12: new detector, new LB, new sweep phase; R13.10:
the cluster's stats carry over).
Admin ``/stats`` and ``/clusters`` are rendered from ``stats()`` and ``host_rows()`` by ``admin``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .envoy_lb import LbPolicy, LoadBalancer, PriorityLevel, PriorityLoad, priority_load
from .errors import InvalidModelInput
from .hosts import Failure, Host, Locality, Outcome
from .locality import PriorityPlan
from .outlier import OutlierConfig, OutlierDetector, OutlierEvent

#: Envoy's cluster default panic threshold (R3.3, R4.7).
DEFAULT_PANIC_THRESHOLD = 50.0

#: ``cluster.<name>.<stat>`` counters this model keeps besides ``outlier_detection.*``.
UPSTREAM_STATS = ("upstream_rq_total", "upstream_rq_completed", "upstream_rq_active",
                  "upstream_rq_2xx", "upstream_rq_3xx", "upstream_rq_4xx", "upstream_rq_5xx",
                  "upstream_cx_connect_fail", "upstream_rq_timeout", "upstream_rq_retry",
                  "upstream_cx_destroy_remote_with_active_rq", "upstream_cx_none_healthy",
                  "lb_healthy_panic")


#: R13.10: the response-code stats Envoy creates on first use (``upstream_rq_503``, ``upstream_rq_5xx``);
#: a rebuilt cluster does not inherit them.
ON_DEMAND_STAT = re.compile(r"^upstream_rq_(\d{3}|\dxx)$")


@dataclass(frozen=True)
class ClusterConfig:
    """The Envoy cluster settings this model honours; ``destinationrule.cluster_config`` builds it."""

    name: str
    lb_policy: LbPolicy = LbPolicy.ROUND_ROBIN
    outlier: OutlierConfig | None = None
    panic_threshold: float = DEFAULT_PANIC_THRESHOLD
    priority_plan: PriorityPlan = field(default_factory=PriorityPlan)
    notes: tuple[str, ...] = ()


@dataclass
class HostCounters:
    """One host's request and connection counters (what admin ``/clusters`` prints)."""

    rq_total: int = 0
    rq_success: int = 0
    rq_error: int = 0
    rq_timeout: int = 0
    rq_active: int = 0
    cx_connect_fail: int = 0


class EnvoyCluster:
    """Hosts + LB + outlier detection for one cluster build; all methods take simulated ``now``."""

    def __init__(self, config: ClusterConfig, hosts: Sequence[Host], *, now: float, rng: random.Random,
                 proxy_locality: Locality | None = None, proxy_labels: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.created_at = now
        self.rng = rng
        self.proxy_locality = proxy_locality or Locality()
        self.proxy_labels = dict(proxy_labels or {})
        self.lb = LoadBalancer(config.lb_policy, rng)
        self.detector = (OutlierDetector(config.outlier, config.name, now, rng)
                         if config.outlier is not None else None)
        self.counters: Counter[str] = Counter(dict.fromkeys(UPSTREAM_STATS, 0))
        self.per_host: dict[str, HostCounters] = {}
        self.hosts: list[Host] = []
        self.priorities: list[int] = []
        self._held: list[OutlierEvent] = []  # sweep events seen by pick(), returned by the next call
        self._view_key: tuple[object, ...] | None = None  # what the cached levels and load were built from
        self._view: tuple[list[PriorityLevel], PriorityLoad] = ([], PriorityLoad((), ()))
        self.set_hosts(hosts, now)

    # --- host set ---------------------------------------------------------------------------------
    def set_hosts(self, hosts: Sequence[Host], now: float) -> list[OutlierEvent]:
        """EDS update, in EDS order; returns outlier events of sweeps due before it (R2.8, R4.1)."""
        addresses = [h.address for h in hosts]
        if len(set(addresses)) != len(addresses):
            dup = next(a for a in addresses if addresses.count(a) > 1)
            raise InvalidModelInput(f"cluster {self.config.name}: host address {dup} appears twice; "
                                    "each endpoint needs a unique ip:port, e.g. 10.244.1.5:8080")
        events = self.advance(now)
        self.hosts = list(hosts)
        self._by_address = {h.address: h for h in self.hosts}
        self.priorities = self.config.priority_plan.priorities(self.hosts, self.proxy_locality, self.proxy_labels)
        self.per_host = {a: self.per_host.get(a, HostCounters()) for a in addresses}
        self._view_key = None
        if self.detector is not None:
            self.detector.set_hosts(addresses)
        return events

    def rebuilt(self, config: ClusterConfig, now: float) -> EnvoyCluster:
        """A DR change rebuilds the cluster. R2.12: hosts' state, the LB, the detector and its sweep
        phase restart. R13.10: the cluster's stats carry over by name (``outlier_detection.*``
        included, ``ejections_active`` less the old ejections), except the response-code stats
        Envoy creates on first use, which start again from zero."""
        new = EnvoyCluster(config, self.hosts, now=now, rng=self.rng, proxy_locality=self.proxy_locality,
                           proxy_labels=self.proxy_labels)
        for stat, value in self.counters.items():
            new.counters[stat] = 0 if ON_DEMAND_STAT.match(stat) else value
        if new.detector is not None and self.detector is not None:
            new.detector.inherit(self.detector)
        return new

    def host(self, address: str) -> Host | None:
        """The host with this address, or None."""
        return self._by_address.get(address)

    # --- per request -----------------------------------------------------------------------------
    def pick(self, now: float, exclude: Iterable[str] = (), attempts: int = 5) -> Host | None:
        """Choose a host at ``now``; None means ``503 UH no healthy upstream`` (R7.3).

        ``exclude`` is the retry ``previous_hosts`` predicate (R7.2): up to ``attempts`` re-picks,
        then the last pick is used, as Envoy does.
        """
        self._held = self.advance(now)  # R2.3/R2.6: sweeps applied before routing; events held
        levels, load = self._levels_and_load()
        panic = load.panic
        excluded = set(exclude)
        address = None
        active = self._active() if self.lb.policy is LbPolicy.LEAST_REQUEST else {}  # only R4.3 reads it
        for _ in range(max(1, attempts)):
            address = self.lb.pick(levels, self.config.panic_threshold, active, load=load)
            if address is None or address not in excluded:
                break
        if address is None:
            self.counters["upstream_cx_none_healthy"] += 1
            return None
        if any(panic):
            self.counters["lb_healthy_panic"] += 1
        self._start(address)
        return self.host(address)

    def report(self, host: Host | str, outcome: Outcome, now: float) -> list[OutlierEvent]:
        """Record the attempt's outcome: counters, then outlier detection (R2.1, R2.2)."""
        address = host if isinstance(host, str) else host.address
        self._finish(address, outcome)
        if self.detector is None:
            return []
        return self._take_held() + self.detector.report(address, outcome, now)

    def note_retry(self) -> None:
        """The router is retrying an attempt on this cluster (``upstream_rq_retry``, R7.2)."""
        self.counters["upstream_rq_retry"] += 1

    def advance(self, now: float) -> list[OutlierEvent]:
        """Run due outlier sweeps (R2.6); returns UNEJECT events for the outlier log (including
        any that a ``pick`` triggered since the last call that returned events)."""
        if not self._held and (self.detector is None or self.detector.next_sweep_at() > now):
            return []  # nothing held, no sweep due (the common case, per request)
        return self._take_held() + (self.detector.advance(now) if self.detector is not None else [])

    def _take_held(self) -> list[OutlierEvent]:
        held, self._held = self._held, []
        return held

    # --- views ------------------------------------------------------------------------------------
    def levels(self) -> list[PriorityLevel]:
        """Priorities in order, each with all hosts and the healthy (EDS-healthy, not ejected) ones."""
        return list(self._levels_and_load()[0])

    def _levels_and_load(self) -> tuple[list[PriorityLevel], PriorityLoad]:
        """``levels()`` and their ``priority_load`` (R4.6, R4.7), computed once per change of the
        host set, of EDS health or of the ejected set (not once or twice per request)."""
        key = (tuple([h.healthy for h in self.hosts]), tuple(self.ejected()))
        if key != self._view_key:
            levels = self._compute_levels()
            self._view = (levels, priority_load(levels, self.config.panic_threshold))
            self._view_key = key
        return self._view

    def _compute_levels(self) -> list[PriorityLevel]:
        count = max(self.priorities, default=-1) + 1
        levels = []
        for p in range(count):
            members = [h for h, hp in zip(self.hosts, self.priorities, strict=True) if hp == p]
            healthy = [h.address for h in members if h.healthy and not self.is_ejected(h.address)]
            levels.append(PriorityLevel(tuple(h.address for h in members), tuple(healthy)))
        return levels

    def load(self) -> PriorityLoad:
        """Current per-priority request shares and panic flags (R4.6, R4.7), for explanations."""
        return self._levels_and_load()[1]

    def is_ejected(self, address: str) -> bool:
        """True while outlier detection has the host ejected."""
        return self.detector is not None and self.detector.is_ejected(address)

    def ejected(self) -> list[str]:
        """The addresses outlier detection has ejected now."""
        return self.detector.ejected() if self.detector is not None else []

    def next_sweep_at(self) -> float | None:
        """When outlier detection sweeps next (None without outlier detection)."""
        return self.detector.next_sweep_at() if self.detector is not None else None

    def health_flags(self, host: Host) -> str:
        """``/clusters`` health_flags text: ``healthy`` or ``/failed_outlier_check`` etc. (R2.10)."""
        flags = []
        if self.is_ejected(host.address):
            flags.append("/failed_outlier_check")
        if not host.healthy:
            flags.append("/failed_eds_health")
        return "".join(flags) or "healthy"

    def stats(self) -> dict[str, int]:
        """``cluster.<name>.*`` counters and gauges, outlier stats included (R2.11)."""
        name = self.config.name
        out = {f"cluster.{name}.{k}": v for k, v in sorted(self.counters.items())}
        healthy = sum(1 for h in self.hosts if h.healthy and not self.is_ejected(h.address))
        out[f"cluster.{name}.membership_total"] = len(self.hosts)
        out[f"cluster.{name}.membership_healthy"] = healthy
        out[f"cluster.{name}.membership_degraded"] = 0
        out[f"cluster.{name}.upstream_rq_active"] = sum(c.rq_active for c in self.per_host.values())
        if self.detector is not None:
            out.update({f"cluster.{name}.outlier_detection.{k}": v for k, v in self.detector.stats().items()})
        return dict(sorted(out.items()))

    def host_rows(self) -> list[dict[str, object]]:
        """One dict per host with what admin ``/clusters`` prints for it."""
        rows = []
        for host, prio in zip(self.hosts, self.priorities, strict=True):
            c = self.per_host[host.address]
            rows.append({"address": host.address, "hostname": host.name, "cx_active": 0,
                         "cx_connect_fail": c.cx_connect_fail, "cx_total": c.rq_total, "rq_active": c.rq_active,
                         "rq_error": c.rq_error, "rq_success": c.rq_success, "rq_timeout": c.rq_timeout,
                         "rq_total": c.rq_total, "health_flags": self.health_flags(host), "weight": host.weight,
                         "region": host.locality.region, "zone": host.locality.zone,
                         "sub_zone": host.locality.subzone, "canary": "false", "priority": prio,
                         "success_rate": -1, "local_origin_success_rate": -1})
        return rows

    # --- counters -----------------------------------------------------------------------------------
    def _active(self) -> dict[str, int]:
        return {a: c.rq_active for a, c in self.per_host.items() if c.rq_active}

    def _start(self, address: str) -> None:
        self.counters["upstream_rq_total"] += 1
        c = self.per_host.get(address)
        if c is not None:
            c.rq_total += 1
            c.rq_active += 1

    def _finish(self, address: str, outcome: Outcome) -> None:
        c = self.per_host.get(address)
        if c is not None and c.rq_active:
            c.rq_active -= 1
        if isinstance(outcome, Failure):
            self._count_failure(outcome, c)
            return
        self.counters["upstream_rq_completed"] += 1
        self.counters[f"upstream_rq_{int(outcome) // 100}xx"] += 1
        self.counters[f"upstream_rq_{int(outcome)}"] += 1
        if c is not None:
            if 500 <= int(outcome) <= 599:
                c.rq_error += 1
            else:
                c.rq_success += 1

    def _count_failure(self, failure: Failure, c: HostCounters | None) -> None:
        stat = {Failure.CONNECT_FAILURE: "upstream_cx_connect_fail", Failure.TIMEOUT: "upstream_rq_timeout",
                Failure.CONNECTION_TERMINATION: "upstream_cx_destroy_remote_with_active_rq"}[failure]
        self.counters[stat] += 1
        if c is not None:
            c.rq_error += 1
            if failure is Failure.TIMEOUT:
                c.rq_timeout += 1
            if failure is Failure.CONNECT_FAILURE:
                c.cx_connect_fail += 1
