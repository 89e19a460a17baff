"""job_manifests.py: the objects that run a room as Jobs, and the Dockerfile their image is built from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ambient_lb import job_manifests as jm
from ambient_lb.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]


def room(**kw):
    return jm.Room("room-12", image="ghcr.io/ambient-lb/ambient-lb:0.1.0", **kw)


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def test_each_context_becomes_one_job_named_for_the_attendee_with_its_own_kubeconfig_secret():
    seats = [jm.Seat("kind-alice", "kind-alice"), jm.Seat("kind-bob", "kind-bob")]
    jobs = by_kind(jm.room_objects(room(), seats), "Job")
    assert [j["metadata"]["name"] for j in jobs] == ["ambient-lb-kind-alice", "ambient-lb-kind-bob"]
    pod = jobs[0]["spec"]["template"]["spec"]
    secret_volume = next(v for v in pod["volumes"] if v["name"] == "attendee")
    assert secret_volume["secret"]["secretName"] == "ambient-lb-kubeconfig-kind-alice"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["KUBECONFIG"]["value"] == f"{jm.ATTENDEE_DIR}/kubeconfig"
    assert jobs[0]["metadata"]["annotations"][jm.CONTEXT_ANNOTATION] == "kind-alice"


def test_the_job_runs_the_runbook_on_the_attendee_context_and_publishes_to_the_room():
    job = jm.job(room(overrides=("traffic.requests=30",), only="02"), jm.Seat("alice", "gke_p_z_alice"))
    argv = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert argv[:2] == ["ambient-lb", "run"]
    assert argv[argv.index("--run-id") + 1] == "alice"
    assert argv[argv.index("--only") + 1] == "02"
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    assert overrides == ["traffic.requests=30", "target=cluster", "kube.context=gke_p_z_alice"]
    assert argv[-2:] == ["--publish", "room-12"]


def test_the_license_comes_from_a_secret_reference_never_a_value():
    job = jm.job(room(license_key="KGW_LICENSE"), jm.Seat("alice", "alice"))
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "value" not in env["KGW_LICENSE"]
    assert env["KGW_LICENSE"]["valueFrom"]["secretKeyRef"] == {"name": jm.DEFAULT_LICENSE_SECRET, "key": "KGW_LICENSE"}


def test_the_pod_runs_non_root_read_only_without_capabilities_and_is_never_retried():
    job = jm.job(room(), jm.Seat("alice", "alice"))
    spec = job["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert spec["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] > 0
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == jm.RUN_USER
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    writable = {m["mountPath"] for m in c["volumeMounts"]
                if next(v for v in pod["volumes"] if v["name"] == m["name"]).get("emptyDir") is not None}
    assert writable == {jm.WORK_DIR, "/tmp"}  # where the run writes, with a read-only root
    assert pod["serviceAccountName"] == jm.RUNNER


def test_the_runner_may_only_read_and_write_configmaps_in_the_room_namespace():
    objs = jm.room_objects(room(namespace="class-a"), [])
    role = by_kind(objs, "Role")[0]
    assert role["metadata"]["namespace"] == "class-a"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "verbs": ["get", "create", "update", "patch"]}]
    binding = by_kind(objs, "RoleBinding")[0]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": jm.RUNNER, "namespace": "class-a"}]
    assert not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding")


def test_a_shared_params_file_is_mounted_from_a_configmap_and_passed_to_every_run():
    r = room(params_text="traffic:\n  requests: 30\n")
    objs = jm.room_objects(r, [jm.Seat("alice", "alice")])
    cm = by_kind(objs, "ConfigMap")[0]
    assert cm["metadata"]["name"] == r.params_config_map and "requests: 30" in cm["data"]["params.yaml"]
    argv = by_kind(objs, "Job")[0]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert argv[argv.index("--params") + 1] == f"{jm.PARAMS_DIR}/params.yaml"


def test_without_a_params_file_there_is_no_params_configmap_or_flag():
    objs = jm.room_objects(room(), [jm.Seat("alice", "alice")])
    assert not by_kind(objs, "ConfigMap")
    assert "--params" not in by_kind(objs, "Job")[0]["spec"]["template"]["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("context,name", [("kind-alice", "kind-alice"), ("bob", "bob")])
def test_a_context_that_is_a_dns_label_names_its_attendee_unchanged(context, name):
    assert jm.attendee_name(context) == name


def test_other_contexts_become_distinct_dns_labels():
    contexts = ["gke_proj_us-central1_Alice", "gke_proj_us-central1_alice",
                "arn:aws:eks:eu-west-1:123456789012:cluster/" + "x" * 80, "kind_a", "kind-a"]
    names = [jm.attendee_name(c) for c in contexts]
    assert len(set(names)) == len(names)
    for n in names:
        assert jm.dns_label(n, "name", "alice", 45) == n  # a Job name "ambient-lb-<name>" stays <= 63


@pytest.mark.parametrize("bad", ["Room_1", "-room", "room-", "", "x" * 64])
def test_a_bad_dns_label_is_refused_with_an_example(bad):
    with pytest.raises(ParameterError, match=r"--name .*e\.g\. --name room-12"):
        jm.dns_label(bad, "--name", "--name room-12")


def test_kubeconfig_and_license_secrets_carry_the_room_labels_and_string_data():
    r = room()
    s = jm.kubeconfig_secret(r, jm.Seat("alice", "alice"), "apiVersion: v1\nkind: Config\n")
    assert s["stringData"] == {"kubeconfig": "apiVersion: v1\nkind: Config\n"}
    assert s["metadata"]["labels"][jm.ATTENDEE_LABEL] == "alice"
    lic = jm.license_secret(r, "k-123")
    assert lic["metadata"]["name"] == jm.DEFAULT_LICENSE_SECRET and lic["stringData"] == {"LICENSE_KEY": "k-123"}


def test_the_default_image_is_this_version_of_the_project():
    from importlib import metadata
    assert jm.default_image() == f"{jm.IMAGE_REPOSITORY}:{metadata.version('ambient-lb')}"


# ---- the Dockerfile -------------------------------------------------------------------------------

def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_runs_as_the_non_root_user_the_job_asks_for():
    users = re.findall(r"^USER\s+(\S+)", dockerfile(), re.M)
    assert users and users[-1] == f"{jm.RUN_USER}:{jm.RUN_USER}"


def test_the_image_holds_kubectl_and_helm_verified_by_checksum_and_the_notebooks_next_to_the_library():
    text = dockerfile()
    for tool in ("kubectl", "helm"):
        assert re.search(rf"ARG {tool.upper()}_VERSION=v\d+\.\d+\.\d+", text), tool
    assert text.count("sha256sum -c -") == 2
    for part in ("lib", "notebooks", "params"):
        assert f"COPY {part} /app/{part}" in text
    assert "pip install --no-cache-dir -e /app" in text  # the runner finds notebooks/ beside lib/
    assert 'ENTRYPOINT ["ambient-lb"]' in text


def test_the_image_bakes_in_no_license():
    assert "LICENSE_KEY" not in dockerfile()


def test_the_build_context_leaves_out_what_is_built_here():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "runs"} <= set(ignored)
