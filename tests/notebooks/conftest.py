"""Fixtures for the notebook tests: tiny notebooks for the runner, a private simulator."""

from __future__ import annotations

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
