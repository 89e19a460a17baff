"""ztunnel and Envoy (gateway / waypoint) access logs -> pandas DataFrames, plus the questions the guide asks.

Who calls it: ``guide``/``checks`` and the notebooks, on the text that ``kubectl logs`` returns (from a real
cluster or from the simulator, which writes the same formats); ``benchmarks/bench_logs.py`` for speed.

Formats and their history: ``shared/research/log-formats.md`` (section numbers below refer to it).

- ``parse_ztunnel(source)``: one row per ztunnel access record (target ``access`` or Solo's ``http access``),
  columns ``timestamp level target message`` then one column per key as the log spells it (§1).
- ``parse_envoy(source)``: one row per Envoy access line in Istio's default text format, columns named after
  Istio's JSON keys, the request line split into ``method path protocol`` (§2). Older layouts (§2.1) are
  recognised by shape and parsed into the same columns; anything else is skipped with a reason.

``source`` is log text, an iterable of lines, bytes, a path (gzip too) or an open file (text or binary).
Parsing streams: the source is read in blocks of whole lines (a file into one reused buffer) and parsed in
chunks of at most ``CHUNK_LINES`` lines; lines end at ``\n`` (a ``\r`` before it is trailing whitespace; a
text file object opened with universal newlines has already turned a lone ``\r`` into a line break). Lines
that are not access records are left out and counted: ``df.attrs["skipped"]`` (an int) and
``df.attrs["skipped_examples"]`` (up to five ``{"line", "reason", "text"}`` dicts). Blank lines are ignored.
Prefixes added by ``kubectl logs --prefix`` / ``--timestamps``, stern and log viewers (§3) are understood
and kept in ``log_pod``, ``log_container`` and ``log_time`` when present. Known columns come in the
format's order, other ztunnel keys alphabetically, the prefix columns last.

Speed, in tiers per chunk of lines (tests/evidence check that every tier gives the line parser's rows, line by
line, on real and on mutated lines):

0. compiled scanner (``_logscan.c``, built by ``pip install``; ``engine()`` says whether it is in use): the
   current-format lines in printable ASCII, bare or with the prefixes of ``kubectl logs --prefix`` and
   ``--timestamps`` (stern's are left to Python), parsed in C straight into the buffers
   of Arrow text columns and numpy int/timestamp columns (no Python object per value). It leaves to the
   Python tiers every line it is not sure of (``_ROW``/``_DEFER``/``_SKIP`` per line), and tells which lines
   are certainly not access records, so only the first few of those are parsed for their skip reason;
1. split path: the lines of one *shape* (same keys, same quoting, same prefixes, canonical separators) are
   parsed together by splitting the joined chunk on quotes and whitespace, with every line's token layout
   checked; no per-line Python code beyond the checks (``_envoy_split``, ``_zt_split``);
2. regex path, when a chunk does not split cleanly: one compiled regex per shape over the chunk;
3. line path: a careful per-line tokenizer (``_zt_slow``, ``_envoy_slow``) for everything else (escaped
   quotes, older layouts, glued records, JSON). It defines the semantics; it also decides what is skipped.

Without the scanner (no C compiler at install time, or ``AMBIENT_LB_LOGS_PURE_PYTHON=1``) tiers 1-3 do all
the work, with the same results, several times slower (``benchmarks/bench_logs.py`` prints both).

Text columns are pandas "str" columns; with pandas >= 3 and pyarrow they are Arrow-backed, so the tiers
build them as Arrow arrays (the scanner: offsets and data; the split path: from its token lists, ``_text``,
``_dash_na``) and chunks stay in Arrow until the frame is made (``_merged_text``, ``_arrow_text``): building
them value by value through ``pd.array(objects, dtype="str")`` cost about four times as much. Columns whose
values are of mixed kinds are typed as a whole from Python objects (``_typed_array``). Numbers beyond a
64-bit integer are not integers: a ztunnel value keeps its text, an Envoy line is skipped with the reason.

A plain text source is parsed as log text unless it is a single line naming an existing file.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
]

CHUNK_LINES = 32768
MAX_EXAMPLES = 5
_MAX_SHAPES_PER_CHUNK = 16

# ---------------------------------------------------------------------------------------------------------
# Sources: text, lines, paths (gzip), open files -> chunks of lines
# ---------------------------------------------------------------------------------------------------------


def _open_path(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


_BLOCK = 1 << 23  # bytes (or characters of a text source) read at a time


def _blocks(source: Any) -> Iterator[_Block]:
    """The source as blocks of whole lines (UTF-8), each a view valid until the next block is asked for."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source).cast("B")
        if len(data):
            yield _Block(data, "replace")
    elif isinstance(source, str) and "\n" not in source and len(source) < 4096 and os.path.isfile(source):
        yield from _blocks(Path(source))
    elif isinstance(source, os.PathLike):
        with _open_path(Path(source)) as f:
            yield from _binary_blocks(f)
    elif isinstance(source, str):
        start = 0
        while start < len(source):  # cut at line breaks, so no block is copied to join a line's two parts
            cut = source.rfind("\n", start, start + _BLOCK) + 1 if len(source) - start > _BLOCK else len(source)
            cut = cut or len(source)
            yield _text_block(source[start:cut])
            start = cut
    elif hasattr(source, "read"):
        if hasattr(source, "readinto") and not isinstance(source, io.TextIOBase):
            yield from _binary_blocks(source)
        else:
            carry = ""
            while block := source.read(_BLOCK):
                if isinstance(block, bytes):
                    block = block.decode("utf-8", "replace")
                text = carry + block
                cut = text.rfind("\n") + 1
                carry = text[cut:]
                if cut:
                    yield _text_block(text[:cut])
            if carry:
                yield _text_block(carry)
    elif isinstance(source, Iterable):
        batch: list[str] = []
        for line in source:
            if isinstance(line, (bytes, bytearray)):
                line = bytes(line).decode("utf-8", "replace")
            batch.append(line.rstrip("\n"))  # a "line" may hold several (e.g. a pasted block)
            if len(batch) >= CHUNK_LINES:
                yield _text_block("\n".join(batch) + "\n")
                batch = []
        if batch:
            yield _text_block("\n".join(batch) + "\n")
    else:
        raise TypeError(
            f"log source must be text, an iterable of lines, a path or an open file, not {type(source).__name__}; "
            'e.g. parse_envoy(kubectl_logs_text) or parse_ztunnel(Path("ztunnel.log.gz"))'
        )


def _text_block(text: str) -> _Block:
    """Text as a block: encoded so that decoding a line gives back exactly the text given."""
    return _Block(memoryview(text.encode("utf-8", "surrogatepass")), "surrogatepass")


def _binary_blocks(f: BinaryIO) -> Iterator[_Block]:
    """Read a binary file into one reused buffer; each block ends at a line break (the rest is kept)."""
    buf = bytearray(_BLOCK)
    kept = 0
    while True:
        if kept == len(buf):  # a line longer than the buffer
            bigger = bytearray(2 * len(buf))
            bigger[:kept] = buf
            buf = bigger
        got = f.readinto(memoryview(buf)[kept:])
        if not got:
            if kept:
                yield _Block(memoryview(buf)[:kept], "replace")
            return
        filled = kept + got
        cut = buf.rfind(b"\n", 0, filled) + 1
        if not cut:
            kept = filled
            continue
        yield _Block(memoryview(buf)[:cut], "replace")
        buf[: filled - cut] = buf[cut:filled]  # same length: no resize while a view may still exist
        kept = filled - cut


