"""JupyterLab for the browser tests: a server on a free loopback port over a directory of notebooks,
interactive (no AMBIENT_LB_HEADLESS), its own simulator, stopped afterwards (Lab by process group, the
simulator with ``sim down``). Needs Debian's ``chromium`` and ``npm ci`` in tests/browser
(playwright-core, no browser download); :func:`missing` says what is absent, for a skip reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "ambient-lb-browser-test"


def missing() -> str | None:
    if not shutil.which("chromium"):
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    if not shutil.which("node"):
        return "node is not installed (apt-get install -y nodejs npm)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/browser && npm ci)"
    return None


@contextlib.contextmanager
def running_lab(root: Path) -> Iterator[str]:
    """JupyterLab serving ``root`` (which holds the notebooks), with a params file that starts a private
    simulator at speed 50; yields Lab's base URL."""
    kubeconfig = root / "sim" / "kubeconfig"
    params = root / "params.yaml"
    params.write_text(f"target: sim\nsim:\n  seed: 42\n  speed: 50\n  kubeconfig: {kubeconfig}\n")
    env = {k: v for k, v in os.environ.items() if k != "AMBIENT_LB_HEADLESS"}
    env.update(AMBIENT_LB_PARAMS=str(params), JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),  # no user config
               JUPYTERLAB_SETTINGS_DIR=str(_quiet_lab_settings(root / "lab-settings")))
    port = _free_port()
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
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


def run_script(script: str, *args: str, timeout: float) -> list[dict]:
    """``node <script> <args…>`` in tests/browser; the JSON event lines it printed (asserts it passed)."""
    res = subprocess.run(["node", str(HERE / script), *args], cwd=HERE, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
