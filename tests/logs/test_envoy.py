"""parse_envoy: Istio's default Envoy text format and its older layouts (log-formats.md §2), every column asserted."""

from __future__ import annotations

import pandas as pd
import pytest

from ambient_lb.logs import ENVOY_COLUMNS, envoy, parse_envoy

pytestmark = pytest.mark.usefixtures("engine")  # each test with the compiled scanner and without

# The guide's step 3 example (waypoint), as a record. The guide's text glues the next sentence to it:
GUIDE_STEP3 = (
    '[2025-03-06T17:15:23.456Z] "GET /hostname HTTP/1.1" 200 - via_upstream - "-" 0 32 5 4 "-" "curl/7.88.1" '
    '"abc123-def456" "in-ambient.httpbin.svc.cluster.local:8000" "10.10.0.15:8080" '
    "inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local 10.10.0.14:45678 10.96.45.123:8000 "
    "10.10.0.14:45678 - default"
)
GUIDE_STEP3_AS_PRINTED = GUIDE_STEP3 + "Send multiple requests to verify round-robin load balancing at the waypoint."
NA = None


def values(df: pd.DataFrame, i: int = 0) -> dict:
    out = {}
    for k, v in df.iloc[i].items():
        out[k] = None if pd.api.types.is_scalar(v) and pd.isna(v) else v
    return out


def expect(**given) -> dict:
    base = dict.fromkeys(ENVOY_COLUMNS)
    base.update(given)
    return base


def test_guide_step3_waypoint_line_every_column():
    df = parse_envoy(GUIDE_STEP3)
    assert values(df) == expect(
        start_time=pd.Timestamp("2025-03-06T17:15:23.456Z"), method="GET", path="/hostname", protocol="HTTP/1.1",
        response_code=200, response_flags=NA, response_code_details="via_upstream",
        connection_termination_details=NA, upstream_transport_failure_reason=NA, bytes_received=0, bytes_sent=32,
        duration=5, upstream_service_time=4, x_forwarded_for=NA, user_agent="curl/7.88.1", request_id="abc123-def456",
        authority="in-ambient.httpbin.svc.cluster.local:8000", upstream_host="10.10.0.15:8080",
        upstream_cluster="inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local",
        upstream_local_address="10.10.0.14:45678", downstream_local_address="10.96.45.123:8000",
        downstream_remote_address="10.10.0.14:45678", requested_server_name=NA, route_name="default",
    )  # fmt: skip
    assert list(df.columns) == list(ENVOY_COLUMNS)


def test_dtypes_are_typed_and_dash_is_na_never_the_string():
    df = parse_envoy(GUIDE_STEP3)
    for col in ("response_code", "bytes_received", "bytes_sent", "duration", "upstream_service_time"):
        assert str(df[col].dtype) == "Int64", col
    assert str(df["start_time"].dtype) == "datetime64[ns, UTC]"
    assert not (df.astype(str) == "-").any().any()


def test_guide_line_as_printed_is_skipped_not_misread():
    """The guide glues prose to the record ('- defaultSend multiple ...'); a wrong route_name must not appear."""
    df = parse_envoy(GUIDE_STEP3_AS_PRINTED)
    assert len(df) == 0 and df.attrs["skipped"] == 1
    reason = df.attrs["skipped_examples"][0]["reason"]
    assert reason.startswith("does not match any known Istio access-log layout (31 tokens")


def test_tcp_connect_failure_line_from_the_waypoint():
    line = ('[2024-09-10T08:00:01.002Z] "- - -" 0 UF,URX - - "delayed_connect_error:_Connection_refused" 0 0 1 - "-" '
            '"-" "-" "-" "-" connect_originate - 10.244.0.7:8080 envoy://internal_client_address/ - -')
    assert values(parse_envoy(line)) == expect(
        start_time=pd.Timestamp("2024-09-10T08:00:01.002Z"), response_code=0, response_flags="UF,URX",
        upstream_transport_failure_reason="delayed_connect_error:_Connection_refused", bytes_received=0,
        bytes_sent=0, duration=1, upstream_cluster="connect_originate", downstream_local_address="10.244.0.7:8080",
        downstream_remote_address="envoy://internal_client_address/",
    )  # fmt: skip