@dataclass
class _Block:
    """Whole lines (each ended by a line break, except maybe the last of the source) as UTF-8 bytes, and how
    to decode a line of them: bad bytes of a file replaced; encoded text back exactly as it was given."""

    data: memoryview
    errors: str

    def lines(self) -> list[str]:
        text = str(self.data, "utf-8", self.errors)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        return lines

    def line(self, ends: np.ndarray, i: int) -> str:
        """Line ``i``, given the offsets of the line ends (from the compiled scanner)."""
        start = int(ends[i - 1]) + 1 if i else 0
        return str(self.data[start : int(ends[i])], "utf-8", self.errors)


# ---------------------------------------------------------------------------------------------------------
# Skipped-line accounting
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Skips:
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line_no: int, reason: str, text: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            shown = text if len(text) <= 200 else text[:197] + "..."
            self.examples.append({"line": line_no, "reason": reason, "text": shown})


class _Skip(Exception):
    """A line is not an access record; the message is the reason shown in ``skipped_examples``."""


# ---------------------------------------------------------------------------------------------------------
# Shared regex pieces (§3 prefixes, timestamps)
# ---------------------------------------------------------------------------------------------------------

_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
_LEVELS = "trace|debug|info|warn|error"
_KPREFIX = r"\[(?:pod/)?([^/\]\s]+)/([^\]\s]+)\][ \t]+"  # kubectl logs --prefix
_STERN = r"([a-z0-9][-a-z0-9.]*)[ \t]+([a-z0-9][-a-z0-9]*)[ \t]+"  # stern: <pod> <container>
_LTIME = rf"({_TS})[ \t]+(?:\|[ \t]+)?"  # kubectl --timestamps, or a viewer's "TS | "


def _prefix_re(record_start: str) -> str:
    """Optional prefixes, captured as (kpod, kcontainer, spod, scontainer, log_time), before ``record_start``."""
    return rf"^(?:{_KPREFIX}|{_STERN})?(?:{_LTIME}(?={record_start}))?"


_PREFIX_COLS = ("log_pod", "log_container", "log_time")


def _prefix_values(kpod: str, kcont: str, spod: str, scont: str, ltime: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kpod or spod:
        out["log_pod"], out["log_container"] = (kpod, kcont) if kpod else (spod, scont)
    if ltime:
        out["log_time"] = ltime
    return out


# ---------------------------------------------------------------------------------------------------------
# Column assembly: chunk pieces (object arrays by row) -> typed pandas columns
# ---------------------------------------------------------------------------------------------------------


class _Columns:
    """Rows of one parse, stored column-wise in chunk pieces; ``frame()`` types and joins them column by column."""

    def __init__(
        self, core: tuple[str, ...], time_cols: tuple[str, ...], kinds: Mapping[str, str], known: tuple[str, ...]
    ):
        self.order: list[str] = list(core)
        self.rank = {name: i for i, name in enumerate(core + known)}
        self.core = core
        self.time_cols = time_cols
        self.kinds = kinds  # column -> "int" when the format says so; other columns are typed by their values
        self.pieces: list[tuple[int, dict[str, np.ndarray]]] = []

    def add_chunk(self, n: int, cols: dict[str, np.ndarray]) -> None:
        if not n:
            return
        for name in cols:
            if name not in self.order:
                self.order.append(name)
        for name, values in cols.items():
            if name in self.time_cols:
                cols[name] = _as_utc(values)
            elif self._is_text(name, values):  # to Arrow now, while this chunk's strings are fresh in cache
                cols[name] = pa.array(values, type=pa.large_string(), from_pandas=True)
        self.pieces.append((n, cols))

    def _is_text(self, name: str, values: Any) -> bool:
        if not isinstance(values, np.ndarray) or values.dtype != object:
            return False
        kind = self.kinds.get(name)
        return kind == "str" or (kind is None and pd.api.types.infer_dtype(values, skipna=True) == "string")

    def frame(self) -> pd.DataFrame:
        if not self.pieces:
            return pd.DataFrame({c: pd.Series([], dtype=_empty_dtype(c, self)) for c in self.core})
        data: dict[str, Any] = {}
        for name in self.order:
            parts = [cols.pop(name, None) for _, cols in self.pieces]
            if name not in self.core and all(p is None for p in parts):
                continue
            kind = "time" if name in self.time_cols else self.kinds.get(name)
            parts = [_na_part(n, kind) if p is None else p for (n, _), p in zip(self.pieces, parts)]
            data[name] = self._typed(name, parts)
            del parts
        return pd.DataFrame({name: data[name] for name in self._column_order(data)}, copy=False)

    def _column_order(self, data: dict[str, Any]) -> list[str]:
        """Known columns in the format's order, other keys alphabetically, the log prefix columns last (the same
        order whichever parser path met a key first)."""
        names = sorted((c for c in data if c not in _PREFIX_COLS), key=lambda c: (self.rank.get(c, len(self.rank)), c))
        return names + [c for c in _PREFIX_COLS if c in data]

    def _typed(self, name: str, parts: list[Any]) -> Any:
        if name in self.time_cols:
            return pd.DatetimeIndex(np.concatenate(parts)).tz_localize("UTC")
        if all(isinstance(p, pd.arrays.IntegerArray) for p in parts):
            return parts[0] if len(parts) == 1 else pd.arrays.IntegerArray._concat_same_type(parts)
        text = _arrow_text(parts) if self.kinds.get(name) != "int" else None
        if text is not None:
            return _str_from_arrow(text)
        parts = [_object_array(p) for p in parts]
        arr = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return _typed_array(arr, self.kinds.get(name))


def _empty_dtype(name: str, cols: _Columns) -> Any:
    if name in cols.time_cols:
        return "datetime64[ns, UTC]"
    return "Int64" if cols.kinds.get(name) == "int" else "str"


def _na_part(n: int, kind: str | None) -> Any:
    if kind == "time":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if kind == "int":
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    if kind == "str":
        return pa.nulls(n, type=pa.large_string())
    return np.full(n, None, dtype=object)


def _arrow_text(parts: list[Any]) -> pa.ChunkedArray | None:
    """The pieces of a column as one Arrow string column, if they are Arrow text or all missing (else None)."""
    if not any(isinstance(p, pa.Array) for p in parts):
        return None
    out = []
    for p in parts:
        if isinstance(p, pa.Array):
            out.append(p)
        elif isinstance(p, np.ndarray) and bool(pd.isna(p).all()):
            out.append(pa.nulls(len(p), type=pa.large_string()))
        else:
            return None  # other values in other chunks (ints, bools): typed value by value
    return pa.chunked_array(out, type=pa.large_string())


def _object_array(part: Any) -> np.ndarray:
    """A column piece (object array, pandas extension array or Arrow array) as an object array (None for NA)."""
    if isinstance(part, pa.Array):
        return part.to_numpy(zero_copy_only=False)
    if isinstance(part, pd.api.extensions.ExtensionArray):
        return part.to_numpy(dtype=object, na_value=None)
    return part


# pandas' "str" dtype (pandas 3 with pyarrow: Arrow storage, NaN as missing). Text columns are built as Arrow
# arrays straight from Python strings: about 4x cheaper per value than pd.array(objects, dtype="str"), same result.
_STR = pd.array([], dtype="str").dtype


def _str_from_arrow(values: pa.ChunkedArray) -> Any:
    """An Arrow string column -> a pandas "str" array (no copy of the text when the dtype is Arrow-backed)."""
    if hasattr(_STR, "__from_arrow__"):
        return _STR.__from_arrow__(values)
    return pd.array(values.to_numpy(), dtype="str")  # pandas < 3: "str" is numpy object


def _str_array(values: Any) -> Any:
    """Strings (None/NaN for missing), as a list or an object array -> a pandas "str" array."""
    return _str_from_arrow(pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)]))


