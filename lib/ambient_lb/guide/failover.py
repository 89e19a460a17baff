"""Notebook 04 (guide step 4): the DestinationRule, a pod deleted under traffic, outlier ejection."""

from __future__ import annotations

import json
from typing import Any

from .. import manifests, shell, ui
from ..checks import CheckResult, check, from_wait, poll
from ..errors import RunbookError
from .cluster import FAULTY_LABEL, app_selector, apply, get_json, items, kubectl, quietly, ready_pods, replicas_selector
from .evidence import failures, pods_seen, send, stats_delta, stats_line, waypoint_admin, waypoint_stats
from .install import find_address
from .run import Run, Step, do_step, seconds


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
                   "rule never ejects anything (R2.4). Step 04.4 shows it; 04.5 sets "
                   "maxEjectionPercent: 100 and shows a real ejection.")

    def verify(run: Run, s: Step) -> None:
        dr = get_json(run, "destinationrule", p.destination_rule.name, p.namespaces.app) or {}
        od = ((dr.get("spec") or {}).get("trafficPolicy") or {}).get("outlierDetection") or {}
        s.add(check(f"DestinationRule {p.destination_rule.name} in place",
                    bool(od) and od.get("maxEjectionPercent") == pct,
                    f"outlierDetection {od}", f"kubectl get dr -n {p.namespaces.app} -o yaml"))
    do_step(run, "04.1", "Apply the DestinationRule", act, verify)


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
        from .. import plots, stats, traffic  # matplotlib, pandas: loaded on use, not at notebook start

        everyone = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                    replicas_selector(run)))
        s.add(poll("the waypoint has the rule (outlier_detection in its config_dump)",
                   lambda: (send(run, 1, show=False), _rule_arrived(run, None, present=True))[1],
                   timeout=15, interval=0.2, hint=f"kubectl get dr -n {p.namespaces.app} -o yaml"))
        before = _preferred(run, everyone)  # R3.5, R5.5: with zones, the pods in the waypoint's zone
        victim = before[0]
        if before != everyone:
            s.note("The DestinationRule's outlierDetection turns on the mesh's default locality failover at "
                   "the waypoint (no traffic-distribution mode is set): priority 0 is the pods in the waypoint's "
                   f"own zone, so every request goes to {', '.join(before)} while it is healthy, and the other "
                   "zones' pods wait as priority 1 (R3.5, R5.5). The guide does not say so; notebook 06 shows "
                   f"the rules. Deleting {victim} moves the traffic to the other zones until its replacement "
                   "is ready.")
        with traffic.TrafficSampler(find_address(run), host=p.route.hostname, rate=20.0,
                                    timeout=seconds(p.traffic.request_timeout)) as sampler, \
                ui.LiveChart(run.interactive, "live traffic while a pod is deleted") as chart:
            chart.start(lambda: stats.on_simulated_clock(sampler.timeline(), run.speed),
                        plots.plot_failover_timeline)
            # a baseline first: every replica has answered before one is deleted
            baseline = poll("every replica the waypoint prefers answers before the deletion",
                            lambda: _answered_by(sampler.timeline(), before), timeout=15, interval=0.1)
            run.kube.delete("pod", [victim], namespace=p.namespaces.app, wait=False)
            sampler.mark("pod deleted")
            kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", app_selector(run))
            pods = run.kube.wait_for_ready_pods(p.namespaces.app, replicas_selector(run),
                                                p.app.replicas, timeout=p.timeouts.pods_ready)
            sampler.mark("replacement ready")
            new = _preferred(run, sorted(x["metadata"]["name"] for x in pods if x["metadata"]["name"] != victim))
            rotation = poll("the replacement is back in rotation",
                            lambda: _answered_by(sampler.timeline(), new), timeout=15, interval=0.1)
        timeline = stats.on_simulated_clock(sampler.timeline(), run.speed)  # t in simulated seconds
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", app_selector(run))
        summary = stats.failover_summary(timeline, disrupted_at="pod deleted", pod=victim,
                                         after="replacement ready")
        s.show(repr(summary))
        s.figure(plots.plot_failover_timeline(timeline))
        s.add(baseline)
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
    do_step(run, "04.2", "Delete a pod while traffic flows", act, None)


