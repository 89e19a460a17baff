"""Access-log writers that produce real-format lines (``research/log-formats.md``; R7.6).

Who calls it: the integrator's request path, once per hop, and writes the returned text (no
trailing newline) into ``cluster.logs`` for the proxy's container:

- ztunnel text format (log-formats §1): ``connection_complete`` (one per *connection*, R7.6),
  ``connection_failed`` (early deny / no healthy upstream), and Solo's per-request
  ``http_request_complete`` (target ``http access``, `[solo]`).
- Istio's default Envoy text format ``EnvoyTextLogFormat`` (log-formats §2) for the gateway and
  the waypoint: fill an ``EnvoyRecord`` and call ``envoy_line``. ``inbound_vip_cluster``,
  ``connect_originate`` and ``INTERNAL_CLIENT_ADDRESS`` give the ambient specifics (§2.2).

Writers are pure: timestamps come in as simulated epoch seconds.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ...clock import to_rfc3339_micro, to_rfc3339_milli

# --- timestamps (hot path: one or more per log line) ------------------------------------------------
_UTC = _dt.UTC
_fromtimestamp = _dt.datetime.fromtimestamp
_SECOND: list[object] = [None, ""]  # [whole epoch second, its "%Y-%m-%dT%H:%M:%S" text]


def _second_text(ts: float) -> tuple[str, int] | None:
    """The ``%Y-%m-%dT%H:%M:%S`` text and the microseconds of ``ts``, exactly as ``datetime``
    renders them, with the second's text cached; None near a second boundary (rounding could carry)."""
    whole = math.floor(ts)
    if not 1e-5 < ts - whole < 1 - 1e-5:
        return None
    d = _fromtimestamp(ts, _UTC)
    if _SECOND[0] != whole:
        _SECOND[0], _SECOND[1] = whole, d.strftime("%Y-%m-%dT%H:%M:%S")
    return _SECOND[1], d.microsecond  # type: ignore[return-value]  # _SECOND is [int, str], a list for speed


def _micro(ts: float) -> str:
    """Same text as ``clock.to_rfc3339_micro`` (ztunnel), cheaper per line."""
    st = _second_text(ts)
    return to_rfc3339_micro(ts) if st is None else f"{st[0]}.{st[1]:06d}Z"


def _milli(ts: float) -> str:
    """Same text as ``clock.to_rfc3339_milli`` (Envoy START_TIME), cheaper per line."""
    st = _second_text(ts)
    return to_rfc3339_milli(ts) if st is None else f"{st[0]}.{st[1] // 1000:03d}Z"


# --- ztunnel --------------------------------------------------------------------------------------


class Bare(str):
    """A value ztunnel logs with Display (``%x``): addresses, never quoted (log-formats §1 rule 6)."""


def rust_debug(text: str) -> str:
    """Rust ``Debug`` rendering of a string: double-quoted with ``\\`` ``"`` and controls escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'  # fast path: nothing to escape
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _render(value: object) -> str:
    kind = type(value)
    if kind is str:  # the common cases first, by exact type (hot path)
        return rust_debug(value)  # type: ignore[arg-type]  # `type(x) is str` (fast) does not narrow for mypy
    if kind is Bare or kind is int:
        return str(value)
    if isinstance(value, Bare) or isinstance(value, (bool, int)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return rust_debug(str(value))


def ztunnel_line(ts: float, level: str, target: str, message: str | None,
                 fields_: Sequence[tuple[str, object]]) -> str:
    """``<ts>\\t<level>\\t<target>\\t<message>\\t<k=v ...>`` (log-formats §1 rules 1–7).

    Fields whose value is None are left out (Option::None). A message-only record ends in a tab.
    """
    parts = [f"{k}={_render(v)}" for k, v in fields_ if v is not None and not k.startswith("log.")]
    return _ztunnel_text(ts, level, target, message, " ".join(parts))


def _ztunnel_text(ts: float, level: str, target: str, message: str | None, body: str) -> str:
    """``ztunnel_line`` once the fields are rendered into ``body`` ("" when there are none)."""
    head = f"{_micro(ts)}\t{level}\t{target}"
    if message is None and not body:
        return head
    return f"{head}\t{message}\t{body}" if message is not None else f"{head}\t{body}"


@dataclass(frozen=True)
class Peer:
    """One side of a ztunnel connection. Unknown values stay None and are omitted from the line."""

    addr: str
    workload: str | None = None
    namespace: str | None = None
    identity: str | None = None  # only when the connection was mTLS
    cluster: str | None = None  # src.cluster / dst.cluster: ztunnel ≥ 2026-07 only
    service: str | None = None  # dst only
    hbone_addr: str | None = None  # dst only, HBONE only


def spiffe(namespace: str, service_account: str, trust_domain: str = "cluster.local") -> str:
    """The SPIFFE identity of a service account."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def _peer_fields(src: Peer, dst: Peer, direction: str) -> list[tuple[str, object]]:
    return [("src.addr", Bare(src.addr)), ("src.workload", src.workload), ("src.namespace", src.namespace),
            ("src.identity", src.identity), ("src.cluster", src.cluster),
            ("dst.addr", Bare(dst.addr)), ("dst.hbone_addr", Bare(dst.hbone_addr) if dst.hbone_addr else None),
            ("dst.service", dst.service), ("dst.workload", dst.workload), ("dst.namespace", dst.namespace),
            ("dst.identity", dst.identity), ("dst.cluster", dst.cluster), ("direction", direction)]


