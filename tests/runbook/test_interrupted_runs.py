"""Interrupted and resumed runs: ``ambient-lb run`` stopped by SIGINT/SIGTERM, or its simulator killed, keeps its
record, leaves no process behind, and ``--resume DIR`` finishes the run.

The runner runs as a child process here, as a person or CI starts it, and gets the signals a terminal or a CI
runner sends. Tiny notebooks (no cluster: ``target=cluster``) hold a guide-style step that runs ``sleep 1234``
through ``shell.run``, so there is a step to interrupt and a child process that could be orphaned. Waits are
bounded: ``checks.poll`` on the process tree or the output notebook, and the runner's own output lines.

Each key behaviour also runs against a runner broken on purpose (no signal watch; only the kernel killed),
and the same expectations must then report the breakage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import nbformat
import nbformat.v4 as v4
import psutil
import pytest

from ambient_lb import cli, shell
from ambient_lb.checks import INTERRUPTED, STEP_MIME, poll

pytestmark = pytest.mark.notebooks
NO_SIM = ["-p", "target=cluster", "-p", "kube.context=unit-test"]
MARK = "1234"  # sleep 1234: the long step's child, told apart from every other process on the machine
PARAMS = 'params_file: str = ""  # params\nrun_id: str = "x"  # run label'

STEP = ("from ambient_lb import ui\nfrom ambient_lb.checks import StepResult, check\n"
        "_ = ui.step(lambda: StepResult({n!r}, 'trivial', ['echo hi'], ['hi'], checks=[check('always', True, 'ok')]))")
# 01.2 runs `sleep 1234` the first time only (a marker file next to the notebook), so a resumed run passes
LONG_STEP = ("import os\nfrom ambient_lb import guide, shell\nfrom ambient_lb.guide.run import do_step\n"
             "run = guide.open_run(params_file, run_id)\n"
             "first = not os.path.exists('01.attempted')\nopen('01.attempted', 'w').close()\n"
             "{deaf}"
             "do_step(run, '01.2', 'A long step', lambda r, s: shell.run(['sleep', '1234'] if first else ['true'], "
             "timeout=300), None)")
DEAF = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)  # a cell that ignores the stop button\n"

# Runners broken on purpose: the same expectations must catch them.
BROKEN = {
    # before this feature: no signal watch, so SIGINT/SIGTERM hit papermill and the process as they come
    "unwatched": "interrupts.SignalWatch.__enter__ = lambda self: self",
    # the stop kills the kernel only, not the processes below it
    "kernel-only": ("def _kernel_only(grace=3.0, also=()):\n"
                    "    for p in psutil.Process().children():\n"
                    "        if 'ipykernel' in interrupts._cmdline(p): p.kill()\n"
                    "    return []\n"
                    "interrupts.stop_descendants = _kernel_only"),
}


def notebook(path: Path, *code: str) -> None:
    cells = [v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]})] + [v4.new_code_cell(c) for c in code]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def notebooks(d: Path, *, first: bool = True, deaf: bool = False) -> Path:
    """00 (passes; left out with ``first=False``, one kernel start less), 01 with the long step 01.2 (which
    ignores SIGINT with ``deaf``), 02 (passes)."""
    d.mkdir()
    if first:
        notebook(d / "00-first.ipynb", STEP.format(n="00.1"))
    notebook(d / "01-second.ipynb", STEP.format(n="01.1"), LONG_STEP.format(deaf=DEAF if deaf else ""),
             STEP.format(n="01.3"))
    notebook(d / "02-third.ipynb", STEP.format(n="02.1"))
    return d


@pytest.fixture
def long_step_notebooks(tmp_path: Path) -> Path:
    return notebooks(tmp_path / "nbs")


@pytest.fixture
def from_the_long_step(tmp_path: Path) -> Path:
    return notebooks(tmp_path / "nbs", first=False)


@pytest.fixture
def deaf_notebooks(tmp_path: Path) -> Path:
    """01's long step ignores SIGINT: only stopping its processes ends it."""
    return notebooks(tmp_path / "nbs", first=False, deaf=True)


