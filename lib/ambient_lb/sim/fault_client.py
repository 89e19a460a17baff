"""A client of the simulator's drill endpoint (``/ambient-lb/faults``), through a kubeconfig.

Who calls it: ``ambient-lb sim fault add | list | clear`` (``cli.py``) and the drills
(``tests/drills/``). It reads the server, the CA and the bearer token of one context from the
kubeconfig the simulator wrote, exactly as kubectl would, and talks HTTPS to that API server; the
token never leaves the process (no argv, no log).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import ParameterError, SimulatorError
from .kubeconfig import CONTEXT

PATH = "/ambient-lb/faults"


class FaultClient:
    """``add`` / ``list`` / ``clear`` on one simulated API server (one context of a kubeconfig)."""

    def __init__(self, kubeconfig: Path, context: str | None = None, timeout: float = 10.0) -> None:
        import yaml

        try:
            cfg = yaml.safe_load(Path(kubeconfig).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ParameterError(f"--kubeconfig {kubeconfig}: cannot read it ({exc}); start the simulator "
                                 "first (ambient-lb sim up) or name its kubeconfig, e.g. "
                                 "--kubeconfig ~/.ambient-lb/sim/kubeconfig") from None
        name = context or cfg.get("current-context") or CONTEXT
        ctx = _named(cfg, "contexts", name, kubeconfig)
        cluster = _named(cfg, "clusters", ctx.get("cluster"), kubeconfig)
        user = _named(cfg, "users", ctx.get("user"), kubeconfig)
        self.server = str(cluster.get("server") or "").rstrip("/")
        self.token = str(user.get("token") or "")
        ca = cluster.get("certificate-authority-data")
        self.ssl = ssl.create_default_context(cadata=base64.b64decode(ca).decode()) if ca else None
        self.timeout = timeout
        self.context = name

    def request(self, method: str, path: str = "", body: Any = None) -> Any:
        """One call to the endpoint; the decoded JSON answer, or ``SimulatorError`` with the server's message."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + PATH + path, method=method, data=data,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ssl) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message") or text
            except ValueError:
                message = text
            if exc.code == 404:
                message = (f"{self.server} has no drill endpoint: is context {self.context!r} a cluster-in-a-box? "
                           "(a real API server answers 404 here)")
            raise SimulatorError(f"{method} {PATH}{path}: HTTP {exc.code}: {message.strip()}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SimulatorError(f"cannot reach the simulator at {self.server} (context {self.context}): {exc}; "
                                 "is it running? ambient-lb sim status") from None

    def add(self, **fault: Any) -> dict[str, Any]:
        """Add a fault (the endpoint's JSON fields, e.g. ``kind="error", status=503, verbs=["list"]``)."""
        return dict(self.request("POST", body={k: v for k, v in fault.items() if v is not None}))

    def list(self) -> list[dict[str, Any]]:
        """The active faults, as the endpoint lists them."""
        return list(self.request("GET").get("faults") or [])

    def clear(self, fault_id: str | None = None) -> int:
        """Remove one fault (by id) or all of them; how many were removed."""
        return int(self.request("DELETE", f"/{fault_id}" if fault_id else "").get("removed") or 0)


def _named(cfg: dict[str, Any], section: str, name: Any, kubeconfig: Path) -> dict[str, Any]:
    for entry in cfg.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    names = [e.get("name") for e in cfg.get(section) or [] if isinstance(e, dict)]
    raise ParameterError(f"{kubeconfig}: no {section[:-1]} named {name!r} (it has {names}); "
                         f"e.g. --context {CONTEXT}")
