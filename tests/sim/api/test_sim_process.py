"""`ambient-lb sim up | status | down`: a detached server that outlives its caller, a private
kubeconfig that kubectl uses as is, one server per kubeconfig, and a clean stop."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ambient_lb.sim.process import running_simulator_process

pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", *args], capture_output=True,
                          text=True, timeout=60)


def test_sim_up_status_up_again_and_down(tmp_path: Path):
    kc = tmp_path / "kc" / "kubeconfig"
    r = cli("up", "--kubeconfig", str(kc), "--seed", "3", "--speed", "20")
    try:
        assert r.returncode == 0, r.stderr
        assert "cluster-in-a-box started at https://127.0.0.1:" in r.stdout
        assert f"export KUBECONFIG={kc}" in r.stdout
        assert stat.S_IMODE(kc.stat().st_mode) == 0o600
        out = subprocess.run(["kubectl", "--kubeconfig", str(kc), "--cache-dir", str(tmp_path / "cache"),
                              "get", "ns", "default", "-o", "name"], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "namespace/default", out.stderr
        again = cli("up", "--kubeconfig", str(kc))
        assert "already running" in again.stdout
        status = cli("status", "--kubeconfig", str(kc))
        assert status.returncode == 0 and "seed 3, speed 20.0" in status.stdout
    finally:
        down = cli("down", "--kubeconfig", str(kc))
    assert down.stdout.strip() == "cluster-in-a-box stopped"
    assert cli("status", "--kubeconfig", str(kc)).returncode == 1
    assert not kc.exists()


def test_token_never_appears_in_the_server_command_line(tmp_path: Path):
    with running_simulator_process(seed=1, workdir=tmp_path) as sim:
        cmdline = Path(f"/proc/{sim.pid}/cmdline").read_bytes().decode()
        assert sim.token and sim.token not in cmdline
        assert "--token-file" in cmdline
    proc = Path(f"/proc/{sim.pid}")
    assert not proc.exists() or b"ambient_lb.sim" not in (proc / "cmdline").read_bytes()


def test_bad_topology_path_is_a_parameter_error(tmp_path: Path):
    r = cli("up", "--kubeconfig", str(tmp_path / "kc"), "--topology", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2, r.stderr
    assert "missing.yaml" in r.stderr and "cannot read the file" in r.stderr
    assert "three-zones" in r.stderr  # names the built-in topologies as examples
    assert not (tmp_path / "kc").exists()  # nothing started, no kubeconfig written


def test_sim_up_takes_a_built_in_topology_by_name(tmp_path: Path):
    kc = tmp_path / "kc" / "kubeconfig"
    r = cli("up", "--kubeconfig", str(kc), "--speed", "20", "--topology", "three-zones")
    try:
        assert r.returncode == 0, r.stderr
        out = subprocess.run(["kubectl", "--kubeconfig", str(kc), "--cache-dir", str(tmp_path / "cache"),
                              "get", "nodes", "-o",
                              "jsonpath={.items[*].metadata.labels.topology\\.kubernetes\\.io/zone}"],
                             capture_output=True, text=True, timeout=60)
        assert len(set(out.stdout.split())) == 3, (out.stdout, out.stderr)
    finally:
        cli("down", "--kubeconfig", str(kc))


def cli_at_home(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_a_multi_cluster_topology_has_its_own_default_kubeconfig_found_again_by_topology(tmp_path: Path):
    """``sim up --topology two-clusters`` runs beside the main simulator without a --kubeconfig a person
    would have to type: its own home, named for the topology; down and status take the same flag."""
    own = tmp_path / ".ambient-lb" / "sim-two-clusters" / "kubeconfig"
    main = cli_at_home(tmp_path, "up", "--speed", "20")
    try:
        assert main.returncode == 0, main.stderr
        assert "stop it with: ambient-lb sim down)" in main.stdout
        r = cli_at_home(tmp_path, "up", "--topology", "two-clusters", "--speed", "20")
        assert r.returncode == 0, r.stderr
        assert "cluster-in-a-box started" in r.stdout  # not the main one "already running"
        assert "export KUBECONFIG=~/.ambient-lb/sim-two-clusters/kubeconfig" in r.stdout
        assert "stop it with: ambient-lb sim down --topology two-clusters)" in r.stdout
        assert own.exists() and (tmp_path / ".ambient-lb" / "sim" / "kubeconfig").exists()
        status = cli_at_home(tmp_path, "status", "--topology", "two-clusters")
        assert status.returncode == 0 and "context ambient-lb-sim-cluster2" in status.stdout, status.stdout
    finally:
        down = cli_at_home(tmp_path, "down", "--topology", "two-clusters")
        cli_at_home(tmp_path, "down")
    assert down.stdout.strip() == "cluster-in-a-box stopped" and not own.exists()
    gone = cli_at_home(tmp_path, "status", "--topology", "two-clusters")
    assert gone.returncode == 1
    assert gone.stdout.strip() == ("no cluster-in-a-box is running for ~/.ambient-lb/sim-two-clusters/kubeconfig; "
                                   "start one with: ambient-lb sim up --topology two-clusters")


def test_a_one_cluster_topology_keeps_the_default_kubeconfig(tmp_path: Path):
    r = cli_at_home(tmp_path, "status", "--topology", "three-zones")
    assert r.stdout.startswith("no cluster-in-a-box is running for ~/.ambient-lb/sim/kubeconfig;"), r.stdout


def test_bad_speed_is_refused_with_an_example(tmp_path: Path):
    r = cli("up", "--kubeconfig", str(tmp_path / "kc"), "--speed", "0")
    assert r.returncode == 2 and "--speed must be > 0" in r.stderr


def test_sim_up_refuses_to_overwrite_a_foreign_kubeconfig(tmp_path: Path):
    kc = tmp_path / "config"
    kc.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: prod\n  context: {cluster: prod}\n")
    r = cli("up", "--kubeconfig", str(kc))
    assert r.returncode == 2 and "is not a simulator kubeconfig" in r.stderr
    assert "prod" in kc.read_text()


def test_a_test_started_server_stops_when_its_parent_process_exits(tmp_path: Path):
    """``--exit-with-pid``: a server started for a test cannot outlive the test run, even when the
    process that started it is killed before it can say ``sim down``."""
    import json
    import os
    import signal

    kc = tmp_path / "kc" / "kubeconfig"
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, pathlib; from ambient_lb.sim.process import start_background;"
         f"sim, _ = start_background(pathlib.Path({str(kc)!r}), speed=20, exit_with_pid=os.getpid());"
         "print(sim.pid, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(parent.stdout.readline())
        assert cli("status", "--kubeconfig", str(kc)).returncode == 0
        parent.send_signal(signal.SIGKILL)  # no teardown runs
        parent.wait(timeout=30)
        pidfd = os.pidfd_open(server_pid)  # wait for the server's exit (event-driven, bounded)
        import select
        assert select.select([pidfd], [], [], 30)[0], "the server did not stop after its parent died"
        os.close(pidfd)
    finally:
        if parent.poll() is None:
            parent.kill()
        state = kc.parent / ".kubeconfig.sim" / "state.json"
        if state.exists():
            pid = json.loads(state.read_text())["pid"]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sim_up_strict_shows_in_status_and_in_the_cluster(tmp_path: Path):
    """``sim up --strict``: the state and ``sim status`` say so, and so does the cluster itself
    (kube-public/ambient-lb-simulator, which any client can read)."""
    kc = tmp_path / "kc" / "kubeconfig"
    r = cli("up", "--kubeconfig", str(kc), "--strict", "--seed", "5", "--speed", "10", "--topology", "three-zones")
    try:
        assert r.returncode == 0, r.stderr
        assert "seed 5, speed 10.0, strict" in cli("status", "--kubeconfig", str(kc)).stdout
        out = subprocess.run(["kubectl", "--kubeconfig", str(kc), "--cache-dir", str(tmp_path / "cache"), "get",
                              "configmap", "-n", "kube-public", "ambient-lb-simulator", "-o", "jsonpath={.data}"],
                             capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout) == {"seed": "5", "speed": "10", "strict": "true", "topology": "three-zones"}
    finally:
        cli("down", "--kubeconfig", str(kc))
