"""nginx's http module as configured: servers, locations, ``return``, headers, default pages, logs.

Who calls it: ``nginx`` (builds an ``HttpConf`` from the directive tree at container start, then
asks ``serve`` for each request). What is modelled (the rest of a valid configuration is accepted
and does nothing here; ``nginx.py`` lists it):

- server selection by port and ``Host`` (exact, ``*.x``/``x.*`` names, then ``default_server``,
  then the first server on the port);
- location matching in nginx's order (R14.2): ``=`` exact wins at once; else the longest matching
  prefix, which ends the search if it is ``^~``; else the first matching ``~``/``~*`` regex in
  configuration order; else that longest prefix; nested locations are searched the same way;
- ``return code [text|URL]`` and ``return URL`` (server-level ``return`` runs before locations);
  a text body gets the type from the URI's extension (``types``) or ``default_type``; a code of
  300 or more without text gets nginx's own page (R14.3), ``error_page`` applied first;
- ``add_header name value [always]`` (only for 200, 201, 204, 206, 301, 302, 303, 304, 307, 308
  unless ``always``; a level that has any ``add_header`` does not inherit the outer ones);
- static files of the image and the mounts (``root``, ``alias``, ``index``), ``proxy_pass`` and the
  like answer 502 (the simulator runs no upstream for nginx);
- ``access_log``/``log_format`` (R14.4), ``$hostname``, ``$request_uri``, ``$uri``, ``$remote_addr``,
  ``$host``, ``$http_<name>``, ``set`` and the other variables listed in ``VARIABLES``.
"""

from __future__ import annotations

import email.utils
import posixpath
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .nginx_conf import Directive, Emerg

VARIABLES = frozenset("""hostname request_uri uri document_uri remote_addr remote_port host request_method scheme
server_port server_addr server_name server_protocol args query_string is_args status time_local
time_iso8601 msec request body_bytes_sent bytes_sent remote_user request_time request_length pid
nginx_version content_type content_length connection connection_requests request_id document_root
realpath_root binary_remote_addr https""".split())
PREFIXED = ("http_", "arg_", "cookie_", "sent_http_", "upstream_")
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
# responses that add_header decorates unless "always" (ngx_http_headers_filter)
ADD_HEADER_CODES = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')

# ngx_http_special_response.c: the page bodies (R14.3), before the tail
_TITLES = {301: "301 Moved Permanently", 302: "302 Found", 303: "303 See Other", 307: "307 Temporary Redirect",
           308: "308 Permanent Redirect", 400: "400 Bad Request", 401: "401 Authorization Required",
           402: "402 Payment Required", 403: "403 Forbidden", 404: "404 Not Found", 405: "405 Not Allowed",
           406: "406 Not Acceptable", 408: "408 Request Time-out", 409: "409 Conflict", 410: "410 Gone",
           411: "411 Length Required", 412: "412 Precondition Failed", 413: "413 Request Entity Too Large",
           414: "414 Request-URI Too Large", 415: "415 Unsupported Media Type",
           416: "416 Requested Range Not Satisfiable", 421: "421 Misdirected Request",
           429: "429 Too Many Requests", 500: "500 Internal Server Error", 501: "501 Not Implemented",
           502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out",
           505: "505 HTTP Version Not Supported", 507: "507 Insufficient Storage"}
MSIE_PADDING = b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6


def error_page_body(status: int, server: str) -> bytes:
    """nginx's built-in page for ``status`` with the ``<hr><center>nginx/1.30.5</center>`` tail, or
    b"" for a code without one. ``server`` is ``nginx/<version>`` (or ``nginx`` with server_tokens off)."""
    title = _TITLES.get(status)
    if title is None:
        return b""
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n").encode()


# ---- the configuration model ------------------------------------------------------------------
@dataclass
class Return:
    """A ``return`` directive: the status code, its text or URL, and where it is."""

    code: int
    text: str | None  # the complex value (variables expanded per request); None = no text
    file: str = ""
    line: int = 0


@dataclass
class Level:
    """What http, server and location blocks share; None means "inherit from the outer level"."""

    default_type: str | None = None
    add_headers: list[tuple[str, str, bool]] | None = None
    access_log: list[str] | None = None  # [format name, ...]; [] = off
    error_pages: dict[int, tuple[str, int | None]] | None = None
    root: str | None = None
    index: list[str] | None = None
    server_tokens: bool | None = None
    ret: Return | None = None
    proxy: bool = False
    sets: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Location(Level):
    """A location block: its modifier and name (or regex), alias, and nested locations."""

    modifier: str = ""  # "=", "^~", "", "~", "~*"
    name: str = ""
    regex: re.Pattern[str] | None = None
    alias: str | None = None
    locations: list[Location] = field(default_factory=list)


