"""The guide's steps as functions the notebooks call: one cell, one call, one result.

Each public step function takes the :class:`Run` a notebook opened (``run = guide.open_run(...)``),
does the step with real kubectl/helm calls (``kube.py``, ``helm.py``) or API reads, checks it, and
shows a :class:`~ambient_lb.checks.StepResult` through ``ui.step`` — the commands run, what came
back, callouts where the guide differs from the real system (``semantics.md`` §10), and the checks.
A failed check raises ``CheckFailed`` after the result is shown, so a headless run stops there.

Steps are idempotent, and every notebook starts with :func:`prepare`, which makes sure the earlier
notebooks' state exists (fast when it does), so any notebook runs on its own and twice in a row.

Layout of this module: the run context, the step machinery, then the steps in guide order
(00 prerequisites, 01 install, 02 ingress routing, 03 waypoint, 04 failover, 05 cleanup).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from . import manifests, ui
from .checks import CheckResult, StepResult, check, from_wait, poll, skipped
from .errors import RunbookError

DEMO_LICENSE = "ambient-lb-sim-demo-license"  # accepted by the simulator's kgateway only
SIM_KUBECONFIG = Path("~/.ambient-lb/sim/kubeconfig")
RUN_LABEL = manifests.RUN_LABEL


# ---------------------------------------------------------------------------------------------
# The run context: params, kube client, run label, gateway address.


def load(path: str | None, overrides: Any = None) -> Any:
    """Validated params (``params.load_params``); bad input stops here, before any cluster call."""
    from .params import load_params

    return load_params(path or None, overrides or None)


def dump_params(params: Any) -> str:
    """The resolved params as YAML (no secrets exist in params: only the license env var's name)."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False)


@dataclass
class Run:
    """What every step needs; one per notebook kernel."""

    params: Any
    run_id: str
    interactive: bool | None = None
    state: dict[str, Any] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    _kube: Any = None

    @property
    def sim(self) -> bool:
        return self.params.target == "sim"

    @property
    def kubeconfig(self) -> Path | None:
        if self.params.kubeconfig is not None:
            return self.params.kubeconfig
        return SIM_KUBECONFIG.expanduser() if self.sim else None

    @property
    def kube(self) -> Any:
        if self._kube is None:
            from .kube import Kube

            self._kube = _make_kube(Kube, self)
        return self._kube

    def __repr__(self) -> str:
        p = self.params
        where = f"simulator (kubeconfig {self.kubeconfig})" if self.sim else \
            f"cluster context {p.context}"
        return (f"ambient-lb run {self.run_id!r} on the {where}\n"
                f"  gateway {p.namespaces.kgateway}/{p.gateway.name} port {p.gateway.port}, "
                f"app {p.namespaces.app}/{p.app.name} x{p.app.replicas}, "
                f"license from ${p.license.env_var}")


def _make_kube(kube_cls: Any, run: Run) -> Any:
    if hasattr(kube_cls, "from_params"):
        return kube_cls.from_params(run.params, kubeconfig=run.kubeconfig)
    return kube_cls(kubeconfig=run.kubeconfig, context=run.params.context)


def open_run(params_file: str = "", run_id: str = "ambient-lb", interactive: Any = "auto",
             **overrides: Any) -> Run:
    """The notebook's run: params from the file (or the sim defaults) plus keyword overrides.

    An empty ``params_file`` means ``$AMBIENT_LB_PARAMS`` if set (the tests and the regenerate
    tool point notebooks at a private simulator this way), else the built-in sim defaults.
    Overrides use ``__`` for dots: ``open_run(sim__speed=20)``.
    """
    flat = {k.replace("__", "."): v for k, v in overrides.items() if v is not None}
    path = params_file or os.environ.get("AMBIENT_LB_PARAMS", "")
    return Run(params=load(path or None, flat), run_id=run_id, interactive=_mode(interactive))


def _mode(interactive: Any) -> bool | None:
    """``auto``/None -> decided by ``AMBIENT_LB_HEADLESS``; yes/no (or a bool) -> forced."""
    if interactive is None or isinstance(interactive, bool):
        return interactive
    value = str(interactive).strip().lower()
    if value in ("auto", ""):
        return None
    if value in ("yes", "true", "1", "no", "false", "0"):
        return value in ("yes", "true", "1")
    from .errors import ParameterError

    raise ParameterError(f"interactive={interactive!r}: use auto, yes or no (e.g. interactive=\"auto\")")


# ---------------------------------------------------------------------------------------------
# Step machinery: a builder collects commands (via shell.CommandLog), notes and checks.


class Step:
    """Collects one step's commands, outputs, notes and checks while the step runs."""

    def __init__(self, number: str, title: str) -> None:
        self.result = StepResult(step=number, title=title)

    def show(self, text: str) -> None:
        self.result.output += text.rstrip("\n") + "\n"

    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def add(self, *checks: CheckResult) -> None:
        self.result.checks.extend(checks)

    def figure(self, fig: Any) -> None:
        """A matplotlib Figure shown (as a PNG) right after the step's result."""
        self.result.data.setdefault("figures", []).append(fig)

    def fail(self, name: str, exc: BaseException) -> None:
        """A command or wait inside the step raised: a failed check with its message and hint."""
        hint = getattr(exc, "hint", None) or "read the command output above; fix it and re-run"
        message = str(getattr(exc, "message", "") or exc).splitlines()
        self.add(CheckResult(name, False, message[0] if message else type(exc).__name__, hint,
                             "\n".join(message[1:])[:1000]))


Action = Callable[[Run, Step], None]


def _execute(run: Run, number: str, title: str, parts: list[Action]) -> StepResult:
    from .shell import CommandLog

    s = Step(number, title)
    with CommandLog() as log:
        for part in parts:
            try:
                part(run, s)
            except RunbookError as exc:
                s.fail("the step's commands succeeded", exc)
                break
    s.result.commands = [r.display for r in log]
    s.result.outputs = [_printed(r) for r in log]
    return s.result


def _printed(r: Any) -> str:
    return (r.stdout or "") + (r.stderr if getattr(r, "returncode", 0) else "")


def _step(run: Run, number: str, title: str, action: Action | None, verify: Action | None,
          knobs: dict[str, tuple[int, int, int]] | None = None) -> None:
    parts = [p for p in (action, verify) if p is not None]
    if run.state.get("_preparing"):  # inside prepare(): run, record, no display
        run.results.append(_execute(run, number, title, parts))
        return

    def once(only: list[Action]) -> Callable[..., StepResult]:
        def go(**knob_values: Any) -> StepResult:
            run.state.update(knob_values)
            result = _execute(run, number, title, only)
            run.results.append(result)
            return result
        return go

    result = ui.step(once(parts), recheck=once([verify]) if verify else None,
                     interactive=run.interactive, knobs=knobs)
    for fig in result.data.pop("figures", []):
        ui.figure(fig)


def _seconds(duration: Any) -> float:
    return float(getattr(duration, "seconds", duration))


# ---------------------------------------------------------------------------------------------
# Cluster calls, all through ``kube.Kube``: mutations and the guide's own reads with kubectl
# (recorded, so the step shows them), other reads and the waits with the client (watches).


def kubectl(run: Run, *args: str, input: str | None = None, check: bool = True,
            timeout: float | None = None, show_input: bool = False) -> Any:
    return run.kube.kubectl(*args, input=input, check=check, timeout=timeout, show_input=show_input)


def quietly(run: Run, *args: str, check: bool = True, timeout: float | None = None) -> Any:
    """A kubectl call the runbook makes for itself (not shown as a step's command)."""
    from .shell import quiet

    with quiet():
        return kubectl(run, *args, check=check, timeout=timeout)


def apply(run: Run, docs: list[dict[str, Any]], server_side: bool = False) -> Any:
    return run.kube.apply(docs, server_side=server_side)


def get_json(run: Run, kind: str, name: str, namespace: str | None = None) -> Any:
    """One object as a dict, or None when it does not exist."""
    from .errors import NotFound

    try:
        return run.kube.read(kind, name, namespace)
    except NotFound:
        return None


def items(run: Run, kind: str, namespace: str | None = None, selector: str | None = None) -> list:
    return run.kube.items(kind, namespace, selector=selector)


def condition(obj: dict[str, Any] | None, kind: str, path: str = "") -> dict[str, Any]:
    """A condition of an object (``Programmed``), or of its first route parent (``Accepted``)."""
    if not obj:
        return {}
    status = obj.get("status") or {}
    conds = status.get("conditions") or []
    if path == "parents":
        conds = ((status.get("parents") or [{}])[0]).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), {})


