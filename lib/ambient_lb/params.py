"""Typed parameters: everything the guide varies, validated before anything touches a cluster.

Called by the notebooks (through ``guide.py``), the ``ambient-lb`` CLI and the tests. A run is
described by a YAML file in ``params/`` (``sim.yaml`` is the default) plus ``key=value`` overrides
with dotted keys (``destination_rule.max_ejection_percent=100``). :func:`load_params` collects
*every* problem at once and raises one :class:`~ambient_lb.errors.ParameterError` whose lines name
the file, the dotted key, the bad value and an example of a good one.

The license key is never a parameter: only the *name* of the environment variable that holds it
(``license.env_var``, default ``LICENSE_KEY``); :meth:`Params.license_secret` reads the value at the
moment of use, so it never lands in a papermill notebook, a params file or a report.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import core_schema

from . import simulator, yaml_limits
from .errors import ParameterError, Problem
from .shell import Secret, secret_value, withhold

# ---------------------------------------------------------------------------------------------
# Value types: each rejects bad input with a sentence that says what a good value looks like.

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class Duration:
    """A Go-style duration (``10s``, ``1m30s``, ``500ms``) with its value in seconds."""

    text: str
    seconds: float

    @classmethod
    def parse(cls, value: Any) -> Duration:
        """Parses a Go-style duration (``90s``, ``1m30s``); ValueError for a number or text without a unit."""
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, str):
            raise ValueError("a duration needs a unit, written as text")
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError("not a duration; use numbers with units h, m, s or ms")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        if seconds < 0.001:
            raise ValueError("a duration must be at least 1ms")
        return cls(text, seconds)

    @property
    def istio(self) -> str:
        """The protobuf-JSON form Istio and Envoy accept everywhere: ``90s``, ``0.5s``."""
        if self.seconds == int(self.seconds):
            return f"{int(self.seconds)}s"
        return f"{self.seconds:.3f}".rstrip("0") + "s"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str))


def _matches(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"not a valid {what}")
        return value

    return AfterValidator(check)


def _max_len(limit: int, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"a {what} has at most {limit} characters, this has {len(value)}")
        return value

    return AfterValidator(check)


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DnsLabel = Annotated[str, _matches(_LABEL, "DNS-1123 label (lower case letters, digits, '-')"),
                     _max_len(63, "DNS-1123 label")]
DnsName = Annotated[str, _matches(rf"{_LABEL}(\.{_LABEL})*", "DNS-1123 name (lower case, digits, '-', '.')"),
                    _max_len(253, "DNS-1123 name")]
Hostname = Annotated[str, _matches(rf"(\*\.)?{_LABEL}(\.{_LABEL})*", "hostname"), _max_len(253, "hostname")]
HttpPath = Annotated[str, _matches(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", "HTTP path starting with '/'")]
Port = Annotated[int, Field(ge=1, le=65535)]
Percent = Annotated[int, Field(ge=0, le=100)]
Url = Annotated[str, _matches(r"https?://[A-Za-z0-9.-]+(:\d+)?(/\S*)?", "http(s) URL")]
OciRef = Annotated[str, _matches(r"oci://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._-]+)+", "OCI chart reference")]
TagVersion = Annotated[str, _matches(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", "version with a leading 'v'")]
ChartVersion = Annotated[str, _matches(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?",
                                       "semantic version (no leading 'v')")]
ContextName = Annotated[str, _matches(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*", "kube context name"),
                        _max_len(253, "kube context name")]
EnvVarName = Annotated[str, _matches(r"[A-Za-z_][A-Za-z0-9_]*", "environment variable name")]
Image = Annotated[str, _matches(r"[a-z0-9]+([._/:-][A-Za-z0-9]+)*(@sha256:[0-9a-f]{64})?", "container image")]
LbPolicy = Literal["ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "UNSPECIFIED"]

# ---------------------------------------------------------------------------------------------
# The model. Field(examples=[...]) is the "good value" that error messages quote.


def _f(default: Any, example: str, description: str) -> Any:
    return Field(default, examples=[example], description=description)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class KubeParams(_Section):
    """Which cluster to use when target is ``cluster``: its kube context and kubeconfig."""

    context: ContextName | None = _f(None, "kind-ambient", "kube context for target=cluster")
    kubeconfig: Path | None = _f(None, "~/.kube/config", "kubeconfig file; null = kubectl's default")


class SimParams(_Section):
    """The built-in simulator: seed, speed, kubeconfig and topology."""

    seed: int = Field(42, ge=0, examples=["42"], description="random seed: same seed, same run")
    speed: float = Field(1.0, gt=0, le=10000, examples=["20"], description="simulated s per wall s")
    kubeconfig: Path | None = _f(None, str(simulator.DEFAULT_KUBECONFIG), "null = `ambient-lb sim up`'s default")
    topology: Path | None = _f(Path("three-zones"), "three-zones",
                               "nodes and zones: a YAML file or a built-in name (single-zone, three-zones, "
                               "two-regions, two-clusters); null = `sim up`'s default (one zone)")
    context: ContextName = _f(simulator.CONTEXT, simulator.CONTEXT, "context name in the sim kubeconfig")


class Namespaces(_Section):
    """The namespaces the guide uses."""

    kgateway: DnsLabel = _f("kgateway-system", "kgateway-system", "kgateway control plane + gateway")
    app: DnsLabel = _f("httpbin", "httpbin", "the sample app and its waypoint")
    istio: DnsLabel = _f("istio-system", "istio-system", "istiod and the ztunnels")


class GatewayParams(_Section):
    """The ingress Gateway: name, class and listener."""

    name: DnsName = _f("http", "http", "the ingress Gateway")
    class_name: DnsName = _f("enterprise-kgateway", "enterprise-kgateway", "its gatewayClassName")
    listener: DnsLabel = _f("http", "http", "listener name")
    port: Port = Field(8080, examples=["8080"], description="listener port")


class RouteParams(_Section):
    """The HTTPRoute: name, hostname and path."""

    name: DnsName = _f("in-ambient", "in-ambient", "the HTTPRoute")
    hostname: Hostname = _f("httpbin.example.com", "httpbin.example.com", "Host header it matches")
    path: HttpPath = _f("/", "/", "PathPrefix it matches")


class AppParams(_Section):
    """The sample app (in-ambient): name, replicas, image, port and manifest."""

    name: DnsLabel = _f("in-ambient", "in-ambient", "Deployment and Service name")
    replicas: int = Field(3, ge=1, le=50, examples=["3"], description="replicas to balance over")
    image: Image = _f("docker.io/mccutchen/go-httpbin:v2.15.0", "docker.io/mccutchen/go-httpbin:v2.15.0",
                      "container image (the sim only uses it as a label)")
    port: Port = Field(8000, examples=["8000"], description="Service port")
    manifest_url: Url = _f(
        "https://raw.githubusercontent.com/solo-io/doc-examples/main/istio/sample-apps/in-ambient.yaml",
        "https://raw.githubusercontent.com/solo-io/doc-examples/main/istio/sample-apps/in-ambient.yaml",
        "the guide's sample app manifest")


FAULTY_IMAGE = ("docker.io/library/nginx:1.30.5-alpine@sha256:"
                "0985e772fb9f729e6fa0980da05fca5d9c468e870eed43071545afa9d2e27d94")  # R14.1


class FaultyParams(_Section):
    """The failing replica of step 4: its Deployment, image and the 5xx it answers."""

    name: DnsLabel = _f("in-ambient-faulty", "in-ambient-faulty",
                        "the second Deployment behind the app's Service, and its ConfigMap (step 4)")
    image: Image = _f(FAULTY_IMAGE, FAULTY_IMAGE, "public nginx image pinned by digest; its config answers `status`")
    status: int = Field(500, ge=500, le=599, examples=["500"],
                        description="what it answers on every path but /healthz (a 5xx, R2.2)")


class WaypointParams(_Section):
    """The waypoint: name, class and HBONE port."""

    name: DnsName = _f("httpbin-waypoint", "httpbin-waypoint", "waypoint Gateway and Deployment")
    class_name: DnsName = _f("istio-waypoint", "istio-waypoint", "its gatewayClassName")
    port: Port = Field(15008, examples=["15008"], description="HBONE listener port")


class DestinationRuleParams(_Section):
    """The DestinationRule of step 4: lb policy and outlier detection."""

    name: DnsName = _f("in-ambient-failover", "in-ambient-failover", "DestinationRule name")
    lb_policy: LbPolicy = _f("ROUND_ROBIN", "ROUND_ROBIN", "loadBalancer.simple (R3.4)")
    consecutive_5xx_errors: int = Field(5, ge=0, le=1000, examples=["5"], description="0 disables (R3.2)")
    interval: Duration = _f("10s", "10s", "outlier sweep interval (R3.1)")
    base_ejection_time: Duration = _f("30s", "30s", "first ejection length (R3.1)")
    max_ejection_percent: Percent | None = Field(None, examples=["100"], description="null = Istio's 10")


class TrafficParams(_Section):
    """How much traffic the checks send."""

    requests: int = Field(9, ge=1, le=100000, examples=["9"], description="requests per burst")
    failover_requests: int = Field(6, ge=1, le=100000, examples=["6"], description="step 4 burst")
    request_timeout: Duration = _f("2s", "2s", "curl --max-time per request")


class Timeouts(_Section):
    """How long each kind of wait may take."""

    command: Duration = _f("60s", "60s", "any single kubectl/helm command")
    gateway_ready: Duration = _f("2m", "2m", "Gateway Programmed=True")
    rollout: Duration = _f("3m", "3m", "rollout status of a deployment")
    pods_ready: Duration = _f("3m", "3m", "N pods Ready")
    deletion: Duration = _f("2m", "2m", "an object to disappear")
    port_forward: Duration = _f("15s", "15s", "kubectl port-forward to accept connections")


class GatewayApiParams(_Section):
    """The Gateway API release whose CRDs step 01.1 installs."""

    version: TagVersion = _f("v1.5.0", "v1.5.0", "Gateway API release")
    crds_url: Url | None = _f(None, "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                              "v1.5.0/standard-install.yaml", "null = the release's standard-install.yaml")

    @property
    def url(self) -> str:
        """Where the CRDs come from: crds_url, else the release's standard-install.yaml."""
        return self.crds_url or ("https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                                 f"{self.version}/standard-install.yaml")


_CHARTS = "oci://us-docker.pkg.dev/solo-public/enterprise-kgateway/charts"


class KgatewayParams(_Section):
    """The kgateway charts and releases."""

    version: ChartVersion = _f("2.2.0-rc.2", "2.2.0-rc.2", "chart version for both charts")
    crds_chart: OciRef = _f(f"{_CHARTS}/enterprise-kgateway-crds", f"{_CHARTS}/enterprise-kgateway-crds",
                            "the CRDs chart")
    chart: OciRef = _f(f"{_CHARTS}/enterprise-kgateway", f"{_CHARTS}/enterprise-kgateway", "the controller chart")
    crds_release: DnsLabel = _f("enterprise-kgateway-crds", "enterprise-kgateway-crds", "helm release")
    release: DnsLabel = _f("enterprise-kgateway", "enterprise-kgateway", "helm release")
    istio_integration: bool = Field(True, examples=["true"], description="KGW_ENABLE_ISTIO_INTEGRATION")
    install_ext_auth_crds: bool = Field(True, examples=["false"], description="installExtAuthCRDs")
    install_rate_limit_crds: bool = Field(True, examples=["false"], description="installRateLimitCRDs")
    install_enterprise_listener_set_crd: bool = Field(True, examples=["false"],
                                                      description="installEnterpriseListenerSetCRD")


class LicenseParams(_Section):
    """Where the license key comes from (the name of an environment variable, never the key)."""

    env_var: EnvVarName = _f("LICENSE_KEY", "LICENSE_KEY", "NAME of the env var holding the key")


class MulticlusterParams(_Section):
    """Notebook 08 (the concepts page's multicluster scenario): two peered clusters.

    On ``sim`` the runbook starts a second simulator with ``--topology two-clusters`` and uses its two
    contexts; on a cluster both contexts come from here (the first holds the gateway)."""

    contexts: list[ContextName] | None = Field(
        None, examples=["[kind-cluster1, kind-cluster2]"],
        description="[cluster with the gateway, peered cluster]; null on sim = the two-cluster simulator's")
    kubeconfig: Path | None = _f(None, "~/.kube/config", "file holding both contexts; null = on sim the "
                                 "two-cluster simulator's, on a cluster kube.kubeconfig (else kubectl's default)")
    remote_replicas: int = Field(2, ge=1, le=50, examples=["2"],
                                 description="in-ambient replicas in the peered cluster")
    requests: int = Field(30, ge=5, le=100000, examples=["30"], description="requests per measured burst")


class Params(_Section):
    """Everything the guide varies. Defaults equal ``params/sim.yaml``."""

    target: Literal["sim", "cluster"] = _f("sim", "sim", "sim = built-in simulator; cluster = kubeconfig")
    manifests: Literal["bundled", "upstream"] | None = _f(
        None, "bundled", "where the Gateway API CRDs and the sample app come from: upstream = the guide's "
        "URLs, bundled = the project's copies (no internet needed); null = bundled on sim, upstream on a cluster")
    kube: KubeParams = KubeParams()
    sim: SimParams = SimParams()
    namespaces: Namespaces = Namespaces()
    gateway: GatewayParams = GatewayParams()
    route: RouteParams = RouteParams()
    app: AppParams = AppParams()
    faulty: FaultyParams = FaultyParams()
    waypoint: WaypointParams = WaypointParams()
    destination_rule: DestinationRuleParams = DestinationRuleParams()
    traffic: TrafficParams = TrafficParams()
    timeouts: Timeouts = Timeouts()
    gateway_api: GatewayApiParams = GatewayApiParams()
    kgateway: KgatewayParams = KgatewayParams()
    license: LicenseParams = LicenseParams()
    multicluster: MulticlusterParams = MulticlusterParams()

    @property
    def manifests_source(self) -> str:
        """``bundled`` or ``upstream`` (``manifests``, or the target's default)."""
        return self.manifests or ("bundled" if self.target == "sim" else "upstream")

    @property
    def context(self) -> str:
        """The kube context every call is pinned to."""
        return self.sim.context if self.target == "sim" else str(self.kube.context)

    @property
    def kubeconfig(self) -> Path | None:
        """The kubeconfig file; on sim the simulator's, on a cluster None means kubectl's default."""
        if self.target == "sim":
            return (self.sim.kubeconfig or simulator.DEFAULT_KUBECONFIG).expanduser()
        return self.kube.kubeconfig.expanduser() if self.kube.kubeconfig else None

    def license_secret(self, environ: Mapping[str, str] | None = None) -> Any:
        """Read the license key from the environment now; returns a :class:`shell.Secret`."""
        withhold(self.license.env_var)  # the children (kubectl, helm) never get it in their environment
        value = secret_value(self.license.env_var) if environ is None else environ.get(self.license.env_var, "")
        if not value.strip():
            raise ParameterError(
                f"the license key is not set: environment variable {self.license.env_var} is empty",
                hint=f"export {self.license.env_var}=<license-key> in the shell that starts Jupyter or "
                     "papermill (ask your Solo account representative for a key); never put it in params")
        return Secret(value, self.license.env_var)

    def describe(self) -> list[tuple[str, Any, str]]:
        """(dotted key, value, what it means) for every parameter, for a notebook's parameter table."""
        return [(key, value, _description(key.split("."))) for key, value in self.flat().items()]

    def flat(self) -> dict[str, Any]:
        """Dotted key -> value, for tables and for papermill's parameters (no secrets exist here)."""
        return dict(_flatten(self.model_dump(mode="json")))


# ---------------------------------------------------------------------------------------------
# Loading: YAML file + overrides -> Params, or one ParameterError with every problem.

OVERRIDE = "override"
MAX_FILE_BYTES = 2**20  # a params file is a few KiB
MAX_DEPTH = 16  # params nest three levels (e.g. kgateway.version under its section)
SHAPE_HINT = ("a params file is a few KiB of plain keys nested at most 3 levels, without anchors (&name) "
              "or aliases (*name); e.g. `app:\n  replicas: 3` (see params/sim.yaml)")
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "params" / "sim.yaml"


def load_params(path: str | os.PathLike[str] | None = None,
                overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Params:
    """Load a params file (None = the built-in defaults, which equal ``params/sim.yaml``) plus overrides.

    Overrides are a mapping of dotted keys or ``"key=value"`` strings whose value is read as a YAML
    scalar (``replicas=5`` is the number 5). Raises ParameterError listing every problem.
    """
    source = str(path) if path is not None else "defaults"
    data = _read_yaml(Path(path)) if path is not None else {}
    pairs, problems = _parse_overrides(overrides)
    for key, value in pairs.items():
        problems += _set_dotted(data, key, value)
    try:
        params = Params.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(e, source, pairs) for e in exc.errors()]
        raise ParameterError(problems=problems) from None
    problems += _cross_checks(params, source, pairs)
    if problems:
        raise ParameterError(problems=problems)
    withhold(params.license.env_var)  # from here on no child process gets the key in its environment
    return params


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        near = sorted(p.name for p in DEFAULT_FILE.parent.glob("*.yaml")) if DEFAULT_FILE.parent.is_dir() else []
        raise ParameterError(f"params file {path} does not exist",
                             hint="pass one of " + (", ".join(f"params/{n}" for n in near) or "params/sim.yaml"))
    try:
        data = yaml_limits.load(yaml_limits.read(path, max_bytes=MAX_FILE_BYTES), max_bytes=MAX_FILE_BYTES,
                                max_depth=MAX_DEPTH)
    except yaml_limits.Refused as exc:  # a YAML bomb, absurd nesting, a huge file: not read (R16.29)
        raise ParameterError(f"{path}: refused, nothing was taken from it: {exc}", hint=SHAPE_HINT) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParameterError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                             hint="check indentation and quoting; e.g. `app:\\n  replicas: 3`") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(problems=[Problem(str(path), "(top level)", type(data).__name__,
                                               "must be a mapping of sections", "`target: sim`")])
    return data


