"""parse_ztunnel: real-format ztunnel lines (log-formats.md §1, §3, §4), every column value asserted."""

from __future__ import annotations

import gzip
import random

import pandas as pd
import pytest

from ambient_lb.logs import chunks, parse_ztunnel, scanner, ztunnel

pytestmark = pytest.mark.usefixtures("engine")  # each test with the compiled scanner and without

# The guide's step 2 example output, exactly as the guide text has it: tabs turned into spaces and the two
# records joined on one line (guide 01, "Check the logs of that ztunnel instance").
GUIDE_STEP2 = (
    '2025-03-19T17:32:42.762545Z info http access request complete src.addr=10.0.71.117:42468 '
    'src.workload="http-9db6c8995-l54dw" src.namespace="kgateway-system" '
    'src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http" dst.addr=10.0.65.144:15008 '
    'dst.hbone_addr=10.0.65.144:8080 dst.service="in-ambient.httpbin.svc.cluster.local" '
    'dst.workload="in-ambient-7d8f9b6c54-abc12" dst.namespace="httpbin" '
    'dst.identity="spiffe://cluster.local/ns/httpbin/sa/in-ambient" direction="inbound" method=GET '
    'path="/headers" protocol=HTTP1 response_code=200 host="www.example.com:8080" user_agent="curl/8.7.1" '
    'request_id="4c5fc679-c5cd-4721-8735-51bcdbea6e0f" duration="0ms" 2025-03-19T17:32:46.810472Z info access '
    'connection complete src.addr=10.0.71.117:42468 src.workload="http-9db6c8995-l54dw" '
    'src.namespace="kgateway-system" src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http" '
    'dst.addr=10.0.65.144:15008 dst.hbone_addr=10.0.65.144:8080 dst.service="in-ambient.httpbin.svc.cluster.local" '
    'dst.workload="in-ambient-7d8f9b6c54-abc12" dst.namespace="httpbin" '
    'dst.identity="spiffe://cluster.local/ns/httpbin/sa/in-ambient" direction="inbound" bytes_sent=1290 '
    'bytes_recv=550 duration="6742ms"'
)
COMMON = {
    "src.addr": "10.0.71.117:42468",
    "src.workload": "http-9db6c8995-l54dw",
    "src.namespace": "kgateway-system",
    "src.identity": "spiffe://cluster.local/ns/kgateway-system/sa/http",
    "dst.addr": "10.0.65.144:15008",
    "dst.hbone_addr": "10.0.65.144:8080",
    "dst.service": "in-ambient.httpbin.svc.cluster.local",
    "dst.workload": "in-ambient-7d8f9b6c54-abc12",
    "dst.namespace": "httpbin",
    "dst.identity": "spiffe://cluster.local/ns/httpbin/sa/in-ambient",
    "direction": "inbound",
}
HTTP_ACCESS = {
    "timestamp": pd.Timestamp("2025-03-19T17:32:42.762545Z"),
    "level": "info", "target": "http access", "message": "request complete", **COMMON,
    "method": "GET", "path": "/headers", "protocol": "HTTP1", "response_code": 200, "host": "www.example.com:8080",
    "user_agent": "curl/8.7.1", "request_id": "4c5fc679-c5cd-4721-8735-51bcdbea6e0f", "duration": "0ms",
    "duration_ms": 0,
}  # fmt: skip
CONNECTION = {
    "timestamp": pd.Timestamp("2025-03-19T17:32:46.810472Z"),
    "level": "info", "target": "access", "message": "connection complete", **COMMON,
    "bytes_sent": 1290, "bytes_recv": 550, "duration": "6742ms", "duration_ms": 6742,
}  # fmt: skip
FIELDS_TAB = GUIDE_STEP2.split(" 2025-03-19T17:32:46.810472Z info access connection complete ")[1]
TABBED = f"2025-03-19T17:32:46.810472Z\tinfo\taccess\tconnection complete\t{FIELDS_TAB}"


def row(df: pd.DataFrame, i: int) -> dict:
    """Row i without NA cells, as plain Python values."""
    return {k: v for k, v in df.iloc[i].items() if not (v is None or (pd.api.types.is_scalar(v) and pd.isna(v)))}


