"""The Gateway API v1.5.0 standard-channel CRDs, as the project's own manifests.

Who calls it: the runbook applies ``lib/ambient_lb/manifests/gateway-api/standard-install.yaml``
on the ``sim`` target instead of the GitHub release URL (the simulator has no network), and tests
check that file against ``standard_crds()``. Regenerate the file with
``python -m ambient_lb.sim.mesh.gatewayapi``.

Names, groups, versions, short names, categories, status subresources and printer columns are the
real ones (``kubectl get gateway`` shows CLASS ADDRESS PROGRAMMED AGE, ``kubectl get httproute``
shows HOSTNAMES AGE); schemas are kept open (``x-kubernetes-preserve-unknown-fields``) except for
the ``status`` defaults of Gateway and GatewayClass, which are the release's: the API server gives a
new one ``Accepted`` (and ``Programmed``) ``Unknown``, reason ``Pending``, "Waiting for controller",
which it keeps until a controller of its class takes it (R16.30).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

BUNDLE_VERSION = "v1.5.0"
GROUP = "gateway.networking.k8s.io"
MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "gateway-api" / "standard-install.yaml"

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _cond(kind: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].status'


# kind -> (plural, short names, served versions (storage first), printer columns)
_KINDS: dict[str, tuple[str, list[str], list[str], list[dict[str, Any]]]] = {
    "GatewayClass": ("gatewayclasses", ["gc"], ["v1", "v1beta1"], [
        {"name": "Controller", "type": "string", "jsonPath": ".spec.controllerName"},
        {"name": "Accepted", "type": "string", "jsonPath": _cond("Accepted")}, _AGE,
        {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1}]),
    "Gateway": ("gateways", ["gtw"], ["v1", "v1beta1"], [
        {"name": "Class", "type": "string", "jsonPath": ".spec.gatewayClassName"},
        {"name": "Address", "type": "string", "jsonPath": ".status.addresses[*].value"},
        {"name": "Programmed", "type": "string", "jsonPath": _cond("Programmed")}, _AGE]),
    "HTTPRoute": ("httproutes", [], ["v1", "v1beta1"], [
        {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"}, _AGE]),
    "GRPCRoute": ("grpcroutes", [], ["v1"], [
        {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"}, _AGE]),
    "ReferenceGrant": ("referencegrants", ["refgrant"], ["v1beta1"], [_AGE]),
    "BackendTLSPolicy": ("backendtlspolicies", ["btlspolicy"], ["v1"], [_AGE]),
}
_CLUSTER_SCOPED = {"GatewayClass"}
_NO_STATUS = {"ReferenceGrant"}
#: R16.30: the conditions a new object of these kinds is defaulted with (the release's ``status.default``)
PENDING_CONDITIONS: dict[str, tuple[str, ...]] = {"GatewayClass": ("Accepted",), "Gateway": ("Accepted", "Programmed")}
NEVER = "1970-01-01T00:00:00Z"


def _condition_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {"lastTransitionTime": {"type": "string", "format": "date-time"},
                           "message": {"type": "string"},
                           "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                           "reason": {"type": "string"},
                           "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                           "type": {"type": "string"}}}


def _status_schema(kind: str) -> dict[str, Any]:
    """``status`` with the release's defaults: each condition Unknown, Pending, "Waiting for controller"."""
    pending = [{"lastTransitionTime": NEVER, "message": "Waiting for controller", "reason": "Pending",
                "status": "Unknown", "type": t} for t in PENDING_CONDITIONS[kind]]
    return {"type": "object", "default": {"conditions": pending}, "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"conditions": {"type": "array", "default": copy.deepcopy(pending), "maxItems": 8,
                                          "items": _condition_schema(), "x-kubernetes-list-map-keys": ["type"],
                                          "x-kubernetes-list-type": "map"}}}


def _version(kind: str, name: str, storage: bool, columns: list[dict[str, Any]], status: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if kind in PENDING_CONDITIONS:
        schema["properties"] = {"status": _status_schema(kind)}
    v: dict[str, Any] = {"name": name, "served": True, "storage": storage,
                         "additionalPrinterColumns": copy.deepcopy(columns),
                         "schema": {"openAPIV3Schema": schema}}
    if status:
        v["subresources"] = {"status": {}}
    return v


def crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of a Gateway API kind (real names, versions and printer columns; open schema)."""
    plural, short, versions, columns = _KINDS[kind]
    names: dict[str, Any] = {"plural": plural, "singular": kind.lower(), "kind": kind,
                             "listKind": f"{kind}List", "categories": ["gateway-api"]}
    if short:
        names["shortNames"] = short
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "annotations": {
            "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328",
            "gateway.networking.k8s.io/bundle-version": BUNDLE_VERSION,
            "gateway.networking.k8s.io/channel": "standard"}},
        "spec": {"group": GROUP, "names": names,
                 "scope": "Cluster" if kind in _CLUSTER_SCOPED else "Namespaced",
                 "versions": [_version(kind, v, i == 0, columns, kind not in _NO_STATUS)
                              for i, v in enumerate(versions)]},
    }


def standard_crds() -> list[dict[str, Any]]:
    """Every CRD of the standard channel, in the order the release file lists them."""
    return [crd(k) for k in _KINDS]


def standard_install_yaml() -> str:
    """The standard channel's CRDs as the release's standard-install.yaml, with a header saying what it is."""
    head = (f"# Gateway API {BUNDLE_VERSION} standard channel CRDs: ambient-lb's stand-in for\n"
            f"# https://github.com/kubernetes-sigs/gateway-api/releases/download/{BUNDLE_VERSION}/"
            "standard-install.yaml\n# (real names, versions, printer columns and status defaults; open schemas).\n"
            "# Generated by `python -m ambient_lb.sim.mesh.gatewayapi`; do not edit.\n")
    return head + yaml.safe_dump_all(standard_crds(), sort_keys=False, explicit_start=True)


def load_standard_install() -> list[dict[str, Any]]:
    """The bundled standard-install.yaml's CRDs."""
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


if __name__ == "__main__":
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(standard_install_yaml())
    print(f"wrote {MANIFEST}")
