"""The proxies' admin and the programs in their images, called directly (R13.1, R13.2, R13.7, R13.8)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from mesh_model_helpers import T0, fail_n, outlier_cluster

from ambient_lb.sim.clock import ManualClock
from ambient_lb.sim.cluster import Cluster, PodPort, ProgramNotFound
from ambient_lb.sim.mesh.admin import EnvoyAdmin
from ambient_lb.sim.mesh.images import exec_handler
from ambient_lb.sim.mesh.kgateway import PROXY_IMAGE as KGW_IMAGE
from ambient_lb.sim.mesh.model import FLAVOURS, Locality, istio_stats_matcher
from ambient_lb.sim.mesh.proxies import Proxies
from ambient_lb.sim.mesh.waypoint import PROXY_IMAGE as WP_IMAGE

NS, WP, GW = "httpbin", "httpbin-waypoint-7d9c-abcde", "http-5f6b-fghij"
A = "10.0.0.1:8080"
OUTLIER = {"regexps": [".*outlier_detection.*"]}


def _world(matcher_lists: dict | None = None) -> tuple[Cluster, EnvoyAdmin]:
    """A cluster whose waypoint pod has built its inbound-vip cluster and ejected A."""
    cluster = Cluster(clock=ManualClock(T0))
    proxies = Proxies(cluster.rng, lambda proxy, ev: None, cluster.clock)
    proxy = proxies.proxy(NS, WP, Locality(), {})
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    proxies.cluster(proxy, c.config, 1, T0, lambda: c.hosts)
    proxy.clusters[c.config.name].cluster = c
    dp = SimpleNamespace(proxies=proxies, istiod=SimpleNamespace(view=SimpleNamespace(by_vip={}, version=4)))
    admin = EnvoyAdmin(cluster, dp, NS, WP, FLAVOURS["istio"], lambda: istio_stats_matcher(matcher_lists))
    cluster.pod_ports[(NS, WP)] = {15000: PodPort(handler=admin, loopback_only=True)}
    return cluster, admin


def _run(cluster: Cluster, image: str, pod: str, *argv: str):
    return asyncio.run(exec_handler(cluster, image)(NS, pod, list(argv), b""))


def test_pod_proxy_to_the_waypoint_admin_port_is_refused_like_a_cluster() -> None:
    """R13.1: the admin is bound to 127.0.0.1, so the API server's pods/proxy (pod IP) gets nothing."""
    cluster, _ = _world()
    assert asyncio.run(cluster.proxy(NS, WP, 15000, "GET", "/stats", {})) is None


def test_pilot_agent_request_get_stats_answers_from_the_admin() -> None:
    """R13.7: pilot-agent prints the admin's body plus fmt.Println's newline and exits 0."""
    cluster, admin = _world(OUTLIER)
    r = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "stats?filter=outlier_detection")
    direct = asyncio.run(admin("GET", "/stats", {"filter": "outlier_detection"}, b""))[2]
    assert r.exit_code == 0 and r.stderr == b"" and r.stdout == direct + b"\n"
    assert b".outlier_detection.ejections_active: 1\n" in r.stdout


def test_pilot_agent_stats_show_no_outlier_counters_under_istios_defaults() -> None:
    """R13.3: with no proxyStatsMatcher the filtered stats are empty: pilot-agent prints one newline."""
    cluster, _ = _world()
    r = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "stats?filter=outlier_detection")
    assert (r.exit_code, r.stdout) == (0, b"\n")
    full = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "/stats").stdout.decode()
    assert "cluster_manager.active_clusters: 1\n" in full and "cluster.inbound" not in full


def test_pilot_agent_prints_clusters_and_config_dump() -> None:
    """R13.11, R13.12: /clusters flags the ejected host; config_dump names the cluster and its rule."""
    cluster, _ = _world()
    out = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "clusters").stdout.decode()
    assert f"::{A}::health_flags::/failed_outlier_check\n" in out
    dump = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET",
                "config_dump?resource=dynamic_active_clusters").stdout.decode()
    assert '"outlier_detection": {' in dump and '\n "configs": [' in dump
    masked = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET",
                  "config_dump?resource=dynamic_active_clusters&mask=cluster.name").stdout.decode()
    assert '"name": "inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"' in masked
    assert "outlier_detection" not in masked


