"""Printer columns of a custom resource, from its CRD's ``additionalPrinterColumns``.

Who calls it: ``tables.to_table`` for kinds whose ``ResourceType`` carries ``.crd``. Mirrors the
apiextensions-apiserver table convertor (research: kubernetes-api-surface §2.5): NAME first, then
one column per printer column; each JSONPath keeps only its first result; ``string`` cells are
printed by the JSONPath printer (lists as ``["a"]``), ``date`` cells become ages, ``integer``,
``number`` and ``boolean`` stay typed, and anything that does not fit is an empty cell. A CRD
without printer columns gets ``Age`` (``.metadata.creationTimestamp``).
"""

from __future__ import annotations

from typing import Any

from .. import jsonpath
from ..clock import parse_rfc3339
from .builtin import NAME, Column, col
from .duration import human_duration

Obj = dict[str, Any]
DEFAULT_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def crd_columns(crd: Obj, version: str) -> list[Obj]:
    """The printer columns of ``version`` (per-version, else the deprecated top-level list)."""
    spec = crd.get("spec") or {}
    for v in spec.get("versions") or []:
        if v.get("name") == version and v.get("additionalPrinterColumns"):
            return v["additionalPrinterColumns"]
    return spec.get("additionalPrinterColumns") or [DEFAULT_AGE]


def column_definitions(columns: list[Obj]) -> list[Column]:
    """The Table columns of a CRD's additionalPrinterColumns, after NAME."""
    out = [NAME]
    for c in columns:
        desc = c.get("description") or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath')}"
        out.append(col(c.get("name", ""), c.get("type", "string"), int(c.get("priority") or 0), desc,
                       c.get("format", "")))
    return out


def row_cells(obj: Obj, columns: list[Obj], now: float) -> list[Any]:
    """An object's cells for a CRD's additionalPrinterColumns (each from its JSONPath)."""
    cells: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
    for c in columns:
        try:
            value = jsonpath.first(obj, c.get("jsonPath", ""))
        except jsonpath.JsonPathError:
            value = jsonpath.NOTHING
        cells.append(None if value is jsonpath.NOTHING else cell_for(c.get("type", "string"), value, now))
    return cells


def cell_for(type_: str, value: Any, now: float) -> Any:
    """``cellForJSONValue`` (strings go through the JSONPath printer instead)."""
    if type_ == "string":
        return jsonpath.print_value(value)
    if value is None:
        return None
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        try:
            return human_duration(now - parse_rfc3339(value))
        except ValueError:
            return "<invalid>"
    return None