def _preferred(run: Run, pods: list[str]) -> list[str]:
    """Those of ``pods`` the waypoint holds at priority 0 of its cluster for the app (its ``/clusters``,
    through pilot-agent): all of them on one zone, the waypoint's zone's with zones and a DR (R5.5)."""
    p = run.params
    cluster = f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local::"
    ips = {x["status"].get("podIP"): x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                              replicas_selector(run))}
    first = {ips.get(line.split("::")[1].rsplit(":", 1)[0])
             for line in waypoint_admin(run, "clusters", show=False).splitlines()
             if line.startswith(cluster) and line.endswith("::priority::0")}
    return [x for x in pods if x in first] or pods


def _answered_by(timeline: Any, pods: list[str]) -> tuple[bool, str]:
    seen = set(timeline["pod"].dropna().astype(str))
    missing = [x for x in pods if x not in seen]
    return not missing, "every Ready pod answered" if not missing else f"not yet: {missing}"


# ---- outlier detection, with a replica that really fails ------------------------------------------


def faulty_selector(run: Run) -> str:
    """The failing replica's pods (its Deployment adds ``FAULTY_LABEL`` to ``app=<app>``)."""
    return f"{app_selector(run)},{FAULTY_LABEL}"


def faulty_pod(run: Run) -> dict[str, Any]:
    """The failing replica's ready pod (name, IP); a RunbookError says to run step 04.3 first."""
    p = run.params
    pods = ready_pods(run, p.namespaces.app, faulty_selector(run))
    if not pods:
        raise RunbookError(f"no ready {p.faulty.name} pod", hint="step 04.3 deploys it: run it first")
    return pods[0]


def deploy_failing_replica(run: Run) -> None:
    """A second Deployment behind the same Service whose app answers 500: a failure made the way an
    operator would make one on any cluster, proven by traffic in the waypoint's access log."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        docs = manifests.render("in-ambient-faulty", p, run.run_id)
        zone = _waypoint_zone(run)
        if zone:  # R5.5: with the DR, only the waypoint's zone gets traffic; put the failing pod there
            for d in docs:
                if d.get("kind") == "Deployment":
                    d["spec"]["template"]["spec"]["nodeSelector"] = {"topology.kubernetes.io/zone": zone}
            if _zones(run) > 1:
                s.note(f"The cluster has nodes in {_zones(run)} zones, and the DestinationRule's outlierDetection "
                       "sends every request to the pods in the waypoint's zone (R3.5, R5.5): the failing replica "
                       f"is pinned there (nodeSelector topology.kubernetes.io/zone={zone}) so that it gets traffic.")
        apply(run, docs)
        pods = run.kube.wait_for_ready_pods(p.namespaces.app, faulty_selector(run), 1,
                                            timeout=p.timeouts.pods_ready)
        kubectl(run, "get", "pods", "-n", p.namespaces.app, "-l", app_selector(run), "-o", "wide")
        pod = pods[0]
        ip = pod["status"]["podIP"]
        # Ready is not yet routable: istiod pushes the new endpoint to the waypoint a moment later
        s.add(poll(f"the waypoint has {ip} as an endpoint (its /clusters, through pilot-agent)",
                   lambda: _waypoint_has_endpoint(run, ip), timeout=seconds(p.timeouts.rollout),
                   interval=0.2, hint=f"kubectl exec -n {p.namespaces.app} deploy/{p.waypoint.name} -- "
                                      f"pilot-agent request GET clusters | grep {ip}"))
        before = len(_access_lines(run))
        df = send(run, 4 * (p.app.replicas + 1), status_only=True)
        _show_lines_to(run, ip, len(df))
        lines = _access_lines(run).iloc[before:]
        mine = lines[lines["upstream_ip"] == ip]
        others = lines[lines["upstream_ip"] != ip]
        codes = sorted(set(mine["response_code"].astype(int))) if len(mine) else []
        s.add(check(f"{pod['metadata']['name']} answers 500 (its lines in the waypoint's access log)",
                    len(mine) > 0 and codes == [500],
                    f"{len(mine)} of {len(lines)} new waypoint log lines went to {ip}: status {codes or '-'}",
                    f"kubectl logs -n {p.namespaces.app} deploy/{p.faulty.name}; is its ConfigMap "
                    f"{p.faulty.name} the one the manifest shows?"))
        s.add(check("the other replicas still answer 200",
                    len(others) > 0 and set(others["response_code"].astype(int)) == {200},
                    f"{len(others)} lines to {others['upstream_ip'].nunique()} other pods: status "
                    f"{sorted(set(others['response_code'].astype(int)))}"))
        s.note(f"The guide's step 4 has no failing replica: deleting a pod (04.2) removes its endpoint "
               f"and outlier detection never acts (R6.3, R6.8). To see it act, the runbook runs "
               f"{p.faulty.name}: one more pod behind the in-ambient Service, nginx answering 500 to "
               "every request (its readiness probe path answers 200, so it is Ready and gets traffic). "
               f"The waypoint's access log names the upstream pod IP of each request ({ip} here).")
    do_step(run, "04.3", "Deploy a replica that answers 500", act, None)


def _waypoint_zone(run: Run) -> str:
    """The zone of the node the (first ready) waypoint pod runs on, or "" without zone labels."""
    p = run.params
    pods = ready_pods(run, p.namespaces.app, f"gateway.networking.k8s.io/gateway-name={p.waypoint.name}")
    node = get_json(run, "node", pods[0]["spec"].get("nodeName", "")) if pods else None
    return ((node or {}).get("metadata", {}).get("labels") or {}).get("topology.kubernetes.io/zone", "")


def _zones(run: Run) -> int:
    return len({(n["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone") for n in items(run, "nodes")})


def _waypoint_has_endpoint(run: Run, ip: str) -> tuple[bool, str]:
    """Envoy's ``/clusters`` lines read ``<cluster>::<ip>:<port>::<stat>::<value>`` (R13.11)."""
    lines = [x for x in waypoint_admin(run, "clusters", show=False).splitlines() if f"::{ip}:" in x]
    return bool(lines), f"{len(lines)} /clusters lines name {ip}" if lines else f"{ip} not in /clusters yet"