def test_pilot_agent_prints_envoys_404_and_exits_0() -> None:
    """R13.7: a 404 is printed, not an error; Envoy's body says invalid path and lists commands."""
    cluster, _ = _world()
    r = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "nope")
    assert r.exit_code == 0 and r.stdout.startswith(b"invalid path. admin commands are:\n")


@pytest.mark.parametrize("argv, error", [
    (("request", "GET"), "Error: requires at least 2 arg(s), only received 1\n"),
    (("request", "GET", "stats", "--debug-port", "9999"),
     "Error: debug port 9999 is not in allowed list [15000 15004 15020 15021]\n"),
    (("request", "GET", "stats?filter=("), "Error: received unsuccessful status code 400: Invalid re2 regex"),
    (("frobnicate",), 'Error: unknown command "frobnicate" for "pilot-agent"\n'),
])
def test_pilot_agent_failures_exit_255_with_cobras_error_line(argv: tuple[str, ...], error: str) -> None:
    """R13.7: cobra prints `Error: …`, Istio logs it, os.Exit(-1) is exit code 255."""
    cluster, _ = _world()
    r = _run(cluster, WP_IMAGE, WP, "pilot-agent", *argv)
    assert r.exit_code == 255 and r.stdout == b"" and r.stderr.decode().startswith(error)
    assert "\terror\t" in r.stderr.decode()


def test_pilot_agent_with_the_admin_down_reports_gos_dial_error() -> None:
    """R13.7: nothing on localhost:15000 → Go's connection refused, exit 255."""
    cluster, _ = _world()
    cluster.pod_ports[(NS, WP)].clear()
    r = _run(cluster, WP_IMAGE, WP, "pilot-agent", "request", "GET", "stats")
    assert r.exit_code == 255
    assert r.stderr.startswith(b'Error: Get "http://localhost:15000/stats": dial tcp 127.0.0.1:15000: connect: '
                               b"connection refused\n")


def test_programs_missing_from_the_images_are_not_found() -> None:
    """R13.8: the distroless waypoint has no curl or shell; kgateway's proxy has no curl or pilot-agent."""
    cluster, _ = _world()
    for image, argv0 in ((WP_IMAGE, "curl"), (WP_IMAGE, "sh"), (WP_IMAGE, "/bin/pilot-agent"),
                         (KGW_IMAGE, "curl"), (KGW_IMAGE, "pilot-agent")):
        with pytest.raises(ProgramNotFound) as err:
            _run(cluster, image, WP, argv0, "localhost:15000/stats")
        assert err.value.program == argv0
    assert _run(cluster, WP_IMAGE, WP, "/usr/local/bin/pilot-agent", "request", "GET", "ready").stdout == b"LIVE\n\n"
    r = _run(cluster, KGW_IMAGE, WP, "sh", "-c", "true")
    assert r.exit_code == 1 and b"does not model it" in r.stderr


def test_wget_in_the_kgateway_proxy_reads_its_loopback_admin() -> None:
    """R13.2, R13.8: `wget -qO- http://127.0.0.1:19000/clusters` works inside kgateway's proxy."""
    cluster, admin = _world()
    admin.flavour = FLAVOURS["kgateway"]
    cluster.pod_ports[(NS, GW)] = {19000: PodPort(handler=admin, loopback_only=True)}
    r = _run(cluster, KGW_IMAGE, GW, "wget", "-qO-", "http://127.0.0.1:19000/clusters")
    assert r.exit_code == 0 and b"::default_priority::max_connections::1024\n" in r.stdout
    refused = _run(cluster, KGW_IMAGE, GW, "wget", "-O-", "127.0.0.1:15000/stats")
    assert refused.exit_code == 4 and b"Connection refused" in refused.stderr
    missing = _run(cluster, KGW_IMAGE, GW, "wget", "-qO-", "http://localhost:19000/nope")
    assert missing.exit_code == 8 and missing.stdout == b""
