"""Fixtures for the runbook module tests: fake kubectl/helm on PATH that record their real argv, and tiny
notebooks for the runner.

The fakes are small Python scripts. Each call appends one JSON line to ``calls.jsonl`` with the
argv the process actually received (what ``ps`` would show), its stdin, its ``KUBECONFIG`` and
working directory, and for helm the content and mode of every ``-f`` values file *while helm runs*
(the wrapper deletes them afterwards).
Behaviour is steered by environment variables: FAKE_RC, FAKE_STDOUT, FAKE_STDERR, FAKE_HANG.

The tiny notebooks (``trivial_notebooks``) each carry one step whose check passes or fails as asked, so the
runner's tests run real kernels without a cluster.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import nbformat.v4 as v4
import pytest

FAKE = textwrap.dedent("""\
    #!{python}
    import json, os, socket, stat, sys, threading
    argv = sys.argv[:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    files = {{}}
    for i, a in enumerate(argv):
        if a == "-f" and i + 1 < len(argv) and os.path.isfile(argv[i + 1]):
            p = argv[i + 1]
            files[p] = {{"text": open(p).read(), "mode": oct(stat.S_IMODE(os.stat(p).st_mode)),
                        "dir_mode": oct(stat.S_IMODE(os.stat(os.path.dirname(os.path.abspath(p))).st_mode))}}
    with open({log!r}, "a") as fh:
        fh.write(json.dumps({{"argv": argv, "stdin": stdin, "files": files,
                             "kubeconfig": os.environ.get("KUBECONFIG"), "cwd": os.getcwd()}}) + "\\n")
    if "port-forward" in argv:
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(5)
        if os.environ.get("FAKE_PF_FAIL"):
            print("error: unable to forward port because pod is not running", flush=True); sys.exit(1)
        print(f"Forwarding from 127.0.0.1:{{srv.getsockname()[1]}} -> 8080", flush=True)
        while True:
            conn, _ = srv.accept(); conn.close()
    if os.environ.get("FAKE_HANG"):
        threading.Event().wait()
    sys.stdout.write(os.environ.get("FAKE_STDOUT", ""))
    sys.stderr.write(os.environ.get("FAKE_STDERR", ""))
    sys.exit(int(os.environ.get("FAKE_RC", "0")))
""")


class FakeTools:
    """The recorded calls of the fake kubectl and helm."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def last(self) -> dict[str, Any]:
        calls = self.calls()
        assert calls, "the fake tool was not called"
        return calls[-1]

    def argv(self) -> list[str]:
        """The last argv without the program path."""
        return self.last()["argv"][1:]


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.jsonl"
    for tool in ("kubectl", "helm"):
        script = bindir / tool
        script.write_text(FAKE.format(python=sys.executable, log=str(log)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for var in ("FAKE_RC", "FAKE_STDOUT", "FAKE_STDERR", "FAKE_HANG", "FAKE_PF_FAIL"):
        monkeypatch.delenv(var, raising=False)
    return FakeTools(log)


def write_kubeconfig(path: Path, contexts: dict[str, str], current: str | None = None) -> Path:
    """A kubeconfig with one cluster per context (context name -> server URL)."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": current or next(iter(contexts)),
        "clusters": [{"name": f"c-{n}", "cluster": {"server": url}} for n, url in contexts.items()],
        "contexts": [{"name": n, "context": {"cluster": f"c-{n}", "user": "u"}} for n in contexts],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", {"kind-ambient": "https://127.0.0.1:6443",
                                                      "prod": "https://10.0.0.1:443"})


PARAMS = 'params_file: str = ""  # params\nrun_id: str = "x"  # run label'


def write_notebook(path: Path, *code: str) -> Path:
    cells = [v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]})]
    cells += [v4.new_code_cell(c) for c in code]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def step_cell(number: str, ok: bool, name: str = "always") -> str:
    return ("from ambient_lb import ui\nfrom ambient_lb.checks import StepResult, check\n"
            f"_ = ui.step(lambda: StepResult({number!r}, 'trivial', ['echo hi'], ['hi'], "
            f"checks=[check({name!r}, {ok}, 'evidence', hint='try this')]))")


@pytest.fixture
def trivial_notebooks(tmp_path: Path) -> Path:
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "00-first.ipynb", step_cell("00.1", True),
                   "import os\nprint(os.environ.get('AMBIENT_LB_HEADLESS'), params_file != '', run_id)")
    write_notebook(d / "01-second.ipynb", step_cell("01.1", False, "the broken thing"))
    write_notebook(d / "02-third.ipynb", step_cell("02.1", True))
    return d


@pytest.fixture
def with_multicluster_notebook(trivial_notebooks: Path) -> Path:
    """The trivial notebooks 00 and 02 (both pass) plus an ``08-`` that passes when it runs."""
    write_notebook(trivial_notebooks / "08-multicluster.ipynb", step_cell("08.1", True))
    (trivial_notebooks / "01-second.ipynb").unlink()  # no failure before 08
    return trivial_notebooks
