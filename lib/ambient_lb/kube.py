"""kubectl for what the guide does by hand, the kubernetes client for reads, watches and waits.

Called by the guide steps, the checks and ``helm.py``. A :class:`Kube` is bound to one kubeconfig
and one context (from params). The kubectl argv is exactly what a learner types (``kubectl get pods
-n httpbin``): the kubeconfig reaches kubectl through ``KUBECONFIG`` in its environment (the run
exports it, notebook 00 shows ``export KUBECONFIG=...``), and the context is *checked* rather than
repeated: before every call that reaches the cluster the kubeconfig's current context must be the
one the params name, else ContextMismatch says ``kubectl config use-context <name>``. The client is
built for the same context. Mutations go through kubectl so a learner sees the exact command
(:mod:`ambient_lb.shell` records it); reads and waits use the client, imported lazily because
``import kubernetes`` is slow and sim-only code never needs it (this is the only module that imports
it). Destructive calls (delete, namespace deletion, helm uninstall) pass :meth:`Kube.guard` first,
which also refuses when the context's server changed since the run started.

Waits list first, then watch from the list's resourceVersion with ``timeout_seconds``, so no
change between the two is missed and nothing polls; a timeout says the last state seen.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import shell, yaml_limits
from .errors import ClusterError, ContextMismatch, NotFound, TimedOut

KUBECONFIG_MAX_BYTES = 64 * 2**20  # kubeconfigs with many embedded certificates stay far below

# ---------------------------------------------------------------------------------------------
# Kinds the guide touches: how to reach each through the client.


@dataclass(frozen=True)
class Kind:
    """One resource type: its API group/version, plural, scope, and client method stem."""

    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    snake: str = ""

    @property
    def custom(self) -> bool:
        """True for a custom resource (a group kubectl has no built-in types for)."""
        return self.group not in _TYPED_APIS


_TYPED_APIS = {"": "CoreV1Api", "apps": "AppsV1Api", "batch": "BatchV1Api", "discovery.k8s.io": "DiscoveryV1Api",
               "apiextensions.k8s.io": "ApiextensionsV1Api"}
_GW, _ISTIO = "gateway.networking.k8s.io", "networking.istio.io"
_KIND_LIST = [
    (Kind("Pod", "", "v1", "pods", snake="pod"), ("po",)),
    (Kind("Service", "", "v1", "services", snake="service"), ("svc",)),
    (Kind("Namespace", "", "v1", "namespaces", False, snake="namespace"), ("ns",)),
    (Kind("Secret", "", "v1", "secrets", snake="secret"), ()),
    (Kind("ConfigMap", "", "v1", "configmaps", snake="config_map"), ("cm",)),
    (Kind("ServiceAccount", "", "v1", "serviceaccounts", snake="service_account"), ("sa",)),
    (Kind("Node", "", "v1", "nodes", False, snake="node"), ("no",)),
    (Kind("Event", "", "v1", "events", snake="event"), ("ev",)),
    (Kind("Deployment", "apps", "v1", "deployments", snake="deployment"), ("deploy",)),
    (Kind("ReplicaSet", "apps", "v1", "replicasets", snake="replica_set"), ("rs",)),
    (Kind("DaemonSet", "apps", "v1", "daemonsets", snake="daemon_set"), ("ds",)),
    (Kind("Job", "batch", "v1", "jobs", snake="job"), ()),
    (Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", snake="endpoint_slice"), ()),
    (Kind("CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions", False,
          snake="custom_resource_definition"), ("crd", "crds")),
    (Kind("Gateway", _GW, "v1", "gateways"), ("gtw",)),
    (Kind("GatewayClass", _GW, "v1", "gatewayclasses", False), ("gc",)),
    (Kind("HTTPRoute", _GW, "v1", "httproutes"), ()),
    (Kind("DestinationRule", _ISTIO, "v1", "destinationrules"), ("dr",)),
]
KINDS: dict[str, Kind] = {}
for _k, _aliases in _KIND_LIST:
    for _name in (_k.kind.lower(), _k.plural, *_aliases):
        KINDS[_name] = _k


def kind_of(name: str) -> Kind:
    """Look a kind up by kubectl's names (``deployment``, ``deploy``, ``deployments``, ``Gateway``)."""
    found = KINDS.get(name.lower().split(".")[0])
    if found is None:
        raise ValueError(f"unknown kind {name!r}; known: {', '.join(sorted({k.kind for k in KINDS.values()}))}")
    return found


# ---------------------------------------------------------------------------------------------
# Kubeconfig reading, for the context guard.


