"""YAML loaded with the limits go-yaml puts on it, so a hostile document is refused before it costs anything.

Who calls it: the runbook's readers of YAML a person hands it (``params``: params files and
``key=value`` overrides; ``helm``: values files on the chart stand-in; ``kube``: kubeconfigs) and the
simulator's (``sim/topology.py``: ``--topology`` files; ``sim/server/bodies.py``: YAML request bodies;
``sim/mesh/proxy_config.py``: the ``proxy.istio.io/config`` annotation). Each turns :class:`Refused`
into its own error (a ``ParameterError`` naming the file, a 400 ``Status``), with a good example.

PyYAML builds an alias as a second reference to one object, so a "billion laughs" document loads in
microseconds and explodes later, when something walks or serializes it (JSON, a deep copy, a client).
go-yaml, which kubectl and the API server read YAML with, refuses it: ``yaml: document contains
excessive aliasing`` when more than a share of the nodes it decodes come from expanding aliases
(``allowedAliasRatio``: 99 % up to 400,000 decoded nodes, falling to 10 % at 4,000,000; the fix of
CVE-2019-11253), ``yaml: anchor 'x' value contains itself`` for a recursive alias, and ``exceeded max
depth of 10000`` for nesting. :func:`load` applies the same alias rule exactly (counted from the
parser's events, aliases expanded arithmetically, never in memory), a depth limit (the caller's,
well under go-yaml's: nothing this project reads nests more than a few dozen levels) and a size limit,
then loads with PyYAML's safe loader as before. The scan is iterative: a million ``[`` cost a pass
over the text, not a stack. See docs/semantics-addendum.md R16.29.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

#: the events pass; libyaml's parser when PyYAML has it (fast), else the pure-Python one
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
GO_YAML_MAX_DEPTH = 10_000
DEFAULT_MAX_DEPTH = 100
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


class Refused(ValueError):
    """The document was not loaded; ``reason`` is go-yaml's wording where it has one."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(reason if line is None else f"line {line}: {reason}")


def allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's ``allowedAliasRatio``: the share of decoded nodes that may come from aliases."""
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def size_text(n: int) -> str:
    """``3.2 MiB``, ``12 KiB``, ``900 bytes``: how the messages name a size."""
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.0f} KiB" if n >= 2**10 else f"{n} bytes"


def check(text: str | bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise :class:`Refused` when ``text`` is larger than ``max_bytes``, nests deeper than
    ``max_depth`` or expands its aliases beyond go-yaml's ratio; a document that is simply not YAML
    raises ``yaml.YAMLError`` as PyYAML words it."""
    size = len(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
    if size > max_bytes:
        raise Refused(f"it is {size_text(size)}, more than the limit of {size_text(max_bytes)}")
    sizes: dict[str, int] = {}  # anchor -> nodes its value decodes to, its own aliases expanded
    stack: list[list[Any]] = []  # open collections: [anchor, nodes so far]
    decoded = aliased = 0
    for event in _events(text, max_depth):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.DocumentStartEvent):  # anchors and counts are per document
            sizes, decoded, aliased = {}, 1, 0
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            decoded += 1
            stack.append([event.anchor, 1])
            if len(stack) > max_depth:
                raise Refused(f"exceeded max depth of {max_depth}", line)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, nodes = stack.pop()
            _add(stack, sizes, anchor, nodes)
        elif isinstance(event, yaml.ScalarEvent):
            decoded += 1
            _add(stack, sizes, event.anchor, 1)
        elif isinstance(event, yaml.AliasEvent):
            if any(frame[0] == event.anchor for frame in stack):
                raise Refused(f"anchor '{event.anchor}' value contains itself", line)
            target = sizes.get(event.anchor or "", 0)  # an unknown anchor: PyYAML's load says so
            decoded += 1 + target
            aliased += target
            _add(stack, sizes, None, 1 + target)
            if aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded):
                raise Refused("document contains excessive aliasing", line)


def _events(text: str | bytes, max_depth: int) -> Iterator[Any]:
    """The parser's events; libyaml's own nesting limit (it scans ahead, up to 1,000 levels) is
    reported as the depth limit it is."""
    try:
        yield from yaml.parse(text, Loader=_EVENTS)
    except yaml.MarkedYAMLError as exc:
        if exc.problem != "exceeded maximum nesting depth":
            raise
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise Refused(f"exceeded max depth of {max_depth}", line) from None


def _add(stack: list[list[Any]], sizes: dict[str, int], anchor: str | None, nodes: int) -> None:
    if anchor is not None:
        sizes[anchor] = nodes
    if stack:
        stack[-1][1] += nodes


def read(path: str | os.PathLike[str], *, max_bytes: int) -> str:
    """The text of ``path``, refused by its size before a byte of it is read."""
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise Refused(f"it is {size_text(size)}, more than the limit of {size_text(max_bytes)}")
    return Path(path).read_text(encoding="utf-8")


def load(text: str | bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``yaml.safe_load(text)`` once :func:`check` lets it through."""
    check(text, max_bytes=max_bytes, max_depth=max_depth)
    return yaml.safe_load(text)


def load_all(text: str | bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Any]:
    """``list(yaml.safe_load_all(text))`` once :func:`check` lets it through."""
    check(text, max_bytes=max_bytes, max_depth=max_depth)
    return list(yaml.safe_load_all(text))