def seen(cond: dict[str, Any]) -> str:
    if not cond:
        return "no such condition yet"
    return f"{cond.get('type')}={cond.get('status')} reason={cond.get('reason')}: " \
           f"{cond.get('message', '')}".strip()


def wait_condition(run: Run, s: Step, name: str, kind: str, obj: str, namespace: str | None,
                   cond: str, timeout: Any, hint: str) -> None:
    """Watch until ``cond`` is True; the check shows the condition (reason, message) either way."""
    s.add(from_wait(name, lambda: run.kube.wait_for_condition(kind, obj, namespace, cond,
                                                              timeout=timeout),
                    detail=lambda o: seen(condition(o, cond)), hint=hint))


def ready_pods(run: Run, namespace: str, selector: str) -> list[dict[str, Any]]:
    pods = items(run, "pods", namespace, selector)
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and condition(p, "Ready").get("status") == "True"]


# ---------------------------------------------------------------------------------------------
# 00 prerequisites


def tools(run: Run) -> None:
    """kubectl present (helm too on a cluster), with versions."""
    def act(run: Run, s: Step) -> None:
        res = kubectl(run, "version", "--client", check=False)
        s.add(check("kubectl installed", res.returncode == 0,
                    res.stdout.splitlines()[0] if res.stdout else "kubectl not found",
                    "install kubectl (see `ambient-lb` README) and re-run"))
        if run.sim:
            s.add(skipped("helm installed", "not needed on the simulator: it stands in for the charts"))
            return
        from .shell import run as sh

        res = sh(["helm", "version", "--short"], timeout=30, check=False)
        s.add(check("helm installed", res.returncode == 0, res.stdout.strip(),
                    "install helm 3: https://helm.sh/docs/intro/install/"))
    _step(run, "00.1", "Tools", act, None)


def simulator(run: Run) -> None:
    """On ``sim``: start the cluster-in-a-box unless it is already running."""
    def act(run: Run, s: Step) -> None:
        if not run.sim:
            s.add(skipped("simulator", "target is a cluster"))
            return
        ensure_simulator(run)
        s.note(f"The simulator is a model of the real system (rules in semantics.md). Use it from "
               f"a terminal too: export KUBECONFIG={run.kubeconfig}")

    def verify(run: Run, s: Step) -> None:
        if run.sim:
            res = quietly(run, "get", "--raw", "/readyz", check=False)
            s.add(check("simulator answers", res.returncode == 0 and "ok" in res.stdout,
                        f"/readyz: {res.stdout.strip() or res.stderr.strip()[:200]}",
                        "run `ambient-lb sim up` in a terminal and read its log"))
    _step(run, "00.2", "Simulator", act, verify)


def ensure_simulator(run: Run) -> None:
    """``ambient-lb sim up`` (idempotent: it reports a running simulator instead of a second one)."""
    from .shell import run as sh

    sim = run.params.sim
    argv = [sys.executable, "-m", "ambient_lb.cli", "sim", "up", "--kubeconfig", str(run.kubeconfig),
            "--seed", str(sim.seed), "--speed", str(sim.speed)]
    if sim.topology:
        argv += ["--topology", str(sim.topology)]
    shown = ["ambient-lb", *argv[3:]]
    from .shell import display_line

    sh(argv, timeout=120, display=display_line(shown))


def cluster_reachable(run: Run) -> None:
    def act(run: Run, s: Step) -> None:
        res = kubectl(run, "version", check=False)
        server = [ln for ln in res.stdout.splitlines() if ln.startswith("Server Version")]
        s.add(check(f"context {run.params.context} reachable", res.returncode == 0 and bool(server),
                    server[0] if server else res.stderr.strip()[:200],
                    "check the context name in params and that the cluster is up: kubectl "
                    f"--context {run.params.context} get nodes"))
    _step(run, "00.3", "The cluster is reachable", act, None)


def ambient_mesh(run: Run) -> None:
    """istiod running, a ztunnel ready on every node, the Istio CRDs installed."""
    def act(run: Run, s: Step) -> None:
        ns = run.params.namespaces.istio
        kubectl(run, "get", "pods", "-n", ns, "-o", "wide")
        nodes = len(items(run, "nodes"))
        istiod = get_json(run, "deployment", "istiod", ns) or {}
        avail = istiod.get("status", {}).get("availableReplicas", 0) or 0
        s.add(check("istiod available", avail >= 1, f"{avail} replica(s) available",
                    "install Istio ambient (Gloo Operator or Helm) before this guide"))
        ds = get_json(run, "daemonset", "ztunnel", ns) or {}
        st = ds.get("status", {})
        ready = st.get("numberReady", 0)
        s.add(check("a ztunnel ready on every node", ready == nodes and nodes > 0,
                    f"{ready} of {nodes} nodes have a ready ztunnel",
                    f"kubectl get ds ztunnel -n {ns}; kubectl describe ds ztunnel -n {ns}"))
        crd = get_json(run, "crd", "destinationrules.networking.istio.io")
        s.add(check("Istio CRDs installed", crd is not None,
                    "destinationrules.networking.istio.io present" if crd else "missing",
                    "install Istio's base chart (CRDs)"))
    _step(run, "00.4", "The ambient mesh is there", act, None)


