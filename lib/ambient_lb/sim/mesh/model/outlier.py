"""Envoy outlier detection (consecutive errors), rule for rule: R2.1–R2.12.

Who calls it: ``envoy_cluster.EnvoyCluster`` owns one ``OutlierDetector`` per cluster build and feeds
it every attempt's outcome; the integrator reads ``stats()`` for admin ``/stats`` and writes each
returned ``OutlierEvent.json_line()`` to the outlier event log (R2.11).

Time is passed in (``now``, simulated seconds). Interval sweeps are evaluated lazily: any call with
``now`` first runs every sweep due at ``created_at + k × interval ≤ now`` (R2.6: the phase counts from
detector creation), so the result does not depend on when the caller happens to look.
Not modelled: the success-rate and failure-percentage detectors (R2.9: Istio sets their enforcement
to 0 and they need ≥5 hosts with ≥100/≥50 requests per interval).

``next_sweep_at()`` tells an integrator that wants UNEJECT log lines on time when to call
``advance``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ...clock import to_rfc3339_milli
from .errors import InvalidModelInput
from .hosts import Failure, Outcome

#: Envoy's detector defaults (R2.5, R2.6, R3.1 "when unset").
DEFAULT_MAX_EJECTION_TIME = 300.0

#: Every ``cluster.<name>.outlier_detection.*`` stat this model exposes (R2.11); all start at 0.
STAT_NAMES = (
    "ejections_active", "ejections_total", "ejections_overflow", "ejections_enforced_total",
    "ejections_consecutive_5xx", "ejections_detected_consecutive_5xx", "ejections_enforced_consecutive_5xx",
    "ejections_detected_consecutive_gateway_failure", "ejections_enforced_consecutive_gateway_failure",
    "ejections_detected_consecutive_local_origin_failure",
    "ejections_enforced_consecutive_local_origin_failure",
    "ejections_detected_success_rate", "ejections_enforced_success_rate",
    "ejections_detected_failure_percentage", "ejections_enforced_failure_percentage",
)

#: Ejection type → (stat suffix, config attribute of its enforcing percentage). R2.5.
EJECTION_TYPES = {
    "CONSECUTIVE_5XX": ("consecutive_5xx", "enforcing_consecutive_5xx"),
    "CONSECUTIVE_GATEWAY_FAILURE": ("consecutive_gateway_failure", "enforcing_consecutive_gateway_failure"),
    "CONSECUTIVE_LOCAL_ORIGIN_FAILURE": ("consecutive_local_origin_failure",
                                         "enforcing_consecutive_local_origin_failure"),
}


@dataclass(frozen=True)
class OutlierConfig:
    """Envoy ``OutlierDetection`` as far as this model uses it; defaults are Envoy's (R2.5, R2.6).

    ``error_codes``: Istio ≥1.31 ``outlierDetectionHttpErrorCodes`` (R3.1): when set, only these
    codes count as errors instead of 5xx `[model]` (local-origin failures still count by their code).

    ``set_fields``: the Envoy fields the DestinationRule set explicitly (Istio's
    ``applyOutlierDetection``, R3.1), in the order Istio sets them; ``/config_dump`` prints exactly
    these (R13.12). Two configs that differ only here are different CDS resources, as in Envoy.
    """

    consecutive_5xx: int = 5
    enforcing_consecutive_5xx: int = 100
    consecutive_gateway_failure: int = 5
    enforcing_consecutive_gateway_failure: int = 0
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failure: int = 5
    enforcing_consecutive_local_origin_failure: int = 100
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: int = 10
    max_ejection_time: float | None = None
    max_ejection_time_jitter: float = 0.0
    always_eject_one_host: bool = False
    error_codes: frozenset[int] | None = None
    set_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise InvalidModelInput(f"OutlierConfig.interval={self.interval!r} must be > 0 seconds, e.g. 10.0")
        if not self.base_ejection_time > 0:
            raise InvalidModelInput(
                f"OutlierConfig.base_ejection_time={self.base_ejection_time!r} must be > 0 seconds, e.g. 30.0")

    @property
    def effective_max_ejection_time(self) -> float:
        """R2.6: ``max_ejection_time`` defaults to max(300 s, base_ejection_time)."""
        if self.max_ejection_time is not None:
            return self.max_ejection_time
        return max(DEFAULT_MAX_EJECTION_TIME, self.base_ejection_time)

    def with_(self, **changes: object) -> OutlierConfig:
        """A copy with these fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]  # replace() checks the names; values stay as given


@dataclass
class HostMonitor:
    """Per-host outlier state (R2.1, R2.6)."""

    consecutive_5xx: int = 0
    consecutive_gateway_failure: int = 0
    consecutive_local_origin_failure: int = 0
    ejected: bool = False
    backoff: int = 0
    num_ejections: int = 0
    jitter: float = 0.0
    last_ejection_time: float | None = None
    last_unejection_time: float | None = None
    last_action_time: float | None = None
    last_type: str = "CONSECUTIVE_5XX"

    def reset_counters(self) -> None:
        """Resets the host's consecutive-failure counters (after a success, or when it is ejected)."""
        self.consecutive_5xx = self.consecutive_gateway_failure = self.consecutive_local_origin_failure = 0


