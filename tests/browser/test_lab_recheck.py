"""A person's path: JupyterLab, a notebook opened in headless Chromium, cells run, Re-check clicked.

Needs Debian's ``chromium`` and ``npm ci`` in tests/browser (playwright-core, no browser download);
skipped with the reason when either is missing. The screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_server import ARTIFACTS, ROOT, TOKEN, missing, run_script, running_lab

pytestmark = pytest.mark.browser


@pytest.fixture
def lab(tmp_path: Path):
    """JupyterLab over a copy of notebook 00."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    shutil.copy(ROOT / "notebooks" / "00-prerequisites.ipynb", tmp_path / "00-prerequisites.ipynb")
    with running_lab(tmp_path) as url:
        yield url


def test_recheck_button_in_jupyterlab_shows_the_check_result(lab):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-00-prerequisites-recheck.png"
    events = run_script("run_notebook.mjs", lab, TOKEN, "00-prerequisites.ipynb", str(shot),
                        shutil.which("chromium") or "", "00.5 The license key", timeout=300)
    names = [e["event"] for e in events]
    assert names == ["opened", "cells ran", "rechecked", "screenshot"]
    cells = next(e for e in events if e["event"] == "cells ran")
    assert cells["buttons"] >= 5  # one step card per step of notebook 00
    rechecked = next(e for e in events if e["event"] == "rechecked")
    assert rechecked["text"].startswith("00.1 Tools PASS")  # the HTML card, re-rendered
    assert "PASS\tkubectl installed" in rechecked["text"]
    assert shot.stat().st_size > 10_000
