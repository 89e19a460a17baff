"""Text columns built as Arrow arrays (ambient_lb/logs/chunks.py "Speed") give the same values and types as the line
parser."""

from __future__ import annotations

import pandas as pd
import pytest

from ambient_lb.logs import chunks, parse_envoy, parse_ztunnel, ztunnel

from .test_envoy import GUIDE_STEP3
from .test_ztunnel import TABBED, row

pytestmark = pytest.mark.usefixtures("engine")  # each test with the compiled scanner and without

ESCAPED = TABBED + ' error="http status: 503 \\"Service Unavailable\\""'
HTTP = ('2025-03-19T17:32:42.762545Z\tinfo\thttp access\trequest complete\tsrc.addr=10.0.71.117:42468 '
        'dst.workload="in-ambient-7d8f9b6c54-abc12" direction="inbound" method=GET path="/hostname" '
        'protocol=HTTP1 response_code=200 duration="3ms"')  # fmt: skip


def test_text_columns_have_pandas_str_dtype_in_both_parsers():
    zt, env = parse_ztunnel([TABBED] * 3), parse_envoy([GUIDE_STEP3] * 3)
    for df, col in ((zt, "src.workload"), (zt, "level"), (zt, "message"), (env, "user_agent"), (env, "route_name")):
        assert df[col].dtype == pd.array([], dtype="str").dtype, col
    assert env["x_forwarded_for"].isna().all() and zt["dst.workload"].tolist() == ["in-ambient-7d8f9b6c54-abc12"] * 3


def test_shapes_and_slow_records_merge_in_line_order_with_the_line_parsers_values():
    lines = [TABBED, HTTP, ESCAPED, "noise", HTTP, TABBED, ESCAPED] * 5
    df = parse_ztunnel(lines)
    expected = [r for line in lines if line != "noise" for r in ztunnel._zt_slow(line)]
    assert len(df) == len(expected) == 30 and df.attrs["skipped"] == 5
    for i, want in enumerate(expected):
        want = {k: (pd.Timestamp(v) if k == "timestamp" else v) for k, v in want.items()}
        assert row(df, i) == want, i
    assert df["error"].dropna().unique().tolist() == ['http status: 503 "Service Unavailable"']


def test_a_key_that_is_text_in_one_chunk_and_an_integer_in_another_keeps_each_value_as_logged(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_LINES", 2)
    lines = [TABBED + " odd=abc", TABBED + " odd=abd", TABBED + " odd=123", TABBED + " odd=124"]
    df = parse_ztunnel(lines)
    assert df["odd"].tolist() == ["abc", "abd", 123, 124] and df["odd"].dtype == object
    assert str(df["bytes_sent"].dtype) == "Int64"


def test_envoy_dash_becomes_na_in_arrow_text_columns_and_other_values_stay():
    tcp = ('[2024-09-10T08:00:01.002Z] "- - -" 0 UF,URX - - "delayed_connect_error:_Connection_refused" 0 0 1 - "-" '
           '"-" "-" "-" "-" connect_originate - 10.244.0.7:8080 envoy://internal_client_address/ - -')
    df = parse_envoy([GUIDE_STEP3, tcp] * 50)
    assert df["method"].isna().tolist() == [False, True] * 50 and df["method"][0] == "GET"
    assert df["request_id"][0] == "abc123-def456" and pd.isna(df["request_id"][1])
    assert df["upstream_cluster"][1] == "connect_originate" and pd.isna(df["upstream_host"][1])
    assert pd.isna(df["response_flags"][0]) and df["response_flags"][1] == "UF,URX"
    assert not (df.astype(str) == "-").any().any()
