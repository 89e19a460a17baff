"""kube.Kube.watch bookkeeping without a server: list-then-watch, resourceVersion hand-over, 410 relist."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ambient_lb.errors import TimedOut
from ambient_lb.kube import Kube


def pod(name: str, rv: str, ready: bool) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class Script:
    """Plays the API server: lists in order, and per watch call either events or a 410."""

    def __init__(self, lists: list[list[dict]], watches: list[list[dict] | int]) -> None:
        self.lists, self.watches = lists, watches
        self.watch_rvs: list[str | None] = []

    def install(self, kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        script = self

        def fake_list(kind: str, namespace: str | None, **_: Any) -> dict:
            items = script.lists.pop(0)
            rv = max((i["metadata"]["resourceVersion"] for i in items), default="1")
            return {"items": items, "metadata": {"resourceVersion": rv}}

        class FakeWatch:
            def __init__(self, return_type: Any = None) -> None:
                pass

            def stop(self) -> None:
                pass

            def stream(self, fn: Any, *args: Any, resource_version: str | None = None, **kw: Any) -> Iterator[dict]:
                script.watch_rvs.append(resource_version)
                step = script.watches.pop(0) if script.watches else []
                if isinstance(step, int):
                    raise ApiException(status=step, reason="Expired")
                for obj in step:
                    yield {"type": obj.pop("_type", "MODIFIED"), "raw_object": obj}

        monkeypatch.setattr(kube, "list", fake_list)
        monkeypatch.setattr(kube, "_method", lambda *a, **k: (lambda **kw: None, ()))
        monkeypatch.setattr(watch, "Watch", FakeWatch)


@pytest.fixture
def kube(kubeconfig) -> Kube:
    return Kube("kind-ambient", kubeconfig)


def test_watch_starts_at_the_list_resource_version(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([[pod("a", "5", False)]], [[pod("a", "6", True)]])
    script.install(kube, monkeypatch)
    ready = kube.wait_for_ready_pods("ns", "app=x", 1, timeout=5)
    assert [p["metadata"]["name"] for p in ready] == ["a"]
    assert script.watch_rvs == ["5"]


def test_410_gone_relists_and_forgets_stale_pods(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    """After 410 the pods from before are dropped; only the new listing counts (stale 'old' would
    otherwise make two ready pods)."""
    script = Script([[pod("old", "5", True)], [pod("new", "9", False)]],
                    [410, [pod("new", "10", True)]])
    script.install(kube, monkeypatch)
    with pytest.raises(TimedOut) as info:
        kube.wait_for_ready_pods("ns", "app=x", 2, timeout=0.5)
    assert info.value.last_seen == "new Unknown, Ready"
    assert script.watch_rvs[:2] == ["5", "9"]


def test_deletion_wait_is_not_fooled_by_a_relist(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([[pod("a", "5", True)], [pod("a", "7", True)]], [410, [dict(pod("a", "8", True), _type="DELETED")]])
    script.install(kube, monkeypatch)
    kube.wait_for_deletion("pod", "a", "ns", timeout=5)
    assert script.watch_rvs == ["5", "7"]


def test_a_watch_answered_500_once_is_retried_from_its_resource_version(kube: Kube,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """R19.6: a 5xx is retried after a short back-off, from the same resourceVersion (no relist)."""
    script = Script([[pod("a", "5", False)]], [500, [pod("a", "6", True)]])
    script.install(kube, monkeypatch)
    assert [p["metadata"]["name"] for p in kube.wait_for_ready_pods("ns", "app=x", 1, timeout=5)] == ["a"]
    assert script.watch_rvs == ["5", "5"]
    assert len(kube.retried) == 1 and "HTTP 500" in kube.retried[0]


def test_a_watch_that_keeps_failing_500_surfaces_as_a_cluster_error(kube: Kube,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ambient_lb.errors import ClusterError
    from ambient_lb.kube import READ_ATTEMPTS

    script = Script([[]], [500] * READ_ATTEMPTS)
    script.install(kube, monkeypatch)
    with pytest.raises(ClusterError, match="HTTP 500") as info:
        kube.wait_for_ready_pods("ns", "app=x", 1, timeout=30)
    assert "kubectl get --raw /readyz" in str(info.value)  # the next thing to try
    assert len(script.watch_rvs) == READ_ATTEMPTS


def test_other_watch_errors_are_cluster_errors_at_once(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    from ambient_lb.errors import ClusterError

    script = Script([[]], [403])
    script.install(kube, monkeypatch)
    with pytest.raises(ClusterError, match="HTTP 403"):
        kube.wait_for_ready_pods("ns", "app=x", 1, timeout=5)
    assert len(script.watch_rvs) == 1 and kube.retried == []


def test_timeout_when_events_never_satisfy(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    Script([[pod("a", "5", False)]], [[pod("a", "6", False)]]).install(kube, monkeypatch)
    with pytest.raises(TimedOut, match="last seen: a Unknown, not Ready"):
        kube.wait_for_ready_pods("ns", "app=x", 1, timeout=0.3)


def test_library_modules_do_not_import_kubernetes() -> None:
    """Only kube.py imports the slow kubernetes package, and only when a read or wait runs."""
    code = ("import sys, ambient_lb.params, ambient_lb.shell, ambient_lb.kube, ambient_lb.helm, ambient_lb.errors; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
