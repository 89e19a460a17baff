"""The split paths' shared token checks: a chunk of lines split on quotes and whitespace, and checked to have
exactly the layout the regexes and the line parser read (tier 1 in ``chunks``).

Who calls it: ``ztunnel._zt_split`` and ``envoy._envoy_split``.
"""

from __future__ import annotations

import re

import numpy as np

from .sources import TS

SEP = "\x00"  # not whitespace for str.split (\x1c-\x1f are)
TS_COLUMN = re.compile(rf"(?:{TS}\n)*{TS}")  # a column of timestamps, joined by line breaks


def odd_space(block: str) -> bool:
    """Whitespace other than spaces, tabs and line breaks (the tokenizers differ on it), or non-ASCII text
    (which may hold such whitespace): the regex and line paths decide those lines."""
    return not block.isascii() or any(c in block for c in "\r\x0b\x0c\x1c\x1d\x1e\x1f")


def segments_fit(
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


def line_edges(parts: list[str], quotes: int) -> tuple[list[str], list[str]]:
    """The text before the first quote and after the last quote of each line of a block split on quotes."""
    pieces = "\n".join(parts[quotes::quotes]).split("\n")  # end of line 0, start of line 1, end of line 1, ...
    return [parts[0], *pieces[1::2]], pieces[0::2]


def aligned(segments: list[str], per: int, n: int) -> list[str] | None:
    """Whitespace tokens of all segments, flattened with a separator token after each, if each has ``per``."""
    tokens = f" {SEP} ".join(segments).split()
    if len(tokens) != (per + 1) * n - 1 or (n > 1 and set(tokens[per :: per + 1]) != {SEP}):
        return None
    return tokens
