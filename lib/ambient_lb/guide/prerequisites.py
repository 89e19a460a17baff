"""Notebook 00: tools, the simulator, the cluster, the ambient mesh, the license key."""

from __future__ import annotations

import sys
from typing import Any

from .. import shell
from ..checks import check, from_wait, skipped
from ..shell import Secret, display_line, display_path, secret_value
from ..shell import run as sh
from .cluster import get_json, items, kubectl, quietly
from .run import SIM_KUBECONFIG, Run, Step, do_step

DEMO_LICENSE = "ambient-lb-sim-demo-license"  # accepted by the simulator's kgateway only


def tools(run: Run) -> None:
    """kubectl present (helm too on a cluster), with versions."""
    def act(run: Run, s: Step) -> None:
        res = kubectl(run, "version", "--client", check=False)
        s.add(check("kubectl installed", res.returncode == 0,
                    res.stdout.splitlines()[0] if res.stdout else "kubectl not found",
                    "install kubectl (see `ambient-lb` README) and re-run"))
        if run.sim or run.simulator is not None:
            s.add(skipped("helm installed", "not needed on the simulator: it stands in for the charts"))
            return

        res = sh(["helm", "version", "--short"], timeout=30, check=False)
        s.add(check("helm installed", res.returncode == 0, res.stdout.strip(),
                    "install helm 3: https://helm.sh/docs/intro/install/"))
    do_step(run, "00.1", "Tools", act, None)


def simulator(run: Run) -> None:
    """On ``sim``: start the cluster-in-a-box unless it is already running."""
    def act(run: Run, s: Step) -> None:
        if not run.sim:
            s.add(skipped("simulator", "target is a cluster"))
            return
        ensure_simulator(run)
        s.note(f"The simulator is a model of the real system (rules in semantics.md). Use it from "
               f"a terminal too: export KUBECONFIG={run.kubeconfig_shown}")

    def verify(run: Run, s: Step) -> None:
        if run.sim:
            res = quietly(run, "get", "--raw", "/readyz", check=False)
            s.add(check("simulator answers", res.returncode == 0 and "ok" in res.stdout,
                        f"/readyz: {res.stdout.strip() or res.stderr.strip()[:200]}",
                        "run `ambient-lb sim up` in a terminal and read its log"))
    do_step(run, "00.2", "Simulator", act, verify)


def ensure_simulator(run: Run) -> None:
    """``ambient-lb sim up`` (idempotent: it reports a running simulator instead of a second one)."""
    sim = run.params.sim
    where = [] if run.kubeconfig == SIM_KUBECONFIG.expanduser() else ["--kubeconfig", str(run.kubeconfig)]
    flags = ["--seed", str(sim.seed), "--speed", f"{sim.speed:g}"]
    if sim.topology:
        flags += ["--topology", str(sim.topology)]
    argv = [sys.executable, "-m", "ambient_lb.cli", "sim", "up", *where, *flags]
    shown = ["ambient-lb", "sim", "up", *[display_path(a) if a == str(run.kubeconfig) else a for a in where], *flags]
    sh(argv, timeout=120, display=display_line(shown))


def cluster_reachable(run: Run) -> None:
    """``export KUBECONFIG`` (when the params name one), the current context is the params' one,
    and the API server answers. Every later command relies on the first two, so none repeats
    ``--kubeconfig`` or ``--context``: copied into a terminal after this step, each runs as shown."""
    def act(run: Run, s: Step) -> None:
        want = run.params.context
        if run.kubeconfig_shown is not None:
            run.export_kubeconfig()
            shell.record(shell.CommandResult(["export"], 0, "", "", f"export KUBECONFIG={run.kubeconfig_shown}"))
        res = kubectl(run, "config", "current-context", check=False)
        current = res.stdout.strip()
        s.add(check(f"the current context is {want}", res.returncode == 0 and current == want,
                    f"kubectl config current-context: {current or res.stderr.strip()[:200]}",
                    f"kubectl config use-context {want}   (or set kube.context in params to the "
                    "cluster you mean)"))
        if res.returncode != 0 or current != want:
            return
        res = kubectl(run, "version", check=False)
        server = [ln for ln in res.stdout.splitlines() if ln.startswith("Server Version")]
        s.add(check(f"context {want} reachable", res.returncode == 0 and bool(server),
                    server[0] if server else res.stderr.strip()[:200],
                    "check that the cluster is up: kubectl get nodes"))
    do_step(run, "00.3", "The cluster is reachable", act, None)


