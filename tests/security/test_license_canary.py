"""The license key stays in the environment of the runbook's own processes: a unique canary key goes
through a workshop run of notebook 01 (which hands it to helm's stand-in, so it reaches the cluster), and
while it runs every process on the machine is sampled (``/proc/*/cmdline``, ``/proc/*/environ``) and
every kubectl call goes through a spy that records its argv and environment.

Then: the canary is on no command line; in the environment of no process but ``ambient-lb run`` and its
notebook kernels (kubectl, ``ambient-lb sim up``, the simulator server, ``kubectl port-forward`` never
get it); in no file the run wrote (executed notebooks, summaries, run.log, the simulator's log and
files, the workshop report, temporary files) and not in what the workshop printed. The simulator the
run started, and kubectl port-forward, listen on loopback only.

tests/notebooks/test_secrets.py checks a plain ``ambient-lb run`` the same way for files and argv.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from ambient_lb import cli, shell
from ambient_lb.kube import Kube

from .checks import ProcessSampler, canary_leaks, exposed, files_holding, install_spy, is_runbook, listening, spy_leaks

KUBECTL = shutil.which("kubectl")
pytestmark = [pytest.mark.notebooks, pytest.mark.kubectl,
              pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]


@dataclass
class CanaryRun:
    canary: bytes
    root: Path
    out: Path
    spies: Path
    spy_log: Path
    sampler: ProcessSampler
    printed: str
    code: int

    @property
    def kubeconfig(self) -> Path:
        return self.out / "attendee-01" / "sim" / "kubeconfig"

    def kube(self) -> Kube:
        return Kube("ambient-lb-sim", self.kubeconfig)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryRun]:
    """``ambient-lb workshop --attendees 1 --only 01 --keep-simulators`` with LICENSE_KEY a fresh canary,
    a private HOME and TMPDIR, and a kubectl spy first on PATH; sampled from start to end."""
    root = tmp_path_factory.mktemp("canary")
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    spies, home, tmp = root / "spies", root / "home", root / "tmp"
    for d in (spies, home, tmp):
        d.mkdir()
    assert KUBECTL is not None
    install_spy("kubectl", KUBECTL, spies, canary, spies / "kubectl.log")
    params = root / "params.yaml"
    params.write_text("target: sim\nsim:\n  seed: 42\n  speed: 10\n")
    out = root / "room"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LICENSE_KEY", canary.decode())
        mp.setenv("HOME", str(home))
        mp.setenv("TMPDIR", str(tmp))
        mp.setenv("PATH", f"{spies}{os.pathsep}{os.environ['PATH']}")
        with ProcessSampler(canary) as sampler, contextlib.redirect_stdout(printed):
            code = cli.main(["workshop", "--attendees", "1", "--only", "01", "--params", str(params), "--out", str(out),
                             "--keep-simulators"])
        record = CanaryRun(canary, root, out, spies, spies / "kubectl.log", sampler, printed.getvalue(), code)
        try:
            yield record
        finally:
            cli.main(["sim", "down", "--kubeconfig", str(record.kubeconfig)])


def test_the_run_passed_and_the_canary_reached_the_cluster(run: CanaryRun) -> None:
    """The scans below mean something: notebook 01 passed and the key is in kgateway's Secret."""
    assert run.code == 0, (run.out / "attendee-01" / "run.log").read_text()[-3000:]
    secrets = run.kube().kubectl("get", "secrets", "-n", "kgateway-system", "-o", "json").stdout
    encoded = base64.b64encode(run.canary).decode()
    assert any(encoded in json.dumps(s.get("data") or {}) for s in json.loads(secrets)["items"])


def test_no_process_had_the_canary_on_its_command_line_or_a_tool_in_its_environment(run: CanaryRun) -> None:
    seen = list(run.sampler.seen.values())
    assert canary_leaks(seen) == []
    # what was sampled: the tools, the simulator server, and the runbook's processes that do hold the key
    assert run.sampler.named("kubectl") and run.sampler.named("ambient_lb.sim")
    assert any(s.environ_holds and is_runbook(s.argv) for s in seen), "the sampler never saw the key in a kernel"
    server = [s for s in run.sampler.named("ambient_lb.sim") if "serve" in s.argv]
    assert server and not any(s.environ_holds for s in server)


