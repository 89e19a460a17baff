"""Log shapes met in the wild (issue 12, item 6; log-formats.md §2.1, §2.2, §3; semantics addendum §17).

ztunnel lines whose tabs became spaces (copied from docs and chat), a viewer's bare container-name prefix,
the 2022 ambient preview's Envoy lines with a label after ROUTE_NAME (``trailing``), and Istio 1.1-1.7's
Mixer-status layout (``istio_policy_status``). Every test runs with the compiled scanner and without it
(the ``engine`` fixture); the example lines are shaped as the public sources show them, values our own.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ambient_lb.logs import ENVOY_COLUMNS, envoy, parse_envoy, parse_ztunnel

from .test_envoy import GUIDE_STEP3_AS_PRINTED, expect, values
from .test_ztunnel import CONNECTION, TABBED, row

pytestmark = pytest.mark.usefixtures("engine")

# ---------------------------------------------------------------------------------------------------------
# ztunnel: tabs turned into spaces
# ---------------------------------------------------------------------------------------------------------

_HEAD = "2025-03-19T17:32:46.810472Z\tinfo\taccess\tconnection complete\t"
COPIES = {
    "one space for each tab": TABBED.replace("\t", " "),
    "tab stops expanded (a terminal copy)": _HEAD.expandtabs(8) + TABBED[len(_HEAD):],
    "runs of four spaces (a chat paste)": TABBED.replace("\t", "    "),
    "first tabs kept, later ones turned into spaces": TABBED.replace("\t", "   ").replace("   ", "\t", 2),
}


@pytest.mark.parametrize("copy", list(COPIES), ids=list(COPIES))
def test_a_ztunnel_line_whose_tabs_became_spaces_parses_like_the_original(copy):
    df = parse_ztunnel([COPIES[copy], TABBED])
    assert len(df) == 2 and df.attrs["skipped"] == 0, df.attrs["skipped_examples"]
    assert row(df, 0) == CONNECTION == row(df, 1)  # every column: target, message, each key, duration_ms


def test_a_solo_http_access_line_copied_with_spaces_keeps_its_two_word_target():
    line = ('2025-03-19T17:32:42.762545Z    info    http access    request complete    src.addr=10.0.71.117:42468 '
            'dst.workload="in-ambient-7d8f9b6c54-abc12" direction="inbound" method=GET path="/hostname" '
            'protocol=HTTP1 response_code=503 duration="2ms"')  # fmt: skip
    assert row(parse_ztunnel(line), 0) == {
        "timestamp": pd.Timestamp("2025-03-19T17:32:42.762545Z"), "level": "info", "target": "http access",
        "message": "request complete", "src.addr": "10.0.71.117:42468", "dst.workload": "in-ambient-7d8f9b6c54-abc12",
        "direction": "inbound", "method": "GET", "path": "/hostname", "protocol": "HTTP1", "response_code": 503,
        "duration": "2ms", "duration_ms": 2,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# A log viewer's bare container-name prefix
# ---------------------------------------------------------------------------------------------------------


def test_a_bare_container_name_prefix_becomes_log_container_with_no_pod():
    df = parse_ztunnel(["istio-proxy " + TABBED, "istio-proxy 2025-01-30T12:10:13.682034460Z " + TABBED])
    assert df.attrs["skipped"] == 0
    assert row(df, 0) == {**CONNECTION, "log_container": "istio-proxy"}
    assert row(df, 1) == {**CONNECTION, "log_container": "istio-proxy",
                          "log_time": pd.Timestamp("2025-01-30T12:10:13.682034460Z")}  # fmt: skip
    assert "log_pod" not in df.columns  # no line named a pod: no column, not a column of empty strings


def test_stern_and_bare_container_prefixes_in_one_log_keep_the_pod_only_where_it_was_written():
    lines = ["ztunnel-7xk2p istio-proxy " + TABBED] * 3 + ["istio-proxy " + TABBED] * 3
    df = parse_ztunnel(lines)
    assert df["log_pod"].tolist()[:3] == ["ztunnel-7xk2p"] * 3 and df["log_pod"].isna().tolist()[3:] == [True] * 3
    assert df["log_container"].tolist() == ["istio-proxy"] * 6
    assert [row(df, i) for i in range(6)] == (
        [{**CONNECTION, "log_pod": "ztunnel-7xk2p", "log_container": "istio-proxy"}] * 3
        + [{**CONNECTION, "log_container": "istio-proxy"}] * 3)  # fmt: skip


def test_an_envoy_line_with_a_bare_container_name_prefix():
    df = parse_envoy(["istio-proxy " + PREVIEW_OUTBOUND, PREVIEW_OUTBOUND])
    first, second = values(df, 0), values(df, 1)
    assert (first.pop("log_container"), second.pop("log_container")) == ("istio-proxy", None)
    assert first == second and first["trailing"] == "capture outbound (no waypoint proxy)"
    assert "log_pod" not in df.columns


# ---------------------------------------------------------------------------------------------------------
# Envoy: the 2022 ambient preview (text after ROUTE_NAME)
# ---------------------------------------------------------------------------------------------------------

# Shaped as the preview's Envoy-based ztunnel wrote them (EnvoyTextLogFormat + a listener label); TCP through
# the outbound capture listener, and the CONNECT tunnel terminated by the destination node's ztunnel.
PREVIEW_OUTBOUND = (
    '[2022-09-10T10:12:33.041Z] "- - -" 0 - - - "-" 84 1839 2 - "-" "-" "-" "-" '
    '"envoy://outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep/10.244.2.9:9080" '
    "spiffe://cluster.local/ns/default/sa/sleep_to_http_productpage.default.svc.cluster.local_outbound_internal "
    "envoy://internal_client_address/ 10.96.250.29:9080 10.244.1.5:45176 - - capture outbound (no waypoint proxy)"
)
PREVIEW_INBOUND = (
    '[2022-09-10T10:18:23.497Z] "CONNECT - HTTP/2" 200 - via_upstream - "-" 84 1839 2 - "-" "-" '
    '"6300b128-3a4d-472e-b573-e14743b6c981" "10.244.2.9:9080" "10.244.2.9:9080" virtual_inbound '
    "10.244.1.3:48053 10.244.2.9:15008 10.244.1.3:36748 - - inbound hcm"
)


def test_ambient_preview_2022_lines_keep_the_listener_label_as_trailing():
    df = parse_envoy([PREVIEW_OUTBOUND, PREVIEW_INBOUND])
    assert df.attrs["skipped"] == 0 and list(df.columns) == [*ENVOY_COLUMNS, "trailing"]
    assert values(df, 0) == expect(
        start_time=pd.Timestamp("2022-09-10T10:12:33.041Z"), response_code=0, bytes_received=84, bytes_sent=1839,
        duration=2, upstream_host="envoy://outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep/10.244.2.9:9080",
        upstream_cluster="spiffe://cluster.local/ns/default/sa/sleep_to_http_productpage.default.svc.cluster.local_outbound_internal",
        upstream_local_address="envoy://internal_client_address/", downstream_local_address="10.96.250.29:9080",
        downstream_remote_address="10.244.1.5:45176", trailing="capture outbound (no waypoint proxy)",
    )  # fmt: skip
    assert values(df, 1) == expect(
        start_time=pd.Timestamp("2022-09-10T10:18:23.497Z"), method="CONNECT", protocol="HTTP/2", response_code=200,
        response_code_details="via_upstream", bytes_received=84, bytes_sent=1839, duration=2,
        request_id="6300b128-3a4d-472e-b573-e14743b6c981", authority="10.244.2.9:9080", upstream_host="10.244.2.9:9080",
        upstream_cluster="virtual_inbound", upstream_local_address="10.244.1.3:48053",
        downstream_local_address="10.244.2.9:15008", downstream_remote_address="10.244.1.3:36748",
        trailing="inbound hcm",
    )  # fmt: skip


def test_current_lines_beside_preview_lines_have_na_trailing():
    from .test_envoy import GUIDE_STEP3

    df = parse_envoy([GUIDE_STEP3, PREVIEW_INBOUND, GUIDE_STEP3])
    assert df["trailing"].isna().tolist() == [True, False, True]
    assert df["route_name"].tolist()[0] == "default" and pd.isna(df["route_name"][1])


def test_prose_glued_after_the_route_is_no_preview_label_and_stays_skipped():
    """The guide's waypoint line runs into its next sentence ('- defaultSend multiple requests ... waypoint.'):
    reading that as route 'defaultSend' plus a label would invent a route; the line is skipped with the reason."""
    df = parse_envoy([GUIDE_STEP3_AS_PRINTED, PREVIEW_INBOUND + ". Then", PREVIEW_INBOUND + " Next step"])
    assert len(df) == 0 and df.attrs["skipped"] == 3
    assert all(e["reason"].startswith("does not match any known Istio access-log layout")
               for e in df.attrs["skipped_examples"])


# ---------------------------------------------------------------------------------------------------------
# Envoy: Istio 1.1-1.7's Mixer policy status
# ---------------------------------------------------------------------------------------------------------

# 1.3-1.7: a request Mixer's denier refused (UAEX, 403), route name last; 1.1-1.3: no route name, an old
# Envoy's transport failure reason with spaces in the second quoted field.
MIXER_1_3 = (
    '[2019-09-12T08:30:11.137Z] "GET /productpage HTTP/1.1" 403 UAEX '
    '"PERMISSION_DENIED:denyproductpage.denier.default:Not allowed" "-" 0 0 3 - "10.244.0.1" "curl/7.58.0" '
    '"8d6f1f3c-1b2e-4a6b-b6a4-1c2e3f4a5b6c" "192.168.99.100:31380" "-" - - 10.244.0.9:80 10.244.0.1:0 - -'
)
MIXER_1_1 = (
    '[2019-05-01T10:00:00.000Z] "GET /ip HTTP/1.1" 503 UF "-" "TLS error: 268436501:SSL routines" 0 91 4 - "-" '
    '"curl/7.60.0" "r-11" "httpbin.foo:8000" "10.1.2.7:80" outbound|8000||httpbin.foo.svc.cluster.local - '
    "10.96.7.7:8000 10.1.2.4:46852 -"
)


def mixer_columns(df: pd.DataFrame) -> tuple[dict, dict]:
    return values(df, 0), values(df, 1)


def assert_mixer_rows(first: dict, second: dict) -> None:
    assert first == expect(
        start_time=pd.Timestamp("2019-09-12T08:30:11.137Z"), method="GET", path="/productpage", protocol="HTTP/1.1",
        response_code=403, response_flags="UAEX", bytes_received=0, bytes_sent=0, duration=3,
        x_forwarded_for="10.244.0.1", user_agent="curl/7.58.0", request_id="8d6f1f3c-1b2e-4a6b-b6a4-1c2e3f4a5b6c",
        authority="192.168.99.100:31380", downstream_local_address="10.244.0.9:80",
        downstream_remote_address="10.244.0.1:0",
        istio_policy_status="PERMISSION_DENIED:denyproductpage.denier.default:Not allowed",
    )  # fmt: skip
    assert second == expect(
        start_time=pd.Timestamp("2019-05-01T10:00:00.000Z"), method="GET", path="/ip", protocol="HTTP/1.1",
        response_code=503, response_flags="UF", upstream_transport_failure_reason="TLS error: 268436501:SSL routines",
        bytes_received=0, bytes_sent=91, duration=4, user_agent="curl/7.60.0", request_id="r-11",
        authority="httpbin.foo:8000", upstream_host="10.1.2.7:80",
        upstream_cluster="outbound|8000||httpbin.foo.svc.cluster.local", downstream_local_address="10.96.7.7:8000",
        downstream_remote_address="10.1.2.4:46852", istio_policy_status=None,
    )  # fmt: skip


def test_mixer_status_layouts_keep_istio_policy_status_in_its_own_column():
    df = parse_envoy([MIXER_1_3, MIXER_1_1])
    assert df.attrs["skipped"] == 0 and list(df.columns) == [*ENVOY_COLUMNS, "istio_policy_status"]
    assert_mixer_rows(*mixer_columns(df))


def test_a_mixer_column_shift_would_be_caught(monkeypatch):
    """Break the layouts on purpose the way a parser that lost track of the Mixer field would (its two quoted
    fields swapped): the rows come out shifted, and the assertions above fail on them."""
    shifted = [(name, *envoy._layout_regex(spec.replace("Q:istio_policy_status Q:upstream_transport_failure_reason",
                                                        "Q:upstream_transport_failure_reason Q:istio_policy_status"),
                                           fast=False))
               for name, spec in envoy.ENVOY_LAYOUTS]  # fmt: skip
    monkeypatch.setattr(envoy, "_ENVOY_SLOW", shifted)
    df = parse_envoy([MIXER_1_3, MIXER_1_1])
    assert len(df) == 2
    with pytest.raises(AssertionError):
        assert_mixer_rows(*mixer_columns(df))


def test_a_mixer_line_that_no_layout_fits_by_shape_is_skipped_never_shifted(monkeypatch):
    """Without the Mixer layouts, the newer layouts do not fit these lines by shape (a quoted field where
    they have a bare one): the lines are skipped with the reason, no row is made with the fields moved."""
    newer = [entry for entry in envoy._ENVOY_SLOW if "1.1" not in entry[0] and "1.3" not in entry[0]]
    monkeypatch.setattr(envoy, "_ENVOY_SLOW", newer)
    without_mixer = MIXER_1_3.replace('"PERMISSION_DENIED:denyproductpage.denier.default:Not allowed" ', "")
    df = parse_envoy([MIXER_1_3, MIXER_1_1, without_mixer])
    assert len(df) == 1 and df.attrs["skipped"] == 2  # the third line, its Mixer field removed, is a 1.8 line
    assert all(e["reason"].startswith("does not match any known Istio access-log layout (20 tokens")
               or e["reason"].startswith("does not match any known Istio access-log layout (19 tokens")
               for e in df.attrs["skipped_examples"])  # fmt: skip
    assert values(df, 0)["response_flags"] == "UAEX" and values(df, 0)["bytes_sent"] == 0
