"""The official nginx images (``docker.io/library/nginx``, ``nginxinc/nginx-unprivileged``) as a
container runs them: the entrypoint, the configuration it reads, how it answers and what it logs.

Who calls it: the model table (``registry``) when the kubelet starts a container of these images.

At start (R14.6) the entrypoint prints its lines (``/docker-entrypoint.sh: ...``; the IPv6 script
says ``can not modify /etc/nginx/conf.d/default.conf (read-only file system?)`` when that file comes
from a ConfigMap, which the kubelet mounts read-only), then nginx reads ``/etc/nginx/nginx.conf``
and what it includes: the image's own files, hidden by what the pod mounts (a ConfigMap at
``/etc/nginx/conf.d`` replaces the image's ``default.conf``; one at ``/etc/nginx/nginx.conf``
replaces the main file). A configuration nginx cannot use (R14.5) prints
``<time> [emerg] 1#1: <why> in <file>:<line>`` and ``nginx: [emerg] <why> in <file>:<line>`` and
the process exits 1 (the kubelet then restarts it with back-off). Otherwise the ``[notice]``
start-up lines follow (``error_log ... notice`` in the image's nginx.conf), one ``start worker
process`` per CPU of the node (``worker_processes auto``).

Each request is logged as the image logs it (R14.4): ``access_log /var/log/nginx/access.log main``,
a symlink to stdout, in the ``main`` format; errors (``open() ... failed``) go to stderr. The
``Server`` header is ``nginx/<version>`` (R14.3), the version taken from the image tag
(``1.30.5-alpine``), else from the digests below, else ``DEFAULT_VERSION``. On SIGTERM the pod's
runtime sends the image's STOPSIGNAL, SIGQUIT, and nginx logs its graceful shutdown.

Not modelled (accepted, without effect): ``if``, ``rewrite``, ``map``, ``try_files``, upstreams
(proxied locations answer 502), TLS, gzip, caching, rate limits, ``include`` of files the image
does not have in this model (``fastcgi_params`` and the like are present but empty).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from .base import AppRequest, AppResponse, Container, ImageRef, Launch
from .nginx_conf import MAIN, Directive, Emerg, FileSystem, parse
from .nginx_http import Request, build_http
from .nginx_serve import Pipeline

# The image the runbook deploys (params ``faulty.image``), R14.1: docker-library/repo-info
# repos/nginx/remote/1.30.5-alpine.md @35d0d2e1 lists this index digest for nginx:1.30.5-alpine.
PINNED_IMAGE = ("docker.io/library/nginx:1.30.5-alpine@sha256:"
                "0985e772fb9f729e6fa0980da05fca5d9c468e870eed43071545afa9d2e27d94")
DEFAULT_VERSION = "1.30.5"
KNOWN_DIGESTS = {"sha256:0985e772fb9f729e6fa0980da05fca5d9c468e870eed43071545afa9d2e27d94": "1.30.5",
                 "sha256:02b1b2a0445514891a14aa371845f6085d5d9d10d385b30d6aad606a50a29a05": "1.30.4"}
_VERSION = re.compile(r"^(\d+\.\d+\.\d+)")
# [inferred] from published start-up logs of 2026 images (R14.6): the compiler line of each base
BUILT_BY = {"alpine": "built by gcc 15.2.0 (Alpine 15.2.0) ", "debian": "built by gcc 14.2.0 (Debian 14.2.0-19) "}
FIRST_WORKER_PID = 29  # [inferred] the entrypoint's shells take the pids before nginx's workers

NGINX_CONF = """
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
""".lstrip()

DEFAULT_CONF = """
server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
""".lstrip()

MIME_TYPES = """
types {
    text/html                                        html htm shtml;
    text/css                                         css;
    text/xml                                         xml;
    image/gif                                        gif;
    image/jpeg                                       jpeg jpg;
    application/javascript                           js;
    text/plain                                       txt;
    image/png                                        png;
    image/svg+xml                                    svg svgz;
    image/x-icon                                     ico;
    application/json                                 json;
    application/pdf                                  pdf;
    application/zip                                  zip;
    application/octet-stream                         bin exe dll;
}
""".lstrip()

INDEX_HTML = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

ERROR_HTML = """<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

DEFAULT_CONF_PATH = "/etc/nginx/conf.d/default.conf"
_STDERR = ("/var/log/nginx/error.log", "stderr", "/dev/stderr", "/proc/self/fd/2")
_LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")


@dataclass(frozen=True)
class Variant:
    """One image family: where it listens by default and whether its master runs as root."""

    name: str
    port: int
    root: bool


OFFICIAL = Variant("nginx", 80, True)
UNPRIVILEGED = Variant("nginx-unprivileged", 8080, False)


