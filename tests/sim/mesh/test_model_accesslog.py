"""Access-log writers: byte-exact lines in the real formats (log-formats.md §1, §2; R7.6).

The expected lines are the guide's own examples (guide 01, lines 48 and 68), where copying turned
tabs into spaces; the writer's tabs are compared as spaces there, and checked as tabs separately.
"""

from __future__ import annotations

import datetime as dt

from ambient_lb.sim.mesh.model import (
    INTERNAL_CLIENT_ADDRESS,
    EnvoyRecord,
    Failure,
    Peer,
    connect_originate,
    connection_complete,
    connection_failed,
    envoy_line,
    http_request_complete,
    inbound_vip_cluster,
    response_for,
    spiffe,
    ztunnel_line,
)
from ambient_lb.sim.mesh.model.accesslog import record_field_names, rust_debug

GUIDE_HTTP = (
    '2025-03-19T17:32:42.762545Z info http access request complete src.addr=10.0.71.117:42468 '
    'src.workload="http-9db6c8995-l54dw" src.namespace="kgateway-system" '
    'src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http" dst.addr=10.0.65.144:15008 '
    'dst.hbone_addr=10.0.65.144:8080 dst.service="in-ambient.httpbin.svc.cluster.local" '
    'dst.workload="in-ambient-7d8f9b6c54-abc12" dst.namespace="httpbin" '
    'dst.identity="spiffe://cluster.local/ns/httpbin/sa/in-ambient" direction="inbound" method=GET '
    'path="/headers" protocol=HTTP1 response_code=200 host="www.example.com:8080" user_agent="curl/8.7.1" '
    'request_id="4c5fc679-c5cd-4721-8735-51bcdbea6e0f" duration="0ms"')
GUIDE_CONN = (
    '2025-03-19T17:32:46.810472Z info access connection complete src.addr=10.0.71.117:42468 '
    'src.workload="http-9db6c8995-l54dw" src.namespace="kgateway-system" '
    'src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http" dst.addr=10.0.65.144:15008 '
    'dst.hbone_addr=10.0.65.144:8080 dst.service="in-ambient.httpbin.svc.cluster.local" '
    'dst.workload="in-ambient-7d8f9b6c54-abc12" dst.namespace="httpbin" '
    'dst.identity="spiffe://cluster.local/ns/httpbin/sa/in-ambient" direction="inbound" bytes_sent=1290 '
    'bytes_recv=550 duration="6742ms"')
GUIDE_WAYPOINT = (
    '[2025-03-06T17:15:23.456Z] "GET /hostname HTTP/1.1" 200 - via_upstream - "-" 0 32 5 4 "-" "curl/7.88.1" '
    '"abc123-def456" "in-ambient.httpbin.svc.cluster.local:8000" "10.10.0.15:8080" '
    'inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local 10.10.0.14:45678 10.96.45.123:8000 '
    '10.10.0.14:45678 - default')


