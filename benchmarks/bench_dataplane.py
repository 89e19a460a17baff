"""Requests per second through gateway → waypoint → pod with access logging on, and memory after 100,000 requests.

Run: ``.venv/bin/python benchmarks/bench_dataplane.py [--requests N] [--concurrency C]``.
The simulator (mesh-only cluster from ``sim.mesh.scenario``, waypoint bound, the guide's DR) serves
on its real loopback listener in this process; a separate client process sends keep-alive requests
so the two do not share one event loop. The same client then measures a trivial aiohttp echo server
in this process, so the printed ratios compare against the target (2,000 req/s) and against what
this machine does with no simulation at all. Memory: RSS after the run and the number of retained
log lines (bounded by ``PodLogs.max_lines`` per container).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys

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


async def bench_sim(n: int, conc: int) -> tuple[dict, float, int]:
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
    res = await run_client(url, n, conc)
    rss = psutil.Process().memory_info().rss / 2**20
    lines = sum(len(b) for b in cluster.logs._buf.values())
    await cluster.stop()
    return res, rss, lines


async def bench_echo(n: int, conc: int) -> dict:
    async def echo(_: web.BaseRequest) -> web.Response:
        return web.Response(body=b'{\n  "hostname": "echo"\n}\n')
    server = web.Server(echo, access_log=None)
    srv = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    res = await run_client(f"http://127.0.0.1:{port}/hostname", n, conc)
    srv.close()
    await srv.wait_closed()
    return res


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    sim, rss, lines = await bench_sim(args.requests, args.concurrency)
    echo = await bench_echo(min(args.requests, 20_000), args.concurrency)
    print(f"gateway -> waypoint -> pod, logging on: {sim['rps']:.0f} req/s over {args.requests} requests "
          f"(codes {sim['codes']})")
    print(f"  vs target {TARGET_RPS:.0f} req/s: ratio {sim['rps'] / TARGET_RPS:.2f}")
    print(f"  vs trivial aiohttp echo server ({echo['rps']:.0f} req/s): ratio {sim['rps'] / echo['rps']:.2f}")
    print(f"memory after {args.requests} requests: RSS {rss:.0f} MiB, retained log lines {lines}")


if __name__ == "__main__":
    asyncio.run(main())
