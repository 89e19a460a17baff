"""The simulated clusters' nodes and their locality: the ``--topology FILE`` model.

Who calls it: ``ambient-lb sim up --topology FILE`` (``load_topology``), ``build_cluster`` (which hands
one ``ClusterTopology`` to each ``Cluster``), and the node controller in ``sim/controllers/nodes.py``,
which turns each ``NodeSpec`` into a Node object. Node labels stay authoritative afterwards: a learner
who relabels a node's zone moves the node's pods and endpoints with it.

A file looks like this (every key but ``clusters[].nodes[].zone`` has a default)::

    clusters:
      - name: cluster1
        network: network1
        nodes:
          - {name: node-a, region: us-east1, zone: us-east1-b}
          - {name: node-b, region: us-east1, zone: us-east1-c, subzone: rack-2}

A single cluster may also be written without the ``clusters`` list: ``nodes: [...]`` at the top.
The default (no file) is one cluster with three nodes in one zone, like a small test cluster.
Ready-made files live in ``sim/data/topologies`` and load by name: ``single-zone``,
``three-zones``, ``two-regions``, ``two-clusters``. ``max_pods`` per node (default 110, the
kubelet's) sizes each node's pod CIDR.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import yaml_limits
from ..errors import ParameterError

DEFAULT_CLUSTER = "ambient-lb-sim"
DEFAULT_REGION = "us-central1"
DEFAULT_ZONE = "us-central1-a"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
SUBZONE_LABEL = "topology.istio.io/subzone"
NETWORK_LABEL = "topology.istio.io/network"

MAX_FILE_BYTES = 2**20  # a topology of a few clusters and nodes is a few KiB
MAX_DEPTH = 16  # clusters > nodes > labels
_EXAMPLE = "clusters: [{name: cluster1, nodes: [{name: node-a, region: us-east1, zone: us-east1-b}]}]"


def _dns_label(value: str, what: str) -> str:
    import re
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
        raise ValueError(f"{what} {value!r} is not a valid DNS-1123 name; for example 'node-a'")
    return value


class NodeSpec(BaseModel):
    """One node: its name, locality and extra labels."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    region: str = DEFAULT_REGION
    zone: str = DEFAULT_ZONE
    subzone: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    max_pods: int = Field(default=110, ge=1, le=4000)  # the kubelet's maxPods; sizes the pod CIDR
    internal_ip: str = ""  # filled in by ClusterTopology (172.18.<cluster>.<n>)
    pod_cidr: str = ""  # filled in by ClusterTopology (10.244.<n>.0/24)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "node name") if v else v

    def node_labels(self, network: str | None) -> dict[str, str]:
        """The labels a real node of this locality carries (topology, hostname, os, arch)."""
        out = {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
            REGION_LABEL: self.region, ZONE_LABEL: self.zone,
        }
        if self.subzone:
            out[SUBZONE_LABEL] = self.subzone
        if network:
            out[NETWORK_LABEL] = network
        out.update(self.labels)
        return out


class ClusterTopology(BaseModel):
    """One cluster: its name, network and nodes (each ``Cluster`` gets one of these)."""

    model_config = ConfigDict(extra="forbid")
    name: str = DEFAULT_CLUSTER
    network: str | None = None
    nodes: list[NodeSpec] = Field(default_factory=list)
    index: int = 0  # position among the clusters; picks the node-IP and pod-CIDR ranges

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _dns_label(v, "cluster name")

    @model_validator(mode="after")
    def _fill(self) -> ClusterTopology:
        if not self.nodes:
            self.nodes = [NodeSpec() for _ in range(3)]
        names = _default_names(self.name, len(self.nodes))
        base = ipaddress.IPv4Address("172.18.0.0") + 256 * self.index
        blocks = _cidr_blocks(max(n.max_pods for n in self.nodes))
        if blocks * len(self.nodes) > 256:
            raise ValueError(f"cluster {self.name!r}: {len(self.nodes)} nodes with max_pods "
                             f"{max(n.max_pods for n in self.nodes)} do not fit 10.{244 + self.index}.0.0/16; "
                             "use fewer nodes or a smaller max_pods, e.g. 110")
        for i, node in enumerate(self.nodes):
            node.name = node.name or names[i]
            node.internal_ip = node.internal_ip or str(base + 2 + i)
            node.pod_cidr = node.pod_cidr or f"10.{244 + self.index}.{i * blocks}.0/{24 - blocks.bit_length() + 1}"
        seen = [n.name for n in self.nodes]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            raise ValueError(f"node names must be unique in cluster {self.name!r}; {dup} appear twice")
        return self

    def node(self, name: str) -> NodeSpec | None:
        """The node of this name, or None."""
        return next((n for n in self.nodes if n.name == name), None)


