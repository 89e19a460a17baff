"""The stats matcher pilot-agent puts in a waypoint's Envoy bootstrap, from its ProxyConfig (R13.5).

Who calls it: ``admin`` when a waypoint pod's Envoy admin first answers (the proxy's start, R13.13):
``waypoint_stats_matcher(cluster, pod)`` reads the mesh ConfigMap ``istio-system/istio``
(``defaultConfig``) and the pod's annotations, which the waypoint controller copied from the
Gateway (R13.6), and returns the matcher with anything that would have broken a real start.

| input | where | effect |
| --- | --- | --- |
| ``defaultConfig.proxyStatsMatcher`` | mesh ConfigMap | base lists |
| ``proxy.istio.io/config`` | pod annotation (YAML ProxyConfig) | replaces the fields it sets |
| ``sidecar.istio.io/statsInclusion{Prefixes,Suffixes,Regexps}`` | pod annotations (comma-separated) | replace that kind's list |
"""

from __future__ import annotations

from typing import Any

import yaml

from ... import yaml_limits
from ..cluster import Cluster
from . import objects as o
from .model.stats_matcher import KINDS, StatsMatcher, istio_stats_matcher

PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
#: R13.5: ProxyConfig.proxyStatsMatcher field and the older per-kind pod annotation, per list kind.
MATCHER_FIELDS = {"prefixes": "inclusionPrefixes", "suffixes": "inclusionSuffixes", "regexps": "inclusionRegexps"}
STATS_ANNOTATIONS = {"prefixes": "sidecar.istio.io/statsInclusionPrefixes",
                     "suffixes": "sidecar.istio.io/statsInclusionSuffixes",
                     "regexps": "sidecar.istio.io/statsInclusionRegexps"}
MESH_CONFIGMAP = ("istio-system", "istio")
MAX_BYTES = 2**20  # an object holds at most 1 MiB of data, 256 KiB of annotations


def mesh_default_config(cluster: Cluster) -> dict[str, Any]:
    """``meshConfig.defaultConfig`` from the ConfigMap istiod reads (empty if absent or unreadable)."""
    cm = cluster.store.get(o.GR("", "configmaps"), *MESH_CONFIGMAP)
    try:
        mesh = yaml_limits.load(((cm or {}).get("data") or {}).get("mesh") or "", max_bytes=MAX_BYTES) or {}
    except (yaml.YAMLError, yaml_limits.Refused):
        return {}
    return dict(mesh.get("defaultConfig") or {}) if isinstance(mesh, dict) else {}


def effective_proxy_config(default: dict[str, Any], annotations: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """R13.5: the default overlaid by ``proxy.istio.io/config`` (fields present replace; a nested
    message merges field by field `[inferred]`); problems name what pilot-agent would reject."""
    raw = annotations.get(PROXY_CONFIG_ANNOTATION)
    if not raw:
        return dict(default), []
    try:
        overlay = yaml_limits.load(raw, max_bytes=MAX_BYTES)  # R16.29: go-yaml's alias and depth limits
    except yaml_limits.Refused as exc:
        return dict(default), [f"annotation {PROXY_CONFIG_ANNOTATION} was refused: yaml: {exc}; "
                               "pilot-agent would fail with 'failed to get proxy config'"]
    except yaml.YAMLError as exc:
        return dict(default), [f"annotation {PROXY_CONFIG_ANNOTATION} is not YAML ({exc.__class__.__name__}); "
                               "pilot-agent would fail with 'failed to get proxy config'"]
    if not isinstance(overlay, dict):
        return dict(default), [f"annotation {PROXY_CONFIG_ANNOTATION} must be a ProxyConfig mapping, e.g. "
                               "'proxyStatsMatcher: {inclusionRegexps: [\".*outlier_detection.*\"]}'"]
    merged = dict(default)
    for key, value in overlay.items():
        base = merged.get(key)
        merged[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
    return merged, []


def user_lists(proxy_config: dict[str, Any], annotations: dict[str, str], pod_ip: str) -> dict[str, list[str]]:
    """R13.5: per kind, the pod annotation's list if set, else ProxyConfig's; ``{pod_ip}`` substituted."""
    matcher = proxy_config.get("proxyStatsMatcher") or {}
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        ann = annotations.get(STATS_ANNOTATIONS[kind], "")
        values = [v for v in ann.split(",") if v] if ann else [str(v) for v in matcher.get(MATCHER_FIELDS[kind]) or []]
        out[kind] = [v.replace("{pod_ip}", pod_ip) for v in values]
    return out


def waypoint_stats_matcher(cluster: Cluster, pod: o.Obj | None) -> tuple[StatsMatcher, list[str]]:
    """The matcher of a waypoint pod's Envoy (R13.3, R13.5) and the problems found on the way."""
    annotations = o.annotations_of(pod)
    proxy_config, problems = effective_proxy_config(mesh_default_config(cluster), annotations)
    matcher = istio_stats_matcher(user_lists(proxy_config, annotations, o.pod_ip(pod) if pod else ""),
                                  metadata_discovery=True)
    problems += [f"stats inclusion regexp {rx!r} does not compile; Envoy would reject the bootstrap"
                 for rx in matcher.invalid_regexps()]
    return matcher, problems
