"""Is the spread of requests over pods what the load-balancing policy predicts? And what did a failover do?

Who calls it: ``checks`` and the notebooks, on the rows from ``traffic`` or counts from ``logs``.

``check_distribution(pods, policy)`` states its tolerance explicitly and explains the numbers it used:

| policy | model (semantics.md) | tolerance per pod, N requests over k pods |
| --- | --- | --- |
| ``ROUND_ROBIN`` | exact rotation from a random start (R4.1), within one Envoy worker (R4.2) | ⌊N/k⌋ or ⌈N/k⌉ each; with an ordered sequence, period k (each window of k distinct) |
| ``LEAST_REQUEST`` | with sequential traffic, uniform random with replacement (R4.3) | two-sided binomial interval Bin(N, 1/k) at the stated confidence, Bonferroni-corrected over k pods |
| ``RANDOM`` | uniform random (R4.4) | as ``LEAST_REQUEST`` |
| ``ZTUNNEL`` | ztunnel: random per connection (R4.5); one connection per request like curl | as ``LEAST_REQUEST`` |

For the random policies it also reports P(all k pods appear) = Σ_j (-1)^j C(k,j) (1-j/k)^N (inclusion-
exclusion), e.g. 0.922 for 9 requests over 3 pods: a missing pod is then a 7.8 % event, not a failure.

``failover_summary(timeline, disrupted_at=..., pod=...)``: failed requests (by kind), pods that served before
and after, time to recovery, and whether the deleted or ejected pod still got traffic after a given time.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ambient_lb.errors import ParameterError

__all__ = [
    "POLICIES",
    "check_distribution",
    "DistributionCheck",
    "binomial_interval",
    "prob_all_pods_seen",
    "failover_summary",
    "FailoverSummary",
]

POLICIES = {
    "ROUND_ROBIN": "exact",
    "LEAST_REQUEST": "binomial",
    "RANDOM": "binomial",
    "ZTUNNEL": "binomial",
}
_ALIASES = {"UNSPECIFIED": "LEAST_REQUEST", "DEFAULT": "LEAST_REQUEST", "RR": "ROUND_ROBIN"}


# ---------------------------------------------------------------------------------------------------------
# Binomial arithmetic (exact, no scipy)
# ---------------------------------------------------------------------------------------------------------


def _binom_pmf(n: int, p: float) -> list[float]:
    if p <= 0.0:
        return [1.0] + [0.0] * n
    if p >= 1.0:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    lg = math.lgamma(n + 1)
    return [math.exp(lg - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * lp + (n - x) * lq) for x in range(n + 1)]


def binomial_interval(n: int, p: float, alpha: float) -> tuple[int, int]:
    """Smallest ``[lo, hi]`` with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2 for X ~ Bin(n, p)."""
    pmf = _binom_pmf(n, p)
    lo, below = 0, 0.0
    while lo < n and below + pmf[lo] <= alpha / 2:
        below += pmf[lo]
        lo += 1
    hi, above = n, 0.0
    while hi > 0 and above + pmf[hi] <= alpha / 2:
        above += pmf[hi]
        hi -= 1
    return lo, hi


def prob_all_pods_seen(n: int, k: int) -> float:
    """P(every one of k pods gets at least one of n uniform random requests) (inclusion-exclusion)."""
    if k <= 0:
        return 1.0
    return max(0.0, min(1.0, sum((-1) ** j * math.comb(k, j) * (1 - j / k) ** n for j in range(k + 1))))


# ---------------------------------------------------------------------------------------------------------
# Distribution check
# ---------------------------------------------------------------------------------------------------------


@dataclass
class DistributionCheck:
    """The verdict, the per-pod table and the reasoning; shows as text (logs, nbval) and HTML (notebooks)."""

    policy: str
    ok: bool
    n: int
    k: int
    table: pd.DataFrame  # pod, count, low, high, ok
    explanation: list[str] = field(default_factory=list)
    failed_requests: int = 0

    def __repr__(self) -> str:
        head = f"[{'PASS' if self.ok else 'FAIL'}] {self.policy}: {self.n} requests over {self.k} pods"
        rows = [f"  {r.pod}: {r.count} (allowed {r.low}..{r.high}){'' if r.ok else '  <- outside'}"
                for r in self.table.itertuples()]  # fmt: skip
        return "\n".join([head, *rows, *("  " + line for line in self.explanation)])

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#cf222e"
        head = (f"<b style='color:{color}'>{'PASS' if self.ok else 'FAIL'}</b> "
                f"{html.escape(self.policy)}: {self.n} requests over {self.k} pods")  # fmt: skip
        notes = "".join(f"<li>{html.escape(line)}</li>" for line in self.explanation)
        return f"<div>{head}{self.table.to_html(index=False)}<ul>{notes}</ul></div>"


def _policy(policy: str) -> str:
    name = str(policy).strip().upper().replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in POLICIES:
        raise ParameterError(
            f"unknown load-balancing policy {policy!r}; use one of {', '.join(POLICIES)} (e.g. 'ROUND_ROBIN', "
            "a DestinationRule's trafficPolicy.loadBalancer.simple)"
        )
    return name


def _observed(pods: Any) -> tuple[list[str] | None, pd.Series, int]:
    """Pod names in send order (NA = failed), rows, or counts per pod -> (sequence or None, counts, failed)."""
    if isinstance(pods, pd.DataFrame):
        pods = pods["pod"]
    if isinstance(pods, Mapping) or (isinstance(pods, pd.Series) and pods.dtype.kind in "iu"):
        counts = pd.Series(dict(pods), dtype="int64")
        return None, counts[counts > 0], 0
    items = list(pods)
    seq = [p for p in items if isinstance(p, str) and p]
    return seq, pd.Series(seq, dtype=object).value_counts(), len(items) - len(seq)


def check_distribution(
    pods: Iterable[Any] | Mapping[str, int] | pd.Series | pd.DataFrame,
    policy: str = "ROUND_ROBIN",
    *,
    expected_pods: Sequence[str] | None = None,
    confidence: float = 0.99,
) -> DistributionCheck:
    """Check a spread of requests against ``policy``'s model (see the module table); never raises on a FAIL.

    ``pods``: the ``pod`` column of ``send_requests`` rows in send order (failed requests are not counted),
    the rows themselves, or counts per pod (then the round-robin period cannot be checked).
    ``expected_pods``: the pods that should share the traffic (default: those observed); an expected pod
    that got nothing counts as 0, a pod not expected that got traffic fails the check.
    """
    name = _policy(policy)
    if not 0.5 <= confidence < 1:
        raise ParameterError(f"confidence must be in [0.5, 1), got {confidence!r}; e.g. 0.99")
    seq, counts, failed = _observed(pods)
    universe = list(expected_pods) if expected_pods is not None else sorted(counts.index)
    n, k = int(counts.sum()), len(universe)
    if k == 0:
        return DistributionCheck(name, False, n, 0, pd.DataFrame(columns=["pod", "count", "low", "high", "ok"]),
                                 ["no pod answered: nothing to compare"], failed)  # fmt: skip
    checker = _exact if POLICIES[name] == "exact" else _binomial
    table, notes, ok = checker(counts, universe, n, k, 1 - confidence)
    strangers = sorted(set(counts.index) - set(universe))
    if strangers:
        ok = False
        notes.append(f"pods not expected got traffic: {', '.join(strangers)}")
    if name == "ROUND_ROBIN" and seq is not None:
        ok = _period_note(seq, k, notes) and ok
    if failed:
        notes.append(f"{failed} request(s) got no pod name (errors or non-pod bodies) and are not counted")
    return DistributionCheck(name, ok, n, k, table, notes, failed)


def _table(counts: pd.Series, universe: list[str], low: list[int], high: list[int]) -> pd.DataFrame:
    got = [int(counts.get(p, 0)) for p in universe]
    ok = [lo <= c <= hi for c, lo, hi in zip(got, low, high, strict=True)]
    return pd.DataFrame({"pod": universe, "count": got, "low": low, "high": high, "ok": ok})


def _exact(counts: pd.Series, universe: list[str], n: int, k: int,
           alpha: float) -> tuple[pd.DataFrame, list[str], bool]:
    lo, hi = n // k, -(-n // k)
    table = _table(counts, universe, [lo] * k, [hi] * k)
    notes = [f"round robin (R4.1): each of {k} pods gets floor({n}/{k})={lo} or ceil({n}/{k})={hi} requests, "
             "no tolerance"]
    return table, notes, bool(table["ok"].all())


def _binomial(counts: pd.Series, universe: list[str], n: int, k: int,
              alpha: float) -> tuple[pd.DataFrame, list[str], bool]:
    per_pod = alpha / k
    lo, hi = binomial_interval(n, 1 / k, per_pod)
    table = _table(counts, universe, [lo] * k, [hi] * k)
    p_all = prob_all_pods_seen(n, k)
    notes = [
        f"random pick per request (R4.3-R4.5): each count ~ Binomial({n}, 1/{k}); allowed {lo}..{hi} is the "
        f"two-sided interval at {1 - alpha:.1%} overall (Bonferroni: {1 - per_pod:.3%} per pod)",
        f"P(all {k} pods appear in {n} requests) = {p_all:.3f}",
    ]
    if lo == 0:
        notes.append(f"with only {n} requests a pod may get none by chance; send more requests for a sharper check")
    return table, notes, bool(table["ok"].all())


def _period_note(seq: list[str], k: int, notes: list[str]) -> bool:
    """Round robin's period: every window of k consecutive answers names k distinct pods (R4.1)."""
    bad = [i for i in range(len(seq) - k + 1) if len(set(seq[i : i + k])) != k]
    if len(seq) < k:
        notes.append(f"fewer than {k} answers: the rotation period cannot be checked")
        return True
    if bad:
        window = ", ".join(seq[bad[0]:bad[0] + k])
        notes.append(f"rotation broken: answers {bad[0]}..{bad[0] + k - 1} repeat a pod ({window})")
        return False
    notes.append(f"rotation holds: every {k} consecutive answers name {k} different pods (period {k})")
    return True


