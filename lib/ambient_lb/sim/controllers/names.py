"""Generated names and hashes as Kubernetes makes them: 5-character suffixes, the
pod-template-hash, and the per-controller RNG they are drawn from.

Who calls it: the controllers that create objects (deployments, replicasets, daemonsets, jobs,
endpoint slices, defaults for ``generateName``) and ``rbac.py``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from ..protocols import SimCluster

# the alphabet Kubernetes uses for generated name suffixes and pod-template-hash (k8s.io/apimachinery rand)
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(rng: Any, n: int = 5) -> str:
    """n random characters from Kubernetes' name-suffix alphabet."""
    return "".join(rng.choice(ALPHANUMS) for _ in range(n))


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of data (what pod-template-hash is built from)."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """k8s.io/apimachinery ``rand.SafeEncodeString``: each byte mapped onto ``ALPHANUMS``."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def template_hash(template: dict[str, Any], collisions: int = 0) -> str:
    """A pod-template-hash shaped like the real one (FNV-32a of the template, safe-encoded: up to
    10 characters such as ``7d8f9b6c54``); deterministic for the same template."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += str(collisions).encode()
    return safe_encode(str(fnv32a(data)))


def named_rng(cluster: SimCluster, name: str) -> random.Random:
    """An RNG seeded from the cluster's seed and a controller's name, drawing nothing from
    ``cluster.rng``: controllers added later use it, so the names and IPs every earlier controller
    draws for a given ``--seed`` stay what they were."""
    return random.Random(f"{cluster.seed}:{name}")
