"""Notebook 08: the concepts page's multicluster scenario, done on two peered clusters.

The app runs in both clusters and is exported as a global service (``solo.io/service-scope=global``,
R9.1); cluster1's gateway routes to ``in-ambient.httpbin.mesh.internal``; the gateway's ztunnel keeps
every request in cluster1 while a pod there is healthy (Solo's default PreferNetwork, R9.2, R5.8) and
sends them all to cluster2 through its east-west gateway when none is; both clusters' ztunnel logs
prove the path; then the traffic comes home. Every command names its cluster (``kubectl --context``;
``two_clusters.py``), and the guide's own steps (install, sample app, Gateway) run on either cluster
through a Run bound to it. What the cluster-in-a-box does not model is said and skipped, with the reason.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from .. import manifests, shell
from ..checks import CheckResult, check, from_wait, poll, skipped
from ..errors import RunbookError
from .cluster import identity, items, ready_pods, replicas_selector
from .evidence import send
from .install import GUIDE_JSONPATH, ambient_namespace, find_address, gateway, gateway_api_crds, helm, values_file
from .prerequisites import _available, _daemonset_ready, license_secret
from .routing import sample_app
from .run import Run, Step, do_step, seconds
from .teardown import CREATED_KINDS
from .two_clusters import TwoClusters, clusters, context_helm, ensure_second_simulator, release_second_simulator

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
        tc = clusters(run)
        if tc.kubeconfig is not None:
            os.environ["KUBECONFIG"] = str(tc.kubeconfig)  # `!kubectl` cells reach the same file
            shell.record(shell.CommandResult(["export"], 0, "", "", f"export KUBECONFIG={tc.kubeconfig_shown}"))
        shell.run(["kubectl", "config", "get-contexts"], timeout=30, env=tc.local.kube.env)
        networks = {}
        for label, crun in zip(("cluster1", "cluster2"), tc.both):
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
    path = values_file(crun)
    shell.record(shell.CommandResult(["cat"], 0, "", "", f"cat <<EOF > {path.name}\n{path.read_text().rstrip()}\nEOF"))
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
        for label, crun in zip(("cluster1", "cluster2"), tc.both):
            _guide_steps(s, crun, label, sample_app)
        for crun in tc.both:  # guide step 2's scale, in both clusters at once, then the waits
            crun.kube.scale("deployment", p.app.name, crun.params.app.replicas, namespace=p.namespaces.app)
        for label, crun in zip(("cluster1", "cluster2"), tc.both):
            want = crun.params.app.replicas
            s.add(from_wait(f"{label}: {want} replicas Ready", lambda crun=crun, want=want: crun.kube.wait_for_ready_pods(
                p.namespaces.app, replicas_selector(crun), want, timeout=p.timeouts.pods_ready),
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
            s.add(poll(f"HTTPRoute {p.route.name} {cond}", lambda c=cond: _route_condition(local, c),
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
    from .cluster import condition, get_json, seen

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


# ---- 08.5-08.9 where the traffic goes -----------------------------------------------------------------


def app_pods(crun: Run) -> list[dict[str, Any]]:
    return ready_pods(crun, crun.params.namespaces.app, replicas_selector(crun))


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return sorted(x["metadata"]["name"] for x in pods)


def by_cluster(df: Any, tc: TwoClusters) -> dict[str, int]:
    """Answers per cluster (a pod name belongs to the cluster that runs it)."""
    where = {name: label for label, crun in zip(("cluster1", "cluster2"), tc.both)
             for name in _names(items(crun, "pods", crun.params.namespaces.app, replicas_selector(crun)))}
    answered = df["pod"].dropna().astype(str)
    counts = {"cluster1": 0, "cluster2": 0, "unknown": 0}
    for pod in answered:
        counts[where.get(pod, "unknown")] += 1
    return counts


def measure(s: Step, tc: TwoClusters, where: str, why: str, count: int | None = None) -> Any:
    """``multicluster.requests`` requests through cluster1's gateway; every answer must come from ``where``
    (``cluster1``, ``cluster2`` or ``both``), spread over its pods as ztunnel's random pick predicts."""
    from .. import plots, stats

    run = tc.local
    pods = {"cluster1": _names(app_pods(tc.local)), "cluster2": _names(app_pods(tc.remote))}
    expected = pods["cluster1"] + pods["cluster2"] if where == "both" else pods[where]
    df = send(run, count or run.params.multicluster.requests)
    result = stats.check_distribution(df, "ZTUNNEL", expected_pods=expected, confidence=0.999)
    share = {label: int(df["pod"].isin(names).sum()) for label, names in pods.items()}
    failed = int(len(df) - sum(share.values()))
    s.show(f"answers by cluster: cluster1 {share['cluster1']}, cluster2 {share['cluster2']}, "
           f"failed or from no known pod {failed}\n{why}\n{_per_pod(result, pods)}")
    s.add(check(f"every request answered by {'a pod of either cluster' if where == 'both' else where}",
                failed == 0 and (where == "both" or share[where] == len(df)),
                f"{len(df)} requests: cluster1 {share['cluster1']}, cluster2 {share['cluster2']}, other {failed}",
                f"kubectl --context {_name(tc.local)} logs -n {run.params.namespaces.kgateway} "
                f"deploy/{run.params.gateway.name} --tail=5 shows what the gateway got"))
    s.add(check(f"spread over {len(expected)} pods within the tolerance", bool(result.ok),
                f"{result.n} answers over {result.k} pods (ZTUNNEL: random per connection, R4.5)",
                "a pod outside its band: is it Ready? kubectl get pods -o wide in both clusters"))
    if where == "both":
        s.add(_cluster_share(share, len(df), len(pods["cluster1"]), len(pods["cluster2"])))
    s.figure(plots.plot_requests_per_pod(df, check=result, title=f"requests per pod ({where})"))
    return df


