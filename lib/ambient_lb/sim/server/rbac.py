"""RBAC as kube-apiserver's RBAC authorizer reads it: which rules bind to a user, and whether one allows
a request (R16.12).

Who calls it: ``reviews.py`` (SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectRulesReview) and ``authn.py`` (requests made while impersonating someone). Pure functions
over the store's Roles, ClusterRoles, RoleBindings and ClusterRoleBindings; nothing is cached.

- ``VisitRulesFor``: every ClusterRoleBinding whose subjects include the user, then (for a namespaced
  request) every RoleBinding in that namespace; the binding's role is a ClusterRole, or a Role in the
  binding's namespace. A missing role contributes nothing.
- A subject applies to a user by name (User), by group (Group), or as the service account's user
  ``system:serviceaccount:<ns>:<name>`` (the subject's namespace, else the binding's).
- ``RuleAllows``: verbs, apiGroups, resources (``*``, ``pods/log``, ``*/scale``), resourceNames (empty
  means all); non-resource requests match ``nonResourceURLs`` exactly or by a trailing ``*``.
- The first allowing rule's source is the reason: ``RBAC: allowed by ClusterRoleBinding "x" of
  ClusterRole "y" to User "z"`` (``RoleBinding "x/ns" …``, ``ServiceAccount "sa/ns"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..protocols import ObjectReader
from ..store import GR

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = GR(RBAC_GROUP, "roles"), GR(RBAC_GROUP, "clusterroles")
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = GR(RBAC_GROUP, "rolebindings"), GR(RBAC_GROUP, "clusterrolebindings")
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class User:
    """An authenticated identity: ``user.Info`` (name, groups, uid, extra)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    def info(self) -> Obj:
        """The ``UserInfo`` shape of authentication.k8s.io (SelfSubjectReview)."""
        out: Obj = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


@dataclass(frozen=True)
class Attributes:
    """What a request asks: a verb on a resource (``path`` empty) or on a non-resource URL."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        """True for a resource request (False for a non-resource URL)."""
        return not self.path


def _applies(user: User, subject: Obj, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == f"{SA_PREFIX}{ns}:{name}"
    return False


def _describe_subject(subject: Obj, binding_ns: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name", "")}/{subject.get("namespace") or binding_ns}"'
    return f'{subject.get("kind")} "{subject.get("name", "")}"'


def _role_rules(store: ObjectReader, ref: Obj, binding_ns: str) -> list[Obj]:
    if ref.get("kind") == "ClusterRole":
        role = store.get(CLUSTER_ROLES, None, ref.get("name", ""))
    else:
        role = store.get(ROLES, binding_ns or None, ref.get("name", ""))
    return list((role or {}).get("rules") or [])


def visit_rules(store: ObjectReader, user: User, namespace: str) -> Iterator[tuple[str, Obj]]:
    """(source, rule) for every rule bound to ``user`` that applies in ``namespace`` ("" = cluster)."""
    for crb in store.list(CLUSTER_ROLE_BINDINGS):
        subject = next((s for s in crb.get("subjects") or [] if _applies(user, s, "")), None)
        if subject is None:
            continue
        ref = crb.get("roleRef") or {}
        source = (f'ClusterRoleBinding "{crb["metadata"]["name"]}" of {ref.get("kind")} "{ref.get("name")}" '
                  f"to {_describe_subject(subject, '')}")
        for rule in _role_rules(store, ref, ""):
            yield source, rule
    if not namespace:
        return
    for rb in store.list(ROLE_BINDINGS, namespace):
        subject = next((s for s in rb.get("subjects") or [] if _applies(user, s, namespace)), None)
        if subject is None:
            continue
        ref = rb.get("roleRef") or {}
        source = (f'RoleBinding "{rb["metadata"]["name"]}/{namespace}" of {ref.get("kind")} "{ref.get("name")}" '
                  f"to {_describe_subject(subject, namespace)}")
        for rule in _role_rules(store, ref, namespace):
            yield source, rule


def _has(values: list[str] | None, wanted: str) -> bool:
    if not values:
        return False
    return "*" in values or wanted in values


def rule_allows(attrs: Attributes, rule: Obj) -> bool:
    """True when one PolicyRule allows the request's verb on its resource (or non-resource URL)."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.is_resource:
        return any(u == "*" or u == attrs.path or (u.endswith("*") and attrs.path.startswith(u.rstrip("*")))
                   for u in rule.get("nonResourceURLs") or [])
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not any(r == "*" or r == combined or (attrs.subresource and r == f"*/{attrs.subresource}") for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def authorize(store: ObjectReader, user: User, attrs: Attributes) -> tuple[bool, str]:
    """(allowed, reason) as the RBAC authorizer decides; no rule allows: (False, "")."""
    for source, rule in visit_rules(store, user, attrs.namespace):
        if rule_allows(attrs, rule):
            return True, f"RBAC: allowed by {source}"
    return False, ""


def rules_for(store: ObjectReader, user: User, namespace: str) -> tuple[list[Obj], list[Obj]]:
    """(resourceRules, nonResourceRules) of a SelfSubjectRulesReview, in binding order."""
    resource, non_resource = [], []
    for _, rule in visit_rules(store, user, namespace):
        if rule.get("nonResourceURLs"):
            non_resource.append({"verbs": list(rule.get("verbs") or []),
                                 "nonResourceURLs": list(rule["nonResourceURLs"])})
        else:
            r: Obj = {"verbs": list(rule.get("verbs") or [])}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    r[key] = list(rule[key])
            resource.append(r)
    return resource, non_resource
