"""Server-side Table printing: what ``kubectl get`` shows, computed by the simulator as a real apiserver does.

Who calls it: the API server, when a GET or watch asks for
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (research: kubernetes-api-surface §2.5).
Without Tables kubectl prints only NAME and AGE. Each row carries ``object`` (metadata by default,
the whole object for ``includeObject=Object``, which ``--sort-by`` needs), from which kubectl adds
NAMESPACE (``-A``), LABELS (``--show-labels``) and ``-L`` columns itself.

    to_table(rtype, objs, now=..., include_object="Metadata", with_headers=True) -> Table dict
    human_duration(seconds) -> "2m30s"
"""

from __future__ import annotations

from typing import Any

from ..resources import ResourceType
from . import batch, rbac
from . import crd as crd_printer
from .builtin import DEFAULT_PRINTER, Column
from .builtin import PRINTERS as BUILTIN_PRINTERS
from .duration import age, human_duration

Obj = dict[str, Any]
INCLUDE = ("None", "Metadata", "Object")

__all__ = ["to_table", "human_duration", "age", "columns_for"]

PRINTERS = {**BUILTIN_PRINTERS, **batch.PRINTERS, **rbac.PRINTERS}


def to_table(rtype: ResourceType, objs: list[Obj], *, now: float, include_object: str = "Metadata",
             with_headers: bool = True, resource_version: str | None = None) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objs`` (all of type ``rtype``), ages measured at ``now``."""
    if include_object not in INCLUDE:
        raise ValueError(f'includeObject must be one of "None", "Metadata" or "Object", got {include_object!r}')
    columns, make_row = _printer(rtype)
    rows = []
    for obj in objs:
        cells, conditions = make_row(obj, now)
        row: Obj = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if include_object != "None":
            row["object"] = obj if include_object == "Object" else _partial(obj)
        rows.append(row)
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"resourceVersion": resource_version} if resource_version else {},
                  "columnDefinitions": columns if with_headers else [], "rows": rows}
    return table


def columns_for(rtype: ResourceType) -> list[Column]:
    """The column definitions ``to_table`` uses for ``rtype``."""
    return _printer(rtype)[0]


def _printer(rtype: ResourceType) -> tuple[list[Column], Any]:
    if rtype.crd is not None:
        cols = crd_printer.crd_columns(rtype.crd, rtype.version)
        return crd_printer.column_definitions(cols), lambda o, now: (crd_printer.row_cells(o, cols, now), None)
    return PRINTERS.get((rtype.group, rtype.kind), DEFAULT_PRINTER)


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}
