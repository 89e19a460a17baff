"""Notebook 06 (the concepts page, hands-on): locality and traffic distribution on each of the four legs.

The lab runs beside the guide's app, in its own ambient namespace ``locality-lab``: the Service
``zonal`` (go-httpbin, ``/hostname`` names the pod) with a Deployment per zone pinned by
``nodeSelector`` on ``topology.kubernetes.io/zone``, routed from the guide's Gateway for
``zonal.example.com``, and later its own waypoint ``zonal-waypoint``, scaled to one replica per zone.
A replica that is Running but not Ready is made the way an operator makes one on any cluster: a
second Deployment in that zone whose readiness probe asks go-httpbin for ``/status/503``.

Every claim is a measured distribution set beside what the rules predict (:func:`predict`, written
from semantics.md, not read from the simulator): R1.5 (whose locality), R5.1 (where the mode comes
from), R5.2 (ztunnel's strict tiers), R5.3/R4.6/R4.7 (the waypoint's gradual spill), R5.7 (the
waypoint Service's own PreferClose), R5.10 (the gateway leg). The tolerance comes from
``ambient_lb.stats``: exact for round robin and for a share of 0 or 1, a binomial interval otherwise.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import manifests, shell, ui
from ..checks import CheckResult, StepResult, check, poll
from .cluster import apply, get_json, items, kubectl, quietly, ready_pods
from .evidence import curl_output, grep_literal, shown_grep
from .install import find_address
from .run import RUN_LABEL, Run, Step, _execute, do_step, seconds

LAB_NS = "locality-lab"
APP = "zonal"
HOST = "zonal.example.com"
WAYPOINT = "zonal-waypoint"
SERVICE_PORT = 8000
APP_PORT = 8080
PER_ZONE = 2  # ready replicas per zone
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
ANNOTATION = "networking.istio.io/traffic-distribution"
CONFIG_TIMEOUT = 15.0  # seconds for a proxy to show a change (istiod pushes within a second, R6.4)
CONFIDENCE = 0.999  # a random policy's count falls outside its band in one run of a thousand
MODES = ("Any", "PreferClose", "PreferSameNode")
WHERE = ("spec.trafficDistribution", "Service annotation", "Namespace annotation")
GATEWAY_ADMIN = "http://127.0.0.1:19000/clusters"  # kgateway's Envoy admin, loopback only (R13.2)
FEWER_THAN_TWO_ZONES = (
    "locality needs nodes in at least two zones (R5.9). On the simulator: `ambient-lb sim down && "
    "ambient-lb sim up --topology three-zones` (params: sim.topology: three-zones); on kind or another "
    "cluster: label the nodes, e.g. `kubectl label node <node> topology.kubernetes.io/zone=zone-b "
    "topology.kubernetes.io/region=region-1`")


# ---- the rules, as a learner reads them (no simulator code) ------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a pod (or a proxy) runs, and whether it is Ready."""

    pod: str
    node: str
    region: str
    zone: str
    ready: bool = True


def resolve(spec: str | None, service_annotation: str | None, namespace_annotation: str | None) -> tuple[str, str]:
    """R5.1: spec.trafficDistribution, then the Service's annotation, then the Namespace's (Istio >= 1.30),
    else Any. Annotation values match case-insensitively; an unknown value means Any."""
    known = {"preferclose": "PreferClose", "prefersamezone": "PreferClose", "prefersamenode": "PreferSameNode"}
    if spec and spec.lower() in known:
        return known[spec.lower()], "spec.trafficDistribution"
    for source, value in (("Service annotation", service_annotation), ("Namespace annotation", namespace_annotation)):
        if value:
            return known.get(value.lower(), "Any"), source
    return "Any", "default (upstream Istio: Any)"


def tier(mode: str, ref: Place, pod: Place) -> int:
    """The priority of ``pod`` seen from ``ref`` (0 best): SameZone ranks region then zone; SameNode adds
    the node (R5.2 for ztunnel, R5.3 for Envoy; one network here). Any: one tier."""
    ladder = {"Any": (), "PreferClose": ("region", "zone"), "PreferSameNode": ("region", "zone", "node")}[mode]
    matched = 0
    for key in ladder:
        if getattr(ref, key) != getattr(pod, key):
            break
        matched += 1
    return len(ladder) - matched


def predict(leg: str, mode: str, ref: Place, pods: Sequence[Place]) -> dict[str, float]:
    """The share of requests each pod should get on one leg, from the rules.

    ``leg``: ``gateway`` (the gateway's Envoy, which sees only ready pods, R1.1, R5.10), ``ztunnel``
    (the gateway's ztunnel choosing a waypoint: strict tiers of healthy endpoints, R5.2), or
    ``waypoint`` (the waypoint's Envoy: with a mode, not-ready pods are sent as unhealthy and count in
    their priority's health, so traffic spills gradually, R5.3, R4.6, R4.7)."""
    ready = [p for p in pods if p.ready]
    if leg in ("gateway", "ztunnel") or mode == "Any":
        if not ready:
            return {p.pod: 0.0 for p in pods}
        best = min(tier(mode, ref, p) for p in ready)
        chosen = [p for p in ready if tier(mode, ref, p) == best]
        return {p.pod: (1 / len(chosen) if p in chosen else 0.0) for p in pods}
    levels: dict[int, list[Place]] = {}
    for p in pods:
        levels.setdefault(tier(mode, ref, p), []).append(p)
    ordered = [levels[k] for k in sorted(levels)]
    health = [min(100, math.floor(140 * sum(p.ready for p in lv) / len(lv))) for lv in ordered]
    total = min(100, sum(health))
    shares = {p.pod: 0.0 for p in pods}
    if total == 0:
        return shares  # nothing healthy: 503 no healthy upstream (R7.3)
    panic = [total < 100 and h < 50 for h in health]  # R4.7: no DestinationRule, threshold 50
    remaining = 100.0
    for lv, h, in_panic in zip(ordered, health, panic, strict=True):
        load = min(remaining, h * 100 / total)
        remaining -= load
        hosts = lv if in_panic else [p for p in lv if p.ready]
        for p in hosts:
            shares[p.pod] += load / 100 / len(hosts)
    return shares


def spread(shares: dict[str, float], places: dict[str, Place]) -> dict[str, float]:
    """Per-pod shares summed per zone."""
    out: dict[str, float] = {}
    for pod, s in shares.items():
        z = places[pod].zone if pod in places else "?"
        out[z] = out.get(z, 0.0) + s
    return out


@dataclass
class Verdict:
    """A measured spread over zones beside the prediction, with the allowed band per zone."""

    label: str
    n: int
    rows: list[dict[str, Any]]  # zone, expected share, expected, low, high, measured, ok
    why: str
    per_pod: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    varies: bool = False  # n itself is random (a share of requests another random choice sent here)

    @property
    def ok(self) -> bool:
        """True when the case had answers, none failed, and every zone's count is within its allowed range."""
        return self.n > 0 and self.failed == 0 and all(r["ok"] for r in self.rows)

    def lines(self) -> list[str]:
        """The verdict as text: a PASS/FAIL head line, one line per zone with its expected range, and why."""
        t = "~" if self.varies else ""
        head = f"[{'PASS' if self.ok else 'FAIL'}] {self.label}: {t}{self.n} answers" + \
            (f", {self.failed} failed" if self.failed else "")
        body = [f"  {r['zone']}: {_count(r, self.varies)} (expected {r['share']:.0%} = {t}{r['expected']:g}, allowed "
                f"{t}{r['low']}..{t}{r['high']}){'' if r['ok'] else '  <- outside'}" for r in self.rows]
        return [head, *body, f"  why: {self.why}"]

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def _count(row: dict[str, Any], varies: bool = False) -> str:
    """A measured count; ``~`` marks one whose band is wider than one value (a random pick, or where a
    rotation starts), so it differs from run to run within the band (and is sanitized for nbval)."""
    return f"{'~' if varies or row['low'] != row['high'] else ''}{row['measured']}"


