"""Fields an update may not change, kind by kind, as each kind's ``Validate<Kind>Update`` refuses them
(R16.14, R16.17).

Who calls it: ``writes.prepare_update`` (PUT, every patch type, server-side apply and the status
subresource's writes to the main object), after defaulting and before the store changes; a change
is 422 Invalid naming the field, e.g. ``The RoleBinding "x" is invalid: roleRef: Invalid value:
rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change
roleRef``. Go prints a struct value with ``%#v``; for pod templates and selectors the simulator
writes the type and ``{…}`` instead of the whole struct [model].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..resources import ResourceType
from .status import invalid

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


def _dig(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _role_ref(v: Any) -> str:
    v = v if isinstance(v, dict) else {}
    return (f'rbac.RoleRef{{APIGroup:"{v.get("apiGroup", "")}", Kind:"{v.get("kind", "")}", '
            f'Name:"{v.get("name", "")}"}}')


def _scalar(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else "nil" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _elided(go_type: str) -> Callable[[Any], str]:
    return lambda v: f"{go_type}{{…}}"


# (group, kind) -> [(field, how Go prints the new value, message)]
RULES: dict[tuple[str, str], list[tuple[str, Callable[[Any], str], str]]] = {
    (RBAC, "RoleBinding"): [("roleRef", _role_ref, "cannot change roleRef")],
    (RBAC, "ClusterRoleBinding"): [("roleRef", _role_ref, "cannot change roleRef")],
    ("batch", "Job"): [("spec.selector", _elided("&v1.LabelSelector"), "field is immutable"),
                       ("spec.template", _elided("core.PodTemplateSpec"), "field is immutable"),
                       ("spec.completions", _scalar, "field is immutable"),
                       ("spec.completionMode", _scalar, "field is immutable")],
}


def check(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Raise 422 Invalid if ``new`` changes a field ``old`` fixed."""
    causes = []
    for path, show, message in RULES.get((rt.group, rt.kind), ()):
        value = _dig(new, path)
        if value != _dig(old, path):
            causes.append(("FieldValueInvalid", path, f"Invalid value: {show(value)}: {message}"))
    if causes:
        raise invalid(rt, str((new.get("metadata") or {}).get("name") or ""), causes)
