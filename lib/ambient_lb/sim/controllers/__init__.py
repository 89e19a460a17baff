"""The simulator's control plane: controllers that move state the way a cluster's do.

Who calls it: ``sim/world.py`` (``build_cluster``) starts ``all_controllers(cluster)`` in order,
before the mesh layer. Order matters only for who listens first: the event recorder, admission and
the garbage collector are in place before anything creates objects, and the bootstrap (which seeds
the store once the server's loop runs) comes after the original set; controllers added since then
follow it and seed their own RNG (``names.named_rng``), which keeps every seeded name stable.

Extensions hung on the cluster (``cluster.extensions``):
    "events"     EventRecorder: ``record(obj, api_version, kind, type, reason, message, component)``
    "admission"  list of ``fn(op, gr, obj, old) -> obj`` the API server runs before storing
    "gc"         GarbageCollector: ``orphan(uid)``, ``dependents(uid)``
    "kubelet"    Kubelet: ``listening(ns, pod)``, ``sigterm_at(ns, pod)``, ``subscribe(fn)``, ``timings``
    "apps"       (registered by the mesh) ``containers.AppHook``: what runs in a container, its probes
    "delete"     ``delete_object(cluster, gr, namespace, name, grace_seconds=None)``
"""

from __future__ import annotations

from ..cluster import Controller
from ..protocols import SimCluster
from .admission import Admission, AdmissionInvalid, admit
from .bootstrap import Bootstrap
from .crds import CRDController
from .cronjobs import CronJobController
from .daemonsets import DaemonSetController
from .deletion import delete_object
from .deployments import DeploymentController
from .endpointslices import EndpointSliceController
from .events import EventRecorder
from .faults import StrictNotices
from .gatewayclasses import IstioGatewayClasses
from .gc import GarbageCollector
from .jobs import JobController
from .kubelet import Kubelet, KubeletTimings
from .namespaces import NamespaceController
from .rbac import ClusterRoleAggregation, RbacDefaults
from .replicasets import ReplicaSetController, ReplicationControllerController
from .scheduler import Scheduler
from .ttl import TTLAfterFinished

__all__ = ["all_controllers", "AdmissionInvalid", "admit", "delete_object", "Kubelet", "KubeletTimings"]


def all_controllers(cluster: SimCluster) -> list[Controller]:
    """Every control-plane controller, in start order."""
    cluster.extensions.setdefault("delete", delete_object)
    return [EventRecorder(), Admission(), GarbageCollector(), CRDController(), NamespaceController(),
            Scheduler(), Kubelet(), StrictNotices(), ReplicaSetController(), DeploymentController(),
            DaemonSetController(), EndpointSliceController(), IstioGatewayClasses(), Bootstrap(),
            # added later; they draw nothing from cluster.rng (names.named_rng), so the names and IPs of
            # everything above stay what they were for a given seed
            ReplicationControllerController(), ClusterRoleAggregation(), RbacDefaults(), JobController(),
            TTLAfterFinished(), CronJobController()]
