"""The kubelet of every node: a pod's life from binding to removal, as a table of timed stages.

Who calls it: started by ``all_controllers``. The data plane (``sim/mesh``) reads the runtime state
through ``cluster.extensions["kubelet"]`` (this object): ``listening(ns, pod)`` (the app accepts
connections: its container has started and SIGTERM has not been sent), ``sigterm_at(ns, pod)``, and
``subscribe(fn)`` for ``fn(namespace, pod, listening)`` on every change of ``listening``.

Stages (kwok-style: stage -> delay -> what happens; delays are ``KubeletTimings``, simulated s, §11):

    bound to a node    --pending 0.2 s-->    ContainerCreating (Pulling/Pulled events)
    ContainerCreating  --creating 2 s-->     Running, started, not Ready; the app listens
    started            --first_probe 1 s-->  readiness probe: Ready, or Unhealthy + retry every period
    deletionTimestamp  --sigterm_after 0.1-> SIGTERM: the app stops listening (Killing event)   R6.1
    SIGTERM            --exit_after 0.5 s--> containers exit 0 (or at the grace deadline)        R6.6
    exited             --remove_after 0 s--> the Pod object is removed                            R6.1

What runs in a container is the mesh's to say (``containers.AppHook``, ``cluster.extensions["apps"]``):
its start lines, whether it exits, at once or after a while (R16.21), its answers to readiness probes
(R14.7; probes keep running every
``periodSeconds`` while the hook is there, so an app that starts failing goes 0/1). Without the hook
every container runs and passes its probes. A container that exits is restarted by the pod's
``restartPolicy`` (R16.22): ``Always`` always, ``OnFailure`` for a non-zero code, with back-off
(CrashLoopBackOff, R14.8); otherwise it stays terminated, and once every container has, the pod is
``Succeeded`` (all exited 0) or ``Failed``, Ready False with reason PodCompleted or PodFailed; a
finished pod keeps its status until it is deleted, and then goes at once (after its finalizers). A ConfigMap or
Secret volume whose object is missing keeps the pod in ContainerCreating with ``FailedMount`` events until it appears.
An image the hook's registry model cannot pull (``AppHook.pull``, R14.11) leaves its container uncreated and waiting,
``ErrImagePull`` then ``ImagePullBackOff``, retried each pod sync with the image back-off (10 s
doubling to 5 min, ``image_pulls.py``, R14.12); the pod stays Pending and not Ready. Strict mode
does not change this: it is the cluster's behaviour, not a fault annotation.

A container whose environment references a Secret, ConfigMap or key that does not exist waits in
``CreateContainerConfigError`` (the kubelet's message, ``Warning Failed`` ``Error: <message>``), retried
every pod sync until it resolves (R20.4). A real process (the project's own image, R20.1) reports its
exit through ``container_exited``; after SIGTERM its pod waits for that exit, or for the grace period's
end (then it is killed, 137). A container the runtime cannot start is terminated ``StartError`` (R20.3).

The annotation ``fault.ambient-lb.dev/ready: "false"`` makes the readiness probe fail while it is
present: after ``failureThreshold`` failed probes the pod is Running but not Ready (0/1); the first
probe after the annotation goes (or says "true") makes it Ready again. Strict mode ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocols import SimCluster
from . import container_env, container_logs, containers, image_pulls, pod_status
from .containers import ProbeResult
from .faults import READY as FAULT_READY
from .faults import honoured
from .ipam import PodIPAM
from .keys import NODES, PODS
from .nodes import node_ip
from .objects import Obj, annotations_of, deleting, edit_status, is_true, meta
from .queue import guarded

CONFIG_RETRY = 10.0  # s between syncs that retry a container whose env cannot be built (R20.4)
START_ERROR_CODE = 128  # containerd's exit code for a container whose task could not start (R20.3)
CRASH_NOTICED_AFTER = 1.0  # s from a container's exit to the kubelet acting on it (PLEG relist)
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0  # restart back-off, doubling (R14.8)
Listener = Callable[[str, str, bool], None]


@dataclass
class KubeletTimings:
    """Stage delays in simulated seconds ([model] defaults from semantics.md §11)."""

    pending: float = 0.2
    creating: float = 2.0
    first_probe: float = 1.0
    sigterm_after: float = 0.1
    exit_after_sigterm: float = 0.5
    remove_after_exit: float = 0.0


@dataclass
class PodRuntime:
    """What the kubelet knows of one pod while it runs: its stage, timers, containers, restarts and exit codes."""

    uid: str
    namespace: str
    name: str
    node: str
    stage: str = "Bound"
    timer: Any = None
    started_at: float | None = None
    sigterm_at: float | None = None
    deadline: float | None = None
    listening: bool = False
    failures: int = 0
    ip: str = ""
    probing: bool = False
    containers: list[Obj] = field(default_factory=list)
    running: set[str] = field(default_factory=set)  # containers whose process runs
    restarts: dict[str, int] = field(default_factory=dict)
    restart_timers: dict[str, Any] = field(default_factory=dict)
    mount_wait: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)  # containers that ended for good
    pulls: dict[str, image_pulls.ImagePull] = field(default_factory=dict)  # containers waiting for an image
    sync_timer: Any = None  # the next pod sync that retries those pulls (R14.12)
    external: set[str] = field(default_factory=set)  # containers whose process reports its own exit (R20.1)
    stop_codes: dict[str, int] = field(default_factory=dict)  # their exit codes after SIGTERM


class Kubelet:
    """The kubelet of every node: a pod's life from binding to removal, as a table of timed stages."""

    name = "kubelet"

    def __init__(self, timings: KubeletTimings | None = None) -> None:
        self.timings = timings or KubeletTimings()
        self._pods: dict[tuple[str, str], PodRuntime] = {}
        self._listeners: list[Listener] = []
        self.ipam = PodIPAM()

    def start(self, cluster: SimCluster) -> None:
        """Publishes the kubelet as ``cluster.extensions["kubelet"]`` and listens to the store."""
        self.cluster = cluster
        cluster.extensions["kubelet"] = self
        cluster.store.subscribe(self._on_event)

    # ---- the data plane's view ------------------------------------------------------------------
    def listening(self, namespace: str, pod: str) -> bool:
        """True while the pod's app accepts connections."""
        rt = self._pods.get((namespace, pod))
        return bool(rt and rt.listening)

    def sigterm_at(self, namespace: str, pod: str) -> float | None:
        """When the pod's containers got SIGTERM (simulated time), or None."""
        rt = self._pods.get((namespace, pod))
        return rt.sigterm_at if rt else None

    def started_at(self, namespace: str, pod: str) -> float | None:
        """When the pod's containers started (simulated time), or None."""
        rt = self._pods.get((namespace, pod))
        return rt.started_at if rt else None

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(namespace, pod, listening)`` whenever a pod's app starts or stops listening."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _set_listening(self, rt: PodRuntime, value: bool) -> None:
        if rt.listening != value:
            rt.listening = value
            for fn in list(self._listeners):
                fn(rt.namespace, rt.name, value)

    # ---- store events ---------------------------------------------------------------------------
    def _on_event(self, ev: Any) -> None:
        if ev.gr != PODS:
            return
        key = (meta(ev.obj).get("namespace", ""), meta(ev.obj)["name"])
        rt = self._pods.get(key)
        if ev.type == "DELETED":
            if rt is not None and rt.uid == meta(ev.obj).get("uid"):
                self._forget(key, rt)
            return
        if rt is not None and rt.uid != meta(ev.obj).get("uid"):
            self._forget(key, rt)
            rt = None
        node = (ev.obj.get("spec") or {}).get("nodeName")
        if deleting(ev.obj):
            self._on_deleting(key, rt, ev.obj)
        elif rt is None and node:
            rt = self._pods[key] = PodRuntime(meta(ev.obj)["uid"], key[0], key[1], node)
            self._after(rt, self.timings.pending, self._pull)
        elif rt is not None and FAULT_READY in annotations_of(ev.obj) | annotations_of(ev.old):
            self._ensure_probing(rt)

    def _after(self, rt: PodRuntime, delay: float, fn: Callable[[PodRuntime], None]) -> None:
        if rt.timer is not None:
            rt.timer.cancel()
        rt.timer = self.cluster.clock.call_later(delay, self._fire, rt, fn)

    def _fire(self, rt: PodRuntime, fn: Callable[[PodRuntime], None]) -> None:
        rt.timer = None
        if self._pods.get((rt.namespace, rt.name)) is rt:
            guarded(fn, rt)

    def _pod(self, rt: PodRuntime) -> Obj | None:
        pod = self.cluster.store.get(PODS, rt.namespace, rt.name)
        return pod if pod is not None and meta(pod).get("uid") == rt.uid else None

    def _mutate(self, rt: PodRuntime, fn: Callable[[Obj], None]) -> Obj | None:
        return edit_status(self.cluster.store, PODS, rt.namespace, rt.name, fn) if self._pod(rt) else None

    def _event(self, rt: PodRuntime, type_: str, reason: str, message: str, field_path: str | None = None) -> None:
        pod = self._pod(rt)
        if pod is not None:
            self.cluster.extensions["events"].record(pod, "v1", "Pod", type_, reason, message, "kubelet",
                                                     host=rt.node, field_path=field_path)

    # ---- stages -----------------------------------------------------------------------------------
    def _pull(self, rt: PodRuntime) -> None:
        node = self.cluster.store.get(NODES, None, rt.node)
        pod = self._pod(rt)
        if node is None or pod is None:
            return  # bound to a node that does not exist: stays Pending, like a pod on a dead node
        if rt.stage != "ContainerCreating":
            rt.stage, rt.containers = "ContainerCreating", list(pod["spec"].get("containers") or [])
            self._mutate(rt, lambda p: pod_status.creating(p, self.cluster.clock.now(), node_ip(node)))
        missing = containers.missing_volumes(self.cluster, pod)
        if missing:  # R14.8: FailedMount, retried with back-off until the object exists
            for volume, why in missing:
                self._event(rt, "Warning", "FailedMount", containers.mount_failed_message(volume, why))
            rt.mount_wait = min(containers.MOUNT_BACKOFF_MAX, 2 * rt.mount_wait or containers.MOUNT_BACKOFF_START)
            self._after(rt, rt.mount_wait, self._pull)
            return
        rt.pulls.clear()
        for c in rt.containers:
            error = containers.pull(self.cluster, pod, c)
            if error is None:
                self._pulled(rt, c)
                continue
            rt.pulls[c["name"]] = image_pulls.ImagePull(str(c.get("image", "")), error)
            if c.get("imagePullPolicy") != "Never":
                self._event(rt, "Normal", "Pulling", image_pulls.pulling(str(c.get("image", ""))), _path(c))
        self._after(rt, self.timings.creating, self._start_containers)

    def _pulled(self, rt: PodRuntime, c: Obj, fresh: bool = False) -> None:
        path = f"spec.containers{{{c['name']}}}"
        if c.get("imagePullPolicy") == "Always" or fresh:
            if not fresh:
                self._event(rt, "Normal", "Pulling", f'Pulling image "{c.get("image")}"', path)
            self._event(rt, "Normal", "Pulled", f'Successfully pulled image "{c.get("image")}" in 1.02s '
                        "(1.02s including waiting). Image size: 24563322 bytes.", path)
        else:
            self._event(rt, "Normal", "Pulled", f'Container image "{c.get("image")}" already present on machine', path)

    def _start_containers(self, rt: PodRuntime) -> None:
        pod, node = self._pod(rt), self.cluster.store.get(NODES, None, rt.node)
        if pod is None or node is None:
            return
        now = self.cluster.clock.now()
        if pod["spec"].get("hostNetwork"):
            rt.ip = node_ip(node)
        else:
            try:
                rt.ip = self.ipam.allocate(rt.node, (node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24")
            except RuntimeError as exc:  # the node's pod CIDR is full: retry, as the kubelet does
                self._event(rt, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
                self._after(rt, 5.0, self._start_containers)
                return
        rt.stage, rt.started_at = "Started", now
        waiting = {name: self._waiting(pull, pull.error, self._spec(rt, name)) for name, pull in rt.pulls.items()}
        self._mutate(rt, lambda p: pod_status.running(p, now, rt.ip, waiting))
        for c in rt.containers:
            if c["name"] in rt.pulls:
                self._pull_failed(rt, c, rt.pulls[c["name"]], now)
            else:
                self._run(rt, pod, c, now)
        if rt.pulls:
            self._sync_later(rt, image_pulls.FIRST_SYNC)
        if rt.stage == "Finished":
            return
        self._set_listening(rt, bool(rt.running))
        delay = max([self.timings.first_probe] + [_probe(c).get("initialDelaySeconds", 0) for c in rt.containers])
        rt.probing = True
        self._after(rt, delay, self._probe)

    def _run(self, rt: PodRuntime, pod: Obj, c: Obj, now: float) -> None:
        """Create and start one container: its app launches (through the hook) and writes its lines."""
        path = f"spec.containers{{{c['name']}}}"
        problem = container_env.config_error(self.cluster, pod, c)
        if problem is not None:  # R20.4: not created; retried each sync until the reference resolves
            self._event(rt, "Warning", "Failed", f"Error: {problem}", path)
            self._mutate(rt, lambda p: pod_status.config_waiting(p, c["name"], problem))
            self._later(rt, c["name"], CONFIG_RETRY, self._retry_config)
            return
        self._event(rt, "Normal", "Created", f"Created container: {c['name']}", path)
        app = containers.hook(self.cluster)
        started = app.launch(pod, c, containers.mounted_files(self.cluster, pod, c), rt.ip, now) if app else None
        if started is not None and started.start_error is not None:  # R20.3: StartError, exit code 128
            self._event(rt, "Warning", "Failed", f"Error: {started.start_error}", path)
            self._exited(rt, c["name"], now, START_ERROR_CODE, "StartError", started.start_error)
            return
        self._event(rt, "Normal", "Started", f"Started container {c['name']}", path)
        if started is not None and started.reports_exit:
            rt.external.add(c["name"])
        lines = started.lines if started is not None and started.lines is not None else \
            container_logs.start_lines(c.get("image", ""), now, _first_port(c))
        for line in lines:
            self.cluster.logs.write(rt.namespace, rt.name, c["name"], line)
        if started is not None and started.exit_code is not None and started.runs_for is None:
            self._exited(rt, c["name"], now, started.exit_code)
            return
        rt.running.add(c["name"])
        if started is not None:
            self._schedule_run(rt, c["name"], started)

    def _schedule_run(self, rt: PodRuntime, name: str, started: containers.ContainerStart) -> None:
        """A run-to-completion command: its later lines, then its exit (R16.21)."""
        for delay, line in started.later_lines:
            self.cluster.clock.call_later(delay, self._write_if_running, rt, name, line)
        if started.exit_code is not None and started.runs_for is not None:
            code = started.exit_code
            self._later(rt, name, started.runs_for,
                        lambda r, n: self._exited(r, n, self.cluster.clock.now(), code))

    def _retry_config(self, rt: PodRuntime, name: str) -> None:
        """A pod sync retries a container that waits in CreateContainerConfigError (R20.4)."""
        pod = self._pod(rt)
        c = next((c for c in (pod or {}).get("spec", {}).get("containers") or [] if c["name"] == name), None)
        if pod is None or c is None or rt.stage == "Finished":
            return
        if container_env.config_error(self.cluster, pod, c) is None:
            now = self.cluster.clock.now()
            self._mutate(rt, lambda p: pod_status.container_started(p, name, now, str(c.get("image", ""))))
        self._run(rt, pod, c, self.cluster.clock.now())
        self._set_listening(rt, bool(rt.running))
        self._ensure_probing(rt)

    # ---- a real process (R20.1) -------------------------------------------------------------------
    def container_exited(self, namespace: str, pod: str, uid: str, name: str, code: int) -> None:
        """The runtime saw a container's process exit with ``code`` (R20.1): before SIGTERM that is an
        exit the restart policy acts on; after it, the pod ends once its processes have all exited."""
        rt = self._pods.get((namespace, pod))
        if rt is None or rt.uid != uid or name not in rt.external:
            return
        rt.external.discard(name)
        if rt.sigterm_at is None:
            if name in rt.running:
                self._exited(rt, name, self.cluster.clock.now(), code)
            return
        rt.running.discard(name)
        rt.stop_codes[name] = code
        if not rt.external and rt.stage == "Terminating":
            now = self.cluster.clock.now()
            exit_at = min(rt.sigterm_at + self.timings.exit_after_sigterm, rt.deadline or now)
            self._after(rt, max(0.0, exit_at - now), self._exit)

    def _write_if_running(self, rt: PodRuntime, name: str, line: str) -> None:
        if self._pods.get((rt.namespace, rt.name)) is rt and name in rt.running and rt.sigterm_at is None:
            self.cluster.logs.write(rt.namespace, rt.name, name, line)

    # ---- an image that cannot be pulled: ErrImagePull, ImagePullBackOff (R14.12) -------------------
    def _spec(self, rt: PodRuntime, name: str) -> Obj:
        return next(c for c in rt.containers if c["name"] == name)

    @staticmethod
    def _waiting(pull: image_pulls.ImagePull, error: containers.PullError, c: Obj) -> tuple[str, str]:
        """The container's waiting (reason, message) after a pull attempt that failed."""
        if c.get("imagePullPolicy") == "Never":
            return "ErrImageNeverPull", image_pulls.never_pull(pull.image)
        return "ErrImagePull", error.message

    def _pull_failed(self, rt: PodRuntime, c: Obj, pull: image_pulls.ImagePull, now: float) -> None:
        """A pull that failed (or an image absent under policy Never): the events, and the back-off grows."""
        path = _path(c)
        if c.get("imagePullPolicy") == "Never":
            self._event(rt, "Warning", "ErrImageNeverPull", image_pulls.never_pull(pull.image), path)
            self._event(rt, "Warning", "Failed", "Error: ErrImageNeverPull", path)
            return
        self._event(rt, "Warning", "Failed", image_pulls.failed(pull.image, pull.error), path)
        self._event(rt, "Warning", "Failed", "Error: ErrImagePull", path)
        pull.failed(now, pull.error)

    def _sync_later(self, rt: PodRuntime, delay: float) -> None:
        if rt.sync_timer is not None:
            rt.sync_timer.cancel()
        rt.sync_timer = self.cluster.clock.call_later(delay, self._fire_sync, rt)

    def _fire_sync(self, rt: PodRuntime) -> None:
        rt.sync_timer = None
        if self._pods.get((rt.namespace, rt.name)) is rt and rt.sigterm_at is None:
            guarded(self._sync_images, rt)

    def _sync_images(self, rt: PodRuntime) -> None:
        """A pod sync: each container still without its image is pulled again, or backs off."""
        pod = self._pod(rt)
        if pod is None or not rt.pulls:
            return
        now, specs = self.cluster.clock.now(), {c["name"]: c for c in pod["spec"].get("containers") or []}
        for name in list(rt.pulls):
            if name in specs:
                self._sync_image(rt, pod, specs[name], now)
        if rt.pulls:
            self._sync_later(rt, image_pulls.SYNC_RETRY)

    def _sync_image(self, rt: PodRuntime, pod: Obj, c: Obj, now: float) -> None:
        name, image, path = c["name"], str(c.get("image", "")), _path(c)
        pull = rt.pulls[name]
        if image != pull.image:  # the spec's image was changed: a new back-off key
            pull = rt.pulls[name] = image_pulls.ImagePull(image, pull.error)
        if c.get("imagePullPolicy") != "Never" and pull.in_back_off(now):
            self._event(rt, "Normal", "BackOff", image_pulls.back_off(image), path)
            self._event(rt, "Warning", "Failed", "Error: ImagePullBackOff", path)
            message = image_pulls.back_off_message(image, pull.error)
            self._mutate(rt, lambda p: pod_status.image_waiting(p, name, "ImagePullBackOff", message, image))
            return
        if c.get("imagePullPolicy") != "Never":
            self._event(rt, "Normal", "Pulling", image_pulls.pulling(image), path)
        error = containers.pull(self.cluster, pod, c)
        if error is not None:
            pull.error = error
            self._pull_failed(rt, c, pull, now)
            reason, message = self._waiting(pull, error, c)
            self._mutate(rt, lambda p: pod_status.image_waiting(p, name, reason, message, image))
            return
        del rt.pulls[name]
        rt.containers = [c if x["name"] == name else x for x in rt.containers]
        self._pulled(rt, c, fresh=c.get("imagePullPolicy") != "Never")
        self._mutate(rt, lambda p: pod_status.container_started(p, name, now, image))
        self._run(rt, pod, c, now)
        self._set_listening(rt, bool(rt.running))
        self._ensure_probing(rt)

    # ---- a container that exits: restart with back-off (R14.8) ----------------------------------
    def _exited(self, rt: PodRuntime, name: str, now: float, code: int, reason: str | None = None,
                message: str | None = None) -> None:
        rt.running.discard(name)
        rt.external.discard(name)
        count = rt.restarts.get(name, 0)
        pod = self._pod(rt)
        policy = ((pod or {}).get("spec") or {}).get("restartPolicy", "Always")
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            self._mutate(rt, lambda p: pod_status.container_exited(p, name, now, code, count, reason, message))
            self._later(rt, name, CRASH_NOTICED_AFTER, self._back_off)
            return
        rt.exit_codes[name] = code
        self._set_listening(rt, bool(rt.running))
        if len(rt.exit_codes) < len(rt.containers):
            self._mutate(rt, lambda p: pod_status.container_exited(p, name, now, code, count, reason, message))
            return
        phase = "Succeeded" if not any(rt.exit_codes.values()) else "Failed"
        rt.stage, rt.probing = "Finished", False
        if rt.timer is not None:
            rt.timer.cancel()
            rt.timer = None
        def exited_and_finished(p: Obj) -> None:
            pod_status.container_exited(p, name, now, code, count, reason, message)
            pod_status.finished(p, now, phase)
        self._mutate(rt, exited_and_finished)
        if rt.ip and rt.node and not (pod or {}).get("spec", {}).get("hostNetwork"):
            self.ipam.release(rt.node, rt.ip)  # the sandbox goes; status.podIP stays, as on a node
            rt.ip = ""

    def _later(self, rt: PodRuntime, name: str, delay: float, fn: Callable[[PodRuntime, str], None]) -> None:
        def fire() -> None:
            rt.restart_timers.pop(name, None)
            if self._pods.get((rt.namespace, rt.name)) is rt and rt.sigterm_at is None:
                guarded(fn, rt, name)
        rt.restart_timers[name] = self.cluster.clock.call_later(delay, fire)

    def _back_off(self, rt: PodRuntime, name: str) -> None:
        """The first restart is at once; later ones wait 10 s, 20 s, 40 s ... 5 min (CrashLoopBackOff)."""
        count = rt.restarts.get(name, 0)
        if count == 0:
            self._restart(rt, name)
            return
        wait = min(BACKOFF_MAX, BACKOFF_START * 2 ** (count - 1))
        pod_ref = f"{rt.name}_{rt.namespace}({rt.uid})"
        message = f"back-off {_go_duration(wait)} restarting failed container={name} pod={pod_ref}"
        self._mutate(rt, lambda p: pod_status.container_back_off(p, name, message))
        self._event(rt, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {pod_ref}",
                    f"spec.containers{{{name}}}")
        self._later(rt, name, max(0.0, wait - CRASH_NOTICED_AFTER), self._restart)

    def _restart(self, rt: PodRuntime, name: str) -> None:
        pod = self._pod(rt)
        c = next((c for c in rt.containers if c["name"] == name), None)
        if pod is None or c is None:
            return
        now, rt.restarts[name] = self.cluster.clock.now(), rt.restarts.get(name, 0) + 1
        self.cluster.logs.restart(rt.namespace, rt.name, name)
        self._mutate(rt, lambda p: pod_status.container_restarted(p, name, now, rt.restarts[name]))
        self._pulled(rt, c)
        self._run(rt, pod, c, now)
        self._set_listening(rt, bool(rt.running))
        self._ensure_probing(rt)

    def _probe(self, rt: PodRuntime) -> None:
        pod = self._pod(rt)
        if pod is None or rt.sigterm_at is not None or rt.stage == "Finished":
            rt.probing = False
            return
        results = [self._probe_container(rt, pod, c) for c in rt.containers]
        ok = all(r.ok for r in results)
        for c, r in zip(rt.containers, results, strict=True):
            if not r.ok and r.message:
                self._event(rt, "Warning", "Unhealthy", f"Readiness probe failed: {r.message}",
                            f"spec.containers{{{c['name']}}}")
        threshold = max([1] + [_probe(c).get("failureThreshold", 3) for c in rt.containers])
        period = max([1] + [_probe(c).get("periodSeconds", 10) for c in rt.containers])
        rt.failures = 0 if ok else rt.failures + 1
        ready = is_true(pod, "Ready")
        if ok != ready and (ok or rt.failures >= threshold or rt.stage == "Started"):
            now = self.cluster.clock.now()
            self._mutate(rt, lambda p: pod_status.readiness(p, now, ok))
        rt.stage = "Ready" if ok else "Started" if rt.stage == "Started" else "NotReady"
        rt.probing = not ok or FAULT_READY in annotations_of(pod) or (
            containers.hook(self.cluster) is not None and any(_probe(c) for c in rt.containers))
        if rt.probing:
            self._after(rt, period, self._probe)

    def _probe_container(self, rt: PodRuntime, pod: Obj, c: Obj) -> ProbeResult:
        """One container's readiness (R14.7): not running fails quietly; the fault annotation answers
        503 (unless strict); else the app answers through the hook; no probe, or no hook: ready."""
        if c["name"] not in rt.running:
            return ProbeResult(False)
        probe = _probe(c)
        if honoured(self.cluster, pod).get(FAULT_READY, "true").lower() == "false":
            if "httpGet" in probe or not probe:
                return containers.http_failure(503)
            return ProbeResult(False, "probe failed")
        app = containers.hook(self.cluster)
        result = app.probe(pod, c, probe, rt.ip) if app is not None and probe else None
        return result if result is not None else ProbeResult(True)

    def _ensure_probing(self, rt: PodRuntime) -> None:
        """A fault annotation changed: make sure the next periodic probe is scheduled."""
        if rt.probing or rt.started_at is None or rt.sigterm_at is not None or rt.stage == "Finished":
            return
        period = max([1] + [_probe(c).get("periodSeconds", 10) for c in rt.containers])
        first = rt.started_at + self.timings.first_probe
        now = self.cluster.clock.now()
        ticks = int(max(0.0, now - first) // period) + 1
        rt.probing = True
        self._after(rt, first + ticks * period - now, self._probe)

    # ---- termination (R6.1, R6.6, R6.7) ---------------------------------------------------------
    def _on_deleting(self, key: tuple[str, str], rt: PodRuntime | None, pod: Obj) -> None:
        if rt is None:
            rt = self._pods[key] = PodRuntime(meta(pod)["uid"], key[0], key[1], pod["spec"].get("nodeName", ""))
        grace = float(meta(pod).get("deletionGracePeriodSeconds", pod["spec"].get("terminationGracePeriodSeconds", 30)))
        now = self.cluster.clock.now()
        if rt.deadline is not None:  # deleted again, perhaps with a shorter grace period
            if now + grace < rt.deadline:
                rt.deadline = now + grace
                if rt.stage == "Terminating":
                    self._after(rt, max(0.0, min(rt.deadline, (rt.sigterm_at or now) +
                                                 self.timings.exit_after_sigterm) - now), self._exit)
            return
        rt.deadline = now + grace
        rt.probing = False
        if rt.stage == "Finished":  # nothing runs any more: the pod goes as it is
            self._after(rt, 0.0, self._remove)
        elif rt.started_at is None:  # no container ran: tear the sandbox down and go
            self._after(rt, min(self.timings.sigterm_after, grace), self._remove)
        else:
            self._after(rt, min(self.timings.sigterm_after, grace), self._sigterm)

    def _sigterm(self, rt: PodRuntime) -> None:
        now = self.cluster.clock.now()
        rt.sigterm_at, rt.stage = now, "Terminating"
        self._set_listening(rt, False)
        pod, app = self._pod(rt), containers.hook(self.cluster)
        for c in rt.containers:
            if c["name"] in rt.pulls:
                continue  # never created (its image was not pulled): nothing to stop
            self._event(rt, "Normal", "Killing", f"Stopping container {c['name']}", f"spec.containers{{{c['name']}}}")
            if c["name"] not in rt.running:
                continue
            lines = app.stopping(pod, c, now) if app is not None and pod is not None else None
            for line in lines if lines is not None else container_logs.stop_lines(c.get("image", ""), now,
                                                                                   _first_port(c)):
                self.cluster.logs.write(rt.namespace, rt.name, c["name"], line)
        exit_at = min(now + self.timings.exit_after_sigterm, rt.deadline or now)
        if rt.external & rt.running:  # real processes: their exits end the pod, or the deadline (R20.1)
            exit_at = rt.deadline or now
        self._after(rt, exit_at - now, self._exit)

    def _exit(self, rt: PodRuntime) -> None:
        now = self.cluster.clock.now()
        rt.stage = "Exited"
        codes = dict(rt.stop_codes)
        codes.update({name: 137 for name in rt.external & rt.running})  # killed at the deadline (R20.1)
        self._mutate(rt, lambda p: pod_status.exited(p, now, codes))
        self._after(rt, self.timings.remove_after_exit, self._remove)

    def _remove(self, rt: PodRuntime) -> None:
        """The kubelet's final delete with grace 0: the pod goes, or waits for its finalizers."""
        pod = self._pod(rt)
        if pod is None:
            return
        if meta(pod).get("finalizers"):
            self.cluster.store.mutate(PODS, rt.namespace, rt.name,
                                      lambda p: p["metadata"].__setitem__("deletionGracePeriodSeconds", 0))
        else:
            self.cluster.store.remove(PODS, rt.namespace, rt.name)

    def _forget(self, key: tuple[str, str], rt: PodRuntime) -> None:
        if rt.timer is not None:
            rt.timer.cancel()
        for timer in rt.restart_timers.values():
            timer.cancel()
        if rt.sync_timer is not None:
            rt.sync_timer.cancel()
        app = containers.hook(self.cluster)
        if app is not None:
            app.forget(*key)
        self._set_listening(rt, False)
        if rt.ip and rt.node:
            self.ipam.release(rt.node, rt.ip)
        del self._pods[key]
        self.cluster.logs.drop(*key)


def _probe(c: Obj) -> Obj:
    return c.get("readinessProbe") or {}


def _path(c: Obj) -> str:
    return f"spec.containers{{{c['name']}}}"


def _go_duration(seconds: float) -> str:
    """Go's time.Duration text: 10s, 1m20s, 5m0s."""
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s}s" if m else f"{s}s"


def _first_port(c: Obj) -> int:
    ports = c.get("ports") or []
    return int(ports[0].get("containerPort", 0)) if ports else 0
