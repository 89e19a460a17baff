"""The security checks, as small functions that return what they found wrong (an empty list: nothing).

Each check is used twice: by the test of the real behaviour, and by a test that breaks the behaviour
on purpose (an authenticator that lets everyone in, a listener on 0.0.0.0, a kubeconfig left 0644, the
canary on a command line or in a child's environment, a YAML bomb let through) and sees the check
report it. So no check passes by not looking.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import urllib3

# ---------------------------------------------------------------------------------------------
# 401 everywhere (docs/semantics-addendum.md R16.27)

#: what a request without credentials may read on the simulator, as system:public-info-viewer allows it
PUBLIC = ("/healthz", "/livez", "/readyz", "/version", "/version/")
UNAUTHORIZED = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",'
                b'"reason":"Unauthorized","code":401}\n')
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
NON_RESOURCE = ("/", "/api", "/apis", "/api/v1", "/apis/apps", "/apis/apps/v1", "/openapi/v2", "/openapi/v3",
                "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1", "/version", "/version/", "/healthz",
                "/healthz/ping", "/healthz/etcd", "/livez", "/livez/ping", "/readyz", "/readyz/shutdown",
                "/metrics", "/logs", "/logs/kube-apiserver.log", "/debug/pprof/", "/debug/flags/v",
                "/.well-known/openid-configuration", "/openid/v1/jwks", "/ui", "/swagger.json",
                "/swaggerapi", "/api/v1/watch/pods", "/apis/authentication.k8s.io/v1/tokenreviews")
#: Authorization headers that carry no credential: the request is anonymous
ANONYMOUS = (None, "Basic YWRtaW46YWRtaW4=", "Bearer ")


def wrong_tokens(token: str) -> tuple[str, ...]:
    """Bearer tokens the API server must refuse: wrong, a prefix, one character more, another case."""
    return ("Bearer wrong-token", f"Bearer {token[:-1]}", f"Bearer {token}x", f"bearer {token.upper()}",
            f"Bearer {token[::-1]}")


def api_paths(discovery: dict[str, list[dict[str, Any]]], seed: int = 12) -> list[str]:
    """Every path a client could ask for: each discovered resource (``/api/v1`` and every ``/apis``
    group version) as a collection, cluster-wide and in a namespace, as an object and each of its
    subresources (``exec``, ``portforward``, ``proxy``, ``log``, ``status``, ``scale``, …), watches, the
    non-resource paths a cluster serves, and random junk."""
    paths = list(NON_RESOURCE)
    for base, resources in discovery.items():
        paths.append(base)
        for r in resources:
            name, sub = (r["name"].split("/", 1) + [""])[:2]
            where = [f"{base}/namespaces/default/{name}", f"{base}/{name}"] if r["namespaced"] else [f"{base}/{name}"]
            for collection in where:
                paths += [collection, f"{collection}?watch=true", f"{collection}/x"] if not sub else \
                    [f"{collection}/x/{sub}" + ("?command=sh&stdin=true&tty=true" if sub in ("exec", "attach") else "")]
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-._~%2F%2e"
    for _ in range(60):
        parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 6))]
        prefix = rng.choice(["", "/api", "/apis", "/api/v1/namespaces/default", "/apis/apps/v1", "/openapi/v3"])
        paths.append(prefix + "/" + "/".join(parts))
    paths += ["/" + "a" * 3000, "/api/v1/namespaces/../../healthz", "//healthz", "/healthz/../api",
              "/api/v1/namespaces/default/pods/x/exec?command=" + "%41" * 200]
    return sorted(set(paths))


def discover(pool: urllib3.HTTPSConnectionPool, token: str) -> dict[str, list[dict[str, Any]]]:
    """Group version base path -> its resources (legacy discovery, read with the token)."""
    auth = {"Authorization": f"Bearer {token}"}
    out: dict[str, list[dict[str, Any]]] = {}
    bases = [f"/api/{v}" for v in json.loads(pool.request("GET", "/api", headers=auth).data)["versions"]]
    for g in json.loads(pool.request("GET", "/apis", headers=auth).data)["groups"]:
        bases += [f"/apis/{v['groupVersion']}" for v in g["versions"]]
    for base in bases:
        out[base] = json.loads(pool.request("GET", base, headers=auth).data)["resources"]
    return out


@dataclass
class Answer:
    method: str
    path: str
    authorization: str | None
    status: int
    body: bytes
    content_type: str

    def __str__(self) -> str:
        who = "no credentials" if self.authorization is None else repr(self.authorization[:16])
        return f"{self.method} {self.path[:80]} ({who}) -> {self.status} {self.body[:100]!r}"


def ask(pool: urllib3.HTTPSConnectionPool, method: str, path: str, authorization: str | None) -> Answer:
    headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = b'{"metadata": {"name": "x"}}' if method in ("POST", "PUT", "PATCH") else None
    r = pool.urlopen(method, path, body=body, headers=headers, retries=False, redirect=False,
                     preload_content=True, assert_same_host=False)
    return Answer(method, path, authorization, r.status, r.data, r.headers.get("Content-Type", ""))


def expected(method: str, path: str, authorization: str | None, wrong: bool) -> int:
    """R16.27: 401 for a wrong token anywhere and for no credentials off the public paths; on them,
    200 for GET and 403 for any other method."""
    if wrong or path.split("?")[0] not in PUBLIC:
        return 401
    return 200 if method == "GET" else 403


def authentication_violations(answers: Iterable[Answer], wrong: bool) -> list[str]:
    """Every answer that is not what R16.27 says, with a 401 that is not the API server's Status body."""
    bad = []
    for a in answers:
        want = expected(a.method, a.path, a.authorization, wrong)
        if a.status != want:
            bad.append(f"{a}: expected {want}")
        elif want == 401 and (a.body if a.method != "HEAD" else UNAUTHORIZED) != UNAUTHORIZED:
            bad.append(f"{a}: a 401 without the Unauthorized Status body")
        elif want == 401 and not a.content_type.startswith("application/json"):
            bad.append(f"{a}: a 401 answered as {a.content_type}")
        elif want == 403 and a.method != "HEAD" and json.loads(a.body)["message"] != \
                f'forbidden: User "system:anonymous" cannot {a.method.lower()} path "{a.path.split("?")[0]}"':
            bad.append(f"{a}: not the authorization filter's 403")
    return bad


