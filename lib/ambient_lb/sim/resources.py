"""The resource types the simulator serves: a table, extended at run time by CRDs.

Who calls it: the API server (routing, discovery, OpenAPI), the store's users (to find a ``GR``
from a kind), and the CRD controller (``register_crd``), which makes a CRD's kinds servable the
moment the CRD is created, as kubectl expects (research: kubernetes-api-surface §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import GR

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ResourceType:
    """A resource type the API server serves: group, versions, resource, kind, scope and names."""

    group: str
    version: str  # the preferred (storage) version
    resource: str  # plural
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "log", "proxy"
    verbs: tuple[str, ...] = ALL_VERBS
    versions: tuple[str, ...] = ()  # every served version; defaults to (version,)
    crd: dict[str, Any] | None = field(default=None, repr=False)  # the CRD object for CRD-defined kinds

    def __post_init__(self) -> None:
        self.singular = self.singular or self.kind.lower()
        self.versions = self.versions or (self.version,)

    @property
    def gr(self) -> GR:
        """Its group/resource."""
        return GR(self.group, self.resource)

    @property
    def group_version(self) -> str:
        """Its preferred ``group/version`` (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def api_version(self, version: str | None = None) -> str:
        """The apiVersion for a version of it (the preferred one by default)."""
        v = version or self.version
        return f"{self.group}/{v}" if self.group else v


def _t(group: str, version: str, resource: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType(group, version, resource, kind, namespaced, **kw)


BUILTIN: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", False, short_names=("ns",), subresources=("status",),
       verbs=tuple(v for v in ALL_VERBS if v != "deletecollection")),
    _t("", "v1", "nodes", "Node", False, short_names=("no",), subresources=("status", "proxy")),
    _t("", "v1", "pods", "Pod", short_names=("po",), categories=("all",),
       subresources=("status", "log", "proxy", "eviction", "portforward", "exec", "attach")),
    _t("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
       subresources=("status", "proxy")),
    _t("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",), subresources=("token",)),
    _t("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _t("", "v1", "secrets", "Secret"),
    _t("", "v1", "events", "Event", short_names=("ev",)),
    _t("", "v1", "replicationcontrollers", "ReplicationController", short_names=("rc",), categories=("all",),
       subresources=("status", "scale")),
    _t("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
       subresources=("status", "scale")),
    _t("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
       subresources=("status", "scale")),
    _t("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
       subresources=("status",)),
    _t("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",), subresources=("status",)),
    _t("batch", "v1", "jobs", "Job", categories=("all",), subresources=("status",)),
    _t("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _t("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
       short_names=("crd", "crds"), subresources=("status",)),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    # answered, never stored (server/reviews.py): kubectl auth can-i, can-i --list, whoami (R16.10)
    _t("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", verbs=("create",)),
    _t("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, verbs=("create",)),
    _t("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=("create",)),
    _t("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)),
    _t("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",)),
)


class Registry:
    """Every servable type, keyed by GR, with lookups by kind and by group/version."""

    def __init__(self) -> None:
        self._types: dict[GR, ResourceType] = {}
        for t in BUILTIN:
            self.add(t)

    def add(self, t: ResourceType) -> None:
        """Adds (or replaces) a resource type."""
        self._types[t.gr] = t

    def remove(self, gr: GR) -> None:
        """Removes a resource type."""
        self._types.pop(gr, None)

    def get(self, gr: GR) -> ResourceType | None:
        """The resource type of a group/resource, or None."""
        return self._types.get(gr)

    def all(self) -> list[ResourceType]:
        """Every resource type."""
        return list(self._types.values())

    def by_kind(self, kind: str, group: str | None = None) -> ResourceType | None:
        """The resource type of a kind (in a group, if given), or None."""
        for t in self._types.values():
            if t.kind == kind and (group is None or t.group == group):
                return t
        return None

    def by_path(self, group: str, version: str, resource: str) -> ResourceType | None:
        """The resource type a URL path names, if it serves that version; else None."""
        t = self._types.get(GR(group, resource))
        return t if t and version in t.versions else None

    def group_versions(self) -> dict[str, list[str]]:
        """``{group: [versions…]}`` with the preferred version first; the core group is ``""``."""
        out: dict[str, list[str]] = {}
        for t in self._types.values():
            vs = out.setdefault(t.group, [])
            for v in (t.version, *t.versions):
                if v not in vs:
                    vs.append(v)
        return out

    def register_crd(self, crd: dict[str, Any]) -> ResourceType:
        """Make a CRD's kind servable (all served versions; storage version preferred)."""
        spec = crd["spec"]
        names = spec["names"]
        served = [v["name"] for v in spec["versions"] if v.get("served", True)]
        storage = next((v["name"] for v in spec["versions"] if v.get("storage")), served[0])
        sub: list[str] = []
        for v in spec["versions"]:
            for s in (v.get("subresources") or {}):
                if s not in sub:
                    sub.append(s)
        t = ResourceType(
            group=spec["group"], version=storage, resource=names["plural"], kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular", ""), short_names=tuple(names.get("shortNames", ())),
            categories=tuple(names.get("categories", ())), subresources=tuple(sub),
            versions=tuple([storage] + [v for v in served if v != storage]), crd=crd,
        )
        self.add(t)
        return t