def _show_lines_to(run: Run, ip: str, tail: int) -> None:
    """Shown: ``kubectl logs ... --tail=N | grep 'connect_originate/<ip>:'``, the waypoint's access-log
    lines of the last N requests whose upstream is that pod, with what grep prints."""
    p = run.params
    res = quietly(run, "logs", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}", f"--tail={tail}")
    needle = f"connect_originate/{ip}:"
    shown = "".join(line + "\n" for line in res.stdout.splitlines() if needle in line)
    shell.record(shell.CommandResult(res.args, 0, shown, "", f"kubectl logs -n {p.namespaces.app} "
                                     f"deploy/{p.waypoint.name} --tail={tail} | grep '{needle}'"))


def _access_lines(run: Run) -> Any:
    """The waypoint's whole access log, parsed, with each request's upstream pod IP as ``upstream_ip``
    (the upstream host is ``envoy://connect_originate/<pod ip>:<port>``, R7.6)."""
    from .. import logs  # pandas: loaded on use, not at notebook start

    p = run.params
    df = logs.parse_envoy(run.kube.logs_text(p.namespaces.app, f"deploy/{p.waypoint.name}"))
    if df.empty:
        df["upstream_ip"] = []
    else:
        host = df["upstream_host"].astype(str)
        df["upstream_ip"] = host.str.replace("envoy://connect_originate/", "", regex=False).str.rsplit(":", n=1).str[0]
    return df.reset_index(drop=True)


