"""Notebook 08's two clusters: one ``Run`` per kube context, and on ``sim`` a second simulator.

The concepts page's multicluster scenario needs two peered clusters. Every command of notebook 08
names its cluster, as a person working on two clusters types it after ``export KUBECONFIG=<the file
with both contexts>``: ``kubectl --context <cluster> ...`` and ``helm --kube-context <cluster> ...``.
:class:`ContextKube` is ``kube.Kube`` with that one difference (it checks that its context is in the
file instead of requiring it to be the current one), so the guide's own steps run unchanged on either
cluster through a :class:`~ambient_lb.guide.run.Run` bound to it (:func:`cluster_run`).

On ``sim`` the main simulator is one cluster; notebook 08 starts (or reuses) a second one with
``ambient-lb sim up --topology two-clusters``, beside the main one (its own kubeconfig
``~/.ambient-lb/sim-two-clusters/kubeconfig``, state directory and port; ``--kubeconfig`` too when the
main simulator is not the default one, e.g. a workshop attendee's), and stops it at the end if it started
it. On a cluster the two contexts and their kubeconfig come from the params (``multicluster.*``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..helm import Helm
from ..kube import ContextMismatch, Kube, context_server, read_kubeconfig
from ..shell import display_line, display_path
from ..shell import run as sh
from ..simulator import topology_kubeconfig
from .run import SIM_KUBECONFIG, Run

TOPOLOGY = "two-clusters"  # the built-in topology: cluster1 on network1, cluster2 on network2
CONTEXTS_EXAMPLE = "multicluster.contexts: [kind-cluster1, kind-cluster2]"


class ContextKube(Kube):
    """``kubectl --context <ctx> ...``: a Kube that names its context on every command it shows."""

    def argv(self, *args: str) -> list[str]:
        """The kubectl command line with ``--context`` first."""
        return ["kubectl", "--context", self.context, *args]

    def kubectl(self, *args: str, shown_as: str | None = None, **kw: Any) -> Any:
        """Runs kubectl in this context; a command shown as a pipe into kubectl names the context too."""
        if shown_as is not None:  # a pipe into kubectl: the kubectl in it names the context too
            shown_as = shown_as.replace("kubectl ", f"kubectl --context {self.context} ")
        return super().kubectl(*args, shown_as=shown_as, **kw)

    def check_context(self) -> None:
        """The context must be in the kubeconfig (it need not be the current one: every command names it)."""
        config = read_kubeconfig(self.kubeconfig)
        if context_server(config, self.context) is None:
            known = ", ".join(c.get("name", "?") for c in config["contexts"]) or "none"
            raise ContextMismatch(f"context {self.context!r} is not in {self.kubeconfig or 'the kubeconfig'} "
                                  f"(contexts there: {known})",
                                  hint=f"set {CONTEXTS_EXAMPLE} to two contexts of that file, or "
                                       "multicluster.kubeconfig to the file that has them")


class ContextHelm(Helm):
    """``helm --kube-context <ctx> ...`` for a :class:`ContextKube`."""

    def argv(self, *args: str) -> list[str]:
        """The helm command line with ``--kube-context`` first."""
        return ["helm", "--kube-context", self.kube.context, *args]


def context_helm(helm: Helm) -> ContextHelm:
    """The same helm (or the same chart stand-in), naming the context of its Kube."""
    return ContextHelm(helm.kube, standin=helm.standin, timeout=helm.timeout)


@dataclass
class TwoClusters:
    """The file with both contexts, and a Run bound to each cluster: ``local`` holds the gateway."""

    kubeconfig: Path | None
    local: Run
    remote: Run

    @property
    def both(self) -> tuple[Run, Run]:
        """The run of each cluster: (local, remote)."""
        return self.local, self.remote

    @property
    def kubeconfig_shown(self) -> str | None:
        """The kubeconfig path as commands show it, or None for kubectl's default."""
        return display_path(self.kubeconfig) if self.kubeconfig is not None else None


def second_simulator_kubeconfig(main: Path) -> Path:
    """Where the two-cluster simulator writes its kubeconfig: a sibling of the main simulator's
    directory (``~/.ambient-lb/sim`` -> ``~/.ambient-lb/sim-two-clusters/kubeconfig``), so every
    main simulator (a workshop's attendees each have one) gets its own second one."""
    return main.parent.with_name(f"{main.parent.name}-{TOPOLOGY}") / "kubeconfig"


MISSING_CONTEXTS = ("multicluster.contexts is not set: notebook 08 needs two peered clusters (the concepts page's "
                    "multicluster scenario), and on a cluster target the runbook cannot guess them")
MISSING_CONTEXTS_HINT = (f"add to your params file `{CONTEXTS_EXAMPLE}` (the cluster with the gateway first; "
                         "kubectl config get-contexts lists them); notebooks 00-07 do not need it")


def unavailable(params: Any) -> str | None:
    """Why notebook 08 cannot run on these params, or None: a cluster target that names no second
    cluster. ``ambient-lb run`` then skips 08 with this reason instead of failing a learner who did
    the guide on one kind cluster (``--only 08`` still runs it and fails at 08.1 with the hint)."""
    if params.target == "sim" or params.multicluster.contexts is not None:
        return None
    return f"{MISSING_CONTEXTS}; to run it: {MISSING_CONTEXTS_HINT}"


