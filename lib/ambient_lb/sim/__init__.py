"""The cluster-in-a-box: a Kubernetes-API-compatible server plus a model of the ambient data plane.

It is a *model* of the real system, not the real system. Each behaviour cites the rule it
implements in ``shared/research/semantics.md`` (``R2.4`` and so on). The real ``kubectl`` and the
real ``kubernetes`` client reach it through a kubeconfig, exactly as they would a cluster.

Layering: ``ambient_lb.sim`` imports nothing of the runbook but ``ambient_lb.errors``, and never the
``kubernetes`` package; it is a server, and the library is its client, which reaches this package's
code only through ``ambient_lb.simulator`` (import-linter contracts in pyproject.toml).
"""
