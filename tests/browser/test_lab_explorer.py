"""A learner's path through notebook 06's explorer: JupyterLab in headless Chromium, every cell run,
then a widget changed and Apply clicked: the chart and the per-zone numbers change with the case.

Needs what ``test_lab_recheck`` needs (Debian's chromium, ``npm ci`` in tests/browser); skipped with the
reason otherwise. The screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from test_lab_recheck import ARTIFACTS, HERE, ROOT, TOKEN, _await_ready, _free_port, _missing, _quiet_lab_settings

pytestmark = pytest.mark.browser
NOTEBOOK = "06-locality-and-traffic-distribution.ipynb"


@pytest.fixture
def lab06(tmp_path: Path):
    """JupyterLab over a copy of notebook 06, interactive (no AMBIENT_LB_HEADLESS), its own simulator."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    while "lab_cleanup" not in nb.cells[-1].source:
        nb.cells.pop()
    nb.cells.pop()  # a learner explores before the last cell removes the lab
    nbformat.write(nb, tmp_path / NOTEBOOK)
    kubeconfig = tmp_path / "sim" / "kubeconfig"
    params = tmp_path / "params.yaml"
    params.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: 50\n  kubeconfig: {kubeconfig}\n")
    env = {k: v for k, v in os.environ.items() if k != "AMBIENT_LB_HEADLESS"}
    env.update(AMBIENT_LB_PARAMS=str(params), JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTERLAB_SETTINGS_DIR=str(_quiet_lab_settings(tmp_path / "lab-settings")))
    port = _free_port()
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.port_retries=0", "--LabApp.extension_manager=readonly", "--allow-root"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        _await_ready(proc, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                        str(kubeconfig)], check=False, capture_output=True, timeout=60)


@pytest.mark.timeout(600)
def test_changing_an_explorer_widget_changes_the_chart_and_the_numbers(lab06):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-06-explorer.png"
    res = subprocess.run(["node", str(HERE / "explore_notebook.mjs"), lab06, TOKEN, NOTEBOOK, str(shot),
                          shutil.which("chromium") or ""], cwd=HERE, capture_output=True, text=True, timeout=540)
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert [e["event"] for e in events] == ["opened", "explorer shown", "first case", "second case", "screenshot"]
    first, second = events[2], events[3]
    assert "PreferClose (Service annotation), waypoint" in first["text"]
    assert "Any (Service annotation), no waypoint" in second["text"]
    assert "PASS" in first["text"] and "PASS" in second["text"]
    zone_lines = lambda text: [ln for ln in text.splitlines() if "(expected" in ln]  # noqa: E731
    assert zone_lines(first["text"]) != zone_lines(second["text"])  # the numbers follow the case
    assert first["chart"] > 1000 and second["chart"] > 1000 and first["chartHash"] != second["chartHash"]
    assert shot.stat().st_size > 10_000
