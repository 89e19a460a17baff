"""A person's path: JupyterLab, a notebook opened in headless Chromium, cells run, Re-check clicked.

Needs Debian's ``chromium`` and ``npm ci`` in tests/browser (playwright-core, no browser download);
skipped with the reason when either is missing. The screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "ambient-lb-browser-test"


def _missing() -> str | None:
    if not shutil.which("chromium"):
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    if not shutil.which("node"):
        return "node is not installed (apt-get install -y nodejs npm)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/browser && npm ci)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path):
    """JupyterLab on a free loopback port over a copy of notebook 00, stopped by PID afterwards."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    shutil.copy(ROOT / "notebooks" / "00-prerequisites.ipynb", tmp_path / "00-prerequisites.ipynb")
    kubeconfig = tmp_path / "sim" / "kubeconfig"
    params = tmp_path / "params.yaml"
    params.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: 50\n  kubeconfig: {kubeconfig}\n")
    env = {k: v for k, v in os.environ.items() if k != "AMBIENT_LB_HEADLESS"}
    env["AMBIENT_LB_PARAMS"] = str(params)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")  # no user config
    env["JUPYTERLAB_SETTINGS_DIR"] = str(_quiet_lab_settings(tmp_path / "lab-settings"))
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


def _quiet_lab_settings(directory: Path) -> Path:
    """User settings that switch off the news toast (it covers the page's bottom right)."""
    d = directory / "@jupyterlab" / "apputils-extension"
    d.mkdir(parents=True)
    (d / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return directory


def _await_ready(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    """Wait for Lab's "is running at" log line (event-driven: a reader thread), bounded."""
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if f":{port}/lab" in line:
                ready.set()
    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout):
        raise AssertionError("JupyterLab did not start:\n" + "".join(lines[-30:]))


def test_recheck_button_in_jupyterlab_shows_the_check_result(lab):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-00-prerequisites-recheck.png"
    res = subprocess.run(["node", str(HERE / "run_notebook.mjs"), lab, TOKEN,
                          "00-prerequisites.ipynb", str(shot), shutil.which("chromium") or "",
                          "00.5 The license key"],
                         cwd=HERE, capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    names = [e["event"] for e in events]
    assert names == ["opened", "cells ran", "rechecked", "screenshot"]
    cells = next(e for e in events if e["event"] == "cells ran")
    assert cells["buttons"] >= 5  # one step card per step of notebook 00
    rechecked = next(e for e in events if e["event"] == "rechecked")
    assert rechecked["text"].startswith("00.1 Tools PASS")  # the HTML card, re-rendered
    assert "PASS\tkubectl installed" in rechecked["text"]
    assert shot.stat().st_size > 10_000