class RunnerProcess:
    """``ambient-lb run ARGS`` as a child process (``broken``: a variant from BROKEN); stdout read as it comes."""

    def __init__(self, *args: str, broken: str | None = None) -> None:
        patch = f"import psutil\nfrom ambient_lb import interrupts\n{BROKEN[broken]}\n" if broken else ""
        code = f"{patch}import sys\nfrom ambient_lb import cli\nsys.exit(cli.main(sys.argv[1:]))"
        self.proc = subprocess.Popen([sys.executable, "-c", code, "run", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.tree: list[psutil.Process] = []
        self.stderr = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        """Until the runner prints a line with ``text`` (an event: each line wakes the wait)."""
        with self._changed:
            seen = self._changed.wait_for(lambda: any(text in x for x in self.lines) or
                                          not self._reader.is_alive(), timeout)
        assert seen and any(text in x for x in self.lines), f"no {text!r} within {timeout} s:\n{self.stdout}"

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for_child(self, marker: str, timeout: float = 90) -> None:
        """Until a process below the runner has ``marker`` in its command line (bounded poll)."""
        def probe() -> tuple[bool, str]:
            assert self.proc.poll() is None, f"the runner exited early:\n{self.stdout}"
            found = [p for p in self.descendants() if marker in " ".join(_cmdline(p))]
            return bool(found), f"{len(found)} process(es) with {marker!r}"
        res = poll(f"a child with {marker!r}", probe, timeout=timeout, interval=0.1)
        assert res.ok, f"{res.detail}; {res.reason}\n{self.stdout}"

    def send(self, sig: int) -> None:
        self.tree = self.tree or self.descendants()  # what must not outlive the runner
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 120) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.proc.kill()
            self._reader.join(timeout=10)
            assert self.proc.stderr is not None
            self.stderr = self.proc.stderr.read()
        return code

    def orphans(self) -> list[str]:
        """Processes that were below the runner when the signal came and still run."""
        left = [(p, " ".join(_cmdline(p)) or str(p.pid)) for p in self.tree if _alive(p)]
        for p, _ in left:  # never leave them to the next test
            p.kill()
        return [line for _, line in left]


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def interrupt_problems(r: RunnerProcess, out: Path, sig: int, code: int, step: str | None,
                       done: tuple[str, ...] = ()) -> list[str]:
    """What an interrupted run got wrong: exit code, orphans, summary, partial notebook, last line."""
    problems = []
    if code != 128 + sig:
        problems.append(f"exit code {code}, not {128 + sig}")
    orphans = r.orphans()
    if orphans:
        problems.append(f"orphans: {orphans}")
    summary_file = out / "summary.json"
    if not summary_file.exists():
        return problems + ["no summary.json"]
    summary = json.loads(summary_file.read_text())
    records = {n["name"]: n for n in summary["notebooks"]}
    second = records.get("01-second", {})
    if summary["ok"] or second.get("status") != "interrupted":
        problems.append(f"01-second not marked interrupted: {second.get('status')!r}")
    where = second.get("interrupted") or {}
    if where.get("signal") != signal.Signals(sig).name:
        problems.append(f"signal recorded: {where.get('signal')!r}")
    if step and where.get("step") != step:
        problems.append(f"step recorded: {where.get('step')!r}, not {step}")
    if [n for n, rec in records.items() if rec.get("status") == "ok"] != list(done) or "02-third" in records:
        problems.append(f"notebooks recorded: {[(n, rec.get('status')) for n, rec in records.items()]}")
    if not (out / "01-second.ipynb").exists():
        problems.append("no partial 01-second.ipynb")
    last = r.stderr.strip().splitlines()[-1:] or [""]
    if f"interrupted by {signal.Signals(sig).name} in 01-second" not in last[0] or \
            f"ambient-lb run --resume {out}" not in last[0]:
        problems.append(f"last line: {last[0]!r}")
    return problems


def test_sigterm_mid_step_writes_the_partial_summary_names_the_step_exits_143_and_leaves_no_process(
        from_the_long_step, tmp_path):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(from_the_long_step), "--out", str(out), *NO_SIM)
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGTERM)
    code = r.finish()
    assert interrupt_problems(r, out, signal.SIGTERM, code, step="01.2") == [], r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["first_failure"] == "interrupted by SIGTERM in 01-second step 01.2 (A long step)"
    assert summary["next"] == f"ambient-lb run --resume {out} (reruns 01-second, then the rest)"
    step = summary["notebooks"][0]["steps"][-1]
    assert step["step"] == "01.2" and step["checks"][-1]["name"] == INTERRUPTED
    assert step["commands"] == [f"sleep {MARK}"]  # the step shows what it ran before it was stopped
    partial = json.loads((out / "01-second.ipynb").read_text())
    errors = [o["ename"] for c in partial["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == ["KeyboardInterrupt"]  # the kernel was interrupted, as by Jupyter's stop button
    assert "interrupted by SIGTERM in 01-second step 01.2" in (out / "summary.html").read_text()
    assert "SIGTERM received: stopping the notebook's kernel" in r.stdout


def test_sighup_when_the_terminal_closes_stops_the_run_as_cleanly_and_exits_129(from_the_long_step, tmp_path):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(from_the_long_step), "--out", str(out), *NO_SIM)
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGHUP)
    code = r.finish()
    assert code == 129
    assert interrupt_problems(r, out, signal.SIGHUP, code, step="01.2") == [], r.stdout + r.stderr
    assert json.loads((out / "summary.json").read_text())["first_failure"] == \
        "interrupted by SIGHUP in 01-second step 01.2 (A long step)"


