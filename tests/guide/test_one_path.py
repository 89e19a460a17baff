"""One path for a real cluster and the simulator: the guide's code may branch on the target only where
it must, and uses nothing a cluster does not offer.

Every ``run.sim`` / ``params.target`` / ``params.sim`` / ``run.simulator`` use in ``lib/ambient_lb/guide/``
must sit in a function listed in ``ALLOWED``, under one of two reasons: starting the simulator (notebook
08's second, two-cluster one included), and
the helm chart stand-in (no chart registry here). Where a manifest comes from is a parameter
(``manifests: bundled|upstream``), not a target branch.
Anything else is a step that would behave differently on a cluster, which is what this test exists to
catch. ``run.speed`` is not a branch: it is read from the cluster (1 on a real one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "lib" / "ambient_lb" / "guide"
START = "starting the simulator"
CHARTS = "the chart stand-in"
CLOCK = "what the cluster says of itself (the simulator's speed; 1 on a real cluster): data, not a branch"
ALLOWED: dict[tuple[str, str], str] = {
    ("prerequisites", "simulator"): START,
    ("prerequisites", "ensure_simulator"): START,
    ("earlier_state", "_sim_up"): START,
    ("run", "Run.sim"): START,
    ("run", "Run.kubeconfig"): START,
    ("run", "Run.__repr__"): START,
    ("prerequisites", "tools"): CHARTS,
    ("prerequisites", "license_key"): CHARTS,
    ("prerequisites", "license_secret"): CHARTS,
    ("install", "kgateway_crds"): CHARTS,
    ("install", "helm"): CHARTS,
    ("run", "Run.speed"): CLOCK,
    # notebook 08: on sim the second cluster-in-a-box (--topology two-clusters) is started, found and
    # stopped here; on a cluster the two contexts come from params. Every step uses only what they give.
    ("two_clusters", "where"): START,
    ("two_clusters", "ensure_second_simulator"): START,
    ("two_clusters", "release_second_simulator"): START,
    # ...and so on sim notebook 08 can always run (it starts that second simulator), while on a cluster
    # it needs the params to name two contexts: ambient-lb run skips it otherwise
    ("two_clusters", "unavailable"): START,
}
SIM_ONLY_STRINGS = ("fault.ambient-lb.dev", ":15000/proxy")


def _branches(path: Path) -> list[tuple[str, int, str]]:
    """(enclosing top-level function or Class.method, line, expression) of every target read."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not where.count("."):
                here = child.name if not where else f"{where}.{child.name}" if where[:1].isupper() else where
            elif isinstance(child, ast.ClassDef) and not where:
                here = child.name
            if isinstance(child, ast.Attribute) and child.attr in ("sim", "target", "simulator"):
                found.append((here, child.lineno, ast.unparse(child)))
            visit(child, here)
    visit(tree, "")
    return found


def _all_branches() -> list[tuple[str, str, int, str]]:
    return [(p.stem, where, line, expr) for p in sorted(GUIDE.glob("*.py")) for where, line, expr in _branches(p)]


def test_the_guide_branches_on_the_target_only_to_start_the_simulator_or_stand_in_for_charts():
    stray = [f"guide/{mod}.py:{line} {expr} in {where}" for mod, where, line, expr in _all_branches()
             if (mod, where) not in ALLOWED]
    assert not stray, "target branches outside the allowed places:\n" + "\n".join(stray)


def test_every_allowed_place_still_branches():
    """An entry nobody needs any more is removed, so the list stays the truth."""
    used = {(mod, where) for mod, where, _, _ in _all_branches()}
    assert set(ALLOWED) <= used, sorted(set(ALLOWED) - used)


@pytest.mark.parametrize("needle", SIM_ONLY_STRINGS)
def test_the_guide_uses_no_simulator_only_switch(needle: str):
    hits = [f"{p.name}:{i}" for p in GUIDE.glob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if needle in line]
    assert not hits, f"{needle} in the guide code (a cluster has no such thing): {hits}"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a guide module, relative ones resolved within ambient_lb."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = {0: "", 1: "ambient_lb.guide.", 2: "ambient_lb."}.get(node.level, "?")
            found.append((node.lineno, base + (node.module or "")))
    return found


def test_the_guide_never_reaches_into_the_simulator():
    """Every step, the outlier lab's counters and clusters included, reads what kubectl and the proxies'
    admin give on any cluster; none imports the simulator to look inside it."""
    hits = [f"guide/{p.name}:{line} {mod}" for p in sorted(GUIDE.glob("*.py")) for line, mod in _imports(p)
            if mod == "ambient_lb.sim" or mod.startswith("ambient_lb.sim.")]
    assert not hits, f"the guide imports the simulator (a cluster has no such thing): {hits}"
    assert any(mod == "ambient_lb.guide.outlier_evidence" for _, mod in _imports(GUIDE / "outlier_lab.py"))