def image_files(variant: Variant) -> dict[str, str]:
    """The files the nginx image ships (its nginx.conf, default server, mime types); the unprivileged variant's on
    8080."""
    conf, default = NGINX_CONF, DEFAULT_CONF
    if not variant.root:  # the unprivileged image: no user, pid in /tmp, listens on 8080
        conf = conf.replace("user  nginx;\n", "").replace("/run/nginx.pid", "/tmp/nginx.pid")
        default = default.replace("80;", "8080;")
    return {"/etc/nginx/nginx.conf": conf, DEFAULT_CONF_PATH: default, "/etc/nginx/mime.types": MIME_TYPES,
            "/etc/nginx/fastcgi_params": "", "/etc/nginx/scgi_params": "", "/etc/nginx/uwsgi_params": "",
            "/usr/share/nginx/html/index.html": INDEX_HTML, "/usr/share/nginx/html/50x.html": ERROR_HTML}


def version_of(ref: ImageRef) -> str:
    """The nginx version an image reference runs (R14.1): from its tag, else its digest, else the default."""
    m = _VERSION.match(ref.tag)
    if m:
        return m.group(1)
    return KNOWN_DIGESTS.get(ref.digest, DEFAULT_VERSION)


def error_time(epoch: float) -> str:
    """An epoch time as nginx's error log writes it (``2025/01/01 00:00:00``)."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(epoch))


def entrypoint_lines(fs: FileSystem, read_only: bool) -> list[str]:
    """docker-entrypoint.sh and its scripts, as they print on a pod (R14.6)."""
    me = "10-listen-on-ipv6-by-default.sh"
    if DEFAULT_CONF_PATH not in fs.files():
        ipv6 = [f"{me}: info: {DEFAULT_CONF_PATH} is not a file or does not exist"]
    elif read_only:
        ipv6 = [f"{me}: info: can not modify {DEFAULT_CONF_PATH} (read-only file system?)"]
    else:
        ipv6 = [f"{me}: info: Getting the checksum of {DEFAULT_CONF_PATH}",
                f"{me}: info: Enabled listen on IPv6 in {DEFAULT_CONF_PATH}"]
    e = "/docker-entrypoint.sh"
    return [f"{e}: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
            f"{e}: Looking for shell scripts in /docker-entrypoint.d/",
            f"{e}: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh", *ipv6,
            f"{e}: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
            f"{e}: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
            f"{e}: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
            f"{e}: Configuration complete; ready for start up"]


@dataclass
class MainConf:
    """What nginx.conf's main context sets: the worker count and which error-log levels reach stderr."""

    workers: int
    notices: bool  # error_log to stderr at notice level or below
    errors: bool  # error_log to stderr at error level or below


def read_main(tree: list[Directive], cpus: int) -> MainConf:
    """Reads worker_processes and error_log from the main context; Emerg for what nginx refuses."""
    workers, notices, errors = 1, False, True
    for d in tree:
        if d.name == "worker_processes":
            if d.args[0] != "auto" and not d.args[0].isdigit():
                raise Emerg(f'invalid value "{d.args[0]}" in "worker_processes" directive', d.file, d.line)
            workers = cpus if d.args[0] == "auto" else int(d.args[0])
        elif d.name == "error_log":
            level = d.args[1] if len(d.args) > 1 else "error"
            if level not in _LEVELS:
                raise Emerg(f'invalid log level "{level}"', d.file, d.line)
            to_stderr = d.args[0] in _STDERR
            notices = to_stderr and _LEVELS.index(level) <= _LEVELS.index("notice")
            errors = to_stderr and _LEVELS.index(level) <= _LEVELS.index("error")
    if not any(d.name == "events" for d in tree):
        raise Emerg('no "events" section in configuration')
    return MainConf(max(1, workers), notices, errors)


@dataclass
class Nginx:
    """A running nginx master and its workers."""

    ctx: Container
    pipeline: Pipeline
    main: MainConf
    version: str
    connections: int = 0
    workers: list[int] = field(default_factory=list)

    def ports(self) -> frozenset[int]:
        """The ports its servers listen on."""
        return self.pipeline.ports()

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        """nginx's answer to the request, with its access-log and error-log lines written."""
        headers = {k.lower(): v for k, v in req.headers.items()}
        headers.setdefault("host", req.host)
        now = self.ctx.clock()
        r = Request(req.method, req.path or "/", headers, req.origin, port, self.ctx.pod, now,
                    server_addr=self.ctx.ip)
        resp = self.pipeline.serve(r)
        self.connections += 1
        if resp.error and self.main.errors:
            self.ctx.log(f'{error_time(now)} [error] {self.workers[0]}#{self.workers[0]}: *{self.connections} '
                         f'{resp.error}, client: {req.origin}, server: {resp.vars.get("server_name", "")}, '
                         f'request: "{resp.vars["request"]}", host: "{headers.get("host", "")}"')
        for fmt in resp.log_formats:
            self.ctx.log(log_line(self.pipeline.conf.formats[fmt], resp.vars, headers))
        if resp.closed:
            return AppResponse(444, {}, b"", reset=True)
        return AppResponse(resp.status, dict(resp.headers), resp.body)

    def stop_lines(self, now: float) -> list[str]:
        """SIGQUIT (the image's STOPSIGNAL): graceful shutdown (R14.6)."""
        if not self.main.notices:
            return []
        t, w = error_time(now), self.workers
        return ([f"{t} [notice] 1#1: signal 3 (SIGQUIT) received, shutting down"]
                + [f"{t} [notice] {p}#{p}: gracefully shutting down" for p in w]
                + [f"{t} [notice] {p}#{p}: {m}" for p in w for m in ("exiting", "exit")]
                + [line for p in w for line in (f"{t} [notice] 1#1: signal 17 (SIGCHLD) received from {p}",
                                                f"{t} [notice] 1#1: worker process {p} exited with code 0")]
                + [f"{t} [notice] 1#1: exit"])


