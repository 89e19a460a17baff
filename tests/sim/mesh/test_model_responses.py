"""What the client sees in the model: R7.1–R7.4."""

from __future__ import annotations

import pytest

from ambient_lb.sim.mesh.model import RESPONSES, Failure, Kind, response_for, retry_policy


def test_refused_pod_is_503_uc_with_envoys_reset_body() -> None:
    """R7.1: reset before response → 503, UC, connection_termination details and Envoy's body; not UF."""
    status, row = response_for(Failure.CONNECTION_TERMINATION)
    assert (status, row.flags) == (503, "UC")
    assert row.details == "upstream_reset_before_response_started{connection_termination}"
    assert row.body == ("upstream connect error or disconnect/reset before headers. reset reason: "
                        "connection termination")


def test_no_healthy_upstream_is_503_uh() -> None:
    """R7.3: Envoy with nothing to pick answers 503 UH `no healthy upstream` and logs upstream host '-'."""
    status, row = response_for(None)
    assert (status, row.flags, row.body, row.upstream_host_known) == (503, "UH", "no healthy upstream", False)


@pytest.mark.parametrize("code", [200, 404, 500, 503])
def test_app_status_passes_through_via_upstream(code: int) -> None:
    """R7.4: a status from the app (5xx included) passes unchanged, flag '-', details via_upstream."""
    status, row = response_for(code)
    assert (status, row.flags, row.details) == (code, "-", "via_upstream")


def test_every_row_has_flags_and_details_without_whitespace() -> None:
    """log-formats §2 #4/#5: flags and details are single tokens in the access log."""
    for kind, row in RESPONSES.items():
        assert row.flags and " " not in row.flags and " " not in row.details, kind
    assert RESPONSES[Kind.ROUTE_NOT_FOUND].status == 404


@pytest.mark.parametrize("istio,outcome,retried", [
    ((1, 30), 503, False), ((1, 31), 503, False),
    ((1, 30), Failure.CONNECTION_TERMINATION, False), ((1, 31), Failure.CONNECTION_TERMINATION, False),
    ((1, 30), Failure.CONNECT_FAILURE, True), ((1, 31), Failure.CONNECT_FAILURE, True),
    ((1, 31), Failure.TIMEOUT, False),
])
def test_waypoint_retries_do_not_hide_app_5xx_or_uc(istio: tuple[int, int], outcome: object, retried: bool) -> None:
    """R7.2: app 5xx and UC after the headers left are never retried; connect failures are."""
    assert retry_policy("waypoint", istio).retries(outcome) is retried  # type: ignore[arg-type]


def test_gateway_has_no_retries_and_1_31_uses_previous_hosts() -> None:
    """R7.2: the gateway's HTTPRoute has no retry filter; Istio ≥1.31 waypoints use the mesh default."""
    assert retry_policy("gateway").num_retries == 0
    assert not retry_policy("gateway").retries(Failure.CONNECT_FAILURE)
    p = retry_policy("waypoint", (1, 31))
    assert p.num_retries == 2 and p.previous_hosts and "connect-failure" in p.retry_on
    assert retry_policy("waypoint", (1, 28)).retry_on == ("reset-before-request",)


def test_guide_curl_loop_prints_the_503_body_not_request_failed() -> None:
    """R7.5: `curl -s` exits 0 on a 503, so the loop prints Envoy's body; only a timeout prints the echo."""
    from ambient_lb.sim.mesh.model.responses import curl_loop_prints

    status, row = response_for(Failure.CONNECTION_TERMINATION)
    assert curl_loop_prints(status, row.body).startswith("upstream connect error")
    assert curl_loop_prints(None, "") == "request failed"
