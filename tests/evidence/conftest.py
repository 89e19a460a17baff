"""Fixtures for the evidence library tests: a tiny go-httpbin stand-in on 127.0.0.1, stopped at teardown.

Routes: ``/hostname`` (JSON ``{"hostname": ...}``, rotating over three pod names), ``/plain`` (the name as
text), ``/status/<code>`` (that status, Envoy's 503 body), ``/slow`` (answers only when the test ends, so a
client times out), ``/drop`` (closes the connection without answering: a reset). ``closed_port`` is a port
on 127.0.0.1 where nothing listens (connection refused).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

PODS = ("in-ambient-7d8f9b6c54-abc12", "in-ambient-7d8f9b6c54-def34", "in-ambient-7d8f9b6c54-ghi56")


@dataclass
class FakeGateway:
    address: str = ""
    hosts: list[str] = field(default_factory=list)


def _app(rotation: Iterator[str], release: asyncio.Event, seen: FakeGateway) -> web.Application:
    async def hostname(request: web.Request) -> web.Response:
        seen.hosts.append(request.headers.get("Host", ""))
        return web.json_response({"hostname": next(rotation)})

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text=next(rotation) + "\n")

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, text="no healthy upstream" if code == 503 else "")

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def drop(request: web.Request) -> web.Response:
        request.transport.close()
        raise asyncio.CancelledError

    app = web.Application()
    app.add_routes([web.get("/hostname", hostname), web.get("/plain", plain), web.get("/status/{code}", status),
                    web.get("/slow", slow), web.get("/drop", drop)])  # fmt: skip
    return app


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """Serve the fake gateway from a background event loop; yields its address ``127.0.0.1:<port>``."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    seen = FakeGateway()
    state: dict = {}

    async def start() -> None:
        state["release"] = asyncio.Event()
        runner = web.AppRunner(_app(itertools.cycle(PODS), state["release"], seen), handle_signals=False)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        state["runner"] = runner
        seen.address = f"127.0.0.1:{sock.getsockname()[1]}"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10), "fake gateway did not start"
    try:
        yield seen
    finally:
        async def stop() -> None:
            state["release"].set()
            await state["runner"].cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
