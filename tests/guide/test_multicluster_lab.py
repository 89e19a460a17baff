"""Notebook 08, the multicluster lab: its parameters, its two clusters, and checks that can fail.

The steps run against an in-thread ``two-clusters`` simulator with cluster-shaped params (the two
contexts from ``multicluster.contexts``, as on a real target); the tests then break the simulator's
model on purpose (R9.2 PreferNetwork, R9.1 the east-west gateway) and see the notebook's checks fail.
The last tests run the notebook itself: alone and twice in a row on the simulator path (it starts its
second simulator and stops it), and against ``sim up --strict`` with the params a user of two kind
clusters writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ambient_lb import guide
from ambient_lb.errors import CheckFailed, ParameterError
from ambient_lb.guide import global_failover, two_clusters
from ambient_lb.helm import Helm
from ambient_lb.params import load_params
from ambient_lb.simulator import DEFAULT_KUBECONFIG as SIM_KUBECONFIG
from ambient_lb.simulator import topology_kubeconfig

SETUP = ("peered_clusters", "kgateway_in_cluster1", "app_in_both_clusters", "route_to_global_service")
REMOTE = "ambient-lb-sim-cluster2"


@pytest.fixture(autouse=True)
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")


# ---- parameters and the two clusters, no cluster needed ----------------------------------------------


@pytest.mark.parametrize("contexts", [["kind-a"], ["kind-a", "kind-a"], ["a", "b", "c"]])
def test_multicluster_contexts_must_be_two_different_contexts_with_an_example(contexts: list[str]) -> None:
    with pytest.raises(ParameterError, match=r"multicluster\.contexts: needs exactly two different contexts.*"
                                             r"multicluster\.contexts: \[kind-cluster1, kind-cluster2\]"):
        load_params(None, {"multicluster.contexts": contexts})


def test_on_a_cluster_notebook_08_without_contexts_stops_at_its_first_step_saying_what_to_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = guide.open_run("", "t", target="cluster", kube__context="kind-ambient")
    with pytest.raises(CheckFailed, match=r"two peered clusters named in the params: multicluster\.contexts is "
                                          r"not set.*multicluster\.contexts: \[kind-cluster1, kind-cluster2\]"):
        guide.peered_clusters(run)
    assert run.results[-1].commands == []  # nothing ran, on any cluster


def test_the_second_simulator_gets_a_kubeconfig_beside_each_main_simulator() -> None:
    home = Path("/home/u/.ambient-lb/sim/kubeconfig")
    assert two_clusters.second_simulator_kubeconfig(home) == Path("/home/u/.ambient-lb/sim-two-clusters/kubeconfig")
    attendee = Path("/runs/room/attendee-01/sim/kubeconfig")
    assert two_clusters.second_simulator_kubeconfig(attendee) == \
        Path("/runs/room/attendee-01/sim-two-clusters/kubeconfig")
    # beside the default main simulator, it is where `sim up --topology two-clusters` writes unless told,
    # so notebook 08 shows that command without --kubeconfig
    assert two_clusters.second_simulator_kubeconfig(SIM_KUBECONFIG) == topology_kubeconfig("two-clusters")
    assert two_clusters._names_it(topology_kubeconfig("two-clusters").expanduser()) == ["--topology", "two-clusters"]
    assert two_clusters._names_it(attendee.parent.with_name("sim-two-clusters") / "kubeconfig") == [
        "--topology", "two-clusters", "--kubeconfig", "/runs/room/attendee-01/sim-two-clusters/kubeconfig"]


def test_every_command_of_notebook_08_names_its_cluster(tmp_path: Path) -> None:
    kube = two_clusters.ContextKube("kind-cluster2", tmp_path / "kubeconfig")
    assert kube.argv("get", "pods") == ["kubectl", "--context", "kind-cluster2", "get", "pods"]
    helm = two_clusters.context_helm(Helm(kube, standin=True))
    assert helm.argv("status", "x") == ["helm", "--kube-context", "kind-cluster2", "status", "x"]


# ---- the steps on two simulated clusters, and the model broken on purpose -----------------------------
# The tests that use ``two_cluster_run`` are marked slow: two clusters and four steps take seconds.


@pytest.fixture
def two_cluster_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """Steps 08.1-08.4 done on an in-thread two-cluster simulator, reached as a cluster target is."""
    from ambient_lb.sim.process import running_simulator

    monkeypatch.setenv("LICENSE_KEY", "multicluster-test-license")
    monkeypatch.setenv("HOME", str(tmp_path))
    with running_simulator(seed=42, speed=10.0, topology="two-clusters") as sim:
        run = guide.open_run("", "mc-test", target="cluster", manifests="bundled", kube__context="ambient-lb-sim",
                             kube__kubeconfig=str(sim.kubeconfig),
                             multicluster__contexts=["ambient-lb-sim", REMOTE])
        for step in SETUP:
            getattr(guide, step)(run)
        yield run, sim


def _failed(run: Any) -> list[str]:
    return [c.name for c in run.results[-1].checks if not c.ok]


@pytest.mark.slow
def test_prefer_network_fails_when_the_model_spills_traffic_to_the_other_network(two_cluster_run) -> None:
    """R9.2: with a healthy pod in cluster1 nothing may go to cluster2. A model that balanced the global
    service with Any instead of PreferNetwork must fail step 08.5, not pass it."""
    from ambient_lb.sim.mesh.model.locality import resolve_mode

    run, sim = two_cluster_run
    guide.prefer_network(run)  # the model as it is: passes
    peering = sim.cluster.extensions["peering"]
    spill = resolve_mode(None, {"networking.istio.io/traffic-distribution": "Any"}, {}, distribution="solo")
    sim.call(lambda: setattr(peering, "mode", lambda members, local: spill))
    with pytest.raises(CheckFailed):
        guide.prefer_network(run)
    assert "every request answered by cluster1" in _failed(run)


@pytest.mark.slow
def test_the_ztunnel_proof_fails_when_remote_traffic_skips_the_east_west_gateway(two_cluster_run) -> None:
    """R9.1: another network is reached through its east-west gateway. A model whose gateway ztunnel
    connected straight to a cluster2 pod must fail step 08.7's east-west check."""
    run, sim = two_cluster_run
    peering = sim.cluster.extensions["peering"]
    pod_ip = global_failover.app_pods(two_clusters.clusters(run).remote)[0]["status"]["podIP"]
    sim.call(lambda: setattr(peering, "east_west_address", lambda cluster: pod_ip))
    guide.failover_to_cluster2(run)
    with pytest.raises(CheckFailed):
        guide.ztunnel_proof(run)
    assert _failed(run) == ["cluster1: through an address that is not a cluster2 pod (its east-west gateway)"]


