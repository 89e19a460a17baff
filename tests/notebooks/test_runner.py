"""runner.py: ``ambient-lb run`` executes notebooks in order, writes a summary, names the failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ambient_lb import cli, runner
from ambient_lb.errors import ParameterError

pytestmark = pytest.mark.notebooks
# the trivial notebooks need no cluster; target=cluster keeps the runner from starting a simulator
NO_SIM = ["-p", "target=cluster", "-p", "kube.context=unit-test"]


def test_run_stops_at_the_first_failed_check_and_names_it(trivial_notebooks, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["run", "--notebooks", str(trivial_notebooks), "--out", str(out),
                     "--run-id", "r7", *NO_SIM])
    assert code == 1
    err = capsys.readouterr().err
    assert "01-second step 01.1 (trivial): check 'the broken thing': evidence hint: try this" in err
    summary = json.loads((out / "summary.json").read_text())
    assert [n["name"] for n in summary["notebooks"]] == ["00-first", "01-second"]
    assert summary["ok"] is False and "the broken thing" in summary["first_failure"]
    first = summary["notebooks"][0]["steps"][0]
    assert first["checks"][0]["status"] == "PASS" and first["commands"] == ["echo hi"]
    assert (out / "00-first.ipynb").exists() and (out / "summary.html").exists()
    assert "the broken thing" in (out / "summary.html").read_text()


def test_the_kernel_is_headless_and_gets_the_params_file_and_run_id(trivial_notebooks, tmp_path):
    out = tmp_path / "run"
    assert cli.main(["run", "--notebooks", str(trivial_notebooks), "--out", str(out),
                     "--only", "00", "--run-id", "r7", *NO_SIM]) == 0
    nb = json.loads((out / "00-first.ipynb").read_text())
    printed = ["".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])
               if o.get("output_type") == "stream"]
    assert "".join(printed).strip() == "1 True r7"
    assert "metadata" in nb and not nb["metadata"].get("widgets")
    assert (out / "params.yaml").read_text().startswith("target: cluster")


def test_from_selects_the_rest_in_order(trivial_notebooks):
    names = [p.name for p in runner.select_notebooks(trivial_notebooks, "01", None)]
    assert names == ["01-second.ipynb", "02-third.ipynb"]


def test_unknown_notebook_number_is_a_parameter_error(trivial_notebooks):
    with pytest.raises(ParameterError, match="--only '7'.*choose one of 00, 01, 02"):
        runner.select_notebooks(trivial_notebooks, None, "7")


def test_bad_params_stop_before_any_notebook_runs(trivial_notebooks, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["run", "--notebooks", str(trivial_notebooks), "--out", str(out),
                     "-p", "app.replicas=zero", *NO_SIM])
    assert code == 2
    assert "app.replicas" in capsys.readouterr().err
    assert not list(out.glob("*.ipynb"))
