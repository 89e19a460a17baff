"""ztunnel access records (log-formats.md §1) -> a DataFrame: ``parse_ztunnel`` and its line parser.

Who calls it: ``ambient_lb.logs`` re-exports ``parse_ztunnel`` and ``ZTUNNEL_ACCESS_TARGETS`` (the guide's
checks, notebooks, the simulator's tests). ``parse_ztunnel`` hands ``chunks.parse`` this format's parts:
``_zt_slow`` (the line parser: the semantics, and the skip reasons), ``_zt_pieces`` (the Python fast paths:
line shapes read by regex, ``_zt_split`` for a shape's lines) and ``_zt_compiled`` (the compiled scanner's
result as columns). Tests patch these names here; ``parse_ztunnel`` looks them up on every call.

A record is ``<timestamp> <level> <target> [<message>] key=value key="value" ...``, tab-separated as ztunnel
writes it or with runs of spaces as copied from docs and chat (§3), or a JSON object (§1.2); two records
glued on one line (the guide's copy) are both kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .chunks import Format, Skip, parse
from .columns import INT64, Columns, fits_int64, text_column
from .scanner import compiled_column, key_column
from .sources import KPREFIX, LEVELS, LTIME, PREFIX_COLS, STERN_POD, TS, prefix_re, prefix_values
from .split import SEP, TS_COLUMN, aligned, line_edges, odd_space, segments_fit

ZTUNNEL_ACCESS_TARGETS = ("access", "http access")
_MAX_SHAPES_PER_CHUNK = 16
_ZT_TIME_COLS = ("timestamp", "log_time")
_ZT_KINDS = {"bytes_sent": "int", "bytes_recv": "int", "response_code": "int", "duration_ms": "int"}
# Column order for the keys ztunnel writes (metrics.rs field order, §1.1); other keys follow alphabetically.
_ZT_ORDER = (
    "src.addr", "src.workload", "src.namespace", "src.identity", "src.cluster", "dst.addr", "dst.hbone_addr",
    "dst.service", "dst.workload", "dst.namespace", "dst.identity", "dst.cluster", "direction", "method", "path",
    "protocol", "response_code", "host", "user_agent", "request_id", "bytes_sent", "bytes_recv", "duration",
    "duration_ms", "error",
)  # fmt: skip


def parse_ztunnel(source: Any) -> pd.DataFrame:
    """ztunnel access records -> DataFrame (see ``ambient_lb.logs``; formats: log-formats.md §1).

    Columns: ``timestamp`` (UTC), ``level``, ``target`` (``access`` / ``http access``), ``message``, then one
    column per key as logged (``src.addr``, ``dst.workload``, ``bytes_sent``, ``error``...): quoted values
    unquoted and unescaped, bare integers as integers, ``true``/``false`` as booleans, the rest as text;
    ``duration`` as logged plus ``duration_ms``. A key a record does not carry is NA in that row.

    Example:
        >>> df = parse_ztunnel(kubectl_logs_text)
        >>> df[df.message == "connection complete"]["dst.workload"].value_counts()
    """
    cols = Columns(("timestamp", "level", "target", "message"), _ZT_TIME_COLS, _ZT_KINDS, _ZT_ORDER)
    return parse(source, cols, Format("scan_ztunnel", _zt_pieces, _zt_slow, _ZT_TIME_COLS, _zt_compiled))


# ---------------------------------------------------------------------------------------------------------
# The line parser (tier 3): the semantics
# ---------------------------------------------------------------------------------------------------------

_ZT_START = rf"{TS}[\t ]+(?:{LEVELS})[\t ]"
_ZT_HEAD = re.compile(prefix_re(_ZT_START) + rf"({TS})([\t ]+)({LEVELS})([\t ]+)(.*?)[\t\r ]*$")
_ZT_JSON_HEAD = re.compile(prefix_re(r"\{") + r"(\{.*\})[\t\r ]*$")
_ZT_KEY = re.compile(r"[ \t]*([A-Za-z_][\w.]*)=")
_ZT_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"(?=[\t ]|$)')
_ZT_BARE = re.compile(r'[^\s"]*(?=[\t ]|$)')
_ZT_GLUED = re.compile(rf"[ \t]*(?={TS}[\t ]+(?:{LEVELS})[\t ])")
_ZT_MSG_SPACES = re.compile(r"(.*?)(?:[ \t]+(?=[A-Za-z_][\w.]*=)|$)")
_ZT_KEY_START = re.compile(r"[A-Za-z_][\w.]*=")
_ZT_SPACED_ACCESS = re.compile(r"(?:http access|access) ")  # a tabbed header whose later tabs became spaces (R17.1)
_WORD = re.compile(r"[ \t]+(\S+)")
_INT = re.compile(r"-?\d+")
_RUST_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|.)")
_RUST_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s)")
_DURATION_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}


def _unescape(text: str) -> str:
    """Undo Rust ``Debug`` string escapes (``\\"``, ``\\\\``, ``\\n``, ``\\u{..}``) (§1 rule 6)."""
    if "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        esc = m[1]
        if esc.startswith("u{"):
            return chr(int(esc[2:-1], 16))
        return _RUST_ESCAPES.get(esc, "\\" + esc)

    return _RUST_ESCAPE.sub(one, text)


def _bare(text: str) -> Any:
    """A bare value: an integer (when int64 holds it: a longer number stays the text), a boolean, or text."""
    if _INT.fullmatch(text) and fits_int64(text):
        return int(text)
    return {"true": True, "false": False}.get(text, text)


def _duration_ms(text: Any) -> Any:
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    ms = round(float(m[1]) * _DURATION_MS[m[2]]) if m else None
    return ms if ms is None or ms in INT64 else None


def _zt_fields(text: str) -> tuple[dict[str, Any], set[str], str]:
    """Tokenize ``k=v k="v" ...``; returns the fields, the keys whose value was bare, and any glued next record."""
    fields: dict[str, Any] = {}
    bare_keys: set[str] = set()
    pos, last_bare = 0, None
    while pos < len(text):
        glued = _ZT_GLUED.match(text, pos)
        if glued and fields:  # the guide's copy joins two records on one line (log-formats.md §3)
            return _typed_bare(fields, bare_keys), bare_keys, text[glued.end():]
        m = _ZT_KEY.match(text, pos)
        if not m:
            word = _WORD.match(text, pos)
            if last_bare is None or not word:
                raise Skip(f"expected key=value at character {pos} of the fields: {text[pos:pos + 30]!r}")
            fields[last_bare] = f"{fields[last_bare]} {word[1]}"  # pre-1.23 unquoted values with spaces (§1.3)
            pos = word.end()
            continue
        key, pos = m[1], m.end()
        if key in fields:
            raise Skip(f"key {key!r} appears twice")
        if text.startswith('"', pos):
            q = _ZT_QUOTED.match(text, pos)
            if not q:
                raise Skip(f"unterminated or malformed quoted value for key {key!r}")
            fields[key], pos, last_bare = _unescape(q[1]), q.end(), None
        else:
            b = _ZT_BARE.match(text, pos)
            if not b:
                raise Skip(f"malformed value for key {key!r}: {text[pos:pos + 30]!r}")
            fields[key], pos, last_bare = b[0], b.end(), key
            bare_keys.add(key)
    return _typed_bare(fields, bare_keys), bare_keys, ""


def _typed_bare(fields: dict[str, Any], bare_keys: set[str]) -> dict[str, Any]:
    for key in bare_keys:
        fields[key] = _bare(fields[key])
    return fields


def _zt_header(rest: str, tabbed: bool) -> tuple[str, str, str]:
    """Split ``target [message] fields`` (tab-separated, or a copy with spaces, §3) into its three parts.

    A copy can keep some tabs and turn the others into spaces (``TS\tinfo\taccess    connection complete
    src.addr=...``): when the text before the first tab is an access target followed by a space, the rest
    is read as a copy with spaces (the message ends at the first ``key=``; _logscan.c defers such lines)."""
    if tabbed and not _ZT_SPACED_ACCESS.match(rest.split("\t", 1)[0]):
        parts = rest.split("\t", 2)
        if len(parts) == 1:
            return parts[0], "", ""
        if _ZT_KEY_START.match(parts[1]):
            return parts[0], "", "\t".join(parts[1:])
        return parts[0], parts[1], parts[2] if len(parts) > 2 else ""
    target = "http access" if rest.startswith("http access ") else rest.split(" ", 1)[0]
    after = rest[len(target):].lstrip(" \t")
    if _ZT_KEY_START.match(after):
        return target, "", after
    m = _ZT_MSG_SPACES.match(after)
    assert m is not None  # the pattern matches any text (its last alternative is $)
    return target, m[1], after[m.end():]


def _zt_text_parse(line: str) -> list[tuple[dict[str, Any], set[str], re.Match[str]]]:
    """One text line -> [(record, bare keys, header match)], two when a copy glued records together."""
    m = _ZT_HEAD.match(line)
    if not m:
        raise Skip("not a ztunnel log record (no '<timestamp> <level> <target>' at the start)")
    ts, sep1, level, sep2, rest = m.groups()[5:]
    target, message, fields_text = _zt_header(rest, "\t" in sep1 + sep2)
    if target not in ZTUNNEL_ACCESS_TARGETS:
        raise Skip(f"not an access-log record (target {target!r})")
    fields, bare_keys, glued = _zt_fields(fields_text)
    if "duration" in fields:
        fields = _with_duration_ms(fields)
    record = {"timestamp": ts, "level": level, "target": target, "message": message, **fields}
    record.update(prefix_values(*m.groups()[:5]))
    return [(record, bare_keys, m)] + (_zt_text_parse(glued) if glued else [])


def _with_duration_ms(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        out[key] = value
        if key == "duration":
            out["duration_ms"] = _duration_ms(value)
    return out


def _zt_json_record(m: re.Match[str]) -> list[dict[str, Any]]:
    try:
        obj = json.loads(m[6])
    except ValueError as exc:
        raise Skip(f"malformed JSON record: {exc}") from None
    if not isinstance(obj, dict) or obj.get("scope") not in ("access", "ztunnel::access"):
        raise Skip(f"not an access-log record (scope {obj.get('scope') if isinstance(obj, dict) else None!r})")
    record: dict[str, Any] = {"timestamp": obj.get("time"), "level": obj.get("level"), "target": "access",
                              "message": obj.get("message", "")}  # fmt: skip
    for key, value in obj.items():
        if key in ("time", "level", "scope", "message"):
            continue
        if isinstance(value, dict):  # a span object (§1.2): flattened as span.field
            record.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            record[key] = value
    if "duration" in record:
        record = _with_duration_ms(record)
    return [{**record, **prefix_values(*m.groups()[:5])}]


def _zt_slow(line: str) -> list[dict[str, Any]]:
    """One line -> its access records, or ``Skip`` with the reason. This defines what the fast path must match."""
    m = _ZT_JSON_HEAD.match(line)
    if m:
        return _zt_json_record(m)
    return [record for record, _, _ in _zt_text_parse(line)]


# ---------------------------------------------------------------------------------------------------------
# The Python fast paths: one regex per line shape (tier 2), and the split path for a shape's lines (tier 1)
# ---------------------------------------------------------------------------------------------------------

_ZT_VALUE_RX = {
    "q": r'"([^"\\\n]*)"',
    "i": r"(-?\d{1,18})",  # longer numbers: the line parser decides (int64 or text)
    "b": r"(true|false)",
    "s": r'([^\s"]+)',
    "d": r'"((-?\d{1,15})ms)"',  # longer: float rounding in _duration_ms decides
}


@dataclass(frozen=True)
class _Shape:
    """What the lines of one regex have in common: prefixes, target, message, keys in order and value kinds."""

    prefix: tuple[bool, bool, bool]  # kubectl --prefix, stern, log time
    target: str
    message: str
    keys: tuple[tuple[str, str], ...]  # (key, value kind: q quoted, i int, b bool, s bare text, d duration)
    tabbed: bool  # the header is tab-separated (ztunnel's own output), else a copy with spaces (§3)

    def header(self) -> str:
        """The line up to its first key, in the canonical separators only: tabs as ztunnel writes them, or runs
        of spaces. A line with other separators (say a tab after spaces) can split differently (_zt_header):
        no shape matches it, so the line parser decides."""
        kpre, stern, ltime = self.prefix
        sep = "\t" if self.tabbed else " +"
        rx = (KPREFIX if kpre else "") + (STERN_POD if stern else "") + (LTIME if ltime else "")
        rx += rf"({TS}){sep}({LEVELS}){sep}{re.escape(self.target)}"
        rx += sep + re.escape(self.message) if self.message else ""
        return rx + (sep if self.keys else "")

    def regex(self) -> re.Pattern[str]:
        rx = "^" + self.header()
        for i, (key, kind) in enumerate(self.keys):
            rx += ("" if i == 0 else r"[\t ]+") + rf"{re.escape(key)}={_ZT_VALUE_RX[kind]}"
        return re.compile(rx + r"[\t\r ]*$|^(.*)$", re.M)

    def header_rx(self) -> re.Pattern[str]:
        return _HEADER_CACHE.get(self) or _HEADER_CACHE.setdefault(self, re.compile("^" + self.header(), re.M))

    def groups_before_timestamp(self) -> int:
        kpre, stern, ltime = self.prefix
        return 2 * kpre + 2 * stern + ltime


def _zt_shape(line: str) -> _Shape | None:
    """The shape of a plain single-record line, or None when only the slow path may parse it."""
    if "\\" in line:
        return None
    try:
        parsed = _zt_text_parse(line)
    except Skip:
        return None
    if len(parsed) != 1:
        return None
    record, bare_keys, m = parsed[0]
    tabbed = "\t" in m[7] + m[9]  # the separators after the timestamp and after the level
    if (m[4] and not m[3]) or (tabbed and not m[10].startswith(record["target"] + "\t")):
        return None  # a bare container prefix, or a tabbed header with spaces after the target: line parser
    keys = []
    for key, value in list(record.items())[4:]:
        if key in PREFIX_COLS or key == "duration_ms":
            continue
        if key not in bare_keys:
            if '"' in value:
                return None
            kind = "d" if key == "duration" and record.get("duration_ms") is not None and _MS.fullmatch(value) else "q"
        else:
            kind = "b" if isinstance(value, bool) else "i" if isinstance(value, int) else "s"
            if kind == "s" and (not value or any(c in value for c in ' \t"')):
                return None
        if key == "duration" and kind in ("q", "s"):  # durations other than "<n>ms": duration_ms by the line parser
            return None
        keys.append((key, kind))
    return _Shape((bool(m[1]), bool(m[3]), bool(m[5])), record["target"], record["message"], tuple(keys), tabbed)


_MS = re.compile(r"-?\d+ms")
_SHAPE_CACHE: dict[_Shape, re.Pattern[str]] = {}
_HEADER_CACHE: dict[_Shape, re.Pattern[str]] = {}


def _apply_shape(shape: _Shape, lines: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a shape's regex over lines; returns (mask of the lines it parsed, columns of those rows)."""
    rx = _SHAPE_CACHE.get(shape) or _SHAPE_CACHE.setdefault(shape, shape.regex())
    found = rx.findall("\n".join(lines))
    if len(found) != len(lines):
        return np.zeros(len(lines), dtype=bool), {}
    groups = list(zip(*found, strict=True))
    i = shape.groups_before_timestamp()
    ok = np.array(groups[i], dtype=object) != ""
    j = i + 2
    for _, kind in shape.keys:  # a bare text column must not hold what the slow path types as int/bool
        if kind == "s":
            bad = _bare_typed_rows(np.array(groups[j], dtype=object))
            ok = ok if bad is None else ok & ~bad
        j += 2 if kind == "d" else 1
    if not ok.any():
        return ok, {}
    return ok, _shape_columns(shape, groups, ok)


def _shape_columns(shape: _Shape, groups: list[tuple[str, ...]], ok: np.ndarray) -> dict[str, np.ndarray]:
    all_ok = bool(ok.all())

    def col(j: int) -> np.ndarray:
        a = np.array(groups[j], dtype=object)
        return a if all_ok else a[ok]

    kpre, stern, ltime = shape.prefix
    out: dict[str, Any] = {}  # numpy arrays, and Arrow for the constant text columns
    i = 0
    if kpre or stern:
        out["log_pod"], out["log_container"] = col(0), col(1)
        i = 2
    if ltime:
        out["log_time"] = col(i)
        i += 1
    n = int(ok.sum())
    out["timestamp"], out["level"] = col(i), col(i + 1)
    # Arrow, not np.full: np.full passes a text through numpy's U dtype, which drops trailing NULs
    out["target"] = pa.repeat(pa.scalar(shape.target, type=pa.large_string()), n)
    out["message"] = pa.repeat(pa.scalar(shape.message, type=pa.large_string()), n)
    i += 2
    for key, kind in shape.keys:
        values = col(i)
        if kind == "i":
            values = np.array([int(v) for v in values], dtype=object)
        elif kind == "b":
            values = (values == "true").astype(object)
        out[key] = values
        if kind == "d":
            out["duration_ms"] = np.array([int(v) for v in col(i + 1)], dtype=object)
            i += 1
        i += 1
    return out


def _bare_typed_rows(values: np.ndarray | list[str]) -> np.ndarray | None:
    """Rows of a bare-text column whose value the slow path would type as int or bool (None when there are none)."""
    if not _TYPED_BARE.search("\n".join(values)):
        return None
    return np.array([not isinstance(_bare(v), str) for v in values])


_TYPED_BARE = re.compile(r"(?m)^(?:-?\d+|true|false)$")


def _zt_pieces(lines: list[str]) -> tuple[list[tuple[np.ndarray, dict[str, Any]]], list[int]]:
    """Fast path shape by shape over the lines not parsed yet; what no shape covers goes to the slow path.

    Returns the parsed pieces (line indices, columns) and the lines left to the line parser."""
    pending = np.arange(len(lines))
    quotes = np.fromiter((line.count('"') for line in lines), dtype=np.int64, count=len(lines))
    slow: list[int] = []
    parsed: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    for _ in range(_MAX_SHAPES_PER_CHUNK):
        shape, rep = None, 0
        while rep < len(pending) and (shape := _zt_shape(lines[pending[rep]])) is None:
            rep += 1
        slow.extend(pending[:rep].tolist())
        pending = pending[rep:]
        if shape is None:
            break
        ok, cols = _split_or_regex(shape, lines, pending, quotes)
        if cols:
            parsed.append((pending[ok], cols))
        if not ok[0]:  # the representative does not match its own shape: leave it to the slow path
            slow.append(int(pending[0]))
            ok[0] = True
        pending = pending[~ok]
    slow.extend(pending.tolist())
    return parsed, sorted(slow)


def _split_or_regex(
    shape: _Shape, lines: list[str], pending: np.ndarray, quotes: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """The shape's lines by splitting (lines with its quote count, all checked), else by its regex."""
    rep_quotes = quotes[pending[0]]
    header = shape.header_rx()
    same = (quotes[pending] == rep_quotes) & np.fromiter(
        (header.match(lines[i]) is not None for i in pending), dtype=bool, count=len(pending))
    cols = _zt_split(shape, [lines[i] for i in pending[same]], int(rep_quotes))
    if cols is not None:
        return same, cols
    return _apply_shape(shape, [lines[i] for i in pending])


def _shape_template(shape: _Shape) -> list[list[tuple[str, str]]]:
    """The outside-the-quotes segments of a shape's lines, each a list of (what, name) whitespace tokens.

    what: ``lit`` a fixed token, ``head`` a header value column, ``bare`` a ``key=value`` token. The first
    and the last segment of a line are joined (they meet at the line break when a chunk is split on quotes).
    """
    kpre, stern, ltime = shape.prefix
    first = [("head", "log_prefix")] * kpre + [("head", "log_pod"), ("head", "log_container")] * stern
    first += [("head", "log_time")] * ltime + [("head", "timestamp"), ("head", "level")]
    first += [("lit", word) for word in f"{shape.target} {shape.message}".split()]
    segments, current = [first], first
    for key, kind in shape.keys:
        if kind in ("q", "d"):
            current.append(("lit", f"{key}="))
            current = []
            segments.append(current)
        else:
            current.append(("bare", key))
    segments[0] = segments[0] + segments.pop()
    return segments


def _zt_split(shape: _Shape, lines: list[str], quotes: int) -> dict[str, Any] | None:
    """Parse lines of one shape by splitting on quotes and whitespace (no per-line regex); None if any line
    does not fit the shape exactly (then the caller uses the shape's regex). The lines start with the shape's
    header (the caller, ``_split_or_regex``, picks them so): its separators are not checked again here."""
    n = len(lines)
    block = "\n".join(lines)
    if n < 2 or SEP in block or "\\" in block:
        return None
    parts = block.split('"')
    if len(parts) != quotes * n + 1 or quotes == 0 or odd_space(block):
        return None
    starts, ends = line_edges(parts, quotes)
    between = [parts[2 * k :: quotes] for k in range(1, quotes // 2)]  # ' key=v key2=' between two quoted values
    if not (segments_fit(starts, False, False) and segments_fit(ends, True, None, empty=True)
            and all(segments_fit(segs, True, False) for segs in between)):  # fmt: skip
        return None  # e.g. 'key= "v"' or '"v"key=': the line parser reads these otherwise
    template = _shape_template(shape)
    outside = ["".join([parts[0], *parts[quotes::quotes]]).split("\n"), *between]
    raw: dict[str, list[str]] = {}
    for segs, spec in zip(outside, template, strict=False):
        tokens = aligned(segs, len(spec), n)
        if tokens is None or not _take_tokens(tokens, spec, raw):
            return None
    inside = [parts[2 * k + 1 :: quotes] for k in range(quotes // 2)]
    quoted = [key for key, kind in shape.keys if kind in ("q", "d")]
    raw.update(zip(quoted, inside, strict=False))
    return _split_columns(shape, raw, n)


def _take_tokens(tokens: list[str], spec: list[tuple[str, str]], raw: dict[str, list[str]]) -> bool:
    step = len(spec) + 1
    for j, (what, name) in enumerate(spec):
        column = tokens[j::step]
        if what == "lit":
            if set(column) != {name}:
                return False
        elif what == "head":
            raw[name] = column
        else:
            joined = SEP + SEP.join(column)
            if joined.count(f"{SEP}{name}=") != len(column):
                return False
            raw[name] = joined.replace(f"{SEP}{name}=", SEP).split(SEP)[1:]
    return True


_KPREFIX_TOKEN = re.compile(r"\[(?:pod/)?([^/\]\s]+)/([^\]\s]+)\]")


def _split_columns(shape: _Shape, raw: dict[str, list[str]], n: int) -> dict[str, Any] | None:
    """Raw token columns -> the same typed columns ``_shape_columns`` gives; None if a value does not fit."""
    if not TS_COLUMN.fullmatch("\n".join(raw["timestamp"])) or not set(raw["level"]) <= set(LEVELS.split("|")):
        return None
    out: dict[str, Any] = {}
    if "log_prefix" in raw:
        tokens = raw.pop("log_prefix")
        pods = [m for m in (_KPREFIX_TOKEN.fullmatch(t) for t in tokens) if m is not None]
        if len(pods) != len(tokens):
            return None
        out["log_pod"] = text_column([m[1] for m in pods])
        out["log_container"] = text_column([m[2] for m in pods])
    for name in ("log_pod", "log_container", "log_time", "timestamp", "level"):
        if name in raw:
            is_time = name in ("timestamp", "log_time")
            out[name] = np.array(raw[name], dtype=object) if is_time else text_column(raw[name])
    if "log_time" in raw and not TS_COLUMN.fullmatch("\n".join(raw["log_time"])):
        return None
    out["target"] = pa.repeat(pa.scalar(shape.target, type=pa.large_string()), n)
    out["message"] = pa.repeat(pa.scalar(shape.message, type=pa.large_string()), n)
    try:
        for key, kind in shape.keys:
            out.update(_split_value(key, kind, raw[key]))
    except ValueError:
        return None
    return out


def _split_value(key: str, kind: str, values: list[str]) -> dict[str, Any]:
    """One key's raw texts -> its column(s); ValueError when a text is not of the shape's kind."""
    if kind == "i":
        return {key: _int_array_strict(values)}
    if kind == "b":
        if not set(values) <= {"true", "false"}:
            raise ValueError(key)
        return {key: (np.array(values, dtype=object) == "true").astype(object)}
    if kind == "s" and (not all(values) or _bare_typed_rows(values) is not None):
        raise ValueError(key)
    arr = text_column(values)
    if kind == "d":
        joined = SEP.join(values) + SEP
        if joined.count("ms" + SEP) != len(values):
            raise ValueError(key)
        return {key: arr, "duration_ms": _int_array_strict(joined.replace("ms" + SEP, SEP).split(SEP)[:-1])}
    return {key: arr}


def _int_array_strict(values: list[str]) -> pd.arrays.IntegerArray:
    """Decimal texts (optionally negative) -> Int64; ValueError on anything else (e.g. ``-``, ``1.5``)."""
    if not _INT_COLUMN.fullmatch("\n".join(values)):
        raise ValueError("not integers")
    return pd.arrays.IntegerArray(np.array(values, dtype=np.int64), np.zeros(len(values), dtype=bool))


_INT_COLUMN = re.compile(r"(?:-?\d{1,18}\n)*-?\d{1,18}")


# ---------------------------------------------------------------------------------------------------------
# The compiled scanner's ztunnel result -> columns
# ---------------------------------------------------------------------------------------------------------

def _zt_compiled(scanned: tuple[Any, ...]) -> dict[str, Any]:
    """``scan_ztunnel``'s fixed columns, key columns and prefix columns (see _logscan.c) -> this chunk's columns."""
    fixed = ("timestamp", "level", "target", "message")
    cols = {name: compiled_column(spec) for name, spec in zip(fixed, scanned[3], strict=True)}
    for name, present, kinds, ints, offsets, data in scanned[4]:
        if present:  # keys of deferred lines only are left to the Python parsers
            cols[name] = key_column(kinds, ints, offsets, data)
    cols.update((name, compiled_column(spec)) for name, spec in scanned[5])
    return cols
