"""The Kubernetes objects that run a room's runbooks as Jobs in the trainer's cluster (``workshop --jobs``).

Who calls it: ``workshop_jobs.py`` renders them, applies them with kubectl and reads the results back;
the tests apply them with ``kubectl apply --dry-run=server``. Pure functions: nothing here touches a
cluster.

Per room (namespace ``--namespace``, default ``ambient-lb-workshop``):

- ``ServiceAccount``/``Role``/``RoleBinding`` ``ambient-lb-runner``: the runbook pods may read, create and
  update ConfigMaps in that namespace (their results) and nothing else: the attendee's own cluster is
  reached through the attendee's kubeconfig, not through this account;
- ``ConfigMap ambient-lb-params-<room>``: the trainer's params file, when one is given;
- per attendee, ``Secret ambient-lb-kubeconfig-<attendee>``: that context's kubeconfig, minified and
  flattened (:func:`kubeconfig_secret`; applied through stdin, never written to disk);
- per attendee, ``Job ambient-lb-<attendee>``: one pod of the project's image (``Dockerfile``) running
  ``ambient-lb run -p target=cluster -p kube.context=<context> … --publish <room>``; the license comes
  from ``Secret <license-secret>`` by reference; ``backoffLimit: 0`` (a failed check is an answer, not a
  reason to run the guide again on a half-changed cluster); non-root, read-only root filesystem, no
  capabilities.

Each pod publishes its run's summary to ``ConfigMap ambient-lb-result-<attendee>`` (``results.py``),
labelled ``ambient-lb.dev/workshop=<room>``, after every notebook and at the end.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .errors import ParameterError

IMAGE_REPOSITORY = "ghcr.io/ambient-lb/ambient-lb"  # the simulator runs this image's pods as local processes
RUNNER = "ambient-lb-runner"
DEFAULT_NAMESPACE = "ambient-lb-workshop"
DEFAULT_LICENSE_SECRET = "ambient-lb-license"
WORKSHOP_LABEL = "ambient-lb.dev/workshop"
ATTENDEE_LABEL = "ambient-lb.dev/attendee"
CONTEXT_ANNOTATION = "ambient-lb.dev/context"
ATTENDEE_DIR = "/etc/ambient-lb/attendee"  # the attendee's kubeconfig Secret
PARAMS_DIR = "/etc/ambient-lb/params"
WORK_DIR = "/work"
RUN_USER = 10001  # the Dockerfile's non-root user
DEADLINE_SECONDS = 3 * 3600  # a run that takes longer is stuck on something no check will see
KEEP_SECONDS = 7 * 24 * 3600  # finished Jobs stay a week for kubectl logs; results live in ConfigMaps
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def default_image() -> str:
    """The image for this version of the project: ``ghcr.io/ambient-lb/ambient-lb:<version>``."""
    try:
        version = metadata.version("ambient-lb")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without an install
        version = "latest"
    return f"{IMAGE_REPOSITORY}:{version}"


def dns_label(value: str, what: str, example: str, max_len: int = 63) -> str:
    """``value`` if it is a DNS-1123 label of at most ``max_len`` characters; else ParameterError."""
    if len(value) <= max_len and _LABEL.fullmatch(value):
        return value
    raise ParameterError(f"{what} {value!r}: must be at most {max_len} lowercase letters, digits or '-', starting "
                         f"and ending with a letter or digit (e.g. {example})")


def attendee_name(context: str) -> str:
    """A DNS label for an attendee from their kube context: ``kind-alice`` stays; ``gke_p_z_alice`` becomes
    ``gke-p-z-alice``; a name that had to change or be cut gets 6 characters of its hash, so two contexts
    never share a name."""
    slug = re.sub(r"[^a-z0-9]+", "-", context.lower()).strip("-")
    if slug == context and len(slug) <= 40:
        return slug
    digest = hashlib.sha256(context.encode()).hexdigest()[:6]
    return f"{slug[:33].strip('-') or 'attendee'}-{digest}"


@dataclass(frozen=True)
class Seat:
    """One attendee's Job: their name (a DNS label) and the kube context their runbook drives."""

    name: str
    context: str

    @property
    def job(self) -> str:
        """The Job's name."""
        return f"ambient-lb-{self.name}"

    @property
    def kubeconfig_secret(self) -> str:
        """The Secret holding the attendee's kubeconfig."""
        return f"ambient-lb-kubeconfig-{self.name}"

    @property
    def result(self) -> str:
        """The ConfigMap the attendee's run publishes its summary to."""
        return result_name(self.name)


def result_name(attendee: str) -> str:
    """The name of the ConfigMap an attendee's results go to."""
    return f"ambient-lb-result-{attendee}"


