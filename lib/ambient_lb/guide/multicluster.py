"""Notebook 08: the concepts page's multicluster scenario, done on two peered clusters (its set-up and cleanup).

The app runs in both clusters and is exported as a global service (``solo.io/service-scope=global``,
R9.1); cluster1's gateway routes to ``in-ambient.httpbin.mesh.internal``; the gateway's ztunnel keeps
every request in cluster1 while a pod there is healthy (Solo's default PreferNetwork, R9.2, R5.8) and
sends them all to cluster2 through its east-west gateway when none is; both clusters' ztunnel logs
prove the path; then the traffic comes home (``global_failover.py``). Every command names its cluster
(``kubectl --context``; ``two_clusters.py``), and the guide's own steps (install, sample app, Gateway) run on
either cluster through a Run bound to it. What the cluster-in-a-box does not model is said and skipped, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .. import manifests, shell
from ..checks import CheckResult, check, from_wait, poll
from ..errors import NotFound, ParameterError
from .cluster import condition, get_json, items, replicas_selector, seen
from .install import GUIDE_JSONPATH, ambient_namespace, find_address, gateway, gateway_api_crds, helm, values_file
from .prerequisites import _available, _daemonset_ready, license_secret
from .routing import sample_app
from .run import Run, Step, do_step, seconds
from .teardown import CREATED_KINDS
from .two_clusters import clusters, context_helm, ensure_second_simulator, release_second_simulator

SCOPE_LABEL = "solo.io/service-scope"
MODE_ANNOTATION = "networking.istio.io/traffic-distribution"
NETWORK_LABEL = "topology.istio.io/network"


def global_host(run: Run) -> str:
    """``<name>.<namespace>.mesh.internal``: the global service's hostname (R9.1)."""
    p = run.params
    return f"{p.app.name}.{p.namespaces.app}.mesh.internal"


def _name(crun: Run) -> str:
    return crun.kube.context


# ---- 08.1 the two clusters -------------------------------------------------------------------------


def peered_clusters(run: Run) -> None:
    """Both clusters answer, each runs the ambient mesh, and they are on two networks."""
    def act(run: Run, s: Step) -> None:
        started = ensure_second_simulator(run)
        run.state["second_simulator_started"] = run.state.get("second_simulator_started") or started
        run.state.pop("two_clusters", None)  # a restarted simulator listens elsewhere: bind afresh
        try:
            tc = clusters(run)
        except ParameterError as exc:  # before anything touches a cluster
            s.add(check("two peered clusters named in the params", False, exc.message, exc.hint or ""))
            return
        if tc.kubeconfig is not None:
            os.environ["KUBECONFIG"] = str(tc.kubeconfig)  # `!kubectl` cells reach the same file
            shell.record(shell.CommandResult(["export"], 0, "", "", f"export KUBECONFIG={tc.kubeconfig_shown}"))
        shell.run(["kubectl", "config", "get-contexts"], timeout=30, env=tc.local.kube.env)
        networks = {}
        for label, crun in zip(("cluster1", "cluster2"), tc.both, strict=True):
            s.add(*_mesh_checks(crun, label))
            res = crun.kube.kubectl("get", "namespace", crun.params.namespaces.istio, "-L", NETWORK_LABEL,
                                    check=False)
            networks[label] = _last_column(res.stdout)
        s.add(check("the two clusters are on different networks",
                    all(networks.values()) and len(set(networks.values())) == 2,
                    ", ".join(f"{k}: {v or 'no network label'}" for k, v in networks.items()),
                    f"multi-network ambient labels istio-system with {NETWORK_LABEL}=<network> in each "
                    "cluster; without two networks there is no east-west gateway to fail over through"))
        s.note(f"{_name(tc.local)} (cluster1) holds the gateway; {_name(tc.remote)} (cluster2) is its peer. "
               "Every command below names its cluster with --context.")
    do_step(run, "08.1", "Two peered clusters", act, None)


