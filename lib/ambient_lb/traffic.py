"""Send requests through the gateway, as the guide's curl loops do, and keep every answer as a row.

Who calls it: ``guide``/``checks`` and the notebooks (steps 2-4: "send requests", "which replica answered",
"send requests while a pod is deleted"). It takes an address (``host:port`` or a URL); where the gateway has
no external address, ``kube.py`` provides a managed ``kubectl port-forward`` and passes its local address.

- ``send_requests(address, host=..., count=9)``: N requests, sequential or with bounded concurrency; one row
  per request (``ROW_COLUMNS``). Errors are data: a timeout, a refused or reset connection, a DNS failure
  becomes a row with ``error`` set, never an exception.
- ``TrafficSampler``: keeps sending at a fixed rate in the background while another cell disrupts the
  cluster; ``mark("pod deleted")`` records a moment; ``stop()`` returns the timeline (a context manager,
  always stops its threads).

Like curl in the guide, each request opens a new connection by default (``reuse_connections=False``): on the
path without a waypoint, ztunnel balances per connection (semantics R4.5), so keep-alive would pin a client
to one pod. Uses urllib3 (installed with the ``kubernetes`` client); no asyncio, so it works inside a running
Jupyter event loop.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from ambient_lb.errors import ParameterError, TimedOut

__all__ = ["Target", "parse_address", "send_requests", "TrafficSampler", "ROW_COLUMNS", "ERROR_KINDS"]

ROW_COLUMNS = ("seq", "sent_at", "t", "status", "pod", "latency_ms", "error", "detail", "body")
BODY_LIMIT = 64 * 1024  # bytes of each response body kept (what `curl -s` would print)
ERROR_KINDS = {
    "timeout": "no response within the timeout (curl --max-time; e.g. a black-holed node)",
    "refused": "the TCP connection was refused (nothing listens: port-forward gone, gateway down)",
    "reset": "the connection was reset or closed before a full response (curl: empty reply / reset)",
    "dns": "the gateway host name does not resolve",
    "other": "another transport error (see detail)",
}
_HOSTNAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_PROGRESS_FROM = 50


@dataclass(frozen=True)
class Target:
    """Where requests go: scheme, IP or name, port, plus the Host header and path the guide uses."""

    scheme: str
    address: str
    port: int
    host: str
    path: str

    @property
    def url(self) -> str:
        """The target's URL (an IPv6 address in brackets)."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"


def parse_address(address: str, *, host: str, path: str = "/hostname") -> Target:
    """``"localhost:8080"``, ``"10.96.1.2"`` or ``"http://127.0.0.1:8080"`` -> Target; bad input -> ParameterError."""
    if not isinstance(address, str) or not address.strip():
        raise ParameterError(f"gateway address must be host:port or a URL, got {address!r}; e.g. 'localhost:8080'")
    text = address.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ParameterError(f"gateway address {address!r} is not host:port or an http(s) URL; e.g. 'localhost:8080'")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ParameterError(f"gateway address {address!r} has a bad port; e.g. 'localhost:8080'") from None
    if not path.startswith("/"):
        raise ParameterError(f"path must start with '/', got {path!r}; e.g. '/hostname'")
    if not host or any(c in host for c in " /\r\n"):
        raise ParameterError(f"Host header must be a host name, got {host!r}; e.g. 'httpbin.example.com'")
    return Target(parts.scheme, parts.hostname, port, host, path)


