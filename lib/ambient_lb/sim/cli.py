"""``ambient-lb sim up | down | status``: the simulator's command line.

Who calls it: ``ambient_lb.cli`` (through the seam's ``CLI_MODULE``) with the arguments
``add_arguments`` declares. ``up`` validates ``--topology`` before a child starts, then
``daemon.start_background``; ``down`` is ``daemon.stop_background``; ``status`` reads the state the
daemon wrote. Without ``--kubeconfig``, the kubeconfig is ``~/.ambient-lb/sim/kubeconfig``, or for a
topology of several clusters its own home (``--topology two-clusters``:
``~/.ambient-lb/sim-two-clusters/kubeconfig``), so the two run side by side and ``down``/``status``
take the same ``--topology`` to find it. ``--strict`` makes the simulator ignore its
``fault.ambient-lb.dev/*`` annotations, so a run proves it uses only what a cluster offers; the state file
and ``sim status`` say so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ParameterError
from .daemon import Simulator, _alive, _read_state, start_background, stop_background
from .kubeconfig import CONTEXT, DEFAULT_KUBECONFIG, home_relative, topology_kubeconfig


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number > 0, got {value!r}; for example 10") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--speed must be > 0, got {value!r}; for example 10")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of ``ambient-lb sim`` (up, fault, down, status) and their flags."""
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
    fault = sub.add_parser("fault", help="drills: make the API server misbehave on purpose (off unless asked)",
                           description="Inject API faults for drills (docs/semantics-addendum.md §19): "
                                       "add KIND, list, clear [ID]. Example: ambient-lb sim fault add error "
                                       "--status 503 --retry-after 1 --verbs list --resources pods --count 3")
    fault.add_argument("action", choices=("add", "list", "clear"))
    fault.add_argument("what", nargs="?", metavar="KIND|ID",
                       help="add: error, latency, reset, pause or watch-close; clear: one fault's id (default all)")
    fault.add_argument("--status", type=int, help="error: 429, 500, 503 or 504 (default 503)")
    fault.add_argument("--retry-after", type=int, metavar="S", help="error: the Retry-After header, seconds")
    fault.add_argument("--delay", type=float, metavar="S", help="latency: seconds added to each answer")
    fault.add_argument("--verbs", metavar="V,V", help="only these verbs (get,list,watch,create,update,patch,delete)")
    fault.add_argument("--resources", metavar="R,R", help="only these resources (pods, pods/log, deployments, ...)")
    fault.add_argument("--namespace", metavar="NS", help="only this namespace")
    fault.add_argument("--user-agent", metavar="TEXT", help="only clients whose User-Agent contains this (kubectl)")
    fault.add_argument("--count", type=int, metavar="N", help="at most N requests, then the fault is gone")
    fault.add_argument("--seconds", type=float, metavar="S", help="how long it lasts, wall seconds (default 60)")
    fault.add_argument("--context", metavar="CTX", help="which cluster of the kubeconfig (default: its current)")
    fault.add_argument("--topology", metavar="FILE|NAME", help="the simulator started with this --topology")
    for name, text in (("down", "stop the simulator"), ("status", "say whether the simulator runs")):
        sub.add_parser(name, help=text).add_argument(
            "--topology", metavar="FILE|NAME",
            help="the one started with this multi-cluster --topology (it has its own kubeconfig)")
    for p in sub.choices.values():
        p.add_argument("--kubeconfig", default=None,
                       help=f"kubeconfig the simulator writes (default {DEFAULT_KUBECONFIG}; for a topology of "
                            f"several clusters {topology_kubeconfig('<name>')})")


def own_home(topology: str | None) -> str | None:
    """The name a topology's own kubeconfig home is named for (``topology_kubeconfig``): a built-in name
    or a file's stem, when the topology has several clusters; None otherwise. Loading it also validates
    it, before anything starts (a clear error for a bad file or name)."""
    if not topology:
        return None
    from .topology import builtin_topologies, load_topology

    if len(load_topology(topology).clusters) < 2:
        return None
    return topology if topology in builtin_topologies() and not Path(topology).exists() else Path(topology).stem


def kubeconfig_for(kubeconfig: str | None, home: str | None) -> Path:
    """``--kubeconfig`` if given, else the default for the topology whose :func:`own_home` is ``home``
    (see the module's docstring)."""
    if kubeconfig:
        return Path(kubeconfig).expanduser()
    return (topology_kubeconfig(home) if home else DEFAULT_KUBECONFIG).expanduser()


