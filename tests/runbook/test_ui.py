"""ui.py: running the cell is the step; headless shows results and creates no widgets."""

from __future__ import annotations

import pytest

from ambient_lb import ui
from ambient_lb.checks import StepResult, check
from ambient_lb.errors import CheckFailed


@pytest.fixture
def shown(monkeypatch):
    seen: list = []
    monkeypatch.setattr(ui, "_display", seen.append)
    return seen


def ok_step(**_: object) -> StepResult:
    return StepResult("01.1", "ok", checks=[check("fine", True, "yes")])


def test_headless_displays_the_result_and_no_widget(shown, monkeypatch):
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")
    r = ui.step(ok_step)
    assert r.ok and shown == [r]


def test_a_failed_step_is_shown_then_raises_naming_the_check(shown, monkeypatch):
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", "1")
    bad = StepResult("02.3", "Route", checks=[check("HTTPRoute Accepted", False, "no parent",
                                                    hint="kubectl describe httproute")])
    with pytest.raises(CheckFailed) as err:
        ui.step(lambda: bad)
    assert shown == [bad]
    assert "HTTPRoute Accepted: no parent" in str(err.value)
    assert "kubectl describe httproute" in str(err.value)


def test_interactive_mode_adds_a_card_whose_recheck_runs_the_check(shown, monkeypatch):
    monkeypatch.delenv("AMBIENT_LB_HEADLESS", raising=False)
    calls: list[str] = []

    def recheck(**_: object) -> StepResult:
        calls.append("recheck")
        return ok_step()
    ui.step(ok_step, recheck=recheck)
    card = shown[-1]
    assert type(card).__name__ == "VBox"
    recheck_button = card.children[0].children[0]
    assert recheck_button.description == "Re-check"
    recheck_button.click()
    assert calls == ["recheck"]
    assert "PASS" in card.children[0].children[2].value


def test_sliders_pass_their_values_to_run(shown, monkeypatch):
    monkeypatch.delenv("AMBIENT_LB_HEADLESS", raising=False)
    got: list[dict] = []

    def run(**kw: object) -> StepResult:
        got.append(kw)
        return ok_step()
    ui.step(run, knobs={"requests": (1, 100, 9)})
    card = shown[-1]
    slider = card.children[1]
    slider.value = 30
    card.children[0].children[1].click()  # "Run step again"
    assert got == [{}, {"requests": 30}]


@pytest.mark.parametrize("value,expected", [("1", False), ("true", False), ("", True), ("0", True)])
def test_headless_variable_decides_the_mode(monkeypatch, value, expected):
    monkeypatch.setenv("AMBIENT_LB_HEADLESS", value)
    assert ui.is_interactive() is expected
    assert ui.is_interactive(True) is True
