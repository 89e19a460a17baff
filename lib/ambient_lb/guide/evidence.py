"""Evidence for the steps: traffic through the gateway, distributions, waypoint stats.

Built on ``traffic``, ``stats``, ``plots`` (the evidence library, the same on a real cluster).
"""

from __future__ import annotations

from typing import Any

from ..checks import check
from ..errors import RunbookError
from .cluster import kubectl, quietly, ready_pods
from .install import find_address
from .run import Run, Step, seconds


def curl_line(run: Run, count: int, *, status_only: bool = False, max_time: bool = False) -> str:
    """The curl command (or the guide's loop of them) whose output :func:`send` shows.

    ``status_only`` prints one status code per request (``-o /dev/null -w '%{http_code}\\n'``), where the
    status is the point; ``max_time`` is the guide's step-4 form (``--max-time N ... || echo 'request
    failed'``)."""
    p = run.params
    opts = "-s "
    if status_only:
        opts += "-o /dev/null -w '%{http_code}\\n' "
    if max_time:
        opts += f"--max-time {int(seconds(p.traffic.request_timeout))} "
    one = f'curl {opts}-H "Host: {p.route.hostname}" http://$KGATEWAY_IP:{p.gateway.port}/hostname'
    tail = " || echo 'request failed'" if max_time else ""
    return one + tail if count == 1 else f"for i in $(seq 1 {count}); do {one}{tail}; done"


def send(run: Run, count: int, *, show: bool = True, status_only: bool = False,
         max_time: bool = False) -> Any:
    """``count`` sequential requests through the gateway -> DataFrame (one row per request).

    Shown as the curl command a learner types, with exactly what it prints (:func:`curl_output`)."""
    from .. import shell, traffic

    p = run.params
    df = traffic.send_requests(find_address(run), host=p.route.hostname, path="/hostname",
                               count=count, timeout=seconds(p.traffic.request_timeout))
    if show:
        shell.record(shell.CommandResult(["curl"], 0, curl_output(df, status_only=status_only,
                                                                  max_time=max_time), "",
                                         curl_line(run, count, status_only=status_only,
                                                   max_time=max_time)))
    return df


def curl_output(df: Any, *, status_only: bool = False, max_time: bool = False) -> str:
    """What :func:`curl_line` prints for these rows: each body as is (``curl -s`` adds no newline, so
    Envoy's ``no healthy upstream`` runs into the next answer), or the status code per line (``000``
    when no response came); a transport error prints nothing, or ``request failed`` after ``|| echo``."""
    out = []
    for row in df.to_dict("records"):
        answered = isinstance(row.get("error"), float) or not row.get("error")  # NaN: no error
        if status_only:
            out.append(f"{int(row['status']) if answered else '000'}\n")
        elif answered:
            body = row.get("body")
            out.append(body if isinstance(body, str) else "")
        if not answered and max_time:
            out.append("request failed\n")
    return "".join(out)


def pods_seen(df: Any) -> dict[str, int]:
    """Requests per pod among successful answers."""
    ok = df[df["pod"].notna() & (df["pod"] != "")]
    return {str(k): int(v) for k, v in ok["pod"].value_counts().sort_index().items()}


def distribution(run: Run, s: Step, df: Any, pods: list[str], policy: str, where: str) -> None:
    """Check that every ready replica answered, with the tolerance the policy allows (``stats``)."""
    from .. import plots, stats

    # 99.9 %: a random policy's spread falls outside the band in one run of a thousand
    result = stats.check_distribution(df, policy, expected_pods=pods, confidence=0.999)
    s.show(repr(result))
    s.add(check(f"every replica answered ({where})", bool(result.ok),
                f"{result.n} answers over {result.k} pods, {policy}",
                f"kubectl get pods -n {run.params.namespaces.app} -o wide; are all replicas Ready?"))
    s.figure(plots.plot_requests_per_pod(df, check=result, title=f"requests per pod ({where})"))


def waypoint_stats(run: Run, show: bool = True) -> dict[str, float]:
    """The waypoint's Envoy ``outlier_detection.*`` stats for the app's inbound-vip cluster."""
    p = run.params
    wp = sorted(x["metadata"]["name"] for x in ready_pods(run, p.namespaces.app,
                                                          f"gateway.networking.k8s.io/gateway-name={p.waypoint.name}"))
    if not wp:
        raise RunbookError(f"no ready waypoint pod for {p.waypoint.name}",
                           hint=f"kubectl get pods -n {p.namespaces.app}; run notebook 03 first")
    path = f"/api/v1/namespaces/{p.namespaces.app}/pods/{wp[0]}:15000/proxy/stats"
    flt = "?filter=outlier_detection.ejections_(active|detected_consecutive_5xx|" \
          "enforced_consecutive_5xx|overflow)"
    res = (kubectl if show else quietly)(run, "get", "--raw", path + flt)
    cluster = f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local"
    return parse_outlier_stats(res.stdout, cluster)


def parse_outlier_stats(text: str, cluster: str) -> dict[str, float]:
    """``cluster.<name>.outlier_detection.<stat>: <n>`` lines -> {stat: n} (R2.11)."""
    prefix = f"cluster.{cluster}.outlier_detection."
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if name.startswith(prefix):
            try:
                out[name[len(prefix):]] = float(value)
            except ValueError:
                continue
    return out


def stats_line(st: dict[str, float]) -> str:
    keys = ("ejections_active", "ejections_detected_consecutive_5xx",
            "ejections_enforced_consecutive_5xx", "ejections_overflow")
    return ", ".join(f"{k}={int(st.get(k, 0))}" for k in keys)


def failures(df: Any) -> int:
    """Requests answered 5xx or not answered (only the failing pod fails in these steps)."""
    status = df["status"].fillna(0).astype(int)
    return int(((status >= 500) | (status == 0)).sum())