@dataclass(frozen=True)
class Room:
    """What every Job of the room shares: where they run, the image, the license Secret and the params."""

    workshop: str
    namespace: str = DEFAULT_NAMESPACE
    image: str = ""
    license_secret: str = DEFAULT_LICENSE_SECRET
    license_key: str = "LICENSE_KEY"  # the env var the params name (license.env_var): the Secret's key too
    params_text: str | None = None  # the trainer's params file, shared by every attendee
    overrides: tuple[str, ...] = ()  # -p KEY=VALUE for everyone
    only: str | None = None

    @property
    def params_config_map(self) -> str:
        """The ConfigMap holding the shared params file."""
        return f"ambient-lb-params-{self.workshop}"

    def labels(self, seat: Seat | None = None) -> dict[str, str]:
        """The labels every object of the room carries (and the attendee's, for theirs)."""
        out = {"app.kubernetes.io/name": "ambient-lb", "app.kubernetes.io/component": "workshop-runner",
               WORKSHOP_LABEL: self.workshop}
        if seat is not None:
            out[ATTENDEE_LABEL] = seat.name
        return out


def room_objects(room: Room, seats: Sequence[Seat]) -> list[dict[str, Any]]:
    """Everything but the Secrets, in the order to apply: namespace, RBAC, params, one Job per seat."""
    meta = {"namespace": room.namespace, "labels": room.labels()}
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": room.namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RUNNER, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": RUNNER, **meta},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": RUNNER, **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER},
         "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": room.namespace}]},
    ]
    if room.params_text is not None:
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": room.params_config_map, **meta}, "data": {"params.yaml": room.params_text}})
    objs += [job(room, seat) for seat in seats]
    return objs


def kubeconfig_secret(room: Room, seat: Seat, kubeconfig_text: str) -> dict[str, Any]:
    """The Secret with one attendee's kubeconfig (``stringData``; the API server stores it encoded)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": seat.kubeconfig_secret, "namespace": room.namespace, "labels": room.labels(seat)},
            "stringData": {"kubeconfig": kubeconfig_text}}


def license_secret(room: Room, key: str) -> dict[str, Any]:
    """The Secret the Jobs read the license key from (applied through stdin from the trainer's environment)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": room.license_secret, "namespace": room.namespace, "labels": room.labels()},
            "stringData": {room.license_key: key}}


def command(room: Room, seat: Seat) -> list[str]:
    """The runbook's command line in the attendee's pod."""
    argv = ["ambient-lb", "run", "--out", f"{WORK_DIR}/out", "--run-id", seat.name]
    if room.params_text is not None:
        argv += ["--params", f"{PARAMS_DIR}/params.yaml"]
    if room.only:
        argv += ["--only", room.only]
    for override in (*room.overrides, "target=cluster", f"kube.context={seat.context}"):
        argv += ["-p", override]
    return argv + ["--publish", room.workshop]


def job(room: Room, seat: Seat) -> dict[str, Any]:
    """The attendee's Job: one pod, never retried, non-root, that runs the runbook against their context."""
    labels = room.labels(seat)
    volumes: list[dict[str, Any]] = [
        {"name": "attendee", "secret": {"secretName": seat.kubeconfig_secret, "defaultMode": 0o400}},
        {"name": "work", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "attendee", "mountPath": ATTENDEE_DIR, "readOnly": True},
                                    {"name": "work", "mountPath": WORK_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    if room.params_text is not None:
        volumes.append({"name": "params", "configMap": {"name": room.params_config_map}})
        mounts.append({"name": "params", "mountPath": PARAMS_DIR, "readOnly": True})
    container = {
        "name": "runbook", "image": room.image or default_image(), "imagePullPolicy": "IfNotPresent",
        "command": command(room, seat),
        "env": [{"name": "KUBECONFIG", "value": f"{ATTENDEE_DIR}/kubeconfig"},
                {"name": "HOME", "value": f"{WORK_DIR}/home"},
                {"name": room.license_key, "valueFrom": {"secretKeyRef": {"name": room.license_secret,
                                                                          "key": room.license_key}}}],
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "500m", "memory": "768Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": seat.job, "namespace": room.namespace, "labels": labels,
                     "annotations": {CONTEXT_ANNOTATION: seat.context}},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": DEADLINE_SECONDS, "ttlSecondsAfterFinished": KEEP_SECONDS,
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": RUNNER, "restartPolicy": "Never",
                     "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_USER, "runAsGroup": RUN_USER,
                                         "fsGroup": RUN_USER, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container], "volumes": volumes}}},
    }
