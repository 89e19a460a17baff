"""The questions the guide asks of parsed logs: which identities talked, how requests spread over pods, what
the response flags mean, and one request followed across hops.

Who calls it: the guide's checks and the notebooks, through ``ambient_lb.logs`` (which re-exports every public
name here), on frames from ``parse_ztunnel`` and ``parse_envoy``. Analysis only: nothing here parses text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

RESPONSE_FLAGS: dict[str, str] = {
    "-": "no flag: the request completed normally (a 5xx from the app is passed through with '-')",
    "UH": "no healthy upstream host in the cluster (503)",
    "UF": "upstream connection failure",
    "UO": "upstream overflow (circuit breaking)",
    "NR": "no route configured for the request (404)",
    "URX": "upstream retry limit or max connect attempts reached",
    "NC": "upstream cluster not found",
    "DT": "request or connection exceeded max duration",
    "DC": "downstream connection termination",
    "LH": "local service failed its health check",
    "UT": "upstream request timeout (504)",
    "LR": "connection local reset",
    "UR": "upstream remote reset",
    "UC": "upstream connection termination (the connection closed before a response; 503, semantics R7.1)",
    "DI": "request delayed by fault injection",
    "FI": "request aborted by fault injection",
    "RL": "rate limited locally",
    "UAEX": "denied by the external authorization service",
    "RLSE": "rate-limit service error",
    "IH": "invalid value in a strictly checked header",
    "SI": "stream idle timeout",
    "DPE": "downstream protocol error",
    "UPE": "upstream protocol error",
    "UMSDR": "upstream max stream duration reached",
    "OM": "overload manager terminated the request",
    "DF": "DNS resolution failed",
    "DO": "dropped by overload (drop_overload)",
}

_IP_PORT = re.compile(r"(?:envoy://[^/]+/)?\[?([0-9a-fA-F.:]+?)\]?:(\d+)$")


def spiffe_id(namespace: str, service_account: str, trust_domain: str = "cluster.local") -> str:
    """The SPIFFE identity ztunnel logs for a workload: ``spiffe://<td>/ns/<ns>/sa/<sa>``."""
    for name, value in (("namespace", namespace), ("service_account", service_account), ("trust_domain", trust_domain)):
        if not value or "/" in value:
            raise ValueError(f"{name} must be a non-empty name without '/', got {value!r}; "
                             "e.g. spiffe_id('httpbin', 'in-ambient')")
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def identity_hops(zt: pd.DataFrame, expected_src: str | None = None, expected_dst: str | None = None) -> pd.DataFrame:
    """Which identities talked, per direction: one row per (direction, src.identity, dst.identity) with counts.

    ``mtls`` is True when both identities are present (ztunnel logs identities only for mTLS connections,
    log-formats.md §1.1). With ``expected_src`` / ``expected_dst`` (see ``spiffe_id``), ``src_ok`` / ``dst_ok``
    say whether each hop's identity is the expected one.
    """
    keys = [c for c in ("direction", "src.workload", "src.identity", "dst.identity") if c in zt.columns]
    frame = zt.reindex(columns=list(dict.fromkeys(keys + ["src.identity", "dst.identity"])))
    if "src.workload" in frame:
        frame["src.workload"] = frame["src.workload"].map(_workload_family, na_action="ignore")
    out = frame.groupby(list(frame.columns), dropna=False, sort=True).size().rename("records").reset_index()
    out["mtls"] = out["src.identity"].notna() & out["dst.identity"].notna()
    if expected_src is not None:
        out["src_ok"] = out["src.identity"].eq(expected_src).fillna(False).astype(bool)
    if expected_dst is not None:
        out["dst_ok"] = out["dst.identity"].eq(expected_dst).fillna(False).astype(bool)
    return out


def _workload_family(pod: str) -> str:
    """``http-9db6c8995-l54dw`` -> ``http`` (the Deployment a pod belongs to), so hops group by workload."""
    m = re.fullmatch(r"(.+?)-[0-9a-f]{6,10}-[0-9a-z]{5}", pod)
    return m[1] if m else pod


