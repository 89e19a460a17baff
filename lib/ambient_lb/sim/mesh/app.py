"""The backend app: go-httpbin as the ``in-ambient`` sample runs it, plus the simulator's fault annotations.

Who calls it: ``dataplane`` when a request reaches a pod's app (after the destination ztunnel).
Responses follow go-httpbin v2: JSON indented by two spaces with a trailing newline and
``Content-Type: application/json; charset=utf-8``; ``/hostname`` answers ``{"hostname": "<pod>"}``
(the pod's hostname is its name); ``/status/{code}`` answers that status with an empty body; an
unknown path gets Go's ``404 page not found``.

Fault annotations on the Pod (documented in the README; each takes effect while the pod is otherwise
unchanged):

| annotation | value | effect |
| --- | --- | --- |
| ``fault.ambient-lb.dev/http-status`` | ``503`` or a cycle ``500,500,500,500,200`` | the app answers the requests it receives with these statuses in turn (a 200 entry means "answer normally") |
| ``fault.ambient-lb.dev/refuse-connections`` | ``"true"`` | the app does not accept connections (the destination ztunnel gets ECONNREFUSED, R7.1) |
| ``fault.ambient-lb.dev/latency`` | ``200ms``, ``1.5s`` | the app waits that long (simulated time) before answering |
| ``fault.ambient-lb.dev/ready`` | ``"false"`` | handled by the kubelet: the pod stays not Ready |
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Mapping

STATUS_FAULT = "fault.ambient-lb.dev/http-status"
REFUSE_FAULT = "fault.ambient-lb.dev/refuse-connections"
LATENCY_FAULT = "fault.ambient-lb.dev/latency"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


class FaultError(ValueError):
    """A fault annotation's value cannot be used; the message names it and gives an example."""


@dataclass
class AppResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class AppRequest:
    method: str
    path: str  # with query string
    headers: Mapping[str, str]
    origin: str  # the peer address the app sees
    host: str


def parse_status_cycle(value: str) -> list[int]:
    """``"500,500,200"`` → [500, 500, 200]; raises FaultError naming the annotation."""
    try:
        codes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        codes = []
    if not codes or any(not 100 <= c <= 599 for c in codes):
        raise FaultError(f"{STATUS_FAULT}={value!r} is not a status or a comma-separated cycle of statuses; "
                         "for example \"503\" or \"500,500,500,500,200\"")
    return codes


def parse_latency(value: str) -> float:
    """``"200ms"`` → 0.2 simulated seconds; raises FaultError naming the annotation."""
    m = _DURATION.match(value or "")
    if not m:
        raise FaultError(f"{LATENCY_FAULT}={value!r} is not a duration; for example \"200ms\" or \"1.5s\"")
    n = float(m.group(1))
    return n / 1000.0 if m.group(2) == "ms" else n


@dataclass
class PodFaults:
    """The parsed faults of one pod and its position in the status cycle."""

    source: tuple[str, str, str] = ("", "", "")
    cycle: list[int] = field(default_factory=list)
    position: int = 0
    refuse: bool = False
    latency: float = 0.0
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, annotations: Mapping[str, str]) -> "PodFaults":
        src = (annotations.get(STATUS_FAULT, ""), annotations.get(REFUSE_FAULT, ""),
               annotations.get(LATENCY_FAULT, ""))
        f = cls(source=src, refuse=src[1].strip().lower() == "true")
        for name, parse in ((0, parse_status_cycle), (2, parse_latency)):
            if src[name]:
                try:
                    value = parse(src[name])
                except FaultError as exc:
                    f.problems.append(str(exc))
                    continue
                if name == 0:
                    f.cycle = value  # type: ignore[assignment]
                else:
                    f.latency = value  # type: ignore[assignment]
        return f

    def next_status(self) -> int | None:
        """The status the cycle imposes on this request (None: answer normally)."""
        if not self.cycle:
            return None
        code = self.cycle[self.position % len(self.cycle)]
        self.position += 1
        return None if code == 200 else code


def _json(status: int, value: object) -> AppResponse:
    body = (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
    return AppResponse(status, {"Content-Type": JSON_TYPE}, body)


@functools.lru_cache(maxsize=4096)
def _hostname_body(pod: str) -> bytes:
    return _json(200, {"hostname": pod}).body


def _headers(req: AppRequest) -> dict[str, list[str]]:
    return {"-".join(p.capitalize() for p in k.split("-")): [v] for k, v in req.headers.items()}


def _status(code_text: str) -> AppResponse:
    try:
        code = int(code_text)
        HTTPStatus(code)
    except ValueError:
        return _json(400, {"status_code": 400, "error": "Bad Request",
                           "detail": f"invalid status code: {code_text!r}"})
    return AppResponse(code, {"Content-Type": TEXT_TYPE} if code >= 400 else {}, b"")


def httpbin(pod: str, req: AppRequest) -> AppResponse:
    """go-httpbin's answer to ``req`` on pod ``pod`` (no faults)."""
    path, _, query = req.path.partition("?")
    if path == "/hostname":
        return AppResponse(200, {"Content-Type": JSON_TYPE}, _hostname_body(pod))
    if path == "/headers":
        return _json(200, {"headers": _headers(req)})
    if path == "/ip":
        return _json(200, {"origin": req.origin})
    if path == "/get":
        args: dict[str, list[str]] = {}
        for kv in filter(None, query.split("&")):
            k, _, v = kv.partition("=")
            args.setdefault(k, []).append(v)
        return _json(200, {"args": args, "headers": _headers(req), "method": req.method, "origin": req.origin,
                           "url": f"http://{req.host}{req.path}"})
    if path.startswith("/status/"):
        return _status(path[len("/status/"):])
    if path == "/":
        return AppResponse(200, {"Content-Type": "text/html; charset=utf-8"},
                           b"<!DOCTYPE html><title>go-httpbin</title><p>go-httpbin (ambient-lb simulator)</p>\n")
    return AppResponse(404, {"Content-Type": TEXT_TYPE}, b"404 page not found\n")


def answer(pod: str, faults: PodFaults, req: AppRequest) -> AppResponse:
    """The response after the http-status fault cycle (the caller applies latency and refusal)."""
    forced = faults.next_status()
    if forced is not None:
        return AppResponse(forced, {"Content-Type": TEXT_TYPE}, b"")
    return httpbin(pod, req)
