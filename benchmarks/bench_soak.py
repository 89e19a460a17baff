"""Soak: the simulator under 20 concurrent API clients plus gateway traffic, with a leak check (issue 12, item 4).

The simulator is set up the runbook's way: a private HOME, a params file (target sim, speed 1 as a learner
runs it), ``guide.open_run`` and ``guide.prepare(run, "03")`` (the Gateway, the app with 3 replicas, the
HTTPRoute: the state after notebook 02), all through kubectl against the server. The server is what
``ambient-lb sim up`` runs (``start_servers``: same world, TLS and token), in a child process of this
benchmark that also reports, once a second, what only the server knows: its own request timings, open
watches, objects in the store, retained log lines and watch history, asyncio tasks. The load, for
``--seconds`` (60), all started together once every load process is ready:

    gateway traffic  aiohttp keep-alive clients (separate processes) to http://$KGATEWAY_IP:8080/hostname
                     with the guide's Host header, paced at --rate; the rate achieved is what is printed
    20 API clients   8 real kubectl processes in loops (3 x `get pods -A -o json`, 1 x `get deployments,
                     services,httproutes -n httpbin -o json`, 2 x `apply -f -` of a ConfigMap, each waiting
                     --kubectl-think (1 s) between runs; 2 watches that stay open: `get configmaps -n soak -w`,
                     `get pods -n httpbin -w`) and 12 kubernetes-client threads in another process (4 listing,
                     2 reading single objects, 3 server-side applying ConfigMaps, 3 watching: resume from the
                     last resourceVersion, re-list on 410), each waiting --think (0.1 s) between requests

    target (issue 12)                         verdict
    gateway traffic       >= 2,000 req/s      ratio printed; below it is a note, not a failure (see below)
    5xx not injected      0                   failure (exit 1): gateway answers and API errors alike
    client errors         0                   failure (exit 1): kubectl exit != 0, exceptions, a watch
                                              that ended with an error, a gateway connection error
    RSS after warm-up     flat                failure (exit 1) if it grows more than LEAK_RSS_PCT
    open watches, tasks,  bounded             failure (exit 1) if one ends above its level after warm-up
      store objects, log containers             (+ LEAK_COUNT_MARGIN: reconnects in flight)

Why throughput is a note: the rate the gateway reaches is bounded by the machine's free CPU, which the
load itself takes (kubectl is ~0.13 s of CPU per run; the aiohttp client spends about as much per request
as the simulator does), so the run prints where the CPU went and the ratios against baselines measured
in the same run, before the soak: the gateway with one connection and alone at full concurrency, and the
same API requests from one client on the otherwise idle simulator (each kubectl command 3 times, each
kind of client request in turn).

Memory: the simulator keeps bounded buffers (each container's log: 50,000 lines; the store's watch history:
20,000 events). At those bounds they would still be filling after 60 s, growth by design and not a leak,
so for the soak they are set lower (--log-lines, --history) and fill during the baselines; the retained
counts are printed against their bounds. Warm-up: the first 20 % of the soak, or until the buffers stopped
growing if later. RSS is sampled every second (psutil); the slope (least squares, MB/min) and the growth
after warm-up are printed.

The checks can fail: ``--inject`` adds faults during the soak and declares them (the run must see them and
still pass: an API 503 burst aimed at one client by its User-Agent, and one app pod answering 503 for two
seconds); ``--sabotage 5xx`` adds the same faults without declaring them, ``--sabotage leak`` makes the
simulator keep 1 MiB more every second: both runs must fail.

Run: .venv/bin/python benchmarks/bench_soak.py [--seconds 60]   (about 2 minutes; --seconds 10 for a quick run)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

TARGET_RPS = 2000.0
LEAK_RSS_PCT = 5.0  # RSS growth allowed after warm-up; allocator noise over a minute is ~1-2 % here
LEAK_COUNT_MARGIN = 2  # open watches / tasks may end this many above their warm-up level (reconnects in flight)
SOAK_NS = "soak"
HTTPBIN = "httpbin"
# collection paths only the watchers use: their server time is the stream's life, so they are left out
WATCHED_PATHS = (f"/api/v1/namespaces/{SOAK_NS}/configmaps", f"/api/v1/namespaces/{HTTPBIN}/pods")
INJECTED_CLIENT = "client-apply-0"  # the API fault of --inject is aimed at this client's User-Agent
INJECTED_API_COUNT = 3
INJECTED_POD_SECONDS = 2.0
INJECTION_SLACK = 1.0  # seconds after a pod fault is lifted during which its 5xx are still its own


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(t for t, _ in points)
    my = statistics.fmean(v for _, v in points)
    den = sum((t - mx) ** 2 for t, _ in points)
    return 60 * sum((t - mx) * (v - my) for t, v in points) / den if den else 0.0


# ---------------------------------------------------------------------------------------------
# The simulator's process: what `sim serve` runs, plus a once-a-second report of server-side figures.

async def sim_child(args: argparse.Namespace) -> None:
    from ambient_lb.sim.in_process import start_servers, tune_gc
    from ambient_lb.sim.server.tls import TlsIdentity
    from ambient_lb.sim.topology import load_topology

    kw = {"seed": args.seed, "speed": args.speed, "strict": False, "topology_name": args.topology,
          "topology": load_topology(args.topology) if args.topology else None}
    tls = TlsIdentity(Path(args.tls_cert).read_bytes(), Path(args.tls_key).read_bytes())
    token = Path(args.token_file).read_text().strip()
    servers = await start_servers(kw, token, "127.0.0.1", 0, tls=tls)
    tune_gc()
    _, cluster, port = servers[0]
    logs, store = cluster.logs, cluster.store
    logs.max_lines = args.log_lines  # for buffers made from now on; the ones already there are re-made
    for key, buf in list(logs._buf.items()):
        logs._buf[key] = collections.deque(buf, maxlen=args.log_lines)
    store._history = collections.deque(store._history, maxlen=args.history)
    server = cluster.extensions["api_server"]
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)  # the parent closed our stdin, or died
    hoard: list[bytes] = []  # --sabotage leak
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if args.leak:
            hoard.append(os.urandom(2**20))
        timings = [(m, p, round(s * 1e3, 3)) for m, p, s in server.timings]
        server.timings.clear()
        print(json.dumps({
            "t": time.monotonic(), "timings": timings, "watches": server.hub.count(),
            "objects": sum(len(v) for v in store._objects.values()), "rv": store.resource_version,
            "history": len(store._history), "history_max": store._history.maxlen,
            "log_lines": sum(len(b) for b in logs._buf.values()), "log_containers": len(logs._buf),
            "log_max": logs.max_lines,
            "tasks": len(asyncio.all_tasks())}), flush=True)
    for runner, _, _ in reversed(servers):
        await runner.cleanup()


class SimProcess:
    """The simulator child: started, its kubeconfig written, its reports collected on a thread."""

    def __init__(self, root: Path, kubeconfig: Path, seed: int, speed: float, topology: str | None,
                 log_lines: int, history: int, profile: str | None = None, leak: bool = False) -> None:
        from ambient_lb.sim.kubeconfig import kubeconfig_text, write_private
        from ambient_lb.sim.server.tls import self_signed

        identity, token = self_signed(), secrets.token_urlsafe(32)
        files = {"token": token + "\n", "tls.crt": identity.cert_pem.decode(), "tls.key": identity.key_pem.decode()}
        for name, text in files.items():
            write_private(root / name, text)
        self.log_file = root / "server.log"
        argv = [sys.executable, __file__, "_sim", "--seed", str(seed), "--speed", str(speed),
                "--token-file", str(root / "token"), "--tls-cert", str(root / "tls.crt"),
                "--tls-key", str(root / "tls.key"), "--log-lines", str(log_lines), "--history", str(history)]
        argv += ["--topology", topology] if topology else []
        argv += ["--profile", str(Path(profile).resolve())] if profile else []
        argv += ["--leak"] if leak else []
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            raise SystemExit(f"the simulator did not start; its log ({self.log_file}):\n{self.log_file.read_text()}")
        self.url = f"https://127.0.0.1:{json.loads(first)['port']}"
        write_private(kubeconfig, kubeconfig_text(self.url, token, identity.cert_pem))
        self.reports: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.reports.append(json.loads(line))

    def between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        return [r for r in self.reports if t0 <= r["t"] <= t1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------
# Load processes: each says ready (imports done, clients built), then waits for the parent's go.

async def ready_then_go() -> None:
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def start_child(*args: str) -> subprocess.Popen[str]:
    """A load process of this script, returned once it is ready (``go`` starts it)."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise SystemExit(f"load process {args[0]} did not start (exit code {proc.wait()})")
    return proc


