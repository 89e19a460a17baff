"""What notebook 07 (the outlier-detection lab) builds and reads: its DestinationRules, its failing
replicas, and the waypoint's own record of what it did (access log, ``/clusters``, config_dump).

Everything here is what a cluster offers: the failing replicas are the guide's nginx replica
(``manifests/in-ambient-faulty.yaml``) rendered with another status, or listening on another port;
the evidence is read with ``kubectl logs`` and ``kubectl exec ... -- pilot-agent request`` (R13.7).
The access-log times are the proxy's clock, so on the simulator they are simulated seconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .. import manifests
from ..errors import RunbookError
from .cluster import FAULTY_LABEL, apply, get_json, items
from .evidence import grep_literal, parse_outlier_stats, shown_grep, waypoint_admin
from .run import Run

LAB_LABEL = "ambient-lb.dev/lab"  # on every object 07 creates (besides the run label): 07.10 deletes by it
LAB = "outlier-detection"
REPLICA_LABEL = "ambient-lb.dev/replica"  # each failing replica's own selector key
DR_NAME = "in-ambient-outlier-lab"
ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class Failing:
    """One failing replica: a Deployment + ConfigMap named ``name`` behind the app's Service."""

    key: str  # short name in the notebook's text
    status: int  # what its nginx answers on every path but /healthz
    refuses: bool = False  # listens on another port than the Service's targetPort
    what: str = ""

    def name(self, run: Run) -> str:
        """The failing replica's Deployment name (the app's name and this replica's key)."""
        return f"{run.params.app.name}-{self.key}"


REPLICAS = (
    Failing("500", 500, what="nginx answers 500 (a server error, not a gateway error)"),
    Failing("503", 503, what="nginx answers 503 (a gateway error: 502, 503 and 504 are)"),
    Failing("refuses", 500, refuses=True, what="nginx listens on another port than the Service's "
            "targetPort, so every connection to it is refused"),
)


def lab_selector(run: Run) -> str:
    """The label selector of every object the outlier lab creates."""
    return f"{LAB_LABEL}={LAB}"


def replica_selector(run: Run, f: Failing) -> str:
    """The label selector of one failing replica's pods."""
    return f"{REPLICA_LABEL}={f.name(run)}"


def target_port(run: Run) -> int:
    """The Service's targetPort for the app port (where the failing replicas must, or must not, listen)."""
    p = run.params
    svc = get_json(run, "service", p.app.name, p.namespaces.app) or {}
    for port in (svc.get("spec") or {}).get("ports") or []:
        if port.get("port") == p.app.port:
            tp = port.get("targetPort", p.app.port)
            if isinstance(tp, int):
                return tp
    raise RunbookError(f"service {p.app.name} has no numeric targetPort for port {p.app.port}",
                       hint=f"kubectl get svc -n {p.namespaces.app} {p.app.name} -o yaml")


def replica_docs(run: Run, f: Failing, zone: str | None) -> list[dict[str, Any]]:
    """Step 4's failing-replica manifest with this replica's name and status (and, for ``refuses``,
    another listening port), its own selector label, the lab label, and pinned to ``zone`` if given."""
    p = run.params
    docs = manifests.render("in-ambient-faulty", p, run.run_id, faulty=f.name(run), faulty_status=f.status)
    for d in docs:
        d["metadata"]["labels"].update({LAB_LABEL: LAB, REPLICA_LABEL: f.name(run)})
    cm, deploy = docs
    spec = deploy["spec"]
    spec["selector"]["matchLabels"][REPLICA_LABEL] = f.name(run)
    spec["template"]["metadata"]["labels"].update({LAB_LABEL: LAB, REPLICA_LABEL: f.name(run)})
    pod = spec["template"]["spec"]
    if zone:
        pod["nodeSelector"] = {ZONE: zone}
    if f.refuses:
        tp = target_port(run)
        conf = cm["data"]["default.conf"]
        if f"listen {tp};" not in conf:
            raise RunbookError(f"the failing-replica template no longer listens on {tp}",
                               hint="lib/ambient_lb/manifests/in-ambient-faulty.yaml: `listen <targetPort>;`")
        cm["data"]["default.conf"] = conf.replace(f"listen {tp};", f"listen {tp + 1};")
        container = pod["containers"][0]
        container["ports"] = [{"name": "http", "containerPort": tp + 1}]
        container["readinessProbe"]["httpGet"]["port"] = tp + 1
    return docs


