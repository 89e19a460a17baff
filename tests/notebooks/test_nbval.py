"""nbval: the committed notebooks, re-executed on a fresh simulator, match their stored outputs.

Compared after ``sanitize.cfg`` (timestamps, timings, generated names, addresses, sampler counts).
Regenerate the stored outputs with ``.venv/bin/python tools/regenerate_notebooks.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[2]


def test_committed_notebooks_match_a_fresh_run_under_nbval(sim_params):
    env = {**os.environ, "AMBIENT_LB_PARAMS": str(sim_params), "AMBIENT_LB_HEADLESS": "1"}
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    res = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider",
                          "--nbval-sanitize-with", str(Path(__file__).parent / "sanitize.cfg"),
                          "--nbval-current-env", "-q", "--color=no", "-o", "addopts=",
                          "-p", "no:xdist", *notebooks],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    assert " passed" in res.stdout.splitlines()[-1] and "failed" not in res.stdout.splitlines()[-1]
