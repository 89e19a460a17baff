"""Envoy outlier detection as the model implements it: R2.1–R2.12 (semantics.md §2)."""

from __future__ import annotations

import json
import random

import pytest
from mesh_model_helpers import T0, fail_n, hosts, outlier_cluster

from ambient_lb.sim.mesh.model import ClusterConfig, EnvoyCluster, Failure, OutlierConfig, OutlierDetector

A, B, C = "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"


def detector(n: int = 3, **cfg: object) -> OutlierDetector:
    d = OutlierDetector(OutlierConfig(**cfg), "c", T0, random.Random(1))  # type: ignore[arg-type]
    d.set_hosts([f"10.0.0.{i + 1}:8080" for i in range(n)])
    return d


def test_counters_are_per_host_and_survive_other_hosts_successes() -> None:
    """R2.1: "consecutive" is per host; successes on B do not reset A's count."""
    d = detector(max_ejection_percent=100)
    for _ in range(4):
        d.report(A, 500, T0 + 1)
        d.report(B, 200, T0 + 1)
    assert d.monitors[A].consecutive_5xx == 4
    d.report(A, 500, T0 + 1)
    assert d.is_ejected(A)


def test_non_5xx_resets_both_counters_and_other_5xx_resets_gateway_counter() -> None:
    """R2.1: a 4xx resets both counters; a 500 resets only the gateway counter."""
    d = detector(max_ejection_percent=100)
    for code in (503, 502, 504):
        d.report(A, code, T0)
    assert (d.monitors[A].consecutive_5xx, d.monitors[A].consecutive_gateway_failure) == (3, 3)
    d.report(A, 500, T0)
    assert (d.monitors[A].consecutive_5xx, d.monitors[A].consecutive_gateway_failure) == (4, 0)
    d.report(A, 404, T0)
    assert (d.monitors[A].consecutive_5xx, d.monitors[A].consecutive_gateway_failure) == (0, 0)


def test_local_origin_failures_count_as_5xx_unless_split() -> None:
    """R2.2: resets/timeouts count as 503/504 (5xx and gateway) by default; with split they only
    feed consecutive_local_origin_failure."""
    d = detector(max_ejection_percent=100)
    for f in (Failure.CONNECTION_TERMINATION, Failure.CONNECT_FAILURE, Failure.TIMEOUT, Failure.TIMEOUT):
        d.report(A, f, T0)
    assert (d.monitors[A].consecutive_5xx, d.monitors[A].consecutive_gateway_failure) == (4, 4)
    d.report(A, Failure.CONNECTION_TERMINATION, T0)
    assert d.is_ejected(A) and d.stats()["ejections_enforced_consecutive_5xx"] == 1

    s = detector(max_ejection_percent=100, split_external_local_origin_errors=True)
    for _ in range(4):
        s.report(A, Failure.CONNECTION_TERMINATION, T0)
        s.report(A, 500, T0)  # a real upstream 5xx still counts as 5xx, and proves the connection worked
    assert (s.monitors[A].consecutive_5xx, s.monitors[A].consecutive_local_origin_failure) == (4, 0)
    for _ in range(5):
        s.report(B, Failure.CONNECT_FAILURE, T0)
    assert s.is_ejected(B) and s.monitors[B].consecutive_5xx == 0
    assert s.stats()["ejections_enforced_consecutive_local_origin_failure"] == 1


def test_ejection_happens_on_the_nth_consecutive_5xx_not_at_sweep() -> None:
    """R2.3: the 5th error ejects at once (mid-interval); the 4th does not."""
    c = outlier_cluster(max_ejection_percent=100)
    now = T0 + 3.3  # between sweeps
    fail_n(c, A, 4, now)
    assert c.ejected() == []
    events = fail_n(c, A, 1, now)
    assert c.ejected() == [A]
    assert [(e.action, e.type, e.enforced, e.time) for e in events] == [("EJECT", "CONSECUTIVE_5XX", True, now)]
    picks = {c.pick(now).address for _ in range(6)}  # type: ignore[union-attr]
    assert picks == {B, C}  # R2.10: applied before the next request is routed