# ---------------------------------------------------------------------------------------------------------
# Failover summary
# ---------------------------------------------------------------------------------------------------------


WALL_CLOCK = "seconds"  # FailoverSummary.clock of a timeline measured on the wall clock


@dataclass
class FailoverSummary:
    """What a disruption did to the traffic: failures, who served before/after, recovery, stray traffic."""

    total: int
    failed: int
    failures_by_kind: dict[str, int]
    disrupted_at: float | None
    pods_before: list[str]
    pods_after: list[str]
    time_to_recovery_s: float | None
    pod: str | None = None
    pod_requests_after: int = 0
    pod_last_seen_s: float | None = None
    clock: str = WALL_CLOCK  # what ``t`` counts (``on_simulated_clock``)

    @property
    def pod_got_traffic_after(self) -> bool:
        """True when the pod got any request after the disruption."""
        return self.pod_requests_after > 0

    def lines(self) -> list[str]:
        """The summary as text lines: totals, the disruption, the pods before and after, time to recovery."""
        kinds = f" ({_kinds(self.failures_by_kind)})" if self.failed else ""
        out = [f"{self.total} requests, {self.failed} failed{kinds}"]
        if self.clock != WALL_CLOCK:
            out.append(f"times (t) in {self.clock}")
        if self.disrupted_at is not None:
            out.append(f"disruption at t={self.disrupted_at:.2f}s")
            out.append(f"pods before: {', '.join(self.pods_before) or '-'}")
            out.append(f"pods after:  {', '.join(self.pods_after) or '-'}")
            ttr = self.time_to_recovery_s
            out.append("no failures after the disruption" if ttr == 0 else
                       "not recovered by the end of the timeline" if ttr is None else
                       f"time to recovery: {ttr:.2f}s "
                       "(from the disruption to the first success after the last failure)")  # fmt: skip
        if self.pod is not None:
            seen = f", last at t={self.pod_last_seen_s:.2f}s" if self.pod_last_seen_s is not None else ""
            out.append(f"{self.pod} answered {self.pod_requests_after} request(s) after the cut-off{seen}")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in self.lines()) + "</ul>"


