"""Where log lines come from: sources read into blocks of whole lines, and the prefixes that log tools add.

Who calls it: ``chunks.parse`` (``blocks``), and the line parsers of ``ztunnel`` and ``envoy`` (the prefix
patterns and ``prefix_values``); ``_logscan.c`` reads the same prefixes in C (its ``prefixes``).

``source`` is log text, an iterable of lines, bytes, a path (gzip too) or an open file (text or binary). A
plain text source is log text unless it is a single line naming an existing file. It is read in blocks of
whole lines (a file into one reused buffer); lines end at ``\n`` (a ``\r`` before it is trailing whitespace;
a text file object opened with universal newlines has already turned a lone ``\r`` into a line break).

Prefixes (log-formats.md §3): ``kubectl logs --prefix`` (``[pod/<pod>/<container>] ``), stern's
``<pod> <container> `` (or a viewer's bare ``<container> ``), and ``kubectl logs --timestamps`` or a viewer's
``<time> | ``; kept in the frame as
``log_pod``, ``log_container`` and ``log_time`` (``PREFIX_COLS``).
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class _ReadInto(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _open_path(path: Path) -> gzip.GzipFile | io.BufferedReader:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


_BLOCK = 1 << 23  # bytes (or characters of a text source) read at a time


def blocks(source: Any, lines_per_block: int) -> Iterator[Block]:
    """The source as blocks of whole lines (UTF-8), each a view valid until the next block is asked for.

    A file or text is cut every ``_BLOCK`` bytes or characters (at a line break), an iterable of lines every
    ``lines_per_block`` lines."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source).cast("B")
        if len(data):
            yield Block(data, "replace")
    elif isinstance(source, str) and "\n" not in source and len(source) < 4096 and os.path.isfile(source):
        yield from blocks(Path(source), lines_per_block)
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
            if len(batch) >= lines_per_block:
                yield _text_block("\n".join(batch) + "\n")
                batch = []
        if batch:
            yield _text_block("\n".join(batch) + "\n")
    else:
        raise TypeError(
            f"log source must be text, an iterable of lines, a path or an open file, not {type(source).__name__}; "
            'e.g. parse_envoy(kubectl_logs_text) or parse_ztunnel(Path("ztunnel.log.gz"))'
        )


def _text_block(text: str) -> Block:
    """Text as a block: encoded so that decoding a line gives back exactly the text given."""
    return Block(memoryview(text.encode("utf-8", "surrogatepass")), "surrogatepass")


def _binary_blocks(f: _ReadInto) -> Iterator[Block]:
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
                yield Block(memoryview(buf)[:kept], "replace")
            return
        filled = kept + got
        cut = buf.rfind(b"\n", 0, filled) + 1
        if not cut:
            kept = filled
            continue
        yield Block(memoryview(buf)[:cut], "replace")
        buf[: filled - cut] = buf[cut:filled]  # same length: no resize while a view may still exist
        kept = filled - cut


@dataclass
class Block:
    """Whole lines (each ended by a line break, except maybe the last of the source) as UTF-8 bytes, and how
    to decode a line of them: bad bytes of a file replaced; encoded text back exactly as it was given."""

    data: memoryview
    errors: str

    def lines(self) -> list[str]:
        """The block's text as lines, without a trailing empty line."""
        text = str(self.data, "utf-8", self.errors)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        return lines

    def line(self, ends: np.ndarray, i: int) -> str:
        """Line ``i``, given the offsets of the line ends (from the compiled scanner)."""
        start = int(ends[i - 1]) + 1 if i else 0
        return str(self.data[start : int(ends[i])], "utf-8", self.errors)


# Prefixes (log-formats.md §3), as regex pieces; the capture groups are read by prefix_values.

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
LEVELS = "trace|debug|info|warn|error"
KPREFIX = r"\[(?:pod/)?([^/\]\s]+)/([^\]\s]+)\][ \t]+"  # kubectl logs --prefix
# stern and multi-pod tails: "<pod> <container> "; some log viewers write the container name alone
# ("istio-proxy "), then the pod group is empty. A record never starts with such a word, so the prefix
# cannot swallow part of one (semantics addendum R17.2).
STERN = r"(?:([a-z0-9][-a-z0-9.]*)[ \t]+)?([a-z0-9][-a-z0-9]*)[ \t]+"
STERN_POD = r"([a-z0-9][-a-z0-9.]*)[ \t]+([a-z0-9][-a-z0-9]*)[ \t]+"  # the same with the pod (a line shape's header)
LTIME = rf"({TS})[ \t]+(?:\|[ \t]+)?"  # kubectl --timestamps, or a viewer's "TS | "


def prefix_re(record_start: str) -> str:
    """Optional prefixes, captured as (kpod, kcontainer, spod, scontainer, log_time), before ``record_start``."""
    return rf"^(?:{KPREFIX}|{STERN})?(?:{LTIME}(?={record_start}))?"


PREFIX_COLS = ("log_pod", "log_container", "log_time")


def prefix_values(kpod: str, kcont: str, spod: str, scont: str, ltime: str) -> dict[str, Any]:
    """The prefix columns of one line from ``prefix_re``'s groups (a bare container name: no ``log_pod``)."""
    out: dict[str, Any] = {}
    if kpod:
        out["log_pod"], out["log_container"] = kpod, kcont
    elif scont:
        if spod:
            out["log_pod"] = spod
        out["log_container"] = scont
    if ltime:
        out["log_time"] = ltime
    return out
