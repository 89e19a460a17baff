"""Run the cluster-in-a-box: ``ambient-lb sim up | down | status``, and context managers for code.

Who calls it: ``ambient-lb sim`` (``add_arguments``/``main``), the notebooks through the library,
and the tests. Three ways to run a simulator:

- ``sim up`` starts ``python -m ambient_lb.sim serve`` as a detached background process that
  outlives the caller (the six notebooks share it), waits until it answers, and writes a
  kubeconfig (context ``ambient-lb-sim``, ``https://127.0.0.1:<port>`` with the server's
  self-signed certificate as ``certificate-authority-data``, and a random bearer token the server
  requires). TLS because kubectl sends a token only to an https server (see ``server/tls.py``). Its state (pid, port, token file, log) lives in a directory next to the
  kubeconfig; starting twice on the same kubeconfig reports the running one.
- ``running_simulator(...)``: the server in a background thread with its own event loop, on an
  ephemeral 127.0.0.1 port, stopped on exit (fast; for tests and library use).
- ``running_simulator_process(...)``: the same as ``sim up`` in a private directory, stopped on exit.

A multi-cluster ``--topology`` (e.g. ``two-clusters``) serves one API server per cluster from the same
process and event loop (``start_servers``; one clock, a ``Peering`` for global services, R9.1), and the
kubeconfig gets one context per cluster: ``ambient-lb-sim`` (current) for the first,
``ambient-lb-sim-<cluster name>`` for the others (``context_name``); ``sim status`` lists them.

``--strict`` (``strict=True`` for the context managers) sets ``cluster.strict``: the simulator ignores
its ``fault.ambient-lb.dev/*`` annotations, so a run proves it uses only what a cluster offers; the
state file and ``sim status`` say so, and every cluster publishes the ConfigMap
``kube-public/ambient-lb-simulator`` (``speed``, ``seed``, ``strict``, ``topology``).

The token never appears in argv or logs: the child reads it from a 0600 file.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ParameterError, SimulatorError
from .kubeconfig_defaults import CONTEXT, DEFAULT_KUBECONFIG

READY_TIMEOUT = 30.0  # wall seconds `sim up` waits for the child to answer


# ---- kubeconfig -----------------------------------------------------------------------------------
def context_name(cluster: str, index: int) -> str:
    """The kubeconfig context of the ``index``-th simulated cluster: ``ambient-lb-sim`` for the first,
    ``ambient-lb-sim-<cluster name>`` for the others (a multi-cluster topology)."""
    return CONTEXT if index == 0 else f"{CONTEXT}-{cluster}"


def kubeconfig_text(url: str, token: str | None, ca_pem: bytes | None = None, namespace: str = "default",
                    others: dict[str, str] | None = None) -> str:
    """The kubeconfig: context ``ambient-lb-sim`` (current) at ``url``, plus one context per entry of
    ``others`` (context name → url; the other clusters of a multi-cluster topology, same token and CA)."""
    urls = {CONTEXT: url, **(others or {})}
    clusters = []
    for name, u in urls.items():
        cluster: dict[str, Any] = {"server": u}
        if ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
        clusters.append({"name": name, "cluster": cluster})
    cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": clusters,
           "users": [{"name": CONTEXT, "user": {"token": token} if token else {}}],
           "contexts": [{"name": name, "context": {"cluster": name, "user": CONTEXT, "namespace": namespace}}
                        for name in urls],
           "current-context": CONTEXT}
    return json.dumps(cfg, indent=2) + "\n"  # JSON is YAML; kubectl and the client read both


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (created that way, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def tune_gc() -> None:
    """What the server process does once it is up: move the bootstrap heap out of the collector and
    collect young objects less often. A 1,000-row Table list allocates thousands of short-lived
    containers; with the default thresholds every few lists trigger a full collection over every
    stored object, which is what dominated the p95 latency (benchmarks/bench_sim_api.py)."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


