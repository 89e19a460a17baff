"""What the client sees: status, response flags, response-code details and body per outcome kind
(R7.1, R7.3, R7.4), and which attempts the waypoint's default route retries (R7.2).

Who calls it: the integrator's request path turns each hop's result into the HTTP response the
listener sends and into the Envoy access-log fields (``accesslog.EnvoyRecord``). The table
``RESPONSES`` is the single place these strings live.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .hosts import Failure, Outcome


class Kind(enum.Enum):
    """How a request ended, as Envoy's response code details and flags tell it."""

    VIA_UPSTREAM = "via_upstream"
    UPSTREAM_RESET = "upstream_reset"
    CONNECT_FAILURE = "connect_failure"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    NO_HEALTHY_UPSTREAM = "no_healthy_upstream"
    ROUTE_NOT_FOUND = "route_not_found"


@dataclass(frozen=True)
class Response:
    """One row of ``RESPONSES``. ``status`` None = the upstream's own status (R7.4)."""

    status: int | None
    flags: str
    details: str
    body: str
    upstream_host_known: bool  # False → access log prints "-" for UPSTREAM_HOST (log-formats §2 #16)
    transport_failure: str = ""  # UPSTREAM_TRANSPORT_FAILURE_REASON, spaces → '_' (log-formats §2 #7)


#: R7.5: the waypoint's upstream connect timeout; a black-holed pod shows up in the guide's
#: ``curl --max-time 2`` loop as a transport timeout ("request failed"), every 503 above as its body.
WAYPOINT_CONNECT_TIMEOUT = 10.0


def curl_loop_prints(status: int | None, body: str) -> str:
    """R7.5: what ``curl -s … || echo 'request failed'`` prints: the body for any HTTP status (curl
    exits 0), ``request failed`` only when no response came (``status`` None: transport error/timeout)."""
    return "request failed" if status is None else body


_RESET = "upstream connect error or disconnect/reset before headers. reset reason: "

#: Outcome kind → what Envoy answers and logs.
RESPONSES: dict[Kind, Response] = {
    Kind.VIA_UPSTREAM: Response(None, "-", "via_upstream", "", True),  # R7.4
    Kind.UPSTREAM_RESET: Response(  # R7.1: ztunnel refused/terminated after the request left
        503, "UC", "upstream_reset_before_response_started{connection_termination}",
        _RESET + "connection termination", True),
    Kind.CONNECT_FAILURE: Response(  # UF: the connect itself failed `[doc]` Envoy response flags
        503, "UF", "upstream_reset_before_response_started{remote_connection_failure|"
        "delayed_connect_error:_Connection_refused}",
        _RESET + "remote connection failure, transport failure reason: delayed connect error: Connection refused",
        True, "delayed_connect_error:_Connection_refused"),
    Kind.UPSTREAM_TIMEOUT: Response(504, "UT", "upstream_response_timeout", "upstream request timeout", True),
    Kind.NO_HEALTHY_UPSTREAM: Response(503, "UH", "no_healthy_upstream", "no healthy upstream", False),  # R7.3
    Kind.ROUTE_NOT_FOUND: Response(404, "NR", "route_not_found", "", False),
}

#: Local-origin failure → response kind (R7.1: a reset before any response is UC, not UF).
FAILURE_KIND = {Failure.CONNECTION_TERMINATION: Kind.UPSTREAM_RESET, Failure.CONNECT_FAILURE: Kind.CONNECT_FAILURE,
                Failure.TIMEOUT: Kind.UPSTREAM_TIMEOUT}


def response_for(outcome: Outcome | None) -> tuple[int, Response]:
    """(status the client gets, row) for an attempt outcome; None = no host was picked (UH)."""
    if outcome is None:
        row = RESPONSES[Kind.NO_HEALTHY_UPSTREAM]
    elif isinstance(outcome, Failure):
        row = RESPONSES[FAILURE_KIND[outcome]]
    else:
        return int(outcome), RESPONSES[Kind.VIA_UPSTREAM]  # R7.4: passed through unchanged
    assert row.status is not None
    return row.status, row


@dataclass(frozen=True)
class RetryPolicy:
    """A route's retry policy, as far as this model needs it (R7.2)."""

    retry_on: tuple[str, ...] = ()
    num_retries: int = 0
    previous_hosts: bool = False
    retriable_status_codes: tuple[int, ...] = ()

    def retries(self, outcome: Outcome) -> bool:
        """Would Envoy retry this attempt? App 5xx: never (no retriable codes, R7.2)."""
        if not self.num_retries:
            return False
        if isinstance(outcome, Failure):
            if outcome is Failure.CONNECT_FAILURE:  # nothing was sent: both policies cover it
                return "connect-failure" in self.retry_on or "reset-before-request" in self.retry_on
            return False  # R7.2: UC/UT after the headers left are not retried
        return int(outcome) in self.retriable_status_codes


NO_RETRIES = RetryPolicy()
_MESH_DEFAULT = RetryPolicy(("connect-failure", "refused-stream", "unavailable", "cancelled",
                             "retriable-status-codes"), 2, previous_hosts=True)
_INBOUND_RESET = RetryPolicy(("reset-before-request",), 2)


def retry_policy(leg: str, istio_version: tuple[int, int] = (1, 30)) -> RetryPolicy:
    """R7.2: the gateway has none (HTTPRoute without a retry filter); the waypoint's default route
    retries reset-before-request (Istio 1.24–1.30) or uses the mesh default (≥1.31)."""
    if leg != "waypoint":
        return NO_RETRIES
    return _MESH_DEFAULT if istio_version >= (1, 31) else _INBOUND_RESET