@dataclass
class Server(Level):
    """A server block: the ports it listens on (and whether it is the default server), its names and locations."""

    ports: list[tuple[int, bool]] = field(default_factory=list)  # (port, default_server)
    names: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)


@dataclass
class HttpConf(Level):
    """The http block: its servers, log formats and MIME types."""

    servers: list[Server] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=lambda: {"combined": COMBINED})
    types: dict[str, str] = field(default_factory=dict)


def build_http(block: Directive, default_port: int) -> HttpConf:
    """The http block as a model; raises Emerg for what nginx refuses when it reads it."""
    conf = HttpConf()
    user_vars = {d.args[0].lstrip("$") for d in _walk(block) if d.name == "set"}
    for d in _walk(block):
        _check_variables(d, user_vars)
    for d in block.block or []:
        if d.name == "log_format":  # the strings are concatenated as they are (ngx_http_log_set_format)
            conf.formats[d.args[0]] = "".join(a for a in d.args[1:] if not a.startswith("escape="))
        elif d.name == "types":
            conf.types.update({ext: e.name for e in d.block or [] for ext in e.args})
    _level(conf, block, conf.formats)
    conf.servers = [_server(d, conf.formats, default_port) for d in block.children("server")]
    _default_servers(conf)
    return conf


def _walk(d: Directive) -> list[Directive]:
    out = []
    for child in d.block or []:
        out.append(child)
        if child.name not in ("types", "map"):
            out.extend(_walk(child))
    return out


def _check_variables(d: Directive, user_vars: set[str]) -> None:
    if d.name not in ("return", "add_header", "log_format", "set", "access_log", "root", "alias", "default_type"):
        return
    for arg in d.args[1:] if d.name == "set" else d.args:
        for m in _VAR.finditer(arg):
            name = m.group(1) or m.group(2)
            if not (name in VARIABLES or name in user_vars or name.isdigit() or name.startswith(PREFIXED)):
                raise Emerg(f'unknown "{name}" variable', d.file, d.line)


def _level(lvl: Level, block: Directive, formats: dict[str, str]) -> None:
    for d in block.block or []:
        name, args = d.name, d.args
        if name == "default_type":
            _once(lvl.default_type, d)
            lvl.default_type = args[0]
        elif name == "add_header":
            if len(args) == 3 and args[2] != "always":
                raise Emerg(f'invalid parameter "{args[2]}"', d.file, d.line)
            lvl.add_headers = (lvl.add_headers or []) + [(args[0], args[1], len(args) == 3)]
        elif name == "access_log":
            lvl.access_log = (lvl.access_log or []) + _access_log(d, formats)
        elif name == "error_page":
            lvl.error_pages = {**(lvl.error_pages or {}), **_error_page(d)}
        elif name in ("root", "alias"):  # alias is allowed in a location only (nginx_conf checks)
            _once(getattr(lvl, name, None), d)
            setattr(lvl, name, args[0])
        elif name == "index":
            lvl.index = (lvl.index or []) + list(args)
        elif name == "server_tokens":
            lvl.server_tokens = _on_off(d)
        elif name == "return" and lvl.ret is None:
            lvl.ret = _return(d)
        elif name in ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass"):
            lvl.proxy = True
        elif name == "set":
            lvl.sets.append((args[0].lstrip("$"), args[1]))


def _once(current: Any, d: Directive) -> None:
    if current is not None:
        raise Emerg(f'"{d.name}" directive is duplicate', d.file, d.line)


def _on_off(d: Directive) -> bool:
    if d.args[0] not in ("on", "off", "build"):
        raise Emerg(f'invalid value "{d.args[0]}" in "{d.name}" directive, it must be "on" or "off"', d.file, d.line)
    return d.args[0] != "off"