_LOG_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def log_line(fmt: str, vars_: dict[str, str], headers: dict[str, str]) -> str:
    """One access-log line (R14.4): variables escaped as nginx's default ``escape`` does, "-" when empty."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        v = vars_.get(name)
        if v is None and name.startswith("http_"):
            v = headers.get(name[5:].replace("_", "-"), "")
        return _escape(v or "") or "-"
    return _LOG_VAR.sub(value, fmt)


def _escape(text: str) -> str:
    out = []
    for ch in text.encode("utf-8", "replace"):
        out.append(f"\\x{ch:02X}" if ch in (0x22, 0x5C) or ch < 0x20 or ch >= 0x7F else chr(ch))
    return "".join(out)


def launch(c: Container, variant: Variant = OFFICIAL) -> Launch:
    """Start the image in container ``c``: the entrypoint, the configuration test, the workers."""
    now, ref = c.now, c.ref
    fs = FileSystem(image_files(variant), dict(c.files), c.mount_points or tuple(_mount_points(c)))
    base = "alpine" if "alpine" in ref.tag else "debian"
    version = version_of(ref)
    lines = entrypoint_lines(fs, read_only=DEFAULT_CONF_PATH in c.files)
    try:
        main_text = fs.read("/etc/nginx/nginx.conf")
        if not main_text:
            raise Emerg('open() "/etc/nginx/nginx.conf" failed (2: No such file or directory)')
        tree = parse(main_text[0][1], "/etc/nginx/nginx.conf", fs.read, MAIN)
        main = read_main(tree, _cpus(c))
        http = next((d for d in tree if d.name == "http"), Directive("http", [], "", 0, []))
        pipeline = Pipeline(build_http(http, variant.port if variant.root else 8000), fs.files(), version, now, c.ip)
        _check_bind(pipeline, variant)
    except Emerg as exc:
        t = error_time(now)
        return Launch(None, lines + [f"{t} [emerg] 1#1: {exc.text()}", f"nginx: [emerg] {exc.text()}"], exit_code=1)
    app = Nginx(c, pipeline, main, version, workers=[FIRST_WORKER_PID + i for i in range(main.workers)])
    if main.notices:
        lines += _notices(now, version, base, c, app.workers)
    return Launch(app, lines)


def _notices(now: float, version: str, base: str, c: Container, workers: list[int]) -> list[str]:
    t = error_time(now)
    kernel = ((c.node or {}).get("status") or {}).get("nodeInfo", {}).get("kernelVersion", "6.8.0")
    return ([f'{t} [notice] 1#1: using the "epoll" event method', f"{t} [notice] 1#1: nginx/{version}",
             f"{t} [notice] 1#1: {BUILT_BY[base]}", f"{t} [notice] 1#1: OS: Linux {kernel}",
             f"{t} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
             f"{t} [notice] 1#1: start worker processes"]
            + [f"{t} [notice] 1#1: start worker process {p}" for p in workers])


def _check_bind(pipeline: Pipeline, variant: Variant) -> None:
    """A master that is not root cannot bind a port below 1024 (the unprivileged image)."""
    low = sorted(p for p in pipeline.ports() if p < 1024)
    if low and not variant.root:
        raise Emerg(f"bind() to 0.0.0.0:{low[0]} failed (13: Permission denied)")


def _cpus(c: Container) -> int:
    cap = (((c.node or {}).get("status") or {}).get("capacity") or {}).get("cpu", "1")
    try:
        return max(1, int(str(cap).rstrip("m")) // (1000 if str(cap).endswith("m") else 1))
    except ValueError:
        return 1


def _mount_points(c: Container) -> list[str]:
    return [m.get("mountPath", "") for m in c.spec.get("volumeMounts") or [] if not m.get("subPath")]


def launch_unprivileged(c: Container) -> Launch:
    """Starts a container of the unprivileged nginx image."""
    return launch(c, UNPRIVILEGED)
