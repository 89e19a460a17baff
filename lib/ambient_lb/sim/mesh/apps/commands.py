"""[model] How a container of a shell image ends: the command-line programs the simulator runs (R16.21).

Who calls it: the model table (``registry``) for the images in ``IMAGES`` (busybox, alpine, bash,
debian, ubuntu, perl), when the kubelet starts such a container. The simulator runs no processes,
so a container's end is decided from its image and its command, deterministically:

- the argv is ``command + args`` (the image's ENTRYPOINT is empty; its CMD is ``sh``, ``/bin/sh``,
  ``bash`` or ``perl`` when both are unset);
- a shell with no script and no open stdin (``sh``, ``bash``) exits 0 at once, as it does without a
  terminal; with ``stdin: true`` it waits for input: it runs until it is stopped;
- ``sh -c '<script>'`` (also ``bash``, ``ash``, ``/bin/sh``) runs the script's simple commands, split
  on ``;``, ``&&``, ``||`` and newlines: ``echo <words>``, ``date``, ``sleep <seconds>``, ``true``,
  ``false``, ``exit <code>``; the same programs run directly (``["sleep", "30"]``);
- ``perl -Mbignum=bpi -wle 'print bpi(<n>)'`` (the Kubernetes docs' Job) prints pi to ``n`` digits;
- every echo writes one line to the container's log at the simulated time it runs; ``sleep N``
  takes N simulated seconds; the container then exits with the last command's code (``exit N``:
  N; ``false``: 1); ``perl`` takes ``PERL_SECONDS``;
- anything else (another program, a pipe, a redirect, a loop, a variable) is not modelled: the
  container runs until it is stopped, like a server, and its log says so once.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass

from .base import Container, Launch

IMAGES = {  # repository -> the image's CMD when the container sets neither command nor args
    "docker.io/library/busybox": ["sh"], "registry.k8s.io/busybox": ["sh"], "gcr.io/google-containers/busybox": ["sh"],
    "public.ecr.aws/docker/library/busybox": ["sh"], "docker.io/library/alpine": ["/bin/sh"],
    "docker.io/library/bash": ["bash"], "docker.io/library/debian": ["bash"], "docker.io/library/ubuntu": ["/bin/bash"],
    "docker.io/library/perl": ["perl"],
}
SHELLS = {"sh", "bash", "ash", "dash"}
PERL_SECONDS = 5.0  # [model] how long the docs' pi Job computes
NOT_MODELLED = ("[ambient-lb simulator] the command {argv} is not modelled; this container runs until it is "
                "stopped (modelled: sh -c with echo, date, sleep, true, false, exit; see docs/semantics-addendum.md "
                "R16.21)")
_BPI = re.compile(r"print\s+bpi\(\s*(\d+)\s*\)")


@dataclass
class Run:
    """A modelled program's course: (seconds from start, log line) and, at ``duration``, its exit code."""

    lines: list[tuple[float, str]]
    duration: float
    exit_code: int


class NotModelled(Exception):
    """Raised for a command line the simulator does not model (a pipe, a redirect, an unknown program)."""


def argv_of(c: Container) -> list[str]:
    """The container's argv: command and args, else args alone, else the image's default command."""
    command, args = list(c.spec.get("command") or []), list(c.spec.get("args") or [])
    if command:
        return command + args
    return args or list(IMAGES.get(c.ref.repository, ["sh"]))


