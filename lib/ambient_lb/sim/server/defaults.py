"""Defaults the API server fills in on create, as a real apiserver's defaulting does.

Who calls it: ``rest.py`` on create (and on update/apply, which is idempotent). The kubernetes
client's models need these (research §4: ``V1Container.name``, condition types…), and kubectl's
printers show them (``imagePullPolicy``, the Service ``CLUSTER-IP``). Each defaulter is one small
function in ``DEFAULTERS`` keyed by (group, kind).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from .. import batch_rules
from ..protocols import ObjectStore
from ..store import GR

Obj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"


def _container(c: Obj) -> None:
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def pod_spec(spec: Obj) -> None:
    """Defaults a pod spec (or template spec) and its containers as the API server does."""
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)


def _template(spec: Obj) -> None:
    tpl = spec.setdefault("template", {})
    if isinstance(tpl, dict):
        tpl.setdefault("metadata", {})
        if isinstance(tpl.get("spec"), dict):
            pod_spec(tpl["spec"])


def pod(obj: Obj, _: Allocator) -> None:
    """Defaults a Pod: its spec, service account, priority, tolerations and status."""
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}])
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", _qos(spec))


def _qos(spec: Obj) -> str:
    res = [c.get("resources") or {} for c in spec.get("containers") or [] if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all(r.get("limits") and all(r.get("requests", r["limits"]).get(k) == v
                                              for k, v in r["limits"].items()) for r in res)
    return "Guaranteed" if guaranteed else "Burstable"


def deployment(obj: Obj, _: Allocator) -> None:
    """Defaults a Deployment: replicas, history, progress deadline, rolling update strategy, template."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    _template(spec)


def replicaset(obj: Obj, _: Allocator) -> None:
    """Defaults a ReplicaSet: replicas and template."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)


def replicationcontroller(obj: Obj, _: Allocator) -> None:
    """``SetDefaults_ReplicationController`` (R16.20): selector and labels from the template, 1 replica."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        if not obj["metadata"].get("labels"):
            obj["metadata"]["labels"] = dict(labels)
    _template(spec)


def rbac_binding(obj: Obj, _: Allocator) -> None:
    """``SetDefaults_RoleBinding``/``ClusterRoleBinding``/``Subject`` (R16.14): the RBAC group for the
    roleRef and for User and Group subjects."""
    ref = obj.setdefault("roleRef", {})
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def job(obj: Obj, alloc: Allocator) -> None:
    """R16.17: the pod template's defaults, then ``SetDefaults_Job`` and the generated selector."""
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        _template(spec)
    batch_rules.job_defaults(obj, alloc.store.new_uid)


def cronjob(obj: Obj, _: Allocator) -> None:
    """Defaults a CronJob and its job template."""
    batch_rules.cronjob_defaults(obj)
    job_spec = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec")
    if isinstance(job_spec, dict):
        _template(job_spec)


def daemonset(obj: Obj, _: Allocator) -> None:
    """Defaults a DaemonSet: history, rolling update strategy, template."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    _template(spec)


def service(obj: Obj, alloc: Allocator) -> None:
    """Defaults a Service: type, affinity, traffic policies, port protocols and target ports, cluster IP, node ports."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer"):
                p.setdefault("nodePort", alloc.node_port())
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = alloc.cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def namespace(obj: Obj, _: Allocator) -> None:
    """Defaults a Namespace: the kubernetes finalizer, phase Active, and its name label."""
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    md = obj["metadata"]
    md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]


def secret(obj: Obj, _: Allocator) -> None:
    """Defaults a Secret's type to Opaque."""
    obj.setdefault("type", "Opaque")


def crd(obj: Obj, _: Allocator) -> None:
    """Defaults a CustomResourceDefinition: its singular and list kind names, and conversion strategy None."""
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if isinstance(names, dict) and names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})


DEFAULTERS: dict[tuple[str, str], Callable[[Obj, Allocator], None]] = {
    ("", "Pod"): pod, ("", "Service"): service, ("", "Namespace"): namespace, ("", "Secret"): secret,
    ("apps", "Deployment"): deployment, ("apps", "ReplicaSet"): replicaset,
    ("", "ReplicationController"): replicationcontroller,
    (RBAC_GROUP, "RoleBinding"): rbac_binding, (RBAC_GROUP, "ClusterRoleBinding"): rbac_binding,
    ("batch", "Job"): job, ("batch", "CronJob"): cronjob,
    ("apps", "DaemonSet"): daemonset, ("apiextensions.k8s.io", "CustomResourceDefinition"): crd,
}


class Allocator:
    """Service cluster IPs (10.96.0.0/16) and node ports (30000–32767), drawn from the seeded rng."""

    def __init__(self, store: ObjectStore, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        self.net = ipaddress.ip_network("10.96.0.0/16")

    def _services(self) -> list[Obj]:
        return self.store.list(GR("", "services"))

    def cluster_ip(self) -> str:
        """A free cluster IP from 10.96.0.0/16."""
        used = {(s.get("spec") or {}).get("clusterIP") for s in self._services()}
        while True:
            ip = str(self.net[self.rng.randrange(10, self.net.num_addresses - 1)])
            if ip not in used:
                return ip

    def node_port(self) -> int:
        """A free node port from 30000-32767."""
        used = {p.get("nodePort") for s in self._services() for p in (s.get("spec") or {}).get("ports") or []
                if isinstance(p, dict)}
        while True:
            port = self.rng.randrange(30000, 32768)
            if port not in used:
                return port


def apply_defaults(group: str, kind: str, obj: Obj, alloc: Allocator) -> None:
    """Applies the defaults of a group and kind to a new object (no defaulter: nothing to do)."""
    fn = DEFAULTERS.get((group, kind))
    if fn is not None:
        fn(obj, alloc)
