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


def test_a_cluster_target_without_a_second_cluster_skips_08_with_the_reason(with_multicluster_notebook,
                                                                             tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["run", "--notebooks", str(with_multicluster_notebook), "--out", str(out), *NO_SIM])
    assert code == 0
    printed = capsys.readouterr().out
    assert "08-multicluster ... skipped: multicluster.contexts is not set" in printed
    assert "multicluster.contexts: [kind-cluster1, kind-cluster2]" in printed
    summary = json.loads((out / "summary.json").read_text())
    eight = summary["notebooks"][-1]
    assert summary["ok"] and eight["name"] == "08-multicluster" and eight["steps"] == []
    assert eight["skipped"].startswith("multicluster.contexts is not set")
    assert not (out / "08-multicluster.ipynb").exists()
    html = (out / "summary.html").read_text()
    assert "class='SKIP'>SKIP" in html and "multicluster.contexts is not set" in html
    from ambient_lb import report
    assert report.row_for(out)["reached"] == "02-third"  # a skipped notebook is not how far they got


def test_only_08_runs_it_even_without_a_second_cluster(with_multicluster_notebook, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", "--notebooks", str(with_multicluster_notebook), "--out", str(out),
                     "--only", "08", *NO_SIM]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert (out / "08-multicluster.ipynb").exists()


def test_08_runs_when_the_params_name_two_contexts(with_multicluster_notebook, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", "--notebooks", str(with_multicluster_notebook), "--out", str(out), *NO_SIM,
                     "-p", "multicluster.contexts=[kind-cluster1, kind-cluster2]"]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert (out / "08-multicluster.ipynb").exists()


def test_the_first_failure_names_the_failed_command_its_exit_code_and_stderr():
    rec = runner.RunRecord(out=Path("."), notebooks=[runner.NotebookRecord(name="07-lab", steps=[{
        "step": "07.1", "title": "The gateway sees one address", "checks": [{
            "name": "the step's commands succeeded", "ok": False, "status": "FAIL",
            "detail": "command failed: kubectl", "hint": "rerun the displayed command",
            "reason": "  command: kubectl exec -n httpbin deploy/httpbin-waypoint -- pilot-agent request GET "
                      "clusters\n  exit code: 1\n  stderr: error: unable to upgrade connection"}]}])])
    assert rec.first_failure == (
        "07-lab step 07.1 (The gateway sees one address): check \"the step's commands succeeded\": command "
        "failed: kubectl (command: kubectl exec -n httpbin deploy/httpbin-waypoint -- pilot-agent request GET "
        "clusters exit code: 1 stderr: error: unable to upgrade connection) hint: rerun the displayed command")
