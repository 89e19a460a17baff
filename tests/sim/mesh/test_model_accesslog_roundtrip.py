"""Every line the model's writers produce parses with the project's log parsers (``ambient_lb.logs``)
into the fields that went in (issue 4: "every log line the simulator writes parses ... into the same
fields as a real line"; log-formats.md §1, §2)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

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
)

logs = pytest.importorskip("ambient_lb.logs")

T = dt.datetime(2026, 11, 23, 12, 0, 1, 234567, tzinfo=dt.UTC).timestamp()
SRC = Peer("10.244.1.6:40112", "http-9db6c8995-l54dw", "kgateway-system", spiffe("kgateway-system", "http"),
           cluster="ambient-lb-sim")
DST = Peer("10.244.2.7:15008", "in-ambient-7d8f9b6c54-abc12", "httpbin", spiffe("httpbin", "in-ambient"),
           cluster="ambient-lb-sim", service="in-ambient.httpbin.svc.cluster.local", hbone_addr="10.244.2.7:8080")
WP_CLUSTER = inbound_vip_cluster(8000, "in-ambient.httpbin.svc.cluster.local")


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def test_ztunnel_lines_round_trip_through_parse_ztunnel() -> None:
    """R7.6/log-formats §1: complete, error, failed and Solo http lines parse back into their fields."""
    lines = [
        connection_complete(T, SRC, DST, "inbound", 1290, 550, 6742),
        connection_complete(T, Peer(SRC.addr), Peer(DST.addr, hbone_addr=DST.hbone_addr), "inbound", 0, 0, 2,
                            error="io error: Connection refused (os error 111)"),
        connection_failed(T, SRC.addr, "10.96.45.123:8000", "outbound", "no healthy upstream: 10.96.45.123:8000"),
        http_request_complete(T, SRC, DST, "inbound", method="GET", path='/anything/"quoted"', protocol="HTTP1",
                              response_code=503, host="httpbin.example.com", user_agent="curl/8.7.1 (x86_64; linux)",
                              request_id="4c5fc679", duration_ms=12),
    ]
    df = logs.parse_ztunnel("\n".join(lines) + "\n")
    assert len(df) == 4 and df.attrs["skipped"] == 0
    first, refused, failed, http = df.to_dict("records")
    assert first["timestamp"] == pd.Timestamp("2026-11-23T12:00:01.234567Z")
    assert (first["level"], first["target"], first["message"]) == ("info", "access", "connection complete")
    for key, value in {"src.addr": SRC.addr, "src.workload": SRC.workload, "src.identity": SRC.identity,
                       "src.cluster": SRC.cluster, "dst.service": DST.service, "dst.hbone_addr": DST.hbone_addr,
                       "dst.workload": DST.workload, "dst.identity": DST.identity, "direction": "inbound",
                       "bytes_sent": 1290, "bytes_recv": 550, "duration_ms": 6742}.items():
        assert first[key] == value, key
    assert (refused["level"], refused["error"]) == ("error", "io error: Connection refused (os error 111)")
    assert _missing(refused["src.workload"])
    assert (failed["level"], failed["message"], failed["dst.addr"]) == (
        "warn", "connection failed", "10.96.45.123:8000")
    assert (http["target"], http["message"], http["path"], http["user_agent"]) == (
        "http access", "request complete", '/anything/"quoted"', "curl/8.7.1 (x86_64; linux)")
    assert int(http["response_code"]) == 503


@pytest.mark.parametrize("outcome", [200, 500, Failure.CONNECTION_TERMINATION, Failure.CONNECT_FAILURE,
                                     Failure.TIMEOUT, None])
def test_envoy_lines_round_trip_through_parse_envoy(outcome: object) -> None:
    """R7.1-R7.4/log-formats §2: every response kind's waypoint line parses back field by field."""
    status, row = response_for(outcome)  # type: ignore[arg-type]
    rec = EnvoyRecord(start_time=T, method="GET", path="/hostname", protocol="HTTP/1.1", response_code=status,
                      response_flags=row.flags, response_code_details=row.details,
                      upstream_transport_failure_reason=row.transport_failure or None, bytes_received=0,
                      bytes_sent=len(row.body) or 32, duration=3,
                      upstream_service_time=2 if row.status is None else None,
                      x_forwarded_for="10.244.0.1", user_agent="Mozilla/5.0 (X11; Linux x86_64)", request_id="abc-1",
                      authority="httpbin.example.com",
                      upstream_host=connect_originate("10.244.2.7", 8080) if row.upstream_host_known else None,
                      upstream_cluster=WP_CLUSTER, upstream_local_address=INTERNAL_CLIENT_ADDRESS,
                      downstream_local_address="10.96.45.123:8000", downstream_remote_address="10.244.1.6:0",
                      route_name="default")
    df = logs.parse_envoy(envoy_line(rec) + "\n")
    assert len(df) == 1 and df.attrs["skipped"] == 0
    parsed = df.iloc[0].to_dict()
    for f in dataclasses.fields(EnvoyRecord):
        want, got = getattr(rec, f.name), parsed[f.name]
        if f.name == "start_time":
            assert got == pd.Timestamp(int(T * 1000), unit="ms", tz="UTC"), f.name
        elif want is None or want == "-":
            assert _missing(got), f.name
        else:
            assert got == want, f.name
