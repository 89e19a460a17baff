"""The fault drills (issue 12): one row per way a learner's cluster, network or machine misbehaves.

Each :class:`Drill` runs one real guide step (a function of ``ambient_lb.guide``, as a notebook cell
calls it) on a simulator whose state is the guide's after notebook 02, with the drill's trouble in
place: API faults through the simulator's drill endpoint (``ambient-lb sim fault``, §19), or a change
to the learner's machine (PATH, kubeconfig). The step must then either survive (the runbook retries
what kubectl and client-go retry) or fail with the drill's reason, in time: a step still running at
``within`` wall seconds is *hung*, which is never acceptable.

``sabotage`` breaks the behaviour the drill relies on (a monkeypatch, or params that take away the
bound) so the drill's own test can show it would notice: every drill can fail.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ambient_lb import guide
from ambient_lb.errors import RunbookError
from ambient_lb.sim.fault_client import FaultClient

SURVIVED, RIGHT, OTHER, UNEXPECTED, HUNG = ("survived", "failed with the right reason", "failed for another reason",
                                            "passed, but should have failed", "hung")


@dataclass
class Env:
    """Where the drills run: the params file, the simulator's kubeconfig, its drill endpoint."""

    params: Path
    kubeconfig: Path
    faults: FaultClient
    monkeypatch: pytest.MonkeyPatch


Setup = Callable[[Env], Callable[[], None]]  # changes the environment, returns the undo


@dataclass(frozen=True)
class Drill:
    """One row: the trouble, the step it hits, and what must happen."""

    name: str
    step: str                                   # ambient_lb.guide.<step>(run)
    faults: tuple[dict[str, Any], ...] = ()     # injected before the step (FaultClient.add fields)
    setup: Setup | None = None
    params: dict[str, Any] = field(default_factory=dict)  # open_run overrides, e.g. shorter timeouts
    expect: str | None = None                   # None: the step passes; else a regex its failure matches
    within: float = 60.0                        # wall seconds before the step counts as hung
    sabotage: Callable[[Env], None] | None = None   # breaks the behaviour under drill
    sabotaged_params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass
class Outcome:
    drill: str
    verdict: str
    text: str = ""
    seconds: float = 0.0


def perform(drill: Drill, env: Env, *, sabotaged: bool = False) -> Outcome:
    """Run the drill's step with its trouble in place; the verdict and what the step said."""
    import time

    undo = drill.setup(env) if drill.setup else (lambda: None)
    try:
        for fault in drill.faults:
            env.faults.add(**fault)
        if sabotaged and drill.sabotage:
            drill.sabotage(env)
        overrides = {**drill.params, **(drill.sabotaged_params if sabotaged else {})}
        box: dict[str, Any] = {}

        def go() -> None:
            try:
                run = guide.open_run(str(env.params), "drill", "no", **overrides)
                getattr(guide, drill.step)(run)
                box["ok"] = True
            except RunbookError as exc:
                box["error"] = str(exc)
            except BaseException as exc:  # noqa: BLE001 - a drill reports what escaped, it does not crash
                box["error"] = f"{type(exc).__name__}: {exc}"

        started = time.monotonic()
        worker = threading.Thread(target=go, name=f"drill {drill.id}", daemon=True)
        worker.start()
        worker.join(drill.within)
        seconds = time.monotonic() - started
        if worker.is_alive():
            return Outcome(drill.name, HUNG, f"still running after {drill.within:g} s", seconds)
        if "ok" in box:
            return Outcome(drill.name, SURVIVED if drill.expect is None else UNEXPECTED, "", seconds)
        text = box.get("error", "")
        if drill.expect is not None and re.search(drill.expect, text):
            return Outcome(drill.name, RIGHT, text, seconds)
        return Outcome(drill.name, OTHER, text, seconds)
    finally:
        env.faults.clear()
        undo()


def expected(drill: Drill) -> str:
    return SURVIVED if drill.expect is None else RIGHT


