"""``ambient-lb workshop --jobs``: a room past one machine, as Kubernetes Jobs in the trainer's cluster.

Who calls it: ``workshop.main`` when ``--jobs`` is given. The trainer's cluster is the kubeconfig's
current context; each attendee is one of ``--contexts`` (their own cluster, reachable from the trainer's
pods). Steps, each shown as the command it runs:

1. Check every input before anything changes: the room and namespace names, the params each attendee's
   run will get, that every context exists and its server is one the trainer's pods can reach, the image,
   and the license (``LICENSE_KEY`` in the environment, or the Secret already in the cluster).
2. Apply the room (``job_manifests.room_objects``: namespace, RBAC, params) from ``<out>/jobs/room.yaml``,
   the Jobs from ``<out>/jobs/attendees.yaml``, and between them the Secrets (the license and each
   attendee's kubeconfig, flattened by ``kubectl config view --minify --flatten``) through stdin with
   server-side apply, so no credential is written to disk or kept in a ``last-applied-configuration``
   annotation.
3. Watch the Jobs until each is Complete or Failed (``--wait``), printing each as it ends; then read the
   results back (``results.fetch``), print the table and write the room page ``<out>/report.html``.
   ``ambient-lb report --from-cluster ROOM`` reads them again at any time, also while the Jobs run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from . import job_manifests as jm
from . import results, shell
from .errors import ClusterError, ParameterError, TimedOut
from .kube import Kube, context_server, loopback, read_kubeconfig, to_yaml
from .params import load_params
from .report import render_room_html, render_text, row_for, seat_for

FIELD_MANAGER = "ambient-lb-workshop"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the ``--jobs`` arguments to ``ambient-lb workshop``."""
    g = p.add_argument_group("past one machine: Kubernetes Jobs in the current context's cluster (with --contexts)")
    g.add_argument("--jobs", action="store_true", help="run each attendee as a Job in the trainer's cluster "
                                                       "(the kubeconfig's current context)")
    g.add_argument("--name", metavar="ROOM", help="the room's name, a DNS label (default: the --out directory's)")
    g.add_argument("--namespace", default=jm.DEFAULT_NAMESPACE, help=f"default {jm.DEFAULT_NAMESPACE}")
    g.add_argument("--image", help="the runbook's image (default: this version's, built from the Dockerfile)")
    g.add_argument("--license-secret", default=jm.DEFAULT_LICENSE_SECRET, metavar="NAME",
                   help="the Secret the Jobs read the license from; created from the environment when the "
                        f"license variable is set (default {jm.DEFAULT_LICENSE_SECRET})")
    g.add_argument("--wait", type=float, default=jm.DEADLINE_SECONDS, metavar="SECONDS",
                   help="how long to watch the Jobs; 0 = submit and return (read later with ambient-lb report "
                        "--from-cluster ROOM)")


def main(args: argparse.Namespace) -> int:
    """Checks, applies, watches and reports a room of Jobs; 0 when every attendee passed."""
    out = Path(args.out)
    room, seats, kube = plan(args, out)
    kubeconfigs = {s.name: attendee_kubeconfig(s) for s in seats}  # before anything changes
    license_key = shell.secret_value(room.license_key)
    if not license_key:
        _license_secret_exists(kube, room)
    print(f"workshop {room.workshop}: {len(seats)} Job(s) in namespace {room.namespace} of context {kube.context} "
          f"(image {room.image})", flush=True)
    objs = jm.room_objects(room, seats)
    base, jobs = write_manifests(objs, out / "jobs")
    apply = ("apply", "--server-side", f"--field-manager={FIELD_MANAGER}")
    _show(kube.kubectl(*apply, "-f", str(base)))
    secrets = [jm.kubeconfig_secret(room, s, kubeconfigs[s.name]) for s in seats]
    named = [f"Secret {s.kubeconfig_secret} (kubectl config view --minify --flatten --context {s.context})"
             for s in seats]
    if license_key:
        secrets.insert(0, jm.license_secret(room, license_key))
        named.insert(0, f"Secret {room.license_secret} (from ${room.license_key})")
    _show(kube.kubectl(*apply, "-f", "-", input=to_yaml(secrets), shown_as=" ".join(["kubectl", *apply, "-f", "-"])
                       + "   # stdin, not shown: " + "; ".join(named),
                       secrets=[shell.Secret(license_key, room.license_key)] if license_key else ()))
    _show(kube.kubectl(*apply, "-f", str(jobs)))
    if args.wait <= 0:
        print(f"submitted; read the results with: ambient-lb report --from-cluster {room.workshop} "
              f"--namespace {room.namespace} --html {out / 'report.html'}")
        return 0
    watch_jobs(kube, room, seats, args.wait)
    return report(kube, room, out)


def write_manifests(objs: list[dict[str, Any]], directory: Path) -> tuple[Path, Path]:
    """The room without its Secrets, in two files: what the Secrets need first (namespace, RBAC, params),
    then the Jobs (applied after their Secrets, so no pod waits on a missing volume)."""
    directory.mkdir(parents=True, exist_ok=True)
    base, jobs = directory / "room.yaml", directory / "attendees.yaml"
    base.write_text(to_yaml([o for o in objs if o["kind"] != "Job"]))
    jobs.write_text(to_yaml([o for o in objs if o["kind"] == "Job"]))
    return base, jobs