def no_ejection_by_default(run: Run) -> None:
    """The guide's rule with the failing replica: detected, never ejected (R2.4)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply_destination_rule(run, p.destination_rule.max_ejection_percent)
        pod = faulty_pod(run)
        before = waypoint_stats(run, show=False)
        df = send(run, 4 * (p.app.replicas + 1) * 2, status_only=True)
        after = waypoint_stats(run)
        d = stats_delta(after, before)
        s.show("since the requests: " + stats_line(d, delta=True))
        hosts = p.app.replicas + 1
        s.add(check("the failing replica was detected", d.get("ejections_detected_consecutive_5xx", 0) >= 1,
                    stats_line(d, delta=True), "no outlier_detection stats at all? then the waypoint drops "
                    "them: step 03.1 sets its proxyStatsMatcher"))
        s.add(check(f"but not ejected (1 of {hosts} hosts is {100 // hosts} % > 10 %)",
                    d.get("ejections_active", 0) == 0 and d.get("ejections_overflow", 0) >= 1,
                    stats_line(d, delta=True)))
        failing = failures(df)
        s.add(check("it keeps receiving traffic, and failing", failing >= 1,
                    f"{failing} of {len(df)} requests answered 5xx ({pod['metadata']['name']})"))
        s.note(f"With maxEjectionPercent unset Envoy ejects a host only while at most 10 % of the hosts "
               f"are ejected, and one of {hosts} is {100 // hosts} %: the guide's rule detects the failing "
               "pod after every 5 errors and never ejects it (R2.3, R2.4). The counters come from "
               "pilot-agent inside the waypoint: its admin port listens on 127.0.0.1 only (R13.1, R13.7).")
    do_step(run, "04.4", "The guide's rule: detected, never ejected", act, None)


def ejection(run: Run) -> None:
    """maxEjectionPercent: 100 -> the failing replica is ejected at its Nth error and gets no traffic."""
    p = run.params
    dr = p.destination_rule

    def act(run: Run, s: Step) -> None:
        pod = faulty_pod(run)
        apply_destination_rule(run, 100)
        s.add(poll("the waypoint has the new rule (max_ejection_percent 100 in its config_dump)",
                   lambda: _rule_arrived(run, 100), timeout=15, interval=0.5,
                   hint="istiod pushes the DestinationRule to the waypoint; kubectl get dr -n "
                        f"{p.namespaces.app} -o yaml"))
        before = waypoint_stats(run, show=False)
        hosts = p.app.replicas + 1
        first = send(run, hosts * dr.consecutive_5xx_errors, status_only=True)  # round robin: N reach it
        d = stats_delta(waypoint_stats(run), before)
        s.add(check(f"{pod['metadata']['name']} is ejected", d.get("ejections_enforced_consecutive_5xx", 0) >= 1
                    and d.get("ejections_active", 0) >= 1, stats_line(d, delta=True),
                    f"kubectl get dr -n {p.namespaces.app} -o yaml shows maxEjectionPercent"))
        s.add(check(f"after {dr.consecutive_5xx_errors} consecutive errors", failures(first) ==
                    dr.consecutive_5xx_errors, f"{failures(first)} of {len(first)} requests failed"))
        then = send(run, hosts * dr.consecutive_5xx_errors, status_only=True)
        s.add(_no_failures_while_ejected(run, first, then))
        s.note("A DestinationRule change rebuilds the waypoint's cluster: its hosts start with clean "
               "error counters and no ejections, while Envoy's stats counters keep counting (R2.12, "
               "R13.10), so the runbook compares counters before and after. The ejection happens on the "
               f"{dr.consecutive_5xx_errors}th consecutive error, not at an interval sweep (R2.3).")
    do_step(run, "04.5", "A real ejection with maxEjectionPercent: 100", act, None)


def _rule_arrived(run: Run, pct: int | None, present: bool = False) -> tuple[bool, str]:
    """Does the waypoint's cluster for the app carry this max_ejection_percent (config_dump)? With
    ``present``, does it have outlier detection at all?"""
    p = run.params
    name = f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local"
    dump = json.loads(waypoint_admin(run, "config_dump?resource=dynamic_active_clusters", show=False) or "{}")
    for item in dump.get("configs") or []:
        cluster = item.get("cluster") or {}
        if cluster.get("name") == name:
            od = cluster.get("outlier_detection")
            got = (od or {}).get("max_ejection_percent")
            ok = od is not None if present else got == pct
            return ok, f"{name}: outlier_detection.max_ejection_percent = {got}"
    return False, f"no cluster {name} in the waypoint's config_dump yet"


def _no_failures_while_ejected(run: Run, first: Any, then: Any) -> CheckResult:
    """No request sent within baseEjectionTime of the ejection (the Nth failure, R2.3) fails."""
    import pandas as pd

    dr = run.params.destination_rule
    status = first["status"].fillna(0).astype(int)
    bad = first[(status >= 500) | (status == 0)]
    if len(bad) < dr.consecutive_5xx_errors:
        return check("while it is ejected no request fails", False, "it was not ejected")
    ejected_at = bad["sent_at"].iloc[dr.consecutive_5xx_errors - 1]
    window = seconds(dr.base_ejection_time) / run.speed
    inside = then[then["sent_at"] < ejected_at + pd.Timedelta(seconds=window)]
    failed = failures(inside)
    return check("while it is ejected no request fails", failed == 0 and len(inside) > 0,
                 f"{failed} of {len(inside)} failed within {dr.base_ejection_time} of the ejection",
                 "a slow machine can outlast the ejection; lower the simulator's --speed")


def ejected_again(run: Run) -> None:
    """The ejection ends at a sweep, not when the pod is healthy: still failing, it is ejected again (R2.6, R2.7)."""
    p = run.params
    dr = p.destination_rule
    wall = (seconds(dr.base_ejection_time) + 2 * seconds(dr.interval)) / run.speed

    def act(run: Run, s: Step) -> None:
        pod = faulty_pod(run)

        def back() -> tuple[bool, str]:
            st = waypoint_stats(run, show=False)
            return st.get("ejections_active", 1) == 0, stats_line(st)
        s.add(poll("it is back in rotation at a sweep, still failing", back, timeout=wall + 10,
                   interval=min(1.0, seconds(dr.interval) / run.speed / 4),
                   hint=f"un-ejection waits for baseEjectionTime ({dr.base_ejection_time}) and the "
                        f"next {dr.interval} sweep"))
        before = waypoint_stats(run)
        df = send(run, (p.app.replicas + 1) * dr.consecutive_5xx_errors, status_only=True)
        d = stats_delta(waypoint_stats(run), before)
        s.add(check(f"{pod['metadata']['name']} failed again and was ejected again",
                    failures(df) >= 1 and d.get("ejections_enforced_consecutive_5xx", 0) >= 1,
                    f"{failures(df)} failed; {stats_line(d, delta=True)}"))
        s.note(f"Envoy has no health check here: an ejected host returns at the first interval sweep "
               f"after baseEjectionTime, so it is out between {dr.base_ejection_time} and "
               f"{dr.base_ejection_time} + {dr.interval}, whether or not it was fixed (R2.6). Failing "
               "again before the next sweep, it is ejected for twice as long, then three times, up to "
               "300 s (R2.7).")
    do_step(run, "04.6", "The ejection ends at a sweep; the still-failing replica is ejected again", act, None)


def delete_failing_replica(run: Run, name: str, detail: str) -> CheckResult:
    """``kubectl delete`` the failing replica's Deployment and ConfigMap, then a check (named ``name``)
    that watches until its pods are gone. 04.7 and the earlier-state step of 02/03 use it."""
    p = run.params
    run.kube.delete("deployment", [p.faulty.name], namespace=p.namespaces.app, ignore_not_found=True)
    run.kube.delete("configmap", [p.faulty.name], namespace=p.namespaces.app, ignore_not_found=True)
    return from_wait(name, lambda: run.kube.wait_for_pod_count(p.namespaces.app, faulty_selector(run), 0,
                                                               timeout=p.timeouts.deletion),
                     detail=detail, hint=f"kubectl get pods -n {p.namespaces.app} -l {faulty_selector(run)}")


def remove_failing_replica(run: Run) -> None:
    """Delete the failing replica (its Deployment and ConfigMap); traffic is clean again."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        s.add(delete_failing_replica(run, f"{p.faulty.name}'s pods are gone", "no pods left"))
        df = send(run, p.app.replicas * 3)
        s.add(check("every request succeeds again", failures(df) == 0 and len(df) > 0,
                    f"{failures(df)} of {len(df)} failed; answered by {sorted(pods_seen(df))}"))
    do_step(run, "04.7", "Remove the failing replica", act, None)
