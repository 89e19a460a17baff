"""Notebook 07, the outlier-detection lab: the concepts page's "Outlier detection and failover", done.

Where a DestinationRule acts at all (not at the gateway: it sees one VIP, R8.1, R8.3), then at the
waypoint, with three replicas that fail three real ways (nginx answering 500, answering 503, and
listening on the wrong port so connections are refused): which errors count (R2.1, R2.2), the 10 %
default (R2.4), maxEjectionPercent, panic vs minHealthPercent (R4.7, R3.1), ejection at the Nth error
and return at a sweep with the back-off (R2.3, R2.6, R2.7), and the locality failover that an
outlierDetection block turns on (R3.5, R5.5, R4.6). Evidence: the waypoint's outlier counters through
pilot-agent, its ``/clusters``, its config_dump, its access log (on the simulator its times are
simulated seconds) and a timeline on the simulated clock.

Each step applies the lab's DestinationRule for what it shows; a rule change rebuilds the waypoint's
cluster, so every step starts with no host ejected and clean error counters while the stats counters
keep counting (R2.12, R13.10): the checks compare counters before and after.
"""

from __future__ import annotations

import math
from typing import Any

from .. import shell, ui
from ..checks import CheckResult, check, from_wait, poll, skipped
from ..errors import RunbookError
from .cluster import apply, get_json, kubectl, quietly
from .evidence import gateway_backend_hosts, gateway_cluster_name, send
from .install import find_address
from .outlier_evidence import (
    DR_NAME,
    REPLICA_LABEL,
    REPLICAS,
    ZONE,
    Failing,
    app_pods,
    apply_rule,
    delta,
    ejected_hosts,
    faulty_others,
    lab_selector,
    other_rules,
    outlier_stats,
    replica_docs,
    rule_arrived,
    stats_text,
    waypoint_cluster,
    waypoint_hosts,
    waypoint_log,
    waypoint_zone,
)
from .run import Run, Step, do_step, seconds
from .via_waypoint import _endpoint_hosts

N = 3  # consecutive errors before an ejection, in every rule of the lab
KINDS = "deployments,configmaps,destinationrules"


def _hosts(run: Run) -> int:
    """Every endpoint of the app's Service: its replicas and the lab's failing ones (R2.4 counts all)."""
    return len(app_pods(run))


def _rule(run: Run, s: Step, outlier: dict[str, Any] | None, *, locality: bool = False) -> None:
    """Apply the lab's rule and wait until the waypoint's cluster carries it (istiod pushes it, R6.4)."""
    apply_rule(run, outlier, locality=locality)
    if waypoint_cluster(run) is None:  # the simulator's waypoint builds a cluster at its first request
        send(run, 1, show=False)
    s.add(poll("the waypoint has the rule as Istio maps it (its config_dump, through pilot-agent; R3.1)",
               lambda: rule_arrived(run, outlier), timeout=15, interval=0.2,
               hint=f"kubectl get dr -n {run.params.namespaces.app} {DR_NAME} -o yaml; "
                    "istiod pushes it to the waypoint"))


def _burst(run: Run, count: int) -> tuple[Any, Any]:
    """``count`` requests (shown as the curl loop with status codes) -> (client rows, the waypoint's
    access-log lines of these requests)."""
    before = len(waypoint_log(run))
    df = send(run, count, status_only=True)
    lines = waypoint_log(run).iloc[before:]
    return df, lines


def _by_replica(run: Run) -> dict[str, str]:
    """Failing replica name -> its pod IP."""
    return {info["replica"]: ip for ip, info in app_pods(run).items() if info["replica"]}


def _codes(lines: Any) -> list[int]:
    return sorted(set(lines["response_code"].dropna().astype(int)))


def _ejected_at_n(run: Run, name: str, ip: str, lines: Any, hosts: int, why: str) -> CheckResult:
    """Its lines are exactly N failures, then none in at least one whole rotation of the others (R2.3)."""
    p = run.params
    mine = lines[lines["upstream_ip"] == ip]
    after = len(lines.loc[mine.index[-1]:]) - 1 if len(mine) else 0
    failing = bool(len(mine)) and bool((mine["response_code"].fillna(0).astype(int) >= 500).all())
    return check(f"{name} ejected at its {_nth(N)} {why}", len(mine) == N and failing and after >= hosts,
                 f"{len(mine)} lines to {ip} (status {_codes(mine) or '-'}), then none in the {after} "
                 f"requests after its last", f"kubectl logs -n {p.namespaces.app} deploy/{p.waypoint.name} | grep {ip}")


def _keeps_failing(name: str, ip: str, lines: Any, hosts: int, why: str) -> CheckResult:
    mine = lines[lines["upstream_ip"] == ip]
    rounds = len(lines) // hosts
    failing = bool(len(mine)) and bool((mine["response_code"].fillna(0).astype(int) >= 500).all())
    return check(f"{name} stays in rotation, failing ({why})", failing and len(mine) >= rounds - 1,
                 f"{len(mine)} of {len(lines)} lines went to {ip}, status {_codes(mine) or '-'}")


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# ---- 07.1 the gateway's one address ----------------------------------------------------------------


