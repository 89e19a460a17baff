"""The whole guide against a strict simulator with the params a kind user writes: one code path.

``ambient-lb sim up --strict`` refuses the simulator's own conveniences (fault annotations are
ignored; Envoy admin listens on loopback only, as everywhere), and the params say ``target: cluster``
with a context and a kubeconfig, as ``params/kind.yaml`` does. The runbook then has nothing but what
a cluster offers: if any step leaned on a simulator-only switch, it fails here. Only the manifests'
source differs from kind.yaml (``manifests: bundled``: this machine has no internet).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.notebooks
KIND = Path(__file__).resolve().parents[2] / "params" / "kind.yaml"
SIM_ONLY = ("fault.ambient-lb.dev", ":15000/proxy", "--kubeconfig")
SIM_ONLY_SINGLE = ("--context ",)


def _sim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def strict_simulator(tmp_path: Path):
    kubeconfig = tmp_path / "kube" / "config"
    # nodes in three zones, as a kind cluster whose nodes carry topology.kubernetes.io/zone (notebook 06)
    up = _sim("up", "--strict", "--kubeconfig", str(kubeconfig), "--seed", "42", "--speed", "20",
              "--topology", "three-zones")
    assert up.returncode == 0, up.stderr
    # notebook 08's two peered clusters, as a kind user names them in multicluster.* (strict as well)
    peered = tmp_path / "kube-two-clusters" / "config"
    try:
        up2 = _sim("up", "--strict", "--topology", "two-clusters", "--kubeconfig", str(peered), "--seed", "42",
                   "--speed", "20")
        assert up2.returncode == 0, up2.stderr
        yield kubeconfig, peered
    finally:
        _sim("down", "--kubeconfig", str(peered), timeout=60)
        _sim("down", "--kubeconfig", str(kubeconfig), timeout=60)


def test_the_whole_guide_passes_on_a_strict_simulator_with_kind_shaped_params(
        strict_simulator: tuple[Path, Path], run_guide, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    kubeconfig, peered = strict_simulator
    for config in (kubeconfig, peered):
        status = _sim("status", "--kubeconfig", str(config))
        assert "strict" in status.stdout, status.stdout
    params = yaml.safe_load(KIND.read_text())
    params["kube"] = {"context": "ambient-lb-sim", "kubeconfig": str(kubeconfig)}
    params["multicluster"] = {"contexts": ["ambient-lb-sim", "ambient-lb-sim-cluster2"], "kubeconfig": str(peered)}
    params["manifests"] = "bundled"
    path = tmp_path / "kind-shaped.yaml"
    path.write_text(yaml.safe_dump(params))
    monkeypatch.setenv("LICENSE_KEY", "strict-test-license-7f3a")
    out = tmp_path / "run"
    assert run_guide(path, out) == 0, (out / "summary.json").read_text()
    summary = json.loads((out / "summary.json").read_text())
    checks = [c for n in summary["notebooks"] for s in n["steps"] for c in s["checks"]]
    assert summary["ok"] and len(checks) >= 40 and all(c["ok"] for c in checks)
    shown = "\n".join(p.read_text() for p in out.glob("*.ipynb"))
    assert not [needle for needle in SIM_ONLY if needle in shown]
    # the guide and its labs name no context; 08 names each of its two clusters on every command, as a
    # kind user types them (kubectl --context kind-cluster2 ...)
    shown_single = "\n".join(p.read_text() for p in out.glob("*.ipynb") if not p.name.startswith("08-"))
    assert not [needle for needle in SIM_ONLY_SINGLE if needle in shown_single]
    assert "strict-test-license-7f3a" not in shown
