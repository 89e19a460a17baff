"""The run a notebook opens (params, kube client, run label) and the step machinery.

Every step module builds on it: ``_step`` runs a step's action and checks inside a
``shell.CommandLog``, turns errors into failed checks, and shows the result through ``ui.step``.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import manifests, ui
from ..checks import CheckResult, StepResult, interrupted
from ..errors import ClusterError, NotFound, ParameterError, RunbookError
from ..kube import Kube
from ..shell import CommandLog, display_path, keep_in_memory
from ..simulator import DEFAULT_KUBECONFIG as SIM_KUBECONFIG  # where `ambient-lb sim up` writes it

SIMULATOR_CONFIGMAP = "ambient-lb-simulator"  # in kube-public: the simulator describes itself there


RUN_LABEL = manifests.RUN_LABEL


def load(path: str | None, overrides: Any = None) -> Any:
    """Validated params (``params.load_params``); bad input stops here, before any cluster call."""
    from ..params import load_params  # pydantic: loaded on use, not at notebook start

    return load_params(path or None, overrides or None)


def dump_params(params: Any) -> str:
    """The resolved params as YAML (no secrets exist in params: only the license env var's name)."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False)


@dataclass
class Run:
    """What every step needs; one per notebook kernel."""

    params: Any
    run_id: str
    interactive: bool | None = None
    state: dict[str, Any] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    _kube: Any = None

    @property
    def sim(self) -> bool:
        """True when the target is the built-in simulator."""
        return self.params.target == "sim"

    @property
    def kubeconfig(self) -> Path | None:
        """The kubeconfig the run uses: the params' own, else the simulator's default on sim, else kubectl's (None)."""
        if self.params.kubeconfig is not None:
            return self.params.kubeconfig
        return SIM_KUBECONFIG.expanduser() if self.sim else None

    @property
    def kube(self) -> Any:
        """The run's Kube, made on first use."""
        if self._kube is None:
            self._kube = _make_kube(Kube, self)
        return self._kube

    @property
    def simulator(self) -> dict[str, str] | None:
        """What the cluster says of itself if it is the ambient-lb simulator (its ``kube-public``
        ConfigMap ``ambient-lb-simulator``: speed, seed, strict, topology), else None. Read once."""
        if "_simulator" not in self.state:
            try:
                cm = self.kube.read("configmap", SIMULATOR_CONFIGMAP, "kube-public")
            except NotFound:
                cm = None
            except ClusterError:  # not reachable (yet): say "not the simulator", ask again next time
                return None
            self.state["_simulator"] = dict((cm or {}).get("data") or {}) if cm is not None else None
        return self.state["_simulator"]

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second: the simulator's ``--speed``, 1 on a real cluster."""
        sim = self.simulator
        return float(sim.get("speed") or 1.0) if sim else 1.0

    @property
    def kubeconfig_shown(self) -> str | None:
        """The kubeconfig as a learner types it (``~/...``), or None for kubectl's default."""
        return display_path(self.kubeconfig) if self.kubeconfig is not None else None

    def export_kubeconfig(self) -> None:
        """``export KUBECONFIG=...`` in this kernel, so kubectl in a ``!`` cell or a child process
        reaches the same cluster as the runbook's shown commands."""
        if self.kubeconfig is not None:
            os.environ["KUBECONFIG"] = str(self.kubeconfig)

    def __repr__(self) -> str:
        p = self.params
        where = f"simulator (kubeconfig {self.kubeconfig_shown})" if self.sim else \
            f"cluster context {p.context}"
        return (f"ambient-lb run {self.run_id!r} on the {where}\n"
                f"  gateway {p.namespaces.kgateway}/{p.gateway.name} port {p.gateway.port}, "
                f"app {p.namespaces.app}/{p.app.name} x{p.app.replicas}, "
                f"license from ${p.license.env_var}")


def _make_kube(kube_cls: Any, run: Run) -> Any:
    if hasattr(kube_cls, "from_params"):
        return kube_cls.from_params(run.params, kubeconfig=run.kubeconfig)
    return kube_cls(kubeconfig=run.kubeconfig, context=run.params.context)


def open_run(params_file: str = "", run_id: str = "ambient-lb", interactive: Any = "auto",
             **overrides: Any) -> Run:
    """The notebook's run: params from the file (or the sim defaults) plus keyword overrides.

    An empty ``params_file`` means ``$AMBIENT_LB_PARAMS`` if set (the tests and the regenerate
    tool point notebooks at a private simulator this way), else the built-in sim defaults.
    Overrides use ``__`` for dots: ``open_run(sim__speed=20)``.
    """
    flat = {k.replace("__", "."): v for k, v in overrides.items() if v is not None}
    path = params_file or os.environ.get("AMBIENT_LB_PARAMS", "")
    run = Run(params=load(path or None, flat), run_id=run_id, interactive=_mode(interactive))
    run.export_kubeconfig()
    if _in_kernel():  # before anything starts a child: the key lives in the kernel's memory, not its environment
        keep_in_memory(run.params.license.env_var)
    warm_imports()
    return run


def _in_kernel() -> bool:
    """This process is a Jupyter kernel (a notebook's, or papermill's), not a test or a script."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# What the steps import on first use (the kubernetes client's APIs: ~1.7 s for CoreV1Api alone; pandas,
# matplotlib, pyarrow: ~1.5 s) costs a notebook several seconds in a kernel of its own. Imported in a
# background thread from the moment the run is opened, it overlaps the first steps' kubectl processes and
# waits instead (benchmarks/bench_guide.py: "imports in the kernels"). Third-party modules only: a step
# that needs one before it is ready waits on the import lock, as for any import.
WARM_MODULES = ("kubernetes.client.api.core_v1_api", "kubernetes.client.api.apps_v1_api",
                "kubernetes.client.api.custom_objects_api", "kubernetes.client.api.apiextensions_v1_api",
                "kubernetes.client.api.discovery_v1_api", "kubernetes.watch", "pandas", "pyarrow",
                "matplotlib.figure", "matplotlib.backends.backend_agg")
_warming: threading.Thread | None = None


def warm_imports() -> None:
    """Start importing ``WARM_MODULES`` in a daemon thread (once per process)."""
    global _warming
    if _warming is not None:
        return

    def work() -> None:
        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  a step importing it later reports any real problem
                return
    _warming = threading.Thread(target=work, name="ambient-lb-warm-imports", daemon=True)
    _warming.start()


def _mode(interactive: Any) -> bool | None:
    """``auto``/None -> decided by ``AMBIENT_LB_HEADLESS``; yes/no (or a bool) -> forced."""
    if interactive is None or isinstance(interactive, bool):
        return interactive
    value = str(interactive).strip().lower()
    if value in ("auto", ""):
        return None
    if value in ("yes", "true", "1", "no", "false", "0"):
        return value in ("yes", "true", "1")
    raise ParameterError(f"interactive={interactive!r}: use auto, yes or no (e.g. interactive=\"auto\")")


class Step:
    """Collects one step's commands, outputs, notes and checks while the step runs."""

    def __init__(self, number: str, title: str) -> None:
        self.result = StepResult(step=number, title=title)

    def show(self, text: str) -> None:
        """Adds text to the step's output."""
        self.result.output += text.rstrip("\n") + "\n"

    def note(self, text: str) -> None:
        """Adds a note (an explanation shown below the step's result)."""
        self.result.notes.append(text)

    def add(self, *checks: CheckResult) -> None:
        """Adds checks to the step's result."""
        self.result.checks.extend(checks)

    def figure(self, fig: Any) -> None:
        """A matplotlib Figure shown (as a PNG) right after the step's result."""
        self.result.data.setdefault("figures", []).append(fig)

    def fail(self, name: str, exc: BaseException) -> None:
        """A command or wait inside the step raised: a failed check with its message and hint."""
        hint = getattr(exc, "hint", None) or "read the command output above; fix it and re-run"
        message = str(getattr(exc, "message", "") or exc).splitlines()
        detail = message[0] if message else type(exc).__name__
        cause = [ln.strip() for ln in (getattr(exc, "stderr_tail", None) or "").splitlines() if ln.strip()]
        if cause and cause[-1] not in detail:  # what the command said last is its reason (kubectl's error line)
            detail = f"{detail}: {cause[-1][:300]}"
        self.add(CheckResult(name, False, detail, hint, "\n".join(message[1:])[:1000]))


Action = Callable[[Run, Step], None]


def _execute(run: Run, number: str, title: str, parts: list[Action]) -> StepResult:
    s = Step(number, title)
    start = time.monotonic()
    with CommandLog() as log:
        try:
            for part in parts:
                try:
                    part(run, s)
                except RunbookError as exc:
                    s.fail("the step's commands succeeded", exc)
                    break
        except KeyboardInterrupt:
            s.add(interrupted(len(log)))
            _record(s, log, start)
            if not run.state.get("_preparing"):  # shown (the runner reads the step it was in), then stop
                ui.step(lambda: s.result, interactive=False, raise_on_fail=False)
            raise
    return _record(s, log, start)


def _record(s: Step, log: CommandLog, start: float) -> StepResult:
    """The step's commands, what they printed and its wall time, into its result."""
    s.result.commands = [r.display for r in log]
    s.result.outputs = [_printed(r) for r in log]
    s.result.seconds = time.monotonic() - start
    return s.result


def _printed(r: Any) -> str:
    return (r.stdout or "") + (r.stderr if getattr(r, "returncode", 0) else "")


def do_step(run: Run, number: str, title: str, action: Action | None, verify: Action | None,
          knobs: dict[str, tuple[int, int, int]] | None = None) -> None:
    """Runs a guide step (its action, then its verification) and shows the result; with knobs, as a widget."""
    parts = [p for p in (action, verify) if p is not None]
    if run.state.get("_preparing"):  # inside prepare(): run, record, no display
        run.results.append(_execute(run, number, title, parts))
        return

    def once(only: list[Action]) -> Callable[..., StepResult]:
        def go(**knob_values: Any) -> StepResult:
            run.state.update(knob_values)
            result = _execute(run, number, title, only)
            run.results.append(result)
            return result
        return go

    result = ui.step(once(parts), recheck=once([verify]) if verify else None,
                     interactive=run.interactive, knobs=knobs)
    for fig in result.data.pop("figures", []):
        ui.figure(fig)


def seconds(duration: Any) -> float:
    """A Duration (or a number) as seconds."""
    return float(getattr(duration, "seconds", duration))
