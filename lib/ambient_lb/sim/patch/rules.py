"""Merge rules: the vocabulary a schema is written in, and the rules every object's metadata follows.

``schema.py`` writes the built-in kinds' table in it and ``crdschema.py`` converts a CRD's
structural schema into it; ``strategic.py``, ``fields.py`` and ``ssa.py`` walk an object with it.

    Struct(fields, value=False, atomic=False)
        value   a non-pointer Go struct (``spec``, ``template``): always present, so it is never a
                member of an Update's field set (no ``.: {}`` entry in managedFields)
        atomic  SSA owns and replaces it whole (``LabelSelector``: ``f:selector: {}``)
    ListOf(kind, keys, defaults, item)
        kind "map"   merge items by ``keys`` (SMP uses ``keys[0]``), e.g. containers by name
        kind "set"   a list of scalars merged as a set (finalizers)
        kind "atomic" replaced whole
        defaults     key values the apiserver defaults (container port ``protocol: TCP``), so an
                     applied item without them is the same item as the live one
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Struct:
    """How an object's fields merge: the rule for each field, and whether it is a value or atomic."""

    fields: dict[str, Rule] = field(default_factory=dict)
    value: bool = False
    atomic: bool = False

    def child(self, name: str) -> Rule | None:
        """The rule for a field, or None when the schema does not name it."""
        return self.fields.get(name)


@dataclass(frozen=True)
class ListOf:
    """How a list merges: as a map keyed by fields, as a set, or atomic; and the rule for its items."""

    kind: str  # "map" | "set" | "atomic"
    keys: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    item: Struct | None = None
    value: bool = False  # no ``omitempty`` in Go: always present, never a member of an Update set

    @property
    def merge_key(self) -> str:
        """The list's (first) merge key, or ""."""
        return self.keys[0] if self.keys else ""


Rule = Struct | ListOf
ATOMIC = ListOf("atomic")
SET = ListOf("set")
FREE = Struct()  # an untyped map (labels, CR spec): merged key by key


def by(*keys: str, item: Struct | None = None, defaults: tuple[tuple[str, Any], ...] = (),
       value: bool = False) -> ListOf:
    """A list that merges as a map keyed by these fields."""
    return ListOf("map", keys, defaults, item or FREE, value)


OWNER_REFS = by("uid")
OBJECT_META = Struct({"finalizers": SET, "ownerReferences": OWNER_REFS, "managedFields": ATOMIC}, value=True)


def rule_for(parent: Struct | None, name: str, value: Any) -> Rule:
    """The rule for field ``name`` holding ``value``: the table's, else by shape."""
    rule = parent.child(name) if parent is not None else None
    if rule is not None:
        return rule
    return ATOMIC if isinstance(value, list) else FREE