def _cluster_share(share: dict[str, int], n: int, k1: int, k2: int) -> CheckResult:
    """With every pod equally likely, cluster2's count is Binomial(n, k2/(k1+k2)) (99.9 % band)."""
    from .. import stats

    lo, hi = stats.binomial_interval(n, k2 / (k1 + k2), 0.001)
    return check("cluster2's share is its pods' share of all pods", lo <= share["cluster2"] <= hi,
                 f"cluster2 {share['cluster2']} of {n}; expected {k2} of {k1 + k2} pods -> Binomial({n}, "
                 f"{k2}/{k1 + k2}), allowed {lo}..{hi} at 99.9 %",
                 "both clusters should share the traffic: is the annotation on the Service in cluster1?")


def _per_pod(result: Any, pods: dict[str, list[str]]) -> str:
    """The check's verdict, each pod with its cluster, count and allowed band, then the reasoning."""
    home = {name: label for label, names in pods.items() for name in names}
    rows = [f"  {r.pod} in {home.get(r.pod, '?')}: {r.count} requests (allowed {r.low}..{r.high})"
            f"{'' if r.ok else '  <- outside'}" for r in result.table.itertuples()]
    head = f"[{'PASS' if result.ok else 'FAIL'}] {result.policy}: {result.n} requests over {result.k} pods"
    return "\n".join([head, *rows, *("  " + line for line in result.explanation)])


def prefer_network(run: Run) -> None:
    """With cluster1's pods healthy, every request stays in cluster1 (Solo's default PreferNetwork)."""
    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        measure(s, tc, "cluster1",
                "expected: 100 % in cluster1, no tolerance: PreferNetwork is a strict tier (R9.2, R5.2); while "
                "any endpoint on the gateway's network is healthy every connection goes there, nothing spills. "
                "Within cluster1 ztunnel picks at random per connection (R4.5), so each pod's count is "
                "Binomial(n, 1/k) and gets the band below.")
        s.note("The page: 'PreferNetwork is used for the backend' by default. That is Solo's distribution; "
               "upstream Istio has no PreferNetwork, and its default for a Service is Any (R5.8, R5.1). "
               "And the spread is not round robin: the gateway's Envoy sees one host (the global VIP), so "
               "its ztunnel picks the pod, at random per connection (R4.5).")
    do_step(run, "08.5", "PreferNetwork keeps traffic in cluster1", act, None)


def _answered_after(timeline: Any, pods: list[str], t: float, label: str, need: int = 3) -> tuple[bool, str]:
    """At least ``need`` answers from ``pods`` (``label``'s) sent after ``t``."""
    after = timeline[(timeline["t"] >= t) & timeline["pod"].isin(pods)]
    if len(after) >= need:
        return True, f"{label}'s pods answer"
    return False, f"{len(after)} of {need} answers from {label}'s pods ({', '.join(pods) or 'none'}) so far"