def where(run: Run) -> tuple[Path | None, list[str] | None]:
    """(kubeconfig, contexts) from the params; on ``sim`` the second simulator's file, whose contexts
    are read once it runs (None here). A cluster target without contexts is a parameter error."""
    mc = run.params.multicluster
    if run.sim:
        return sim_kubeconfig(run), mc.contexts
    if mc.contexts is None:
        raise ParameterError(MISSING_CONTEXTS, hint=MISSING_CONTEXTS_HINT)
    return (mc.kubeconfig or run.params.kube.kubeconfig or None), mc.contexts


def sim_kubeconfig(run: Run) -> Path:
    """On ``sim``: the second simulator's kubeconfig (``multicluster.kubeconfig``, else the file beside the first's)."""
    mc = run.params.multicluster
    main = run.kubeconfig or SIM_KUBECONFIG.expanduser()
    return mc.kubeconfig.expanduser() if mc.kubeconfig else second_simulator_kubeconfig(main)


def contexts_in(kubeconfig: Path | None) -> list[str]:
    """The contexts of a kubeconfig, in file order (the two-cluster simulator writes cluster1's first)."""
    return [c.get("name") for c in read_kubeconfig(kubeconfig)["contexts"] if c.get("name")]


def cluster_run(run: Run, context: str, kubeconfig: Path | None, **param_changes: Any) -> Run:
    """A Run like ``run`` whose every call goes to ``context`` (``kubectl --context <context>``);
    ``param_changes`` replace whole params sections (e.g. ``app=...`` with other replicas)."""
    params = run.params.model_copy(update=param_changes) if param_changes else run.params
    bound = Run(params=params, run_id=run.run_id, interactive=run.interactive)
    bound._kube = ContextKube(context, kubeconfig, timeout=params.timeouts.command.seconds)
    return bound


def clusters(run: Run) -> TwoClusters:
    """The two clusters of notebook 08 (made once per kernel; step 08.1 starts the simulator first)."""
    if "two_clusters" not in run.state:
        kubeconfig, names = where(run)
        names = names or contexts_in(kubeconfig)
        if len(names) < 2:
            raise ParameterError(f"{kubeconfig}: {len(names)} context(s) ({', '.join(names) or 'none'}); "
                                 "notebook 08 needs two", hint=f"set {CONTEXTS_EXAMPLE}")
        mc = run.params.multicluster
        remote_app = run.params.app.model_copy(update={"replicas": mc.remote_replicas})
        run.state["two_clusters"] = TwoClusters(kubeconfig, cluster_run(run, names[0], kubeconfig),
                                                cluster_run(run, names[1], kubeconfig, app=remote_app))
    return run.state["two_clusters"]


def _names_it(kubeconfig: Path) -> list[str]:
    """The flags that name the two-cluster simulator to ``ambient-lb sim up|down``, as a person types them:
    ``--topology two-clusters`` finds its own kubeconfig; another file is named with ``--kubeconfig``."""
    if kubeconfig == topology_kubeconfig(TOPOLOGY).expanduser():
        return ["--topology", TOPOLOGY]
    return ["--topology", TOPOLOGY, "--kubeconfig", str(kubeconfig)]


def _shown(action: str, flags: list[str], kubeconfig: Path) -> str:
    """``ambient-lb sim <action> <flags>`` as a person types it: the kubeconfig as ``~/...``, unquoted."""
    words = [display_path(kubeconfig) if f == str(kubeconfig) else display_line([f]) for f in flags]
    return " ".join(["ambient-lb", "sim", action, *words])


def _sim_command(action: str, flags: list[str], kubeconfig: Path, timeout: float) -> Any:
    """Run ``ambient-lb sim <action> <flags>``, shown as :func:`_shown` writes it."""
    argv = [sys.executable, "-m", "ambient_lb.cli", "sim", action, *flags]
    return sh(argv, timeout=timeout, display=_shown(action, flags, kubeconfig))


def ensure_second_simulator(run: Run) -> bool:
    """On ``sim``: ``ambient-lb sim up --topology two-clusters`` (shown as typed; ``--kubeconfig <its file>``
    when it is not the default one); True when this call started it, False when it was running already.
    On a cluster: False."""
    if not run.sim:
        return False
    kubeconfig = sim_kubeconfig(run)
    sim = run.params.sim
    flags = [*_names_it(kubeconfig), "--seed", str(sim.seed), "--speed", f"{sim.speed:g}"]
    res = _sim_command("up", flags, kubeconfig, timeout=120)
    return " started at " in res.stdout


def release_second_simulator(run: Run, started: bool) -> str | None:
    """At the end of notebook 08, on ``sim``: ``ambient-lb sim down --topology two-clusters`` if 08 started
    the two-cluster simulator, else leave it running; what was done, for a note (None on a cluster)."""
    if not run.sim:
        return None
    kubeconfig = sim_kubeconfig(run)
    flags = _names_it(kubeconfig)
    if not started:
        return (f"The two-cluster simulator was running before this notebook, so it keeps running; "
                f"{_shown('down', flags, kubeconfig)} stops it.")
    _sim_command("down", flags, kubeconfig, timeout=60)
    return "This notebook started the two-cluster simulator, so it stopped it too (nothing else uses it)."
