"""Notebook 01 (guide step 1): Gateway API CRDs, kgateway with helm, the Gateway and its address."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .. import manifests, shell
from ..checks import check, poll
from ..errors import NotFound
from ..helm import Helm
from .cluster import apply, get_json, kubectl, quietly, wait_condition
from .prerequisites import license_secret
from .run import SIMULATOR_CONFIGMAP, Run, Step, do_step, seconds


def gateway_api_crds(run: Run) -> None:
    """Step 01.1: deploy the Kubernetes Gateway API CRDs and check they are established."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        if p.manifests_source == "bundled":  # e.g. the simulator's machine, which has no internet
            from ..manifests.command import text  # the `ambient-lb manifests` CLI (argparse): loaded on use

            s.note("With manifests: bundled (the default on the simulator, which has no internet) the "
                   f"runbook applies the project's own copy of the Gateway API {p.gateway_api.version} "
                   f"CRDs; with manifests: upstream it applies {p.gateway_api.url}.")
            run.kube.kubectl("apply", "--server-side", "-f", "-", input=text("gateway-api-crds"),
                             timeout=120, shown_as="ambient-lb manifests gateway-api-crds | kubectl apply "
                                                   "--server-side -f -")
        else:
            kubectl(run, "apply", "--server-side", "-f", p.gateway_api.url, timeout=120)

    def verify(run: Run, s: Step) -> None:
        for crd in ("gatewayclasses", "gateways", "httproutes"):
            name = f"{crd}.gateway.networking.k8s.io"
            wait_condition(run, s, f"CRD {name} Established", "crd", name, "", "Established",
                           p.timeouts.command, "kubectl get crd " + name)
    do_step(run, "01.1", "Deploy the Kubernetes Gateway API CRDs", act, verify)


@contextlib.contextmanager
def values_file(run: Run) -> Iterator[Path]:
    """The guide's ``enterprise-kgateway.yaml`` values file, for as long as helm needs it: mode 0600 in a
    fresh private directory (0700, a name nobody can guess or plant first), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"ambient-lb-{run.run_id}-") as work:
        path = Path(work) / "enterprise-kgateway.yaml"
        integration = run.params.kgateway.istio_integration
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": integration}}}, fh,
                           sort_keys=False)
        yield path


def kgateway_crds(run: Run) -> None:
    """Step 01.2: deploy the Solo Enterprise for kgateway CRDs with helm and check the release is deployed."""
    k = run.params.kgateway

    def act(run: Run, s: Step) -> None:
        set_values = {"installExtAuthCRDs": k.install_ext_auth_crds,
                      "installRateLimitCRDs": k.install_rate_limit_crds,
                      "installEnterpriseListenerSetCRD": k.install_enterprise_listener_set_crd}
        helm_install(run, k.crds_release, k.crds_chart, set_values=
                     {a: b for a, b in set_values.items() if b is False})
        if run.sim:
            s.note("helm does not run on the simulator: the simulator stands in for the chart and "
                   "the runbook records the release as helm would.")
    def verify(run: Run, s: Step) -> None:
        s.add(release_deployed(run, k.crds_release))
    do_step(run, "01.2", "Deploy the Solo Enterprise for kgateway CRDs", act, verify)


def helm(run: Run) -> Any:
    """helm for this run: the simulator's chart stand-in when the cluster is the simulator (there is no
    chart registry on its machine), the real helm anywhere else. ``run.simulator`` is None also when the
    cluster did not answer: then it is asked once more, so the step fails with why (the API server did not
    answer), not later with "helm is not installed"."""
    if run.simulator is None and "_simulator" not in run.state:
        with contextlib.suppress(NotFound):
            run.kube.read("configmap", SIMULATOR_CONFIGMAP, "kube-public")
    return Helm(run.kube, standin=run.simulator is not None,
                timeout=max(300.0, run.params.timeouts.command.seconds))


def release_deployed(run: Run, release: str) -> Any:
    """A check that ``helm status`` reports the release as deployed (on sim: from its release Secret)."""
    ns = run.params.namespaces.kgateway
    try:
        st = helm(run).status(release, namespace=ns)
    except NotFound as exc:
        return check(f"helm release {release} deployed", False, str(exc), f"helm list -n {ns}")
    return check(f"helm release {release} deployed", st.status == "deployed",
                 f"revision {st.revision}, status {st.status}, chart {st.chart}-{st.version}",
                 f"helm status {release} -n {ns} (a failed install shows its error there)")


def kgateway(run: Run) -> None:
    """Step 01.3: install Solo Enterprise for kgateway with helm and check the control plane runs."""
    k = run.params.kgateway

    def act(run: Run, s: Step) -> None:
        with values_file(run) as path:
            shell.record(shell.CommandResult(["cat"], 0, "", "", f"cat <<EOF > {path.name}\n"
                                             f"{path.read_text().rstrip()}\nEOF"))
            helm_install(run, k.release, k.chart, values_files=(path.name,), license=license_secret(run),
                         cwd=path.parent)

    def verify(run: Run, s: Step) -> None:
        ns = run.params.namespaces.kgateway
        s.add(release_deployed(run, k.release))
        res = kubectl(run, "rollout", "status", f"deployment/{k.release}", "-n", ns,
                      f"--timeout={int(seconds(run.params.timeouts.rollout))}s", check=False,
                      timeout=seconds(run.params.timeouts.rollout) + 10)
        s.add(check("the kgateway control plane is running", res.returncode == 0,
                    res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "not rolled out",
                    f"kubectl logs -n {ns} deploy/{k.release} (a bad license key shows there)",
                    res.stderr.strip()[:300]))
        kubectl(run, "get", "pods", "-n", ns)  # the guide's check, once the rollout is done
    do_step(run, "01.3", "Install Solo Enterprise for kgateway", act, verify)


def helm_install(run: Run, release: str, chart: str, *, values_files: tuple[str, ...] = (),
                 set_values: dict[str, Any] | None = None, license: Any = None,
                 cwd: Path | None = None) -> Any:
    """``helm upgrade -i`` through ``helm.Helm`` (on the simulator: its chart stand-in)."""
    secret_values = {"licensing.licenseKey": license} if license is not None else {}
    return helm(run).upgrade_install(
        release, chart, version=run.params.kgateway.version,
        namespace=run.params.namespaces.kgateway, create_namespace=True,
        values_files=list(values_files), set_values=set_values or None,
        secret_values=secret_values or None, cwd=cwd)


def ambient_namespace(run: Run) -> None:
    """Step 01.4: label the kgateway namespace into the ambient mesh and check it is."""
    ns = run.params.namespaces.kgateway

    def act(run: Run, s: Step) -> None:
        kubectl(run, "label", "ns", ns, "istio.io/dataplane-mode=ambient", "--overwrite")

    def verify(run: Run, s: Step) -> None:
        labels = ((get_json(run, "namespace", ns) or {}).get("metadata", {}).get("labels", {}))
        mode = labels.get("istio.io/dataplane-mode")
        s.add(check(f"namespace {ns} is in the ambient mesh", mode == "ambient",
                    f"istio.io/dataplane-mode={mode}", f"kubectl label ns {ns} "
                    "istio.io/dataplane-mode=ambient --overwrite"))
    do_step(run, "01.4", f"Add {ns} to the ambient mesh", act, verify)


def gateway(run: Run) -> None:
    """Step 01.5: create the ingress Gateway and check it is programmed."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("gateway", p, run.run_id))

    def verify(run: Run, s: Step) -> None:
        wait_condition(run, s, f"Gateway {p.gateway.name} Programmed", "gateway", p.gateway.name,
                       p.namespaces.kgateway, "Programmed", p.timeouts.gateway_ready,
                       f"kubectl describe gateway {p.gateway.name} -n {p.namespaces.kgateway}; "
                       f"is the GatewayClass {p.gateway.class_name} accepted?")
        kubectl(run, "get", "gateway", p.gateway.name, "-n", p.namespaces.kgateway)
    do_step(run, "01.5", f"Create the Gateway {p.gateway.name}", act, verify)


