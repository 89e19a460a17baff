"""Evidence for the steps: traffic through the gateway, distributions, waypoint stats.

Built on ``traffic``, ``stats``, ``plots`` (the evidence library, the same on a real cluster).
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Sequence
from typing import Any

from .. import shell
from ..checks import check
from ..errors import RunbookError
from .cluster import kubectl, quietly
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
    from .. import traffic  # pandas: loaded on use, not at notebook start

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


def endpoints_check(run: Run, service: str, namespace: str) -> Any:
    """``Service <name> has ready endpoints``, counted in its EndpointSlices: the addresses kgateway and
    ztunnel send to (a Service whose pods all fail readiness has endpoints, none ready)."""
    slices = run.kube.items("endpointslices", namespace, selector=f"kubernetes.io/service-name={service}")
    endpoints = [e for sl in slices for e in sl.get("endpoints") or []]
    ready = [e for e in endpoints if (e.get("conditions") or {}).get("ready") is not False]
    detail = (f"{len(ready)} ready of {len(endpoints)} endpoints" if ready else
              f"no ready endpoints ({len(endpoints)} endpoints, none ready)")
    return check(f"Service {service} has ready endpoints", bool(ready), detail,
                 f"kubectl get endpointslices -n {namespace} -l kubernetes.io/service-name={service}; "
                 f"kubectl get pods -n {namespace}: are the pods Running and Ready (kubectl describe pod)?")


def distribution(run: Run, s: Step, df: Any, pods: list[str], policy: str, where: str) -> None:
    """Check that every ready replica answered, with the tolerance the policy allows (``stats``)."""
    from .. import plots, stats  # matplotlib, pandas: loaded on use, not at notebook start

    # 99.9 %: a random policy's spread falls outside the band in one run of a thousand
    result = stats.check_distribution(df, policy, expected_pods=pods, confidence=0.999)
    s.show(repr(result))
    s.add(check(f"every replica answered ({where})", bool(result.ok),
                f"{result.n} answers over {result.k} pods, {policy}",
                f"kubectl get pods -n {run.params.namespaces.app} -o wide; are all replicas Ready?"))
    s.figure(plots.plot_requests_per_pod(df, check=result, title=f"requests per pod ({where})"))


# the four counters the steps read (Envoy's filter is a regex searched in each stat name)
OUTLIER_STATS = "stats?filter=outlier_detection.ejections_(active|overflow|(detected|enforced)_consecutive_5xx)"


def waypoint_admin(run: Run, path: str, show: bool = True) -> str:
    """Envoy admin ``path`` of the waypoint, read the way a cluster allows.

    Istio binds the proxy's admin port to 127.0.0.1, so the API server's pod proxy cannot reach it;
    ``pilot-agent request`` runs inside the proxy container and can (R13.1, R13.7): ``kubectl exec -n
    httpbin deploy/httpbin-waypoint -- pilot-agent request GET 'stats?filter=outlier_detection'``."""
    p = run.params
    argv = ("pilot-agent", "request", "GET", path)
    if not show:  # the runbook's own reads (polls of the counters): the client's exec stream, no kubectl process
        return run.kube.exec_output(p.namespaces.app, f"deploy/{p.waypoint.name}", argv)
    return kubectl(run, "exec", "-n", p.namespaces.app, f"deploy/{p.waypoint.name}", "--", *argv).stdout


_ERE_SPECIALS = re.compile(r"([.\[\]{}()*+?^$|\\])")


def grep_literal(text: str) -> str:
    """``text`` as a ``grep -E`` pattern (and a Python ``re`` one) that matches it literally.

    Envoy cluster names carry ``.`` and ``|`` (``inbound-vip|8000|http|httpbin.httpbin.svc.cluster.local``):
    unescaped, ``|`` splits the pattern into alternatives and ``.`` matches any character."""
    return _ERE_SPECIALS.sub(r"\\\1", text)


def shown_grep(run: Run, args: Sequence[str], pattern: str, show: bool = True) -> tuple[Any, list[str]]:
    """Run ``kubectl <args>`` and keep the lines ``grep -E '<pattern>'`` would print (``pattern`` is
    matched with Python's ``re``, which reads these ERE patterns as grep -E does); with ``show``, the
    command is shown as ``kubectl <args> | grep -E '<pattern>'`` with those lines as its output.
    Returns the command's result and the kept lines."""
    res = quietly(run, *args, check=False)
    kept = [ln for ln in res.stdout.splitlines() if re.search(pattern, ln)]
    if show:
        shell.record(shell.CommandResult(list(res.args), res.returncode, "".join(ln + "\n" for ln in kept),
                                     res.stderr, "kubectl " + " ".join(shlex.quote(a) for a in args)
                                     + f" | grep -E '{pattern}'"))
    return res, kept


def waypoint_stats(run: Run, show: bool = True) -> dict[str, float]:
    """The waypoint's Envoy ``outlier_detection.*`` stats for the app's inbound-vip cluster (R2.11).

    Empty when Istio's default stats matcher drops them: the waypoint's Gateway must ask for them
    (step 03.1's ``proxyStatsMatcher``, R13.3, R13.5)."""
    p = run.params
    cluster = f"inbound-vip|{p.app.port}|http|{p.app.name}.{p.namespaces.app}.svc.cluster.local"
    return parse_outlier_stats(waypoint_admin(run, OUTLIER_STATS, show), cluster)


def stats_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """Counter increments between two reads (gauges such as ``ejections_active`` are taken as read)."""
    return {k: v if k == "ejections_active" else v - before.get(k, 0.0) for k, v in after.items()}


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


def stats_line(st: dict[str, float], delta: bool = False) -> str:
    """The waypoint's outlier-detection counters on one line (with ``+`` signs for a delta)."""
    keys = ("ejections_active", "ejections_detected_consecutive_5xx",
            "ejections_enforced_consecutive_5xx", "ejections_overflow")
    if not st:
        return "no outlier_detection stats (is the waypoint's stats matcher set? step 03.1)"
    sign = lambda k: "+" if delta and k != "ejections_active" else ""  # noqa: E731
    return ", ".join(f"{k}={sign(k)}{int(st.get(k, 0))}" for k in keys)


def failures(df: Any) -> int:
    """Requests answered 5xx or not answered (only the failing pod fails in these steps)."""
    status = df["status"].fillna(0).astype(int)
    return int(((status >= 500) | (status == 0)).sum())


GATEWAY_ADMIN_PORT = 19000  # kgateway's Envoy admin, bound to 127.0.0.1 inside the proxy pod (R13.2)


def gateway_cluster_name(run: Run) -> str:
    """kgateway's Envoy cluster for the app's Service backend (``kube_<ns>_<svc>_<port>``, R13.9)."""
    p = run.params
    return f"kube_{p.namespaces.app}_{p.app.name}_{p.app.port}"


def gateway_backend_hosts(run: Run, show: bool = True) -> list[str]:
    """The hosts (``ip:port``) of the gateway's cluster for the app, from its Envoy admin ``/clusters``.

    The admin port listens on the pod's loopback only, so it is reached the way kgateway's docs do:
    ``kubectl port-forward -n kgateway-system deployment/http :19000`` and curl on the local port."""
    import urllib3  # ~60 ms: loaded on use, not at notebook start

    p = run.params
    pattern = f"^{gateway_cluster_name(run)}::.*::health_flags::"
    with (contextlib.nullcontext() if show else shell.quiet()):
        with run.kube.port_forward(f"deployment/{p.gateway.name}", 0, GATEWAY_ADMIN_PORT,
                                   namespace=p.namespaces.kgateway, timeout=p.timeouts.port_forward) as addr:
            url = f"http://{addr}/clusters"
            resp = urllib3.request("GET", url, timeout=seconds(p.timeouts.command), retries=False)
            if resp.status != 200:
                raise RunbookError(f"the gateway's admin answered {resp.status} on /clusters",
                                   hint=f"kubectl logs -n {p.namespaces.kgateway} deploy/{p.gateway.name}")
            rows = [ln for ln in resp.data.decode("utf-8", "replace").splitlines() if re.match(pattern, ln)]
            shell.record(shell.CommandResult(["curl"], 0, "".join(r + "\n" for r in rows), "",
                                             f"curl -s {url} | grep '{pattern}'"))
    return [r.split("::")[1] for r in rows]
