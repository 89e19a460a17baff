"""``ambient-lb run --resume DIR``: an earlier run read back from DIR, so the runner can continue it.

Called by ``runner.py`` before anything runs. Every problem with DIR is a ``ParameterError`` that
names the file, what is wrong and what to type instead: DIR missing, no ``summary.json`` (a run killed
with SIGKILL writes none), a file that is not JSON or not a run's summary, no ``params.yaml``, or
``--params``/``-p`` that differ from the run's (a resumed run keeps its params). The runner then carries
over the notebooks that passed and reruns the first unfinished one (failed, interrupted or never
started) and every later one the run planned. Rerunning a whole notebook is safe: its first cell
(``guide.prepare``) restores the earlier notebooks' state on whatever the interrupted attempt left, and
its steps are idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ParameterError

SUMMARY_EXAMPLE = '{"ok": false, "planned": ["00-prerequisites", "01-install-kgateway"], "notebooks": [...]}'


@dataclass
class EarlierRun:
    """What ``DIR/summary.json`` says of a run, checked to be a run's summary."""

    directory: Path
    shown: str  # DIR as the user typed it, for the commands we suggest
    summary: dict[str, Any]

    @property
    def params_file(self) -> Path:
        """``DIR/params.yaml``: the resolved params the run's notebooks got."""
        return self.directory / "params.yaml"

    @property
    def planned(self) -> list[str]:
        """Every notebook the run meant to run, in order."""
        return list(self.summary["planned"])

    @property
    def run_id(self) -> str | None:
        """The run label the run put on its objects (None in a summary that did not record it)."""
        return self.summary.get("run_id")

    @property
    def attempt(self) -> int:
        """Which attempt wrote the summary (1, then one more per --resume)."""
        return int(self.summary.get("attempt") or 1)

    def first_unfinished(self) -> int | None:
        """Index in ``planned`` of the first notebook that did not pass (None: every one passed)."""
        passed = {n["name"] for n in self.summary["notebooks"] if n.get("ok")}
        return next((i for i, name in enumerate(self.planned) if name not in passed), None)

    def record(self, name: str) -> dict[str, Any]:
        """The summary's record of notebook ``name``."""
        return next(n for n in self.summary["notebooks"] if n["name"] == name)


def read(directory: str) -> EarlierRun:
    """DIR's summary and params, or a ParameterError saying what is wrong with them."""
    d = Path(directory)
    theirs = d / "params.yaml"
    new_run = (f"start a new run instead: ambient-lb run --params "
               f"{theirs if theirs.is_file() else 'params/sim.yaml'} --out {directory}")
    if not d.is_dir():
        raise ParameterError(f"--resume {directory}: no such directory",
                             hint="pass the --out directory of an earlier ambient-lb run, e.g. "
                                  "ambient-lb run --resume runs/latest")
    path = d / "summary.json"
    if not path.is_file():
        raise ParameterError(f"--resume {directory}: {path} is missing; ambient-lb run writes it when a run "
                             "ends, fails or is interrupted (a run killed with SIGKILL writes none)", hint=new_run)
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"--resume {directory}: {path} is not valid JSON ({exc}); it should be the "
                             f"summary ambient-lb run writes, e.g. {SUMMARY_EXAMPLE}", hint=new_run) from None
    problem = _shape_problem(summary)
    if problem:
        raise ParameterError(f"--resume {directory}: {path} is not an ambient-lb run summary: {problem}; "
                             f"e.g. {SUMMARY_EXAMPLE}", hint=new_run)
    if not (d / "params.yaml").is_file():
        raise ParameterError(f"--resume {directory}: {d / 'params.yaml'} is missing; ambient-lb run writes the "
                             "resolved params there before any notebook runs", hint=new_run)
    return EarlierRun(d, directory, summary)


def _shape_problem(summary: Any) -> str:
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    planned = summary.get("planned")
    if not isinstance(planned, list) or not all(isinstance(n, str) for n in planned):
        return ("no 'planned' list of notebook names (written by an ambient-lb older than --resume? "
                "then rerun from the notebook that failed: ambient-lb run --from NN)")
    notebooks = summary.get("notebooks")
    if not isinstance(notebooks, list) or not all(isinstance(n, dict) and isinstance(n.get("name"), str)
                                                  for n in notebooks):
        return "'notebooks' is not a list of notebook records with a 'name'"
    return ""


def params(earlier: EarlierRun, given: str | None, overrides: list[str]) -> Any:
    """The run's params (``DIR/params.yaml``, validated); ``--params``/``-p`` may only say the same."""
    from . import guide  # ~150 ms (the steps, kube, helm): only `ambient-lb run` needs it

    theirs = guide.load(str(earlier.params_file))
    if given is None and not overrides:
        return theirs
    mine = guide.load(given or str(earlier.params_file), overrides)
    diff = _differences(theirs.model_dump(mode="json"), mine.model_dump(mode="json"))
    if diff:
        flags = " and ".join(f for f, v in (("--params", given), ("-p", overrides)) if v)
        raise ParameterError(
            f"--resume {earlier.shown}: {flags} conflict with the run's params ({earlier.params_file}): "
            + "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else ""),
            hint=f"a resumed run keeps its params: drop {flags} (ambient-lb run --resume {earlier.shown}), "
                 f"or start a new run with them (ambient-lb run --params {given or earlier.params_file} "
                 "--out runs/other)")
    return theirs


def _differences(a: Any, b: Any, key: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _differences(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))]
    return [] if a == b else [f"{key or 'params'} is {a!r} in the run, {b!r} given"]
