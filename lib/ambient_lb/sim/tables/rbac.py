"""Printers for RBAC bindings: what ``kubectl get rolebindings,clusterrolebindings`` shows (R16.15).

Who calls it: ``tables.to_table`` through ``PRINTERS``. Roles and ClusterRoles have no printer in the
apiserver, so they get the default one (NAME, CREATED AT) from ``builtin.DEFAULT_PRINTER``.
``printRoleBinding``/``printClusterRoleBinding``: NAME, ROLE (``Kind/name``), AGE, and with ``-o wide``
USERS, GROUPS and SERVICEACCOUNTS (``namespace/name``), each joined with ``", "``
(``rbac.SubjectsStrings``).
"""

from __future__ import annotations

from typing import Any

from .builtin import AGE, NAME, Printer, Row, col
from .duration import age

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


def _columns(kind: str) -> list[dict[str, Any]]:
    return [NAME, col("Role", desc="RoleRef can only reference the current namespace's Role, or a ClusterRole"),
            AGE, col("Users", priority=1, desc=f"Users in the {kind}"),
            col("Groups", priority=1, desc=f"Groups in the {kind}"),
            col("ServiceAccounts", priority=1, desc=f"ServiceAccounts in the {kind}")]


def subjects_strings(subjects: list[Obj]) -> tuple[list[str], list[str], list[str]]:
    """(users, groups, service accounts as ``namespace/name``)."""
    users = [s.get("name", "") for s in subjects if s.get("kind") == "User"]
    groups = [s.get("name", "") for s in subjects if s.get("kind") == "Group"]
    sas = [f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects if s.get("kind") == "ServiceAccount"]
    return users, groups, sas


def binding_row(obj: Obj, now: float) -> Row:
    """A RoleBinding's or ClusterRoleBinding's row: its role, age, and its users, groups and service accounts."""
    ref = obj.get("roleRef") or {}
    users, groups, sas = subjects_strings(obj.get("subjects") or [])
    md = obj.get("metadata") or {}
    return [md.get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(md.get("creationTimestamp"), now),
            ", ".join(users), ", ".join(groups), ", ".join(sas)], None


PRINTERS: dict[tuple[str, str], Printer] = {
    (RBAC, "RoleBinding"): (_columns("roleBinding"), binding_row),
    (RBAC, "ClusterRoleBinding"): (_columns("clusterRoleBinding"), binding_row),
}
