"""Notebook 06, the locality lab: the rules it predicts with, the checks failing when the model is broken
on purpose, the one-zone refusal, and the notebook alone and twice in a row.

The rules (``guide.locality.predict``) are written from semantics.md, not read from the simulator, so
the tests pin them to the rule tables (R4.6 spill, R5.1 precedence, R5.2 strict tiers). The steps then
run against an in-thread ``three-zones`` simulator; each broken-model test patches one rule out of the
simulator (R5.1, R5.2/R5.7, R5.3) and asserts that the step's own check fails, so no check passes
vacuously.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ambient_lb import guide
from ambient_lb.errors import CheckFailed
from ambient_lb.guide import locality as lab
from ambient_lb.guide.locality import Place


@pytest.fixture(autouse=True)
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")


A1, A2 = Place("a1", "node-a", "r", "z-a"), Place("a2", "node-a", "r", "z-a")
B1, B2 = Place("b1", "node-b", "r", "z-b"), Place("b2", "node-b", "r", "z-b")
C1, C2 = Place("c1", "node-c", "r", "z-c"), Place("c2", "node-c", "r", "z-c")
ALL = [A1, A2, B1, B2, C1, C2]


# ---- the rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "service", "namespace", "mode", "source"), [
    (None, None, None, "Any", "default (upstream Istio: Any)"),
    ("PreferClose", "Any", "Any", "PreferClose", "spec.trafficDistribution"),
    ("PreferSameZone", None, None, "PreferClose", "spec.trafficDistribution"),
    ("SomethingNew", "preferclose", None, "PreferClose", "Service annotation"),  # unknown spec: next source
    (None, "Any", "PreferClose", "Any", "Service annotation"),
    (None, None, "PreferSameNode", "PreferSameNode", "Namespace annotation"),
    (None, "PreferNetwork", None, "Any", "Service annotation"),  # upstream: an unknown value means Any (R5.8)
])
def test_the_mode_comes_from_spec_then_service_then_namespace_annotation(spec, service, namespace, mode, source):
    assert lab.resolve(spec, service, namespace) == (mode, source)


@pytest.mark.parametrize(("ready_in_zone", "total_in_zone", "stays"), [
    (3, 3, 1.00), (2, 3, 0.93), (1, 2, 0.70), (1, 3, 0.46), (0, 2, 0.0)])
def test_the_waypoint_spills_gradually_as_the_envoy_priority_table_says(ready_in_zone, total_in_zone, stays):
    """R4.6: health(P0) = min(100, floor(140 x healthy/total)), the rest to P1 (R5.3: not-ready pods
    are sent as unhealthy once a mode is set, so they count in total)."""
    zone = [Place(f"a{i}", "node-a", "r", "z-a", ready=i < ready_in_zone) for i in range(total_in_zone)]
    shares = lab.predict("waypoint", "PreferClose", A1, zone + [B1, B2, C1, C2])
    assert lab.spread(shares, {p.pod: p for p in zone + [B1, B2, C1, C2]})["z-a"] == pytest.approx(stays)


def test_ztunnel_and_the_gateway_never_spill_gradually():
    """R5.2: ztunnel keeps the whole best tier while it has a healthy endpoint; R1.1: the gateway's Envoy
    is never sent a not-ready pod, so one ready pod in the zone takes everything."""
    half = [A1, replace_ready(A2, False), B1, B2, C1, C2]
    places = {p.pod: p for p in half}
    for leg in ("ztunnel", "gateway"):
        assert lab.spread(lab.predict(leg, "PreferClose", A1, half), places)["z-a"] == 1.0
    none_here = [replace_ready(A1, False), replace_ready(A2, False), B1, B2, C1, C2]
    shares = lab.predict("gateway", "PreferClose", A1, none_here)
    assert shares == {"a1": 0, "a2": 0, "b1": 0.25, "b2": 0.25, "c1": 0.25, "c2": 0.25}


def test_any_spreads_over_every_ready_pod_from_any_reference():
    assert set(lab.predict("waypoint", "Any", A1, ALL).values()) == {1 / 6}


def replace_ready(p: Place, ready: bool) -> Place:
    from dataclasses import replace
    return replace(p, ready=ready)


def _rows(pods: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"pod": pods})


def test_a_share_of_one_allows_no_stray_request():
    places = {p.pod: p for p in ALL}
    shares = lab.predict("gateway", "PreferClose", A1, ALL)
    assert lab.verdict("x", _rows(["a1", "a2"] * 6), places, shares, exact=True, why="").ok
    strayed = lab.verdict("x", _rows(["a1", "a2"] * 5 + ["a1", "b1"]), places, shares, exact=True, why="")
    assert not strayed.ok and [r["zone"] for r in strayed.rows if not r["ok"]] == ["z-a", "z-b"]


def test_round_robin_is_exact_and_random_gets_a_binomial_band():
    places = {p.pod: p for p in ALL}
    shares = lab.predict("gateway", "Any", A1, ALL)
    assert lab.verdict("rr", _rows(["a1", "a2", "b1", "b2", "c1", "c2"] * 2), places, shares, exact=True, why="").ok
    skewed = ["a1"] * 6 + ["b1", "b2", "c1", "c2", "a2", "b1"]
    assert not lab.verdict("rr", _rows(skewed), places, shares, exact=True, why="").ok
    random = lab.verdict("lr", _rows(skewed), places, shares, exact=False, why="")
    row = next(r for r in random.rows if r["zone"] == "z-a")
    assert row["low"] < 4 < row["high"] < 12 and random.ok  # 7 of 12 is inside Bin(12, 1/3)'s 99.9 % band


# ---- the steps on a simulator with zones, and the model broken on purpose ----------------------------
# The tests that use ``zoned`` are marked slow: the simulator and the steps take seconds.


@pytest.fixture(scope="module")
def zoned() -> Iterator[tuple[Any, Any]]:
    """Notebook 06's first steps on an in-thread three-zones simulator (speed 20)."""
    from ambient_lb.sim.process import running_simulator

    with pytest.MonkeyPatch.context() as mp, running_simulator(seed=42, speed=20.0, topology="three-zones") as sim:
        mp.setenv("AMBIENT_LB_HEADLESS", "1")
        mp.setenv("HOME", str(sim.kubeconfig.parent))
        run = guide.open_run("", "loc-test", sim__kubeconfig=str(sim.kubeconfig), sim__speed=20.0)
        guide.prepare(run, "06")
        guide.zones(run)
        guide.zonal_app(run)
        yield run, sim