def on_simulated_clock(timeline: pd.DataFrame, speed: float) -> pd.DataFrame:
    """The timeline with ``t`` and its marks in simulated seconds.

    A simulator at ``--speed X`` runs X simulated seconds per wall second, and every duration the
    model applies (ejection times, the deletion window) is simulated; so a timeline measured on the
    wall clock is scaled to read against them. At speed 1 (a real cluster) it is returned unchanged.
    """
    if speed == 1:
        return timeline
    out = timeline.copy()
    out["t"] = out["t"] * speed
    out.attrs = {**timeline.attrs, "clock": f"simulated seconds (the simulator runs at {speed:g}x speed)",
                 "marks": [{**m, "t": float(m["t"]) * speed} for m in timeline.attrs.get("marks", [])]}
    return out


def _kinds(kinds: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))


def _mark_time(timeline: pd.DataFrame, at: float | str | None) -> float | None:
    if at is None or isinstance(at, (int, float)):
        return None if at is None else float(at)
    for mark in timeline.attrs.get("marks", []):
        if mark.get("label") == at:
            return float(mark["t"])
    labels = [m.get("label") for m in timeline.attrs.get("marks", [])]
    raise ParameterError(f"no mark {at!r} in the timeline; marks: {labels or 'none'}; e.g. sampler.mark('pod deleted')")