def plan(args: argparse.Namespace, out: Path) -> tuple[jm.Room, list[jm.Seat], Kube]:
    """Every input checked (ParameterError naming the bad one), before the cluster is touched."""
    if not args.contexts:
        raise ParameterError("--jobs runs one Job per attendee context: give --contexts (e.g. --jobs --contexts "
                             "kind-alice,kind-bob), not --attendees")
    if args.parallel != "auto":
        raise ParameterError("--parallel is for runs on this machine; with --jobs every attendee runs at once "
                             "in the cluster (drop --parallel)")
    workshop = jm.dns_label(args.name or out.resolve().name.lower(), "--name", "--name room-12", 40)
    namespace = jm.dns_label(args.namespace, "--namespace", "--namespace ambient-lb-workshop")
    license_secret = jm.dns_label(args.license_secret, "--license-secret", "--license-secret ambient-lb-license", 253)
    image = args.image or jm.default_image()
    if any(c.isspace() for c in image) or not image:
        raise ParameterError(f"--image {image!r}: give an image reference (e.g. --image {jm.default_image()})")
    seats = [jm.Seat(jm.attendee_name(c), c) for c in context_names(args.contexts)]
    if len({s.name for s in seats}) != len(seats):
        raise ParameterError(f"--contexts {args.contexts!r}: a context is given twice")
    params_text = Path(args.params).read_text() if args.params else None
    overrides = tuple(args.overrides) + ("kube.kubeconfig=null",)  # the pod's $KUBECONFIG: the attendee's
    # the params each Job's run will load (there is at least one seat): refused here, not in forty pods
    params = [load_params(args.params, [*overrides, "target=cluster", f"kube.context={s.context}"]) for s in seats]
    room = jm.Room(workshop, namespace, image, license_secret, params[0].license.env_var, params_text, overrides,
                   args.only)
    kube = Kube.current()
    config = read_kubeconfig(None)
    trainer = context_server(config, kube.context) or ""
    for s in seats:
        server = context_server(config, s.context)
        if server is None:
            known = ", ".join(c.get("name", "?") for c in config["contexts"])
            raise ParameterError(f"--contexts: {s.context!r} is not a context of the kubeconfig (it has: {known})")
        if loopback(server) and not loopback(trainer):
            raise ParameterError(f"--contexts: {s.context!r} points at {server}, this machine's loopback: a pod in "
                                 f"the trainer's cluster ({trainer}) cannot reach it; give attendee contexts whose "
                                 "API servers the trainer's cluster can reach")
    return room, seats, kube


def context_names(text: str) -> list[str]:
    """The contexts of ``--contexts a,b``; ParameterError when it names none."""
    contexts = [c.strip() for c in text.split(",") if c.strip()]
    if not contexts:
        raise ParameterError("--contexts: give at least one kube context, e.g. --contexts kind-alice,kind-bob")
    return contexts


def attendee_kubeconfig(seat: jm.Seat) -> str:
    """The attendee's context as a self-contained kubeconfig (credentials inlined); never shown or stored."""
    with shell.quiet():
        result = shell.run(["kubectl", "config", "view", "--minify", "--flatten", "--context", seat.context],
                           timeout=30)
    text = result.stdout
    doc = yaml.safe_load(text) or {}
    if doc.get("current-context") != seat.context or not doc.get("clusters"):
        raise ClusterError(f"kubectl config view --minify --flatten --context {seat.context} gave no usable "
                           "kubeconfig for that context", hint="kubectl config get-contexts")
    return text


def _license_secret_exists(kube: Kube, room: jm.Room) -> None:
    try:
        kube.read("secret", room.license_secret, room.namespace)
    except ClusterError as exc:
        raise ParameterError(f"the license: ${room.license_key} is not set here and Secret {room.license_secret} "
                             f"is not readable in namespace {room.namespace} of context {kube.context} ({exc})",
                             hint=f"export {room.license_key}=<license-key> and run again (it is applied "
                                  "through stdin, never written to disk)") from exc


def _show(result: shell.CommandResult) -> None:
    print(f"$ {result.display}")
    for line in result.stdout.splitlines():
        print(f"  {line}")


def watch_jobs(kube: Kube, room: jm.Room, seats: list[jm.Seat], wait: float) -> None:
    """Watches the room's Jobs until each is Complete or Failed, printing each as it ends; TimedOut names the
    ones still running (the results so far are reported all the same)."""
    pending = {s.job for s in seats}
    started = time.monotonic()
    selector = f"{jm.WORKSHOP_LABEL}={room.workshop}"
    try:
        for etype, job in kube.watch("job", room.namespace, timeout=wait, selector=selector):
            if etype in ("SYNCED", "RESET", "DELETED") or job["metadata"]["name"] not in pending:
                continue
            ended = _ended(job)
            if ended:
                pending.discard(job["metadata"]["name"])
                print(f"  {job['metadata']['name']}: {ended} after {time.monotonic() - started:.0f} s "
                      f"({len(seats) - len(pending)}/{len(seats)})", flush=True)
            if not pending:
                return
    except TimedOut:
        pass
    print(f"  still running after {wait:g} s: {', '.join(sorted(pending))}; reporting what has been published")


def _ended(job: dict[str, Any]) -> str:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"] + (f" ({c.get('reason')})" if c["type"] == "Failed" else "")
    return ""


def report(kube: Kube, room: jm.Room, out: Path) -> int:
    """Reads the room's results back, prints the table and writes the room page; 0 when everyone passed."""
    dirs = results.fetch(kube, room.namespace, room.workshop, out)
    rows = [row_for(d) for d in dirs]
    print(render_text(rows))
    page = out / "report.html"
    page.write_text(render_room_html([seat_for(d) for d in dirs], title=f"ambient-lb workshop {room.workshop}"))
    print(f"report: {page}  (again later: ambient-lb report --from-cluster {room.workshop} "
          f"--namespace {room.namespace})")
    return 0 if rows and all(r["ok"] for r in rows) else 1
