"""Run one argv with a timeout, show it as the line a learner would type, and keep secrets out.

Called by ``kube.py`` (kubectl) and ``helm.py`` (helm); nothing else starts processes. Every run
is recorded in each active :class:`CommandLog` so a notebook step can show the commands it ran.
Secrets (:class:`Secret`, e.g. the license key) are replaced by ``${LICENSE_KEY}`` or
``<redacted>`` in the display line, in the stdout/stderr kept in results, and in error messages.
A secret on argv would be visible to ``ps``, so :func:`run` refuses one there: wrappers pass
secrets through stdin or a private file instead (see ``helm.py``); the display line may still
show the guide's ``--set-string licensing.licenseKey=${LICENSE_KEY}``. Nor does a secret ride along in
a child's environment (``/proc/<pid>/environ``): every process started here gets :func:`child_env`,
the runbook's environment without the variables in ``WITHHELD`` (``LICENSE_KEY``, and whatever
``license.env_var`` the params name, which ``params`` adds with :func:`withhold`). kubectl, helm and
``ambient-lb sim up`` need none of them: helm gets the key from a private values file.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ClusterError, TimedOut, ToolMissing

log = logging.getLogger(__name__)

INSTALL_HINTS = {
    "kubectl": "install kubectl: on this project's machine image it ships with the Google Cloud SDK "
               "apt package (`sudo apt-get install kubectl`); elsewhere follow "
               "https://kubernetes.io/docs/tasks/tools/#kubectl, then check `kubectl version --client`",
    "helm": "install helm 3: the official script https://helm.sh/docs/intro/install/#from-script "
            "(get-helm-3) or a package (`brew install helm`, `sudo snap install helm --classic`); "
            "target sim does not need helm",
}
STDERR_TAIL_LINES = 12
#: environment variables that hold secrets: never passed to a child process (see child_env)
WITHHELD: set[str] = {"LICENSE_KEY"}


@dataclass(frozen=True)
class Secret:
    """A secret value and the name of the environment variable it came from (shown instead of it)."""

    value: str = field(repr=False)
    name: str | None = None

    @property
    def reference(self) -> str:
        """What a learner would type in its place: ``${LICENSE_KEY}``, or ``<redacted>``."""
        return f"${{{self.name}}}" if self.name else "<redacted>"

    def __str__(self) -> str:
        return self.reference


def as_secrets(secrets: Iterable[Secret | str]) -> tuple[Secret, ...]:
    """Normalise plain strings to anonymous Secrets; empty values are dropped (nothing to hide)."""
    out = (s if isinstance(s, Secret) else Secret(str(s)) for s in secrets)
    return tuple(s for s in out if s.value)


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace every secret value in ``text`` by its reference."""
    for secret in sorted(as_secrets(secrets), key=lambda s: -len(s.value)):
        text = text.replace(secret.value, secret.reference)
    return text


def display_line(argv: Sequence[str], secrets: Iterable[Secret | str] = ()) -> str:
    """The shell line for ``argv``: quoted like ``shlex.join``, secrets as ``${NAME}`` references."""
    found = as_secrets(secrets)
    return " ".join(_quote_arg(arg, found) for arg in argv)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as a learner types it: ``~/.ambient-lb/sim/kubeconfig`` under the home directory, so
    a shown command holds no machine-specific home path and runs as shown for anyone."""
    text = os.fspath(path)
    home = os.path.expanduser("~")
    if home not in ("", "/") and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")):]
    return text


def _quote_arg(arg: str, secrets: tuple[Secret, ...]) -> str:
    hits = [s for s in secrets if s.value in arg]
    if not hits:
        return shlex.quote(arg)
    secret = max(hits, key=lambda s: len(s.value))
    pieces = arg.split(secret.value)
    return secret.reference.join(_quote_arg(p, secrets) if p else "" for p in pieces)


@dataclass
class CommandResult:
    """Shaped like ``subprocess.CompletedProcess``, plus the display line and the duration."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    display: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    def check_returncode(self) -> CommandResult:
        """Raise ClusterError if the command failed (like ``CompletedProcess.check_returncode``)."""
        if self.returncode != 0:
            raise ClusterError(f"command failed: {self.args[0]}", argv_display=self.display,
                               returncode=self.returncode, stderr_tail=tail(self.stderr),
                               hint=_failure_hint(self.args[0]))
        return self


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last lines of ``text``, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _failure_hint(tool: str) -> str:
    return f"read the {tool} error above; rerun the displayed command in a terminal to see it live"


