"""Multicluster global services: the concepts page's multicluster scenario on the ``two-clusters`` topology
(R9.1 namespace sameness across peered clusters, R9.2 PreferNetwork failover), through the real kubectl
against both kubeconfig contexts and real HTTP to cluster 1's gateway listener."""

from __future__ import annotations

import argparse
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dataplane_helpers import HERE, KUBECTL, ROUTE, Guide

from ambient_lb.sim.process import Simulator, running_simulator, running_simulator_process
from ambient_lb.sim.process import main as sim_main

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

SPEED = 50.0
REMOTE = "ambient-lb-sim-cluster2"
# the guide's route, sent to the global hostname instead of the local Service (R9.1)
GLOBAL_ROUTE = ROUTE.replace(
    "backendRefs: [{name: in-ambient, port: 8000}]",
    "backendRefs: [{group: networking.istio.io, kind: Hostname, name: in-ambient.httpbin.mesh.internal, port: 8000}]")
assert GLOBAL_ROUTE != ROUTE


class Remote(Guide):
    """kubectl against cluster 2's context; ``synced`` waits for cluster 2's istiod."""

    def __init__(self, sim: Simulator, context: str) -> None:
        super().__init__(sim)
        self.context = context

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return super().kubectl("--context", self.context, *args, input=input, check=check)

    def synced(self, timeout: float = 30.0) -> None:
        done = threading.Event()
        cluster = self.sim.contexts[self.context]
        rv = cluster.store.resource_version
        self.sim.loop.call_soon_threadsafe(cluster.extensions["istiod"].when_pushed, rv, done.set)
        assert done.wait(timeout), "cluster 2's istiod did not push within the timeout"


@pytest.fixture
def clusters() -> Iterator[tuple[Guide, Remote]]:
    """The guide in cluster 1 (gateway + in-ambient ×3), in-ambient ×2 in cluster 2; httpbin global in both."""
    with running_simulator(seed=7, speed=SPEED, topology="two-clusters") as sim:
        local, remote = Guide(sim), Remote(sim, REMOTE)
        local.install()
        app = [d for d in yaml.safe_load_all((HERE / "in-ambient.yaml").read_text()) if d]
        for d in app:
            if d["kind"] == "Deployment":
                d["spec"]["replicas"] = 2
            if d["kind"] == "Namespace":  # R9.1: the Namespace label makes every Service in it global
                d["metadata"]["labels"]["solo.io/service-scope"] = "global"
        remote.apply(yaml.safe_dump_all(app))
        remote.kubectl("rollout", "status", "deployment/in-ambient", "-n", "httpbin", "--timeout=60s")
        local.kubectl("label", "service", "in-ambient", "-n", "httpbin", "solo.io/service-scope=global")  # R9.1
        local.apply(GLOBAL_ROUTE)
        local.kubectl("wait", "-n", "httpbin", "httproute/in-ambient", "--for=jsonpath={.status.parents[0]"
                      ".conditions[?(@.type=='ResolvedRefs')].status}=True", "--timeout=30s")
        remote.synced()
        local.synced()
        yield local, remote


def test_global_service_sends_everything_to_the_local_network_while_a_local_pod_is_healthy(
        clusters: tuple[Guide, Remote]) -> None:
    """R9.1, R9.2: the HTTPRoute's Hostname backend in-ambient.httpbin.mesh.internal spans both clusters
    (same-named Service in the same-named namespace), and with the Solo default PreferNetwork every
    request through cluster 1's gateway is answered by a cluster-1 pod."""
    local, remote = clusters
    assert local.kubectl("config", "current-context").strip() == "ambient-lb-sim"
    local_pods, remote_pods = set(local.pod_names()), set(remote.pod_names())
    assert len(local_pods) == 3 and len(remote_pods) == 2 and not local_pods & remote_pods
    answered = local.hostnames(12)
    assert set(answered) <= local_pods and len(set(answered)) > 1, answered


def test_global_service_fails_over_to_the_remote_cluster_and_back(clusters: tuple[Guide, Remote]) -> None:
    """R9.2: when no cluster-1 endpoint is healthy (deployment scaled to 0), traffic fails over whole to
    cluster 2, reached through its east-west gateway (R9.1; the remote ztunnel logs the requests); once
    cluster 1's pods are back, traffic returns to the local network."""
    local, remote = clusters
    remote_pods = set(remote.pod_names())
    local.kubectl("scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=0")
    local.kubectl("wait", "--for=delete", "pod", "-l", "app=in-ambient", "-n", "httpbin", "--timeout=60s")
    local.synced()
    answered = local.hostnames(10)
    assert set(answered) <= remote_pods and len(answered) == 10, answered
    ztunnels = remote.pod_names("istio-system", "app=ztunnel")
    logs = "".join(remote.kubectl("logs", "-n", "istio-system", z) for z in ztunnels)
    assert logs.count('direction="inbound"') >= 10 and "in-ambient.httpbin.mesh.internal" in logs
    local.kubectl("scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=3")
    local.kubectl("rollout", "status", "deployment/in-ambient", "-n", "httpbin", "--timeout=60s")
    local.synced()
    back = local.hostnames(10)
    assert set(back) <= set(local.pod_names()), back


