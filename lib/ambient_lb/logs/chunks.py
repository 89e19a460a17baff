"""The chunk driver: a source's lines through the parser tiers, in chunks, into one frame.

Who calls it: ``ztunnel.parse_ztunnel`` and ``envoy.parse_envoy`` call ``parse`` with their ``Format`` (the
line parser, the Python fast paths and the scanner's decoder of that format); their line parsers raise
``Skip`` for a line that is not an access record.

Speed, in tiers per chunk of at most ``CHUNK_LINES`` lines (tests/logs check that every tier gives the
line parser's rows, line by line, on real and on mutated lines):

0. compiled scanner (``_logscan.c``, see ``scanner``): the current-format lines in printable ASCII, bare or
   with the prefixes of ``kubectl logs --prefix`` and ``--timestamps`` (stern's are left to Python), parsed in
   C straight into the buffers of Arrow text columns and numpy int/timestamp columns (no Python object per
   value). It leaves to the Python tiers every line it is not sure of (``ROW``/``DEFER``/``SKIP`` per line),
   and tells which lines are certainly not access records, so only the first few of those are parsed for
   their skip reason;
1. split path: the lines of one *shape* (same keys, same quoting, same prefixes, canonical separators) are
   parsed together by splitting the joined chunk on quotes and whitespace, with every line's token layout
   checked; no per-line Python code beyond the checks (``envoy._envoy_split``, ``ztunnel._zt_split``);
2. regex path, when a chunk does not split cleanly: one compiled regex per shape over the chunk;
3. line path: a careful per-line tokenizer (``ztunnel._zt_slow``, ``envoy._envoy_slow``) for everything else
   (escaped quotes, older layouts, glued records, JSON). It defines the semantics; it also decides what is
   skipped.

Without the scanner tiers 1-3 do all the work, with the same results, several times slower. Lines that are
not access records are left out and counted (``Skips``); blank lines are ignored. The rows of every tier
merge in line order (``_merge_rows``, with ``columns.merged_*``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import scanner
from .columns import Columns, merged_objects, merged_text, merged_times
from .scanner import DEFER, ROW, SKIP
from .sources import Block, blocks

CHUNK_LINES = 32768
MAX_EXAMPLES = 5


@dataclass
class Skips:
    """The lines left out of a parse: how many, and the first ``MAX_EXAMPLES`` with their reasons."""

    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line_no: int, reason: str, text: str) -> None:
        """Counts a skipped line and keeps it (shortened) as an example while there are fewer than MAX_EXAMPLES."""
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            shown = text if len(text) <= 200 else text[:197] + "..."
            self.examples.append({"line": line_no, "reason": reason, "text": shown})


class Skip(Exception):
    """A line is not an access record; the message is the reason shown in ``skipped_examples``."""


@dataclass(frozen=True)
class Format:
    """What differs between the two log formats, for the chunk driver."""

    scan: str  # the compiled scanner's function
    pieces: Callable[[list[str]], tuple[list[tuple[np.ndarray, dict[str, Any]]], list[int]]]  # Python fast paths
    slow: Callable[[str], list[dict[str, Any]]]  # the line parser (the semantics)
    time_cols: tuple[str, ...]
    columns: Callable[[tuple[Any, ...]], dict[str, Any]]  # the scanner's result -> columns of its rows


def parse(source: Any, cols: Columns, fmt: Format) -> pd.DataFrame:
    """Parse a source in one format into ``cols``; the frame, with ``skipped`` and ``skipped_examples`` attrs."""
    skips = Skips()
    first = 0
    chunks = _python_chunks if scanner.compiled is None else _compiled_chunks
    for block in blocks(source, CHUNK_LINES):
        for lines, n, piece in chunks(block, first, skips, fmt):
            cols.add_chunk(n, piece)
            first += lines
    df = cols.frame()
    df.attrs["skipped"] = skips.count
    df.attrs["skipped_examples"] = skips.examples
    return df


_Rows = tuple[int, int, dict[str, Any]]  # lines of a chunk, its rows, their columns


def _python_chunks(block: Block, first_line: int, skips: Skips, fmt: Format) -> Iterator[_Rows]:
    """Chunks of at most CHUNK_LINES lines: the Python fast paths, then the line parser for the rest."""
    lines = block.lines()
    for start in range(0, len(lines), CHUNK_LINES):
        part = lines[start : start + CHUNK_LINES]
        parsed, slow = fmt.pieces(part)
        merged = _merge_rows(part.__getitem__, first_line + start, parsed, slow, skips, fmt.slow, fmt.time_cols)
        yield len(part), *merged


def _compiled_chunks(block: Block, first_line: int, skips: Skips, fmt: Format) -> Iterator[_Rows]:
    """Chunks of at most CHUNK_LINES lines: the compiled scanner takes the lines it is sure of; the rest go
    through the Python fast paths and the line parser, and the rows merge in line order."""
    scan = getattr(scanner.compiled, fmt.scan)
    pos = 0
    while pos < len(block.data):
        chunk = Block(block.data[pos:], block.errors)
        scanned = scan(chunk.data, CHUNK_LINES)
        ends = np.frombuffer(scanned[0], dtype=np.int64)
        status = np.frombuffer(scanned[1], dtype=np.uint8)
        line = functools.partial(chunk.line, ends)
        parsed = [(np.flatnonzero(status == ROW), fmt.columns(scanned))] if scanned[2] else []
        slow: list[int] = []
        deferred = np.flatnonzero(status == DEFER)
        if len(deferred):
            sub_parsed, sub_slow = fmt.pieces([line(i) for i in deferred.tolist()])
            parsed += [(deferred[idx], piece) for idx, piece in sub_parsed]
            slow = deferred[np.asarray(sub_slow, dtype=np.int64)].tolist()
        known_skips = np.flatnonzero(status == SKIP)
        yield len(ends), *_merge_rows(line, first_line, parsed, slow, skips, fmt.slow, fmt.time_cols, known_skips)
        first_line += len(ends)
        pos += int(ends[-1]) + 1


def _merge_rows(
    line: Callable[[int], str],
    first_line: int,
    parsed: list[tuple[np.ndarray, dict[str, Any]]],
    slow: list[int],
    skips: Skips,
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
        except Skip as why:
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
            out[name] = merged_times(name, parsed, slow_rows, rank)
            continue
        as_text = merged_text(name, parsed, slow_rows, order)
        out[name] = as_text if as_text is not None else merged_objects(name, parsed, slow_rows, rank)
    return len(positions), out


def _slow_lines(slow: list[int], known_skips: np.ndarray | None, skips: Skips) -> Iterator[int]:
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
