"""The import layers (pyproject.toml ``[tool.importlinter]``, README "Layers"), checked by import-linter.

``lint-imports`` must keep every contract on the project as it is, and each contract must break when an
import it forbids is added to a copy of the package, so the check cannot pass because a contract
matches nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``root/pyproject.toml`` on the ``ambient_lb`` package in ``root/lib``."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]', or make test)")
    env = {**os.environ, "PYTHONPATH": str(root / "lib")}
    argv = [str(LINT_IMPORTS), "--no-cache", "--no-logo", *(f"--contract={c}" for c in contracts)]
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_project_keeps_every_import_contract() -> None:
    res = lint_imports(REPO)
    assert res.returncode == 0, f"lint-imports exited {res.returncode}:\n{res.stdout}{res.stderr}"
    assert "6 kept, 0 broken" in res.stdout, res.stdout


# (contract id, module file under lib/ambient_lb, the import added to it, what the contract says)
VIOLATIONS = [
    ("seam", "guide/cluster.py", "from ..sim import process",
     "The runbook reaches the simulator only through ambient_lb.simulator"),
    ("sim-alone", "sim/store.py", "from .. import shell",
     "The simulator imports nothing of the runbook but ambient_lb.errors"),
    ("sim-server", "sim/store.py", "import kubernetes",
     "The simulator is a server: it never imports the kubernetes client"),
    ("model", "sim/mesh/model/hosts.py", "from .. import objects",
     "The data-plane model (ambient_lb.sim.mesh.model) imports only the clock"),
    ("no-cycles", "sim/patch/rules.py", "from . import schema",
     "No import cycles: in each package, siblings depend on each other one way"),
    ("layers", "errors.py", "from . import shell",
     "Layers, top to bottom: CLI, runners, guide, library, seam, simulator, errors"),
]


@pytest.mark.slow  # a copy of the package and lint-imports twice per contract; the check above is in test-fast
@pytest.mark.parametrize("contract, module, line, name", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, contract: str, module: str, line: str,
                                                name: str) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "lib" / "ambient_lb"
    shutil.copytree(REPO / "lib" / "ambient_lb", package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))

    kept = lint_imports(tmp_path, contract)  # the copy keeps it before the import is added
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert f"{name} KEPT" in " ".join(kept.stdout.split()), kept.stdout

    target = package / module
    target.write_text(target.read_text() + f"\n{line}\n")
    broken = lint_imports(tmp_path, contract)
    out = " ".join(broken.stdout.split())  # rich wraps long contract names
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"{name} BROKEN" in out, broken.stdout
    assert "1 broken" in out, broken.stdout
