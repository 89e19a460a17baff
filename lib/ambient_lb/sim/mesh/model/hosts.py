"""The nouns every part of the model shares: a locality, an upstream host, and a request outcome.

Who calls it: the integrator builds ``Host`` objects from istiod's endpoint view (EDS order =
pod creation order, §11) and reports ``Outcome`` values after each attempt; ``envoy_cluster``,
``outlier``, ``locality`` and ``ztunnel`` consume them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

# Kubernetes / Istio topology label keys (R5.3, R5.9).
NETWORK_LABEL = "topology.istio.io/network"
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Locality:
    """Where a pod or proxy runs. Empty strings mean "no label" (R5.9: then nothing ranks)."""

    network: str = ""
    region: str = ""
    zone: str = ""
    subzone: str = ""
    node: str = ""

    @classmethod
    def from_node_labels(cls, node_name: str, labels: Mapping[str, str], network: str = "") -> Locality:
        """Read a node's topology labels (R5.9); ``network`` comes from the mesh, not the node."""
        return cls(network=network or labels.get(NETWORK_LABEL, ""), region=labels.get(REGION_LABEL, ""),
                   zone=labels.get(ZONE_LABEL, ""), subzone=labels.get(SUBZONE_LABEL, ""), node=node_name)

    def label(self, key: str) -> str | None:
        """The value of a topology label key, or None if ``key`` is not a topology label."""
        return {NETWORK_LABEL: self.network, REGION_LABEL: self.region, ZONE_LABEL: self.zone,
                SUBZONE_LABEL: self.subzone, HOSTNAME_LABEL: self.node}.get(key)


@dataclass
class Host:
    """One upstream endpoint as a proxy sees it.

    ``address`` is the identity (``ip:port``): outlier state and RR membership follow it. ``healthy``
    is the EDS health: False for a not-ready endpoint that Istio sends as UNHEALTHY (R6.3).
    ``labels`` are the pod's labels, for DR ``failoverPriority`` on non-topology keys.
    """

    address: str
    name: str = ""
    locality: Locality = field(default_factory=Locality)
    healthy: bool = True
    weight: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, key: str) -> str:
        """The host's value for a label: from its locality for the topology labels, else from its labels, else ""."""
        topo = self.locality.label(key)
        return topo if topo is not None else self.labels.get(key, "")


class Failure(enum.Enum):
    """A locally originated failure (no HTTP response from the host), R2.2 and R7.1–R7.3.

    ``http_code`` is what Envoy's outlier detector maps it to when errors are not split (R2.2);
    ``request_sent`` says whether the request headers had left (decides retries, R7.2).
    """

    CONNECT_FAILURE = ("connect_failure", 503, False)          # UF: TCP/internal connect failed
    CONNECTION_TERMINATION = ("connection_termination", 503, True)  # UC: reset before response (R7.1)
    TIMEOUT = ("timeout", 504, True)                          # UT: upstream request timeout

    def __init__(self, label: str, http_code: int, request_sent: bool) -> None:
        self.label = label
        self.http_code = http_code
        self.request_sent = request_sent


#: What happened to one attempt: the HTTP status the host returned, or a local-origin failure.
Outcome = int | Failure


def outcome_http_code(outcome: Outcome) -> int:
    """The HTTP code an outcome counts as for outlier detection without split (R2.2)."""
    return outcome.http_code if isinstance(outcome, Failure) else int(outcome)
