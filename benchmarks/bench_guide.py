"""The runbook's own speed, against baselines measured in the same run (issue 13 item 1).

1. Wait overhead: for each wait of the guide (Gateway Programmed and CRDs Established, the waypoint's
   rollout, ready pods, pods gone, an ejection or un-ejection seen), the time from the moment the
   simulator made the condition true (its store event, or the waypoint's outlier event, R2.11) to the
   moment the runbook's check passed. p50/p95 per kind of wait; goal p95 <= 50 ms.
2. The whole guide headless (``ambient-lb run``, notebooks 00-05 on ``params/sim.yaml``) against the sum
   of its bare kernel starts (a kernel started and stopped with nothing else, measured here) plus the
   simulated convergence it waits for (from the start of each wait to the moment the simulator made
   it true); goal <= 1.5x. Then where the rest goes: kernel start beyond a bare one, imports in the
   kernels, kubectl processes (and how much of that is process start: ``kubectl version --client``,
   measured here), the runner's own start.
3. Workshop: ``ambient-lb workshop --attendees N --only 02 --params params/workshop.yaml`` (each
   attendee's own simulator; notebook 02, whose first cell builds 00-01's state) for N = 1, 10, 30,
   with ``--parallel`` left to the machine (``workshop.auto_parallel``); goal: 30 attendees <= 4x one
   attendee's wall time. Peak RSS of the whole room (every process under the workshop) is printed.

How: each child Python process (runner, kernels, simulator) loads ``benchmarks/guide_trace/
sitecustomize.py``, which appends timestamped records (CLOCK_MONOTONIC, one clock for all processes)
of store events, waits, polls, commands and imports to a trace directory; it changes no behaviour.

Run: .venv/bin/python benchmarks/bench_guide.py           (all of it: about 30 min on 2 cores)
     .venv/bin/python benchmarks/bench_guide.py --quick   (workshop with 1, 3 and 6 attendees)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
TRACE_DIR = Path(__file__).resolve().parent / "guide_trace"
PY = sys.executable
GUIDE = ["00", "01", "02", "03", "04", "05"]
GOAL_WAIT_P95_MS = 50.0
GOAL_GUIDE_RATIO = 1.5
GOAL_ROOM_RATIO = 4.0

# kubectl's names -> the simulator store's resource key (``GR``'s str)
STORE_RES = {"gateway": "gateways.gateway.networking.k8s.io", "crd": "customresourcedefinitions.apiextensions.k8s.io",
             "deployment": "deployments.apps", "daemonset": "daemonsets.apps", "pod": "pods",
             "namespace": "namespaces", "httproute": "httproutes.gateway.networking.k8s.io"}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def child_env(trace: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(PY).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("KUBECONFIG", None)
    if trace is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(TRACE_DIR), *filter(None, [env.get("PYTHONPATH")])])
        env["AMBIENT_LB_BENCH_TRACE"] = str(trace)
    return env


def read_trace(trace: Path) -> list[dict[str, Any]]:
    out = []
    for f in trace.glob("*.jsonl"):
        out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


# ---- baselines measured in this run ----------------------------------------------------------------

def bare_kernel_start(n: int = 3) -> float:
    """Seconds to start a python3 kernel on IPC sockets (as the runner does) until it answers, median."""
    from jupyter_client.manager import KernelManager

    times = []
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="alb-bk-") as d:
            km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(d) / "k"))
            t0 = time.monotonic()
            km.start_kernel(env=child_env(None))
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=60)
            times.append(time.monotonic() - t0)
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return statistics.median(times)


def process_start(argv: list[str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=child_env(None))
        times.append(time.monotonic() - t0)
    return statistics.median(times)


# ---- the whole guide, traced -------------------------------------------------------------------------

def run_guide(work: Path) -> tuple[float, list[dict[str, Any]], Path]:
    nbdir, trace, out = work / "notebooks", work / "trace", work / "out"
    for d in (nbdir, trace):
        d.mkdir(parents=True)
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        if nb.name[:2] in GUIDE:
            (nbdir / nb.name).symlink_to(nb)
    kubeconfig = work / "sim" / "kubeconfig"
    argv = [PY, "-m", "ambient_lb.cli", "run", "--params", str(ROOT / "params/sim.yaml"), "--notebooks", str(nbdir),
            "--out", str(out), "-p", f"sim.kubeconfig={kubeconfig}"]
    t0 = time.monotonic()
    try:
        res = subprocess.run(argv, capture_output=True, text=True, env=child_env(trace), cwd=ROOT, timeout=1800)
    finally:
        wall = time.monotonic() - t0
        subprocess.run([PY, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig", str(kubeconfig)],
                       capture_output=True, env=child_env(None), check=False)
    if res.returncode != 0:
        raise SystemExit(f"the guide run failed (exit {res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return wall, read_trace(trace), out


def _selector_match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v:
                return False
        elif labels.get(term) is None:
            return False
    return True


def _pod_ready(ev: dict[str, Any]) -> bool:
    return ev["type"] != "DELETED" and not ev.get("deleting") and (ev.get("conds") or {}).get("Ready") == "True"


def _rolled_out(ev: dict[str, Any]) -> bool:
    r = ev.get("rollout") or {}
    want = r.get("replicas")
    return (ev["type"] != "DELETED" and r.get("observed") is not None and r.get("generation") is not None
            and r["observed"] >= r["generation"] and want is not None
            and r.get("updated") == want and r.get("available") == want and r.get("total") == want)


def made_true_at(wait: dict[str, Any], store: list[dict[str, Any]]) -> float | None:
    """When the simulator made this wait's condition true (the store event after which it held until the
    check passed), or None when the trace cannot say (a wait with a predicate this bench does not know)."""
    what, fn = str(wait.get("what") or ""), wait["fn"]
    if fn == "watch_pods":
        count = int(what.split()[0])
        ready_only = "ready" in what
        pods: dict[str, dict[str, Any]] = {}

        def holds() -> bool:
            if ready_only:
                return sum(_pod_ready(p) for p in pods.values()) >= count
            return len(pods) == count
        events = (e for e in store if e["res"] == "pods" and e["ns"] == wait["ns"])
        state_of = lambda e: pods.pop(e["name"], None) if e["type"] == "DELETED" else pods.__setitem__(e["name"], e)  # noqa: E731
        relevant = lambda e: _selector_match(e.get("labels") or {}, wait["selector"])  # noqa: E731
    else:
        res = STORE_RES.get(wait["res"], wait["res"])
        current: list[dict[str, Any] | None] = [None]
        if fn == "rollout":
            holds = lambda: current[0] is not None and _rolled_out(current[0])  # noqa: E731
        elif what.startswith("condition "):
            cond, status = what.split(" ", 1)[1].split("=", 1)
            holds = lambda: current[0] is not None and current[0]["type"] != "DELETED" and \
                (current[0].get("conds") or {}).get(cond) == status  # noqa: E731
        elif what == "deletion":
            holds = lambda: current[0] is not None and current[0]["type"] == "DELETED"  # noqa: E731
        else:
            return None
        events = (e for e in store if e["res"] == res and e["ns"] == wait["ns"] and e["name"] == wait["name"])
        state_of = lambda e: current.__setitem__(0, e)  # noqa: E731
        relevant = lambda e: True  # noqa: E731
    became: float | None = None
    was = False
    for e in events:
        if e["t"] > wait["t1"]:
            break
        if not relevant(e):
            continue
        state_of(e)
        now = holds()
        if now and not was:
            became = e["t"]
        was = now
    if not was:
        return None
    return became


def wait_kind(w: dict[str, Any]) -> str:
    what = str(w.get("what") or "")
    if w["fn"] == "rollout":
        return "rollout"
    if w["fn"] == "watch_pods":
        return "ready pods" if "ready" in what else "pods gone"
    if what.startswith("condition "):
        return what.split(" ", 1)[1].split("=")[0]  # Programmed, Established
    return "other"


EJECTION_POLLS = {"back in rotation at a sweep": "UNEJECT"}
EJECTION_CHECKS = {"is ejected": "EJECT", "was ejected again": "EJECT"}


def waits_with_truth(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each wait of the run with ``true_at`` (the simulator's moment) and ``kind``."""
    store = sorted((r for r in trace if r["kind"] == "store"), key=lambda r: r["rv"])
    outlier = sorted((r for r in trace if r["kind"] == "outlier"), key=lambda r: r["t"])
    out = []
    for w in (r for r in trace if r["kind"] == "wait" and r["ok"]):
        truth = made_true_at(w, store)
        out.append({**w, "kind": wait_kind(w), "true_at": truth})
    # ejection seen: the poll that waits for an un-ejection, the checks that read an ejection
    for r in trace:
        if r["kind"] == "poll" and r["ok"]:
            action = next((a for k, a in EJECTION_POLLS.items() if k in r["name"]), None)
        elif r["kind"] == "check" and r["ok"]:
            action = next((a for k, a in EJECTION_CHECKS.items() if k in r["name"]), None)
        else:
            continue
        if action is None:
            continue
        t1 = r.get("t1", r.get("t"))
        start = r.get("t0", 0.0)  # a check has no start: it passed when it was made
        seen = [e["t"] for e in outlier if e["action"] == action and e["t"] <= t1 and e.get("enforced", True)]
        # the last such event before the check passed (for a poll: during it)
        truth = seen[-1] if seen else None
        out.append({"kind": "ejection seen", "fn": r["kind"], "name": r["name"], "t0": start, "t1": t1,
                    "true_at": truth})
    return out