def test_guide_step2_example_gives_two_records_with_every_value():
    df = parse_ztunnel(GUIDE_STEP2)
    assert len(df) == 2 and df.attrs["skipped"] == 0
    assert row(df, 0) == HTTP_ACCESS
    assert row(df, 1) == CONNECTION


def test_columns_follow_ztunnel_field_order_and_types():
    df = parse_ztunnel(GUIDE_STEP2)
    assert list(df.columns[:6]) == ["timestamp", "level", "target", "message", "src.addr", "src.workload"]
    assert list(df.columns).index("duration_ms") == list(df.columns).index("duration") + 1
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(df["bytes_sent"].dtype) == "Int64" and str(df["duration_ms"].dtype) == "Int64"
    assert df["bytes_sent"].isna().tolist() == [True, False]  # a key the record lacks is NA
    assert df["method"].isna().tolist() == [False, True]


def test_tab_separated_line_as_ztunnel_writes_it():
    df = parse_ztunnel(TABBED)
    assert row(df, 0) == CONNECTION


def test_tabs_turned_into_runs_of_spaces_parse_the_same():
    df = parse_ztunnel(TABBED.replace("\t", "    "))
    assert row(df, 0) == CONNECTION


def test_error_record_keeps_error_text_with_spaces_colons_and_parens():
    fields = FIELDS_TAB.replace("bytes_sent=1290", "bytes_sent=0")
    line = (f"2025-03-19T17:33:00.000001Z\terror\taccess\tconnection complete\t{fields}"
            ' error="io error: Connection refused (os error 111)"')
    df = parse_ztunnel(line)
    assert df.loc[0, "level"] == "error"
    assert df.loc[0, "error"] == "io error: Connection refused (os error 111)"
    assert df.loc[0, "bytes_sent"] == 0


def test_escaped_quotes_and_backslashes_are_undone():
    line = ('2025-03-19T17:33:00.000001Z\terror\taccess\tconnection complete\tsrc.addr=10.0.0.1:1 direction="inbound" '
            r'error="http status: 503 \"Service Unavailable\" at C:\\path\ttab \u{1f600}"')
    df = parse_ztunnel(line)
    assert df.loc[0, "error"] == 'http status: 503 "Service Unavailable" at C:\\path\ttab \U0001f600'


def test_connection_failed_warn_has_only_four_fields():
    line = ('2025-03-19T17:33:01.123456Z\twarn\taccess\tconnection failed\tsrc.addr=10.0.71.117:5000 '
            'dst.addr=10.0.65.144:15008 direction="inbound" '
            'error="connection closed due to policy rejection: allow policies exist, but none allowed"')
    df = parse_ztunnel(line)
    assert row(df, 0) == {
        "timestamp": pd.Timestamp("2025-03-19T17:33:01.123456Z"), "level": "warn", "target": "access",
        "message": "connection failed", "src.addr": "10.0.71.117:5000", "dst.addr": "10.0.65.144:15008",
        "direction": "inbound",
        "error": "connection closed due to policy rejection: allow policies exist, but none allowed",
    }  # fmt: skip


def test_plaintext_peer_has_no_identity_columns():
    line = ('2025-03-19T17:33:02.000000Z\tinfo\taccess\tconnection complete\tsrc.addr=10.0.9.9:3333 '
            'dst.addr=10.0.65.144:8080 dst.workload="in-ambient-7d8f9b6c54-abc12" direction="inbound" '
            'bytes_sent=1 bytes_recv=2 duration="3ms"')
    df = parse_ztunnel(line)
    assert "src.identity" not in df.columns and "dst.identity" not in df.columns
    assert df.loc[0, "duration_ms"] == 3


def test_unknown_keys_booleans_and_negative_integers_are_typed():
    line = ('2025-03-19T17:33:03.000000Z\tinfo\taccess\tconnection complete\tsrc.addr=[fd00::1]:80 '
            'transparent=true retries=-2 note="x=y z" direction="outbound"')
    df = parse_ztunnel(line)
    assert row(df, 0)["src.addr"] == "[fd00::1]:80"
    assert df.loc[0, "transparent"] is True or df.loc[0, "transparent"] == True  # noqa: E712  (pandas boolean)
    assert str(df["transparent"].dtype) == "boolean"
    assert df.loc[0, "retries"] == -2 and str(df["retries"].dtype) == "Int64"
    assert df.loc[0, "note"] == "x=y z"