def _mesh_checks(crun: Run, label: str) -> list[CheckResult]:
    ns, timeout = crun.params.namespaces.istio, crun.params.timeouts.pods_ready
    res = crun.kube.kubectl("get", "nodes", "-L", "topology.kubernetes.io/region,topology.kubernetes.io/zone",
                            check=False)
    nodes = max(0, len(res.stdout.strip().splitlines()) - 1)
    out = [check(f"{label} ({_name(crun)}) answers", res.returncode == 0 and nodes > 0,
                 f"{nodes} nodes" if res.returncode == 0 else res.stderr.strip()[:200],
                 f"kubectl config get-contexts; is {_name(crun)} the context you mean and is that cluster up?")]
    if not out[0].ok:
        return out
    out.append(from_wait(f"{label}: istiod available", lambda: crun.kube.wait_for(
        "deployment", "istiod", ns, lambda o: _available(o) >= 1, lambda o: f"{_available(o)} available",
        timeout=timeout, what="an available replica"), detail=lambda o: f"{_available(o)} replica(s) available",
        hint="install Istio ambient with multicluster peering in both clusters first"))
    out.append(_daemonset_ready(crun, ns, "ztunnel", f"{label}: a ztunnel ready on every node",
                                "a ready ztunnel", nodes, timeout))
    return out


def _last_column(table: str) -> str:
    rows = table.strip().splitlines()
    cells = rows[1].split() if len(rows) > 1 else []
    return cells[-1] if len(cells) >= 4 else ""  # NAME STATUS AGE <label>: empty when unlabelled


# ---- 08.2-08.4 kgateway, the app, the route ----------------------------------------------------------


def _guide_steps(s: Step, crun: Run, label: str, *steps: Callable[[Run], None]) -> None:
    """Run the guide's own steps against one cluster (their commands show here); one check each."""
    start = len(crun.results)
    crun.state["_preparing"] = True
    try:
        for fn in steps:
            fn(crun)
    finally:
        crun.state.pop("_preparing", None)
    for r in crun.results[start:]:
        bad = next((c for c in r.checks if not c.ok), None)
        s.add(check(f"{label}: {r.title}", bad is None,
                    "; ".join(c.name for c in r.checks) if bad is None else f"{bad.name}: {bad.detail}",
                    bad.hint if bad else "", bad.reason if bad else ""))


def kgateway_in_cluster1(run: Run) -> None:
    """Guide step 1 in cluster1: the Gateway API CRDs, both charts, kgateway-system in the mesh, the Gateway."""
    def act(run: Run, s: Step) -> None:
        local = clusters(run).local
        _guide_steps(s, local, "cluster1", gateway_api_crds)
        s.add(*_install_charts(local))
        _guide_steps(s, local, "cluster1", ambient_namespace, gateway)
    do_step(run, "08.2", "kgateway in cluster1 (guide step 1 there)", act, None)


def _install_charts(crun: Run) -> list[CheckResult]:
    """The two enterprise-kgateway charts, ``helm --kube-context <cluster1>``; the key in a 0600 file."""
    k, ns = crun.params.kgateway, crun.params.namespaces.kgateway
    h = context_helm(helm(crun))
    off = {name: False for name, value in (("installExtAuthCRDs", k.install_ext_auth_crds),
                                           ("installRateLimitCRDs", k.install_rate_limit_crds),
                                           ("installEnterpriseListenerSetCRD",
                                            k.install_enterprise_listener_set_crd)) if value is False}
    h.upgrade_install(k.crds_release, k.crds_chart, version=k.version, namespace=ns, create_namespace=True,
                      set_values=off or None)
    with values_file(crun) as path:
        shell.record(shell.CommandResult(["cat"], 0, "", "",
                                         f"cat <<EOF > {path.name}\n{path.read_text().rstrip()}\nEOF"))
        h.upgrade_install(k.release, k.chart, version=k.version, namespace=ns, create_namespace=True,
                          values_files=[path.name], secret_values={"licensing.licenseKey": license_secret(crun)},
                          cwd=path.parent)
    out = []
    for release in (k.crds_release, k.release):
        st = h.status(release, namespace=ns)
        out.append(check(f"cluster1: helm release {release} deployed", st.status == "deployed",
                         f"revision {st.revision}, status {st.status}",
                         f"helm --kube-context {_name(crun)} status {release} -n {ns}"))
    rollout = crun.params.timeouts.rollout
    res = crun.kube.rollout_status("deployment", k.release, namespace=ns, timeout=rollout)
    out.append(check("cluster1: the kgateway control plane is running", res.returncode == 0,
                     res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "not rolled out",
                     f"kubectl --context {_name(crun)} logs -n {ns} deploy/{k.release}"))
    return out