# ---- the notebook itself ------------------------------------------------------------------------------



def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.notebooks
def test_notebook_08_runs_alone_twice_and_stops_the_simulator_it_started(sim_params, run_guide, tmp_path):
    home = Path(sim_params).parent / "home"
    second = home / ".ambient-lb" / "sim-two-clusters" / "kubeconfig"
    for name in ("once", "twice"):
        out = tmp_path / name
        assert run_guide(sim_params, out, "--only", "08") == 0, (out / "summary.json").read_text()
        steps = _summary(out)["notebooks"][0]["steps"]
        assert [s["step"] for s in steps] == [f"08.{i}" for i in range(1, 14)]
        skips = [c["name"] for s in steps for c in s["checks"] if c["status"] == "SKIP"]
        assert len(skips) == 3, skips  # the three things the simulator does not model, said and skipped
        status = subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "status", "--kubeconfig",
                                 str(second)], capture_output=True, text=True, timeout=60)
        assert status.returncode == 1, status.stdout  # 08 started it, so 08 stopped it


@pytest.mark.notebooks
def test_notebook_08_passes_on_a_strict_two_cluster_simulator_with_two_kind_contexts_in_params(
        run_guide, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The cluster path: the contexts come from params, and the strict simulator ignores every
    simulator-only switch, so 08 uses only what two peered clusters offer."""
    kubeconfig = tmp_path / "kube" / "config"
    sim = [sys.executable, "-m", "ambient_lb.cli", "sim"]
    up = subprocess.run([*sim, "up", "--strict", "--topology", "two-clusters", "--kubeconfig", str(kubeconfig),
                         "--seed", "42", "--speed", "10"], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    try:
        params = tmp_path / "two-kind-clusters.yaml"
        params.write_text(f"target: cluster\nmanifests: bundled\nkube:\n  context: ambient-lb-sim\n"
                          f"  kubeconfig: {kubeconfig}\nmulticluster:\n  contexts: [ambient-lb-sim, {REMOTE}]\n")
        monkeypatch.setenv("LICENSE_KEY", "strict-multicluster-license-51c2")
        out = tmp_path / "run"
        assert run_guide(params, out, "--only", "08") == 0, (out / "summary.json").read_text()
        shown = (out / "08-multicluster-failover.ipynb").read_text()
        assert "fault.ambient-lb.dev" not in shown and "strict-multicluster-license-51c2" not in shown
        assert f"kubectl --context {REMOTE} " in shown and "helm --kube-context ambient-lb-sim " in shown
    finally:
        subprocess.run([*sim, "down", "--kubeconfig", str(kubeconfig)], capture_output=True, timeout=60)