def test_istio_1_22_unquoted_values_and_unquoted_error_with_spaces():
    """Before 718f6f01 / d7b0d100 (§1.3) workload names and errors were bare; error could contain spaces."""
    line = ("2024-05-20T10:00:00.000001Z\twarn\taccess\tconnection failed\tsrc.addr=10.0.0.5:4444 "
            "src.workload=productpage-v1-87d54dd59-fzflt dst.addr=10.96.69.42:80 direction=outbound "
            "error=no healthy upstream: 10.96.69.42:80")
    df = parse_ztunnel(line)
    assert df.loc[0, "src.workload"] == "productpage-v1-87d54dd59-fzflt"
    assert df.loc[0, "error"] == "no healthy upstream: 10.96.69.42:80"
    assert df.loc[0, "direction"] == "outbound"


@pytest.mark.parametrize(
    "prefix, extra",
    [
        ("2025-01-30T12:10:13.682034460Z ", {"log_time": pd.Timestamp("2025-01-30T12:10:13.682034460Z")}),
        ("[pod/ztunnel-qfrmt/istio-proxy] ", {"log_pod": "ztunnel-qfrmt", "log_container": "istio-proxy"}),
        ("ztunnel-qfrmt istio-proxy ", {"log_pod": "ztunnel-qfrmt", "log_container": "istio-proxy"}),
        ("2024-10-29T17:39:45.936Z | ", {"log_time": pd.Timestamp("2024-10-29T17:39:45.936Z")}),
        ("[pod/ztunnel-qfrmt/istio-proxy] 2025-01-30T12:10:13.682034460Z ",
         {"log_pod": "ztunnel-qfrmt", "log_container": "istio-proxy",
          "log_time": pd.Timestamp("2025-01-30T12:10:13.682034460Z")}),
    ],
)  # fmt: skip
def test_kubectl_stern_and_viewer_prefixes_become_columns(prefix, extra):
    df = parse_ztunnel([prefix + TABBED, prefix + TABBED])
    assert len(df) == 2
    assert row(df, 1) == {**CONNECTION, **extra}


def test_json_format_records():
    line = ('{"level":"info","time":"2025-03-19T17:32:46.810472Z","scope":"access","message":"connection complete",'
            '"src.addr":"10.0.71.117:42468","src.identity":"spiffe://cluster.local/ns/kgateway-system/sa/http",'
            '"dst.workload":"in-ambient-7d8f9b6c54-abc12","direction":"inbound","bytes_sent":1290,"bytes_recv":550,'
            '"duration":"6742ms"}')
    other = '{"level":"info","time":"2025-03-19T17:32:46.810472Z","scope":"ztunnel::state","message":"updated"}'
    df = parse_ztunnel([line, other])
    assert row(df, 0) == {
        "timestamp": pd.Timestamp("2025-03-19T17:32:46.810472Z"), "level": "info", "target": "access",
        "message": "connection complete", "src.addr": "10.0.71.117:42468",
        "src.identity": "spiffe://cluster.local/ns/kgateway-system/sa/http",
        "dst.workload": "in-ambient-7d8f9b6c54-abc12", "direction": "inbound", "bytes_sent": 1290,
        "bytes_recv": 550, "duration": "6742ms", "duration_ms": 6742,
    }  # fmt: skip
    assert df.attrs["skipped"] == 1
    assert "scope 'ztunnel::state'" in df.attrs["skipped_examples"][0]["reason"]


