"""Each notebook first makes sure the earlier notebooks' state exists (idempotent, fast if there)."""

from __future__ import annotations

from collections.abc import Callable

from ..checks import CheckResult, check
from ..errors import RunbookError
from .cluster import condition, get_json, quietly, ready_pods, replicas_selector
from .failover import delete_failing_replica
from .install import ambient_namespace, export_address, gateway, gateway_api_crds, kgateway, kgateway_crds
from .prerequisites import simulator
from .routing import http_route, sample_app, scale_app
from .run import Run, Step, do_step
from .via_waypoint import WAYPOINT_LABELS, use_waypoint, waypoint


def _has_crds(run: Run) -> bool:
    return get_json(run, "crd", "httproutes.gateway.networking.k8s.io") is not None


def _kgateway_ready(run: Run) -> bool:
    d = get_json(run, "deployment", run.params.kgateway.release, run.params.namespaces.kgateway)
    return bool(d and (d.get("status") or {}).get("availableReplicas"))


def _ns_ambient(run: Run) -> bool:
    ns = get_json(run, "namespace", run.params.namespaces.kgateway) or {}
    return (ns.get("metadata", {}).get("labels") or {}).get("istio.io/dataplane-mode") == "ambient"


def _gateway_programmed(run: Run) -> bool:
    p = run.params
    gw = get_json(run, "gateway", p.gateway.name, p.namespaces.kgateway)
    return condition(gw, "Programmed").get("status") == "True"


def _app_ready(run: Run) -> bool:
    p = run.params
    d = get_json(run, "deployment", p.app.name, p.namespaces.app) or {}
    return (d.get("spec") or {}).get("replicas") == p.app.replicas and \
        len(ready_pods(run, p.namespaces.app, replicas_selector(run))) == p.app.replicas


def _route_accepted(run: Run) -> bool:
    p = run.params
    r = get_json(run, "httproute", p.route.name, p.namespaces.app)
    return condition(r, "Accepted", "parents").get("status") == "True"


def _waypoint_bound(run: Run) -> bool:
    p = run.params
    svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
    labels = svc.get("metadata", {}).get("labels") or {}
    d = get_json(run, "deployment", p.waypoint.name, p.namespaces.app) or {}
    return labels.get("istio.io/use-waypoint") == p.waypoint.name and \
        bool((d.get("status") or {}).get("availableReplicas"))


def _sim_up(run: Run) -> bool:
    if not run.sim:
        return True
    try:
        return quietly(run, "get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
    except RunbookError:
        return False


PREREQUISITES: list[tuple[str, str, Callable[[Run], bool], tuple[Callable[[Run], None], ...]]] = [
    ("00", "simulator running", _sim_up, (simulator,)),
    ("01", "Gateway API CRDs", _has_crds, (gateway_api_crds,)),
    ("01", "kgateway installed and running", _kgateway_ready, (kgateway_crds, kgateway)),
    ("01", "kgateway-system in the mesh", _ns_ambient, (ambient_namespace,)),
    ("01", "Gateway http Programmed", _gateway_programmed, (gateway,)),
    ("02", "in-ambient replicas Ready", _app_ready, (sample_app, scale_app)),
    ("02", "HTTPRoute Accepted", _route_accepted, (http_route,)),
    ("03", "waypoint running and bound", _waypoint_bound, (waypoint, use_waypoint)),
]


def prepare(run: Run, notebook: str) -> None:
    """Make sure every earlier notebook's state exists; do what is missing, quietly but shown."""
    def act(run: Run, s: Step) -> None:
        for nb, what, probe, steps in PREREQUISITES:
            if nb >= notebook:
                continue
            if _probe(run, probe):
                s.add(check(what, True, "already there"))
                continue
            s.add(_redo(run, what, steps))
        if "02" <= notebook < "04" or notebook >= "06":  # the concepts labs (06-) too
            s.add(_no_failing_replica(run))
        if notebook == "02":
            s.add(_not_bound(run))
        if notebook > "01":
            export_address(run)
    do_step(run, f"{notebook}.0", "Earlier steps' state", act, None)


def _no_failing_replica(run: Run) -> CheckResult:
    """Step 4's failing replica, left by a step 4 that stopped half-way, would skew the distributions
    of steps 2 and 3: remove it (04.7 and 05 remove it too)."""
    p = run.params
    if get_json(run, "deployment", p.faulty.name, p.namespaces.app) is None:
        return check("no failing replica left from step 4", True, "none")
    return delete_failing_replica(run, "no failing replica left from step 4",
                                  f"removed {p.faulty.name} (a stopped step 4 left it)")


def _not_bound(run: Run) -> CheckResult:
    """The concepts labs (06-08) rebuild step 3's state and leave it, the Service bound to the waypoint;
    step 2 routes without a waypoint (the gateway's round robin over the pods), so a second run's step 2
    removes the labels first (03.3 puts them back, as 03.2 does for 03)."""
    p = run.params
    svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
    there = [k for k in WAYPOINT_LABELS if k in ((svc.get("metadata") or {}).get("labels") or {})]
    if not there:
        return check(f"service {p.app.name} not bound to a waypoint (step 2 routes without one)", True, "not bound")
    run.kube.label("service", p.app.name, {k: None for k in there}, namespace=p.namespaces.app)
    return check(f"service {p.app.name} not bound to a waypoint (step 2 routes without one)", True,
                 f"removed {', '.join(there)}: a later notebook's earlier-state step had left them")


def _probe(run: Run, probe: Callable[[Run], bool]) -> bool:
    try:
        return bool(probe(run))
    except RunbookError:
        return False


def _redo(run: Run, what: str, steps: tuple[Callable[[Run], None], ...]) -> CheckResult:
    start = len(run.results)
    run.state["_preparing"] = True
    try:
        for fn in steps:
            fn(run)
    finally:
        run.state.pop("_preparing", None)
    done = run.results[start:]
    bad = next((c for r in done for c in r.checks if not c.ok), None)
    if bad is None:
        return check(what, True, f"done now ({', '.join(r.step for r in done)})")
    return CheckResult(what, False, f"could not be done: {bad.name}: {bad.detail}", bad.hint,
                       bad.reason)