def _access_log(d: Directive, formats: dict[str, str]) -> list[str]:
    if d.args[0] == "off":
        return []
    fmt = d.args[1] if len(d.args) > 1 and "=" not in d.args[1] else "combined"
    if fmt not in formats:
        raise Emerg(f'unknown log format "{fmt}"', d.file, d.line)
    to_stdout = d.args[0] in ("/var/log/nginx/access.log", "/dev/stdout", "/proc/self/fd/1", "/dev/stderr",
                              "/var/log/nginx/error.log", "/proc/self/fd/2")
    return [fmt] if to_stdout else []


def _error_page(d: Directive) -> dict[int, tuple[str, int | None]]:
    args, overwrite = list(d.args), None
    uri = args.pop()
    if args and args[-1].startswith("="):
        text = args.pop()[1:]
        overwrite = int(text) if text.isdigit() else 200
    out = {}
    for code in args:
        if not code.isdigit() or not 300 <= int(code) <= 599:
            raise Emerg(f'value "{code}" must be between 300 and 599', d.file, d.line)
        out[int(code)] = (uri, overwrite)
    return out


def _return(d: Directive) -> Return:
    """``return code [text]`` or ``return URL`` (ngx_http_rewrite_return)."""
    first = d.args[0]
    if len(d.args) == 1 and first.startswith(("http://", "https://", "$scheme")):
        return Return(302, first, d.file, d.line)
    if not first.isdigit() or int(first) > 999:
        raise Emerg(f'invalid return code "{first}"', d.file, d.line)
    return Return(int(first), d.args[1] if len(d.args) == 2 else None, d.file, d.line)


def _server(block: Directive, formats: dict[str, str], default_port: int) -> Server:
    srv = Server()
    _level(srv, block, formats)
    for d in block.children("listen"):
        srv.ports.append((_listen_port(d), "default_server" in d.args[1:] or "default" in d.args[1:]))
    srv.ports = srv.ports or [(default_port, False)]
    srv.names = [n for d in block.children("server_name") for n in d.args] or [""]
    srv.locations = _locations(block, formats)
    return srv


def _listen_port(d: Directive) -> int:
    """``listen 8080``, ``*:8080``, ``[::]:8080``, ``10.0.0.1`` (port 80); ngx_parse_inet_url's errors."""
    addr = d.args[0]
    if addr.startswith("unix:"):
        return 0
    host, sep, port = addr.rpartition(":") if ":" in addr.rsplit("]", 1)[-1] else ("", "", addr)
    if not sep and not port.isdigit():  # an address alone listens on 80; a name must resolve
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+|\*|localhost|\[[0-9a-fA-F:]+\]", port):
            return 80
        raise Emerg(f'host not found in "{addr}" of the "listen" directive', d.file, d.line)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Emerg(f'invalid port in "{addr}" of the "listen" directive', d.file, d.line)
    return int(port)


def _locations(block: Directive, formats: dict[str, str]) -> list[Location]:
    out: list[Location] = []
    seen: set[tuple[bool, str]] = set()
    for d in block.children("location"):
        loc = _location(d, formats)
        if loc.regex is None and loc.modifier != "@":
            key = (loc.modifier == "=", loc.name)
            if key in seen:
                raise Emerg(f'duplicate location "{loc.name}"', d.file, d.line)
            seen.add(key)
        out.append(loc)
    return out


def _location(d: Directive, formats: dict[str, str]) -> Location:
    modifier, name = (d.args[0], d.args[1]) if len(d.args) == 2 else _split_modifier(d.args[0])
    if modifier not in ("=", "^~", "", "~", "~*", "@"):
        raise Emerg(f'invalid location modifier "{modifier}"', d.file, d.line)
    loc = Location(modifier=modifier, name=name)
    if modifier in ("~", "~*"):
        try:
            loc.regex = re.compile(name, re.IGNORECASE if modifier == "~*" else 0)
        except re.error as exc:
            raise Emerg(f'pcre2_compile() failed: {exc} in "{name}"', d.file, d.line) from None
    _level(loc, d, formats)
    loc.locations = _locations(d, formats)
    if modifier == "=" and loc.locations:
        raise Emerg(f'location "{loc.locations[0].name}" cannot be inside the exact location "{name}"',
                    d.file, d.line)
    return loc


def _split_modifier(arg: str) -> tuple[str, str]:
    for m in ("^~", "~*", "=", "~", "@"):
        if arg.startswith(m) and len(arg) > len(m):
            return m, arg[len(m):] if m != "@" else arg
    return "", arg


