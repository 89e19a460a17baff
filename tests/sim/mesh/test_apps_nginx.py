"""The nginx image model (R14.2–R14.6): configuration in, answers and log lines out. No simulator."""

from __future__ import annotations

from typing import Any

import pytest

from ambient_lb.sim.mesh.apps import nginx
from ambient_lb.sim.mesh.apps.base import AppRequest, Container, Launch

T0 = 1_796_000_000.0  # 2026-11-30T00:53:20Z
NODE = {"status": {"capacity": {"cpu": "2"}, "nodeInfo": {"kernelVersion": "6.8.0-1019-gcp"}}}
FAULTY = """server {
    listen 8080;
    default_type text/plain;

    location = /healthz {
        access_log off;
        return 200 "ok\\n";
    }

    location / {
        return 500 "$hostname\\n";
    }
}
"""
CONF_D = {"name": "nginx", "volumeMounts": [{"name": "conf", "mountPath": "/etc/nginx/conf.d"}]}


def start(conf: str | None = FAULTY, image: str = nginx.PINNED_IMAGE, spec: dict[str, Any] | None = None,
          files: dict[str, str] | None = None) -> tuple[Launch, list[str]]:
    logs: list[str] = []
    spec = dict(spec or CONF_D, image=image)
    if files is None:
        files = {"/etc/nginx/conf.d/default.conf": conf} if conf is not None else {}
    c = Container("httpbin", "in-ambient-faulty-7c9d8-x2kqp", image, spec, files, T0, logs.append,
                  lambda: T0 + 5, NODE, "10.244.1.7")
    return nginx.launch(c), logs


def get(launch: Launch, path: str, port: int = 8080, **headers: str) -> Any:
    assert launch.app is not None
    hdrs = {"host": "httpbin.example.com", "user-agent": "curl/8.7.1", **headers}
    return launch.app.handle(AppRequest("GET", path, hdrs, "10.244.2.3", hdrs["host"]), port)


def server(locations: str, extra: str = "") -> str:
    return f"server {{\n    listen 8080;\n{extra}\n{locations}\n}}\n"


def test_nginx_return_500_answers_every_path_but_healthz() -> None:
    """The runbook's faulty config: /healthz is 200 "ok"; every other path 500 with the pod's name."""
    app, _ = start()
    assert (get(app, "/healthz").status, get(app, "/healthz").body) == (200, b"ok\n")
    for path in ("/", "/hostname", "/status/200", "/healthz/", "/a/b?c=d"):
        r = get(app, path)
        assert (r.status, r.body) == (500, b"in-ambient-faulty-7c9d8-x2kqp\n"), path
        assert r.headers["Content-Type"] == "text/plain" and r.headers["Server"] == "nginx/1.30.5"
        assert r.headers["Content-Length"] == str(len(r.body)) and r.headers["Connection"] == "keep-alive"


def test_nginx_location_matching_prefers_exact_then_longest_prefix() -> None:
    """R14.2: = wins at once; else the longest prefix; a regex beats a plain prefix but not ^~."""
    conf = server("""
    location = /a { return 200 "exact"; }
    location /a { return 200 "prefix-a"; }
    location /a/b { return 200 "prefix-ab"; }
    location ^~ /static/ { return 200 "caret"; }
    location ~ \\.png$ { return 200 "regex-png"; }
    location ~* \\.PNG$ { return 200 "regex-ci"; }
    location /img/ { return 200 "prefix-img"; }
    location / { return 200 "root"; }""")
    app, _ = start(conf)
    cases = {"/a": "exact", "/ab": "prefix-a", "/a/bc": "prefix-ab", "/a/b/c": "prefix-ab",
             "/static/x.png": "caret", "/img/x.png": "regex-png", "/img/x.PnG": "regex-ci",
             "/img/x.gif": "prefix-img", "/elsewhere": "root"}
    assert {path: get(app, path).body.decode() for path in cases} == cases


def test_nginx_nested_location_and_first_regex_in_order() -> None:
    conf = server("""
    location /api/ {
        location ~ ^/api/v2 { return 200 "nested-v2"; }
        return 200 "api";
    }
    location ~ ^/api/v1 { return 200 "outer-regex"; }
    location ~ ^/api { return 200 "second-regex"; }""")
    app, _ = start(conf)
    assert get(app, "/api/v2/x").body == b"nested-v2"
    assert get(app, "/api/v1/x").body == b"outer-regex"  # a nested prefix match still loses to a regex
    assert get(app, "/api/x").body == b"second-regex"
    assert get(app, "/apix").body == b"second-regex"


