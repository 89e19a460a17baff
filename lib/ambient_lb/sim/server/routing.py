"""Turn a request path into what it addresses: type, version, namespace, name, subresource.

Who calls it: ``app.py`` for every ``/api/...`` and ``/apis/...`` request. Path shapes, with
``{base}`` = ``/api/v1`` or ``/apis/{group}/{version}``:

    {base}/{resource}                                 list / create / watch (all namespaces)
    {base}/namespaces/{ns}/{resource}[/{name}[/{sub}[/{rest…}]]]
    {base}/{resource}/{name}[/{sub}]                  cluster-scoped (namespaces, nodes, CRDs…)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..resources import Registry, ResourceType
from .status import path_not_found


@dataclass
class Target:
    """What a resource URL names: the resource type and version, namespace, name and subresource."""

    rt: ResourceType
    version: str
    namespace: str | None  # None: cluster-scoped type, or a namespaced type across all namespaces
    name: str | None = None
    sub: str | None = None
    rest: str = ""  # what follows the subresource (pods/{name}/proxy/{rest})

    @property
    def kind_list(self) -> str:
        """The list kind of the target's type (``PodList``)."""
        return f"{self.rt.kind}List"


def _base(parts: list[str]) -> tuple[str, str, list[str]] | None:
    if parts[:1] == ["api"] and len(parts) >= 2:
        return "", parts[1], parts[2:]
    if parts[:1] == ["apis"] and len(parts) >= 3:
        return parts[1], parts[2], parts[3:]
    return None


def parse(registry: Registry, path: str) -> Target:
    """Raise 404 (the server could not find the requested resource) for paths that name nothing."""
    raw = path.strip("/").split("/")
    base = _base(raw)
    if base is None:
        raise path_not_found()
    group, version, segs = base
    if not segs or not all(segs[: 4]):
        raise path_not_found()
    if segs[0] == "namespaces" and len(segs) >= 3:
        rt = registry.by_path(group, version, segs[2])
        if rt is not None and rt.namespaced:
            return _with_name(rt, version, segs[1], segs[3:])
    rt = registry.by_path(group, version, segs[0])
    if rt is None:
        raise path_not_found()
    return _with_name(rt, version, None, segs[1:])


def _with_name(rt: ResourceType, version: str, ns: str | None, rest: list[str]) -> Target:
    t = Target(rt, version, ns)
    if rest:
        t.name = rest[0]
    if len(rest) >= 2:
        t.sub = rest[1]
        if t.sub not in rt.subresources:
            raise path_not_found()
        t.rest = "/".join(rest[2:])
    elif rt.namespaced and ns is None and t.name is not None:
        raise path_not_found()  # /api/v1/pods/x: a namespaced object needs its namespace
    return t