def license_key(run: Run) -> None:
    """The license key variable is set (on sim, a demo key is used when it is not)."""
    def act(run: Run, s: Step) -> None:
        var = run.params.license.env_var
        present = bool(os.environ.get(var, "").strip())
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
    _step(run, "00.5", "The license key", act, None)


def license_secret(run: Run) -> Any:
    """The key as a ``shell.Secret`` (redacted everywhere); the demo key on sim when unset."""
    from .shell import Secret

    var = run.params.license.env_var
    if run.sim and not os.environ.get(var, "").strip():
        return Secret(DEMO_LICENSE, var)
    return run.params.license_secret()


# ---------------------------------------------------------------------------------------------
# 01 install kgateway (guide step 1)


def gateway_api_crds(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        if run.sim:
            s.note("On the simulator the runbook applies the project's own copy of the Gateway API "
                   f"{p.gateway_api.version} CRDs (the simulator has no internet); on a cluster it "
                   f"applies {p.gateway_api.url}.")
            kubectl(run, "apply", "--server-side", "-f", str(manifests.GATEWAY_API_CRDS),
                    timeout=120)
        else:
            kubectl(run, "apply", "--server-side", "-f", p.gateway_api.url, timeout=120)

    def verify(run: Run, s: Step) -> None:
        for crd in ("gatewayclasses", "gateways", "httproutes"):
            name = f"{crd}.gateway.networking.k8s.io"
            wait_condition(run, s, f"CRD {name} Established", "crd", name, "", "Established",
                           p.timeouts.command, "kubectl get crd " + name)
    _step(run, "01.1", "Deploy the Kubernetes Gateway API CRDs", act, verify)


def values_file(run: Run) -> Path:
    """The guide's ``enterprise-kgateway.yaml`` values file, in a private work dir of the run."""
    import tempfile

    work = Path(tempfile.gettempdir()) / f"ambient-lb-{os.getuid()}-{run.run_id}"
    work.mkdir(mode=0o700, exist_ok=True)
    path = work / "enterprise-kgateway.yaml"
    integration = run.params.kgateway.istio_integration
    path.write_text(yaml.safe_dump({"controller": {"extraEnv": {
        "KGW_ENABLE_ISTIO_INTEGRATION": integration}}}, sort_keys=False))
    return path


def kgateway_crds(run: Run) -> None:
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
    _step(run, "01.2", "Deploy the Solo Enterprise for kgateway CRDs", act, None)


def kgateway(run: Run) -> None:
    k = run.params.kgateway

    def act(run: Run, s: Step) -> None:
        from . import shell

        path = values_file(run)
        shell.record(shell.CommandResult(["cat"], 0, "", "", "cat <<EOF > enterprise-kgateway.yaml\n"
                                         f"{path.read_text().rstrip()}\nEOF"))
        helm_install(run, k.release, k.chart, values_files=(path,), license=license_secret(run))

    def verify(run: Run, s: Step) -> None:
        ns = run.params.namespaces.kgateway
        kubectl(run, "get", "pods", "-n", ns)
        res = kubectl(run, "rollout", "status", f"deployment/{k.release}", "-n", ns,
                      f"--timeout={int(_seconds(run.params.timeouts.rollout))}s", check=False,
                      timeout=_seconds(run.params.timeouts.rollout) + 10)
        s.add(check("the kgateway control plane is running", res.returncode == 0,
                    res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "not rolled out",
                    f"kubectl logs -n {ns} deploy/{k.release} (a bad license key shows there)",
                    res.stderr.strip()[:300]))
    _step(run, "01.3", "Install Solo Enterprise for kgateway", act, verify)


def helm_install(run: Run, release: str, chart: str, *, values_files: tuple[Path, ...] = (),
                 set_values: dict[str, Any] | None = None, license: Any = None) -> Any:
    """``helm upgrade -i`` through ``helm.Helm`` (on sim: the simulator's chart stand-in)."""
    from .helm import Helm

    secret_values = {"licensing.licenseKey": license} if license is not None else {}
    return Helm.from_params(run.params, run.kube).upgrade_install(
        release, chart, version=run.params.kgateway.version,
        namespace=run.params.namespaces.kgateway, create_namespace=True,
        values_files=list(values_files), set_values=set_values or None,
        secret_values=secret_values or None)


def ambient_namespace(run: Run) -> None:
    ns = run.params.namespaces.kgateway

    def act(run: Run, s: Step) -> None:
        kubectl(run, "label", "ns", ns, "istio.io/dataplane-mode=ambient", "--overwrite")

    def verify(run: Run, s: Step) -> None:
        labels = ((get_json(run, "namespace", ns) or {}).get("metadata", {}).get("labels", {}))
        mode = labels.get("istio.io/dataplane-mode")
        s.add(check(f"namespace {ns} is in the ambient mesh", mode == "ambient",
                    f"istio.io/dataplane-mode={mode}", f"kubectl label ns {ns} "
                    "istio.io/dataplane-mode=ambient --overwrite"))
    _step(run, "01.4", f"Add {ns} to the ambient mesh", act, verify)


def gateway(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("gateway", p, run.run_id))

    def verify(run: Run, s: Step) -> None:
        wait_condition(run, s, f"Gateway {p.gateway.name} Programmed", "gateway", p.gateway.name,
                       p.namespaces.kgateway, "Programmed", p.timeouts.gateway_ready,
                       f"kubectl describe gateway {p.gateway.name} -n {p.namespaces.kgateway}; "
                       f"is the GatewayClass {p.gateway.class_name} accepted?")
        kubectl(run, "get", "gateway", p.gateway.name, "-n", p.namespaces.kgateway)
    _step(run, "01.5", f"Create the Gateway {p.gateway.name}", act, verify)


def gateway_address(run: Run) -> None:
    """The gateway's LoadBalancer address, or a managed port-forward when there is none."""
    def act(run: Run, s: Step) -> None:
        address = find_address(run, show=True)
        run.state["address"] = address
        s.show(f"KGATEWAY_IP={address.rsplit(':', 1)[0]}")
        s.note(f"The listener is on port {run.params.gateway.port}: the guide's curl "
               f"http://$KGATEWAY_IP/hostname (port 80) reaches it only where the Service maps "
               f"port 80; the runbook always uses http://$KGATEWAY_IP:{run.params.gateway.port}.")

    def verify(run: Run, s: Step) -> None:
        s.add(poll("the gateway address accepts connections",
                   lambda: _tcp_open(run.state["address"]), timeout=15, interval=0.2,
                   hint="kubectl get svc -n kgateway-system; on a cluster without a load "
                        "balancer the runbook port-forwards"))
    _step(run, "01.6", "Get the gateway address", act, verify)


def find_address(run: Run, show: bool = False) -> str:
    """``host:port`` of the gateway listener (service status, else a port-forward)."""
    p = run.params
    if "address" in run.state:
        return run.state["address"]
    jp = "{.status.loadBalancer.ingress[0]['hostname','ip']}"
    call = kubectl if show else quietly
    res = call(run, "get", "svc", "-n", p.namespaces.kgateway, p.gateway.name, f"-o=jsonpath={jp}")
    host = res.stdout.strip()
    run.state["address"] = f"{host}:{p.gateway.port}" if host else _port_forward(run)
    return run.state["address"]


def _port_forward(run: Run) -> str:
    """``kubectl port-forward ... 8080:8080 &``, kept open for the kernel's life."""
    p = run.params
    pf = run.kube.port_forward(f"deployment/{p.gateway.name}", p.gateway.port, p.gateway.port,
                               namespace=p.namespaces.kgateway, timeout=p.timeouts.port_forward)
    run.state["port_forward"] = pf
    return pf.__enter__()


def _tcp_open(address: str) -> tuple[bool, str]:
    import socket

    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2):
        return True, f"{address} accepts TCP connections"


