"""Merge metadata for custom resources, read from the CRD's structural schema.

Who calls it: ``schema.apply_schema`` when the caller passes the CRD (server-side apply and
managedFields of custom resources). A real apiserver takes list types from the CRD's
``openAPIV3Schema``: ``x-kubernetes-list-type: map`` with ``x-kubernetes-list-map-keys`` merges
items by key (Gateway ``spec.listeners`` by ``name``), ``set`` merges scalars, and anything else,
including no annotation, is atomic; ``x-kubernetes-map-type: atomic`` makes an object atomic.
"""

from __future__ import annotations

from typing import Any

from .rules import ATOMIC, FREE, OBJECT_META, SET, ListOf, Rule, Struct

_CACHE: dict[tuple[str, str, str], Struct] = {}
_CACHE_MAX = 256


def crd_schema(crd: dict[str, Any], version: str) -> Struct | None:
    """The object schema of ``version`` of ``crd``; ``None`` if the CRD carries no schema."""
    md = crd.get("metadata") or {}
    key = (str(md.get("uid") or md.get("name") or id(crd)), str(md.get("resourceVersion") or ""), version)
    if key in _CACHE:
        return _CACHE[key]
    versions = (crd.get("spec") or {}).get("versions") or []
    raw = next((v.get("schema", {}).get("openAPIV3Schema") for v in versions if v.get("name") == version), None)
    if not isinstance(raw, dict):
        return None
    top = convert(raw)
    fields = dict(top.fields) if isinstance(top, Struct) else {}
    fields["metadata"] = OBJECT_META
    out = Struct(fields, value=True)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = out
    return out


def convert(node: dict[str, Any]) -> Rule:
    """One schema node as a ``Struct`` or ``ListOf``."""
    if node.get("type") == "array" or "items" in node:
        return _array(node)
    if node.get("x-kubernetes-map-type") == "atomic":
        return Struct(atomic=True)
    props = node.get("properties")
    if isinstance(props, dict):
        return Struct({k: convert(v) for k, v in props.items() if isinstance(v, dict)})
    return FREE


def _array(node: dict[str, Any]) -> ListOf:
    kind = node.get("x-kubernetes-list-type")
    if kind == "set":
        return SET
    if kind == "map":
        item = convert(node.get("items") or {})
        keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
        return ListOf("map", keys, (), item if isinstance(item, Struct) else FREE) if keys else ATOMIC
    return ATOMIC
