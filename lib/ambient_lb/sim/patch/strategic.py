"""Strategic merge patch for built-in kinds, with the directives kubectl's 3-way patches carry.

Who calls it: the API server for ``application/strategic-merge-patch+json`` (client-side
``kubectl apply`` of built-ins, the Python client's dict patches). Lists merge by the keys in
``schema.py``; the directives are:

    {"$patch": "replace"}            in an object: use the patch object as is
    {"$patch": "delete"}             in an object: make it empty
    [{"name": "A", "$patch": "delete"}]   in a merging list: delete the item with that key
    [{"$patch": "replace"}, ...]     in a merging list: the other items replace the list
    "$setElementOrder/<field>": [...] the order of the merged list
    "$deleteFromPrimitiveList/<field>": [...] values to remove from a set-like list
    "$retainKeys": [...]             drop the object's keys that are not listed

The order of a merged list follows apimachinery's ``normalizeElementOrder``: the patch's items in
the patch's (or ``$setElementOrder``'s) order, interleaved with the items only the server has at
their old positions. Inputs are never mutated.
"""

from __future__ import annotations

from typing import Any

from .errors import PatchError
from .rules import FREE, ListOf, Struct, rule_for
from .schema import smp_schema
from .values import jcopy

DIRECTIVE = "$patch"
RETAIN = "$retainKeys"
ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"


def apply_strategic_merge_patch(obj: dict, patch: dict, gvk: tuple[str, str]) -> dict:
    """``obj`` patched by ``patch`` using the merge keys of ``gvk`` = ``(group, kind)``."""
    schema = smp_schema(gvk)
    if not isinstance(patch, dict):
        raise PatchError('a strategic merge patch must be a JSON object, e.g. {"spec": {"replicas": 2}}')
    return merge_map(jcopy(obj), jcopy(patch), schema, "")


def merge_map(original: dict, patch: dict, schema: Struct, where: str) -> dict:
    """Merge ``patch`` into ``original`` (both owned by the caller) following ``schema``."""
    directive = patch.pop(DIRECTIVE, None)
    if directive == "replace":
        return strip_directives(patch)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f'unknown $patch directive "{directive}" at {where or "the top level"}; '
                         'use "replace", "delete" or "merge"')
    _retain_keys(original, patch, where)
    for key in [k for k in patch if k.startswith(DELETE_FROM)]:
        _delete_from_list(original, key[len(DELETE_FROM):], patch.pop(key), where)
    orders = {k[len(ORDER):]: patch.pop(k) for k in [k for k in patch if k.startswith(ORDER)]}
    for key, value in patch.items():
        _merge_field(original, key, value, schema, f"{where}.{key}", orders.get(key))
    for key, order in orders.items():
        if key not in patch and isinstance(original.get(key), list):
            rule = rule_for(schema, key, original[key])
            mkey = rule.merge_key if isinstance(rule, ListOf) and rule.kind == "map" else ""
            _check_order(order, mkey, f"{where}.{key}")
            original[key] = normalize_order(original[key], order, original[key], mkey)
    return original


def _merge_field(original: dict, key: str, value: Any, schema: Struct, where: str,
                 order: list | None) -> None:
    if value is None:
        original.pop(key, None)
        return
    rule = rule_for(schema, key, value)
    current = original.get(key)
    if isinstance(value, dict):
        sub = rule if isinstance(rule, Struct) else FREE
        original[key] = merge_map(current if isinstance(current, dict) else {}, value, sub, where)
    elif isinstance(value, list) and isinstance(rule, ListOf) and rule.kind != "atomic":
        base = current if isinstance(current, list) else []
        original[key] = merge_list(base, value, rule, where, order)
    else:
        original[key] = strip_directives(value)


def merge_list(original: list, patch: list, rule: ListOf, where: str, order: list | None = None) -> list:
    """Merge a list by key (``rule.kind == "map"``) or as a set of scalars (``"set"``)."""
    if rule.kind == "set" or not all(isinstance(v, dict) for v in patch):
        if order is not None:
            _check_order(order, "", where)
        merged = _dedupe(original + patch)
        return normalize_order(merged, patch if order is None else order, original, "")
    key = rule.merge_key
    server, patch = _special_items(original, patch, key, where)
    merged = list(server)
    for item in patch:
        found = _find(merged, key, _key_of(item, key, where))
        if found is None:
            merged.append(merge_map({}, item, rule.item or FREE, where))
        else:
            merged[found] = merge_map(merged[found], item, rule.item or FREE, where)
    if order is not None:
        _check_order(order, key, where)
    return normalize_order(merged, patch if order is None else order, server, key)