# ---------------------------------------------------------------------------------------------
# The command log: what a step ran, for notebooks to show.

_ACTIVE: contextvars.ContextVar[tuple[CommandLog, ...]] = contextvars.ContextVar("command_logs", default=())


class CommandLog:
    """Records every command run while it is active (``with CommandLog() as log:``)."""

    def __init__(self) -> None:
        self.entries: list[CommandResult] = []
        self._tokens: list[contextvars.Token[tuple[CommandLog, ...]]] = []

    def record(self, result: CommandResult) -> None:
        """Appends a command's result to the log."""
        self.entries.append(result)

    def lines(self) -> list[str]:
        """The display lines, in order."""
        return [r.display for r in self.entries]

    def as_text(self) -> str:
        """A transcript: ``$ command`` per entry, with its exit code when it failed."""
        out = []
        for r in self.entries:
            out.append(f"$ {r.display}" + ("" if r.ok else f"   # exit code {r.returncode}"))
        return "\n".join(out)

    def __iter__(self) -> Iterator[CommandResult]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __enter__(self) -> CommandLog:
        self._tokens.append(_ACTIVE.set(_ACTIVE.get() + (self,)))
        return self

    def __exit__(self, *exc: Any) -> None:
        _ACTIVE.reset(self._tokens.pop())


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run commands without recording them (plumbing a learner would not type)."""
    token = _ACTIVE.set(())
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def record(result: CommandResult) -> None:
    """Add a result to every active log (also used for stood-in commands, e.g. helm on sim)."""
    for active in _ACTIVE.get():
        active.record(result)
    log.debug("ran: %s (exit %s, %.2fs)", result.display, result.returncode, result.duration)


# ---------------------------------------------------------------------------------------------
# Running.


def withhold(name: str) -> None:
    """Keep the environment variable ``name`` (it holds a secret) out of every child's environment."""
    WITHHELD.add(name)


_IN_MEMORY: dict[str, str] = {}  # secrets moved out of this process's environment (keep_in_memory)


def keep_in_memory(name: str) -> None:
    """Move the secret ``name`` from this process's environment into its memory, and withhold it: then no
    child that any library starts (matplotlib runs ``fc-list`` to build its font cache) inherits it, while
    :func:`secret_value` still reads it. The notebook kernels do this; ``ambient-lb run`` must not (it
    passes the key on to the kernels it starts)."""
    withhold(name)
    if name in os.environ:
        _IN_MEMORY[name] = os.environ.pop(name)


@contextlib.contextmanager
def secrets_kept_in_memory(names: Iterable[str]) -> Iterator[None]:
    """For a command's lifetime: :func:`keep_in_memory` for ``names``, then the environment as it was.

    ``ambient-lb`` runs every command inside this, so a library's child (matplotlib's ``fc-list`` when the
    room page draws its histogram) never inherits the license key; the children that need it (a notebook
    kernel, an attendee's ``ambient-lb run``) get it from :func:`passing_secrets`."""
    moved = {n: os.environ.pop(n) for n in list(names) if n in os.environ}
    WITHHELD.update(names)
    _IN_MEMORY.update(moved)
    try:
        yield
    finally:
        for name, value in moved.items():
            _IN_MEMORY.pop(name, None)
            os.environ.setdefault(name, value)