def _int_array(values: list[str] | np.ndarray) -> pd.arrays.IntegerArray:
    """Decimal texts, ``-`` for missing -> Int64 (ValueError on anything else, and on numbers beyond int64)."""
    arr = np.asarray(values, dtype=object)
    dash = arr == "-"
    if dash.any():
        arr = arr.copy()
        arr[dash] = "0"
    try:
        return pd.arrays.IntegerArray(np.array(arr.tolist(), dtype=np.int64), dash)
    except OverflowError:
        raise ValueError("an integer beyond int64") from None


_INT64 = range(-(2**63), 2**63)


def _fits_int64(text: str) -> bool:
    return int(text) in _INT64


def _to_utc(arr: np.ndarray) -> np.ndarray:
    """Timestamps text (``...Z``, 3-9 fractional digits) -> naive datetime64[ns] in UTC."""
    parsed = pd.to_datetime(pd.Series(arr, dtype=object), format="ISO8601", utc=True, errors="coerce")
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _typed_array(arr: np.ndarray, kind: str | None) -> Any:
    """Object array of str/int/bool/None -> Int64, boolean, str, or object when values are mixed."""
    if kind == "str":  # the format says text (Envoy's non-integer fields): no need to look
        return _str_array(arr)
    inferred = pd.api.types.infer_dtype(arr, skipna=True)
    if kind == "int" or inferred == "integer":
        if inferred in ("integer", "empty"):
            return pd.array(arr, dtype="Int64")
    if inferred == "boolean":
        return pd.array(arr, dtype="boolean")
    if inferred in ("string", "empty"):
        return _str_array(arr)
    return arr  # mixed values: kept as logged, per value


# ---------------------------------------------------------------------------------------------------------
# The compiled scanner (_logscan.c) and the chunk driver
# ---------------------------------------------------------------------------------------------------------

_ABI = 3  # _logscan.c's ABI_VERSION: an older build beside newer code is not used (pip install -e . rebuilds it)
try:
    from . import _logscan as _compiled
except ImportError:  # no C compiler where the package was installed: every line is parsed in Python
    _compiled = None
if _compiled is not None and getattr(_compiled, "ABI", None) != _ABI:
    warnings.warn(
        f"ambient_lb._logscan is out of date (ABI {getattr(_compiled, 'ABI', None)}, this code needs {_ABI}): "
        "the log parsers run in pure Python (about 10x slower) until `pip install -e .` rebuilds it",
        RuntimeWarning, stacklevel=1,
    )
    _compiled = None
if os.environ.get("AMBIENT_LB_LOGS_PURE_PYTHON", "") not in ("", "0"):
    _compiled = None

_ROW, _DEFER, _BLANK, _SKIP = range(4)  # line status from the scanner
_K_MISSING, _K_TEXT, _K_INT, _K_BOOL = range(4)  # value kinds of a ztunnel key column


def engine() -> str:
    """``"compiled"`` when the C scanner parses the common lines (lines it is unsure of go to the Python
    parsers), ``"python"`` when everything is parsed in Python (no compiler at install time, or
    ``AMBIENT_LB_LOGS_PURE_PYTHON=1``). Both give the same frames; the compiled one is about 10x faster."""
    return "python" if _compiled is None else "compiled"


@dataclass(frozen=True)
class _Format:
    """What differs between the two log formats, for the chunk driver."""

    scan: str  # the compiled scanner's function
    pieces: Callable[[list[str]], tuple[list[tuple[np.ndarray, dict[str, Any]]], list[int]]]  # Python fast paths
    slow: Callable[[str], list[dict[str, Any]]]  # the line parser (the semantics)
    time_cols: tuple[str, ...]
    columns: Callable[[tuple[Any, ...]], dict[str, Any]]  # the scanner's result -> columns of its rows


def _parse(source: Any, cols: _Columns, fmt: _Format) -> pd.DataFrame:
    skips = _Skips()
    first = 0
    chunks = _python_chunks if _compiled is None else _compiled_chunks
    for block in _blocks(source):
        for lines, n, piece in chunks(block, first, skips, fmt):
            cols.add_chunk(n, piece)
            first += lines
    df = cols.frame()
    df.attrs["skipped"] = skips.count
    df.attrs["skipped_examples"] = skips.examples
    return df


_Rows = tuple[int, int, dict[str, Any]]  # lines of a chunk, its rows, their columns


def _python_chunks(block: _Block, first_line: int, skips: _Skips, fmt: _Format) -> Iterator[_Rows]:
    """Chunks of at most CHUNK_LINES lines: the Python fast paths, then the line parser for the rest."""
    lines = block.lines()
    for start in range(0, len(lines), CHUNK_LINES):
        part = lines[start : start + CHUNK_LINES]
        parsed, slow = fmt.pieces(part)
        merged = _merge_rows(part.__getitem__, first_line + start, parsed, slow, skips, fmt.slow, fmt.time_cols)
        yield len(part), *merged


def _compiled_chunks(block: _Block, first_line: int, skips: _Skips, fmt: _Format) -> Iterator[_Rows]:
    """Chunks of at most CHUNK_LINES lines: the compiled scanner takes the lines it is sure of; the rest go
    through the Python fast paths and the line parser, and the rows merge in line order."""
    scan = getattr(_compiled, fmt.scan)
    pos = 0
    while pos < len(block.data):
        chunk = _Block(block.data[pos:], block.errors)
        scanned = scan(chunk.data, CHUNK_LINES)
        ends = np.frombuffer(scanned[0], dtype=np.int64)
        status = np.frombuffer(scanned[1], dtype=np.uint8)
        line = functools.partial(chunk.line, ends)
        parsed = [(np.flatnonzero(status == _ROW), fmt.columns(scanned))] if scanned[2] else []
        slow: list[int] = []
        deferred = np.flatnonzero(status == _DEFER)
        if len(deferred):
            sub_parsed, sub_slow = fmt.pieces([line(i) for i in deferred.tolist()])
            parsed += [(deferred[idx], piece) for idx, piece in sub_parsed]
            slow = deferred[np.asarray(sub_slow, dtype=np.int64)].tolist()
        known_skips = np.flatnonzero(status == _SKIP)
        yield len(ends), *_merge_rows(line, first_line, parsed, slow, skips, fmt.slow, fmt.time_cols, known_skips)
        first_line += len(ends)
        pos += int(ends[-1]) + 1


def _compiled_column(spec: tuple[Any, ...]) -> Any:
    """A fixed column from the scanner: ("time", ns) / ("int", values, mask) / ("text", offsets, data, valid, nulls)."""
    if spec[0] == "time":
        return np.frombuffer(spec[1], dtype=np.int64).view("datetime64[ns]")
    if spec[0] == "int":
        return pd.arrays.IntegerArray(np.frombuffer(spec[1], dtype=np.int64), np.frombuffer(spec[2], dtype=np.bool_))
    _, offsets, data, valid, nulls = spec
    return _arrow_strings(offsets, data, np.frombuffer(valid, dtype=np.bool_), nulls)