def _failed(run: Any) -> list[str]:
    return [c.name for c in run.results[-1].checks if not c.ok]


@pytest.mark.slow
def test_leg2_fails_when_the_annotation_overrides_the_spec(zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    """R5.1: spec.trafficDistribution wins over the Service annotation. A simulator that read the
    annotation first must fail 06.4's precedence case, not pass it."""
    from ambient_lb.sim.mesh import istiod

    run, _ = zoned
    real = istiod.resolve_mode
    monkeypatch.setattr(lab, "CONFIG_TIMEOUT", 3.0)
    monkeypatch.setattr(istiod, "resolve_mode", lambda spec, svc, ns, **kw: real(
        None if (svc or {}).get(lab.ANNOTATION) else spec, svc, ns, **kw))
    with pytest.raises(CheckFailed):
        guide.gateway_to_backend(run)
    assert "spec PreferClose + Service annotation Any: the spread over zones is what PreferClose predicts" \
        in _failed(run)
    assert not [n for n in _failed(run) if n.startswith("nothing set:")]  # the untouched cases still pass


@pytest.mark.slow
def test_leg3_fails_when_ztunnel_ignores_the_waypoints_prefer_close(zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    """R5.2/R5.7: the gateway's ztunnel keeps to the waypoint in its zone. Without the tier (random over
    the three waypoint pods) 06.5 must fail; with the model as it is it passes."""
    from ambient_lb.sim.mesh.model import locality

    run, _ = zoned
    monkeypatch.setitem(locality.ZTUNNEL_LADDERS, locality.Mode.SAME_ZONE, ())
    with pytest.raises(CheckFailed):
        guide.gateway_to_waypoint(run)
    zone = run.state["locality_lab"].gateways[0].zone
    assert _failed(run) == [f"every request crossed the waypoint in the gateway's zone ({zone})"]
    monkeypatch.undo()
    guide.gateway_to_waypoint(run)  # the model as it is: passes (and leg 4 has its waypoint)


@pytest.mark.slow
def test_leg4_fails_when_not_ready_pods_are_not_sent_to_the_waypoint(zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    """R5.3/R6.3: with a mode, Istio sends not-ready endpoints as unhealthy, so one of two ready keeps
    70 % in the zone. A simulator that dropped them (100 % stays) must fail 06.6's spill case."""
    from ambient_lb.sim.mesh.istiod import ServiceView

    run, _ = zoned
    if run.state.get("locality_waypoint") is None:
        guide.gateway_to_waypoint(run)
    monkeypatch.setattr(ServiceView, "forces_unhealthy", property(lambda self: False))
    monkeypatch.setattr(lab, "CONFIG_TIMEOUT", 3.0)
    with pytest.raises(CheckFailed):
        guide.waypoint_to_backend(run)
    assert "spec PreferClose, 1 of the zone's 2 pods not ready: the spread is what the rules predict" in _failed(run)
    assert not [n for n in _failed(run) if n.startswith("spec PreferClose: ")]


def test_a_cluster_with_one_zone_stops_at_the_first_check_saying_what_to_do(tmp_path: Path) -> None:
    from ambient_lb.sim.process import running_simulator

    with pytest.MonkeyPatch.context() as mp, running_simulator(seed=1, speed=20.0) as sim:
        mp.setenv("HOME", str(tmp_path))
        run = guide.open_run("", "one-zone", sim__kubeconfig=str(sim.kubeconfig), sim__speed=20.0)
        with pytest.raises(CheckFailed, match=r"at least two zones.*ambient-lb sim up --topology three-zones"):
            guide.zones(run)
    assert [c.name for c in run.results[-1].checks] == ["the nodes are in at least two zones"]


# ---- the notebook itself ------------------------------------------------------------------------------


@pytest.mark.notebooks
def test_notebook_06_runs_alone_and_twice_in_a_row_leaving_nothing(sim_params, run_guide, tmp_path):
    for attempt in ("once", "twice"):
        out = tmp_path / attempt
        assert run_guide(sim_params, out, "--only", "06") == 0, (out / "summary.json").read_text()
        steps = json.loads((out / "summary.json").read_text())["notebooks"][0]["steps"]
        assert [s["step"] for s in steps] == ["06.0", *(f"06.{i}" for i in range(1, 10))]
        assert steps[-1]["checks"][0]["detail"] == "none"


def test_the_lab_curl_loops_are_what_a_person_types() -> None:
    assert lab.curl_line(3) == ('for i in $(seq 1 3); do curl -s -H "Host: zonal.example.com" '
                                'http://$KGATEWAY_IP:{port}/hostname; done')
    assert lab.curl_line(1, status_only=True) == (
        "curl -s -o /dev/null -w '%{http_code}\\n' -H \"Host: zonal.example.com\" http://$KGATEWAY_IP:{port}/hostname")


@pytest.mark.slow
def test_the_explorer_widgets_apply_the_chosen_case_and_measure_it(zoned) -> None:
    """Interactive mode: change the widgets, click Apply; the cluster takes the case and a new result,
    measured beside the rules, is recorded (the real browser test is the person's path)."""
    run, _ = zoned
    if run.state.get("locality_waypoint") is None:
        guide.gateway_to_waypoint(run)
    box = lab.explorer_widget(run)
    (mode, where, through), go = box.children[0].children, box.children[-2]
    zones = run.state["locality_lab"].zones
    mode.value, where.value, through.value = "PreferClose", "Namespace annotation", False
    gw_zone = run.state["locality_lab"].gateways[0].zone
    ready_row = box.children[1 + zones.index(gw_zone)].children[0]
    ready_row.value = 1
    before = len(run.results)
    go.click()
    result = run.results[-1]
    assert len(run.results) == before + 1 and result.title == "Explorer: one case" and result.ok
    assert "PreferClose (Namespace annotation), no waypoint" in result.output
    assert f"{gw_zone}: 12" in result.output.replace("~", "") or f"{gw_zone}: 40" in result.output
    ns = run.kube.read("namespace", lab.LAB_NS)
    assert ns["metadata"]["annotations"][lab.ANNOTATION] == "PreferClose"