def _parse_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> tuple[dict[str, Any], list[Problem]]:
    if overrides is None:
        return {}, []
    if isinstance(overrides, Mapping):
        return {str(k): v for k, v in overrides.items()}, []
    pairs: dict[str, Any] = {}
    problems: list[Problem] = []
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            problems.append(Problem(OVERRIDE, key or str(item), item, "an override is key=value",
                                    "app.replicas=5"))
            continue
        try:
            pairs[key.strip()] = yaml_limits.load(raw, max_bytes=MAX_FILE_BYTES, max_depth=MAX_DEPTH) \
                if raw.strip() else raw
        except yaml_limits.Refused as exc:
            shown = raw if len(raw) <= 40 else raw[:40] + "..."
            problems.append(Problem(OVERRIDE, key.strip(), shown, f"refused: {exc}", "app.replicas=5"))
        except yaml.YAMLError:
            pairs[key.strip()] = raw
    return pairs, problems


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> list[Problem]:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        parent = _model_at(parts[:i])
        is_value = parent is not None and part in parent.model_fields and _model_at(parts[: i + 1]) is None
        child = node.setdefault(part, {}) if not is_value else None
        if not isinstance(child, dict):
            prefix = ".".join(parts[: i + 1])
            return [Problem(OVERRIDE, key, value, f"{prefix} is a value, not a section", f"{prefix}=...")]
        node = child
    node[parts[-1]] = value
    return []


