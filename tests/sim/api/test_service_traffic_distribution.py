"""spec.trafficDistribution as a 1.31 API server takes it: PreferClose only (semantics.md R5.1;
PreferSameZone and PreferSameNode exist from Kubernetes 1.33), refused with the real message before
anything is stored; the networking.istio.io/traffic-distribution annotation takes any value."""

from __future__ import annotations

import json

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "td", "namespace": "default"},
       "spec": {"selector": {"app": "td"}, "ports": [{"port": 80}]}}


def test_prefer_close_is_the_only_spec_value_a_1_31_server_takes(kubectl):
    kubectl("apply", "-f", "-", stdin=json.dumps(SVC))
    kubectl("patch", "service", "td", "-n", "default", "--type=merge", "-p",
            '{"spec":{"trafficDistribution":"PreferClose"}}')
    r = kubectl("patch", "service", "td", "-n", "default", "--type=merge", "-p",
                '{"spec":{"trafficDistribution":"PreferSameNode"}}', ok=False)
    assert ('The Service "td" is invalid: spec.trafficDistribution: Unsupported value: "PreferSameNode": '
            'supported values: "PreferClose"') in r.stderr
    got = kubectl("get", "service", "td", "-n", "default", "-o", "jsonpath={.spec.trafficDistribution}").stdout
    assert got == "PreferClose"  # the refused patch left nothing behind
    kubectl("annotate", "service", "td", "-n", "default", "networking.istio.io/traffic-distribution=PreferSameNode")
    kubectl("delete", "service", "td", "-n", "default")
