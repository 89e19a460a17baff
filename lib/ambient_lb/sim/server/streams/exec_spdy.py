"""``pods/exec`` over a direct SPDY/3.1 upgrade: kubectl's fallback when the WebSocket upgrade fails.

Who calls it: ``__init__.exec_`` for a ``Connection: Upgrade`` / ``Upgrade: SPDY/3.1`` request.
The API server proxies this to the kubelet, so the kubelet's rules apply (R15.7): the protocol is
negotiated from ``X-Stream-Protocol-Version`` (``v4.channel.k8s.io`` and older; 403 with
``X-Accepted-Stream-Protocol-Versions`` when none fits), node errors are a 500 before the upgrade,
and after it the client opens one stream per ``streamType`` header (error, stdin, stdout, stderr,
resize with a TTY). The server waits for all of them, reads stdin to its FIN, runs the program,
writes stdout and stderr and closes them, writes the Status on the error stream (JSON from v4,
R15.4) and closes it, then ends the session once the client has gone, or after a grace period.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..state import ServerState
from . import channels
from . import exec as ex
from .session import SpdySession, SpdyStream
from .transports import NoProtocol, handshake, upgrade_spdy

PROTOCOLS = [channels.V4, "v3.channel.k8s.io", "v2.channel.k8s.io", channels.V1]
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default (remotecommand.DefaultStreamCreationTimeout)
GOODBYE_TIMEOUT = 10.0  # wall seconds we wait for the client to close before closing ourselves


async def serve(srv: ServerState, request: web.Request, req: ex.ExecRequest) -> web.StreamResponse:
    """Serves an exec over SPDY/3.1: the handshake, then the streams, then the Status."""
    try:
        protocol = handshake(request, PROTOCOLS)
    except NoProtocol as exc:
        return exc.response()
    node_error = ex.node_error(req)
    if node_error:
        return web.Response(status=500, text=node_error)
    conn = await upgrade_spdy(request, protocol)
    streams: dict[str, SpdyStream] = {}
    arrived = asyncio.Event()
    wanted = {"error"} | {name for name, on in (("stdin", req.stdin), ("stdout", req.stdout),
                                                ("stderr", req.stderr)) if on}
    if req.tty and protocol != "v2.channel.k8s.io" and protocol != channels.V1:
        wanted.add("resize")

    def on_stream(stream: SpdyStream) -> bool:
        streams[stream.headers.get("streamtype", "")] = stream
        if wanted <= streams.keys():
            arrived.set()
        return True

    session = SpdySession(conn, on_stream)
    reader = asyncio.ensure_future(session.run())
    try:
        await asyncio.wait_for(arrived.wait(), STREAM_CREATION_TIMEOUT)
        await _exec(srv, req, streams, protocol)
        await asyncio.wait_for(asyncio.shield(reader), GOODBYE_TIMEOUT)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        reader.cancel()
        await session.shutdown()
    return conn.response  # the 101 already sent


async def _exec(srv: ServerState, req: ex.ExecRequest, streams: dict[str, SpdyStream], protocol: str) -> None:
    stdin = b""
    if "stdin" in streams:
        while chunk := await streams["stdin"].read():
            stdin += chunk
    outcome = await ex.run(srv, req, stdin)
    for name, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        if name in streams:
            await streams[name].write(data)
            await streams[name].close()
    status = (json.dumps(outcome.status, separators=(",", ":")).encode() if protocol == channels.V4
              else ex.legacy_text(outcome.status))
    await streams["error"].write(status)
    await streams["error"].close()
