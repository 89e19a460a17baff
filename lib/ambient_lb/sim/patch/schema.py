"""Merge metadata for the built-in kinds: which lists merge by which key, which are sets, which are atomic.

Who calls it: ``strategic.py`` (strategic merge patch: ``patchMergeKey``/``patchStrategy``) and
``fields.py``/``ssa.py`` (server-side apply: ``listType``/``listMapKeys``, atomic structs). A real
apiserver reads both from the Go struct tags of k8s.io/api; this is the part of those tags the
simulator's kinds use. A field the table does not name behaves like an untagged field: an object
merges key by key, a list is replaced (SMP) or owned as a whole (SSA). The table is written in the
vocabulary of ``rules.py``; a custom resource's rules come from its CRD (``crdschema.py``).
"""

from __future__ import annotations

from typing import Any

from .crdschema import crd_schema
from .errors import UnsupportedPatch
from .rules import ATOMIC, OBJECT_META, SET, Rule, Struct, by

TCP = (("protocol", "TCP"),)
CONDITIONS = by("type")
LABEL_SELECTOR = Struct(atomic=True)

CONTAINER = Struct({
    "args": ATOMIC, "command": ATOMIC, "envFrom": ATOMIC,
    "env": by("name"),
    "ports": by("containerPort", "protocol", defaults=TCP),
    "volumeMounts": by("mountPath"),
    "volumeDevices": by("devicePath"),
    "resizePolicy": by("resourceName"),
    "resources": Struct(value=True),
})
POD_SPEC = Struct({
    "containers": by("name", item=CONTAINER, value=True),
    "initContainers": by("name", item=CONTAINER),
    "ephemeralContainers": by("name", item=CONTAINER),
    "volumes": by("name"),
    "imagePullSecrets": by("name"),
    "hostAliases": by("ip"),
    "tolerations": ATOMIC, "readinessGates": ATOMIC,
    "topologySpreadConstraints": by("topologyKey", "whenUnsatisfiable"),
    "schedulingGates": by("name"),
    "resourceClaims": by("name"),
}, value=True)
POD_TEMPLATE = Struct({"metadata": OBJECT_META, "spec": POD_SPEC}, value=True)
POD_STATUS = Struct({"conditions": CONDITIONS, "podIPs": by("ip"), "hostIPs": by("ip")}, value=True)

WORKLOAD_SPEC = Struct({"selector": LABEL_SELECTOR, "template": POD_TEMPLATE,
                        "strategy": Struct(value=True), "updateStrategy": Struct(value=True)}, value=True)
WORKLOAD_STATUS = Struct({"conditions": CONDITIONS}, value=True)
SERVICE_SPEC = Struct({"ports": by("port", "protocol", defaults=TCP), "clusterIPs": ATOMIC,
                       "externalIPs": ATOMIC, "ipFamilies": ATOMIC}, value=True)
SERVICE_STATUS = Struct({"conditions": CONDITIONS}, value=True)
NODE_STATUS = Struct({"conditions": CONDITIONS, "addresses": by("type")}, value=True)


JOB_SPEC = Struct({"selector": LABEL_SELECTOR, "template": POD_TEMPLATE, "podFailurePolicy": Struct(),
                   "successPolicy": Struct()}, value=True)
CRONJOB_SPEC = Struct({"jobTemplate": Struct({"metadata": OBJECT_META, "spec": JOB_SPEC}, value=True)}, value=True)
RC_SPEC = Struct({"template": POD_TEMPLATE}, value=True)  # a ReplicationController's selector is a plain map
ROLE_REF = Struct(value=True)


def _kind(spec: Struct | None = None, status: Struct | None = None, **top: Rule) -> Struct:
    fields: dict[str, Rule] = {"metadata": OBJECT_META,
                               "spec": spec or Struct(value=True), "status": status or Struct(value=True)}
    fields.update(top)
    return Struct(fields, value=True)


def _plain(**top: Rule) -> Struct:
    """A kind without spec/status structs (ConfigMap, Secret, Event, EndpointSlice)."""
    return Struct({"metadata": OBJECT_META, **top}, value=True)


