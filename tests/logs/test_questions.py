"""The guide's questions answered from parsed logs: identities per hop, requests per pod, flags, request joins."""

from __future__ import annotations

import pandas as pd
import pytest

from ambient_lb.logs import (
    identity_hops,
    join_by_request_id,
    parse_envoy,
    parse_ztunnel,
    requests_per_pod,
    response_flags,
    spiffe_id,
    upstream_ip,
)

from .test_envoy import GUIDE_STEP3
from .test_ztunnel import GUIDE_STEP2, TABBED

pytestmark = pytest.mark.usefixtures("engine")  # each test with the compiled scanner and without

GW_SA = "spiffe://cluster.local/ns/kgateway-system/sa/http"
APP_SA = "spiffe://cluster.local/ns/httpbin/sa/in-ambient"


def test_spiffe_id_and_bad_parts():
    assert spiffe_id("httpbin", "in-ambient") == APP_SA
    with pytest.raises(ValueError, match="namespace must be a non-empty name"):
        spiffe_id("", "x")


def test_identity_hops_match_the_expected_service_accounts():
    plaintext = TABBED.replace(f' src.identity="{GW_SA}"', "").replace(f' dst.identity="{APP_SA}"', "")
    zt = parse_ztunnel([GUIDE_STEP2, plaintext])
    hops = identity_hops(zt, expected_src=spiffe_id("kgateway-system", "http"), expected_dst=APP_SA)
    first, second = hops.iloc[0], hops.iloc[1]
    assert (first["src.identity"], first["dst.identity"], first["records"]) == (GW_SA, APP_SA, 2)
    assert bool(first["mtls"]) and bool(first["src_ok"]) and bool(first["dst_ok"])
    assert pd.isna(second["src.identity"]) and second["records"] == 1
    assert not second["mtls"] and not second["src_ok"] and not second["dst_ok"]
    assert first["src.workload"] == "http"


def test_requests_per_pod_from_waypoint_lines_with_pod_names():
    lines = [GUIDE_STEP3.replace('"10.10.0.15:8080"', f'"envoy://connect_originate/10.10.0.{ip}:8080"')
             for ip in (15, 16, 15, 17)]
    lines.append(GUIDE_STEP3.replace('"10.10.0.15:8080"', '"-"'))
    counts = requests_per_pod(parse_envoy(lines), pods={"10.10.0.15": "in-ambient-a", "10.10.0.16": "in-ambient-b"})
    assert counts.to_dict() == {"10.10.0.17": 1, "in-ambient-a": 2, "in-ambient-b": 1}
    assert counts.name == "requests" and counts.index.name == "pod"


def test_requests_per_pod_from_ztunnel_prefers_request_records():
    zt = parse_ztunnel(GUIDE_STEP2)
    assert requests_per_pod(zt).to_dict() == {"in-ambient-7d8f9b6c54-abc12": 1}
    only_connections = parse_ztunnel([TABBED, TABBED.replace("abc12", "def34")])
    assert requests_per_pod(only_connections).to_dict() == {
        "in-ambient-7d8f9b6c54-abc12": 1, "in-ambient-7d8f9b6c54-def34": 1}
    with pytest.raises(ValueError, match="needs a frame from parse_envoy"):
        requests_per_pod(pd.DataFrame({"x": [1]}))


def test_upstream_ip_forms():
    assert upstream_ip("10.1.2.3:80") == "10.1.2.3"
    assert upstream_ip("envoy://connect_originate/10.217.0.82:9080") == "10.217.0.82"
    assert upstream_ip("[fd00::5]:8080") == "fd00::5"
    assert upstream_ip(None) is None and upstream_ip("-") is None


def test_response_flags_split_lists_and_explain():
    lines = [GUIDE_STEP3,
             GUIDE_STEP3.replace(" 200 - via_upstream",
                                 " 503 UC upstream_reset_before_response_started{connection_termination}"),
             GUIDE_STEP3.replace(" 200 - via_upstream", " 503 UF,URX via_upstream")]  # fmt: skip
    flags = response_flags(parse_envoy(lines))
    assert flags[["flag", "lines"]].to_dict("records") == [
        {"flag": "-", "lines": 1}, {"flag": "UC", "lines": 1}, {"flag": "UF", "lines": 1}, {"flag": "URX", "lines": 1},
    ]  # fmt: skip
    assert flags.set_index("flag").at["UC", "meaning"].startswith("upstream connection termination")


def test_join_by_request_id_lines_up_hops_of_one_request():
    rid = "4c5fc679-c5cd-4721-8735-51bcdbea6e0f"
    gw = parse_envoy([GUIDE_STEP3.replace("abc123-def456", rid), GUIDE_STEP3.replace("abc123-def456", "only-gw")])
    wp = parse_envoy(GUIDE_STEP3.replace("abc123-def456", rid))
    zt = parse_ztunnel(GUIDE_STEP2)
    joined = join_by_request_id(gateway=gw, waypoint=wp, ztunnel=zt)
    assert joined["request_id"].tolist() == [rid, "only-gw"]
    assert joined.loc[0, "ztunnel.dst.workload"] == "in-ambient-7d8f9b6c54-abc12"
    assert joined.loc[0, "waypoint.upstream_host"] == "10.10.0.15:8080"
    assert pd.isna(joined.loc[1, "waypoint.upstream_host"]) and pd.isna(joined.loc[1, "ztunnel.dst.workload"])
    with pytest.raises(ValueError, match="has no request_id column"):
        join_by_request_id(gateway=pd.DataFrame({"x": [1]}))