def ambient_mesh(run: Run) -> None:
    """istiod running, a ztunnel (and the istio-cni agent) ready on every node, the Istio CRDs installed.

    The readiness checks watch until they hold (bounded by ``timeouts.pods_ready``): a mesh that is still
    coming up, as on a simulator just started, settles first, so the pod listing shows it running. On a
    mesh that is up they return at once; one that never gets there fails with the last state seen."""
    def act(run: Run, s: Step) -> None:
        ns = run.params.namespaces.istio
        timeout = run.params.timeouts.pods_ready
        nodes = len(items(run, "nodes"))
        s.add(from_wait("istiod available", lambda: run.kube.wait_for(
            "deployment", "istiod", ns, lambda o: _available(o) >= 1, lambda o: f"{_available(o)} available",
            timeout=timeout, what="an available replica"),
            detail=lambda o: f"{_available(o)} replica(s) available",
            hint="install Istio ambient (Gloo Operator or Helm) before this guide"))
        s.add(_daemonset_ready(run, ns, "ztunnel", "a ztunnel ready on every node", "a ready ztunnel", nodes, timeout))
        if get_json(run, "daemonset", "istio-cni-node", ns) is not None:
            s.add(_daemonset_ready(run, ns, "istio-cni-node", "the istio-cni agent ready on every node",
                                   "a ready istio-cni agent", nodes, timeout))
        kubectl(run, "get", "pods", "-n", ns, "-o", "wide")
        crd = get_json(run, "crd", "destinationrules.networking.istio.io")
        s.add(check("Istio CRDs installed", crd is not None,
                    "destinationrules.networking.istio.io present" if crd else "missing",
                    "install Istio's base chart (CRDs)"))
    do_step(run, "00.4", "The ambient mesh is there", act, None)


def _available(deployment: dict[str, Any] | None) -> int:
    return ((deployment or {}).get("status") or {}).get("availableReplicas") or 0


def _daemonset_ready(run: Run, ns: str, name: str, check_name: str, per_node: str, nodes: int,
                     timeout: Any) -> Any:
    """Watch a DaemonSet until every node has a ready pod of it (numberReady == nodes)."""
    def ready(ds: dict[str, Any] | None) -> int:
        return ((ds or {}).get("status") or {}).get("numberReady") or 0

    return from_wait(check_name, lambda: run.kube.wait_for(
        "daemonset", name, ns, lambda o: o is not None and nodes > 0 and ready(o) == nodes,
        lambda o: f"{ready(o)} of {nodes} nodes have {per_node}", timeout=timeout, what=f"{per_node} on every node"),
        detail=lambda o: f"{ready(o)} of {nodes} nodes have {per_node}",
        hint=f"kubectl get ds {name} -n {ns}; kubectl describe ds {name} -n {ns}")


def license_key(run: Run) -> None:
    """The license key variable is set (on sim, a demo key is used when it is not)."""
    def act(run: Run, s: Step) -> None:
        var = run.params.license.env_var
        present = bool(secret_value(var).strip())
        if present:
            s.add(check("license key available", True, f"${var} is set (its value is never shown)"))
        elif run.sim:
            s.add(check("license key available", True,
                        f"${var} is not set: the simulator's demo key will be used"))
            s.note(f"${var} is not set. On the simulator the runbook uses a demo key instead; on a "
                   f"real cluster, export {var}=<license-key> before starting Jupyter.")
        else:
            s.add(check("license key available", False, f"${var} is not set",
                        f"export {var}=<license-key> in the shell that starts Jupyter/papermill "
                        "(ask your Solo account representative), then restart the kernel"))
    do_step(run, "00.5", "The license key", act, None)


def license_secret(run: Run) -> Any:
    """The key as a ``shell.Secret`` (redacted everywhere); the demo key on sim when unset."""
    var = run.params.license.env_var
    if run.sim and not secret_value(var).strip():
        return Secret(DEMO_LICENSE, var)
    return run.params.license_secret()
