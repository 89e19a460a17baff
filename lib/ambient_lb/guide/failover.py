"""Notebook 04 (guide step 4): the DestinationRule, a pod deleted under traffic, outlier ejection."""

from __future__ import annotations

from typing import Any

from .. import manifests, ui
from ..checks import CheckResult, check, poll
from .cluster import app_selector, apply, get_json, kubectl, ready_pods, seen
from .evidence import failures, pods_seen, send, stats_line, waypoint_stats
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
        from .. import plots, stats, traffic

        before = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                                  app_selector(run)))
        victim = before[0]
        with traffic.TrafficSampler(find_address(run), host=p.route.hostname, rate=20.0,
                                    timeout=seconds(p.traffic.request_timeout)) as sampler, \
                ui.LiveChart(run.interactive, "live traffic while a pod is deleted") as chart:
            chart.start(sampler.timeline, plots.plot_failover_timeline)
            # a baseline first: every replica has answered before one is deleted
            baseline = poll("every replica answers before the deletion",
                            lambda: _answered_by(sampler.timeline(), before), timeout=15, interval=0.1)
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


def _answered_by(timeline: Any, pods: list[str]) -> tuple[bool, str]:
    seen = set(timeline["pod"].dropna().astype(str))
    missing = [x for x in pods if x not in seen]
    return not missing, "every Ready pod answered" if not missing else f"not yet: {missing}"


FAULT_STATUS = "fault.ambient-lb.dev/http-status"


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
    do_step(run, "04.3", "Make one replica fail", act, verify)


def no_ejection_by_default(run: Run) -> None:
    """Three pods, maxEjectionPercent unset: the failing pod is detected but never ejected (R2.4)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        apply_destination_rule(run, run.params.destination_rule.max_ejection_percent)
        df = send(run, 30)
        st = waypoint_stats(run)
        s.show(stats_line(st))
        failing = failures(df)
        s.add(check("the failing pod was detected", st.get("ejections_detected_consecutive_5xx", 0)
                    >= 1, stats_line(st), "did step 04.3 annotate the pod?"))
        s.add(check("but not ejected (max ejection 10 %)", st.get("ejections_active", 0) == 0
                    and st.get("ejections_overflow", 0) >= 1, stats_line(st)))
        s.add(check("it keeps receiving traffic", failing >= 1,
                    f"{failing} of {len(df)} requests went to {failing_pod(run)} and got a 5xx"))
    do_step(run, "04.4", "The guide's rule with 3 pods: detected, never ejected", act, None)


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
                    st.get("ejections_enforced_consecutive_5xx", 0) >= 1, stats_line(st),
                    "is the fault still on (step 04.3)? kubectl get dr -n "
                    f"{p.namespaces.app} -o yaml shows maxEjectionPercent"))
        s.add(check("it failed consecutive5xxErrors times first", failures(first) >=
                    dr.consecutive_5xx_errors, f"{failures(first)} of {len(first)} failed"))
        then = send(run, 3 * dr.consecutive_5xx_errors)
        s.add(_no_failures_while_ejected(run, first, then))
    do_step(run, "04.5", "A real ejection with maxEjectionPercent: 100", act, None)


def _counters_restarted(run: Run) -> tuple[bool, str]:
    """Healthy traffic, then: are the outlier counters back at zero (a rebuilt cluster)?"""
    send(run, run.params.app.replicas, show=False)
    st = waypoint_stats(run, show=False)
    fresh = st.get("ejections_overflow", 1) == 0 and \
        st.get("ejections_detected_consecutive_5xx", 1) == 0
    return fresh, stats_line(st)


def _no_failures_while_ejected(run: Run, first: Any, then: Any) -> CheckResult:
    """No request sent within baseEjectionTime of the ejection (the Nth failure, R2.3) fails."""
    import pandas as pd

    dr = run.params.destination_rule
    status = first["status"].fillna(0).astype(int)
    bad = first[(status >= 500) | (status == 0)]
    if len(bad) < dr.consecutive_5xx_errors:
        return check("while it is ejected no request fails", False, "it was not ejected")
    ejected_at = bad["sent_at"].iloc[dr.consecutive_5xx_errors - 1]
    window = seconds(dr.base_ejection_time) / (run.params.sim.speed if run.sim else 1.0)
    inside = then[then["sent_at"] < ejected_at + pd.Timedelta(seconds=window)]
    failed = failures(inside)
    return check("while it is ejected no request fails", failed == 0 and len(inside) > 0,
                 f"{failed} failed within {dr.base_ejection_time} of the ejection",
                 "a slow machine can outlast the ejection; lower sim.speed")


def pod_returns(run: Run) -> None:
    """Fault removed: the pod comes back at the first sweep after its ejection time (R2.6)."""
    p = run.params
    dr = p.destination_rule
    wall = (seconds(dr.base_ejection_time) + 2 * seconds(dr.interval)) / \
        (p.sim.speed if run.sim else 1.0)

    def act(run: Run, s: Step) -> None:
        run.kube.annotate("pod", failing_pod(run), {FAULT_STATUS: None},
                          namespace=p.namespaces.app)

        def back() -> tuple[bool, str]:
            send(run, 1, show=False)  # traffic keeps flowing, as it would for a real service
            st = waypoint_stats(run, show=False)
            return st.get("ejections_active", 1) == 0, stats_line(st)
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
    do_step(run, "04.6", "The pod returns after the ejection time", act, None)
