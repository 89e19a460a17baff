"""``pods/portforward`` for kubectl: SPDY port-forward, tunnelled in a WebSocket or upgraded directly.

Who calls it: ``__init__.portforward``. kubectl 1.31 asks for a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io`` (R15.6) and, when that upgrade fails, upgrades to ``SPDY/3.1``
directly (R15.7); both carry the same SPDY session. Per local connection kubectl opens an error
stream and a data stream with the headers ``streamType``, ``port`` and ``requestID`` (R15.12); once
both are there the server connects to the port in the pod (``podnet``) and copies bytes both ways
until one side ends, giving the other a second (containerd's grace), then closes both streams.
Nothing listening: the kubelet's and containerd's text on the error stream, then both streams
closed (R15.13); what kubectl does with it is kubectl's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from ..state import ServerState
from . import channels, podnet, runtime
from .session import ByteTransport, SpdySession, SpdyStream
from .transports import NoProtocol, WebSocketTunnel, handshake, upgrade_spdy

Obj = dict[str, Any]
PORTFORWARD = "portforward.k8s.io"
TUNNEL_PREFIX = "SPDY/3.1+"
STREAM_CREATION_TIMEOUT = 30.0  # seconds the kubelet waits for the second stream of a pair
GRACE = 1.0  # seconds containerd lets the other direction finish once one has ended


def tunnel_protocols(request: web.Request) -> list[str]:
    """The SPDY protocols inside ``SPDY/3.1+<p>.k8s.io`` WebSocket subprotocols (the API server's filter)."""
    return [p[len(TUNNEL_PREFIX):] for p in channels.requested(request)
            if p.startswith(TUNNEL_PREFIX) and p.endswith(".k8s.io")]


async def serve_tunnel(srv: ServerState, request: web.Request, pod: Obj) -> web.StreamResponse:
    """Port-forward over a WebSocket tunnel carrying SPDY (``SPDY/3.1+portforward.k8s.io``)."""
    offered = tunnel_protocols(request)
    if PORTFORWARD not in offered:
        return NoProtocol(offered, [PORTFORWARD]).response()
    refusal = _node_refusal(pod)
    if refusal is not None:
        return refusal
    ws = await channels.accept(request, TUNNEL_PREFIX + PORTFORWARD)
    await serve_session(srv, pod, WebSocketTunnel(ws))
    return ws


async def serve_spdy(srv: ServerState, request: web.Request, pod: Obj) -> web.StreamResponse:
    """Port-forward over an upgraded SPDY/3.1 connection."""
    try:
        protocol = handshake(request, [PORTFORWARD])
    except NoProtocol as exc:
        return exc.response()
    refusal = _node_refusal(pod)
    if refusal is not None:
        return refusal
    conn = await upgrade_spdy(request, protocol)
    await serve_session(srv, pod, conn)
    return conn.response


def _node_refusal(pod: Obj) -> web.Response | None:
    """The kubelet's 500 for a pod without a running sandbox, passed through by the API server (R15.14)."""
    text = runtime.pod_not_running(pod)
    return None if text is None else web.Response(status=500, text=text)


async def serve_session(srv: ServerState, pod: Obj, transport: ByteTransport) -> None:
    """Runs one port-forward SPDY session until the client goes, then cancels its forwards."""
    forwarder = Forwarder(srv, pod)
    session = SpdySession(transport, forwarder.on_stream)
    try:
        await session.run()
    finally:
        for task in list(forwarder.tasks):
            task.cancel()
        await session.shutdown()


class Forwarder:
    """Pairs each request's error and data streams and forwards the pair to the pod's port."""

    def __init__(self, srv: ServerState, pod: Obj) -> None:
        self.srv, self.pod = srv, pod
        self.pairs: dict[str, dict[str, SpdyStream]] = {}  # request id -> the streams seen so far
        self.expiries: dict[str, asyncio.Task[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def on_stream(self, stream: SpdyStream) -> bool:
        """Takes a new stream (False: rejected, as the kubelet rejects it); a complete pair starts a forward."""
        kind, port = stream.headers.get("streamtype", ""), stream.headers.get("port", "")
        if kind not in ("error", "data") or not port.isdigit() or not 0 < int(port) < 65536:
            return False  # the kubelet rejects the stream (R15.12)
        rid = self._request_id(stream, kind)
        pair = self.pairs.setdefault(rid, {})
        if kind in pair:
            return False
        pair[kind] = stream
        if len(pair) == 1:
            self.expiries[rid] = self._spawn(self._expire(rid, stream))
        else:
            del self.pairs[rid]
            self.expiries.pop(rid).cancel()
            self._spawn(self._forward(pair["error"], pair["data"], int(port)))
        return True

    def _request_id(self, stream: SpdyStream, kind: str) -> str:
        rid = stream.headers.get("requestid")
        if rid:
            return rid
        return str(stream.id if kind == "error" else stream.id - 2)  # clients older than request ids

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _expire(self, rid: str, first: SpdyStream) -> None:
        """The kubelet gives the second stream of a pair STREAM_CREATION_TIMEOUT seconds."""
        await asyncio.sleep(STREAM_CREATION_TIMEOUT)
        self.pairs.pop(rid, None)
        self.expiries.pop(rid, None)
        if first.headers.get("streamtype") == "error":
            await first.write(f"(request={rid}) timed out waiting for streams".encode())
        await first.close()

    async def _forward(self, error: SpdyStream, data: SpdyStream, port: int) -> None:
        md = self.pod["metadata"]
        conn = None
        try:
            conn = await podnet.dial(self.srv.cluster, md.get("namespace", ""), md["name"], port)
            await pipe(data.read, data.write, conn)
        except podnet.PortRefused:
            await error.write(runtime.forward_refused(self.pod, port).encode())
        finally:
            if conn is not None:
                conn.close()
            await data.close()
            await error.close()


async def pipe(read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]],
               conn: podnet.PodConn) -> None:
    """Copy client→pod and pod→client until one ends, then give the other GRACE seconds."""
    up = asyncio.ensure_future(_copy(read, conn.write))
    down = asyncio.ensure_future(_copy(conn.read, write))
    try:
        _, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=GRACE)
    finally:
        up.cancel()
        down.cancel()


async def _copy(read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]]) -> None:
    try:
        while data := await read():
            await write(data)
    except (ConnectionError, OSError):
        pass