def summarize_waits(waits: list[dict[str, Any]]) -> dict[str, list[float]]:
    by: dict[str, list[float]] = defaultdict(list)
    for w in waits:
        if w["true_at"] is None:
            continue
        by[w["kind"]].append(max(0.0, w["t1"] - max(w["true_at"], w["t0"])) * 1e3)
    return by


def print_waits(by: dict[str, list[float]], unknown: int) -> None:
    print(f"{'wait':16s} {'n':>3s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}  "
          f"ratio p95 / goal {GOAL_WAIT_P95_MS:g} ms")
    everything: list[float] = []
    for kind in sorted(by):
        xs = by[kind]
        everything += xs
        print(f"{kind:16s} {len(xs):3d} {pct(xs, 50):8.1f} {pct(xs, 95):8.1f} {max(xs):8.1f}  "
              f"{pct(xs, 95) / GOAL_WAIT_P95_MS:.2f}")
    if everything:
        print(f"{'all':16s} {len(everything):3d} {pct(everything, 50):8.1f} {pct(everything, 95):8.1f} "
              f"{max(everything):8.1f}  {pct(everything, 95) / GOAL_WAIT_P95_MS:.2f}")
    if unknown:
        print(f"({unknown} waits with a predicate the trace cannot replay, e.g. 'a ready ztunnel on every node': "
              "not counted)")