def test_a_runner_that_does_not_watch_signals_fails_the_interrupt_expectations(from_the_long_step, tmp_path):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(from_the_long_step), "--out", str(out), *NO_SIM, broken="unwatched")
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGTERM)
    problems = interrupt_problems(r, out, signal.SIGTERM, r.finish(), step="01.2")
    assert "no summary.json" in problems, problems


def test_a_kernel_deaf_to_sigint_is_stopped_with_its_children_at_the_second_signal(deaf_notebooks, tmp_path):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(deaf_notebooks), "--out", str(out), *NO_SIM)
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGINT)
    r.wait_for_line("SIGINT received: stopping the notebook's kernel")
    r.send(signal.SIGTERM)  # the impatient second signal: stop everything now
    code = r.finish()
    assert interrupt_problems(r, out, signal.SIGINT, code, step=None) == [], r.stdout + r.stderr
    where = json.loads((out / "summary.json").read_text())["interrupted"]
    # no step record (the kernel never saw the interrupt): the cell it was running, after the last step done
    assert where["step"] is None and where["after_step"] == "01.1 (trivial)"
    assert where["cell"] == "import os" and "stopping every process of the run" in r.stdout
    assert where["text"] == "interrupted by SIGINT in 01-second at cell `import os` after step 01.1 (trivial)"


def test_a_runner_that_stops_only_the_kernel_leaves_an_orphan_the_expectations_see(deaf_notebooks, tmp_path):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(deaf_notebooks), "--out", str(out), *NO_SIM, broken="kernel-only")
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGINT)
    r.wait_for_line("SIGINT received: stopping the notebook's kernel")
    r.send(signal.SIGTERM)
    problems = interrupt_problems(r, out, signal.SIGINT, r.finish(), step=None)
    assert any(p.startswith("orphans:") and f"sleep {MARK}" in p for p in problems), (problems, r.stdout, r.stderr)


def test_sigint_mid_step_then_resume_carries_over_the_notebooks_that_passed_and_reruns_the_interrupted_one(
        long_step_notebooks, tmp_path, capsys):
    out = tmp_path / "run"
    r = RunnerProcess("--notebooks", str(long_step_notebooks), "--out", str(out), *NO_SIM)
    r.wait_for_child(f"sleep {MARK}")
    r.send(signal.SIGINT)
    code = r.finish()
    assert interrupt_problems(r, out, signal.SIGINT, code, step="01.2", done=("00-first",)) == [], r.stdout + r.stderr
    first = json.loads((out / "summary.json").read_text())
    assert first["first_failure"] == "interrupted by SIGINT in 01-second step 01.2 (A long step)"

    assert cli.main(["run", "--resume", str(out)]) == 0  # no --params, --notebooks: the run's own
    printed = capsys.readouterr().out
    assert "attempt 2; 1 notebook(s) passed before (00-first … 00-first); continuing from 01-second" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["first_failure"] is None and summary["interrupted"] is None
    assert [(n["name"], n["status"], n["attempt"]) for n in summary["notebooks"]] == [
        ("00-first", "ok", 1), ("01-second", "ok", 2), ("02-third", "ok", 2)]
    assert summary["notebooks"][0] == {**first["notebooks"][0]}  # carried over as it was
    assert [a["outcome"] for a in summary["attempts"]] == [first["first_failure"], "ok"]
    assert (out / "attempt-1" / "01-second.ipynb").exists()  # the interrupted attempt's notebook is kept
    assert "00-first (attempt 1)" in (out / "summary.html").read_text()

    assert cli.main(["run", "--resume", str(out)]) == 0  # resuming a finished run runs nothing
    assert "nothing to resume: the 3 notebook(s) of that run passed" in capsys.readouterr().out