def default_kubeconfig_paths() -> list[Path]:
    """kubectl's default: the files in ``$KUBECONFIG``, else ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def read_kubeconfig(path: Path | None) -> dict[str, Any]:
    """The merged kubeconfig (first file wins per name, as kubectl merges)."""
    merged: dict[str, Any] = {"contexts": [], "clusters": [], "current-context": None}
    for file in ([path] if path else default_kubeconfig_paths()):
        if not file.is_file():
            continue
        try:
            doc = yaml_limits.load(file.read_text(encoding="utf-8"), max_bytes=KUBECONFIG_MAX_BYTES) or {}
        except (yaml.YAMLError, yaml_limits.Refused) as exc:
            raise ClusterError(f"kubeconfig {file} is not valid YAML: {exc}",
                               hint="repair it, or point kube.kubeconfig in params at a working one") from exc
        merged["current-context"] = merged["current-context"] or doc.get("current-context")
        for key in ("contexts", "clusters"):
            seen = {e.get("name") for e in merged[key]}
            merged[key] += [e for e in doc.get(key) or [] if e.get("name") not in seen]
    return merged


def context_server(config: Mapping[str, Any], context: str) -> str | None:
    """The API server URL a context points at, or None when the context is not in the kubeconfig."""
    ctx = next((c for c in config["contexts"] if c.get("name") == context), None)
    if ctx is None:
        return None
    cluster_name = (ctx.get("context") or {}).get("cluster")
    cluster: Mapping[str, Any] = next((c for c in config["clusters"] if c.get("name") == cluster_name), {})
    return str((cluster.get("cluster") or {}).get("server", ""))


# ---------------------------------------------------------------------------------------------


class Kube:
    """kubectl and the kubernetes client, pinned to one kubeconfig and context."""

    def __init__(self, context: str, kubeconfig: str | os.PathLike[str] | None = None, *,
                 expected_context: str | None = None, timeout: float = 60.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.context = context
        self.kubeconfig = Path(kubeconfig).expanduser() if kubeconfig else None
        self.expected_context = expected_context or context
        self.timeout = float(getattr(timeout, "seconds", timeout))
        self.env = dict(env or {})
        if self.kubeconfig is not None:  # what `export KUBECONFIG=...` does for a learner's shell
            self.env["KUBECONFIG"] = str(self.kubeconfig)
        self._server = context_server(read_kubeconfig(self.kubeconfig), context)
        self._api: Any = None
        self.retried: list[str] = []  # reads that succeeded on a later attempt, and why (R19.6)

    @classmethod
    def current(cls, kubeconfig: str | os.PathLike[str] | None = None, timeout: float = 60.0) -> Kube:
        """Bound to the kubeconfig's current context (what a bare ``kubectl`` reaches); ClusterError if none."""
        config = read_kubeconfig(Path(kubeconfig).expanduser() if kubeconfig else None)
        current = config.get("current-context")
        if not current:
            where = str(kubeconfig or os.pathsep.join(map(str, default_kubeconfig_paths())))
            raise ClusterError(f"no current context in {where}: which cluster is meant?",
                               hint="kubectl config use-context <the trainer's cluster>")
        return cls(str(current), kubeconfig, timeout=timeout)

    @classmethod
    def from_params(cls, params: Any, kubeconfig: str | os.PathLike[str] | None = None) -> Kube:
        """Bind to the params' context; ``kubeconfig`` overrides the params' file (e.g. a running sim)."""
        return cls(params.context, kubeconfig or params.kubeconfig, expected_context=params.context,
                   timeout=params.timeouts.command.seconds)

    # -- kubectl -------------------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        """``kubectl <args>``, as typed: the kubeconfig comes from ``KUBECONFIG``, the context is checked."""
        return ["kubectl", *args]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float | None = None, show_input: bool = False,
                secrets: Sequence[shell.Secret] = (), shown_as: str | None = None) -> shell.CommandResult:
        """Run one kubectl command; a ``(NotFound)`` failure raises NotFound.

        A command that reaches the cluster runs only while the current context is the params' one
        (:meth:`check_context`); ``kubectl version --client`` and ``kubectl config ...`` do not need it.
        ``shown_as`` is an equivalent line to show instead, e.g. a pipe that produces ``input``
        (``ambient-lb manifests gateway-api-crds | kubectl apply -f -``).
        """
        if not _local_only(args):
            self.check_context()
        try:
            return shell.run(self.argv(*args), timeout=timeout or self.timeout, input=input,
                             env=self.env, check=check, show_input=show_input, secrets=secrets,
                             display=shown_as)
        except TimedOut as exc:
            raise TimedOut(f"{exc.message.splitlines()[0]}: the API server did not answer in time",
                           argv_display=exc.argv_display, stderr_tail=exc.stderr_tail, hint=TIMEOUT_HINT) from exc
        except ClusterError as exc:
            if type(exc) is ClusterError and "(NotFound)" in (exc.stderr_tail or ""):
                raise NotFound(exc.message, argv_display=exc.argv_display, returncode=exc.returncode,
                               stderr_tail=exc.stderr_tail,
                               hint="check the name and namespace (kubectl get <kind> -A)") from exc
            if type(exc) is ClusterError and _refused(exc.stderr_tail or "", self._server):
                raise ClusterError(f"the API server did not answer: kubectl's connection to it was refused "
                                   f"(context {self.context})", argv_display=exc.argv_display,
                                   returncode=exc.returncode, stderr_tail=exc.stderr_tail,
                                   hint=UNREACHABLE_HINT) from exc
            hint = kubectl_hint(exc.stderr_tail or "")
            if type(exc) is ClusterError and hint:
                raise ClusterError(exc.message.splitlines()[0], argv_display=exc.argv_display,
                                   returncode=exc.returncode, stderr_tail=exc.stderr_tail, hint=hint) from exc
            raise

    def apply(self, manifest: str | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None, *,
              file: str | os.PathLike[str] | None = None, url: str | None = None,
              namespace: str | None = None, server_side: bool = False, validate: bool = True,
              field_manager: str | None = None, force_conflicts: bool = False,
              show_input: bool = True, secrets: Sequence[shell.Secret] = ()) -> shell.CommandResult:
        """``kubectl apply -f -|FILE|URL`` (client-side, or ``--server-side``); exactly one source."""
        sources = [s for s in (manifest, file, url) if s is not None]
        if len(sources) != 1:
            raise TypeError("apply() needs exactly one of manifest=, file= or url=")
        text = to_yaml(manifest) if manifest is not None else None
        args = ["apply", "-f", "-" if text is not None else str(file or url)]
        args += _ns(namespace)
        args += ["--server-side"] if server_side else []
        args += ["--force-conflicts"] if force_conflicts else []
        args += [f"--field-manager={field_manager}"] if field_manager else []
        args += [] if validate else ["--validate=false"]
        return self.kubectl(*args, input=text, show_input=show_input, secrets=secrets)

    def label(self, kind: str, name: str, labels: Mapping[str, str | None], *,
              namespace: str | None = None, overwrite: bool = False) -> shell.CommandResult:
        """``kubectl label <kind> <name> k=v``; a None value removes the label (``k-``)."""
        return self.kubectl("label", kind, name, *_pairs(labels), *_ns(namespace),
                            *(["--overwrite"] if overwrite else []))

    def annotate(self, kind: str, name: str, annotations: Mapping[str, str | None], *,
                 namespace: str | None = None, overwrite: bool = False) -> shell.CommandResult:
        """``kubectl annotate <kind> <name> k=v``; a None value removes it (``k-``)."""
        return self.kubectl("annotate", kind, name, *_pairs(annotations), *_ns(namespace),
                            *(["--overwrite"] if overwrite else []))

    def scale(self, kind: str, name: str, replicas: int, *, namespace: str | None = None) -> shell.CommandResult:
        """``kubectl scale deployment in-ambient -n httpbin --replicas=3``."""
        if replicas < 0:
            raise ValueError(f"replicas must be 0 or more, got {replicas}; e.g. 3")
        return self.kubectl("scale", kind, name, *_ns(namespace), f"--replicas={replicas}")

    def delete(self, kind: str, names: Sequence[str] = (), *, namespace: str | None = None,
               selector: str | None = None, field_selector: str | None = None, wait: bool = True,
               ignore_not_found: bool = False, timeout: float | None = None) -> shell.CommandResult:
        """``kubectl delete`` by names or selectors; refuses when the context is not the params' one."""
        if isinstance(names, str):
            names = [names]
        if not names and not selector and not field_selector:
            raise TypeError("delete() needs names or a selector; refusing to delete every object")
        self.guard(f"delete {kind}")
        args = ["delete", kind, *names, *_ns(namespace)]
        args += ["-l", selector] if selector else []
        args += [f"--field-selector={field_selector}"] if field_selector else []
        args += [] if wait else ["--wait=false"]
        args += ["--ignore-not-found"] if ignore_not_found else []
        return self.kubectl(*args, timeout=timeout)

    def delete_namespace(self, name: str, *, wait: bool = True, ignore_not_found: bool = False,
                         timeout: float | None = None) -> shell.CommandResult:
        """``kubectl delete namespace <name>`` (guarded)."""
        return self.delete("namespace", [name], wait=wait, ignore_not_found=ignore_not_found,
                           timeout=timeout)

    def rollout_status(self, kind: str, name: str, *, namespace: str | None = None,
                       timeout: float | Any = 180.0) -> shell.CommandResult:
        """``kubectl -n ns rollout status deployment/name --timeout=180s``."""
        seconds = float(getattr(timeout, "seconds", timeout))
        return self.kubectl(*_ns(namespace), "rollout", "status", f"{kind}/{name}",
                            f"--timeout={seconds:g}s", timeout=seconds + 30)

    def get(self, kind: str, name: str | None = None, *, namespace: str | None = None,
            output: str | None = None, selector: str | None = None, field_selector: str | None = None,
            all_namespaces: bool = False, check: bool = True) -> shell.CommandResult:
        """``kubectl get <kind> [name] -n ns [-l ...] [-o ...]`` (what the guide shows a learner)."""
        args = ["get", kind, *([name] if name else []), *_ns(namespace)]
        args += ["-A"] if all_namespaces else []
        args += ["-l", selector] if selector else []
        args += [f"--field-selector={field_selector}"] if field_selector else []
        args += ["-o", output] if output else []
        return self.kubectl(*args, check=check)

    def logs(self, target: str, *, namespace: str | None = None, container: str | None = None,
             tail: int | None = None, since: str | None = None,
             selector: str | None = None) -> shell.CommandResult:
        """``kubectl logs -n ns <pod|deploy/x>`` (or ``-l selector``)."""
        args = ["logs", *_ns(namespace), *([target] if target else [])]
        args += ["-l", selector] if selector else []
        args += ["-c", container] if container else []
        args += [f"--tail={tail}"] if tail is not None else []
        args += [f"--since={since}"] if since else []
        return self.kubectl(*args)

    @contextlib.contextmanager
    def port_forward(self, target: str, local_port: int, remote_port: int, *,
                     namespace: str | None = None, address: str = "localhost",
                     timeout: float | Any = 15.0) -> Iterator[str]:
        """``kubectl port-forward -n ns deployment/http 8080:8080``; yields ``host:port``.

        Waits (bounded) for kubectl's "Forwarding from" line, then for the port to accept a
        connection; always stops the kubectl process on exit. ``local_port=0`` lets kubectl pick
        (``:19000``). ``address`` other than kubectl's default ``localhost`` adds ``--address``.
        """
        self.check_context()
        argv = self.argv("port-forward", *_ns(namespace), target, f"{local_port or ''}:{remote_port}",
                         *([] if address == "localhost" else [f"--address={address}"]))
        seconds = float(getattr(timeout, "seconds", timeout))
        proc, lines = _start_streaming(argv, self.env)
        shown = shell.display_line(argv)
        try:
            port, forwarding = _await_forwarding(proc, lines, seconds, shown)
            shell.record(shell.CommandResult(argv, 0, forwarding, "", shown + " &"))
            host = "127.0.0.1" if address == "localhost" else address
            _await_connectable(host, port, seconds)
            yield f"{host}:{port}"
        finally:
            shell.stop_process_group(proc)

    # -- the context guard ---------------------------------------------------------------------

    def check_context(self) -> None:
        """Refuse to run kubectl unless the kubeconfig's current context is this Kube's context.

        kubectl uses the current context, since the runbook does not repeat ``--context`` on every
        command a learner copies; so the runbook checks it, as a careful learner would.
        """
        config = read_kubeconfig(self.kubeconfig)
        current = config.get("current-context")
        if current == self.context:
            return
        where = str(self.kubeconfig or os.pathsep.join(map(str, default_kubeconfig_paths())))
        known = ", ".join(c.get("name", "?") for c in config["contexts"]) or "none"
        if context_server(config, self.context) is None:
            raise ContextMismatch(f"context {self.context!r} is not in {where} (contexts there: {known})",
                                  hint="fix kube.context in params, or point kube.kubeconfig at the file "
                                       "that has it (kubectl config get-contexts lists them)")
        raise ContextMismatch(f"the current context in {where} is {current!r}, not {self.context!r} as the "
                              "params name: kubectl would reach another cluster",
                              hint=f"kubectl config use-context {self.context}   (or set kube.context in "
                                   "params to the cluster you mean)")

    def guard(self, action: str) -> None:
        """Refuse ``action`` unless it would reach the context (and server) the params name."""
        config = read_kubeconfig(self.kubeconfig)
        where = str(self.kubeconfig or os.pathsep.join(map(str, default_kubeconfig_paths())))
        if self.context != self.expected_context:
            raise ContextMismatch(f"refusing to {action}: it would run against context {self.context!r}, "
                                  f"but the params name {self.expected_context!r}",
                                  hint="set kube.context in your params file to the cluster you mean")
        server = context_server(config, self.context)
        if server is None:
            known = ", ".join(c.get("name", "?") for c in config["contexts"]) or "none"
            raise ContextMismatch(f"refusing to {action}: context {self.context!r} is not in {where} "
                                  f"(contexts there: {known})",
                                  hint="fix kube.context in params, or point kube.kubeconfig at the right file")
        if self._server is not None and not _same_server(server, self._server):
            raise ContextMismatch(f"refusing to {action}: context {self.context!r} now points at {server}, "
                                  f"not {self._server} as when this run started",
                                  hint="someone rewrote the kubeconfig; restart the run against the intended cluster")

    # -- reads through the kubernetes client ---------------------------------------------------

    @property
    def api(self) -> Any:
        """The kubernetes ApiClient for this kubeconfig and context (imported on first use)."""
        if self._api is None:
            from kubernetes import client, config

            settings = client.Configuration()
            settings.retries = False  # urllib3 would retry timeouts 3 times; the runbook retries as R19.6 says
            try:
                # the client reads $KUBECONFIG once, when it is imported; name the files as kubectl finds them now
                found = [self.kubeconfig] if self.kubeconfig else default_kubeconfig_paths()
                files = os.pathsep.join(map(str, found))
                config.load_kube_config(config_file=files,
                                        context=self.context, client_configuration=settings)
                self._api = client.ApiClient(configuration=settings)
            except config.ConfigException as exc:
                raise ClusterError(f"cannot use context {self.context!r} from "
                                   f"{self.kubeconfig or 'the default kubeconfig'}: {exc}",
                                   hint="kubectl config get-contexts lists the usable contexts; on sim, "
                                        "start the simulator first (ambient-lb sim up)") from exc
        return self._api

    def read(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """One object as a dict; NotFound says which object was missing."""
        k = kind_of(kind)
        fn, args = self._method(k, "read", namespace, name)
        return self._call_json(fn, args, k, name, namespace)

    def list(self, kind: str, namespace: str | None = None, *, selector: str | None = None,
             field_selector: str | None = None) -> dict[str, Any]:
        """A list as a dict (``items``, ``metadata.resourceVersion``); namespace None = all namespaces."""
        k = kind_of(kind)
        fn, args = self._method(k, "list", namespace)
        kwargs = _drop_none(label_selector=selector, field_selector=field_selector)
        return self._call_json(fn, args, k, None, namespace, **kwargs)

    def items(self, kind: str, namespace: str | None = None, **kw: Any) -> builtins.list[dict[str, Any]]:
        """Just the items of :meth:`list`."""
        return list(self.list(kind, namespace, **kw).get("items") or [])

    def read_logs(self, pod: str, namespace: str, *, container: str | None = None,
                  tail_lines: int | None = None) -> str:
        """A pod's log text through the client."""
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        kwargs = _drop_none(container=container, tail_lines=tail_lines)
        resp = self._guarded_call(core.read_namespaced_pod_log, (pod, namespace), kind_of("pod"), pod,
                                  namespace, _preload_content=False, **kwargs)
        return resp.data.decode("utf-8", "replace")

    def exec_output(self, namespace: str, target: str, command: Sequence[str], *,
                    container: str | None = None) -> str:
        """What ``kubectl exec -n <namespace> <target> -- <command>`` prints, read through the client's exec
        stream (the WebSocket ``pods/exec`` kubectl 1.31 uses too) instead of a kubectl process: for the reads
        the runbook makes for itself many times (a poll of a proxy's counters), where starting kubectl is most
        of the cost. ``target`` is ``deploy/<name>`` (a running pod of it, as kubectl picks) or a pod name.
        A non-zero exit raises ClusterError with the program's stderr, as the kubectl call would."""
        from kubernetes import client
        from kubernetes.stream import stream

        pod = self.pod_for(namespace, target)
        core = client.CoreV1Api(self.api)
        k = kind_of("pod")
        with self._api_errors(k, pod, namespace):
            ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=list(command),
                        **_drop_none(container=container), stdin=False, stdout=True, stderr=True, tty=False,
                        _preload_content=False, _request_timeout=self.timeout)
            try:
                ws.run_forever(timeout=self.timeout)
                ended = not ws.is_open()
                out, err, status = ws.read_stdout(), ws.read_stderr(), ws.read_channel(3)
            finally:
                ws.close()
        where = f"exec in pod {pod} (namespace {namespace})"
        if not ended:
            raise TimedOut(f"{where}: no end within {self.timeout:g} s", hint=TIMEOUT_HINT)
        code, message = exec_status(status)
        if code:
            raise ClusterError(f"{where}: {' '.join(command)} {message}", returncode=code,
                               stderr_tail=shell.tail(err) or None)
        return str(out)

    def logs_text(self, namespace: str, target: str, *, tail: int | None = None) -> str:
        """What ``kubectl logs -n <namespace> <target> [--tail=N]`` prints, read through the client (no kubectl
        process): for the logs the runbook parses for itself. ``target`` as for :meth:`exec_output`."""
        return self.read_logs(self.pod_for(namespace, target), namespace,
                              tail_lines=tail if tail is not None and tail >= 0 else None)

    def pod_for(self, namespace: str, target: str) -> str:
        """The pod kubectl would exec into or read the logs of for ``target``: ``deploy/<name>`` -> a running,
        ready pod of it (the most recently created, as kubectl's active-pods order puts first), else the name."""
        kind, _, name = target.rpartition("/")
        if kind in ("", "pod", "pods", "po"):
            return name
        selector = (self.read(kind, name, namespace).get("spec") or {}).get("selector") or {}
        labels = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
        pods = [p for p in self.items("pod", namespace, selector=labels)
                if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running"]
        if not pods:
            raise NotFound(f"no running pod of {target} in namespace {namespace}",
                           hint=f"kubectl get pods -n {namespace} -l {labels}")
        pods.sort(key=lambda p: (pod_ready(p), p["metadata"].get("creationTimestamp", "")), reverse=True)
        return str(pods[0]["metadata"]["name"])

    def _method(self, k: Kind, verb: str, namespace: str | None, *lead: str) -> tuple[Callable[..., Any], tuple]:
        from kubernetes import client

        if k.custom:
            co = client.CustomObjectsApi(self.api)
            scope = "namespaced" if k.namespaced and namespace else "cluster"
            name = {"read": f"get_{scope}_custom_object", "list": f"list_{scope}_custom_object"}[verb]
            ns = (namespace,) if scope == "namespaced" else ()
            return getattr(co, name), (k.group, k.version, *ns, k.plural, *lead)
        api = getattr(client, _TYPED_APIS[k.group])(self.api)
        if not k.namespaced:
            return getattr(api, f"{verb}_{k.snake}"), (*lead,)
        if namespace is None and verb == "list":
            return getattr(api, f"list_{k.snake}_for_all_namespaces"), ()
        return getattr(api, f"{verb}_namespaced_{k.snake}"), (*lead, namespace)

    def _call_json(self, fn: Callable[..., Any], args: tuple, k: Kind, name: str | None,
                   namespace: str | None, **kwargs: Any) -> dict[str, Any]:
        resp = self._guarded_call(fn, args, k, name, namespace, _preload_content=False, **kwargs)
        return json.loads(resp.data)

    def _guarded_call(self, fn: Callable[..., Any], args: tuple, k: Kind, name: str | None,
                      namespace: str | None, **kwargs: Any) -> Any:
        """One read (a GET) through the client, retried as client-go would and a little more (R19.6):
        429/5xx (after ``Retry-After`` if given, else a short back-off) and a reset connection, at most
        ``READ_ATTEMPTS`` times, all within ``self.timeout``; anything else raises at once."""
        deadline = time.monotonic() + self.timeout
        for attempt in range(1, READ_ATTEMPTS + 1):
            kwargs["_request_timeout"] = max(0.5, deadline - time.monotonic())
            try:
                with self._api_errors(k, name, namespace):
                    return fn(*args, **kwargs)
            except ClusterError as exc:
                if not self._pause_to_retry(exc, attempt, deadline, "retried"):
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _pause_to_retry(self, exc: ClusterError, attempt: int, deadline: float, what: str) -> bool:
        """R19.6: wait before attempt ``attempt + 1`` after ``exc`` and note it in ``retried``; False when
        ``exc`` is not retried, the attempts are used up, or the wait would pass ``deadline``."""
        wait = retry_wait(exc.__cause__, attempt)
        if wait is None or attempt >= READ_ATTEMPTS or time.monotonic() + wait >= deadline:
            return False
        self.retried.append(f"{exc.message.splitlines()[0]} ({what} after {wait:g} s)")
        threading.Event().wait(wait)  # the server asked for this pause (Retry-After) or back-off
        return True

    @contextlib.contextmanager
    def _api_errors(self, k: Kind, name: str | None, namespace: str | None) -> Iterator[None]:
        """Turn client exceptions into NotFound / ClusterError that name the object."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError, ReadTimeoutError

        what = f"{k.kind} {name}" if name else f"{k.plural}"
        where = f" in namespace {namespace}" if namespace and k.namespaced else ""
        try:
            yield
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"{what} not found{where}",
                               hint=f"check that the step creating it ran (kubectl get {k.plural} -A)") from exc
            raise ClusterError(f"reading {what}{where} failed: HTTP {exc.status} {exc.reason}",
                               stderr_tail=_status_message(exc.body),
                               hint=API_HINTS.get(exc.status, API_HINTS[0])) from exc
        except ReadTimeoutError as exc:
            raise TimedOut(f"reading {what}{where}: the API server of context {self.context} did not answer "
                           f"within {self.timeout:g} s", hint=TIMEOUT_HINT) from exc
        except (HTTPError, OSError) as exc:
            raise ClusterError(f"the API server did not answer (context {self.context}): {exc}",
                               hint=UNREACHABLE_HINT) from exc

    # -- watch-based waits ---------------------------------------------------------------------

    def watch(self, kind: str, namespace: str | None, *, timeout: float, selector: str | None = None,
              field_selector: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``("LISTED", obj)`` per current object, one ``("SYNCED", {})``, then watch events.

        The watch starts at the list's resourceVersion, so nothing between the two is missed, and
        ends when ``timeout`` seconds have passed (the server closes it via ``timeoutSeconds``).
        If the server answers 410 Gone (our version is too old) this yields ``("RESET", {})`` and
        lists again: consumers forget what they had and rebuild from the new listing.
        """
        deadline = time.monotonic() + timeout
        rv: str | None = None
        failures = 0
        while rv is None or deadline - time.monotonic() > 0.05:
            if rv is None:  # first time, and after the server said our version is too old
                rv = yield from self._relist(kind, namespace, selector, field_selector)
                continue
            try:
                rv = yield from self._watch_from(kind, namespace, rv, deadline, selector, field_selector)
                failures = 0
            except ClusterError as exc:
                if getattr(exc.__cause__, "status", None) == RELIST_STATUS:  # R19.4: too old: list again
                    rv = None
                    yield "RESET", {}
                    continue
                failures += 1
                if not self._pause_to_retry(exc, failures, deadline, "watch retried"):  # R19.6: as for reads
                    raise

    def _relist(self, kind: str, namespace: str | None, selector: str | None,
                field_selector: str | None) -> Generator[tuple[str, dict[str, Any]], None, str]:
        listing = self.list(kind, namespace, selector=selector, field_selector=field_selector)
        for obj in listing.get("items") or []:
            yield "LISTED", obj
        yield "SYNCED", {}
        return (listing.get("metadata") or {}).get("resourceVersion") or ""

    def _watch_from(self, kind: str, namespace: str | None, rv: str, deadline: float, selector: str | None,
                    field_selector: str | None) -> Generator[tuple[str, dict[str, Any]], None, str]:
        """One watch request from ``rv`` until the server closes it; returns the last version seen."""
        from kubernetes import watch

        k = kind_of(kind)
        fn, args = self._method(k, "list", namespace)
        left = deadline - time.monotonic()
        w = watch.Watch(return_type="object")
        kwargs = _drop_none(label_selector=selector, field_selector=field_selector, resource_version=rv or None)
        with self._api_errors(k, None, namespace):
            for event in w.stream(fn, *args, timeout_seconds=max(1, int(left + 0.999)),
                                  _request_timeout=left + 10, allow_watch_bookmarks=True, **kwargs):
                obj = event["raw_object"]
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if event["type"] not in ("BOOKMARK", "ERROR"):
                    yield event["type"], obj
                if time.monotonic() >= deadline:
                    w.stop()
        return rv

    def wait_for(self, kind: str, name: str, namespace: str | None, done: Callable[[dict | None], bool],
                 describe: Callable[[dict | None], str], *, timeout: float | Any, what: str) -> dict | None:
        """Watch one object until ``done(obj)`` (obj None = absent); TimedOut says ``describe`` of the last."""
        seconds = float(getattr(timeout, "seconds", timeout))
        last: dict | None = None
        for etype, obj in self.watch(kind, namespace, timeout=seconds, field_selector=f"metadata.name={name}"):
            if etype == "RESET":
                last = None
                continue
            if etype == "DELETED":
                last = None
            elif etype != "SYNCED":
                last = obj
            if done(last):
                return last
        k = kind_of(kind)
        where = f" in namespace {namespace}" if namespace else ""
        raise TimedOut(f"{k.kind} {name}{where}: {what} not reached within {seconds:g}s",
                       last_seen=describe(last) if last is not None else "the object does not exist",
                       hint=f"look at it: kubectl describe {k.kind.lower()} {name}"
                            + (f" -n {namespace}" if namespace else ""))

    def wait_for_condition(self, kind: str, name: str, namespace: str | None, condition: str,
                           status: str = "True", timeout: float | Any = 120.0) -> dict:
        """Until ``status.conditions[type=condition].status == status`` (e.g. Gateway Programmed)."""
        def done(obj: dict | None) -> bool:
            return obj is not None and (condition_of(obj, condition) or {}).get("status") == status

        def describe(obj: dict | None) -> str:
            cond = condition_of(obj or {}, condition)
            if not cond:
                return f"no {condition} condition yet"
            return f"{condition}={cond.get('status')} reason={cond.get('reason')} message={cond.get('message')!r}"

        return _found(self.wait_for(kind, name, namespace, done, describe, timeout=timeout,
                                    what=f"condition {condition}={status}"))

    def wait_for_jsonpath(self, kind: str, name: str, namespace: str | None, path: str, value: Any,
                          timeout: float | Any = 120.0) -> dict:
        """Until the JSONPath ``path`` (kubectl style ``{.status.readyReplicas}``) equals ``value``."""
        want = str(value)
        done = lambda obj: obj is not None and want in jsonpath_values(obj, path)  # noqa: E731
        describe = lambda obj: f"{path} = {', '.join(jsonpath_values(obj or {}, path)) or '<unset>'}"  # noqa: E731
        return _found(self.wait_for(kind, name, namespace, done, describe, timeout=timeout, what=f"{path} = {want}"))

    def wait_for_deletion(self, kind: str, name: str, namespace: str | None = None,
                          timeout: float | Any = 120.0) -> None:
        """Until the object is gone."""
        def describe(obj: dict | None) -> str:
            meta = (obj or {}).get("metadata") or {}
            phase = ((obj or {}).get("status") or {}).get("phase")
            marked = "terminating" if meta.get("deletionTimestamp") else "not marked for deletion"
            return f"still present ({marked}" + (f", phase {phase})" if phase else ")")

        self.wait_for(kind, name, namespace, lambda obj: obj is None, describe, timeout=timeout,
                      what="deletion")

    def wait_for_pod_count(self, namespace: str, selector: str, count: int,
                           timeout: float | Any = 120.0) -> builtins.list[dict]:
        """Until exactly ``count`` pods match ``selector`` (terminating ones still count: 0 = all gone)."""
        pods = self._watch_pods(namespace, selector, timeout, lambda pods, listing: not listing and
                                len(pods) == count, f"{count} pod(s)", "")
        return sorted(pods, key=lambda p: p["metadata"]["name"])

    def wait_for_ready_pods(self, namespace: str, selector: str, count: int,
                            timeout: float | Any = 180.0) -> builtins.list[dict]:
        """Until at least ``count`` pods matching ``selector`` are Ready and not terminating."""
        pods = self._watch_pods(namespace, selector, timeout,
                                lambda pods, _: sum(pod_ready(p) for p in pods) >= count,
                                f"{count} ready pod(s)", "; kubectl describe pod <name> shows why one is not ready")
        return sorted((p for p in pods if pod_ready(p)), key=lambda p: p["metadata"]["name"])

    def _watch_pods(self, namespace: str, selector: str, timeout: float | Any,
                    done: Callable[[builtins.list[dict], bool], bool], what: str, hint: str) -> builtins.list[dict]:
        """Watch the pods matching ``selector`` until ``done(pods, still_listing)``; TimedOut names
        each pod's state otherwise."""
        seconds = float(getattr(timeout, "seconds", timeout))
        pods: dict[str, dict] = {}
        for etype, pod in self.watch("pod", namespace, timeout=seconds, selector=selector):
            if etype == "RESET":
                pods.clear()
                continue
            if etype == "DELETED":
                pods.pop(pod["metadata"]["name"], None)
            elif etype != "SYNCED":
                pods[pod["metadata"]["name"]] = pod
            if done(list(pods.values()), etype == "LISTED"):
                return list(pods.values())
        seen = {n: pod_state(p) for n, p in sorted(pods.items())}
        states = "; ".join(f"{n} {state}" for n, state in seen.items()) or "no pods"
        why = next((POD_STATE_HINTS[state].format(pod=n, ns=namespace) for n, state in seen.items()
                    if state in POD_STATE_HINTS), "")
        raise TimedOut(f"{what} with {selector} in {namespace} not reached within {seconds:g}s",
                       last_seen=states, hint=f"{why}kubectl get pods -n {namespace} -l {selector}{hint}")


# ---------------------------------------------------------------------------------------------
# Small pure helpers (tested without a cluster).


# ---------------------------------------------------------------------------------------------
# Inside a pod: the pod's own service account (a workshop Job publishing its results).

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Set only by the simulator's stand-in for a container runtime, which runs a pod's process on the host and
# puts the pod's mounts under this directory (it has no mount namespace); unset in a real container.
CONTAINER_ROOT_ENV = "AMBIENT_LB_CONTAINER_ROOT"


def service_account_dir() -> Path:
    """Where the pod's service-account token, CA and namespace are mounted."""
    return Path(os.environ.get(CONTAINER_ROOT_ENV, "") + SERVICE_ACCOUNT_DIR)


class PodConfigMaps:
    """The ConfigMaps of the pod's own namespace, reached with the pod's service-account token.

    Built from the in-cluster settings (``KUBERNETES_SERVICE_HOST``/``_PORT`` and the mounted token and
    CA), as any in-cluster client is; raises ClusterError outside a pod, saying what is missing.
    """

    def __init__(self) -> None:
        from kubernetes import client, config

        d = service_account_dir()
        missing = [str(d / f) for f in ("token", "ca.crt", "namespace") if not (d / f).is_file()]
        if missing or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise ClusterError(f"not inside a Kubernetes pod: {', '.join(missing) or 'KUBERNETES_SERVICE_HOST'} "
                               "missing, so there is no service account to publish with",
                               hint="--publish is for the Jobs `ambient-lb workshop --jobs` starts; "
                                    "run without it on your own machine")
        settings = client.Configuration()
        settings.retries = False
        try:
            config.incluster_config.InClusterConfigLoader(token_filename=str(d / "token"),
                                                          cert_filename=str(d / "ca.crt")).load_and_set(settings)
        except config.ConfigException as exc:
            raise ClusterError(f"the pod's service-account settings are unusable: {exc}") from exc
        self.namespace = (d / "namespace").read_text().strip()
        self._core: Any = client.CoreV1Api(client.ApiClient(configuration=settings))  # takes dict bodies too
        self._api_exception = client.ApiException
        from urllib3.exceptions import HTTPError
        self._transport_error = HTTPError

    def put(self, body: Mapping[str, Any]) -> None:
        """Create the ConfigMap, or replace it when it exists; ClusterError says what the API server said."""
        name = str(body["metadata"]["name"])
        try:
            try:
                self._core.replace_namespaced_config_map(name, self.namespace, dict(body), _request_timeout=30)
            except self._api_exception as exc:
                if exc.status != 404:
                    raise
                self._core.create_namespaced_config_map(self.namespace, dict(body), _request_timeout=30)
        except self._api_exception as exc:
            reason = _api_message(exc)
            hint = ("the Job's service account needs get, create and update on configmaps in its namespace: "
                    "kubectl apply the Role that `ambient-lb workshop --jobs` renders") if exc.status == 403 else None
            raise ClusterError(f"could not write ConfigMap {self.namespace}/{name}: {reason}", hint=hint) from exc
        except (self._transport_error, OSError) as exc:
            raise ClusterError(f"could not write ConfigMap {self.namespace}/{name}: the API server did not answer "
                               f"({exc})", hint=UNREACHABLE_HINT) from exc


def _api_message(exc: Any) -> str:
    return f"HTTP {exc.status} {exc.reason}: {_status_message(exc.body) or ''}".rstrip(": ")


def to_yaml(manifest: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """A manifest string as-is; a dict or list of dicts as multi-document YAML."""
    if isinstance(manifest, str):
        return manifest
    docs = [manifest] if isinstance(manifest, Mapping) else list(manifest)
    return yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)


def condition_of(obj: Mapping[str, Any], condition: str) -> dict | None:
    """The condition of that type from ``status.conditions`` (or a Gateway listener's), if any."""
    for cond in ((obj.get("status") or {}).get("conditions") or []):
        if cond.get("type") == condition:
            return dict(cond)
    return None


def jsonpath_values(obj: Mapping[str, Any], path: str) -> list[str]:
    """Values at a kubectl-style JSONPath, as strings (``{.status.phase}`` or ``.status.phase``)."""
    from jsonpath_ng.ext import parse

    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    expr = "$" + expr if expr.startswith(".") or expr.startswith("[") else expr
    out = []
    for match in parse(expr).find(obj):
        v = match.value
        out.append(json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else str(v))
    return out


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Ready condition True and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (condition_of(pod, "Ready") or {}).get("status") == "True"


def _found(obj: dict | None) -> dict:
    """The object a wait returned, for the waits whose ``done`` needs one (so it is never None)."""
    if obj is None:  # pragma: no cover - done() returned True for an absent object
        raise NotFound("the object went away as the wait ended")
    return obj


def exec_status(text: str) -> tuple[int, str]:
    """The exit of an exec from its Status on the error channel (R15.4): (0, "") for Success; the program's
    code for ``NonZeroExitCode``; 126 with the API's message when it never ran (not found, no container)."""
    try:
        status = json.loads(text) if text else {"status": "Success"}
    except ValueError:
        status = None
    if not isinstance(status, dict):
        return 126, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    if code is not None and str(code).isdigit():
        return int(code), f"exited {code}"
    return 126, str(status.get("message") or "failed")


def pod_state(pod: Mapping[str, Any]) -> str:
    """What ``kubectl get pods`` would show in STATUS, roughly (Terminating, ContainerCreating, ...)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "Waiting")
    ready = "Ready" if pod_ready(pod) else "not Ready"
    return f"{status.get('phase', 'Unknown')}, {ready}"


def loopback(url: str) -> bool:
    """True for a URL whose host is this machine's loopback (``localhost``, 127.0.0.0/8, ``::1``)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_server(a: str, b: str) -> bool:
    """Same URL, or both on this machine's loopback (a restarted simulator gets a new port)."""
    return a == b or (loopback(a) and loopback(b))


#: What to do when the API server does not answer (connection refused: the server or the simulator is gone).
UNREACHABLE_HINT = ("is the cluster up? kubectl cluster-info; on the simulator: ambient-lb sim status, then "
                    "ambient-lb sim up, or ambient-lb run --resume <run dir>, which starts it again and reruns "
                    "the notebook")


def _refused(stderr: str, server: str | None) -> bool:
    """kubectl's words when nothing listens at the API server's address: ``The connection to the server
    127.0.0.1:6443 was refused``, or ``dial tcp 127.0.0.1:6443: connect: connection refused``. Only at
    the server's own address: a pod's port refusing (``kubectl exec``, ``port-forward``) is another thing."""
    from urllib.parse import urlsplit

    if "The connection to the server" in stderr and "was refused" in stderr:
        return True
    address = urlsplit(server).netloc if server else ""
    return bool(address) and f"dial tcp {address}: connect: connection refused" in stderr


def _local_only(args: Sequence[str]) -> bool:
    """kubectl commands that do not reach the cluster (so no context check): ``version --client``,
    ``config ...``."""
    return bool(args) and (args[0] == "config" or (args[0] == "version" and "--client" in args))


def _ns(namespace: str | None) -> list[str]:
    return ["-n", namespace] if namespace else []


def _pairs(values: Mapping[str, str | None]) -> list[str]:
    if not values:
        raise TypeError("give at least one key, e.g. {'istio.io/dataplane-mode': 'ambient'}")
    return [f"{k}-" if v is None else f"{k}={v}" for k, v in values.items()]


READ_ATTEMPTS = 6
# a pod's waiting reason (``pod_state``) -> what it means and where to look, said first when a wait times out
POD_STATE_HINTS: dict[str, str] = {
    "ErrImagePull": "the node cannot pull the image: check its name and tag (kubectl describe pod -n {ns} {pod} "
                    "shows the registry's answer); ",
    "ImagePullBackOff": "the node cannot pull the image and is backing off: check its name and tag (kubectl "
                        "describe pod -n {ns} {pod} shows the registry's answer); ",
    "ErrImageNeverPull": "imagePullPolicy is Never and the image is not on the node; ",
    "CrashLoopBackOff": "the container keeps exiting: kubectl logs -n {ns} {pod} --previous shows why; ",
    "CreateContainerConfigError": "a ConfigMap, Secret or key the container needs is missing: kubectl describe pod "
                                  "-n {ns} {pod}; ",
}
RELIST_STATUS = 410  # a watch answered this (Expired, "too old resource version") lists again (R19.4)
TIMEOUT_HINT = ("is the API server overloaded or hung? kubectl get --raw /readyz; on the simulator: ambient-lb sim "
                "status (and ambient-lb sim fault list, if a drill is running); or raise timeouts.command in params")
# HTTP status of a failed read -> what to do next (0: anything else)
API_HINTS: dict[int, str] = {
    401: "the cluster refused the credentials (a wrong or expired token): refresh them, e.g. your cloud's "
         "get-credentials command; on the simulator, ambient-lb sim up writes a fresh kubeconfig",
    403: "your user may not do this: kubectl auth can-i --list shows what it may",
    429: "the API server is overloaded and asked clients to slow down; wait a minute and run the step again",
    500: "the API server failed; kubectl get --raw /readyz?verbose says which of its checks fails",
    503: "the API server is unavailable (starting, or its storage is); wait and run the step again",
    504: "the API server timed out; wait and run the step again",
    0: "check access rights and that the API server is healthy (kubectl get --raw /readyz?verbose)",
}


# what kubectl printed -> what to do next (the first match wins)
KUBECTL_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\(Unauthorized\)|You must be logged in|asked for the client to provide credentials"),
     API_HINTS[401]),
    (re.compile(r"\(Forbidden\)"), API_HINTS[403]),
    (re.compile(r"\(TooManyRequests\)"), API_HINTS[429]),
    (re.compile(r"\(InternalError\)"), API_HINTS[500]),
    (re.compile(r"\(ServiceUnavailable\)"), API_HINTS[503]),
    (re.compile(r"\(Timeout\)"), API_HINTS[504]),
    (re.compile(r"Unable to connect to the server|connection refused|no such host"),
     "the API server cannot be reached: is the cluster (or ambient-lb sim up) running? kubectl cluster-info"),
)