def _problem(err: Mapping[str, Any], source: str, pairs: Mapping[str, Any]) -> Problem:
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "lax-", "nullable"))]
    key = ".".join(loc)
    origin = OVERRIDE if any(_related(key, k) for k in pairs) else source
    if err["type"] == "extra_forbidden":
        return _unknown_key(loc, err.get("input"), origin)
    reason = _reason(err)
    return Problem(origin, key, err.get("input"), reason, _example(loc))


def _reason(err: Mapping[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if err["type"] == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return str(err["msg"]).lower()


def _unknown_key(loc: list[str], value: Any, origin: str) -> Problem:
    model = _model_at(loc[:-1])
    known = list(model.model_fields) if model else []
    name = loc[-1]
    if "license" in ".".join(loc) and name != "env_var":
        return Problem(origin, ".".join(loc), "<hidden>", "the license key is never a parameter",
                       "license.env_var: LICENSE_KEY, and export LICENSE_KEY=<key> in the environment")
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    reason = f"unknown key; did you mean {close[0]!r}?" if close else "unknown key"
    return Problem(origin, ".".join(loc), value, reason, "one of: " + ", ".join(known))


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _example(loc: list[str]) -> str | None:
    loc = [part for part in loc if not part.isdigit()]  # a list item's example is its list's
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model and loc else None
    if field is None or not field.examples:
        return None
    return f"{'.'.join(loc)}: {field.examples[0]}"


def _description(loc: list[str]) -> str:
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    return (field.description or "") if field else ""


def _cross_checks(params: Params, source: str, pairs: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if params.target == "cluster" and not params.kube.context:
        problems.append(Problem(source, "kube.context", None, "target cluster needs an explicit context "
                                "(destructive steps run only against it)", "kube.context: kind-ambient"))
    problems += _multicluster_checks(params, source, pairs)
    topo = params.sim.topology
    if params.target == "sim" and topo is not None and not topo.expanduser().is_file() \
            and str(topo) not in _builtin_topologies():
        problems.append(Problem(source, "sim.topology", str(topo), "is neither a file nor a built-in topology "
                                f"({', '.join(_builtin_topologies())})", "sim.topology: three-zones"))
    return problems


def _builtin_topologies() -> list[str]:
    return list(simulator.builtin_topologies())


def _multicluster_checks(params: Params, source: str, pairs: Mapping[str, Any]) -> list[Problem]:
    """``multicluster.contexts``: two different contexts, the gateway's cluster first (notebook 08)."""
    contexts = params.multicluster.contexts
    if contexts is None or (len(contexts) == 2 and contexts[0] != contexts[1]):
        return []
    origin = OVERRIDE if any(_related("multicluster.contexts", k) for k in pairs) else source
    return [Problem(origin, "multicluster.contexts", contexts, "needs exactly two different contexts: the "
                    "cluster with the gateway first, then the peered cluster",
                    "multicluster.contexts: [kind-cluster1, kind-cluster2]")]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _related(a: str, b: str) -> bool:
    """True when one dotted key is the other or lies inside it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")