# ---- the environment changes ----------------------------------------------------------------------


def without_kubectl(env: Env) -> Callable[[], None]:
    """PATH without the directory that holds kubectl (a learner who never installed it)."""
    import shutil

    found = shutil.which("kubectl")
    assert found, "kubectl is needed to take it away"
    gone, before = os.path.dirname(found), os.environ["PATH"]
    os.environ["PATH"] = os.pathsep.join(d for d in before.split(os.pathsep)
                                         if d and os.path.realpath(d) != os.path.realpath(gone))
    return lambda: os.environ.__setitem__("PATH", before)


def _edit_kubeconfig(env: Env, change: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    before = env.kubeconfig.read_text()
    cfg = yaml.safe_load(before)
    change(cfg)
    env.kubeconfig.write_text(yaml.safe_dump(cfg))
    return lambda: env.kubeconfig.write_text(before)


def other_current_context(env: Env) -> Callable[[], None]:
    """The kubeconfig's current context is another one (as after ``kubectl config use-context other``)."""
    def change(cfg: dict[str, Any]) -> None:
        first = cfg["contexts"][0]["context"]
        cfg["contexts"].append({"name": "other", "context": dict(first)})
        cfg["current-context"] = "other"
    return _edit_kubeconfig(env, change)


def expired_token(env: Env) -> Callable[[], None]:
    """The kubeconfig's token no longer valid (rotated, expired)."""
    def change(cfg: dict[str, Any]) -> None:
        for user in cfg["users"]:
            user["user"]["token"] = "expired-" + "0" * 32
    return _edit_kubeconfig(env, change)


def no_ready_endpoints(env: Env) -> Callable[[], None]:
    """The app's pods all fail their readiness probe: the Service has no ready endpoints."""
    _kubectl(env, "scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=0", check=True)
    _kubectl(env, "wait", "--for=delete", "pod", "-l", "app=in-ambient", "-n", "httpbin", "--timeout=60s",
             check=True)
    return lambda: _kubectl(env, "scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=3",
                            check=True)


def _kubectl(env: Env, *args: str, check: bool = False) -> None:
    import subprocess

    subprocess.run(["kubectl", *args], check=check, capture_output=True, timeout=60,
                   env={**os.environ, "KUBECONFIG": str(env.kubeconfig)})


def removes_gateway_orphan(env: Env) -> Callable[[], None]:
    return lambda: _kubectl(env, "delete", "gateway", "orphan", "-n", "kgateway-system", "--ignore-not-found")


def removes_failing_replica(env: Env) -> Callable[[], None]:
    return lambda: _kubectl(env, "delete", "deployment,configmap", "in-ambient-faulty", "-n", "httpbin",
                            "--ignore-not-found", "--wait=true")


# ---- sabotage ----------------------------------------------------------------------------------------


def no_read_retries(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.kube.READ_ATTEMPTS", 1)


def no_relist(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.kube.RELIST_STATUS", -1)


def no_kubectl_hints(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.kube.KUBECTL_HINTS", ())


def no_install_hints(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.shell.INSTALL_HINTS", {})


def no_endpoints_check(env: Env) -> None:
    from ambient_lb.checks import check

    env.monkeypatch.setattr("ambient_lb.guide.routing.endpoints_check",
                            lambda run, service, namespace: check("not checked", True, ""))


def no_pod_state_hints(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.kube.POD_STATE_HINTS", {})


def no_context_check(env: Env) -> None:
    env.monkeypatch.setattr("ambient_lb.kube.Kube.check_context", lambda self: None)


CLIENT = "OpenAPI-Generator"  # the kubernetes client's User-Agent: aims a fault at the runbook's own reads
DRILLS: tuple[Drill, ...] = (
    # 02.1 reads the namespace and the Service once each (no poll around them to hide a failed read)
    Drill("503 with Retry-After on the runbook's reads", "sample_app",
          faults=({"kind": "error", "status": 503, "retryAfterSeconds": 1, "verbs": ["get"],
                   "resources": ["namespaces"], "userAgent": CLIENT, "count": 2},),
          sabotage=no_read_retries),
    Drill("500 without Retry-After on the runbook's reads", "sample_app",
          faults=({"kind": "error", "status": 500, "verbs": ["get"], "resources": ["services"],
                   "userAgent": CLIENT, "count": 2},),
          sabotage=no_read_retries),
    Drill("429 on the pod list of a wait", "scale_app",
          faults=({"kind": "error", "status": 429, "verbs": ["list"], "resources": ["pods"], "userAgent": CLIENT,
                   "count": 2},),
          sabotage=no_read_retries),
    Drill("connection reset on the runbook's reads", "sample_app",
          faults=({"kind": "reset", "verbs": ["get"], "resources": ["namespaces"], "userAgent": CLIENT,
                   "count": 1},),
          sabotage=no_read_retries),
    Drill("watch closed mid-stream, 410 on resume", "scale_app", params={"app__replicas": 4},
          faults=({"kind": "watch-close", "resources": ["pods"], "count": 2, "seconds": 60},),
          sabotage=no_relist),
    Drill("latency on every request", "http_route",
          faults=({"kind": "latency", "delaySeconds": 0.3, "seconds": 60},),
          sabotaged_params={"timeouts__command": "0.2s"}),
    Drill("a paused API server", "http_route", params={"timeouts__command": "3s"},
          faults=({"kind": "pause", "seconds": 40},),
          expect=r"did not answer", within=30, sabotaged_params={"timeouts__command": "300s"}),
    Drill("500 on kubectl's request", "http_route",  # kubectl apply reads the object first; client-go does not retry
          faults=({"kind": "error", "status": 500, "verbs": ["get"], "resources": ["httproutes"],
                   "userAgent": "kubectl", "count": 1},),
          expect=r"Internal error occurred[\s\S]*kubectl get --raw /readyz", sabotage=no_kubectl_hints),
    Drill("kubectl missing from PATH", "http_route", setup=without_kubectl,
          expect=r"kubectl is not installed or not on PATH[\s\S]*kubectl version --client",
          sabotage=no_install_hints),
    Drill("the current context is another cluster", "http_route", setup=other_current_context,
          expect=r"the current context in .* is 'other'[\s\S]*kubectl config use-context ambient-lb-sim",
          sabotage=no_context_check),
    Drill("an expired token", "http_route", setup=expired_token,
          expect=r"(Unauthorized|provide credentials)[\s\S]*refused the credentials", sabotage=no_kubectl_hints),
    Drill("a Service with no ready endpoints", "traffic_reaches_every_replica", setup=no_ready_endpoints,
          params={"traffic__requests": 6},
          expect=r"Service in-ambient has ready endpoints: no ready endpoints", sabotage=no_endpoints_check),
    Drill("a Gateway whose class has no controller", "gateway", setup=removes_gateway_orphan,
          params={"gateway__name": "orphan", "gateway__class_name": "no-such-class",
                  "timeouts__gateway_ready": "3s"},
          expect=r"Gateway orphan Programmed[\s\S]*(Waiting for controller|Pending)", within=40,
          sabotaged_params={"timeouts__gateway_ready": "300s"}),
    Drill("a replica whose image cannot be pulled", "deploy_failing_replica", setup=removes_failing_replica,
          params={"faulty__image": "nginx:does-not-exist", "timeouts__pods_ready": "5s"},
          expect=r"(ErrImagePull|ImagePullBackOff)[\s\S]*the node cannot pull the image", sabotage=no_pod_state_hints),
    Drill("a replica in CrashLoopBackOff", "deploy_failing_replica", setup=removes_failing_replica,
          params={"faulty__image": "busybox:1.36", "timeouts__pods_ready": "5s"},
          expect=r"CrashLoopBackOff[\s\S]*kubectl logs -n httpbin .* --previous", sabotage=no_pod_state_hints),
)
