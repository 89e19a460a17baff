"""Field paths and field sets: what a manager owns, in the apiserver's ``FieldsV1`` encoding.

Who calls it: ``ssa.py``. A path is a tuple of encoded elements, exactly the keys ``managedFields``
uses::

    ("f:spec", "f:replicas")                                          .spec.replicas
    ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}')   a list item
    ("f:metadata", "f:finalizers", 'v:"example.com/x"')                a set member

``walk`` lists an object's paths under a schema; ``to_fields_v1``/``from_fields_v1`` convert a set
to and from the nested ``{"f:spec": {"f:replicas": {}}}`` form (``".": {}`` marks a node that is
itself owned and has owned children); ``path_string`` prints a path as conflicts name it
(``.spec.template.spec.containers[name="web"].image``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .rules import FREE, ListOf, Rule, Struct, rule_for

Path = tuple[str, ...]
MISSING = object()

# metadata that no manager owns (apimachinery stripMeta)
STRIPPED: frozenset[Path] = frozenset({("f:apiVersion",), ("f:kind",)} | {
    ("f:metadata", f"f:{n}") for n in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                       "clusterName", "generation", "managedFields", "resourceVersion",
                                       "deletionTimestamp", "deletionGracePeriodSeconds")})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def item_element(item: Any, rule: ListOf) -> str:
    """``k:{"name":"web"}`` for a keyed item, ``v:"x"`` for a set member."""
    if rule.kind == "map" and isinstance(item, dict):
        defaults = dict(rule.defaults)
        key = {k: item.get(k, defaults.get(k)) for k in rule.keys if k in item or k in defaults}
        return "k:" + _json(key)
    return "v:" + _json(item)


def walk(obj: Any, schema: Struct, *, maps_are_members: bool) -> Iterator[tuple[Path, Any, bool]]:
    """Yield ``(path, value, is_leaf)`` for every owned-able node of ``obj``.

    Leaves are scalars, atomic lists and structs, empty objects, set members. Keyed list items are
    always yielded (members). Objects are yielded only when ``maps_are_members`` (Update sets) and
    they are not ``value`` structs.
    """
    yield from _walk_struct(obj, schema, (), maps_are_members)


def _walk_struct(obj: dict, schema: Struct, path: Path, members: bool) -> Iterator[tuple[Path, Any, bool]]:
    for key, value in obj.items():
        if value is None:
            continue
        p = path + (f"f:{key}",)
        if p in STRIPPED:
            continue
        yield from _walk_value(value, rule_for(schema, key, value), p, members)


def _walk_value(value: Any, rule: Rule, path: Path, members: bool) -> Iterator[tuple[Path, Any, bool]]:
    if isinstance(value, dict) and isinstance(rule, Struct) and not rule.atomic and value:
        if members and not rule.value:
            yield path, value, False
        yield from _walk_struct(value, rule, path, members)
    elif isinstance(value, list) and isinstance(rule, ListOf) and rule.kind != "atomic" and value:
        if members and not rule.value:
            yield path, value, False
        for item in value:
            yield from _walk_item(item, rule, path, members)
    else:
        yield path, value, True


def _walk_item(item: Any, rule: ListOf, path: Path, members: bool) -> Iterator[tuple[Path, Any, bool]]:
    p = path + (item_element(item, rule),)
    if rule.kind == "map" and isinstance(item, dict):
        yield p, item, False
        yield from _walk_struct(item, rule.item or FREE, p, members)
    else:
        yield p, item, True


def field_set(obj: dict, schema: Struct, *, maps_are_members: bool = False) -> set[Path]:
    """The paths of the fields set in obj (the field set server-side apply tracks)."""
    return {p for p, _, _ in walk(obj, schema, maps_are_members=maps_are_members)}


def leaves(obj: dict, schema: Struct) -> dict[Path, Any]:
    """``{path: value}`` for the leaves of ``obj`` (what "modified" is decided on)."""
    return {p: v for p, v, leaf in walk(obj, schema, maps_are_members=True) if leaf}


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """Nested ``FieldsV1``; a path that is owned and also has owned children gets ``".": {}``."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for el in path:
            node = node.setdefault(el, {})
    for path in paths:
        node = root
        for el in path:
            node = node[el]
        if node and "." not in node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(node[k]) for k in sorted(node)}


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """The set of paths a ``FieldsV1`` tree names (the inverse of ``to_fields_v1``)."""
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for key, sub in tree.items():
        if key == ".":
            out.add(prefix)
            continue
        p = prefix + (key,)
        if not sub:
            out.add(p)
        else:
            out |= from_fields_v1(sub, p)
    return out


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image``, as the apiserver prints paths."""
    out = []
    for el in path:
        kind, _, text = el.partition(":")
        if kind == "f":
            out.append("." + text)
        elif kind == "k":
            key = json.loads(text)
            out.append("[" + ",".join(f"{k}={_go_value(v)}" for k, v in sorted(key.items())) + "]")
        elif kind == "v":
            out.append(f"[={_go_value(json.loads(text))}]")
        else:
            out.append(f"[{text}]")
    return "".join(out)


def _go_value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return _json(v) if isinstance(v, (dict, list)) else str(v)


def locate(obj: Any, path: Path, schema: Struct) -> tuple[Any, Any]:
    """``(container, key)`` so that ``container[key]`` is the node at ``path``; ``(None, None)`` if absent."""
    node: Any = obj
    rule: Rule = schema
    container: Any = None
    key: Any = None
    for el in path:
        kind, _, text = el.partition(":")
        if kind == "f" and isinstance(node, dict) and text in node:
            container, key = node, text
            rule = rule_for(rule if isinstance(rule, Struct) else None, text, node[text])
        elif kind in ("k", "v") and isinstance(node, list) and isinstance(rule, ListOf):
            idx = next((i for i, it in enumerate(node) if item_element(it, rule) == el), None)
            if idx is None:
                return None, None
            container, key = node, idx
            rule = rule.item or FREE
        else:
            return None, None
        node = container[key]
    return container, key


def value_at(obj: Any, path: Path, schema: Struct) -> Any:
    """The value at path in obj, or MISSING."""
    container, key = locate(obj, path, schema)
    return MISSING if container is None else container[key]


def remove_at(obj: Any, path: Path, schema: Struct) -> bool:
    """Delete the node at ``path`` (a field, or a list item); True if something was removed."""
    container, key = locate(obj, path, schema)
    if container is None:
        return False
    del container[key]
    return True