# ---------------------------------------------------------------------------------------------
# 02 ingress routing (guide step 2)


def app_selector(run: Run) -> str:
    return f"app={run.params.app.name}"


def sample_app(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        if run.sim:
            apply(run, manifests.render("in-ambient", p, run.run_id))
            s.note("The runbook applies the project's own in-ambient manifest (namespace labelled "
                   "for ambient, ServiceAccount, Service port 8000 -> 8080, go-httpbin Deployment "
                   "with a readiness probe); on a cluster that can reach it, set app.manifest_url "
                   "to use the guide's URL.")
        else:
            kubectl(run, "apply", "-f", p.app.manifest_url)
            kubectl(run, "label", "ns,deploy,svc,sa", "--all", "-n", p.namespaces.app,
                    f"{RUN_LABEL}={run.run_id}", "--overwrite")

    def verify(run: Run, s: Step) -> None:
        ns = get_json(run, "namespace", p.namespaces.app) or {}
        mode = (ns.get("metadata", {}).get("labels") or {}).get("istio.io/dataplane-mode")
        s.add(check(f"namespace {p.namespaces.app} is in the ambient mesh", mode == "ambient",
                    f"istio.io/dataplane-mode={mode}", "the manifest labels the namespace; "
                    f"kubectl label ns {p.namespaces.app} istio.io/dataplane-mode=ambient"))
        svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
        ports = [(x.get("port"), x.get("targetPort")) for x in svc.get("spec", {}).get("ports", [])]
        s.add(check(f"Service {p.app.name} {p.app.port} -> 8080", (p.app.port, 8080) in ports,
                    f"ports {ports}", f"kubectl get svc {p.app.name} -n {p.namespaces.app} -o yaml"))
    _step(run, "02.1", "Deploy the in-ambient sample app", act, verify)


def scale_app(run: Run) -> None:
    p = run.params
    want = p.app.replicas

    def act(run: Run, s: Step) -> None:
        run.kube.scale("deployment", p.app.name, want, namespace=p.namespaces.app)

    def verify(run: Run, s: Step) -> None:
        s.add(from_wait(f"{want} replicas Ready",
                        lambda: run.kube.wait_for_ready_pods(p.namespaces.app, app_selector(run),
                                                             want, timeout=p.timeouts.pods_ready),
                        detail=lambda pods: f"{len(pods)} pods Ready",
                        hint=f"kubectl describe pods -n {p.namespaces.app} -l {app_selector(run)}"))
        kubectl(run, "get", "pods", "-n", p.namespaces.app)
    _step(run, "02.2", f"Scale in-ambient to {want} replicas", act, verify)


def http_route(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("httproute", p, run.run_id))

    def verify(run: Run, s: Step) -> None:
        def accepted() -> tuple[bool, str]:
            c = condition(get_json(run, "httproute", p.route.name, p.namespaces.app),
                          "Accepted", "parents")
            return c.get("status") == "True", seen(c)
        s.add(poll(f"HTTPRoute {p.route.name} Accepted by {p.gateway.name}", accepted,
                   timeout=_seconds(p.timeouts.gateway_ready), interval=0.2,
                   hint=f"kubectl describe httproute {p.route.name} -n {p.namespaces.app}"))
        kubectl(run, "get", "httproute", "-n", p.namespaces.app)
    _step(run, "02.3", f"Route {p.route.hostname} to in-ambient", act, verify)


# Evidence: traffic through the gateway, per-pod distribution, access logs (``traffic``,
# ``stats``, ``logs``, ``plots``: the evidence library, which works the same on a real cluster).


def curl_line(run: Run, count: int, max_time: bool = False) -> str:
    p = run.params
    opt = f"--max-time {int(_seconds(p.traffic.request_timeout))} " if max_time else ""
    tail = " || echo 'request failed'" if max_time else ""
    if count == 1:
        return f'curl -s {opt}-H "Host: {p.route.hostname}" http://$KGATEWAY_IP:{p.gateway.port}/hostname'
    return (f'for i in $(seq 1 {count}); do curl -s {opt}-H "Host: {p.route.hostname}" '
            f"http://$KGATEWAY_IP:{p.gateway.port}/hostname{tail}; done")


def send(run: Run, count: int, *, show: bool = True, max_time: bool = False) -> Any:
    """``count`` sequential requests through the gateway -> DataFrame (one row per request)."""
    from . import shell, traffic

    p = run.params
    df = traffic.send_requests(find_address(run), host=p.route.hostname, path="/hostname",
                               count=count, timeout=_seconds(p.traffic.request_timeout))
    if show:
        printed = "\n".join(_printed_by_curl(row) for row in df.to_dict("records"))
        shell.record(shell.CommandResult(["curl"], 0, printed + "\n", "", curl_line(run, count,
                                                                                  max_time)))
    return df


def _printed_by_curl(row: dict[str, Any]) -> str:
    pod = row.get("pod")
    if isinstance(pod, str) and pod:
        return pod
    return "request failed" if not row.get("status") else f"HTTP {row.get('status')}"


def pods_seen(df: Any) -> dict[str, int]:
    """Requests per pod among successful answers."""
    ok = df[df["pod"].notna() & (df["pod"] != "")]
    return {str(k): int(v) for k, v in ok["pod"].value_counts().sort_index().items()}


def distribution(run: Run, s: Step, df: Any, pods: list[str], policy: str, where: str) -> None:
    """Check that every ready replica answered, with the tolerance the policy allows (``stats``)."""
    from . import plots, stats

    result = stats.check_distribution(df, policy, expected_pods=pods)
    s.show(repr(result))
    s.add(check(f"every replica answered ({where})", bool(result.ok),
                f"{result.n} answers over {result.k} pods, {policy}",
                f"kubectl get pods -n {run.params.namespaces.app} -o wide; are all replicas Ready?"))
    s.figure(plots.plot_requests_per_pod(df, check=result, title=f"requests per pod ({where})"))


def traffic_reaches_every_replica(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        count = int(run.state.get("requests", p.traffic.requests))
        pods = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                app_selector(run)))
        df = send(run, count)
        distribution(run, s, df, pods, "ROUND_ROBIN", "gateway -> ztunnel -> pod")
        s.note("The guide says ztunnel round-robins here. It does not: kgateway's Envoy picks the "
               "pod (round robin over pod IPs) and ztunnel only carries the connection to the pod "
               "it was given (R1.1, R1.2); where ztunnel itself chooses, it picks at random per "
               "connection (R4.5).")
    _step(run, "02.4", "Requests through the gateway reach every replica", act, None,
          knobs={"requests": (1, 300, p.traffic.requests)})


