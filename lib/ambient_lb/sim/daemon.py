"""The simulator as a detached background process: what ``ambient-lb sim up`` starts and ``sim down``
stops.

``start_background`` runs ``python -m ambient_lb.sim serve`` in its own session so it outlives the
caller (the notebooks share it), waits on the child's ready pipe (an event, bounded by
``READY_TIMEOUT``), and writes a kubeconfig: context ``ambient-lb-sim`` at ``https://127.0.0.1:<port>``
with the server's self-signed certificate as ``certificate-authority-data`` and a random bearer
token the server requires (kubectl sends a token only to an https server, see ``server/tls.py``).
Its state (pid, port, token file, log) lives in a directory next to the kubeconfig; starting twice
on the same kubeconfig reports the running one. ``running_simulator_process`` does the same in a
private directory and stops it on exit (tests).

The token never appears in argv or logs: the child reads it from a 0600 file. The kubeconfig, the token,
the TLS key and the state file are 0600, their directory 0700; the server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ParameterError, SimulatorError
from .in_process import Simulator
from .kubeconfig import CONTEXT, DEFAULT_KUBECONFIG, is_ours, kubeconfig_text, write_private

READY_TIMEOUT = 30.0  # wall seconds `sim up` waits for the child to answer


def state_dir(kubeconfig: Path) -> Path:
    """The directory beside ``kubeconfig`` where ``sim up`` keeps the server's pid, port, token and log."""
    return kubeconfig.parent / f".{kubeconfig.name}.sim"


