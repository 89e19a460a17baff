"""GNU ``wget`` in kgateway's proxy container, for requests to sockets inside the pod (R13.2, R13.8).

Who calls it: ``images`` when ``argv[0]`` is ``wget`` in the ``envoy-wrapper`` image, e.g.
``kubectl exec -n kgateway-system deploy/http -- wget -qO- http://127.0.0.1:19000/clusters``.
Modelled: ``-q``/``--quiet``, ``-O -``/``-O-``/``-qO-``/``--output-document=-``, one ``http://`` URL (or
``host:port/path``) on ``127.0.0.1``, ``localhost`` or the pod's own IP. GNU wget's exit codes: 0,
4 (network failure: refused), 8 (the server answered an error status, body not written).
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from ..cluster import ExecResult
from . import objects as o
from .exec_context import ExecContext

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _not_modelled(what: str) -> ExecResult:
    return ExecResult(stderr=f"[ambient-lb simulator] wget {what} is not modelled; use wget -qO- "
                             "http://127.0.0.1:<port>/<path>\n".encode(), exit_code=1)


def parse(args: list[str]) -> tuple[bool, bool, list[str]]:
    """(quiet, to stdout, urls) from wget's arguments."""
    quiet, stdout, urls, it = False, False, [], iter(args)
    for arg in it:
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-qO-", "-qO"):
            quiet, stdout = True, arg == "-qO-" or next(it, "") == "-"
        elif arg == "-O":
            stdout = next(it, "") == "-"
        elif arg in ("-O-", "--output-document=-"):
            stdout = True
        elif arg.startswith("-"):
            urls.append("\0" + arg)  # an option this model does not know
        else:
            urls.append(arg)
    return quiet, stdout, urls


async def wget(ctx: ExecContext, argv: list[str], stdin: bytes) -> ExecResult:
    """BusyBox-style ``wget -O - URL`` in a proxy container: fetches the URL from the pod; others not modelled."""
    quiet, stdout, urls = parse(argv[1:])
    unknown = [u[1:] for u in urls if u.startswith("\0")]
    if unknown or len(urls) != 1 or not stdout:
        return _not_modelled(unknown[0] if unknown else "without exactly one URL and -O -")
    url = urlsplit(urls[0] if "://" in urls[0] else "http://" + urls[0])
    pod = ctx.cluster.store.get(o.PODS, ctx.namespace, ctx.pod)
    if url.scheme != "http" or url.hostname not in (*LOCAL_HOSTS, o.pod_ip(pod) if pod else ""):
        return _not_modelled(f"to {urls[0]}")
    port = url.port or 80
    sock = ctx.cluster.pod_port(ctx.namespace, ctx.pod, port)
    log = f"Connecting to {url.hostname}:{port}... "
    if sock is None or sock.handler is None or (sock.loopback_only and url.hostname not in LOCAL_HOSTS):
        return ExecResult(stderr=b"" if quiet else f"{log}failed: Connection refused.\n".encode(), exit_code=4)
    status, _, body = await sock.handler("GET", url.path or "/", dict(parse_qsl(url.query, keep_blank_values=True)),
                                         b"")
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    log += f"connected.\nHTTP request sent, awaiting response... {status} {reason}\n"
    if status >= 400:
        return ExecResult(stderr=b"" if quiet else f"{log}ERROR {status}: {reason}.\n\n".encode(), exit_code=8)
    return ExecResult(stdout=body, stderr=b"" if quiet else log.encode())
