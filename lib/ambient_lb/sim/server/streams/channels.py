"""The Kubernetes WebSocket channel protocols: subprotocol negotiation and channel framing.

Who calls it: ``exec_ws.py`` (exec over WebSocket) and ``portforward_ws.py`` (the channel-based
port-forward the Python client uses); ``portforward.py`` uses ``accept`` for kubectl's SPDY tunnel.
Every message starts with its channel: one byte in ``channel.k8s.io``, ``v4.channel.k8s.io`` and
``v5.channel.k8s.io``; one ASCII digit followed by base64 in the ``base64.`` variants (R15.1).
v5 adds a close signal, the message ``[255, channel]`` (R15.2). The server takes the first
subprotocol the client lists that it supports, and answers 403 when there is none (R15.3).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import WSMsgType, web

from ..status import ApiError

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
V5, V4, V4_BASE64 = "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"
V1, V1_BASE64 = "channel.k8s.io", "base64.channel.k8s.io"
MAX_MESSAGE = 16 * 1024 * 1024


def is_websocket(request: web.Request) -> bool:
    """``Upgrade: websocket`` and a ``Connection`` header naming upgrade (wsstream.IsWebSocketRequest)."""
    return (request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


def requested(request: web.Request) -> list[str]:
    """The subprotocols the client offers, in its order of preference."""
    offered = [p.strip() for h in request.headers.getall("Sec-WebSocket-Protocol", [])
               for p in h.split(",")]
    return [p for p in offered if p]


def negotiate(request: web.Request, supported: list[str]) -> str:
    """The first offered subprotocol the server supports ("" when the client offers none)."""
    offered = requested(request) or [""]
    for proto in offered:
        if proto in supported:
            return proto
    raise ApiError("Forbidden", f"requested protocol(s) are not supported: {offered}; supports "
                   f"{[p for p in supported if p]}", code=403)


async def accept(request: web.Request, protocol: str) -> web.WebSocketResponse:
    """Complete the WebSocket handshake with ``protocol`` (from ``negotiate``)."""
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), max_msg_size=MAX_MESSAGE,
                               compress=False)
    await ws.prepare(request)
    return ws


class ChannelSocket:
    """A WebSocket speaking one channel protocol: ``send(channel, data)`` and ``receive()``."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str) -> None:
        self.ws, self.protocol = ws, protocol
        self.base64 = protocol.endswith(V1_BASE64)

    async def send(self, channel: int, data: bytes) -> None:
        """Sends data on a channel (base64-encoded text for the base64 protocols)."""
        if self.base64:
            await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
        else:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def receive(self) -> tuple[int, bytes] | None:
        """The next (channel, data) from the client; None once the WebSocket is closed."""
        while True:
            msg = await self.ws.receive()
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                return None
            raw = msg.data.encode() if isinstance(msg.data, str) else bytes(msg.data)
            if raw:
                decoded = self._decode(raw)
                if decoded is not None:
                    return decoded

    def _decode(self, raw: bytes) -> tuple[int, bytes] | None:
        if not self.base64:
            return raw[0], raw[1:]
        try:
            return raw[0] - ord("0"), base64.b64decode(raw[1:], validate=True)
        except (binascii.Error, ValueError):
            return None  # wsstream drops a frame it cannot decode

    def close_signal(self, channel: int, data: bytes) -> int | None:
        """The channel a v5 close signal ``[255, n]`` closes, or None for an ordinary message."""
        if self.protocol == V5 and channel == CLOSE and data:
            return data[0]
        return None

    async def close(self) -> None:
        """Closes the WebSocket."""
        await self.ws.close()