def pod_from_body(body: bytes) -> str | None:
    """The answering pod: go-httpbin's ``/hostname`` JSON (``{"hostname": "..."}``) or a plain-text name."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("hostname")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None
    return text if _HOSTNAME.fullmatch(text) else None


def _error_kind(exc: BaseException) -> str:
    """urllib3 exception -> one of ERROR_KINDS.

    Order matters: urllib3 2 makes NewConnectionError (refused, unreachable) a subclass of ConnectTimeoutError,
    and NameResolutionError a subclass of NewConnectionError, so the specific cases come first.
    """
    causes = [exc, *_causes(exc)]
    if isinstance(exc, NameResolutionError) or any(isinstance(c, socket.gaierror) for c in causes):
        return "dns"
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or (
        isinstance(exc, NewConnectionError) and "refused" in str(exc).lower()
    ):
        return "refused"
    if isinstance(exc, NewConnectionError):
        return "other"
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ProtocolError) or any(isinstance(c, (ConnectionResetError, BrokenPipeError)) for c in causes):
        return "reset"
    return "other"


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
        cur = cur.__cause__ or cur.__context__
        if cur is not None:
            out.append(cur)
    return out


class _Sender:
    """One urllib3 pool for a run; ``one(seq)`` sends one request and returns its row."""

    def __init__(self, target: Target, *, timeout: float, concurrency: int, reuse: bool, headers: Mapping[str, str]):
        self.target = target
        self.timeout = timeout
        self.headers = {"Host": target.host, "User-Agent": "ambient-lb", **headers}
        if not reuse:
            self.headers["Connection"] = "close"
        self.pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            self.pool = urllib3.HTTPSConnectionPool(target.address, target.port, maxsize=max(1, concurrency),
                                                    block=False, retries=False, cert_reqs="CERT_NONE",
                                                    assert_hostname=False)
        else:
            self.pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=max(1, concurrency),
                                                   block=False, retries=False)

    def one(self, seq: int, t0: float) -> dict[str, Any]:
        sent = time.time()
        start = time.perf_counter()
        row: dict[str, Any] = {"seq": seq, "sent_at": sent, "t": start - t0}
        try:
            resp = self.pool.request(
                "GET", self.target.path, headers=self.headers, timeout=urllib3.Timeout(total=self.timeout),
                retries=False, redirect=False, preload_content=True,
            )  # fmt: skip
        except (HTTPError, OSError) as exc:
            row.update(error=_error_kind(exc), detail=f"{type(exc).__name__}: {exc}"[:300])
        else:
            row.update(status=resp.status, pod=pod_from_body(resp.data),
                       body=resp.data[:BODY_LIMIT].decode("utf-8", "replace"))
            if row["pod"] is None:
                row["detail"] = resp.data[:200].decode("utf-8", "replace").strip()
        row["latency_ms"] = (time.perf_counter() - start) * 1000.0
        return row

    def close(self) -> None:
        self.pool.close()


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    df = df.sort_values("seq", ignore_index=True)
    df["sent_at"] = pd.to_datetime(df["sent_at"], unit="s", utc=True)
    df["status"] = df["status"].astype("Int64")
    df["latency_ms"] = df["latency_ms"].astype(float)
    for col in ("pod", "error", "detail", "body"):
        df[col] = df[col].astype("str")
    return df


def _check_counts(count: int, concurrency: int, timeout: float) -> None:
    if not isinstance(count, int) or count < 0:
        raise ParameterError(f"count must be a whole number >= 0, got {count!r}; e.g. count=9")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ParameterError(f"concurrency must be a whole number >= 1, got {concurrency!r}; e.g. concurrency=1")
    if not timeout or timeout <= 0:
        raise ParameterError(f"timeout must be > 0 seconds, got {timeout!r}; e.g. timeout=2.0 (curl --max-time 2)")


def _headless() -> bool:
    return os.environ.get("AMBIENT_LB_HEADLESS", "") in ("1", "true", "yes")


def _progress(count: int, progress: bool | None) -> Any:
    show = progress if progress is not None else (count >= _PROGRESS_FROM and not _headless())
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=count, desc="requests", unit="req", leave=False)


def send_requests(
    address: str,
    *,
    host: str,
    path: str = "/hostname",
    count: int = 9,
    concurrency: int = 1,
    timeout: float = 2.0,
    reuse_connections: bool = False,
    headers: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Send ``count`` GET requests and return one row per request, in send order.

    Columns (``ROW_COLUMNS``): ``seq`` (0..count-1), ``sent_at`` (UTC), ``t`` (seconds since the first send),
    ``status`` (Int64, NA on a transport error), ``pod`` (from the body, NA if none), ``latency_ms``,
    ``error`` (NA, or a kind from ``ERROR_KINDS``), ``detail`` (the error, or the body when it names no pod),
    ``body`` (the response body as text, up to ``BODY_LIMIT`` bytes; NA on a transport error).

    Example (the guide's step 2 loop):
        >>> rows = send_requests("localhost:8080", host="httpbin.example.com", count=9)
        >>> rows["pod"].value_counts()
    """
    target = parse_address(address, host=host, path=path)
    _check_counts(count, concurrency, timeout)
    sender = _Sender(target, timeout=timeout, concurrency=concurrency, reuse=reuse_connections, headers=headers or {})
    bar = _progress(count, progress)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ambient-lb-send") as pool:
            results = map(lambda s: sender.one(s, t0), range(count)) if concurrency == 1 else (
                pool.map(lambda s: sender.one(s, t0), range(count)))  # fmt: skip
            for row in results:
                rows.append(row)
                if bar is not None:
                    bar.update(1)
    finally:
        sender.close()
        if bar is not None:
            bar.close()
    return _frame(rows)