def verdict(label: str, df: Any, places: dict[str, Place], shares: dict[str, float], *, exact: bool,
            why: str) -> Verdict:
    """Compare the answers in ``df`` (``send_requests`` rows) with per-pod ``shares``.

    ``exact``: round robin (R4.1): each pod gets floor or ceil of its share, so a zone gets the sum of
    those; a share of 0 or 1 is exact in any case. Otherwise each zone's count ~ Binomial(n, share),
    allowed within ``stats.binomial_interval`` at 99.9 % overall (Bonferroni over the zones)."""
    from .. import stats  # pandas: loaded on use, not at notebook start

    answered = df[df["pod"].notna() & (df["pod"] != "")] if len(df) else df
    per_pod = {str(k): int(v) for k, v in answered["pod"].value_counts().sort_index().items()} if len(df) else {}
    n = sum(per_pod.values())
    failed = len(df) - n
    zones = sorted({pl.zone for pl in places.values()} | {places[p].zone for p in per_pod if p in places})
    zone_share = spread(shares, places)
    measured = {z: sum(c for p, c in per_pod.items() if p in places and places[p].zone == z) for z in zones}
    strangers = sum(c for p, c in per_pod.items() if p not in places)
    rows = []
    for z in zones:
        share = zone_share.get(z, 0.0)
        if share <= 1e-9:
            lo = hi = 0
        elif share >= 1 - 1e-9:
            lo = hi = n
        elif exact:
            pods = [p for p, s in shares.items() if s > 0 and places[p].zone == z]
            lo = sum(math.floor(n * shares[p] + 1e-9) for p in pods)
            hi = sum(math.ceil(n * shares[p] - 1e-9) for p in pods)
        else:
            lo, hi = stats.binomial_interval(n, share, (1 - CONFIDENCE) / max(1, len(zones)))
        rows.append({"zone": z, "share": share, "expected": round(n * share, 1), "low": lo, "high": hi,
                     "measured": measured[z], "ok": lo <= measured[z] <= hi})
    if strangers:
        rows.append({"zone": "(pods not in the lab)", "share": 0.0, "expected": 0, "low": 0, "high": 0,
                     "measured": strangers, "ok": False})
    return Verdict(label, n, rows, why, per_pod, failed)


def tolerance_text(exact: bool) -> str:
    """How the allowed range per zone is computed: exact floor/ceil for round robin, else a binomial interval."""
    return ("round robin (R4.1): floor/ceil of each pod's share, no tolerance" if exact else
            f"random pick per request (R4.3, R4.5): Binomial(n, share) per zone, {CONFIDENCE:.1%} interval "
            "(stats.binomial_interval, Bonferroni over the zones)")


# ---- the lab's objects -----------------------------------------------------------------------------


def slug(zone: str) -> str:
    """A zone name as part of an object name (``us-central1-a``)."""
    return re.sub(r"[^a-z0-9-]+", "-", zone.lower()).strip("-")[:40] or "zone"


def deployment_name(zone: str, ready: bool = True) -> str:
    """The name of a zone's lab Deployment (``-unready`` for the one whose pods never become Ready)."""
    return f"{APP}-{slug(zone)}" + ("" if ready else "-unready")


def _deployment(run: Run, zone: str, replicas: int, ready: bool) -> dict[str, Any]:
    labels = {"app": APP, "variant": "ready" if ready else "unready", "zone": slug(zone)}
    probe = "/status/200" if ready else "/status/503"  # go-httpbin answers the status it is asked
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": deployment_name(zone, ready), "namespace": LAB_NS, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"nodeSelector": {ZONE_LABEL: zone},
                                           "containers": [{
                                               "name": "httpbin", "image": run.params.app.image,
                                               "ports": [{"name": "http", "containerPort": APP_PORT}],
                                               "readinessProbe": {"httpGet": {"path": probe, "port": APP_PORT},
                                                                  "periodSeconds": 10}}]}}}}


def lab_docs(run: Run, zones: Sequence[str]) -> list[dict[str, Any]]:
    """The lab's manifests: its ambient namespace, the app's Service, and the ready Deployment of each zone."""
    p = run.params
    docs = [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": LAB_NS, "labels": {"istio.io/dataplane-mode": "ambient"}}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": APP, "namespace": LAB_NS, "labels": {"app": APP}},
             "spec": {"selector": {"app": APP},
                      "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": APP_PORT}]}},
            *[_deployment(run, z, PER_ZONE, True) for z in zones],
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": APP, "namespace": LAB_NS},
             "spec": {"parentRefs": [{"name": p.gateway.name, "namespace": p.namespaces.kgateway}],
                      "hostnames": [HOST],
                      "rules": [{"backendRefs": [{"name": APP, "port": SERVICE_PORT}]}]}}]
    return [manifests.label(d, run.run_id) for d in docs]