# ---- the lab's DestinationRule ----------------------------------------------------------------------


def lab_rule(run: Run, outlier: dict[str, Any] | None, *, locality: bool = False) -> list[dict[str, Any]]:
    """The guide's DestinationRule template as the lab's rule ``DR_NAME``: ROUND_ROBIN (so every pod
    gets its turn), ``outlier`` as its outlierDetection, and locality load balancing off unless
    ``locality`` (an outlierDetection block would otherwise turn it on, R3.5; step 07.9 shows that)."""
    docs = manifests.render("destinationrule", run.params, run.run_id, destination_rule=DR_NAME)
    dr = docs[0]
    dr["metadata"]["labels"][LAB_LABEL] = LAB
    lb: dict[str, Any] = {"simple": "ROUND_ROBIN"}
    if not locality:
        lb["localityLbSetting"] = {"enabled": False}
    dr["spec"]["trafficPolicy"] = {"loadBalancer": lb}
    if outlier is not None:
        dr["spec"]["trafficPolicy"]["outlierDetection"] = dict(outlier)
    return docs


def apply_rule(run: Run, outlier: dict[str, Any] | None, *, locality: bool = False) -> None:
    """Applies the lab's DestinationRule with this outlierDetection (None: without one)."""
    apply(run, lab_rule(run, outlier, locality=locality))


def envoy_outlier(outlier: dict[str, Any] | None) -> dict[str, Any] | None:
    """What Istio writes into the waypoint's cluster for this outlierDetection (R3.1), as config_dump
    shows it: durations in seconds, ``healthy_panic_threshold`` = minHealthPercent (0 if unset)."""
    if outlier is None:
        return None
    out: dict[str, Any] = {}
    if "consecutive5xxErrors" in outlier:
        n = int(outlier["consecutive5xxErrors"])
        out.update(consecutive_5xx=n, enforcing_consecutive_5xx=100 if n > 0 else 0)
    if "consecutiveGatewayErrors" in outlier:
        n = int(outlier["consecutiveGatewayErrors"])
        out.update(consecutive_gateway_failure=n, enforcing_consecutive_gateway_failure=100 if n > 0 else 0)
    for field, key in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        if field in outlier:
            out[key] = duration_seconds(outlier[field])
    if int(outlier.get("maxEjectionPercent") or 0) > 0:
        out["max_ejection_percent"] = int(outlier["maxEjectionPercent"])
    out["healthy_panic_threshold"] = float(outlier.get("minHealthPercent") or 0)
    return out


def duration_seconds(text: Any) -> float:
    """``"1s"``, ``"0.500s"``, ``"1m30s"``, ``"200ms"`` -> seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(text))
    if not parts:
        raise ValueError(f"not a duration: {text!r}; e.g. '10s'")
    return sum(float(n) * units[u] for n, u in parts)


def cluster_name(run: Run) -> str:
    """The waypoint's Envoy cluster name for the app's Service (``inbound-vip|PORT|http|HOST``)."""
    p = run.params
    return f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local"


def waypoint_cluster(run: Run) -> dict[str, Any] | None:
    """The waypoint's dynamic cluster for the app (config_dump, R13.12), with ``last_updated``."""
    dump = json.loads(waypoint_admin(run, "config_dump?resource=dynamic_active_clusters", show=False) or "{}")
    for item in dump.get("configs") or []:
        cluster = item.get("cluster") or {}
        if cluster.get("name") == cluster_name(run):
            return {**cluster, "last_updated": item.get("last_updated")}
    return None


