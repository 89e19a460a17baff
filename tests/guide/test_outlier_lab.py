"""Notebook 07's checks catch a wrong model: the lab's rules, its replicas, and its checks failing when
the simulator is broken on purpose (each test names the rule the broken model violates).

The first tests need no cluster. The others run the lab's steps against an in-thread simulator (three
zones) whose outlier model is patched for one test at a time, and expect exactly the check that
proves that rule to fail."""

from __future__ import annotations

import pandas as pd
import pytest

from ambient_lb.errors import CheckFailed
from ambient_lb.guide import outlier_evidence as ev
from ambient_lb.guide import outlier_lab as lab

# ---- no cluster ---------------------------------------------------------------------------------------


def test_the_lab_expects_istios_mapping_of_outlier_detection_r3_1():
    assert ev.envoy_outlier({"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 3, "maxEjectionPercent": 100,
                             "interval": "1s", "baseEjectionTime": "2s"}) == {
        "consecutive_5xx": 0, "enforcing_consecutive_5xx": 0, "consecutive_gateway_failure": 3,
        "enforcing_consecutive_gateway_failure": 100, "interval": 1.0, "base_ejection_time": 2.0,
        "max_ejection_percent": 100, "healthy_panic_threshold": 0.0}
    # maxEjectionPercent 0 is not written (Envoy's 10 stays); minHealthPercent is the panic threshold
    assert ev.envoy_outlier({"consecutive5xxErrors": 3, "maxEjectionPercent": 0, "minHealthPercent": 60}) == {
        "consecutive_5xx": 3, "enforcing_consecutive_5xx": 100, "healthy_panic_threshold": 60.0}
    assert ev.envoy_outlier(None) is None


def test_config_dump_reads_an_empty_panic_threshold_as_zero_and_a_missing_one_as_envoys_50():
    assert ev.seen_outlier({"outlier_detection": {"interval": "0.500s"},
                            "common_lb_config": {"healthy_panic_threshold": {}}}) == {
        "interval": 0.5, "healthy_panic_threshold": 0.0}
    assert ev.seen_outlier({"outlier_detection": {}})["healthy_panic_threshold"] == 50.0
    assert ev.seen_outlier({"name": "x"}) is None


class _Run:
    """Just what the manifest helpers read."""

    run_id = "t"

    def __init__(self) -> None:
        from ambient_lb.params import load_params

        self.params = load_params(None, None)


def test_the_failing_replicas_are_step_4s_nginx_with_another_status_or_port(monkeypatch):
    from ambient_lb import manifests

    run = _Run()
    monkeypatch.setattr(ev, "target_port", lambda run: 8080)
    guide_cm, guide_deploy = manifests.render("in-ambient-faulty", run.params, "t")
    cm, deploy = ev.replica_docs(run, ev.REPLICAS[1], "us-central1-c")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == \
        guide_deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "return 503" in cm["data"]["default.conf"] and "listen 8080;" in cm["data"]["default.conf"]
    assert deploy["spec"]["selector"]["matchLabels"][ev.REPLICA_LABEL] == "in-ambient-503"
    assert deploy["spec"]["template"]["spec"]["nodeSelector"] == {ev.ZONE: "us-central1-c"}
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert labels["variant"] == "faulty" and labels[ev.LAB_LABEL] == ev.LAB  # the app's replica count skips it
    cm, deploy = ev.replica_docs(run, ev.REPLICAS[2], None)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert "listen 8081;" in cm["data"]["default.conf"] and "listen 8080;" not in cm["data"]["default.conf"]
    assert container["readinessProbe"]["httpGet"]["port"] == 8081
    assert "nodeSelector" not in deploy["spec"]["template"]["spec"]
    assert not any(k.startswith("fault.") for d in (cm, deploy) for k in (d["metadata"].get("annotations") or {}))


def _log(host_times: list[tuple[float, str, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"t": t, "upstream_ip": ip, "response_code": code} for t, ip, code in host_times])