def identity(namespace: str, sa: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{sa}"


def mtls_proof(run: Run) -> None:
    """For each backend pod: its node, the ztunnel there, and the identities in that ztunnel's log."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        from . import logs

        send(run, p.app.replicas * 2, show=False)  # make sure every pod has fresh log lines
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-o", "wide")
        kubectl(run, "get", "pods", "-n", p.namespaces.istio, "-o", "wide", "-l", "app=ztunnel")
        pods = ready_pods(run, p.namespaces.app, app_selector(run))
        zts = {z["spec"].get("nodeName"): z["metadata"]["name"]
               for z in items(run, "pods", p.namespaces.istio, "app=ztunnel")}
        want_src, want_dst = identity(p.namespaces.kgateway, p.gateway.name), \
            identity(p.namespaces.app, p.app.name)
        rows = []
        for node in sorted({x["spec"].get("nodeName") for x in pods}):
            zt = zts.get(node)
            if zt is None:
                s.add(check(f"a ztunnel on node {node}", False, "none found",
                            f"kubectl get pods -n {p.namespaces.istio} -o wide"))
                continue
            kubectl(run, "logs", "-n", p.namespaces.istio, zt, "--tail=2")  # what a learner reads
            text = quietly(run, "logs", "-n", p.namespaces.istio, zt, "--tail=400").stdout
            rows += _identity_rows(logs.parse_ztunnel(text), node, zt, p.namespaces.app)
        s.show(_identity_table(rows))
        for i, pod in enumerate(sorted(x["metadata"]["name"] for x in pods), 1):
            mine = [r for r in rows if r["dst_workload"] == pod]
            ok = any(r["src_identity"] == want_src and r["dst_identity"] == want_dst for r in mine)
            s.add(check(f"mTLS into replica {i}", ok,
                        f"{pod}: {want_src} -> {want_dst}" if ok else f"{pod}: {len(mine)} inbound "
                        "lines, none "
                        "with both identities", "is the app namespace labelled for ambient, and "
                        f"{p.namespaces.kgateway} too (step 01.4)?"))
    _step(run, "02.5", "Traffic between the gateway and the app is mutual TLS", act, None)


def _identity_rows(df: Any, node: str, zt: str, app_ns: str) -> list[dict[str, Any]]:
    cols = {c.replace(".", "_"): c for c in df.columns}
    get = lambda r, name: r.get(cols.get(name, name))  # noqa: E731
    out = []
    for r in df.to_dict("records"):
        if get(r, "direction") != "inbound" or get(r, "dst_namespace") != app_ns:
            continue
        out.append({"node": node, "ztunnel": zt, "dst_workload": get(r, "dst_workload"),
                    "src_identity": get(r, "src_identity"), "dst_identity": get(r, "dst_identity")})
    return out


def _identity_table(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    if not rows:
        return "no inbound ztunnel log lines for the app yet"
    df = pd.DataFrame(rows).drop_duplicates().sort_values(["dst_workload", "src_identity"])
    return df.to_string(index=False)


# ---------------------------------------------------------------------------------------------
# 03 waypoint (guide step 3)


def waypoint(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("waypoint", p, run.run_id))

    def verify(run: Run, s: Step) -> None:
        try:
            res = run.kube.rollout_status("deployment", p.waypoint.name,
                                          namespace=p.namespaces.app, timeout=p.timeouts.rollout)
            s.add(check(f"waypoint {p.waypoint.name} rolled out", True,
                        res.stdout.strip().splitlines()[-1]))
        except RunbookError as exc:
            s.fail(f"waypoint {p.waypoint.name} rolled out", exc)
    _step(run, "03.1", f"Create the waypoint {p.waypoint.name}", act, verify)


def use_waypoint(run: Run) -> None:
    p = run.params
    want = {"istio.io/ingress-use-waypoint": "true", "istio.io/use-waypoint": p.waypoint.name}

    def act(run: Run, s: Step) -> None:
        run.kube.label("service", p.app.name, {"istio.io/ingress-use-waypoint": "true"},
                       namespace=p.namespaces.app, overwrite=True)
        run.kube.label("service", p.app.name, {"istio.io/use-waypoint": p.waypoint.name},
                       namespace=p.namespaces.app, overwrite=True)
        s.note("The guide applies only istio.io/ingress-use-waypoint=true. That label asks the "
               "ingress to send traffic to the service's waypoint, but the service has no waypoint "
               f"until istio.io/use-waypoint={p.waypoint.name} binds one (R8.2, R8.1e); without it "
               "traffic does not cross the waypoint. The runbook applies both.")

    def verify(run: Run, s: Step) -> None:
        svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
        labels = svc.get("metadata", {}).get("labels") or {}
        for k, v in want.items():
            s.add(check(f"service {p.app.name} has {k}={v}", labels.get(k) == v,
                        f"{k}={labels.get(k)}", f"kubectl label service {p.app.name} -n "
                        f"{p.namespaces.app} {k}={v} --overwrite"))
    _step(run, "03.2", "Send ingress traffic for in-ambient through the waypoint", act, verify)


def waypoint_in_path(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        from . import logs

        before = _waypoint_hits(run, logs)
        send(run, 1)

        def crossed() -> tuple[bool, str]:
            now = _waypoint_hits(run, logs)
            return now > before, f"{now - before} new GET /hostname line(s) in the waypoint log"
        s.add(poll("the request crossed the waypoint", crossed, timeout=10, interval=0.2,
                   hint="are both service labels of step 03.2 there? kubectl logs -n "
                        f"{p.namespaces.app} deploy/{p.waypoint.name}"))
        kubectl(run, "logs", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}", "--tail=10")
    _step(run, "03.3", "Traffic crosses the waypoint", act, None)


def _waypoint_hits(run: Run, logs: Any) -> int:
    p = run.params
    text = quietly(run, "logs", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}",
                   "--tail=100000").stdout
    df = logs.parse_envoy(text)
    if df.empty:
        return 0
    return int((df["path"].astype(str).str.startswith("/hostname")).sum())


def waypoint_distribution(run: Run) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        pods = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                app_selector(run)))
        dr = get_json(run, "destinationrule", p.destination_rule.name, p.namespaces.app)
        policy = _lb_policy(dr)
        asked = int(run.state.get("requests", p.traffic.requests))
        count = asked if policy == "ROUND_ROBIN" else max(asked, 60)
        df = send(run, count)
        distribution(run, s, df, pods, policy, "at the waypoint")
        if policy != "ROUND_ROBIN":
            s.note("Without a DestinationRule the waypoint balances with LEAST_REQUEST, Istio's "
                   "default (R3.4): for one request at a time that is a random choice, not the "
                   f"round robin the guide shows, so the runbook sends {count} requests and checks "
                   "the spread with a tolerance. Step 04's DestinationRule sets ROUND_ROBIN.")
    _step(run, "03.4", "Load balancing at the waypoint", act, None,
          knobs={"requests": (1, 300, p.traffic.requests)})


def _lb_policy(dr: dict[str, Any] | None) -> str:
    simple = (((dr or {}).get("spec") or {}).get("trafficPolicy") or {}).get("loadBalancer", {})
    name = (simple or {}).get("simple") or "LEAST_REQUEST"  # Istio's default (R3.4)
    return {"LEAST_CONN": "LEAST_REQUEST"}.get(name, name)


# ---------------------------------------------------------------------------------------------
# 04 failover (guide step 4)


def destination_rule(run: Run, max_ejection_percent: int | None = None) -> None:
    """The guide's DestinationRule (``max_ejection_percent`` overrides the params' value)."""
    p = run.params
    pct = max_ejection_percent if max_ejection_percent is not None else \
        p.destination_rule.max_ejection_percent

    def act(run: Run, s: Step) -> None:
        docs = manifests.render("destinationrule", p, run.run_id)
        _set_max_ejection(docs[0], pct)
        apply(run, docs)
        if pct is None:
            s.note("With maxEjectionPercent unset Envoy may eject at most 10 % of the hosts, and "
                   f"with {p.app.replicas} pods one host is {100 // max(1, p.app.replicas)} %: this "
                   "rule never ejects anything (R2.4). Step 04.3 shows it; 04.4 sets "
                   "maxEjectionPercent: 100 and shows a real ejection.")

    def verify(run: Run, s: Step) -> None:
        dr = get_json(run, "destinationrule", p.destination_rule.name, p.namespaces.app) or {}
        od = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("outlierDetection") or {}
        s.add(check(f"DestinationRule {p.destination_rule.name} in place",
                    bool(od) and od.get("maxEjectionPercent") == pct,
                    f"outlierDetection {od}", f"kubectl get dr -n {p.namespaces.app} -o yaml"))
    _step(run, "04.1", "Apply the DestinationRule", act, verify)


def apply_destination_rule(run: Run, pct: int | None) -> None:
    """Apply the DR with this maxEjectionPercent (inside another step; commands are shown)."""
    docs = manifests.render("destinationrule", run.params, run.run_id)
    _set_max_ejection(docs[0], pct)
    apply(run, docs)


def _set_max_ejection(dr: dict[str, Any], pct: int | None) -> None:
    od = dr["spec"]["trafficPolicy"]["outlierDetection"]
    od.pop("maxEjectionPercent", None)
    if pct is not None:
        od["maxEjectionPercent"] = int(pct)


def delete_pod_under_traffic(run: Run) -> None:
    """Delete one pod while a sampler keeps sending; the timeline shows the failover."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        from . import plots, stats, traffic

        victim = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                  app_selector(run)))[0]
        with traffic.TrafficSampler(find_address(run), host=p.route.hostname, rate=20.0,
                                    timeout=_seconds(p.traffic.request_timeout)) as sampler, \
                ui.LiveChart(run.interactive, "live traffic while a pod is deleted") as chart:
            chart.start(sampler.timeline, plots.plot_failover_timeline)
            run.kube.delete("pod", [victim], namespace=p.namespaces.app, wait=False)
            sampler.mark("pod deleted")
            kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", app_selector(run))
            pods = run.kube.wait_for_ready_pods(p.namespaces.app, app_selector(run),
                                                p.app.replicas, timeout=p.timeouts.pods_ready)
            sampler.mark("replacement ready")
            new = sorted(x["metadata"]["name"] for x in pods if x["metadata"]["name"] != victim)
            rotation = poll("the replacement is back in rotation",
                            lambda: _answered_by(sampler.timeline(), new), timeout=15, interval=0.1)
        timeline = sampler.timeline()
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", app_selector(run))
        summary = stats.failover_summary(timeline, disrupted_at="pod deleted", pod=victim,
                                         after="replacement ready")
        s.show(repr(summary))
        s.figure(plots.plot_failover_timeline(timeline))
        s.add(check("the deleted pod gets no traffic once it is gone",
                    not summary.pod_got_traffic_after, f"{victim}: "
                    f"{summary.pod_requests_after} answers after the replacement was ready",
                    "is the pod still Ready? kubectl get pods -o wide"))
        survivors = [x for x in summary.pods_after if x != victim]
        s.add(check("the survivors serve the traffic", bool(survivors),
                    "requests after the deletion were answered by the other replicas"))
        s.add(check(f"{p.app.replicas} replicas Ready again", len(pods) >= p.app.replicas,
                    ", ".join(x["metadata"]["name"] for x in pods)), rotation)
        s.note("The guide deletes with `kubectl delete pod -l app=in-ambient --field-selector="
               "status.phase=Running --wait=false | head -1`: head only cuts the printed lines, "
               "kubectl has already sent a DELETE for every matching pod (usually 2 or 3 go, R6.9). "
               "The runbook deletes exactly one pod by name. Deletion removes the endpoint through "
               "EDS; outlier detection plays no part in this failover (R6.3, R6.8).")
    _step(run, "04.2", "Delete a pod while traffic flows", act, None)


