"""Envoy admin text for one proxy: ``/stats`` and ``/clusters`` (R2.10, R2.11, R13.3–R13.4, R13.11).

Who calls it: the simulator's Envoy admin (``sim/mesh/admin.py``) renders a proxy's ``EnvoyCluster``
objects with these functions. Formats follow Envoy's plain-text admin output: ``name: value`` per
stat (only the stats the proxy's ``StatsMatcher`` keeps, R13.4), and
``<cluster>::<host>::<key>::<value>`` per host row in ``clusters_handler.cc``'s order (R13.11).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from .envoy_cluster import EnvoyCluster
from .proxy_flavours import THRESHOLD_NAMES, ClusterShape, istio_eds
from .stats_matcher import KEEP_ALL, StatsMatcher

#: R13.11: a host's counters and gauges (printed in name order), then its other attributes in order.
HOST_STATS = ("cx_active", "cx_connect_fail", "cx_total", "rq_active", "rq_error", "rq_success", "rq_timeout",
              "rq_total")
HOST_ATTRIBUTES = ("hostname", "health_flags", "weight", "region", "zone", "sub_zone", "canary", "priority",
                   "success_rate", "local_origin_success_rate")
OUTLIER_LINES = ("success_rate_average", "success_rate_ejection_threshold", "local_origin_success_rate_average",
                 "local_origin_success_rate_ejection_threshold")

ShapeOf = Callable[[EnvoyCluster], ClusterShape]


def collect_stats(clusters: Iterable[EnvoyCluster], extra: Mapping[str, int] | None = None,
                  matcher: StatsMatcher = KEEP_ALL) -> dict[str, int]:
    """Every stat the proxy has created: the clusters' and ``extra`` (server, cluster_manager), kept
    by ``matcher`` (R13.3, R13.4), sorted by name."""
    merged: dict[str, int] = dict(extra or {})
    for cluster in clusters:
        merged.update(cluster.stats())
    return {k: v for k, v in sorted(merged.items()) if matcher.includes(k)}


def stats_text(clusters: Iterable[EnvoyCluster], filter_: str | None = None, *, matcher: StatsMatcher = KEEP_ALL,
               extra: Mapping[str, int] | None = None, regex: bool = False) -> str:
    """``/stats``: the kept stats, sorted; ``filter_`` keeps names containing it (a regex searched
    anywhere in the name when ``regex``, as Envoy's ``?filter=`` does)."""
    stats = collect_stats(clusters, extra, matcher)
    if filter_ is not None:
        rx = re.compile(filter_ if regex else re.escape(filter_))
        stats = {k: v for k, v in stats.items() if rx.search(k)}
    return "".join(f"{k}: {v}\n" for k, v in stats.items())


def clusters_text(clusters: Iterable[EnvoyCluster], shape_of: ShapeOf | None = None) -> str:
    """``/clusters``: per cluster its header lines, then one line per host attribute (R2.10, R13.11)."""
    lines: list[str] = []
    for cluster in clusters:
        shape = shape_of(cluster) if shape_of else istio_eds(cluster.config.name)
        lines += _cluster_lines(cluster, shape)
    return "".join(line + "\n" for line in lines)


def _cluster_lines(cluster: EnvoyCluster, shape: ClusterShape) -> list[str]:
    name, fl = cluster.config.name, shape.flavour
    lines = [f"{name}::observability_name::{name}"]
    if cluster.detector is not None:
        lines += [f"{name}::outlier::{key}::-1" for key in OUTLIER_LINES]
    for priority, values in (("default", fl.default_thresholds), ("high", fl.high_thresholds)):
        lines += [f"{name}::{priority}_priority::{k}::{v}" for k, v in zip(THRESHOLD_NAMES, values, strict=True)]
    lines.append(f"{name}::added_via_api::true")
    if shape.discovery == "EDS" and shape.eds_service_name:
        lines.append(f"{name}::eds_service_name::{shape.eds_service_name}")
    for row in cluster.host_rows():
        address = row["address"]
        lines += [f"{name}::{address}::{key}::{row[key]}" for key in HOST_STATS + HOST_ATTRIBUTES]
    return lines
