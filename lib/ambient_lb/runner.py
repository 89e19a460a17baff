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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import shell
from .checks import STEP_MIME
from .errors import ParameterError
from .report import render_run_html

if TYPE_CHECKING:
    from .params import Params

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
ERROR_CELL_TAG = "papermill-error-cell-tag"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb run``'s arguments: params, overrides, which notebooks, where outputs go."""
    p.add_argument("--params", metavar="FILE", help="params YAML (default: the built-in sim defaults)")
    p.add_argument("-p", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override one parameter, e.g. -p destination_rule.max_ejection_percent=100")
    p.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN (e.g. 03)")
    p.add_argument("--only", metavar="NN", help="run only notebook NN (e.g. 02)")
    p.add_argument("--out", metavar="DIR", default="runs/latest", help="where outputs go")
    p.add_argument("--run-id", default="ambient-lb", help="value of the run label on every object")
    p.add_argument("--notebooks", metavar="DIR", default=str(NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    p.add_argument("--cell-timeout", type=float, default=600, help="seconds per cell (default 600)")


def main(args: argparse.Namespace) -> int:
    """Runs the selected notebooks headless and writes the summary; returns 0 when every notebook passed."""
    notebooks = select_notebooks(Path(args.notebooks), args.start, args.only)
    run = RunRecord(out=Path(args.out))
    run.out.mkdir(parents=True, exist_ok=True)
    params_file, params = resolve_params(args.params, args.overrides, run.out / "params.yaml")
    skips = {} if args.only else skip_reasons(notebooks, params)
    print(f"ambient-lb run: {len(notebooks)} notebook(s) -> {run.out}", flush=True)
    sim_kubeconfig = start_simulator(params_file, args.run_id)
    code = execute_all(notebooks, run, params_file, run_id=args.run_id,
                       cell_timeout=args.cell_timeout, skips=skips)
    write_summary(run)
    print(f"executed notebooks: {run.out}/*.ipynb")
    print(f"summary: {run.out / 'summary.html'} (and summary.json)")
    if sim_kubeconfig:
        print(f"the simulator keeps running: export KUBECONFIG={sim_kubeconfig}  "
              f"(stop it: ambient-lb sim down --kubeconfig {sim_kubeconfig})")
    if code:
        print(f"ambient-lb run: FAILED: {run.first_failure or 'see the executed notebook'}",
              file=sys.stderr)
    return code


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


@dataclass
class NotebookRecord:
    """One notebook's outcome: passed or not, how long, its steps, its error or why it was skipped."""

    name: str
    ok: bool = False
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    skipped: str = ""


@dataclass
class RunRecord:
    """One headless run: where its outputs go and each notebook's record."""

    out: Path
    notebooks: list[NotebookRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every notebook passed."""
        return all(n.ok for n in self.notebooks)

    @property
    def first_failure(self) -> str:
        """The first failed check on one line (notebook, step, check, detail, why, hint), else the first notebook error;
        "" when all passed."""
        for n in self.notebooks:
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
        return ""

    def to_dict(self) -> dict[str, Any]:
        """The run for summary.json."""
        return {"ok": self.ok, "first_failure": self.first_failure or None,
                "notebooks": [n.__dict__ for n in self.notebooks]}


def execute_all(notebooks: list[Path], run: RunRecord, params_file: str, *, run_id: str,
                cell_timeout: float, skips: dict[str, str] | None = None) -> int:
    """Executes the notebooks in order (skipping those with a reason), stopping at the first failure; returns 0 or 1."""
    os.environ["AMBIENT_LB_HEADLESS"] = "1"  # the kernels inherit it: no widgets headless
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb.stem} ...", end=" ", flush=True)
        skipped = (skips or {}).get(nb.stem)
        if skipped:
            run.notebooks.append(NotebookRecord(name=nb.stem, ok=True, skipped=skipped))
            print(f"skipped: {skipped}", flush=True)
            continue
        rec = execute_one(nb, run.out / nb.name, params_file, run_id, cell_timeout)
        run.notebooks.append(rec)
        checks = sum(len(s.get("checks", [])) for s in rec.steps)
        print(f"{'ok' if rec.ok else 'FAILED'} ({rec.seconds:.1f} s, {len(rec.steps)} steps, "
              f"{checks} checks)", flush=True)
        if not rec.ok:
            return 1
    return 0


def execute_one(src: Path, dest: Path, params_file: str, run_id: str,
                cell_timeout: float) -> NotebookRecord:
    """Executes one notebook with papermill into dest and records its steps, or the error it stopped at."""
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
                                kernel_manager_class=ipc_kernel_manager(Path(sockets)))
            rec.ok = True
        except Exception as exc:  # papermill's error: the notebook itself says what failed
            rec.error = _short_error(exc)
    rec.seconds = time.monotonic() - start
    if dest.exists():
        rec.steps = step_records(json.loads(dest.read_text()))
    return rec


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
    """Writes the run's summary.json and summary.html into its output directory."""
    (run.out / "summary.json").write_text(json.dumps(run.to_dict(), indent=2) + "\n")
    (run.out / "summary.html").write_text(render_run_html(run.to_dict(), title=str(run.out)))