def waypoint_doc(run: Run) -> dict[str, Any]:
    """The lab's waypoint Gateway."""
    return manifests.label({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": WAYPOINT, "namespace": LAB_NS},
        "spec": {"gatewayClassName": run.params.waypoint.class_name,
                 "listeners": [{"name": "mesh", "port": run.params.waypoint.port, "protocol": "HBONE",
                                "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}, run.run_id)


# ---- what the cluster says -----------------------------------------------------------------------


@dataclass
class Lab:
    """Where the lab runs: each node's locality, the zones, and the ingress gateway's pods."""

    nodes: dict[str, Place]  # node -> its locality (pod = "")
    zones: list[str]
    gateways: list[Place]  # the ingress gateway's pods

    def place(self, pod: dict[str, Any]) -> Place:
        """A pod's place: its node's locality, its name, and whether it is Ready and not being deleted."""
        node = (pod.get("spec") or {}).get("nodeName") or ""
        at = self.nodes.get(node, Place("", node, "", ""))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        return replace(at, pod=pod["metadata"]["name"], ready=ready and not pod["metadata"].get("deletionTimestamp"))


def lab(run: Run) -> Lab:
    """The nodes' localities and the gateway's pods, read from the cluster (R5.9: node labels)."""
    nodes = {}
    for n in items(run, "nodes"):
        labels = n["metadata"].get("labels") or {}
        nodes[n["metadata"]["name"]] = Place("", n["metadata"]["name"], labels.get(REGION_LABEL, ""),
                                             labels.get(ZONE_LABEL, ""))
    zones = sorted({pl.zone for pl in nodes.values() if pl.zone})
    out = Lab(nodes, zones, [])
    out.gateways = [out.place(x) for x in ready_pods(run, run.params.namespaces.kgateway, _gateway_selector(run))]
    run.state["locality_lab"] = out
    return out


def _gateway_selector(run: Run) -> str:
    return f"gateway.networking.k8s.io/gateway-name={run.params.gateway.name}"


def _lab(run: Run) -> Lab:
    return run.state.get("locality_lab") or lab(run)


def lab_pods(run: Run) -> dict[str, Place]:
    """Every lab backend pod that has an IP and is not terminating (ready or not), by name."""
    lb = _lab(run)
    return {x["metadata"]["name"]: lb.place(x) for x in items(run, "pods", LAB_NS, f"app={APP}")
            if not x["metadata"].get("deletionTimestamp") and (x.get("status") or {}).get("podIP")}


def waypoint_pods(run: Run) -> dict[str, Place]:
    """The lab waypoint's Ready pods, by name, with their places."""
    lb = _lab(run)
    return {x["metadata"]["name"]: lb.place(x)
            for x in ready_pods(run, LAB_NS, f"gateway.networking.k8s.io/gateway-name={WAYPOINT}")}


def _ips(run: Run) -> dict[str, str]:
    return {x["status"]["podIP"]: x["metadata"]["name"] for x in items(run, "pods", LAB_NS, f"app={APP}")
            if (x.get("status") or {}).get("podIP")}


# ---- traffic ---------------------------------------------------------------------------------------


def curl_line(count: int, status_only: bool = False) -> str:
    """The curl command (a loop when count > 1) a person runs to send requests through the gateway."""
    opts = "-s -o /dev/null -w '%{http_code}\\n' " if status_only else "-s "
    one = f'curl {opts}-H "Host: {HOST}" http://$KGATEWAY_IP:{{port}}/hostname'
    return one if count == 1 else f"for i in $(seq 1 {count}); do {one}; done"


def send(run: Run, count: int, show: bool = True, status_only: bool = False) -> Any:
    """``count`` sequential requests for the lab's host through the gateway (shown as the curl loop;
    ``status_only`` where the answering pod is not the point, or is random)."""
    from .. import traffic  # pandas: loaded on use, not at notebook start

    p = run.params
    df = traffic.send_requests(find_address(run), host=HOST, path="/hostname", count=count,
                               timeout=seconds(p.traffic.request_timeout))
    if show:
        shell.record(shell.CommandResult(["curl"], 0, curl_output(df, status_only=status_only), "",
                                         curl_line(count, status_only).replace("{port}", str(p.gateway.port))))
    return df


# ---- proxies' views (evidence and waits) -----------------------------------------------------------


def _cluster_rows(text: str, cluster: str) -> dict[str, dict[str, str]]:
    """``/clusters`` text -> {host: {attribute: value}} for one cluster (R13.11)."""
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and re.fullmatch(r"[0-9a-fA-F.:\[\]]+:\d+", parts[1]):
            rows.setdefault(parts[1], {})[parts[2]] = parts[3]
    return rows


def gateway_cluster(run: Run, show: bool = False) -> dict[str, dict[str, str]]:
    """The gateway's Envoy cluster for the lab Service, read inside the proxy pod with wget (R13.2, R13.8)."""
    p = run.params
    name = f"kube_{LAB_NS}_{APP}_{SERVICE_PORT}"
    args = ("exec", "-n", p.namespaces.kgateway, f"deploy/{p.gateway.name}", "--", "wget", "-qO-", GATEWAY_ADMIN)
    _, rows = shown_grep(run, args, f"^{grep_literal(name)}::.*::(priority|health_flags)::", show)
    return _cluster_rows("\n".join(rows), name)


def waypoint_cluster(run: Run, pod: str, show: bool = False) -> dict[str, dict[str, str]]:
    """The waypoint pod's ``inbound-vip`` cluster for the lab Service, through ``pilot-agent`` (R13.7)."""
    name = f"inbound-vip|{SERVICE_PORT}|http|{APP}.{LAB_NS}.svc.cluster.local"
    args = ("exec", "-n", LAB_NS, pod, "--", "pilot-agent", "request", "GET", "clusters")
    _, rows = shown_grep(run, args, f"^{grep_literal(name)}::.*::(priority|health_flags)::", show)
    return _cluster_rows("\n".join(rows), name)


def priorities(rows: dict[str, dict[str, str]], ips: dict[str, str]) -> dict[str, tuple[int, str]]:
    """{pod: (priority, health_flags)} from ``/clusters`` rows (host ``ip:port``)."""
    out = {}
    for host, attrs in rows.items():
        pod = ips.get(host.rsplit(":", 1)[0], host)
        out[pod] = (int(attrs.get("priority", "0")), attrs.get("health_flags", ""))
    return out


def wanted_priorities(leg: str, mode: str, ref: Place, pods: dict[str, Place]) -> dict[str, int]:
    """Compacted priorities the proxy should hold for the pods it is sent (the gateway gets only ready
    pods, R1.1; the waypoint gets not-ready ones too once a mode is set, R5.3/R6.3)."""
    sent = [p for p in pods.values() if p.ready or (leg == "waypoint" and mode != "Any")]
    raw = {p.pod: tier(mode, ref, p) for p in sent}
    order = {t: i for i, t in enumerate(sorted(set(raw.values())))}
    return {pod: order[t] for pod, t in raw.items()}


def wait_for_config(run: Run, s: Step | None, leg: str, mode: str, ref: Place, pods: dict[str, Place],
                    waypoint: str | None = None) -> CheckResult:
    """Poll the deciding proxy's ``/clusters`` until it holds the pods at the priorities the rules give
    (istiod and kgateway push a moment after a change, R6.4). A check: the proxy's own view."""
    want = wanted_priorities(leg, mode, ref, pods)
    ips = _ips(run)

    def probe() -> tuple[bool, str]:
        if waypoint:
            send(run, 1, show=False)  # the waypoint builds the cluster on first use
            got = priorities(waypoint_cluster(run, waypoint), ips)
        else:
            got = priorities(gateway_cluster(run), ips)
        seen = {pod: prio for pod, (prio, _) in got.items()}
        return seen == want, ", ".join(f"{pod} P{prio}" for pod, prio in sorted(seen.items())) or "no hosts"
    who = f"the waypoint in {ref.zone}" if waypoint else "the gateway's Envoy"
    by = ", ".join(f"P{k}: {sum(1 for v in want.values() if v == k)} pod(s)" for k in sorted(set(want.values())))
    result = poll(f"{who} holds the pods at the priorities the rules give ({by})", probe, timeout=CONFIG_TIMEOUT,
                  interval=0.2, hint=f"{mode}, seen from {ref.zone}; compare the /clusters lines above")
    return result


# ---- steps -----------------------------------------------------------------------------------------


def zones(run: Run) -> None:
    """06.1: the nodes' zones (R5.9), and where the gateway runs."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        kubectl(run, "get", "nodes", "-L", f"{REGION_LABEL},{ZONE_LABEL}")
        lb = lab(run)
        s.add(check("the nodes are in at least two zones", len(lb.zones) >= 2,
                    f"{len(lb.zones)} zone(s): {', '.join(lb.zones) or 'no node has ' + ZONE_LABEL}",
                    FEWER_THAN_TWO_ZONES))
        if len(lb.zones) < 2:
            return
        kubectl(run, "get", "pods", "-n", p.namespaces.kgateway, "-l", _gateway_selector(run), "-o", "wide")
        where = ", ".join(f"{g.pod} on {g.node} ({g.zone})" for g in lb.gateways)
        s.add(check("the gateway's pod runs on a node with a zone",
                    bool(lb.gateways) and all(g.zone for g in lb.gateways),
                    where or "no ready gateway pod", f"kubectl get pods -n {p.namespaces.kgateway} -o wide"))
        s.note("Locality is the node's: Istio reads topology.kubernetes.io/region and /zone (and "
               "topology.istio.io/subzone) from the node each pod runs on. Without them every endpoint has the "
               "same empty locality and no mode changes anything (R5.9).")
    do_step(run, "06.1", "Zones: the nodes' topology labels", act, None)


def zonal_app(run: Run) -> None:
    """06.2: a backend in every zone, routed from the guide's gateway."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        if len(lb.zones) < 2:
            s.add(check("the nodes are in at least two zones", False, f"{len(lb.zones)} zone(s)", FEWER_THAN_TWO_ZONES))
            return
        if get_json(run, "namespace", LAB_NS) is not None:  # a stopped run left it: start clean
            run.kube.delete_namespace(LAB_NS, timeout=seconds(p.timeouts.deletion))
            s.note(f"An earlier run left the namespace {LAB_NS}; the runbook deleted it to start clean.")
        apply(run, lab_docs(run, lb.zones))
        pods = run.kube.wait_for_ready_pods(LAB_NS, f"app={APP}", PER_ZONE * len(lb.zones),
                                            timeout=p.timeouts.pods_ready)
        kubectl(run, "get", "pods", "-n", LAB_NS, "-o", "wide")
        places = [lb.place(x) for x in pods]
        for z in lb.zones:
            here = [pl.pod for pl in places if pl.zone == z]
            s.add(check(f"{PER_ZONE} ready pods in {z}", len(here) == PER_ZONE, ", ".join(here) or "none",
                        f"kubectl describe pod -n {LAB_NS} -l app={APP}; does a node carry {ZONE_LABEL}={z}?"))
        route = poll("the HTTPRoute is Accepted", lambda: _accepted(run), timeout=seconds(p.timeouts.gateway_ready),
                     interval=0.2, hint=f"kubectl get httproute {APP} -n {LAB_NS} -o yaml")
        s.add(route)
    do_step(run, "06.2", "A backend in every zone", act, None)


def _accepted(run: Run) -> tuple[bool, str]:
    r = get_json(run, "httproute", APP, LAB_NS) or {}
    conds = (((r.get("status") or {}).get("parents") or [{}])[0]).get("conditions") or []
    c: dict[str, Any] = next((c for c in conds if c.get("type") == "Accepted"), {})
    return c.get("status") == "True", f"Accepted={c.get('status', 'not yet')} {c.get('reason', '')}".strip()


def client_to_gateway(run: Run) -> None:
    """06.3, leg 1: the client reaches a gateway pod; no Istio locality decides this leg."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        before = _log_counts(run, p.namespaces.kgateway, [g.pod for g in lb.gateways], show=False)
        n = 12
        df = send(run, n, status_only=True)  # the backend pod is the next leg's choice
        after = _log_counts(run, p.namespaces.kgateway, [g.pod for g in lb.gateways], show=True)
        per_pod = {g: after[g] - before.get(g, 0) for g in after}
        total = sum(per_pod.values())
        s.add(check("every request is in exactly one gateway pod's access log", total == len(df) == n,
                    f"{total} of {n}: " + ", ".join(f"{g} {c}" for g, c in per_pod.items()),
                    f"kubectl logs -n {p.namespaces.kgateway} <gateway pod> | grep -c '\"{HOST}\"'"))
        places = {g.pod: g for g in lb.gateways}
        shares = {g.pod: 1 / len(lb.gateways) for g in lb.gateways}
        counts = _rows_for(per_pod)
        v = verdict("requests per gateway zone", counts, places, shares, exact=len(lb.gateways) == 1,
                    why="one ready gateway pod takes every request (the load balancer in front of it chooses; "
                        "Istio sets no locality here)" if len(lb.gateways) == 1 else
                        "the load balancer in front of the gateway spreads connections over its pods; "
                        "nothing in Istio prefers a zone here")
        s.show(repr(v))
        s.add(check("the gateway pods' zones took the traffic as the load balancer spread it", v.ok,
                    f"{v.n} requests", "see the table above"))
        s.figure(plot_cases("leg 1: client → gateway (per gateway pod's zone)", [v]))
        s.note("Client → gateway: \"load balancer-specific settings might enforce locality rules, but no "
               "locality setting is determined by or for Istio components\". What matters for the next legs is "
               f"where the gateway pod runs: {', '.join(f'{g.pod} in {g.zone}' for g in lb.gateways)}. Its ztunnel "
               "is on that node, and the gateway's Envoy and its ztunnel rank endpoints from there (R1.5).")
    do_step(run, "06.3", "Leg 1: client → gateway", act, None)


def _rows_for(per_pod: dict[str, int]) -> Any:
    import pandas as pd

    names = [pod for pod, c in per_pod.items() for _ in range(c)]
    return pd.DataFrame({"pod": names})


def _log_counts(run: Run, namespace: str, pods: Sequence[str], show: bool) -> dict[str, int]:
    """Access-log lines for the lab's host in each pod's log (``kubectl logs <pod> | grep -c '"host"'``)."""
    out = {}
    for pod in pods:
        res = quietly(run, "logs", "-n", namespace, pod, "--tail=-1", check=False)
        count = sum(1 for ln in res.stdout.splitlines() if f'"{HOST}"' in ln)
        out[pod] = count
        if show:
            shell.record(shell.CommandResult(list(res.args), 0, f"{count}\n", "",
                                             f"kubectl logs -n {namespace} {pod} | grep -c '\"{HOST}\"'"))
    return out


# ---- leg 2 ---------------------------------------------------------------------------------------------

#: (label, spec, Service annotation, Namespace annotation): the precedence of R5.1, case by case
GATEWAY_CASES = (
    ("nothing set", None, None, None),
    ("spec PreferClose", "PreferClose", None, None),
    ("spec PreferClose + Service annotation Any", "PreferClose", "Any", None),
    ("Namespace PreferClose + Service annotation Any", None, "Any", "PreferClose"),
    ("Namespace annotation PreferClose", None, None, "PreferClose"),
)


def set_mode(run: Run, spec: str | None, service: str | None, namespace: str | None) -> None:
    """Put the three settings of R5.1 where the case wants them, with the commands a person types."""
    svc = get_json(run, "service", APP, LAB_NS) or {}
    ns = get_json(run, "namespace", LAB_NS) or {}
    if (svc.get("spec") or {}).get("trafficDistribution") != spec:
        kubectl(run, "patch", "service", APP, "-n", LAB_NS, "--type=merge", "-p",
                json.dumps({"spec": {"trafficDistribution": spec}}, separators=(",", ":")))
    for kind, name, obj, value in (("service", APP, svc, service), ("namespace", LAB_NS, ns, namespace)):
        have = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
        if have != value:
            run.kube.annotate(kind, name, {ANNOTATION: value}, namespace=LAB_NS if kind == "service" else None,
                              overwrite=True)


def gateway_to_backend(run: Run) -> None:
    """06.4, leg 2: the gateway's Envoy ranks the pods from its own node; the mode comes from R5.1."""
    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        ref = lb.gateways[0]
        verdicts = []
        for label, spec, service, namespace in GATEWAY_CASES:
            set_mode(run, spec, service, namespace)
            mode, source = resolve(spec, service, namespace)
            pods = lab_pods(run)
            s.add(wait_for_config(run, s, "gateway", mode, ref, pods))
            df = send(run, 12, show=label == GATEWAY_CASES[1][0])
            shares = predict("gateway", mode, ref, list(pods.values()))
            v = verdict(f"{label} → {mode} (from the {source})", df, pods, shares, exact=True,
                        why=f"{mode} from the {source} (R5.1); the gateway's Envoy ranks from {ref.zone} (R1.5, "
                            f"R5.10) and round-robins within the best tier (R1.2, R4.1): {tolerance_text(True)}")
            s.show(repr(v))
            s.add(check(f"{label}: the spread over zones is what {mode} predicts", v.ok, _summary(v),
                        "compare the table above with the rules (R5.1 precedence, R5.10)"))
            verdicts.append(v)
        gateway_cluster(run, show=True)
        s.figure(plot_cases(f"leg 2: gateway ({ref.zone}) → backend, no waypoint", verdicts))
        s.note("Precedence (R5.1): spec.trafficDistribution first (a value Istio knows), then the Service's "
               "networking.istio.io/traffic-distribution annotation, then the Namespace's (Istio ≥ 1.30), else "
               "Any. The concepts page says the backend default is PreferNetwork: that is Solo's distribution; "
               "upstream Istio's default is Any (R5.8), which is what this cluster shows. It also says the spec "
               "\"supports PreferClose only\": Kubernetes 1.33+ adds PreferSameZone and PreferSameNode, which "
               "Istio ≥ 1.27 honours (R5.1, §10); the annotation takes all modes on any version.")
        s.note("On this leg kgateway's Envoy picks the pod itself (ztunnel only carries the connection, R1.1) "
               "and ranks pods from the gateway pod's node. That kgateway honours the Service's mode here is "
               "Solo's claim (R5.10); the simulator models it, and only the all-ready case is certain.")
    do_step(run, "06.4", "Leg 2: gateway → backend (no waypoint)", act, None)


def _summary(v: Verdict) -> str:
    return ", ".join(f"{r['zone']} {_count(r, v.varies)}" for r in v.rows) + f" of {'~' if v.varies else ''}{v.n}"


# ---- legs 3 and 4 ---------------------------------------------------------------------------------


def gateway_to_waypoint(run: Run) -> None:
    """06.5, leg 3: the gateway's ztunnel picks a waypoint pod; the waypoint Service is PreferClose (R5.7)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        ref = lb.gateways[0]
        apply(run, [waypoint_doc(run)])
        run.kube.wait_for("deployment", WAYPOINT, LAB_NS, lambda d: d is not None,  # istiod renders it
                          lambda d: "not there yet", timeout=p.timeouts.rollout, what="the waypoint's Deployment")
        run.kube.scale("deployment", WAYPOINT, len(lb.zones), namespace=LAB_NS)
        run.kube.wait_for_ready_pods(LAB_NS, f"gateway.networking.k8s.io/gateway-name={WAYPOINT}", len(lb.zones),
                                     timeout=p.timeouts.rollout)
        run.kube.label("service", APP, {"istio.io/use-waypoint": WAYPOINT, "istio.io/ingress-use-waypoint": "true"},
                       namespace=LAB_NS, overwrite=True)
        kubectl(run, "get", "pods", "-n", LAB_NS, "-l", f"gateway.networking.k8s.io/gateway-name={WAYPOINT}",
                "-o", "wide")
        res = kubectl(run, "get", "service", WAYPOINT, "-n", LAB_NS, "-o",
                      f"jsonpath={{.metadata.annotations.{ANNOTATION.replace('.', chr(92) + '.')}}}")
        wps = waypoint_pods(run)
        s.add(check("one waypoint pod per zone", sorted(w.zone for w in wps.values()) == lb.zones,
                    ", ".join(f"{w.pod} ({w.zone})" for w in wps.values()),
                    "the scheduler spreads a Deployment's replicas over nodes; on a cluster, check the waypoint "
                    "pods' nodes"))
        mode, source = resolve(None, res.stdout.strip() or None, None)
        s.add(poll("the gateway sends to the Service VIP (the waypoint is in the path)", lambda: _collapsed(run),
                   timeout=20, interval=0.2, hint="are both labels on the Service? (R8.1, R8.2)"))
        before = _log_counts(run, LAB_NS, list(wps), show=False)
        n = 12
        send(run, n, status_only=True)  # which backend pod answers is the next leg's (random) choice
        after = _log_counts(run, LAB_NS, list(wps), show=True)
        per_pod = {w: after[w] - before.get(w, 0) for w in wps}
        shares = predict("ztunnel", mode, ref, list(wps.values()))
        v = verdict(f"waypoint Service {mode} (its {source})", _rows_for(per_pod), wps, shares,
                    exact=all(x in (0.0, 1.0) for x in spread(shares, wps).values()),
                    why=f"the gateway's ztunnel ranks waypoint pods from the gateway's node ({ref.zone}, "
                        "R1.5) and keeps only the best tier: all of it while that tier has a healthy "
                        "pod, nothing spills (R5.2)")
        s.show(repr(v))
        s.add(check(f"every request crossed the waypoint in the gateway's zone ({ref.zone})", v.ok, _summary(v),
                    f"kubectl get svc {WAYPOINT} -n {LAB_NS} -o yaml; is it annotated PreferClose?"))
        s.figure(plot_cases(f"leg 3: gateway ({ref.zone}) → waypoint", [v]))
        s.note("Istio's waypoint template annotates the waypoint's Service with networking.istio.io/"
               "traffic-distribution: PreferClose (R5.7), as the concepts page says: the gateway's ztunnel "
               "prefers the waypoint in its own network, region and zone. It picks at random among that tier per "
               "connection and moves to the next tier only when the tier has no healthy pod (R4.5, R5.2).")
        run.state["locality_waypoint"] = next(w for w, c in per_pod.items() if c == max(per_pod.values()))
    do_step(run, "06.5", "Leg 3: gateway → waypoint", act, None)


def _collapsed(run: Run) -> tuple[bool, str]:
    svc = get_json(run, "service", APP, LAB_NS) or {}
    vip = f"{(svc.get('spec') or {}).get('clusterIP')}:{SERVICE_PORT}"
    send(run, 1, show=False)
    hosts = sorted(gateway_cluster(run))
    return hosts == [vip], ", ".join(hosts) or "no hosts"


def _deciding_waypoint(run: Run) -> Place:
    wps = waypoint_pods(run)
    name = run.state.get("locality_waypoint")
    if name in wps:
        return wps[name]
    ref = _lab(run).gateways[0]
    return next((w for w in wps.values() if w.zone == ref.zone), next(iter(wps.values())))


#: (label, spec, unready pods in the waypoint's zone, ready pods there, requests, exact?)
WAYPOINT_CASES = (
    ("nothing set: LEAST_REQUEST over every ready pod", None, 0, PER_ZONE, 36),
    ("spec PreferClose", "PreferClose", 0, PER_ZONE, 12),
    ("spec PreferClose, 1 of the zone's 2 pods not ready", "PreferClose", 1, PER_ZONE - 1, 40),
)


def set_zone_pods(run: Run, zone: str, ready: int, unready: int) -> None:
    """Scale the zone's Deployment to ``ready``; ``unready`` pods come from a second Deployment whose
    readiness probe fails (go-httpbin answers /status/503 with 503): Running, 0/1, never Ready."""
    p = run.params
    dep = get_json(run, "deployment", deployment_name(zone), LAB_NS) or {}
    if (dep.get("spec") or {}).get("replicas") != ready:
        run.kube.scale("deployment", deployment_name(zone), ready, namespace=LAB_NS)
    bad = get_json(run, "deployment", deployment_name(zone, False), LAB_NS)
    if bad is None and unready:
        apply(run, [manifests.label(_deployment(run, zone, unready, False), run.run_id)])
    elif bad is not None and (bad.get("spec") or {}).get("replicas") != unready:
        run.kube.scale("deployment", deployment_name(zone, False), unready, namespace=LAB_NS)
    sel = f"app={APP},zone={slug(zone)}"
    lb = _lab(run)

    def done(pods: list[dict[str, Any]], listing: bool) -> bool:
        live = [x for x in pods if not x["metadata"].get("deletionTimestamp")
                and (x.get("status") or {}).get("podIP") and (x.get("status") or {}).get("phase") == "Running"]
        r = sum(lb.place(x).ready for x in live)
        return not listing and r == ready and len(live) - r == unready
    run.kube._watch_pods(LAB_NS, sel, p.timeouts.pods_ready, done,  # endpoints: ready=true / ready=false
                         f"{ready} ready and {unready} not-ready pod(s) in {zone}", "")


def waypoint_to_backend(run: Run) -> None:
    """06.6, leg 4: the waypoint ranks the pods from its own node (R1.5), spills gradually (R5.3, R4.6)."""
    def act(run: Run, s: Step) -> None:
        wp = _deciding_waypoint(run)
        verdicts = []
        for label, spec, unready, ready, n in WAYPOINT_CASES:
            set_zone_pods(run, wp.zone, ready, unready)
            set_mode(run, spec, None, None)
            mode, source = resolve(spec, None, None)
            pods = lab_pods(run)
            s.add(wait_for_config(run, s, "waypoint", mode, wp, pods, waypoint=wp.pod))
            if unready:
                waypoint_cluster(run, wp.pod, show=True)
            df = send(run, n, show=False)
            shares = predict("waypoint", mode, wp, list(pods.values()))
            exact = all(x in (0.0, 1.0) for x in spread(shares, pods).values())
            v = verdict(f"{label} → {mode}", df, pods, shares, exact=exact,
                        why=_waypoint_why(mode, wp, pods, exact))
            s.show(repr(v))
            s.add(check(f"{label}: the spread is what the rules predict", v.ok, _summary(v),
                        "compare with R5.3/R4.6: health(P0) = min(100, ⌊140 × healthy/total⌋)"))
            verdicts.append(v)
        s.figure(plot_cases(f"leg 4: waypoint {wp.pod} ({wp.zone}) → backend", verdicts))
        s.note(f"This leg is ranked from the waypoint pod's node ({wp.zone}), not the client's or the gateway's "
               "(R1.5): here the gateway's ztunnel chose the waypoint in its own zone (06.5), so both are the same "
               "zone; 06.8 sends traffic through every waypoint pod and shows each one keeping to its own zone.")
        s.note("Without a mode (and without a DestinationRule) the waypoint has no priorities and picks by "
               "LEAST_REQUEST, a random pick for one request at a time (R3.4, R4.3). With a mode Istio also sends the "
               "not-ready pods, as unhealthy, so they count in their priority's health (R5.3, R6.3): one of two "
               "ready gives health ⌊140 × 1/2⌋ = 70, so 70 % stays in the zone and 30 % spills (R4.6). The "
               "gateway's ztunnel on leg 3 never spills gradually (R5.2), and the gateway's Envoy on leg 2 does not "
               "see not-ready pods at all (R1.1).")
        s.note("The concepts page says the modes \"apply only if no DestinationRule is in place\". Only a "
               "DestinationRule with localityLbSetting (or enabled: false) overrides the mode; one with only "
               "outlierDetection keeps it, and without a mode it turns on the mesh's locality failover relative "
               "to the waypoint, as step 04's rule does on this cluster (R5.4, R5.5).")
    do_step(run, "06.6", "Leg 4: waypoint → backend", act, None)


def _waypoint_why(mode: str, wp: Place, pods: dict[str, Place], exact: bool) -> str:
    if mode == "Any":
        return "no mode, no DestinationRule: LEAST_REQUEST over every ready pod (R3.4, R4.3): " + tolerance_text(False)
    zone = [p for p in pods.values() if p.zone == wp.zone]
    ready = sum(p.ready for p in zone)
    h = min(100, math.floor(140 * ready / len(zone))) if zone else 0
    return (f"{mode} ranked from the waypoint's node in {wp.zone} (R1.5, R5.3): P0 = its zone, {ready} of "
            f"{len(zone)} ready, health {h} (R4.6): "
            + ("all of it stays there" if exact else f"{h} % stays, the rest spills to P1; " + tolerance_text(False)))


# ---- the explorer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One explorer setting: mode and where it is set, pods per zone, waypoint or not."""

    mode: str = "PreferClose"
    where: str = "Service annotation"
    ready: tuple[int, ...] = ()  # ready pods per zone (zones in sorted order); () = PER_ZONE each
    unready: tuple[int, ...] = ()
    waypoint: bool = True
    requests: int = 40

    def describe(self, zones: Sequence[str]) -> str:
        """The case on one line: mode, where it is set, waypoint or not, and the pods per zone."""
        r = self.ready or (PER_ZONE,) * len(zones)
        u = self.unready or (0,) * len(zones)
        pods = ", ".join(f"{z}: {a} ready" + (f" + {b} not" if b else "") for z, a, b in zip(zones, r, u, strict=False))
        return f"{self.mode} ({self.where}), {'waypoint' if self.waypoint else 'no waypoint'}; {pods}"


def explorer_cases(lb: Lab, wp_zone: str) -> list[Case]:
    """The fixed table a headless run explores: the rules' corners, with as little pod churn as possible."""
    def at(zone_value: int, other: int) -> tuple[int, ...]:
        return tuple(zone_value if z == wp_zone else other for z in lb.zones)
    return [Case("PreferClose", "Service annotation", at(1, PER_ZONE), at(2, 0), True, 40),
            Case("Any", "Namespace annotation", at(1, PER_ZONE), at(2, 0), True, 40),
            Case("PreferClose", "spec.trafficDistribution", at(0, PER_ZONE), at(2, 0), False, 12)]


def apply_case(run: Run, case: Case) -> None:
    """Sets up a case: the ready and unready pods per zone, then the Service's traffic distribution and labels."""
    lb = _lab(run)
    ready = case.ready or (PER_ZONE,) * len(lb.zones)
    unready = case.unready or (0,) * len(lb.zones)
    for z, r, u in zip(lb.zones, ready, unready, strict=False):
        set_zone_pods(run, z, r, u)
    value = {"spec.trafficDistribution": (case.mode if case.mode != "Any" else None, None, None),
             "Service annotation": (None, case.mode, None),
             "Namespace annotation": (None, None, case.mode)}[case.where]
    set_mode(run, *value)
    svc = get_json(run, "service", APP, LAB_NS) or {}
    bound = ((svc.get("metadata") or {}).get("labels") or {}).get("istio.io/use-waypoint") == WAYPOINT
    if bound != case.waypoint:
        run.kube.label("service", APP, {"istio.io/use-waypoint": WAYPOINT if case.waypoint else None,
                                        "istio.io/ingress-use-waypoint": "true" if case.waypoint else None},
                       namespace=LAB_NS, overwrite=True)


def explore(run: Run, case: Case, s: Step) -> Verdict:
    """Apply ``case``, wait for the deciding proxy, send traffic, and compare per zone with the rules."""
    lb = _lab(run)
    apply_case(run, case)
    mode = resolve(*{"spec.trafficDistribution": (case.mode, None, None), "Service annotation": (None, case.mode, None),
                     "Namespace annotation": (None, None, case.mode)}[case.where])[0]
    pods = lab_pods(run)
    ref = lb.gateways[0]
    if case.waypoint:
        wps = waypoint_pods(run)
        chooser = predict("ztunnel", waypoint_mode(run), ref, list(wps.values()))  # R5.2, R5.7
        for name in [w for w, x in chooser.items() if x > 0]:
            s.add(wait_for_config(run, s, "waypoint", mode, wps[name], pods, waypoint=name))
        wp = wps[max(chooser, key=lambda w: chooser[w])]
        shares: dict[str, float] = {p: 0.0 for p in pods}
        for w, weight in chooser.items():
            for pod, x in predict("waypoint", mode, wps[w], list(pods.values())).items():
                shares[pod] += weight * x
        exact = all(x in (0.0, 1.0) for x in spread(shares, pods).values())
        why = _waypoint_why(mode, wp, pods, exact)
    else:
        s.add(wait_for_config(run, s, "gateway", mode, ref, pods))
        shares = predict("gateway", mode, ref, list(pods.values()))
        exact = True
        why = (f"the gateway's Envoy ranks from {ref.zone} and sees only ready pods (R1.1, R5.10): "
               f"{tolerance_text(True)}")
    df = send(run, case.requests, show=False)
    return verdict(case.describe(lb.zones), df, pods, shares, exact=exact, why=why)


def explorer(run: Run) -> None:
    """06.7: choose a mode, where it is set, pods per zone, waypoint or not; see the result beside the rules.

    Headless it runs :func:`explorer_cases`; a person at the keyboard gets widgets that run one case."""
    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        wp_zone = lb.gateways[0].zone
        verdicts = []
        for case in explorer_cases(lb, wp_zone):
            v = explore(run, case, s)
            s.show(repr(v))
            s.add(check(f"{case.describe(lb.zones)}: measured per zone as predicted", v.ok, _summary(v),
                        "compare the table with the rules named in its 'why'"))
            verdicts.append(v)
        s.figure(plot_cases("explorer: measured (bars) beside the rules' allowed range (grey)", verdicts))
        nodes_per_zone = max(sum(1 for n in lb.nodes.values() if n.zone == z) for z in lb.zones)
        s.note("Each case sets the mode where it says, the pods per zone (not-ready ones come from a Deployment "
               "whose readiness probe fails) and the waypoint binding, then predicts per pod from the rules: "
               "the gateway's Envoy (R1.1, R5.10), the gateway's ztunnel choosing a waypoint by its PreferClose "
               "(R5.2, R5.7), the waypoint's priorities and spill (R5.3, R4.6, R4.7)."
               + (" PreferSameNode ranks the node before the zone; with one node per zone here it picks the same "
                  "pods as PreferClose (R5.1, R5.2)." if nodes_per_zone == 1 else ""))
    do_step(run, "06.7", "Explorer", act, None)
    if ui.is_interactive(run.interactive):
        ui._display(explorer_widget(run))


def explorer_widget(run: Run) -> Any:
    """Widgets: mode, where, ready and not-ready pods per zone, waypoint; Run applies and measures."""
    import ipywidgets as w

    lb = _lab(run)
    mode = w.Dropdown(options=MODES, value="PreferClose", description="mode")
    where = w.Dropdown(options=WHERE, value="Service annotation", description="set on")
    wp = w.Checkbox(value=True, description="through the waypoint")
    wide = {"description_width": "initial"}
    ready = {z: w.IntSlider(value=PER_ZONE, min=0, max=3, description=f"{z} ready", style=wide) for z in lb.zones}
    unready = {z: w.IntSlider(value=0, min=0, max=2, description=f"{z} not ready", style=wide) for z in lb.zones}
    requests = w.IntSlider(value=40, min=10, max=200, description="requests")
    go = w.Button(description="Apply and measure", icon="play")
    out = w.Output()

    def run_case(_: Any) -> None:
        go.disabled = True
        case = Case(mode.value, where.value, tuple(ready[z].value for z in lb.zones),
                    tuple(unready[z].value for z in lb.zones), wp.value, requests.value)
        holder: dict[str, Verdict] = {}

        def part(run: Run, s: Step) -> None:
            holder["v"] = v = explore(run, case, s)
            s.show(repr(v))
            s.add(check("measured per zone as predicted", v.ok, _summary(v)))
            s.figure(plot_cases("explorer: this case (bars) and the rules' allowed range (grey)", [v]))
        try:
            result: StepResult = _execute(run, "06.7", "Explorer: one case", [part])
            run.results.append(result)
            out.clear_output(wait=True)
            with out:
                ui._display(result)
                for fig in result.data.pop("figures", []):
                    ui.figure(fig)
        except Exception as exc:  # shown under the widgets; the notebook keeps going
            out.clear_output(wait=True)
            with out:
                print(f"error: {type(exc).__name__}: {exc}\nIs the lab there? Run 06.2 again (guide.zonal_app(run)) "
                      "after a cleanup.")
        finally:
            go.disabled = False
    go.on_click(run_case)
    return w.VBox([w.HBox([mode, where, wp]), *[w.HBox([ready[z], unready[z]]) for z in lb.zones], requests, go, out])


# ---- every waypoint ranks from its own node ------------------------------------------------------------


def waypoint_mode(run: Run) -> str:
    """The waypoint Service's mode, as the cluster has it (R5.1 on the Service Istio renders, R5.7)."""
    svc = get_json(run, "service", WAYPOINT, LAB_NS) or {}
    ann = ((svc.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    return resolve((svc.get("spec") or {}).get("trafficDistribution"), ann, None)[0]


def _upstreams(run: Run, pods: Sequence[str]) -> dict[str, list[str]]:
    """Each waypoint pod's access-log lines for the lab's host: the upstream pod IP of each (R7.6)."""
    from .. import logs  # pandas: loaded on use, not at notebook start

    out: dict[str, list[str]] = {}
    for pod in pods:
        df = logs.parse_envoy(quietly(run, "logs", "-n", LAB_NS, pod, "--tail=-1", check=False).stdout)
        if df.empty:
            out[pod] = []
            continue
        mine = df[df["authority"].astype(str) == HOST]
        out[pod] = [str(h).replace("envoy://connect_originate/", "").rsplit(":", 1)[0] for h in mine["upstream_host"]]
    return out


def every_waypoint_ranks_from_its_own_zone(run: Run) -> None:
    """06.8: with the waypoint Service set to Any every waypoint pod gets traffic, and each sends it to its
    own zone's pods: the waypoint → backend leg is ranked from the waypoint's node (R1.5, R5.3)."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        lb = _lab(run)
        ref = lb.gateways[0]
        kubectl(run, "patch", "gateway", WAYPOINT, "-n", LAB_NS, "--type=merge", "-p", json.dumps(
            {"spec": {"infrastructure": {"annotations": {ANNOTATION: "Any"}}}}, separators=(",", ":")))
        apply_case(run, Case("PreferClose", "spec.trafficDistribution", waypoint=True))  # while it rolls out
        run.kube.rollout_status("deployment", WAYPOINT, namespace=LAB_NS, timeout=p.timeouts.rollout)
        res = kubectl(run, "get", "service", WAYPOINT, "-n", LAB_NS, "-o",
                      f"jsonpath={{.metadata.annotations.{ANNOTATION.replace('.', chr(92) + '.')}}}")
        mode = resolve(None, res.stdout.strip() or None, None)[0]
        s.add(check("Istio put the Gateway's annotation on the waypoint's Service", mode == "Any",
                    f"{ANNOTATION}={res.stdout.strip() or '(none)'}", "R5.7, R13.6: the Service is rendered from the "
                    "waypoint template with the Gateway's spec.infrastructure.annotations over it"))
        wps = run.kube.wait_for_ready_pods(LAB_NS, f"gateway.networking.k8s.io/gateway-name={WAYPOINT}", len(lb.zones),
                                           timeout=p.timeouts.rollout)
        wps = {x["metadata"]["name"]: lb.place(x) for x in wps}
        pods = lab_pods(run)
        for wp in sorted(wps.values(), key=lambda wp: wp.zone):  # zone order: the pods' names are random
            s.add(wait_for_config(run, s, "waypoint", "PreferClose", wp, pods, waypoint=wp.pod))
        before = _upstreams(run, list(wps))
        n = 36
        send(run, n, status_only=True)
        _log_counts(run, LAB_NS, list(wps), show=True)
        after = _upstreams(run, list(wps))
        ips = _ips(run)
        new = {w: [ips.get(ip, ip) for ip in after[w][len(before[w]):]] for w in wps}
        chooser = predict("ztunnel", mode, ref, list(wps.values()))
        leg3 = verdict("leg 3: waypoint Service Any", _rows_for({w: len(v) for w, v in new.items()}), wps, chooser,
                       exact=False, why="the gateway's ztunnel picks any healthy waypoint pod at random (R4.5, R5.2): "
                                        + tolerance_text(False))
        s.show(repr(leg3))
        s.add(check("the gateway's ztunnel spreads over the waypoint pods (Any)", leg3.ok, _summary(leg3)))
        verdicts = [leg3]
        for w, wp in sorted(wps.items(), key=lambda kv: kv[1].zone):
            v = verdict(f"leg 4 from the waypoint in {wp.zone}", _rows_for({q: new[w].count(q) for q in set(new[w])}),
                        pods, predict("waypoint", "PreferClose", wp, list(pods.values())), exact=True,
                        why=f"PreferClose ranked from this waypoint's node in {wp.zone} (R1.5, R5.3): all of its "
                            "requests stay in its zone")
            v.varies = True  # how many requests reached this waypoint was leg 3's random pick
            s.show(repr(v))
            s.add(check(f"the waypoint in {wp.zone} sends only to {wp.zone}", v.ok, _summary(v),
                        f"kubectl exec -n {LAB_NS} {w} -- pilot-agent request GET clusters"))
            verdicts.append(v)
        s.figure(plot_cases("every waypoint ranks from its own node", verdicts))
        s.note("The concepts page: \"Endpoints are determined by comparing the waypoint's locality with the locality "
               "of the backend\". Set to Any through the Gateway's spec.infrastructure.annotations (Istio copies "
               "them onto the waypoint's Service and pods, so the waypoint rolls out), the waypoint Service no longer "
               "keeps the gateway on its own zone's waypoint; each waypoint pod then keeps its requests in its own "
               "zone, whatever the gateway's zone (R1.5, R5.3, R5.7, R13.6).")
    do_step(run, "06.8", "Every waypoint ranks from its own node", act, None)


# ---- cleanup ---------------------------------------------------------------------------------------


def lab_cleanup(run: Run) -> None:
    """06.9: remove what 06 created (its namespace holds all of it), so 06 runs again from scratch."""
    p = run.params

    def act(run: Run, s: Step) -> None:
        run.kube.delete_namespace(LAB_NS, ignore_not_found=True, timeout=seconds(p.timeouts.deletion))

    def verify(run: Run, s: Step) -> None:
        left = [f"{k}/{x['metadata']['name']}" for k in ("namespaces", "pods", "services", "deployments", "httproutes",
                                                          "gateways")
                for x in items(run, k, LAB_NS if k != "namespaces" else None, f"{RUN_LABEL}={run.run_id}")
                if k != "namespaces" or x["metadata"]["name"] == LAB_NS]
        s.add(check(f"nothing of 06 is left (namespace {LAB_NS} and everything in it)", not left,
                    "none" if not left else ", ".join(left[:10]), f"kubectl delete namespace {LAB_NS}"))
    do_step(run, "06.9", "Clean up the lab", act, verify)


# ---- pictures --------------------------------------------------------------------------------------


def plot_cases(title: str, verdicts: Sequence[Verdict]) -> Any:
    """One panel per case: requests per zone (bars; red outside the band), the allowed range (grey)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..plots import COLORS, PngFigure  # matplotlib, pandas: loaded on use, not at notebook start

    k = max(1, len(verdicts))
    fig = PngFigure(figsize=(min(12.0, 2.6 * k + 1.2), 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, k, squeeze=False)[0]
    for ax, v in zip(axes, verdicts, strict=False):
        zones = [r["zone"] for r in v.rows]
        measured = [r["measured"] for r in v.rows]
        for i, r in enumerate(v.rows):
            ax.fill_between([i - 0.42, i + 0.42], r["low"], max(r["high"], r["low"] + 0.15),
                            color=COLORS["band"], alpha=0.35, linewidth=0)
        bars = ax.bar(range(len(zones)), measured, width=0.55,
                      color=[COLORS["ok"] if r["ok"] else COLORS["fail"] for r in v.rows])
        ax.bar_label(bars, padding=2, fontsize=8)
        ax.set_xticks(range(len(zones)), [z.rsplit("-", 1)[-1] if len(zones) > 1 else z for z in zones], fontsize=8)
        ax.set_ylim(0, max([1, *measured, *(r["high"] for r in v.rows)]) * 1.25)
        ax.set_title(_wrap(v.label, 34), fontsize=7.5)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("requests per zone")
    fig.suptitle(title, fontsize=10)
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)[:3])
