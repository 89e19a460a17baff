"""Server-side apply and the bookkeeping of ordinary writes: who owns which field (``managedFields``).

Who calls it: the API server. ``server_side_apply`` answers ``application/apply-patch+yaml``
(``kubectl apply --server-side``); ``record_update`` runs on every other write (create, update,
patch) so that later applies see who set what. The rules are structured-merge-diff's, simplified:

1. The applied config's fields become owned by the applier (an ``Apply`` entry, replaced whole
   on every apply). Keyed list items (containers, env) are owned per key.
2. A field the applier owned before and no longer applies is removed from the object, unless
   another manager (or the new config) still owns it.
3. An apply that would change a field another manager owns fails with ``ApplyConflict`` unless
   ``force``; with ``force`` the ownership moves. Setting a field to the value it already has
   shares it instead.
4. An ordinary write (``Update``) always wins: the writer takes every field it added or
   changed from the others, and removed fields leave every manager's set.
5. A write whose body carries ``managedFields`` different from the live ones sets them (kubectl's
   client-side-apply to server-side-apply migration does this); ``[{}]`` clears them.
6. The upgrade from client-side apply: for the manager ``kubectl`` only, conflicts on fields whose
   live value still equals the ``last-applied-configuration`` annotation are forced, and that
   annotation, when present, is rewritten to the new applied config (apimachinery's
   ``lastAppliedManager``/``lastAppliedUpdater``).
7. ``status`` in a config applied to the main resource of a kind with a status subresource is
   ignored (the apiserver's reset fields), so ``status: {}`` from a generated manifest is harmless.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ApplyConflict, PatchError
from .fields import (
    MISSING,
    Path,
    field_set,
    from_fields_v1,
    item_element,
    path_string,
    remove_at,
    to_fields_v1,
    value_at,
    walk,
)
from .rules import FREE, ListOf, Struct, rule_for
from .schema import apply_schema
from .values import jcopy

Ident = tuple[str, str, str]  # (manager, operation, subresource)


@dataclass
class Entry:
    api_version: str
    time: str | None
    paths: set[Path]


def server_side_apply(live: dict | None, applied: dict, manager: str, *, force: bool, now: str,
                      subresource: str = "", crd: dict | None = None) -> dict:
    """The object after ``manager`` applies ``applied`` to ``live`` (``None`` creates).

    ``crd`` (optional) is the CustomResourceDefinition of a custom resource, whose schema's
    ``x-kubernetes-list-type`` annotations make lists merge by key instead of atomically.
    """
    config = _clean_config(applied)
    schema = apply_schema(config, crd)
    if not subresource and schema.child("status") is not None and (crd is None or _has_status_sub(crd)):
        config.pop("status", None)  # reset field: an apply to the main resource never sets status
    base = _without_managed(live or {}, deep=False)  # read-only view of live
    managers = decode(live or {})
    me: Ident = (manager, "Apply", subresource)
    last = managers[me].paths if me in managers else set()
    config_set = field_set(config, schema)
    last_applied = _last_applied_text(config) if manager == UPGRADING_MANAGER else None
    merged = merge_applied(jcopy(base), config, schema)  # owns config's subtrees from here on
    managers[me] = Entry(str(config["apiVersion"]), now, config_set)
    merged = prune(merged, schema, last - config_set, _owned(managers))
    changes = compare(base, merged, schema)
    allowed = _allowed_by_last_applied(base, schema) if last_applied is not None else set()
    _resolve_conflicts(managers, me, changes, force, allowed)
    if last_applied is not None:
        _sync_last_applied(merged, last_applied)
    if merged == base and config_set == last and live is not None:
        managers[me].time = _entry_time(live, me) or now
    return _with_managed(merged, managers)


def record_update(old: dict | None, new: dict, manager: str, operation: str, now: str,
                  subresource: str = "", crd: dict | None = None) -> dict:
    """``new`` with managedFields updated so that ``manager`` owns what this write added or changed.

    ``subresource`` is ``"status"`` or ``"scale"`` for writes through those endpoints (the entry
    then names it, and conflicts print ``"kubectl" with subresource "scale" using apps/v1``).
    """
    out = _without_managed(new, deep=True)
    schema = apply_schema(out, crd)
    managers = _decode_live_or_new(old, new)
    before = _without_managed(old or {}, deep=False)
    changes = compare(before, out, schema)
    taken = changes.added | changes.modified
    me: Ident = (manager, operation or "Update", subresource)
    for ident, entry in managers.items():
        if ident != me:
            entry.paths -= taken
        entry.paths -= changes.removed
    if taken:
        mine = managers.setdefault(me, Entry(str(out.get("apiVersion") or ""), now, set()))
        mine.paths = (mine.paths | taken) - changes.removed
        mine.api_version, mine.time = str(out.get("apiVersion") or mine.api_version), now
    return _with_managed(out, managers)


# ---------------------------------------------------------------------------------------------
# ownership bookkeeping


@dataclass
class Changes:
    added: set[Path]
    removed: set[Path]
    modified: set[Path]


def compare(old: dict, new: dict, schema: Struct) -> Changes:
    """Paths added, removed and changed (leaves only) between two objects."""
    a = {p: (v, leaf) for p, v, leaf in walk(old, schema, maps_are_members=True)}
    b = {p: (v, leaf) for p, v, leaf in walk(new, schema, maps_are_members=True)}
    modified = {p for p in a.keys() & b.keys()
                if (a[p][1] or b[p][1]) and (a[p][1] != b[p][1] or a[p][0] != b[p][0])}
    return Changes(set(b) - set(a), set(a) - set(b), modified)


def _resolve_conflicts(managers: dict[Ident, Entry], me: Ident, changes: Changes, force: bool,
                       allowed: set[Path]) -> None:
    changed = changes.added | changes.modified
    conflicts: list[tuple[Ident, Path]] = []
    for ident in sorted(managers):
        if ident != me:
            conflicts += [(ident, p) for p in sorted(managers[ident].paths & changed)]
    blocking = [(i, p) for i, p in conflicts if p not in allowed]
    if blocking and not force:
        conflicts = blocking
        raise ApplyConflict([(i[0], path_string(p)) for i, p in conflicts],
                            [(_print_manager(i, managers[i]), path_string(p)) for i, p in conflicts])
    for ident in {i for i, _ in conflicts}:
        managers[ident].paths -= changed
    for entry in managers.values():
        entry.paths -= changes.removed


UPGRADING_MANAGER = "kubectl"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _allowed_by_last_applied(live: dict, schema: Struct) -> set[Path]:
    """Rule 6: the last-applied config's fields whose live values still equal it."""
    annotations = _meta(live).get("annotations")
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    try:
        last = json.loads(text) if text else None
    except ValueError:
        return set()
    if not isinstance(last, dict):
        return set()
    diff = compare(last, live, schema)
    return field_set(last, schema) - diff.modified - diff.added - diff.removed