def seen_outlier(cluster: dict[str, Any] | None) -> dict[str, Any] | None:
    """config_dump's outlier_detection in the shape of :func:`envoy_outlier` (None if absent)."""
    if cluster is None or "outlier_detection" not in cluster:
        return None
    od = dict(cluster["outlier_detection"])
    for key in ("interval", "base_ejection_time"):
        if key in od:
            od[key] = duration_seconds(od[key])
    panic = (cluster.get("common_lb_config") or {}).get("healthy_panic_threshold")
    # proto3 JSON: {} is 0 % (panic off); no field at all is Envoy's default, 50 % (R3.3, R4.7)
    od["healthy_panic_threshold"] = 50.0 if panic is None else float(panic.get("value", 0.0))
    return od


def rule_arrived(run: Run, outlier: dict[str, Any] | None) -> tuple[bool, str]:
    """Does the waypoint's cluster carry exactly what Istio makes of ``outlier`` (R3.1)?"""
    cluster = waypoint_cluster(run)
    want, got = envoy_outlier(outlier), seen_outlier(cluster)
    lb = (cluster or {}).get("lb_policy", "ROUND_ROBIN")  # proto3 JSON omits the default, ROUND_ROBIN
    if cluster is None or lb != "ROUND_ROBIN":
        return False, f"not yet: lb_policy {lb if cluster else '(no cluster)'}, the rule says ROUND_ROBIN"
    if want is None:
        return got is None, "no outlier_detection in the waypoint's cluster" if got is None else \
            f"still outlier_detection {got}"
    if got is None:
        return False, "no outlier_detection in the waypoint's cluster yet"
    wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
    extra = [k for k in ("max_ejection_percent",) if k in got and k not in want]
    ok = not wrong and not extra
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in want.items())
    return ok, shown if ok else f"not yet: {wrong or extra} (want {shown})"


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---- the waypoint's stats, /clusters and access log -------------------------------------------------

LAB_STATS = ("stats?filter=outlier_detection.ejections_(active|overflow|(detected|enforced)_consecutive_"
             "(5xx|gateway_failure))")
STAT_KEYS = ("ejections_active", "ejections_detected_consecutive_5xx", "ejections_enforced_consecutive_5xx",
             "ejections_detected_consecutive_gateway_failure", "ejections_enforced_consecutive_gateway_failure",
             "ejections_overflow")


def outlier_stats(run: Run, show: bool = True) -> dict[str, float]:
    """The six counters the lab reads, through pilot-agent in the waypoint (R13.7, R2.11)."""
    return parse_outlier_stats(waypoint_admin(run, LAB_STATS, show), cluster_name(run))


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """Counter increments (``ejections_active``, a gauge, as read)."""
    return {k: v if k == "ejections_active" else v - before.get(k, 0.0) for k, v in after.items()}


def stats_text(d: dict[str, float]) -> str:
    """The outlier-detection counters on one line with short names (``active=1, overflow=0, ...``)."""
    if not d:
        return "no outlier_detection stats (is the waypoint's stats matcher set? step 03.1)"
    short = {"ejections_active": "active", "ejections_overflow": "overflow"}
    parts = []
    for k in STAT_KEYS:
        name = short.get(k, k.replace("ejections_", "").replace("consecutive_", "").replace("gateway_failure", "gw"))
        sign = "" if k == "ejections_active" else "+"
        parts.append(f"{name} {sign}{int(d.get(k, 0))}")
    return ", ".join(parts)


def _clusters_args(run: Run) -> tuple[str, ...]:
    p = run.params
    return ("exec", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}", "--", "pilot-agent", "request", "GET",
            "clusters")


def waypoint_hosts(run: Run, show: bool = True) -> dict[str, dict[str, str]]:
    """Per host (``ip:port``) of the waypoint's app cluster: its ``/clusters`` attributes (health_flags,
    zone, priority, ...), R13.11. Shown as ``kubectl exec ... pilot-agent request GET clusters | grep -E``."""
    keys = ("health_flags", "zone", "priority")
    pattern = f"^{grep_literal(cluster_name(run))}::[0-9.]+:[0-9]+::({'|'.join(keys)})::"
    _, rows = shown_grep(run, _clusters_args(run), pattern, show)
    hosts: dict[str, dict[str, str]] = {}
    for row in rows:
        _, host, key, value = row.split("::", 3)
        hosts.setdefault(host, {})[key] = value
    return hosts


