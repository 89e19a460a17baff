"""Requests per second through gateway → waypoint → pod with access logging on, and memory after 100,000 requests.

Run: ``.venv/bin/python benchmarks/bench_dataplane.py [--requests N] [--concurrency C]``.
The simulator (mesh-only cluster from ``sim.mesh.scenario``, waypoint bound, the guide's DR) serves
on its real loopback listener in this process; a separate client process sends keep-alive requests
so the two do not share one event loop. The same client then measures a trivial aiohttp echo server
in this process, so the printed ratios compare against the target (2,000 req/s) and against what
this machine does with no simulation at all. Besides wall-clock req/s it prints the server's CPU
time per request (this process's CPU time over the run / requests), which a busy machine disturbs
far less than wall time, and the load average, so a run on a loaded machine can be read for what it
is. ``--repeat`` runs the measurement several times and reports the best and the median.

Memory: RSS after half and after all of the requests, and the retained access-log lines against
their bound: ``PodLogs.max_lines`` (50,000, like a rotated container log) per container that
receives lines. Once every container's buffer is full, RSS stops growing: that plateau is the
bounded figure. The default retention is not changed for the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import psutil
from aiohttp import web

from ambient_lb.sim.clock import ScaledClock
from ambient_lb.sim.cluster import Cluster
from ambient_lb.sim.mesh import scenario

TARGET_RPS = 2000.0

CLIENT = r"""
import asyncio, json, sys, time, aiohttp
url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    codes = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
        left = n
        async def worker():
            nonlocal left
            while left > 0:
                left -= 1
                async with s.get(url, headers={"Host": "httpbin.example.com"}) as r:
                    await r.read()
                    codes[r.status] = codes.get(r.status, 0) + 1
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "rps": n / dt, "codes": codes}))
asyncio.run(main())
"""


async def run_client(url: str, n: int, conc: int) -> dict:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, url, str(n), str(conc),
                                                stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def timed_client(url: str, n: int, conc: int) -> dict:
    """``run_client`` plus this process's CPU time per request (µs) while serving it."""
    cpu0 = time.process_time()
    res = await run_client(url, n, conc)
    res["server_cpu_us"] = (time.process_time() - cpu0) / n * 1e6
    return res


async def bench_sim(n: int, conc: int, repeat: int) -> tuple[list[dict], dict]:
    cluster = Cluster(clock=ScaledClock(1.0), seed=11)
    cluster.clock.bind(asyncio.get_running_loop())
    scenario.mesh_cluster(cluster)
    scenario.install_guide(cluster)
    scenario.add_waypoint(cluster, dr=dict(scenario.GUIDE_DR))
    scenario.settle(cluster)
    scenario.give_waypoint_vip(cluster)
    scenario.settle(cluster)
    await cluster.start()
    addr = cluster.extensions["listeners"].address
    url = f"http://{addr}:8080/hostname"
    await run_client(url, 500, conc)  # warm-up
    runs = []
    for _ in range(repeat):
        first = await timed_client(url, n // 2, conc)
        rss_half = _rss_mib()
        second = await timed_client(url, n - n // 2, conc)
        secs = first["seconds"] + second["seconds"]
        codes = {k: first["codes"].get(k, 0) + second["codes"].get(k, 0) for k in {*first["codes"], *second["codes"]}}
        runs.append({"rps": n / secs, "codes": codes, "loadavg": os.getloadavg()[0],
                     "server_cpu_us": (first["server_cpu_us"] + second["server_cpu_us"]) / 2})
    bufs = cluster.logs._buf
    mem = {"rss_half": rss_half, "rss": _rss_mib(), "lines": sum(len(b) for b in bufs.values()),
           "bound": cluster.logs.max_lines * len(bufs), "containers": len(bufs),
           "text_mib": sum(len(t) for b in bufs.values() for _, t in b) / 2**20}
    await cluster.stop()
    return runs, mem


async def bench_echo(n: int, conc: int) -> dict:
    async def echo(_: web.BaseRequest) -> web.Response:
        return web.Response(body=b'{\n  "hostname": "echo"\n}\n')
    server = web.Server(echo, access_log=None)
    srv = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    res = await timed_client(f"http://127.0.0.1:{port}/hostname", n, conc)
    srv.close()
    await srv.wait_closed()
    return res


def _best_and_median(runs: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return (max(values) if key == "rps" else min(values)), statistics.median(values)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1, help="measure this many times (same cluster)")
    args = ap.parse_args()
    if args.requests < 2 or args.repeat < 1:
        ap.error("--requests must be >= 2 and --repeat >= 1, for example --requests 20000 --repeat 3")
    load0 = os.getloadavg()[0]
    runs, mem = await bench_sim(args.requests, args.concurrency, args.repeat)
    echo = await bench_echo(min(args.requests, 20_000), args.concurrency)
    rps, rps_med = _best_and_median(runs, "rps")
    cpu, cpu_med = _best_and_median(runs, "server_cpu_us")
    print(f"gateway -> waypoint -> pod, logging on: {rps:.0f} req/s (median {rps_med:.0f} of {len(runs)}) "
          f"over {args.requests} requests, concurrency {args.concurrency} (codes {runs[-1]['codes']})")
    print(f"  vs target {TARGET_RPS:.0f} req/s: ratio {rps / TARGET_RPS:.2f}")
    print(f"  vs trivial aiohttp echo server ({echo['rps']:.0f} req/s): ratio {rps / echo['rps']:.2f}")
    print(f"  server CPU per request: {cpu:.0f} us (median {cpu_med:.0f}); echo {echo['server_cpu_us']:.0f} us; "
          f"CPU-bound ceiling {1e6 / cpu:.0f} req/s")
    print(f"  load average (1 min): {load0:.2f} at start, "
          + ", ".join(f"{r['loadavg']:.2f}" for r in runs) + " after each run")
    print(f"memory after {args.requests} requests: RSS {mem['rss']:.0f} MiB (after half: {mem['rss_half']:.0f} MiB); "
          f"retained log lines {mem['lines']} of at most {mem['bound']} ({mem['containers']} containers x "
          f"max_lines), {mem['text_mib']:.0f} MiB of text (full buffers at this line length: "
          f"{mem['text_mib'] * mem['bound'] / max(1, mem['lines']):.0f} MiB)")


if __name__ == "__main__":
    asyncio.run(main())