def _default_servers(conf: HttpConf) -> None:
    seen: set[int] = set()
    for srv in conf.servers:
        for port, default in srv.ports:
            if default and port in seen:
                raise Emerg(f"a duplicate default server for 0.0.0.0:{port}", "", 0)
            if default:
                seen.add(port)


# ---- one request -------------------------------------------------------------------------------
@dataclass
class Request:
    """One request as nginx's http module sees it."""

    method: str
    raw_uri: str  # as received, with the query string
    headers: dict[str, str]  # lower-case names
    remote_addr: str
    port: int
    hostname: str
    now: float
    protocol: str = "HTTP/1.1"
    server_addr: str = ""


@dataclass
class Response:
    """nginx's response to one request, with the variables and log formats its access log needs."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    vars: dict[str, str]
    log_formats: list[str]
    error: str | None = None  # an [error] line's text, if nginx logs one
    closed: bool = False  # 444: the connection is closed without a response


def normalize(uri: str) -> str | None:
    """``$uri``: decoded, slashes merged, dot segments resolved (None: nginx answers 400)."""
    path = urllib.parse.unquote(uri.split("?", 1)[0])
    if not path.startswith("/"):
        return None
    parts: list[str] = []
    for seg in re.sub(r"/+", "/", path).split("/")[1:]:
        if seg == "..":
            if not parts:
                return None
            parts.pop()
        elif seg != ".":
            parts.append(seg)
    return "/" + "/".join(parts) if parts or path.endswith("/") else "/"


def find_location(locations: list[Location], uri: str) -> tuple[list[Location], tuple[str, ...], bool]:
    """ngx_http_core_find_location (R14.2): (the location then its parents, regex captures, final?).

    ``final`` is nginx's NGX_OK (an exact or a regex match ends the search); otherwise a prefix
    match may still lose to a regex of an outer level."""
    exact = next((loc for loc in locations if loc.modifier == "=" and loc.name == uri), None)
    if exact is not None:
        return [exact], (), True
    prefixes = [loc for loc in locations if loc.modifier in ("", "^~") and uri.startswith(loc.name)]
    best = max(prefixes, key=lambda loc: len(loc.name), default=None)
    chain: list[Location] = []
    if best is not None:
        inner, caps, final = find_location(best.locations, uri)
        if final:
            return inner + [best], caps, True
        chain = inner + [best]
        if best.modifier == "^~":
            return chain, (), False
    for loc in locations:
        m = loc.regex.search(uri) if loc.regex is not None else None
        if m is not None:
            inner, caps, _ = find_location(loc.locations, uri)
            return inner + [loc], caps or m.groups(default=""), True
    return chain, (), False


def select_server(conf: HttpConf, port: int, host: str) -> Server | None:
    """The server for a request: by port, then by server_name, else the port's default server."""
    on_port = [s for s in conf.servers if any(p == port for p, _ in s.ports)]
    if not on_port:
        return None
    for srv in on_port:
        if any(_name_matches(n, host) for n in srv.names):
            return srv
    return next((s for s in on_port if any(p == port and d for p, d in s.ports)), on_port[0])


def _name_matches(name: str, host: str) -> bool:
    if name.startswith("~"):
        return re.search(name[1:], host) is not None
    if name.startswith("*."):
        return host.endswith(name[1:])
    if name.startswith("."):
        return host == name[1:] or host.endswith(name)
    if name.endswith(".*"):
        return host.startswith(name[:-1])
    return bool(name) and host == name.lower()


def expand(text: str, vars: dict[str, str], lookup: Callable[[str], str]) -> str:
    """Expands ``$var`` and ``${var}`` in text: from vars, else from lookup."""
    return _VAR.sub(lambda m: vars.get(m.group(1) or m.group(2)) or lookup(m.group(1) or m.group(2)), text)


def mime_type(conf: HttpConf, chain: list[Level], uri: str) -> str:
    """The Content-Type for a URI: from its extension in ``types``, else default_type, else text/plain."""
    ext = posixpath.splitext(uri)[1].lstrip(".").lower()
    if ext and ext in conf.types:
        return conf.types[ext]
    return next((lvl.default_type for lvl in chain if lvl.default_type), None) or "text/plain"


def http_date(epoch: float) -> str:
    """An epoch time as an HTTP date (``Date`` and ``Last-Modified`` headers)."""
    return email.utils.formatdate(epoch, usegmt=True)


def time_local(epoch: float) -> str:
    """An epoch time as nginx's ``$time_local``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))
