"""Benchmark: parse 1,000,000 ztunnel and 1,000,000 Envoy access-log lines, against a naive baseline.

Who runs it: ``make bench`` (and anyone changing ``ambient_lb.logs``). Not part of the test suite.

For each format it writes real-format lines with variety (log-formats.md: tab-separated and pasted-with-spaces
ztunnel records, error and warn records, Solo's ``http access`` line, escaped quotes, non-access chatter;
Envoy HTTP 200/503 lines, TCP ``"- - -"`` lines, ``-`` fields, user agents with spaces, agent chatter) to a
temporary file, then measures in the same run:

- baseline A: per line ``re.match`` -> ``dict`` -> one ``pandas.DataFrame`` (text only, no typing at all);
- baseline A0 (information only): baseline A with pandas' object text columns instead of its default "str"
  columns. With pyarrow installed pandas >= 3 stores inferred text in Arrow, which makes baseline A itself
  slower than it was without pyarrow; A0 shows how much, so the ratios can be read both ways;
- baseline B: the same, but each value typed as the parsers type it (quotes and escapes undone, integers,
  ``-`` as missing, timestamps as UTC datetimes): the same output, naively;
- ``parse_ztunnel`` / ``parse_envoy`` on the same file (typed columns, skipped-line accounting), with the
  compiled scanner (``ambient_lb/_logscan.c``, built by ``pip install``) that the library uses, and, for
  information, without it (``AMBIENT_LB_LOGS_PURE_PYTHON=1``: what a machine without a C compiler gets);
- the parser's peak memory (a separate run) as a multiple of the result's own ``memory_usage(deep=True)``:
  the peak that ``tracemalloc`` traces (Python objects, numpy) plus the peak of Arrow's memory pool, which
  ``tracemalloc`` does not see (text columns are Arrow-backed). The two peaks are added although they need
  not coincide, so the figure is an upper bound.

Note on memory: ``memory_usage(deep=True)`` counts a string object once per cell that refers to it, so a
result whose cells share objects (constant ``target``/``message`` columns) can read above the traced peak.

Times are CPU seconds of this process (``time.process_time``), so other load on a shared machine does not
skew the ratios. Targets (issue 5): throughput >= 10x the baseline, peak memory <= 2x the result.
Usage: ``python benchmarks/bench_logs.py [--lines N] [--formats ztunnel,envoy]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ambient_lb import logs
from ambient_lb.logs import parse_envoy, parse_ztunnel

PODS = ["in-ambient-7d8f9b6c54-abc12", "in-ambient-7d8f9b6c54-def34", "in-ambient-7d8f9b6c54-ghi56"]
IPS = ["10.0.65.144", "10.0.65.145", "10.0.65.146"]
GW = 'src.addr=10.0.71.117:{port} src.workload="http-9db6c8995-l54dw" src.namespace="kgateway-system" '
GW_ID = 'src.identity="spiffe://cluster.local/ns/kgateway-system/sa/http" '
DST = (
    'dst.addr={ip}:15008 dst.hbone_addr={ip}:8080 dst.service="in-ambient.httpbin.svc.cluster.local" '
    'dst.workload="{pod}" dst.namespace="httpbin" dst.identity="spiffe://cluster.local/ns/httpbin/sa/in-ambient" '
)


def ztunnel_line(rng: random.Random, i: int) -> str:
    k = rng.randrange(3)
    ts = f"2025-03-19T17:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000000:06d}Z"
    common = GW.format(port=40000 + i % 25000) + GW_ID + DST.format(ip=IPS[k], pod=PODS[k])
    roll = rng.random()
    if roll < 0.70:
        return f'{ts}\tinfo\taccess\tconnection complete\t{common}direction="inbound" bytes_sent={rng.randrange(9000)} bytes_recv={rng.randrange(900)} duration="{rng.randrange(9000)}ms"'
    if roll < 0.80:
        return (f'{ts}\tinfo\thttp access\trequest complete\t{common}direction="inbound" method=GET path="/hostname" '
                f'protocol=HTTP1 response_code=200 host="httpbin.example.com" user_agent="curl/8.7.1" '
                f'request_id="{rng.getrandbits(64):016x}" duration="{rng.randrange(50)}ms"')
    if roll < 0.86:
        return (f'{ts}\terror\taccess\tconnection complete\t{common}direction="outbound" bytes_sent=0 bytes_recv=0 '
                f'duration="{rng.randrange(9000)}ms" error="io error: Connection refused (os error 111)"')
    if roll < 0.90:  # pasted copy: tabs became spaces
        return f'{ts} info access connection complete {common}direction="inbound" bytes_sent=12 bytes_recv=34 duration="5ms"'
    if roll < 0.93:
        return f'{ts}\twarn\taccess\tconnection failed\tsrc.addr=10.0.71.117:{i % 60000} dst.addr={IPS[k]}:15008 direction="inbound" error="connection closed due to policy rejection: allow policies exist, but none allowed"'
    if roll < 0.94:
        return f'{ts}\terror\taccess\tconnection complete\t{common}direction="inbound" bytes_sent=0 bytes_recv=0 duration="1ms" error="http status: 503 \\"Service Unavailable\\""'
    if roll < 0.99:
        return f'{ts}\tinfo\txds::client:xds{{id=2}}\treceived response\ttype_url="type.googleapis.com/istio.workload.Address" size={i % 40}'
    return f"{ts}\tinfo\tinpod::statemanager\tpod received snapshot\t"


def envoy_line(rng: random.Random, i: int) -> str:
    k = rng.randrange(3)
    ts = f"2025-03-06T17:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    rid = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}"
    tail = (f'"in-ambient.httpbin.svc.cluster.local:8000" "envoy://connect_originate/{IPS[k]}:8080" '
            f"inbound-vip|8000|http|in-ambient.httpbin.svc.cluster.local envoy://internal_client_address/ "
            f"10.96.45.123:8000 10.10.0.14:{30000 + i % 30000} - default")
    roll = rng.random()
    if roll < 0.75:
        return f'[{ts}] "GET /hostname HTTP/1.1" 200 - via_upstream - "-" 0 {30 + k} {rng.randrange(40)} {rng.randrange(30)} "-" "curl/7.88.1" "{rid}" {tail}'
    if roll < 0.85:
        return (f'[{ts}] "GET /status/200 HTTP/1.1" 200 - via_upstream - "-" 0 0 3 2 "10.244.1.1,10.244.1.6" '
                f'"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)" "{rid}" {tail}')
    if roll < 0.92:
        return (f'[{ts}] "GET /hostname HTTP/1.1" 503 UC upstream_reset_before_response_started{{connection_termination}} '
                f'- "-" 0 95 {rng.randrange(40)} - "-" "curl/7.88.1" "{rid}" {tail}')
    if roll < 0.96:
        return (f'[{ts}] "- - -" 0 UF,URX - - "delayed_connect_error:_Connection_refused" 0 0 1 - "-" "-" "-" "-" '
                f'"-" connect_originate - {IPS[k]}:8080 envoy://internal_client_address/ - -')
    if roll < 0.98:
        return f'[{ts}] "GET /nope HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "curl/7.88.1" "{rid}" "httpbin.example.com" "-" - - 10.96.45.123:8000 10.10.0.14:{i % 60000} - -'
    return f"{ts[:-1]}123Z\tinfo\tcache\tGenerated new workload certificate\tlatency=112ms ttl=23h59m59s"


ZT_HEAD = re.compile(r"(\S+)\s+(\S+)\s+(http access|\S+)\s+(.*?)\s+(?=[\w.]+=)(.*)$")
ZT_PAIR = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)')
ENVOY_NAIVE = re.compile(
    r'\[(?P<start_time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" (?P<response_code>\S+) '
    r'(?P<response_flags>\S+) (?P<response_code_details>\S+) (?P<connection_termination_details>\S+) '
    r'"(?P<upstream_transport_failure_reason>[^"]*)" (?P<bytes_received>\S+) (?P<bytes_sent>\S+) (?P<duration>\S+) '
    r'(?P<upstream_service_time>\S+) "(?P<x_forwarded_for>[^"]*)" "(?P<user_agent>[^"]*)" "(?P<request_id>[^"]*)" '
    r'"(?P<authority>[^"]*)" "(?P<upstream_host>[^"]*)" (?P<upstream_cluster>\S+) (?P<upstream_local_address>\S+) '
    r"(?P<downstream_local_address>\S+) (?P<downstream_remote_address>\S+) (?P<requested_server_name>\S+) "
    r"(?P<route_name>\S+)"
)


def naive_ztunnel(path: Path) -> pd.DataFrame:
    rows = []
    with open(path) as f:
        for line in f:
            m = ZT_HEAD.match(line)
            if m:
                row = {"timestamp": m[1], "level": m[2], "target": m[3], "message": m[4]}
                row.update(ZT_PAIR.findall(m[5]))
                rows.append(row)
    return pd.DataFrame(rows)


def _zt_value(text: str) -> object:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return {"true": True, "false": False}.get(text, text)


def naive_ztunnel_typed(path: Path) -> pd.DataFrame:
    rows = []
    with open(path) as f:
        for line in f:
            m = ZT_HEAD.match(line)
            if m and m[3] in ("access", "http access"):
                row = {"timestamp": m[1], "level": m[2], "target": m[3], "message": m[4]}
                row.update((k, _zt_value(v)) for k, v in ZT_PAIR.findall(m[5]))
                if "duration" in row:
                    row["duration_ms"] = int(row["duration"][:-2])
                rows.append(row)
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"], format="ISO8601", utc=True)
    return df


ENVOY_INTS = ("response_code", "bytes_received", "bytes_sent", "duration", "upstream_service_time")


def naive_envoy_typed(path: Path) -> pd.DataFrame:
    rows = []
    with open(path) as f:
        for line in f:
            m = ENVOY_NAIVE.match(line)
            if m:
                row = {k: None if v == "-" else v for k, v in m.groupdict().items()}
                row.update((k, None if row[k] is None else int(row[k])) for k in ENVOY_INTS)
                rows.append(row)
    df = pd.DataFrame(rows)
    df["start_time"] = pd.to_datetime(df["start_time"], format="ISO8601", utc=True)
    for k in ENVOY_INTS:
        df[k] = df[k].astype("Int64")
    return df


def naive_envoy(path: Path) -> pd.DataFrame:
    rows = []
    with open(path) as f:
        for line in f:
            m = ENVOY_NAIVE.match(line)
            if m:
                rows.append(m.groupdict())
    return pd.DataFrame(rows)


def write_lines(path: Path, make: Callable[[random.Random, int], str], n: int) -> None:
    rng = random.Random(5)
    with open(path, "w") as f:
        for start in range(0, n, 10000):
            f.write("".join(make(rng, i) + "\n" for i in range(start, min(n, start + 10000))))


def timed(fn: Callable[[], pd.DataFrame]) -> tuple[float, pd.DataFrame]:
    gc.collect()
    t0 = time.process_time()
    df = fn()
    return time.process_time() - t0, df


_POOLS: list[pa.MemoryPool] = []


def peak_ratio(fn: Callable[[], pd.DataFrame]) -> tuple[float, float, int]:
    gc.collect()
    default_pool = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default_pool)  # counts its own peak: Arrow allocations of this run only
    _POOLS.append(pool)  # buffers allocated through a proxy are freed through it: it must outlive them
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        df = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(default_pool)
    result = int(df.memory_usage(deep=True).sum())
    return (peak + pool.max_memory()) / 1e6, result / 1e6, len(df)


def bench(name: str, make: Callable, parse: Callable, naives: tuple[Callable, Callable], n: int,
          tmp: Path) -> Iterator[str]:
    path = tmp / f"{name}.log"
    write_lines(path, make, n)
    size = path.stat().st_size / 1e6
    yield f"== {name}: {n:,} lines, {size:.0f} MB (CPU seconds)"
    t_base = []
    for label, naive in zip(("A untyped", "B typed  "), naives, strict=True):
        t, df = timed(lambda naive=naive: naive(path))
        t_base.append(t)
        yield f"   baseline {label} (re -> dict -> DataFrame): {t:7.2f} s {n / t:>10,.0f} lines/s ({len(df):,} rows)"
        del df
    if pd.__version__ >= "3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the option is deprecated (pandas 4 drops it): fine for a reference
            with pd.option_context("future.infer_string", False):
                t_a0, df = timed(lambda: naives[0](path))
        yield (f"   baseline A0 (A with object text columns):    {t_a0:7.2f} s {n / t_a0:>10,.0f} lines/s "
               "(information only)")
        del df
    else:
        t_a0 = t_base[0]
    t_fast, df = timed(lambda: parse(path))
    rows, skipped = len(df), df.attrs["skipped"]
    del df
    peak, result, _ = peak_ratio(lambda: parse(path))
    yield (f"   ambient_lb.logs.parse_{name} ({logs.engine()}):{' ' * (11 - len(name))}{t_fast:7.2f} s "
           f"{n / t_fast:>10,.0f} lines/s ({rows:,} rows, {skipped:,} skipped)")
    if logs.engine() == "compiled":
        compiled, logs.scanner.compiled = logs.scanner.compiled, None
        try:
            t_py, df = timed(lambda: parse(path))
        finally:
            logs.scanner.compiled = compiled
        assert len(df) == rows and df.attrs["skipped"] == skipped
        del df
        yield (f"   ... without the compiled scanner (python):    {t_py:7.2f} s {n / t_py:>10,.0f} lines/s "
               f"({t_base[0] / t_py:4.1f}x baseline A, information only)")
    yield (f"   throughput ratio: {t_base[0] / t_fast:4.1f}x baseline A, {t_base[1] / t_fast:4.1f}x baseline B, "
           f"{t_a0 / t_fast:4.1f}x A0  (target >= 10x A)")
    yield (f"   peak memory (traced + Arrow pool) {peak:,.0f} MB / result {result:,.0f} MB = {peak / result:4.2f}x  "
           "(target <= 2x)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per format (default 1,000,000)")
    ap.add_argument("--formats", default="ztunnel,envoy", help="comma list of formats (default ztunnel,envoy)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_logs_") as tmp:
        for name, make, parse, naive in (
            ("ztunnel", ztunnel_line, parse_ztunnel, (naive_ztunnel, naive_ztunnel_typed)),
            ("envoy", envoy_line, parse_envoy, (naive_envoy, naive_envoy_typed)),
        ):
            if name not in args.formats.split(","):
                continue
            for text in bench(name, make, parse, naive, args.lines, Path(tmp)):
                print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
