"""The helm stand-in: manifests for the two enterprise-kgateway charts the guide installs.

Who calls it: the library's helm wrapper (``ambient_lb.helm``) on the ``sim`` target, which
applies what ``render`` returns and writes the helm release Secret itself. The charts cannot be
pulled in the simulator, so these manifests stand in for them: same object kinds, names, labels and
values the guide uses (``installExtAuthCRDs``, ``licensing.licenseKey``,
``controller.extraEnv.KGW_ENABLE_ISTIO_INTEGRATION``). CRD schemas are kept open
(``x-kubernetes-preserve-unknown-fields``); the names, groups and versions are the real ones.

The license key never appears in a manifest's text other than the Secret's base64 ``data``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ...errors import ParameterError

Manifest = dict[str, Any]

CHART_VERSION = "2.2.0-rc.2"
CONTROLLER_IMAGE = "us-docker.pkg.dev/solo-public/enterprise-kgateway/enterprise-kgateway"
CONTROLLER_NAME = "solo.io/enterprise-kgateway"
LICENSE_SECRET = "enterprise-kgateway-license"
LICENSE_KEY_FIELD = "license-key"

# (plural, group, kind, scope, values switch) of the CRDs the crds chart carries
_CRDS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("gatewayparameters", "gateway.kgateway.dev", "GatewayParameters", "Namespaced", None),
    ("trafficpolicies", "gateway.kgateway.dev", "TrafficPolicy", "Namespaced", None),
    ("httplistenerpolicies", "gateway.kgateway.dev", "HTTPListenerPolicy", "Namespaced", None),
    ("backends", "gateway.kgateway.dev", "Backend", "Namespaced", None),
    ("backendconfigpolicies", "gateway.kgateway.dev", "BackendConfigPolicy", "Namespaced", None),
    ("directresponses", "gateway.kgateway.dev", "DirectResponse", "Namespaced", None),
    ("gatewayextensions", "gateway.kgateway.dev", "GatewayExtension", "Namespaced", None),
    ("enterprisekgatewaytrafficpolicies", "enterprisekgateway.solo.io",
     "EnterpriseKgatewayTrafficPolicy", "Namespaced", None),
    ("enterprisekgatewayparameters", "enterprisekgateway.solo.io",
     "EnterpriseKgatewayParameters", "Namespaced", None),
    ("authconfigs", "extauth.solo.io", "AuthConfig", "Namespaced", "installExtAuthCRDs"),
    ("ratelimitconfigs", "ratelimit.solo.io", "RateLimitConfig", "Namespaced", "installRateLimitCRDs"),
    ("listenersets", "enterprisekgateway.solo.io", "ListenerSet", "Namespaced",
     "installEnterpriseListenerSetCRD"),
)


def render(release: str, chart: str, version: str, namespace: str, values: dict[str, Any]) -> list[Manifest]:
    """Manifests ``helm upgrade -i <release> <chart> --version <version> -n <namespace>`` would apply.

    ``chart`` may be the OCI reference the guide uses or its last path element.
    Raises ParameterError for an unknown chart or a malformed values entry.
    """
    short = chart.rstrip("/").rsplit("/", 1)[-1]
    renderer = _CHARTS.get(short)
    if renderer is None:
        raise ParameterError(
            f"chart {chart!r} is not one the simulator stands in for; known charts: "
            f"{', '.join(sorted(_CHARTS))} (for example "
            "oci://us-docker.pkg.dev/solo-public/enterprise-kgateway/charts/enterprise-kgateway)")
    if not isinstance(values, dict):
        raise ParameterError(f"helm values must be a mapping, got {type(values).__name__}; "
                             "for example {'controller': {'extraEnv': {'KGW_ENABLE_ISTIO_INTEGRATION': True}}}")
    return renderer(release, version or CHART_VERSION, namespace, values)


def _helm_meta(name: str, release: str, chart: str, version: str, namespace: str | None) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": release,
                   "app.kubernetes.io/name": chart, "app.kubernetes.io/version": version,
                   "helm.sh/chart": f"{chart}-{version}"},
        "annotations": {"meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": namespace or "default"},
    }
    if namespace is not None:
        md["namespace"] = namespace
    return md


def _flag(values: dict[str, Any], key: str, default: bool = True) -> bool:
    v = values.get(key, default)
    if isinstance(v, str):
        if v.lower() not in ("true", "false"):
            raise ParameterError(f"helm value {key}={v!r} is not a boolean; for example --set {key}=false")
        return v.lower() == "true"
    return bool(v)


def _crd(plural: str, group: str, kind: str, scope: str, meta: dict[str, Any]) -> Manifest:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": dict(meta, name=f"{plural}.{group}"),
        "spec": {"group": group, "scope": scope,
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                           "listKind": f"{kind}List", "categories": ["kgateway"]},
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": schema,
                               "subresources": {"status": {}}}]},
    }


def _render_crds(release: str, version: str, namespace: str, values: dict[str, Any]) -> list[Manifest]:
    out = []
    for plural, group, kind, scope, switch in _CRDS:
        if switch and not _flag(values, switch):
            continue
        meta = _helm_meta(f"{plural}.{group}", release, "enterprise-kgateway-crds", version, None)
        out.append(_crd(plural, group, kind, scope, meta))
    return out


def _extra_env(values: dict[str, Any]) -> list[dict[str, str]]:
    extra = (values.get("controller") or {}).get("extraEnv") or {}
    if not isinstance(extra, dict):
        raise ParameterError("helm value controller.extraEnv must be a mapping of NAME: value; for example "
                             "controller: {extraEnv: {KGW_ENABLE_ISTIO_INTEGRATION: true}}")
    return [{"name": str(k), "value": str(v).lower() if isinstance(v, bool) else str(v)}
            for k, v in extra.items()]


def _controller_deployment(meta: dict[str, Any], version: str, values: dict[str, Any]) -> Manifest:
    sel = {"app.kubernetes.io/name": "enterprise-kgateway", "app.kubernetes.io/instance": meta["labels"][
        "app.kubernetes.io/instance"]}
    env = _extra_env(values) + [{"name": "LICENSE_KEY", "valueFrom": {"secretKeyRef": {
        "name": LICENSE_SECRET, "key": LICENSE_KEY_FIELD, "optional": True}}}]
    container = {"name": "kgateway", "image": f"{CONTROLLER_IMAGE}:{version}",
                 "ports": [{"name": "grpc-xds", "containerPort": 9977}, {"name": "health", "containerPort": 9093}],
                 "env": env,
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9093}, "periodSeconds": 10}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta, name="enterprise-kgateway"),
            "spec": {"replicas": 1, "selector": {"matchLabels": sel},
                     "template": {"metadata": {"labels": dict(sel, app="enterprise-kgateway")},
                                  "spec": {"serviceAccountName": "enterprise-kgateway",
                                           "containers": [container]}}}}


def _render_controller(release: str, version: str, namespace: str, values: dict[str, Any]) -> list[Manifest]:
    def meta(name: str, ns: str | None = namespace) -> dict[str, Any]:
        return _helm_meta(name, release, "enterprise-kgateway", version, ns)

    key = str((values.get("licensing") or {}).get("licenseKey") or "")
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta(LICENSE_SECRET),
              "data": {LICENSE_KEY_FIELD: base64.b64encode(key.encode()).decode()}}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("enterprise-kgateway")}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta("enterprise-kgateway"),
           "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "enterprise-kgateway"},
                    "ports": [{"name": "grpc-xds", "port": 9977, "targetPort": 9977, "protocol": "TCP"}]}}
    gwc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": meta(
        "enterprise-kgateway", None), "spec": {"controllerName": CONTROLLER_NAME,
                                               "description": "Solo Enterprise for kgateway"}}
    return [sa, secret, svc, _controller_deployment(meta("enterprise-kgateway"), version, values), gwc]


_CHARTS: dict[str, Callable[[str, str, str, dict[str, Any]], list[Manifest]]] = {
    "enterprise-kgateway-crds": _render_crds,
    "enterprise-kgateway": _render_controller,
}
