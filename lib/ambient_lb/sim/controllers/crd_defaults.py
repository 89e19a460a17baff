"""Structural defaulting of custom resources: the ``default`` values of a CRD's schema (R16.30).

Who calls it: the API server's admission chain (``cluster.extensions["admission"]``, registered by
``CRDController``), on every create and update of an object whose kind a CRD defines, after the
server has dropped ``status`` from a create (or carried the stored one over to an update).

The real API server defaults while it decodes: the request body, and every object it reads from
etcd. A create of a kind with a status subresource first loses its ``status`` (the strategy's
``PrepareForCreate``), and the object read back is then defaulted with the storage version's
schema, so the response, every GET and the watch event show the defaulted ``status`` (a Gateway's
``Accepted``/``Programmed`` ``Unknown``, reason ``Pending``). Defaulting the object as it is stored is
the same to every client. Rules (``schema/defaulting/algorithm.go``, ``Default``): for each property
of an object that is absent (or null, unless ``nullable``) and whose schema has ``default``, a copy of
the default is set; then its properties,
``additionalProperties`` values and array ``items`` are defaulted in turn. ``apiVersion``, ``kind``
and ``metadata`` at the root are not defaulted.
"""

from __future__ import annotations

import copy
from typing import Any

from ..store import GR
from .objects import Obj

_ROOT_SKIP = ("apiVersion", "kind", "metadata")


def default(schema: Obj, value: Any, *, root: bool = False) -> None:
    """Fill the absent properties of ``value`` that ``schema`` gives a ``default`` (in place)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if root and key in _ROOT_SKIP or not isinstance(sub, dict):
                continue
            if "default" in sub and (key not in value or value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                default(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in props:
                    default(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            default(schema["items"], item)


def version_schema(crd: Obj, version: str) -> Obj | None:
    """The ``openAPIV3Schema`` of one served version of a CRD (None if it has none)."""
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


class CRDDefaulting:
    """The admission-chain callable: defaults a custom resource from its CRD's schema."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def __call__(self, op: str, gr: GR, obj: Obj, old: Obj | None) -> Obj:
        """Default ``obj`` (create or update) with the schema of the version it is written in."""
        rt = self.cluster.registry.get(gr)
        crd = getattr(rt, "crd", None)
        if crd is None:
            return obj
        schema = version_schema(crd, str(obj.get("apiVersion") or "").rpartition("/")[2])
        if schema is not None:
            default(schema, obj, root=True)
        return obj
