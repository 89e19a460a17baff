"""A learner's path through notebook 06's explorer: JupyterLab in headless Chromium, every cell run,
then a widget changed and Apply clicked: the chart and the per-zone numbers change with the case.

Needs what ``test_lab_recheck`` needs (Debian's chromium, ``npm ci`` in tests/browser); skipped with the
reason otherwise. The screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_server import ARTIFACTS, ROOT, TOKEN, missing, run_script, running_lab

pytestmark = pytest.mark.browser
NOTEBOOK = "06-locality-and-traffic-distribution.ipynb"


@pytest.fixture
def lab06(tmp_path: Path):
    """JupyterLab over a copy of notebook 06 without its last cell (a learner explores before the lab is
    removed)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    while "lab_cleanup" not in nb.cells[-1].source:
        nb.cells.pop()
    nb.cells.pop()
    nbformat.write(nb, tmp_path / NOTEBOOK)
    with running_lab(tmp_path) as url:
        yield url


@pytest.mark.timeout(600)
def test_changing_an_explorer_widget_changes_the_chart_and_the_numbers(lab06):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-06-explorer.png"
    events = run_script("explore_notebook.mjs", lab06, TOKEN, NOTEBOOK, str(shot), shutil.which("chromium") or "",
                        timeout=540)
    assert [e["event"] for e in events] == ["opened", "explorer shown", "first case", "second case", "screenshot"]
    first, second = events[2], events[3]
    assert "PreferClose (Service annotation), waypoint" in first["text"]
    assert "Any (Service annotation), no waypoint" in second["text"]
    assert "PASS" in first["text"] and "PASS" in second["text"]
    zone_lines = lambda text: [ln for ln in text.splitlines() if "(expected" in ln]  # noqa: E731
    assert zone_lines(first["text"]) != zone_lines(second["text"])  # the numbers follow the case
    assert first["chart"] > 1000 and second["chart"] > 1000 and first["chartHash"] != second["chartHash"]
    assert shot.stat().st_size > 10_000
