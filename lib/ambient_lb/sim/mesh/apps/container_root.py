"""A container's filesystem for a process the kubelet runs on the host: a private directory whose
tree stands for the container's mounts (R20.2).

Who calls it: ``own_image.py`` when the kubelet starts the project's own image. There is no mount
namespace, so each ``volumeMount`` is written under ``root + mountPath``, and every path the process is
given (argv, env values, ``workingDir``) that is at or under a ``mountPath`` is rewritten to that place,
as a runtime's bind mount makes the path valid inside a container.

    volume                        what the root holds at ``mountPath``
    ----------------------------  ------------------------------------------------------------------
    configMap                     one file per key (``items``, ``subPath`` honoured), mode 0644
    secret                        one file per key, mode 0600
    emptyDir (any other kind)     an empty directory
    projected (kube-api-access)   serviceAccountToken: a token bound to the pod (R20.5); configMap and
                                  secret items; downwardAPI fields; mode 0600

The root is created 0700 and removed when the container is forgotten.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...controllers.container_env import FIELDS
from ...controllers.containers import mounted_files
from ...controllers.keys import CONFIG_MAPS, SECRETS
from ...protocols import SimCluster
from .. import objects as o

TokenIssuer = Callable[[o.Obj, int], str | None]  # (pod, expirationSeconds) -> token, or None


class ContainerRoot:
    """A private directory tree standing for one container's mounts (R20.2)."""

    def __init__(self, cluster: SimCluster, pod: o.Obj, container: o.Obj, issue_token: TokenIssuer) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"ambient-lb-{o.name(pod)}-{container.get('name', '')}-"))
        os.chmod(self.path, 0o700)
        self.mounts = sorted({str(m.get("mountPath", "")).rstrip("/") or "/" for m in container.get("volumeMounts")
                              or []}, key=len, reverse=True)
        volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
        for m in container.get("volumeMounts") or []:
            self._mount(cluster, pod, m, volumes.get(m.get("name")) or {}, issue_token)
        self.home = self.path / "home"
        self.home.mkdir(mode=0o700, exist_ok=True)

    def map(self, value: str) -> str:
        """A path at or under a mountPath, as the host sees it; anything else unchanged."""
        for mp in self.mounts:
            if value == mp or value.startswith(mp.rstrip("/") + "/"):
                return str(self.path) + value
        return value

    def workdir(self, working_dir: str) -> Path:
        """The process's working directory: ``workingDir`` under the root (created), or the root."""
        if not working_dir.startswith("/"):
            return self.path
        mapped = Path(str(self.path) + working_dir)
        mapped.mkdir(parents=True, exist_ok=True)
        return mapped

    def remove(self) -> None:
        """Deletes the tree."""
        shutil.rmtree(self.path, ignore_errors=True)

    # ---- volumes ------------------------------------------------------------------------------------
    def _mount(self, cluster: SimCluster, pod: o.Obj, m: o.Obj, vol: o.Obj, issue_token: TokenIssuer) -> None:
        where = str(m.get("mountPath", "")).rstrip("/")
        if "configMap" in vol or "secret" in vol:
            mode = 0o600 if "secret" in vol else 0o644
            for path, text in mounted_files(cluster, pod, {"volumeMounts": [m]}).items():
                self._write(path, text, mode)
            self._dir(where)
        elif "projected" in vol:
            for rel, text in _projected(cluster, pod, vol["projected"], issue_token).items():
                self._write(f"{where}/{rel}", text, 0o600)
            self._dir(where)
        else:  # emptyDir, hostPath, ...: an empty directory [model]
            self._dir(where)

    def _dir(self, where: str) -> None:
        Path(str(self.path) + where).mkdir(parents=True, exist_ok=True)

    def _write(self, where: str, text: str, mode: int) -> None:
        target = Path(str(self.path) + where)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)


def _projected(cluster: SimCluster, pod: o.Obj, projected: o.Obj, issue_token: TokenIssuer) -> dict[str, str]:
    """The files of a projected volume, by path relative to its mountPath."""
    out: dict[str, str] = {}
    ns = o.namespace(pod)
    for src in projected.get("sources") or []:
        if "serviceAccountToken" in src:
            sat = src["serviceAccountToken"]
            token = issue_token(pod, int(sat.get("expirationSeconds") or 3607))
            if token is not None:
                out[sat.get("path", "token")] = token
        for kind, gr, data_of in (("configMap", CONFIG_MAPS, _plain), ("secret", SECRETS, _decoded)):
            if kind in src:
                obj = cluster.store.get(gr, ns, src[kind].get("name", "")) or {}
                data = data_of(obj)
                for item in src[kind].get("items") or [{"key": k, "path": k} for k in data]:
                    if item.get("key") in data:
                        out[item.get("path", item["key"])] = data[item["key"]]
        if "downwardAPI" in src:
            for item in src["downwardAPI"].get("items") or []:
                field = (item.get("fieldRef") or {}).get("fieldPath", "")
                if field in FIELDS:
                    out[item.get("path", field)] = FIELDS[field](pod)
    return out


def _plain(obj: o.Obj) -> dict[str, Any]:
    return dict(obj.get("data") or {})


def _decoded(obj: o.Obj) -> dict[str, Any]:
    import base64
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