def _answered_by(timeline: Any, pods: list[str]) -> tuple[bool, str]:
    seen = set(timeline["pod"].dropna().astype(str))
    missing = [x for x in pods if x not in seen]
    return not missing, "every Ready pod answered" if not missing else f"not yet: {missing}"


FAULT_STATUS = "fault.ambient-lb.dev/http-status"


def waypoint_stats(run: Run, show: bool = True) -> dict[str, float]:
    """The waypoint's Envoy ``outlier_detection.*`` stats for the app's inbound-vip cluster."""
    p = run.params
    wp = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                          f"gateway.networking.k8s.io/gateway-name={p.waypoint.name}"))
    if not wp:
        raise RunbookError(f"no ready waypoint pod for {p.waypoint.name}",
                           hint=f"kubectl get pods -n {p.namespaces.app}; run notebook 03 first")
    path = f"/api/v1/namespaces/{p.namespaces.app}/pods/{wp[0]}:15000/proxy/stats"
    flt = "?filter=outlier_detection.ejections_(active|detected_consecutive_5xx|" \
          "enforced_consecutive_5xx|overflow)"
    res = (kubectl if show else quietly)(run, "get", "--raw", path + flt)
    cluster = f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local"
    return parse_outlier_stats(res.stdout, cluster)


def parse_outlier_stats(text: str, cluster: str) -> dict[str, float]:
    """``cluster.<name>.outlier_detection.<stat>: <n>`` lines -> {stat: n} (R2.11)."""
    prefix = f"cluster.{cluster}.outlier_detection."
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if name.startswith(prefix):
            try:
                out[name[len(prefix):]] = float(value)
            except ValueError:
                continue
    return out


