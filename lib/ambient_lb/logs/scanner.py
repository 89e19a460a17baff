"""The compiled scanner's glue: the ``ambient_lb._logscan`` extension (built from ``lib/ambient_lb/_logscan.c``
by ``pip install``, see pyproject.toml), whether it is used, and its results decoded into columns.

Who calls it: ``chunks`` (``compiled``: the extension module, or None when every line is parsed in Python;
``ROW``/``DEFER``/``SKIP``: the status the scanner gives each line), the scanner decoders of ``ztunnel``
and ``envoy`` (``compiled_column``, ``key_column``), and ``ambient_lb.logs.engine`` (re-exported).

The extension is not used when it is missing (no C compiler at install time), when it is older than this code
(its ``ABI`` differs from ``_ABI``: a warning says to rebuild), or when ``AMBIENT_LB_LOGS_PURE_PYTHON=1``.
Tests turn it off by setting ``scanner.compiled`` to None.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

_ABI = 4  # _logscan.c's ABI_VERSION: an older build beside newer code is not used (pip install -e . rebuilds it)


def _load() -> ModuleType | None:
    """``ambient_lb._logscan``, or None when it was not built."""
    try:
        from .. import _logscan
    except ImportError:  # no C compiler where the package was installed: every line is parsed in Python
        return None
    return _logscan


compiled = _load()
if compiled is not None and getattr(compiled, "ABI", None) != _ABI:
    warnings.warn(
        f"ambient_lb._logscan is out of date (ABI {getattr(compiled, 'ABI', None)}, this code needs {_ABI}): "
        "the log parsers run in pure Python (about 10x slower) until `pip install -e .` rebuilds it",
        RuntimeWarning, stacklevel=1,
    )
    compiled = None
if os.environ.get("AMBIENT_LB_LOGS_PURE_PYTHON", "") not in ("", "0"):
    compiled = None

ROW, DEFER, BLANK, SKIP = range(4)  # line status from the scanner (_logscan.c's ST_*)
_K_MISSING, _K_TEXT, _K_INT, _K_BOOL = range(4)  # value kinds of a ztunnel key column (_logscan.c's K_*)


def engine() -> str:
    """``"compiled"`` when the C scanner parses the common lines (lines it is unsure of go to the Python
    parsers), ``"python"`` when everything is parsed in Python (no compiler at install time, or
    ``AMBIENT_LB_LOGS_PURE_PYTHON=1``). Both give the same frames; the compiled one is about 10x faster."""
    return "python" if compiled is None else "compiled"


def compiled_column(spec: tuple[Any, ...]) -> Any:
    """A fixed column from the scanner: ("time", ns) / ("int", values, mask) / ("text", offsets, data, valid, nulls)."""
    if spec[0] == "time":
        return np.frombuffer(spec[1], dtype=np.int64).view("datetime64[ns]")
    if spec[0] == "int":
        return pd.arrays.IntegerArray(np.frombuffer(spec[1], dtype=np.int64), np.frombuffer(spec[2], dtype=np.bool_))
    _, offsets, data, valid, nulls = spec
    return arrow_strings(offsets, data, np.frombuffer(valid, dtype=np.bool_), nulls)


def arrow_strings(offsets: bytes, data: bytes, valid: np.ndarray, nulls: int) -> pa.Array[Any]:
    """Arrow large_string offsets and data (as the scanner wrote them) -> an Arrow array, without a copy."""
    packed = np.packbits(valid, bitorder="little")
    bitmap = pa.py_buffer(packed) if nulls else None  # type: ignore[arg-type]  # an ndarray is a buffer; stubs miss it
    return pa.LargeStringArray.from_buffers(len(valid), pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


def key_column(kinds: bytes, ints: bytes, offsets: bytes, data: bytes) -> Any:
    """One ztunnel key's values from the scanner (a kind per row) -> text, Int64, boolean, or objects if mixed."""
    kind = np.frombuffer(kinds, dtype=np.uint8)
    counts = np.bincount(kind, minlength=4)
    missing = kind == _K_MISSING
    values = np.frombuffer(ints, dtype=np.int64)
    if counts[_K_MISSING] == len(kind):  # duration_ms of durations in no known unit
        return pd.arrays.IntegerArray(values, missing)
    present = len(kind) - counts[_K_MISSING]
    if counts[_K_TEXT] == present:
        return arrow_strings(offsets, data, ~missing, int(counts[_K_MISSING]))
    if counts[_K_INT] == present:
        return pd.arrays.IntegerArray(values, missing)
    if counts[_K_BOOL] == present:
        return pd.arrays.BooleanArray(values.astype(bool), missing)
    out = np.full(len(kind), None, dtype=object)  # a key logged as text in some lines, a number in others
    text = kind == _K_TEXT
    out[text] = arrow_strings(offsets, data, text, len(kind) - int(counts[_K_TEXT])).filter(pa.array(text)).to_pylist()
    for k, cast in ((_K_INT, int), (_K_BOOL, bool)):
        out[kind == k] = [cast(v) for v in values[kind == k].tolist()]
    return out