_PEER_TEXTS: dict[tuple[object, ...], str] = {}  # everything after ``src.addr=<addr> `` per peer pair
_MAX_PEER_TEXTS = 4096


def _peer_text(src: Peer, dst: Peer, direction: str) -> str:
    """The same text ``ztunnel_line`` renders for ``_peer_fields(src, dst, direction)``. All but
    the source address repeat for a pair of workloads, so that rest is rendered once and cached
    (the key holds the value types too: a Bare renders differently from a str of the same text)."""
    values = (src.workload, src.namespace, src.identity, src.cluster, dst.addr, dst.hbone_addr, dst.service,
              dst.workload, dst.namespace, dst.identity, dst.cluster, direction)
    key = (values, tuple(map(type, values)))
    rest = _PEER_TEXTS.get(key)
    if rest is None:
        if len(_PEER_TEXTS) >= _MAX_PEER_TEXTS:
            _PEER_TEXTS.clear()
        fields_ = _peer_fields(src, dst, direction)[1:]  # all but src.addr
        rest = _PEER_TEXTS[key] = " ".join(f"{k}={_render(v)}" for k, v in fields_ if v is not None)
    return f"src.addr={src.addr} {rest}"


def connection_complete(ts: float, src: Peer, dst: Peer, direction: str, bytes_sent: int, bytes_recv: int,
                        duration_ms: int, error: str | None = None) -> str:
    """``access connection complete`` (log-formats §1.1): info, or error with ``error`` last."""
    body = (f"{_peer_text(src, dst, direction)} bytes_sent={int(bytes_sent)} bytes_recv={int(bytes_recv)} "
            f'duration="{int(duration_ms)}ms"')
    if error is not None:
        body += f" error={_render(error)}"
    return _ztunnel_text(ts, "error" if error else "info", "access", "connection complete", body)


def connection_failed(ts: float, src_addr: str, dst_addr: str, direction: str, error: str) -> str:
    """``access connection failed`` (warn, 4 fields): an early deny such as R7.3's no healthy upstream."""
    return ztunnel_line(ts, "warn", "access", "connection failed",
                        [("src.addr", Bare(src_addr)), ("dst.addr", Bare(dst_addr)), ("direction", direction),
                         ("error", error)])


def http_request_complete(ts: float, src: Peer, dst: Peer, direction: str, *, method: str, path: str | None,
                          protocol: str, response_code: int, host: str | None, user_agent: str | None,
                          request_id: str | None, duration_ms: int) -> str:
    """Solo ztunnel's ``http access request complete`` line (guide line 48; `[solo]`, R7.6)."""
    parts = [_peer_text(src, dst, direction), f"method={method}"]
    if path is not None:
        parts.append(f"path={_render(path)}")
    parts += [f"protocol={protocol}", f"response_code={int(response_code)}"]
    for k, v in (("host", host), ("user_agent", user_agent), ("request_id", request_id)):
        if v is not None:
            parts.append(f"{k}={_render(v)}")
    parts.append(f'duration="{int(duration_ms)}ms"')
    return _ztunnel_text(ts, "info", "http access", "request complete", " ".join(parts))


# --- Envoy (gateway, waypoint) --------------------------------------------------------------------


@dataclass(frozen=True)
class EnvoyRecord:
    """The 22 operators of ``EnvoyTextLogFormat`` in order (log-formats §2). None/"" print as ``-``."""

    start_time: float
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    response_code: int = 0
    response_flags: str | None = None
    response_code_details: str | None = None
    connection_termination_details: str | None = None
    upstream_transport_failure_reason: str | None = None
    bytes_received: int = 0
    bytes_sent: int = 0
    duration: int = 0
    upstream_service_time: int | None = None
    x_forwarded_for: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    authority: str | None = None
    upstream_host: str | None = None
    upstream_cluster: str | None = None
    upstream_local_address: str | None = None
    downstream_local_address: str | None = None
    downstream_remote_address: str | None = None
    requested_server_name: str | None = None
    route_name: str | None = None