# ---------------------------------------------------------------------------------------------
# Loopback only

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every socket process ``pid`` listens on (TCP, IPv4 and IPv6)."""
    return [(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def exposed(listeners: Iterable[tuple[str, int]]) -> list[str]:
    """The listeners reachable from another machine: any address outside 127.0.0.0/8 and ::1."""
    out = []
    for ip, port in listeners:
        addr = ipaddress.ip_address(ip.split("%")[0])
        if not (addr in LOOPBACK or addr == ipaddress.ip_address("::1")):
            out.append(f"{ip}:{port}")
    return out


# ---------------------------------------------------------------------------------------------
# File modes

def loose_modes(files: Iterable[Path], dirs: Iterable[Path] = ()) -> list[str]:
    """Files that others than the owner can read or write (not 0600), directories not 0700."""
    out = []
    for path, want in [*((f, 0o600) for f in files), *((d, 0o700) for d in dirs)]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != want:
            out.append(f"{path} is {oct(mode)}, expected {oct(want)}")
    return out


# ---------------------------------------------------------------------------------------------
# The license canary

#: processes of the runbook itself, which hold the key to hand it to helm: `ambient-lb run` and its kernels
RUNBOOK_PROCESSES = (("-m", "ambient_lb.cli", "run"), ("-m", "ipykernel_launcher"))


def is_runbook(argv: list[str]) -> bool:
    return any(_contains(argv, marker) for marker in RUNBOOK_PROCESSES)


def _contains(argv: list[str], marker: tuple[str, ...]) -> bool:
    return any(tuple(argv[i:i + len(marker)]) == marker for i in range(len(argv)))


@dataclass
class Seen:
    pid: int
    argv: list[str]
    argv_holds: bool
    environ_holds: bool


@dataclass
class ProcessSampler:
    """Reads ``/proc/*/cmdline`` and ``/proc/*/environ`` of every process, every ``period`` seconds,
    while it runs (a thread): which ones held ``needle`` in argv or environment. Every process on the
    machine is read, not only this one's descendants: the simulator server outlives ``sim up`` and is
    reparented. A unique needle makes another user's processes irrelevant."""

    needle: bytes
    period: float = 0.02
    seen: dict[tuple[int, bytes], Seen] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProcessSampler:
        self._thread = threading.Thread(target=self._run, name="canary-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)
        self.sample()  # once more, for whatever runs at the end

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def sample(self) -> None:
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if (int(entry), cmdline) in self.seen or not cmdline:
                    continue
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:  # gone, or not ours to read
                continue
            argv = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
            self.seen[(int(entry), cmdline)] = Seen(int(entry), argv, self.needle in cmdline, self.needle in environ)
        self.samples += 1

    def named(self, word: str) -> list[Seen]:
        """The processes seen whose argv mentions ``word`` (``kubectl``, ``ambient_lb.sim``)."""
        return [s for s in self.seen.values() if any(word in a for a in s.argv)]


def canary_leaks(seen: Iterable[Seen]) -> list[str]:
    """The canary on any command line, or in the environment of any process but the runbook's own."""
    out = []
    for s in seen:
        if s.argv_holds:
            out.append(f"pid {s.pid} has it on its command line: {' '.join(s.argv)[:160]}")
        if s.environ_holds and not is_runbook(s.argv):
            out.append(f"pid {s.pid} has it in its environment: {' '.join(s.argv)[:160]}")
    return out


def files_holding(needle: bytes, *roots: Path, skip: Iterable[Path] = ()) -> list[str]:
    """Every file under ``roots`` (not under ``skip``) whose bytes contain ``needle``."""
    skipped = [p.resolve() for p in skip]
    out = []
    for root in roots:
        for p in sorted(root.rglob("*")):
            if any(p.resolve().is_relative_to(s) for s in skipped) or not p.is_file() or p.is_symlink():
                continue
            try:
                if needle in p.read_bytes():
                    out.append(str(p))
            except OSError:
                continue
    return out


SPY = """#!/bin/sh
# records whether this {tool} call had the canary on argv or in its environment, then becomes {tool}
e=0; a=0
grep -qaFf '{needle_file}' /proc/$$/environ && e=1
grep -qaFf '{needle_file}' /proc/$$/cmdline && a=1
printf '%s %s %s\\n' "$$" "$e" "$a" >> '{log}'
exec '{real}' "$@"
"""


def install_spy(tool: str, real: str, bindir: Path, needle: bytes, log: Path) -> None:
    """A ``tool`` on ``bindir`` that logs ``pid env-hit argv-hit`` per call and execs the real one (the
    needle is read from a file, so no grep command line of the spy holds it)."""
    needle_file = bindir / f".{tool}.needle"
    needle_file.write_bytes(needle)
    script = bindir / tool
    script.write_text(SPY.format(tool=tool, needle_file=needle_file, log=log, real=real))
    script.chmod(0o755)


def spy_leaks(log: Path) -> tuple[int, list[str]]:
    """(calls logged, the calls that had the canary in argv or environment)."""
    lines = log.read_text().splitlines() if log.exists() else []
    bad = [f"pid {pid}: " + ("environment " if e == "1" else "") + ("argv" if a == "1" else "")
           for pid, e, a in (line.split() for line in lines) if "1" in (e, a)]
    return len(lines), bad


# ---------------------------------------------------------------------------------------------
# Hostile input

def unclear_refusal(message: str, names: str, reason: str, example: str) -> list[str]:
    """What a refusal message lacks: the thing it names, what was wrong, an example of a good value;
    and it must be short (a bomb must not come back inside its own error)."""
    out = [f"does not name {names!r}"] if names not in message else []
    out += [f"does not say {reason!r}"] if reason not in message else []
    out += [f"has no example {example!r}"] if example not in message else []
    out += [f"is {len(message)} characters long"] if len(message) > 2000 else []
    return out


def laughs(levels: int, fanout: int, indent: str = "") -> str:
    """A "billion laughs" YAML mapping: ``a0`` holds ``fanout`` strings, each ``a<i>`` ``fanout``
    aliases of ``a<i-1>`` (``fanout ** (levels + 1)`` strings once expanded)."""
    lines = [f"{indent}a0: &a0 [" + ", ".join(["lol"] * fanout) + "]"]
    lines += [f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def nested(levels: int) -> str:
    """A YAML (and JSON) value nested ``levels`` deep, in flow style."""
    return "[" * levels + "]" * levels
