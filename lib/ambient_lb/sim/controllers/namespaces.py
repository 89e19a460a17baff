"""Namespaces: what every new namespace gets, and deletion that cascades through Terminating.

Who calls it: started by ``all_controllers``. The API server answers ``DELETE namespace`` by setting
``deletionTimestamp`` and phase Terminating (or lets ``deletion.delete_object`` do it); this
controller then does what the real namespace controller does:

1. sets the deletion conditions (``NamespaceContentRemaining`` and friends, with the real reasons),
2. deletes everything in the namespace, pods gracefully (the kubelet removes them when stopped),
3. removes the Namespace once nothing is left, which is the ``DELETED`` event ``kubectl delete ns``
   waits for.

Every new namespace gets a ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap
(the serviceaccount and root-ca-cert-publisher controllers). Its ``ca.crt`` is the API server's serving
certificate once the server publishes it (``publish_root_ca``, R20.2), so a client in a pod verifies
TLS with it; before that (a cluster without a TLS server) it is a placeholder.
"""

from __future__ import annotations

from typing import Any

from ..protocols import SimCluster
from ..store import GR
from .deletion import delete_object
from .keys import CONFIG_MAPS, NAMESPACES, SERVICE_ACCOUNTS
from .objects import Obj, deleting, meta, set_condition
from .queue import WorkQueue

ROOT_CA = ("-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIambientlbsimAMBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQD\n"
           "EwprdWJlcm5ldGVzMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFTET\n"
           "-----END CERTIFICATE-----\n")

def store_ca(cluster: SimCluster) -> str:
    """The CA bundle ``kube-root-ca.crt`` holds: the serving certificate once published, else ``ROOT_CA``."""
    return str(cluster.extensions.get("root_ca") or ROOT_CA)


_DONE_CONDITIONS = (  # type, status, reason, message: the steps that succeed at once in the model
    ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "False", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
)


def publish_root_ca(cluster: SimCluster, pem: str) -> None:
    """R20.2: the CA that verifies the API server's serving certificate goes into every namespace's
    ``kube-root-ca.crt`` (now and for namespaces created later), as the root-ca-cert-publisher does."""
    cluster.extensions["root_ca"] = pem
    for cm in cluster.store.list(CONFIG_MAPS, None, lambda o: meta(o).get("name") == "kube-root-ca.crt"):
        if (cm.get("data") or {}).get("ca.crt") != pem:
            cluster.store.mutate(CONFIG_MAPS, meta(cm).get("namespace"), "kube-root-ca.crt",
                                 lambda o: o.__setitem__("data", {"ca.crt": pem}))


class NamespaceController:
    """The namespace controller: a Terminating namespace is emptied, then its finalizer removed."""

    name = "namespace-controller"

    def start(self, cluster: SimCluster) -> None:
        """Queues a namespace when it changes or an object in it goes, and reconciles it from the work queue."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        self._draining: set[str] = set()
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == NAMESPACES:
            self.queue.add(meta(ev.obj)["name"])
        elif ev.type == "DELETED" and meta(ev.obj).get("namespace") in self._draining:
            self.queue.add(meta(ev.obj)["namespace"])
        elif ev.type == "DELETED" and ev.gr in (SERVICE_ACCOUNTS, CONFIG_MAPS):
            self.queue.add(meta(ev.obj).get("namespace", ""))

    def _reconcile(self, name: str) -> None:
        ns = self.cluster.store.get(NAMESPACES, None, name)
        if ns is None or deleting(ns):
            self._drain(name, ns)
        else:
            self._draining.discard(name)
            self._populate(name)

    def _populate(self, name: str) -> None:
        store = self.cluster.store
        if store.get(SERVICE_ACCOUNTS, name, "default") is None:
            store.create(SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                            "metadata": {"name": "default", "namespace": name}})
        if store.get(CONFIG_MAPS, name, "kube-root-ca.crt") is None:
            store.create(CONFIG_MAPS, {
                "apiVersion": "v1", "kind": "ConfigMap", "data": {"ca.crt": store_ca(self.cluster)},
                "metadata": {"name": "kube-root-ca.crt", "namespace": name, "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                    "kube-apiserver when using internal endpoints such as the internal service IP or "
                    "kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes "
                    "clusters."}}})

    # ---- deletion -----------------------------------------------------------------------------
    def contents(self, name: str) -> dict[GR, list[Obj]]:
        """The namespaced objects still in a namespace, by group/resource (types with none left out)."""
        out: dict[GR, list[Obj]] = {}
        for gr in self.cluster.store.types():
            t = self.cluster.registry.get(gr)
            if gr == NAMESPACES or (t is not None and not t.namespaced):
                continue
            objs = self.cluster.store.list(gr, name)
            if objs:
                out[gr] = objs
        return out

    def _drain(self, name: str, ns: Obj | None) -> None:
        self._draining.add(name)
        remaining = self.contents(name)
        if ns is not None:
            self._set_status(name, remaining)
        for gr, objs in remaining.items():
            for o in objs:
                delete_object(self.cluster, gr, name, meta(o)["name"])
        if not self.contents(name):
            self._draining.discard(name)
            if ns is not None:
                self.cluster.store.remove(NAMESPACES, None, name)

    def _set_status(self, name: str, remaining: dict[GR, list[Obj]]) -> None:
        now = self.cluster.clock.now()
        if remaining:
            what = ", ".join(f"{gr.resource}.{gr.group} has {len(objs)} resource instances"
                             for gr, objs in sorted(remaining.items()))
            content = ("True", "SomeResourcesRemain", f"Some resources are remaining: {what}")
        else:
            content = ("False", "ContentRemoved", "All content successfully removed")

        def edit(o: Obj) -> None:
            status = o.setdefault("status", {})
            status["phase"] = "Terminating"
            for t, s, r, m in (*_DONE_CONDITIONS, ("NamespaceContentRemaining", *content),
                               ("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                                "All content-preserving finalizers finished")):
                set_condition(status, {"type": t, "status": s, "reason": r, "message": m}, now)
        self.cluster.store.mutate(NAMESPACES, None, name, edit)