def _sampled(run: Run, s: Step, crun: Run, title: str, change: Callable[[Any], None]) -> Any:
    """Traffic at 10 requests/s through cluster1's gateway while ``change(sampler)`` runs; the timeline
    (simulated seconds on the simulator) is plotted."""
    from .. import plots, stats, traffic, ui

    p = crun.params
    with traffic.TrafficSampler(find_address(crun), host=p.route.hostname, rate=10.0,
                                timeout=seconds(p.traffic.request_timeout)) as sampler, \
            ui.LiveChart(run.interactive, title) as chart:
        chart.start(lambda: stats.on_simulated_clock(sampler.timeline(), run.speed), plots.plot_failover_timeline)
        change(sampler)
    timeline = stats.on_simulated_clock(sampler.timeline(), run.speed)
    bad = timeline["error"].notna() | (timeline["status"].fillna(0) >= 500)
    s.show(f"{title}: {len(timeline)} requests, {int(bad.sum())} failed while it happened")
    s.figure(plots.plot_failover_timeline(timeline, title=title))
    return timeline


def failover_to_cluster2(run: Run) -> None:
    """cluster1's Deployment scaled to 0 under traffic: every request moves to cluster2, through its
    east-west gateway."""
    p = run.params
    ns = p.namespaces.app

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        local, remote = _names(app_pods(tc.local)), _names(app_pods(tc.remote))

        def change(sampler: Any) -> None:
            s.add(poll("cluster1 answers before its pods go",
                       lambda: _answered_after(sampler.timeline(), local, 0.0, "cluster1"), timeout=15, interval=0.1))
            tc.local.kube.scale("deployment", p.app.name, 0, namespace=ns)
            t = sampler.mark(f"{p.app.name} scaled to 0 in cluster1")
            s.add(from_wait("cluster1's pods are gone", lambda: tc.local.kube.wait_for_pod_count(
                ns, replicas_selector(tc.local), 0, timeout=p.timeouts.deletion), detail="0 pods",
                hint=f"kubectl --context {_name(tc.local)} get pods -n {ns}"))
            sampler.mark("cluster1's pods gone")
            s.add(poll("cluster2 answers", lambda: _answered_after(sampler.timeline(), remote, t, "cluster2"),
                       timeout=seconds(p.timeouts.pods_ready), interval=0.1,
                       hint="is the Service in cluster2 labelled solo.io/service-scope=global (step 08.3)?"))
        _sampled(run, s, tc.local, "failover: cluster1 scaled to 0", change)
        tc.local.kube.kubectl("get", "deployment", p.app.name, "-n", ns)
        measure(s, tc, "cluster2",
                "expected: 100 % in cluster2, no tolerance: with no healthy endpoint left on cluster1's network "
                "the whole of the traffic moves to the next tier, the other network (R9.2, R5.2).")
        s.note("Scaling to 0 is a real mechanism: the pods' endpoints leave the global service as they "
               "terminate (R6.3), so this failover is the traffic distribution's, not outlier detection's.")
    do_step(run, "08.6", "Failover: cluster1's pods go, cluster2 answers", act, None)


