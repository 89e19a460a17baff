"""The whole guide on the simulator: papermill end to end, each notebook again, no leaked key, nbval.

Each test gets its own simulator (private kubeconfig, seed 42, high speed) started by notebook 00
(or by ``prepare``) and stopped at teardown. These are the slow tests of this area.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ambient_lb import cli

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CANARY = "CANARY-LICENSE-7f3a9c2e51"
SPEED = 50


@pytest.fixture
def sim_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A params file for a private simulator; the simulator is stopped afterwards."""
    kubeconfig = tmp_path / "sim" / "kubeconfig"
    path = tmp_path / "params.yaml"
    path.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: {SPEED}\n  kubeconfig: {kubeconfig}\n")
    monkeypatch.setenv("LICENSE_KEY", CANARY)
    yield path
    subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                    str(kubeconfig)], check=False, capture_output=True, timeout=60)


def run(params: Path, out: Path, *extra: str) -> int:
    return cli.main(["run", "--params", str(params), "--out", str(out), *extra])


def test_the_whole_guide_passes_then_each_notebook_passes_again(sim_params, tmp_path):
    """papermill runs 00..05 headless; summary.json has every check passed; then each notebook
    runs on its own a second time (its prepare() rebuilds what the cleanup removed)."""
    first = tmp_path / "first"
    assert run(sim_params, first) == 0, (first / "summary.json").read_text()
    summary = json.loads((first / "summary.json").read_text())
    assert summary["ok"] and summary["first_failure"] is None
    names = [n["name"] for n in summary["notebooks"]]
    assert names == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    checks = [c for n in summary["notebooks"] for s in n["steps"] for c in s["checks"]]
    assert len(checks) >= 40 and all(c["ok"] for c in checks)
    steps = {s["step"] for n in summary["notebooks"] for s in n["steps"]}
    assert {"02.4", "02.5", "03.3", "04.2", "04.5", "04.6", "05.1"} <= steps
    for nb in names:
        again = tmp_path / f"again-{nb[:2]}"
        assert run(sim_params, again, "--only", nb[:2]) == 0, (again / "summary.json").read_text()


def test_the_license_key_never_leaves_the_environment(sim_params, tmp_path):
    """With a canary key set, no executed notebook, metadata, summary, params or simulator log
    holds it, and no running process has it on its command line."""
    out = tmp_path / "run"
    assert run(sim_params, out, "--only", "01") == 0
    leaks = [str(p) for p in [*out.rglob("*"), *(tmp_path / "sim").rglob("*")]
             if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == []
    cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p)]
    assert not any(CANARY.encode() in c for c in cmdlines)
    history = Path("~/.ipython/profile_default/history.sqlite").expanduser()
    assert not history.exists() or CANARY.encode() not in history.read_bytes()


def _readable(p: Path) -> bool:
    try:
        p.read_bytes()
        return True
    except OSError:
        return False


def test_committed_notebooks_match_a_fresh_run_under_nbval(sim_params):
    """`pytest --nbval` re-executes the committed notebooks on a fresh simulator and compares
    every output with the committed one, after tests/notebooks/sanitize.cfg."""
    env = {**os.environ, "AMBIENT_LB_PARAMS": str(sim_params), "AMBIENT_LB_HEADLESS": "1"}
    res = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider",
                          "--nbval-sanitize-with", str(Path(__file__).parent / "sanitize.cfg"),
                          "--nbval-current-env", "-q", "--color=no", "-o", "addopts=",
                          "-p", "no:xdist", *sorted(map(str, NOTEBOOKS.glob("*.ipynb")))],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
