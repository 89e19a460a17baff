"""``pilot-agent`` in the waypoint's ``istio-proxy`` container, as ``kubectl exec`` runs it (R13.7).

Who calls it: ``images`` when ``argv[0]`` is ``pilot-agent``. ``request <method> <path> [<body>]``
asks the socket registered on ``localhost:<--debug-port>`` in the pod (the Envoy admin on 15000,
``admin.EnvoyAdmin``) and prints what pilot-agent prints; the other subcommands exist but are not
modelled. Failures print cobra's ``Error: …`` and Istio's log line, and exit 255 (``os.Exit(-1)``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from ..clock import to_rfc3339_micro
from ..cluster import ExecResult
from .exec_context import ExecContext

DEBUG_PORT = 15000
ALLOWED_PORTS = (15000, 15004, 15020, 15021)  # R13.7, sorted as Go's sets.SortedList prints them
MODELLED_PORTS = (15000, 15021)
SUBCOMMANDS = {"proxy": "XDS proxy agent", "request": "Makes an HTTP request to the Envoy admin API",
               "wait": "Waits until the Envoy proxy is ready", "version": "Prints out build version information",
               "istio-iptables": "Set up iptables rules for Istio Sidecar",
               "istio-clean-iptables": "Clean up iptables rules for Istio Sidecar",
               "completion": "Generate the autocompletion script for the specified shell",
               "help": "Help about any command"}
EXIT_FAILURE = 255

ROOT_HELP = ("Istio Pilot agent runs in the sidecar or gateway container and bootstraps Envoy.\n\nUsage:\n"
             "  pilot-agent [command]\n\nAvailable Commands:\n"
             + "".join(f"  {name:<21}{text}\n" for name, text in sorted(SUBCOMMANDS.items()))
             + '\nUse "pilot-agent [command] --help" for more information about a command.\n')
REQUEST_HELP = ("Makes an HTTP request to the Envoy admin API\n\nUsage:\n"
                "  pilot-agent request <method> <path> [<body>] [flags]\n\nFlags:\n"
                "      --debug-port int32   Set the port to make a local request to. The default points to the "
                "Envoy admin API. (default 15000)\n  -h, --help               help for request\n")


async def pilot_agent(ctx: ExecContext, argv: list[str], stdin: bytes) -> ExecResult:
    """``pilot-agent`` in a proxy container: ``request`` to the Envoy admin, help, and an error for the rest."""
    args = argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        return ExecResult(stdout=ROOT_HELP.encode())
    sub, rest = args[0], args[1:]
    if sub == "request":
        return await _request(ctx, rest)
    if sub in SUBCOMMANDS:
        return ExecResult(stderr=(f"[ambient-lb simulator] pilot-agent {sub} is not modelled; the simulator models "
                                  "'pilot-agent request <method> <path>' (R13.7)\n").encode(), exit_code=1)
    return _fail(ctx, f'unknown command "{sub}" for "pilot-agent"', "Run 'pilot-agent --help' for usage.\n")


async def _request(ctx: ExecContext, args: list[str]) -> ExecResult:
    port, positional = DEBUG_PORT, []
    it = iter(args)
    for arg in it:
        if arg in ("-h", "--help"):
            return ExecResult(stdout=REQUEST_HELP.encode())
        if arg == "--debug-port" or arg.startswith("--debug-port="):
            value = arg.partition("=")[2] if "=" in arg else next(it, "")
            try:
                port = int(value)
            except ValueError:
                return _fail(ctx, f'invalid argument "{value}" for "--debug-port" flag: strconv.ParseInt: '
                                  f'parsing "{value}": invalid syntax')
        elif arg.startswith("-") and len(arg) > 1:
            return _fail(ctx, f"unknown flag: {arg.partition('=')[0]}")
        else:
            positional.append(arg)
    if len(positional) < 2:
        return _fail(ctx, f"requires at least 2 arg(s), only received {len(positional)}")
    if port not in ALLOWED_PORTS:
        return _fail(ctx, f"debug port {port} is not in allowed list [{' '.join(map(str, ALLOWED_PORTS))}]")
    if port not in MODELLED_PORTS:
        return ExecResult(stderr=(f"[ambient-lb simulator] pilot-agent request --debug-port {port} is not modelled; "
                                  "the simulator models the Envoy admin (15000) and the status port (15021)\n")
                          .encode(), exit_code=1)
    method, path, body = positional[0], positional[1].lstrip("/"), (positional[2] if len(positional) > 2 else "")
    return await _send(ctx, port, method, path, body)


async def _send(ctx: ExecContext, port: int, method: str, path: str, body: str) -> ExecResult:
    """R13.7: ``http://localhost:<port>/<path>``; 404 and anything ≤ 399 are printed (``fmt.Println``)."""
    sock = ctx.cluster.pod_port(ctx.namespace, ctx.pod, port)
    if sock is None or sock.handler is None:
        return _fail(ctx, f'{method[:1].upper()}{method[1:].lower()} "http://localhost:{port}/{path}": '
                          f"dial tcp 127.0.0.1:{port}: connect: connection refused")
    target, _, qs = path.partition("?")
    status, _, answer = await sock.handler(method, "/" + target, dict(parse_qsl(qs, keep_blank_values=True)),
                                           body.encode())
    text = answer.decode("utf-8", "replace")
    if status > 399 and status != 404:
        return _fail(ctx, f"received unsuccessful status code {status}: {text}")
    return ExecResult(stdout=(text + "\n").encode())


def _fail(ctx: ExecContext, error: str, hint: str = "") -> ExecResult:
    """cobra's ``Error:`` line, then ``log.Error(err)`` in Istio's format, exit 255 (R13.7)."""
    stamp = to_rfc3339_micro(ctx.cluster.clock.now())
    return ExecResult(stderr=f"Error: {error}\n{hint}{stamp}\terror\t{error}\n".encode(), exit_code=EXIT_FAILURE)