def upstream_ip(host: Any) -> Any:
    """``"10.10.0.15:8080"`` or ``"envoy://connect_originate/10.10.0.15:8080"`` -> ``"10.10.0.15"`` (else NA)."""
    m = _IP_PORT.match(host) if isinstance(host, str) else None
    return m[1] if m else None


def requests_per_pod(df: pd.DataFrame, pods: Mapping[str, str] | None = None) -> pd.Series:
    """Requests (Envoy) or connections/requests (ztunnel) per upstream pod, sorted by pod name.

    Envoy frames count ``upstream_host`` per pod IP; ``pods`` maps IPs to pod names (e.g. from
    ``kubectl get pods -o wide``), unmapped IPs stay as IPs; lines with no upstream (NR, UH) are not counted.
    ztunnel frames count ``dst.workload`` over ``request complete`` records when there are any (Solo's
    per-request line), else over ``connection complete`` records (one per connection, semantics R7.6).
    """
    if "upstream_host" in df.columns:
        names = df["upstream_host"].map(upstream_ip, na_action="ignore").dropna()
        if pods:
            names = names.map(lambda ip: pods.get(ip, ip))
    elif "dst.workload" in df.columns:
        per_request = df["message"].eq("request complete")
        rows = df[per_request] if per_request.any() else df[df["message"].eq("connection complete")]
        names = rows["dst.workload"].dropna()
    else:
        raise ValueError(
            "requests_per_pod needs a frame from parse_envoy (column upstream_host) or parse_ztunnel "
            f"(column dst.workload); got columns {list(df.columns)[:8]}..."
        )
    counts = names.astype(str).value_counts().sort_index()
    counts.index.name, counts.name = "pod", "requests"
    return counts


def response_flags(envoy: pd.DataFrame) -> pd.DataFrame:
    """Response flags with their meaning and how many lines carry each (a line can carry several: ``UF,URX``)."""
    flags = envoy["response_flags"].fillna("-").astype(str).str.split(",").explode()
    counts = flags.value_counts()
    out = pd.DataFrame({"flag": counts.index.astype(str), "lines": counts.to_numpy()})
    out["meaning"] = out["flag"].map(lambda f: RESPONSE_FLAGS.get(f, "unknown flag (see Envoy's access-log docs)"))
    return out.sort_values(["lines", "flag"], ascending=[False, True], ignore_index=True)


_JOIN_COLUMNS = (
    "start_time", "timestamp", "response_code", "response_flags", "upstream_host", "duration", "src.workload",
    "src.identity", "dst.workload", "dst.identity", "direction",
)  # fmt: skip


def join_by_request_id(columns: tuple[str, ...] = _JOIN_COLUMNS, **frames: pd.DataFrame) -> pd.DataFrame:
    """One row per request id across hops: ``join_by_request_id(gateway=gw, ztunnel=zt, waypoint=wp)``.

    Each frame contributes its ``columns`` that exist, prefixed with its name (``waypoint.upstream_host``).
    Rows without a request id (ztunnel connection records, TCP lines) are left out. An outer join: a request
    seen on one hop only still has a row, with NA for the other hops.
    """
    joined: pd.DataFrame | None = None
    for name, frame in frames.items():
        if "request_id" not in frame.columns:
            raise ValueError(f"frame {name!r} has no request_id column; pass frames from parse_envoy / parse_ztunnel")
        keep = [c for c in columns if c in frame.columns]
        part = frame.loc[frame["request_id"].notna(), ["request_id", *keep]]
        part = part.rename(columns={c: f"{name}.{c}" for c in keep})
        joined = part if joined is None else joined.merge(part, on="request_id", how="outer")
    if joined is None:
        raise ValueError("join_by_request_id needs at least one frame, "
                         "e.g. join_by_request_id(gateway=gw, waypoint=wp)")
    return joined.reset_index(drop=True)
