"""``ambient-lb sim up | down | status``: the simulator's command line.

Who calls it: ``ambient_lb.cli`` (through the seam's ``CLI_MODULE``) with the arguments
``add_arguments`` declares. ``up`` validates ``--topology`` before a child starts, then
``daemon.start_background``; ``down`` is ``daemon.stop_background``; ``status`` reads the state the
daemon wrote. Without ``--kubeconfig``, the kubeconfig is ``~/.ambient-lb/sim/kubeconfig``, or for a
topology of several clusters its own home (``--topology two-clusters``:
``~/.ambient-lb/sim-two-clusters/kubeconfig``), so the two run side by side and ``down``/``status``
take the same ``--topology`` to find it. ``--strict`` makes the simulator ignore its ``fault.ambient-lb.dev/*`` annotations, so
a run proves it uses only what a cluster offers; the state file and ``sim status`` say so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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


def kubeconfig_for(kubeconfig: str | None, topology: str | None) -> Path:
    """``--kubeconfig`` if given, else the default for the topology (see the module's docstring).
    ``--topology`` is loaded either way, so a bad one stops here, before anything starts."""
    home = own_home(topology)
    if kubeconfig:
        return Path(kubeconfig).expanduser()
    return (topology_kubeconfig(home) if home else DEFAULT_KUBECONFIG).expanduser()


def _which(kubeconfig: Path, topology: str | None) -> str:
    """The flags that name this simulator to ``sim down``/``status``, as a person types them."""
    home = own_home(topology)
    if home and kubeconfig == topology_kubeconfig(home).expanduser():
        return f" --topology {topology}"
    return "" if kubeconfig == DEFAULT_KUBECONFIG.expanduser() else f" --kubeconfig {home_relative(kubeconfig)}"


def _usage(sim: Simulator, topology: str | None) -> str:
    names = ", ".join(sim.contexts) if len(sim.contexts) > 1 else CONTEXT
    down = "ambient-lb sim down" + _which(Path(sim.kubeconfig), topology)
    return (f"  export KUBECONFIG={home_relative(sim.kubeconfig)}\n  kubectl get nodes\n"
            f"(context {names}; stop it with: {down})")


def main(args: argparse.Namespace) -> int:
    topology = getattr(args, "topology", None)
    kubeconfig = kubeconfig_for(getattr(args, "kubeconfig", None), topology)  # validates --topology
    if args.sim_command == "up":
        sim, started = start_background(kubeconfig, seed=args.seed, speed=args.speed,
                                        topology=args.topology, port=args.port, strict=args.strict)
        verb = "started" if started else "already running"
        print(f"cluster-in-a-box {verb} at {sim.url} (pid {sim.pid})\n{_usage(sim, topology)}")
        return 0
    if args.sim_command == "down":
        stopped = stop_background(kubeconfig)
        print("cluster-in-a-box stopped" if stopped else f"no cluster-in-a-box was running for {home_relative(kubeconfig)}")
        return 0
    state = _read_state(kubeconfig.resolve())
    if state and _alive(state):
        mode = ", strict" if state.get("strict") else ""
        print(f"cluster-in-a-box running at {state['url']} (pid {state['pid']}, seed {state['seed']}, "
              f"speed {state['speed']}{mode})\n  export KUBECONFIG={home_relative(state['kubeconfig'])}\n  log: {home_relative(state['log_file'])}")
        for name, url in (state.get("contexts") or {}).items():
            print(f"  context {name}: {url}" + (" (current)" if name == CONTEXT else ""))
        return 0
    print(f"no cluster-in-a-box is running for {home_relative(kubeconfig)}; start one with: ambient-lb sim up"
          + (f" --topology {topology}" if topology else ""))
    return 1
