"""Benchmark of the simulator's API server against the issue's targets, with a same-run baseline.

Prints, for each figure, the measured value, its ratio to the issue's target (<= 1.0 meets it)
and, where it applies, its ratio to a trivial aiohttp handler measured in the same run over the
same TLS keep-alive connection (what the framework and the loopback cost by themselves).

    target                                   issue
    p95 time per request, 1,000 pods         5 ms
    1,000-pod Table list                     50 ms
    change-to-watch-event latency            20 ms
    memory (RSS) at 1,000 pods               300 MB
    start-to-ready (sim up)                  2 s

Run: .venv/bin/python benchmarks/bench_sim_api.py   (about a minute)
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

from ambient_lb.sim.process import (
    running_simulator,
    running_simulator_process,
    start_background,
    stop_background,
    tune_gc,
)
from ambient_lb.sim.server.tls import self_signed
from ambient_lb.sim.store import GR

N_PODS = 1000
N_REQ = 600
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
TARGETS = {"request_p95_ms": 5.0, "table_list_ms": 50.0, "watch_latency_ms": 20.0, "rss_mb": 300.0,
           "start_to_ready_s": 2.0}


def pod(i: int) -> dict[str, Any]:
    ns = f"ns{i % 10}"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:04d}", "namespace": ns,
            "labels": {"app": f"app{i % 20}", "idx": str(i)}},
            "spec": {"nodeName": f"node-{i % 3}", "containers": [{"name": "c", "image": "x:1",
                     "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": f"10.244.{i // 250}.{i % 250}",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                              "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}}


def seed(sim: Any) -> None:
    def run() -> None:
        st = sim.cluster.store
        for n in range(10):
            st.create(GR("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{n}"},
                                             "status": {"phase": "Active"}})
        for i in range(N_PODS):
            st.create(GR("", "pods"), pod(i))
    sim.call(run, timeout=60)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def timed(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> float:
    t = time.perf_counter()
    async with session.request(method, url, **kw) as r:
        await r.read()
        assert r.status < 300, (url, r.status)
    return (time.perf_counter() - t) * 1e3


async def request_mix(session: aiohttp.ClientSession, base: str) -> list[float]:
    out = []
    for i in range(N_REQ):
        k = i % 4
        name, ns = f"pod-{(i * 7) % N_PODS:04d}", f"ns{((i * 7) % N_PODS) % 10}"
        if k == 0:
            out.append(await timed(session, "GET", f"{base}/api/v1/namespaces/{ns}/pods/{name}"))
        elif k == 1:
            out.append(await timed(session, "GET", f"{base}/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dapp3"))
        elif k == 2:
            out.append(await timed(session, "PATCH", f"{base}/api/v1/namespaces/{ns}/pods/{name}",
                                   data=json.dumps({"metadata": {"labels": {"touch": str(i)}}}),
                                   headers={"Content-Type": "application/merge-patch+json"}))
        else:
            out.append(await timed(session, "GET", f"{base}/api/v1/namespaces/{ns}/pods/{name}",
                                   headers={"Accept": TABLE}))
    return out




class Baseline:
    """A trivial aiohttp handler behind the same TLS, on its own thread and loop."""

    def __init__(self, identity: Any) -> None:
        self.identity, self.port, self.ready = identity, 0, threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True).start()
        self.ready.wait(10)

    async def _main(self) -> None:
        app = web.Application()
        app.router.add_get("/ok", lambda r: web.json_response({"ok": True}))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.identity.server_context())
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        await asyncio.Event().wait()


def session_for(ca_pem: bytes, token: str | None) -> aiohttp.ClientSession:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=1), headers=headers)


def server_ms(sim: Any, since: int) -> list[float]:
    """Handler time the server measured itself (middleware to response ready) for requests after ``since``."""
    timings = sim.call(lambda: list(sim.cluster.extensions["api_server"].timings))
    return [t * 1e3 for _, _, t in timings[since:]]


def n_timings(sim: Any) -> int:
    return sim.call(lambda: len(sim.cluster.extensions["api_server"].timings))


async def client_side(sim: Any, base_identity: Any, baseline_port: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    async with session_for(base_identity.cert_pem, None) as s:
        for _ in range(50):
            await timed(s, "GET", f"https://127.0.0.1:{baseline_port}/ok")
        res["baseline"] = [await timed(s, "GET", f"https://127.0.0.1:{baseline_port}/ok") for _ in range(N_REQ)]
    async with session_for(sim.ca_pem, sim.token) as s:
        await request_mix(s, sim.url)  # warm up
        mark = n_timings(sim)
        res["version"] = [await timed(s, "GET", f"{sim.url}/version") for _ in range(N_REQ)]
        res["server_version"] = server_ms(sim, mark)
        mark = n_timings(sim)
        res["mix"] = await request_mix(s, sim.url)
        res["server_mix"] = server_ms(sim, mark)
        mark = n_timings(sim)
        res["table"] = [await timed(s, "GET", f"{sim.url}/api/v1/pods", headers={"Accept": TABLE}) for _ in range(40)]
        res["server_table"] = server_ms(sim, mark)
        mark = n_timings(sim)
        res["list_json"] = [await timed(s, "GET", f"{sim.url}/api/v1/pods") for _ in range(40)]
        res["server_list_json"] = server_ms(sim, mark)
    async with session_for(sim.ca_pem, sim.token) as s, session_for(sim.ca_pem, sim.token) as w:
        res["watch"] = await watch_latency_two(s, w, sim.url)
    return res


async def watch_latency_two(s: aiohttp.ClientSession, w: aiohttp.ClientSession, base: str, n: int = 100) -> list[float]:
    out = []
    async with w.get(f"{base}/api/v1/namespaces/ns1/pods?watch=true&labelSelector=idx%3D1") as stream:
        await stream.content.readline()
        for i in range(n):
            t = time.perf_counter()
            async with s.patch(f"{base}/api/v1/namespaces/ns1/pods/pod-0001",
                               data=json.dumps({"metadata": {"annotations": {"n": str(i)}}}),
                               headers={"Content-Type": "application/merge-patch+json"}) as r:
                await r.read()
            line = await asyncio.wait_for(stream.content.readline(), 10)
            assert b"MODIFIED" in line
            out.append((time.perf_counter() - t) * 1e3)
    return out


def rss_at_1000_pods() -> float:
    """RSS of a `sim up`-style server process (full world) after 1,000 pods were created through the API."""
    import urllib.request
    with running_simulator_process(seed=1, speed=50) as sim:
        ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())

        async def create() -> None:
            async with session_for(sim.ca_pem, sim.token) as s:
                for n in range(10):
                    await timed(s, "POST", f"{sim.url}/api/v1/namespaces", json={"metadata": {"name": f"ns{n}"}})
                nodes = json.loads(urllib.request.urlopen(urllib.request.Request(
                    f"{sim.url}/api/v1/nodes", headers={"Authorization": f"Bearer {sim.token}"}), context=ctx).read())
                node_names = [n["metadata"]["name"] for n in nodes["items"]]
                for i in range(N_PODS):
                    body = pod(i)
                    body.pop("status")
                    body["spec"]["nodeName"] = node_names[i % len(node_names)]
                    ns = body["metadata"]["namespace"]
                    await timed(s, "POST", f"{sim.url}/api/v1/namespaces/{ns}/pods", json=body)
        asyncio.run(create())
        return psutil.Process(sim.pid).memory_info().rss / 2**20


def start_to_ready(runs: int = 3) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            kc = Path(d) / "kubeconfig"
            t = time.perf_counter()
            start_background(kc, seed=1)
            out.append(time.perf_counter() - t)
            stop_background(kc)
    return out


def line(label: str, value: float, unit: str, target_key: str | None, baseline: float | None = None) -> None:
    parts = [f"{label:<44} {value:9.2f} {unit:<3}"]
    if target_key:
        parts.append(f"target {TARGETS[target_key]:g} {unit}  ratio {value / TARGETS[target_key]:5.2f}")
    if baseline:
        parts.append(f"x baseline {value / baseline:6.1f}")
    print("   ".join(parts))


def main() -> int:
    identity = self_signed()
    base = Baseline(identity)
    with running_simulator(seed=1, speed=1, bare=True) as sim:
        seed(sim)
        tune_gc()  # as `sim serve` does once it is up
        res = asyncio.run(client_side(sim, identity, base.port))
    b95, s95 = pct(res["baseline"], 95), pct(res["server_version"], 95)
    print(f"ambient-lb simulator API benchmark ({N_PODS} pods, {N_REQ} requests per series; python "
          f"{sys.version.split()[0]}; client and server share one process, so client figures include "
          "GIL contention)")
    print("-- server time (measured by the server: request in -> response ready)")
    line("baseline: GET /version through the same middlewares, p95", s95, "ms", None)
    line("request mix (get/list-by-label/patch/get-table), p95", pct(res["server_mix"], 95), "ms",
         "request_p95_ms", s95)
    line("1,000-pod Table list, p95", pct(res["server_table"], 95), "ms", "table_list_ms", s95)
    line("1,000-pod Table list, median", statistics.median(res["server_table"]), "ms", "table_list_ms", s95)
    line("1,000-pod JSON list, p95", pct(res["server_list_json"], 95), "ms", None, s95)
    print("-- seen by the client (TLS keep-alive connection, includes encryption and parsing)")
    line("baseline: trivial aiohttp handler (own server), p95", b95, "ms", None)
    line("request mix, p95", pct(res["mix"], 95), "ms", "request_p95_ms", b95)
    line("1,000-pod Table list, median", statistics.median(res["table"]), "ms", "table_list_ms", b95)
    line("change-to-watch-event (PATCH sent -> event read), p95", pct(res["watch"], 95), "ms", "watch_latency_ms", b95)
    line("memory (RSS) of a sim-up server with 1,000 pods", rss_at_1000_pods(), "MB", "rss_mb")
    line("start-to-ready (sim up, spawn -> answering), worst of 3", max(start_to_ready()), "s", "start_to_ready_s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
