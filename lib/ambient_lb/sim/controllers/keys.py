"""What the controllers call things: the group/resource keys of the built-in types they read and
write, and the Istio release the bootstrap installs.

Who calls it: every module of ``sim/controllers``, and ``sim/mesh/objects.py``, which re-exports the
keys so both layers name a type the same way.
"""

from __future__ import annotations

from ..store import GR

NAMESPACES = GR("", "namespaces")
NODES = GR("", "nodes")
PODS = GR("", "pods")
SERVICES = GR("", "services")
ENDPOINTS = GR("", "endpoints")
SERVICE_ACCOUNTS = GR("", "serviceaccounts")
CONFIG_MAPS = GR("", "configmaps")
SECRETS = GR("", "secrets")
EVENTS = GR("", "events")
DEPLOYMENTS = GR("apps", "deployments")
REPLICA_SETS = GR("apps", "replicasets")
REPLICATION_CONTROLLERS = GR("", "replicationcontrollers")
DAEMON_SETS = GR("apps", "daemonsets")
ENDPOINT_SLICES = GR("discovery.k8s.io", "endpointslices")
CRDS = GR("apiextensions.k8s.io", "customresourcedefinitions")
GATEWAY_CLASSES = GR("gateway.networking.k8s.io", "gatewayclasses")

# the Istio release the bootstrap installs (the waypoint model in sim/mesh uses the same one)
ISTIO_VERSION = "1.28.0"