def gateway_address(run: Run) -> None:
    """The gateway's LoadBalancer address in ``$KGATEWAY_IP``, or the guide's port-forward without one."""
    def act(run: Run, s: Step) -> None:
        export_address(run)
        s.note(f"The listener is on port {run.params.gateway.port}: the guide's curl "
               f"http://$KGATEWAY_IP/hostname (port 80) reaches it only where the Service maps "
               f"port 80; the runbook always uses http://$KGATEWAY_IP:{run.params.gateway.port}.")

    def verify(run: Run, s: Step) -> None:
        s.add(poll("the gateway address accepts connections",
                   lambda: _tcp_open(run.state["address"]), timeout=15, interval=0.2,
                   hint="kubectl get svc -n kgateway-system; on a cluster without a load "
                        "balancer the runbook port-forwards"))
    do_step(run, "01.6", "Get the gateway address", act, verify)


def export_address(run: Run) -> str:
    """The guide's ``export KGATEWAY_IP=...`` and ``echo $KGATEWAY_IP`` (shown), found afresh; the
    kernel's environment gets it too, so a ``!curl ... $KGATEWAY_IP`` cell reaches the gateway."""
    run.state.pop("address", None)
    address = find_address(run, show=True)
    host = address.rsplit(":", 1)[0]
    os.environ["KGATEWAY_IP"] = host
    shell.record(shell.CommandResult(["echo"], 0, host + "\n", "", "echo $KGATEWAY_IP"))
    return address


GUIDE_JSONPATH = "{.status.loadBalancer.ingress[0]['hostname','ip']}"


def find_address(run: Run, show: bool = False) -> str:
    """``host:port`` of the gateway listener (service status, else a port-forward).

    Shown (``show``) as the guide's ``export KGATEWAY_IP=$(kubectl get svc ...)``."""
    p = run.params
    if "address" in run.state:
        return run.state["address"]
    res = quietly(run, "get", "svc", "-n", p.namespaces.kgateway, p.gateway.name,
                  f"-o=jsonpath={GUIDE_JSONPATH}")
    host = res.stdout.strip()
    if show and host:
        shell.record(shell.CommandResult(res.args, 0, "", "", "export KGATEWAY_IP=$(kubectl get svc -n "
                                         f"{p.namespaces.kgateway} {p.gateway.name} "
                                         f'-o=jsonpath="{GUIDE_JSONPATH}")'))
    run.state["address"] = f"{host}:{p.gateway.port}" if host else _port_forward(run)
    return run.state["address"]


def _port_forward(run: Run) -> str:
    """The guide's ``kubectl port-forward ... 8080:8080 &`` then ``export KGATEWAY_IP=localhost``,
    kept open for the kernel's life."""
    p = run.params
    pf = run.kube.port_forward(f"deployment/{p.gateway.name}", p.gateway.port, p.gateway.port,
                               namespace=p.namespaces.kgateway, timeout=p.timeouts.port_forward)
    run.state["port_forward"] = pf
    address = pf.__enter__()
    shell.record(shell.CommandResult(["export"], 0, "", "", "export KGATEWAY_IP=localhost"))
    return address.replace("127.0.0.1:", "localhost:", 1)


def _tcp_open(address: str) -> tuple[bool, str]:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2):
        return True, f"{address} accepts TCP connections"
