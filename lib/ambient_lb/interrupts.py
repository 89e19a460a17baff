"""SIGINT, SIGTERM and SIGHUP during ``ambient-lb run``: noticed, the notebook's kernel stopped cleanly, nothing
left behind.

Called by ``runner.py``. Inside ``with SignalWatch() as signals:`` the two signals are recorded, not
raised, and :meth:`SignalWatch.call` runs a notebook in a worker thread: nbclient (inside papermill)
takes SIGINT and SIGTERM for itself only in the main thread, so in a worker it leaves them to us. The
main thread waits for one of two events, the notebook done or a signal (``signal.set_wakeup_fd``,
no polling). On the first signal no new cell starts (:meth:`SignalWatch.refuse_new_cells`, papermill's
``on_cell_execute`` hook) and the kernel gets SIGINT, as from Jupyter's stop button: the running step
records that it was interrupted and stops its commands (``shell.run`` kills its child), and papermill
writes the partial notebook and shuts the kernel down. If that takes longer than ``GRACE`` seconds, or
a second signal comes, every process below the runner is stopped (:func:`stop_descendants`). The
simulator is never stopped: it is detached and shared (``ambient-lb sim up``), and keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# SIGHUP: the terminal that started the run closed (an ssh session dropped); without it the run died at once,
# leaving its kernel and the step's commands running and no summary written
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 10.0  # seconds the kernel gets to stop its step after SIGINT, before everything is stopped
SETTLE = 30.0  # seconds papermill gets to write the notebook once the kernel is gone


def exit_code(signum: int) -> int:
    """What a shell reports for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signum


def name(signum: int) -> str:
    """``SIGINT`` for 2, ``SIGTERM`` for 15."""
    return signal.Signals(signum).name


class Stopped(RuntimeError):
    """Raised in papermill's worker instead of starting a cell once a signal came."""


class SignalWatch:
    """While active, SIGINT, SIGTERM and SIGHUP are recorded (``received``: the first one) instead of raised.

    Outside the main thread signals cannot be watched (Python delivers them to the main thread only):
    the watch is then inert and :meth:`call` simply calls.
    """

    def __init__(self, announce: Callable[[str], None] | None = None) -> None:
        self.announce = announce or (lambda text: None)  # says what happens on a signal (the runner prints it)
        self.received: int | None = None
        self.stopping = threading.Event()
        self._socks: tuple[socket.socket, socket.socket] | None = None
        self._old_handlers: dict[int, Any] = {}
        self._old_fd = -1
        self._tree: list[Any] = []  # the processes below the runner when the first signal came

    def __enter__(self) -> SignalWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._socks = socket.socketpair()
        for s in self._socks:
            s.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._socks[1].fileno(), warn_on_full_buffer=False)
        self._old_handlers = {s: signal.signal(s, _note) for s in SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._socks is None:
            return
        for s, handler in self._old_handlers.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._old_fd)
        for sock in self._socks:
            sock.close()
        self._socks = None

    def pending(self) -> int | None:
        """The first signal received so far (reads what has arrived, without waiting)."""
        self._read()
        return self.received

    def refuse_new_cells(self, **_: Any) -> None:
        """papermill's ``on_cell_execute`` hook: once a signal came, no further cell starts."""
        if self.stopping.is_set():
            got = name(self.received or signal.SIGINT)
            raise Stopped(f"stopped before this cell: ambient-lb run received {got}")

    def sweep(self) -> list[str]:
        """After an interrupted notebook: stop whatever is left below the runner, and what was there
        when the signal came (a ``kubectl`` the kernel left has init as its parent by now)."""
        return stop_descendants(also=self._tree)

    def call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` in a worker thread, its result returned (its exception raised); on a signal, the
        kernel is stopped as the module says. None if the worker did not end even then."""
        if self._socks is None:
            return fn()
        done_r, done_w = socket.socketpair()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the main thread, raised there
                box["error"] = exc
            finally:
                _close_thread_loop()
                done_w.send(b".")

        worker = threading.Thread(target=work, name="ambient-lb-notebook", daemon=True)
        worker.start()
        finished = self._wait(done_r)
        if finished:
            worker.join()
            done_r.close()
            done_w.close()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _wait(self, done: socket.socket) -> bool:
        """Wait for the worker; a signal moves on: interrupt the kernel, then stop every process."""
        assert self._socks is not None
        phases: list[tuple[Callable[[], object], float]] = [(interrupt_kernels, GRACE), (stop_descendants, SETTLE)]
        deadline: float | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(done, selectors.EVENT_READ, "done")
            sel.register(self._socks[0], selectors.EVENT_READ, "signal")
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                events = [key.data for key, _ in sel.select(timeout)]
                if "done" in events:
                    return True
                got = self._read() if "signal" in events else []
                if not got and (deadline is None or time.monotonic() < deadline):
                    continue  # a wake-up without news (another signal's byte, or none)
                if not phases:
                    return False  # the worker did not end after everything was stopped: give up on it
                action, wait = phases.pop(0)
                if not self.stopping.is_set():
                    self._tree = _descendants()
                    self.stopping.set()
                    self.announce(f"{name(got[0])} received: stopping the notebook's kernel "
                                  "(a second signal stops it at once)")
                else:
                    why = f"{name(got[0])} received (a second signal)" if got else \
                        f"the kernel did not stop within {GRACE:g} s"
                    self.announce(f"{why}: stopping every process of the run but the simulator")
                action()
                deadline = time.monotonic() + wait

    def _read(self) -> list[int]:
        if self._socks is None:
            return []
        try:
            got = list(self._socks[0].recv(64))
        except BlockingIOError:
            return []
        got = [s for s in got if s in SIGNALS]
        if got and self.received is None:
            self.received = got[0]
        return got


def _note(signum: int, frame: Any) -> None:
    """The Python-level handler: nothing to do, the wake-up socket carries the signal."""


def _close_thread_loop() -> None:
    """The event loop jupyter made for this worker thread: closed, so none leaks per notebook."""
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_running():
            loop.close()


def _cmdline(p: Any) -> str:
    import psutil

    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _running(p: Any) -> bool:
    import psutil

    try:
        return bool(p.is_running()) and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_simulator(p: Any) -> bool:
    """The simulator's server (``python -m ambient_lb.sim serve``): shared and detached, never stopped."""
    line = _cmdline(p)
    return "ambient_lb.sim" in line and " serve" in line


def interrupt_kernels() -> list[int]:
    """SIGINT to each kernel this process started (its process group, as Jupyter's stop button does)."""
    import psutil

    sent = []
    for p in psutil.Process().children():
        if "ipykernel" in _cmdline(p):
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(p.pid), signal.SIGINT)
                sent.append(p.pid)
    return sent


def _descendants() -> list[Any]:
    import psutil

    return [p for p in psutil.Process().children(recursive=True) if _running(p) and not is_simulator(p)]


def stop_descendants(grace: float = 3.0, also: Sequence[Any] = ()) -> list[str]:
    """Every process below this one (and those of ``also`` still running) but the simulator: SIGTERM,
    then SIGKILL after ``grace`` seconds.

    Returns what was still running, as ``pid command``. The tree is read before any signal, so the
    children of a kernel (``kubectl`` in sessions of their own) are found although the kernel goes first.
    """
    import psutil

    procs = _descendants()
    procs += [p for p in also if p not in procs and _running(p)]
    found = [f"{p.pid} {_cmdline(p)[:120]}" for p in procs]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)
    return found
