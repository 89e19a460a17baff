"""``ambient-lb run``: execute the runbook's notebooks headless with papermill, in order.

Called by ``make run``, by CI, by ``workshop.py`` (one call per attendee) and by the notebook tests.
Parameters are validated before anything runs (``params.load_params``); the resolved parameters
are written to ``<out>/params.yaml`` and each notebook gets only that file's path and the run id as
papermill parameters, so no secret can reach an output notebook (the license key stays in the
environment, under the name the params give). Each executed notebook is written to ``<out>/``; the
step records every cell displayed are gathered into ``summary.json`` and ``summary.html``. The run
stops at the first notebook that fails and exits non-zero naming the first failed check. A notebook
the params cannot run (``guide.skip_reason``: 08 on a cluster target that names no second cluster)
is skipped with its reason in the output and the summary, unless ``--only`` asked for it.

Interrupted and resumed runs: on SIGINT or SIGTERM the notebook's kernel is stopped cleanly and nothing
is left running but the simulator, which is shared and detached (``interrupts.py``); the partial
notebook and the summary are written, the notebook marked ``interrupted`` with the step it was in, and
the run exits 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP) saying how to go on. ``--resume DIR`` (``resume.py``)
carries over the notebooks that passed and reruns from the first unfinished one. A run on the simulator
that fails because the simulator stopped answering (killed) says so, and what to type next.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import interrupts, results, resume, shell
from .checks import INTERRUPTED, STEP_MIME
from .errors import ParameterError, RunbookError
from .report import render_run_html

if TYPE_CHECKING:
    from .params import Params

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
ERROR_CELL_TAG = "papermill-error-cell-tag"
DEFAULT_OUT = "runs/latest"
DEFAULT_RUN_ID = "ambient-lb"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb run``'s arguments: params, overrides, which notebooks, where outputs go."""
    p.add_argument("--params", metavar="FILE", help="params YAML (default: the built-in sim defaults)")
    p.add_argument("-p", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override one parameter, e.g. -p destination_rule.max_ejection_percent=100")
    p.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN (e.g. 03)")
    p.add_argument("--only", metavar="NN", help="run only notebook NN (e.g. 02)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (its params, notebooks and run id) "
                                                   "from its first unfinished notebook, e.g. --resume runs/latest")
    p.add_argument("--out", metavar="DIR", help=f"where outputs go (default {DEFAULT_OUT})")
    p.add_argument("--run-id", help=f"value of the run label on every object (default {DEFAULT_RUN_ID})")
    p.add_argument("--notebooks", metavar="DIR", help=argparse.SUPPRESS)  # tests: a directory of their own
    p.add_argument("--cell-timeout", type=float, default=600, help="seconds per cell (default 600)")
    p.add_argument("--publish", metavar="ROOM", help="inside a workshop Job: publish the run's progress and summary "
                                                      "to a ConfigMap of the pod's namespace (results.py)")


def main(args: argparse.Namespace) -> int:
    """Runs the selected notebooks (or resumes a run) headless and writes the summary; returns 0 when every
    notebook passed, 1 at a failure, 128 + the signal's number when one stopped it."""
    plan = plan_resume(args) if args.resume else plan_new(args)  # every bad input stops here
    if not plan.notebooks:
        print(f"ambient-lb run --resume {plan.shown_out}: nothing to resume: the {len(plan.planned)} notebook(s) "
              f"of that run passed ({plan.out / 'summary.html'}); to run them again: ambient-lb run --params "
              f"{plan.out / 'params.yaml'} --out runs/other")
        return 0
    run = plan.record()
    publisher = publish_start(args, run)  # a Job that cannot publish stops before it changes anything
    skips = {} if plan.only else skip_reasons(plan.notebooks, plan.params)
    if plan.carried:
        print(f"ambient-lb run --resume {plan.shown_out}: attempt {plan.attempt}; {len(plan.carried)} notebook(s) "
              f"passed before ({plan.carried[0].name} … {plan.carried[-1].name}); continuing from "
              f"{plan.notebooks[0].stem}", flush=True)
    print(f"ambient-lb run: {len(plan.notebooks)} notebook(s) -> {run.out}", flush=True)
    with interrupts.SignalWatch(_announcer()) as signals:  # from here a signal is noticed, the summary written
        sim_kubeconfig = start_simulator(plan.params_file, plan.run_id)
        code = execute_all(plan.notebooks, run, plan.params_file, run_id=plan.run_id,
                           cell_timeout=args.cell_timeout, skips=skips, signals=signals,
                           after_each=functools.partial(publish_progress, publisher) if publisher else None)
        sim_gone = simulator_stopped(plan.params_file, plan.run_id) if sim_kubeconfig else ""
        explain(run, plan, sim_gone)
        write_summary(run)
    tell(run, plan, code, sim_kubeconfig, sim_gone)
    if publisher is not None:
        publisher.publish(run.to_dict(), finished=True)  # a ClusterError here fails the Job: the room must know
        print(f"published: ConfigMap {publisher.target.namespace}/{results.result_name(publisher.attendee)}")
    return code


def publish_start(args: argparse.Namespace, run: RunRecord) -> results.Publisher | None:
    """With ``--publish``: the publisher, after a first write that proves the pod may publish; else None."""
    if not args.publish:
        return None
    publisher = results.Publisher(args.publish, run.run_id)
    publisher.publish(run.to_dict(), finished=False)
    return publisher


def publish_progress(publisher: results.Publisher, run: RunRecord) -> None:
    """After each notebook: the room page shows where the attendee is. A failed write is said, not fatal (the
    final one is)."""
    try:
        publisher.publish(run.to_dict(), finished=False)
    except RunbookError as exc:
        print(f"ambient-lb run: could not publish progress: {exc}", file=sys.stderr, flush=True)


def _announcer() -> Any:
    """Prints what a signal does, one line each, under the progress line of the notebook it came in."""
    said: list[str] = []

    def announce(text: str) -> None:
        print(f"{'' if said else chr(10)}  {text}", flush=True)
        said.append(text)
    return announce


def tell(run: RunRecord, plan: Plan, code: int, sim_kubeconfig: Path | None, sim_gone: str) -> None:
    """Where the outputs are, whether the simulator runs, and (on stderr) what stopped the run and what next."""
    print(f"executed notebooks: {run.out}/*.ipynb")
    print(f"summary: {run.out / 'summary.html'} (and summary.json)")
    if sim_kubeconfig and not sim_gone:
        print(f"the simulator keeps running: export KUBECONFIG={sim_kubeconfig}  "
              f"(stop it: ambient-lb sim down --kubeconfig {sim_kubeconfig})")
    elif sim_kubeconfig:
        print(f"the simulator is not running: start it with ambient-lb sim up "
              f"(ambient-lb run --resume {plan.shown_out} starts it for you)")
    if run.interrupted:
        done = sum(1 for n in run.notebooks if n.ok)
        keeps = "; the simulator keeps running" if sim_kubeconfig and not sim_gone else ""
        print(f"ambient-lb run: {run.interrupted['text']}; {done} of {len(run.planned)} notebook(s) done{keeps}; "
              f"continue with: {run.next}", file=sys.stderr)
    elif code:
        print(f"ambient-lb run: FAILED: {run.first_failure or 'see the executed notebook'}", file=sys.stderr)
        print(f"ambient-lb run: {run.cause + '; ' if run.cause else ''}continue with: {run.next}", file=sys.stderr)


@dataclass
class Plan:
    """What this invocation runs: which notebooks, where, with which params; the earlier attempts'
    records it carries over (``--resume``)."""

    out: Path
    shown_out: str  # the run directory as typed, for the commands we suggest
    notebooks: list[Path]
    params_file: str
    params: Any
    run_id: str
    planned: list[str]
    only: bool = False
    notebooks_dir: str | None = None
    attempt: int = 1
    carried: list[NotebookRecord] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> RunRecord:
        """The run's record to fill: the carried-over notebooks first."""
        return RunRecord(out=self.out, notebooks=list(self.carried), planned=self.planned, run_id=self.run_id,
                         only=self.only, notebooks_dir=self.notebooks_dir, attempt=self.attempt,
                         attempts=list(self.history))


def plan_new(args: argparse.Namespace) -> Plan:
    """A new run: ``--from``/``--only`` cut the notebooks; the params are validated and written to ``--out``."""
    notebooks = select_notebooks(Path(args.notebooks or NOTEBOOKS_DIR), args.start, args.only)
    out = Path(args.out or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    params_file, params = resolve_params(args.params, args.overrides, out / "params.yaml")
    return Plan(out, str(out), notebooks, params_file, params, args.run_id or DEFAULT_RUN_ID,
                [nb.stem for nb in notebooks], only=bool(args.only),
                notebooks_dir=str(Path(args.notebooks).resolve()) if args.notebooks else None)


def plan_resume(args: argparse.Namespace) -> Plan:
    """``--resume DIR``: the notebooks from DIR's first unfinished one, with DIR's params and run id."""
    shown = args.resume
    for flag, value in (("--from", args.start), ("--only", args.only)):
        if value is not None:
            raise ParameterError(f"--resume {shown} with {flag} {value}: a resumed run continues the notebooks "
                                 "its run planned, from the first unfinished one",
                                 hint=f"drop {flag} (ambient-lb run --resume {shown}), or start a new run: "
                                      f"ambient-lb run {flag} {value} --out runs/other")
    earlier = resume.read(shown)
    if args.out is not None and Path(args.out).resolve() != earlier.directory.resolve():
        raise ParameterError(f"--out {args.out} with --resume {shown}: a resumed run writes into the directory "
                             "it resumes", hint=f"drop --out: ambient-lb run --resume {shown}")
    if args.run_id is not None and earlier.run_id is not None and args.run_id != earlier.run_id:
        raise ParameterError(f"--run-id {args.run_id} with --resume {shown}: that run labels its objects "
                             f"{earlier.run_id!r}", hint=f"drop --run-id: ambient-lb run --resume {shown}")
    params = resume.params(earlier, args.params, args.overrides)
    directory = Path(args.notebooks or earlier.summary.get("notebooks_dir") or NOTEBOOKS_DIR)
    found = {nb.stem: nb for nb in select_notebooks(directory, None, None)}
    missing = [n for n in earlier.planned if n not in found]
    if missing:
        raise ParameterError(f"--resume {shown}: the run planned {', '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not in {directory}",
                             hint="resume from the checkout the run used, or start a new run")
    first = earlier.first_unfinished()
    cut = len(earlier.planned) if first is None else first
    carried = [NotebookRecord.from_dict(earlier.record(n)) for n in earlier.planned[:cut]]
    return Plan(earlier.directory, shown, [found[n] for n in earlier.planned[cut:]],
                str(earlier.params_file.resolve()), params, earlier.run_id or args.run_id or DEFAULT_RUN_ID,
                earlier.planned, only=bool(earlier.summary.get("only")),
                notebooks_dir=earlier.summary.get("notebooks_dir"), attempt=earlier.attempt + 1,
                carried=carried, history=list(earlier.summary.get("attempts") or []))


def select_notebooks(directory: Path, start: str | None, only: str | None) -> list[Path]:
    """The notebooks ``NN-*.ipynb`` in order, cut by ``--from`` / ``--only``."""
    found = sorted(p for p in directory.glob("[0-9][0-9]-*.ipynb"))
    numbers = [p.name[:2] for p in found]
    for flag, value in (("--from", start), ("--only", only)):
        if value is not None and value.zfill(2) not in numbers:
            raise ParameterError(f"{flag} {value!r}: no notebook with that number in {directory}; "
                                 f"choose one of {', '.join(numbers)} (e.g. {flag} 02)")
    if only is not None:
        return [p for p in found if p.name[:2] == only.zfill(2)]
    if start is not None:
        return [p for p in found if p.name[:2] >= start.zfill(2)]
    return found


def resolve_params(path: str | None, overrides: list[str], dest: Path) -> tuple[str, Params]:
    """Validate params now (bad input stops before anything runs) and write the resolved file.

    Returns the resolved file's path (what the notebooks get) and the validated params.
    """
    from . import guide  # ~150 ms (the steps, kube, helm): only `ambient-lb run` needs it

    params = guide.load(path, overrides)
    dest.write_text(guide.dump_params(params))
    return str(dest.resolve()), params


def skip_reasons(notebooks: list[Path], params: Params) -> dict[str, str]:
    """The notebooks these params cannot run, with why (``guide.skip_reason``): e.g. 08 on a cluster
    target without ``multicluster.contexts``. ``--only NN`` bypasses this: asked for, it runs and
    its first step fails with the hint."""
    from . import guide  # ~150 ms (the steps, kube, helm): only `ambient-lb run` needs it

    reasons = {nb.stem: guide.skip_reason(nb.stem, params) for nb in notebooks}
    return {name: why for name, why in reasons.items() if why}


def start_simulator(params_file: str, run_id: str) -> Path | None:
    """On target ``sim``: ``ambient-lb sim up`` unless it already runs (the notebooks share it).

    Returns the simulator's kubeconfig, or None on a real cluster.
    """
    from . import guide  # ~150 ms (the steps, kube, helm): only `ambient-lb run` needs it

    run = guide.open_run(params_file, run_id)
    if not run.sim:
        return None
    with shell.CommandLog() as log:
        guide.ensure_simulator(run)
    print("\n".join(f"  {r.stdout.splitlines()[0]}" for r in log if r.stdout), flush=True)
    return run.kubeconfig


def simulator_stopped(params_file: str, run_id: str) -> str:
    """'' when the simulator answers (``kubectl get --raw /readyz``), else what kubectl said."""
    from . import guide  # ~150 ms (the steps, kube, helm): only `ambient-lb run` needs it

    try:
        with shell.quiet():
            res = guide.open_run(params_file, run_id).kube.kubectl("get", "--raw", "/readyz", check=False,
                                                                   timeout=10)
    except RunbookError as exc:
        return str(exc).splitlines()[0]
    return "" if res.returncode == 0 else (res.stderr.strip().splitlines() or ["no answer"])[-1]


def explain(run: RunRecord, plan: Plan, sim_gone: str) -> None:
    """What stopped the run (``cause``) and what to type next (``next``), for the summary and the last line."""
    unfinished = next((n.name for n in run.notebooks if not n.ok), None) or \
        (run.interrupted or {}).get("notebook") or ""
    resume_cmd = f"ambient-lb run --resume {plan.shown_out}"
    if sim_gone and not run.ok:
        run.cause = (f"the simulator is not running: its API server stopped answering during this run "
                     f"(kubectl get --raw /readyz: {sim_gone})")
        run.next = f"{resume_cmd} (starts the simulator again and reruns {unfinished}), or ambient-lb sim up"
    elif run.interrupted:
        run.next = f"{resume_cmd} (reruns {unfinished}, then the rest)"
    elif not run.ok:
        run.next = f"fix what the failed check says, then {resume_cmd} (reruns {unfinished}, then the rest)"
    outcome = "ok" if run.ok else (run.interrupted or {}).get("text") or run.first_failure
    run.attempts.append({"attempt": run.attempt, "notebooks": [n.name for n in run.notebooks
                                                               if n.attempt == run.attempt],
                         "outcome": outcome})


@dataclass
class NotebookRecord:
    """One notebook's outcome: passed or not, how long, its steps, its error or why it was skipped."""

    name: str
    ok: bool = False
    status: str = ""  # ok, failed, interrupted or skipped
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    skipped: str = ""
    interrupted: dict[str, Any] | None = None  # the signal, and the step or cell it came in
    attempt: int = 1  # which attempt of the run ran it (a --resume is the next attempt)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookRecord:
        """A record read back from summary.json (keys it does not know are ignored)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class RunRecord:
    """One headless run: where its outputs go and each notebook's record."""

    out: Path
    notebooks: list[NotebookRecord] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # every notebook this run means to run, in order
    run_id: str = DEFAULT_RUN_ID
    only: bool = False  # planned by --only (skip reasons do not apply)
    notebooks_dir: str | None = None  # not the runbook's own (tests)
    attempt: int = 1
    attempts: list[dict[str, Any]] = field(default_factory=list)  # each attempt: its notebooks and outcome
    interrupted: dict[str, Any] | None = None
    cause: str = ""
    next: str = ""

    @property
    def ok(self) -> bool:
        """True when every notebook passed and no signal stopped the run."""
        return self.interrupted is None and all(n.ok for n in self.notebooks)

    @property
    def first_failure(self) -> str:
        """The first failed check on one line (notebook, step, check, detail, why, hint), else the first notebook error;
        "" when all passed."""
        for n in self.notebooks:
            if n.interrupted:
                return str(n.interrupted["text"])
            for s in n.steps:
                for c in s.get("checks", []):
                    if not c.get("ok", c.get("status") != "FAIL"):
                        hint = f" hint: {c['hint']}" if c.get("hint") else ""
                        # the why (a failed command's argv, exit code and stderr) on one line
                        why = " ".join(str(c.get("reason") or "").split())
                        why = f" ({why[:600]})" if why else ""
                        return f"{n.name} step {s['step']} ({s['title']}): check {c['name']!r}: " \
                               f"{c.get('detail', '')}{why}{hint}"
            if not n.ok:
                return f"{n.name}: {n.error}"
        return str(self.interrupted["text"]) if self.interrupted else ""

    def to_dict(self) -> dict[str, Any]:
        """The run for summary.json."""
        return {"ok": self.ok, "first_failure": self.first_failure or None, "cause": self.cause or None,
                "next": self.next or None, "interrupted": self.interrupted, "run_id": self.run_id,
                "planned": self.planned, "only": self.only,
                **({"notebooks_dir": self.notebooks_dir} if self.notebooks_dir else {}),
                "attempt": self.attempt, "attempts": self.attempts,
                "notebooks": [n.__dict__ for n in self.notebooks]}


def execute_all(notebooks: list[Path], run: RunRecord, params_file: str, *, run_id: str,
                cell_timeout: float, skips: dict[str, str] | None = None,
                signals: interrupts.SignalWatch | None = None,
                after_each: Callable[[RunRecord], None] | None = None) -> int:
    """Each notebook in order until one fails (1) or a signal comes (128 + its number: 130 for SIGINT);
    ``after_each(run)`` after every notebook that finished."""
    os.environ["AMBIENT_LB_HEADLESS"] = "1"  # the kernels inherit it: no widgets headless
    signals = signals or interrupts.SignalWatch()  # not entered: never receives anything
    for i, nb in enumerate(notebooks, 1):
        if signals.pending():
            run.interrupted = interruption(nb.stem, None, run.out / nb.name, signals.pending() or 0)
            return interrupts.exit_code(signals.pending() or 0)
        print(f"[{i}/{len(notebooks)}] {nb.stem} ...", end=" ", flush=True)
        skipped = (skips or {}).get(nb.stem)
        if skipped:
            run.notebooks.append(NotebookRecord(name=nb.stem, ok=True, status="skipped", skipped=skipped,
                                                attempt=run.attempt))
            print(f"skipped: {skipped}", flush=True)
            continue
        dest = run.out / nb.name
        keep_earlier_attempt(run, dest)
        rec = signals.call(functools.partial(execute_one, nb, dest, params_file, run_id, cell_timeout,
                                             before_cell=signals.refuse_new_cells))
        rec = rec or NotebookRecord(name=nb.stem, error="the kernel did not stop", steps=_steps(dest))
        rec.attempt = run.attempt
        run.notebooks.append(rec)
        if signals.received and not rec.ok:
            left = signals.sweep()  # nothing of the notebook may outlive the run
            rec.status, rec.interrupted = "interrupted", interruption(nb.stem, rec, dest,
                                                                      signals.received)
            rec.error, run.interrupted = rec.interrupted["text"], rec.interrupted
            print(f"[{i}/{len(notebooks)}] {nb.stem} INTERRUPTED ({rec.seconds:.1f} s, "
                  f"{interrupts.name(signals.received)}"
                  f"{f', stopped {len(left)} process(es)' if left else ''})", flush=True)
            return interrupts.exit_code(signals.received)
        rec.status = "ok" if rec.ok else "failed"
        checks = sum(len(s.get("checks", [])) for s in rec.steps)
        print(f"{'ok' if rec.ok else 'FAILED'} ({rec.seconds:.1f} s, {len(rec.steps)} steps, "
              f"{checks} checks)", flush=True)
        if after_each is not None and rec.ok and i < len(notebooks):
            after_each(run)
        if not rec.ok:
            return 1
    return 0


def keep_earlier_attempt(run: RunRecord, dest: Path) -> None:
    """A notebook an earlier attempt left unfinished: its partial output moves to ``attempt-N/``."""
    if run.attempt > 1 and dest.exists():
        keep = run.out / f"attempt-{run.attempt - 1}"
        keep.mkdir(exist_ok=True)
        dest.replace(keep / dest.name)


def interruption(name: str, rec: NotebookRecord | None, dest: Path, signum: int) -> dict[str, Any]:
    """Where a signal stopped the run: the notebook, the step (its record says it was interrupted), else
    the cell that was running and the last step done."""
    sig = interrupts.name(signum)
    where: dict[str, Any] = {"signal": sig, "notebook": name, "step": None, "title": None, "cell": None,
                             "after_step": None}
    if rec is None:
        return {**where, "text": f"interrupted by {sig} before {name} started"}
    last = rec.steps[-1] if rec.steps else None
    if last and any(c.get("name") == INTERRUPTED for c in last.get("checks", [])):
        where.update(step=last["step"], title=last["title"])
        return {**where, "text": f"interrupted by {sig} in {name} step {last['step']} ({last['title']})"}
    where["after_step"] = f"{last['step']} ({last['title']})" if last else None
    where["cell"] = _running_cell(dest)
    at = f" at cell `{where['cell']}`" if where["cell"] else ""
    after = f" after step {where['after_step']}" if last else " before its first step"
    return {**where, "text": f"interrupted by {sig} in {name}{at}{after}"}


def _running_cell(dest: Path) -> str | None:
    """The first line of the last cell papermill started, in the partial notebook."""
    try:
        cells = json.loads(dest.read_text()).get("cells", [])
    except (OSError, ValueError):
        return None
    started = [c for c in cells if c.get("cell_type") == "code" and
               c.get("metadata", {}).get("papermill", {}).get("start_time")]
    source = "".join(started[-1].get("source", "")).strip().splitlines() if started else []
    return source[0][:100] if source else None


def execute_one(src: Path, dest: Path, params_file: str, run_id: str, cell_timeout: float,
                before_cell: Any = None) -> NotebookRecord:
    """One notebook through papermill; ``before_cell`` (papermill's ``on_cell_execute`` hook) may stop it."""
    import papermill as pm

    rec = NotebookRecord(name=src.stem)
    start = time.monotonic()
    # unix socket paths are limited to ~100 bytes: keep them short, outside the run dir
    with tempfile.TemporaryDirectory(prefix="alb-k-") as sockets:
        try:
            pm.execute_notebook(str(src), str(dest), parameters={"params_file": params_file,
                                                                 "run_id": run_id},
                                cwd=str(src.parent), progress_bar=False, kernel_name="python3",
                                execution_timeout=cell_timeout,
                                kernel_manager_class=ipc_kernel_manager(Path(sockets)),
                                **({"on_cell_execute": before_cell} if before_cell else {}))
            rec.ok = True
        except Exception as exc:  # papermill's error: the notebook itself says what failed
            rec.error = _short_error(exc)
    rec.seconds = time.monotonic() - start
    rec.steps = _steps(dest)
    return rec


def _steps(dest: Path) -> list[dict[str, Any]]:
    try:
        return step_records(json.loads(dest.read_text()))
    except (OSError, ValueError):
        return []


def _short_error(exc: Exception) -> str:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}".strip()[:500]


def ipc_kernel_manager(ipc_dir: Path) -> Any:
    """A kernel manager on IPC sockets in ``ipc_dir``: no TCP ports, no encryption warning."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.transport = "ipc"
            self.ip = str(ipc_dir / "k")

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # the base is run_sync-wrapped
            """The kernel gets the secrets this process keeps in memory (the notebooks read the key)."""
            kw["env"] = shell.passing_secrets(kw.get("env"))
            await super().start_kernel(**kw)

    return IPCKernelManager


def step_records(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step record a notebook displayed: the stable data merged with the metadata part."""
    records = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if STEP_MIME in data:
                records.append({**data[STEP_MIME], **out.get("metadata", {}).get(STEP_MIME, {})})
    return records


def write_summary(run: RunRecord) -> None:
    """summary.json and summary.html, each written whole or not at all (a kill mid-write leaves the last)."""
    for name, text in (("summary.json", json.dumps(run.to_dict(), indent=2) + "\n"),
                       ("summary.html", render_run_html(run.to_dict(), title=str(run.out)))):
        part = run.out / f".{name}.part"
        part.write_text(text)
        part.replace(run.out / name)
