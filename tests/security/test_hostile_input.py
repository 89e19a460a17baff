"""YAML bombs, absurd nesting and huge files are refused with a clear error, and nothing is applied
(docs/semantics-addendum.md R16.28, R16.29).

A params file, a ``-p`` override and a ``--topology`` file are refused by the runbook (a
``ParameterError`` naming the file, what was wrong and a good example) before anything reaches a
cluster; a manifest is refused by kubectl itself (go-yaml's limits) or, sent to the simulator's API
anyway, by the API server (400, or 413 over 3 MiB), and the cluster is unchanged afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import urllib3

from ambient_lb import cli, yaml_limits
from ambient_lb.errors import ParameterError
from ambient_lb.params import load_params
from ambient_lb.sim.process import Simulator

from .checks import laughs, nested, unclear_refusal

KUBECTL = shutil.which("kubectl")
BILLION = laughs(8, 9)  # 9**9 = 387 million strings once expanded; 400 bytes as written
HUGE = 4 * 2**20


def refusal(fn: Any, *args: Any, **kw: Any) -> str:
    """The message of the ParameterError ``fn`` raises (fails the test when it raises none)."""
    with pytest.raises(ParameterError) as exc:
        fn(*args, **kw)
    return str(exc.value)


# -- params files and overrides ------------------------------------------------------------------

PARAMS_CASES = {
    "billion-laughs": ("target: sim\nanchors:\n" + laughs(8, 9, indent="  "), "document contains excessive aliasing"),
    "self-alias": ("target: sim\napp: &x {name: *x}\n", "anchor 'x' value contains itself"),
    "10000-levels": ("target: sim\napp: " + nested(10_000) + "\n", "exceeded max depth of 16"),
    "4-MiB": ("target: sim\n" + "".join(f"# padding line {i:08d} " + "x" * 100 + "\n" for i in range(HUGE // 120)),
              "more than the limit of 1.0 MiB"),
}


@pytest.mark.parametrize("case", PARAMS_CASES)
def test_a_hostile_params_file_is_refused_with_file_reason_and_example(tmp_path: Path, case: str) -> None:
    text, reason = PARAMS_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    message = refusal(load_params, path)
    assert unclear_refusal(message, str(path), reason, "replicas: 3") == []


def test_a_hostile_override_is_refused_as_a_parameter_problem() -> None:
    bomb = "[" + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}" if i else "lol"] * 9) + "]" for i in range(9)) + "]"
    message = refusal(load_params, None, [f"app.name={bomb}"])
    assert unclear_refusal(message, "app.name", "document contains excessive aliasing", "app.replicas=5") == []


def test_a_run_with_a_bomb_for_params_stops_before_the_cluster_changes(bare_sim: Simulator, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``ambient-lb run`` against a cluster: exit 2, the refusal on stderr, no notebook run, nothing applied."""
    params = tmp_path / "bomb.yaml"
    params.write_text(f"target: cluster\nkube:\n  kubeconfig: {bare_sim.kubeconfig}\n  context: ambient-lb-sim\n"
                      f"anchors:\n{laughs(8, 9, indent='  ')}")
    before = bare_sim.call(lambda: bare_sim.cluster.store.resource_version)
    assert cli.main(["run", "--params", str(params), "--out", str(tmp_path / "run"), "--only", "01"]) == 2
    err = capsys.readouterr().err
    assert unclear_refusal(err, str(params), "document contains excessive aliasing", "replicas: 3") == []
    assert not list((tmp_path / "run").glob("*.ipynb"))
    assert bare_sim.call(lambda: bare_sim.cluster.store.resource_version) == before


def test_a_hostile_topology_file_starts_no_simulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topology = tmp_path / "topology.yaml"
    topology.write_text("clusters:\n  - name: c1\n    nodes: " + nested(5000) + "\n")
    kubeconfig = tmp_path / "sim" / "kubeconfig"
    assert cli.main(["sim", "up", "--kubeconfig", str(kubeconfig), "--topology", str(topology)]) == 2
    err = capsys.readouterr().err
    assert unclear_refusal(err, str(topology), "exceeded max depth of 16", "clusters: [{name: cluster1") == []
    assert not kubeconfig.exists()


