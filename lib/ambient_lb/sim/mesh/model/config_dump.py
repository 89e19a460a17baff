"""Envoy admin ``/config_dump?resource=dynamic_active_clusters`` for one proxy (R13.12).

Who calls it: the simulator's Envoy admin (``sim/mesh/admin.py``) with the proxy's built clusters,
each with its ``ClusterShape`` and when it was (re)built. The JSON is what Envoy prints: one
``configs`` entry per cluster, proto3 field names in declaration order, default values left out (a
ROUND_ROBIN cluster has no ``lb_policy``), durations as ``"10s"``. Istio's ``outlier_detection``
carries the fields the DestinationRule set plus ``enforcing_success_rate: 0`` (R3.1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .envoy_cluster import DEFAULT_PANIC_THRESHOLD, EnvoyCluster
from .envoy_lb import LbPolicy
from .outlier import OutlierConfig
from .proxy_flavours import THRESHOLD_NAMES, ClusterShape

DYNAMIC_CLUSTER_TYPE = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

#: ``OutlierDetection`` fields in proto declaration order, with how each prints (durations vs numbers).
OUTLIER_FIELDS: tuple[tuple[str, str], ...] = (
    ("consecutive_5xx", "int"), ("interval", "duration"), ("base_ejection_time", "duration"),
    ("max_ejection_percent", "int"), ("enforcing_consecutive_5xx", "int"),
    ("consecutive_gateway_failure", "int"), ("enforcing_consecutive_gateway_failure", "int"),
    ("split_external_local_origin_errors", "bool"), ("consecutive_local_origin_failure", "int"),
    ("enforcing_consecutive_local_origin_failure", "int"),
)
#: Fields Istio always writes, after the ones above in declaration order (R3.1).
ISTIO_ALWAYS: dict[str, Any] = {"enforcing_success_rate": 0}
ISTIO_SPLIT_ALWAYS: dict[str, Any] = {"enforcing_local_origin_success_rate": 0}


@dataclass(frozen=True)
class DumpedCluster:
    """One active cluster as the dump needs it."""

    cluster: EnvoyCluster
    shape: ClusterShape
    version_info: str
    last_updated: str  # RFC 3339 with milliseconds, when the cluster was (re)built


def duration_json(seconds: float) -> str:
    """proto3 JSON Duration: ``10s``, ``0.500s`` (0, 3, 6 or 9 fractional digits)."""
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    if not frac:
        return f"{whole}s"
    digits = f"{frac:09d}"
    for width in (3, 6, 9):
        if digits[width:].strip("0") == "":
            return f"{whole}.{digits[:width]}s"
    return f"{whole}.{digits}s"


def outlier_json(cfg: OutlierConfig) -> dict[str, Any]:
    """Istio's ``outlier_detection``: the DR's fields (R3.1), then ``enforcing_success_rate: 0``."""
    out: dict[str, Any] = {}
    for field, kind in OUTLIER_FIELDS:
        if field in cfg.set_fields:
            value = getattr(cfg, field)
            out[field] = duration_json(value) if kind == "duration" else value
    out.update(ISTIO_ALWAYS)
    if cfg.split_external_local_origin_errors:
        out.update(ISTIO_SPLIT_ALWAYS)
    return out


def cluster_json(cluster: EnvoyCluster, shape: ClusterShape) -> dict[str, Any]:
    """The ``envoy.config.cluster.v3.Cluster`` a proxy holds for ``cluster``."""
    cfg, fl = cluster.config, shape.flavour
    out: dict[str, Any] = {"@type": CLUSTER_TYPE, "name": cfg.name, "type": shape.discovery}
    if shape.discovery == "EDS":
        eds: dict[str, Any] = {"eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}}
        if shape.eds_service_name:
            eds["service_name"] = shape.eds_service_name
        out["eds_cluster_config"] = eds
    out["connect_timeout"] = fl.connect_timeout
    if cfg.lb_policy is not LbPolicy.ROUND_ROBIN:  # enum value 0: proto3 JSON leaves it out
        out["lb_policy"] = cfg.lb_policy.value
    if shape.discovery == "STATIC":
        out["load_assignment"] = {"cluster_name": cfg.name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": _socket(h.address)}}} for h in cluster.hosts]}]}
    if fl.default_thresholds != (1024, 1024, 1024, 3):
        thresholds: dict[str, Any] = dict(zip(THRESHOLD_NAMES, fl.default_thresholds, strict=True))
        if fl.track_remaining:
            thresholds["track_remaining"] = True
        out["circuit_breakers"] = {"thresholds": [thresholds]}
    if cfg.outlier is not None:
        out["outlier_detection"] = outlier_json(cfg.outlier)
    if cfg.panic_threshold != DEFAULT_PANIC_THRESHOLD:
        out["common_lb_config"] = {"healthy_panic_threshold": {"value": cfg.panic_threshold}
                                   if cfg.panic_threshold else {}}
    return out


def _socket(address: str) -> dict[str, Any]:
    ip, _, port = address.rpartition(":")
    return {"address": ip, "port_value": int(port)}


def dynamic_active_clusters(clusters: Sequence[DumpedCluster]) -> dict[str, Any]:
    """``/config_dump?resource=dynamic_active_clusters``: one ``configs`` entry per active cluster."""
    return {"configs": [{"@type": DYNAMIC_CLUSTER_TYPE, "version_info": c.version_info,
                         "cluster": cluster_json(c.cluster, c.shape), "last_updated": c.last_updated}
                        for c in clusters]}


def dump_text(doc: dict[str, Any]) -> str:
    """Envoy's pretty print: one-space indent, ``"key": value``, a final newline."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