def ts(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


SRC = Peer("10.0.71.117:42468", "http-9db6c8995-l54dw", "kgateway-system", spiffe("kgateway-system", "http"))
DST = Peer("10.0.65.144:15008", "in-ambient-7d8f9b6c54-abc12", "httpbin", spiffe("httpbin", "in-ambient"),
           service="in-ambient.httpbin.svc.cluster.local", hbone_addr="10.0.65.144:8080")


def test_solo_http_access_line_matches_the_guide() -> None:
    """R7.6 [solo]: the `http access` `request complete` record, field by field as in guide line 48."""
    line = http_request_complete(ts(2025, 3, 19, 17, 32, 42, 762545), SRC, DST, "inbound", method="GET",
                                 path="/headers", protocol="HTTP1", response_code=200, host="www.example.com:8080",
                                 user_agent="curl/8.7.1", request_id="4c5fc679-c5cd-4721-8735-51bcdbea6e0f",
                                 duration_ms=0)
    assert line.replace("\t", " ") == GUIDE_HTTP
    assert line.split("\t")[:4] == ["2025-03-19T17:32:42.762545Z", "info", "http access", "request complete"]


def test_connection_complete_line_matches_the_guide() -> None:
    """R7.6/log-formats §1.1: `access` `connection complete`, fields in ztunnel's order, 6-digit timestamp."""
    line = connection_complete(ts(2025, 3, 19, 17, 32, 46, 810472), SRC, DST, "inbound", 1290, 550, 6742)
    assert line.replace("\t", " ") == GUIDE_CONN
    assert line.count("\t") == 4 and "\n" not in line


def test_connection_complete_with_error_is_level_error_with_error_last() -> None:
    """log-formats §1.1 / R7.1: a failed connection is `error` level with a quoted `error` last."""
    dst = Peer("10.0.65.144:15008", hbone_addr="10.0.65.144:8080")
    line = connection_complete(ts(2025, 1, 1), Peer("10.0.71.117:1"), dst, "inbound", 0, 0, 1,
                               error="io error: Connection refused (os error 111)")
    head, fields = line.split("\t")[1], line.split("\t")[4]
    assert head == "error"
    assert fields.endswith(' duration="1ms" error="io error: Connection refused (os error 111)"')
    assert "src.workload" not in fields  # unknown values are omitted, never "-"


def test_connection_failed_has_four_fields_at_warn() -> None:
    """R7.3/log-formats §1.1: `connection failed` carries src.addr, dst.addr, direction, error only."""
    line = connection_failed(ts(2025, 1, 1), "10.0.71.117:42468", "10.96.0.10:8000", "outbound",
                             "no healthy upstream: 10.96.0.10:8000")
    assert line == ('2025-01-01T00:00:00.000000Z\twarn\taccess\tconnection failed\tsrc.addr=10.0.71.117:42468 '
                    'dst.addr=10.96.0.10:8000 direction="outbound" error="no healthy upstream: 10.96.0.10:8000"')


def test_ztunnel_strings_use_rust_debug_escaping_and_message_only_lines_end_with_a_tab() -> None:
    """log-formats §1 rules 5-6: quotes and backslashes escaped; a message-only record ends in a tab."""
    assert rust_debug('a "b" \\ c\n') == '"a \\"b\\" \\\\ c\\n"'
    assert ztunnel_line(0.0, "info", "proxy", "ping error: broken pipe", []).endswith("broken pipe\t")
    assert ztunnel_line(0.0, "debug", "dns", None, [("query", "A")]).endswith('\tdns\tquery="A"')


def test_waypoint_line_matches_the_guide() -> None:
    """R7.6: Istio's EnvoyTextLogFormat, 22 operators, `-` for empty values (guide line 68)."""
    rec = EnvoyRecord(start_time=ts(2025, 3, 6, 17, 15, 23, 456000), method="GET", path="/hostname",
                      protocol="HTTP/1.1", response_code=200, response_flags="-", response_code_details="via_upstream",
                      bytes_received=0, bytes_sent=32, duration=5, upstream_service_time=4, user_agent="curl/7.88.1",
                      request_id="abc123-def456", authority="in-ambient.httpbin.svc.cluster.local:8000",
                      upstream_host="10.10.0.15:8080",
                      upstream_cluster=inbound_vip_cluster(8000, "in-ambient.httpbin.svc.cluster.local"),
                      upstream_local_address="10.10.0.14:45678", downstream_local_address="10.96.45.123:8000",
                      downstream_remote_address="10.10.0.14:45678", route_name="default")
    assert envoy_line(rec) == GUIDE_WAYPOINT
    assert len(record_field_names()) == 24  # 22 operators; the request line holds 3 of them


def test_uc_line_for_a_request_that_hit_a_refusing_pod() -> None:
    """R7.1 + log-formats §2.2: 503 UC with connection_termination details and a connect_originate host."""
    status, row = response_for(Failure.CONNECTION_TERMINATION)
    rec = EnvoyRecord(start_time=ts(2025, 3, 6), method="GET", path="/hostname", protocol="HTTP/1.1",
                      response_code=status, response_flags=row.flags, response_code_details=row.details,
                      bytes_sent=len(row.body), duration=1, user_agent="curl/8.7.1", request_id="r",
                      authority="httpbin.example.com", upstream_host=connect_originate("10.10.0.15", 8080),
                      upstream_cluster=inbound_vip_cluster(8000, "in-ambient.httpbin.svc.cluster.local"),
                      upstream_local_address=INTERNAL_CLIENT_ADDRESS, downstream_local_address="10.96.45.123:8000",
                      downstream_remote_address="10.10.0.14:45678", route_name="default")
    line = envoy_line(rec)
    assert ('" 503 UC upstream_reset_before_response_started{connection_termination} - "-" 0 95 1 - "-" '
            '"curl/8.7.1"') in line
    assert '"envoy://connect_originate/10.10.0.15:8080" inbound-vip|8000|http|' in line
    assert line.endswith(" envoy://internal_client_address/ 10.96.45.123:8000 10.10.0.14:45678 - default")


def test_no_healthy_upstream_line_has_dash_upstream_host_and_transport_reason_underscored() -> None:
    """R7.3 + log-formats §2 #7/#16: UH prints "-" as upstream host; spaces in the reason become '_'."""
    status, row = response_for(None)
    line = envoy_line(EnvoyRecord(start_time=0.0, method="GET", path="/", protocol="HTTP/1.1", response_code=status,
                                  response_flags=row.flags, response_code_details=row.details,
                                  upstream_transport_failure_reason="delayed connect error: 111"))
    assert line.startswith('[1970-01-01T00:00:00.000Z] "GET / HTTP/1.1" 503 UH no_healthy_upstream - '
                           '"delayed_connect_error:_111" 0 0 0 - "-" "-" "-" "-" "-" - - - - - -')


def test_connect_originate_failure_is_a_tcp_style_uf_urx_line() -> None:
    """log-formats §2.2: a failed HBONE connect adds `"- - -" 0 UF,URX` on cluster connect_originate."""
    from ambient_lb.sim.mesh.model import connect_originate_failure

    line = envoy_line(connect_originate_failure(ts(2025, 3, 6), "10.10.0.15", 8080, 1))
    assert line == ('[2025-03-06T00:00:00.000Z] "- - -" 0 UF,URX - - "-" 0 0 1 - "-" "-" "-" "-" '
                    '"10.10.0.15:15008" connect_originate - 10.10.0.15:8080 envoy://internal_client_address/ - -')
