"""The SPDY/3.1 core the port-forward and exec fallbacks run on: the draft's header dictionary, one
zlib stream per direction, frames cut from arbitrary reads, and a session driven by a minimal raw
client (no Go): PING echo, SYN_REPLY before data, a rejected stream, a forwarded pair, GOAWAY."""

from __future__ import annotations

import socket
import struct
import zlib

import pytest
from streams_helpers import register, tls_context

from ambient_lb.sim.cluster import PodPort
from ambient_lb.sim.server.streams import spdy


def test_dictionary_is_the_drafts_table_of_1423_bytes():
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_share_one_zlib_stream_per_direction():
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = sender.encode({"streamType": "error", "port": "8080", "requestID": "0"})
    second = sender.encode({"streamType": "data", "port": "8080", "requestID": "0"})
    assert receiver.decode(first) == {"streamtype": "error", "port": "8080", "requestid": "0"}
    assert receiver.decode(second) == {"streamtype": "data", "port": "8080", "requestid": "0"}
    with pytest.raises(spdy.SpdyError):  # the second block means nothing without the first
        spdy.HeaderCodec().decode(second)


def test_frame_reader_cuts_frames_out_of_arbitrary_reads():
    wire = spdy.ping(7) + spdy.data_frame(3, b"hello", fin=True) + spdy.goaway(5)
    reader = spdy.FrameReader()
    frames = [f for i in range(len(wire)) for f in reader.feed(wire[i:i + 1])]
    assert [(f.kind, f.flags) for f in frames] == [(spdy.PING, 0), (0, spdy.FLAG_FIN), (spdy.GOAWAY, 0)]
    assert frames[1].stream_id == 3 and frames[1].payload == b"hello"
    assert struct.unpack(">I", frames[0].payload)[0] == 7


def test_frames_of_another_spdy_version_end_the_session():
    frame = struct.pack(">HHI", 0x8000 | 2, spdy.PING, 4) + b"\0\0\0\1"
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.FrameReader().feed(frame)


class RawClient:
    """Just enough of a SPDY client: upgrade, send frames, read frames (decompressing replies)."""

    def __init__(self, sim, path: str, protocol: str) -> None:
        raw = socket.create_connection(("127.0.0.1", sim.port), timeout=20)
        self.sock = tls_context(sim).wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {sim.token}\r\n"
                           f"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {protocol}"
                           "\r\nContent-Length: 0\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        self.status_line, *lines = head.decode().split("\r\n")
        self.headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        self.out, self.inp, self.reader, self.pending = spdy.HeaderCodec(), spdy.HeaderCodec(), spdy.FrameReader(), []

    def open(self, stream_id: int, headers: dict[str, str]) -> None:
        self.sock.sendall(spdy.syn_stream(stream_id, self.out.encode(headers)))

    def frame(self) -> spdy.Frame:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.pending += self.reader.feed(data)
        frame = self.pending.pop(0)
        if frame.kind == spdy.SYN_REPLY:
            self.inp.decode(frame.payload[4:])
        return frame


@pytest.fixture(scope="module", autouse=True)
def admin_port(sim):
    async def admin(method, path, query, body):
        return 200, "text/plain", f"{method} {path}".encode()
    register(sim, "web-1", ports={15000: PodPort(handler=admin, loopback_only=True)})


def test_a_raw_spdy_client_pings_and_forwards_a_stream_pair(sim):
    c = RawClient(sim, "/api/v1/namespaces/demo/pods/web-1/portforward", "portforward.k8s.io")
    assert c.status_line == "HTTP/1.1 101 Switching Protocols"
    assert c.headers["upgrade"] == "SPDY/3.1" and c.headers["x-stream-protocol-version"] == "portforward.k8s.io"
    c.sock.sendall(spdy.ping(1))
    pong = c.frame()
    assert (pong.kind, pong.payload) == (spdy.PING, struct.pack(">I", 1))
    c.open(1, {"streamType": "bogus", "port": "15000", "requestID": "0"})
    rst = c.frame()
    assert rst.kind == spdy.RST_STREAM and spdy.stream_id_of(rst) == 1
    c.open(3, {"streamType": "error", "port": "15000", "requestID": "1"})
    c.open(5, {"streamType": "data", "port": "15000", "requestID": "1"})
    assert [(f.kind, spdy.stream_id_of(f)) for f in (c.frame(), c.frame())] == \
        [(spdy.SYN_REPLY, 3), (spdy.SYN_REPLY, 5)]
    c.sock.sendall(spdy.data_frame(3, b"", fin=True))  # kubectl closes its side of the error stream
    c.sock.sendall(spdy.data_frame(5, b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    got: dict[int, bytes] = {3: b"", 5: b""}
    finished: set[int] = set()
    while finished != {3, 5}:
        f = c.frame()
        if f.kind == 0:
            got[f.stream_id] += f.payload
            if f.fin:
                finished.add(f.stream_id)
    assert got[5].startswith(b"HTTP/1.1 200 OK\r\n") and got[5].endswith(b"GET /ready")
    assert got[3] == b""  # no error
    c.sock.sendall(spdy.goaway(0))
    c.sock.close()


def test_spdy_upgrade_without_a_protocol_the_server_speaks_is_refused(sim):
    c = RawClient(sim, "/api/v1/namespaces/demo/pods/web-1/portforward", "portforward.k8s.io.v2")
    assert c.status_line.startswith("HTTP/1.1 403")
    c.sock.close()


def test_header_block_compression_is_plain_zlib_with_the_dictionary():
    block = spdy.HeaderCodec().encode({"port": "80"})
    inflater = zlib.decompressobj(zdict=spdy.DICTIONARY)
    raw = inflater.decompress(block)
    assert raw == struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 2) + b"80"
