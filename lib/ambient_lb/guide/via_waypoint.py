"""Notebook 03 (guide step 3): the waypoint, the service bound to it, proof that traffic crosses it."""

from __future__ import annotations

from typing import Any

from .. import manifests
from ..checks import check, poll
from ..errors import RunbookError
from .cluster import apply, get_json, items, kubectl, ready_pods, replicas_selector
from .evidence import distribution, gateway_backend_hosts, gateway_cluster_name, send
from .run import Run, Step, do_step


def waypoint(run: Run) -> None:
    """Step 03.1: create the waypoint and check it rolls out."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply(run, manifests.render("waypoint", p, run.run_id))
        s.note("The runbook adds spec.infrastructure.annotations to the guide's waypoint: Istio keeps "
               "only a short list of Envoy stats by default, without any cluster's outlier_detection.* "
               "counters, so step 4 could not read the ejections. The proxyStatsMatcher in "
               "proxy.istio.io/config keeps them, and Istio copies the Gateway's infrastructure "
               "annotations onto the waypoint's pods (R13.3, R13.5, R13.6).")

    def verify(run: Run, s: Step) -> None:
        try:
            res = run.kube.rollout_status("deployment", p.waypoint.name,
                                          namespace=p.namespaces.app, timeout=p.timeouts.rollout)
            s.add(check(f"waypoint {p.waypoint.name} rolled out", True,
                        res.stdout.strip().splitlines()[-1]))
        except RunbookError as exc:
            s.fail(f"waypoint {p.waypoint.name} rolled out", exc)
    do_step(run, "03.1", f"Create the waypoint {p.waypoint.name}", act, verify)


def gateway_sees_pods(run: Run) -> None:
    """Before the waypoint labels: the gateway's cluster for in-ambient holds one host per ready pod (R1.1)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
        there = [k for k in WAYPOINT_LABELS if k in ((svc.get("metadata") or {}).get("labels") or {})]
        if there:  # a run before this one bound the service: unbind it, so "before" is before
            run.kube.label("service", p.app.name, {k: None for k in there}, namespace=p.namespaces.app)
            s.note("The service still carried the waypoint labels from an earlier run; the runbook "
                   "removed them so that this step shows the gateway's view without a waypoint. Step "
                   "03.3 puts them back.")
        want = sorted(_endpoint_hosts(run))

        def pods() -> tuple[bool, str]:
            send(run, 1, show=False)  # the gateway's cluster is there once the route has carried traffic
            hosts = sorted(gateway_backend_hosts(run, show=False))
            return hosts == want, f"{gateway_cluster_name(run)}: {', '.join(hosts) or 'no hosts'}"
        s.add(poll("the gateway balances over the pod IPs", pods, timeout=15, interval=0.5,
                   hint=f"compare with kubectl get endpointslices -n {p.namespaces.app} -l "
                        f"kubernetes.io/service-name={p.app.name}", reason=lambda: f"ready endpoints: {want}"))
        hosts = sorted(gateway_backend_hosts(run))
        s.add(check(f"one host per ready endpoint ({len(want)})", hosts == want and len(hosts) > 1,
                    f"{', '.join(hosts)}"))
        s.note("Without a waypoint kgateway's own Envoy holds the pod IPs and picks one per request; "
               "its ztunnel only carries the connection there (R1.1). The gateway's admin listens on "
               "the pod's loopback, so it is read through a port-forward, as kgateway's docs do (R13.2).")
    do_step(run, "03.2", "The gateway's view of in-ambient: every pod", act, None)


