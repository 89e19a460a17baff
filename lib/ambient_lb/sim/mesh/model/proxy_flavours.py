"""What differs between an Istio proxy (the waypoint) and kgateway's proxy, as their admin shows it.

Who calls it: ``admin`` and ``config_dump`` in this package render a cluster with its ``ClusterShape``
(flavour, discovery type, EDS service name); ``sim/mesh/admin.py`` picks the flavour per pod and the
shape per cluster. The numbers are the proxies' own (R13.1, R13.2, R13.11, R13.12).
"""

from __future__ import annotations

from dataclasses import dataclass

U32_MAX = 4294967295
#: Envoy's circuit-breaker defaults: max_connections, max_pending_requests, max_requests, max_retries.
ENVOY_THRESHOLDS = (1024, 1024, 1024, 3)
THRESHOLD_NAMES = ("max_connections", "max_pending_requests", "max_requests", "max_retries")


@dataclass(frozen=True)
class Flavour:
    """One kind of Envoy proxy: where its admin listens and how its control plane builds clusters."""

    name: str
    admin_port: int  # bound to 127.0.0.1 (R13.1, R13.2)
    container: str  # the container running Envoy
    connect_timeout: str  # as proto3 JSON prints the cluster's connect_timeout
    default_thresholds: tuple[int, int, int, int]
    high_thresholds: tuple[int, int, int, int] = ENVOY_THRESHOLDS
    track_remaining: bool = False


#: R13.1, R13.11: Istio sets every default-priority threshold to 2^32-1 and connect_timeout 10 s
#: (meshConfig.connectTimeout). R13.2: kgateway sets no thresholds; its connect timeout is 5 s [inferred].
FLAVOURS: dict[str, Flavour] = {
    "istio": Flavour("istio", 15000, "istio-proxy", "10s", (U32_MAX,) * 4, track_remaining=True),
    "kgateway": Flavour("kgateway", 19000, "kgateway-proxy", "5s", ENVOY_THRESHOLDS),
}


@dataclass(frozen=True)
class ClusterShape:
    """How one cluster was built: flavour, ``EDS`` or ``STATIC`` (kgateway's VIP cluster, R1.3), and
    the EDS service name Istio sets (the cluster name; kgateway sets none)."""

    flavour: Flavour
    discovery: str = "EDS"
    eds_service_name: str = ""


def istio_eds(name: str) -> ClusterShape:
    """The waypoint's ``inbound-vip|…`` cluster: EDS, service name = cluster name."""
    return ClusterShape(FLAVOURS["istio"], "EDS", name)