def _arrow_strings(offsets: bytes, data: bytes, valid: np.ndarray, nulls: int) -> pa.Array:
    """Arrow large_string offsets and data (as the scanner wrote them) -> an Arrow array, without a copy."""
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.LargeStringArray.from_buffers(len(valid), pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


def _key_column(kinds: bytes, ints: bytes, offsets: bytes, data: bytes) -> Any:
    """One ztunnel key's values from the scanner (a kind per row) -> text, Int64, boolean, or objects if mixed."""
    kind = np.frombuffer(kinds, dtype=np.uint8)
    counts = np.bincount(kind, minlength=4)
    missing = kind == _K_MISSING
    values = np.frombuffer(ints, dtype=np.int64)
    if counts[_K_MISSING] == len(kind):  # duration_ms of durations in no known unit
        return pd.arrays.IntegerArray(values, missing)
    present = len(kind) - counts[_K_MISSING]
    if counts[_K_TEXT] == present:
        return _arrow_strings(offsets, data, ~missing, int(counts[_K_MISSING]))
    if counts[_K_INT] == present:
        return pd.arrays.IntegerArray(values, missing)
    if counts[_K_BOOL] == present:
        return pd.arrays.BooleanArray(values.astype(bool), missing)
    out = np.full(len(kind), None, dtype=object)  # a key logged as text in some lines, a number in others
    text = kind == _K_TEXT
    out[text] = _arrow_strings(offsets, data, text, len(kind) - int(counts[_K_TEXT])).filter(pa.array(text)).to_pylist()
    for k, cast in ((_K_INT, int), (_K_BOOL, bool)):
        out[kind == k] = [cast(v) for v in values[kind == k].tolist()]
    return out


def _zt_compiled(scanned: tuple[Any, ...]) -> dict[str, Any]:
    cols = {name: _compiled_column(spec) for name, spec in zip(("timestamp", "level", "target", "message"), scanned[3])}
    for name, present, kinds, ints, offsets, data in scanned[4]:
        if present:  # keys of deferred lines only are left to the Python parsers
            cols[name] = _key_column(kinds, ints, offsets, data)
    cols.update((name, _compiled_column(spec)) for name, spec in scanned[5])
    return cols


def _envoy_compiled(scanned: tuple[Any, ...]) -> dict[str, Any]:
    cols = {name: _compiled_column(spec) for name, spec in zip(ENVOY_COLUMNS, scanned[3])}
    cols.update((name, _compiled_column(spec)) for name, spec in scanned[4])
    return cols


# ---------------------------------------------------------------------------------------------------------
# ztunnel (§1): slow path (the semantics) ...
# ---------------------------------------------------------------------------------------------------------

ZTUNNEL_ACCESS_TARGETS = ("access", "http access")
_ZT_START = rf"{_TS}[\t ]+(?:{_LEVELS})[\t ]"
_ZT_HEAD = re.compile(_prefix_re(_ZT_START) + rf"({_TS})([\t ]+)({_LEVELS})([\t ]+)(.*?)[\t\r ]*$")
_ZT_JSON_HEAD = re.compile(_prefix_re(r"\{") + r"(\{.*\})[\t\r ]*$")
_ZT_KEY = re.compile(r"[ \t]*([A-Za-z_][\w.]*)=")
_ZT_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"(?=[\t ]|$)')
_ZT_BARE = re.compile(r'[^\s"]*(?=[\t ]|$)')
_ZT_GLUED = re.compile(rf"[ \t]*(?={_TS}[\t ]+(?:{_LEVELS})[\t ])")
_ZT_MSG_SPACES = re.compile(r"(.*?)(?:[ \t]+(?=[A-Za-z_][\w.]*=)|$)")
_ZT_KEY_START = re.compile(r"[A-Za-z_][\w.]*=")
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
    if _INT.fullmatch(text) and _fits_int64(text):
        return int(text)
    return {"true": True, "false": False}.get(text, text)


def _duration_ms(text: Any) -> Any:
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    ms = round(float(m[1]) * _DURATION_MS[m[2]]) if m else None
    return ms if ms is None or ms in _INT64 else None


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
                raise _Skip(f"expected key=value at character {pos} of the fields: {text[pos:pos + 30]!r}")
            fields[last_bare] = f"{fields[last_bare]} {word[1]}"  # pre-1.23 unquoted values with spaces (§1.3)
            pos = word.end()
            continue
        key, pos = m[1], m.end()
        if key in fields:
            raise _Skip(f"key {key!r} appears twice")
        if text.startswith('"', pos):
            q = _ZT_QUOTED.match(text, pos)
            if not q:
                raise _Skip(f"unterminated or malformed quoted value for key {key!r}")
            fields[key], pos, last_bare = _unescape(q[1]), q.end(), None
        else:
            b = _ZT_BARE.match(text, pos)
            if not b:
                raise _Skip(f"malformed value for key {key!r}: {text[pos:pos + 30]!r}")
            fields[key], pos, last_bare = b[0], b.end(), key
            bare_keys.add(key)
    return _typed_bare(fields, bare_keys), bare_keys, ""


def _typed_bare(fields: dict[str, Any], bare_keys: set[str]) -> dict[str, Any]:
    for key in bare_keys:
        fields[key] = _bare(fields[key])
    return fields


def _zt_header(rest: str, tabbed: bool) -> tuple[str, str, str]:
    """Split ``target [message] fields`` (tab-separated, or a copy with spaces, §3) into its three parts."""
    if tabbed:
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
    return target, m[1], after[m.end():]


def _zt_text_parse(line: str) -> list[tuple[dict[str, Any], set[str], re.Match[str]]]:
    """One text line -> [(record, bare keys, header match)], two when a copy glued records together."""
    m = _ZT_HEAD.match(line)
    if not m:
        raise _Skip("not a ztunnel log record (no '<timestamp> <level> <target>' at the start)")
    ts, sep1, level, sep2, rest = m.groups()[5:]
    target, message, fields_text = _zt_header(rest, "\t" in sep1 + sep2)
    if target not in ZTUNNEL_ACCESS_TARGETS:
        raise _Skip(f"not an access-log record (target {target!r})")
    fields, bare_keys, glued = _zt_fields(fields_text)
    if "duration" in fields:
        fields = _with_duration_ms(fields)
    record = {"timestamp": ts, "level": level, "target": target, "message": message, **fields}
    record.update(_prefix_values(*m.groups()[:5]))
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
        raise _Skip(f"malformed JSON record: {exc}") from None
    if not isinstance(obj, dict) or obj.get("scope") not in ("access", "ztunnel::access"):
        raise _Skip(f"not an access-log record (scope {obj.get('scope') if isinstance(obj, dict) else None!r})")
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
    return [{**record, **_prefix_values(*m.groups()[:5])}]


def _zt_slow(line: str) -> list[dict[str, Any]]:
    """One line -> its access records, or ``_Skip`` with the reason. This defines what the fast path must match."""
    m = _ZT_JSON_HEAD.match(line)
    if m:
        return _zt_json_record(m)
    return [record for record, _, _ in _zt_text_parse(line)]


# ---------------------------------------------------------------------------------------------------------
# ... and fast path: one regex per line shape
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
        rx = (_KPREFIX if kpre else "") + (_STERN if stern else "") + (_LTIME if ltime else "")
        rx += rf"({_TS}){sep}({_LEVELS}){sep}{re.escape(self.target)}"
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
    except _Skip:
        return None
    if len(parsed) != 1:
        return None
    record, bare_keys, m = parsed[0]
    keys = []
    for key, value in list(record.items())[4:]:
        if key in _PREFIX_COLS or key == "duration_ms":
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
    tabbed = "\t" in m[7] + m[9]  # the separators after the timestamp and after the level
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
    groups = list(zip(*found))
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
    out: dict[str, np.ndarray] = {}
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


def _text(values: list[str]) -> pa.Array:
    """Python strings -> an Arrow text column piece (what the frame's "str" columns are made of)."""
    return pa.array(values, type=pa.large_string())


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
    if n < 2 or _SEP in block or "\\" in block:
        return None
    parts = block.split('"')
    if len(parts) != quotes * n + 1 or quotes == 0 or _odd_space(block):
        return None
    starts, ends = _line_edges(parts, quotes)
    between = [parts[2 * k :: quotes] for k in range(1, quotes // 2)]  # ' key=v key2=' between two quoted values
    if not (_segments_fit(starts, False, False) and _segments_fit(ends, True, None, empty=True)
            and all(_segments_fit(segs, True, False) for segs in between)):  # fmt: skip
        return None  # e.g. 'key= "v"' or '"v"key=': the line parser reads these otherwise
    template = _shape_template(shape)
    outside = ["".join([parts[0], *parts[quotes::quotes]]).split("\n"), *between]
    raw: dict[str, list[str]] = {}
    for segs, spec in zip(outside, template):
        tokens = _aligned(segs, len(spec), n)
        if tokens is None or not _take_tokens(tokens, spec, raw):
            return None
    inside = [parts[2 * k + 1 :: quotes] for k in range(quotes // 2)]
    quoted = [key for key, kind in shape.keys if kind in ("q", "d")]
    raw.update(zip(quoted, inside))
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
            joined = _SEP + _SEP.join(column)
            if joined.count(f"{_SEP}{name}=") != len(column):
                return False
            raw[name] = joined.replace(f"{_SEP}{name}=", _SEP).split(_SEP)[1:]
    return True


def _odd_space(block: str) -> bool:
    """Whitespace other than spaces, tabs and line breaks (the tokenizers differ on it), or non-ASCII text
    (which may hold such whitespace): the regex and line paths decide those lines."""
    return not block.isascii() or any(c in block for c in "\r\x0b\x0c\x1c\x1d\x1e\x1f")


def _segments_fit(
    segments: list[str], lead: bool | None, trail: bool | None, spaces: int | None = None, empty: bool = False
) -> bool:
    """Whitespace at the edges of each segment between quotes, checked per segment (the split paths count
    tokens, and whitespace anywhere would do for that; the regexes and the line parser are exact about it).

    ``lead``/``trail``: the segment must (True) or must not (False) start/end with a space or tab (None: either
    way); ``spaces``: it holds exactly that many spaces; ``empty``: an empty segment passes. The segments are
    ASCII without NULs (the callers check)."""
    joined = np.frombuffer("\x00".join(segments).encode("ascii"), dtype=np.uint8)
    cut = np.flatnonzero(joined == 0)
    starts = np.concatenate(([0], cut + 1))
    ends = np.concatenate((cut, [len(joined)]))
    filled = ends > starts
    if not empty and not filled.all():
        return False
    blank = (joined == 32) | (joined == 9)
    if lead is not None and (blank[starts[filled]] != lead).any():
        return False
    if trail is not None and (blank[ends[filled] - 1] != trail).any():
        return False
    if spaces is not None:
        at = np.flatnonzero(joined == 32)
        if ((np.searchsorted(at, ends) - np.searchsorted(at, starts)) != spaces).any():
            return False
    return True


def _line_edges(parts: list[str], quotes: int) -> tuple[list[str], list[str]]:
    """The text before the first quote and after the last quote of each line of a block split on quotes."""
    pieces = "\n".join(parts[quotes::quotes]).split("\n")  # end of line 0, start of line 1, end of line 1, ...
    return [parts[0], *pieces[1::2]], pieces[0::2]


_TS_COLUMN = re.compile(rf"(?:{_TS}\n)*{_TS}")
_KPREFIX_TOKEN = re.compile(r"\[(?:pod/)?([^/\]\s]+)/([^\]\s]+)\]")


def _split_columns(shape: _Shape, raw: dict[str, list[str]], n: int) -> dict[str, Any] | None:
    """Raw token columns -> the same typed columns ``_shape_columns`` gives; None if a value does not fit."""
    if not _TS_COLUMN.fullmatch("\n".join(raw["timestamp"])) or not set(raw["level"]) <= set(_LEVELS.split("|")):
        return None
    out: dict[str, Any] = {}
    if "log_prefix" in raw:
        pods = [_KPREFIX_TOKEN.fullmatch(t) for t in raw.pop("log_prefix")]
        if not all(pods):
            return None
        out["log_pod"] = _text([m[1] for m in pods])
        out["log_container"] = _text([m[2] for m in pods])
    for name in ("log_pod", "log_container", "log_time", "timestamp", "level"):
        if name in raw:
            out[name] = np.array(raw[name], dtype=object) if name in ("timestamp", "log_time") else _text(raw[name])
    if "log_time" in raw and not _TS_COLUMN.fullmatch("\n".join(raw["log_time"])):
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
    arr = _text(values)
    if kind == "d":
        joined = _SEP.join(values) + _SEP
        if joined.count("ms" + _SEP) != len(values):
            raise ValueError(key)
        return {key: arr, "duration_ms": _int_array_strict(joined.replace("ms" + _SEP, _SEP).split(_SEP)[:-1])}
    return {key: arr}


def _int_array_strict(values: list[str]) -> pd.arrays.IntegerArray:
    """Decimal texts (optionally negative) -> Int64; ValueError on anything else (e.g. ``-``, ``1.5``)."""
    if not _INT_COLUMN.fullmatch("\n".join(values)):
        raise ValueError("not integers")
    return pd.arrays.IntegerArray(np.array(values, dtype=np.int64), np.zeros(len(values), dtype=bool))


_INT_COLUMN = re.compile(r"(?:-?\d{1,18}\n)*-?\d{1,18}")


def _merge_rows(
    line: Callable[[int], str],
    first_line: int,
    parsed: list[tuple[np.ndarray, dict[str, Any]]],
    slow: list[int],
    skips: _Skips,
    slow_parse: Callable[[str], list[dict[str, Any]]],
    time_cols: tuple[str, ...],
    known_skips: np.ndarray | None = None,
) -> tuple[int, dict[str, Any]]:
    """Fast-path rows (by line index) + slow-path records -> the chunk's columns, in line order.

    ``known_skips``: lines the compiled scanner found certainly not to be access records; the line parser
    is asked only for the reasons of the first few skipped lines, the rest are counted.
    """
    slow_rows: list[tuple[float, dict[str, Any]]] = []
    for i in _slow_lines(slow, known_skips, skips):
        text = line(i)
        if not text.strip():
            continue
        try:
            records = slow_parse(text)
        except _Skip as why:
            skips.add(first_line + i + 1, str(why), text)
            continue
        slow_rows.extend((i + k / 8, r) for k, r in enumerate(records))
    if not slow_rows and len(parsed) == 1:
        idx, cols = parsed[0]
        return len(idx), cols
    positions = np.concatenate([idx.astype(float) for idx, _ in parsed] + [np.array([p for p, _ in slow_rows])])
    order = np.argsort(positions, kind="stable")
    rank = np.empty(len(positions), dtype=np.int64)
    rank[order] = np.arange(len(positions))
    names = dict.fromkeys(name for _, cols in parsed for name in cols)
    names.update(dict.fromkeys(name for _, record in slow_rows for name in record))
    out: dict[str, Any] = {}
    for name in names:
        if name in time_cols:
            out[name] = _merged_times(name, parsed, slow_rows, rank)
            continue
        text = _merged_text(name, parsed, slow_rows, order)
        out[name] = text if text is not None else _merged_objects(name, parsed, slow_rows, rank)
    return len(positions), out


def _slow_lines(slow: list[int], known_skips: np.ndarray | None, skips: _Skips) -> Iterator[int]:
    """The lines for the line parser, in order: all of ``slow``, and known skips while examples are wanted."""
    if known_skips is None or not len(known_skips):
        yield from slow
        return
    pending = sorted(slow + known_skips.tolist())
    known = set(known_skips.tolist())
    for k, i in enumerate(pending):
        if len(skips.examples) >= MAX_EXAMPLES:
            rest = pending[k:]
            counted = [j for j in rest if j in known]
            skips.count += len(counted)
            yield from (j for j in rest if j not in known)
            return
        yield i


def _merged_times(
    name: str, parsed: list[tuple[np.ndarray, dict[str, Any]]], slow_rows: list[tuple[float, dict[str, Any]]],
    rank: np.ndarray,
) -> np.ndarray:
    """One timestamp column of the merged rows as datetime64[ns] (UTC, NaT where missing)."""
    out = np.full(len(rank), np.datetime64("NaT"), dtype="datetime64[ns]")
    start = 0
    for idx, cols in parsed:
        if name in cols:
            out[rank[start : start + len(idx)]] = _as_utc(cols[name])
        start += len(idx)
    if slow_rows:
        out[rank[start:]] = _to_utc(np.array([record.get(name) for _, record in slow_rows], dtype=object))
    return out


def _as_utc(values: np.ndarray) -> np.ndarray:
    """Timestamps as parsed (texts, or datetime64 from the compiled scanner) -> datetime64[ns] UTC."""
    return values if values.dtype.kind == "M" else _to_utc(values)


def _merged_text(
    name: str, parsed: list[tuple[np.ndarray, dict[str, Any]]], slow_rows: list[tuple[float, dict[str, Any]]],
    order: np.ndarray,
) -> pa.Array | None:
    """One column of the merged rows as Arrow text, when every piece is text or missing (else None)."""
    segments = []
    for idx, cols in parsed:
        values = cols.get(name)
        if values is None:
            segments.append(pa.nulls(len(idx), type=pa.large_string()))
        elif isinstance(values, pa.Array) and values.type == pa.large_string():
            segments.append(values)
        else:
            return None
    if all(seg.null_count == len(seg) for seg in segments):
        return None
    slow = [record.get(name) for _, record in slow_rows]
    if any(value is not None and type(value) is not str for value in slow):
        return None
    segments.append(_text(slow))
    return pa.concat_arrays(segments).take(pa.array(order))


def _merged_objects(
    name: str, parsed: list[tuple[np.ndarray, dict[str, Any]]], slow_rows: list[tuple[float, dict[str, Any]]],
    rank: np.ndarray,
) -> np.ndarray:
    """One column of the merged rows as Python objects (values of mixed kinds, typed later as a whole)."""
    out = np.full(len(rank), None, dtype=object)
    start = 0
    for idx, cols in parsed:
        if name in cols:
            out[rank[start : start + len(idx)]] = _object_array(cols[name])
        start += len(idx)
    for k, (_, record) in enumerate(slow_rows):
        if name in record:
            out[rank[start + k]] = record[name]
    return out


_ZTUNNEL = _Format("scan_ztunnel", _zt_pieces, _zt_slow, ("timestamp", "log_time"), _zt_compiled)
_ZT_KINDS = {"bytes_sent": "int", "bytes_recv": "int", "response_code": "int", "duration_ms": "int"}
# Column order for the keys ztunnel writes (metrics.rs field order, §1.1); other keys follow alphabetically.
_ZT_ORDER = (
    "src.addr", "src.workload", "src.namespace", "src.identity", "src.cluster", "dst.addr", "dst.hbone_addr",
    "dst.service", "dst.workload", "dst.namespace", "dst.identity", "dst.cluster", "direction", "method", "path",
    "protocol", "response_code", "host", "user_agent", "request_id", "bytes_sent", "bytes_recv", "duration",
    "duration_ms", "error",
)  # fmt: skip


def parse_ztunnel(source: Any) -> pd.DataFrame:
    """ztunnel access records -> DataFrame (see the module docstring; formats: log-formats.md §1).

    Columns: ``timestamp`` (UTC), ``level``, ``target`` (``access`` / ``http access``), ``message``, then one
    column per key as logged (``src.addr``, ``dst.workload``, ``bytes_sent``, ``error``...): quoted values
    unquoted and unescaped, bare integers as integers, ``true``/``false`` as booleans, the rest as text;
    ``duration`` as logged plus ``duration_ms``. A key a record does not carry is NA in that row.

    Example:
        >>> df = parse_ztunnel(kubectl_logs_text)
        >>> df[df.message == "connection complete"]["dst.workload"].value_counts()
    """
    cols = _Columns(("timestamp", "level", "target", "message"), _ZTUNNEL.time_cols, _ZT_KINDS, _ZT_ORDER)
    return _parse(source, cols, _ZTUNNEL)


# ---------------------------------------------------------------------------------------------------------
# Envoy (§2): Istio's default text format and its older layouts
# ---------------------------------------------------------------------------------------------------------

ENVOY_COLUMNS = (
    "start_time", "method", "path", "protocol", "response_code", "response_flags", "response_code_details",
    "connection_termination_details", "upstream_transport_failure_reason", "bytes_received", "bytes_sent",
    "duration", "upstream_service_time", "x_forwarded_for", "user_agent", "request_id", "authority",
    "upstream_host", "upstream_cluster", "upstream_local_address", "downstream_local_address",
    "downstream_remote_address", "requested_server_name", "route_name",
)  # fmt: skip
_ENVOY_INTS = ("response_code", "bytes_received", "bytes_sent", "duration", "upstream_service_time")
_ENVOY_KINDS = {name: "int" if name in _ENVOY_INTS else "str" for name in ENVOY_COLUMNS}

# Layouts after "[START_TIME] ": "req" is the quoted request line, "Q:" a quoted field, "_" a field the
# runbook does not keep (the Mixer status). Newest first; matched by shape, never by count alone (§2.1).
_HEADERS = "Q:x_forwarded_for Q:user_agent Q:request_id Q:authority Q:upstream_host"
_TAIL = "upstream_cluster upstream_local_address downstream_local_address downstream_remote_address"
ENVOY_LAYOUTS: tuple[tuple[str, str], ...] = (
    ("istio>=1.9", f"req response_code response_flags response_code_details connection_termination_details "
     f"Q:upstream_transport_failure_reason bytes_received bytes_sent duration upstream_service_time {_HEADERS} "
     f"{_TAIL} requested_server_name route_name"),
    ("istio-1.8", f"req response_code response_flags Q:upstream_transport_failure_reason bytes_received "
     f"bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name route_name"),
    ("istio-1.3..1.7", f"req response_code response_flags Q:_ Q:upstream_transport_failure_reason bytes_received "
     f"bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name route_name"),
    ("istio-1.1..1.3", f"req response_code response_flags Q:_ Q:upstream_transport_failure_reason bytes_received "
     f"bytes_sent duration upstream_service_time {_HEADERS} {_TAIL} requested_server_name"),
    ("istio-1.0", f"req response_code response_flags bytes_received bytes_sent duration upstream_service_time "
     f"{_HEADERS} {_TAIL} requested_server_name"),
)  # fmt: skip
_ENVOY_START = r"\["
_ENVOY_TS = r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\] "


def _layout_regex(spec: str, fast: bool) -> tuple[re.Pattern[str], list[str]]:
    parts, names = [], []
    for token in spec.split():
        if token == "req":
            parts.append(r'"(\S+) (\S+) (\S+)"')
            names += ["method", "path", "protocol"]
        elif token.startswith("Q:"):
            greedy = token == "Q:user_agent" and not fast
            parts.append('"(.*)"' if greedy else '"([^"]*)"')
            names.append(token[2:])
        else:
            parts.append(r"(\d+|-)" if token in _ENVOY_INTS else r'([^\s"]\S*)')
            names.append(token)
    body = " ".join(parts)
    if fast:
        rx = _prefix_re(_ENVOY_START) + _ENVOY_TS + body + r"[ \t\r]*$|^(.*)$"
        return re.compile(rx, re.M), names
    return re.compile(rf"(?:{_ENVOY_TS})?{body}[ \t\r]*$"), names


_ENVOY_FAST, _ENVOY_FAST_NAMES = _layout_regex(ENVOY_LAYOUTS[0][1], fast=True)
_ENVOY_SLOW = [(name, *_layout_regex(spec, fast=False)) for name, spec in ENVOY_LAYOUTS]
_ENVOY_SLOW_PREFIX = re.compile(_prefix_re(r'(?:\[|")'))
_ENVOY_REQUEST_START = re.compile(rf'(?:{_ENVOY_TS})?"\S+ \S+ \S+" ')


def _envoy_value(name: str, text: str) -> Any:
    if text == "-":
        return None
    if name in _ENVOY_INTS:
        if not _fits_int64(text):
            raise _Skip(f"{name} {text[:30]!r} is beyond a 64-bit integer: not a real access-log value")
        return int(text)
    return text


def _envoy_slow(line: str) -> list[dict[str, Any]]:
    pm = _ENVOY_SLOW_PREFIX.match(line)
    rest = line[pm.end():] if pm else line
    if not _ENVOY_REQUEST_START.match(rest):
        raise _Skip('not an Envoy access-log line (no \'[START_TIME] "METHOD PATH PROTOCOL"\' at the start)')
    for layout, rx, names in _ENVOY_SLOW:
        m = rx.match(rest)
        if m:
            record = {"start_time": m[1]}
            for name, text in zip(names, m.groups()[1:]):
                if name != "_":
                    record[name] = _envoy_value(name, text)
            record.update(_prefix_values(*pm.groups()) if pm else {})
            return [record]
    tokens = len(re.findall(r'"[^"]*"|\S+', rest.split("] ", 1)[-1]))
    raise _Skip(
        f"does not match any known Istio access-log layout ({tokens} tokens after the timestamp; known: "
        + ", ".join(name for name, _ in ENVOY_LAYOUTS)
        + ")"
    )


def _envoy_fast(lines: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    found = _ENVOY_FAST.findall("\n".join(lines))
    if len(found) != len(lines):  # cannot happen with the catch-all branch; stay safe
        return np.zeros(len(lines), dtype=bool), {}
    groups = list(zip(*found))
    ts = np.array(groups[5], dtype=object)
    ok = ts != ""
    for j, name in enumerate(_ENVOY_FAST_NAMES, start=6):  # numbers too long for int64: the line parser says why
        if name in _ENVOY_INTS:
            ok &= np.array([len(v) <= 18 for v in groups[j]], dtype=bool)
    all_ok = bool(ok.all())

    def col(j: int) -> np.ndarray:
        a = np.array(groups[j], dtype=object)
        return a if all_ok else a[ok]

    out: dict[str, np.ndarray] = {"start_time": ts if all_ok else ts[ok]}
    for j, name in enumerate(_ENVOY_FAST_NAMES, start=6):
        values = col(j)
        dash = values == "-"
        if name in _ENVOY_INTS:
            values = _int_array(values)
        elif dash.any():
            values[dash] = None
        out[name] = values
    kp, kc, sp, sc, lt = (col(j) for j in range(5))
    if (kp != "").any() or (sp != "").any():
        out["log_pod"] = _blank_to_none(np.where(kp != "", kp, sp).astype(object))
        out["log_container"] = _blank_to_none(np.where(kp != "", kc, sc).astype(object))
    if (lt != "").any():
        out["log_time"] = _blank_to_none(lt.copy())
    return ok, out


_SEP = "\x00"  # not whitespace for str.split (\x1c-\x1f are)
_QUOTES_PER_LINE = 14  # the current layout: request line + 6 quoted fields, 2 quotes each


def _aligned(segments: list[str], per: int, n: int) -> list[str] | None:
    """Whitespace tokens of all segments, flattened with a separator token after each, if each has ``per``."""
    tokens = f" {_SEP} ".join(segments).split()
    if len(tokens) != (per + 1) * n - 1 or (n > 1 and set(tokens[per :: per + 1]) != {_SEP}):
        return None
    return tokens


def _dash_na(values: list[str]) -> pa.Array:
    """Envoy text tokens -> an Arrow string array with ``-`` as null (built without numpy object arrays)."""
    arr = pa.array(values, type=pa.large_string())
    present = pc.not_equal(arr, "-")  # a fresh array without nulls: its value bits become the validity bits
    if pc.all(present).as_py():
        return arr
    return pa.LargeStringArray.from_buffers(len(arr), arr.buffers()[1], arr.buffers()[2], present.buffers()[1])


def _envoy_split(lines: list[str]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Fast path for plain current-layout lines: split the chunk on quotes and spaces, no per-line regex.

    Only lines with exactly 14 quotes take part; every group of fields is checked to have its exact token
    count line by line (separator tokens), else None and the caller uses the regex path.
    """
    cand = np.fromiter((line.count('"') == _QUOTES_PER_LINE for line in lines), dtype=bool, count=len(lines))
    sub = lines if cand.all() else [line for line, c in zip(lines, cand) if c]
    n = len(sub)
    block = "\n".join(sub)
    if not n or _SEP in block:
        return None
    parts = block.split('"')
    if len(parts) != _QUOTES_PER_LINE * n + 1 or any(set(parts[j::14]) != {" "} for j in (6, 8, 10, 12)):
        return None
    req, head, nums = _aligned(parts[1::14], 3, n), _aligned(parts[2::14], 4, n), _aligned(parts[4::14], 4, n)
    tail = _aligned("".join([parts[0], *parts[14::14]]).split("\n"), 7, n)
    if req is None or head is None or nums is None or tail is None:
        return None
    stamps = [t[1:-1] if t[0] == "[" and t[-1] == "]" else "" for t in tail[0::8]]
    if "" in set(stamps) or not _TS_COLUMN.fullmatch("\n".join(stamps)):
        return None
    if not _ENVOY_INT_COLUMN.fullmatch("\n".join(head[0::5] + nums[0::5] + nums[1::5] + nums[2::5] + nums[3::5])):
        return None
    starts, ends = _line_edges(parts, _QUOTES_PER_LINE)
    if "\t" in block or _odd_space(block) or not (  # single spaces between fields, as the regex reads them
        _segments_fit(starts, False, True, spaces=1) and _segments_fit(ends, True, False, spaces=6)
        and _segments_fit(parts[1::14], False, False, spaces=2) and _segments_fit(parts[2::14], True, True, spaces=5)
        and _segments_fit(parts[4::14], True, True, spaces=5)
    ):  # fmt: skip
        return None
    try:
        cols: dict[str, Any] = {"start_time": np.array(stamps, dtype=object), "response_code": _int_array(head[0::5])}
        for j, name in enumerate(("bytes_received", "bytes_sent", "duration", "upstream_service_time")):
            cols[name] = _int_array(nums[j::5])
    except ValueError:
        return None
    for j, name in enumerate(("method", "path", "protocol")):
        cols[name] = _dash_na(req[j::4])
    for j, name in enumerate(("response_flags", "response_code_details", "connection_termination_details"), start=1):
        cols[name] = _dash_na(head[j::5])
    for j, name in zip((3, 5, 7, 9, 11, 13), ("upstream_transport_failure_reason", "x_forwarded_for", "user_agent",
                                               "request_id", "authority", "upstream_host")):  # fmt: skip
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


_ENVOY = _Format("scan_envoy", _envoy_pieces, _envoy_slow, ("start_time", "log_time"), _envoy_compiled)


def parse_envoy(source: Any) -> pd.DataFrame:
    """Envoy access lines (Istio's default text format; gateway, waypoint, sidecar) -> DataFrame.

    Columns (Istio's JSON access-log key names, log-formats.md §2): ``start_time`` (UTC), ``method``,
    ``path``, ``protocol``, ``response_code``, ``response_flags``, ..., ``route_name``. Integers are
    integers (``duration`` and ``upstream_service_time`` in ms); ``-``, bare or quoted, is NA. TCP lines
    (``"- - -"``) have NA method/path/protocol and response code 0.

    Example:
        >>> wp = parse_envoy(waypoint_logs_text)
        >>> wp.groupby("upstream_host").size()
    """
    cols = _Columns(ENVOY_COLUMNS, _ENVOY.time_cols, _ENVOY_KINDS, ENVOY_COLUMNS)
    return _parse(source, cols, _ENVOY)


# ---------------------------------------------------------------------------------------------------------
# The guide's questions, answered from parsed frames
# ---------------------------------------------------------------------------------------------------------

RESPONSE_FLAGS: dict[str, str] = {
    "-": "no flag: the request completed normally (a 5xx from the app is passed through with '-')",
    "UH": "no healthy upstream host in the cluster (503)",
    "UF": "upstream connection failure",
    "UO": "upstream overflow (circuit breaking)",
    "NR": "no route configured for the request (404)",
    "URX": "upstream retry limit or max connect attempts reached",
    "NC": "upstream cluster not found",
    "DT": "request or connection exceeded max duration",
    "DC": "downstream connection termination",
    "LH": "local service failed its health check",
    "UT": "upstream request timeout (504)",
    "LR": "connection local reset",
    "UR": "upstream remote reset",
    "UC": "upstream connection termination (the connection closed before a response; 503, semantics R7.1)",
    "DI": "request delayed by fault injection",
    "FI": "request aborted by fault injection",
    "RL": "rate limited locally",
    "UAEX": "denied by the external authorization service",
    "RLSE": "rate-limit service error",
    "IH": "invalid value in a strictly checked header",
    "SI": "stream idle timeout",
    "DPE": "downstream protocol error",
    "UPE": "upstream protocol error",
    "UMSDR": "upstream max stream duration reached",
    "OM": "overload manager terminated the request",
    "DF": "DNS resolution failed",
    "DO": "dropped by overload (drop_overload)",
}

_IP_PORT = re.compile(r"(?:envoy://[^/]+/)?\[?([0-9a-fA-F.:]+?)\]?:(\d+)$")


def spiffe_id(namespace: str, service_account: str, trust_domain: str = "cluster.local") -> str:
    """The SPIFFE identity ztunnel logs for a workload: ``spiffe://<td>/ns/<ns>/sa/<sa>``."""
    for name, value in (("namespace", namespace), ("service_account", service_account), ("trust_domain", trust_domain)):
        if not value or "/" in value:
            raise ValueError(f"{name} must be a non-empty name without '/', got {value!r}; e.g. spiffe_id('httpbin', 'in-ambient')")
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def identity_hops(zt: pd.DataFrame, expected_src: str | None = None, expected_dst: str | None = None) -> pd.DataFrame:
    """Which identities talked, per direction: one row per (direction, src.identity, dst.identity) with counts.

    ``mtls`` is True when both identities are present (ztunnel logs identities only for mTLS connections,
    log-formats.md §1.1). With ``expected_src`` / ``expected_dst`` (see ``spiffe_id``), ``src_ok`` / ``dst_ok``
    say whether each hop's identity is the expected one.
    """
    keys = [c for c in ("direction", "src.workload", "src.identity", "dst.identity") if c in zt.columns]
    frame = zt.reindex(columns=list(dict.fromkeys(keys + ["src.identity", "dst.identity"])))
    if "src.workload" in frame:
        frame["src.workload"] = frame["src.workload"].map(_workload_family, na_action="ignore")
    out = frame.groupby(list(frame.columns), dropna=False, sort=True).size().rename("records").reset_index()
    out["mtls"] = out["src.identity"].notna() & out["dst.identity"].notna()
    if expected_src is not None:
        out["src_ok"] = out["src.identity"].eq(expected_src).fillna(False).astype(bool)
    if expected_dst is not None:
        out["dst_ok"] = out["dst.identity"].eq(expected_dst).fillna(False).astype(bool)
    return out


def _workload_family(pod: str) -> str:
    """``http-9db6c8995-l54dw`` -> ``http`` (the Deployment a pod belongs to), so hops group by workload."""
    m = re.fullmatch(r"(.+?)-[0-9a-f]{6,10}-[0-9a-z]{5}", pod)
    return m[1] if m else pod


def upstream_ip(host: Any) -> Any:
    """``"10.10.0.15:8080"`` or ``"envoy://connect_originate/10.10.0.15:8080"`` -> ``"10.10.0.15"`` (else NA)."""
    m = _IP_PORT.match(host) if isinstance(host, str) else None
    return m[1] if m else None


def requests_per_pod(df: pd.DataFrame, pods: Mapping[str, str] | None = None) -> pd.Series:
    """Requests (Envoy) or connections/requests (ztunnel) per upstream pod, sorted by pod name.

    Envoy frames count ``upstream_host`` per pod IP; ``pods`` maps IPs to pod names (e.g. from
    ``kubectl get pods -o wide``), unmapped IPs stay as IPs; lines with no upstream (NR, UH) are not counted.
    ztunnel frames count ``dst.workload`` over ``request complete`` records when there are any (Solo's
    per-request line), else over ``connection complete`` records (one per connection, semantics R7.6).
    """
    if "upstream_host" in df.columns:
        names = df["upstream_host"].map(upstream_ip, na_action="ignore").dropna()
        if pods:
            names = names.map(lambda ip: pods.get(ip, ip))
    elif "dst.workload" in df.columns:
        per_request = df["message"].eq("request complete")
        rows = df[per_request] if per_request.any() else df[df["message"].eq("connection complete")]
        names = rows["dst.workload"].dropna()
    else:
        raise ValueError(
            "requests_per_pod needs a frame from parse_envoy (column upstream_host) or parse_ztunnel "
            f"(column dst.workload); got columns {list(df.columns)[:8]}..."
        )
    counts = names.astype(str).value_counts().sort_index()
    counts.index.name, counts.name = "pod", "requests"
    return counts


def response_flags(envoy: pd.DataFrame) -> pd.DataFrame:
    """Response flags with their meaning and how many lines carry each (a line can carry several: ``UF,URX``)."""
    flags = envoy["response_flags"].fillna("-").astype(str).str.split(",").explode()
    counts = flags.value_counts()
    out = pd.DataFrame({"flag": counts.index.astype(str), "lines": counts.to_numpy()})
    out["meaning"] = out["flag"].map(lambda f: RESPONSE_FLAGS.get(f, "unknown flag (see Envoy's access-log docs)"))
    return out.sort_values(["lines", "flag"], ascending=[False, True], ignore_index=True)


_JOIN_COLUMNS = (
    "start_time", "timestamp", "response_code", "response_flags", "upstream_host", "duration", "src.workload",
    "src.identity", "dst.workload", "dst.identity", "direction",
)  # fmt: skip


def join_by_request_id(columns: tuple[str, ...] = _JOIN_COLUMNS, **frames: pd.DataFrame) -> pd.DataFrame:
    """One row per request id across hops: ``join_by_request_id(gateway=gw, ztunnel=zt, waypoint=wp)``.

    Each frame contributes its ``columns`` that exist, prefixed with its name (``waypoint.upstream_host``).
    Rows without a request id (ztunnel connection records, TCP lines) are left out. An outer join: a request
    seen on one hop only still has a row, with NA for the other hops.
    """
    joined: pd.DataFrame | None = None
    for name, frame in frames.items():
        if "request_id" not in frame.columns:
            raise ValueError(f"frame {name!r} has no request_id column; pass frames from parse_envoy / parse_ztunnel")
        keep = [c for c in columns if c in frame.columns]
        part = frame.loc[frame["request_id"].notna(), ["request_id", *keep]]
        part = part.rename(columns={c: f"{name}.{c}" for c in keep})
        joined = part if joined is None else joined.merge(part, on="request_id", how="outer")
    if joined is None:
        raise ValueError("join_by_request_id needs at least one frame, e.g. join_by_request_id(gateway=gw, waypoint=wp)")
    return joined.reset_index(drop=True)
