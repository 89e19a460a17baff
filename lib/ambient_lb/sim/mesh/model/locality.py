"""Locality and traffic distribution: which mode a Service has (R5.1), ztunnel's strict tiers (R5.2),
and the Envoy priorities a waypoint or gateway gives each endpoint (R5.3–R5.6, R5.10).

Who calls it: the integrator calls ``resolve_mode`` with a Service's and Namespace's fields, hands
the result to ``ztunnel.choose_endpoint`` (L4 leg) or to ``destinationrule.cluster_config`` (Envoy
legs), and ``envoy_cluster`` calls ``PriorityPlan.priorities`` with the **deciding proxy's**
locality (R1.5: GW's node for GW→backend, GW's node for ZT(GW)→waypoint, the waypoint pod's node
for WP→backend).

``distribution="solo"`` switches on the Solo-only modes PreferNetwork / PreferRegion and the Solo
default PreferNetwork for backends (R5.8, `[solo]` `[model]`); the default ``"upstream"`` follows
upstream Istio, where those names are unknown values meaning Any.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import InvalidModelInput
from .hosts import HOSTNAME_LABEL, NETWORK_LABEL, REGION_LABEL, SUBZONE_LABEL, ZONE_LABEL, Host, Locality

ANNOTATION = "networking.istio.io/traffic-distribution"
#: R5.7: Istio's waypoint template annotates the generated waypoint Service with PreferClose (≥1.24).
WAYPOINT_SERVICE_ANNOTATIONS = {ANNOTATION: "PreferClose"}
DISTRIBUTIONS = ("upstream", "solo")


class Mode(enum.Enum):
    """A traffic-distribution mode after resolution (R5.1, R5.8)."""

    ANY = "Any"
    SAME_ZONE = "PreferSameZone"
    SAME_NODE = "PreferSameNode"
    PREFER_NETWORK = "PreferNetwork"  # [solo]
    PREFER_REGION = "PreferRegion"  # [solo]


class Scope(enum.Enum):
    """ztunnel ``LoadBalancing.Scope`` values, in ladder order (R5.2)."""

    NETWORK = "network"
    REGION = "region"
    ZONE = "zone"
    SUBZONE = "subzone"
    NODE = "node"


#: Mode → ztunnel FAILOVER ladder (R5.2; Solo ladders R5.8 are [inferred][model]).
ZTUNNEL_LADDERS: dict[Mode, tuple[Scope, ...]] = {
    Mode.ANY: (),
    Mode.SAME_ZONE: (Scope.NETWORK, Scope.REGION, Scope.ZONE),
    Mode.SAME_NODE: (Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE, Scope.NODE),
    Mode.PREFER_NETWORK: (Scope.NETWORK,),
    Mode.PREFER_REGION: (Scope.NETWORK, Scope.REGION),
}

#: Mode → Envoy ``failoverPriority`` labels at WP/GW, failover forced (R5.3; Solo R5.8 [model]).
ENVOY_FAILOVER_LABELS: dict[Mode, tuple[str, ...]] = {
    Mode.ANY: (),
    Mode.SAME_ZONE: (NETWORK_LABEL, REGION_LABEL, ZONE_LABEL),
    Mode.SAME_NODE: (NETWORK_LABEL, REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL, HOSTNAME_LABEL),
    Mode.PREFER_NETWORK: (NETWORK_LABEL,),
    Mode.PREFER_REGION: (NETWORK_LABEL, REGION_LABEL),
}

#: Recognised values: (value, case-insensitive?) → (mode, minimum Istio, Solo only?). R5.1, R5.8.
_SPEC_VALUES: dict[str, tuple[Mode, tuple[int, int]]] = {
    "PreferClose": (Mode.SAME_ZONE, (1, 0)),
    "PreferSameZone": (Mode.SAME_ZONE, (1, 0)),
    "PreferSameNode": (Mode.SAME_NODE, (1, 27)),
}
_SOLO_VALUES = {"prefernetwork": Mode.PREFER_NETWORK, "preferregion": Mode.PREFER_REGION, "any": Mode.ANY}
#: Kubernetes API: the version from which a ``spec.trafficDistribution`` value exists (R5.1).
KUBE_SPEC_SINCE = {"PreferClose": (1, 31), "PreferSameZone": (1, 33), "PreferSameNode": (1, 33)}


@dataclass(frozen=True)
class ModeDecision:
    """The resolved mode, where it came from, and anything a learner should be told."""

    mode: Mode
    source: str  # "spec" | "service annotation" | "namespace annotation" | "default" | "internalTrafficPolicy"
    strict_node: bool = False  # internalTrafficPolicy: Local → ztunnel STRICT [NODE] (R5.1)
    notes: tuple[str, ...] = ()


def resolve_mode(spec_value: str | None = None, service_annotations: Mapping[str, str] | None = None,
                 namespace_annotations: Mapping[str, str] | None = None, *,
                 internal_traffic_policy: str | None = None, istio_version: tuple[int, int] = (1, 30),
                 kube_version: tuple[int, int] = (1, 33), distribution: str = "upstream") -> ModeDecision:
    """R5.1 precedence: spec → Service annotation → Namespace annotation (Istio ≥1.30) → default."""
    _check_distribution(distribution)
    notes: list[str] = []
    if internal_traffic_policy == "Local":
        return ModeDecision(Mode.ANY, "internalTrafficPolicy", strict_node=True,
                            notes=("internalTrafficPolicy: Local overrides the mode: ztunnel STRICT [NODE]",))
    found = _from_spec(spec_value, istio_version, kube_version, notes)
    if found is not None:
        return ModeDecision(found, "spec", notes=tuple(notes))
    for source, found_annotations, since in (("service annotation", service_annotations, (1, 0)),
                                             ("namespace annotation", namespace_annotations, (1, 30))):
        value = (found_annotations or {}).get(ANNOTATION, "")
        if value and istio_version >= since:
            return ModeDecision(_from_annotation(value, istio_version, distribution, notes), source,
                                notes=tuple(notes))
        if value:
            notes.append(f"{source} {ANNOTATION}={value} ignored: Istio {_v(istio_version)} < {_v(since)}")
    default = Mode.PREFER_NETWORK if distribution == "solo" else Mode.ANY  # R5.8 vs upstream default
    return ModeDecision(default, "default", notes=tuple(notes))


def _from_spec(value: str | None, istio: tuple[int, int], kube: tuple[int, int], notes: list[str]) -> Mode | None:
    if not value:
        return None
    since_kube = KUBE_SPEC_SINCE.get(value)
    if since_kube and kube < since_kube:
        notes.append(f"spec.trafficDistribution={value} needs Kubernetes >= {_v(since_kube)} "
                     f"(cluster is {_v(kube)}); the API server would reject it")
    known = _SPEC_VALUES.get(value)
    if known is None or istio < known[1]:
        notes.append(f"spec.trafficDistribution={value} is not recognised by Istio {_v(istio)}; "
                     "falling back to the annotation")
        return None
    return known[0]


def _from_annotation(value: str, istio: tuple[int, int], distribution: str, notes: list[str]) -> Mode:
    for name, (mode, since) in _SPEC_VALUES.items():  # case-insensitive match (R5.1)
        if value.lower() == name.lower() and istio >= since:
            return mode
    if distribution == "solo" and value.lower() in _SOLO_VALUES:
        return _SOLO_VALUES[value.lower()]
    notes.append(f"{ANNOTATION}={value} is not a known mode; Istio treats it as Any (warning logged)")
    return Mode.ANY


def _check_distribution(distribution: str) -> None:
    if distribution not in DISTRIBUTIONS:
        raise InvalidModelInput(f"distribution={distribution!r} is not one of {DISTRIBUTIONS}; "
                                "for example 'upstream'")


def _v(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


# --- ztunnel: strict tiers (R5.2) -----------------------------------------------------------------
def _scope_match(scope: Scope, a: Locality, b: Locality) -> bool:
    return bool(getattr(a, scope.value) == getattr(b, scope.value))


def ztunnel_rank(src: Locality, dst: Locality, ladder: Sequence[Scope]) -> int:
    """R5.2: the number of leading scopes of ``ladder`` on which ``dst`` matches ``src``."""
    rank = 0
    for scope in ladder:
        if not _scope_match(scope, src, dst):
            break
        rank += 1
    return rank


def ztunnel_eligible(endpoints: Sequence[Host], src: Locality, decision: ModeDecision) -> list[Host]:
    """R5.2/R4.5: the healthy endpoints ztunnel may choose from for a connection from ``src``.

    FAILOVER keeps only the best-ranked tier (no proportional spill); STRICT (internalTrafficPolicy
    Local) keeps only same-node endpoints; Any keeps all healthy endpoints.
    """
    healthy = [h for h in endpoints if h.healthy]
    if decision.strict_node:
        return [h for h in healthy if h.locality.node == src.node]
    ladder = ZTUNNEL_LADDERS[decision.mode]
    if not ladder or not healthy:
        return healthy
    ranks = [ztunnel_rank(src, h.locality, ladder) for h in healthy]
    best = max(ranks)
    return [h for h, r in zip(healthy, ranks, strict=True) if r == best]


# --- Envoy (WP, GW): priorities (R4.6, R5.3–R5.6) ---------------------------------------------------
@dataclass(frozen=True)
class PriorityPlan:
    """How an Envoy proxy splits a cluster's endpoints into priorities.

    kind: ``"none"`` (one priority), ``"failover_priority"`` (label ladder, R5.3/R5.6),
    ``"locality_failover"`` (mesh default region/zone/subzone ladder, R5.5, with optional
    region ``failover`` pairs). ``why`` explains the choice for the learner (R5.4).
    """

    kind: str = "none"
    labels: tuple[str, ...] = ()
    failover: tuple[tuple[str, str], ...] = ()
    why: str = "no locality load balancing"
    notes: tuple[str, ...] = field(default=())

    def priorities(self, hosts: Sequence[Host], proxy: Locality,
                   proxy_labels: Mapping[str, str] | None = None) -> list[int]:
        """Compacted priority of each host, relative to the deciding proxy (R1.5)."""
        if self.kind == "failover_priority":
            raw = [_label_priority(h, proxy, proxy_labels or {}, self.labels) for h in hosts]
        elif self.kind == "locality_failover":
            raw = [_locality_priority(proxy, h.locality, self.failover) for h in hosts]
        else:
            raw = [0 for _ in hosts]
        return compact(raw)


def compact(raw: Sequence[int]) -> list[int]:
    """R5.5: empty priorities are compacted away (P0, P2 → P0, P1)."""
    ranks = {p: i for i, p in enumerate(sorted(set(raw)))}
    return [ranks[p] for p in raw]


def _label_priority(host: Host, proxy: Locality, proxy_labels: Mapping[str, str], labels: Sequence[str]) -> int:
    """R5.3: priority = number of labels after the first mismatch (0 = all match). A ``key=value``
    entry compares the endpoint's label with that value instead of the proxy's (DR override form)."""
    matched = 0
    for entry in labels:
        key, _, override = entry.partition("=")
        mine = override if override else proxy.label(key)
        mine = mine if mine is not None else proxy_labels.get(key, "")
        if host.label(key) != mine:
            break
        matched += 1
    return len(labels) - matched


def _locality_priority(proxy: Locality, ep: Locality, failover: Sequence[tuple[str, str]]) -> int:
    """R5.5: P0 same region+zone+subzone, P1 region+zone, P2 region, P3 other regions; a DR
    ``failover`` pair from the proxy's region moves regions other than ``to`` behind it `[inferred]`."""
    if proxy.region == ep.region:
        if proxy.zone == ep.zone:
            return 0 if proxy.subzone == ep.subzone else 1
        return 2
    for src, dst in failover:
        if src == proxy.region:
            return 3 if ep.region == dst else 4
    return 3