def test_503_uc_with_braces_in_details_and_envoy_internal_addresses():
    line = ('[2025-03-06T17:16:00.100Z] "GET /hostname HTTP/1.1" 503 UC '
            'upstream_reset_before_response_started{connection_termination} '
            '- "-" 0 95 12 - "10.244.1.1,10.244.1.6" "curl/8.7.1" "r-1" "httpbin.example.com" '
            '"envoy://connect_originate/10.10.0.16:8080" inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local '
            "envoy://internal_client_address/ 10.96.45.123:8000 10.10.0.14:0 - default")
    v = values(parse_envoy(line))
    assert v["response_code"] == 503 and v["response_flags"] == "UC"
    assert v["response_code_details"] == "upstream_reset_before_response_started{connection_termination}"
    assert v["upstream_service_time"] is None and v["x_forwarded_for"] == "10.244.1.1,10.244.1.6"
    assert v["upstream_host"] == "envoy://connect_originate/10.10.0.16:8080"
    assert v["upstream_local_address"] == "envoy://internal_client_address/"
    assert v["downstream_remote_address"] == "10.10.0.14:0"


def test_no_route_line_has_na_upstream():
    line = ('[2025-03-06T17:17:00.000Z] "GET /nope HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "curl/8.7.1" '
            '"r-2" "other.example.com" "-" - - 10.96.45.123:8080 10.244.0.1:51000 - -')
    v = values(parse_envoy(line))
    assert (v["response_code"], v["response_flags"], v["response_code_details"]) == (404, "NR", "route_not_found")
    assert v["upstream_host"] is None and v["upstream_cluster"] is None and v["route_name"] is None


def test_user_agent_with_spaces_and_with_an_unescaped_quote():
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    base = GUIDE_STEP3.replace('"curl/7.88.1"', f'"{ua}"')
    quoted = GUIDE_STEP3.replace('"curl/7.88.1"', '"evil "agent" 1.0"')
    df = parse_envoy([base, quoted])
    assert df["user_agent"].tolist() == [ua, 'evil "agent" 1.0']
    assert df["request_id"].tolist() == ["abc123-def456"] * 2
    assert df["route_name"].tolist() == ["default"] * 2


LAYOUTS = {
    "1.8": ('[2020-11-01T10:00:00.000Z] "GET /status/200 HTTP/1.1" 200 - "-" 0 0 3 2 "-" "curl/7.64.0" "r-18" '
            '"httpbin:8000" "10.1.1.5:80" outbound|8000||httpbin.foo.svc.cluster.local 10.1.1.4:40000 '
            "10.96.0.10:8000 10.1.1.4:39998 - default"),
    "1.3-1.7": ('[2020-03-18T10:00:00.000Z] "GET /productpage HTTP/1.1" 200 - "-" "-" 0 5183 35 34 "10.244.0.1" '
                '"curl/7.58.0" "r-15" "192.168.99.100:31380" "10.244.0.12:9080" '
                "outbound|9080||productpage.default.svc.cluster.local - 10.244.0.9:80 10.244.0.1:0 - -"),
    "1.1-1.3": ('[2019-05-01T10:00:00.000Z] "GET /ip HTTP/1.1" 200 - "-" "TLS error: 268436501:SSL routines" 0 28 4 3 '
                '"-" "curl/7.60.0" "r-11" "httpbin.foo:8000" "127.0.0.1:80" '
                "inbound|8000||httpbin.foo.svc.cluster.local - 10.1.2.3:80 10.1.2.4:46852 "
                "outbound_.8000_._.httpbin.foo.svc.cluster.local"),
    "1.0": ('[2018-09-01T10:00:00.000Z] "GET /ip HTTP/1.1" 200 - 0 28 4 3 "-" "curl/7.60.0" "r-10" "httpbin:8000" '
            '"127.0.0.1:80" inbound|8000||httpbin.foo.svc.cluster.local - 10.1.2.3:80 10.1.2.4:46852 -'),
}


def test_istio_1_8_layout_without_details_columns():
    v = values(parse_envoy(LAYOUTS["1.8"]))
    assert (v["response_code"], v["response_flags"], v["response_code_details"]) == (200, None, None)
    assert (v["bytes_received"], v["bytes_sent"], v["duration"], v["upstream_service_time"]) == (0, 0, 3, 2)
    assert (v["user_agent"], v["request_id"], v["route_name"]) == ("curl/7.64.0", "r-18", "default")
    assert v["upstream_cluster"] == "outbound|8000||httpbin.foo.svc.cluster.local"


