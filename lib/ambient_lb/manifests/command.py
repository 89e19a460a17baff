"""``ambient-lb manifests NAME``: print a manifest the project ships, to pipe into kubectl.

Who calls it: a learner, and the commands the notebooks show where the runbook applies a bundled
copy instead of a URL (no internet on the simulator's machine), e.g. step 01.1 shows
``ambient-lb manifests gateway-api-crds | kubectl apply --server-side -f -``: the same bytes it
applies, in a command that runs as shown anywhere the project is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ParameterError
from . import GATEWAY_API_CRDS

BUNDLED: dict[str, tuple[Path, str]] = {
    "gateway-api-crds": (GATEWAY_API_CRDS, "the Gateway API standard-install CRDs (v1.5.0), as the guide applies"),
}


def text(name: str) -> str:
    """The manifest's YAML; a name not shipped is a ParameterError naming the ones that are."""
    if name not in BUNDLED:
        raise ParameterError(f"no bundled manifest {name!r}; choose one of {', '.join(BUNDLED)} "
                             "(e.g. ambient-lb manifests gateway-api-crds)")
    return BUNDLED[name][0].read_text(encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb manifests``'s argument: the name of a bundled manifest."""
    parser.add_argument("name", choices=sorted(BUNDLED), metavar="NAME",
                        help="; ".join(f"{k}: {v[1]}" for k, v in BUNDLED.items()))


def main(args: argparse.Namespace) -> int:
    """Prints the bundled manifest to stdout."""
    sys.stdout.write(text(args.name))
    return 0
