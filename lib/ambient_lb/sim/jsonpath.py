"""kubectl-style JSONPath (``.status.conditions[?(@.type=="Programmed")].status``) on plain dicts.

Who calls it: ``sim/tables`` for CRD ``additionalPrinterColumns`` (the apiserver evaluates each
column's JSONPath and keeps only the first result), and anything else that needs kubectl's
``{.a.b}`` templates. Evaluation is done by the ``jsonpath-ng`` library (its extended parser
understands the ``[?(...)]`` filters); this module only translates the kubectl dialect to it and
prints values the way kubectl's JSONPath printer does (strings raw, objects and lists as compact
JSON).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as _parse

NOTHING = object()


class JsonPathError(ValueError):
    """A JSONPath that cannot be parsed; the message shows the expression and a good example."""


@functools.lru_cache(maxsize=512)
def compile_path(expr: str) -> Any:
    """``.a.b`` or ``{.a.b}`` (kubectl forms) compiled for ``jsonpath-ng``; cached."""
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text.startswith(("$", ".", "[")):
        raise JsonPathError(f"JSONPath {expr!r} must start with '.', e.g. .status.conditions[0].status")
    body = text if text.startswith("$") else "$" + text
    try:
        return _parse(body)
    except (JsonPathParserError, Exception) as exc:  # jsonpath-ng raises plain Exceptions too
        raise JsonPathError(f"JSONPath {expr!r} could not be parsed ({exc}); e.g. "
                            '.status.conditions[?(@.type=="Ready")].status') from None


def find_all(obj: Any, expr: str) -> list[Any]:
    """Every value ``expr`` selects in ``obj`` (missing keys give no results, as with AllowMissingKeys)."""
    return [m.value for m in compile_path(expr).find(obj)]


def first(obj: Any, expr: str) -> Any:
    """The first value ``expr`` selects, or ``NOTHING``."""
    found = find_all(obj, expr)
    return found[0] if found else NOTHING


def print_value(value: Any) -> str:
    """A value as kubectl's JSONPath printer writes it: strings raw, objects/lists as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False) \
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)