def test_non_access_lines_are_skipped_and_counted_with_reasons():
    text = "\n".join([
        "2025-03-19T17:30:00.000001Z\tinfo\txds::client:xds{id=2}\treceived response\ttype_url=\"x\" size=3",
        "2025-03-19T17:30:00.000002Z\twarn\thyper_util\tping error: broken pipe\t",
        "Error: unexpected end of file",
        "",
        TABBED,
        "2025-03-19T17:30:00.000003Z  INFO ztunnel::proxy::inbound: listener established address=[::]:15008",
    ])  # fmt: skip
    df = parse_ztunnel(text)
    assert len(df) == 1 and df.attrs["skipped"] == 4
    reasons = [e["reason"] for e in df.attrs["skipped_examples"]]
    assert reasons[0] == "not an access-log record (target 'xds::client:xds{id=2}')"
    assert reasons[1] == "not an access-log record (target 'hyper_util')"
    assert reasons[2].startswith("not a ztunnel log record")
    assert [e["line"] for e in df.attrs["skipped_examples"]] == [1, 2, 3, 6]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ('src.addr=10.0.0.1:1 src.workload="unterminated',
         "unterminated or malformed quoted value for key 'src.workload'"),
        ('src.addr=10.0.0.1:1 src.addr=10.0.0.2:2', "key 'src.addr' appears twice"),
        ('src.workload="a"junk direction="inbound"', "unterminated or malformed quoted value for key 'src.workload'"),
        ('"orphan" src.addr=1', "expected key=value at character 0"),
    ],
)
def test_malformed_fields_are_skipped_never_half_parsed(fields, reason):
    df = parse_ztunnel(f"2025-03-19T17:30:00.000001Z\tinfo\taccess\tconnection complete\t{fields}")
    assert len(df) == 0 and df.attrs["skipped"] == 1
    assert df.attrs["skipped_examples"][0]["reason"].startswith(reason)
    assert list(df.columns) == ["timestamp", "level", "target", "message"]


def test_sources_path_gzip_file_object_and_lines_agree(tmp_path):
    text = "\n".join([TABBED, GUIDE_STEP2, "noise"]) + "\n"
    plain, gz = tmp_path / "zt.log", tmp_path / "zt.log.gz"
    plain.write_text(text)
    gz.write_bytes(gzip.compress(text.encode()))
    frames = [parse_ztunnel(text), parse_ztunnel(plain), parse_ztunnel(str(gz)), parse_ztunnel(text.splitlines()),
              parse_ztunnel(open(plain)), parse_ztunnel(text.encode())]  # fmt: skip
    for df in frames[1:]:
        pd.testing.assert_frame_equal(df, frames[0])
        assert df.attrs["skipped"] == 1


def test_bad_source_type_says_what_to_pass():
    with pytest.raises(TypeError, match="log source must be text"):
        parse_ztunnel(42)


def _random_line(rng: random.Random, i: int) -> str:
    pods = ["in-ambient-7d8f9b6c54-abc12", "in-ambient-7d8f9b6c54-def34"]
    sep = rng.choice(["\t", "\t", "  ", " "])
    head = f"2025-03-19T17:32:{i % 60:02d}.{i:06d}Z{sep}{rng.choice(['info', 'error', 'debug'])}{sep}"
    fields = [f"src.addr=10.0.0.{i % 250}:{1000 + i}"]
    if rng.random() < 0.8:
        fields.append('src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http"')
    fields.append(f'dst.workload="{rng.choice(pods)}"')
    if rng.random() < 0.1:
        fields.append(f"odd={rng.choice(['123', 'true', 'abc', '-7'])}")
    fields.append(f'direction="{rng.choice(["inbound", "outbound"])}"')
    if rng.random() < 0.5:
        fields += [f"bytes_sent={rng.randrange(5000)}", f"bytes_recv={rng.randrange(500)}",
                   f'duration="{rng.randrange(99)}ms"']
    if rng.random() < 0.1:
        fields.append(rng.choice(['error="a \\"quoted\\" word"', 'error="plain failure"', 'error=""']))
    prefix = rng.choice(["", "", "[pod/ztunnel-x/istio-proxy] ", "2025-01-30T12:10:13.682034460Z "])
    if rng.random() < 0.05:
        return prefix + head + "xds::client" + sep + "noise" + sep + "a=1"
    return prefix + head + f"access{sep}connection complete{sep}" + " ".join(fields)