def go(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out = proc.communicate()[0]
    if proc.returncode != 0 or not out.strip():
        raise SystemExit(f"a load process failed (exit code {proc.returncode})")
    return json.loads(out)


# ---------------------------------------------------------------------------------------------
# Gateway traffic: aiohttp keep-alive clients, paced at a rate.

async def gateway_child(args: argparse.Namespace) -> None:
    import aiohttp

    codes: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    fivexx: list[tuple[float, int]] = []  # (monotonic time, status) of each 5xx, to tell injected ones
    lat: list[float] = []
    interval = 1.0 / args.rate
    sent, t0, end = 0, 0.0, 0.0

    async def worker(s: aiohttp.ClientSession) -> None:
        nonlocal sent
        while True:
            due = t0 + sent * interval
            sent += 1
            now = time.monotonic()
            if due >= end or now >= end:
                return
            if due > now:
                await asyncio.sleep(due - now)
            t = time.monotonic()
            try:
                async with s.get(args.url, headers={"Host": args.host}) as r:
                    await r.read()
                    codes[r.status] += 1
                    if r.status >= 500 and len(fivexx) < 100_000:
                        fivexx.append((time.monotonic(), r.status))
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
                continue
            lat.append((time.monotonic() - t) * 1e3)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.connections), timeout=timeout) as s:
        await ready_then_go()
        t0, cpu0 = time.monotonic(), time.process_time()
        end = t0 + args.seconds
        await asyncio.gather(*(worker(s) for _ in range(args.connections)))
    seconds = time.monotonic() - t0
    print(json.dumps({"seconds": seconds, "n": sum(codes.values()), "codes": dict(codes), "errors": dict(errors),
                      "fivexx": fivexx, "cpu": time.process_time() - cpu0,
                      "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99)}))


def start_gateway(url: str, host: str, seconds: float, rate: float, connections: int) -> subprocess.Popen[str]:
    return start_child("_gateway", "--url", url, "--host", host, "--seconds", str(seconds), "--rate", str(rate),
                       "--connections", str(connections))


def gateway_result(procs: list[subprocess.Popen[str]]) -> dict[str, Any]:
    """The loaders' reports added up (the rate over the longest loader's time)."""
    outs = [result(p) for p in procs]
    codes: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for o in outs:
        codes.update(o["codes"])
        errors.update(o["errors"])
    seconds = max(o["seconds"] for o in outs)
    n = sum(o["n"] for o in outs)
    return {"n": n, "seconds": seconds, "rps": n / seconds, "codes": dict(sorted(codes.items())),
            "errors": dict(errors), "fivexx": [x for o in outs for x in o["fivexx"]], "cpu": sum(o["cpu"] for o in outs),
            "p50": max(o["p50"] for o in outs), "p95": max(o["p95"] for o in outs), "p99": max(o["p99"] for o in outs)}


def run_gateway(url: str, host: str, seconds: float, rate: float, connections: int, procs: int) -> dict[str, Any]:
    loaders = [start_gateway(url, host, seconds, rate / procs, max(1, connections // procs)) for _ in range(procs)]
    go(loaders)
    return gateway_result(loaders)


# ---------------------------------------------------------------------------------------------
# kubernetes-client API clients: threads in a separate process.

def cm_body(name: str, n: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": SOAK_NS},
            "data": {"n": str(n), "sent": repr(time.time())}}


def api_error(client: str, exc: BaseException) -> dict[str, Any]:
    """A failed request as the verdict needs it: who, when, the HTTP status if there was one."""
    status = getattr(exc, "status", None)
    text = f"HTTP {status} {getattr(exc, 'reason', '')}" if isinstance(status, int) else str(exc)[:300]
    return {"client": client, "t": time.monotonic(), "status": status if isinstance(status, int) else None,
            "text": f"{type(exc).__name__}: {text}"}


class ClientKinds:
    """The client threads; each records its request times by kind, its errors, and watch figures."""

    def __init__(self, kubeconfig: str, think: float) -> None:
        from kubernetes import client, config

        settings = client.Configuration()
        settings.retries = False  # as the runbook's kube.py: no hidden urllib3 retries
        config.load_kube_config(config_file=kubeconfig, client_configuration=settings)
        self.settings, self.deadline, self.think = settings, 0.0, think  # deadline: set at go
        self.lat: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[dict[str, Any]] = []
        self.watch: collections.Counter[str] = collections.Counter()
        self.delivery: list[float] = []  # apply -> watch event, ms (wall clocks of one machine)
        self.lock = threading.Lock()

    def api(self, name: str) -> Any:
        """One connection pool per client, its User-Agent naming it (an injected fault can aim at it)."""
        from kubernetes import client
        api = client.ApiClient(configuration=self.settings)
        api.user_agent = f"ambient-lb-soak/{name} {api.user_agent}"
        return api

    def loop(self, kind: str, name: str, ops: list[Any]) -> None:
        i = 0
        while time.monotonic() < self.deadline:
            t = time.perf_counter()
            try:
                ops[i % len(ops)](i)
            except Exception as exc:  # every failure is a finding: recorded, and the client goes on
                with self.lock:
                    self.errors.append(api_error(name, exc))
            else:
                with self.lock:
                    self.lat[kind].append((time.perf_counter() - t) * 1e3)
            i += 1
            time.sleep(self.think)

    def lister(self, name: str) -> list[Any]:
        from kubernetes import client
        api = self.api(name)
        core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        return [lambda i: json.loads(core.list_pod_for_all_namespaces(_preload_content=False).data),
                lambda i: json.loads(apps.list_namespaced_deployment(HTTPBIN, _preload_content=False).data),
                lambda i: json.loads(custom.list_namespaced_custom_object(
                    "gateway.networking.k8s.io", "v1", HTTPBIN, "httproutes", _preload_content=False).data),
                lambda i: json.loads(core.list_namespaced_endpoints(HTTPBIN, _preload_content=False).data)]

    def getter(self, name: str) -> list[Any]:
        from kubernetes import client
        api = self.api(name)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        return [lambda i: json.loads(core.read_namespaced_service("in-ambient", HTTPBIN, _preload_content=False).data),
                lambda i: json.loads(custom.get_namespaced_custom_object(
                    "gateway.networking.k8s.io", "v1", "kgateway-system", "gateways", "http",
                    _preload_content=False).data),
                lambda i: json.loads(core.read_namespace(HTTPBIN, _preload_content=False).data)]

    def applier(self, name: str, n: int) -> list[Any]:
        from kubernetes import client
        core = client.CoreV1Api(self.api(name))
        cm = f"ssa-{n}"

        def apply(i: int) -> None:
            core.patch_namespaced_config_map(cm, SOAK_NS, cm_body(cm, i), field_manager=f"soak-{n}", force=True,
                                             _content_type="application/apply-patch+yaml", _preload_content=False)
        return [apply]

    def watcher(self, name: str, resource: str) -> None:
        """List, then watch from the list's resourceVersion; resume from the last one seen; re-list on 410."""
        from kubernetes import client, watch
        from kubernetes.client.exceptions import ApiException

        core = client.CoreV1Api(self.api(name))
        fn = core.list_namespaced_config_map if resource == "configmaps" else core.list_namespaced_pod
        ns = SOAK_NS if resource == "configmaps" else HTTPBIN
        rv = ""
        while time.monotonic() < self.deadline:
            try:
                if not rv:
                    t = time.perf_counter()
                    listing = json.loads(fn(ns, _preload_content=False).data)
                    with self.lock:
                        self.lat["client-watch (list)"].append((time.perf_counter() - t) * 1e3)
                        self.watch["lists"] += 1
                    rv = listing["metadata"]["resourceVersion"]
                left = max(1, int(self.deadline - time.monotonic()) + 1)
                w = watch.Watch(return_type="object")
                for ev in w.stream(fn, ns, resource_version=rv, timeout_seconds=min(left, 15),
                                   allow_watch_bookmarks=True, _request_timeout=left + 15):
                    obj = ev["raw_object"]
                    if ev["type"] == "ERROR":
                        if obj.get("code") == 410:  # the history no longer reaches back: re-list (R19.6)
                            with self.lock:
                                self.watch["410"] += 1
                            rv = ""
                            break
                        raise RuntimeError(f"watch {resource}: ERROR event {obj}")
                    rv = obj["metadata"]["resourceVersion"]
                    sent = (obj.get("data") or {}).get("sent")
                    with self.lock:
                        self.watch["events"] += 1
                        if ev["type"] == "MODIFIED" and sent:
                            self.delivery.append((time.time() - float(sent)) * 1e3)
                    if time.monotonic() >= self.deadline:
                        w.stop()
                with self.lock:
                    self.watch["streams"] += 1
            except ApiException as exc:
                if exc.status == 410:
                    rv = ""
                    with self.lock:
                        self.watch["410"] += 1
                    continue
                with self.lock:
                    self.errors.append(api_error(name, exc))
                time.sleep(self.think)
            except Exception as exc:
                with self.lock:
                    self.errors.append(api_error(name, exc))
                time.sleep(self.think)


def clients_child(args: argparse.Namespace) -> None:
    c = ClientKinds(args.kubeconfig, args.think)
    threads = []
    if args.mix:  # the baseline: one client, each kind of request in turn, no waiting
        ops = c.lister("client-mix") + c.getter("client-mix") + c.applier("client-mix", 0)
        kinds = ["client-list"] * 4 + ["client-get"] * 3 + ["client-apply"]

        def mix() -> None:
            i = 0
            while time.monotonic() < c.deadline:
                t = time.perf_counter()
                try:
                    ops[i % len(ops)](i)
                except Exception as exc:
                    c.errors.append(api_error("client-mix", exc))
                else:
                    c.lat[kinds[i % len(ops)]].append((time.perf_counter() - t) * 1e3)
                i += 1
        threads.append(threading.Thread(target=mix))
    else:
        for kind, count, make in (("client-list", 4, c.lister), ("client-get", 2, c.getter)):
            threads += [threading.Thread(target=c.loop, args=(kind, f"{kind}-{n}", make(f"{kind}-{n}")))
                        for n in range(count)]
        threads += [threading.Thread(target=c.loop, args=("client-apply", f"client-apply-{n}",
                                                          c.applier(f"client-apply-{n}", n))) for n in range(3)]
        threads += [threading.Thread(target=c.watcher, args=(f"client-watch-{n}", r))
                    for n, r in enumerate(("configmaps", "configmaps", "pods"))]
    asyncio.run(ready_then_go())
    cpu0 = time.process_time()
    c.deadline = time.monotonic() + args.seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"lat": c.lat, "errors": c.errors, "watch": dict(c.watch), "delivery": c.delivery,
                      "clients": len(threads), "cpu": time.process_time() - cpu0}))


def start_clients(kubeconfig: Path, seconds: float, think: float, mix: bool = False) -> subprocess.Popen[str]:
    return start_child("_clients", "--kubeconfig", str(kubeconfig), "--seconds", str(seconds), "--think", str(think),
                       *(["--mix"] if mix else []))


# ---------------------------------------------------------------------------------------------
# kubectl clients: real kubectl processes, each loop on a thread of this process.

KUBECTL_LOOPS = [  # (kind, argv after kubectl, how many clients)
    ("kubectl-get", ["get", "pods", "-A", "-o", "json"], 3),
    ("kubectl-list", ["get", "deployments,services,httproutes", "-n", HTTPBIN, "-o", "json"], 1),
    ("kubectl-apply", ["apply", "-f", "-"], 2),
]
KUBECTL_WATCHES = [
    ["get", "configmaps", "-n", SOAK_NS, "-w", "-o", 'jsonpath={.metadata.name} {.data.sent}{"\\n"}'],
    ["get", "pods", "-n", HTTPBIN, "-w"],
]


class Kubectl:
    def __init__(self, env: dict[str, str], think: float) -> None:
        self.env, self.think = env, think
        self.lat: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[dict[str, Any]] = []
        self.watch: collections.Counter[str] = collections.Counter()
        self.delivery: list[float] = []
        self.lock = threading.Lock()

    def once(self, kind: str, name: str, args: list[str], stdin: str | None = None) -> None:
        t = time.perf_counter()
        res = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=self.env,
                             timeout=60, check=False)
        ms = (time.perf_counter() - t) * 1e3
        with self.lock:
            if res.returncode != 0:
                self.errors.append({"client": name, "t": time.monotonic(), "status": None,
                                    "text": f"kubectl {' '.join(args)} exited {res.returncode}: "
                                            f"{res.stderr.strip()[:300]}"})
                return
            self.lat[kind].append(ms)
        if args[0] == "get":
            json.loads(res.stdout)  # an answer that is not JSON raises here

    def loop(self, kind: str, name: str, args: list[str], n: int, deadline: float) -> None:
        i = 0
        while time.monotonic() < deadline:
            self.once(kind, name, args, json.dumps(cm_body(f"kubectl-{n}", i)) if args[0] == "apply" else None)
            i += 1
            time.sleep(self.think)

    def watch_loop(self, name: str, args: list[str], deadline: float) -> None:
        """A watch that stays open; each line is an event (configmaps: name and the time it was sent)."""
        while time.monotonic() < deadline:
            proc = subprocess.Popen(["kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=self.env)
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), proc.terminate)
            timer.start()
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                parts = line.split()
                with self.lock:
                    self.watch["lines"] += 1
                    if args[1] == "configmaps" and len(parts) == 2:
                        self.delivery.append((time.time() - float(parts[1])) * 1e3)
            timer.cancel()
            rc, err = proc.wait(), proc.stderr.read()
            with self.lock:
                self.watch["streams"] += 1
                if rc != 0 and time.monotonic() < deadline:  # it ended by itself, with an error
                    self.errors.append({"client": name, "t": time.monotonic(), "status": None,
                                        "text": f"kubectl {' '.join(args)} exited {rc}: {err.strip()[:300]}"})


def start_kubectl(k: Kubectl, deadline: float) -> list[threading.Thread]:
    threads = [threading.Thread(target=k.loop, args=(kind, f"{kind}-{n}", args, n, deadline), daemon=True)
               for kind, args, count in KUBECTL_LOOPS for n in range(count)]
    threads += [threading.Thread(target=k.watch_loop, args=(f"kubectl-watch-{n}", args, deadline), daemon=True)
                for n, args in enumerate(KUBECTL_WATCHES)]
    for t in threads:
        t.start()
    return threads


# ---------------------------------------------------------------------------------------------
# Injected faults (--inject declares them; --sabotage 5xx does the same without declaring them)

@dataclass
class Injection:
    declared: bool
    pod_windows: list[tuple[float, float]] = field(default_factory=list)  # (from, to) monotonic
    api_client: str = ""
    api_count: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, kubeconfig: Path, env: dict[str, str], at: float) -> None:
        """At monotonic time ``at``: a 503 burst aimed at one API client, and one app pod answering 503."""
        from ambient_lb.sim.fault_client import FaultClient

        time.sleep(max(0.0, at - time.monotonic()))
        FaultClient(kubeconfig).add(kind="error", status=503, verbs=["patch"], resources=["configmaps"],
                                    userAgent=f"ambient-lb-soak/{INJECTED_CLIENT} ", count=INJECTED_API_COUNT,
                                    seconds=30)
        self.api_client, self.api_count = INJECTED_CLIENT, INJECTED_API_COUNT
        pods = json.loads(subprocess.run(["kubectl", "get", "pods", "-n", HTTPBIN, "-l", "app=in-ambient", "-o", "json"],
                                         env=env, capture_output=True, text=True, check=True).stdout)["items"]
        pod = pods[0]["metadata"]["name"]
        annotate = ["kubectl", "annotate", "pod", "-n", HTTPBIN, pod, "--overwrite"]
        start = time.monotonic()
        subprocess.run([*annotate, "fault.ambient-lb.dev/http-status=503"], env=env, capture_output=True, check=True)
        time.sleep(INJECTED_POD_SECONDS)
        subprocess.run([*annotate, "fault.ambient-lb.dev/http-status-"], env=env, capture_output=True, check=True)
        self.pod_windows.append((start, time.monotonic() + INJECTION_SLACK))
        self.notes.append(f"API: {INJECTED_API_COUNT} x 503 on {INJECTED_CLIENT}'s applies; gateway: pod {pod} "
                          f"answered 503 for {INJECTED_POD_SECONDS:g} s")


def gateway_failures(name: str, res: dict[str, Any], inj: Injection | None) -> tuple[list[str], int]:
    """Failures of one gateway run (5xx outside a declared injection, connection errors); injected 5xx seen."""
    windows = inj.pod_windows if inj is not None and inj.declared else []
    injected = sum(1 for t, _ in res["fivexx"] if any(a <= t <= b for a, b in windows))
    stray = collections.Counter(str(code) for t, code in res["fivexx"] if not any(a <= t <= b for a, b in windows))
    out = [f"gateway ({name}): 5xx that no fault injected: {dict(stray)}"] if stray else []
    if res["errors"]:
        out.append(f"gateway ({name}): client errors: {res['errors']}")
    return out, injected


def api_failures(errors: list[dict[str, Any]], inj: Injection | None) -> tuple[list[str], int]:
    """Failures among the API clients' errors (all but the declared injection's 503s); injected errors seen."""
    injected, out = 0, []
    for e in errors:
        if (inj is not None and inj.declared and e["client"] == inj.api_client and e["status"] == 503
                and injected < inj.api_count):
            injected += 1
            continue
        out.append(f"API client error ({e['client']}): {e['text']}")
    return out, injected


def leak_check(rss: list[tuple[float, float]], reports: list[dict[str, Any]], t0: float, seconds: float,
               failures: list[str]) -> None:
    """Print the memory figures; add a failure for RSS or bounded state that grew after warm-up."""
    rep = [r for r in reports if r["t"] >= t0]
    end = rep[-1]
    settled = next(r["t"] for r in rep if r["log_lines"] >= 0.98 * end["log_lines"]
                   and r["history"] >= 0.98 * end["history"])
    warm = max(t0 + 0.2 * seconds, settled)
    if warm > t0 + 0.8 * seconds:
        failures.append(f"leak check inconclusive: the bounded buffers were still filling at {settled - t0:.0f} s of "
                        f"{seconds:.0f} s, so RSS growth cannot be told from buffers filling; run longer (--seconds) "
                        "or keep fewer lines / events (--log-lines, --history)")
    after = [(t, mb) for t, mb in rss if t >= warm] or rss[-2:]
    slope = slope_per_min(after)  # the fitted line, less noisy than the first and last samples
    growth = slope * (after[-1][0] - after[0][0]) / 60 / after[0][1] * 100
    print(f"  RSS: {rss[0][1]:.0f} MB at start, {after[0][1]:.0f} MB after warm-up ({warm - t0:.0f} s: 20 % of the "
          f"soak, or when the bounded buffers stopped growing: {settled - t0:.0f} s), {rss[-1][1]:.0f} MB at the end, "
          f"max {max(mb for _, mb in rss):.0f} MB")
    print(f"  RSS after warm-up: slope {slope:+.2f} MB/min, growth on that slope {growth:+.1f} % over "
          f"{after[-1][0] - after[0][0]:.0f} s (bound +{LEAK_RSS_PCT:g} %)")
    if not growth <= LEAK_RSS_PCT:
        failures.append(f"leak: RSS grew {growth:+.1f} % after warm-up (bound +{LEAK_RSS_PCT:g} %)")
    first = next((r for r in rep if r["t"] >= warm), end)
    print(f"  retained at the end: log lines {end['log_lines']} ({end['log_containers']} containers, at most "
          f"{end['log_max']} each), watch history {end['history']} of {end['history_max']} "
          f"events, {end['objects']} objects (resourceVersion {end['rv']})")
    for key, label in (("watches", "open watches"), ("tasks", "asyncio tasks"), ("objects", "store objects"),
                       ("log_containers", "containers with logs")):
        series = [r[key] for r in rep]
        print(f"  {label}: {series[0]} at start, {first[key]} after warm-up, {end[key]} at the end, max {max(series)}")
        if end[key] > first[key] + LEAK_COUNT_MARGIN:
            failures.append(f"leak: {label} grew from {first[key]} after warm-up to {end[key]}")


# ---------------------------------------------------------------------------------------------
# The run

@contextlib.contextmanager
def private_home(root: Path) -> Iterator[None]:
    """HOME, headless mode and no license key, as the drills set them; restored afterwards."""
    keep = {k: os.environ.get(k) for k in ("HOME", "AMBIENT_LB_HEADLESS", "LICENSE_KEY", "KUBECONFIG")}
    home = root / "home"
    home.mkdir()
    os.environ.update(HOME=str(home), AMBIENT_LB_HEADLESS="1")
    os.environ.pop("LICENSE_KEY", None)
    try:
        yield
    finally:
        for k, v in keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def guide_state(params: Path) -> tuple[str, str]:
    """Notebooks 00-02's state, the runbook's way; (gateway url, Host header)."""
    from ambient_lb import guide

    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown):
            run = guide.open_run(str(params), "soak", "no")
            guide.prepare(run, "03")
            address = guide.find_address(run)
    except Exception:
        print(shown.getvalue()[-4000:])
        raise
    return f"http://{address}/hostname", run.params.route.hostname


