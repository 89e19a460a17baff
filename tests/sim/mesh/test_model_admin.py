"""Envoy admin text from the model: ``/stats`` and ``/clusters`` (R2.10, R2.11)."""

from __future__ import annotations

from mesh_model_helpers import T0, fail_n, outlier_cluster

from ambient_lb.sim.mesh.model import Failure, clusters_text, stats_text

A = "10.0.0.1:8080"


def test_stats_text_lists_outlier_and_upstream_counters() -> None:
    """R2.11: `cluster.<name>.outlier_detection.*` and upstream_rq counters, `name: value` per line."""
    c = outlier_cluster(max_ejection_percent=100)
    for _ in range(3):
        h = c.pick(T0 + 1)
        c.report(h, 200, T0 + 1)  # type: ignore[arg-type]
    fail_n(c, A, 5, T0 + 2, code=503)
    c.report(A, Failure.CONNECTION_TERMINATION, T0 + 2)
    text = stats_text([c], filter_="outlier_detection")
    name = c.config.name
    assert f"cluster.{name}.outlier_detection.ejections_active: 1\n" in text
    assert f"cluster.{name}.outlier_detection.ejections_enforced_consecutive_5xx: 1\n" in text
    assert f"cluster.{name}.outlier_detection.ejections_detected_consecutive_gateway_failure: 1\n" in text
    assert "upstream_rq_total" not in text
    full = stats_text([c])
    assert f"cluster.{name}.upstream_rq_2xx: 3\n" in full and f"cluster.{name}.upstream_rq_503: 5\n" in full
    assert f"cluster.{name}.membership_healthy: 2\n" in full
    assert f"cluster.{name}.upstream_cx_destroy_remote_with_active_rq: 1\n" in full


def test_clusters_text_flags_the_ejected_host() -> None:
    """R2.10: /clusters shows `health_flags::/failed_outlier_check` for the ejected host, `healthy` else."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    lines = clusters_text([c]).splitlines()
    name = c.config.name
    assert f"{name}::{A}::health_flags::/failed_outlier_check" in lines
    assert f"{name}::10.0.0.2:8080::health_flags::healthy" in lines
    assert f"{name}::{A}::rq_error::5" in lines
    assert f"{name}::outlier::success_rate_average::-1" in lines