def _last_applied_text(config: dict) -> str:
    """The applied config as the last-applied annotation holds it (without that annotation)."""
    md = dict(config["metadata"])
    own = md.get("annotations")
    if isinstance(own, dict) and LAST_APPLIED in own:
        own = {k: v for k, v in own.items() if k != LAST_APPLIED}
        md["annotations"] = own
        if not own:
            del md["annotations"]
    return json.dumps({**config, "metadata": md}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _sync_last_applied(obj: dict, text: str) -> None:
    """Rule 6: keep an existing last-applied annotation in step with what ``kubectl`` applied."""
    annotations = _meta(obj).get("annotations")
    if isinstance(annotations, dict) and annotations.get(LAST_APPLIED):
        annotations[LAST_APPLIED] = text


def _print_manager(ident: Ident, entry: Entry) -> str:
    """How the apiserver names a manager in a conflict: ``"kubectl-scale" using apps/v1``."""
    name, operation, sub = ident
    text = f'"{name}"' + (f' with subresource "{sub}"' if sub else "")
    return text + (f" using {entry.api_version}" if operation == "Update" else "")


def _owned(managers: dict[Ident, Entry]) -> set[Path]:
    out: set[Path] = set()
    for entry in managers.values():
        out |= entry.paths
    return out


def decode(obj: dict) -> dict[Ident, Entry]:
    """The ``metadata.managedFields`` of ``obj`` as ``{(manager, operation, subresource): Entry}``."""
    out: dict[Ident, Entry] = {}
    entries = _meta(obj).get("managedFields")
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict) or not e.get("manager") and not e.get("fieldsV1"):
            continue
        ident = (str(e.get("manager", "")), str(e.get("operation", "Update")), str(e.get("subresource", "")))
        out[ident] = Entry(str(e.get("apiVersion", "")), e.get("time"), from_fields_v1(e.get("fieldsV1")))
    return out


def _decode_live_or_new(old: dict | None, new: dict) -> dict[Ident, Entry]:
    """Rule 5: the body's managedFields if it sets some (``[{}]`` resets), else the live ones."""
    given = _meta(new).get("managedFields")
    if isinstance(given, list) and given and all(e == {} for e in given):
        return {}
    if given and given != _meta(old or {}).get("managedFields"):
        decoded = decode(new)
        if decoded:
            return decoded
    return decode(old or {})


