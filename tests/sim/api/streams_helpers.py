"""Helpers for the exec and port-forward tests: register fake programs and sockets in a pod, run
``kubectl port-forward`` and wait for its "Forwarding from" lines, start a small TCP server on the
simulator's loop, and open raw WebSockets to the simulator with the kubeconfig's token and CA."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ambient_lb.sim.cluster import ExecHandler, PodPort
from ambient_lb.sim.process import Simulator

FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


def register(sim: Simulator, pod: str, *, programs: dict[str, ExecHandler] | None = None,
             ports: dict[int, PodPort] | None = None, namespace: str = "demo") -> None:
    """What the data plane would register for ``pod``: its containers' programs and its sockets."""
    def run() -> None:
        if programs is not None:
            sim.cluster.pod_exec[(namespace, pod)] = programs
        if ports is not None:
            sim.cluster.pod_ports[(namespace, pod)] = ports
    sim.call(run)


@dataclass
class Forward:
    """A running ``kubectl port-forward``: ``local[remote port]`` is the local port it listens on."""

    proc: subprocess.Popen[str]
    local: dict[int, int]
    lines: queue.Queue[str | None]
    seen: list[str] = field(default_factory=list)

    def wait_for_line(self, pattern: str, timeout: float = 20) -> str:
        """The next stdout line containing ``pattern`` (fails after ``timeout`` seconds or at exit)."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"kubectl port-forward ended before printing {pattern!r}")
            self.seen.append(line)
            if pattern in line:
                return line


@contextlib.contextmanager
def port_forward(sim: Simulator, cache_dir: Path, target: str, *remote: int,
                 env: dict[str, str] | None = None, timeout: float = 30) -> Iterator[Forward]:
    """``kubectl port-forward -n demo <target> :<port>...``, stopped on exit."""
    argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache_dir),
            "port-forward", "-n", "demo", target, *(f":{p}" for p in remote)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    try:
        fwd = Forward(proc, {}, lines)
        while len(fwd.local) < len(remote):
            match = FORWARDING.search(fwd.wait_for_line("Forwarding from 127.0.0.1", timeout))
            assert match is not None
            fwd.local[int(match.group(2))] = int(match.group(1))
        yield fwd
    except AssertionError:
        proc.kill()
        raise AssertionError(f"kubectl port-forward failed: {proc.communicate(timeout=10)[1]}") from None
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def tcp_server(sim: Simulator, handler: Any) -> Iterator[int]:
    """A small aiohttp server on 127.0.0.1 (ephemeral port) on the simulator's loop; yields its port."""
    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    assert sim.loop is not None
    runner, port = asyncio.run_coroutine_threadsafe(start(), sim.loop).result(10)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), sim.loop).result(10)


def tls_context(sim: Simulator) -> ssl.SSLContext:
    """Trusts the simulator's self-signed certificate (the kubeconfig's CA)."""
    assert sim.ca_pem is not None
    ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())
    ctx.check_hostname = False
    return ctx


def open_websocket(sim: Simulator, path: str, subprotocols: list[str]) -> Any:
    """A websocket-client connection to ``path`` with the token (what the Python client sends)."""
    import websocket

    url = sim.url.replace("https://", "wss://") + path
    return websocket.create_connection(url, subprotocols=subprotocols, timeout=20,
                                       header=[f"Authorization: Bearer {sim.token}"],
                                       sslopt={"context": tls_context(sim)})