# -- the simulator's API ----------------------------------------------------------------------------

def send(pool: urllib3.HTTPSConnectionPool, sim: Simulator, method: str, path: str, body: bytes,
         ctype: str) -> tuple[int, dict[str, Any]]:
    r = pool.urlopen(method, path, body=body, headers={"Authorization": f"Bearer {sim.token}", "Content-Type": ctype},
                     retries=False, preload_content=True)
    return r.status, json.loads(r.data)


def cm(name: str, extra: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: v\n{extra}"


API_CASES = {
    "yaml-bomb-create": ("POST", "/api/v1/namespaces/default/configmaps", cm("bomb", "extra:\n" + laughs(8, 9, "  ")),
                         "application/yaml", 400, "document contains excessive aliasing"),
    "yaml-bomb-apply": ("PATCH", "/api/v1/namespaces/default/configmaps/bomb?fieldManager=t",
                        cm("bomb", "extra:\n" + laughs(8, 9, "  ")), "application/apply-patch+yaml", 400,
                        "error decoding YAML: error converting YAML to JSON: yaml: line"),
    "yaml-10000-levels": ("POST", "/api/v1/namespaces/default/configmaps", cm("deep", "extra: " + nested(10_000)),
                          "application/yaml", 400, "exceeded max depth of 200"),
    "json-300-levels": ("POST", "/api/v1/namespaces", json.dumps(
        {"metadata": {"name": "deep"}, "spec": {"x": json.loads(nested(300))}}), "application/json", 400,
        "exceeded max depth of 200"),
    "json-100000-levels": ("POST", "/api/v1/namespaces", '{"metadata": {"name": "deep"}, "x": ' + nested(100_000) + "}",
                           "application/json", 400, "exceeded max depth of 200"),
    "over-3-MiB": ("POST", "/api/v1/namespaces/default/configmaps", json.dumps(
        {"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 2**20)}}), "application/json", 413,
        "Request entity too large: limit is 3145728"),
}


@pytest.mark.parametrize("case", API_CASES)
def test_the_api_refuses_hostile_bodies_and_stores_nothing(bare_sim: Simulator, pool, case: str) -> None:
    method, path, body, ctype, code, message = API_CASES[case]
    before = bare_sim.call(lambda: bare_sim.cluster.store.resource_version)
    status, answer = send(pool, bare_sim, method, path, body.encode(), ctype)
    assert (status, answer["kind"], answer["code"]) == (code, "Status", code), answer
    assert message in answer["message"] and len(answer["message"]) < 500, answer["message"]
    assert bare_sim.call(lambda: bare_sim.cluster.store.resource_version) == before


def test_a_body_of_exactly_3_mib_is_read(bare_sim: Simulator, pool) -> None:
    """The boundary: the limit is on what is over it (a dry run, so nothing is kept either)."""
    head, tail = b'{"metadata": {"name": "edge"}, "data": {"k": "', b'"}}'
    body = head + b"x" * (3 * 2**20 - len(head) - len(tail)) + tail
    assert len(body) == 3 * 2**20
    send(pool, bare_sim, "POST", "/api/v1/namespaces", b'{"metadata": {"name": "default"}}', "application/json")
    status, answer = send(pool, bare_sim, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", body,
                          "application/json")
    assert status == 201, answer


@pytest.fixture
def kubectl_env(bare_sim: Simulator, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(bare_sim.kubeconfig), "HOME": str(tmp_path)}


@pytest.mark.parametrize("case,file_text,said", [
    ("bomb", cm("bomb", "extra:\n" + laughs(8, 9, "  ")),
     ("error converting YAML to JSON: yaml: document contains excessive aliasing",)),
    ("deep", cm("deep", "extra: " + nested(20_000)), ("exceeded max depth of 10000",)),
    ("big", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n"
     + "".join(f"  k{i}: {'x' * 1000}\n" for i in range(3300)),
     ("Error from server (RequestEntityTooLarge)", "Request entity too large: limit is 3145728")),
], ids=["bomb", "deep", "3.2-MiB"])
@pytest.mark.parametrize("server_side", [False, True], ids=["apply", "server-side-apply"])
@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_apply_of_a_hostile_manifest_applies_nothing(bare_sim: Simulator, kubectl_env, tmp_path: Path,
                                                             case: str, file_text: str, said: tuple[str, ...],
                                                             server_side: bool) -> None:
    manifest = tmp_path / f"{case}.yaml"
    manifest.write_text(file_text)
    before = bare_sim.call(lambda: bare_sim.cluster.store.resource_version)
    r = subprocess.run([KUBECTL, "apply", "-f", str(manifest), *(["--server-side"] if server_side else [])],
                       capture_output=True, text=True, env=kubectl_env, timeout=120)
    assert r.returncode == 1 and all(words in r.stderr for words in said), r.stderr[-500:]
    assert bare_sim.call(lambda: bare_sim.cluster.store.resource_version) == before


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("levels,fanout,padding,refused", [(3, 10, 35, True), (3, 10, 40, False),
                                                            (4, 6, 35, True), (4, 6, 40, False)])
def test_the_alias_limit_agrees_with_kubectl_on_both_sides_of_go_yaml_s_ratio(kubectl_env, tmp_path: Path, levels: int,
                                                                              fanout: int, padding: int,
                                                                              refused: bool) -> None:
    """The same documents, read by go-yaml in kubectl and by yaml_limits: both refuse or both accept."""
    doc = cm("ratio", "extra:\n" + "".join(f"  p{i}: v\n" for i in range(padding)) + laughs(levels, fanout, "  "))
    (tmp_path / "ratio.yaml").write_text(doc)
    r = subprocess.run([KUBECTL, "apply", "--dry-run=client", "--validate=false", "-f", str(tmp_path / "ratio.yaml")],
                       capture_output=True, text=True, env=kubectl_env, timeout=60)
    assert ("excessive aliasing" in r.stderr) is refused, r.stderr
    try:
        yaml_limits.check(doc, max_bytes=2**20)
        ours = False
    except yaml_limits.Refused:
        ours = True
    assert ours is refused


# -- the checks can fail ---------------------------------------------------------------------------


def test_without_the_guard_a_bomb_in_params_comes_back_inside_its_own_error(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: yaml_limits lets everything through; a small bomb (7,776 strings) then loads,
    the params check names an unknown key and prints the expanded value, and the check says so."""
    monkeypatch.setattr(yaml_limits, "check", lambda *a, **kw: None)
    path = tmp_path / "bomb.yaml"
    path.write_text("target: sim\nanchors:\n" + laughs(4, 6, indent="  "))
    message = refusal(load_params, path)
    found = unclear_refusal(message, str(path), "document contains excessive aliasing", "replicas: 3")
    assert "does not say 'document contains excessive aliasing'" in found
    assert any(f.startswith("is ") and f.endswith("characters long") for f in found), found


def test_without_the_guard_the_api_stores_a_bomb(bare_sim: Simulator, pool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: yaml_limits lets everything through; a small bomb is stored, which the
    refusal test's two checks (the answer, the store's resourceVersion) both see."""
    monkeypatch.setattr(yaml_limits, "check", lambda *a, **kw: None)
    before = bare_sim.call(lambda: bare_sim.cluster.store.resource_version)
    doc = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: laughs\nspec:\n" + laughs(4, 6, "  ")
    status, _ = send(pool, bare_sim, "PATCH", "/api/v1/namespaces/laughs?fieldManager=t", doc.encode(),
                     "application/apply-patch+yaml")
    assert status in (200, 201)
    assert bare_sim.call(lambda: bare_sim.cluster.store.resource_version) != before
