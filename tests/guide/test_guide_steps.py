"""guide steps that need no cluster: the license rules and the parameters of a notebook run."""

from __future__ import annotations

import pytest

from ambient_lb import guide
from ambient_lb.errors import CheckFailed, ParameterError

CLUSTER = {"target": "cluster", "kube__context": "kind-ambient"}


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")


def test_on_a_cluster_a_missing_license_key_stops_with_what_to_do(monkeypatch):
    monkeypatch.delenv("LICENSE_KEY", raising=False)
    run = guide.open_run("", "t", **CLUSTER)
    with pytest.raises(CheckFailed, match="license key available: \\$LICENSE_KEY is not set.*"
                                          "export LICENSE_KEY=<license-key>"):
        guide.license_key(run)


def test_on_the_simulator_the_demo_key_is_used_and_said_so(monkeypatch):
    monkeypatch.delenv("LICENSE_KEY", raising=False)
    run = guide.open_run("", "t")
    guide.license_key(run)
    result = run.results[-1]
    assert result.ok and "demo key" in result.checks[0].detail
    assert any("demo key" in n for n in result.notes)


def test_the_key_value_is_never_shown(monkeypatch):
    monkeypatch.setenv("MY_KEY", "VERY-SECRET-123")
    run = guide.open_run("", "t", license__env_var="MY_KEY", **CLUSTER)
    guide.license_key(run)
    assert "VERY-SECRET-123" not in repr(run.results[-1])
    assert "VERY-SECRET-123" not in run.results[-1]._repr_html_()


def test_interactive_parameter_is_checked():
    with pytest.raises(ParameterError, match="interactive='maybe'"):
        guide.open_run("", "t", "maybe")


def test_params_file_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text("app:\n  replicas: 5\n")
    monkeypatch.setenv("AMBIENT_LB_PARAMS", str(path))
    assert guide.open_run().params.app.replicas == 5
