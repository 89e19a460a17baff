"""environment.yml and pyproject.toml name the same runtime dependencies, so they never drift."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"python-kubernetes": "kubernetes"}  # conda-forge's names that differ from PyPI's
NOT_PACKAGES = {"python", "pip"}


def normalise(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_names() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = {normalise(d) for d in env["dependencies"] if isinstance(d, str)}
    return {CONDA_TO_PYPI.get(n, n) for n in names} - NOT_PACKAGES


def pyproject_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {normalise(d) for d in project["dependencies"]}


def test_environment_yml_and_pyproject_list_the_same_dependencies() -> None:
    assert conda_names() == pyproject_names()


def test_environment_yml_uses_conda_forge_python_311_and_installs_the_project() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-e .[test]"]


def test_normalise_handles_extras_markers_and_separators() -> None:
    assert normalise("Jsonpath_NG[all]>=1.6; python_version>'3'") == "jsonpath-ng"