def vip_collapse(run: Run) -> None:
    """The gateway's cluster for in-ambient holds the Service VIP alone; the waypoint's holds every pod."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
        vip = f"{(svc.get('spec') or {}).get('clusterIP')}:{p.app.port}"
        kubectl(run, "get", "svc", p.app.name, "-n", p.namespaces.app, "-o", "jsonpath={.spec.clusterIP}")

        def collapsed() -> tuple[bool, str]:
            send(run, 1, show=False)  # the gateway builds its cluster once the route has carried traffic
            hosts = gateway_backend_hosts(run, show=False)
            return hosts == [vip], f"{gateway_cluster_name(run)}: {', '.join(hosts) or 'no hosts'}"
        s.add(poll("the gateway's cluster has one endpoint, the Service VIP (R8.1)", collapsed, timeout=15,
                   interval=0.5, hint="step 03.3 labels the service; kgateway collapses a backend bound to a "
                                      "waypoint (R8.1)"))
        _shown(lambda: gateway_backend_hosts(run), "the gateway's admin (a port-forward to :19000)")
        want = sorted(_endpoint_hosts(run))
        wp = sorted(waypoint_hosts(run))
        s.add(check(f"the waypoint's cluster has every ready endpoint ({len(want)})", wp == want and len(wp) > 1,
                    ", ".join(wp) or "no hosts", f"kubectl get endpointslices -n {p.namespaces.app}"))
        s.note("The concepts page: with istio.io/ingress-use-waypoint the gateway collapses the backend to "
               "one endpoint, the service VIP, so a DestinationRule cannot act on the gateway → waypoint leg "
               "(R8.1, R8.3): outlier detection there could only eject the one VIP, and 1 of 1 hosts is "
               "100 %, above the default maxEjectionPercent of 10 (R2.4). The waypoint holds the pod IPs and "
               "applies the rule; everything below happens there.")
    do_step(run, "07.1", "The gateway sees one address; the waypoint sees the pods", act, None)


# ---- 07.2 three replicas that fail three ways --------------------------------------------------------


def failing_replicas(run: Run) -> None:
    """Deploy the three failing replicas, round-robin over every pod, read each one's answers."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        for name in other_rules(run):  # Istio applies one rule per host: the lab's must be the one
            run.kube.delete("destinationrule", [name], namespace=p.namespaces.app)
            s.note(f"DestinationRule {name} (from step 4) also named the app's host; the lab removed it, "
                   "since Istio uses only one rule per host. Step 04.1 applies it again.")
        left = faulty_others(run)
        if left:
            run.kube.delete("deployment", left, namespace=p.namespaces.app)
            s.note(f"Removed {', '.join(left)}, a failing replica another step left behind.")
        _rule(run, s, None)
        zone = waypoint_zone(run)
        docs = [d for f in REPLICAS for d in replica_docs(run, f, zone or None)]
        apply(run, docs)
        s.add(from_wait(f"the {len(REPLICAS)} failing replicas are Ready",
                        lambda: run.kube.wait_for_ready_pods(p.namespaces.app, lab_selector(run), len(REPLICAS),
                                                             timeout=p.timeouts.pods_ready),
                        detail=lambda pods: ", ".join(x["metadata"]["name"] for x in pods),
                        hint=f"kubectl describe pods -n {p.namespaces.app} -l {lab_selector(run)}"))
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", f"app={p.app.name}", "-o", "wide")
        ips = _by_replica(run)
        s.add(poll("the waypoint has every failing replica as an endpoint (its /clusters)",
                   lambda: _has_endpoints(run, ips), timeout=seconds(p.timeouts.rollout), interval=0.2))
        hosts = _hosts(run)
        _, lines = _burst(run, hosts * 2)
        good = lines[~lines["upstream_ip"].isin(list(ips.values()))]
        s.add(check("the app's own replicas answer 200", len(good) > 0 and _codes(good) == [200],
                    f"{len(good)} lines, status {_codes(good)}"))
        for f in REPLICAS:
            s.add(_answers(run, f, lines, ips))
        s.add(_app_never_saw(run, REPLICAS[2]))
        if zone:
            s.note(f"The failing replicas run in the waypoint's zone ({zone}, a nodeSelector): step 07.9 needs "
                   "one there. The lab's rule sets localityLbSetting.enabled: false so that every pod takes its "
                   "turn whatever its zone; 07.9 shows what happens without it.")
        s.note("Three ways to fail, made as on any cluster (step 4's nginx replica, another status or "
               "another port): an app 5xx is passed through with flag '-' (R7.4); a refused connection "
               "never reaches the app: the waypoint answers 503 with flag UC (R7.1). The lab's "
               "DestinationRule has no outlierDetection yet: ROUND_ROBIN over every pod, nothing ejected.")
    do_step(run, "07.2", "Three replicas that fail three ways", act, None)


