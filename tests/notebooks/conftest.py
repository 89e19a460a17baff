"""Fixtures for the notebook tests: tiny notebooks for the runner, a private simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat.v4 as v4
import nbformat
import pytest

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


SPEED = 10  # the same as tools/regenerate_notebooks.py


@pytest.fixture
def sim_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A params file for a private simulator; the simulator is stopped afterwards.

    Like ``tools/regenerate_notebooks.py``, HOME is private, so the simulator's kubeconfig is the
    default ``~/.ambient-lb/sim/kubeconfig`` there and the outputs show the path a learner sees."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    kubeconfig = home / ".ambient-lb" / "sim" / "kubeconfig"
    path = tmp_path / "params.yaml"
    path.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: {SPEED}\n")
    monkeypatch.delenv("LICENSE_KEY", raising=False)  # as on a fresh machine: the sim's demo key
    yield path
    subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                    str(kubeconfig)], check=False, capture_output=True, timeout=60)


@pytest.fixture
def run_guide():
    """``ambient-lb run`` in this process (the papermill import is paid once per worker)."""
    from ambient_lb import cli

    def run(params: Path, out: Path, *extra: str) -> int:
        return cli.main(["run", "--params", str(params), "--out", str(out), *extra])
    return run