# (group, kind) -> schema of the whole object
BUILTIN: dict[tuple[str, str], Struct] = {
    ("", "Pod"): _kind(POD_SPEC, POD_STATUS),
    ("", "Service"): _kind(SERVICE_SPEC, SERVICE_STATUS),
    ("", "Namespace"): _kind(Struct({"finalizers": ATOMIC}, value=True), WORKLOAD_STATUS),
    ("", "Node"): _kind(Struct({"taints": ATOMIC, "podCIDRs": SET}, value=True), NODE_STATUS),
    ("", "ConfigMap"): _plain(),
    ("", "Secret"): _plain(),
    ("", "ServiceAccount"): _plain(secrets=by("name"), imagePullSecrets=ATOMIC),
    ("", "Endpoints"): _plain(subsets=ATOMIC),
    ("", "Event"): _plain(involvedObject=Struct(value=True), source=Struct(value=True)),
    ("apps", "Deployment"): _kind(WORKLOAD_SPEC, WORKLOAD_STATUS),
    ("apps", "ReplicaSet"): _kind(WORKLOAD_SPEC, WORKLOAD_STATUS),
    ("apps", "DaemonSet"): _kind(WORKLOAD_SPEC, WORKLOAD_STATUS),
    ("apps", "StatefulSet"): _kind(WORKLOAD_SPEC, WORKLOAD_STATUS),
    ("", "ReplicationController"): _kind(RC_SPEC, WORKLOAD_STATUS),
    ("batch", "Job"): _kind(JOB_SPEC, Struct({"conditions": CONDITIONS}, value=True)),
    ("batch", "CronJob"): _kind(CRONJOB_SPEC, Struct({"active": ATOMIC}, value=True)),
    # RBAC lists carry no patch strategy: rules and subjects are replaced whole
    ("rbac.authorization.k8s.io", "Role"): _plain(rules=ATOMIC),
    ("rbac.authorization.k8s.io", "ClusterRole"): _plain(rules=ATOMIC, aggregationRule=Struct()),
    ("rbac.authorization.k8s.io", "RoleBinding"): _plain(subjects=ATOMIC, roleRef=ROLE_REF),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _plain(subjects=ATOMIC, roleRef=ROLE_REF),
    ("discovery.k8s.io", "EndpointSlice"): _plain(endpoints=ATOMIC, ports=ATOMIC),
    ("events.k8s.io", "Event"): _plain(regarding=Struct(value=True)),
    ("coordination.k8s.io", "Lease"): _kind(),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _kind(status=WORKLOAD_STATUS),  # versions: atomic
    ("autoscaling", "Scale"): _kind(),
}

# Custom resources: no SMP; for SSA, only metadata is typed and everything else is a free map.
CUSTOM = Struct({"metadata": OBJECT_META}, value=True)


def smp_schema(gvk: tuple[str, str]) -> Struct:
    """The SMP schema for ``(group, kind)``; ``UnsupportedPatch`` for kinds without one (CRs)."""
    schema = BUILTIN.get(tuple(gvk))  # type: ignore[arg-type]  # callers may pass a [group, kind] list
    if schema is None:
        group, kind = gvk
        name = f"{kind}.{group}" if group else kind
        raise UnsupportedPatch(f"strategic merge patch is not supported for {name}; send "
                               "application/merge-patch+json or application/apply-patch+yaml instead")
    return schema


def apply_schema(obj: dict[str, Any], crd: dict[str, Any] | None = None) -> Struct:
    """The SSA schema for an object, found from its ``apiVersion`` and ``kind``.

    For a custom resource, pass its CRD to use the list types of its schema; without it every
    list of a custom resource is atomic and every object merges key by key.
    """
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    builtin = BUILTIN.get((group, str(obj.get("kind") or "")))
    if builtin is not None:
        return builtin
    if crd is not None:
        return crd_schema(crd, version) or CUSTOM
    return CUSTOM