def gateway_sees_the_vip(run: Run) -> None:
    """After the labels: kgateway collapses the backend to the Service VIP (R8.1, R1.3); a DR here is useless (R8.3)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
        vip = f"{(svc.get('spec') or {}).get('clusterIP')}:{p.app.port}"
        kubectl(run, "get", "svc", p.app.name, "-n", p.namespaces.app, "-o", "jsonpath={.spec.clusterIP}")

        def collapsed() -> tuple[bool, str]:
            send(run, 1, show=False)
            hosts = gateway_backend_hosts(run, show=False)
            return hosts == [vip], f"{gateway_cluster_name(run)}: {', '.join(hosts) or 'no hosts'}"
        s.add(poll(f"the gateway sends to the Service VIP {vip} only", collapsed, timeout=15, interval=0.5,
                   hint="are both labels of step 03.3 on the service? kgateway collapses a backend only "
                        "when it is bound to a waypoint (R8.1)"))
        hosts = gateway_backend_hosts(run)
        s.add(check("a DestinationRule has nothing to act on at this leg", hosts == [vip],
                    "one host, the VIP: outlier detection could eject it only by cutting all traffic, "
                    "and the default maxEjectionPercent (10 %) never lets it (1 of 1 = 100 %)",
                    "R8.3; the waypoint applies the DestinationRule instead (step 04)"))
        s.note("The concepts page: with istio.io/ingress-use-waypoint the gateway \"collapses the Envoy "
               "endpoints to just one endpoint: the service VIP\", so a DestinationRule on the path from "
               "kgateway to the waypoint is rendered useless; the gateway's ztunnel takes the "
               "connection to a waypoint, and the waypoint's own policy applies (R8.1, R8.3).")
    do_step(run, "03.4", "The gateway's view after the labels: one VIP", act, None)


def _endpoint_hosts(run: Run) -> list[str]:
    """The Service's ready endpoints (``ip:port`` from its EndpointSlices): what kgateway builds its
    cluster from (R1.1: it skips ``ready=false``)."""
    p = run.params
    hosts = []
    for sl in items(run, "endpointslices", p.namespaces.app, f"kubernetes.io/service-name={p.app.name}"):
        ports = [x.get("port") for x in sl.get("ports") or [] if x.get("port")]
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is not False:
                hosts += [f"{addr}:{port}" for addr in ep.get("addresses") or [] for port in ports[:1]]
    return hosts


WAYPOINT_LABELS = ("istio.io/ingress-use-waypoint", "istio.io/use-waypoint")


def use_waypoint(run: Run) -> None:
    """Step 03.3: label the app's Service so ingress traffic goes through the waypoint, and check the labels."""
    p = run.params
    want = dict(zip(WAYPOINT_LABELS, ("true", p.waypoint.name), strict=True))

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
    do_step(run, "03.3", "Send ingress traffic for in-ambient through the waypoint", act, verify)


def waypoint_in_path(run: Run) -> None:
    """Step 03.5: send requests and check the waypoint's access log shows them crossing it."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        from .. import logs  # pandas: loaded on use, not at notebook start

        before = _waypoint_hits(run, logs)
        send(run, 1)

        def crossed() -> tuple[bool, str]:
            now = _waypoint_hits(run, logs)
            return now > before, f"{now - before} new GET /hostname line(s) in the waypoint log"
        s.add(poll("the request crossed the waypoint", crossed, timeout=10, interval=0.2,
                   hint="are both service labels of step 03.3 there? kubectl logs -n "
                        f"{p.namespaces.app} deploy/{p.waypoint.name}"))
        kubectl(run, "logs", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}", "--tail=10")
    do_step(run, "03.5", "Traffic crosses the waypoint", act, None)


def _waypoint_hits(run: Run, logs: Any) -> int:
    p = run.params
    text = run.kube.logs_text(p.namespaces.app, f"deploy/{p.waypoint.name}", tail=100000)
    df = logs.parse_envoy(text)
    if df.empty:
        return 0
    return int((df["path"].astype(str).str.startswith("/hostname")).sum())


def waypoint_distribution(run: Run) -> None:
    """Step 03.6: send requests through the waypoint and check their spread over the replicas fits the lb policy."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        pods = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                replicas_selector(run)))
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
    do_step(run, "03.6", "Load balancing at the waypoint", act, None,
          knobs={"requests": (1, 300, p.traffic.requests)})


def _lb_policy(dr: dict[str, Any] | None) -> str:
    simple = (((dr or {}).get("spec") or {}).get("trafficPolicy") or {}).get("loadBalancer", {})
    name = (simple or {}).get("simple") or "LEAST_REQUEST"  # Istio's default (R3.4)
    return {"LEAST_CONN": "LEAST_REQUEST"}.get(name, name)