def kubectl_hint(stderr: str) -> str | None:
    """The next thing to try for a failed kubectl, from what it printed; None if nothing specific."""
    return next((hint for pattern, hint in KUBECTL_HINTS if pattern.search(stderr)), None)


def retry_wait(cause: BaseException | None, attempt: int) -> float | None:
    """Seconds to wait before read ``attempt + 1`` after ``cause``, or None when it is not retried (R19.6):
    a 429/5xx after its ``Retry-After`` (else 0.25 s doubling, at most 2 s), a reset connection after 1 s."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import ProtocolError

    if isinstance(cause, ApiException) and (cause.status == 429 or (cause.status or 0) >= 500):
        after = str((cause.headers or {}).get("Retry-After") or "")
        return float(after) if after.isdigit() else min(2.0, 0.25 * 2 ** (attempt - 1))
    if isinstance(cause, (ProtocolError, ConnectionResetError)):
        return 1.0
    return None


def _drop_none(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _status_message(body: Any) -> str | None:
    try:
        return str(json.loads(body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(body)[:500] if body else None


_FORWARDING = re.compile(r"Forwarding from [\[\]0-9a-fA-F.:]+:(\d+) ->")


def _start_streaming(argv: list[str], env: Mapping[str, str]) -> tuple[subprocess.Popen[str], queue.Queue]:
    exe = shell._resolve(argv[0], shell.child_env(env))
    proc = subprocess.Popen([exe, *argv[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=shell.child_env(env),
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="port-forward-output", daemon=True).start()
    return proc, lines


def _await_forwarding(proc: subprocess.Popen[str], lines: queue.Queue, seconds: float,
                      shown: str) -> tuple[int, str]:
    """The local port kubectl forwards from, and its "Forwarding from" lines so far (what it printed)."""
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise ClusterError("kubectl port-forward exited before forwarding", argv_display=shown,
                               returncode=proc.wait(), stderr_tail="".join(seen[-12:]),
                               hint="check the target exists and is running (kubectl get pods)")
        seen.append(line)
        match = _FORWARDING.search(line)
        if match:
            while True:  # kubectl prints one line per local address (127.0.0.1, then [::1])
                try:
                    more = lines.get(timeout=0.2)
                except queue.Empty:
                    break
                if more is None or not _FORWARDING.search(more):
                    break
                seen.append(more)
            return int(match.group(1)), "".join(x for x in seen if _FORWARDING.search(x))
    raise TimedOut(f"kubectl port-forward did not start forwarding within {seconds:g}s",
                   argv_display=shown, last_seen="".join(seen[-5:]).strip() or "no output",
                   hint="raise timeouts.port_forward, or check the pod is Running")


def _await_connectable(address: str, port: int, seconds: float) -> None:
    try:
        with socket.create_connection((address, port), timeout=seconds):
            return
    except OSError as exc:
        raise TimedOut(f"port {address}:{port} did not accept a connection within {seconds:g}s",
                       last_seen=str(exc), hint="check kubectl port-forward's output") from exc
