"""ztunnel and Envoy (gateway / waypoint) access logs -> pandas DataFrames, plus the questions the guide asks.

Who calls it: ``guide``/``checks`` and the notebooks, on the text that ``kubectl logs`` returns (from a real
cluster or from the simulator, which writes the same formats); the simulator's tests; ``benchmarks/bench_logs.py``
for speed. They import from here; the modules below are the package's inside.

Formats and their history: ``shared/research/log-formats.md`` (section numbers in the modules refer to it).

- ``parse_ztunnel(source)``: one row per ztunnel access record (target ``access`` or Solo's ``http access``),
  columns ``timestamp level target message`` then one column per key as the log spells it (§1).
- ``parse_envoy(source)``: one row per Envoy access line in Istio's default text format, columns named after
  Istio's JSON keys (``ENVOY_COLUMNS``), the request line split into ``method path protocol`` (§2). Older
  layouts (§2.1, ``ENVOY_LAYOUTS``) are recognised by shape and parsed into the same columns; anything else is
  skipped with a reason.
- ``identity_hops``, ``requests_per_pod``, ``response_flags``, ``join_by_request_id``, ``spiffe_id``,
  ``upstream_ip``, ``RESPONSE_FLAGS``: the guide's questions, asked of those frames.
- ``engine()``: ``"compiled"`` when the C scanner is in use, ``"python"`` otherwise (same frames).

``source`` is log text, an iterable of lines, bytes, a path (gzip too) or an open file (text or binary); it is
parsed as a stream, in chunks. Lines that are not access records are left out and counted:
``df.attrs["skipped"]`` (an int) and ``df.attrs["skipped_examples"]`` (up to five ``{"line", "reason",
"text"}`` dicts). Blank lines are ignored. Prefixes added by ``kubectl logs --prefix`` / ``--timestamps``,
stern and log viewers (§3) are understood and kept in ``log_pod``, ``log_container`` and ``log_time``.

Modules, by concern:

- ``sources``: sources read into blocks of whole lines; the prefixes log tools add to a line;
- ``chunks``: the chunk driver (the parser tiers, skipped-line accounting, rows merged in line order);
- ``columns``: Arrow and pandas column building;
- ``scanner``: the compiled scanner's glue (``ambient_lb._logscan``, built from ``_logscan.c``);
- ``split``: the token checks the split fast paths of both formats share;
- ``ztunnel``, ``envoy``: each format's line parser (the semantics), fast paths and scanner decoder;
- ``questions``: the analysis of parsed frames.
"""

from __future__ import annotations

from .envoy import ENVOY_COLUMNS, ENVOY_LAYOUTS, parse_envoy
from .questions import (
    RESPONSE_FLAGS,
    identity_hops,
    join_by_request_id,
    requests_per_pod,
    response_flags,
    spiffe_id,
    upstream_ip,
)
from .scanner import engine
from .ztunnel import ZTUNNEL_ACCESS_TARGETS, parse_ztunnel

__all__ = [
    "parse_ztunnel",
    "parse_envoy",
    "spiffe_id",
    "identity_hops",
    "requests_per_pod",
    "response_flags",
    "join_by_request_id",
    "RESPONSE_FLAGS",
    "upstream_ip",
    "ENVOY_COLUMNS",
    "ENVOY_LAYOUTS",
    "ZTUNNEL_ACCESS_TARGETS",
    "engine",
]
