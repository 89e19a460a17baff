"""helm ``upgrade --install``, ``uninstall`` and ``status`` for the two enterprise-kgateway charts.

Called by the guide's install and cleanup steps. The license key never reaches argv (where ``ps``
shows it): secret values go into a values file created with mode 0600 inside a private temporary
directory, which is deleted right after helm exits. The display line is the guide's own
``--set-string licensing.licenseKey=${LICENSE_KEY}``.

Against the simulator the charts cannot be pulled (no chart registry on its machine), so helm is not
run: ``Helm(kube, standin=True)``, which the runbook chooses when the cluster says it is the simulator
(its ``kube-public/ambient-lb-simulator`` ConfigMap), whatever the params' target. Through the runbook's
seam into the simulator, ``ambient_lb.simulator.render_chart(release, chart, version, namespace, values)``
returns the manifests, this module server-side-applies them through ``kube.py`` and writes the release Secret
the way helm 3 does (``sh.helm.release.v1.<release>.v<N>``, type ``helm.sh/release.v1``), so
``status`` (revision, status) reads the same on both. Secret values are redacted in the
stored release record.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import shell, simulator, yaml_limits
from .errors import ClusterError, NotFound, ParameterError
from .kube import Kube, to_yaml

REDACTED = "<redacted>"
VALUES_MAX_BYTES = 16 * 2**20
Renderer = Callable[[str, str, str, str, dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ReleaseStatus:
    """What ``helm status`` says about a release."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    version: str
    last_deployed: str = ""


