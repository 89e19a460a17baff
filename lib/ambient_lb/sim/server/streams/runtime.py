"""What the kubelet and containerd say: the texts of their exec and port-forward errors.

Who calls it: ``exec.py``, ``exec_ws.py``, ``exec_spdy.py``, ``portforward.py`` and
``portforward_ws.py``. A real API server passes these texts through from the node, so clients print
them verbatim; the simulator builds the same strings for its pods. A pod's sandbox id and network
namespace path are derived from its uid, so they are stable for the pod's life, as on a node.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

Obj = dict[str, Any]


def sandbox_id(pod: Obj) -> str:
    """The pod sandbox's 64-hex id (containerd names the pod by it in port-forward errors, R15.13)."""
    md = pod["metadata"]
    key = md.get("uid") or f"{md.get('namespace')}/{md['name']}"
    return hashlib.sha256(f"sandbox:{key}".encode()).hexdigest()


def netns_path(pod: Obj) -> str:
    """The pod's network namespace as the CNI plugin names it, ``/var/run/netns/cni-<uuid>``."""
    digest = hashlib.sha256(f"netns:{sandbox_id(pod)}".encode()).digest()
    return f"/var/run/netns/cni-{uuid.UUID(bytes=digest[:16], version=4)}"


def forward_refused(pod: Obj, port: int) -> str:
    """The error-stream text when nothing listens on ``port`` in the pod (kubelet + containerd, R15.13)."""
    sandbox = sandbox_id(pod)
    dial = (f"IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused "
            f"IPv6 dial tcp6 [::1]:{port}: connect: connection refused ")
    return (f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in "
            f'network namespace "{netns_path(pod)}": failed to connect to localhost:{port} inside '
            f'namespace "{sandbox}", {dial}')


def pod_not_running(pod: Obj) -> str | None:
    """The kubelet's answer to port-forward into a pod that has no running sandbox (R15.14)."""
    if (pod.get("status") or {}).get("phase") == "Running":
        return None
    md = pod["metadata"]
    return f'pod not found ("{md["name"]}_{md.get("namespace", "")}")'


def container_not_running(pod: Obj, container: str) -> str | None:
    """The kubelet's answer to exec into a container that is not running (R15.14).

    A pod seeded without container statuses counts as running when its phase is Running.
    """
    statuses = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
    status = statuses.get(container)
    running = ((status.get("state") or {}).get("running") is not None if status is not None
               else (pod.get("status") or {}).get("phase") == "Running")
    return None if running else f'container not found ("{container}")'


def exec_not_found(program: str) -> str:
    """containerd + runc when the program is not in the image (R15.5): a start failure, not an exit."""
    why = (f"stat {program}: no such file or directory" if "/" in program
           else "executable file not found in $PATH")
    return (f'error executing command in container: failed to exec in container: failed to start exec '
            f'"{secrets.token_hex(32)}": OCI runtime exec failed: exec failed: unable to start container '
            f'process: exec: "{program}": {why}: unknown')


def exit_message(argv: list[str], code: int) -> str:
    """The kubelet's Status message for a non-zero exit (containerd's CodeExitError, R15.4)."""
    return f"command terminated with non-zero exit code: error executing command [{' '.join(argv)}], " \
           f"exit code {code}"