def _shown(read: Any, what: str) -> Any:
    """Run a read a step shows; a connection that drops (a port-forward, an admin) becomes a RunbookError."""
    from urllib3.exceptions import HTTPError  # ~60 ms: loaded on use, not at notebook start

    try:
        return read()
    except (HTTPError, OSError) as exc:
        raise RunbookError(f"{what} did not answer: {exc}", hint="run the cell again") from exc


def _has_endpoints(run: Run, ips: dict[str, str]) -> tuple[bool, str]:
    hosts = {h.rsplit(":", 1)[0] for h in waypoint_hosts(run, show=False)}
    missing = [n for n, ip in ips.items() if ip not in hosts]
    return len(ips) == len(REPLICAS) and not missing, \
        f"missing {missing}" if missing else f"{len(ips)} failing replicas in /clusters"


def _answers(run: Run, f: Failing, lines: Any, ips: dict[str, str]) -> CheckResult:
    name = f.name(run)
    mine = lines[lines["upstream_ip"] == ips.get(name, "-")]
    flags = sorted(set(mine["response_flags"].fillna("-").astype(str)))
    details = sorted(set(mine["response_code_details"].fillna("-").astype(str)))
    if f.refuses:
        ok = _codes(mine) == [503] and flags == ["UC"] and \
            details == ["upstream_reset_before_response_started{connection_termination}"]
        want = "503 UC, reset before any response (R7.1)"
    else:
        ok = _codes(mine) == [f.status] and flags == ["-"] and details == ["via_upstream"]
        want = f"{f.status} from the app, passed through (R7.4)"
    return check(f"{name}: {want}", ok and len(mine) > 0,
                 f"{len(mine)} lines: status {_codes(mine) or '-'}, flags {flags}, {details}",
                 f"kubectl logs -n {run.params.namespaces.app} deploy/{name}")


def _app_never_saw(run: Run, f: Failing) -> CheckResult:
    """The refused replica's nginx logged no request: the connection never reached it."""
    p = run.params
    text = kubectl(run, "logs", "-n", p.namespaces.app, f"deploy/{f.name(run)}", "--tail=3").stdout
    seen = [ln for ln in text.splitlines() if '"GET ' in ln]
    return check(f"{f.name(run)}'s nginx logged no request (nothing listens on the targetPort)", not seen,
                 f"{len(seen)} request lines in its log" if seen else "only its start-up lines")


# ---- 07.3 the 10 % default ---------------------------------------------------------------------------


def default_max_ejection(run: Run) -> None:
    """consecutive5xxErrors alone: every failing replica is detected, none ejected (10 %, R2.4)."""

    def act(run: Run, s: Step) -> None:
        _rule(run, s, {"consecutive5xxErrors": N})
        hosts = _hosts(run)
        allowed = math.floor(10 * hosts / 100)
        before = outlier_stats(run, show=False)
        _, lines = _burst(run, hosts * 2 * N)
        d = delta(outlier_stats(run), before)
        s.show("since the requests: " + stats_text(d))
        s.add(check(f"each failing replica detected at every {_nth(N)} error in a row ({2 * len(REPLICAS)} "
                    f"detections: {len(REPLICAS)} replicas × 2)",
                    d.get("ejections_detected_consecutive_5xx", 0) >= 2 * len(REPLICAS),
                    f"ejections_detected_consecutive_5xx +{int(d.get('ejections_detected_consecutive_5xx', 0))}",
                    "no outlier_detection stats at all? the waypoint's stats matcher (step 03.1) keeps them"))
        s.add(check(f"none ejected: 1 of {hosts} hosts is {100 // hosts} % > 10 % (R2.4)",
                    allowed == 0 and d.get("ejections_enforced_consecutive_5xx", 1) == 0
                    and d.get("ejections_overflow", 0) >= 2 * len(REPLICAS),
                    f"enforced +{int(d.get('ejections_enforced_consecutive_5xx', 0))}, overflow "
                    f"+{int(d.get('ejections_overflow', 0))}; the default lets {allowed} of {hosts} go"))
        ips = _by_replica(run)
        for f in REPLICAS:
            s.add(_keeps_failing(f.name(run), ips[f.name(run)], lines, hosts, "overflow, R2.4"))
        s.note(f"Without maxEjectionPercent Envoy ejects a host only while 100 × (ejected + 1) / hosts ≤ 10: "
               f"with {hosts} hosts not even one (a cluster needs 10 hosts for one ejection). Each detection "
               "still counts, resets the host's counter and adds to ejections_overflow (R2.3, R2.4). The "
               "gateway-error counters move too: consecutiveGatewayErrors unset is Envoy's 5 with enforcing 0, "
               "detect only (R3.1, R2.5), so the 503 and the refusing replica are detected once each. The "
               "guide's rule has no maxEjectionPercent: it never ejects with fewer than 10 pods.")
    do_step(run, "07.3", "The default: detected, never ejected (maxEjectionPercent 10 %)", act, None)