# ---- in-thread server ------------------------------------------------------------------------------
async def start_server(cluster_kw: dict[str, Any], token: str | None, host: str, port: int,
                       bookmark_seconds: float = 10.0, tls: Any = None) -> tuple[Any, Any, int]:
    """Build the cluster on the running loop and serve it; returns (runner, cluster, port)."""
    from aiohttp import web

    from .clock import ScaledClock
    from .server import make_app
    from .world import build_cluster

    speed = cluster_kw.pop("speed", 1.0)
    clock = cluster_kw.pop("clock", None) or ScaledClock(speed)
    clock.bind(asyncio.get_running_loop())
    if cluster_kw.pop("bare", False):  # the API server alone: no controllers, no mesh
        from .cluster import Cluster
        cluster_kw.pop("mesh", None)
        cluster_kw.pop("topology_name", None)
        strict = bool(cluster_kw.pop("strict", False))
        cluster = Cluster(clock=clock, **cluster_kw)
        cluster.strict = strict
    else:
        cluster = build_cluster(clock=clock, **cluster_kw)
    app = make_app(cluster, token, bookmark_seconds=bookmark_seconds)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True,
                       ssl_context=tls.server_context() if tls is not None else None)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, cluster, bound


async def start_servers(cluster_kw: dict[str, Any], token: str | None, host: str, port: int,
                        bookmark_seconds: float = 10.0, tls: Any = None) -> list[tuple[Any, Any, int]]:
    """One API server per cluster of the topology, on this loop, sharing one clock; [(runner, cluster,
    port)] in topology order. ``port`` is the first cluster's; the others take free ports. With several
    clusters (and the mesh), a ``Peering`` joins them (``mesh/multicluster.py``, R9.1)."""
    from .clock import ScaledClock

    topology = cluster_kw.get("topology")
    clusters = list(getattr(topology, "clusters", None) or [])
    if len(clusters) < 2:
        return [await start_server(cluster_kw, token, host, port, bookmark_seconds, tls)]
    clock = ScaledClock(cluster_kw.pop("speed", 1.0))
    out = []
    for i, ct in enumerate(clusters):
        kw = dict(cluster_kw, topology=ct, name=ct.name, seed=cluster_kw.get("seed", 0) + i, clock=clock)
        out.append(await start_server(kw, token, host, port if i == 0 else 0, bookmark_seconds, tls))
    if cluster_kw.get("mesh", True) and not cluster_kw.get("bare", False):
        from .mesh.multicluster import Peering

        Peering([c for _, c, _ in out])
    return out


@dataclass
class Simulator:
    """A running simulator: where it listens, how to reach it, and (in-thread) its cluster."""

    url: str
    token: str
    kubeconfig: Path
    cluster: Any = None
    pid: int | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    # context name -> cluster object (in-thread) or url (background); one entry per simulated cluster
    contexts: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn()`` on the simulator's loop (the safe way to touch ``cluster`` from a test)."""
        if self.loop is None:
            raise SimulatorError("call() needs an in-thread simulator (running_simulator)")

        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)


class _ServerThread(threading.Thread):
    def __init__(self, cluster_kw: dict[str, Any], token: str | None, bookmark_seconds: float, tls: Any) -> None:
        super().__init__(name="ambient-lb-sim", daemon=True)
        self.cluster_kw, self.token, self.bookmark_seconds, self.tls = cluster_kw, token, bookmark_seconds, tls
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.cluster: Any = None
        self.port = 0
        self.servers: list[tuple[Any, Any, int]] = []

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the caller by start()
            self.error = exc
            self.ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        self.servers = await start_servers(dict(self.cluster_kw), self.token, "127.0.0.1", 0,
                                           self.bookmark_seconds, self.tls)
        _, self.cluster, self.port = self.servers[0]
        self.ready.set()
        try:
            await self.stopping.wait()
        finally:
            for runner, _, _ in reversed(self.servers):
                await runner.cleanup()

    def stop(self) -> None:
        if self.stopping is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=15)