@dataclass(frozen=True)
class OutlierEvent:
    """One outlier event-log record (R2.11), the shape of Envoy's ``OutlierDetectionEvent``."""

    time: float
    cluster_name: str
    address: str
    action: str  # "EJECT" | "UNEJECT"
    type: str  # "CONSECUTIVE_5XX" | "CONSECUTIVE_GATEWAY_FAILURE" | "CONSECUTIVE_LOCAL_ORIGIN_FAILURE"
    num_ejections: int
    enforced: bool
    secs_since_last_action: int | None = None

    def json_line(self) -> str:
        """The JSON line Istio's ``OUTLIER_LOG_PATH`` file gets (R2.11); proto field names.

        `[model]`: every field is printed, including ones proto3 JSON would omit at their default.
        """
        doc: dict[str, object] = {"type": self.type, "cluster_name": self.cluster_name,
                                  "upstream_url": self.address, "action": self.action,
                                  "num_ejections": self.num_ejections, "enforced": self.enforced}
        if self.secs_since_last_action is not None:
            doc["secs_since_last_action"] = str(self.secs_since_last_action)
        if self.action == "EJECT":
            doc["eject_consecutive_event"] = {}
        doc["timestamp"] = to_rfc3339_milli(self.time)
        return json.dumps(doc, separators=(",", ":"))