def _read_state(kubeconfig: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir(kubeconfig) / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(state: dict[str, Any]) -> bool:
    """Our server is running: the pid lives, is ours, and answers /readyz."""
    pid = int(state.get("pid") or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if "ambient_lb.sim" not in cmdline:
        return False
    try:
        ctx = ssl.create_default_context(cafile=state["ca_file"]) if state.get("ca_file") else None
        with urllib.request.urlopen(f"{state['url']}/readyz", timeout=2, context=ctx) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, KeyError, ssl.SSLError):
        return False


def _wait_ready(read_fd: int, proc: subprocess.Popen[bytes], log_file: Path, timeout: float) -> dict[str, Any]:
    """Block on the child's ready pipe (event-driven, bounded); returns ``{"port": N, "contexts":
    {context: port}}`` as the child wrote it."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(read_fd, selectors.EVENT_READ)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise SimulatorError(f"the simulator did not answer within {timeout:.0f} s; see {log_file}")
            chunk = os.read(read_fd, 256)
            if not chunk:
                tail = _tail(log_file)
                raise SimulatorError(f"the simulator exited during start-up (exit code {proc.poll()}); "
                                     f"last lines of {log_file}:\n{tail}")
            data += chunk
    finally:
        sel.close()
        os.close(read_fd)
    return json.loads(data.split(b"\n")[0])


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _topology_arg(topology: str) -> str:
    """A file becomes an absolute path (the child runs elsewhere); a built-in name stays a name."""
    p = Path(topology)
    return str(p.resolve()) if p.exists() else str(topology)


EXIT_WITH_PID_ENV = "AMBIENT_LB_SIM_EXIT_WITH_PID"


def start_background(kubeconfig: Path, *, seed: int = 0, speed: float = 1.0, topology: str | None = None,
                     port: int = 0, timeout: float = READY_TIMEOUT,
                     exit_with_pid: int | None = None, strict: bool = False) -> tuple[Simulator, bool]:
    """Start a detached server for ``kubeconfig`` (or find the running one); (sim, started?).
    ``strict``: the simulator ignores its fault annotations (``sim up --strict``).

    The server outlives its caller (``sim up``), unless ``exit_with_pid`` (or the environment variable
    ``AMBIENT_LB_SIM_EXIT_WITH_PID``, which the test suite sets) names a process whose exit stops it.
    """
    if exit_with_pid is None and os.environ.get(EXIT_WITH_PID_ENV, "").isdigit():
        exit_with_pid = int(os.environ[EXIT_WITH_PID_ENV])
    kubeconfig = kubeconfig.expanduser().resolve()
    if not is_ours(kubeconfig):
        raise ParameterError(f"--kubeconfig {kubeconfig}: that file exists and is not a simulator kubeconfig "
                             "(it has other contexts); the simulator writes its own file, so pick a new path, "
                             f"e.g. --kubeconfig {DEFAULT_KUBECONFIG}")
    state = _read_state(kubeconfig)
    if state and _alive(state):
        return Simulator(url=state["url"], token="", kubeconfig=kubeconfig, pid=state["pid"]), False
    sdir = state_dir(kubeconfig)
    sdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(sdir, 0o700)  # also when an earlier run (or a person) left it open: it holds the token and key
    from .server.tls import self_signed

    token, identity = secrets.token_urlsafe(32), self_signed()
    token_file, log_file = sdir / "token", sdir / "server.log"
    ca_file, key_file = sdir / "tls.crt", sdir / "tls.key"
    write_private(token_file, token + "\n")
    write_private(ca_file, identity.cert_pem.decode())
    write_private(key_file, identity.key_pem.decode())
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", "ambient_lb.sim", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--seed", str(seed), "--speed", str(speed), "--token-file", str(token_file),
            "--tls-cert", str(ca_file), "--tls-key", str(key_file), "--ready-fd", str(write_fd)] \
        + (["--topology", _topology_arg(topology)] if topology else []) \
        + (["--exit-with-pid", str(exit_with_pid)] if exit_with_pid else []) + (["--strict"] if strict else [])
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_fd,),
                                start_new_session=True, close_fds=True)
    os.close(write_fd)
    try:
        ready = _wait_ready(read_fd, proc, log_file, timeout)
    except SimulatorError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    bound = int(ready["port"])
    url = f"https://127.0.0.1:{bound}"
    contexts = {n: f"https://127.0.0.1:{p}" for n, p in (ready.get("contexts") or {CONTEXT: bound}).items()}
    others = {n: u for n, u in contexts.items() if n != CONTEXT}
    write_private(kubeconfig, kubeconfig_text(url, token, identity.cert_pem, others=others))
    new_state = {"pid": proc.pid, "url": url, "port": bound, "token_file": str(token_file), "ca_file": str(ca_file),
                 "log_file": str(log_file), "kubeconfig": str(kubeconfig), "seed": seed, "speed": speed,
                 "topology": topology, "strict": strict, "contexts": contexts, "started": time.time()}
    write_private(sdir / "state.json", json.dumps(new_state, indent=2) + "\n")
    return Simulator(url=url, token=token, kubeconfig=kubeconfig, pid=proc.pid, ca_pem=identity.cert_pem,
                     contexts=contexts), True


def stop_background(kubeconfig: Path, timeout: float = 15.0) -> bool:
    """Stop the server started for ``kubeconfig``; False if none was running."""
    import psutil

    kubeconfig = kubeconfig.expanduser().resolve()
    state = _read_state(kubeconfig)
    running = bool(state and _alive(state))
    if state and running:
        try:
            proc = psutil.Process(int(state["pid"]))
            proc.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs([proc], timeout=timeout)
            for p in alive:
                p.kill()
        except psutil.NoSuchProcess:
            pass
    sdir = state_dir(kubeconfig)
    for name in ("state.json", "token", "tls.key", "tls.crt"):
        with contextlib.suppress(FileNotFoundError):
            (sdir / name).unlink()
    if state and is_ours(kubeconfig):
        with contextlib.suppress(FileNotFoundError):
            kubeconfig.unlink()
    return running


@contextlib.contextmanager
def running_simulator_process(*, seed: int = 0, speed: float = 1.0, topology: str | None = None,
                              workdir: str | Path | None = None, strict: bool = False) -> Iterator[Simulator]:
    """A simulator as a separate process (like ``sim up``) in a private directory, stopped on exit."""
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ambient-lb-sim-")))
        kubeconfig = root / "kubeconfig"
        sim, _ = start_background(kubeconfig, seed=seed, speed=speed, topology=topology,
                                  exit_with_pid=os.getpid(), strict=strict)
        stack.callback(stop_background, kubeconfig)
        yield sim