def encode(managers: dict[Ident, Entry]) -> list[dict[str, Any]]:
    """managedFields entries, sorted as the apiserver sorts them (operation, time, manager)."""
    entries = []
    for (name, operation, sub), e in managers.items():
        if not e.paths:
            continue
        entry: dict[str, Any] = {"manager": name, "operation": operation, "apiVersion": e.api_version}
        if e.time:
            entry["time"] = e.time
        entry.update({"fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(e.paths)})
        if sub:
            entry["subresource"] = sub
        entries.append(entry)
    return sorted(entries, key=lambda x: (x["operation"], x.get("time") or "", x["manager"],
                                          x["apiVersion"], x.get("subresource", "")))


def _meta(obj: dict) -> dict:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def _entry_time(obj: dict, ident: Ident) -> str | None:
    entry = decode(obj).get(ident)
    return entry.time if entry else None


def _without_managed(obj: dict, *, deep: bool) -> dict:
    """``obj`` without managedFields: a deep copy, or (``deep=False``) a view sharing everything else."""
    out = jcopy(obj) if deep else dict(obj)
    md = out.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        out["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    return out


def _with_managed(obj: dict, managers: dict[Ident, Entry]) -> dict:
    entries = encode(managers)
    if entries and isinstance(obj.setdefault("metadata", {}), dict):
        obj["metadata"]["managedFields"] = entries
    return obj


def _clean_config(applied: Any) -> dict:
    """A deep copy of the applied config without nulls or managedFields; checks the identity fields."""
    if not isinstance(applied, dict):
        raise PatchError("an applied configuration must be an object with apiVersion, kind and metadata.name")
    missing = [k for k in ("apiVersion", "kind") if not applied.get(k)]
    md = applied.get("metadata")
    if not isinstance(md, dict) or not md.get("name"):
        missing.append("metadata.name")
    if missing:
        raise PatchError(f"the applied configuration is missing {', '.join(missing)}; e.g. "
                         '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo"}}')
    config = _drop_nulls(applied)  # a fresh copy
    config["metadata"].pop("managedFields", None)
    return config


def _has_status_sub(crd: dict) -> bool:
    return any("status" in (v.get("subresources") or {}) for v in (crd.get("spec") or {}).get("versions") or [])


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# merging and pruning


def merge_applied(live: Any, config: Any, rule: Any) -> Any:
    """``config`` merged into ``live``: objects key by key, keyed lists by item, sets by value."""
    if isinstance(config, dict) and isinstance(live, dict) and isinstance(rule, Struct) and not rule.atomic:
        for key, value in config.items():
            sub = rule_for(rule, key, value)
            live[key] = merge_applied(live[key], value, sub) if key in live else value
        return live
    if (isinstance(config, list) and isinstance(live, list) and isinstance(rule, ListOf)
            and rule.kind != "atomic"):
        return _merge_list(live, config, rule)
    return config


def _merge_list(live: list, config: list, rule: ListOf) -> list:
    """structured-merge-diff's list merge: applied items in applied order, live-only items kept in place."""
    lk = [item_element(x, rule) for x in live]
    rk = [item_element(x, rule) for x in config]
    lmap, rset = dict(zip(lk, live, strict=True)), set(rk)
    shared = [k for k in rk if k in lmap]
    out, done, i, j = [], set(), 0, 0
    item_rule = rule.item or FREE if rule.kind == "map" else None
    while i < len(lk) or j < len(rk):
        if i < len(lk) and j < len(rk):
            if lk[i] == rk[j]:
                out.append(merge_applied(live[i], config[j], item_rule))
                done.add(lk[i])
                shared = shared[1:] if shared and shared[0] == lk[i] else shared
                i, j = i + 1, j + 1
                continue
            if lk[i] in rset and shared and shared[0] != lk[i]:
                i += 1
                continue
        if i < len(lk) and (lk[i] not in rset or lk[i] in done):
            if lk[i] not in rset:
                out.append(live[i])
            i += 1
            continue
        if j < len(rk):
            base = lmap.get(rk[j])
            out.append(merge_applied(base, config[j], item_rule) if base is not None else config[j])
            done.add(rk[j])
            shared = shared[1:] if shared and shared[0] == rk[j] else shared
            j += 1
    return out


def prune(obj: dict, schema: Struct, dropped: set[Path], keep: set[Path]) -> dict:
    """Rule 2: remove what the applier dropped, unless someone still owns it (or something under it)."""
    for path in sorted(dropped, key=len):
        if path in keep or _has_owned_child(path, keep):
            continue
        if remove_at(obj, path, schema):
            _drop_empty_parents(obj, schema, path, keep)
    return obj


def _has_owned_child(path: Path, keep: set[Path]) -> bool:
    n = len(path)
    return any(len(k) > n and k[:n] == path for k in keep)


def _drop_empty_parents(obj: dict, schema: Struct, path: Path, keep: set[Path]) -> None:
    for n in range(len(path) - 1, 1, -1):
        parent = path[:n]
        node = value_at(obj, parent, schema)
        if node is MISSING or node or parent in keep or _has_owned_child(parent, keep):
            return
        remove_at(obj, parent, schema)


__all__ = ["server_side_apply", "record_update", "compare", "decode", "encode"]