def test_fast_path_and_line_by_line_parser_give_identical_rows(monkeypatch):
    rng = random.Random(7)
    lines = [_random_line(rng, i) for i in range(3000)]
    slow_calls = []
    real_slow = ztunnel._zt_slow
    monkeypatch.setattr(ztunnel, "_zt_slow", lambda line: slow_calls.append(line) or real_slow(line))
    fast = parse_ztunnel(lines)
    # The patch is live: the line parser is asked for the skipped lines' reasons at least. Most rows came
    # through the fast paths (the compiled scanner; without it the shape regexes, which take at most 16
    # shapes a chunk, so this many-shaped corpus leaves about 45% of its lines to the line parser).
    assert 0 < len(slow_calls) < len(lines) // 2
    slow_records = []
    for line in lines:
        try:
            slow_records.extend(ztunnel._zt_slow(line))
        except chunks.Skip:
            pass
    assert len(fast) == len(slow_records) and fast.attrs["skipped"] == len(lines) - len(slow_records)
    for i in range(0, len(fast), 37):
        expected = {k: v for k, v in slow_records[i].items() if v is not None}
        got = row(fast, i)
        for key in ("timestamp", "log_time"):
            if key in expected:
                expected[key] = pd.Timestamp(expected[key])
        assert got == expected, i


def test_chunk_boundaries_do_not_change_the_result(monkeypatch):
    rng = random.Random(3)
    lines = [_random_line(rng, i) for i in range(500)]
    whole = parse_ztunnel(lines)
    monkeypatch.setattr(chunks, "CHUNK_LINES", 64)
    chunked = parse_ztunnel(lines)
    pd.testing.assert_frame_equal(whole, chunked)


def _uniform_line(rng: random.Random, i: int) -> str:
    """Lines of a few fixed shapes with varied values: what a real ztunnel log mostly looks like."""
    pod = rng.choice(["in-ambient-7d8f9b6c54-abc12", "in-ambient-7d8f9b6c54-def34"])
    ts = f"2025-03-19T17:{i // 60 % 60:02d}:{i % 60:02d}.{rng.randrange(10**6):06d}Z"
    body = FIELDS_TAB.replace("in-ambient-7d8f9b6c54-abc12", pod).replace("42468", str(rng.randrange(1, 65535)))
    body = body.replace("bytes_sent=1290", f"bytes_sent={rng.randrange(10**6)}")
    body = body.replace("6742ms", f"{rng.randrange(9999)}ms")
    kind = rng.randrange(4)
    if kind == 0:
        return f"{ts}\tinfo\taccess\tconnection complete\t{body}"
    if kind == 1:  # a pasted copy: same shape, spaces instead of tabs
        return f"{ts}  info  access  connection complete  {body}"
    if kind == 2:
        return f'{ts}\terror\taccess\tconnection complete\t{body} error="io error: Connection refused (os error 111)"'
    return (f'{ts}\tinfo\thttp access\trequest complete\tsrc.addr=10.0.71.117:{rng.randrange(1, 65535)} '
            f'dst.workload="{pod}" direction="inbound" method=GET path="/hostname" protocol=HTTP1 '
            f'response_code={rng.choice([200, 503])} request_id="{rng.getrandbits(40):x}" '
            f'duration="{rng.randrange(50)}ms"')


def test_split_fast_path_gives_the_same_rows_as_the_line_parser(monkeypatch):
    monkeypatch.setattr(scanner, "compiled", None)  # the Python tier's own fast path, as used without a compiler
    rng = random.Random(5)
    lines = [_uniform_line(rng, i) for i in range(1200)]
    split_rows = []
    real_split = ztunnel._zt_split
    monkeypatch.setattr(ztunnel, "_zt_split",
                        lambda s, ls, q: (r := real_split(s, ls, q)) is not None and split_rows.append(len(ls)) or r)
    fast = parse_ztunnel(lines)
    assert sum(split_rows) == len(lines)  # every line went through the split path
    expected = [r for line in lines for r in ztunnel._zt_slow(line)]
    assert len(fast) == len(expected)
    for i in range(len(fast)):
        want = {k: (pd.Timestamp(v) if k == "timestamp" else v) for k, v in expected[i].items()}
        assert row(fast, i) == want, i


def test_crlf_line_endings_and_2024_quoted_hbone_addr():
    """Before fc3ee402 (2024-04-22) dst.hbone_addr was quoted (§1.3); it stays the same text."""
    old = TABBED.replace("dst.hbone_addr=10.0.65.144:8080", 'dst.hbone_addr="10.0.65.144:8080"')
    df = parse_ztunnel(TABBED + "\r\n" + old + "\r\n")
    assert len(df) == 2 and df.attrs["skipped"] == 0
    assert df["dst.hbone_addr"].tolist() == ["10.0.65.144:8080"] * 2
    assert df["duration"].tolist() == ["6742ms"] * 2
