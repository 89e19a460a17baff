"""Istio DestinationRule → Envoy cluster settings, per leg (R1.4, R3.1–R3.5, R5.4–R5.6).

Who calls it: the integrator, whenever a DR, the Service's traffic-distribution mode or the host
set's locality inputs change, calls ``cluster_config(dr_spec, leg=..., name=..., mode=...)`` and, if
the result differs from the cluster's current config, rebuilds the cluster (R2.12).

Where a DR acts (R1.4): the waypoint applies the whole ``trafficPolicy``; the gateway (kgateway
with Istio integration) only ``outlierDetection`` and ``loadBalancer.localityLbSetting``; ztunnel
never reads DRs. ``APPLIED_FIELDS`` is that table.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from .envoy_cluster import DEFAULT_PANIC_THRESHOLD, ClusterConfig
from .envoy_lb import LbPolicy
from .errors import InvalidDestinationRule
from .locality import ENVOY_FAILOVER_LABELS, Mode, ModeDecision, PriorityPlan
from .outlier import OutlierConfig


class Leg(enum.Enum):
    """The proxy that would apply the DR (R1.3, R1.4)."""

    WAYPOINT = "waypoint"
    GATEWAY = "gateway"
    ZTUNNEL = "ztunnel"


#: R1.4: the ``trafficPolicy`` fields each leg applies.
APPLIED_FIELDS: dict[Leg, tuple[str, ...]] = {
    Leg.WAYPOINT: ("loadBalancer.simple", "loadBalancer.localityLbSetting", "outlierDetection", "connectionPool"),
    Leg.GATEWAY: ("outlierDetection", "loadBalancer.localityLbSetting"),
    Leg.ZTUNNEL: (),
}

#: R3.4 ``loadBalancer.simple`` → Envoy policy at the waypoint (unset = Istio's LEAST_REQUEST).
SIMPLE_LB: dict[str, LbPolicy] = {
    "UNSPECIFIED": LbPolicy.LEAST_REQUEST, "LEAST_REQUEST": LbPolicy.LEAST_REQUEST,
    "LEAST_CONN": LbPolicy.LEAST_REQUEST, "ROUND_ROBIN": LbPolicy.ROUND_ROBIN, "RANDOM": LbPolicy.RANDOM,
    "PASSTHROUGH": LbPolicy.ROUND_ROBIN,  # [model]: original-destination, not modelled
}

#: Default policy per leg without a DR: waypoint R3.4 (Istio), gateway R1.2 (kgateway sets none).
DEFAULT_LB: dict[Leg, LbPolicy] = {Leg.WAYPOINT: LbPolicy.LEAST_REQUEST, Leg.GATEWAY: LbPolicy.ROUND_ROBIN,
                                   Leg.ZTUNNEL: LbPolicy.RANDOM}

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s))+$")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(field: str, value: Any) -> float:
    """A DR duration (``10s``, ``1m30s``, ``500ms``) in seconds; Istio requires ≥ 1 ms."""
    text = str(value).strip()
    if not _DURATION.match(text):
        raise InvalidDestinationRule(field, value, "is not a duration", "'10s', '1m' or '500ms'")
    seconds = sum(float(n) * _UNIT[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text))
    if seconds < 1e-3:
        raise InvalidDestinationRule(field, value, "must be at least 1ms", "'10s'")
    return seconds


_U32 = 2**32 - 1


def _count(n: int) -> int:
    return 100 if n > 0 else 0


#: R3.1 ``applyOutlierDetection``: DR field → (parser, Envoy fields it sets). Unset fields keep
#: Envoy's defaults (5xx 5/100, gateway 5/0, 10 s, 30 s, 10 %, max ejection time 300 s).
OUTLIER_FIELDS: dict[str, tuple[Callable[[str, Any], Any], Callable[[Any], dict[str, Any]]]] = {
    "consecutive5xxErrors": (lambda f, v: _check_int(f, v, 0, _U32, "5"),
                             lambda n: {"consecutive_5xx": n, "enforcing_consecutive_5xx": _count(n)}),
    "consecutiveGatewayErrors": (lambda f, v: _check_int(f, v, 0, _U32, "5"),
                                 lambda n: {"consecutive_gateway_failure": n,
                                            "enforcing_consecutive_gateway_failure": _count(n)}),
    "interval": (lambda f, v: parse_duration(f, v), lambda d: {"interval": d}),
    "baseEjectionTime": (lambda f, v: parse_duration(f, v), lambda d: {"base_ejection_time": d}),
    "maxEjectionPercent": (lambda f, v: _check_int(f, v, 0, 100, "100"),
                           lambda p: {"max_ejection_percent": p} if p > 0 else {}),  # only if > 0
    "outlierDetectionHttpErrorCodes": (lambda f, v: frozenset(_check_int(f, c, 100, 599, "[500, 503]") for c in v),
                                       lambda codes: {"error_codes": codes} if codes else {}),
}


def _check_int(field: str, value: Any, low: int, high: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidDestinationRule(field, value, f"must be an integer from {low} to {high}", example)
    return value


def _int_field(spec: Mapping[str, Any], field: str, low: int, high: int, example: str) -> int | None:
    if spec.get(field) is None:
        return None
    return _check_int(f"outlierDetection.{field}", spec[field], low, high, example)


def outlier_config(spec: Mapping[str, Any] | None) -> tuple[OutlierConfig | None, float | None]:
    """R3.1 ``applyOutlierDetection``: (Envoy outlier config, panic threshold) or (None, None) if absent."""
    if spec is None:
        return None, None  # R3.3: no outlierDetection block, no detector
    changes: dict[str, Any] = {}
    for name, (parse, apply) in OUTLIER_FIELDS.items():
        if spec.get(name) is not None:
            changes.update(apply(parse(f"outlierDetection.{name}", spec[name])))
    cfg = _split_errors(spec, OutlierConfig().with_(**changes))
    cfg = cfg.with_(set_fields=_set_fields(changes, spec))
    min_health = _int_field(spec, "minHealthPercent", 0, 100, "50")
    return cfg, float(min_health or 0)  # R3.1: panic threshold = minHealthPercent, default 0


def _set_fields(changes: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, ...]:
    """R13.12: the Envoy fields Istio writes for this DR (``error_codes`` is not an Envoy field)."""
    fields = [f for f in changes if f != "error_codes"]
    if spec.get("splitExternalLocalOriginErrors"):
        fields.append("split_external_local_origin_errors")
        if spec.get("consecutiveLocalOriginFailures"):
            fields += ["consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure"]
    return tuple(fields)


def _split_errors(spec: Mapping[str, Any], cfg: OutlierConfig) -> OutlierConfig:
    if not spec.get("splitExternalLocalOriginErrors"):
        return cfg
    cfg = cfg.with_(split_external_local_origin_errors=True)
    n = _int_field(spec, "consecutiveLocalOriginFailures", 0, _U32, "5")
    if n:
        cfg = cfg.with_(consecutive_local_origin_failure=n, enforcing_consecutive_local_origin_failure=100)
    return cfg


def _simple_lb(lb: Mapping[str, Any]) -> LbPolicy:
    simple = lb.get("simple")
    if simple is None:
        return LbPolicy.LEAST_REQUEST  # R3.4: unset → Istio default LEAST_REQUEST
    if simple not in SIMPLE_LB:
        raise InvalidDestinationRule("loadBalancer.simple", simple, f"is not one of {sorted(SIMPLE_LB)}",
                                     "ROUND_ROBIN")
    return SIMPLE_LB[simple]


def priority_plan(locality_lb: Mapping[str, Any] | None, mode: ModeDecision | None, has_outlier: bool,
                  leg: Leg) -> PriorityPlan:
    """R5.4 precedence at an Envoy proxy: DR localityLbSetting → Service mode → mesh default."""
    if locality_lb is not None:
        return _dr_locality_plan(locality_lb, has_outlier)
    if mode is not None and ENVOY_FAILOVER_LABELS[mode.mode]:
        return PriorityPlan("failover_priority", ENVOY_FAILOVER_LABELS[mode.mode],
                            why=f"traffic distribution {mode.mode.value} from the {mode.source}: "
                                "failoverPriority forced, works without outlierDetection (R5.3)")
    if has_outlier and leg is Leg.WAYPOINT:
        return PriorityPlan("locality_failover", why="outlierDetection turns on the mesh default "
                            "locality failover relative to the waypoint (R3.5, R5.5)")
    return PriorityPlan(why="no locality load balancing: no mode and no outlierDetection (R5.5)")


def _dr_locality_plan(setting: Mapping[str, Any], has_outlier: bool) -> PriorityPlan:
    rules = [k for k in ("distribute", "failover", "failoverPriority") if setting.get(k)]
    if len(rules) > 1:
        raise InvalidDestinationRule("loadBalancer.localityLbSetting", rules,
                                     "only one of distribute, failover and failoverPriority may be set",
                                     "failoverPriority: [topology.kubernetes.io/zone]")
    if setting.get("enabled") is False:
        return PriorityPlan(why="localityLbSetting.enabled=false disables locality LB, mode or not (R5.4)")
    if rules == ["distribute"]:
        return PriorityPlan(why="localityLbSetting.distribute", notes=("distribute weights are not modelled",))
    if not has_outlier:
        return PriorityPlan(why="localityLbSetting failover needs outlierDetection, so it has no effect (R5.6)")
    if rules == ["failoverPriority"]:
        labels = tuple(str(x) for x in setting["failoverPriority"])
        return PriorityPlan("failover_priority", labels, why="DR localityLbSetting.failoverPriority (R5.6)")
    pairs = tuple((str(f.get("from", "")), str(f.get("to", ""))) for f in setting.get("failover") or ())
    return PriorityPlan("locality_failover", failover=pairs, why="DR localityLbSetting failover (R5.5, R5.6)")


def cluster_config(dr_spec: Mapping[str, Any] | None, *, leg: Leg, name: str, mode: ModeDecision | None = None,
                   supports_unhealthy: bool = False) -> ClusterConfig:
    """The Envoy cluster a proxy on ``leg`` builds for a Service, given its DR ``spec`` (or None)."""
    if leg is Leg.ZTUNNEL:
        raise InvalidDestinationRule("leg", leg.value, "ztunnel never applies a DestinationRule (R1.4c)",
                                     "Leg.WAYPOINT or Leg.GATEWAY")
    policy = (dr_spec or {}).get("trafficPolicy") or {}
    lb = policy.get("loadBalancer") or {}
    outlier, min_health = outlier_config(policy.get("outlierDetection"))
    notes: list[str] = []
    lb_policy = DEFAULT_LB[leg]
    if leg is Leg.WAYPOINT:
        lb_policy = _simple_lb(lb)
    elif "simple" in lb:
        notes.append(f"loadBalancer.simple={lb['simple']} is ignored at the gateway (R1.4b)")
    if leg is Leg.WAYPOINT and policy.get("portLevelSettings"):
        notes.append("portLevelSettings are not modelled")
    panic = min_health if min_health is not None else (0.0 if supports_unhealthy else DEFAULT_PANIC_THRESHOLD)
    plan = priority_plan(lb.get("localityLbSetting"), mode, outlier is not None, leg)
    return ClusterConfig(name=name, lb_policy=lb_policy, outlier=outlier, panic_threshold=panic,
                         priority_plan=plan, notes=tuple(notes))


def sends_unhealthy_endpoints(mode: Mode, *, publish_not_ready: bool = False, istio_version: tuple[int, int] = (1, 30),
                              dr_min_health_percent: int = 0) -> bool:
    """R6.3/R5.3: does istiod send not-ready endpoints to Envoy (as UNHEALTHY)?"""
    if publish_not_ready or mode is not Mode.ANY:
        return True
    return istio_version >= (1, 31) and dr_min_health_percent == 0
