"""What ``ambient-lb sim up`` leaves on the machine: listeners on loopback only (every API server of a
two-cluster topology), and a kubeconfig, token, TLS key and state file only their owner can read, in a
directory only the owner can enter; the runbook's helm values file is 0600 and gone after helm ran."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ambient_lb.guide.install import values_file
from ambient_lb.sim.__main__ import parse as serve_args
from ambient_lb.sim.kubeconfig import write_private
from ambient_lb.sim.process import Simulator, start_background, stop_background

from .checks import exposed, listening, loose_modes


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Path]]:
    """``sim up --topology two-clusters`` with its kubeconfig in a directory that does not exist yet,
    next to a state directory someone left open (0755) before."""
    home = tmp_path_factory.mktemp("home")
    kubeconfig = home / ".ambient-lb" / "sim-two-clusters" / "kubeconfig"
    state = kubeconfig.parent / ".kubeconfig.sim"
    state.mkdir(parents=True, mode=0o755)
    os.chmod(kubeconfig.parent, 0o755)
    os.chmod(state, 0o755)
    sim, started = start_background(kubeconfig, seed=3, speed=20, topology="two-clusters")
    assert started
    try:
        yield sim, kubeconfig
    finally:
        stop_background(kubeconfig)


def test_every_api_server_of_a_two_cluster_simulator_listens_on_loopback_only(two_clusters) -> None:
    sim, _ = two_clusters
    assert sim.pid is not None
    listeners = listening(sim.pid)
    ports = {port for _, port in listeners}
    assert len(sim.contexts) == 2 and {int(url.rsplit(":", 1)[1]) for url in sim.contexts.values()} <= ports
    assert exposed(listeners) == []


def test_sim_up_writes_its_secrets_0600_in_a_0700_directory(two_clusters) -> None:
    sim, kubeconfig = two_clusters
    state = kubeconfig.parent / ".kubeconfig.sim"
    secrets = [kubeconfig, state / "token", state / "tls.key", state / "state.json"]
    assert sim.token in (state / "token").read_text() and b"PRIVATE KEY" in (state / "tls.key").read_bytes()
    assert loose_modes(secrets, dirs=[state]) == []


def test_a_state_directory_left_open_is_tightened_and_a_new_kubeconfig_directory_is_private(
        two_clusters, tmp_path: Path) -> None:
    """The fixture made both 0755 before ``sim up``: the state directory (token, key) is 0700 now. The
    kubeconfig's own directory existed, so it is left alone; one ``sim up`` creates is 0700."""
    _, kubeconfig = two_clusters
    assert stat.S_IMODE((kubeconfig.parent / ".kubeconfig.sim").stat().st_mode) == 0o700
    fresh = tmp_path / "new" / "kubeconfig"
    write_private(fresh, "{}\n")
    assert loose_modes([fresh], dirs=[fresh.parent]) == []


def test_serve_refuses_an_address_off_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(SystemExit) as exc:
            serve_args(["serve", "--host", host])
        assert exc.value.code == 2
        assert "loopback addresses only (127.0.0.0/8), e.g. --host 127.0.0.1" in capsys.readouterr().err
    assert serve_args(["serve", "--host", "127.0.0.9"]).host == "127.0.0.9"


def test_the_kgateway_values_file_is_0600_private_and_removed_after_helm() -> None:
    run = SimpleNamespace(run_id="t", params=SimpleNamespace(kgateway=SimpleNamespace(istio_integration=True)))
    with values_file(run) as path:
        assert loose_modes([path], dirs=[path.parent]) == []
        assert path.parent != Path(tempfile.gettempdir()) / f"ambient-lb-{os.getuid()}-t"  # not a guessable name
        assert "KGW_ENABLE_ISTIO_INTEGRATION: true" in path.read_text()
    assert not path.exists() and not path.parent.exists()


# -- the checks can fail -------------------------------------------------------------------------


def test_the_listener_check_sees_real_sockets_and_reports_any_address_off_loopback() -> None:
    """Broken on purpose, without opening the machine: the reader sees this process's own loopback
    listener, and the classifier reports 0.0.0.0, :: and a LAN address (a server must never bind them)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert ("127.0.0.1", s.getsockname()[1]) in listening(os.getpid())
    assert exposed([("0.0.0.0", 6443), ("::", 6443), ("192.0.2.10", 8080)]) == [
        "0.0.0.0:6443", ":::6443", "192.0.2.10:8080"]
    assert exposed([("127.0.0.1", 1), ("127.0.7.9", 8080), ("::1", 2)]) == []


def test_the_mode_check_reports_a_kubeconfig_others_can_read(tmp_path: Path) -> None:
    """Broken on purpose: a kubeconfig written 0644 in a 0755 directory."""
    kubeconfig = tmp_path / "open" / "kubeconfig"
    kubeconfig.parent.mkdir(mode=0o755)
    os.chmod(kubeconfig.parent, 0o755)
    kubeconfig.write_text("{}\n")
    os.chmod(kubeconfig, 0o644)
    assert loose_modes([kubeconfig], dirs=[kubeconfig.parent]) == [
        f"{kubeconfig} is 0o644, expected 0o600", f"{kubeconfig.parent} is 0o755, expected 0o700"]
