"""One request through a configured nginx: server, rewrite phase (``return``), location, content.

Who calls it: ``nginx.Nginx.handle``. The phases follow nginx's: the server's ``return`` runs before
any location is looked up; then the location found (``nginx_http.find_location``, R14.2) answers with
its ``return`` or its content (static files of the image and the mounts; a proxied location answers
502, since nginx here has no upstream). A code of 300 or more without a body becomes nginx's own page
(R14.3), after ``error_page`` has had its say (one internal redirect, as ``recursive_error_pages off``).
Headers are written in ``ngx_http_header_filter``'s order; ``add_header`` comes last (R14.2).
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections.abc import Callable

from .nginx_http import (
    ADD_HEADER_CODES,
    MSIE_PADDING,
    REDIRECTS,
    HttpConf,
    Level,
    Location,
    Request,
    Response,
    Return,
    Server,
    error_page_body,
    expand,
    find_location,
    http_date,
    mime_type,
    normalize,
    select_server,
    time_local,
)

# special responses after which nginx closes the connection (ngx_http_special_response_handler)
_CLOSES = frozenset({400, 413, 414, 497, 495, 496, 500, 501})


class Pipeline:
    """The http module of one running nginx: its configuration, its files, its identity."""

    def __init__(self, conf: HttpConf, files: dict[str, str], version: str, started: float,
                 server_addr: str = "") -> None:
        self.conf, self.files, self.version, self.started = conf, files, version, started
        self.server_addr = server_addr

    def listens(self, port: int) -> bool:
        """True when some server listens on the port."""
        return any(p == port for s in self.conf.servers for p, _ in s.ports)

    def ports(self) -> frozenset[int]:
        """The ports its servers listen on."""
        return frozenset(p for s in self.conf.servers for p, _ in s.ports if p)

    # ---- the phases ------------------------------------------------------------------------------
    def serve(self, req: Request) -> Response:
        """Serves one request through nginx's phases: server and location, rewrite (return), content, errors."""
        srv = select_server(self.conf, req.port, _host(req))
        assert srv is not None, "serve() needs a port some server listens on"
        base = [srv, self.conf]
        vars_ = self._vars(req, srv.names[0])
        uri = normalize(req.raw_uri)
        if uri is None:
            return self._special(400, req, base, vars_, redirected=True)
        vars_["uri"] = vars_["document_uri"] = uri
        return self._route(req, uri, srv.locations, base, vars_, redirected=False)

    def _route(self, req: Request, uri: str, locations: list[Location], base: list[Level],
               vars_: dict[str, str], redirected: bool) -> Response:
        srv = base[0]
        self._set(srv, req, vars_)
        if srv.ret is not None:
            return self._return(srv.ret, req, base, vars_, redirected)
        locs, caps, _ = find_location(locations, uri)
        vars_.update({str(i + 1): c for i, c in enumerate(caps)})
        chain = [*locs, *base]
        if locs:
            self._set(locs[0], req, vars_)
            if locs[0].ret is not None:
                return self._return(locs[0].ret, req, chain, vars_, redirected)
            if locs[0].proxy:
                return self._special(502, req, chain, vars_, redirected)
        return self._static(req, uri, locs[0] if locs else None, chain, vars_, redirected)

    def _set(self, lvl: Level, req: Request, vars_: dict[str, str]) -> None:
        for name, value in lvl.sets:
            vars_[name] = self._expand(value, req, vars_)

    def _return(self, ret: Return, req: Request, chain: list[Level], vars_: dict[str, str],
                redirected: bool) -> Response:
        """ngx_http_rewrite_return_code: text is a body below 400 or when given; else a special page."""
        if ret.code == 444:
            return Response(444, [], b"", vars_, _formats(chain), closed=True)
        text = self._expand(ret.text, req, vars_) if ret.text is not None else None
        if ret.code in REDIRECTS and text is not None:
            return self._special(ret.code, req, chain, vars_, redirected, location=self._absolute(text, req))
        if ret.code < 400 or text is not None:
            body = b"" if ret.code == 204 else (text or "").encode()
            return self._finish(ret.code, req, chain, vars_, body, mime_type(self.conf, chain, vars_["uri"]))
        return self._special(ret.code, req, chain, vars_, redirected)

    def _static(self, req: Request, uri: str, loc: Location | None, chain: list[Level], vars_: dict[str, str],
                redirected: bool) -> Response:
        if req.method not in ("GET", "HEAD"):
            return self._special(405, req, chain, vars_, redirected)
        path = self._path(uri, loc, chain)
        vars_["document_root"] = vars_["realpath_root"] = path[: len(path) - len(uri)] if path.endswith(uri) else ""
        if uri.endswith("/"):
            for index in next((lvl.index for lvl in chain if lvl.index), None) or ["index.html"]:
                if path + index in self.files:
                    return self._file(path + index, req, chain, vars_)
            if any(f.startswith(path) for f in self.files):
                return self._special(403, req, chain, vars_, redirected,
                                     error=f'directory index of "{path}" is forbidden')
            return self._special(404, req, chain, vars_, redirected,
                                 error=f'"{path}index.html" is not found (2: No such file or directory)')
        if path in self.files:
            return self._file(path, req, chain, vars_)
        if any(f.startswith(path + "/") for f in self.files):
            return self._special(301, req, chain, vars_, redirected, location=self._absolute(uri + "/", req))
        return self._special(404, req, chain, vars_, redirected,
                             error=f'open() "{path}" failed (2: No such file or directory)')

    def _path(self, uri: str, loc: Location | None, chain: list[Level]) -> str:
        if loc is not None and loc.alias is not None:
            return loc.alias + uri[len(loc.name):]
        root = next((lvl.root for lvl in chain if lvl.root), None) or "html"
        root = root if root.startswith("/") else f"/etc/nginx/{root}"
        return root.rstrip("/") + uri

    def _file(self, path: str, req: Request, chain: list[Level], vars_: dict[str, str]) -> Response:
        data = self.files[path].encode()
        extra = [("Last-Modified", http_date(self.started)),
                 ("ETag", f'"{int(self.started):x}-{len(data):x}"'), ("Accept-Ranges", "bytes")]
        return self._finish(200, req, chain, vars_, data, mime_type(self.conf, chain, path), extra)

    # ---- responses -------------------------------------------------------------------------------
    def _special(self, code: int, req: Request, chain: list[Level], vars_: dict[str, str], redirected: bool,
                 location: str | None = None, error: str | None = None) -> Response:
        """ngx_http_special_response_handler: error_page first, else the built-in page (R14.3)."""
        pages = next((lvl.error_pages for lvl in chain if lvl.error_pages is not None), None) or {}
        if code in pages and not redirected:
            uri, overwrite = pages[code]
            target = self._expand(uri, req, vars_)
            if target.startswith("/"):
                resp = self._internal(target, req, chain, vars_)
                resp.status = overwrite if overwrite is not None else code
                resp.error = resp.error or error
                return resp
            return self._special(302, req, chain, vars_, True, location=target, error=error)
        tokens = next((lvl.server_tokens for lvl in chain if lvl.server_tokens is not None), True)
        body = error_page_body(code, f"nginx/{self.version}" if tokens else "nginx")
        if body and code >= 400 and _friendly_page_browser(req.headers.get("user-agent", "")):
            body += MSIE_PADDING
        extra = [("Location", location)] if location else []
        resp = self._finish(code, req, chain, vars_, body, "text/html" if body else None, extra,
                            keepalive=code not in _CLOSES)
        resp.error = error
        return resp

    def _internal(self, target: str, req: Request, chain: list[Level], vars_: dict[str, str]) -> Response:
        """An internal redirect to ``target`` (error_page): the server's phases run again, as GET."""
        uri = normalize(target) or target
        vars_["uri"] = vars_["document_uri"] = uri
        srv = chain[-2]  # chains are [location..., server, http]
        assert isinstance(srv, Server)
        get = Request("GET" if req.method != "HEAD" else "HEAD", req.raw_uri, req.headers, req.remote_addr, req.port,
                      req.hostname, req.now, req.protocol, req.server_addr)
        return self._route(get, uri, srv.locations, [srv, self.conf], vars_, redirected=True)

    def _finish(self, code: int, req: Request, chain: list[Level], vars_: dict[str, str], body: bytes,
                ctype: str | None, extra: list[tuple[str, str]] | None = None, keepalive: bool = True) -> Response:
        tokens = next((lvl.server_tokens for lvl in chain if lvl.server_tokens is not None), True)
        headers = [("Server", f"nginx/{self.version}" if tokens else "nginx"), ("Date", http_date(req.now))]
        if ctype:
            headers.append(("Content-Type", ctype))
        if code not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        extra = list(extra or [])
        headers += [h for h in extra if h[0] in ("Last-Modified", "Location")]
        headers.append(("Connection", "keep-alive" if keepalive else "close"))
        headers += [h for h in extra if h[0] not in ("Last-Modified", "Location")]
        vars_["status"] = str(code)
        headers += self._add_headers(code, req, chain, vars_)
        if req.method == "HEAD":
            body = b""
        vars_["body_bytes_sent"] = str(len(body))
        vars_["bytes_sent"] = str(len(body) + sum(len(k) + len(v) + 4 for k, v in headers) + 17)
        vars_.update({"sent_http_" + k.lower().replace("-", "_"): v for k, v in headers})
        return Response(code, headers, body, vars_, _formats(chain))

    def _add_headers(self, code: int, req: Request, chain: list[Level], vars_: dict[str, str]) -> list[tuple[str, str]]:
        adds = next((lvl.add_headers for lvl in chain if lvl.add_headers is not None), None) or []
        return [(name, self._expand(value, req, vars_)) for name, value, always in adds
                if always or code in ADD_HEADER_CODES]

    def _absolute(self, url: str, req: Request) -> str:
        """absolute_redirect on: a relative Location gets scheme, host and the port unless 80."""
        if not url.startswith("/"):
            return url
        port = "" if req.port == 80 else f":{req.port}"
        return f"http://{_host(req) or self.server_addr}{port}{url}"

    # ---- variables --------------------------------------------------------------------------------
    def _vars(self, req: Request, server_name: str) -> dict[str, str]:
        path, _, args = req.raw_uri.partition("?")
        return {"hostname": req.hostname, "request_uri": req.raw_uri, "remote_addr": req.remote_addr,
                "host": _host(req) or server_name, "request_method": req.method, "scheme": "http",
                "server_port": str(req.port), "server_addr": req.server_addr or self.server_addr,
                "server_name": server_name, "server_protocol": req.protocol, "args": args, "query_string": args,
                "is_args": "?" if args else "", "request": f"{req.method} {req.raw_uri} {req.protocol}",
                "time_local": time_local(req.now), "msec": f"{req.now:.3f}", "request_time": "0.000",
                "nginx_version": self.version, "pid": "29", "remote_user": "", "https": "",
                "request_id": hashlib.md5(f"{req.hostname}{req.now}{req.raw_uri}".encode()).hexdigest(),
                "connection_requests": "1", "request_length": str(len(req.raw_uri) + 64)}

    def _expand(self, text: str, req: Request, vars_: dict[str, str]) -> str:
        return expand(text, vars_, _lookup(req))