def app_in_both_clusters(run: Run) -> None:
    """The in-ambient app in both clusters (the same name in the same namespace), exported as global."""
    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        p = run.params
        for label, crun in zip(("cluster1", "cluster2"), tc.both, strict=True):
            _guide_steps(s, crun, label, sample_app)
        for crun in tc.both:  # guide step 2's scale, in both clusters at once, then the waits
            crun.kube.scale("deployment", p.app.name, crun.params.app.replicas, namespace=p.namespaces.app)
        for label, crun in zip(("cluster1", "cluster2"), tc.both, strict=True):
            want = crun.params.app.replicas
            def ready(crun: Run = crun, want: int = want) -> list[dict[str, Any]]:
                return crun.kube.wait_for_ready_pods(p.namespaces.app, replicas_selector(crun), want,
                                                     timeout=p.timeouts.pods_ready)
            s.add(from_wait(f"{label}: {want} replicas Ready", ready,
                detail=lambda pods: f"{len(pods)} pods Ready",
                hint=f"kubectl --context {_name(crun)} describe pods -n {p.namespaces.app}"))
        for crun in tc.both:
            crun.kube.label("service", p.app.name, {SCOPE_LABEL: "global"}, namespace=p.namespaces.app,
                            overwrite=True)
        for crun in tc.both:
            crun.kube.kubectl("get", "pods", "-n", p.namespaces.app, "-o", "wide")
        s.note(f"{SCOPE_LABEL}=global on the Service (or its Namespace) joins it to the global service "
               f"{global_host(run)}: the ready pods of the same-named Service in the same-named namespace "
               "of every peered cluster (namespace sameness, R9.1). The label changes nothing for "
               f"{p.app.name}.{p.namespaces.app}.svc.cluster.local, which stays local to its cluster (R9.3).")
    do_step(run, "08.3", "The app in both clusters, as a global service", act, None)


