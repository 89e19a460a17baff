"""The ambient data plane as pure, deterministic code: Envoy load balancing and outlier detection,
DestinationRule mapping, locality and traffic distribution, ztunnel's choice, what the client sees,
and the access-log writers. Rule numbers refer to ``research/semantics.md``.

No I/O, no global state: time comes in as ``now`` (simulated seconds), randomness from an injected
``random.Random``. The simulator's data plane (``sim.mesh``) integrates it; unit tests in
``tests/sim/mesh/`` drive it directly.

| module | what it decides |
| --- | --- |
| ``hosts`` | ``Locality``, ``Host`` (address, pod name, locality, EDS health, weight), ``Failure``/``Outcome`` |
| ``locality`` | ``resolve_mode`` (R5.1), ztunnel tiers (R5.2), ``PriorityPlan`` for Envoy (R5.3–R5.6) |
| ``destinationrule`` | DR spec → ``ClusterConfig`` per ``Leg`` (R1.4, R3.1–R3.5, R5.4) |
| ``envoy_cluster`` | ``EnvoyCluster``: pick / report / set_hosts / rebuilt / stats / host_rows |
| ``envoy_lb`` | RR, LEAST_REQUEST, RANDOM (R4.1–R4.4), priority spill (R4.6), panic (R4.7) |
| ``outlier`` | consecutive-error outlier detection (R2.1–R2.12) and its event-log lines |
| ``ztunnel`` | random weighted choice per connection (R4.5), best tier only (R5.2), R7.3 |
| ``responses`` | status / flags / details / body per outcome (R7.1–R7.4), retry policy (R7.2) |
| ``accesslog`` | ztunnel and Envoy (``EnvoyTextLogFormat``) lines, byte-exact (R7.6) |
| ``admin`` | ``/stats`` and ``/clusters`` text (R13.4, R13.11) |
| ``config_dump`` | ``/config_dump?resource=dynamic_active_clusters`` JSON (R13.12) |
| ``stats_matcher`` | which stats a proxy keeps: Envoy's inclusion list, Istio's default list (R13.3–R13.5) |
| ``proxy_flavours`` | Istio proxy vs kgateway proxy: admin port, thresholds, connect timeout (R13.1, R13.2) |

Typical use at the waypoint (R1.3, R1.5)::

    mode = resolve_mode(svc.spec.get("trafficDistribution"), svc_annotations, ns_annotations)
    cfg = cluster_config(dr_spec, leg=Leg.WAYPOINT, mode=mode,
                         name=inbound_vip_cluster(8000, "in-ambient.httpbin.svc.cluster.local"))
    cluster = EnvoyCluster(cfg, hosts, now=clock.now(), rng=rng, proxy_locality=waypoint_locality)
    host = cluster.pick(now)                 # None → respond 503 UH "no healthy upstream"
    events = cluster.report(host, 200, now)  # or Failure.CONNECTION_TERMINATION (503 UC)
    status, row = response_for(outcome)      # what the client sees, and the log's flags/details
    line = envoy_line(EnvoyRecord(...))      # the waypoint's access-log line
    # EDS push: cluster.set_hosts(new_hosts, now); DR change: cluster = cluster.rebuilt(new_cfg, now)
    # outlier log: [e.json_line() for e in events + cluster.advance(now)]; wake-up: cluster.next_sweep_at()

At ztunnel (R4.5, R5.2): ``choose_endpoint(endpoints, src_locality, mode, rng)`` per new connection
(None → ``connection_failed(..., error=no_healthy_upstream_error(vip))``).

Modelling defaults (§11): one worker per proxy; the RR seed comes from the injected RNG; host order
is the order the caller passes (EDS order = pod creation order); ejections apply before the next
pick; the sweep phase starts when the cluster is built.
"""

from __future__ import annotations

from .accesslog import (
    INTERNAL_CLIENT_ADDRESS,
    Bare,
    EnvoyRecord,
    Peer,
    connect_originate,
    connect_originate_failure,
    connection_complete,
    connection_failed,
    envoy_line,
    http_request_complete,
    inbound_vip_cluster,
    spiffe,
    ztunnel_line,
)
from .admin import clusters_text, collect_stats, stats_text
from .config_dump import DumpedCluster, cluster_json, dynamic_active_clusters
from .destinationrule import (
    APPLIED_FIELDS,
    Leg,
    cluster_config,
    outlier_config,
    parse_duration,
    priority_plan,
    sends_unhealthy_endpoints,
)
from .envoy_cluster import ClusterConfig, EnvoyCluster
from .envoy_lb import LbPolicy, LoadBalancer, PriorityLevel, priority_load
from .errors import InvalidDestinationRule, InvalidModelInput, ModelError
from .hosts import Failure, Host, Locality, Outcome
from .locality import Mode, ModeDecision, PriorityPlan, resolve_mode, ztunnel_eligible
from .outlier import OutlierConfig, OutlierDetector, OutlierEvent
from .proxy_flavours import FLAVOURS, ClusterShape, Flavour
from .responses import RESPONSES, Kind, Response, RetryPolicy, response_for, retry_policy
from .stats_matcher import KEEP_ALL, StatsMatcher, istio_stats_matcher
from .ztunnel import ConnectionPool, choose_endpoint, no_healthy_upstream_error

__all__ = [
    "APPLIED_FIELDS", "FLAVOURS", "INTERNAL_CLIENT_ADDRESS", "KEEP_ALL", "RESPONSES", "Bare", "ClusterConfig",
    "ClusterShape", "ConnectionPool", "DumpedCluster", "EnvoyCluster", "EnvoyRecord", "Failure", "Flavour", "Host",
    "InvalidDestinationRule", "InvalidModelInput", "Kind", "LbPolicy", "Leg", "LoadBalancer", "Locality", "Mode",
    "ModeDecision", "ModelError", "Outcome", "OutlierConfig", "OutlierDetector", "OutlierEvent", "Peer",
    "PriorityLevel", "PriorityPlan", "Response", "RetryPolicy", "StatsMatcher", "choose_endpoint", "cluster_config",
    "cluster_json", "clusters_text", "collect_stats", "connect_originate", "connect_originate_failure",
    "connection_complete", "connection_failed", "dynamic_active_clusters", "envoy_line", "http_request_complete",
    "inbound_vip_cluster", "istio_stats_matcher", "no_healthy_upstream_error", "outlier_config", "parse_duration",
    "priority_load", "priority_plan", "resolve_mode", "response_for", "retry_policy", "sends_unhealthy_endpoints",
    "spiffe", "stats_text", "ztunnel_eligible", "ztunnel_line",
]
