"""checks.py: results that read the same for people, nbval and the runner; bounded waits."""

from __future__ import annotations

import threading

from ambient_lb.checks import STEP_MIME, CheckResult, StepResult, check, from_wait, poll, skipped
from ambient_lb.errors import TimedOut


def test_poll_requires_consecutive_passes_and_counts_attempts():
    answers = iter([True, False, True, True, True, True])
    r = poll("flaky", lambda: (next(answers), "seen"), timeout=5, interval=0.001, consecutive=3)
    assert r.ok and r.attempts == 5
    assert r.seconds >= 0


def test_poll_times_out_with_the_objects_reason_and_the_hint():
    r = poll("gateway programmed", lambda: (False, "Programmed=False"), timeout=0.05,
             interval=0.01, hint="kubectl describe gateway http",
             reason=lambda: "reason=AddressNotAssigned")
    assert not r.ok
    assert r.reason == "reason=AddressNotAssigned"
    assert "not true within 0.05 s" in r.detail
    text = repr(r)
    assert text.startswith("[FAIL] gateway programmed: Programmed=False")
    assert "seen: reason=AddressNotAssigned" in text and "hint: kubectl describe gateway http" in text


def test_poll_records_a_probe_exception_as_evidence():
    def boom() -> tuple[bool, str]:
        raise ConnectionRefusedError("refused")
    r = poll("port open", boom, timeout=0.02, interval=0.01)
    assert not r.ok and "ConnectionRefusedError: refused" in r.reason


def test_poll_stops_early_when_its_event_is_set():
    stop = threading.Event()
    stop.set()
    r = poll("never", lambda: (False, "no"), timeout=30, interval=10, stop=stop)
    assert not r.ok and r.attempts == 1 and r.seconds < 5


def test_from_wait_turns_a_timeout_into_a_failed_check_with_last_seen():
    def wait() -> None:
        raise TimedOut("Gateway http: condition Programmed=True not reached within 1s",
                       last_seen="Programmed=False reason=Pending")
    r = from_wait("Gateway http Programmed", wait, hint="check the GatewayClass")
    assert not r.ok and "reason=Pending" in r.reason and r.hint == "check the GatewayClass"


def test_from_wait_passes_the_waits_value_to_detail():
    r = from_wait("3 pods", lambda: ["a", "b", "c"], detail=lambda pods: f"{len(pods)} Ready")
    assert r.ok and r.detail == "3 Ready"


def test_step_mime_bundle_keeps_timings_out_of_the_compared_data():
    s = StepResult("02.2", "Scale", ["kubectl scale deployment in-ambient --replicas=3"], ["scaled"],
                   checks=[CheckResult("3 Ready", True, "3 pods", attempts=4, seconds=1.5)])
    data, meta = s._repr_mimebundle_()
    assert data[STEP_MIME] == {"step": "02.2", "title": "Scale", "ok": True,
                               "checks": [{"name": "3 Ready", "status": "PASS"}]}
    assert meta[STEP_MIME]["checks"][0]["attempts"] == 4
    assert meta[STEP_MIME]["commands"] == ["kubectl scale deployment in-ambient --replicas=3"]
    assert "$ kubectl scale deployment in-ambient --replicas=3\nscaled" in data["text/plain"]
    assert "(4 attempts, 1.50 s)" in data["text/plain"]
    assert "alb-timing" in data["text/html"]


def test_skipped_checks_count_as_passed_and_say_why():
    s = StepResult("00.1", "Tools", checks=[skipped("helm installed", "not needed on sim"),
                                            check("kubectl installed", True, "v1.32")])
    assert s.ok and "[SKIP] helm installed: not needed on sim" in repr(s)


def test_first_failure_is_the_first_failed_check():
    s = StepResult("x", "y", checks=[check("a", True), check("b", False), check("c", False)])
    assert not s.ok and s.first_failure.name == "b"