def _date(t: float) -> str:
    """busybox ``date``: ``Sat Jan  3 12:04:05 UTC 2026``."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%a %b ") + f"{d.day:2d}" + d.strftime(" %H:%M:%S UTC %Y")


def _program(words: list[str], at: float, start: float, out: list[tuple[float, str]]) -> tuple[float, int, bool]:
    """Run one simple command; returns (time after it, its exit code, whether it was ``exit``)."""
    name, rest = words[0].rsplit("/", 1)[-1], words[1:]
    if name == "echo":
        if rest[:1] == ["-n"]:
            rest = rest[1:]
        out.append((at, " ".join(rest)))
        return at, 0, False
    if name == "date":
        out.append((at, _date(start + at)))
        return at, 0, False
    if name == "sleep" and len(rest) == 1 and re.fullmatch(r"\d+(\.\d+)?s?", rest[0]):
        return at + float(rest[0].rstrip("s")), 0, False
    if name in ("true", ":") and not rest:
        return at, 0, False
    if name == "false" and not rest:
        return at, 1, False
    if name == "exit" and len(rest) <= 1 and all(r.isdigit() for r in rest):
        return at, int(rest[0]) % 256 if rest else 0, True
    raise NotModelled(" ".join(words))


def _commands(script: str) -> list[tuple[str, list[str]]]:
    """(operator before it, words) for each simple command; quotes are honoured within a line."""
    out: list[tuple[str, list[str]]] = []
    op = ";"
    for line in script.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split = True
        words: list[str] = []
        for token in lex:
            if token in (";", "&&", "||"):
                out.append((op, words))
                op, words = token, []
            elif token and set(token) <= set(";&|<>") or "$" in token or "`" in token:
                raise NotModelled(script)  # a pipe, background job, redirect or expansion
            else:
                words.append(token)
        out.append((op, words))
        op = ";"
    return [(o, w) for o, w in out if w]


def run_script(script: str, start: float) -> Run:
    """The course of an ``sh -c`` script started at start: its log lines, how long it runs, its exit code."""
    try:
        commands = _commands(script)
    except ValueError:  # unbalanced quotes: sh would fail to parse it; not modelled either
        raise NotModelled(script) from None
    out: list[tuple[float, str]] = []
    at, code = 0.0, 0
    for op, words in commands:
        if (op == "&&" and code != 0) or (op == "||" and code == 0):
            continue
        at, code, stop = _program(words, at, start, out)
        if stop:
            break
    return Run(out, at, code)


def _pi(digits: int) -> str:
    """``bpi(digits)``: pi rounded to ``digits`` significant digits (Machin's formula in integers)."""
    guard = 10
    unity = 10 ** (digits + guard)

    def arctan_inv(x: int) -> int:
        total = term = unity // x
        k, sign = 1, -1
        while term:
            term //= x * x
            k += 2
            total += sign * (term // k)
            sign = -sign
        return total
    scaled = 4 * (4 * arctan_inv(5) - arctan_inv(239))  # pi * 10**(digits + guard), to within a few units
    text = str((scaled // 10 ** guard + 5) // 10)  # rounded to ``digits`` significant digits
    return f"{text[0]}.{text[1:]}"


def plan(c: Container) -> Run | None:
    """How the container's command runs and ends, or None when it waits (a shell with stdin open)."""
    argv = argv_of(c)
    name = argv[0].rsplit("/", 1)[-1] if argv else ""
    if name in SHELLS:
        if len(argv) == 1:
            return None if c.spec.get("stdin") else Run([], 0.0, 0)
        if argv[1] == "-c" and len(argv) >= 3:
            return run_script(argv[2], c.now)
        raise NotModelled(" ".join(argv))
    if name == "perl":
        m = _BPI.search(" ".join(argv[1:]))
        if m and int(m.group(1)) <= 100_000:
            return Run([(PERL_SECONDS, _pi(int(m.group(1))))], PERL_SECONDS, 0)
        raise NotModelled(" ".join(argv))
    if not argv:
        raise NotModelled("")
    return run_script(shlex.join(argv), c.now)  # a program run directly: ["sleep", "30"]


def launch(c: Container) -> Launch:
    """Start a container of a shell image: its run is the model's, else it runs until stopped."""
    try:
        run = plan(c)
    except NotModelled:
        return Launch(None, lines=[NOT_MODELLED.format(argv=argv_of(c))])
    if run is None:
        return Launch(None, lines=[])  # no app, no exit: the container runs
    now_lines = [line for t, line in run.lines if t == 0]
    later = [(t, line) for t, line in run.lines if t > 0]
    return Launch(None, lines=now_lines, exit_code=run.exit_code, runs_for=run.duration or None, later_lines=later)