def _special_items(original: list, patch: list, key: str, where: str) -> tuple[list, list]:
    """Apply ``$patch: delete`` items; ``$patch: replace`` makes the rest of the patch the list."""
    plain, replace = [], False
    for item in patch:
        directive = item.get(DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            value = _key_of(item, key, where)
            original = [o for o in original if not (isinstance(o, dict) and o.get(key) == value)]
        elif directive == "replace":
            replace = True
        else:
            raise PatchError(f'unknown $patch directive "{directive}" in the list {where}; '
                             'use "delete" or "replace"')
    return ([], plain) if replace else (original, plain)


def normalize_order(merged: list, order: list, server: list, key: str) -> list:
    """apimachinery's ordering: ``order``'s items in that order, server-only items where they were."""
    ident = (lambda v: _ident(v.get(key) if isinstance(v, dict) else v)) if key else _ident
    order_ix = _positions(ident(o) for o in order if not (key and not isinstance(o, dict)))
    server_ix = _positions(ident(s) for s in server)
    ours = sorted((m for m in merged if ident(m) in order_ix), key=lambda m: order_ix[ident(m)])
    theirs = sorted((m for m in merged if ident(m) not in order_ix),
                    key=lambda m: server_ix.get(ident(m), len(server_ix)))
    out: list = []
    i = j = 0
    while i < len(theirs) or j < len(ours):
        if j >= len(ours) or (i < len(theirs) and _before(theirs[i], ours[j], server_ix, ident)):
            out.append(theirs[i])
            i += 1
        else:
            out.append(ours[j])
            j += 1
    return out


def _before(left: Any, right: Any, server_ix: dict, ident: Any) -> bool:
    li, ri = server_ix.get(ident(left)), server_ix.get(ident(right))
    return li is not None and ri is not None and li < ri


def _positions(idents: Any) -> dict:
    out: dict = {}
    for i, v in enumerate(idents):
        out.setdefault(v, i)
    return out


def _ident(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else (type(value).__name__, value)


def _check_order(order: Any, key: str, where: str) -> None:
    if not isinstance(order, list):
        raise PatchError(f"$setElementOrder for {where} must be a list, e.g. "
                         f'[{{"{key or "name"}": "a"}}, {{"{key or "name"}": "b"}}]')
    for item in order:
        if key and not (isinstance(item, dict) and key in item):
            raise PatchError(f"$setElementOrder for {where}: {item!r} does not contain the merge key {key}")


def _retain_keys(original: dict, patch: dict, where: str) -> None:
    if RETAIN not in patch:
        return
    keep = patch.pop(RETAIN)
    if not isinstance(keep, list):
        raise PatchError(f'$retainKeys at {where or "the top level"} must be a list of field names')
    for k, v in patch.items():
        if v is not None and not k.startswith(("$", )) and k not in keep:
            raise PatchError(f'$retainKeys at {where or "the top level"} must list every field the patch '
                             f'sets; "{k}" is missing')
    for k in [k for k in original if k not in keep]:
        del original[k]


def _delete_from_list(original: dict, key: str, values: Any, where: str) -> None:
    if not isinstance(values, list):
        raise PatchError(f"$deleteFromPrimitiveList/{key} at {where or 'the top level'} must be a list")
    if isinstance(original.get(key), list):
        original[key] = [v for v in original[key] if v not in values]


def _key_of(item: dict, key: str, where: str) -> Any:
    if key not in item:
        raise PatchError(f"map: {_short(item)} does not contain declared merge key: {key} (in {where})")
    return item[key]


def _find(items: list, key: str, value: Any) -> int | None:
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get(key) == value:
            return i
    return None


def _dedupe(values: list) -> list:
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _short(item: Any) -> str:
    text = repr(item)
    return text if len(text) < 80 else text[:77] + "..."


def strip_directives(value: Any) -> Any:
    """A patch value with any ``$…`` directive keys removed (for values that replace)."""
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value if not (isinstance(v, dict) and DIRECTIVE in v
                                                          and len(v) == 1)]
    return value
