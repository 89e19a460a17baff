"""Arrow and pandas column building: a parse's chunk pieces -> the typed columns of its frame.

Who calls it: ``chunks`` (``Columns`` collects each chunk's columns, ``merged_*`` merge the rows of the parser
tiers in line order), ``ztunnel`` and ``envoy`` (``text_column``, ``int_array``, ``fits_int64``) and their
``parse_*`` (a ``Columns`` per parse, with the format's column order and kinds).

Text columns are pandas "str" columns; with pandas >= 3 and pyarrow they are Arrow-backed, so the tiers build
them as Arrow arrays (the scanner: offsets and data; the split paths: from their token lists, ``text_column``,
``envoy._dash_na``) and chunks stay in Arrow until the frame is made (``merged_text``, ``_arrow_text``):
building them value by value through ``pd.array(objects, dtype="str")`` cost about four times as much.
Columns whose values are of mixed kinds are typed as a whole from Python objects (``_typed_array``). Numbers
beyond a 64-bit integer are not integers: a ztunnel value keeps its text, an Envoy line is skipped with the
reason. Known columns come in the format's order, other ztunnel keys alphabetically, the prefix columns last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .sources import PREFIX_COLS


class Columns:
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

    def add_chunk(self, n: int, cols: dict[str, Any]) -> None:
        """Adds one chunk's columns (n rows); a column first seen here joins the frame's column order."""
        if not n:
            return
        for name in cols:
            if name not in self.order:
                self.order.append(name)
        for name, values in cols.items():
            if name in self.time_cols:
                cols[name] = as_utc(values)
            elif self._is_text(name, values):  # to Arrow now, while this chunk's strings are fresh in cache
                cols[name] = pa.array(values, type=pa.large_string(), from_pandas=True)
        self.pieces.append((n, cols))

    def _is_text(self, name: str, values: Any) -> bool:
        if not isinstance(values, np.ndarray) or values.dtype != object:
            return False
        kind = self.kinds.get(name)
        return kind == "str" or (kind is None and pd.api.types.infer_dtype(values, skipna=True) == "string")

    def frame(self) -> pd.DataFrame:
        """The chunks as one DataFrame: columns concatenated in order, missing parts filled with NA, typed."""
        if not self.pieces:
            return pd.DataFrame({c: pd.Series([], dtype=_empty_dtype(c, self)) for c in self.core})
        data: dict[str, Any] = {}
        for name in self.order:
            parts = [cols.pop(name, None) for _, cols in self.pieces]
            if name not in self.core and all(p is None for p in parts):
                continue
            kind = "time" if name in self.time_cols else self.kinds.get(name)
            parts = [_na_part(n, kind) if p is None else p for (n, _), p in zip(self.pieces, parts, strict=True)]
            data[name] = self._typed(name, parts)
            del parts
        return pd.DataFrame({name: data[name] for name in self._column_order(data)}, copy=False)

    def _column_order(self, data: dict[str, Any]) -> list[str]:
        """Known columns in the format's order, other keys alphabetically, the log prefix columns last (the same
        order whichever parser path met a key first)."""
        names = sorted((c for c in data if c not in PREFIX_COLS), key=lambda c: (self.rank.get(c, len(self.rank)), c))
        return names + [c for c in PREFIX_COLS if c in data]

    def _typed(self, name: str, parts: list[Any]) -> Any:
        if name in self.time_cols:
            return pd.DatetimeIndex(np.concatenate(parts)).tz_localize("UTC")
        if all(isinstance(p, pd.arrays.IntegerArray) for p in parts):
            # pandas' own concat of IntegerArrays (no pass through objects); private, so not in pandas-stubs
            return parts[0] if len(parts) == 1 else pd.arrays.IntegerArray._concat_same_type(parts)  # type: ignore[attr-defined]
        text = _arrow_text(parts) if self.kinds.get(name) != "int" else None
        if text is not None:
            return _str_from_arrow(text)
        parts = [_object_array(p) for p in parts]
        arr = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return _typed_array(arr, self.kinds.get(name))


def _empty_dtype(name: str, cols: Columns) -> Any:
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


def _arrow_text(parts: list[Any]) -> pa.ChunkedArray[Any] | None:
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
        objects: np.ndarray = part.to_numpy(zero_copy_only=False)
        return objects
    if isinstance(part, pd.api.extensions.ExtensionArray):
        values: np.ndarray = part.to_numpy(dtype=object, na_value=None)  # type: ignore[arg-type]  # None: pandas' NA
        return values
    already: np.ndarray = part  # an object array already
    return already


# pandas' "str" dtype (pandas 3 with pyarrow: Arrow storage, NaN as missing). Text columns are built as Arrow
# arrays straight from Python strings: about 4x cheaper per value than pd.array(objects, dtype="str"), same result.
_STR = pd.array([], dtype="str").dtype


def _str_from_arrow(values: pa.ChunkedArray[Any]) -> Any:
    """An Arrow string column -> a pandas "str" array (no copy of the text when the dtype is Arrow-backed)."""
    if hasattr(_STR, "__from_arrow__"):
        return _STR.__from_arrow__(values)
    return pd.array(values.to_numpy(), dtype="str")  # pandas < 3: "str" is numpy object


def _str_array(values: Any) -> Any:
    """Strings (None/NaN for missing), as a list or an object array -> a pandas "str" array."""
    return _str_from_arrow(pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)]))


def int_array(values: list[str] | np.ndarray) -> pd.arrays.IntegerArray:
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


INT64 = range(-(2**63), 2**63)


def fits_int64(text: str) -> bool:
    """True when the decimal text fits a signed 64-bit integer."""
    return int(text) in INT64


def to_utc(arr: np.ndarray) -> np.ndarray:
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


def text_column(values: Sequence[str | None]) -> pa.Array[Any]:
    """Python strings -> an Arrow text column piece (what the frame's "str" columns are made of)."""
    return pa.array(values, type=pa.large_string())


def merged_times(
    name: str, parsed: list[tuple[np.ndarray, dict[str, Any]]], slow_rows: list[tuple[float, dict[str, Any]]],
    rank: np.ndarray,
) -> np.ndarray:
    """One timestamp column of the merged rows as datetime64[ns] (UTC, NaT where missing)."""
    out = np.full(len(rank), np.datetime64("NaT"), dtype="datetime64[ns]")
    start = 0
    for idx, cols in parsed:
        if name in cols:
            out[rank[start : start + len(idx)]] = as_utc(cols[name])
        start += len(idx)
    if slow_rows:
        out[rank[start:]] = to_utc(np.array([record.get(name) for _, record in slow_rows], dtype=object))
    return out


def as_utc(values: np.ndarray) -> np.ndarray:
    """Timestamps as parsed (texts, or datetime64 from the compiled scanner) -> datetime64[ns] UTC."""
    return values if values.dtype.kind == "M" else to_utc(values)


def merged_text(
    name: str, parsed: list[tuple[np.ndarray, dict[str, Any]]], slow_rows: list[tuple[float, dict[str, Any]]],
    order: np.ndarray,
) -> pa.Array[Any] | None:
    """One column of the merged rows as Arrow text, when every piece is text or missing (else None)."""
    segments: list[pa.Array[Any]] = []
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
    segments.append(text_column(slow))
    return pa.concat_arrays(segments).take(pa.array(order))


def merged_objects(
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