def _d(value: object) -> str:
    """Envoy prints ``-`` for every unset or empty value (log-formats §2, ED)."""
    return "-" if value is None or value == "" else str(value)


def envoy_line(r: EnvoyRecord) -> str:
    """One line of Istio's default Envoy text access log (no trailing newline)."""
    return envoy_line_of(
        start_time=r.start_time, method=r.method, path=r.path, protocol=r.protocol, response_code=r.response_code,
        response_flags=r.response_flags, response_code_details=r.response_code_details,
        connection_termination_details=r.connection_termination_details,
        upstream_transport_failure_reason=r.upstream_transport_failure_reason, bytes_received=r.bytes_received,
        bytes_sent=r.bytes_sent, duration=r.duration, upstream_service_time=r.upstream_service_time,
        x_forwarded_for=r.x_forwarded_for, user_agent=r.user_agent, request_id=r.request_id, authority=r.authority,
        upstream_host=r.upstream_host, upstream_cluster=r.upstream_cluster,
        upstream_local_address=r.upstream_local_address, downstream_local_address=r.downstream_local_address,
        downstream_remote_address=r.downstream_remote_address, requested_server_name=r.requested_server_name,
        route_name=r.route_name)


_ENVOY_FORMAT = ('[{}] "{} {} {}" {} {} {} {} "{}" {} {} {} {} "{}" "{}" "{}" "{}" "{}" {} {} {} {} {} {}')


def envoy_line_of(*, start_time: float, method: str | None, path: str | None, protocol: str | None,
                  response_code: int, response_flags: str | None, response_code_details: str | None,
                  connection_termination_details: str | None, upstream_transport_failure_reason: str | None,
                  bytes_received: int, bytes_sent: int, duration: int, upstream_service_time: int | None,
                  x_forwarded_for: str | None, user_agent: str | None, request_id: str | None,
                  authority: str | None, upstream_host: str | None, upstream_cluster: str | None,
                  upstream_local_address: str | None, downstream_local_address: str | None,
                  downstream_remote_address: str | None, requested_server_name: str | None,
                  route_name: str | None) -> str:
    """``envoy_line`` of the record with these fields (named as in ``EnvoyRecord``), without building
    the record (the request path writes two of these per request)."""
    reason = upstream_transport_failure_reason.replace(" ", "_") if upstream_transport_failure_reason else None
    dashed = [("-" if v is None or v == "" else str(v)) for v in (
        method, path, protocol, response_flags, response_code_details, connection_termination_details, reason,
        upstream_service_time, x_forwarded_for, user_agent, request_id, authority, upstream_host, upstream_cluster,
        upstream_local_address, downstream_local_address, downstream_remote_address, requested_server_name,
        route_name)]
    return _ENVOY_FORMAT.format(_milli(start_time), *dashed[:3], response_code, *dashed[3:7], bytes_received,
                                bytes_sent, duration, *dashed[7:])


def inbound_vip_cluster(port: int, service_fqdn: str) -> str:
    """The waypoint's cluster name ``inbound-vip|8000|http|<svc fqdn>`` (R1.3, R7.6)."""
    return f"inbound-vip|{port}|http|{service_fqdn}"


def connect_originate(pod_ip: str, target_port: int) -> str:
    """The waypoint's UPSTREAM_HOST for a pod: ``envoy://connect_originate/<ip>:<port>`` (§2.2)."""
    return f"envoy://connect_originate/{pod_ip}:{target_port}"


INTERNAL_CLIENT_ADDRESS = "envoy://internal_client_address/"
CONNECT_ORIGINATE_CLUSTER = "connect_originate"
HBONE_PORT = 15008


def connect_originate_failure(start_time: float, pod_ip: str, target_port: int, duration_ms: int) -> EnvoyRecord:
    """The extra TCP-style waypoint line when the HBONE connect to a pod fails (log-formats §2.2,
    istio/istio#52886): ``"- - -" 0 UF,URX`` on cluster ``connect_originate`` `[inferred]` for the
    address fields (upstream = the pod's HBONE port, downstream local = the internal address)."""
    return EnvoyRecord(start_time=start_time, response_code=0, response_flags="UF,URX",
                       duration=int(duration_ms), upstream_host=f"{pod_ip}:{HBONE_PORT}",
                       upstream_cluster=CONNECT_ORIGINATE_CLUSTER, downstream_local_address=f"{pod_ip}:{target_port}",
                       downstream_remote_address=INTERNAL_CLIENT_ADDRESS)


def record_field_names() -> list[str]:
    """The field names of ``EnvoyRecord`` in line order (the parser's JSON-key names)."""
    return [f.name for f in fields(EnvoyRecord)]
