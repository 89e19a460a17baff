"""``kubectl exec`` and ``kubectl port-forward``: the API server's streaming subresources.

Who calls it: ``subresources.HANDLERS`` routes ``pods/exec`` to ``exec_`` and ``pods/portforward``
to ``portforward``. Each picks the transport the client asked for, after the checks the API server
makes before any upgrade (docs/semantics-addendum.md §15):

- ``exec.py``: the checks, the program (``cluster.pod_exec``) and the Status that ends an exec;
  ``exec_ws.py`` serves it over WebSocket channels (``v5``/``v4``/older), ``exec_spdy.py`` over SPDY.
- ``portforward.py``: kubectl's SPDY port-forward, in a WebSocket tunnel or a direct SPDY upgrade;
  ``portforward_ws.py``: the channel WebSocket port-forward of the Python client.
- ``channels.py`` (WebSocket channel framing), ``spdy.py`` (SPDY/3.1 frames), ``session.py`` (a SPDY
  session), ``transports.py`` (what a SPDY session runs on), ``podnet.py`` (a pod's sockets as byte
  streams), ``runtime.py`` (what the kubelet and containerd say).

``cluster.extensions[WEBSOCKETS] = False`` turns off the two API-server feature gates that serve
WebSockets itself (TranslateStreamCloseWebsocketRequests for exec v5, PortForwardWebsockets for the
SPDY tunnel; both on in 1.31): the server then answers those upgrades as an API server with the gates
off does, and kubectl falls back to SPDY (R15.7). Tests use it to take the fallback path.
"""

from __future__ import annotations

from aiohttp import web

from ..rest import get_or_404
from ..routing import Target
from ..state import ServerState
from ..status import ApiError, method_not_allowed
from . import channels, exec_spdy, exec_ws, portforward_ws
from . import exec as ex
from . import portforward as pf
from .transports import is_spdy_upgrade

WEBSOCKETS = "api_server.stream_websockets"


def websockets_enabled(srv: ServerState) -> bool:
    """True unless the simulator was told to refuse WebSocket streams (clients then fall back to SPDY)."""
    return bool(srv.cluster.extensions.get(WEBSOCKETS, True))


async def exec_(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``pods/exec``: runs the command in the container over WebSocket or SPDY, as the client asks."""
    if request.method not in ("GET", "POST"):
        raise method_not_allowed(request.method, "pods/exec")
    req = ex.parse(srv, request, t)
    if channels.is_websocket(request):
        return await exec_ws.serve(srv, request, req, websockets_enabled(srv))
    if is_spdy_upgrade(request):
        return await exec_spdy.serve(srv, request, req)
    raise ApiError("BadRequest", "Upgrade request required")


async def portforward(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``pods/portforward``: forwards the pod's ports over WebSocket or SPDY, as the client asks."""
    if request.method not in ("GET", "POST"):
        raise method_not_allowed(request.method, "pods/portforward")
    pod = get_or_404(srv, Target(t.rt, t.version, t.namespace, t.name))
    if not (pod.get("spec") or {}).get("nodeName"):
        raise ApiError("BadRequest", f"pod {t.name} does not have a host assigned")
    if channels.is_websocket(request):
        if websockets_enabled(srv) and pf.tunnel_protocols(request):
            return await pf.serve_tunnel(srv, request, pod)
        return await portforward_ws.serve(srv, request, pod)
    if is_spdy_upgrade(request):
        return await pf.serve_spdy(srv, request, pod)
    raise ApiError("BadRequest", "Upgrade request required")
