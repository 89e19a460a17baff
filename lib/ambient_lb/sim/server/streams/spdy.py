"""SPDY/3.1 framing: the frames of kubectl's SPDY streams and their compressed header blocks.

Who calls it: ``session.py``, which runs one SPDY session per upgraded connection (kubectl's
``port-forward`` tunnelled in a WebSocket or over a direct ``Upgrade: SPDY/3.1``, and its ``exec``
fallback). Pure functions over bytes, no I/O. Written from the SPDY/3 draft (R15.8): 8-byte frame
headers, control frames ``1|version 3|type``, data frames ``0|stream id``, and Name/Value header
blocks compressed by one zlib stream per direction, primed with the draft's dictionary (§2.6.10.1).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
# RST_STREAM status codes (draft §2.6.3) and GOAWAY status codes (§2.6.6)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5
GOAWAY_OK = 0
MAX_LENGTH = 0xFFFFFF  # a frame's length field is 24 bits

# The compression dictionary of draft §2.6.10.1: length-prefixed header names and common values,
# then a run of status codes, reason phrases, dates and media types.
_DICT_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date etag "
    "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
    "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
    "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
    "method get status").split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
                                    "keep-alive", "origin"]
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL.encode()


class SpdyError(Exception):
    """The peer broke the framing (a session error, draft §2.4.1): the session ends with GOAWAY."""


@dataclass
class Frame:
    """One frame. Control frames have ``kind`` (SYN_STREAM...) and ``payload``; data frames ``kind`` 0."""

    kind: int
    flags: int
    payload: bytes
    stream_id: int = 0  # data frames only; control frames carry theirs in the payload

    @property
    def fin(self) -> bool:
        """True when the frame ends its stream (FLAG_FIN)."""
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Cuts a byte stream into frames; ``feed`` returns the frames completed so far."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Adds received bytes and returns the frames they complete."""
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, payload = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            frames.append(_frame(head, payload))
        return frames


def _frame(head: bytes, payload: bytes) -> Frame:
    word, flags = struct.unpack(">I", head[:4])[0], head[4]
    if not word & 0x80000000:
        return Frame(0, flags, payload, stream_id=word & 0x7FFFFFFF)
    version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
    if version != VERSION:
        raise SpdyError(f"SPDY version {version} is not supported; this server speaks SPDY/3.1")
    return Frame(kind, flags, payload)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    """A DATA frame for a stream (with FLAG_FIN when fin)."""
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def syn_stream(stream_id: int, header_block: bytes, fin: bool = False) -> bytes:
    """A client's SYN_STREAM (associated stream 0, priority 0, slot 0); the server never sends one."""
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, struct.pack(">IIH", stream_id, 0, 0) + header_block)


def syn_reply(stream_id: int, header_block: bytes, fin: bool = False) -> bytes:
    """A SYN_REPLY frame for a stream, with its compressed header block."""
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + header_block)


def rst_stream(stream_id: int, status: int) -> bytes:
    """An RST_STREAM frame with a status code."""
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping(ping_id: int) -> bytes:
    """A PING frame."""
    return _control(PING, 0, struct.pack(">I", ping_id))


def goaway(last_stream_id: int, status: int = GOAWAY_OK) -> bytes:
    """A GOAWAY frame naming the last stream the server took."""
    return _control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


def stream_id_of(frame: Frame) -> int:
    """The stream a control frame names (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE)."""
    if frame.kind == 0:
        return frame.stream_id
    if len(frame.payload) < 4:
        raise SpdyError(f"control frame type {frame.kind} is too short ({len(frame.payload)} bytes)")
    return struct.unpack(">I", frame.payload[:4])[0] & 0x7FFFFFFF


def syn_stream_block(frame: Frame) -> bytes:
    """The compressed header block of a SYN_STREAM (after stream id, associated id, priority, slot)."""
    if len(frame.payload) < 10:
        raise SpdyError("SYN_STREAM is shorter than its 10 fixed bytes")
    return frame.payload[10:]


class HeaderCodec:
    """Name/Value header blocks for one connection: one zlib stream per direction (draft §2.6.10.1)."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, str]) -> bytes:
        """A header block: the headers (names lower-case), zlib-compressed with the session's shared dictionary
        state."""
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._out.compress(raw) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, str]:
        """Header names (lower case) to their first value; multiple values are NUL-separated."""
        try:
            raw = self._in.decompress(block)
        except zlib.error as exc:
            raise SpdyError(f"header block does not decompress: {exc}") from None
        return _parse_block(raw)


def _parse_block(raw: bytes) -> dict[str, str]:
    def take(pos: int) -> tuple[bytes, int]:
        (n,) = struct.unpack_from(">I", raw, pos)
        if pos + 4 + n > len(raw):
            raise SpdyError("header block is truncated")
        return raw[pos + 4:pos + 4 + n], pos + 4 + n
    try:
        (count,), pos = struct.unpack_from(">I", raw, 0), 4
        headers: dict[str, str] = {}
        for _ in range(count):
            name, pos = take(pos)
            value, pos = take(pos)
            headers[name.decode("latin-1").lower()] = value.split(b"\0")[0].decode("latin-1")
        return headers
    except struct.error:
        raise SpdyError("header block is truncated") from None