def passing_secrets(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child that needs the secrets kept in memory (a notebook kernel, an
    ``ambient-lb run``): this process's environment, plus ``env``, plus those secrets."""
    return {**os.environ, **(env or {}), **_IN_MEMORY}


def secret_value(name: str) -> str:
    """The secret ``name`` from the environment, or from memory once :func:`keep_in_memory` moved it there."""
    return os.environ.get(name) or _IN_MEMORY.get(name, "")


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a child process gets: this one plus ``env``, without the ``WITHHELD`` secrets."""
    return {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in WITHHELD}


def run(argv: Sequence[str], *, timeout: float | Any, input: str | None = None,
        env: Mapping[str, str] | None = None, secrets: Iterable[Secret | str] = (),
        check: bool = True, display: str | None = None, show_input: bool = False,
        cwd: str | os.PathLike[str] | None = None) -> CommandResult:
    """Run ``argv`` (a list, never a shell string) and return its redacted result.

    Args:
        timeout: seconds, or anything with ``.seconds`` (a params Duration).
        input: text for stdin. ``show_input`` adds it to the display as a heredoc.
        env: variables added to the inherited environment (which never carries ``WITHHELD`` secrets).
        secrets: values to redact everywhere (display, stdout, stderr, errors).
        check: raise ClusterError on a non-zero exit.
        display: the learner-facing line if it differs from argv (redacted all the same).
    """
    argv = _checked_argv(argv)
    found = as_secrets(secrets)
    _refuse_secret_on_argv(argv, found)
    seconds = float(getattr(timeout, "seconds", timeout))
    full_env = child_env(env)
    exe = _resolve(argv[0], full_env)
    shown = redact(display or display_line(argv, found), found)
    if show_input and input:
        shown += " <<'EOF'\n" + redact(input.rstrip("\n"), found) + "\nEOF"
    started = time.monotonic()
    rc, out, err = _communicate([exe, *argv[1:]], input, full_env, seconds, shown, found, cwd)
    result = CommandResult(list(argv), rc, redact(out, found), redact(err, found), shown,
                           time.monotonic() - started)
    record(result)
    return result.check_returncode() if check else result


def _checked_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError(f"argv must be a non-empty list of strings, e.g. ['kubectl', 'version'], got {argv!r}")
    bad = [a for a in argv if not isinstance(a, str)]
    if bad:
        raise TypeError(f"argv items must be strings; convert {bad!r} with str() first")
    return list(argv)


def _refuse_secret_on_argv(argv: list[str], secrets: tuple[Secret, ...]) -> None:
    """Any user on the machine can read argv (``ps``); secrets go through stdin or a 0600 file."""
    for secret in secrets:
        if any(secret.value in arg for arg in argv):
            raise ValueError(f"refusing to put the secret {secret.reference} on a command line where `ps` "
                             "shows it; pass it with input= (stdin) or a private file (see helm.py)")


def _resolve(tool: str, env: Mapping[str, str] | None) -> str:
    path = (env or os.environ).get("PATH")
    exe = shutil.which(tool, path=path)
    if exe is None:
        hint = INSTALL_HINTS.get(os.path.basename(tool), f"install {tool} and make sure it is on PATH")
        raise ToolMissing(f"{tool} is not installed or not on PATH", tool=tool, hint=hint)
    return exe


def _communicate(argv: list[str], input: str | None, env: Mapping[str, str] | None, seconds: float,
                 shown: str, secrets: tuple[Secret, ...],
                 cwd: str | os.PathLike[str] | None) -> tuple[int, str, str]:
    held: list[int] = []
    previous = _hold_sigint(held)  # a Ctrl-C while the child starts must not lose the handle on it
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=cwd, start_new_session=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        if held:  # delivered now, where the child is known: the handler below stops it
            signal.raise_signal(signal.SIGINT)
        out, err = proc.communicate(input, timeout=seconds)
    except subprocess.TimeoutExpired:
        stop_process_group(proc)
        out, err = proc.communicate()
        record(CommandResult(argv, -9, redact(out, secrets), redact(err, secrets), shown, seconds))
        raise TimedOut(f"{os.path.basename(argv[0])} did not finish within {seconds:g}s",
                       argv_display=shown, stderr_tail=tail(redact(err or "", secrets)) or None,
                       hint="check that the cluster is reachable (kubectl cluster-info) or raise the "
                            "timeout in params (timeouts.command)") from None
    except BaseException:  # KeyboardInterrupt: Jupyter's stop button, or `ambient-lb run` stopping on a signal
        stop_process_group(proc)  # the child runs in a session of its own: no signal reached it
        record(CommandResult(argv, -int(signal.SIGINT), "", "", shown, seconds))  # the step shows it, stopped
        raise
    return proc.returncode, out, err


def _hold_sigint(held: list[int]) -> Any:
    """In the main thread, note a SIGINT in ``held`` instead of raising it; the handler it replaced (the
    caller puts it back), or None elsewhere (only the main thread gets signals). A KeyboardInterrupt
    raised inside ``Popen``, after the fork and before it returns, would orphan the child."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))


def stop_process_group(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """Terminate a process started with ``start_new_session=True`` and its children; kill if needed."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