def children_cpu() -> float:
    """CPU seconds of this process's finished children (kubectl, the load processes once waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def summary_rows(lat: dict[str, list[float]], base: dict[str, list[float]]) -> None:
    print(f"  {'client kind':<22}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}   idle p95 ms   x idle")
    for kind in sorted(lat):
        xs, b = lat[kind], base.get(kind) or []
        idle = f"{pct(b, 95):11.1f}" if b else "          -"
        ratio = f"{pct(xs, 95) / pct(b, 95):7.1f}" if b else "      -"
        print(f"  {kind:<22}{len(xs):>9}{pct(xs, 50):9.1f}{pct(xs, 95):9.1f}{pct(xs, 99):9.1f}   {idle}   {ratio}")


def server_rows(reports: list[dict[str, Any]], seconds: float) -> None:
    """The server's own handler times (watch streams left out, see WATCHED_PATHS)."""
    by: dict[str, list[float]] = collections.defaultdict(list)
    for r in reports:
        for method, path, ms in r["timings"]:
            if path not in WATCHED_PATHS:
                by["reads (GET)" if method == "GET" else "writes (PATCH/POST/PUT)"].append(ms)
    n = sum(len(v) for v in by.values())
    print(f"  server side: {n} requests ({n / seconds:.0f}/s, kubectl's discovery included, watches left out), "
          "handler time:")
    for k, xs in sorted(by.items()):
        print(f"    {k:<24}{len(xs):>7}  p50 {pct(xs, 50):6.2f} ms  p95 {pct(xs, 95):6.2f} ms  p99 {pct(xs, 99):6.2f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="child")
    s = sub.add_parser("_sim", help=argparse.SUPPRESS)
    for flag, kind in (("--seed", int), ("--speed", float), ("--topology", str), ("--token-file", str),
                       ("--tls-cert", str), ("--tls-key", str), ("--log-lines", int), ("--history", int),
                       ("--profile", str)):
        s.add_argument(flag, type=kind)
    s.add_argument("--leak", action="store_true")
    g = sub.add_parser("_gateway", help=argparse.SUPPRESS)
    for flag, kind in (("--url", str), ("--host", str), ("--seconds", float), ("--rate", float),
                       ("--connections", int)):
        g.add_argument(flag, type=kind)
    c = sub.add_parser("_clients", help=argparse.SUPPRESS)
    for flag, kind in (("--kubeconfig", str), ("--seconds", float), ("--think", float)):
        c.add_argument(flag, type=kind)
    c.add_argument("--mix", action="store_true")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the soak (default 60)")
    ap.add_argument("--rate", type=float, default=TARGET_RPS, help="gateway request rate to aim at (default 2000)")
    ap.add_argument("--connections", type=int, default=32, help="gateway keep-alive connections (default 32)")
    ap.add_argument("--gateway-procs", type=int, default=1, help="gateway client processes (default 1)")
    ap.add_argument("--think", type=float, default=0.1, help="seconds each client thread waits between requests")
    ap.add_argument("--kubectl-think", type=float, default=1.0, help="seconds each kubectl loop waits between runs")
    ap.add_argument("--baseline-seconds", type=float, default=5.0, help="length of each gateway / client baseline")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second (default 1, as params)")
    ap.add_argument("--log-lines", type=int, default=2000, help="log lines kept per container (simulator: 50,000)")
    ap.add_argument("--history", type=int, default=500, help="watch history events kept (simulator: 20,000)")
    ap.add_argument("--inject", action="store_true", help="inject (declared) faults: the run must see them and pass")
    ap.add_argument("--sabotage", choices=("5xx", "leak"), help="break the run on purpose: it must fail")
    ap.add_argument("--profile-sim", metavar="FILE", help="write the simulator process's cProfile (CPU time) to "
                    "FILE; read it with python -m pstats FILE; profiling slows the simulator down")
    args = ap.parse_args(argv)
    if args.child == "_sim":
        if args.profile:
            import cProfile
            with cProfile.Profile(time.process_time) as prof:  # CPU time: a busy machine preempts
                asyncio.run(sim_child(args))
            prof.dump_stats(args.profile)
        else:
            asyncio.run(sim_child(args))
        return 0
    if args.child == "_gateway":
        asyncio.run(gateway_child(args))
        return 0
    if args.child == "_clients":
        clients_child(args)
        return 0
    if args.seconds < 5 or args.rate <= 0 or args.connections < 1 or args.gateway_procs < 1 or args.speed <= 0:
        ap.error("--seconds must be >= 5, --rate and --speed > 0, --connections and --gateway-procs >= 1; "
                 "for example --seconds 10 --rate 2000")
    if args.inject and args.sabotage:
        ap.error("--inject and --sabotage are two different runs; pick one, e.g. --sabotage 5xx")
    if shutil.which("kubectl") is None:
        ap.error("kubectl is not on PATH; the soak drives the simulator with the real kubectl")
    return soak(args)


def soak(args: argparse.Namespace) -> int:
    import psutil

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ambient-lb-soak-") as tmp, private_home(Path(tmp)):
        root = Path(tmp)
        kubeconfig = root / "kubeconfig"
        params = root / "params.yaml"
        params.write_text(f"target: sim\nsim:\n  seed: 7\n  speed: {args.speed:g}\n  kubeconfig: {kubeconfig}\n")
        sim = SimProcess(root, kubeconfig, 7, args.speed, "three-zones", args.log_lines, args.history,
                         args.profile_sim, leak=args.sabotage == "leak")
        try:
            url, host = guide_state(params)
            env = dict(os.environ, KUBECONFIG=str(kubeconfig))
            subprocess.run(["kubectl", "create", "namespace", SOAK_NS], env=env, check=True, capture_output=True)
            setup_s = time.monotonic() - started
            code = measure(args, sim, url, host, env, kubeconfig, psutil.Process(sim.proc.pid), setup_s)
        finally:
            sim.stop()
    print(f"(the whole run took {time.monotonic() - started:.0f} s)")
    return code


def measure(args: argparse.Namespace, sim: SimProcess, url: str, host: str, env: dict[str, str], kubeconfig: Path,
            proc: Any, setup_s: float) -> int:
    bs = args.baseline_seconds
    # -- baselines, on the otherwise idle simulator
    one = run_gateway(url, host, bs, 1e9, 1, 1)
    cpu_a = proc.cpu_times()
    alone = run_gateway(url, host, bs, args.rate, args.connections, args.gateway_procs)
    cpu_b = proc.cpu_times()
    alone_us = ((cpu_b.user + cpu_b.system) - (cpu_a.user + cpu_a.system)) / max(1, alone["n"]) * 1e6
    k_base = Kubectl(env, 0.0)
    for kind, args_, _ in KUBECTL_LOOPS:
        for i in range(3):
            k_base.once(kind, kind, args_, json.dumps(cm_body("kubectl-0", 10_000 + i)) if args_[0] == "apply" else None)
    mix = start_clients(kubeconfig, bs, 0.0, mix=True)
    go([mix])
    c_base = result(mix)
    base = {**k_base.lat, **c_base["lat"]}
    # -- the soak: every load process ready first, then all start together
    gw = [start_gateway(url, host, args.seconds, args.rate / args.gateway_procs,
                        max(1, args.connections // args.gateway_procs)) for _ in range(args.gateway_procs)]
    clients = start_clients(kubeconfig, args.seconds, args.think)
    k = Kubectl(env, args.kubectl_think)
    inj = Injection(declared=args.inject) if args.inject or args.sabotage == "5xx" else None
    rss: list[tuple[float, float]] = []
    kids0, cpu0 = children_cpu(), proc.cpu_times()
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    go(gw + [clients])
    threads = start_kubectl(k, deadline)
    if inj is not None:
        injector = threading.Thread(target=inj.run, args=(kubeconfig, env, t0 + 0.4 * args.seconds), daemon=True)
        injector.start()
    next_sample = t0
    while (now := time.monotonic()) < deadline:
        rss.append((now, proc.memory_info().rss / 2**20))
        next_sample += 1.0
        time.sleep(max(0.0, next_sample - time.monotonic()))
    t1 = time.monotonic()
    rss.append((t1, proc.memory_info().rss / 2**20))
    cpu1 = proc.cpu_times()
    gres = gateway_result(gw)
    cres = result(clients)
    for t in threads:
        t.join(timeout=90)
    if inj is not None:
        injector.join(timeout=30)
    kubectl_cpu = children_cpu() - kids0 - gres["cpu"] - cres["cpu"]
    time.sleep(1.2)  # the simulator's report of the last second
    reports = sim.between(t0, t1 + 1.2)
    soak_s = t1 - t0

    failures: list[str] = []
    print(f"ambient-lb soak: {soak_s:.0f} s, 20 API clients + gateway traffic aimed at {args.rate:.0f} req/s "
          f"({args.connections} connections, {args.gateway_procs} process(es)); {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}; setup {setup_s:.0f} s")
    print("-- gateway (http://$KGATEWAY_IP:8080/hostname, the guide's route to 3 replicas)")
    print(f"  baseline, 1 connection:          {one['rps']:6.0f} req/s  p95 {one['p95']:6.1f} ms  codes {one['codes']}")
    print(f"  baseline, alone ({args.connections:>3} conns):     {alone['rps']:6.0f} req/s  p95 {alone['p95']:6.1f} ms  "
          f"codes {alone['codes']}")
    print(f"  soak, under the API load:        {gres['rps']:6.0f} req/s  p95 {gres['p95']:6.1f} ms  "
          f"p50 {gres['p50']:.1f} ms  p99 {gres['p99']:.1f} ms  ({gres['n']} requests)")
    print(f"  vs target {TARGET_RPS:.0f} req/s: ratio {gres['rps'] / TARGET_RPS:.2f}   vs alone: ratio "
          f"{gres['rps'] / alone['rps']:.2f}   vs 1 connection: x{gres['rps'] / one['rps']:.1f}")
    print(f"  status codes (soak): {gres['codes']}")
    gw_injected = 0
    for name, res in (("baseline 1 connection", one), ("baseline alone", alone), ("soak", gres)):
        found, seen = gateway_failures(name, res, inj if res is gres else None)
        failures += found
        gw_injected += seen
    sim_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    print(f"-- where the CPU went during the soak ({os.cpu_count()} CPUs x {soak_s:.0f} s = "
          f"{(os.cpu_count() or 1) * soak_s:.0f} CPU s)")
    print(f"  simulator {sim_cpu:.1f} s ({sim_cpu / soak_s * 100:.0f} % of one core); alone it spent {alone_us:.0f} us "
          f"per gateway request: {1e6 / alone_us:.0f} req/s on one free core")
    print(f"  gateway clients {gres['cpu']:.1f} s ({gres['cpu'] / max(1, gres['n']) * 1e6:.0f} us per request), "
          f"python API clients {cres['cpu']:.1f} s, kubectl {kubectl_cpu:.1f} s; the rest of the machine: "
          f"load average {os.getloadavg()[0]:.1f}")
    if gres["rps"] < TARGET_RPS:
        print(f"  note: below the {TARGET_RPS:.0f} req/s target here (printed, not a failure): the ratio against "
              "the same traffic alone and the CPU split above say what held it back on this machine")
    print("-- API (client side; a kubectl time includes starting kubectl)")
    lat = {**k.lat, **cres["lat"]}
    n_api = sum(len(v) for v in lat.values())
    print(f"  {n_api} requests by {len(threads) + cres['clients']} clients: {n_api / soak_s:.0f}/s "
          f"(kubectl waits {args.kubectl_think:g} s between runs, the client threads {args.think:g} s)")
    summary_rows(lat, base)
    delivery = k.delivery + cres["delivery"]
    w = cres["watch"]
    print(f"  watches: kubectl {k.watch['lines']} lines over {k.watch['streams']} streams; client "
          f"{w.get('events', 0)} events over {w.get('streams', 0)} streams, {w.get('lists', 0)} lists, "
          f"{w.get('410', 0)} x 410 (re-listed)")
    print(f"  apply -> watch event seen: p50 {pct(delivery, 50):.1f} ms  p95 {pct(delivery, 95):.1f} ms  "
          f"({len(delivery)} events)")
    server_rows(reports, soak_s)
    found, api_injected = api_failures(k_base.errors + c_base["errors"] + k.errors + cres["errors"], inj)
    failures += found
    if not delivery:
        failures.append("API: no watch saw any apply (the watches did not work)")
    if inj is not None:
        print(f"-- injected ({'declared' if inj.declared else 'NOT declared: --sabotage 5xx'}): {'; '.join(inj.notes)}")
        if inj.declared:
            print(f"  seen: {api_injected} injected API errors, {gw_injected} injected gateway 5xx")
            if api_injected < inj.api_count or gw_injected == 0:
                failures.append(f"the injected faults were not all seen ({api_injected} of {inj.api_count} API "
                                f"errors, {gw_injected} gateway 5xx): the checks would miss real ones")
    print("-- memory and bounded state (simulator process)")
    leak_check(rss, reports, t0, soak_s, failures)
    if failures:
        print("FAILED:")
        for f in failures[:40]:
            print(f"  - {f}")
        if len(failures) > 40:
            print(f"  ... and {len(failures) - 40} more")
        return 1
    print("ok: no 5xx that was not injected, no client errors, memory and bounded state flat after warm-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