def _stats_line(st: dict[str, float]) -> str:
    keys = ("ejections_active", "ejections_detected_consecutive_5xx",
            "ejections_enforced_consecutive_5xx", "ejections_overflow")
    return ", ".join(f"{k}={int(st.get(k, 0))}" for k in keys)


def failing_pod(run: Run) -> str:
    """The replica the outlier steps make fail (the first by name; the same in every step)."""
    p = run.params
    if "failing_pod" not in run.state:
        pods = ready_pods(run, p.namespaces.app, app_selector(run))
        run.state["failing_pod"] = sorted(x["metadata"]["name"] for x in pods)[0]
    return run.state["failing_pod"]


def make_pod_fail(run: Run, status: int = 500) -> None:
    p = run.params

    def act(run: Run, s: Step) -> None:
        pod = failing_pod(run)
        run.kube.annotate("pod", pod, {FAULT_STATUS: str(status)}, namespace=p.namespaces.app,
                          overwrite=True)
        s.note(f"{FAULT_STATUS} is the simulator's fault switch: the pod's app answers {status} to "
               "every request. On a cluster, make one replica fail your own way (e.g. a bad image "
               "tag or an app flag).")

    def verify(run: Run, s: Step) -> None:
        pod = get_json(run, "pod", failing_pod(run), p.namespaces.app) or {}
        got = (pod.get("metadata", {}).get("annotations") or {}).get(FAULT_STATUS)
        s.add(check(f"the chosen replica answers {status}", got == str(status),
                    f"{failing_pod(run)}: {FAULT_STATUS}={got}"))
    _step(run, "04.3", "Make one replica fail", act, verify)


def no_ejection_by_default(run: Run) -> None:
    """Three pods, maxEjectionPercent unset: the failing pod is detected but never ejected (R2.4)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply_destination_rule(run, run.params.destination_rule.max_ejection_percent)
        df = send(run, 30)
        st = waypoint_stats(run)
        s.show(_stats_line(st))
        failing = failures(df)
        s.add(check("the failing pod was detected", st.get("ejections_detected_consecutive_5xx", 0)
                    >= 1, _stats_line(st), "did step 04.3 annotate the pod?"))
        s.add(check("but not ejected (max ejection 10 %)", st.get("ejections_active", 0) == 0
                    and st.get("ejections_overflow", 0) >= 1, _stats_line(st)))
        s.add(check("it keeps receiving traffic", failing >= 1,
                    f"{failing} of {len(df)} requests went to {failing_pod(run)} and got a 5xx"))
    _step(run, "04.4", "The guide's rule with 3 pods: detected, never ejected", act, None)


def failures(df: Any) -> int:
    """Requests answered 5xx or not answered (only the failing pod fails in these steps)."""
    status = df["status"].fillna(0).astype(int)
    return int(((status >= 500) | (status == 0)).sum())


def ejection(run: Run) -> None:
    """maxEjectionPercent: 100 -> the failing pod is ejected after 5 errors and gets no traffic."""
    p = run.params
    dr = p.destination_rule

    def act(run: Run, s: Step) -> None:
        pod = failing_pod(run)
        run.kube.annotate("pod", pod, {FAULT_STATUS: None}, namespace=p.namespaces.app)
        apply_destination_rule(run, 100)
        s.add(poll("the waypoint uses the new rule (its outlier counters restarted)",
                   lambda: _counters_restarted(run), timeout=15, interval=0.1,
                   hint="istiod pushes the DestinationRule to the waypoint; kubectl get dr -n "
                        f"{p.namespaces.app} -o yaml"))
        run.kube.annotate("pod", pod, {FAULT_STATUS: "500"}, namespace=p.namespaces.app,
                          overwrite=True)
        s.note("The runbook heals the pod while the waypoint picks up the new rule, then breaks "
               "it again: a DestinationRule change rebuilds the waypoint's cluster and restarts "
               "its counters and ejections (R2.12). The ejection then happens on the 5th "
               "consecutive error, not at an interval sweep (R2.3).")
        first = send(run, 3 * dr.consecutive_5xx_errors)  # round robin: N reach the failing pod
        st = waypoint_stats(run)
        s.add(check("the failing pod is ejected on its 5th error",
                    st.get("ejections_enforced_consecutive_5xx", 0) >= 1, _stats_line(st),
                    "is the fault still on (step 04.3)? kubectl get dr -n "
                    f"{p.namespaces.app} -o yaml shows maxEjectionPercent"))
        s.add(check("it failed consecutive5xxErrors times first", failures(first) >=
                    dr.consecutive_5xx_errors, f"{failures(first)} of {len(first)} failed"))
        then = send(run, 3 * dr.consecutive_5xx_errors)
        s.add(_no_failures_while_ejected(run, first, then))
    _step(run, "04.5", "A real ejection with maxEjectionPercent: 100", act, None)


def _counters_restarted(run: Run) -> tuple[bool, str]:
    """Healthy traffic, then: are the outlier counters back at zero (a rebuilt cluster)?"""
    send(run, run.params.app.replicas, show=False)
    st = waypoint_stats(run, show=False)
    fresh = st.get("ejections_overflow", 1) == 0 and \
        st.get("ejections_detected_consecutive_5xx", 1) == 0
    return fresh, _stats_line(st)


def _no_failures_while_ejected(run: Run, first: Any, then: Any) -> CheckResult:
    """No request sent within baseEjectionTime of the ejection (the Nth failure, R2.3) fails."""
    import pandas as pd

    dr = run.params.destination_rule
    status = first["status"].fillna(0).astype(int)
    bad = first[(status >= 500) | (status == 0)]
    if len(bad) < dr.consecutive_5xx_errors:
        return check("while it is ejected no request fails", False, "it was not ejected")
    ejected_at = bad["sent_at"].iloc[dr.consecutive_5xx_errors - 1]
    window = _seconds(dr.base_ejection_time) / (run.params.sim.speed if run.sim else 1.0)
    inside = then[then["sent_at"] < ejected_at + pd.Timedelta(seconds=window)]
    failed = failures(inside)
    return check("while it is ejected no request fails", failed == 0 and len(inside) > 0,
                 f"{failed} failed within {dr.base_ejection_time} of the ejection",
                 "a slow machine can outlast the ejection; lower sim.speed")


def pod_returns(run: Run) -> None:
    """Fault removed: the pod comes back at the first sweep after its ejection time (R2.6)."""
    p = run.params
    dr = p.destination_rule
    wall = (_seconds(dr.base_ejection_time) + 2 * _seconds(dr.interval)) / \
        (p.sim.speed if run.sim else 1.0)

    def act(run: Run, s: Step) -> None:
        run.kube.annotate("pod", failing_pod(run), {FAULT_STATUS: None},
                          namespace=p.namespaces.app)

        def back() -> tuple[bool, str]:
            send(run, 1, show=False)  # traffic keeps flowing, as it would for a real service
            st = waypoint_stats(run, show=False)
            return st.get("ejections_active", 1) == 0, _stats_line(st)
        s.add(poll("the pod is un-ejected at a sweep", back, timeout=wall + 10, interval=0.25,
                   hint=f"un-ejection waits for baseEjectionTime ({dr.base_ejection_time}) and the "
                        f"next {dr.interval} sweep"))
        waypoint_stats(run)
        df = send(run, p.app.replicas * 3)
        s.add(check("the healed pod serves again", failing_pod(run) in pods_seen(df),
                    f"served by {sorted(pods_seen(df))}"))
        s.note(f"An ejected host returns only at an interval sweep, so it is out between "
               f"{dr.base_ejection_time} and {dr.base_ejection_time} + {dr.interval}, longer if it "
               "fails again soon (R2.6, R2.7).")
    _step(run, "04.6", "The pod returns after the ejection time", act, None)


# ---------------------------------------------------------------------------------------------
# 05 cleanup


CREATED_KINDS = ("destinationrules", "httproutes", "gateways", "deployments", "services",
                 "serviceaccounts", "pods", "namespaces")


def cleanup(run: Run) -> None:
    p = run.params
    ns = p.namespaces

    def act(run: Run, s: Step) -> None:
        k = run.kube
        k.delete("destinationrule", [p.destination_rule.name], namespace=ns.app, ignore_not_found=True)
        k.delete("httproute", [p.route.name], namespace=ns.app, ignore_not_found=True)
        k.delete("gateway", [p.waypoint.name], namespace=ns.app, ignore_not_found=True)
        k.delete_namespace(ns.app, ignore_not_found=True, timeout=_seconds(p.timeouts.deletion))
        k.delete("gateway", [p.gateway.name], namespace=ns.kgateway, ignore_not_found=True)
        s.note("Like the guide, the cleanup keeps kgateway installed (see its uninstall guide) "
               "and the ambient label on kgateway-system.")

    def verify(run: Run, s: Step) -> None:
        left = leftovers(run)
        s.add(check("nothing the runbook created is left", not left,
                    "none" if not left else ", ".join(left[:10]),
                    f"kubectl get all -A -l {RUN_LABEL}; delete what is listed"))
    _step(run, "05.1", "Clean up", act, verify)


def leftovers(run: Run) -> list[str]:
    """Objects that still carry this run's label (namespaces being deleted count until gone)."""
    found = []
    for kind in CREATED_KINDS:
        for obj in items(run, kind, None, f"{RUN_LABEL}={run.run_id}"):
            md = obj["metadata"]
            found.append(f"{kind}/{md.get('namespace', '') + '/' if md.get('namespace') else ''}"
                         f"{md['name']}")
    return found


