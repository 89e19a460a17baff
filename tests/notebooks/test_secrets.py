"""The license key never leaves the environment (a canary key, every output scanned)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks
CANARY = "CANARY-LICENSE-7f3a9c2e51"


def _cluster_holds(params: Path, value: str) -> bool:
    """The key did reach helm's chart (a Secret in kgateway-system), so the scans mean something."""
    import base64

    from ambient_lb import guide

    run = guide.open_run(str(params), "t")
    secrets = run.kube.items("secrets", run.params.namespaces.kgateway)
    encoded = base64.b64encode(value.encode()).decode()
    return any(encoded in str((s.get("data") or {}).values()) or value in str(s.get("stringData"))
               for s in secrets)


def _readable(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError:
        return b""


def test_the_license_key_never_leaves_the_environment(sim_params, run_guide, tmp_path, monkeypatch,
                                                      capfd):
    """With a canary key set, install kgateway (01, which hands the key to helm); then no executed
    notebook, its metadata, the summary, the params or any simulator file holds it, and no
    process has it on its command line."""
    monkeypatch.setenv("LICENSE_KEY", CANARY)
    out = tmp_path / "run"
    assert run_guide(sim_params, out, "--only", "01") == 0
    files = [p for p in [*out.rglob("*"), *(tmp_path / "sim").rglob("*")] if p.is_file()]
    assert len(files) >= 4
    assert [str(p) for p in files if CANARY.encode() in p.read_bytes()] == []
    cmdlines = [_readable(p) for p in Path("/proc").glob("[0-9]*/cmdline")]
    assert not any(CANARY.encode() in c for c in cmdlines)
    assert _cluster_holds(sim_params, CANARY), "the key never reached the (simulated) cluster"
    printed = capfd.readouterr()  # the runner's and the kernels' own output
    assert CANARY not in printed.out and CANARY not in printed.err
    history = Path("~/.ipython/profile_default/history.sqlite").expanduser()
    assert not history.exists() or CANARY.encode() not in history.read_bytes()
