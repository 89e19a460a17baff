"""Every drill of ``drills.DRILLS`` against the simulator: the step survives or fails with its reason,
never hangs; and with its behaviour sabotaged, the same drill notices (every drill can fail)."""

from __future__ import annotations

import shutil

import pytest

from .drills import DRILLS, HUNG, OTHER, RIGHT, SURVIVED, UNEXPECTED, Drill, Env, expected, perform

pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]


@pytest.mark.parametrize("drill", DRILLS, ids=lambda d: d.id)
def test_the_runbook_keeps_its_word(drill: Drill, env: Env, record_property: pytest.FixtureRequest) -> None:
    outcome = perform(drill, env)
    record_property("drill", outcome.verdict)
    assert outcome.verdict == expected(drill), (
        f"{drill.name}: {outcome.verdict} after {outcome.seconds:.1f} s, want {expected(drill)}\n{outcome.text}")


SABOTAGED = [d for d in DRILLS if d.sabotage or d.sabotaged_params]


@pytest.mark.parametrize("drill", SABOTAGED, ids=lambda d: d.id)
def test_the_drill_notices_when_its_behaviour_is_broken(drill: Drill, env: Env) -> None:
    outcome = perform(drill, env, sabotaged=True)
    assert outcome.verdict != expected(drill), f"{drill.name}: still {outcome.verdict} when sabotaged"
    if drill.within < 60 and drill.sabotaged_params:
        assert outcome.verdict == HUNG  # the bound taken away: the step would wait as long as the fault lasts


def test_every_drill_can_fail() -> None:
    assert [d.name for d in DRILLS if not (d.sabotage or d.sabotaged_params)] == []


def test_a_drill_that_hangs_is_reported_hung(env: Env) -> None:
    """The hang detector itself: a step held past ``within`` is HUNG, not passed or failed."""
    stuck = Drill("held", "http_route", faults=({"kind": "pause", "seconds": 5},), within=1)
    assert perform(stuck, env).verdict == HUNG
    assert perform(Drill("fine", "http_route"), env).verdict == SURVIVED


def test_the_printed_figures_name_every_verdict() -> None:
    """tests/conftest.py prints the figures from its own copy of the verdicts (the xdist controller never
    imports the drills): the two must agree."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("top_conftest", Path(__file__).parents[1] / "conftest.py")
    assert spec is not None and spec.loader is not None
    top = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(top)
    assert top.DRILL_VERDICTS == (SURVIVED, RIGHT, OTHER, UNEXPECTED, HUNG)