def ztunnel_proof(run: Run) -> None:
    """cluster1's gateway ztunnel sent the requests to cluster2's east-west gateway; cluster2's ztunnels
    delivered them to its pods, with the gateway's identity."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        remote = {x["status"].get("podIP"): x["metadata"]["name"] for x in app_pods(tc.remote)}
        gw_nodes = {x["spec"].get("nodeName") for x in items(tc.local, "pods", p.namespaces.kgateway,
                                                                  f"gateway.networking.k8s.io/gateway-name={p.gateway.name}")}
        tc.local.kube.kubectl("get", "pods", "-n", p.namespaces.kgateway, "-o", "wide")
        out = _ztunnel_lines(tc.local, gw_nodes)
        to_remote = out[out["dst.hbone_addr"].astype(str).str.rsplit(":", n=1).str[0].isin(remote)] \
            if "dst.hbone_addr" in out else out.iloc[0:0]
        via = sorted(set(to_remote["dst.addr"].astype(str))) if len(to_remote) else []
        s.show(_table(to_remote, ["dst.addr", "dst.hbone_addr", "dst.service", "direction"], "cluster1's gateway ztunnel"))
        n = p.multicluster.requests
        s.add(check("cluster1: the gateway's ztunnel sent the requests to cluster2's pods over HBONE",
                    len(to_remote) >= n, f"{len(to_remote)} outbound lines with a cluster2 pod as dst.hbone_addr",
                    "run step 08.6 first; kubectl --context <cluster1> logs -n istio-system <ztunnel on the "
                    "gateway's node>"))
        s.add(check("cluster1: through an address that is not a cluster2 pod (its east-west gateway)",
                    bool(via) and not any(v.rsplit(":", 1)[0] in remote for v in via),
                    f"dst.addr {', '.join(via) or 'none'}",
                    "without an east-west gateway the networks cannot reach each other"))
        inbound = _ztunnel_lines(tc.remote, {x["spec"].get("nodeName") for x in app_pods(tc.remote)})
        src = identity(p.namespaces.kgateway, p.gateway.name)
        mine = inbound[(inbound.get("direction") == "inbound") & inbound["dst.workload"].isin(remote.values())] \
            if "dst.workload" in inbound else inbound.iloc[0:0]
        s.show(_table(mine, ["dst.workload", "src.identity", "dst.identity", "direction"], "cluster2's ztunnels"))
        for name in sorted(remote.values()):
            got = mine[(mine["dst.workload"] == name) & (mine["src.identity"] == src)]
            s.add(check(f"cluster2: {name} got mutual TLS from the gateway", len(got) > 0,
                        f"{len(got)} inbound lines from {src}",
                        "is httpbin in cluster2 in the ambient mesh (istio.io/dataplane-mode=ambient)?"))
        s.note("The remote pod's inbound lines name the gateway of cluster1 as their source identity: "
               "the connection is mutual TLS end to end through the east-west gateway, which only "
               "forwards it (R9.1).")
    do_step(run, "08.7", "Both clusters' ztunnel logs", act, None)


def _ztunnel_lines(crun: Run, nodes: set[str]) -> Any:
    """The access lines of the ztunnels on ``nodes`` (each read is shown: its last lines)."""
    import pandas as pd

    from .. import logs

    ns = crun.params.namespaces.istio
    frames = []
    for zt in items(crun, "pods", ns, "app=ztunnel"):
        if zt["spec"].get("nodeName") not in nodes:
            continue
        name = zt["metadata"]["name"]
        crun.kube.kubectl("logs", "-n", ns, name, "--tail=2")  # what a learner reads
        frames.append(logs.parse_ztunnel(crun.kube.read_logs(name, ns, tail_lines=500)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _table(df: Any, cols: list[str], what: str) -> str:
    have = [c for c in cols if c in df.columns]
    if not len(df) or not have:
        return f"{what}: no matching lines"
    rows = df[have].drop_duplicates().sort_values(have)
    return f"{what}, its lines' distinct {', '.join(have)}:\n{rows.to_string(index=False)}"


def return_to_cluster1(run: Run) -> None:
    """cluster1 scaled back: once its pods are ready, every request is home again."""
    p = run.params
    ns = p.namespaces.app

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)

        def change(sampler: Any) -> None:
            tc.local.kube.scale("deployment", p.app.name, p.app.replicas, namespace=ns)
            sampler.mark(f"{p.app.name} scaled to {p.app.replicas} in cluster1")
            pods = []
            s.add(from_wait(f"cluster1: {p.app.replicas} replicas Ready", lambda: pods.extend(
                tc.local.kube.wait_for_ready_pods(ns, replicas_selector(tc.local), p.app.replicas,
                                                  timeout=p.timeouts.pods_ready)) or pods,
                detail=lambda x: f"{len(x)} pods Ready",
                hint=f"kubectl --context {_name(tc.local)} describe pods -n {ns}"))
            t = sampler.mark("cluster1's pods ready")
            s.add(poll("cluster1 answers again", lambda: _answered_after(sampler.timeline(), _names(pods), t, "cluster1"),
                       timeout=seconds(p.timeouts.pods_ready), interval=0.1))
        _sampled(run, s, tc.local, "return: cluster1 scaled back", change)
        measure(s, tc, "cluster1", "expected: 100 % in cluster1 again, no tolerance (R9.2, R5.2): the local "
                                   "tier is preferred as soon as one of its endpoints is healthy.")
    do_step(run, "08.8", "The return: cluster1's pods come back", act, None)


def any_mode(run: Run) -> None:
    """``networking.istio.io/traffic-distribution=Any`` on the global service: both clusters share."""
    p = run.params
    ns = p.namespaces.app

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        for crun in tc.both:
            crun.kube.annotate("service", p.app.name, {MODE_ANNOTATION: "Any"}, namespace=ns, overwrite=True)
        try:
            measure(s, tc, "both",
                    "expected: every pod of both clusters in its band, and cluster2's share near its pods' share: "
                    "with Any ztunnel picks among all healthy endpoints at random (R5.8 [solo], R5.2 'Any = all "
                    "healthy endpoints').", count=2 * p.multicluster.requests)
        finally:
            for crun in tc.both:
                crun.kube.annotate("service", p.app.name, {MODE_ANNOTATION: None}, namespace=ns)
        s.note("The page sets this annotation on the global service. Its Solo modes (PreferNetwork, "
               "PreferRegion, Any) do not exist upstream, where any value but PreferClose/PreferSameZone/"
               "PreferSameNode means Any (R5.1, R5.8). The runbook removed the annotation again.")
    do_step(run, "08.9", "Any: the global service spread over both clusters", act, None)


# ---- 08.10-08.12 what the cluster-in-a-box does not model -------------------------------------------

NOT_MODELLED = ("the cluster-in-a-box does not model it, and the runbook does on a cluster only what it "
                "checks on the simulator")


def other_service_scopes(run: Run) -> None:
    """The other scopes the page names: said, and skipped with the reason."""
    def act(run: Run, s: Step) -> None:
        s.add(skipped("solo.io/service-scope=global-only, segment, cluster; solo.io/service-takeover",
                      NOT_MODELLED))
        s.note("The page says these 'behave in the same way; only the number of endpoints that can be "
               "addressed differs' (R9.1 agrees). On a Solo cluster: `kubectl --context <cluster1> label svc "
               f"{run.params.app.name} -n {run.params.namespaces.app} {SCOPE_LABEL}=cluster --overwrite` "
               "should leave only cluster1's endpoints, so step 08.6 would answer 503 instead of failing over.")
    do_step(run, "08.10", "Other service scopes (not modelled)", act, None)


def waypoint_on_global_service(run: Run) -> None:
    """The page's diagram puts a waypoint in front of the global service: said, and skipped."""
    def act(run: Run, s: Step) -> None:
        s.add(skipped("a waypoint on the global service (istio.io/ingress-use-waypoint=true)", NOT_MODELLED))
        s.note("In the page's diagram the gateway's ztunnel sends to cluster1's waypoint, which balances "
               "over local and cross-cluster endpoints. The simulator takes the page's other path, 'if no "
               "waypoint, load balance to global service': the gateway's ztunnel picks the endpoint. "
               "Notebook 03 shows a waypoint on a single cluster.")
    do_step(run, "08.11", "A waypoint on the global service (not modelled)", act, None)