def test_detection_repeats_every_n_errors_when_ejection_is_not_allowed() -> None:
    """R2.3/R2.4: the counter resets after every detection, so 50 errors = 10 detections, 10 overflows."""
    c = outlier_cluster()  # default max_ejection_percent 10
    fail_n(c, A, 50, T0 + 1)
    st = c.stats()
    prefix = "cluster.inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local.outlier_detection."
    assert st[prefix + "ejections_detected_consecutive_5xx"] == 10
    assert st[prefix + "ejections_overflow"] == 10
    assert st[prefix + "ejections_active"] == 0


def test_three_hosts_default_max_ejection_percent_never_ejects() -> None:
    """R2.4: with 3 hosts and the default 10 %, 1/3 = 33 % > 10 %: nothing is ever ejected."""
    c = outlier_cluster(3)
    for t in range(0, 120, 7):
        fail_n(c, A, 5, T0 + t)
    assert c.ejected() == []
    assert {c.pick(T0 + 130).address for _ in range(3)} == {A, B, C}  # type: ignore[union-attr]


@pytest.mark.parametrize("n_hosts,mep,max_ejected", [(3, 33, 0), (3, 34, 1), (3, 67, 2), (3, 100, 3),
                                                     (2, 50, 1), (1, 99, 0), (1, 100, 1), (10, 10, 1)])
def test_max_ejection_percent_is_strict(n_hosts: int, mep: int, max_ejected: int) -> None:
    """R2.4: eject only if 100 × (active + 1) / total ≤ max_ejection_percent; no first-host exemption."""
    d = detector(n_hosts, max_ejection_percent=mep)
    for addr in list(d.monitors):
        for _ in range(5):
            d.report(addr, 500, T0 + 1)
    assert len(d.ejected()) == max_ejected
    assert d.stats()["ejections_overflow"] == n_hosts - max_ejected


def test_max_ejection_percent_counts_eds_unhealthy_hosts() -> None:
    """R2.4: total_hosts counts every host, including ones EDS marks unhealthy."""
    hs = hosts(10)
    for h in hs[5:]:
        h.healthy = False
    cfg = ClusterConfig(name="c", outlier=OutlierConfig(), panic_threshold=0)
    c = EnvoyCluster(cfg, hs, now=T0, rng=random.Random(1))
    fail_n(c, hs[0].address, 5, T0 + 1)
    assert c.ejected() == [hs[0].address]  # 1/10 = 10 % ≤ 10 %, not 1/5


def test_always_eject_one_host_overrides_the_percentage() -> None:
    """R2.4: only always_eject_one_host (Envoy ≥1.31, never set by Istio) ejects the first host."""
    d = detector(3, always_eject_one_host=True)
    fail_n_det = lambda addr: [d.report(addr, 500, T0) for _ in range(5)]  # noqa: E731
    fail_n_det(A)
    fail_n_det(B)
    assert d.ejected() == [A]


def test_gateway_failures_are_detected_but_not_enforced_by_default() -> None:
    """R2.5: consecutive_gateway_failure defaults to 5 with enforcing 0: detected, logged, not ejected."""
    d = detector(max_ejection_percent=100, consecutive_5xx=0, enforcing_consecutive_5xx=0)
    events = []
    for _ in range(10):
        events += d.report(A, 503, T0)
    assert d.ejected() == []
    assert d.stats()["ejections_detected_consecutive_gateway_failure"] == 2
    assert d.stats()["ejections_enforced_total"] == 0
    assert [(e.type, e.enforced) for e in events] == [("CONSECUTIVE_GATEWAY_FAILURE", False)] * 2