def _lookup(req: Request) -> Callable[[str], str]:
    def lookup(name: str) -> str:
        if name.startswith("http_"):
            return req.headers.get(name[5:].replace("_", "-"), "")
        if name.startswith("arg_"):
            query = urllib.parse.parse_qs(req.raw_uri.partition("?")[2], keep_blank_values=True)
            return (query.get(name[4:]) or [""])[0]
        if name.startswith("cookie_"):
            for part in req.headers.get("cookie", "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name[7:]:
                    return v
        if name == "content_type":
            return req.headers.get("content-type", "")
        if name == "content_length":
            return req.headers.get("content-length", "")
        if name == "time_iso8601":
            return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(req.now))
        return ""
    return lookup


def _host(req: Request) -> str:
    """``$host``: the Host header without its port, lower case."""
    host = req.headers.get("host", "")
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def _friendly_page_browser(ua: str) -> bool:
    """ngx_http_process_user_agent: MSIE (not Opera) or Chrome get the padding (msie_padding on)."""
    return ("MSIE " in ua and "Opera" not in ua) or "Chrome/" in ua


def _formats(chain: list[Level]) -> list[str]:
    """The log formats this request is written with: the innermost ``access_log`` level; none set
    anywhere is nginx's default, ``combined`` to /var/log/nginx/access.log (stdout in the image)."""
    return next((lvl.access_log for lvl in chain if lvl.access_log is not None), ["combined"])
