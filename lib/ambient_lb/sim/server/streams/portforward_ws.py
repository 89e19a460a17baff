"""``pods/portforward`` over channel WebSockets: the Python client's ``kubernetes.stream.portforward``.

Who calls it: ``__init__.portforward`` for a WebSocket upgrade that is not kubectl's SPDY tunnel.
The API server proxies these to the kubelet, whose rules apply (R15.15): the ports come from the
query (``ports=8080,9000``; each port one connection), the subprotocol is ``v4.channel.k8s.io``,
``v4.base64.channel.k8s.io`` or none, and port i owns channel 2i (data, both ways) and 2i+1
(error, server to client). The first message on each channel is the port as two little-endian
bytes. Each port is connected at once; a refused one gets the kubelet's text on its error channel.
A port whose connection ended sends nothing more; the WebSocket closes only when every port's
connection has ended, so a client of several ports frames its reads (Content-Length), not by EOF.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..state import ServerState
from ..status import ApiError
from . import channels, podnet, runtime
from .channels import ChannelSocket
from .portforward import pipe

Obj = dict[str, Any]
PROTOCOLS = ["", channels.V4, channels.V4_BASE64]


def ports(request: web.Request) -> list[int]:
    """``ports`` (the API's name; the kubelet's is ``port``), comma-separated and repeatable."""
    raw = request.query.getall("ports", []) + request.query.getall("port", [])
    if not raw:
        raise ApiError("BadRequest", 'query parameter "port" is required')
    out = []
    for value in raw:
        if not value:
            raise ApiError("BadRequest", 'query parameter "port" cannot be empty')
        for part in value.split(","):
            if not part.isdigit() or int(part) > 65535:
                raise ApiError("BadRequest", f'unable to parse "{value}" as a port: strconv.ParseUint: '
                               f'parsing "{part}": invalid syntax')
            if int(part) < 1:
                raise ApiError("BadRequest", f'port "{value}" must be > 0')
            out.append(int(part))
    return out


async def serve(srv: ServerState, request: web.Request, pod: Obj) -> web.StreamResponse:
    """Port-forward over the WebSocket channel protocol: two channels per requested port."""
    wanted = ports(request)
    protocol = channels.negotiate(request, PROTOCOLS)
    refusal = runtime.pod_not_running(pod)
    if refusal is not None:
        return web.Response(status=500, text=refusal)
    ws = await channels.accept(request, protocol)
    sock = ChannelSocket(ws, protocol)
    inboxes = [asyncio.Queue[bytes]() for _ in wanted]
    reader = asyncio.ensure_future(_route(sock, inboxes))
    try:
        for i, port in enumerate(wanted):
            for channel in (2 * i, 2 * i + 1):
                await sock.send(channel, port.to_bytes(2, "little"))
        await asyncio.gather(*(_forward(srv, sock, pod, i, port, inboxes[i]) for i, port in enumerate(wanted)))
    except ConnectionError:
        pass
    finally:
        reader.cancel()
        await sock.close()
    return ws


async def _route(sock: ChannelSocket, inboxes: list[asyncio.Queue[bytes]]) -> None:
    """Client data on channel 2i goes to port i; the WebSocket closing ends every port's input."""
    try:
        while (msg := await sock.receive()) is not None:
            channel, data = msg
            if channel % 2 == 0 and channel // 2 < len(inboxes) and data:
                inboxes[channel // 2].put_nowait(data)
    finally:
        for inbox in inboxes:
            inbox.put_nowait(b"")


async def _forward(srv: ServerState, sock: ChannelSocket, pod: Obj, i: int, port: int,
                   inbox: asyncio.Queue[bytes]) -> None:
    md = pod["metadata"]
    try:
        conn = await podnet.dial(srv.cluster, md.get("namespace", ""), md["name"], port)
    except podnet.PortRefused:
        await sock.send(2 * i + 1, runtime.forward_refused(pod, port).encode())
        return

    async def write(data: bytes) -> None:
        await sock.send(2 * i, data)
    try:
        await pipe(inbox.get, write, conn)
    finally:
        conn.close()
