"""The soak's verdicts (benchmarks/bench_soak.py) on made-up figures: each check fails when it should.

The soak itself is `make bench` (a minute of load); these check, in milliseconds, that its verdicts
tell an injected 5xx from a stray one, an error of the client a fault aimed at from any other, a flat
RSS from a growing one, and that a run too short to see past the filling buffers is not passed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_soak.py"
AIMED = "client-apply-0"  # the client an injected API fault aims at


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def gateway_run(fivexx: list[tuple[float, int]], errors: dict[str, int] | None = None) -> dict[str, Any]:
    return {"fivexx": fivexx, "errors": errors or {}}


def injection(soak: ModuleType, declared: bool) -> Any:
    inj = soak.Injection(declared=declared)
    inj.pod_windows.append((10.0, 13.0))
    inj.api_client, inj.api_count = AIMED, 3
    return inj


def test_a_gateway_5xx_with_no_injection_fails_the_soak(soak: ModuleType) -> None:
    failures, seen = soak.gateway_failures("soak", gateway_run([(5.0, 503)]), None)
    assert seen == 0
    assert failures == ["gateway (soak): 5xx that no fault injected: {'503': 1}"]


def test_gateway_5xx_inside_the_declared_window_are_counted_as_injected(soak: ModuleType) -> None:
    failures, seen = soak.gateway_failures("soak", gateway_run([(10.5, 503), (12.9, 503)]), injection(soak, True))
    assert (failures, seen) == ([], 2)


def test_a_gateway_5xx_outside_the_declared_window_fails(soak: ModuleType) -> None:
    failures, seen = soak.gateway_failures("soak", gateway_run([(10.5, 503), (20.0, 500)]), injection(soak, True))
    assert seen == 1
    assert failures == ["gateway (soak): 5xx that no fault injected: {'500': 1}"]


def test_undeclared_faults_make_every_gateway_5xx_a_failure(soak: ModuleType) -> None:
    failures, seen = soak.gateway_failures("soak", gateway_run([(10.5, 503)]), injection(soak, False))
    assert seen == 0 and len(failures) == 1


def test_a_gateway_connection_error_fails_the_soak(soak: ModuleType) -> None:
    failures, _ = soak.gateway_failures("soak", gateway_run([], {"ServerDisconnectedError: x": 2}), None)
    assert failures == ["gateway (soak): client errors: {'ServerDisconnectedError: x': 2}"]


def api_error(client: str, status: int | None) -> dict[str, Any]:
    return {"client": client, "t": 11.0, "status": status, "text": f"HTTP {status}"}


def test_api_503s_of_the_aimed_client_up_to_the_injected_count_pass(soak: ModuleType) -> None:
    errors = [api_error(AIMED, 503)] * 3
    assert soak.api_failures(errors, injection(soak, True)) == ([], 3)


def test_api_errors_beyond_the_injected_count_or_of_another_client_fail(soak: ModuleType) -> None:
    errors = [api_error(AIMED, 503)] * 4 + [api_error("client-list-0", 503),
                                                         api_error(AIMED, 500)]
    failures, seen = soak.api_failures(errors, injection(soak, True))
    assert seen == 3
    assert [f.split(":")[0] for f in failures] == [f"API client error ({AIMED})",
                                                   "API client error (client-list-0)",
                                                   f"API client error ({AIMED})"]


def test_api_errors_with_undeclared_faults_all_fail(soak: ModuleType) -> None:
    failures, seen = soak.api_failures([api_error(AIMED, 503)], injection(soak, False))
    assert seen == 0 and len(failures) == 1


def report(t: float, **over: int) -> dict[str, Any]:
    base = {"t": t, "log_lines": 8000, "history": 500, "history_max": 500, "log_containers": 14, "log_max": 2000,
            "watches": 5, "tasks": 60, "objects": 208, "rv": 1000}
    return {**base, **over}


def leak_verdict(soak: ModuleType, rss_mb: Any, reports: list[dict[str, Any]] | None = None,
                 after_load: dict[str, Any] | None = None) -> list[str]:
    rss = [(float(t), rss_mb(t)) for t in range(61)]
    failures: list[str] = []
    idle = (report(-1.0, watches=0, tasks=20), after_load or report(62.0, watches=0, tasks=21))
    soak.leak_check(rss, reports or [report(float(t)) for t in range(61)], 0.0, 60.0, idle, failures)
    return failures


def test_a_flat_rss_with_noise_passes_the_leak_check(soak: ModuleType) -> None:
    assert leak_verdict(soak, lambda t: 75.0 + (0.5 if t % 2 else -0.5)) == []


def test_rss_filling_during_warm_up_then_flat_passes(soak: ModuleType) -> None:
    assert leak_verdict(soak, lambda t: 60.0 + min(t, 10) * 1.5) == []


def test_rss_growing_after_warm_up_fails_the_leak_check(soak: ModuleType) -> None:
    failures = leak_verdict(soak, lambda t: 75.0 + t * 0.25)  # 15 MB a minute
    assert len(failures) == 1 and failures[0].startswith("leak: RSS grew +")


def test_open_watches_left_after_the_load_ended_fail(soak: ModuleType) -> None:
    failures = leak_verdict(soak, lambda t: 75.0, after_load=report(62.0, watches=4, tasks=21))
    assert failures == [
        "leak: open watches did not go back to their idle level once the load ended (0 before, 4 after)"]


def test_store_objects_growing_after_warm_up_fail(soak: ModuleType) -> None:
    reports = [report(float(t), objects=208 + t // 10) for t in range(61)]
    failures = leak_verdict(soak, lambda t: 75.0, reports)
    assert failures == ["leak: store objects grew from 209 after warm-up to 214"]


def test_buffers_still_filling_late_in_the_run_make_the_leak_check_inconclusive(soak: ModuleType) -> None:
    reports = [report(float(t), history=min(500, 100 + t * 7)) for t in range(61)]
    failures = leak_verdict(soak, lambda t: 75.0, reports)
    assert len(failures) == 1 and failures[0].startswith("leak check inconclusive")
