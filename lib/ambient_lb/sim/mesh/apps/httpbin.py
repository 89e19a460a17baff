"""go-httpbin as the ``in-ambient`` sample runs it (``docker.io/mccutchen/go-httpbin``).

Who calls it: the model table (``registry``) for pods running the image, and ``mesh/app.py``'s
``answer`` (kept for callers that predate the table). Responses follow go-httpbin v2: JSON indented
by two spaces with a trailing newline and ``Content-Type: application/json; charset=utf-8``;
``/hostname`` answers ``{"hostname": "<pod>"}`` (the pod's hostname is its name); ``/status/{code}``
answers that status with an empty body; an unknown path gets Go's ``404 page not found``. It
listens on ``$PORT`` (8080 by default) and writes its start and stop lines through the kubelet's
table (``controllers/container_logs.py``), since the kubelet runs without the mesh too.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from http import HTTPStatus

from .base import AppRequest, AppResponse, Container, Launch

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
DEFAULT_PORT = 8080


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
    """go-httpbin's answer to ``req`` on pod ``pod``."""
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


@dataclass
class GoHttpbin:
    """A running go-httpbin, listening on one port."""

    pod: str
    port: int

    def ports(self) -> frozenset[int]:
        """The one port it listens on."""
        return frozenset((self.port,))

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        """go-httpbin's answer to the request."""
        return httpbin(self.pod, req)

    def stop_lines(self, now: float) -> None:
        """None: the kubelet's own table of stop lines applies."""
        return None


def launch(c: Container) -> Launch:
    """go-httpbin starts and listens on ``$PORT`` (default 8080)."""
    try:
        port = int(c.env("PORT", str(DEFAULT_PORT)))
    except ValueError:
        port = DEFAULT_PORT
    return Launch(GoHttpbin(c.pod, port))
