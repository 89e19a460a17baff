"""The simulator's API answers nobody without the kubeconfig's token (docs/semantics-addendum.md R16.27).

Every discovered resource path (collections, objects, watches and subresources such as exec,
portforward, proxy, log, status and scale), the non-resource paths a cluster serves (OpenAPI, version,
health, metrics, logs, debug) and random junk, with every method, is asked without credentials and
with wrong tokens: a wrong token is 401 with the API server's Status body everywhere; no credentials is
401 everywhere but a GET of /healthz, /livez, /readyz and /version, which a cluster lets anyone read.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import urllib3

from ambient_lb.sim.process import Simulator, running_simulator
from ambient_lb.sim.server import authn

from .checks import (
    ANONYMOUS,
    METHODS,
    PUBLIC,
    Answer,
    api_paths,
    ask,
    authentication_violations,
    discover,
    wrong_tokens,
)
from .conftest import https_pool


@pytest.fixture(scope="module")
def paths(bare_sim: Simulator, pool: urllib3.HTTPSConnectionPool) -> list[str]:
    return api_paths(discover(pool, bare_sim.token))


def test_the_fuzzed_paths_cover_every_resource_and_subresource(paths: list[str]) -> None:
    """The corpus is what it claims: every kind of path, so a pass means something."""
    for needle in ("/api/v1/namespaces/default/pods/x/exec?command=sh", "/pods/x/portforward", "/pods/x/log",
                   "/services/x/proxy", "/deployments/x/scale", "/pods/x/status", "/api/v1/pods?watch=true",
                   "/apis/apps/v1/namespaces/default/deployments",
                   "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "/openapi/v2", "/openapi/v3", "/metrics",
                   *PUBLIC):
        assert any(needle in p for p in paths), needle
    assert len(paths) > 250


def test_no_credentials_is_401_everywhere_but_a_get_of_the_public_paths(pool, paths) -> None:
    answers = [ask(pool, m, p, None) for p in paths for m in METHODS]
    assert len(answers) == len(paths) * len(METHODS)
    assert authentication_violations(answers, wrong=False) == []
    assert sum(a.status == 401 for a in answers) == len(answers) - len(PUBLIC) * len(METHODS)


@pytest.mark.parametrize("authorization", ANONYMOUS[1:], ids=["basic-auth", "empty-bearer"])
def test_another_scheme_or_an_empty_bearer_token_is_no_credential(pool, paths, authorization) -> None:
    """The bearer authenticator skips them (no error), so they are anonymous, not 401-everywhere."""
    sample = [p for p in paths[::9]] + list(PUBLIC)
    answers = [ask(pool, m, p, authorization) for p in sample for m in METHODS]
    assert authentication_violations(answers, wrong=False) == []


def test_a_wrong_token_is_401_on_every_path_and_method(bare_sim, pool, paths) -> None:
    answers = [ask(pool, m, p, "Bearer wrong-token") for p in paths for m in METHODS]
    assert authentication_violations(answers, wrong=True) == []


def test_near_misses_of_the_token_are_401_too(bare_sim, pool, paths) -> None:
    """A prefix, one character more, another case, the token reversed: on a sample and on the public paths."""
    sample = [p for p in paths[::11]] + list(PUBLIC)
    answers = [ask(pool, m, p, auth) for auth in wrong_tokens(bare_sim.token) for p in sample for m in ("GET", "POST")]
    assert authentication_violations(answers, wrong=True) == []


def test_the_token_itself_reaches_the_api(bare_sim, pool) -> None:
    """The control: with the kubeconfig's token the same server answers (so the 401s are authentication)."""
    token = f"Bearer {bare_sim.token}"
    for path in ("/api/v1/namespaces", "/apis/apps/v1/deployments", "/openapi/v3", "/version", "/healthz"):
        assert ask(pool, "GET", path, token).status == 200, path
    assert ask(pool, "GET", "/api/v1/namespaces/default/pods/x/log", token).status == 404


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_with_a_wrong_token_must_log_in(bare_sim, tmp_path: Path) -> None:
    """What a learner sees with a stale kubeconfig: kubectl's own words for the 401."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(bare_sim.kubeconfig.read_text().replace(bare_sim.token, "stale-token"))
    r = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"),
                        "get", "namespaces"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "You must be logged in to the server" in r.stderr, r.stderr


# -- the check can fail --------------------------------------------------------------------------


def test_the_check_catches_an_api_server_that_lets_everyone_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: an authenticator that takes any token for the admin; the check reports it."""
    monkeypatch.setattr(authn, "authenticate", lambda header, token, tokens=None: authn.TOKEN_USER)
    with running_simulator(seed=6, bare=True) as sim:
        pool = https_pool(sim)
        answers = [ask(pool, m, p, auth) for auth in (None, "Bearer wrong-token")
                   for p in ("/api/v1/namespaces", "/api/v1/namespaces/default/secrets", "/version")
                   for m in ("GET", "DELETE")]
    found = authentication_violations([a for a in answers if a.authorization is None], wrong=False) + \
        authentication_violations([a for a in answers if a.authorization], wrong=True)
    assert any("GET /api/v1/namespaces (no credentials) -> 200" in f for f in found), found
    assert any("GET /version ('Bearer wrong-tok') -> 200" in f for f in found), found


def test_the_check_catches_a_401_without_the_status_body() -> None:
    """Broken on purpose: a 401 answered as plain text (as a bare HTTP server would) is not the API's."""
    plain = Answer("GET", "/api", None, 401, b"401: Unauthorized", "text/plain")
    assert authentication_violations([plain], wrong=False) == [
        "GET /api (no credentials) -> 401 b'401: Unauthorized': a 401 without the Unauthorized Status body"]