def test_every_kubectl_call_of_the_run_was_clean(run: CanaryRun) -> None:
    calls, leaks = spy_leaks(run.spy_log)
    assert calls >= 10 and leaks == []


def test_no_file_the_run_wrote_holds_the_canary(run: CanaryRun) -> None:
    attendee = run.out / "attendee-01"
    written = {p.name for p in run.root.rglob("*") if p.is_file()}
    assert {"01-install-kgateway.ipynb", "summary.json", "summary.html", "run.log", "report.html", "server.log",
            "kubeconfig", "state.json"} <= written, sorted(written)
    assert (attendee / "01-install-kgateway.ipynb").stat().st_size > 10_000
    assert files_holding(run.canary, run.root, skip=[run.spies]) == []


def test_the_workshop_report_and_printout_never_show_it(run: CanaryRun) -> None:
    assert "attendee-01" in run.printed and "report:" in run.printed
    assert run.canary.decode() not in run.printed
    assert run.canary not in (run.out / "report.html").read_bytes()


def test_the_simulator_the_run_started_listens_on_loopback_only_gateway_included(run: CanaryRun) -> None:
    state = json.loads((run.kubeconfig.parent / ".kubeconfig.sim" / "state.json").read_text())
    listeners = listening(int(state["pid"]))
    assert len(listeners) >= 2, listeners  # the API server and the Gateway's listener
    assert any(not ip.startswith("127.0.0.1") for ip, _ in listeners), listeners  # the gateway's 127.0.x.y
    assert exposed(listeners) == []


def test_kubectl_port_forward_listens_on_loopback_only_and_never_gets_the_key(run: CanaryRun) -> None:
    with ProcessSampler(run.canary) as sampler:
        with run.kube().port_forward("deployment/http", 0, 19000, namespace="kgateway-system") as address:
            forwarders = [p for p in psutil.Process().children(recursive=True)
                          if "port-forward" in " ".join(p.cmdline())]
            listeners = [pair for p in forwarders for pair in listening(p.pid)]
    assert address.startswith("127.0.0.1:") and listeners
    assert exposed(listeners) == []
    assert sampler.named("port-forward") and canary_leaks(sampler.seen.values()) == []


# -- the checks can fail -------------------------------------------------------------------------


def test_the_sampler_catches_the_canary_on_argv_and_in_a_tool_environment(tmp_path: Path) -> None:
    """Broken on purpose: one child with the canary on its command line, one with it in its environment."""
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    wait = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    with ProcessSampler(canary) as sampler:
        on_argv = subprocess.Popen([*wait, "--license", canary.decode()], stdin=subprocess.PIPE)
        in_env = subprocess.Popen(wait, stdin=subprocess.PIPE, env={**os.environ, "LICENSE_KEY": canary.decode()})
        while not {on_argv.pid, in_env.pid} <= {s.pid for s in sampler.seen.values()}:
            sampler.sample()
    for p in (on_argv, in_env):
        p.communicate(b"", timeout=10)
    leaks = canary_leaks(sampler.seen.values())
    assert any(f"pid {on_argv.pid} has it on its command line" in x for x in leaks), leaks
    assert any(f"pid {in_env.pid} has it in its environment" in x for x in leaks), leaks


def test_without_withholding_the_key_kubectl_gets_it_and_the_spy_says_so(run: CanaryRun, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: shell passes the whole environment again (no WITHHELD); the spy reports it."""
    assert KUBECTL is not None
    install_spy("kubectl", KUBECTL, tmp_path, run.canary, tmp_path / "kubectl.log")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LICENSE_KEY", run.canary.decode())
    monkeypatch.setattr(shell, "WITHHELD", set())
    run.kube().kubectl("get", "namespaces", "-o", "name")
    calls, leaks = spy_leaks(tmp_path / "kubectl.log")
    assert calls == 1 and len(leaks) == 1 and "environment" in leaks[0]


def test_the_file_scan_finds_the_canary_in_a_notebook_output(tmp_path: Path) -> None:
    """Broken on purpose: an executed notebook that printed the key."""
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    notebook = tmp_path / "run" / "01-install.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(json.dumps({"cells": [{"outputs": [{"text": f"key: {canary.decode()}"}]}]}))
    (tmp_path / "run" / "summary.json").write_text("{}")
    assert files_holding(canary, tmp_path) == [str(notebook)]
