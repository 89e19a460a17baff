"""The guide's steps as functions the notebooks call: one cell, one call, one result.

Each public step function takes the :class:`Run` a notebook opened (``run = guide.open_run(...)``),
does the step with real kubectl/helm calls (``kube.py``, ``helm.py``) or API reads, checks it, and
shows a :class:`~ambient_lb.checks.StepResult` through ``ui.step``: the commands run, what came
back, callouts where the guide differs from the real system (``semantics.md`` §10), and the checks.
A failed check raises ``CheckFailed`` after the result is shown, so a headless run stops there.

Steps are idempotent, and every notebook starts with :func:`prepare`, which makes sure the earlier
notebooks' state exists (fast when it does), so any notebook runs on its own and twice in a row.

Modules, in guide order: ``run`` (the run context and the step machinery), ``cluster`` and
``evidence`` (what the steps share), ``prerequisites`` (00), ``install`` (01), ``routing`` (02),
``via_waypoint`` (03), ``failover`` (04), ``teardown`` (05), ``earlier_state`` (``prepare``),
``outlier_lab`` (07, with ``outlier_evidence``), ``multicluster`` and ``global_failover``
(08, on the two clusters of ``two_clusters``).

Imports: the project's cheap modules are imported at each module's top. ``traffic``, ``stats``,
``plots`` and ``logs`` (pandas, pyarrow, matplotlib: 0.4 to 1.3 s), ``params`` (pydantic), the
``ambient-lb manifests`` command (argparse), pandas, matplotlib, ipywidgets and urllib3 are imported
inside the steps that use them, so a notebook's first cell (``from ambient_lb import guide``) does
not wait for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .earlier_state import prepare
from .failover import (
    delete_pod_under_traffic,
    deploy_failing_replica,
    destination_rule,
    ejected_again,
    ejection,
    no_ejection_by_default,
    remove_failing_replica,
)
from .global_failover import (
    any_mode,
    failover_to_cluster2,
    other_service_scopes,
    outlier_detection_across_clusters,
    prefer_network,
    return_to_cluster1,
    waypoint_on_global_service,
    ztunnel_proof,
)
from .install import (
    ambient_namespace,
    find_address,
    gateway,
    gateway_address,
    gateway_api_crds,
    kgateway,
    kgateway_crds,
)
from .locality import (
    client_to_gateway,
    every_waypoint_ranks_from_its_own_zone,
    explorer,
    gateway_to_backend,
    gateway_to_waypoint,
    lab_cleanup,
    waypoint_to_backend,
    zonal_app,
    zones,
)
from .multicluster import (
    app_in_both_clusters,
    cleanup_clusters,
    kgateway_in_cluster1,
    peered_clusters,
    route_to_global_service,
)
from .outlier_lab import (
    consecutive_5xx,
    default_max_ejection,
    failing_replicas,
    gateway_errors,
    max_ejection_percent,
    outlier_locality_failover,
    panic_threshold,
    remove_outlier_lab,
    sweep_and_backoff,
    vip_collapse,
)
from .prerequisites import ambient_mesh, cluster_reachable, ensure_simulator, license_key, simulator, tools
from .routing import http_route, mtls_proof, sample_app, scale_app, traffic_reaches_every_replica
from .run import Run, dump_params, load, open_run
from .teardown import cleanup, leftovers
from .two_clusters import unavailable as _two_clusters_unavailable
from .via_waypoint import (
    gateway_sees_pods,
    gateway_sees_the_vip,
    use_waypoint,
    waypoint,
    waypoint_distribution,
    waypoint_in_path,
)

__all__ = [
    "Run", "open_run", "load", "dump_params", "prepare",
    "tools", "simulator", "ensure_simulator", "cluster_reachable", "ambient_mesh", "license_key",
    "gateway_api_crds", "kgateway_crds", "kgateway", "ambient_namespace", "gateway",
    "gateway_address", "find_address",
    "sample_app", "scale_app", "http_route", "traffic_reaches_every_replica", "mtls_proof",
    "waypoint", "gateway_sees_pods", "use_waypoint", "gateway_sees_the_vip", "waypoint_in_path",
    "waypoint_distribution",
    "destination_rule", "delete_pod_under_traffic", "deploy_failing_replica", "no_ejection_by_default",
    "ejection", "ejected_again", "remove_failing_replica",
    "cleanup", "leftovers",
    "zones", "zonal_app", "client_to_gateway", "gateway_to_backend", "gateway_to_waypoint",
    "waypoint_to_backend", "explorer", "every_waypoint_ranks_from_its_own_zone", "lab_cleanup",
    "peered_clusters", "kgateway_in_cluster1", "app_in_both_clusters", "route_to_global_service",
    "prefer_network", "failover_to_cluster2", "ztunnel_proof", "return_to_cluster1", "any_mode",
    "other_service_scopes", "waypoint_on_global_service", "outlier_detection_across_clusters",
    "cleanup_clusters",
    "vip_collapse", "failing_replicas", "default_max_ejection", "gateway_errors", "consecutive_5xx",
    "max_ejection_percent", "panic_threshold", "sweep_and_backoff", "outlier_locality_failover",
    "remove_outlier_lab",
    "skip_reason",
]

# What a notebook needs beyond the target itself, by notebook number: a function of the params that
# says why the notebook cannot run there, or None. ``ambient-lb run`` skips such a notebook with that
# reason (unless it was asked for by ``--only``).
NEEDS: dict[str, Callable[[Any], str | None]] = {"08": _two_clusters_unavailable}


def skip_reason(notebook: str, params: Any) -> str | None:
    """Why ``notebook`` (``NN-name``) cannot run on ``params``, or None when it can."""
    need = NEEDS.get(notebook[:2])
    return need(params) if need else None
