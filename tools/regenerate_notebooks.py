"""Regenerate ``notebooks/*.ipynb`` with the outputs of a fresh simulator run: one command.

    .venv/bin/python tools/regenerate_notebooks.py [--speed 10] [--only 02] [--sources-only]

Builds every notebook from ``tools/notebook_sources.py``, starts a private simulator (seed 42; its
kubeconfig at the default ``~/.ambient-lb/sim/kubeconfig`` of a private temporary HOME), executes the notebooks
in order with papermill, headless, with their default parameters (``$AMBIENT_LB_PARAMS`` points them at the
private simulator), strips papermill's run metadata, writes them back, and stops the simulator. ``make test``
then runs nbval against these outputs (``tests/notebooks/test_nbval.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "tools"))

import notebook_sources  # noqa: E402

from ambient_lb.runner import ipc_kernel_manager  # noqa: E402


def write_sources(only: str | None = None) -> list[Path]:
    import nbformat

    paths = []
    for name in notebook_sources.NOTEBOOKS:
        if only and not name.startswith(only):
            continue
        path = NOTEBOOKS / f"{name}.ipynb"
        nbformat.write(notebook_sources.build(name), path)
        paths.append(path)
    return paths


def sim_params(directory: Path, speed: float, seed: int = 42) -> Path:
    """A params file for a private simulator (the notebooks read ``$AMBIENT_LB_PARAMS``).

    The simulator's kubeconfig is the default ``~/.ambient-lb/sim/kubeconfig`` under a private HOME
    (:func:`private_home`), so the stored outputs show the path a learner sees, not a temp path."""
    path = directory / "params.yaml"
    path.write_text(f"target: sim\nsim:\n  seed: {seed}\n  speed: {speed}\n")
    return path


def private_home(directory: Path) -> Path:
    """``HOME`` for this process and the kernels it starts: the simulator's default kubeconfig and
    kubectl's cache go there, and never touch the real home."""
    home = directory / "home"
    home.mkdir(exist_ok=True)
    os.environ["HOME"] = str(home)
    return home


def stop_simulator(kubeconfig: Path) -> None:
    subprocess.run([sys.executable, "-m", "ambient_lb.cli", "sim", "down", "--kubeconfig",
                    str(kubeconfig)], check=False, capture_output=True, timeout=60)


def execute_in_place(paths: list[Path], params: Path, sockets: Path) -> int:
    import nbformat
    import papermill as pm

    os.environ["AMBIENT_LB_HEADLESS"] = "1"
    os.environ["AMBIENT_LB_PARAMS"] = str(params)
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        try:
            pm.execute_notebook(str(path), str(path), cwd=str(NOTEBOOKS), progress_bar=False,
                                kernel_name="python3",
                                kernel_manager_class=ipc_kernel_manager(sockets))
        except Exception as exc:
            print(f"FAILED: {path.name}: {exc}", file=sys.stderr)
            return 1
        finally:
            strip_run_metadata(path, nbformat)
    return 0


def strip_run_metadata(path: Path, nbformat: object) -> None:
    """Keep outputs and execution counts (nbval compares them); drop papermill's timings."""
    nb = nbformat.read(path, as_version=4)  # type: ignore[attr-defined]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=10.0, help="simulator speed (default 10)")
    ap.add_argument("--only", metavar="NN", help="only notebook NN (its predecessors' state is made)")
    ap.add_argument("--sources-only", action="store_true", help="write notebooks without running")
    args = ap.parse_args(argv)
    paths = write_sources(args.only)
    if args.sources_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="alb-regen-") as tmp:
        home = private_home(Path(tmp))
        params = sim_params(Path(tmp), args.speed)
        try:
            return execute_in_place(paths, params, Path(tmp))
        finally:
            stop_simulator(home / ".ambient-lb" / "sim" / "kubeconfig")


if __name__ == "__main__":
    sys.exit(main())
