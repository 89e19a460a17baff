"""``ambient-lb workshop``: the runbook for a room of attendees at once, then one report.

A trainer gives either a number of attendees (each gets their own simulator: own kubeconfig, own
seed) or a list of kube contexts (one attendee per context of a real fleet). Each attendee is one
``ambient-lb run`` child process (papermill changes the working directory process-wide, so runs
must not share a process), at most ``--parallel`` at a time (``auto``, the default, takes what the
machine's CPUs and free memory allow: :func:`auto_parallel`). The result is ``<out>/<attendee>/`` per
attendee and ``<out>/report.html``, the room page (``report.render_room_html``): who is stuck where and
why, time per step. With ``--jobs`` the room runs past one machine, as Kubernetes Jobs in the trainer's
cluster (``workshop_jobs.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import shell, workshop_jobs
from .errors import ParameterError
from .report import render_room_html, render_text, row_for, seat_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb workshop``'s arguments: attendees or contexts, params, parallelism, output."""
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--attendees", type=int, metavar="N", help="N attendees, one simulator each")
    who.add_argument("--contexts", metavar="CTX[,CTX...]", help="one attendee per kube context")
    p.add_argument("--params", metavar="FILE", help="params YAML shared by every attendee")
    p.add_argument("-p", dest="overrides", metavar="KEY=VALUE", action="append", default=[])
    p.add_argument("--parallel", type=_parallel, default="auto", metavar="K|auto",
                   help="runs at once (default auto: what this machine's CPUs and free memory take)")
    p.add_argument("--out", default="runs/workshop", metavar="DIR")
    p.add_argument("--only", metavar="NN", help="run only notebook NN for everyone")
    p.add_argument("--keep-simulators", action="store_true",
                   help="leave each attendee's simulator running afterwards (default: stop them)")
    workshop_jobs.add_arguments(p)


@dataclass
class Attendee:
    """One attendee: a name, their parameter overrides, and their own simulator's kubeconfig if any."""

    name: str
    overrides: list[str]
    kubeconfig: Path | None = None  # the attendee's own simulator, stopped at the end


def attendees_from(args: argparse.Namespace, out: Path) -> list[Attendee]:
    """The attendees: N with a simulator each, or one per kube context; ParameterError for a bad count."""
    if args.attendees is not None:
        if not 1 <= args.attendees <= 200:
            raise ParameterError(f"--attendees {args.attendees}: must be 1..200 (e.g. --attendees 12)")
        people = []
        for i in range(1, args.attendees + 1):
            kubeconfig = (out / f"attendee-{i:02d}" / "sim" / "kubeconfig").resolve()
            people.append(Attendee(f"attendee-{i:02d}", ["target=sim", f"sim.kubeconfig={kubeconfig}",
                                                        f"sim.seed={i}"], kubeconfig))
        return people
    return [Attendee(c, ["target=cluster", f"kube.context={c}"]) for c in workshop_jobs.context_names(args.contexts)]


# What one attendee's run holds at its peak on the simulator: its simulator, the runner (papermill) and
# one kernel with pandas and matplotlib loaded (benchmarks/bench_guide.py prints the room's peak).
ATTENDEE_MB = 600
# An attendee's run mostly waits for simulated time and its simulator; on the benchmark's machine one run
# keeps about a third of a core busy, so three runs per core keep the CPUs busy without queueing much.
RUNS_PER_CPU = 3


def _parallel(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of runs at once, at least 1, or auto "
                                         "(e.g. --parallel 4)")
    return k


def auto_parallel(attendees: int, cpus: int | None = None, available_mb: float | None = None) -> int:
    """Runs at once for this machine: ``RUNS_PER_CPU`` per CPU, as many as the free memory holds at
    ``ATTENDEE_MB`` each, never more than the attendees, at least 1."""
    import psutil  # only the auto choice needs it

    cpus = cpus or os.cpu_count() or 1
    if available_mb is None:
        available_mb = psutil.virtual_memory().available / 2**20
    return max(1, min(attendees, RUNS_PER_CPU * cpus, int(available_mb // ATTENDEE_MB)))


def main(args: argparse.Namespace) -> int:
    """Runs every attendee (K at a time), stops their simulators, and prints and writes the report."""
    if args.jobs:
        return workshop_jobs.main(args)
    for flag in ("name", "image"):
        if getattr(args, flag):
            raise ParameterError(f"--{flag} is for --jobs (a room run as Kubernetes Jobs); add --jobs or drop it")
    out = Path(args.out)
    people = attendees_from(args, out)
    parallel = auto_parallel(len(people)) if args.parallel == "auto" else int(args.parallel)
    how = " (chosen for this machine: --parallel auto)" if args.parallel == "auto" else ""
    print(f"workshop: {len(people)} attendees, {parallel} at a time{how} -> {out}", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            codes = list(pool.map(lambda a: run_attendee(a, args, out), people))
    finally:
        if not args.keep_simulators:
            stop_simulators(people)

    rows = [row_for(out / a.name) if (out / a.name / "summary.json").exists()
            else {"run": a.name, "ok": False, "reached": "-", "checks": "0/0", "seconds": 0,
                  "stuck_at": f"did not start (exit {code}); see {out / a.name / 'run.log'}"}
            for a, code in zip(people, codes, strict=True)]
    print(render_text(rows))
    seats = [seat_for(out / a.name) for a in people]
    for seat, code in zip(seats, codes, strict=True):
        if seat.state == "not started":
            seat.failure["detail"] = f"ambient-lb run exited {code} before writing a summary"
    (out / "report.html").write_text(render_room_html(seats, title=f"ambient-lb workshop {out.name}"))
    print(f"report: {out / 'report.html'}")
    return 0 if all(r["ok"] for r in rows) else 1


def run_attendee(a: Attendee, args: argparse.Namespace, out: Path) -> int:
    """One ``ambient-lb run`` child; its output goes to ``<out>/<name>/run.log``."""
    run_dir = out / a.name
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ambient_lb.cli", "run", "--out", str(run_dir),
            "--run-id", a.name]
    if args.params:
        argv += ["--params", args.params]
    if args.only:
        argv += ["--only", args.only]
    for o in [*args.overrides, *a.overrides]:
        argv += ["-p", o]
    with open(run_dir / "run.log", "w") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False,
                              env=shell.passing_secrets()).returncode  # the run's kernels need the key
    print(f"  {a.name}: {'ok' if code == 0 else f'exit {code}'}", flush=True)
    return code


def stop_simulators(people: list[Attendee]) -> None:
    """``ambient-lb sim down`` for every attendee simulator (a no-op where none runs)."""
    for a in people:
        if a.kubeconfig is not None:
            subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                            str(a.kubeconfig)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False, timeout=60)
