"""How long the Table printers and the patch engines take at the issue's scale (1,000 pods).

Run: ``.venv/bin/python benchmarks/bench_tables.py``. Prints milliseconds per operation and the
ratio to a baseline measured in the same run (a plain ``json.dumps`` of the same pods), so the
numbers compare across machines. Targets (issue 3): a 1,000-pod Table list <= 50 ms of server time.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

from ambient_lb.sim.clock import to_rfc3339
from ambient_lb.sim.patch import apply_strategic_merge_patch, record_update, server_side_apply
from ambient_lb.sim.resources import Registry
from ambient_lb.sim.store import GR
from ambient_lb.sim.tables import to_table

NOW = 1_700_000_000.0


def make_pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-7d8f9b6c54-{i:05d}", "namespace": "demo", "labels": {"app": "web"},
                         "creationTimestamp": to_rfc3339(NOW - i)},
            "spec": {"nodeName": f"sim-node-{i % 3}", "containers": [{"name": "web", "image": "nginx"}]},
            "status": {"phase": "Running", "podIP": f"10.244.{i // 250}.{i % 250}",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0,
                                              "state": {"running": {"startedAt": to_rfc3339(NOW - i)}}}]}}


def schema_tree(depth: int, width: int) -> dict[str, Any]:
    """A CRD-like schema of ``width ** depth`` leaves (real Gateway API CRDs are a few hundred KB)."""
    if depth == 0:
        return {"type": "string", "description": "x" * 50}
    return {"type": "object", "properties": {f"p{i}": schema_tree(depth - 1, width) for i in range(width)}}


def best_ms(fn: Callable[[], Any], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main() -> None:
    pods = [make_pod(i) for i in range(1000)]
    rt = Registry().get(GR("", "pods"))
    baseline = best_ms(lambda: json.dumps(pods))
    table = best_ms(lambda: to_table(rt, pods, now=NOW))
    table_json = best_ms(lambda: json.dumps(to_table(rt, pods, now=NOW)))
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                        {"name": "web", "image": "nginx",
                         "env": [{"name": f"E{i}", "value": "v"} for i in range(20)]}]}}}}
    live = server_side_apply(None, dep, "kubectl", force=False, now="2025-01-01T00:00:00Z")
    ssa = best_ms(lambda: server_side_apply(live, dep, "kubectl", force=False, now="2025-01-01T00:01:00Z"), 50)
    upd = best_ms(lambda: record_update(live, copy.deepcopy(live), "kubectl-scale", "Update", "x"), 50)
    smp = best_ms(lambda: apply_strategic_merge_patch(live, {"spec": {"replicas": 4}}, ("apps", "Deployment")), 50)
    big = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "big.example.com"},
           "spec": {"group": "example.com", "versions": [{"name": "v1", "served": True, "storage": True,
                                                          "schema": {"openAPIV3Schema": schema_tree(5, 6)}}]}}
    big_live = server_side_apply(None, big, "kubectl", force=False, now="2025-01-01T00:00:00Z")
    big_ms = best_ms(lambda: server_side_apply(big_live, big, "kubectl", force=False, now="2025-01-01T00:01:00Z"), 3)
    big_dump = best_ms(lambda: json.dumps(big), 3)
    print(f"json.dumps of 1000 pods (baseline)    {baseline:8.2f} ms")
    print(f"to_table, 1000 pods                   {table:8.2f} ms  ({table / baseline:.1f}x baseline; target <= 50 ms)")
    print(f"to_table + json.dumps, 1000 pods      {table_json:8.2f} ms  ({table_json / baseline:.1f}x baseline)")
    print(f"server_side_apply, deployment 20 env  {ssa:8.3f} ms")
    print(f"record_update, deployment 20 env      {upd:8.3f} ms")
    print(f"strategic merge patch, deployment     {smp:8.3f} ms")
    print(f"server_side_apply, {len(json.dumps(big)) // 1024} KB CRD           {big_ms:8.2f} ms  "
          f"({big_ms / big_dump:.1f}x its json.dumps)")


if __name__ == "__main__":
    main()