def test_partial_enforcement_uses_the_injected_rng() -> None:
    """R2.5: enforcing_consecutive_5xx is a percentage chance, drawn from the injected RNG."""
    ejected = 0
    for seed in range(200):
        d = OutlierDetector(OutlierConfig(max_ejection_percent=100, enforcing_consecutive_5xx=30), "c", T0,
                            random.Random(seed))
        d.set_hosts([A, B])
        for _ in range(5):
            d.report(A, 500, T0)
        ejected += d.is_ejected(A)
    assert 40 <= ejected <= 80  # 30 % of 200 = 60, tolerance ±20


@pytest.mark.parametrize("eject_at,interval,back_at", [(10.0, 10, 40.0), (10.5, 10, 50.0), (12.0, 10, 50.0),
                                                       (19.9, 10, 50.0), (1.0, 60, 60.0), (59.0, 60, 120.0)])
def test_ejected_host_returns_only_at_a_sweep_between_base_and_base_plus_interval(
        eject_at: float, interval: float, back_at: float) -> None:
    """R2.6: sweeps every interval from creation; back at the first sweep with now − t_eject ≥ base."""
    c = outlier_cluster(max_ejection_percent=100, interval=interval)
    fail_n(c, A, 5, T0 + eject_at)
    assert c.is_ejected(A)
    c.advance(T0 + back_at - 0.001)
    assert c.is_ejected(A)
    events = c.advance(T0 + back_at)
    assert not c.is_ejected(A)
    assert [(e.action, e.time) for e in events] == [("UNEJECT", T0 + back_at)]
    assert 30 <= back_at - eject_at < 30 + interval


def test_backoff_grows_on_quick_reejection_and_decays_after_a_healthy_sweep() -> None:
    """R2.7: re-ejected before the next sweep → 60 s; one healthy sweep later b−− (never below 0)."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)  # b=1 → 30 s; back at the sweep at +40
    c.advance(T0 + 40)
    assert not c.is_ejected(A)
    fail_n(c, A, 5, T0 + 41)  # before the sweep at +50: b=2 → 60 s → back at +110 (not +100: 59 s)
    c.advance(T0 + 100)
    assert c.is_ejected(A)
    c.advance(T0 + 110)
    assert not c.is_ejected(A)
    mon = c.detector.monitors[A]  # type: ignore[union-attr]
    assert mon.backoff == 2
    c.advance(T0 + 120)  # healthy for one interval: b=1
    assert mon.backoff == 1
    c.advance(T0 + 130)
    assert mon.backoff == 0
    c.advance(T0 + 300)
    assert mon.backoff == 0
    fail_n(c, A, 5, T0 + 301)  # back to a plain 30 s ejection
    c.advance(T0 + 330)
    assert c.is_ejected(A)
    c.advance(T0 + 340)
    assert not c.is_ejected(A)


def test_first_ejection_after_one_healthy_sweep_is_base_again() -> None:
    """R2.7: a host that stays healthy for one sweep after a single ejection is ejected for 30 s next."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    c.advance(T0 + 50)  # back at +40, healthy sweep at +50: b 1 → 0
    fail_n(c, A, 5, T0 + 51)
    c.advance(T0 + 80)
    assert c.is_ejected(A)  # 29 s
    c.advance(T0 + 90)
    assert not c.is_ejected(A)


def test_ejection_time_is_capped_by_max_ejection_time() -> None:
    """R2.6: the duration is min(base × b, max_ejection_time), default max(300 s, base)."""
    c = outlier_cluster(max_ejection_percent=100)
    t = T0 + 1
    durations = []
    for _ in range(14):
        fail_n(c, A, 5, t)
        start = t
        while c.is_ejected(A):
            t = c.next_sweep_at()  # type: ignore[assignment]
            c.advance(t)
        durations.append(t - start)
        t += 0.5  # re-eject at once
    assert max(durations) < 300 + 10
    assert durations[-1] >= 300
    assert c.detector.monitors[A].backoff == 11  # type: ignore[union-attr]  # stops growing: 11×30 ≥ 330


