"""What a container writes to its log when it starts and when it gets SIGTERM, by image.

Who calls it: ``kubelet.py`` at container start and at SIGTERM, which writes the lines with
``cluster.logs.write`` so ``kubectl logs`` shows them. The table matches on a substring of the
image; images not in the table write nothing (like a quiet app). Access-log lines are written by
the data plane (``sim/mesh``), not here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..clock import to_rfc3339_micro, to_rfc3339_milli
from .keys import ISTIO_VERSION

Lines = Callable[[float, int], list[str]]  # (simulated time, first container port) -> lines


def _istio(scope_lines: list[tuple[str, str]]) -> Lines:
    return lambda now, port: [f"{to_rfc3339_micro(now)}\tinfo\t{scope}\t{msg}" if scope else
                              f"{to_rfc3339_micro(now)}\tinfo\t{msg}" for scope, msg in scope_lines]


def _gunicorn(msgs: list[str]) -> Lines:
    def lines(now: float, port: int) -> list[str]:
        ts = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
        return [f"[{ts}] {m.format(port=port or 80)}" for m in msgs]
    return lines


_GO_HTTPBIN_START: Lines = lambda now, port: [  # noqa: E731
    f'time={to_rfc3339_milli(now)} level=INFO msg="go-httpbin listening on http://0.0.0.0:{port or 8080}"']
_GO_HTTPBIN_STOP: Lines = lambda now, port: [  # noqa: E731
    f'time={to_rfc3339_milli(now)} level=INFO msg="shutting down ..."']

# image substring -> (lines at start, lines at SIGTERM); first match wins
IMAGE_LOGS: tuple[tuple[str, Lines, Lines], ...] = (
    ("go-httpbin", _GO_HTTPBIN_START, _GO_HTTPBIN_STOP),
    ("httpbin", _gunicorn(["[1] [INFO] Starting gunicorn 19.9.0", "[1] [INFO] Listening at: http://0.0.0.0:{port} (1)",
                           "[1] [INFO] Using worker: gevent", "[8] [INFO] Booting worker with pid: 8"]),
     _gunicorn(["[1] [INFO] Handling signal: term", "[8] [INFO] Worker exiting (pid: 8)",
                "[1] [INFO] Shutting down: Master"])),
    ("/pilot", _istio([("", 'FLAG: --domain="cluster.local"'),
                       ("", "initializing mesh configuration ./etc/istio/config/mesh"),
                       ("", "starting HTTP service at [::]:8080"),
                       ("", "starting gRPC discovery service at [::]:15010"),
                       ("", "starting webhook service at [::]:15017"),
                       ("", "All caches have been synced up in 1.05s, marking server ready")]),
     _istio([("", "Received termination signal, shutting down")])),
    ("/ztunnel", _istio([("ztunnel", f"version: {ISTIO_VERSION}"), ("app", "in-pod mode enabled"),
                         ("readiness", "listener established address=[::]:15021 component=\"readiness\""),
                         ("readiness", "Task 'state manager' complete, marking server ready")]),
     _istio([("ztunnel::signal", "received signal, starting shutdown signal=SIGTERM")])),
    ("/install-cni", _istio([("cni-agent", "CNI ambient enablement is enabled"),
                             ("cni-agent", "Starting ambient node agent with inpod redirect mode"),
                             ("cni-agent", "CNI ambient server kubeclient informers running")]),
     _istio([("cni-agent", "Ambient node agent shutting down")])),
    ("coredns", lambda now, port: [".:53", "CoreDNS-1.11.3", "linux/amd64, go1.22.7, a6338e9"],
     lambda now, port: ["[INFO] SIGTERM: Shutting down servers then terminating"]),
)


def _match(image: str) -> tuple[Lines, Lines] | None:
    for key, start, stop in IMAGE_LOGS:
        if key in image:
            return start, stop
    return None


def start_lines(image: str, now: float, port: int) -> list[str]:
    """The log lines a container of this image prints when it starts (none for an unknown image)."""
    m = _match(image)
    return m[0](now, port) if m else []


def stop_lines(image: str, now: float, port: int) -> list[str]:
    """The log lines a container of this image prints when it stops (none for an unknown image)."""
    m = _match(image)
    return m[1](now, port) if m else []
