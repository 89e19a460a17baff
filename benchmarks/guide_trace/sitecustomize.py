"""Timestamps for benchmarks/bench_guide.py, in every Python process of one benchmarked run.

bench_guide.py puts this directory first on ``PYTHONPATH`` and names a trace directory in
``AMBIENT_LB_BENCH_TRACE``; Python imports ``sitecustomize`` at start-up, so the runner, each notebook's
kernel and the simulator's server process all load this file. It changes no behaviour: after one of
the modules below is imported, a few of its functions are wrapped to append one JSON line per call
to ``<trace dir>/<pid>.jsonl``. Times are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every
process on the machine), so the simulator's "made true" and the kernel's "check passed" compare.

- simulator (``ambient_lb.sim.store``): every store event (the moment the simulator made a change),
  compact: resource, namespace, name, labels, deletion, conditions, a Deployment's rollout counters;
  ``sim.mesh.dataplane``: every outlier EJECT/UNEJECT the waypoint's event log gets (R2.11);
- kernels (``ambient_lb.kube``, ``ambient_lb.checks``, ``ambient_lb.shell``): each watch-based wait, each
  bounded poll (with when its passing attempt began), each process the runbook starts;
- runner (``ambient_lb.runner``): each notebook's execution (wall and monotonic);
- any process: top-level imports of the heavy packages, timed (the outermost import only).

Without ``AMBIENT_LB_BENCH_TRACE`` this file does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import threading
import time

_DIR = os.environ.get("AMBIENT_LB_BENCH_TRACE")
_HEAVY = {"ambient_lb", "pandas", "numpy", "matplotlib", "pyarrow", "kubernetes", "pydantic", "ipywidgets",
          "jsonpath_ng", "urllib3", "yaml", "papermill", "aiohttp", "psutil", "nbformat", "jupyter_client"}


def _role() -> str:
    argv = " ".join(getattr(sys, "orig_argv", sys.argv))
    if "ipykernel" in argv:
        return "kernel"
    if "ambient_lb.sim" in argv and "serve" in argv:
        return "sim"
    if "ambient_lb.cli" in argv or "ambient-lb" in argv:
        return "cli"
    return "other"


_ROLE = _role()
_fd: int | None = None


def emit(**rec: object) -> None:
    global _fd
    if _fd is None:
        _fd = os.open(os.path.join(_DIR or ".", f"{os.getpid()}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    rec.setdefault("pid", os.getpid())
    rec.setdefault("role", _ROLE)
    os.write(_fd, (json.dumps(rec, default=str, separators=(",", ":")) + "\n").encode())


# ---- the simulator --------------------------------------------------------------------------------

def _compact(obj: dict) -> dict:
    md = obj.get("metadata") or {}
    st = obj.get("status") or {}
    out = {"ns": md.get("namespace") or "", "name": md.get("name"), "labels": md.get("labels") or {},
           "deleting": bool(md.get("deletionTimestamp"))}
    conds = st.get("conditions")
    if isinstance(conds, list):
        out["conds"] = {c.get("type"): c.get("status") for c in conds if isinstance(c, dict)}
    if "updatedReplicas" in st or "observedGeneration" in st:
        out["rollout"] = {"generation": md.get("generation"), "observed": st.get("observedGeneration"),
                          "replicas": (obj.get("spec") or {}).get("replicas"),
                          "updated": st.get("updatedReplicas"), "available": st.get("availableReplicas"),
                          "ready": st.get("readyReplicas"), "total": st.get("replicas")}
    return out


def _patch_store(mod: object) -> None:
    Store = mod.Store  # type: ignore[attr-defined]
    init = Store.__init__

    def __init__(self: object, *a: object, **kw: object) -> None:
        init(self, *a, **kw)

        def record(ev: object) -> None:
            gr = ev.gr  # type: ignore[attr-defined]
            if gr.resource in ("events", "leases"):  # chatter no wait looks at
                return
            emit(kind="store", t=time.monotonic(), type=ev.type, rv=ev.rv,  # type: ignore[attr-defined]
                 res=str(gr), **_compact(ev.obj))  # type: ignore[attr-defined]
        self.subscribe(record)  # type: ignore[attr-defined]
    Store.__init__ = __init__


def _patch_dataplane(mod: object) -> None:
    DataPlane = mod.DataPlane  # type: ignore[attr-defined]
    original = DataPlane._outlier_event

    def _outlier_event(self: object, proxy: object, ev: object) -> None:
        emit(kind="outlier", t=time.monotonic(), action=ev.action, address=ev.address,  # type: ignore[attr-defined]
             pod=proxy.pod, enforced=ev.enforced)  # type: ignore[attr-defined]
        original(self, proxy, ev)
    DataPlane._outlier_event = _outlier_event


# ---- the runbook's kernels --------------------------------------------------------------------------

def _patch_kube(mod: object) -> None:
    Kube = mod.Kube  # type: ignore[attr-defined]
    wait_for, watch_pods, rollout = Kube.wait_for, Kube._watch_pods, Kube.rollout_status

    def timed(fn, describe):  # type: ignore[no-untyped-def]
        def wrapper(self, *a, **kw):  # type: ignore[no-untyped-def]
            t0, ok = time.monotonic(), False
            try:
                out = fn(self, *a, **kw)
                ok = True
                return out
            finally:
                emit(kind="wait", t0=t0, t1=time.monotonic(), ok=ok, **describe(*a, **kw))
        return wrapper

    Kube.wait_for = timed(wait_for, lambda kind, name, namespace, done, describe, **kw:
                          {"fn": "wait_for", "res": kind, "name": name, "ns": namespace or "", "what": kw.get("what")})
    Kube._watch_pods = timed(watch_pods, lambda namespace, selector, timeout, done, what, hint:
                             {"fn": "watch_pods", "ns": namespace, "selector": selector, "what": what})
    Kube.rollout_status = timed(rollout, lambda kind, name, namespace=None, **kw:
                                {"fn": "rollout", "res": kind, "name": name, "ns": namespace or ""})


def _patch_checks(mod: object) -> None:
    poll = mod.poll  # type: ignore[attr-defined]

    def traced_poll(name, probe, **kw):  # type: ignore[no-untyped-def]
        starts: list[float] = []

        def probe_timed():  # type: ignore[no-untyped-def]
            starts.append(time.monotonic())
            return probe()
        t0 = time.monotonic()
        result = poll(name, probe_timed, **kw)
        emit(kind="poll", name=name, t0=t0, t1=time.monotonic(), ok=result.ok, attempts=result.attempts,
             last_attempt=starts[-1] if starts else t0)
        return result
    mod.poll = traced_poll  # type: ignore[attr-defined]
    check = mod.check  # type: ignore[attr-defined]

    def traced_check(name, ok, *a, **kw):  # type: ignore[no-untyped-def]
        emit(kind="check", name=name, t=time.monotonic(), ok=bool(ok))
        return check(name, ok, *a, **kw)
    mod.check = traced_check  # type: ignore[attr-defined]
    # the guide's modules did `from ..checks import poll`; they are imported after this hook runs


def _patch_shell(mod: object) -> None:
    run = mod.run  # type: ignore[attr-defined]

    def traced_run(argv, **kw):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        try:
            return run(argv, **kw)
        finally:
            args = list(argv)
            emit(kind="cmd", tool=os.path.basename(str(args[0])), args=[str(a) for a in args[1:4]], t0=t0,
                 t1=time.monotonic(), quiet=not mod._ACTIVE.get())  # type: ignore[attr-defined]
    mod.run = traced_run  # type: ignore[attr-defined]


def _patch_runner(mod: object) -> None:
    execute_one = mod.execute_one  # type: ignore[attr-defined]

    def traced(src, dest, *a, **kw):  # type: ignore[no-untyped-def]
        t0, w0 = time.monotonic(), time.time()
        try:
            return execute_one(src, dest, *a, **kw)
        finally:
            emit(kind="notebook", name=str(getattr(src, "stem", src)), dest=str(dest), t0=t0, t1=time.monotonic(),
                 wall0=w0)
    mod.execute_one = traced  # type: ignore[attr-defined]


PATCHES = {"ambient_lb.sim.store": _patch_store, "ambient_lb.sim.mesh.dataplane": _patch_dataplane,
           "ambient_lb.kube": _patch_kube, "ambient_lb.checks": _patch_checks, "ambient_lb.shell": _patch_shell,
           "ambient_lb.runner": _patch_runner}


# ---- the import hook --------------------------------------------------------------------------------

class _Hook(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a patched or heavy module to act after (or time)
    its execution."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname not in PATCHES and fullname.split(".")[0] not in _HEAVY:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _Loader(spec.loader, fullname)
                return spec
            if spec is not None:
                return spec
        return None


_LOCAL = threading.local()  # import depth per thread (the runbook warms imports in a thread of its own)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, fullname):  # type: ignore[no-untyped-def]
        self.inner, self.fullname = inner, fullname

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return self.inner.create_module(spec)

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        depth = getattr(_LOCAL, "depth", 0)
        _LOCAL.depth = depth + 1
        t0 = time.monotonic()
        try:
            self.inner.exec_module(module)
        finally:
            _LOCAL.depth = depth
            if depth == 0:
                emit(kind="import", module=self.fullname, t0=t0, t1=time.monotonic(),
                     thread=threading.current_thread().name)
        patch = PATCHES.get(self.fullname)
        if patch is not None:
            patch(module)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


if _DIR:
    emit(kind="proc", t=time.monotonic(), argv=" ".join(getattr(sys, "orig_argv", sys.argv))[:200])
    sys.meta_path.insert(0, _Hook())