@dataclass
class OutlierDetector:
    """Consecutive-error outlier detection for one Envoy cluster build (R2.12: rebuild = new detector)."""

    config: OutlierConfig
    cluster_name: str
    created_at: float
    rng: random.Random
    monitors: dict[str, HostMonitor] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAT_NAMES, 0))
    _next_sweep: float = 0.0

    def __post_init__(self) -> None:
        self._next_sweep = self.created_at + self.config.interval  # R2.6: phase from creation

    # --- host set (R2.8) -------------------------------------------------------------------
    def set_hosts(self, addresses: Iterable[str]) -> None:
        """EDS update: new hosts start clean; removed hosts lose their monitor and ejection (R2.8)."""
        wanted = list(addresses)
        for gone in set(self.monitors) - set(wanted):
            if self.monitors.pop(gone).ejected:
                self.counters["ejections_active"] -= 1
        for addr in wanted:
            self.monitors.setdefault(addr, HostMonitor())

    def is_ejected(self, address: str) -> bool:
        """True while the host at address is ejected."""
        mon = self.monitors.get(address)
        return bool(mon and mon.ejected)

    def ejected(self) -> list[str]:
        """The addresses ejected now."""
        return [a for a, m in self.monitors.items() if m.ejected]

    def stats(self) -> dict[str, int]:
        """The outlier_detection.* counters."""
        return dict(self.counters)

    def inherit(self, old: OutlierDetector) -> None:
        """R13.10: a rebuilt cluster's detector shares the old one's stats by name; the old detector's
        destructor takes its ejected hosts out of ``ejections_active`` (this one has none ejected)."""
        self.counters = dict(old.counters)
        self.counters["ejections_active"] = old.counters["ejections_active"] - len(old.ejected()) + len(
            self.ejected())

    def next_sweep_at(self) -> float:
        """When the next sweep runs."""
        return self._next_sweep

    # --- outcomes (R2.1, R2.2, R2.3) ----------------------------------------------------------
    def report(self, address: str, outcome: Outcome, now: float) -> list[OutlierEvent]:
        """Count one attempt's outcome on ``address``; returns the events it caused (ejections)."""
        events = self.advance(now)
        mon = self.monitors.get(address)
        if mon is None:  # host removed while the request was in flight: ignored, like Envoy
            return events
        for kind in self._count(mon, outcome):
            events.extend(self._on_detected(address, mon, kind, now))
        return events

    def _count(self, mon: HostMonitor, outcome: Outcome) -> list[str]:
        """Update counters; return the ejection types whose threshold was just reached (R2.1/R2.2)."""
        cfg = self.config
        if isinstance(outcome, Failure) and cfg.split_external_local_origin_errors:
            mon.consecutive_local_origin_failure += 1  # R2.2 split: local origin only
            hit = mon.consecutive_local_origin_failure == cfg.consecutive_local_origin_failure
            return ["CONSECUTIVE_LOCAL_ORIGIN_FAILURE"] if hit else []
        if cfg.split_external_local_origin_errors:
            mon.consecutive_local_origin_failure = 0  # a response means the connection worked
        code = outcome.http_code if isinstance(outcome, Failure) else int(outcome)  # R2.2 no split
        return self._count_http(mon, code)

    def _count_http(self, mon: HostMonitor, code: int) -> list[str]:
        cfg = self.config
        hits: list[str] = []
        is_error = code in cfg.error_codes if cfg.error_codes is not None else 500 <= code <= 599
        if not is_error:  # R2.1: any non-error resets both counters
            mon.consecutive_5xx = mon.consecutive_gateway_failure = 0
            return hits
        if code in (502, 503, 504):  # R2.1: gateway failures, checked first as Envoy does
            mon.consecutive_gateway_failure += 1
            if mon.consecutive_gateway_failure == cfg.consecutive_gateway_failure:
                hits.append("CONSECUTIVE_GATEWAY_FAILURE")
        else:
            mon.consecutive_gateway_failure = 0
        mon.consecutive_5xx += 1
        if mon.consecutive_5xx == cfg.consecutive_5xx:  # R2.3: fires when the counter EQUALS N
            hits.append("CONSECUTIVE_5XX")
        return hits

    def _on_detected(self, address: str, mon: HostMonitor, kind: str, now: float) -> list[OutlierEvent]:
        """R2.3: an already-ejected host is skipped (its counter is not reset); otherwise detect,
        try to eject (R2.4/R2.5), then reset that counter whatever the result."""
        if mon.ejected:
            return []
        suffix, _ = EJECTION_TYPES[kind]
        self.counters[f"ejections_detected_{suffix}"] += 1
        events = self._eject(address, mon, kind, now)
        setattr(mon, suffix, 0)
        if kind == "CONSECUTIVE_5XX":
            self.counters["ejections_consecutive_5xx"] += 1  # deprecated twin Envoy still exports
        return events

    def _eject(self, address: str, mon: HostMonitor, kind: str, now: float) -> list[OutlierEvent]:
        cfg = self.config
        active = self.counters["ejections_active"]
        allowed = 100.0 * (active + 1) / len(self.monitors) <= min(100, cfg.max_ejection_percent)  # R2.4
        if not allowed and not (cfg.always_eject_one_host and active == 0):
            self.counters["ejections_overflow"] += 1  # R2.4: host stays in rotation (detect-only types too)
            return []
        if kind == "CONSECUTIVE_5XX":
            self.counters["ejections_total"] += 1  # deprecated counter: allowed 5xx ejections, enforced or not
        suffix, enforcing_attr = EJECTION_TYPES[kind]
        if not self._chance(getattr(cfg, enforcing_attr)):  # R2.5: detected, logged, not enforced
            return [self._event(address, mon, "EJECT", kind, now, enforced=False)]
        self.counters["ejections_active"] += 1
        self.counters["ejections_enforced_total"] += 1
        self.counters[f"ejections_enforced_{suffix}"] += 1
        mon.ejected, mon.num_ejections, mon.last_ejection_time = True, mon.num_ejections + 1, now
        mon.last_type = kind
        mon.jitter = self.rng.uniform(0, cfg.max_ejection_time_jitter) if cfg.max_ejection_time_jitter else 0.0
        base, cap = cfg.base_ejection_time, cfg.effective_max_ejection_time
        if mon.backoff * base < cap + base:  # R2.6: back-off grows until it reaches the cap
            mon.backoff += 1
        return [self._event(address, mon, "EJECT", kind, now, enforced=True)]

    def _chance(self, percent: int) -> bool:
        if percent >= 100:
            return True
        return percent > 0 and self.rng.randrange(100) < percent

    # --- interval sweeps (R2.6, R2.7) -----------------------------------------------------------
    def advance(self, now: float) -> list[OutlierEvent]:
        """Run every interval sweep due at or before ``now``; returns the UNEJECT events."""
        events: list[OutlierEvent] = []
        while self._next_sweep <= now:
            events.extend(self._sweep(self._next_sweep))
            self._next_sweep += self.config.interval
        return events

    def _sweep(self, t: float) -> list[OutlierEvent]:
        cfg, events = self.config, []
        for address, mon in self.monitors.items():
            if mon.ejected:
                duration = min(cfg.base_ejection_time * mon.backoff, cfg.effective_max_ejection_time) + mon.jitter
                if t - (mon.last_ejection_time or t) >= duration:  # R2.6: only at a sweep
                    events.append(self._uneject(address, mon, t))
                continue
            recovered_for = t - mon.last_unejection_time if mon.last_unejection_time is not None else -1.0
            if mon.backoff and recovered_for >= cfg.interval:  # R2.7: decay after a healthy interval
                mon.backoff -= 1
        return events

    def _uneject(self, address: str, mon: HostMonitor, t: float) -> OutlierEvent:
        self.counters["ejections_active"] -= 1
        mon.ejected, mon.last_unejection_time = False, t
        mon.reset_counters()  # R2.8: un-ejection resets all consecutive counters
        return self._event(address, mon, "UNEJECT", mon.last_type, t, enforced=True)

    def _event(self, address: str, mon: HostMonitor, action: str, kind: str, now: float,
               enforced: bool) -> OutlierEvent:
        since = None if mon.last_action_time is None else int(now - mon.last_action_time)
        mon.last_action_time = now
        return OutlierEvent(time=now, cluster_name=self.cluster_name, address=address, action=action,
                            type=kind, num_ejections=mon.num_ejections, enforced=enforced,
                            secs_since_last_action=since)
