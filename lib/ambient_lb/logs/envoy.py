"""Envoy access lines (gateway, waypoint, sidecar; log-formats.md §2) -> a DataFrame: ``parse_envoy``.

Who calls it: ``ambient_lb.logs`` re-exports ``parse_envoy``, ``ENVOY_COLUMNS`` and ``ENVOY_LAYOUTS`` (the
guide's checks, notebooks, the simulator's tests). ``parse_envoy`` hands ``chunks.parse`` this format's parts:
``_envoy_slow`` (the line parser: every known layout, and the skip reasons), ``_envoy_pieces`` (the Python fast
paths for the current layout: ``_envoy_split``, else the ``_ENVOY_FAST`` regex) and ``_envoy_compiled`` (the
compiled scanner's result as columns). ``parse_envoy`` looks these names up on every call.

Lines are in Istio's default text format; older layouts (§2.1, with Istio 1.1-1.7's ``istio_policy_status``)
and the 2022 ambient preview's (a label after the route name: ``trailing``) are recognised by shape and
parsed into the same columns; anything else is skipped with a reason (``ENVOY_LAYOUTS``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .chunks import Format, Skip, parse
from .columns import Columns, fits_int64, int_array
from .scanner import compiled_column
from .sources import prefix_re, prefix_values
from .split import SEP, TS_COLUMN, aligned, line_edges, odd_space, segments_fit

ENVOY_COLUMNS = (
    "start_time", "method", "path", "protocol", "response_code", "response_flags", "response_code_details",
    "connection_termination_details", "upstream_transport_failure_reason", "bytes_received", "bytes_sent",
    "duration", "upstream_service_time", "x_forwarded_for", "user_agent", "request_id", "authority",
    "upstream_host", "upstream_cluster", "upstream_local_address", "downstream_local_address",
    "downstream_remote_address", "requested_server_name", "route_name",
)  # fmt: skip
_ENVOY_INTS = ("response_code", "bytes_received", "bytes_sent", "duration", "upstream_service_time")
_ENVOY_TIME_COLS = ("start_time", "log_time")
# Columns only some layouts have (after ENVOY_COLUMNS, in this order, when a line of such a layout was read):
# the Mixer policy status of Istio 1.1-1.7 (its JSON key, log-formats.md §2.1), and the listener's label
# that the 2022 ambient preview wrote after ROUTE_NAME (§2.2; semantics addendum R17.3, R17.4).
_ENVOY_EXTRA_COLUMNS = ("istio_policy_status", "trailing")
_ENVOY_KINDS = {name: "int" if name in _ENVOY_INTS else "str" for name in ENVOY_COLUMNS + _ENVOY_EXTRA_COLUMNS}

# Layouts after "[START_TIME] ": "req" is the quoted request line, "Q:" a quoted field, "L:" the preview's
# label (_LABEL). Newest first; matched by shape, never by count alone (§2.1), so a field is never shifted.
_HEADERS = "Q:x_forwarded_for Q:user_agent Q:request_id Q:authority Q:upstream_host"
_TAIL = "upstream_cluster upstream_local_address downstream_local_address downstream_remote_address"
ENVOY_LAYOUTS: tuple[tuple[str, str], ...] = (
    ("istio>=1.9", f"req response_code response_flags response_code_details connection_termination_details "
     f"Q:upstream_transport_failure_reason bytes_received bytes_sent duration upstream_service_time {_HEADERS} "
     f"{_TAIL} requested_server_name route_name"),
    ("ambient-preview-2022", f"req response_code response_flags response_code_details connection_termination_details "
     f"Q:upstream_transport_failure_reason bytes_received bytes_sent duration upstream_service_time {_HEADERS} "
     f"{_TAIL} requested_server_name route_name L:trailing"),
    ("istio-1.8", f"req response_code response_flags Q:upstream_transport_failure_reason bytes_received "
     f"bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name route_name"),
    ("istio-1.3..1.7", f"req response_code response_flags Q:istio_policy_status Q:upstream_transport_failure_reason "
     f"bytes_received bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name route_name"),
    ("istio-1.1..1.3", f"req response_code response_flags Q:istio_policy_status Q:upstream_transport_failure_reason "
     f"bytes_received bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name"),
    ("istio-1.0", f"req response_code response_flags bytes_received bytes_sent duration upstream_service_time "
     f"{_HEADERS} {_TAIL} requested_server_name"),
)  # fmt: skip
_ENVOY_START = r"\["
# The preview's label after ROUTE_NAME (``EnvoyTextLogFormat + label``: "capture outbound (no waypoint proxy)",
# "inbound hcm", "outbound tunnel", ...): lower-case words, maybe a remark in parentheses. Prose glued to a
# record (the guide's "... - defaultSend multiple requests ... waypoint.") is no label: skipped, not misread (R17.3).
_LABEL = r"([a-z][a-z0-9_-]*(?: [a-z][a-z0-9_-]*)*(?: \([a-z][a-z0-9_ -]*\))?)"
_ENVOY_TS = r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\] "


def parse_envoy(source: Any) -> pd.DataFrame:
    """Envoy access lines (Istio's default text format; gateway, waypoint, sidecar) -> DataFrame.

    Columns (Istio's JSON access-log key names, log-formats.md §2): ``start_time`` (UTC), ``method``,
    ``path``, ``protocol``, ``response_code``, ``response_flags``, ..., ``route_name``; then, when a line of such
    a layout was read, ``istio_policy_status`` (Istio 1.1-1.7's Mixer status) and ``trailing`` (the label the
    2022 ambient preview wrote after the route name), NA in the other rows. Integers are
    integers (``duration`` and ``upstream_service_time`` in ms); ``-``, bare or quoted, is NA. TCP lines
    (``"- - -"``) have NA method/path/protocol and response code 0.

    Example:
        >>> wp = parse_envoy(waypoint_logs_text)
        >>> wp.groupby("upstream_host").size()
    """
    cols = Columns(ENVOY_COLUMNS, _ENVOY_TIME_COLS, _ENVOY_KINDS, ENVOY_COLUMNS + _ENVOY_EXTRA_COLUMNS)
    return parse(source, cols, Format("scan_envoy", _envoy_pieces, _envoy_slow, _ENVOY_TIME_COLS, _envoy_compiled))


# ---------------------------------------------------------------------------------------------------------
# The line parser (tier 3): every known layout, by shape
# ---------------------------------------------------------------------------------------------------------


def _layout_regex(spec: str, fast: bool) -> tuple[re.Pattern[str], list[str]]:
    parts, names = [], []
    for token in spec.split():
        if token == "req":
            parts.append(r'"(\S+) (\S+) (\S+)"')
            names += ["method", "path", "protocol"]
        elif token.startswith("L:"):
            parts.append(_LABEL)
            names.append(token[2:])
        elif token.startswith("Q:"):
            greedy = token == "Q:user_agent" and not fast
            parts.append('"(.*)"' if greedy else '"([^"]*)"')
            names.append(token[2:])
        else:
            parts.append(r"(\d+|-)" if token in _ENVOY_INTS else r'([^\s"]\S*)')
            names.append(token)
    body = " ".join(parts)
    if fast:
        rx = prefix_re(_ENVOY_START) + _ENVOY_TS + body + r"[ \t\r]*$|^(.*)$"
        return re.compile(rx, re.M), names
    return re.compile(rf"(?:{_ENVOY_TS})?{body}[ \t\r]*$"), names


_ENVOY_FAST, _ENVOY_FAST_NAMES = _layout_regex(ENVOY_LAYOUTS[0][1], fast=True)
_ENVOY_SLOW = [(name, *_layout_regex(spec, fast=False)) for name, spec in ENVOY_LAYOUTS]
_ENVOY_SLOW_PREFIX = re.compile(prefix_re(r'(?:\[|")'))
_ENVOY_REQUEST_START = re.compile(rf'(?:{_ENVOY_TS})?"\S+ \S+ \S+" ')


def _envoy_value(name: str, text: str) -> Any:
    if text == "-":
        return None
    if name in _ENVOY_INTS:
        if not fits_int64(text):
            raise Skip(f"{name} {text[:30]!r} is beyond a 64-bit integer: not a real access-log value")
        return int(text)
    return text


def _envoy_slow(line: str) -> list[dict[str, Any]]:
    """One line -> its record in the first layout whose shape it has, or ``Skip`` with the reason (the semantics)."""
    pm = _ENVOY_SLOW_PREFIX.match(line)
    rest = line[pm.end():] if pm else line
    if not _ENVOY_REQUEST_START.match(rest):
        raise Skip('not an Envoy access-log line (no \'[START_TIME] "METHOD PATH PROTOCOL"\' at the start)')
    for _layout, rx, names in _ENVOY_SLOW:
        m = rx.match(rest)
        if m:
            record = {"start_time": m[1]}
            for name, text in zip(names, m.groups()[1:], strict=True):
                record[name] = _envoy_value(name, text)
            record.update(prefix_values(*pm.groups()) if pm else {})
            return [record]
    tokens = len(re.findall(r'"[^"]*"|\S+', rest.split("] ", 1)[-1]))
    raise Skip(
        f"does not match any known Istio access-log layout ({tokens} tokens after the timestamp; known: "
        + ", ".join(name for name, _ in ENVOY_LAYOUTS)
        + ")"
    )


# ---------------------------------------------------------------------------------------------------------
# The Python fast paths: the current layout by regex (tier 2) and by splitting (tier 1)
# ---------------------------------------------------------------------------------------------------------


def _envoy_fast(lines: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    found = _ENVOY_FAST.findall("\n".join(lines))
    if len(found) != len(lines):  # cannot happen with the catch-all branch; stay safe
        return np.zeros(len(lines), dtype=bool), {}
    groups = list(zip(*found, strict=True))
    ts = np.array(groups[5], dtype=object)
    ok = ts != ""
    for j, name in enumerate(_ENVOY_FAST_NAMES, start=6):  # numbers too long for int64: the line parser says why
        if name in _ENVOY_INTS:
            ok &= np.array([len(v) <= 18 for v in groups[j]], dtype=bool)
    all_ok = bool(ok.all())

    def col(j: int) -> np.ndarray:
        a = np.array(groups[j], dtype=object)
        return a if all_ok else a[ok]

    out: dict[str, Any] = {"start_time": ts if all_ok else ts[ok]}  # numpy arrays and pandas IntegerArrays
    for j, name in enumerate(_ENVOY_FAST_NAMES, start=6):
        values = col(j)
        dash = values == "-"
        if name in _ENVOY_INTS:
            out[name] = int_array(values)
            continue
        if dash.any():
            values[dash] = None
        out[name] = values
    kp, kc, sp, sc, lt = (col(j) for j in range(5))
    pods, containers = np.where(kp != "", kp, sp), np.where(kp != "", kc, sc)  # stern's pod may be absent
    if (pods != "").any():
        out["log_pod"] = _blank_to_none(pods.astype(object))
    if (containers != "").any():
        out["log_container"] = _blank_to_none(containers.astype(object))
    if (lt != "").any():
        out["log_time"] = _blank_to_none(lt.copy())
    return ok, out


_QUOTES_PER_LINE = 14  # the current layout: request line + 6 quoted fields, 2 quotes each


def _dash_na(values: list[str]) -> pa.Array[Any]:
    """Envoy text tokens -> an Arrow string array with ``-`` as null (built without numpy object arrays)."""
    arr = pa.array(values, type=pa.large_string())
    # a fresh array without nulls: its value bits become the validity bits (pyarrow wraps the str as a scalar;
    # pyarrow-stubs lists no str operand)
    present = pc.not_equal(arr, "-")  # type: ignore[call-overload]
    if pc.all(present).as_py():
        return arr
    # an array built from Python strings always has its offsets and data buffers (stubs type them Optional)
    return pa.LargeStringArray.from_buffers(len(arr), arr.buffers()[1], arr.buffers()[2],  # type: ignore[arg-type]
                                            present.buffers()[1])


def _envoy_split(lines: list[str]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Fast path for plain current-layout lines: split the chunk on quotes and spaces, no per-line regex.

    Only lines with exactly 14 quotes take part; every group of fields is checked to have its exact token
    count line by line (separator tokens), else None and the caller uses the regex path.
    """
    cand = np.fromiter((line.count('"') == _QUOTES_PER_LINE for line in lines), dtype=bool, count=len(lines))
    sub = lines if cand.all() else [line for line, c in zip(lines, cand, strict=True) if c]
    n = len(sub)
    block = "\n".join(sub)
    if not n or SEP in block:
        return None
    parts = block.split('"')
    if len(parts) != _QUOTES_PER_LINE * n + 1 or any(set(parts[j::14]) != {" "} for j in (6, 8, 10, 12)):
        return None
    req, head, nums = aligned(parts[1::14], 3, n), aligned(parts[2::14], 4, n), aligned(parts[4::14], 4, n)
    tail = aligned("".join([parts[0], *parts[14::14]]).split("\n"), 7, n)
    if req is None or head is None or nums is None or tail is None:
        return None
    stamps = [t[1:-1] if t[0] == "[" and t[-1] == "]" else "" for t in tail[0::8]]
    if "" in set(stamps) or not TS_COLUMN.fullmatch("\n".join(stamps)):
        return None
    if not _ENVOY_INT_COLUMN.fullmatch("\n".join(head[0::5] + nums[0::5] + nums[1::5] + nums[2::5] + nums[3::5])):
        return None
    starts, ends = line_edges(parts, _QUOTES_PER_LINE)
    if "\t" in block or odd_space(block) or not (  # single spaces between fields, as the regex reads them
        segments_fit(starts, False, True, spaces=1) and segments_fit(ends, True, False, spaces=6)
        and segments_fit(parts[1::14], False, False, spaces=2) and segments_fit(parts[2::14], True, True, spaces=5)
        and segments_fit(parts[4::14], True, True, spaces=5)
    ):  # fmt: skip
        return None
    try:
        cols: dict[str, Any] = {"start_time": np.array(stamps, dtype=object), "response_code": int_array(head[0::5])}
        for j, name in enumerate(("bytes_received", "bytes_sent", "duration", "upstream_service_time")):
            cols[name] = int_array(nums[j::5])
    except ValueError:
        return None
    for j, name in enumerate(("method", "path", "protocol")):
        cols[name] = _dash_na(req[j::4])
    for j, name in enumerate(("response_flags", "response_code_details", "connection_termination_details"), start=1):
        cols[name] = _dash_na(head[j::5])
    for j, name in zip((3, 5, 7, 9, 11, 13), ("upstream_transport_failure_reason", "x_forwarded_for", "user_agent",
                                               "request_id", "authority", "upstream_host"), strict=True):  # fmt: skip
        cols[name] = _dash_na(parts[j::14])
    for j, name in enumerate(ENVOY_COLUMNS[-6:], start=1):
        cols[name] = _dash_na(tail[j::8])
    return cand, {name: cols[name] for name in ENVOY_COLUMNS}


_ENVOY_INT_COLUMN = re.compile(r"(?:(?:\d{1,18}|-)\n)*(?:\d{1,18}|-)")


def _blank_to_none(values: np.ndarray) -> np.ndarray:
    values[values == ""] = None
    return values


def _envoy_pieces(lines: list[str]) -> tuple[list[tuple[np.ndarray, dict[str, Any]]], list[int]]:
    split = _envoy_split(lines)
    ok, cols = split if split is not None else _envoy_fast(lines)
    idx = np.arange(len(lines))
    return ([(idx[ok], cols)] if ok.any() else []), idx[~ok].tolist()


# ---------------------------------------------------------------------------------------------------------
# The compiled scanner's Envoy result -> columns
# ---------------------------------------------------------------------------------------------------------


def _envoy_compiled(scanned: tuple[Any, ...]) -> dict[str, Any]:
    """``scan_envoy``'s fixed columns and prefix columns (see _logscan.c) -> this chunk's columns."""
    cols = {name: compiled_column(spec) for name, spec in zip(ENVOY_COLUMNS, scanned[3], strict=True)}
    cols.update((name, compiled_column(spec)) for name, spec in scanned[4])
    return cols