def _summary(tmp_path: Path, **changes: Any) -> Path:
    d = tmp_path / "earlier"
    d.mkdir(exist_ok=True)
    (d / "params.yaml").write_text("target: cluster\nkube:\n  context: unit-test\n")
    summary = {"ok": False, "planned": ["00-first"], "notebooks": [], **changes}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


@pytest.mark.parametrize("case, expected", [
    ("missing", "--resume {d}: no such directory"),
    ("no summary", "{d}/summary.json is missing; ambient-lb run writes it when a run ends, fails or is interrupted"),
    ("corrupt", "{d}/summary.json is not valid JSON (Expecting ',' delimiter: line 1 column 14 (char 13))"),
    ("not a summary", "{d}/summary.json is not an ambient-lb run summary: no 'planned' list of notebook names"),
    ("no params", "{d}/params.yaml is missing"),
    ("--only", "--resume {d} with --only 00: a resumed run continues the notebooks its run planned"),
    ("--params", "--resume {d}: --params conflict with the run's params ({d}/params.yaml): kube.context is "
                 "'unit-test' in the run, 'another' given"),
])
def test_resume_with_a_bad_directory_says_what_is_wrong_and_runs_nothing(long_step_notebooks, tmp_path, capsys,
                                                                          case, expected):
    d = _summary(tmp_path, notebooks_dir=str(long_step_notebooks))
    extra: list[str] = []
    if case == "missing":
        d = tmp_path / "nowhere"
    elif case == "no summary":
        (d / "summary.json").unlink()
    elif case == "corrupt":
        (d / "summary.json").write_text('{"ok": false "planned": []}')
    elif case == "not a summary":
        (d / "summary.json").write_text(json.dumps({"ok": True, "notebooks": []}))
    elif case == "no params":
        (d / "params.yaml").unlink()
    elif case == "--only":
        extra = ["--only", "00"]
    elif case == "--params":
        (tmp_path / "other.yaml").write_text("target: cluster\nkube:\n  context: another\n")
        extra = ["--params", str(tmp_path / "other.yaml")]
    before = sorted(p.name for p in d.iterdir()) if d.exists() else []
    assert cli.main(["run", "--resume", str(d), *extra]) == 2
    err = capsys.readouterr().err
    assert expected.format(d=d) in err, err
    assert "ambient-lb run " in err.split(expected.format(d=d))[1], err  # and what to type instead
    assert (sorted(p.name for p in d.iterdir()) if d.exists() else []) == before  # nothing ran, nothing written


def test_resume_accepts_params_that_say_the_same_as_the_run_s(long_step_notebooks, tmp_path):
    d = _summary(tmp_path, notebooks_dir=str(long_step_notebooks),
                 notebooks=[{"name": "00-first", "ok": True, "status": "ok", "steps": [], "attempt": 1}])
    assert cli.main(["run", "--resume", str(d), "-p", "target=cluster"]) == 0  # all passed: nothing to do


def test_an_interrupted_command_stops_its_child(tmp_path):
    """shell.run on KeyboardInterrupt (Jupyter's stop button, the runner's SIGINT to the kernel) stops the
    command it started, which runs in a session of its own and got no signal."""
    assert _child_left_after_interrupt() == []


def test_an_interrupted_command_without_the_stop_leaves_its_child(monkeypatch):
    monkeypatch.setattr(shell, "stop_process_group", lambda proc, grace=3.0: None)
    assert _child_left_after_interrupt() == [f"sleep {MARK}"]