def outlier_detection_across_clusters(run: Run) -> None:
    """A DestinationRule on ``*.mesh.internal`` ejecting a remote pod: said, and skipped."""
    def act(run: Run, s: Step) -> None:
        s.add(skipped(f"a DestinationRule with outlierDetection for {global_host(run)}", NOT_MODELLED))
        s.note("The page's diagram shows a waypoint ejecting an unhealthy cluster2 pod, with a "
               f"DestinationRule on the global hostname ({global_host(run)}). Outlier detection runs in an "
               "Envoy (the waypoint), never in ztunnel (R1.4c), so without a waypoint nothing is ejected; the "
               "research rates the waypoint's cross-cluster ejection low-confidence (R9.2). Notebook 04 shows "
               "outlier detection at a waypoint on one cluster.")
    do_step(run, "08.12", "Outlier detection across clusters (not modelled)", act, None)


# ---- 08.13 clean up ---------------------------------------------------------------------------------


def cleanup_clusters(run: Run) -> None:
    """Remove what notebook 08 created in both clusters, prove nothing is left, stop what it started."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        tc = clusters(run)
        tc.local.kube.delete("httproute", [p.route.name], namespace=p.namespaces.app, ignore_not_found=True)
        tc.local.kube.delete("gateway", [p.gateway.name], namespace=p.namespaces.kgateway, ignore_not_found=True)
        for crun in tc.both:  # both at once, then watch both go
            crun.kube.delete_namespace(p.namespaces.app, wait=False, ignore_not_found=True)
        for label, crun in zip(("cluster1", "cluster2"), tc.both):
            s.add(from_wait(f"{label}: namespace {p.namespaces.app} deleted", lambda crun=crun: crun.kube.wait_for_deletion(
                "namespace", p.namespaces.app, timeout=p.timeouts.deletion), detail="gone",
                hint=f"kubectl --context {_name(crun)} get namespace {p.namespaces.app} -o yaml"))
        for label, crun in zip(("cluster1", "cluster2"), tc.both):
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
    from ..errors import NotFound

    found = []
    for kind in CREATED_KINDS:
        try:
            objs = items(crun, kind, None, f"{manifests.RUN_LABEL}={crun.run_id}")
        except NotFound:
            continue
        found += [f"{kind}/{o['metadata'].get('namespace', '') + '/' if o['metadata'].get('namespace') else ''}"
                  f"{o['metadata']['name']}" for o in objs]
    return found