# ---------------------------------------------------------------------------------------------
# Each notebook first makes sure the earlier notebooks' state exists (idempotent, fast if there).


def _has_crds(run: Run) -> bool:
    return get_json(run, "crd", "httproutes.gateway.networking.k8s.io") is not None


def _kgateway_ready(run: Run) -> bool:
    d = get_json(run, "deployment", run.params.kgateway.release, run.params.namespaces.kgateway)
    return bool(d and (d.get("status") or {}).get("availableReplicas"))


def _ns_ambient(run: Run) -> bool:
    ns = get_json(run, "namespace", run.params.namespaces.kgateway) or {}
    return (ns.get("metadata", {}).get("labels") or {}).get("istio.io/dataplane-mode") == "ambient"


def _gateway_programmed(run: Run) -> bool:
    p = run.params
    gw = get_json(run, "gateway", p.gateway.name, p.namespaces.kgateway)
    return condition(gw, "Programmed").get("status") == "True"


def _app_ready(run: Run) -> bool:
    p = run.params
    d = get_json(run, "deployment", p.app.name, p.namespaces.app) or {}
    return (d.get("spec") or {}).get("replicas") == p.app.replicas and \
        len(ready_pods(run, p.namespaces.app, app_selector(run))) == p.app.replicas


def _route_accepted(run: Run) -> bool:
    p = run.params
    r = get_json(run, "httproute", p.route.name, p.namespaces.app)
    return condition(r, "Accepted", "parents").get("status") == "True"


def _waypoint_bound(run: Run) -> bool:
    p = run.params
    svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
    labels = svc.get("metadata", {}).get("labels") or {}
    d = get_json(run, "deployment", p.waypoint.name, p.namespaces.app) or {}
    return labels.get("istio.io/use-waypoint") == p.waypoint.name and \
        bool((d.get("status") or {}).get("availableReplicas"))


def _sim_up(run: Run) -> bool:
    if not run.sim:
        return True
    try:
        return quietly(run, "get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
    except RunbookError:
        return False


# (notebook that creates it, what, probe, steps that create it)
PREREQUISITES: list[tuple[str, str, Callable[[Run], bool], tuple[Callable[[Run], None], ...]]] = [
    ("00", "simulator running", _sim_up, (simulator,)),
    ("01", "Gateway API CRDs", _has_crds, (gateway_api_crds,)),
    ("01", "kgateway installed and running", _kgateway_ready, (kgateway_crds, kgateway)),
    ("01", "kgateway-system in the mesh", _ns_ambient, (ambient_namespace,)),
    ("01", "Gateway http Programmed", _gateway_programmed, (gateway,)),
    ("02", "in-ambient replicas Ready", _app_ready, (sample_app, scale_app)),
    ("02", "HTTPRoute Accepted", _route_accepted, (http_route,)),
    ("03", "waypoint running and bound", _waypoint_bound, (waypoint, use_waypoint)),
]


def prepare(run: Run, notebook: str) -> None:
    """Make sure every earlier notebook's state exists; do what is missing, quietly but shown."""
    def act(run: Run, s: Step) -> None:
        for nb, what, probe, steps in PREREQUISITES:
            if nb >= notebook:
                continue
            if _probe(run, probe):
                s.add(check(what, True, "already there"))
                continue
            s.add(_redo(run, what, steps))
        if notebook > "01":
            run.state.pop("address", None)
            s.show(f"gateway address: {find_address(run)}")
    _step(run, f"{notebook}.0", "Earlier steps' state", act, None)


def _probe(run: Run, probe: Callable[[Run], bool]) -> bool:
    try:
        return bool(probe(run))
    except RunbookError:
        return False


def _redo(run: Run, what: str, steps: tuple[Callable[[Run], None], ...]) -> CheckResult:
    start = len(run.results)
    run.state["_preparing"] = True
    try:
        for fn in steps:
            fn(run)
    finally:
        run.state.pop("_preparing", None)
    done = run.results[start:]
    bad = next((c for r in done for c in r.checks if not c.ok), None)
    if bad is None:
        return check(what, True, f"done now ({', '.join(r.step for r in done)})")
    return CheckResult(what, False, f"could not be done: {bad.name}: {bad.detail}", bad.hint,
                       bad.reason)
