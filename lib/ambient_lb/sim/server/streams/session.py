"""One SPDY/3.1 session over a byte transport: the streams a client opens, their data and their ends.

Who calls it: ``portforward.py`` (kubectl's port-forward, tunnelled in a WebSocket or over a direct
SPDY upgrade) and ``exec_spdy.py`` (kubectl's exec fallback). The client opens every stream
(SYN_STREAM with odd ids); ``on_stream`` decides at once whether to accept it: accepted streams get a
SYN_REPLY before any data, rejected ones a RST_STREAM, as the API server's spdystream does (R15.9).
A stream's end is a DATA frame with FIN (half-close, R15.10); RST_STREAM ends both directions.
PINGs the client starts (odd ids) are echoed; SETTINGS, WINDOW_UPDATE and HEADERS are read and
ignored, because spdystream, the only SPDY peer of a real API server, does no flow control (R15.11).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Protocol

from . import spdy

log = logging.getLogger("ambient_lb.sim.server.streams")
CHUNK = 32 * 1024  # bytes of payload per DATA frame we send


class ByteTransport(Protocol):
    """The byte stream a SPDY session runs over (an upgraded connection or a WebSocket tunnel)."""

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it is gone."""

    async def write(self, data: bytes) -> None:
        """Sends bytes to the client."""

    async def close(self) -> None:
        """Closes the connection."""


class SpdyStream:
    """A client-opened stream: ``headers`` (lower-case names), ``read`` until b"", ``write``, ``close``."""

    def __init__(self, session: SpdySession, stream_id: int, headers: dict[str, str]) -> None:
        self.session, self.id, self.headers = session, stream_id, headers
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_done = False  # the client sent FIN or RST: nothing more will arrive
        self.local_done = False   # we sent FIN or the client reset the stream: we may not send
        self.reset = False

    async def read(self) -> bytes:
        """The next data the client sent on this stream; b"" once it finished its side."""
        if self.remote_done and self._inbox.empty():
            return b""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        """Sends data on this stream in DATA frames (stops once this side is done)."""
        for i in range(0, len(data), CHUNK):
            if self.local_done:
                return
            await self.session.send(spdy.data_frame(self.id, data[i:i + CHUNK]))

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN (what spdystream's Stream.Close sends)."""
        if not self.local_done:
            self.local_done = True
            await self.session.send(spdy.data_frame(self.id, b"", fin=True))
        if self.remote_done:
            self.session.forget(self)

    def _deliver(self, data: bytes, fin: bool) -> None:
        if self.remote_done:
            return
        if data:
            self._inbox.put_nowait(data)
        if fin:
            self._end_remote()
            if self.local_done:
                self.session.forget(self)

    def _end_remote(self) -> None:
        self.remote_done = True
        self._inbox.put_nowait(b"")

    def _on_reset(self) -> None:
        self.reset = self.local_done = True
        self._end_remote()


class SpdySession:
    """Serves one connection: ``await run()`` reads frames until the client goes away."""

    def __init__(self, transport: ByteTransport, on_stream: Callable[[SpdyStream], bool]) -> None:
        self.transport, self.on_stream = transport, on_stream
        self.codec = spdy.HeaderCodec()
        self.streams: dict[int, SpdyStream] = {}
        self.last_stream_id = 0
        self.gone_away = False  # the client sent GOAWAY: no new streams
        self.closed = asyncio.Event()
        self._send_lock = asyncio.Lock()

    async def send(self, frame: bytes) -> None:
        """Sends one frame (nothing once the session is closed or the client is gone)."""
        async with self._send_lock:
            if self.closed.is_set():
                return
            try:
                await self.transport.write(frame)
            except ConnectionError:  # the client is gone; run() sees the end of its input
                self.closed.set()

    async def run(self) -> None:
        """Reads and dispatches frames until the client goes or sends a bad frame, then closes the session."""
        reader = spdy.FrameReader()
        try:
            while data := await self.transport.read():
                for frame in reader.feed(data):
                    await self._dispatch(frame)
        except spdy.SpdyError as exc:
            log.info("SPDY session error: %s", exc)
            await self.send(spdy.goaway(self.last_stream_id, spdy.PROTOCOL_ERROR))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.set()
            for stream in self.streams.values():
                stream._on_reset()

    async def shutdown(self) -> None:
        """GOAWAY(OK), then close the transport (what the kubelet's connection Close does)."""
        if not self.closed.is_set():
            await self.send(spdy.goaway(self.last_stream_id))
        self.closed.set()
        await self.transport.close()

    async def _dispatch(self, frame: spdy.Frame) -> None:
        handler = {0: self._on_data, spdy.SYN_STREAM: self._on_syn_stream, spdy.RST_STREAM: self._on_rst,
                   spdy.PING: self._on_ping, spdy.GOAWAY: self._on_goaway}.get(frame.kind)
        if handler is not None:
            await handler(frame)

    async def _on_syn_stream(self, frame: spdy.Frame) -> None:
        sid = spdy.stream_id_of(frame)
        headers = self.codec.decode(spdy.syn_stream_block(frame))  # always, to keep zlib in step
        if sid % 2 == 0 or sid <= self.last_stream_id:
            raise spdy.SpdyError(f"stream id {sid} is not a new odd id (last was {self.last_stream_id})")
        self.last_stream_id = sid
        if self.gone_away:
            return
        stream = SpdyStream(self, sid, headers)
        if frame.flags & spdy.FLAG_UNIDIRECTIONAL:
            stream.local_done = True
        if not self.on_stream(stream):
            await self.send(spdy.rst_stream(sid, spdy.CANCEL))
            return
        self.streams[sid] = stream
        await self.send(spdy.syn_reply(sid, self.codec.encode({})))
        if frame.fin:
            stream._end_remote()

    async def _on_data(self, frame: spdy.Frame) -> None:
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            await self.send(spdy.rst_stream(frame.stream_id, spdy.INVALID_STREAM))
            return
        stream._deliver(frame.payload, frame.fin)

    async def _on_rst(self, frame: spdy.Frame) -> None:
        stream = self.streams.pop(spdy.stream_id_of(frame), None)
        if stream is not None:
            stream._on_reset()

    async def _on_ping(self, frame: spdy.Frame) -> None:
        if len(frame.payload) == 4 and struct.unpack(">I", frame.payload)[0] % 2 == 1:
            await self.send(spdy.ping(struct.unpack(">I", frame.payload)[0]))

    async def _on_goaway(self, frame: spdy.Frame) -> None:
        self.gone_away = True

    def forget(self, stream: SpdyStream) -> None:
        """Drop a finished stream (both sides done), so late frames for it are answered INVALID_STREAM."""
        self.streams.pop(stream.id, None)
