"""Which fields the built-in kinds know, for ``fieldValidation`` (Strict rejects, Warn/Ignore prune).

Who calls it: ``validation.unknown_fields``. A schema here is a small tree: a ``dict`` lists the
known keys of an object (each mapped to its own schema), a one-element ``list`` is an array of that
schema, and ``ANY`` accepts whatever is there (maps of labels, deep structs we do not model field by
field such as probes, volumes or affinity). Unknown keys of a described object are what a real
apiserver's strict decoder reports, e.g. ``unknown field "spec.template.spec.containers[0].bogus"``.
"""

from __future__ import annotations

from typing import Any

ANY: Any = None


def _obj(*names: str, **typed: Any) -> dict[str, Any]:
    """A described object: ``names`` accept anything, ``typed`` carry a sub-schema."""
    out: dict[str, Any] = {n: ANY for n in names}
    out.update(typed)
    return out


OWNER_REF = _obj("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
OBJECT_META = _obj(
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "finalizers", "managedFields", "clusterName", ownerReferences=[OWNER_REF])
TOP = ("apiVersion", "kind")

CONTAINER_PORT = _obj("name", "hostPort", "containerPort", "protocol", "hostIP")
ENV_VAR = _obj("name", "value", "valueFrom")
CONTAINER = _obj(
    "name", "image", "command", "args", "workingDir", "envFrom", "resources", "resizePolicy",
    "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe",
    "startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
    "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty", "targetContainerName",
    ports=[CONTAINER_PORT], env=[ENV_VAR])
POD_SPEC = _obj(
    "volumes", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
    "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC",
    "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname", "subdomain",
    "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
    "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy",
    "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
    "schedulingGates", "resourceClaims", "resources",
    containers=[CONTAINER], initContainers=[CONTAINER], ephemeralContainers=[CONTAINER])
POD_TEMPLATE = _obj(metadata=OBJECT_META, spec=POD_SPEC)
LABEL_SELECTOR = _obj("matchLabels", "matchExpressions")

SERVICE_PORT = _obj("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")
SERVICE_SPEC = _obj(
    "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
    "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
    "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
    "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
    "internalTrafficPolicy", "trafficDistribution", ports=[SERVICE_PORT])
DEPLOYMENT_SPEC = _obj(
    "replicas", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
    "progressDeadlineSeconds", selector=LABEL_SELECTOR, template=POD_TEMPLATE)
REPLICASET_SPEC = _obj("replicas", "minReadySeconds", selector=LABEL_SELECTOR, template=POD_TEMPLATE)
RC_SPEC = _obj("replicas", "minReadySeconds", "selector", template=POD_TEMPLATE)
JOB_SPEC = _obj("parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy", "successPolicy",
                "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "manualSelector",
                "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy", "managedBy",
                selector=LABEL_SELECTOR, template=POD_TEMPLATE)
CRONJOB_SPEC = _obj("schedule", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "suspend",
                    "successfulJobsHistoryLimit", "failedJobsHistoryLimit",
                    jobTemplate=_obj(metadata=OBJECT_META, spec=JOB_SPEC))
DAEMONSET_SPEC = _obj("updateStrategy", "minReadySeconds", "revisionHistoryLimit",
                      selector=LABEL_SELECTOR, template=POD_TEMPLATE)


def _kind(*names: str, **fields: Any) -> dict[str, Any]:
    return _obj(*TOP, *names, metadata=OBJECT_META, **fields)


POLICY_RULE = _obj("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
SUBJECT = _obj("kind", "apiGroup", "name", "namespace")
ROLE_REF = _obj("apiGroup", "kind", "name")
RBAC = "rbac.authorization.k8s.io"


BUILTIN_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "Namespace"): _kind(spec=_obj("finalizers"), status=ANY),
    ("", "Pod"): _kind(spec=POD_SPEC, status=ANY),
    ("", "Service"): _kind(spec=SERVICE_SPEC, status=ANY),
    ("", "ConfigMap"): _kind("data", "binaryData", "immutable"),
    ("", "Secret"): _kind("data", "stringData", "type", "immutable"),
    ("", "ServiceAccount"): _kind("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    ("", "Node"): _kind(spec=ANY, status=ANY),
    ("", "Endpoints"): _kind("subsets"),
    ("", "Event"): _kind(
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
        "type", "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"),
    ("apps", "Deployment"): _kind(spec=DEPLOYMENT_SPEC, status=ANY),
    ("apps", "ReplicaSet"): _kind(spec=REPLICASET_SPEC, status=ANY),
    ("", "ReplicationController"): _kind(spec=RC_SPEC, status=ANY),
    ("batch", "Job"): _kind(spec=JOB_SPEC, status=ANY),
    ("batch", "CronJob"): _kind(spec=CRONJOB_SPEC, status=ANY),
    ("apps", "DaemonSet"): _kind(spec=DAEMONSET_SPEC, status=ANY),
    ("discovery.k8s.io", "EndpointSlice"): _kind("addressType", "endpoints", "ports"),
    (RBAC, "Role"): _kind(rules=[POLICY_RULE]),
    (RBAC, "ClusterRole"): _kind(rules=[POLICY_RULE], aggregationRule=_obj("clusterRoleSelectors")),
    (RBAC, "RoleBinding"): _kind(subjects=[SUBJECT], roleRef=ROLE_REF),
    (RBAC, "ClusterRoleBinding"): _kind(subjects=[SUBJECT], roleRef=ROLE_REF),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _kind(
        spec=_obj("group", "names", "scope", "versions", "conversion", "preserveUnknownFields"),
        status=ANY),
}


def crd_schema(crd: dict[str, Any] | None, version: str) -> dict[str, Any] | None:
    """The ``openAPIV3Schema`` of one served version of a CRD, converted to the tree form above.

    None when the CRD declares no schema for that version (then nothing is checked)."""
    if not crd:
        return None
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            raw = ((v.get("schema") or {}).get("openAPIV3Schema"))
            if not raw:
                return None
            tree = _from_openapi(raw)
            if isinstance(tree, dict):
                tree = dict(tree)
                for k in TOP:
                    tree.setdefault(k, ANY)
                tree["metadata"] = OBJECT_META
            return tree
    return None


def _from_openapi(s: dict[str, Any]) -> Any:
    if not isinstance(s, dict) or s.get("x-kubernetes-preserve-unknown-fields") \
            or s.get("x-kubernetes-int-or-string") or s.get("x-kubernetes-embedded-resource"):
        return ANY
    if s.get("type") == "array":
        return [_from_openapi(s.get("items") or {})]
    props = s.get("properties")
    if s.get("type") == "object" and props is None:
        return ANY  # additionalProperties maps, or an untyped object
    if props is None:
        return ANY  # scalars carry no fields
    return {k: _from_openapi(v) for k, v in props.items()}
