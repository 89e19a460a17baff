"""A container's process run on the host: started in its own session, its output streamed line by line,
its exit reported, signalled and killed (R20.1).

Who calls it: ``own_image.py``. The process is started with ``subprocess.Popen`` from the simulator's
event loop (``start_new_session``: its own session and process group). One reader thread per
process reads stdout and stderr and hands each line, and finally the exit code, to the loop with
``call_soon_threadsafe``, so the loop never blocks and the cluster is only touched from its own thread.

| event | what happens |
| --- | --- |
| a line on stdout or stderr | ``on_line(text)`` on the loop |
| the process exits | ``on_exit(code)`` on the loop; killed by a signal ``n``: ``128 + n`` (as a runtime reports it) |
| ``terminate()`` | SIGTERM to the process group |
| ``kill()`` | SIGKILL to every descendant (children started in their own sessions too) and the group; reaped |
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

JOIN_TIMEOUT = 5.0  # s to wait for the reader to see the end of a killed process


class LocalProcess:
    """One process standing for a container's (R20.1)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, loop: asyncio.AbstractEventLoop,
                 on_line: Callable[[str], None], on_exit: Callable[[int], None]) -> None:
        self._loop, self._on_line, self._on_exit = loop, on_line, on_exit
        self.proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                     close_fds=True)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name=f"container-{self.pid}", daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        """True until the process has exited."""
        return self.proc.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the process group (the kubelet stops the container)."""
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the process, its group and every descendant; waits for the reader, which reaps it."""
        children = _descendants(self.pid) if self.alive() else []
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if self.alive():
            self._signal_group(signal.SIGKILL)
        psutil.wait_procs(children, timeout=JOIN_TIMEOUT)  # gone, or reaped by their new parent
        self._reader.join(JOIN_TIMEOUT)
        if self._reader.is_alive():  # a descendant still holds the pipes: reap the process anyway
            self.proc.wait(JOIN_TIMEOUT)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _read(self) -> None:
        sel = selectors.DefaultSelector()
        pending: dict[int, bytes] = {}
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                sel.register(stream, selectors.EVENT_READ)
                pending[stream.fileno()] = b""
        try:
            while sel.get_map():
                for key, _ in sel.select():
                    fd = key.fd
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        if pending[fd]:
                            self._post_line(pending[fd])
                        continue
                    *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
                    for line in lines:
                        self._post_line(line)
        finally:
            sel.close()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        code = self.proc.wait()
        self._post(self._on_exit, 128 - code if code < 0 else code)

    def _post_line(self, raw: bytes) -> None:
        self._post(self._on_line, raw.rstrip(b"\r").decode("utf-8", "replace"))

    def _post(self, fn: Callable[..., None], arg: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the simulator has stopped
            self._loop.call_soon_threadsafe(fn, arg)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []
