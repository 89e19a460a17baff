"""The soak's load: the simulator's process, the gateway clients, the API clients (benchmarks/bench_soak.py).

Each piece runs as a process of its own, started by ``bench_soak.py`` as ``python soak_load.py <part>``:

    _sim      the server ``ambient-lb sim up`` runs (``start_servers``: same world, TLS, token); reports its
              port, then once a second its own request timings, open watches, store objects, retained log
              lines and watch history, asyncio tasks
    _gateway  aiohttp keep-alive clients to the gateway's listener, paced at a rate; reports status codes,
              the time of each 5xx, latency percentiles, its CPU
    _clients  kubernetes-client threads: lists, reads, server-side applies, watches (or ``--mix``: one client,
              each request in turn, the idle baseline); reports request times by kind, errors (who, when,
              HTTP status), watch figures, its CPU

The load processes say ready once their imports are done and their clients built, then wait for a
``go`` line on stdin, so every load starts at once. The kubectl clients (``Kubectl``) are threads of
the bench's own process, each running the real ``kubectl`` in a loop; ``Injection`` adds the faults of
``--inject`` / ``--sabotage 5xx``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOAK_NS = "soak"
HTTPBIN = "httpbin"
INJECTED_CLIENT = "client-apply-0"  # the API fault of --inject is aimed at this client's User-Agent
INJECTED_API_COUNT = 3
INJECTED_POD_SECONDS = 2.0
INJECTION_SLACK = 1.0  # seconds after a pod fault is lifted during which its 5xx are still its own


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


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
    snapshots: list[Any] = []
    if args.trace_memory:
        import tracemalloc
        tracemalloc.start(4)

    def from_parent() -> None:
        """EOF (the parent closed our stdin, or died): stop. A ``snap`` line: a tracemalloc snapshot,
        and from the second one on, the allocation sites that grew most since the previous one."""
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            stop.set()
            return
        for _ in data.decode().split():
            snapshots.append(tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]))
            if len(snapshots) >= 2:
                diff = snapshots[-1].compare_to(snapshots[-2], "traceback")[:12]
                print(json.dumps({"tracemalloc": [
                    {"kib": round(d.size_diff / 1024, 1), "count": d.count_diff,
                     "where": [f"{f.filename.rsplit('site-packages/', 1)[-1].rsplit('lib/', 1)[-1]}:{f.lineno}"
                               for f in d.traceback]} for d in diff]}), flush=True)
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), from_parent)
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
                 log_lines: int, history: int, profile: str | None = None, leak: bool = False,
                 trace_memory: bool = False) -> None:
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
        argv += ["--trace-memory"] if trace_memory else []
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            raise SystemExit(f"the simulator did not start; its log ({self.log_file}):\n{self.log_file.read_text()}")
        self.url = f"https://127.0.0.1:{json.loads(first)['port']}"
        write_private(kubeconfig, kubeconfig_text(self.url, token, identity.cert_pem))
        self.reports: list[dict[str, Any]] = []
        self.traces: list[list[dict[str, Any]]] = []  # --trace-memory: growth between snapshots
        self._new_report = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new_report:
                item = json.loads(line)
                if "tracemalloc" in item:
                    self.traces.append(item["tracemalloc"])
                else:
                    self.reports.append(item)
                self._new_report.notify_all()

    def report_after(self, t: float, timeout: float = 10.0) -> dict[str, Any]:
        """The first report made after monotonic time ``t`` (waits for it, at most ``timeout`` s)."""
        with self._new_report:
            if not self._new_report.wait_for(lambda: self.reports and self.reports[-1]["t"] > t, timeout):
                raise SystemExit(f"the simulator sent no report for {timeout:g} s; its log: {self.log_file}")
            return next(r for r in self.reports if r["t"] > t)

    def snapshot(self, compare: bool, timeout: float = 120.0) -> list[dict[str, Any]] | None:
        """Ask for a tracemalloc snapshot (--trace-memory); with ``compare``, wait for the allocation sites
        that grew most since the previous one and return them."""
        assert self.proc.stdin is not None
        with self._new_report:
            had = len(self.traces)
            self.proc.stdin.write("snap\n")
            self.proc.stdin.flush()
            if not compare:
                return None
            if not self._new_report.wait_for(lambda: len(self.traces) > had, timeout):
                raise SystemExit(f"the simulator sent no tracemalloc comparison for {timeout:g} s")
            return self.traces[-1]

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
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
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
            "errors": dict(errors), "fivexx": [x for o in outs for x in o["fivexx"]],
            "cpu": sum(o["cpu"] for o in outs),
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
# kubectl clients: real kubectl processes, each loop on a thread of the bench's process.

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
# Injected faults (--inject declares them; --sabotage 5xx does the same without declaring them).

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
        listed = subprocess.run(["kubectl", "get", "pods", "-n", HTTPBIN, "-l", "app=in-ambient", "-o", "json"],
                                env=env, capture_output=True, text=True, check=True)
        pods = json.loads(listed.stdout)["items"]
        pod = pods[0]["metadata"]["name"]
        annotate = ["kubectl", "annotate", "pod", "-n", HTTPBIN, pod, "--overwrite"]
        start = time.monotonic()
        subprocess.run([*annotate, "fault.ambient-lb.dev/http-status=503"], env=env, capture_output=True, check=True)
        time.sleep(INJECTED_POD_SECONDS)
        subprocess.run([*annotate, "fault.ambient-lb.dev/http-status-"], env=env, capture_output=True, check=True)
        self.pod_windows.append((start, time.monotonic() + INJECTION_SLACK))
        self.notes.append(f"API: {INJECTED_API_COUNT} x 503 on {INJECTED_CLIENT}'s applies; gateway: pod {pod} "
                          f"answered 503 for {INJECTED_POD_SECONDS:g} s")


# ---------------------------------------------------------------------------------------------
# Entry point of the load processes.

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="a part of the soak's load (started by benchmarks/bench_soak.py)")
    sub = ap.add_subparsers(dest="part", required=True)
    s = sub.add_parser("_sim")
    for flag, kind in (("--seed", int), ("--speed", float), ("--topology", str), ("--token-file", str),
                       ("--tls-cert", str), ("--tls-key", str), ("--log-lines", int), ("--history", int),
                       ("--profile", str)):
        s.add_argument(flag, type=kind)
    s.add_argument("--leak", action="store_true")
    s.add_argument("--trace-memory", action="store_true")
    g = sub.add_parser("_gateway")
    for flag, kind in (("--url", str), ("--host", str), ("--seconds", float), ("--rate", float),
                       ("--connections", int)):
        g.add_argument(flag, type=kind)
    c = sub.add_parser("_clients")
    for flag, kind in (("--kubeconfig", str), ("--seconds", float), ("--think", float)):
        c.add_argument(flag, type=kind)
    c.add_argument("--mix", action="store_true")
    args = ap.parse_args(argv)
    if args.part == "_sim" and args.profile:
        import cProfile
        with cProfile.Profile(time.process_time) as prof:  # CPU time: a busy machine preempts
            asyncio.run(sim_child(args))
        prof.dump_stats(args.profile)
    elif args.part == "_sim":
        asyncio.run(sim_child(args))
    elif args.part == "_gateway":
        asyncio.run(gateway_child(args))
    else:
        clients_child(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