class TrafficSampler:
    """Send at a fixed rate in the background; ``stop()`` returns the timeline (rows as in ``send_requests``).

    Example (the guide's step 4, with evidence):
        >>> with TrafficSampler("localhost:8080", host="httpbin.example.com", rate=10) as sampler:
        ...     delete_one_pod()
        ...     sampler.mark("pod deleted")
        ...     wait_for_replacement()
        >>> timeline = sampler.timeline()   # timeline.attrs["marks"]: [{"t": 1.52, "label": "pod deleted"}]

    Sends are scheduled at ``t = k / rate`` on a worker pool sized for ``rate * timeout`` requests in flight,
    so a slow or timing-out request does not delay the next one. Waits use an Event, so ``stop()`` returns
    as soon as in-flight requests finish (at most ``timeout``).
    """

    def __init__(
        self,
        address: str,
        *,
        host: str,
        path: str = "/hostname",
        rate: float = 10.0,
        timeout: float = 1.0,
        reuse_connections: bool = False,
        headers: Mapping[str, str] | None = None,
    ):
        if not rate or rate <= 0 or rate > 1000:
            raise ParameterError(f"rate must be between 0 and 1000 requests per second, got {rate!r}; e.g. rate=10")
        self.target = parse_address(address, host=host, path=path)
        _check_counts(0, 1, timeout)
        self.rate = float(rate)
        self.workers = max(2, math.ceil(self.rate * timeout) + 1)
        self._sender = _Sender(self.target, timeout=timeout, concurrency=self.workers,
                               reuse=reuse_connections, headers=headers or {})  # fmt: skip
        self._rows: list[dict[str, Any]] = []
        self._marks: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._t0 = 0.0

    def start(self) -> TrafficSampler:
        """Starts sending requests at the set rate in the background; RuntimeError if it was already started."""
        if self._thread is not None:
            raise RuntimeError("this TrafficSampler was already started; create a new one for another run")
        self._t0 = time.perf_counter()
        pool = self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ambient-lb-sample")
        self._thread = threading.Thread(target=self._schedule, args=(pool,), name="ambient-lb-sampler", daemon=True)
        self._thread.start()
        return self

    def _schedule(self, pool: ThreadPoolExecutor) -> None:
        seq = 0
        while not self._stop.is_set():
            due = self._t0 + seq / self.rate
            if self._stop.wait(max(0.0, due - time.perf_counter())):
                break
            pool.submit(self._send, seq)
            seq += 1

    def _send(self, seq: int) -> None:
        row = self._sender.one(seq, self._t0)
        with self._lock:
            self._rows.append(row)
            self._lock.notify_all()

    def wait_for_rows(self, n: int, timeout: float = 30.0) -> None:
        """Block until at least ``n`` requests have completed (e.g. a baseline before disrupting); TimedOut if not."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._rows) >= n, timeout):
                raise TimedOut(
                    f"the traffic sampler completed {len(self._rows)} of {n} requests in {timeout:g}s; "
                    f"is it started and is {self.target.url} reachable?"
                )

    def mark(self, label: str) -> float:
        """Record that something happened now (e.g. ``"pod deleted"``); returns its time ``t`` in seconds."""
        t = time.perf_counter() - self._t0 if self._thread else 0.0
        with self._lock:
            self._marks.append({"t": t, "at": pd.Timestamp.now(tz="UTC"), "label": str(label)})
        return t

    def stop(self) -> pd.DataFrame:
        """Stop sending, wait for requests in flight, close connections; returns the timeline."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._sender.close()
        return self.timeline()

    def timeline(self) -> pd.DataFrame:
        """Rows so far (or all rows after ``stop``), in send order; ``attrs["marks"]`` holds the marks."""
        with self._lock:
            rows, marks = list(self._rows), list(self._marks)
        df = _frame(rows)
        df.attrs["marks"] = marks
        df.attrs["rate"] = self.rate
        return df

    @property
    def marks(self) -> pd.DataFrame:
        """The marks set so far (t, wall time, label), as a DataFrame."""
        with self._lock:
            return pd.DataFrame(self._marks, columns=["t", "at", "label"])

    def __enter__(self) -> TrafficSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
