"""Notebook 08's traffic: where the global service's requests go, and the proof in the ztunnel logs.

Through cluster1's gateway to ``in-ambient.httpbin.mesh.internal`` (set up by ``multicluster.py``):
PreferNetwork keeps every request in cluster1 (R9.2, R5.2, Solo's default R5.8), cluster1 scaled to 0
sends them all to cluster2 through its east-west gateway (R9.1), both clusters' ztunnel logs show the
path, the traffic comes home, and ``Any`` spreads it over both. Each claim is a measured distribution
with its tolerance (``stats.check_distribution``, ZTUNNEL: a random pick per connection, R4.5). What
the cluster-in-a-box does not model is said and skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import manifests, ui
from ..checks import CheckResult, check, from_wait, poll, skipped
from .cluster import condition, get_json, identity, items, ready_pods, replicas_selector
from .evidence import send
from .install import find_address
from .multicluster import MODE_ANNOTATION, SCOPE_LABEL, _name, global_host
from .run import Run, Step, do_step, seconds
from .two_clusters import TwoClusters, cluster_run, clusters

# ---- 08.5-08.9 where the traffic goes -----------------------------------------------------------------


def app_pods(crun: Run) -> list[dict[str, Any]]:
    """The app's Ready pods in one cluster."""
    return ready_pods(crun, crun.params.namespaces.app, replicas_selector(crun))


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return sorted(x["metadata"]["name"] for x in pods)


def measure(s: Step, tc: TwoClusters, where: str, why: str, count: int | None = None) -> Any:
    """``multicluster.requests`` requests through cluster1's gateway; every answer must come from ``where``
    (``cluster1``, ``cluster2`` or ``both``), spread over its pods as ztunnel's random pick predicts."""
    from .. import plots, stats  # matplotlib, pandas: loaded on use, not at notebook start

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
    fig = plots.plot_requests_per_pod(df, check=result, title=f"requests per pod ({where})")
    home = {name: label for label, names in pods.items() for name in names}
    ax = fig.axes[0]  # each bar's label says which cluster runs its pod
    ax.set_xticks(ax.get_xticks(), [f"{t.get_text()}\n{_home_of(t.get_text(), home)}" for t in ax.get_xticklabels()])
    s.figure(fig)
    return df


def _cluster_share(share: dict[str, int], n: int, k1: int, k2: int) -> CheckResult:
    """With every pod equally likely, cluster2's count is Binomial(n, k2/(k1+k2)) (99.9 % band)."""
    from .. import stats  # pandas: loaded on use, not at notebook start

    lo, hi = stats.binomial_interval(n, k2 / (k1 + k2), 0.001)
    return check("cluster2's share is its pods' share of all pods", lo <= share["cluster2"] <= hi,
                 f"cluster2 {share['cluster2']} of {n}; expected {k2} of {k1 + k2} pods -> Binomial({n}, "
                 f"{k2}/{k1 + k2}), allowed {lo}..{hi} at 99.9 %",
                 "both clusters should share the traffic: is the annotation on the Service in cluster1?")


def _home_of(shown: str, home: dict[str, str]) -> str:
    """The cluster of a pod as the plot names it (whole, or shortened to ``…<tail>``)."""
    tail = shown.lstrip("…")
    return next((label for name, label in home.items() if name.endswith(tail)), "")


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


def _answered_after(timeline: Any, pods: list[str], t: float, label: str, need: int = 10) -> tuple[bool, str]:
    """At least ``need`` answers from ``pods`` (``label``'s) sent after ``t``."""
    after = timeline[(timeline["t"] >= t) & timeline["pod"].isin(pods)]
    if len(after) >= need:
        return True, f"{label}'s pods answer"
    return False, f"{len(after)} of {need} answers from {label}'s pods ({', '.join(pods) or 'none'}) so far"