def test_not_ready_local_pods_fail_over_to_the_remote_cluster(clusters: tuple[Guide, Remote]) -> None:
    """R9.2, R6.3: local pods marked not ready (fault.ambient-lb.dev/ready=false) are not healthy
    endpoints, so the global service is served by cluster 2; clearing the fault brings traffic home."""
    local, remote = clusters
    pods = local.pod_names()
    for pod in pods:
        local.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/ready=false")
    local.kubectl("wait", "--for=condition=Ready=false", "pod", "-l", "app=in-ambient", "-n", "httpbin",
                  "--timeout=60s")
    local.synced()
    assert set(local.hostnames(8)) <= set(remote.pod_names())
    for pod in pods:
        local.kubectl("annotate", "pod", "-n", "httpbin", pod, "fault.ambient-lb.dev/ready-")
    local.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=in-ambient", "-n", "httpbin", "--timeout=60s")
    local.synced()
    assert set(local.hostnames(8)) <= set(pods)


def test_any_mode_on_the_global_service_spreads_over_both_clusters(clusters: tuple[Guide, Remote]) -> None:
    """R9.2, R5.8 [solo]: PreferNetwork is only the default; the Solo mode ``Any`` on the Service lets
    ZT(GW) choose among the healthy endpoints of both clusters."""
    local, remote = clusters
    local.kubectl("annotate", "service", "in-ambient", "-n", "httpbin", "networking.istio.io/traffic-distribution=Any")
    local.synced()
    answered = set(local.hostnames(30))
    assert answered & set(local.pod_names()) and answered & set(remote.pod_names()), answered


def test_hostname_backend_without_a_global_service_is_not_resolved(clusters: tuple[Guide, Remote]) -> None:
    """R9.1: a Hostname backendRef resolves only to a global service some cluster exports; otherwise
    the route's ResolvedRefs is False with reason BackendNotFound."""
    local, _ = clusters
    local.apply(GLOBAL_ROUTE.replace("in-ambient.httpbin.mesh.internal", "nothing.httpbin.mesh.internal"))
    local.kubectl("wait", "-n", "httpbin", "httproute/in-ambient", "--for=jsonpath={.status.parents[0]"
                  ".conditions[?(@.type=='ResolvedRefs')].reason}=BackendNotFound", "--timeout=30s")


def test_no_healthy_endpoint_in_any_cluster_gives_503(clusters: tuple[Guide, Remote]) -> None:
    """R9.2, R7.3: with every cluster's deployment at 0 the global service has nothing to choose; ZT(GW)
    closes the connection and the gateway answers 503 (flag UC)."""
    local, remote = clusters
    for g in (local, remote):
        g.kubectl("scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=0")
        g.kubectl("wait", "--for=delete", "pod", "-l", "app=in-ambient", "-n", "httpbin", "--timeout=60s")
        g.synced()
    status, _, _ = local.request()
    assert status == 503
    assert " 503 UC " in local.kubectl("logs", "-n", "kgateway-system", local.gateway_pod()).splitlines()[-1]


def test_sim_up_with_two_clusters_writes_a_context_per_cluster_and_status_lists_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The background simulator (``sim up --topology two-clusters``) serves each cluster on its own port:
    one kubeconfig context per cluster, the first current, and ``sim status`` names both."""
    kubeconfig = tmp_path / "kubeconfig"
    with running_simulator_process(topology="two-clusters", speed=SPEED, workdir=tmp_path) as sim:
        assert list(sim.contexts) == ["ambient-lb-sim", REMOTE]
        kubectl = [KUBECTL, "--kubeconfig", str(kubeconfig)]
        current = subprocess.run([*kubectl, "config", "current-context"], capture_output=True, text=True, check=True)
        assert current.stdout.strip() == "ambient-lb-sim"
        nodes = subprocess.run([*kubectl, "--context", REMOTE, "get", "nodes", "-o", "name"], capture_output=True,
                               text=True, check=True)
        assert nodes.stdout.split() == ["node/cluster2-worker", "node/cluster2-worker2"]
        assert sim_main(argparse.Namespace(sim_command="status", kubeconfig=str(kubeconfig))) == 0
        assert f"context {REMOTE}: {sim.contexts[REMOTE]}" in capsys.readouterr().out
