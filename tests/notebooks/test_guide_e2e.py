"""The whole guide on the simulator with papermill, then the whole guide again.

The second pass runs every notebook a second time on the same simulator, after 05's cleanup:
each notebook's ``prepare`` rebuilds what it needs, and every check passes again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_the_whole_guide_passes_twice_in_a_row(sim_params, run_guide, tmp_path):
    first = tmp_path / "first"
    assert run_guide(sim_params, first) == 0, (first / "summary.json").read_text()
    summary = json.loads((first / "summary.json").read_text())
    assert summary["ok"] and summary["first_failure"] is None
    names = [n["name"] for n in summary["notebooks"]]
    assert names == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    checks = [c for n in summary["notebooks"] for s in n["steps"] for c in s["checks"]]
    assert len(checks) >= 40 and all(c["ok"] for c in checks)
    steps = {s["step"] for n in summary["notebooks"] for s in n["steps"]}
    assert {"02.4", "02.5", "03.3", "04.2", "04.4", "04.5", "04.6", "05.1"} <= steps
    second = tmp_path / "second"
    assert run_guide(sim_params, second) == 0, (second / "summary.json").read_text()
    again = json.loads((second / "summary.json").read_text())
    prepared = [s for n in again["notebooks"] for s in n["steps"] if s["step"].endswith(".0")]
    assert prepared and all(s["ok"] for s in prepared)
