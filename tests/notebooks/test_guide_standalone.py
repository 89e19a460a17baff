"""Any notebook runs on its own, and twice in a row: 03 on a fresh simulator, two times."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.notebooks


def test_a_notebook_alone_builds_what_it_needs_and_passes_twice(sim_params, run_guide, tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert run_guide(sim_params, once, "--only", "03") == 0, (once / "summary.json").read_text()
    first = json.loads((once / "summary.json").read_text())["notebooks"][0]["steps"][0]
    assert first["step"] == "03.0"
    details = {c["name"]: c["detail"].split(" (")[0] for c in first["checks"]}
    assert details.pop("no failing replica left from step 4") == "none"
    assert list(details.values())[1:] == ["done now"] * 6
    assert run_guide(sim_params, twice, "--only", "03") == 0, (twice / "summary.json").read_text()
    second = json.loads((twice / "summary.json").read_text())["notebooks"][0]["steps"][0]
    assert {c["detail"] for c in second["checks"]} == {"already there", "none"}