def account(wall: float, trace: list[dict[str, Any]], waits: list[dict[str, Any]], out: Path,
            bare_kernel: float, kubectl_start: float) -> None:
    notebooks = sorted((r for r in trace if r["kind"] == "notebook"), key=lambda r: r["t0"])
    kernels = sorted((r for r in trace if r["kind"] == "proc" and r["role"] == "kernel"), key=lambda r: r["t"])
    # kernel start per notebook: from its execution's start to its first code cell's start (papermill's times)
    kernel_start = []
    for nb in notebooks:
        cells = json.loads(Path(nb["dest"]).read_text())["cells"]
        starts = [c["metadata"]["papermill"]["start_time"] for c in cells
                  if c["cell_type"] == "code" and c["metadata"].get("papermill", {}).get("start_time")]
        first = min(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in starts)
        kernel_start.append(first - nb["wall0"])
    n_nb = len(notebooks)
    # simulated convergence: from each wait's start to the simulator's moment (waits overlapping are merged)
    spans = [(w["t0"], w["true_at"]) for w in waits if w["true_at"] is not None and w["fn"] != "check"
             and w["true_at"] > w["t0"]]
    polls = [(r["t0"], r["last_attempt"]) for r in trace if r["kind"] == "poll" and r["ok"] and r["attempts"] > 1
             and not any(k in r["name"] for k in EJECTION_POLLS)]
    converge = union(spans)
    polled = union(polls) - overlap(polls, spans)
    baseline = n_nb * bare_kernel + converge + polled
    print(f"whole guide (00-05) headless: {wall:.1f} s; baseline {baseline:.1f} s = {n_nb} bare kernel starts "
          f"({n_nb} x {bare_kernel:.2f} s) + simulated convergence {converge:.1f} s (waits) + {polled:.1f} s "
          f"(bounded polls until their passing attempt)")
    print(f"ratio whole / baseline: {wall / baseline:.2f} (goal <= {GOAL_GUIDE_RATIO}: "
          f"{wall / baseline / GOAL_GUIDE_RATIO:.2f} of it)")
    in_cells = [r for r in trace if r["kind"] == "import" and r["role"] == "kernel"
                and r["t0"] > min((k["t"] for k in kernels), default=0) and _after_ready(r, notebooks, kernel_start)]
    kernel_imports = sum(r["t1"] - r["t0"] for r in in_cells if r.get("thread") == "MainThread")
    warm_imports = sum(r["t1"] - r["t0"] for r in in_cells if r.get("thread") != "MainThread")
    cmds = [r for r in trace if r["kind"] == "cmd" and r["role"] == "kernel"]
    kubectl = [r for r in cmds if r["tool"] == "kubectl"]
    kubectl_waiting = sum(r["t1"] - r["t0"] for r in kubectl if r["args"][:1] == ["rollout"] or
                          (len(r["args"]) > 2 and r["args"][2] == "rollout"))
    kubectl_total = sum(r["t1"] - r["t0"] for r in kubectl)
    quiet = [r for r in kubectl if r.get("quiet")]
    first = min(r["t0"] for r in notebooks) if notebooks else 0.0
    runner_start = first - min(r["t"] for r in trace if r["kind"] == "proc")
    rest = wall - baseline
    print(f"where the other {rest:.1f} s go:")
    rows = [
        ("kernel start beyond a bare one", sum(kernel_start) - n_nb * bare_kernel),
        ("imports in the kernels' cells (ambient_lb, pandas, kubernetes, ...)", kernel_imports),
        ("  (not counted: imports in the runbook's warm-up thread, overlapping the steps)", warm_imports),
        (f"kubectl processes: {len(kubectl)} ({len(quiet)} not shown to the learner), excluding rollout's wait",
         kubectl_total - kubectl_waiting),
        (f"  of which process start ({len(kubectl)} x {kubectl_start * 1e3:.0f} ms, kubectl version --client)",
         len(kubectl) * kubectl_start),
        ("  of which the unshown ones' process start", len(quiet) * kubectl_start),
        ("runner start and sim up, before the first notebook", runner_start),
        ("wait overhead (simulator's moment -> check passed)",
         sum(max(0.0, w["t1"] - max(w["true_at"], w["t0"])) for w in waits if w["true_at"] is not None)),
    ]
    for label, secs in rows:
        print(f"  {secs:7.1f} s  {label}")
    print("  (the remainder is the steps' own work: requests, log parsing, plots, the runbook's reads)")


