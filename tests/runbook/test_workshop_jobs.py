"""workshop_jobs.py and results.py: a room as Jobs in the trainer's cluster, checked before anything changes,
every rendered object accepted by an API server, and the published results read back into the room report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ambient_lb import cli, results
from ambient_lb import job_manifests as jm
from ambient_lb import workshop_jobs as wj
from ambient_lb.errors import ParameterError
from ambient_lb.kube import Kube

process = pytest.importorskip("ambient_lb.sim.process")
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubeconfig(path: Path, current: str, servers: dict[str, str]) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in servers],
        "users": [{"name": n, "user": {"token": f"t-{n}"}} for n in servers]}))
    return path


def workshop_args(*argv: str):
    return cli.build_parser().parse_args(["workshop", *argv])


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """A kubeconfig: the trainer's cluster (current) and three attendees, one of them on this machine's loopback."""
    path = kubeconfig(tmp_path / "kubeconfig", "trainer", {
        "trainer": "https://10.0.0.1:6443", "alice": "https://alice.example:6443",
        "bob": "https://bob.example:6443", "local": "https://127.0.0.1:6443"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


# ---- every input is checked before anything changes ----------------------------------------------------

def test_a_valid_room_plans_one_seat_per_context_on_the_current_context(fleet, tmp_path):
    room, seats, kube = wj.plan(workshop_args("--jobs", "--contexts", "alice,bob", "--name", "room-12",
                                              "--out", str(tmp_path / "out")), tmp_path / "out")
    assert kube.context == "trainer"
    assert [(s.name, s.context) for s in seats] == [("alice", "alice"), ("bob", "bob")]
    assert room.workshop == "room-12" and room.namespace == jm.DEFAULT_NAMESPACE
    assert "kube.kubeconfig=null" in room.overrides  # the pod's $KUBECONFIG, whatever the params file says


def test_the_room_is_named_after_the_out_directory_by_default(fleet, tmp_path):
    room, _, _ = wj.plan(workshop_args("--jobs", "--contexts", "alice", "--out", str(tmp_path / "Class-A")),
                         tmp_path / "Class-A")
    assert room.workshop == "class-a"


@pytest.mark.parametrize("argv,match", [
    (["--jobs", "--attendees", "3"], r"give --contexts"),
    (["--jobs", "--contexts", "alice", "--name", "Room_1"], r"--name 'Room_1'.*e\.g\. --name room-12"),
    (["--jobs", "--contexts", "alice", "--namespace", "Bad NS"], r"--namespace"),
    (["--jobs", "--contexts", "carol"], r"'carol' is not a context of the kubeconfig \(it has: trainer, alice"),
    (["--jobs", "--contexts", "local"], r"loopback: a pod in the trainer's cluster"),
    (["--jobs", "--contexts", "alice,alice"], r"given twice"),
    (["--jobs", "--contexts", " , "], r"give at least one kube context"),
    (["--jobs", "--contexts", "alice", "--parallel", "4"], r"drop --parallel"),
    (["--jobs", "--contexts", "alice", "-p", "traffic.requests=lots"], r"traffic\.requests"),
    (["--jobs", "--contexts", "alice", "--image", "my image"], r"--image 'my image'"),
])
def test_bad_input_is_refused_before_the_cluster_is_touched(fleet, tmp_path, argv, match):
    out = tmp_path / "room"
    with pytest.raises(ParameterError, match=match):
        wj.plan(workshop_args(*argv, "--out", str(out)), out)


def test_a_refused_room_exits_2_and_writes_nothing(fleet, tmp_path, capsys):
    out = tmp_path / "room"
    assert cli.main(["workshop", "--jobs", "--contexts", "carol", "--out", str(out)]) == 2
    assert "carol" in capsys.readouterr().err
    assert not out.exists()


def test_jobs_only_flags_are_refused_without_jobs(tmp_path, capsys):
    assert cli.main(["workshop", "--attendees", "2", "--image", "x:1", "--out", str(tmp_path / "o")]) == 2
    assert "--image is for --jobs" in capsys.readouterr().err


def test_the_manifests_on_disk_hold_no_secret(tmp_path):
    r = jm.Room("room-12", image="ghcr.io/ambient-lb/ambient-lb:0.1.0")
    base, jobs = wj.write_manifests(jm.room_objects(r, [jm.Seat("alice", "alice")]), tmp_path / "jobs")
    kinds = [d["kind"] for f in (base, jobs) for d in yaml.safe_load_all(f.read_text())]
    assert "Secret" not in kinds and kinds.count("Job") == 1 and kinds[0] == "Namespace"


# ---- against an API server: the real kubectl and the simulator -------------------------------------------

@pytest.fixture(scope="module")
def api():
    with process.running_simulator(seed=13, speed=50, bare=True, bookmark_seconds=0.5) as sim:
        yield sim


def kubectl(sim, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig)}
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.kubectl
@needs_kubectl
def test_every_rendered_manifest_passes_a_server_side_dry_run(api, tmp_path):
    r = jm.Room("dry-room", namespace="dry-run", image="ghcr.io/ambient-lb/ambient-lb:0.1.0",
                params_text="traffic:\n  requests: 30\n", overrides=("traffic.requests=30",))
    seats = [jm.Seat("alice", "kind-alice"), jm.Seat(jm.attendee_name("gke_p_z_Bob"), "gke_p_z_Bob")]
    objs = jm.room_objects(r, seats)
    assert kubectl(api, "create", "namespace", "dry-run").returncode == 0  # dry-run writes nothing, so the
    base, jobs = wj.write_manifests(objs, tmp_path / "jobs")  # namespace must exist, as on a cluster
    secrets = kubectl_yaml([jm.license_secret(r, "k"), *(jm.kubeconfig_secret(r, s, "kind: Config\n") for s in seats)])
    for how in (["apply", "--dry-run=server"], ["apply", "--server-side", "--dry-run=server"],
                ["create", "--dry-run=server"]):
        for source, text in ((str(base), None), (str(jobs), None), ("-", secrets)):
            done = kubectl(api, *how, "-f", source, input=text)
            assert done.returncode == 0, (how, source, done.stderr)
            assert "(server dry run)" in done.stdout
    listed = kubectl(api, "get", "jobs,roles,secrets", "-n", "dry-run", "-o", "name")
    assert listed.stdout.strip() == ""  # a dry run changed nothing


def kubectl_yaml(objs) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


def result_configmap(attendee: str, summary: dict, room: str = "room-7") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": jm.result_name(attendee), "namespace": "rooms",
                         "labels": {jm.WORKSHOP_LABEL: room, jm.ATTENDEE_LABEL: attendee}},
            "data": {results.SUMMARY_KEY: json.dumps(summary)}}


def summary(ok: bool, *, finished: bool = True, failed_check: str = "") -> dict:
    check = {"name": failed_check or "pods ready", "ok": ok, "status": "PASS" if ok else "FAIL",
             "detail": "3/3 ready" if ok else "0/3 ready", "reason": "" if ok else "ImagePullBackOff"}
    return {"ok": ok, "finished": finished, "first_failure": "" if ok else f"02.1: {failed_check}",
            "notebooks": [{"name": "02-deploy", "ok": ok, "seconds": 12.0,
                           "steps": [{"step": "02.1", "title": "Deploy", "seconds": 12.0, "checks": [check]}]}]}


@pytest.fixture(scope="module")
def room_in_cluster(api):
    """Room room-7 in namespace rooms: alice passed, bob is stuck, dan is mid-run, carol's Job failed unpublished."""
    assert kubectl(api, "create", "namespace", "rooms").returncode == 0
    maps = [result_configmap("alice", summary(True)),
            result_configmap("bob", summary(False, failed_check="pods ready")),
            result_configmap("dan", summary(True, finished=False)),
            result_configmap("eve", summary(True), room="other-room")]
    done = kubectl(api, "apply", "-f", "-", input=kubectl_yaml(maps))
    assert done.returncode == 0, done.stderr
    r = jm.Room("room-7", namespace="rooms", image="ghcr.io/ambient-lb/ambient-lb:0.1.0")
    job = jm.job(r, jm.Seat("carol", "kind-carol"))
    assert kubectl(api, "create", "-f", "-", input=kubectl_yaml([job])).returncode == 0

    def failed(obj):
        obj["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                         "message": "Job was active longer than specified deadline"}]}
    api.call(lambda: api.cluster.store.mutate(results_gr(), "rooms", "ambient-lb-carol", failed))
    return api


def results_gr():
    from ambient_lb.sim.store import GR
    return GR("batch", "jobs")


@pytest.mark.kubectl
@needs_kubectl
def test_results_are_read_back_one_directory_per_attendee_of_the_room(room_in_cluster, tmp_path):
    kube = Kube("ambient-lb-sim", room_in_cluster.kubeconfig)
    dirs = results.fetch(kube, "rooms", "room-7", tmp_path)
    assert [d.name for d in dirs] == ["alice", "bob", "carol", "dan"]  # not eve: another room
    assert json.loads((tmp_path / "alice" / "summary.json").read_text())["ok"] is True
    unpublished = json.loads((tmp_path / "carol" / results.NOT_PUBLISHED).read_text())
    assert unpublished["state"] == "failed" and "DeadlineExceeded" in unpublished["detail"]
    assert unpublished["hint"] == ("kubectl logs job/ambient-lb-carol -n rooms; "
                                   "kubectl describe job ambient-lb-carol -n rooms")


@pytest.mark.kubectl
@needs_kubectl
def test_report_from_cluster_prints_who_is_where_and_writes_the_room_page(room_in_cluster, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("KUBECONFIG", str(room_in_cluster.kubeconfig))
    page = tmp_path / "room.html"
    code = cli.main(["report", "--from-cluster", "room-7", "--namespace", "rooms", "--out", str(tmp_path / "r"),
                     "--html", str(page)])
    out, err = capsys.readouterr()
    assert code == 1, err  # not everyone passed
    assert "4 attendee(s) of room-7 from namespace rooms" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in
            ("alice", "bob", "carol", "dan")}
    assert "True" in rows["alice"]
    assert "pods ready" in rows["bob"]
    assert "DeadlineExceeded" in rows["carol"]
    assert "(still running)" in rows["dan"]
    assert "1 of 4 runs passed; 2 stuck; 1 still running" in out
    html = page.read_text()
    assert "1 of 4 passed" in html and "2 stuck" in html and "1 still running" in html
    assert "data-state='running'" in html


@pytest.mark.kubectl
@needs_kubectl
def test_report_from_cluster_of_an_unknown_room_says_where_it_looked(room_in_cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBECONFIG", str(room_in_cluster.kubeconfig))
    assert cli.main(["report", "--from-cluster", "room-404", "--namespace", "rooms",
                     "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no Jobs and no results labelled ambient-lb.dev/workshop=room-404 in namespace rooms" in err


def test_report_needs_runs_or_a_room(capsys):
    assert cli.main(["report"]) == 2
    assert "--from-cluster ROOM" in capsys.readouterr().err


# ---- end to end: a room of two on the simulator -----------------------------------------------------------

def merged_kubeconfig(path: Path, current: str, sims: dict[str, Path]) -> Path:
    """One kubeconfig with a context per simulator kubeconfig, each renamed (they all call theirs ambient-lb-sim)."""
    merged = {"apiVersion": "v1", "kind": "Config", "current-context": current, "clusters": [], "users": [],
              "contexts": []}
    for name, file in sims.items():
        doc = yaml.safe_load(file.read_text())
        merged["clusters"].append({"name": name, "cluster": doc["clusters"][0]["cluster"]})
        merged["users"].append({"name": name, "user": doc["users"][0]["user"]})
        merged["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path.write_text(yaml.safe_dump(merged))
    path.chmod(0o600)
    return path


@pytest.mark.slow
@pytest.mark.kubectl
@needs_kubectl
def test_a_room_runs_as_jobs_on_the_simulator_and_reports_who_is_where(tmp_path, monkeypatch, capsys):
    """workshop --jobs end to end: the trainer's simulator runs one Job per attendee; each pod (the project's
    image, run by the simulator's kubelet as a local process) runs notebook 00 against its attendee's cluster
    and publishes with its service account; the room report reads the results back. alice's cluster answers;
    bob's context points at a port where nothing listens, so his run is stuck at 00.3 with kubectl's reason."""
    fake_bin = tmp_path / "bin"  # the image has helm (Dockerfile); this machine does not: a stand-in that
    fake_bin.mkdir()  # answers `helm version --short` as helm 3 does
    (fake_bin / "helm").write_text("#!/bin/sh\necho v3.16.4+g7877b45\n")
    (fake_bin / "helm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LICENSE_KEY", "lic-canary-7f3a")
    with process.running_simulator(seed=31, speed=20) as trainer, \
            process.running_simulator(seed=32, speed=20) as attendee:
        nowhere = tmp_path / "nowhere.kubeconfig"  # bob: a kubeconfig whose server does not answer
        doc = yaml.safe_load(attendee.kubeconfig.read_text())
        doc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
        nowhere.write_text(yaml.safe_dump(doc))
        config = merged_kubeconfig(tmp_path / "kubeconfig", "trainer",
                                   {"trainer": trainer.kubeconfig, "alice": attendee.kubeconfig, "bob": nowhere})
        monkeypatch.setenv("KUBECONFIG", str(config))
        out = tmp_path / "room-3"
        code = cli.main(["workshop", "--jobs", "--contexts", "alice,bob", "--only", "00", "--out", str(out),
                         "--wait", "600"])
        printed, err = capsys.readouterr()
        assert code == 1, (printed, err)  # bob is stuck
        assert "$ kubectl apply --server-side --field-manager=ambient-lb-workshop -f " in printed
        assert "lic-canary-7f3a" not in printed + err
        for path in out.rglob("*"):
            if path.is_file():
                assert "lic-canary-7f3a" not in path.read_text(errors="replace"), path
        assert "ambient-lb-alice: Complete" in printed
        assert "ambient-lb-bob: Failed (BackoffLimitExceeded)" in printed  # the run exits 1: a failed check
        print(printed)
        alice = json.loads((out / "alice" / "summary.json").read_text())
        assert alice["ok"] is True and alice["finished"] is True
        assert [n["name"] for n in alice["notebooks"]] == ["00-prerequisites"]
        bob = json.loads((out / "bob" / "summary.json").read_text())
        assert bob["ok"] is False and "00.3" in bob["first_failure"]
        page = (out / "report.html").read_text()
        assert "1 of 2 passed" in page and "The cluster is reachable" in page

        # the pods ran as the runner service account: their results are there, and kubectl logs shows the run
        logs = kubectl(trainer, "logs", "-n", jm.DEFAULT_NAMESPACE, "job/ambient-lb-alice")
        assert "published: ConfigMap ambient-lb-workshop/ambient-lb-result-alice" in logs.stdout, logs.stderr
        # and again later, from the cluster alone
        monkeypatch.setenv("KUBECONFIG", str(config))
        again = tmp_path / "again"
        assert cli.main(["report", "--from-cluster", "room-3", "--out", str(again)]) == 1
        assert (again / "alice" / "summary.json").read_text() == (out / "alice" / "summary.json").read_text()