class Helm:
    """helm on the Kube's kubeconfig and context; with ``standin`` the simulator's chart stand-ins instead."""

    def __init__(self, kube: Kube, *, standin: bool = False, timeout: float | Any = 300.0,
                 renderer: Renderer | None = None) -> None:
        self.kube = kube
        self.standin = standin
        self.timeout = float(getattr(timeout, "seconds", timeout))
        self._renderer = renderer

    def argv(self, *args: str) -> list[str]:
        """``helm <args>``, as typed: like kubectl, helm reads ``KUBECONFIG`` and its current context,
        which :meth:`Kube.check_context` checks before every call."""
        return ["helm", *args]

    def _run(self, argv: list[str], **kw: Any) -> shell.CommandResult:
        self.kube.check_context()
        return shell.run(argv, timeout=self.timeout, env=self.kube.env, **kw)

    # -- upgrade --install ---------------------------------------------------------------------

    def upgrade_install(self, release: str, chart: str, *, version: str | None = None, namespace: str,
                        create_namespace: bool = False, values_files: Sequence[str | os.PathLike[str]] = (),
                        set_values: Mapping[str, Any] | None = None,
                        set_string_values: Mapping[str, str] | None = None,
                        secret_values: Mapping[str, shell.Secret] | None = None,
                        cwd: str | os.PathLike[str] | None = None) -> shell.CommandResult:
        """``helm upgrade -i``; ``secret_values`` (dotted key -> Secret) never appear on argv.

        ``cwd`` is where helm runs, so relative ``values_files`` read as shown (``-f enterprise-kgateway.yaml``).
        """
        secrets = dict(secret_values or {})
        base = _upgrade_args(release, chart, version, namespace, create_namespace)
        base += _set_flags("--set", set_values) + _set_flags("--set-string", set_string_values)
        files = [a for f in values_files for a in ("-f", str(f))]
        secret_flags = [a for k, s in secrets.items() for a in ("--set-string", f"{k}={s.value}")]
        display = shell.display_line(self.argv(*base, *secret_flags, *files), secrets.values())
        if self.standin:
            return self._sim_upgrade(release, chart, version, namespace, create_namespace, display,
                                     _merged_values([Path(cwd or ".", f) for f in values_files], set_values,
                                                    set_string_values), secrets)
        with _private_values_file(secrets) as secret_file:
            extra = ["-f", str(secret_file)] if secret_file else []
            return self._run(self.argv(*base, *files, *extra), display=display, secrets=secrets.values(), cwd=cwd)

    # -- uninstall / status --------------------------------------------------------------------

    def uninstall(self, release: str, *, namespace: str) -> shell.CommandResult:
        """``helm uninstall <release> -n <ns>`` (refused when the context is not the params' one)."""
        self.kube.guard(f"helm uninstall {release}")
        argv = self.argv("uninstall", release, "-n", namespace)
        if not self.standin:
            return self._run(argv)
        records = self._release_secrets(release, namespace)
        if not records:
            raise NotFound(f"helm release {release} not found in namespace {namespace}",
                           hint=f"helm list -n {namespace} shows the releases there")
        manifest = decode_release(records[-1])["manifest"]
        with shell.quiet():
            if manifest.strip():
                self.kube.kubectl("delete", "-f", "-", "-n", namespace, "--ignore-not-found", "--wait=false",
                                  input=manifest)
            self.kube.kubectl("delete", "secret", "-n", namespace, f"-l=owner=helm,name={release}",
                              "--ignore-not-found")
        return _record_standin(argv, f'release "{release}" uninstalled\n')

    def status(self, release: str, *, namespace: str) -> ReleaseStatus:
        """Revision and status of a release (``helm status -o json``, or the release Secret on sim)."""
        if not self.standin:
            out = self._run(self.argv("status", release, "-n", namespace, "-o", "json")).stdout
            return _status_from_record(json.loads(out))
        records = self._release_secrets(release, namespace)
        if not records:
            raise NotFound(f"helm release {release} not found in namespace {namespace}",
                           hint="install it first (the guide's step 1)")
        return _status_from_record(decode_release(records[-1]))

    # -- the sim seam --------------------------------------------------------------------------

    def _render(self) -> Renderer:
        if self._renderer is None:
            self._renderer = simulator.render_chart
        return self._renderer

    def _sim_upgrade(self, release: str, chart: str, version: str | None, namespace: str,
                     create_namespace: bool, display: str, values: dict[str, Any],
                     secrets: Mapping[str, shell.Secret]) -> shell.CommandResult:
        full = _merge(values, _nest({k: s.value for k, s in secrets.items()}))
        manifests = self._render()(release, chart, version or "", namespace, full)
        with shell.quiet():
            self._ensure_namespace(namespace, create_namespace)
            previous = self._release_secrets(release, namespace)
            if manifests:
                self.kube.apply(manifests, namespace=namespace, server_side=True, field_manager="helm",
                                force_conflicts=True, show_input=False)
            record = _release_record(release, namespace, chart, version or "", len(previous) + 1,
                                     _merge(values, _nest({k: REDACTED for k in secrets})),
                                     _redacted_manifest(manifests), previous)
            self._write_release(record, previous)
        first = "" if previous else f'Release "{release}" does not exist. Installing it now.\n'
        verb = "has been upgraded. Happy Helming!\n" if previous else ""
        out = (first + (f'Release "{release}" {verb}' if verb else "") +
               f"NAME: {release}\nLAST DEPLOYED: {record['info']['last_deployed']}\nNAMESPACE: {namespace}\n"
               f"STATUS: deployed\nREVISION: {record['version']}\nTEST SUITE: None\n")
        return _record_standin(self.argv("upgrade", "-i", release, chart), out, display)

    def _ensure_namespace(self, namespace: str, create: bool) -> None:
        try:
            self.kube.read("namespace", namespace)
        except NotFound:
            if not create:
                raise ClusterError(f'helm: namespaces "{namespace}" not found',
                                   hint="add --create-namespace (create_namespace=True) or create it first") from None
            self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                            server_side=True, field_manager="helm", show_input=False)

    def _release_secrets(self, release: str, namespace: str) -> list[dict[str, Any]]:
        try:
            found = self.kube.items("secret", namespace, selector=f"owner=helm,name={release}")
        except NotFound:
            return []
        return sorted(found, key=lambda s: int((s["metadata"].get("labels") or {}).get("version", 0)))

    def _write_release(self, record: dict[str, Any], previous: list[dict[str, Any]]) -> None:
        docs = [release_secret(record)]
        if previous:
            old = decode_release(previous[-1])
            old["info"]["status"] = "superseded"
            docs.append(release_secret(old))
        self.kube.apply(docs, server_side=True, field_manager="helm", force_conflicts=True, show_input=False)


# ---------------------------------------------------------------------------------------------
# The release record, encoded as helm 3 stores it.