def _timeline(t0: float, interval: float, base: float, *, at_sweeps: bool, backoff: bool) -> pd.DataFrame:
    """One failing host X among 3 good ones, a request every 0.05 s in rotation; X's ejections as the
    model (or a broken one) makes them."""
    rows, t, i, out_until, b, ejections, streak, last_back = [], t0 + 0.01, 0, None, 0, 0, 0, None
    while t < t0 + 30 and ejections < 3:
        host = "x" if i % 4 == 0 else f"g{i % 4}"
        if out_until is not None and t >= out_until:
            out_until, last_back, streak = None, t, 0
        if host == "x" and out_until is not None:
            host = f"g{1 + i % 3}"
        rows.append((t, host, 500 if host == "x" else 200))
        if host == "x":
            streak += 1
            if streak == lab.N:
                ejections += 1
                b = b + 1 if backoff and last_back is not None and t - last_back < interval else 1
                end = t + base * b
                out_until = (t0 + interval * -(-(end - t0) // interval)) if at_sweeps else end
        t, i = t + 0.05, i + 1
    return _log(rows)


@pytest.mark.parametrize("at_sweeps,backoff,failing", [
    (True, True, []),
    (False, True, ["return 1 at an interval sweep"]),
    (True, False, ["ejection 2 lasts baseEjectionTime × 2"]),
])
def test_the_sweep_and_backoff_checks_fail_exactly_where_the_model_is_broken(at_sweeps, backoff, failing):
    t0, interval, base = 1000.0, 1.0, 2.0
    lines = _timeline(t0 + 0.37, interval, base, at_sweeps=at_sweeps, backoff=backoff)
    eps = lab._episodes(lines, "x", base)
    assert [e["run"] for e in eps[:2]] == [lab.N, lab.N]
    results = lab._durations(eps, t0 + 0.37, interval, base, lab._spacing(lines, "x", base))
    bad = [r.name for r in results if not r.ok]
    assert all(any(b.startswith(f) for b in bad) for f in failing) and bool(bad) == bool(failing), bad


# ---- the lab against a simulator whose model is broken on purpose ---------------------------------------


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    """An in-thread simulator on three zones with the guide's state 00-03 and the lab's three replicas."""
    import os

    from ambient_lb import guide
    from ambient_lb.sim.process import running_simulator

    os.environ["AMBIENT_LB_HEADLESS"] = "1"
    with running_simulator(seed=5, speed=20, topology="three-zones",
                           workdir=tmp_path_factory.mktemp("sim")) as sim:
        run = guide.open_run("", "t", "no", sim__kubeconfig=str(sim.kubeconfig))
        guide.prepare(run, "07")
        guide.failing_replicas(run)
        yield run


def _waypoints(detector) -> bool:
    """Break only the waypoint's detectors: the gateway's VIP cluster has one too (R1.4b), and a gateway
    that ejects its only host answers 503 itself (R8.3), which is another story."""
    return detector.cluster_name.startswith("inbound-vip|")


def _fails(run, step, name: str) -> list[str]:
    with pytest.raises(CheckFailed):
        step(run)
    failed = [c.name for c in run.results[-1].checks if not c.ok]
    assert any(n.startswith(name) for n in failed), failed
    return failed


@pytest.mark.notebooks
def test_a_model_that_ignores_max_ejection_percent_fails_the_10_percent_check_r2_4(lab_run, monkeypatch):
    from ambient_lb.sim.mesh.model.outlier import OutlierDetector

    eject = OutlierDetector._eject

    def no_cap(self, address, mon, kind, now):
        if not _waypoints(self):
            return eject(self, address, mon, kind, now)
        config, self.config = self.config, self.config.with_(max_ejection_percent=100)
        try:
            return eject(self, address, mon, kind, now)
        finally:
            self.config = config
    monkeypatch.setattr(OutlierDetector, "_eject", no_cap)
    failed = _fails(lab_run, lab.default_max_ejection, "none ejected")
    assert any(n.startswith("in-ambient-500 stays in rotation") for n in failed)


@pytest.mark.notebooks
def test_a_model_that_counts_500_as_a_gateway_error_fails_the_gateway_errors_step_r2_1(lab_run, monkeypatch):
    from ambient_lb.sim.mesh.model.outlier import OutlierDetector

    count = OutlierDetector._count_http
    monkeypatch.setattr(OutlierDetector, "_count_http", lambda self, mon, code: count(
        self, mon, 503 if code == 500 and _waypoints(self) else code))
    failed = _fails(lab_run, lab.gateway_errors, "2 ejected for gateway errors")
    assert any(n.startswith("in-ambient-500 stays in rotation") for n in failed)


@pytest.mark.notebooks
def test_a_model_without_panic_fails_the_panic_step_r4_7(lab_run, monkeypatch):
    from ambient_lb.sim.mesh.model.envoy_lb import PriorityLevel

    monkeypatch.setattr(PriorityLevel, "in_panic", lambda self, threshold: False)
    _fails(lab_run, lab.panic_threshold, "in panic the ejected replicas still get traffic")


@pytest.mark.notebooks
def test_a_model_where_outlier_detection_leaves_locality_off_fails_the_failover_step_r3_5(lab_run, monkeypatch):
    from ambient_lb.sim.mesh.model import destinationrule
    from ambient_lb.sim.mesh.model.locality import PriorityPlan

    plan = destinationrule.priority_plan
    monkeypatch.setattr(destinationrule, "priority_plan", lambda setting, mode, has_outlier, leg: (
        plan(setting, mode, has_outlier, leg) if setting is not None else PriorityPlan(why="broken on purpose")))
    _fails(lab_run, lab.outlier_locality_failover, "now the hosts in the waypoint's zone")


@pytest.mark.notebooks
def test_a_model_without_back_off_fails_the_second_ejection_check_r2_7(lab_run, monkeypatch):
    from ambient_lb.sim.mesh.model.outlier import OutlierDetector

    eject = OutlierDetector._eject

    def no_backoff(self, address, mon, kind, now):
        if _waypoints(self):
            mon.backoff = 0
        return eject(self, address, mon, kind, now)
    monkeypatch.setattr(OutlierDetector, "_eject", no_backoff)
    _fails(lab_run, lab.sweep_and_backoff, "ejection 2 lasts baseEjectionTime × 2")


@pytest.mark.notebooks
def test_the_lab_removes_everything_it_created(lab_run):
    lab.remove_outlier_lab(lab_run)
    assert lab_run.results[-1].ok
    assert not lab_run.kube.items("destinationrules", lab_run.params.namespaces.app, selector=ev.lab_selector(lab_run))


@pytest.mark.notebooks
def test_notebook_07_runs_on_its_own_and_twice_in_a_row(sim_params, run_guide, tmp_path):
    import json

    once, twice = tmp_path / "once", tmp_path / "twice"
    assert run_guide(sim_params, once, "--only", "07") == 0, (once / "summary.json").read_text()
    steps = json.loads((once / "summary.json").read_text())["notebooks"][0]["steps"]
    assert [s["step"] for s in steps][:2] == ["07.0", "07.1"] and steps[-1]["step"] == "07.10"
    assert any(c["detail"].startswith("done now") for c in steps[0]["checks"])
    assert run_guide(sim_params, twice, "--only", "07") == 0, (twice / "summary.json").read_text()
    first = json.loads((twice / "summary.json").read_text())["notebooks"][0]["steps"][0]
    assert {c["detail"] for c in first["checks"]} == {"already there", "none"}


def test_the_waypoint_clusters_grep_shown_prints_exactly_the_rows_the_lab_reads(monkeypatch):
    """The shown ``pilot-agent request GET clusters | grep -E '…'``, run by the real grep over a whole
    /clusters answer, prints the app cluster's rows and nothing else (an unescaped ``|`` in the cluster
    name made it an alternation that also printed every line with 'http' or '8000')."""
    import shlex
    import subprocess

    from ambient_lb import shell

    run = _Run()
    app = "inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local"
    full = "\n".join([
        f"{app}::10.244.0.6:8080::health_flags::healthy", f"{app}::10.244.0.6:8080::zone::us-central1-a",
        f"{app}::10.244.0.6:8080::cx_active::0",
        "inbound-vip|8000|http|other.httpbin.svc.cluster.local::10.244.0.9:8080::health_flags::healthy",
        "inbound-vip|8000|http|in-ambientXhttpbin.svc.cluster.local::10.244.0.7:8080::zone::a",
        "outbound|8000||in-ambient.httpbin.svc.cluster.local::observability_name::http",
        "prometheus_stats::default_priority::max_connections::1024",
    ]) + "\n"
    from ambient_lb.guide import evidence

    monkeypatch.setattr(evidence, "quietly", lambda run, *args, check=True: shell.CommandResult(
        ["kubectl", *args], 0, full, "", "kubectl " + " ".join(args)))
    with shell.CommandLog() as log:
        hosts = ev.waypoint_hosts(run)
    assert hosts == {"10.244.0.6:8080": {"health_flags": "healthy", "zone": "us-central1-a"}}
    shown = list(log)[-1]
    command, pipe = shown.display.split(" | ", 1)
    assert command == "kubectl exec -n httpbin deploy/httpbin-waypoint -- pilot-agent request GET clusters"
    printed = subprocess.run(shlex.split(pipe), input=full, capture_output=True, text=True, timeout=10).stdout
    assert printed == shown.stdout == (f"{app}::10.244.0.6:8080::health_flags::healthy\n"
                                       f"{app}::10.244.0.6:8080::zone::us-central1-a\n")

    ejected = full.replace(f"{app}::10.244.0.6:8080::health_flags::healthy",
                           f"{app}::10.244.0.6:8080::health_flags::/failed_outlier_check") + (
        "inbound-vip|8000|http|in-ambientXhttpbin.svc.cluster.local::10.244.0.7:8080::health_flags::"
        "/failed_outlier_check\n")
    full = ejected
    with shell.CommandLog() as log:
        assert ev.ejected_hosts(run) == ["10.244.0.6:8080"]
    shown = list(log)[-1]
    printed = subprocess.run(shlex.split(shown.display.split(" | ", 1)[1]), input=full, capture_output=True,
                             text=True, timeout=10).stdout
    assert printed == shown.stdout == f"{app}::10.244.0.6:8080::health_flags::/failed_outlier_check\n"