def ejected_hosts(run: Run) -> list[str]:
    """The hosts of the app's cluster that ``/clusters`` flags ``/failed_outlier_check`` (R2.10, R13.11),
    shown as ``kubectl exec ... pilot-agent request GET clusters | grep -E '^<cluster>::.*failed_outlier_check$'``."""
    pattern = f"^{grep_literal(cluster_name(run))}::.*failed_outlier_check$"
    _, rows = shown_grep(run, _clusters_args(run), pattern)
    return [r.split("::")[1] for r in rows]


def waypoint_log(run: Run) -> Any:
    """The waypoint's access log, parsed, with each line's upstream pod IP as ``upstream_ip``
    (the upstream host is ``envoy://connect_originate/<pod ip>:<port>``, R7.6) and ``t`` in seconds
    since the epoch of the proxy's clock."""
    from .. import logs  # pandas: loaded on use, not at notebook start

    p = run.params
    df = logs.parse_envoy(run.kube.logs_text(p.namespaces.app, f"deploy/{p.waypoint.name}")).reset_index(drop=True)
    if df.empty:
        df["upstream_ip"] = []
        df["t"] = []
        return df
    host = df["upstream_host"].astype(str)
    df["upstream_ip"] = host.str.replace("envoy://connect_originate/", "", regex=False).str.rsplit(":", n=1).str[0]
    df["t"] = df["start_time"].astype("int64") / 1e9
    return df


def app_pods(run: Run) -> dict[str, dict[str, Any]]:
    """Every pod behind the app's Service by IP: name, node, zone (from its node's labels), which
    failing replica it is (or None)."""
    p = run.params
    zones = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(ZONE, "") for n in items(run, "nodes")}
    out = {}
    for pod in items(run, "pods", p.namespaces.app, f"app={p.app.name}"):
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp"):
            continue
        node = (pod.get("spec") or {}).get("nodeName", "")
        out[ip] = {"name": pod["metadata"]["name"], "node": node, "zone": zones.get(node, ""),
                   "replica": (pod["metadata"].get("labels") or {}).get(REPLICA_LABEL)}
    return out


def waypoint_zone(run: Run) -> str:
    """The zone of the waypoint pod's node ("" when the node has no zone label, R5.9)."""
    p = run.params
    pods = items(run, "pods", p.namespaces.app, f"gateway.networking.k8s.io/gateway-name={p.waypoint.name}")
    nodes = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(ZONE, "") for n in items(run, "nodes")}
    for pod in pods:
        if not pod["metadata"].get("deletionTimestamp"):
            return nodes.get((pod.get("spec") or {}).get("nodeName", ""), "")
    raise RunbookError(f"no {p.waypoint.name} pod in {p.namespaces.app}", hint="step 03.1 creates the waypoint")


def faulty_others(run: Run) -> list[str]:
    """Failing-replica Deployments that are not this lab's (step 4's, if a stopped step 4 left it)."""
    p = run.params
    return [d["metadata"]["name"] for d in items(run, "deployments", p.namespaces.app, FAULTY_LABEL)
            if (d["metadata"].get("labels") or {}).get(LAB_LABEL) != LAB]


def other_rules(run: Run) -> list[str]:
    """DestinationRules for the app's host other than the lab's (Istio would use only one of them)."""
    p = run.params
    hosts = {p.app.name, f"{p.app.name}.{p.namespaces.app}", f"{p.app.name}.{p.namespaces.app}.svc",
             f"{p.app.name}.{p.namespaces.app}.svc.cluster.local"}
    return [d["metadata"]["name"] for d in items(run, "destinationrules", p.namespaces.app)
            if (d.get("spec") or {}).get("host") in hosts and d["metadata"]["name"] != DR_NAME]
