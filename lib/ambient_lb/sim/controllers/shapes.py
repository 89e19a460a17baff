"""Shape checks admission runs before defaulting, so a malformed body gets a clear 400/422 instead of
tripping the defaulting code (the real API server rejects these while decoding or validating).

Who calls it: ``admission.py``, for the kinds it defaults. Each rule is a row in a table: a path
(``*`` steps into every list item) and the JSON type the field must have when present. Messages
follow the real decoder's: ``Pod in version "v1" cannot be handled as a Pod: json: cannot
unmarshal string into Go struct field Pod.spec.containers of type array``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..store import StoreError

Obj = dict[str, Any]

_JSON = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "bool"}
_WANT = {"object": (dict,), "array": (list,), "string": (str,), "int": (int,), "int-or-string": (int, str),
         "map": (dict,)}
_GO = {"object": "object", "array": "array", "string": "string", "int": "int32",
       "int-or-string": "intstr.IntOrString", "map": "map[string]string"}

_CONTAINER = (("", "object"), ("name", "string"), ("image", "string"), ("ports", "array"),
              ("ports.*", "object"), ("ports.*.containerPort", "int"), ("resources", "object"),
              ("resources.limits", "object"), ("resources.requests", "object"), ("env", "array"), ("env.*", "object"),
              ("readinessProbe", "object"), ("readinessProbe.httpGet", "object"),
              ("readinessProbe.periodSeconds", "int"), ("readinessProbe.initialDelaySeconds", "int"),
              ("readinessProbe.failureThreshold", "int"), ("livenessProbe", "object"),
              ("livenessProbe.httpGet", "object"), ("startupProbe", "object"), ("volumeMounts", "array"),
              ("volumeMounts.*", "object"))
_POD_SPEC = (("", "object"), ("containers", "array"), ("initContainers", "array"), ("volumes", "array"),
             ("volumes.*", "object"), ("nodeSelector", "map"), ("tolerations", "array"), ("affinity", "object"),
             ("nodeName", "string"), ("serviceAccountName", "string"),
             ("terminationGracePeriodSeconds", "int")) + \
    tuple((f"containers.*{'.' + p if p else ''}", t) for p, t in _CONTAINER) + \
    tuple((f"initContainers.*{'.' + p if p else ''}", t) for p, t in _CONTAINER)
_WORKLOAD = (("spec", "object"), ("spec.replicas", "int"), ("spec.selector", "object"),
             ("spec.strategy", "object"), ("spec.strategy.rollingUpdate", "object"),
             ("spec.strategy.rollingUpdate.maxSurge", "int-or-string"),
             ("spec.strategy.rollingUpdate.maxUnavailable", "int-or-string"),
             ("spec.updateStrategy", "object"), ("spec.updateStrategy.rollingUpdate", "object"),
             ("spec.updateStrategy.rollingUpdate.maxSurge", "int-or-string"),
             ("spec.updateStrategy.rollingUpdate.maxUnavailable", "int-or-string"),
             ("spec.template", "object"), ("spec.template.metadata", "object")) + \
    tuple((f"spec.template.spec{'.' + p if p else ''}", t) for p, t in _POD_SPEC)

RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "Pod": tuple((f"spec{'.' + p if p else ''}", t) for p, t in _POD_SPEC),
    "Deployment": _WORKLOAD, "ReplicaSet": _WORKLOAD, "DaemonSet": _WORKLOAD,
    "Service": (("spec", "object"), ("spec.ports", "array"), ("spec.ports.*", "object"), ("spec.ports.*.port", "int"),
                ("spec.ports.*.nodePort", "int"), ("spec.ports.*.targetPort", "int-or-string"),
                ("spec.ports.*.name", "string"), ("spec.selector", "map"), ("spec.clusterIP", "string"),
                ("spec.type", "string")),
    "Namespace": (("metadata.labels", "map"), ("spec", "object"), ("status", "object")),
}

PERCENT_FIELDS = ("maxSurge", "maxUnavailable")
_PERCENT = re.compile(r"^[0-9]+%$")


class ShapeError(StoreError):
    """A body the API server cannot decode (400 BadRequest), or an invalid value (422 Invalid)."""

    def __init__(self, reason: str, message: str, field: str = "") -> None:
        super().__init__(reason, message)
        self.causes = [{"reason": "FieldValueInvalid", "message": message, "field": field}] if field else []


def _walk(obj: Any, steps: list[str], path: str) -> Iterator[tuple[str, Any]]:
    if not steps:
        yield path, obj
        return
    head, rest = steps[0], steps[1:]
    if head == "*":
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                yield from _walk(item, rest, f"{path}[{i}]")
    elif isinstance(obj, dict) and head in obj and obj[head] is not None:
        yield from _walk(obj[head], rest, f"{path}.{head}" if path else head)


def check(kind: str, version: str, obj: Obj) -> None:
    """Raise ``ShapeError`` for the first field of the wrong JSON type or a bad percent string."""
    for rule, want in RULES.get(kind, ()):
        for path, value in _walk(obj, rule.split("."), ""):
            ok = isinstance(value, _WANT[want]) and not (isinstance(value, bool) and want != "bool")
            if want == "map" and ok:
                ok = all(isinstance(v, str) for v in value.values())
            if not ok:
                raise ShapeError("BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                 f"json: cannot unmarshal {_JSON.get(type(value), 'value')} into Go struct field "
                                 f"{kind}.{path} of type {_GO[want]}")
            if path.rsplit(".", 1)[-1] in PERCENT_FIELDS and isinstance(value, str) and not _PERCENT.match(value):
                raise ShapeError("Invalid", f'{kind}.apps "{(obj.get("metadata") or {}).get("name", "")}" is '
                                 f'invalid: {path}: Invalid value: "{value}": a valid percent string must be '
                                 "a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used "
                                 "for validation is '[0-9]+%')", path)
