"""Connect to a socket in a pod's network namespace, as a byte stream.

Who calls it: ``portforward.py`` and ``portforward_ws.py``, for each forwarded connection. What
listens in a pod is what the data plane registered in ``cluster.pod_ports`` (``sim/cluster.py``):
an ``address`` (a real TCP listener of the simulator) is dialled with ``asyncio.open_connection``;
a ``handler`` (an HTTP server modelled in-process) is served as HTTP/1.1 by ``h11`` over the stream:
keep-alive, several requests per connection, ``Content-Length`` framing. Port-forward runs inside the
pod's network namespace, so loopback-only sockets are reachable too (R15.12). Nothing listening is
``PortRefused``, as a dial to localhost in the pod would be.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

import h11

from ...cluster import Cluster, PodPort, ProxyHandler

log = logging.getLogger("ambient_lb.sim.server.streams")


class PortRefused(Exception):
    """Nothing listens on that port in the pod (the connection would be refused)."""


class PodConn(Protocol):
    """A connection to a pod's port."""

    async def read(self) -> bytes:
        """Bytes the pod's socket sends; b"" when it closed its side."""

    async def write(self, data: bytes) -> None:
        """Sends bytes to the pod's socket."""

    def close(self) -> None:
        """Closes the connection."""


async def dial(cluster: Cluster, namespace: str, pod: str, port: int) -> PodConn:
    """Connects to a pod's port; PortRefused when nothing listens there."""
    sock: PodPort | None = cluster.pod_port(namespace, pod, port)
    if sock is not None and sock.address is not None:
        try:
            reader, writer = await asyncio.open_connection(*sock.address)
        except OSError as exc:
            raise PortRefused(str(exc)) from None
        return TcpConn(reader, writer)
    if sock is not None and sock.handler is not None:
        return HandlerConn(sock.handler)
    raise PortRefused(f"nothing listens on port {port} in pod {namespace}/{pod}")


class TcpConn:
    """A TCP connection to a pod port's real socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self) -> bytes:
        """The next bytes from the socket; b"" once it closed (or failed)."""
        try:
            return await self.reader.read(64 * 1024)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        """Writes bytes to the socket and waits until they are sent."""
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        """Closes the socket."""
        self.writer.close()


class HandlerConn:
    """An HTTP/1.1 server connection over an in-process handler, one request after the other."""

    def __init__(self, handler: ProxyHandler) -> None:
        self.handler = handler
        self.h11 = h11.Connection(h11.SERVER)
        self.out: asyncio.Queue[bytes] = asyncio.Queue()
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.ended = False

    async def read(self) -> bytes:
        """The next bytes of the handler's responses; b"" once the connection ended and all were read."""
        if self.ended and self.out.empty():
            return b""
        return await self.out.get()

    async def write(self, data: bytes) -> None:
        """Feeds request bytes to the connection and serves each request they complete (400 for a malformed one)."""
        if self.ended:
            return
        self.h11.receive_data(data)
        try:
            await self._serve()
        except h11.RemoteProtocolError as exc:
            self._bad_request(exc)

    def close(self) -> None:
        """Ends the connection."""
        self._end()

    async def _serve(self) -> None:
        while not self.ended:
            event = self.h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request, self.body = event, bytearray()
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                await self._respond()
            elif isinstance(event, h11.ConnectionClosed):
                self._end()

    async def _respond(self) -> None:
        assert self.request is not None
        method = self.request.method.decode()
        target = urlsplit(self.request.target.decode())
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        try:
            status, ctype, body = await self.handler(method, target.path or "/", query, bytes(self.body))
        except Exception:  # a broken handler is a 500 from the pod, not a broken API server
            log.exception("pod HTTP handler failed on %s %s", method, target.path)
            status, ctype, body = 500, "text/plain", b"internal error in the simulated server\n"
        self._send(h11.Response(status_code=status, reason=_phrase(status), headers=[
            ("content-type", ctype), ("content-length", str(len(body)))]))
        if body and method != "HEAD":
            self._send(h11.Data(data=body))
        self._send(h11.EndOfMessage())
        if self.h11.our_state is h11.MUST_CLOSE:
            self._end()
        else:
            self.h11.start_next_cycle()

    def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            msg = f"bad request: {exc}\n".encode()
            self._send(h11.Response(status_code=exc.error_status_hint, headers=[
                ("content-type", "text/plain"), ("content-length", str(len(msg))), ("connection", "close")]))
            self._send(h11.Data(data=msg))
            self._send(h11.EndOfMessage())
        self._end()

    def _send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.out.put_nowait(data)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.out.put_nowait(b"")


def _phrase(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