def route_to_global_service(run: Run) -> None:
    """The guide's HTTPRoute, sent to ``in-ambient.httpbin.mesh.internal`` instead of the Service."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        local = clusters(run).local
        route = manifests.render("httproute", p, run.run_id)
        route[0]["spec"]["rules"][0]["backendRefs"] = [
            {"group": "networking.istio.io", "kind": "Hostname", "name": global_host(run), "port": p.app.port}]
        local.kube.apply(route)
        for cond in ("Accepted", "ResolvedRefs"):
            def route_condition(c: str = cond) -> tuple[bool, str]:
                return _route_condition(local, c)
            s.add(poll(f"HTTPRoute {p.route.name} {cond}", route_condition,
                       timeout=seconds(p.timeouts.gateway_ready), interval=0.2,
                       hint=f"kubectl --context {_name(local)} describe httproute {p.route.name} -n "
                            f"{p.namespaces.app}: BackendNotFound means no cluster exports {global_host(run)}"))
        local.kube.kubectl("get", "httproute", "-n", p.namespaces.app)
        export_gateway_address(local)
        s.note("The page says to route to the global hostname but shows no route. A Gateway API route "
               "names it as a backendRef of kind Hostname in group networking.istio.io (R9.1, Solo's "
               "'ingress to multicluster ambient' guide). The gateway sees one host, the global service's "
               "VIP, so as with the waypoint's VIP (R8.3) a DestinationRule at the gateway has nothing to "
               "act on: the gateway's ztunnel picks the endpoint.")
    do_step(run, "08.4", f"Route {p.route.hostname} to {global_host(run)}", act, None)


def _route_condition(crun: Run, cond: str) -> tuple[bool, str]:
    p = crun.params
    c = condition(get_json(crun, "httproute", p.route.name, p.namespaces.app), cond, "parents")
    return c.get("status") == "True", seen(c)


def export_gateway_address(crun: Run) -> str:
    """``export KGATEWAY_IP=$(kubectl --context <cluster1> get svc ...)``, shown, and in this kernel."""
    p = crun.params
    crun.state.pop("address", None)
    address = find_address(crun)
    host = address.rsplit(":", 1)[0]
    if "port_forward" not in crun.state:  # a port-forward shows its own `export KGATEWAY_IP=localhost`
        shell.record(shell.CommandResult(["export"], 0, "", "", f"export KGATEWAY_IP=$(kubectl --context "
                                         f"{_name(crun)} get svc -n {p.namespaces.kgateway} {p.gateway.name} "
                                         f'-o=jsonpath="{GUIDE_JSONPATH}")'))
    os.environ["KGATEWAY_IP"] = host
    return address


# ---- 08.13 clean up (08.5-08.12: global_failover.py) ---------------------------------------------------------


def cleanup_clusters(run: Run) -> None:
    """Remove what notebook 08 created in both clusters, prove nothing is left, stop what it started."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        tc.local.kube.delete("httproute", [p.route.name], namespace=p.namespaces.app, ignore_not_found=True)
        tc.local.kube.delete("gateway", [p.gateway.name], namespace=p.namespaces.kgateway, ignore_not_found=True)
        for crun in tc.both:  # both at once, then watch both go
            crun.kube.delete_namespace(p.namespaces.app, wait=False, ignore_not_found=True)
        for label, crun in zip(("cluster1", "cluster2"), tc.both, strict=True):
            def deleted(crun: Run = crun) -> None:
                crun.kube.wait_for_deletion("namespace", p.namespaces.app, timeout=p.timeouts.deletion)
            s.add(from_wait(f"{label}: namespace {p.namespaces.app} deleted", deleted, detail="gone",
                hint=f"kubectl --context {_name(crun)} get namespace {p.namespaces.app} -o yaml"))
        for label, crun in zip(("cluster1", "cluster2"), tc.both, strict=True):
            left = _leftovers(crun)
            s.add(check(f"{label}: nothing notebook 08 created is left", not left,
                        "none" if not left else ", ".join(left[:10]),
                        f"kubectl --context {_name(crun)} get all -A -l {manifests.RUN_LABEL}"))
        s.note("Like the guide's cleanup, kgateway stays installed in cluster1 (see its uninstall guide).")
        said = release_second_simulator(run, bool(run.state.pop("second_simulator_started", False)))
        if said:
            run.state.pop("two_clusters", None)
            s.note(said)
    do_step(run, "08.13", "Clean up both clusters", act, None)


def _leftovers(crun: Run) -> list[str]:
    """Objects with this run's label, of the kinds the runbook creates that this cluster serves (cluster2
    has no Gateway API CRDs: notebook 08 installs them only where the gateway is)."""
    found = []
    for kind in CREATED_KINDS:
        try:
            objs = items(crun, kind, None, f"{manifests.RUN_LABEL}={crun.run_id}")
        except NotFound:
            continue
        found += [f"{kind}/{o['metadata'].get('namespace', '') + '/' if o['metadata'].get('namespace') else ''}"
                  f"{o['metadata']['name']}" for o in objs]
    return found