def failover_summary(
    timeline: pd.DataFrame,
    *,
    disrupted_at: float | str | None = None,
    pod: str | None = None,
    after: float | str | None = None,
) -> FailoverSummary:
    """Summarise a sampler timeline (columns ``t``, ``pod``, ``status``, ``error``).

    ``disrupted_at``: seconds (``t``) or a mark label (``"pod deleted"``). ``pod``: the deleted or ejected pod;
    ``after`` (seconds or a mark; default ``disrupted_at``) is the cut-off after which it should get nothing.
    A request fails when it has a transport error or a 5xx status. Time to recovery: from the disruption to
    the first success after the last failure (0 when nothing failed; None when the timeline ends failing).
    """
    missing = {"t", "pod", "status", "error"} - set(timeline.columns)
    if missing:
        raise ParameterError(f"timeline lacks columns {sorted(missing)}; "
                             "pass TrafficSampler.stop() or send_requests() rows")
    t_dis = _mark_time(timeline, disrupted_at)
    t_cut = _mark_time(timeline, after) if after is not None else t_dis
    bad = timeline["error"].notna() | (timeline["status"].fillna(0) >= 500)
    kinds = timeline.loc[bad, "error"].fillna("5xx").value_counts().to_dict()
    summary = FailoverSummary(len(timeline), int(bad.sum()), {str(k): int(v) for k, v in kinds.items()},
                              t_dis, [], [], None, pod, clock=timeline.attrs.get("clock", WALL_CLOCK))  # fmt: skip
    if t_dis is not None:
        before, after_rows = timeline[timeline["t"] < t_dis], timeline[timeline["t"] >= t_dis]
        summary.pods_before = sorted(before.loc[~bad, "pod"].dropna().unique())
        summary.pods_after = sorted(after_rows.loc[~bad, "pod"].dropna().unique())
        summary.time_to_recovery_s = _recovery(after_rows, bad[after_rows.index], t_dis)
    if pod is not None:
        cut = t_cut if t_cut is not None else float("-inf")
        hits = timeline[(timeline["t"] >= cut) & timeline["pod"].eq(pod).fillna(False).astype(bool)]
        summary.pod_requests_after = len(hits)
        summary.pod_last_seen_s = float(hits["t"].max()) if len(hits) else None
    return summary


def _recovery(rows: pd.DataFrame, bad: pd.Series, t_dis: float) -> float | None:
    if not bad.any():
        return 0.0
    last_bad = bad[bad].index[-1]
    later = rows.loc[rows.index > last_bad]
    good_later = later[~bad[later.index]]
    return None if good_later.empty else float(good_later["t"].iloc[0] - t_dis)
