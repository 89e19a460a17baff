"""Discovery documents: aggregated (apidiscovery v2 / v2beta1) and legacy, built from the registry.

Who calls it: ``app.py`` for ``/api``, ``/apis``, ``/api/v1``, ``/apis/{g}`` and ``/apis/{g}/{v}``.
kubectl asks for the aggregated form (research §2.2) and tells it apart from the legacy one by the
response Content-Type alone; the kubernetes client's DynamicClient always uses the legacy form.
Documents are rebuilt on every request from the live registry, so a CRD's group appears the moment
the CRD is stored.
"""

from __future__ import annotations

from typing import Any

from ..resources import Registry, ResourceType

AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
             "log": ["get"], "proxy": ["create", "delete", "get", "patch", "update"],
             "eviction": ["create"], "portforward": ["create", "get"], "exec": ["create", "get"],
             "attach": ["create", "get"], "token": ["create"]}


def aggregated_content_type(accept: str) -> str | None:
    """The aggregated Content-Type to answer with, or None when the client wants legacy JSON."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")}
        if "g=apidiscovery.k8s.io" in params and "as=APIGroupDiscoveryList" in params:
            if "v=v2" in params:
                return AGG_V2
            if "v=v2beta1" in params:
                return AGG_V2BETA1
    return None


def _sub_kind(rt: ResourceType, sub: str, version: str) -> dict[str, str]:
    if sub == "scale":
        return {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    if sub == "eviction":
        return {"group": "policy", "version": "v1", "kind": "Eviction"}
    if sub == "token":
        return {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}
    if sub in ("proxy", "portforward", "exec", "attach"):
        name = {"proxy": "Proxy", "portforward": "PortForward", "exec": "Exec", "attach": "Attach"}[sub]
        return {"group": "", "version": "v1", "kind": f"{rt.kind}{name}Options"}
    return {"group": rt.group, "version": version, "kind": rt.kind}


def _agg_resource(rt: ResourceType, version: str) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resource": rt.resource, "responseKind": {"group": rt.group, "version": version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster", "singularResource": rt.singular,
        "verbs": list(rt.verbs)}
    if rt.short_names:
        r["shortNames"] = list(rt.short_names)
    if rt.categories:
        r["categories"] = list(rt.categories)
    if rt.subresources:
        r["subresources"] = [{"subresource": s, "responseKind": _sub_kind(rt, s, version),
                              "verbs": SUB_VERBS.get(s, ["get"])} for s in rt.subresources]
    return r


def _by_group(registry: Registry) -> dict[str, dict[str, list[ResourceType]]]:
    """``{group: {version: [types]}}`` with each group's preferred version first."""
    out: dict[str, dict[str, list[ResourceType]]] = {}
    for group, versions in sorted(registry.group_versions().items()):
        out[group] = {v: [] for v in versions}
    for rt in sorted(registry.all(), key=lambda t: t.resource):
        for v in rt.versions:
            out[rt.group][v].append(rt)
    return out


def aggregated(registry: Registry, core: bool, api_version: str) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (core only) or ``/apis`` (every named group)."""
    items = []
    for group, versions in _by_group(registry).items():
        if (group == "") != core:
            continue
        md: dict[str, Any] = {"creationTimestamp": None}
        if group:
            md["name"] = group
        items.append({"metadata": md, "versions": [
            {"version": v, "resources": [_agg_resource(rt, v) for rt in rts], "freshness": "Current"}
            for v, rts in versions.items()]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{api_version}",
            "metadata": {}, "items": items}


def api_versions(server_address: str) -> dict[str, Any]:
    """The core group's ``APIVersions`` document."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def group_list(registry: Registry) -> dict[str, Any]:
    """The ``APIGroupList`` of the named groups."""
    groups = [_group(g, list(vs)) for g, vs in _by_group(registry).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    """One group's ``APIGroup`` document, or None when the group is not served."""
    versions = _by_group(registry).get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, list(versions))}


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """Legacy ``APIResourceList`` for one group/version, subresources as ``pods/log``."""
    rts = _by_group(registry).get(group, {}).get(version)
    if rts is None:
        return None
    resources: list[dict[str, Any]] = []
    for rt in rts:
        r: dict[str, Any] = {"name": rt.resource, "singularName": rt.singular, "namespaced": rt.namespaced,
                             "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            r["shortNames"] = list(rt.short_names)
        if rt.categories:
            r["categories"] = list(rt.categories)
        resources.append(r)
        for s in rt.subresources:
            k = _sub_kind(rt, s, version)
            sr = {"name": f"{rt.resource}/{s}", "singularName": "", "namespaced": rt.namespaced,
                  "kind": k["kind"], "verbs": SUB_VERBS.get(s, ["get"])}
            if k["group"] != rt.group:
                sr.update(group=k["group"], version=k["version"])
            resources.append(sr)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