# ---- 07.4 / 07.5 gateway errors vs 5xx -----------------------------------------------------------------


def gateway_errors(run: Run) -> None:
    """consecutiveGatewayErrors only: 503 and the refusals eject, the 500 stays (R2.1, R2.2)."""

    def act(run: Run, s: Step) -> None:
        _rule(run, s, {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": N, "maxEjectionPercent": 100})
        hosts = _hosts(run)
        before = outlier_stats(run, show=False)
        _, lines = _burst(run, hosts * 2 * N)
        d = delta(outlier_stats(run), before)
        s.show("since the requests: " + stats_text(d))
        ips = _by_replica(run)
        gw = [f for f in REPLICAS if f.status in (502, 503, 504) or f.refuses]
        s.add(check(f"{len(gw)} ejected for gateway errors, none for 5xx",
                    d.get("ejections_enforced_consecutive_gateway_failure", 0) == len(gw)
                    and d.get("ejections_detected_consecutive_gateway_failure", 0) == len(gw)
                    and d.get("ejections_detected_consecutive_5xx", 1) == 0,
                    stats_text(d)))
        for f in gw:
            why = "refused connection (a 503 UC counts, R2.2)" if f.refuses else f"{f.status} (R2.1)"
            s.add(_ejected_at_n(run, f.name(run), ips[f.name(run)], lines, hosts, why))
        f500 = REPLICAS[0]
        s.add(_keeps_failing(f500.name(run), ips[f500.name(run)], lines, hosts, "a 500 is no gateway error"))
        s.note("consecutiveGatewayErrors counts only 502, 503 and 504; any other 5xx resets that counter "
               "(R2.1). A refused connection is a locally originated failure that Envoy counts as a 503, "
               "so as a gateway error and a 5xx (R2.2). consecutive5xxErrors: 0 turns the 5xx rule off "
               "(R3.1); left unset it would be 5 and on.")
    do_step(run, "07.4", "consecutiveGatewayErrors: 503 and refused connections count, 500 does not", act, None)


def consecutive_5xx(run: Run) -> None:
    """consecutive5xxErrors: every failing replica ejected at its Nth error; no client sees an error after."""

    def act(run: Run, s: Step) -> None:
        _rule(run, s, {"consecutive5xxErrors": N, "maxEjectionPercent": 100})
        hosts = _hosts(run)
        before = outlier_stats(run, show=False)
        df, lines = _burst(run, hosts * 2 * N)
        d = delta(outlier_stats(run), before)
        s.show("since the requests: " + stats_text(d))
        s.add(check(f"all {len(REPLICAS)} ejected for 5xx", d.get("ejections_enforced_consecutive_5xx", 0)
                    == len(REPLICAS), stats_text(d)))
        ips = _by_replica(run)
        for f in REPLICAS:
            s.add(_ejected_at_n(run, f.name(run), ips[f.name(run)], lines, hosts, "5xx (500, 503 and UC all count)"))
        tail = df.iloc[-hosts:]
        bad = int((tail["status"].fillna(0).astype(int) >= 500).sum())
        s.add(check(f"the last {hosts} requests all succeed", bad == 0, f"{bad} of {hosts} failed",
                    "minHealthPercent unset is 0: no panic (07.6 sets it)"))
        s.note(f"Every 5xx counts toward consecutive5xxErrors, 500, 503 and the refusals alike (R2.1, R2.2); "
               f"each replica is ejected at its {_nth(N)} error in a row, at once, not at the next interval "
               f"sweep (R2.3). Half the hosts are now out; with minHealthPercent unset (Istio writes 0, R3.1) "
               "the waypoint never panics, so the good half takes all the traffic.")
    do_step(run, "07.5", "consecutive5xxErrors: every 5xx counts", act, None)


# ---- 07.6 maxEjectionPercent, 07.7 panic ----------------------------------------------------------------


def max_ejection_percent(run: Run) -> None:
    """maxEjectionPercent caps how many hosts may be out at once; the rest overflow (R2.4)."""

    def act(run: Run, s: Step) -> None:
        hosts = _hosts(run)
        pct = 100 // hosts + 1 + (100 // hosts) // 2  # room for one host, not two
        allowed = min(len(REPLICAS), math.floor(pct * hosts / 100))
        _rule(run, s, {"consecutive5xxErrors": N, "consecutiveGatewayErrors": 0, "maxEjectionPercent": pct})
        before = outlier_stats(run, show=False)
        _, lines = _burst(run, hosts * 2 * N)
        d = delta(outlier_stats(run), before)
        s.show("since the requests: " + stats_text(d))
        out = ejected_hosts(run)
        s.add(check(f"{allowed} ejected: 100 × {allowed} / {hosts} ≤ {pct} < 100 × {allowed + 1} / {hosts}",
                    d.get("ejections_enforced_consecutive_5xx", 0) == allowed and len(out) == allowed,
                    f"enforced +{int(d.get('ejections_enforced_consecutive_5xx', 0))}; /clusters: "
                    f"{', '.join(out) or 'none'} failed_outlier_check"))
        s.add(check("the others were detected and overflowed",
                    d.get("ejections_overflow", 0) >= len(REPLICAS) - allowed,
                    f"overflow +{int(d.get('ejections_overflow', 0))}"))
        ips = _by_replica(run)
        served = [f.name(run) for f in REPLICAS if (lines["upstream_ip"] == ips[f.name(run)]).sum() > N]
        s.add(check(f"{len(REPLICAS) - allowed} failing replicas stay in rotation",
                    len(served) == len(REPLICAS) - allowed,
                    f"still getting traffic: {', '.join(served) or 'none'}"))
        s.note(f"maxEjectionPercent: {pct} lets {allowed} of {hosts} hosts be out at once: the first failing "
               f"replica to reach {N} errors is ejected, the others are detected again and again and stay "
               "(R2.4). The percentage is of every host in the cluster, ejected or not. consecutiveGatewayErrors: "
               "0 keeps the gateway rule out of these counters: unset it is 5 with enforcing 0, so it still "
               "detects and overflows (R3.1, as in 07.3).")
    do_step(run, "07.6", "maxEjectionPercent caps the ejections", act, None)


def panic_threshold(run: Run) -> None:
    """minHealthPercent above the healthy share: the waypoint panics and sends to ejected hosts too (R4.7)."""

    def act(run: Run, s: Step) -> None:
        hosts = _hosts(run)
        good = hosts - len(REPLICAS)
        share = 100 * good / hosts
        threshold = min(100, math.floor(share) + 10)
        _rule(run, s, {"consecutive5xxErrors": N, "maxEjectionPercent": 100, "minHealthPercent": threshold})
        before = outlier_stats(run, show=False)
        df, lines = _burst(run, hosts * 2 * N)
        d = delta(outlier_stats(run), before)
        s.show("since the requests: " + stats_text(d))
        out = sorted(h.rsplit(":", 1)[0] for h in ejected_hosts(run))
        ips = _by_replica(run)
        s.add(check(f"all {len(REPLICAS)} ejected ({good} of {hosts} healthy = {share:.0f} % < {threshold} %)",
                    d.get("ejections_enforced_consecutive_5xx", 0) == len(REPLICAS) and out == sorted(ips.values()),
                    f"enforced +{int(d.get('ejections_enforced_consecutive_5xx', 0))}; /clusters: {len(out)} "
                    "failed_outlier_check"))
        last = max(lines[lines["upstream_ip"] == ip].index[N - 1] for ip in ips.values()
                   if (lines["upstream_ip"] == ip).sum() >= N) if ips else None
        later = lines.loc[last + 1:] if last is not None else lines.iloc[0:0]
        to_ejected = later[later["upstream_ip"].isin(list(ips.values()))]
        s.add(check("in panic the ejected replicas still get traffic", len(to_ejected) > 0 and len(later) > 0,
                    f"{len(to_ejected)} of the {len(later)} requests after the last ejection went to ejected hosts"))
        tail = df.iloc[-hosts:]
        bad = int((tail["status"].fillna(0).astype(int) >= 500).sum())
        s.add(check("so clients see errors again (R4.7)", bad > 0, f"{bad} of the last {hosts} requests failed"))
        s.note(f"minHealthPercent is Envoy's panic threshold (R3.1). When the healthy share of a priority falls "
               f"below it ({good} of {hosts} = {share:.0f} % < {threshold} %), Envoy ignores health and balances "
               "over every host, the ejected ones too (R4.7): better some errors than overloading the rest. "
               "Unset, Istio writes 0 (with an outlierDetection block) and panic never happens, as in 07.5; "
               "without outlierDetection Envoy's own 50 % applies (R3.3). Envoy counts panics in "
               "lb_healthy_panic, a stat the waypoint's matcher does not keep.")
    do_step(run, "07.7", "minHealthPercent: the panic threshold", act, None)


# ---- 07.8 at the Nth error, back at a sweep, the back-off -------------------------------------------------


def sweep_and_backoff(run: Run) -> None:
    """One failing replica under steady traffic: ejected at its Nth error, back only at a sweep after
    baseEjectionTime, ejected again for twice as long (R2.3, R2.6, R2.7). A timeline on the simulated clock."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        from .. import plots, stats, traffic  # matplotlib, pandas: loaded on use, not at notebook start

        keep = REPLICAS[0]
        _only_first_replica(run, s)
        unit = max(1, round(run.speed))  # one wall second of the simulator (1 s on a cluster)
        interval, base = unit, 2 * unit
        rule = {"consecutive5xxErrors": N, "interval": f"{interval}s", "baseEjectionTime": f"{base}s",
                "maxEjectionPercent": 100}
        _rule(run, s, rule)
        t0 = _epoch(waypoint_cluster(run))
        ip = _by_replica(run)[keep.name(run)]
        start = len(waypoint_log(run))
        wall = (3 * base + 3 * interval) / run.speed + 15
        with traffic.TrafficSampler(find_address(run), host=p.route.hostname, rate=25.0,
                                    timeout=seconds(p.traffic.request_timeout)) as sampler, \
                ui.LiveChart(run.interactive, "live traffic: ejected, back, ejected again") as chart:
            chart.start(lambda: stats.on_simulated_clock(sampler.timeline(), run.speed),
                        plots.plot_failover_timeline)
            seen = poll("two ejections and two returns seen in the waypoint's access log",
                        lambda: _episodes_seen(waypoint_log(run).iloc[start:], ip, base, 2), timeout=wall,
                        interval=0.5)
        lines = waypoint_log(run).iloc[start:]
        _show_lines_to(run, ip, 3 * N)
        s.add(seen)
        eps = _episodes(lines, ip, base)
        spacing = _spacing(lines, ip, base)
        for i, e in enumerate(eps[:2]):
            s.add(check(f"ejection {i + 1} at its {_nth(N)} error in a row (R2.3)", e["run"] == N,
                        f"{e['run']} failed lines to {ip} before it"))
        s.add(*_durations(eps, t0, interval, base, spacing))
        timeline = stats.on_simulated_clock(sampler.timeline(), run.speed)
        first = lines["t"].iloc[0] if len(lines) else 0.0
        s.figure(plots.plot_failover_timeline(timeline, marks=_marks(eps[:2], first), title=(
            f"{keep.name(run)}: out ≥ {base}s, back at a {interval}s sweep, out ≥ {2 * base}s")))
        s.note(f"Envoy ejects at the {_nth(N)} error in a row, at once (R2.3). It checks ejected hosts only "
               f"at its interval sweeps, every {interval}s from the moment the cluster was built: a host "
               f"returns at the first sweep at least baseEjectionTime × (its back-off) after its ejection, "
               "whether or not it was fixed (R2.6). Failing again before the next sweep, its back-off grows "
               "to 2, 3 … (up to 300 s); a sweep in good health lowers it again (R2.7), so 'baseEjectionTime "
               "× number of ejections' holds only while the host keeps failing. The times are the waypoint's "
               "access-log times (simulated seconds on the simulator), the rule's interval and "
               f"baseEjectionTime are {interval}s and {base}s: one and two seconds of wall time at this speed.")
    do_step(run, "07.8", "Ejected at the Nth error, back at a sweep, out longer the next time", act, None)


def _only_first_replica(run: Run, s: Step) -> None:
    """Delete the other failing replicas (07.8 and 07.9 watch one), if they are there."""
    p = run.params
    keep = REPLICAS[0].name(run)
    drop = [f.name(run) for f in REPLICAS[1:]]
    if set(drop) & set(_by_replica(run)):
        run.kube.delete(KINDS.rsplit(",", 1)[0], [], namespace=p.namespaces.app,
                        selector=f"{lab_selector(run)},{REPLICA_LABEL} in ({','.join(drop)})")
    s.add(from_wait(f"only {keep} is left of the failing replicas",
                    lambda: run.kube.wait_for_pod_count(p.namespaces.app, lab_selector(run), 1,
                                                        timeout=p.timeouts.deletion),
                    detail=lambda pods: ", ".join(x["metadata"]["name"] for x in pods)))


def _show_lines_to(run: Run, ip: str, n: int) -> None:
    """Shown: ``kubectl logs ... | grep 'connect_originate/<ip>:' | tail -n``, with what it prints."""
    p = run.params
    res = quietly(run, "logs", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}")
    needle = f"connect_originate/{ip}:"
    mine = [line for line in res.stdout.splitlines() if needle in line][-n:]
    shell.record(shell.CommandResult(res.args, 0, "".join(x + "\n" for x in mine), "",
                                     f"kubectl logs -n {p.namespaces.app} deploy/{p.waypoint.name} | "
                                     f"grep '{needle}' | tail -{n}"))


def _marks(eps: list[dict[str, Any]], first: float) -> list[dict[str, Any]]:
    """Timeline marks for the ejections and returns (access-log times, from the first line); a return
    followed within a few seconds by the next ejection is one mark, so the labels do not overlap."""
    marks: list[dict[str, Any]] = []
    for e in eps:
        if marks and marks[-1]["label"] == "back" and e["out"] - first - marks[-1]["t"] < 0.1 * (e["back"] - e["out"]):
            marks[-1]["label"] = "back, ejected again"
        else:
            marks.append({"t": e["out"] - first, "label": "ejected"})
        marks.append({"t": e["back"] - first, "label": "back"})
    return marks


def _epoch(cluster: dict[str, Any] | None) -> float:
    """When the waypoint built the cluster (config_dump ``last_updated``): its sweeps count from then (R2.6)."""
    import pandas as pd

    if not cluster or not cluster.get("last_updated"):
        raise RunbookError("the waypoint's config_dump has no last_updated for the app's cluster",
                           hint="kubectl exec ... -- pilot-agent request GET config_dump")
    return pd.Timestamp(cluster["last_updated"]).value / 1e9


def _episodes(lines: Any, ip: str, base: float) -> list[dict[str, Any]]:
    """Each ejection of ``ip`` as the access log shows it: the failed lines in a row before it (``run``),
    the time of the last one (``out``) and of the next line to it (``back``). A gap is more than half of
    baseEjectionTime without a line to it while the others are served."""
    mine = lines[lines["upstream_ip"] == ip]
    failed = (mine["response_code"].fillna(0).astype(int) >= 500).tolist()
    times = mine["t"].tolist()
    out, streak = [], 0
    for i, t in enumerate(times):
        streak = streak + 1 if failed[i] else 0
        if i + 1 < len(times) and times[i + 1] - t > base / 2:
            out.append({"run": streak, "out": t, "back": times[i + 1]})
            streak = 0
    return out


def _episodes_seen(lines: Any, ip: str, base: float, n: int) -> tuple[bool, str]:
    eps = _episodes(lines, ip, base)
    return len(eps) >= n, f"{len(eps)} ejection(s) ended so far"


def _spacing(lines: Any, ip: str, base: float) -> float:
    """The longest time between two lines to ``ip`` while it is in rotation: how late after a sweep the
    access log can first show it back."""
    mine = lines[lines["upstream_ip"] == ip]["t"].diff().dropna()
    normal = mine[mine <= base / 2]
    return float(normal.max()) if len(normal) else 0.0


def _durations(eps: list[dict[str, Any]], t0: float, interval: float, base: float,
               spacing: float) -> list[CheckResult]:
    """R2.6/R2.7 with the numbers: out for [base × b, base × b + interval), back at a sweep t0 + k × interval,
    b = 2 for a host ejected again before the first sweep after its return, else 1 (the back-off decayed)."""
    results = []
    slack = spacing + 0.05 * interval  # the first request after a sweep comes at most one rotation later
    for i, e in enumerate(eps[:2]):
        mult = 1
        if i == 1:
            returned = t0 + math.floor((eps[0]["back"] - t0) / interval) * interval
            mult = 2 if e["out"] < returned + interval else 1
        gap = e["back"] - e["out"]
        low, high = base * mult, base * mult + interval + slack
        phase = (e["back"] - t0) % interval
        at_sweep = phase <= slack or interval - phase <= 0.05 * interval
        why = "ejected again before the next sweep: back-off 2, R2.7" if mult == 2 else "R2.6"
        results.append(check(f"ejection {i + 1} lasts baseEjectionTime × {mult}, less than one interval more ({why})",
                             low <= gap < high, f"out for {gap:.2f}s; expected {low:g}s to {high:.2f}s"))
        results.append(check(f"return {i + 1} at an interval sweep (every {interval:g}s from the cluster's build)",
                             at_sweep, f"back {phase:.2f}s after a sweep (a rotation takes up to {spacing:.2f}s)"))
    return results


# ---- 07.9 locality failover ----------------------------------------------------------------------------


def outlier_locality_failover(run: Run) -> None:
    """Without localityLbSetting an outlierDetection block turns on locality failover (R3.5, R5.5): all
    traffic stays in the waypoint's zone until a host there is ejected, then part spills (R4.6)."""

    def act(run: Run, s: Step) -> None:
        from .. import plots, stats  # matplotlib, pandas: loaded on use, not at notebook start

        kubectl(run, "get", "nodes", "-L", ZONE)
        _only_first_replica(run, s)
        wz = waypoint_zone(run)
        pods = app_pods(run)
        zones = sorted({x["zone"] for x in pods.values()})
        if not wz or len(zones) < 2:
            s.add(skipped("locality failover at the waypoint",
                          f"the app's pods run in {len(zones)} zone(s) "
                          f"({', '.join(z or 'no zone label' for z in zones)}): "
                          "with every endpoint in the waypoint's locality there is nothing to fail over to "
                          "(R5.9). On the simulator: params sim.topology: three-zones (the default), "
                          "or ambient-lb sim up --topology three-zones"))
            return
        before = waypoint_hosts(run, show=False)
        s.add(check("with localityLbSetting.enabled: false every host is priority 0",
                    {a.get("priority") for a in before.values()} == {"0"},
                    ", ".join(f"{h} p{a.get('priority')}" for h, a in sorted(before.items()))))
        _rule(run, s, {"consecutive5xxErrors": N, "maxEjectionPercent": 100}, locality=True)
        local = sorted(ip for ip, x in pods.items() if x["zone"] == wz)

        def ranked() -> tuple[bool, str]:
            now = waypoint_hosts(run, show=False)
            want = {h: ("0" if h.rsplit(":", 1)[0] in local else "1") for h in now}
            return {h: a.get("priority") for h, a in now.items()} == want, \
                ", ".join(f"{pods.get(h.rsplit(':', 1)[0], {}).get('zone', '?')} p{a.get('priority')}"
                          for h, a in sorted(now.items()))
        s.add(poll(f"now the hosts in the waypoint's zone {wz} are priority 0, the others 1 (R3.5, R5.5)",
                   ranked, timeout=10, interval=0.2))
        waypoint_hosts(run)
        ip = _by_replica(run).get(REPLICAS[0].name(run), "")
        count = 120
        _, lines = _burst(run, count)
        mine = lines[lines["upstream_ip"] == ip]
        if len(mine) < N or ip not in local:
            s.add(check(f"{REPLICAS[0].name(run)} in the waypoint's zone is ejected", False,
                        f"{len(mine)} lines to it; zone {pods.get(ip, {}).get('zone')}"))
            return
        cut = mine.index[N - 1]
        first, rest = lines.loc[:cut], lines.loc[cut + 1:]
        s.add(check(f"until its ejection every request stayed in {wz}",
                    bool(first["upstream_ip"].isin(local).all()) and len(first) >= N,
                    f"{len(first)} requests, {int(first['upstream_ip'].isin(local).sum())} in {wz}"))
        p0 = len(local)
        share = min(100, 140 * (p0 - 1) // p0)  # R4.6: health of priority 0 after one ejection
        n = len(rest)
        inside = int(rest["upstream_ip"].isin(local).sum())
        lo, hi = stats.binomial_interval(n, share / 100, 0.001)
        healthy = [x for x in pods if x != ip]
        flat = 100 * (p0 - 1) / len(healthy)
        s.add(check(f"then {share} % stay in {wz}, {100 - share} % spill to the other zones (R4.6)",
                    lo <= inside <= hi and bool(rest["upstream_ip"].eq(ip).sum() == 0),
                    f"{inside} of {n} in {wz} (allowed {lo}..{hi} at 99.9 %); without locality it would be "
                    f"{flat:.0f} %"))
        def zone_and_pod(x: str) -> str:
            return f"{pods.get(x, {}).get('zone', '?')} ({pods.get(x, {}).get('name', x).rsplit('-', 1)[-1]})"
        counts = rest["upstream_ip"].map(zone_and_pod)
        s.figure(plots.plot_requests_per_pod(counts.value_counts().sort_index(), title=(
            f"after the ejection: {inside} of {n} in {wz}, {share} % expected (R4.6)")))
        s.note(f"The mesh's localityLbSetting is on by default, but fails over only for a rule with "
               f"outlierDetection: then the waypoint ranks endpoints against its own locality, priority 0 = "
               f"its zone ({wz}), 1 = the rest of the region (R3.5, R5.5). All traffic stays in priority 0 "
               f"while it is healthy. Ejecting one of its {p0} hosts drops its health to "
               f"min(100, 140 × {p0 - 1} / {p0}) = {share} %, so {100 - share} % of the requests spill to "
               "priority 1, drawn at random per request (R4.6): failover is gradual, not all at once. The "
               "concepts page says traffic-distribution modes apply 'only if no DestinationRule is in place'; "
               "in Istio a rule without localityLbSetting leaves a Service's traffic-distribution mode in force, "
               "and where the Service has none it switches on this failover (R5.4, R5.5).")
    do_step(run, "07.9", "The locality failover an outlierDetection block turns on", act, None)


# ---- 07.10 remove the lab ------------------------------------------------------------------------------


def remove_outlier_lab(run: Run) -> None:
    """Delete everything the lab created (its label on every object), check nothing is left, traffic clean."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        run.kube.delete(KINDS, [], namespace=p.namespaces.app, selector=lab_selector(run))
        s.add(from_wait("the failing replicas' pods are gone",
                        lambda: run.kube.wait_for_pod_count(p.namespaces.app, lab_selector(run), 0,
                                                            timeout=p.timeouts.deletion), detail="no pods left"))
        res = kubectl(run, "get", f"{KINDS},pods", "-n", p.namespaces.app, "-l", lab_selector(run))
        left = [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith("NAME")]
        s.add(check("nothing the lab created is left", not left, "; ".join(left) or (res.stderr.strip() or "none")))
        df = send(run, p.app.replicas * 3, status_only=True)
        bad = int((df["status"].fillna(0).astype(int) >= 500).sum())
        s.add(check("every request succeeds again", bad == 0 and len(df) > 0, f"{bad} of {len(df)} failed"))
    do_step(run, "07.10", "Remove the lab", act, None)
