"""Notebook 02 (guide step 2): the sample app, the HTTPRoute, traffic to every replica, mTLS."""

from __future__ import annotations

from typing import Any

from .. import manifests
from ..checks import check, from_wait, poll
from .cluster import (
    app_selector,
    apply,
    condition,
    get_json,
    identity,
    items,
    kubectl,
    ready_pods,
    replicas_selector,
    seen,
)
from .evidence import distribution, endpoints_check, send
from .run import RUN_LABEL, Run, Step, do_step, seconds


def sample_app(run: Run) -> None:
    """Step 02.1: deploy the in-ambient sample app and check its namespace is in the mesh and its Service's ports."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        if p.manifests_source == "bundled":
            apply(run, manifests.render("in-ambient", p, run.run_id))
            s.note("With manifests: bundled the runbook applies the project's own in-ambient manifest "
                   "(namespace labelled for ambient, ServiceAccount, Service port 8000 -> 8080, "
                   "go-httpbin Deployment with a readiness probe); manifests: upstream applies the "
                   "guide's URL (app.manifest_url).")
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
    do_step(run, "02.1", "Deploy the in-ambient sample app", act, verify)


def scale_app(run: Run) -> None:
    """Step 02.2: scale in-ambient to the replicas the params ask for and wait until that many are Ready."""
    p = run.params
    want = p.app.replicas

    def act(run: Run, s: Step) -> None:
        run.kube.scale("deployment", p.app.name, want, namespace=p.namespaces.app)

    def verify(run: Run, s: Step) -> None:
        s.add(from_wait(f"{want} replicas Ready",
                        lambda: run.kube.wait_for_ready_pods(p.namespaces.app, replicas_selector(run),
                                                             want, timeout=p.timeouts.pods_ready),
                        detail=lambda pods: f"{len(pods)} pods Ready",
                        hint=f"kubectl describe pods -n {p.namespaces.app} -l {app_selector(run)}"))
        kubectl(run, "get", "pods", "-n", p.namespaces.app)
    do_step(run, "02.2", f"Scale in-ambient to {want} replicas", act, verify)


def http_route(run: Run) -> None:
    """Step 02.3: route the app's hostname to in-ambient with an HTTPRoute and check the Gateway accepts it."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("httproute", p, run.run_id))

    def verify(run: Run, s: Step) -> None:
        def accepted() -> tuple[bool, str]:
            c = condition(get_json(run, "httproute", p.route.name, p.namespaces.app),
                          "Accepted", "parents")
            return c.get("status") == "True", seen(c)
        s.add(poll(f"HTTPRoute {p.route.name} Accepted by {p.gateway.name}", accepted,
                   timeout=seconds(p.timeouts.gateway_ready), interval=0.2,
                   hint=f"kubectl describe httproute {p.route.name} -n {p.namespaces.app}"))
        kubectl(run, "get", "httproute", "-n", p.namespaces.app)
    do_step(run, "02.3", f"Route {p.route.hostname} to in-ambient", act, verify)


def traffic_reaches_every_replica(run: Run) -> None:
    """Step 02.4: send requests through the gateway and check every replica answers some of them."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        count = int(run.state.get("requests", p.traffic.requests))
        s.add(endpoints_check(run, p.app.name, p.namespaces.app))
        pods = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                replicas_selector(run)))
        df = send(run, count)
        distribution(run, s, df, pods, "ROUND_ROBIN", "gateway -> ztunnel -> pod")
        s.note("The guide says ztunnel round-robins here. It does not: kgateway's Envoy picks the "
               "pod (round robin over pod IPs) and ztunnel only carries the connection to the pod "
               "it was given (R1.1, R1.2); where ztunnel itself chooses, it picks at random per "
               "connection (R4.5).")
    do_step(run, "02.4", "Requests through the gateway reach every replica", act, None,
          knobs={"requests": (1, 300, p.traffic.requests)})


def mtls_proof(run: Run) -> None:
    """For each backend pod: its node, the ztunnel there, and the identities in that ztunnel's log."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        from .. import logs  # pandas: loaded on use, not at notebook start

        send(run, p.app.replicas * 2, show=False)  # make sure every pod has fresh log lines
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-o", "wide")
        kubectl(run, "get", "pods", "-n", p.namespaces.istio, "-o", "wide", "-l", "app=ztunnel")
        pods = ready_pods(run, p.namespaces.app, replicas_selector(run))
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
            text = run.kube.logs_text(p.namespaces.istio, zt, tail=400)
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
    do_step(run, "02.5", "Traffic between the gateway and the app is mutual TLS", act, None)


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
