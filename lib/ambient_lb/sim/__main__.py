"""``python -m ambient_lb.sim serve``: the simulator's server process (what ``sim up`` starts).

Who calls it: ``sim/daemon.py`` (``sim up``) with ``--token-file`` (the token never travels in argv) and
``--ready-fd`` (a pipe on which the server writes ``{"port": N, "contexts": {context: port}}`` once it
answers (one API server per cluster of a multi-cluster topology), so the parent
waits on an event, not a timer). Runs until SIGTERM or SIGINT, then stops the cluster cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
from pathlib import Path


def loopback(value: str) -> str:
    """``--host``: an address of 127.0.0.0/8 only; the simulator is this machine's, never the network's."""
    try:
        ok = ipaddress.ip_address(value) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"--host {value}: the simulator listens on loopback addresses only "
                                         "(127.0.0.0/8), e.g. --host 127.0.0.1")
    return value


def parse(argv: list[str]) -> argparse.Namespace:
    """Parses ``python -m ambient_lb.sim``'s command line (``serve`` and its options)."""
    p = argparse.ArgumentParser(prog="python -m ambient_lb.sim")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the cluster-in-a-box until SIGTERM")
    s.add_argument("--host", type=loopback, default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--speed", type=float, default=1.0)
    s.add_argument("--topology", default=None)
    s.add_argument("--token-file", default=None, help="file holding the bearer token clients must send")
    s.add_argument("--tls-cert", default=None, help="PEM certificate; with --tls-key serves https")
    s.add_argument("--tls-key", default=None)
    s.add_argument("--ready-fd", type=int, default=None, help="write {\"port\": N} here once serving")
    s.add_argument("--log-level", default="INFO")
    s.add_argument("--strict", action="store_true", help="ignore the simulator's fault annotations")
    s.add_argument("--exit-with-pid", type=int, default=None,
                   help="stop when this process exits (tests: the server never outlives its test run)")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serves the cluster-in-a-box until SIGTERM or SIGINT."""
    from .in_process import start_servers, tune_gc
    from .kubeconfig import context_name

    topology = None
    if args.topology:
        from .topology import load_topology
        topology = load_topology(args.topology)
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    kw = {"seed": args.seed, "speed": args.speed, "topology": topology, "strict": args.strict,
          "topology_name": args.topology}
    tls = None
    if args.tls_cert and args.tls_key:
        from .server.tls import TlsIdentity
        tls = TlsIdentity(Path(args.tls_cert).read_bytes(), Path(args.tls_key).read_bytes())
    servers = await start_servers(kw, token, args.host, args.port, tls=tls)
    port = servers[0][2]
    contexts = {context_name(c.name, i): p for i, (_, c, p) in enumerate(servers)}
    tune_gc()  # the bootstrap heap out of the collector, fewer collections (see in_process.tune_gc)
    scheme = "https" if tls else "http"
    logging.getLogger("ambient_lb.sim").info("serving on %s://%s:%d (pid %d)", scheme, args.host, port, os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_with_pid is not None:
        watch_parent(loop, args.exit_with_pid, stop)
    if args.ready_fd is not None:
        os.write(args.ready_fd, json.dumps({"port": port, "contexts": contexts}).encode() + b"\n")
        os.close(args.ready_fd)
    try:
        await stop.wait()
        logging.getLogger("ambient_lb.sim").info("stopping")
    finally:
        for runner, _, _ in reversed(servers):
            await runner.cleanup()


def watch_parent(loop: asyncio.AbstractEventLoop, pid: int, stop: asyncio.Event) -> None:
    """Set ``stop`` when process ``pid`` exits: a pidfd becomes readable then (event-driven, Linux)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        stop.set()
        return
    loop.add_reader(fd, stop.set)


def main(argv: list[str] | None = None) -> int:
    """Runs ``python -m ambient_lb.sim``: serves until stopped, flushes the log, and exits the process at once."""
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))
    logging.getLogger("ambient_lb.sim").info("stopped")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the cluster is stopped and the log flushed; skip tearing down a large heap


if __name__ == "__main__":
    sys.exit(main())