def test_uneject_resets_counters_and_removed_hosts_lose_their_state() -> None:
    """R2.8: un-ejection resets all counters; an EDS-removed host drops its monitor and active count."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    fail_n(c, B, 4, T0 + 1)
    c.set_hosts([h for h in hosts(3) if h.address != A], T0 + 2)
    assert c.ejected() == [] and c.stats()[next(k for k in c.stats() if k.endswith("ejections_active"))] == 0
    c.set_hosts(hosts(3), T0 + 3)  # A comes back (same IP for the test): clean
    fail_n(c, A, 4, T0 + 3)
    assert c.ejected() == []
    fail_n(c, B, 1, T0 + 3)
    assert c.ejected() == [B]  # B kept its 4
    c.advance(T0 + 40)
    assert c.ejected() == []
    fail_n(c, B, 4, T0 + 41)
    assert c.ejected() == []  # counters were reset at un-ejection


def test_ejected_host_is_listed_as_failed_outlier_check() -> None:
    """R2.10: an ejected host is unhealthy: excluded by the LB and flagged in /clusters."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    flags = {r["address"]: r["health_flags"] for r in c.host_rows()}
    assert flags == {A: "/failed_outlier_check", B: "healthy", C: "healthy"}


def test_stats_and_event_log_lines() -> None:
    """R2.11: outlier_detection.* stats and JSON EJECT/UNEJECT event lines."""
    c = outlier_cluster(max_ejection_percent=100)
    events = fail_n(c, A, 5, T0 + 1) + c.advance(T0 + 40)
    st = {k.rsplit(".outlier_detection.", 1)[1]: v for k, v in c.stats().items() if ".outlier_detection." in k}
    assert st["ejections_detected_consecutive_5xx"] == 1
    assert st["ejections_enforced_consecutive_5xx"] == st["ejections_enforced_total"] == 1
    assert st["ejections_active"] == 0 and st["ejections_overflow"] == 0
    eject, uneject = (json.loads(e.json_line()) for e in events)
    assert eject["action"] == "EJECT" and eject["upstream_url"] == A and eject["num_ejections"] == 1
    assert eject["enforced"] is True and eject["type"] == "CONSECUTIVE_5XX"
    assert eject["cluster_name"] == c.config.name and eject["timestamp"].endswith("Z")
    assert uneject["action"] == "UNEJECT" and uneject["secs_since_last_action"] == "39"


def test_rebuild_resets_ejections_host_counters_and_sweep_phase_but_keeps_the_stats() -> None:
    """R2.12, R13.10: a DR change rebuilds the cluster: no ejections, zero per-host consecutive
    counters, sweeps from the rebuild; the outlier_detection stats keep counting, ejections_active drops."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    fail_n(c, B, 3, T0 + 1)
    r = c.rebuilt(c.config, T0 + 4)
    assert r.ejected() == [] and r.detector.monitors[B].consecutive_5xx == 0  # type: ignore[union-attr]
    assert r.next_sweep_at() == T0 + 14
    od = {k.rsplit(".", 1)[1]: v for k, v in r.stats().items() if ".outlier_detection." in k}
    assert od["ejections_enforced_total"] == 1 and od["ejections_detected_consecutive_5xx"] == 1
    assert od["ejections_active"] == 0


def test_uneject_events_seen_by_pick_are_returned_by_the_next_call() -> None:
    """R2.6/R2.11: a sweep that runs inside pick() still reaches the outlier log, exactly once."""
    c = outlier_cluster(max_ejection_percent=100)
    fail_n(c, A, 5, T0 + 1)
    h = c.pick(T0 + 45)  # the sweep at +40 un-ejects A inside pick
    assert not c.is_ejected(A)
    events = c.report(h, 200, T0 + 45)  # type: ignore[arg-type]
    assert [(e.action, e.address, e.time) for e in events] == [("UNEJECT", A, T0 + 40)]
    assert c.advance(T0 + 46) == []
