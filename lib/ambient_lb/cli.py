"""The ``ambient-lb`` command: ``run``, ``report``, ``sim``, ``workshop`` and ``manifests``.

Each subcommand lives in the module named for what it does and is imported only when used, so
``ambient-lb sim status`` does not pay for pandas or Jupyter. A subcommand module provides
``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import shell, simulator
from .errors import RunbookError

SUBCOMMANDS = {
    "run": ("ambient_lb.runner", "run the runbook's notebooks headless with papermill"),
    "report": ("ambient_lb.report", "summarise executed runs (one or many attendees)"),
    "sim": (simulator.CLI_MODULE, "start, stop or inspect the cluster-in-a-box simulator"),
    "workshop": ("ambient_lb.workshop", "run the runbook for a room of attendees at once"),
    "manifests": ("ambient_lb.manifests.command", "print a manifest the project ships (pipe it to kubectl apply -f -)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``ambient-lb`` argument parser: one subcommand per entry of SUBCOMMANDS, each from its module."""
    parser = argparse.ArgumentParser(prog="ambient-lb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=module)
            continue
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs ``ambient-lb COMMAND ...`` and returns its exit code."""
    args = build_parser().parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"ambient-lb {args.command}: not available in this build ({args._missing} is missing)",
              file=sys.stderr)
        return 2

    try:
        with shell.secrets_kept_in_memory(sorted(shell.WITHHELD)):  # no library's child inherits the key
            return int(args._main(args) or 0)
    except RunbookError as exc:
        print(f"ambient-lb {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
