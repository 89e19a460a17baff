"""The apps running in the cluster's pods: the kubelet's hook and the data plane's way in.

Who calls it: ``mesh.all_controllers`` starts ``AppRuntime`` first, which registers itself as
``cluster.extensions["apps"]``. The kubelet calls ``pull`` for a container's image (``pulls.py``
decides from the reference whether it can be pulled, R14.11), ``launch`` when it starts a container
(the image's model reads the files the pod mounts, R14.1), ``probe`` for readiness probes (R14.7),
``stopping`` at SIGTERM and ``forget`` when the pod is gone. The data plane (``dataplane._to_pod``) and the
pods proxy (``mesh/app.py``) call ``faults``, ``listening`` and ``answer``: the fault annotations
apply on top of whatever app runs, except in strict mode, where they are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...controllers.containers import ContainerStart, ProbeResult, PullError, http_result, probe_port, refused
from ...controllers.faults import honoured
from ...controllers.nodes import node_ip
from ...protocols import SimCluster
from .. import objects as o
from ..charts import CONTROLLER_IMAGE
from .base import App, AppRequest, AppResponse, Container, ImageRef, Launch, Model
from .faults import PodFaults
from .own_image import OWN_IMAGE_REPOSITORY, OwnImage, OwnProcess
from .pulls import pull_error
from .registry import Unmodelled, is_modelled
from .registry import launch as launch_image

KUBELET_PROBE_SOURCE = "169.254.7.127"  # istio-cni SNATs kubelet probes of ambient pods to this (R14.7)
TEXT = "text/plain; charset=utf-8"


@dataclass
class Running:
    model: str
    container: str
    app: App


class AppRuntime:
    """What runs in each container: the kubelet's apps hook, which starts, probes and stops the app models."""

    name = "apps"

    def __init__(self) -> None:
        self._apps: dict[tuple[str, str], list[Running]] = {}
        self._faults: dict[tuple[str, str], PodFaults] = {}
        self.models: dict[str, tuple[str, Model]] = {}  # this cluster's own entries (before the table)

    def start(self, cluster: SimCluster) -> None:
        """Publishes the runtime as ``cluster.extensions["apps"]`` and adds the models of the cluster's own
        images: the kgateway controller's, and the project's, run as a local process (R20.1)."""
        self.cluster = cluster
        cluster.extensions["apps"] = self
        self.models[ImageRef.parse(CONTROLLER_IMAGE).repository] = ("kgateway-controller", self._kgateway_controller)
        self.own_image = OwnImage(cluster)
        self.models[OWN_IMAGE_REPOSITORY] = ("ambient-lb", self.own_image.launch)

    # ---- the kubelet's hook (controllers/containers.py AppHook) -----------------------------------
    def pull(self, pod: o.Obj, container: o.Obj) -> PullError | None:
        """R14.11: the reference decides (``pulls.py``); the cluster's own images always pull."""
        image = str(container.get("image", ""))
        if ImageRef.parse(image).repository in self.models:
            return None
        node = self.cluster.store.get(o.NODES, None, (pod.get("spec") or {}).get("nodeName", ""))
        return pull_error(image, node_ip(node))

    def launch(self, pod: o.Obj, container: o.Obj, files: dict[str, str], ip: str, now: float) -> ContainerStart:
        """Starts a container with its image's model: what it logs, whether it runs, and for how long."""
        ns, name = o.namespace(pod), o.name(pod)
        node = self.cluster.store.get(o.NODES, None, (pod.get("spec") or {}).get("nodeName", ""))
        logs, cname = self.cluster.logs, container["name"]
        ctx = Container(ns, name, str(container.get("image", "")), container, files, now,
                        lambda line: logs.write(ns, name, cname, line), self.cluster.clock.now, node, ip)
        model, launched = self._launch(ctx)
        running = []
        for r in self._apps.get((ns, name), []):
            if r.container != cname:
                running.append(r)
            else:
                self._close(r)  # a restart: the earlier process is done with
        if launched.app is not None:
            running.append(Running(model, cname, launched.app))
        self._apps[(ns, name)] = running
        return ContainerStart(launched.lines, launched.exit_code, launched.runs_for, list(launched.later_lines),
                              launched.reports_exit, launched.start_error)

    def _launch(self, ctx: Container) -> tuple[str, Launch]:
        own = self.models.get(ctx.ref.repository)
        if own is not None:
            return own[0], own[1](ctx)
        return launch_image(ctx)

    def probe(self, pod: o.Obj, container: o.Obj, probe: o.Obj, ip: str) -> ProbeResult | None:
        """R14.7: httpGet asks the app (200–399 passes); tcpSocket asks whether it listens; exec passes."""
        run = next((r for r in self._apps.get((o.namespace(pod), o.name(pod)), [])
                    if r.container == container["name"]), None)
        if run is None or not is_modelled(run.app):
            return None
        if "httpGet" in probe:
            return self._http_probe(run.app, pod, container, probe["httpGet"], ip)
        if "tcpSocket" in probe:
            port = probe_port(container, probe["tcpSocket"].get("port")) or 0
            return ProbeResult(True) if _listens(run.app, port) else refused(ip, port)
        return None

    def _http_probe(self, app: App, pod: o.Obj, container: o.Obj, spec: o.Obj, ip: str) -> ProbeResult:
        port = probe_port(container, spec.get("port")) or 0
        path = spec.get("path") or "/"
        if not _listens(app, port):
            return refused(ip, port, path)
        headers = {"host": f"{ip}:{port}", "user-agent": f"kube-probe/{self._kubelet_minor(pod)}",
                   "accept": "*/*", "connection": "close"}
        headers.update({h["name"].lower(): h.get("value", "") for h in spec.get("httpHeaders") or []})
        source = KUBELET_PROBE_SOURCE if self._ambient(pod) else self._node_ip(pod)
        resp = app.handle(AppRequest("GET", path, headers, source, headers["host"]), port)
        return refused(ip, port, path) if resp.reset else http_result(resp.status)

    def stopping(self, pod: o.Obj, container: o.Obj, now: float) -> list[str] | None:
        """What the container's app writes when it stops (None: the kubelet's own table)."""
        run = next((r for r in self._apps.get((o.namespace(pod), o.name(pod)), [])
                    if r.container == container["name"]), None)
        return run.app.stop_lines(now) if run is not None else None

    def forget(self, namespace: str, pod: str) -> None:
        """Forgets a pod's apps and faults (the pod is gone); a local process still running is killed (R20.1)."""
        for run in self._apps.pop((namespace, pod), []):
            self._close(run)
        self._faults.pop((namespace, pod), None)

    def _close(self, run: Running) -> None:
        if isinstance(run.app, OwnProcess):
            self.own_image.forget(run.app)

    # ---- the data plane's view ---------------------------------------------------------------------
    def faults(self, namespace: str, pod: str) -> PodFaults:
        """The pod's request-level faults (none in strict mode); bad values are logged once."""
        obj = self.cluster.store.get(o.PODS, namespace, pod)
        ann = honoured(self.cluster, obj)
        cur = self._faults.get((namespace, pod))
        if cur is None or cur.source != PodFaults.source_of(ann):
            cur = self._faults[(namespace, pod)] = PodFaults.parse(ann)
            cname = (((obj or {}).get("spec") or {}).get("containers") or [{"name": "app"}])[0].get("name", "app")
            for problem in cur.problems:
                self.cluster.logs.write(namespace, pod, cname,
                                        f"[ambient-lb simulator] ignoring fault annotation: {problem}")
        return cur

    def app_on(self, namespace: str, pod: str, port: int | None) -> App | None:
        """The app listening on ``port`` in the pod (None: a connection is refused); any port if None."""
        for run in self._apps.get((namespace, pod), []):
            if port is None or _listens(run.app, port):
                return run.app
        return None

    def ports(self, namespace: str, pod: str) -> set[int]:
        """The ports the pod's modelled apps listen on (unmodelled images: their declared ports)."""
        return {p for run in self._apps.get((namespace, pod), []) for p in run.app.ports() or ()}

    def answer(self, namespace: str, pod: str, port: int, faults: PodFaults, req: AppRequest) -> AppResponse | None:
        """What the pod answers on ``port``: the fault cycle first, else its app; None: refused."""
        app = self.app_on(namespace, pod, port)
        if app is None:
            return None
        forced = faults.next_status()
        if forced is not None:
            return AppResponse(forced, {"Content-Type": TEXT}, b"")
        return app.handle(req, port)

    # ---- helpers ----------------------------------------------------------------------------------------
    def _kubelet_minor(self, pod: o.Obj) -> str:
        node = self.cluster.store.get(o.NODES, None, (pod.get("spec") or {}).get("nodeName", "")) or {}
        version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "v1.32.0")
        return ".".join(version.lstrip("v").split(".")[:2])

    def _node_ip(self, pod: o.Obj) -> str:
        return (pod.get("status") or {}).get("hostIP", "")

    def _ambient(self, pod: o.Obj) -> bool:
        ns = self.cluster.store.get(o.NAMESPACES, None, o.namespace(pod))
        mode = o.labels(pod).get("istio.io/dataplane-mode") or o.labels(ns).get("istio.io/dataplane-mode")
        return mode == "ambient"

    def _kgateway_controller(self, ctx: Container) -> Launch:
        return Launch(KgatewayController(self.cluster))


@dataclass
class KgatewayController:
    """The enterprise-kgateway controller's health port: ``/readyz`` is 200 only with a valid license."""

    cluster: SimCluster

    def ports(self) -> frozenset[int]:
        return frozenset((9093, 9977))

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        if req.path.split("?")[0] != "/readyz" or port != 9093:
            return AppResponse(404, {"Content-Type": TEXT}, b"404 page not found\n")
        kgw = self.cluster.extensions.get("kgateway")
        if kgw is not None and not getattr(kgw, "licensed", True):
            return AppResponse(503, {"Content-Type": TEXT}, b"license check failed\n")
        return AppResponse(200, {"Content-Type": TEXT}, b"ok\n")

    def stop_lines(self, now: float) -> None:
        return None


def _listens(app: App, port: int) -> bool:
    ports = app.ports()
    return ports is None or port in ports


__all__ = ["AppRuntime", "Unmodelled"]
