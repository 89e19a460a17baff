"""A container's environment as the kubelet builds it from the pod spec (R20.4).

Who calls it: ``kubelet.py`` (before it creates a container: a reference it cannot resolve is
``CreateContainerConfigError``) and the runtime stand-in for the project's own image
(``sim/mesh/apps/own_image.py``), which starts a process with exactly this environment.

    source                                      value
    ------------------------------------------  -------------------------------------------------------
    envFrom[].configMapRef / secretRef          every key, with ``prefix``; a missing object fails
                                                unless ``optional``
    env[].value                                 as written
    env[].valueFrom.configMapKeyRef /           the key's value; a missing object or key fails unless
    secretKeyRef                                ``optional``
    env[].valueFrom.fieldRef                    metadata.name, metadata.namespace, metadata.uid,
                                                spec.nodeName, spec.serviceAccountName, status.podIP,
                                                status.hostIP

``env`` is applied after ``envFrom`` (an ``env`` entry wins), as the kubelet does. The failures carry
the kubelet's words: ``secret "<name>" not found``, ``configmap "<name>" not found``, ``couldn't find
key <key> in Secret <ns>/<name>`` (``kubelet_pods.go`` ``makeEnvironmentVariables``). ``$(VAR)``
references are not expanded [model].
"""

from __future__ import annotations

import base64
import binascii

from ..protocols import SimCluster
from .keys import CONFIG_MAPS, SECRETS
from .objects import Obj, meta

FIELDS = {"metadata.name": lambda p: meta(p).get("name", ""),
          "metadata.namespace": lambda p: meta(p).get("namespace", ""),
          "metadata.uid": lambda p: meta(p).get("uid", ""),
          "spec.nodeName": lambda p: (p.get("spec") or {}).get("nodeName", ""),
          "spec.serviceAccountName": lambda p: (p.get("spec") or {}).get("serviceAccountName", ""),
          "status.podIP": lambda p: (p.get("status") or {}).get("podIP", ""),
          "status.hostIP": lambda p: (p.get("status") or {}).get("hostIP", "")}


class ConfigError(Exception):
    """A reference the kubelet cannot resolve: the container waits in ``CreateContainerConfigError``."""


def config_error(cluster: SimCluster, pod: Obj, container: Obj) -> str | None:
    """The kubelet's message when the container's environment cannot be built, else None."""
    try:
        resolve(cluster, pod, container)
    except ConfigError as exc:
        return str(exc)
    return None


def resolve(cluster: SimCluster, pod: Obj, container: Obj, pod_ip: str = "") -> dict[str, str]:
    """The container's environment from its spec; raises ``ConfigError`` with the kubelet's message."""
    ns = meta(pod).get("namespace", "")
    out: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind in ("configMapRef", "secretRef"):
            ref = src.get(kind)
            if ref is None:
                continue
            data = _data(cluster, ns, kind == "secretRef", ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(_not_found(kind == "secretRef", ref.get("name", "")))
            out.update({prefix + k: v for k, v in data.items()})
    for e in container.get("env") or []:
        value = _value(cluster, pod, ns, e, pod_ip)
        if value is not None:
            out[e.get("name", "")] = value
    return out


def _value(cluster: SimCluster, pod: Obj, ns: str, e: Obj, pod_ip: str) -> str | None:
    source = e.get("valueFrom")
    if source is None:
        return str(e.get("value", ""))
    if "fieldRef" in source:
        path = source["fieldRef"].get("fieldPath", "")
        if path == "status.podIP" and pod_ip:
            return pod_ip
        return FIELDS[path](pod) if path in FIELDS else ""
    for kind, secret in (("secretKeyRef", True), ("configMapKeyRef", False)):
        ref = source.get(kind)
        if ref is None:
            continue
        name, key = ref.get("name", ""), ref.get("key", "")
        data = _data(cluster, ns, secret, name)
        if data is None:
            if ref.get("optional"):
                return None
            raise ConfigError(_not_found(secret, name))
        if key not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"couldn't find key {key} in {'Secret' if secret else 'ConfigMap'} {ns}/{name}")
        return data[key]
    return None  # resourceFieldRef and friends: not modelled


def _data(cluster: SimCluster, ns: str, secret: bool, name: str) -> dict[str, str] | None:
    obj = cluster.store.get(SECRETS if secret else CONFIG_MAPS, ns, name)
    if obj is None:
        return None
    if secret:
        data = {k: _b64(v) for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
        return data
    data = dict(obj.get("data") or {})
    data.update({k: _b64(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _not_found(secret: bool, name: str) -> str:
    return f'{"secret" if secret else "configmap"} "{name}" not found'


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text).decode("utf-8", "replace")
    except (ValueError, binascii.Error):
        return ""
