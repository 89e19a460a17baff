"""Envoy admin text for one proxy: ``/stats`` and ``/clusters`` (R2.10, R2.11).

Who calls it: the simulator's admin endpoint on port 15000 of gateway and waypoint pods renders the
proxy's ``EnvoyCluster`` objects with these functions. Formats follow Envoy's plain-text admin
output: ``name: value`` per stat, ``<cluster>::<host>::<key>::<value>`` per host row.
"""

from __future__ import annotations

from typing import Iterable

from .envoy_cluster import EnvoyCluster


def stats_text(clusters: Iterable[EnvoyCluster], filter_: str | None = None) -> str:
    """``/stats``: every counter and gauge, sorted; ``filter_`` keeps names containing it."""
    merged: dict[str, int] = {}
    for cluster in clusters:
        merged.update(cluster.stats())
    lines = [f"{k}: {v}" for k, v in sorted(merged.items()) if filter_ is None or filter_ in k]
    return "\n".join(lines) + ("\n" if lines else "")


def clusters_text(clusters: Iterable[EnvoyCluster]) -> str:
    """``/clusters``: per-cluster outlier lines, then one line per host attribute (R2.10)."""
    lines: list[str] = []
    for cluster in clusters:
        name = cluster.config.name
        lines += [f"{name}::observability_name::{name}",
                  f"{name}::outlier::success_rate_average::-1",
                  f"{name}::outlier::success_rate_ejection_threshold::-1",
                  f"{name}::outlier::local_origin_success_rate_average::-1",
                  f"{name}::outlier::local_origin_success_rate_ejection_threshold::-1"]
        for row in cluster.host_rows():
            address = row["address"]
            lines += [f"{name}::{address}::{key}::{value}" for key, value in row.items() if key != "address"]
    return "\n".join(lines) + ("\n" if lines else "")