def _sampled(run: Run, s: Step, crun: Run, title: str, change: Callable[[Any], None]) -> Any:
    """Traffic at 20 requests/s through cluster1's gateway while ``change(sampler)`` runs; the timeline
    (simulated seconds on the simulator) is plotted."""
    from .. import plots, stats, traffic  # matplotlib, pandas: loaded on use, not at notebook start

    p = crun.params
    with traffic.TrafficSampler(find_address(crun), host=p.route.hostname, rate=20.0,
                                timeout=seconds(p.traffic.request_timeout)) as sampler, \
            ui.LiveChart(run.interactive, title) as chart:
        chart.start(lambda: stats.on_simulated_clock(sampler.timeline(), crun.speed), plots.plot_failover_timeline)
        change(sampler)
    timeline = stats.on_simulated_clock(sampler.timeline(), crun.speed)  # the two-cluster simulator's clock
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
                       lambda: _answered_after(sampler.timeline(), local, 0.0, "cluster1"), timeout=15, interval=0.1,
                       hint="cluster1 needs ready pods first: step 08.8 scales it back"))
            tc.local.kube.scale("deployment", p.app.name, 0, namespace=ns)
            t = sampler.mark("scaled to 0")
            s.add(from_wait("cluster1's pods are gone", lambda: tc.local.kube.wait_for_pod_count(
                ns, replicas_selector(tc.local), 0, timeout=p.timeouts.deletion), detail="0 pods",
                hint=f"kubectl --context {_name(tc.local)} get pods -n {ns}"))
            s.add(poll("cluster2 answers", lambda: _answered_after(sampler.timeline(), remote, t, "cluster2"),
                       timeout=seconds(p.timeouts.pods_ready), interval=0.1,
                       hint="is the Service in cluster2 labelled solo.io/service-scope=global (step 08.3)?"))
        _sampled(run, s, tc.local, "failover: cluster1 scaled to 0", change)
        tc.local.kube.kubectl("get", "deployment", p.app.name, "-n", ns)
        measure(s, tc, "cluster2",
                "expected: 100 % in cluster2, no tolerance: with no healthy endpoint left on cluster1's network "
                "the whole of the traffic moves to the next tier, the other network (R9.2, R5.2).")
        _local_name_stays_local(s, tc)
        s.note("Scaling to 0 is a real mechanism: the pods' endpoints leave the global service as they "
               "terminate (R6.3), so this failover is the traffic distribution's, not outlier detection's. "
               "Requests sent in the moment cluster1's pods stop can fail (red in the timeline): the app stops "
               "before istiod's push reaches the gateway's ztunnel (R6.7, R6.4).")
    do_step(run, "08.6", "Failover: cluster1's pods go, cluster2 answers", act, None)


def _local_name_stays_local(s: Step, tc: TwoClusters) -> None:
    """The contrast: the same app by its cluster-local name (the guide's own route to the Service) has
    no endpoint left, because a Service that is not global never gets another cluster's (R9.3)."""
    p = tc.local.params
    route = p.route.model_copy(update={"name": f"{p.route.name}-local", "hostname": f"local.{p.route.hostname}"})
    local = cluster_run(tc.local, tc.local.kube.context, tc.local.kube.kubeconfig, route=route)
    local.kube.apply(manifests.render("httproute", local.params, local.run_id))
    s.add(poll(f"HTTPRoute {route.name} (to the Service {p.app.name}) Accepted", lambda: (condition(
        get_json(local, "httproute", route.name, p.namespaces.app), "Accepted", "parents").get("status") == "True",
        "Accepted"), timeout=seconds(p.timeouts.gateway_ready), interval=0.2))
    local.state["address"] = find_address(tc.local)
    df = send(local, 5, status_only=True)
    codes = sorted({int(x) for x in df["status"].dropna()})
    s.add(check(f"{route.hostname} (the cluster-local {p.app.name}.{p.namespaces.app}.svc.cluster.local) does not "
                "fail over", codes == [503] and df["status"].notna().all(),
                f"5 requests answered {', '.join(map(str, codes)) or 'nothing'}: no endpoint in cluster1, and none "
                "from cluster2 for a Service that is not global (R9.3)",
                f"kubectl --context {_name(tc.local)} get endpointslices -n {p.namespaces.app}"))


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
        s.show(_table(to_remote, ["dst.addr", "dst.hbone_addr", "dst.service", "direction"],
                      "cluster1's gateway ztunnel"))
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

    from .. import logs  # pandas: loaded on use, not at notebook start

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
            sampler.mark(f"scaled to {p.app.replicas}")
            pods: list[dict[str, Any]] = []

            def ready() -> list[dict[str, Any]]:
                pods.extend(tc.local.kube.wait_for_ready_pods(ns, replicas_selector(tc.local), p.app.replicas,
                                                              timeout=p.timeouts.pods_ready))
                return pods
            s.add(from_wait(f"cluster1: {p.app.replicas} replicas Ready", ready,
                detail=lambda x: f"{len(x)} pods Ready",
                hint=f"kubectl --context {_name(tc.local)} describe pods -n {ns}"))
            t = sampler.mark("pods ready")
            s.add(poll("cluster1 answers again",
                       lambda: _answered_after(sampler.timeline(), _names(pods), t, "cluster1"),
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