@contextlib.contextmanager
def running_simulator(*, seed: int = 0, speed: float = 1.0, topology: Any = None, mesh: bool = True,
                      bare: bool = False, tls: bool = True, token: str | None = None,
                      workdir: str | Path | None = None, bookmark_seconds: float = 10.0,
                      start_timeout: float = 30.0, strict: bool = False) -> Iterator[Simulator]:
    """A simulator in a background thread on an ephemeral 127.0.0.1 port, with its kubeconfig.

    ``bare=True`` serves a cluster without controllers or mesh (the API server's own tests).
    ``tls=False`` serves plain http without a token (kubectl would not send one over http).
    ``strict=True`` is ``sim up --strict``: the simulator ignores its fault annotations."""
    from .server.tls import self_signed

    topology_name = str(topology) if isinstance(topology, (str, Path)) else None
    if isinstance(topology, (str, Path)):
        from .topology import load_topology
        topology = load_topology(topology)
    identity = self_signed() if tls else None
    token = (token or secrets.token_urlsafe(32)) if tls else None
    kw = {"seed": seed, "speed": speed, "topology": topology, "mesh": mesh, "bare": bare, "strict": strict,
          "topology_name": topology_name}
    th = _ServerThread(kw, token, bookmark_seconds, identity)
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ambient-lb-sim-")))
        th.start()
        stack.callback(th.stop)
        if not th.ready.wait(start_timeout) or th.error is not None:
            raise SimulatorError(f"the in-thread simulator did not start: {th.error!r}") from th.error
        scheme = "https" if tls else "http"
        url = f"{scheme}://127.0.0.1:{th.port}"
        names = [context_name(c.name, i) for i, (_, c, _) in enumerate(th.servers)]
        others = {n: f"{scheme}://127.0.0.1:{p}" for n, (_, _, p) in list(zip(names, th.servers))[1:]}
        kubeconfig = root / "kubeconfig"
        write_private(kubeconfig, kubeconfig_text(url, token, identity.cert_pem if identity else None, others=others))
        yield Simulator(url=url, token=token or "", kubeconfig=kubeconfig, cluster=th.cluster, loop=th.loop,
                        ca_pem=identity.cert_pem if identity else None,
                        contexts={n: c for n, (_, c, _) in zip(names, th.servers)})


# ---- background process ----------------------------------------------------------------------------
def state_dir(kubeconfig: Path) -> Path:
    return kubeconfig.parent / f".{kubeconfig.name}.sim"


