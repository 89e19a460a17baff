"""``pods/exec`` over a WebSocket: kubectl 1.31 (``v5.channel.k8s.io``) and the Python client.

Who calls it: ``__init__.exec_`` when the request is a WebSocket upgrade. A real API server serves
v5 itself (its stream translator, R15.2) and proxies the older protocols to the kubelet, so node
errors come at different times: for v5 after the upgrade, as an InternalError on the error channel
("unable to upgrade connection: container not found"); for v4 and older before it, as the kubelet's
500 (R15.14). After the upgrade the server sends an empty message on the lowest channel it writes
(stdout, else stderr, else error) to say the connection is up, reads stdin until the client closes
it (v5 close signal, or the WebSocket closing), runs the program, sends stdout and stderr, the
Status on channel 3 (JSON for v4/v5, the bare message for older protocols, R15.4) and closes.
TTY (R15.16): accepted; stderr joins stdout and line ends become CRLF, as on a terminal; resize
messages are ignored (the programs are not interactive).
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..state import ServerState
from . import channels
from . import exec as ex
from .channels import ChannelSocket

LEGACY = ["", channels.V1, channels.V1_BASE64, channels.V4, channels.V4_BASE64]  # the kubelet's
CHUNK = 32 * 1024
# R15.18: the container runtime's exec start, in wall seconds whatever the speed: client-go creates its
# streams while it already reads, and drops data for a stream it has not created yet
RUNTIME_EXEC_START = 0.1


def supported(websockets_enabled: bool) -> list[str]:
    """v5 is served by the API server's translator (gate TranslateStreamCloseWebsocketRequests, on in 1.31)."""
    return ([channels.V5] if websockets_enabled else []) + LEGACY


async def serve(srv: ServerState, request: web.Request, req: ex.ExecRequest,
                websockets_enabled: bool) -> web.StreamResponse:
    """Serves an exec over a WebSocket channel protocol: the channels, then the Status."""
    protocol = channels.negotiate(request, supported(websockets_enabled))
    node_error = ex.node_error(req)
    if node_error and protocol != channels.V5:
        return web.Response(status=500, text=node_error)
    ws = await channels.accept(request, protocol)
    sock = ChannelSocket(ws, protocol)
    try:
        await sock.send(channels.STDOUT if req.stdout else channels.STDERR if req.stderr else channels.ERROR, b"")
        await asyncio.sleep(RUNTIME_EXEC_START)  # R15.18: a modelled duration, not a wait for a condition
        if node_error:
            outcome = ex.Outcome(b"", b"", ex.internal_error(f"unable to upgrade connection: {node_error}"))
        else:
            outcome = await ex.run(srv, req, await _stdin(sock, req.stdin))
        await _send(sock, channels.STDOUT, outcome.stdout)
        await _send(sock, channels.STDERR, outcome.stderr)
        status = (json.dumps(outcome.status, separators=(",", ":")).encode()
                  if protocol in (channels.V5, channels.V4, channels.V4_BASE64) else ex.legacy_text(outcome.status))
        if status:
            await sock.send(channels.ERROR, status)
    except ConnectionError:
        pass
    finally:
        await sock.close()
    return ws


async def _stdin(sock: ChannelSocket, wanted: bool) -> bytes:
    """Everything the client writes on stdin until it closes it (or the WebSocket)."""
    if not wanted:
        return b""
    data = bytearray()
    while (msg := await sock.receive()) is not None:
        channel, payload = msg
        if sock.close_signal(channel, payload) == channels.STDIN:
            break
        if channel == channels.STDIN:
            data += payload
    return bytes(data)


async def _send(sock: ChannelSocket, channel: int, data: bytes) -> None:
    for i in range(0, len(data), CHUNK):
        await sock.send(channel, data[i:i + CHUNK])
