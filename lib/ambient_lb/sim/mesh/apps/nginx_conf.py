"""nginx's configuration reader: tokens, directives, includes, and the ``[emerg]`` errors nginx gives
for a file it cannot use (R14.5).

Who calls it: ``nginx_http`` (builds the server/location model from the tree) and ``nginx`` (reads
the files a container sees at start). The reader follows ``ngx_conf_file.c``: ``#`` comments, quoted
strings with ``\\"``, ``\\n``, ``\\t`` escapes, ``;`` ends a directive, ``{`` opens a block;
``include`` is expanded where it stands (globs sorted, a missing plain path is an error). Every
directive name is checked against nginx's own names and, for the ones the simulator models, against
its contexts and argument counts, with nginx's messages: ``unknown directive "retrun"``,
``"listen" directive is not allowed here``, ``invalid number of arguments in "return" directive``,
``unexpected "}"``, ``unexpected end of file, expecting "}"``, each followed by `` in <file>:<line>``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAIN, EVENTS, HTTP, SERVER, LOCATION, IF, UPSTREAM = "main", "events", "http", "server", "location", "if", "upstream"
ANY = frozenset({MAIN, EVENTS, HTTP, SERVER, LOCATION, IF, UPSTREAM, "limit_except", "stream", "mail"})
HSL = frozenset({HTTP, SERVER, LOCATION})
SL = frozenset({SERVER, LOCATION})

# modelled directives: name -> (contexts, allowed argument counts (None: 1 or more), block?)
MODELLED: dict[str, tuple[frozenset[str], tuple[int, ...] | None, bool]] = {
    "events": (frozenset({MAIN}), (0,), True),
    "http": (frozenset({MAIN}), (0,), True),
    "server": (frozenset({HTTP}), (0,), True),
    "location": (frozenset({SERVER, LOCATION}), (1, 2), True),
    "listen": (frozenset({SERVER}), None, False),
    "server_name": (frozenset({SERVER}), None, False),
    "return": (frozenset({SERVER, LOCATION, IF}), (1, 2), False),
    "default_type": (HSL, (1,), False),
    "add_header": (HSL | {IF}, (2, 3), False),
    "access_log": (HSL | {IF, "limit_except"}, None, False),
    "log_format": (frozenset({HTTP}), None, False),
    "error_log": (frozenset({MAIN, HTTP, SERVER, LOCATION}), None, False),
    "error_page": (HSL | {IF}, None, False),
    "root": (HSL | {IF}, (1,), False),
    "alias": (frozenset({LOCATION}), (1,), False),
    "index": (HSL, None, False),
    "server_tokens": (HSL, (1,), False),
    "worker_processes": (frozenset({MAIN}), (1,), False),
    "include": (ANY, (1,), False),
    "types": (HSL, (0,), True),
    "set": (frozenset({SERVER, LOCATION, IF}), (2,), False),
    "if": (frozenset({SERVER, LOCATION}), None, True),
    "upstream": (frozenset({HTTP}), (1,), True),
    "limit_except": (frozenset({LOCATION}), None, True),
}
# blocks whose contents are data, not directives (``types { text/html html; }``, ``map``, ...)
FREEFORM = frozenset({"types", "map", "geo", "split_clients", "charset_map", "match"})
# nginx directives the simulator accepts without modelling what they do (the official image's
# modules); a name in neither table is what nginx calls an unknown directive
KNOWN_BLOCKS = frozenset({"map", "geo", "split_clients", "charset_map", "stream", "mail", "match"})
KNOWN = frozenset("""
user pid daemon master_process worker_rlimit_nofile worker_rlimit_core worker_priority worker_cpu_affinity
worker_shutdown_timeout working_directory env load_module lock_file pcre_jit thread_pool timer_resolution
ssl_engine debug_points worker_connections use multi_accept accept_mutex accept_mutex_delay debug_connection
worker_aio_requests sendfile sendfile_max_chunk tcp_nopush tcp_nodelay keepalive_timeout keepalive_requests
keepalive_time keepalive_disable types_hash_max_size types_hash_bucket_size server_names_hash_max_size
server_names_hash_bucket_size variables_hash_max_size variables_hash_bucket_size client_max_body_size
client_body_buffer_size client_body_timeout client_header_timeout client_header_buffer_size
large_client_header_buffers client_body_temp_path client_body_in_file_only client_body_in_single_buffer
proxy_temp_path fastcgi_temp_path uwsgi_temp_path scgi_temp_path send_timeout reset_timedout_connection
lingering_close lingering_time lingering_timeout resolver resolver_timeout absolute_redirect
port_in_redirect server_name_in_redirect msie_padding msie_refresh merge_slashes ignore_invalid_headers
underscores_in_headers recursive_error_pages chunked_transfer_encoding etag if_modified_since
log_not_found log_subrequest open_file_cache open_file_cache_errors open_file_cache_min_uses
open_file_cache_valid open_log_file_cache output_buffers postpone_output directio directio_alignment aio
aio_write read_ahead try_files internal satisfy auth_basic auth_basic_user_file auth_request
auth_request_set allow deny autoindex autoindex_exact_size autoindex_format autoindex_localtime charset
charset_types source_charset override_charset expires add_trailer gzip gzip_types gzip_comp_level
gzip_min_length gzip_vary gzip_proxied gzip_disable gzip_buffers gzip_http_version gzip_static gunzip
proxy_pass proxy_set_header proxy_http_version proxy_buffering proxy_buffers proxy_buffer_size
proxy_busy_buffers_size proxy_read_timeout proxy_connect_timeout proxy_send_timeout proxy_redirect
proxy_intercept_errors proxy_hide_header proxy_pass_header proxy_ignore_headers proxy_next_upstream
proxy_next_upstream_tries proxy_next_upstream_timeout proxy_cache proxy_cache_path proxy_cache_valid
proxy_cache_key proxy_cache_bypass proxy_no_cache proxy_cache_use_stale proxy_cache_lock proxy_ssl_verify
proxy_ssl_server_name proxy_ssl_name proxy_request_buffering proxy_set_body proxy_pass_request_headers
proxy_pass_request_body proxy_max_temp_file_size proxy_cookie_path proxy_cookie_domain
proxy_socket_keepalive fastcgi_pass fastcgi_param fastcgi_index fastcgi_split_path_info
fastcgi_read_timeout fastcgi_buffers fastcgi_buffer_size fastcgi_intercept_errors uwsgi_pass uwsgi_param
scgi_pass scgi_param grpc_pass grpc_set_header grpc_read_timeout memcached_pass keepalive least_conn
ip_hash hash zone random ssl_certificate ssl_certificate_key ssl_protocols ssl_ciphers
ssl_prefer_server_ciphers ssl_session_cache ssl_session_timeout ssl_session_tickets ssl_dhparam
ssl_stapling ssl_stapling_verify ssl_trusted_certificate ssl_client_certificate ssl_verify_client
ssl_verify_depth ssl_ecdh_curve ssl_buffer_size ssl_early_data ssl_password_file ssl_conf_command
http2 http3 quic_retry limit_req limit_req_zone limit_req_status limit_req_log_level limit_conn
limit_conn_zone limit_conn_status limit_conn_log_level limit_rate limit_rate_after real_ip_header
set_real_ip_from real_ip_recursive rewrite rewrite_log break uninitialized_variable_warn sub_filter
sub_filter_once sub_filter_types sub_filter_last_modified stub_status mirror mirror_request_body
slice ssi ssi_types addition_types image_filter xslt_stylesheet js_import js_content js_set js_path
js_header_filter js_body_filter subrequest_output_buffer_size default_server
""".split())


class Emerg(Exception):
    """nginx's ``[emerg]``: the configuration cannot be used (the message, then where)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.file, self.line = message, file, line

    def text(self) -> str:
        """The message as nginx prints it, with ``in FILE:LINE`` when it knows where."""
        return f"{self.message} in {self.file}:{self.line}" if self.file else self.message


