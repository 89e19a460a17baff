"""Field defaults the real API server fills in, per kind (SetDefaults_* and admission plugins).

Who calls it: ``admission.py`` (for what clients create and update) and, through ``admission.admit``,
the controllers that create Pods themselves. Every function edits the object in place, only adds
missing fields, and is idempotent (defaulting twice changes nothing), so a pod-template-hash
computed on a defaulted template stays stable across ``kubectl apply`` runs.
"""

from __future__ import annotations

import random

from .names import random_suffix
from .objects import Obj

PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
NOT_READY_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
]


def _pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    tag = tail.split(":", 1)[1] if ":" in tail else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(p: Obj | None) -> None:
    if not p:
        return
    for k, v in PROBE_DEFAULTS.items():
        p.setdefault(k, v)
    if "httpGet" in p:
        p["httpGet"].setdefault("scheme", "HTTP")
        p["httpGet"].setdefault("path", "/")


def container(c: Obj) -> None:
    """Defaults a container as SetDefaults_Container does (pull policy, termination message, port protocols, probes)."""
    c.setdefault("imagePullPolicy", _pull_policy(c.get("image", "")))
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        _probe(c.get(probe))


def pod_spec(spec: Obj) -> None:
    """Defaults shared by Pods and pod templates (SetDefaults_PodSpec, SetDefaults_Container)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        container(c)


def pod(obj: Obj, rng: random.Random) -> None:
    """A Pod at create: template defaults, then what the admission plugins add (service account and
    its token volume, priority, default tolerations), then ``status`` Pending with its QoS class."""
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", PRIORITY_CLASSES.get(spec.get("priorityClassName", ""), 0))
    spec.setdefault("tolerations", [dict(t) for t in NOT_READY_TOLERATIONS])
    if spec.get("automountServiceAccountToken", True) and not _has_token_volume(spec):
        _add_token_volume(spec, rng)
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def _has_token_volume(spec: Obj) -> bool:
    return any(v.get("name", "").startswith("kube-api-access-") for v in spec.get("volumes") or [])


def _add_token_volume(spec: Obj, rng: random.Random) -> None:
    name = f"kube-api-access-{random_suffix(rng)}"
    spec.setdefault("volumes", []).append({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}}]}})
    for c in spec.get("containers") or []:
        c.setdefault("volumeMounts", []).append({"mountPath": SA_MOUNT, "name": name, "readOnly": True})


def qos_class(spec: Obj) -> str:
    """The pod's QoS class from its containers' requests and limits: BestEffort, Guaranteed or Burstable."""
    res = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all((r.get("limits") or {}).get(k) and
                     (r.get("requests") or r.get("limits") or {}).get(k) == r["limits"][k]
                     for r in res for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def workload(obj: Obj) -> None:
    """Deployments, ReplicaSets, ReplicationControllers and DaemonSets: strategy, history limit,
    template defaults."""
    spec = obj.setdefault("spec", {})
    kind = obj.get("kind", "")
    if kind in ("Deployment", "ReplicaSet", "ReplicationController"):
        spec.setdefault("replicas", 1)
    if kind == "ReplicationController":
        replication_controller(obj)
    if kind == "Deployment":
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    if kind == "DaemonSet":
        us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        us.setdefault("type", "RollingUpdate")
        if us["type"] == "RollingUpdate":
            ru = us.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    pod_spec(template.setdefault("spec", {}))


def replication_controller(obj: Obj) -> None:
    """``SetDefaults_ReplicationController``: an empty selector, and empty object labels, are the
    template's labels (R16.20)."""
    spec = obj.setdefault("spec", {})
    tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if tmpl_labels:
        if not spec.get("selector"):
            spec["selector"] = dict(tmpl_labels)
        md = obj.setdefault("metadata", {})
        if not md.get("labels"):
            md["labels"] = dict(tmpl_labels)


def namespace(obj: Obj, old: Obj | None) -> None:
    """Defaults a Namespace: its name label, the kubernetes finalizer, and phase Active (kept across updates)."""
    md = obj.setdefault("metadata", {})
    md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md.get("name", "")
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    if old is not None and not status.get("phase"):
        status.update(old.get("status") or {})
    status.setdefault("phase", "Active")


def service(obj: Obj, old: Obj | None) -> None:
    """Service spec defaults; the IPs and node ports are allocated by ``admission``."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", (old or {}).get("status") or {"loadBalancer": {}})
