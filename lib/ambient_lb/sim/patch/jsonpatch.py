"""RFC 6902 JSON Patch: ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test``.

Who calls it: the API server for ``application/json-patch+json`` bodies (the kubernetes Python
client sends these when a patch body is a list). Paths are RFC 6901 pointers (``~1`` is ``/``,
``~0`` is ``~``; ``-`` appends to an array). Inputs are never mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import PatchError
from .values import jcopy

EXAMPLE = '[{"op": "replace", "path": "/spec/replicas", "value": 2}]'


def apply_json_patch(obj: dict, ops: list) -> dict:
    """``obj`` with every operation of ``ops`` applied in order; ``PatchError`` on the first bad one."""
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be a list of operations, e.g. {EXAMPLE}")
    doc: Any = jcopy(obj)
    for i, op in enumerate(ops):
        doc = _apply_one(doc, op, i)
    return doc


def _apply_one(doc: Any, op: Any, i: int) -> Any:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise PatchError(f'operation {i} must be an object with "op" and "path", e.g. {EXAMPLE}')
    fn = _OPS.get(op["op"])
    if fn is None:
        raise PatchError(f'operation {i}: unknown op "{op["op"]}"; use one of {", ".join(_OPS)}')
    for key in ("path",) + _NEEDS.get(op["op"], ()):
        if key not in op:
            raise PatchError(f'operation {i} ({op["op"]}) is missing "{key}", e.g. {EXAMPLE}')
    return fn(doc, op, i)


def parse_pointer(path: Any, i: int) -> list[str]:
    """``/a/b~1c`` -> ``["a", "b/c"]``; ``""`` is the whole document."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f'operation {i}: path {path!r} must be "" or start with "/", e.g. "/spec/replicas"')
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, i: int, *, adding: bool) -> int:
    if token == "-" and adding:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f'operation {i}: "{token}" is not a valid array index (use 0, 1, … or "-" to append)')
    n = int(token)
    if n > len(container) or (n == len(container) and not adding):
        raise PatchError(f"operation {i}: array index {n} is out of range (length {len(container)})")
    return n


def _parent(doc: Any, tokens: list[str], i: int, path: str) -> Any:
    cur = doc
    for t in tokens[:-1]:
        cur = _child(cur, t, i, path)
    return cur


def _child(cur: Any, token: str, i: int, path: str) -> Any:
    if isinstance(cur, dict):
        if token not in cur:
            raise PatchError(f'operation {i}: path "{path}" does not exist (no "{token}")')
        return cur[token]
    if isinstance(cur, list):
        return cur[_index(cur, token, i, adding=False)]
    raise PatchError(f'operation {i}: path "{path}" goes through a value that is not an object or array')


def _get(doc: Any, path: str, i: int) -> Any:
    cur = doc
    for t in parse_pointer(path, i):
        cur = _child(cur, t, i, path)
    return cur


def _add(doc: Any, op: dict, i: int) -> Any:
    tokens = parse_pointer(op["path"], i)
    value = jcopy(op["value"])
    if not tokens:
        return value
    parent = _parent(doc, tokens, i, op["path"])
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], i, adding=True), value)
    else:
        raise PatchError(f'operation {i}: the parent of "{op["path"]}" is not an object or array')
    return doc


def _remove(doc: Any, op: dict, i: int) -> Any:
    tokens = parse_pointer(op["path"], i)
    if not tokens:
        raise PatchError(f"operation {i}: cannot remove the whole document")
    parent = _parent(doc, tokens, i, op["path"])
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchError(f'operation {i}: cannot remove "{op["path"]}": it does not exist')
        del parent[tokens[-1]]
    elif isinstance(parent, list):
        del parent[_index(parent, tokens[-1], i, adding=False)]
    else:
        raise PatchError(f'operation {i}: the parent of "{op["path"]}" is not an object or array')
    return doc


def _replace(doc: Any, op: dict, i: int) -> Any:
    _get(doc, op["path"], i)  # must exist
    doc = _remove(doc, op, i) if parse_pointer(op["path"], i) else doc
    return _add(doc, op, i)


def _move(doc: Any, op: dict, i: int) -> Any:
    src = op["from"]
    if op["path"] != src and op["path"].startswith(src + "/"):
        raise PatchError(f'operation {i}: cannot move "{src}" into its own child "{op["path"]}"')
    value = _get(doc, src, i)
    doc = _remove(doc, {"path": src}, i)
    return _add(doc, {"path": op["path"], "value": value}, i)


def _copy(doc: Any, op: dict, i: int) -> Any:
    return _add(doc, {"path": op["path"], "value": _get(doc, op["from"], i)}, i)


def _test(doc: Any, op: dict, i: int) -> Any:
    actual = _get(doc, op["path"], i)
    if actual != op["value"] or type(actual) is not type(op["value"]) and not _both_numbers(actual, op["value"]):
        raise PatchError(f'operation {i}: test failed: "{op["path"]}" is {actual!r}, not {op["value"]!r}')
    return doc


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))


_OPS: dict[str, Callable[[Any, dict, int], Any]] = {
    "add": _add, "remove": _remove, "replace": _replace, "move": _move, "copy": _copy, "test": _test,
}
_NEEDS: dict[str, tuple[str, ...]] = {"add": ("value",), "replace": ("value",), "test": ("value",),
                                     "move": ("from",), "copy": ("from",)}