@dataclass
class Directive:
    """One directive of an nginx configuration: its name, arguments, where it is, and its block if it has one."""

    name: str
    args: list[str]
    file: str
    line: int
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        """The directives of this block with the given name."""
        return [d for d in self.block or [] if d.name == name]


@dataclass
class _Token:
    kind: str  # "word", ";", "{", "}"
    value: str
    line: int


_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", '"': '"', "'": "'", "\\": "\\"}


def tokens(text: str, file: str) -> Iterator[_Token]:
    """The tokens of one file, as ``ngx_conf_read_token`` splits it."""
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in ";{}":
            yield _Token(ch, ch, line)
            i += 1
        else:
            value, i, start = _word(text, i, file, line)
            line += text.count("\n", start, i)
            yield _Token("word", value, line)


def _word(text: str, i: int, file: str, line: int) -> tuple[str, int, int]:
    start, quote, out = i, text[i] if text[i] in "\"'" else "", []
    i += 1 if quote else 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if quote and ch == quote:
            i += 1
            if i < len(text) and text[i] not in " \t\r\n;{)":
                raise Emerg(f'unexpected "{text[i]}"', file, line + text.count("\n", start, i))
            return "".join(out), i, start
        # unquoted: a word ends at white space, ';' or '{' ('${' is a variable; '}' is just a character)
        if not quote and (ch in " \t\r\n;" or ch == "{" and not (out and out[-1] == "$")):
            return "".join(out), i, start
        out.append(ch)
        i += 1
    if quote:
        raise Emerg('unexpected end of file, expecting ";" or "}"', file, line + text.count("\n", start, i))
    return "".join(out), i, start


Reader = Callable[[str], list[tuple[str, str]]]  # include pattern -> [(path, text)] sorted; [] if no match


def parse(text: str, file: str, read: Reader, context: str = MAIN) -> list[Directive]:
    """The directive tree of ``file`` (includes expanded); raises Emerg as nginx would."""
    eof = text.count("\n") + 1  # the line nginx reports for "unexpected end of file"
    return _block(tokens(text, file), file, read, context, eof, top=True)