def _cidr_blocks(max_pods: int) -> int:
    """How many /24 blocks a node's pod CIDR needs (a power of two): 1 up to 253 pods."""
    blocks = 1
    while blocks * 256 - 3 < max_pods:
        blocks *= 2
    return blocks


def _default_names(cluster: str, count: int) -> list[str]:
    """kind-style names: ``<cluster>-worker``, ``<cluster>-worker2``, …"""
    return [f"{cluster}-worker" + ("" if i == 0 else str(i + 1)) for i in range(count)]


class Topology(BaseModel):
    """Every simulated cluster, in order."""

    model_config = ConfigDict(extra="forbid")
    clusters: list[ClusterTopology] = Field(default_factory=lambda: [ClusterTopology()])

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, dict) and "nodes" in data and "clusters" not in data:
            data = {"clusters": [{k: v for k, v in data.items()}]}
        if isinstance(data, dict):
            for i, c in enumerate(data.get("clusters") or []):
                if isinstance(c, dict):
                    c.setdefault("index", i)
        return data

    @model_validator(mode="after")
    def _unique(self) -> Topology:
        names = [c.name for c in self.clusters]
        if not names:
            raise ValueError("clusters must list at least one cluster")
        if len(set(names)) != len(names):
            raise ValueError(f"cluster names must be unique; got {names}")
        return self

    @classmethod
    def default(cls) -> Topology:
        """The default topology: one cluster with ClusterTopology's defaults."""
        return cls()

    def cluster(self, name: str | None = None) -> ClusterTopology:
        """The cluster called ``name``, or the first one."""
        if name is None:
            return self.clusters[0]
        for c in self.clusters:
            if c.name == name:
                return c
        raise ParameterError(f"topology has no cluster {name!r}; it has {[c.name for c in self.clusters]}")


def parse_topology(data: Any, source: str = "topology") -> Topology:
    """Validate a topology mapping; errors name the key, what was wrong and an example."""
    if data is None:
        return Topology.default()
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: expected a mapping with 'clusters' or 'nodes', got "
                             f"{type(data).__name__}; for example: {_EXAMPLE}")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{source}: {key}: {err['msg']}")
        raise ParameterError("\n".join(lines) + f"\nFor example: {_EXAMPLE}") from None


def builtin_topologies() -> dict[str, Path]:
    """The topologies shipped in ``sim/data/topologies``, by name (``three-zones``, …)."""
    folder = Path(__file__).parent / "data" / "topologies"
    return {f.stem: f for f in sorted(folder.glob("*.yaml"))}


def load_topology(path: str | Path | None) -> Topology:
    """Read ``--topology FILE`` (or the name of a built-in one); ``None`` gives the default."""
    if path is None:
        return Topology.default()
    p = Path(path)
    if not p.exists() and str(path) in builtin_topologies():
        p = builtin_topologies()[str(path)]
    try:
        text = yaml_limits.read(p, max_bytes=MAX_FILE_BYTES)
    except yaml_limits.Refused as exc:
        raise ParameterError(f"--topology {p}: refused, nothing was read: {exc}; a topology file is a few "
                             f"KiB, for example: {_EXAMPLE}") from None
    except OSError as exc:
        raise ParameterError(f"--topology {p}: cannot read the file ({exc.strerror}); pass a YAML file such "
                             f"as topology.yaml or a built-in name: {', '.join(builtin_topologies())}") from None
    try:
        data = yaml_limits.load(text, max_bytes=MAX_FILE_BYTES, max_depth=MAX_DEPTH)
    except yaml_limits.Refused as exc:  # a YAML bomb or absurd nesting (R16.29)
        raise ParameterError(f"--topology {p}: refused, nothing was taken from it: {exc}; write each node out "
                             f"(no anchors or aliases), for example: {_EXAMPLE}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"--topology {p}: not valid YAML ({exc}); for example: {_EXAMPLE}") from None
    return parse_topology(data, str(p))


def cluster_topology(value: Any, cluster_name: str | None = None) -> ClusterTopology:
    """What ``Cluster.topology`` may hold (None, a ``Topology``, a ``ClusterTopology`` or a mapping),
    resolved to the ``ClusterTopology`` for ``cluster_name``."""
    if value is None:
        return ClusterTopology(name=cluster_name or DEFAULT_CLUSTER)
    if isinstance(value, ClusterTopology):
        return value
    if isinstance(value, (str, Path)):
        value = load_topology(value)
    if isinstance(value, dict):
        value = parse_topology(value)
    if isinstance(value, Topology):
        names = [c.name for c in value.clusters]
        return value.cluster(cluster_name if cluster_name in names else None)
    raise ParameterError(f"topology: expected a Topology, ClusterTopology, mapping or file path, "
                         f"got {type(value).__name__}")