def test_nginx_return_without_text_sends_its_default_error_page() -> None:
    """R14.3: a code >= 300 without text is nginx's own page, with the version in the tail; Chrome
    gets the 402-byte padding."""
    app, _ = start(server("    location / { return 503; }"))
    r = get(app, "/x")
    assert r.status == 503 and r.headers["Content-Type"] == "text/html"
    assert r.body == (b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
                      b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
                      b"<hr><center>nginx/1.30.5</center>\r\n</body>\r\n</html>\r\n")
    chrome = get(app, "/x", **{"user-agent": "Mozilla/5.0 (X11) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"})
    assert len(chrome.body) == len(r.body) + 402
    hidden, _ = start(server("    server_tokens off;\n    location / { return 404; }"))
    assert get(hidden, "/").body.endswith(b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    assert get(hidden, "/").headers["Server"] == "nginx"


def test_nginx_default_image_serves_its_welcome_page_and_404s() -> None:
    """No mount: the image's default.conf on port 80, the 615-byte welcome page, the 153-byte 404."""
    app, logs = start(conf=None, spec={"name": "web"})
    r = get(app, "/", port=80)
    assert r.status == 200 and len(r.body) == 615 and b"Welcome to nginx!" in r.body
    assert r.headers["ETag"] and r.headers["Accept-Ranges"] == "bytes"
    missing = get(app, "/favicon.ico", port=80)
    assert missing.status == 404 and len(missing.body) == 153
    assert any('[error] 29#29: *2 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or '
               'directory), client: 10.244.2.3, server: localhost, request: "GET /favicon.ico HTTP/1.1", '
               'host: "httpbin.example.com"' in line for line in logs)
    assert app.app is not None and app.app.ports() == frozenset({80})


def test_nginx_error_page_redirects_a_special_response_once() -> None:
    conf = server("""
    error_page 500 502 /oops.html;
    location / { return 502; }
    location = /oops.html { return 200 "sorry"; }""")
    app, _ = start(conf)
    r = get(app, "/")
    assert (r.status, r.body) == (502, b"sorry")
    text, _ = start(server('    error_page 500 /oops.html;\n    location / { return 500 "text"; }'))
    assert get(text, "/").body == b"text"  # a return with text is not a special response


def test_nginx_add_header_only_on_success_codes_unless_always() -> None:
    conf = server("""
    add_header X-Server-Level yes;
    location = /ok { add_header X-Variant faulty; return 200 "ok"; }
    location = /fail { add_header X-Variant faulty; return 500 "no"; }
    location = /always { add_header X-Variant faulty always; return 500 "no"; }
    location / { return 200 "inherits"; }""")
    app, _ = start(conf)
    assert get(app, "/ok").headers.get("X-Variant") == "faulty"
    assert "X-Server-Level" not in get(app, "/ok").headers  # a level with add_header does not inherit
    assert "X-Variant" not in get(app, "/fail").headers
    assert get(app, "/always").headers.get("X-Variant") == "faulty"
    assert get(app, "/other").headers.get("X-Server-Level") == "yes"


def test_nginx_variables_in_return_text() -> None:
    conf = server('    location / { return 200 "$host $uri $request_uri $remote_addr $hostname $http_x_probe"; }')
    app, _ = start(conf)
    r = get(app, "/a//b/../c?x=1", **{"x-probe": "yes", "host": "Example.COM:8080"})
    assert r.body == b"example.com /a/c /a//b/../c?x=1 10.244.2.3 in-ambient-faulty-7c9d8-x2kqp yes"


def test_nginx_redirect_gets_an_absolute_location_and_the_page() -> None:
    app, _ = start(server("    location / { return 301 /new; }\n    location /ext { return https://example.org/; }"))
    r = get(app, "/old")
    assert r.status == 301 and r.headers["Location"] == "http://httpbin.example.com:8080/new"
    assert b"<title>301 Moved Permanently</title>" in r.body
    assert get(app, "/ext").status == 302 and get(app, "/ext").headers["Location"] == "https://example.org/"


def test_nginx_access_log_uses_the_images_main_format() -> None:
    """R14.4: the image's log_format main to stdout; access_log off keeps /healthz out."""
    app, logs = start()
    get(app, "/healthz")
    get(app, "/hostname", **{"x-forwarded-for": "192.168.1.9"})
    assert logs == ['10.244.2.3 - - [30/Nov/2026:00:53:25 +0000] "GET /hostname HTTP/1.1" 500 30 "-" '
                    '"curl/8.7.1" "192.168.1.9"']
    combined, logs2 = start(server('    access_log /dev/stdout;\n    location / { return 204; }'))
    get(combined, "/q", **{"user-agent": 'say "hi"'})
    assert logs2 == ['10.244.2.3 - - [30/Nov/2026:00:53:25 +0000] "GET /q HTTP/1.1" 204 0 "-" "say \\x22hi\\x22"']


def test_nginx_start_lines_say_the_mounted_default_conf_is_read_only() -> None:
    """R14.6: the entrypoint, then the [notice] lines, one worker per CPU of the node."""
    app, _ = start()
    assert app.exit_code is None and app.lines is not None
    assert app.lines[:4] == [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf "
        "(read-only file system?)"]
    assert app.lines[7] == "/docker-entrypoint.sh: Configuration complete; ready for start up"
    assert app.lines[8:] == [
        '2026/11/30 00:53:20 [notice] 1#1: using the "epoll" event method',
        "2026/11/30 00:53:20 [notice] 1#1: nginx/1.30.5",
        "2026/11/30 00:53:20 [notice] 1#1: built by gcc 15.2.0 (Alpine 15.2.0) ",
        "2026/11/30 00:53:20 [notice] 1#1: OS: Linux 6.8.0-1019-gcp",
        "2026/11/30 00:53:20 [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
        "2026/11/30 00:53:20 [notice] 1#1: start worker processes",
        "2026/11/30 00:53:20 [notice] 1#1: start worker process 29",
        "2026/11/30 00:53:20 [notice] 1#1: start worker process 30"]


@pytest.mark.parametrize("conf, why", [
    (server('    location / { retrun 500; }'), 'unknown directive "retrun" in /etc/nginx/conf.d/default.conf:4'),
    ("listen 8080;\n", '"listen" directive is not allowed here in /etc/nginx/conf.d/default.conf:1'),
    (server("    location / { return; }"),
     'invalid number of arguments in "return" directive in /etc/nginx/conf.d/default.conf:4'),
    (server("    location / { return 500 }"),
     'unexpected "}" in /etc/nginx/conf.d/default.conf:4'),
    ("server {\n    listen 8080;\n", 'unexpected end of file, expecting "}" in /etc/nginx/conf.d/default.conf:3'),
    (server('    location / { return five "x"; }'), 'invalid return code "five" in /etc/nginx/conf.d/default.conf:4'),
    (server('    location / { return 200 "$nope"; }'), 'unknown "nope" variable in /etc/nginx/conf.d/default.conf:4'),
    (server("    location /a { }\n    location /a { }"), 'duplicate location "/a" in /etc/nginx/conf.d/default.conf:5'),
    ("server {\n    listen eighty;\n}\n",
     'host not found in "eighty" of the "listen" directive in /etc/nginx/conf.d/default.conf:2'),
    ("server {\n    listen *:80a;\n}\n",
     'invalid port in "*:80a" of the "listen" directive in /etc/nginx/conf.d/default.conf:2'),
])
def test_nginx_config_it_cannot_use_makes_the_container_exit_1(conf: str, why: str) -> None:
    """R14.5: the entrypoint runs, then nginx prints the [emerg] twice and the process exits 1."""
    app, _ = start(conf)
    assert app.app is None and app.exit_code == 1 and app.lines is not None
    assert app.lines[-2:] == [f"2026/11/30 00:53:20 [emerg] 1#1: {why}", f"nginx: [emerg] {why}"]


def test_nginx_version_comes_from_the_tag_else_the_digest_else_the_default() -> None:
    assert nginx.version_of(nginx.ImageRef.parse("nginx:1.29.6-alpine")) == "1.29.6"
    assert nginx.version_of(nginx.ImageRef.parse(nginx.PINNED_IMAGE)) == "1.30.5"
    digest = "nginx@sha256:0985e772fb9f729e6fa0980da05fca5d9c468e870eed43071545afa9d2e27d94"
    assert nginx.version_of(nginx.ImageRef.parse(digest)) == "1.30.5"
    assert nginx.version_of(nginx.ImageRef.parse("nginx:stable-alpine")) == nginx.DEFAULT_VERSION


def test_nginx_unprivileged_image_cannot_bind_a_low_port() -> None:
    c_logs: list[str] = []
    spec = dict(CONF_D, image="nginxinc/nginx-unprivileged:1.30-alpine")
    c = Container("ns", "p", spec["image"], spec, {"/etc/nginx/conf.d/default.conf": server("").replace(
        "8080", "80")}, T0, c_logs.append, lambda: T0, NODE, "10.0.0.9")
    launched = nginx.launch_unprivileged(c)
    assert launched.exit_code == 1 and launched.lines is not None
    assert launched.lines[-1] == "nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)"


def test_nginx_stop_lines_show_a_graceful_sigquit_shutdown() -> None:
    app, _ = start()
    assert app.app is not None
    lines = app.app.stop_lines(T0 + 60)
    assert lines[0] == "2026/11/30 00:54:20 [notice] 1#1: signal 3 (SIGQUIT) received, shutting down"
    assert "2026/11/30 00:54:20 [notice] 1#1: worker process 30 exited with code 0" in lines
    assert lines[-1] == "2026/11/30 00:54:20 [notice] 1#1: exit"
