"""The README's first quick-start command, as a learner runs it: ``make run``, at the params' own speed.

Every other notebook test runs the simulator fast (speed 10-20); the main job runs at
``params/sim.yaml``'s speed (1.0), where a step that sends traffic before the mesh has caught up
fails although it passes fast. This test runs the Makefile's command itself on a private HOME.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[2]


def make_run_command() -> list[str]:
    """The recipe of the Makefile's ``run`` target, with ``$(BIN)/`` resolved to the venv."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t(.+)$", text, re.M)
    assert recipe, "the Makefile has no run target"
    argv = shlex.split(recipe.group(1).replace("$(BIN)/", str(ROOT / ".venv" / "bin") + "/"))
    return argv


def test_make_run_passes_at_the_speed_params_sim_yaml_sets(tmp_path):
    argv = make_run_command()
    assert argv[1:4] == ["run", "--params", "params/sim.yaml"], argv
    speed = yaml.safe_load((ROOT / "params" / "sim.yaml").read_text())["sim"]["speed"]
    out = tmp_path / "runs"
    argv[argv.index("--out") + 1] = str(out)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("LICENSE_KEY", None)  # a fresh machine: the simulator's demo key
    env.pop("AMBIENT_LB_PARAMS", None)
    try:
        res = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run([str(ROOT / ".venv" / "bin" / "ambient-lb"), "sim", "down"], env=env,
                       capture_output=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert [n["name"] for n in summary["notebooks"]] == notebooks
    assert summary["ok"] and summary["first_failure"] is None, summary["first_failure"]
    ran = yaml.safe_load((out / "params.yaml").read_text())
    assert ran["sim"]["speed"] == speed  # the notebooks ran at the learner's speed, not a test's