def _block(stream: Iterator[_Token], file: str, read: Reader, context: str, eof: int,
           top: bool) -> list[Directive]:
    out: list[Directive] = []
    words: list[_Token] = []
    for tok in stream:
        if tok.kind == "word":
            words.append(tok)
            continue
        if tok.kind == "}":
            if words:
                raise Emerg('unexpected "}"', file, tok.line)
            if top:
                raise Emerg('unexpected "}"', file, tok.line)
            return out
        if not words:
            raise Emerg(f'unexpected "{tok.kind}"', file, tok.line)
        d = Directive(words[0].value, [w.value for w in words[1:]], file, words[0].line)
        words = []
        if tok.kind == "{":
            _check(d, context, block=True)
            inner = d.name if d.name in FREEFORM else _inner_context(d.name, context)
            d.block = _freeform(stream, file, eof) if d.name in FREEFORM else _block(stream, file, read, inner, eof,
                                                                                       top=False)
            out.append(d)
        else:
            _check(d, context, block=False)
            out.extend(_include(d, read, context) if d.name == "include" else [d])
    if words:
        raise Emerg('unexpected end of file, expecting ";" or "}"', file, eof)
    if not top:
        raise Emerg('unexpected end of file, expecting "}"', file, eof)
    return out


def _freeform(stream: Iterator[_Token], file: str, eof: int) -> list[Directive]:
    """The entries of a data block (``types``, ``map``): lines of words, not checked as directives."""
    out: list[Directive] = []
    words: list[_Token] = []
    for tok in stream:
        if tok.kind == "word":
            words.append(tok)
        elif tok.kind == ";":
            if words:
                out.append(Directive(words[0].value, [w.value for w in words[1:]], file, words[0].line))
            words = []
        elif tok.kind == "}":
            return out
        else:
            raise Emerg('unexpected "{"', file, tok.line)
    raise Emerg('unexpected end of file, expecting "}"', file, eof)


def _inner_context(name: str, outer: str) -> str:
    return {"http": HTTP, "server": SERVER, "location": LOCATION, "events": EVENTS, "if": IF,
            "upstream": UPSTREAM, "limit_except": "limit_except"}.get(name, name if name in ANY else outer)


def _check(d: Directive, context: str, block: bool) -> None:
    """ngx_conf_handler's checks, in its order: context, ';' vs '{', argument count; else unknown."""
    if context in FREEFORM:
        return
    if context == UPSTREAM and d.name == "server":
        if block:
            raise Emerg('directive "server" is not terminated by ";"', d.file, d.line)
        return
    spec = MODELLED.get(d.name)
    if spec is None:
        if d.name not in KNOWN and d.name not in KNOWN_BLOCKS and d.name not in FREEFORM:
            raise Emerg(f'unknown directive "{d.name}"', d.file, d.line)
        return
    contexts, nargs, is_block = spec
    if context not in contexts:
        raise Emerg(f'"{d.name}" directive is not allowed here', d.file, d.line)
    if not is_block and block:
        raise Emerg(f'directive "{d.name}" is not terminated by ";"', d.file, d.line)
    if is_block and not block:
        raise Emerg(f'directive "{d.name}" has no opening "{{"', d.file, d.line)
    if (nargs is None and not d.args) or (nargs is not None and len(d.args) not in nargs):
        raise Emerg(f'invalid number of arguments in "{d.name}" directive', d.file, d.line)


def _include(d: Directive, read: Reader, context: str) -> list[Directive]:
    pattern = d.args[0] if d.args[0].startswith("/") else f"/etc/nginx/{d.args[0]}"
    files = read(pattern)
    if not files and not any(c in pattern for c in "*?["):
        raise Emerg(f'open() "{pattern}" failed (2: No such file or directory)', d.file, d.line)
    out: list[Directive] = []
    for path, text in files:
        out.extend(parse(text, path, read, context) if context != "types" else [])
    return out


@dataclass
class FileSystem:
    """The files nginx can open: the image's own, then what the pod mounts over them (a directory
    mount hides the image's files below it, as a mount does)."""

    image: dict[str, str]
    mounts: dict[str, str] = field(default_factory=dict)
    mount_points: tuple[str, ...] = ()

    def files(self) -> dict[str, str]:
        """Every file nginx sees, by path: the image's, less those under a mount point, plus the mounted ones."""
        out = {p: t for p, t in self.image.items()
               if not any(p == m or p.startswith(m.rstrip("/") + "/") for m in self.mount_points)}
        out.update(self.mounts)
        return out

    def read(self, pattern: str) -> list[tuple[str, str]]:
        """The (path, text) of the files an ``include`` pattern names (a glob matches within one directory level)."""
        files = self.files()
        if not any(c in pattern for c in "*?["):
            return [(pattern, files[pattern])] if pattern in files else []
        return sorted((p, t) for p, t in files.items() if fnmatch.fnmatchcase(p, pattern) and
                      p.count("/") == pattern.count("/"))