def release_secret(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``sh.helm.release.v1.<name>.v<N>`` Secret holding ``record``."""
    name, n = record["name"], record["version"]
    helm_encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v{n}", "namespace": record["namespace"],
                         "labels": {"owner": "helm", "name": name, "status": record["info"]["status"],
                                    "version": str(n)}},
            "data": {"release": base64.b64encode(helm_encoded.encode()).decode()}}


def decode_release(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The release record inside a release Secret (inverse of :func:`release_secret`)."""
    helm_encoded = base64.b64decode(secret["data"]["release"])
    raw = base64.b64decode(helm_encoded)
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def _release_record(release: str, namespace: str, chart: str, version: str, revision: int,
                    config: dict[str, Any], manifest: str, previous: list[dict[str, Any]]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    first = decode_release(previous[0])["info"]["first_deployed"] if previous else now
    short = chart.rstrip("/").rsplit("/", 1)[-1]
    return {"name": release, "namespace": namespace, "version": revision, "config": config,
            "manifest": manifest,
            "info": {"first_deployed": first, "last_deployed": now, "deleted": "", "status": "deployed",
                     "description": "Upgrade complete" if previous else "Install complete", "notes": ""},
            "chart": {"metadata": {"name": short, "version": version, "appVersion": version,
                                   "apiVersion": "v2"}}}


def _status_from_record(record: Mapping[str, Any]) -> ReleaseStatus:
    meta = (record.get("chart") or {}).get("metadata") or {}
    info = record.get("info") or {}
    return ReleaseStatus(record["name"], record.get("namespace", ""), int(record["version"]),
                         str(info.get("status")), str(meta.get("name", "")), str(meta.get("version", "")),
                         str(info.get("last_deployed", "")))


def _redacted_manifest(manifests: list[dict[str, Any]]) -> str:
    clean = []
    for doc in manifests:
        if doc.get("kind") == "Secret":
            doc = {**doc, "data": {k: base64.b64encode(REDACTED.encode()).decode() for k in doc.get("data") or {}},
                   "stringData": {k: REDACTED for k in doc.get("stringData") or {}}}
            doc = {k: v for k, v in doc.items() if v != {}}
        clean.append(doc)
    return to_yaml(clean) if clean else ""


# ---------------------------------------------------------------------------------------------
# Argument and values helpers (pure).


def _upgrade_args(release: str, chart: str, version: str | None, namespace: str,
                  create_namespace: bool) -> list[str]:
    args = ["upgrade", "-i", release, chart]
    args += ["--create-namespace"] if create_namespace else []
    args += ["-n", namespace]
    args += ["--version", version] if version else []
    return args


def _set_flags(flag: str, values: Mapping[str, Any] | None) -> list[str]:
    return [a for k, v in (values or {}).items() for a in (flag, f"{k}={_helm_scalar(v)}")]


def _helm_scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@contextlib.contextmanager
def _private_values_file(secrets: Mapping[str, shell.Secret]) -> Iterator[Path | None]:
    """A values file only the user can read, in a private temp dir, removed afterwards."""
    if not secrets:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="ambient-lb-helm-") as tmp:
        os.chmod(tmp, 0o700)
        path = Path(tmp) / "secret-values.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(_nest({k: s.value for k, s in secrets.items()}), fh)
        yield path


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _merged_values(files: Sequence[str | os.PathLike[str]], set_values: Mapping[str, Any] | None,
                   set_string_values: Mapping[str, str] | None) -> dict[str, Any]:
    """What helm would compute: files in order, then --set (YAML scalars), then --set-string."""
    values: dict[str, Any] = {}
    for f in files:
        try:
            loaded = yaml_limits.load(yaml_limits.read(f, max_bytes=VALUES_MAX_BYTES), max_bytes=VALUES_MAX_BYTES)
        except yaml_limits.Refused as exc:  # R16.29: helm reads values with go-yaml's limits
            raise ParameterError(f"values file {f}: refused, nothing was installed: {exc}",
                                 hint="a values file holds plain keys, e.g. `controller:\n  replicaCount: 1`") from None
        values = _merge(values, loaded or {})
    parsed = {k: yaml.safe_load(_helm_scalar(v)) for k, v in (set_values or {}).items()}
    values = _merge(values, _nest(parsed))
    return _merge(values, _nest({k: str(v) for k, v in (set_string_values or {}).items()}))


def _record_standin(argv: list[str], stdout: str, display: str | None = None) -> shell.CommandResult:
    result = shell.CommandResult(argv, 0, stdout, "", display or shell.display_line(argv), 0.0)
    shell.record(result)
    return result