def _read_state(kubeconfig: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir(kubeconfig) / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(state: dict[str, Any]) -> bool:
    """Our server is running: the pid lives, is ours, and answers /readyz."""
    pid = int(state.get("pid") or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if "ambient_lb.sim" not in cmdline:
        return False
    try:
        ctx = ssl.create_default_context(cafile=state["ca_file"]) if state.get("ca_file") else None
        with urllib.request.urlopen(f"{state['url']}/readyz", timeout=2, context=ctx) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, KeyError, ssl.SSLError):
        return False


def _wait_ready(read_fd: int, proc: subprocess.Popen[bytes], log_file: Path, timeout: float) -> dict[str, Any]:
    """Block on the child's ready pipe (event-driven, bounded); returns ``{"port": N, "contexts":
    {context: port}}`` as the child wrote it."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(read_fd, selectors.EVENT_READ)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise SimulatorError(f"the simulator did not answer within {timeout:.0f} s; see {log_file}")
            chunk = os.read(read_fd, 256)
            if not chunk:
                tail = _tail(log_file)
                raise SimulatorError(f"the simulator exited during start-up (exit code {proc.poll()}); "
                                     f"last lines of {log_file}:\n{tail}")
            data += chunk
    finally:
        sel.close()
        os.close(read_fd)
    return json.loads(data.split(b"\n")[0])


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def is_ours(kubeconfig: Path) -> bool:
    """True when ``kubeconfig`` is absent or a kubeconfig this module wrote (only our context)."""
    import yaml

    if not kubeconfig.exists():
        return True
    try:
        cfg = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    names = [c.get("name") for c in (cfg.get("contexts") or []) if isinstance(c, dict)] if isinstance(cfg, dict) else []
    return bool(names) and names[0] == CONTEXT and all(str(n).startswith(f"{CONTEXT}-") for n in names[1:])


def _topology_arg(topology: str) -> str:
    """A file becomes an absolute path (the child runs elsewhere); a built-in name stays a name."""
    p = Path(topology)
    return str(p.resolve()) if p.exists() else str(topology)


EXIT_WITH_PID_ENV = "AMBIENT_LB_SIM_EXIT_WITH_PID"


def start_background(kubeconfig: Path, *, seed: int = 0, speed: float = 1.0, topology: str | None = None,
                     port: int = 0, timeout: float = READY_TIMEOUT,
                     exit_with_pid: int | None = None, strict: bool = False) -> tuple[Simulator, bool]:
    """Start a detached server for ``kubeconfig`` (or find the running one); (sim, started?).
    ``strict``: the simulator ignores its fault annotations (``sim up --strict``).

    The server outlives its caller (``sim up``), unless ``exit_with_pid`` (or the environment variable
    ``AMBIENT_LB_SIM_EXIT_WITH_PID``, which the test suite sets) names a process whose exit stops it.
    """
    if exit_with_pid is None and os.environ.get(EXIT_WITH_PID_ENV, "").isdigit():
        exit_with_pid = int(os.environ[EXIT_WITH_PID_ENV])
    kubeconfig = kubeconfig.expanduser().resolve()
    if not is_ours(kubeconfig):
        raise ParameterError(f"--kubeconfig {kubeconfig}: that file exists and is not a simulator kubeconfig "
                             "(it has other contexts); the simulator writes its own file, so pick a new path, "
                             f"e.g. --kubeconfig {DEFAULT_KUBECONFIG}")
    state = _read_state(kubeconfig)
    if state and _alive(state):
        return Simulator(url=state["url"], token="", kubeconfig=kubeconfig, pid=state["pid"]), False
    sdir = state_dir(kubeconfig)
    sdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    from .server.tls import self_signed

    token, identity = secrets.token_urlsafe(32), self_signed()
    token_file, log_file = sdir / "token", sdir / "server.log"
    ca_file, key_file = sdir / "tls.crt", sdir / "tls.key"
    write_private(token_file, token + "\n")
    write_private(ca_file, identity.cert_pem.decode())
    write_private(key_file, identity.key_pem.decode())
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", "ambient_lb.sim", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--seed", str(seed), "--speed", str(speed), "--token-file", str(token_file),
            "--tls-cert", str(ca_file), "--tls-key", str(key_file), "--ready-fd", str(write_fd)] + (["--topology", _topology_arg(topology)] if topology else []) \
        + (["--exit-with-pid", str(exit_with_pid)] if exit_with_pid else []) + (["--strict"] if strict else [])
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_fd,),
                                start_new_session=True, close_fds=True)
    os.close(write_fd)
    try:
        ready = _wait_ready(read_fd, proc, log_file, timeout)
    except SimulatorError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    bound = int(ready["port"])
    url = f"https://127.0.0.1:{bound}"
    contexts = {n: f"https://127.0.0.1:{p}" for n, p in (ready.get("contexts") or {CONTEXT: bound}).items()}
    others = {n: u for n, u in contexts.items() if n != CONTEXT}
    write_private(kubeconfig, kubeconfig_text(url, token, identity.cert_pem, others=others))
    new_state = {"pid": proc.pid, "url": url, "port": bound, "token_file": str(token_file), "ca_file": str(ca_file),
                 "log_file": str(log_file), "kubeconfig": str(kubeconfig), "seed": seed, "speed": speed,
                 "topology": topology, "strict": strict, "contexts": contexts, "started": time.time()}
    write_private(sdir / "state.json", json.dumps(new_state, indent=2) + "\n")
    return Simulator(url=url, token=token, kubeconfig=kubeconfig, pid=proc.pid, ca_pem=identity.cert_pem,
                     contexts=contexts), True


def stop_background(kubeconfig: Path, timeout: float = 15.0) -> bool:
    """Stop the server started for ``kubeconfig``; False if none was running."""
    import psutil

    kubeconfig = kubeconfig.expanduser().resolve()
    state = _read_state(kubeconfig)
    running = bool(state and _alive(state))
    if state and running:
        try:
            proc = psutil.Process(int(state["pid"]))
            proc.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs([proc], timeout=timeout)
            for p in alive:
                p.kill()
        except psutil.NoSuchProcess:
            pass
    sdir = state_dir(kubeconfig)
    for name in ("state.json", "token", "tls.key", "tls.crt"):
        with contextlib.suppress(FileNotFoundError):
            (sdir / name).unlink()
    if state and is_ours(kubeconfig):
        with contextlib.suppress(FileNotFoundError):
            kubeconfig.unlink()
    return running


@contextlib.contextmanager
def running_simulator_process(*, seed: int = 0, speed: float = 1.0, topology: str | None = None,
                              workdir: str | Path | None = None, strict: bool = False) -> Iterator[Simulator]:
    """A simulator as a separate process (like ``sim up``) in a private directory, stopped on exit."""
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ambient-lb-sim-")))
        kubeconfig = root / "kubeconfig"
        sim, _ = start_background(kubeconfig, seed=seed, speed=speed, topology=topology,
                                  exit_with_pid=os.getpid(), strict=strict)
        stack.callback(stop_background, kubeconfig)
        yield sim


# ---- the `ambient-lb sim` subcommand ---------------------------------------------------------------
def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number > 0, got {value!r}; for example 10") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--speed must be > 0, got {value!r}; for example 10")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start the simulator in the background and write a kubeconfig")
    up.add_argument("--seed", type=int, default=0, help="makes names, IPs and random choices reproducible")
    up.add_argument("--speed", type=_positive, default=1.0, help="simulated seconds per wall second")
    up.add_argument("--topology", metavar="FILE|NAME",
                    help="nodes and their region/zone labels: a YAML file, or a built-in name "
                         "(single-zone, three-zones, two-regions, two-clusters)")
    up.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    up.add_argument("--strict", action="store_true",
                    help="refuse the simulator's conveniences: fault.ambient-lb.dev/* annotations are ignored")
    for name, text in (("down", "stop the simulator"), ("status", "say whether the simulator runs")):
        sub.add_parser(name, help=text)
    for p in sub.choices.values():
        p.add_argument("--kubeconfig", default=str(DEFAULT_KUBECONFIG),
                       help=f"kubeconfig the simulator writes (default {DEFAULT_KUBECONFIG})")


def _usage(sim: Simulator) -> str:
    names = ", ".join(sim.contexts) if len(sim.contexts) > 1 else CONTEXT
    default = Path(sim.kubeconfig) == DEFAULT_KUBECONFIG.expanduser()
    down = "ambient-lb sim down" + ("" if default else f" --kubeconfig {_home_relative(sim.kubeconfig)}")
    return (f"  export KUBECONFIG={_home_relative(sim.kubeconfig)}\n  kubectl get nodes\n"
            f"(context {names}; stop it with: {down})")


def _home_relative(path: Any) -> str:
    """``~/.ambient-lb/sim/kubeconfig`` rather than the home directory spelled out: what a person
    types on any machine (the runbook shows this output)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home != "/" and text.startswith(home + "/") else text


def main(args: argparse.Namespace) -> int:
    kubeconfig = Path(args.kubeconfig).expanduser()
    if args.sim_command == "up":
        if args.topology:  # validate here, before a child starts: a file or a built-in name
            from .topology import load_topology

            load_topology(args.topology)
        sim, started = start_background(kubeconfig, seed=args.seed, speed=args.speed,
                                        topology=args.topology, port=args.port, strict=args.strict)
        verb = "started" if started else "already running"
        print(f"cluster-in-a-box {verb} at {sim.url} (pid {sim.pid})\n{_usage(sim)}")
        return 0
    if args.sim_command == "down":
        stopped = stop_background(kubeconfig)
        print("cluster-in-a-box stopped" if stopped else f"no cluster-in-a-box was running for {kubeconfig}")
        return 0
    state = _read_state(kubeconfig.resolve())
    if state and _alive(state):
        mode = ", strict" if state.get("strict") else ""
        print(f"cluster-in-a-box running at {state['url']} (pid {state['pid']}, seed {state['seed']}, "
              f"speed {state['speed']}{mode})\n  export KUBECONFIG={_home_relative(state['kubeconfig'])}\n  log: {_home_relative(state['log_file'])}")
        for name, url in (state.get("contexts") or {}).items():
            print(f"  context {name}: {url}" + (" (current)" if name == CONTEXT else ""))
        return 0
    print(f"no cluster-in-a-box is running for {kubeconfig}; start one with: ambient-lb sim up")
    return 1
