"""stats: distribution checks with stated tolerances (semantics R4.1-R4.5) and failover summaries."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from ambient_lb.errors import ParameterError
from ambient_lb.stats import binomial_interval, check_distribution, failover_summary, prob_all_pods_seen

A, B, C = "pod-a", "pod-b", "pod-c"


def test_prob_all_three_pods_in_nine_requests_matches_semantics_r4_3():
    """R4.3: for 9 requests over 3 pods, P(all three appear) ~ 0.922."""
    assert prob_all_pods_seen(9, 3) == pytest.approx(1 - 3 * (2 / 3) ** 9 + 3 * (1 / 3) ** 9)
    assert round(prob_all_pods_seen(9, 3), 3) == 0.922
    assert prob_all_pods_seen(2, 3) == 0.0 and prob_all_pods_seen(5, 1) == 1.0


def test_binomial_interval_is_exact_for_small_cases():
    # Bin(9, 1/3): P(X=0) = 0.026, P(X=1) = 0.117; P(X>=7) = 0.0083, P(X>=6) = 0.0425
    assert binomial_interval(9, 1 / 3, 0.10) == (1, 5)
    assert binomial_interval(9, 1 / 3, 0.01) == (0, 7)
    lo, hi = binomial_interval(3000, 1 / 3, 0.01 / 3)
    sd = math.sqrt(3000 * (1 / 3) * (2 / 3))
    assert abs((hi - 1000) / sd - 2.935) < 0.1 and abs((1000 - lo) / sd - 2.935) < 0.1


def test_round_robin_exact_rotation_passes():
    """R4.1: K picks over N hosts give floor/ceil each, periodic with period N."""
    check = check_distribution([B, C, A] * 3, "ROUND_ROBIN")
    assert check.ok and check.n == 9 and check.k == 3
    assert check.table.to_dict("list") == {
        "pod": [A, B, C], "count": [3, 3, 3], "low": [3] * 3, "high": [3] * 3, "ok": [True] * 3}
    assert "rotation holds" in repr(check)


def test_round_robin_with_uneven_total_allows_floor_or_ceil():
    check = check_distribution([A, B, C, A, B, C, A], "round-robin".replace("-", "_"))
    assert check.ok and check.table["low"].tolist() == [2, 2, 2] and check.table["high"].tolist() == [3, 3, 3]


def test_round_robin_broken_rotation_fails_even_with_equal_counts():
    check = check_distribution([A, A, B, B, C, C], "ROUND_ROBIN")
    assert not check.ok
    assert "rotation broken: answers 0..2 repeat a pod" in repr(check)


def test_round_robin_missing_expected_pod_fails_and_strangers_fail():
    missing = check_distribution([A, B] * 3, "ROUND_ROBIN", expected_pods=[A, B, C])
    assert not missing.ok and missing.table.set_index("pod").at[C, "count"] == 0
    stranger = check_distribution([A, B, C, "pod-x"], "ROUND_ROBIN", expected_pods=[A, B, C])
    assert not stranger.ok and "pods not expected got traffic: pod-x" in repr(stranger)


def test_failed_requests_are_counted_aside():
    rows = pd.DataFrame({"pod": [A, B, None, C, A, B, C]})
    check = check_distribution(rows, "ROUND_ROBIN")
    assert check.n == 6 and check.failed_requests == 1
    assert "1 request(s) got no pod name" in repr(check)


def test_counts_mapping_skips_period_check():
    check = check_distribution({A: 3, B: 3, C: 3}, "ROUND_ROBIN")
    assert check.ok and "rotation" not in repr(check)


def test_least_request_seeded_uniform_traffic_passes_at_99_percent():
    rng = random.Random(11)
    seq = [rng.choice([A, B, C]) for _ in range(600)]
    check = check_distribution(seq, "LEAST_REQUEST")
    assert check.ok, repr(check)
    assert check.table["low"].iloc[0] < 200 < check.table["high"].iloc[0]
    assert "Bonferroni" in repr(check)


def test_random_policy_flags_a_heavily_skewed_spread():
    check = check_distribution({A: 400, B: 100, C: 100}, "RANDOM")
    assert not check.ok
    assert check.table.set_index("pod").loc[A, "ok"] == False  # noqa: E712


def test_small_samples_explain_that_a_missing_pod_can_be_chance():
    check = check_distribution([A, B, A, B, A, B, A, B, B], "LEAST_REQUEST", expected_pods=[A, B, C])
    assert check.ok  # 0 for pod-c is inside Bin(9, 1/3)'s 99% interval
    text = repr(check)
    assert "P(all 3 pods appear in 9 requests) = 0.922" in text and "may get none by chance" in text


def test_ztunnel_and_unspecified_are_known_policies_and_others_are_rejected():
    assert check_distribution([A, B], "ZTUNNEL").policy == "ZTUNNEL"
    assert check_distribution([A, B], "UNSPECIFIED").policy == "LEAST_REQUEST"
    with pytest.raises(ParameterError, match="unknown load-balancing policy 'PASSTHROUGH'"):
        check_distribution([A], "PASSTHROUGH")


def test_check_has_html_repr():
    html = check_distribution([A, B, C], "ROUND_ROBIN")._repr_html_()
    assert "PASS" in html and "<table" in html


def timeline(rows, marks=()):
    df = pd.DataFrame(rows, columns=["t", "pod", "status", "error"])
    df["status"] = df["status"].astype("Int64")
    df.attrs["marks"] = [{"t": t, "label": label} for t, label in marks]
    return df


def test_failover_summary_counts_failures_and_recovery():
    tl = timeline(
        [(0.0, A, 200, None), (0.1, B, 200, None), (0.2, C, 200, None), (0.3, A, 200, None),
         (0.4, None, 503, None), (0.5, None, None, "timeout"), (0.6, B, 200, None), (0.7, None, 503, None),
         (0.8, C, 200, None), (0.9, B, 200, None)],
        marks=[(0.35, "pod deleted")],
    )  # fmt: skip
    s = failover_summary(tl, disrupted_at="pod deleted", pod=A)
    assert (s.total, s.failed, s.failures_by_kind) == (10, 3, {"5xx": 2, "timeout": 1})
    assert s.pods_before == [A, B, C] and s.pods_after == [B, C]
    assert s.time_to_recovery_s == pytest.approx(0.8 - 0.35)
    assert s.pod_requests_after == 0 and not s.pod_got_traffic_after
    assert "time to recovery: 0.45s" in repr(s)


def test_failover_summary_flags_traffic_to_the_deleted_pod_after_the_cutoff():
    tl = timeline([(0.0, A, 200, None), (1.0, A, 200, None), (2.0, B, 200, None), (3.0, A, 200, None)])
    s = failover_summary(tl, disrupted_at=0.5, pod=A, after=2.5)
    assert s.pod_requests_after == 1 and s.pod_last_seen_s == 3.0 and s.pod_got_traffic_after
    assert s.time_to_recovery_s == 0.0


def test_failover_summary_not_recovered_and_bad_inputs():
    tl = timeline([(0.0, A, 200, None), (1.0, None, None, "refused")])
    assert failover_summary(tl, disrupted_at=0.5).time_to_recovery_s is None
    with pytest.raises(ParameterError, match="no mark 'nope' in the timeline"):
        failover_summary(tl, disrupted_at="nope")
    with pytest.raises(ParameterError, match="timeline lacks columns"):
        failover_summary(pd.DataFrame({"t": [1]}))


def test_timeline_on_the_simulated_clock_scales_times_and_marks_and_says_so() -> None:
    from ambient_lb.stats import on_simulated_clock

    tl = pd.DataFrame({"t": [0.0, 0.5, 1.0], "pod": ["a", "b", "a"], "status": [200, 200, 200],
                       "error": [None, None, None]})
    tl.attrs["marks"] = [{"t": 0.5, "label": "pod deleted"}]
    sim = on_simulated_clock(tl, 10)
    assert sim["t"].tolist() == [0.0, 5.0, 10.0] and sim.attrs["marks"] == [{"t": 5.0, "label": "pod deleted"}]
    summary = failover_summary(sim, disrupted_at="pod deleted")
    assert summary.disrupted_at == 5.0
    assert "times (t) in simulated seconds (the simulator runs at 10x speed)" in summary.lines()
    assert on_simulated_clock(tl, 1) is tl and "times (t)" not in repr(failover_summary(tl))