def _child_left_after_interrupt() -> list[str]:
    """``shell.run(['sleep', '1234'])`` in this (the main) thread gets SIGINT once the child runs; what is
    left of the child afterwards (killed then, so no test leaves it behind)."""
    me = psutil.Process()

    def interrupt_when_running() -> None:
        res = poll("sleep started", lambda: (any(MARK in " ".join(_cmdline(p)) for p in me.children()), "waiting"),
                   timeout=30, interval=0.05)
        if res.ok:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_when_running, daemon=True)
    try:
        watcher.start()
        with shell.CommandLog() as log, pytest.raises(KeyboardInterrupt):
            shell.run(["sleep", MARK], timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
        watcher.join(timeout=30)
    assert [(r.display, r.returncode) for r in log] == [(f"sleep {MARK}", -2)]  # the step shows it, stopped
    left = [(p, _cmdline(p)) for p in me.children(recursive=True) if MARK in " ".join(_cmdline(p)) and _alive(p)]
    for p, _ in left:
        p.kill()
    return [" ".join([os.path.basename(argv[0]), *argv[1:]]) for _, argv in left]


# ---- the simulator killed mid-step ------------------------------------------------------------------------------

def _step_done(out: Path, name: str, step: str) -> tuple[bool, str]:
    try:
        nb = json.loads(next(out.glob(f"{name}-*.ipynb")).read_text())
    except (StopIteration, OSError, ValueError):
        return False, "no output notebook yet"
    steps = [o["data"][STEP_MIME]["step"] for c in nb["cells"] for o in c.get("outputs", [])
             if STEP_MIME in o.get("data", {})]
    return step in steps, f"steps so far: {steps}"


def _labelled(kubeconfig: Path) -> list[tuple[str, str, str, str]]:
    """Every object of the run (the run label) that a rerun must leave as it is: kind, namespace, name, uid."""
    res = subprocess.run(["kubectl", "get", "deployments,services,gateways,namespaces", "-A", "-l",
                          "ambient-lb.dev/run=ambient-lb", "-o", "json"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "KUBECONFIG": str(kubeconfig)}, check=True)
    return sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["uid"])
                  for o in json.loads(res.stdout)["items"])


def test_the_simulator_killed_mid_step_fails_the_step_naming_the_cause_and_resume_finishes_the_run(
        sim_params, run_guide, tmp_path, capsys):
    from ambient_lb.sim.daemon import state_dir

    home = Path(os.environ["HOME"])
    kubeconfig = home / ".ambient-lb" / "sim" / "kubeconfig"
    out = tmp_path / "run"
    r = RunnerProcess("--params", str(sim_params), "--out", str(out), "--only", "01")
    res = poll("step 01.1 done", lambda: (r.proc.poll() is None and _step_done(out, "01", "01.1")[0],
                                          _step_done(out, "01", "01.1")[1]), timeout=120, interval=0.1)
    assert res.ok, res.detail + r.stdout
    pid = json.loads((state_dir(kubeconfig) / "state.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    assert r.finish(timeout=180) == 1, r.stdout + r.stderr  # nothing hangs: the step fails at once

    summary = json.loads((out / "summary.json").read_text())
    assert "the API server did not answer" in summary["first_failure"], summary["first_failure"]
    assert summary["cause"].startswith("the simulator is not running: its API server stopped answering")
    assert summary["next"].startswith(f"ambient-lb run --resume {out} (starts the simulator again and reruns "
                                      "01-install-kgateway)")
    assert "the simulator keeps running" not in r.stdout
    assert "the simulator is not running: start it with ambient-lb sim up" in r.stdout
    assert f"continue with: ambient-lb run --resume {out}" in r.stderr.splitlines()[-1]

    assert cli.main(["run", "--resume", str(out)]) == 0, (out / "summary.json").read_text()
    assert "started at https://127.0.0.1" in capsys.readouterr().out  # a new simulator
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["ok"] and [(n["name"], n["attempt"]) for n in resumed["notebooks"]] == [("01-install-kgateway", 2)]

    # the same notebook again on the same simulator converges: it passes and leaves the same objects
    objects = _labelled(kubeconfig)
    assert run_guide(sim_params, tmp_path / "again", "--only", "01") == 0
    assert _labelled(kubeconfig) == objects and objects