def test_istio_1_3_to_1_7_layout_with_mixer_status_is_not_shifted():
    v = values(parse_envoy(LAYOUTS["1.3-1.7"]))
    assert (v["bytes_received"], v["bytes_sent"], v["duration"], v["upstream_service_time"]) == (0, 5183, 35, 34)
    assert (v["x_forwarded_for"], v["user_agent"], v["request_id"]) == ("10.244.0.1", "curl/7.58.0", "r-15")
    assert v["upstream_host"] == "10.244.0.12:9080" and v["downstream_remote_address"] == "10.244.0.1:0"
    assert v["response_code_details"] is None and v["route_name"] is None


def test_istio_1_1_layout_keeps_transport_failure_reason_with_spaces():
    v = values(parse_envoy(LAYOUTS["1.1-1.3"]))
    assert v["upstream_transport_failure_reason"] == "TLS error: 268436501:SSL routines"
    assert v["requested_server_name"] == "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    assert v["route_name"] is None and v["bytes_sent"] == 28


def test_istio_1_0_layout():
    v = values(parse_envoy(LAYOUTS["1.0"]))
    assert (v["response_code"], v["bytes_sent"], v["duration"], v["upstream_service_time"]) == (200, 28, 4, 3)
    assert (v["authority"], v["downstream_remote_address"], v["requested_server_name"]) == (
        "httpbin:8000", "10.1.2.4:46852", None)


def test_line_without_start_time_parses_with_na_start_time():
    v = values(parse_envoy(GUIDE_STEP3.split("] ", 1)[1]))
    assert v["start_time"] is None and v["path"] == "/hostname" and v["route_name"] == "default"


def test_non_access_lines_and_text_after_the_route_that_is_no_preview_label_are_skipped_with_reasons():
    """The third line has text after its route name that is no 2022-preview listener label (it starts with "-")."""
    text = "\n".join([
        "2021-10-01T16:24:29.854584Z\tinfo\tcache\tgenerated new workload certificate\tlatency=112ms",
        "[2021-10-01 16:24:29.854][14][warning][config] gRPC config stream closed",
        GUIDE_STEP3 + " - capture outbound (no waypoint proxy)",
        GUIDE_STEP3,
    ])  # fmt: skip
    df = parse_envoy(text)
    assert len(df) == 1 and df.attrs["skipped"] == 3
    reasons = [e["reason"] for e in df.attrs["skipped_examples"]]
    assert reasons[0].startswith("not an Envoy access-log line")
    assert reasons[1].startswith("not an Envoy access-log line")
    assert reasons[2].startswith("does not match any known Istio access-log layout")


@pytest.mark.parametrize(
    "prefix, extra",
    [
        ("[pod/httpbin-waypoint-5d9f/istio-proxy] ",
         {"log_pod": "httpbin-waypoint-5d9f", "log_container": "istio-proxy"}),
        ("2025-03-06T17:15:23.460123456Z ", {"log_time": pd.Timestamp("2025-03-06T17:15:23.460123456Z")}),
        ("httpbin-waypoint-5d9f istio-proxy ", {"log_pod": "httpbin-waypoint-5d9f", "log_container": "istio-proxy"}),
    ],
)
def test_prefixes_become_columns(prefix, extra):
    df = parse_envoy([GUIDE_STEP3, prefix + GUIDE_STEP3])
    first, second = values(df, 0), values(df, 1)
    assert {k: second[k] for k in extra} == extra
    assert all(first[k] is None for k in extra)
    assert {k: v for k, v in second.items() if k not in extra} == {k: v for k, v in first.items() if k not in extra}


def test_fast_path_and_layout_parser_agree():
    lines = [GUIDE_STEP3.replace("abc123", f"id{i}").replace(" 0 32 5 4 ", f" 0 {i} {i % 7} {'-' if i % 3 else i} ")
             for i in range(200)]  # fmt: skip
    fast = parse_envoy(lines)
    for i in (0, 1, 2, 3, 150):
        slow = envoy._envoy_slow(lines[i])[0]
        expected = {**dict.fromkeys(ENVOY_COLUMNS), **slow, "start_time": pd.Timestamp(slow["start_time"])}
        assert values(fast, i) == expected


def test_empty_input_gives_typed_empty_frame():
    df = parse_envoy("")
    assert list(df.columns) == list(ENVOY_COLUMNS) and len(df) == 0 and df.attrs["skipped"] == 0
    assert str(df["response_code"].dtype) == "Int64"


def test_crlf_line_endings():
    df = parse_envoy(GUIDE_STEP3 + "\r\n" + GUIDE_STEP3 + "\r\n")
    assert df["route_name"].tolist() == ["default", "default"] and df.attrs["skipped"] == 0
