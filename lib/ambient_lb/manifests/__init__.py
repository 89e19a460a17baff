"""The YAML the guide applies, as templates rendered from params, each object carrying the run label.

``guide.py`` renders these and applies them with kubectl (the learner sees the YAML it applied).
Templates use ``${name}`` placeholders (``string.Template``); :func:`values` maps params onto them.
Every rendered object gets ``ambient-lb.dev/run: <run id>`` (and Deployments also on their pod
template), so ``05-cleanup`` can prove that nothing the runbook created is left.
``gateway-api/standard-install.yaml`` (the Gateway API CRDs for the simulator) belongs to the sim.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RUN_LABEL = "ambient-lb.dev/run"
TEMPLATES = ("in-ambient", "in-ambient-faulty", "gateway", "httproute", "waypoint", "destinationrule")
GATEWAY_API_CRDS = HERE / "gateway-api" / "standard-install.yaml"


def values(p: Any) -> dict[str, Any]:
    """Template values from a ``params.Params``."""
    dr = p.destination_rule
    return {
        "app": p.app.name, "app_namespace": p.namespaces.app, "app_port": p.app.port,
        "image": p.app.image, "gateway": p.gateway.name, "gateway_namespace": p.namespaces.kgateway,
        "gateway_class": p.gateway.class_name, "listener": p.gateway.listener,
        "gateway_port": p.gateway.port, "route": p.route.name, "hostname": p.route.hostname,
        "path": p.route.path, "waypoint": p.waypoint.name, "waypoint_class": p.waypoint.class_name,
        "waypoint_port": p.waypoint.port, "destination_rule": dr.name, "lb_policy": dr.lb_policy,
        "consecutive_5xx_errors": dr.consecutive_5xx_errors, "interval": str(dr.interval),
        "base_ejection_time": str(dr.base_ejection_time),
        "faulty": p.faulty.name, "faulty_image": p.faulty.image, "faulty_status": p.faulty.status,
    }


def render(name: str, params: Any, run_id: str, **extra: Any) -> list[dict[str, Any]]:
    """Render template ``name`` (one of :data:`TEMPLATES`) into labelled objects."""
    if name not in TEMPLATES:
        raise KeyError(f"no manifest template {name!r}; choose one of {', '.join(TEMPLATES)}")
    text = Template((HERE / f"{name}.yaml").read_text()).substitute({**values(params), **extra})
    docs = [d for d in yaml.safe_load_all(text) if d]
    for d in docs:
        label(d, run_id)
    if name == "destinationrule":
        _max_ejection(docs[0], params.destination_rule.max_ejection_percent)
    return docs


def _max_ejection(dr: dict[str, Any], percent: Any) -> None:
    if percent is not None:
        dr["spec"]["trafficPolicy"]["outlierDetection"]["maxEjectionPercent"] = int(percent)


def label(obj: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Put the run label on the object (and on a Deployment's pod template)."""
    obj.setdefault("metadata", {}).setdefault("labels", {})[RUN_LABEL] = run_id
    template = obj.get("spec", {}).get("template")
    if obj.get("kind") == "Deployment" and template is not None:
        template.setdefault("metadata", {}).setdefault("labels", {})[RUN_LABEL] = run_id
    return obj


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """Multi-document YAML, keys in the order written (what ``kubectl apply -f-`` gets)."""
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