def _which(kubeconfig: Path, topology: str | None, home: str | None) -> str:
    """The flags that name this simulator to ``sim down``/``status``, as a person types them."""
    if home and kubeconfig == topology_kubeconfig(home).expanduser():
        return f" --topology {topology}"
    return "" if kubeconfig == DEFAULT_KUBECONFIG.expanduser() else f" --kubeconfig {home_relative(kubeconfig)}"


def _usage(sim: Simulator, topology: str | None, home: str | None) -> str:
    names = ", ".join(sim.contexts) if len(sim.contexts) > 1 else CONTEXT
    down = "ambient-lb sim down" + _which(Path(sim.kubeconfig), topology, home)
    return (f"  export KUBECONFIG={home_relative(sim.kubeconfig)}\n  kubectl get nodes\n"
            f"(context {names}; stop it with: {down})")


def main(args: argparse.Namespace) -> int:
    """Run one ``ambient-lb sim`` action; the process exit code."""
    topology = getattr(args, "topology", None)
    home = own_home(topology)  # loads --topology once: a bad one stops here, before anything starts
    kubeconfig = kubeconfig_for(getattr(args, "kubeconfig", None), home)
    if args.sim_command == "up":
        sim, started = start_background(kubeconfig, seed=args.seed, speed=args.speed,
                                        topology=args.topology, port=args.port, strict=args.strict)
        verb = "started" if started else "already running"
        print(f"cluster-in-a-box {verb} at {sim.url} (pid {sim.pid})\n{_usage(sim, topology, home)}")
        return 0
    if args.sim_command == "fault":
        return fault_command(args, kubeconfig)
    if args.sim_command == "down":
        stopped = stop_background(kubeconfig)
        print("cluster-in-a-box stopped" if stopped
              else f"no cluster-in-a-box was running for {home_relative(kubeconfig)}")
        return 0
    state = _read_state(kubeconfig.resolve())
    if state and _alive(state):
        mode = ", strict" if state.get("strict") else ""
        print(f"cluster-in-a-box running at {state['url']} (pid {state['pid']}, seed {state['seed']}, "
              f"speed {state['speed']}{mode})\n  export KUBECONFIG={home_relative(state['kubeconfig'])}\n"
              f"  log: {home_relative(state['log_file'])}")
        for name, url in (state.get("contexts") or {}).items():
            print(f"  context {name}: {url}" + (" (current)" if name == CONTEXT else ""))
        return 0
    print(f"no cluster-in-a-box is running for {home_relative(kubeconfig)}; start one with: ambient-lb sim up"
          + (f" --topology {topology}" if topology else ""))
    return 1


def fault_command(args: argparse.Namespace, kubeconfig: Path) -> int:
    """``ambient-lb sim fault add KIND ... | list | clear [ID]``: one call to the drill endpoint."""
    from .fault_client import FaultClient

    client = FaultClient(kubeconfig, args.context)
    if args.action == "add":
        from .server.api_faults import KINDS

        if args.what not in KINDS:
            raise ParameterError(f"ambient-lb sim fault add {args.what or ''}: the kind must be one of "
                                 f"{', '.join(KINDS)}; e.g. ambient-lb sim fault add error "
                                 "--status 503 --verbs list --resources pods --count 3")
        split = lambda v: [x.strip() for x in v.split(",") if x.strip()] if v else None  # noqa: E731
        added = client.add(kind=args.what, status=args.status, retryAfterSeconds=args.retry_after,
                           delaySeconds=args.delay, verbs=split(args.verbs), resources=split(args.resources),
                           namespace=args.namespace, userAgent=args.user_agent, count=args.count,
                           seconds=args.seconds)
        print(f"fault {added['id']} added: {_describe(added)}")
        return 0
    if args.action == "list":
        rows = client.list()
        print("\n".join(f"{f['id']}: {_describe(f)}" for f in rows) if rows else "no faults are active")
        return 0
    removed = client.clear(args.what)
    print(f"{removed} fault(s) removed")
    return 0


def _describe(f: dict) -> str:
    what = {"error": f"HTTP {f.get('status')}" + (f" (Retry-After {f['retryAfterSeconds']} s)"
                                                   if f.get("retryAfterSeconds") is not None else ""),
            "latency": f"+{f.get('delaySeconds')} s", "reset": "connection reset", "pause": "no answer",
            "watch-close": "watches closed, 410 on resume"}.get(f["kind"], f["kind"])
    scope = " ".join(x for x in (",".join(f.get("verbs") or []) or "every verb",
                                 "on " + (",".join(f.get("resources") or []) or "every resource"),
                                 f"in {f['namespace']}" if f.get("namespace") else "") if x)
    left = f"{f.get('secondsLeft')} s left" + (f", {f['count'] - f['hits']} of {f['count']} requests left"
                                               if f.get("count") else "")
    return f"{what}, {scope}; {left}"