def _after_ready(imp: dict[str, Any], notebooks: list[dict[str, Any]], kernel_start: list[float]) -> bool:
    """An import inside a cell (not the kernel's own start-up)."""
    for nb, ks in zip(notebooks, kernel_start, strict=False):
        if nb["t0"] + ks <= imp["t0"] <= nb["t1"]:
            return True
    return False


def union(spans: Iterable[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return union(a) + union(b) - union(a + b)


# ---- workshop -----------------------------------------------------------------------------------------

class RssSampler:
    """Peak summed RSS of a process and all its descendants, sampled every 0.25 s while running."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self.stop.wait(0.25)  # a sampler's period, not a wait for a condition

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


def simulator_pids(out: Path) -> list[int]:
    pids = []
    for state in out.glob("*/sim/.kubeconfig.sim/state.json"):
        try:
            pids.append(int(json.loads(state.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            pass
    return pids


def run_room(n: int, work: Path) -> tuple[float, int, str, int]:
    """(wall s, peak RSS bytes, the --parallel it chose, exit code) of one workshop of ``n`` attendees."""
    out = work / f"room-{n}"
    argv = [PY, "-m", "ambient_lb.cli", "workshop", "--attendees", str(n), "--only", "02",
            "--params", str(ROOT / "params/workshop.yaml"), "--out", str(out)]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(None),
                            cwd=ROOT)
    with RssSampler(proc.pid) as rss:
        # the simulators are daemons (not children of the workshop): add them to the sample
        sims = SimRss(out)
        with sims:
            text, _ = proc.communicate(timeout=7200)
    wall = time.monotonic() - t0
    first = text.splitlines()[0] if text else ""
    chosen = first.split(", ", 1)[1].split(" at a time")[0] if " at a time" in first else "?"
    if proc.returncode != 0:
        print(text[-2000:])
    return wall, rss.peak + sims.peak_at_rss(rss), chosen, proc.returncode


class SimRss(RssSampler):
    """The attendees' simulator daemons (detached from the workshop), sampled like RssSampler; their sum
    at each sample is added to the workshop tree's (an upper bound of the room's peak: the two peaks are
    taken separately)."""

    def __init__(self, out: Path) -> None:
        super().__init__(0)
        self.out = out

    def _run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for pid in simulator_pids(self.out):
                try:
                    total += psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.stop.wait(0.25)

    def peak_at_rss(self, _: RssSampler) -> int:
        return self.peak


def workshop(sizes: list[int], work: Path) -> None:
    print(f"{'attendees':>9s} {'parallel':>8s} {'wall s':>8s} {'x one':>7s} {'peak RSS':>9s}  exit")
    one = None
    for n in sizes:
        wall, peak, chosen, code = run_room(n, work)
        one = one or wall
        print(f"{n:9d} {chosen:>8s} {wall:8.1f} {wall / one:7.2f} {peak / 2**20:7.0f} MB  {code}", flush=True)
    if len(sizes) > 1:
        n = sizes[-1]
        print(f"ratio {n} attendees / one: {wall / one:.2f} "
              f"(goal <= {GOAL_ROOM_RATIO:g}: {wall / one / GOAL_ROOM_RATIO:.2f} "
              f"of it)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="workshop with 1, 3 and 6 attendees (development)")
    ap.add_argument("--skip-guide", action="store_true", help="only the workshop part")
    ap.add_argument("--skip-workshop", action="store_true", help="only the wait and whole-guide parts")
    ap.add_argument("--keep", metavar="DIR", help="keep the guide run's trace and notebooks in DIR (development)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"ambient-lb guide benchmark: {os.cpu_count()} CPUs (nproc), python {platform.python_version()}, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load average {load:.1f} at start")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alb-bench-guide-") as tmp:
        work = Path(tmp)
        if not args.skip_guide:
            bare = bare_kernel_start()
            kubectl_start = process_start(["kubectl", "version", "--client"])
            python_start = process_start([PY, "-c", "pass"])
            print(f"-- baselines: bare kernel start {bare:.2f} s, kubectl process (version --client) "
                  f"{kubectl_start * 1e3:.0f} ms, bare python {python_start * 1e3:.0f} ms")
            wall, trace, out = run_guide(work / "guide")
            if args.keep:
                shutil.copytree(work / "guide", args.keep, symlinks=True, dirs_exist_ok=True)
                Path(args.keep, "wall").write_text(f"{wall} {bare} {kubectl_start}\n")
            waits = waits_with_truth(trace)
            print("-- 1. wait overhead: the simulator's moment -> the check passed")
            print_waits(summarize_waits(waits), sum(1 for w in waits if w["true_at"] is None))
            print("-- 2. the whole guide vs bare kernel starts + simulated convergence")
            account(wall, trace, waits, out, bare, kubectl_start)
        if not args.skip_workshop:
            sizes = [1, 3, 6] if args.quick else [1, 10, 30]
            print(f"-- 3. workshop: --only 02 on params/workshop.yaml, {', '.join(map(str, sizes))} attendees, "
                  "--parallel chosen by the machine")
            workshop(sizes, work)
        shutil.rmtree(work, ignore_errors=True)
    print(f"bench_guide: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
