"""How the API server writes a JSON body, byte for byte (R16.8).

Who calls it: ``state.json_response`` for every JSON answer, ``watch.py`` for each watch event,
``app.py`` for discovery and ``/version``; ``app.py``'s middleware ``pretty_print`` decides, per
request, whether the answer is indented.

A kube-apiserver encodes with Go's ``encoding/json``: a compact body written by ``json.Encoder``
ends with one ``\\n`` and escapes ``<``, ``>`` and ``&`` (and U+2028, U+2029) inside strings as
``\\u003c`` …; a request that asks for ``?pretty=true`` or comes from ``curl``, ``Wget`` or a
browser (User-Agent ``curl…``, ``Wget…``, ``Mozilla/5.0…``) gets ``json.MarshalIndent(obj, "",
"  ")`` with no trailing newline. ``/version`` is always written indented (``WriteRawJSON``).
Field order is the order of the dicts handed in (the Go structs' order for Status, see
``status.py``).
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

# (character, Go's escape) for what encoding/json's default HTMLEscape replaces inside strings
_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_PRETTY_AGENTS = ("curl", "Wget", "Mozilla/5.0")
PRETTY: contextvars.ContextVar[bool] = contextvars.ContextVar("pretty", default=False)


def _go_escape(text: str) -> str:
    for ch, esc in _GO_ESCAPES:
        if ch in text:
            text = text.replace(ch, esc)
    return text


def compact(obj: Any) -> bytes:
    """``json.NewEncoder(w).Encode(obj)``: compact, HTML-escaped, one trailing newline."""
    return (_go_escape(json.dumps(obj, separators=(",", ":"), ensure_ascii=False)) + "\n").encode()


def indented(obj: Any) -> bytes:
    """``json.MarshalIndent(obj, "", "  ")``: two-space indent, HTML-escaped, no trailing newline."""
    return _go_escape(json.dumps(obj, indent=2, separators=(",", ": "), ensure_ascii=False)).encode()


def body(obj: Any) -> bytes:
    """The body for the current request: indented if it asked to be pretty-printed, else compact."""
    return indented(obj) if PRETTY.get() else compact(obj)


def wants_pretty(query: dict[str, str] | Any, user_agent: str) -> bool:
    """``isPrettyPrint`` of the apiserver's negotiation: ``?pretty=<bool>`` wins, else the User-Agent."""
    value = query.get("pretty") if hasattr(query, "get") else None
    if value:
        return value.lower() in ("1", "t", "true")
    return user_agent.startswith(_PRETTY_AGENTS)
