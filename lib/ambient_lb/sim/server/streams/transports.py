"""Byte transports for a SPDY session: a connection upgraded to ``SPDY/3.1``, or a WebSocket tunnel.

Who calls it: ``portforward.py`` and ``exec_spdy.py``. kubectl 1.31 first asks for a WebSocket with
the subprotocol ``SPDY/3.1+portforward.k8s.io`` and sends the SPDY frames in binary messages
(R15.6); when that upgrade fails it falls back to ``Upgrade: SPDY/3.1`` on the HTTP connection
itself (R15.7), for which the server answers ``101 Switching Protocols`` and then speaks SPDY on the
raw connection. aiohttp upgrades only to WebSocket, so ``upgrade_spdy`` takes the connection over the
way aiohttp's own WebSocketResponse does: it sends the 101 and installs itself as the connection's
payload parser, which then receives every byte that follows. ``handshake`` negotiates the
``X-Stream-Protocol-Version`` of a SPDY upgrade as the kubelet does.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from ..status import ApiError

SPDY_31 = "SPDY/3.1"


class _Feed:
    """The payload parser aiohttp feeds after the upgrade: queues what arrives, b"" at the end."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class UpgradedConnection:
    """The raw connection after ``101 Switching Protocols``."""

    def __init__(self, request: web.Request, response: web.StreamResponse, feed: _Feed) -> None:
        self.request, self.response, self._feed = request, response, feed
        self._eof = False

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it is gone."""
        if self._eof:
            return b""
        data = await self._feed.queue.get()
        self._eof = not data
        return data

    async def write(self, data: bytes) -> None:
        """Sends bytes to the client."""
        await self.response.write(data)

    async def close(self) -> None:
        """Closes the connection."""
        self._eof = True
        self.request.protocol.force_close()


async def upgrade_spdy(request: web.Request, protocol: str) -> UpgradedConnection:
    """Answer ``101`` with ``Upgrade: SPDY/3.1`` and the negotiated ``X-Stream-Protocol-Version``."""
    response = web.StreamResponse(status=101, reason="Switching Protocols", headers={
        "Connection": "Upgrade", "Upgrade": SPDY_31, "X-Stream-Protocol-Version": protocol})
    response.force_close()
    await response.prepare(request)
    feed = _Feed()
    request.protocol.set_parser(feed)  # type: ignore[arg-type]  # duck-typed like WebSocketReader
    request.protocol.keep_alive(False)
    return UpgradedConnection(request, response, feed)


def handshake(request: web.Request, supported: list[str]) -> str:
    """httpstream.Handshake: the first protocol the client lists that the server accepts (R15.7)."""
    offered = [p.strip() for h in request.headers.getall("X-Stream-Protocol-Version", [])
               for p in h.split(",") if p.strip()]
    if not offered:
        raise ApiError("BadRequest", "unable to upgrade: X-Stream-Protocol-Version is required")
    for proto in offered:
        if proto in supported:
            return proto
    raise NoProtocol(offered, supported)


class NoProtocol(Exception):
    """No protocol in common: 403 with the accepted ones in X-Accepted-Stream-Protocol-Versions."""

    def __init__(self, offered: list[str], supported: list[str]) -> None:
        super().__init__(f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                         f"server accepts {supported}")
        self.supported = supported

    def response(self) -> web.Response:
        """403 naming the protocols the server supports (``X-Accepted-Stream-Protocol-Versions``)."""
        resp = web.Response(status=403, text=str(self) + "\n")
        for proto in self.supported:
            resp.headers.add("X-Accepted-Stream-Protocol-Versions", proto)
        return resp


def is_spdy_upgrade(request: web.Request) -> bool:
    """``Connection: Upgrade`` and ``Upgrade: SPDY/3.1`` (the kubelet's upgrade check, R15.7)."""
    return ("upgrade" in request.headers.get("Connection", "").lower()
            and SPDY_31.lower() in request.headers.get("Upgrade", "").lower())


class WebSocketTunnel:
    """SPDY bytes carried in WebSocket binary messages; message boundaries mean nothing (R15.6)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        """The next binary message's bytes; b"" once the WebSocket closes."""
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                return b""  # the tunnel is binary only; client-go treats text as a broken tunnel
            else:
                return b""

    async def write(self, data: bytes) -> None:
        """Sends bytes as a binary message."""
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        """Closes the WebSocket."""
        await self.ws.close()
