"""shell.py: argv-only runs, the display line, redaction of a canary secret, the command log, errors."""

from __future__ import annotations

import sys

import pytest

from ambient_lb import shell
from ambient_lb.errors import ClusterError, TimedOut, ToolMissing
from ambient_lb.shell import CommandLog, Secret, display_line, redact, run

CANARY = "CANARY-7f3a-SECRET"
SECRET = Secret(CANARY, "LICENSE_KEY")


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_result_is_shaped_like_completed_process() -> None:
    r = run(py("import sys; print('out'); print('err', file=sys.stderr)"), timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")
    assert r.args[1:] == ["-c", "import sys; print('out'); print('err', file=sys.stderr)"]
    assert r.duration > 0


def test_display_is_the_line_a_learner_types() -> None:
    argv = ["kubectl", "label", "ns", "kgateway-system", "istio.io/dataplane-mode=ambient"]
    assert display_line(argv) == "kubectl label ns kgateway-system istio.io/dataplane-mode=ambient"


def test_display_quotes_like_shlex_join() -> None:
    argv = ["kubectl", "get", "svc", "-o=jsonpath={.status.loadBalancer.ingress[0]['hostname','ip']}"]
    assert display_line(argv) == ("kubectl get svc "
                                  "'-o=jsonpath={.status.loadBalancer.ingress[0]['\"'\"'hostname'\"'\"',"
                                  "'\"'\"'ip'\"'\"']}'")


def test_secret_in_display_becomes_an_env_reference() -> None:
    line = display_line(["helm", "--set-string", f"licensing.licenseKey={CANARY}"], [SECRET])
    assert line == "helm --set-string licensing.licenseKey=${LICENSE_KEY}"


def test_anonymous_secret_is_shown_redacted() -> None:
    assert redact(f"token {CANARY} end", [CANARY]) == "token <redacted> end"


def test_canary_never_reaches_display_output_or_log() -> None:
    """A command that echoes the secret (from stdin) leaves no trace of it anywhere we keep."""
    code = "import sys; s = sys.stdin.read(); print(s); print(s, file=sys.stderr)"
    with CommandLog() as log:
        r = run(py(code), timeout=30, input=CANARY, secrets=[SECRET], show_input=True)
    kept = [r.display, r.stdout, r.stderr, log.as_text(), *log.lines()]
    assert all(CANARY not in text for text in kept)
    assert "${LICENSE_KEY}" in r.stdout


def test_canary_never_reaches_error_messages() -> None:
    code = "import sys; s = sys.stdin.read(); print('bad key ' + s, file=sys.stderr); sys.exit(4)"
    with pytest.raises(ClusterError) as info:
        run(py(code), timeout=30, input=CANARY, secrets=[SECRET])
    assert CANARY not in str(info.value)
    assert "bad key ${LICENSE_KEY}" in str(info.value)
    assert info.value.returncode == 4


def test_nonzero_exit_with_check_raises_with_display_rc_and_stderr_tail() -> None:
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(30)]; sys.exit(3)"
    with pytest.raises(ClusterError) as info:
        run(py(code), timeout=30)
    err = info.value
    assert err.returncode == 3
    assert err.argv_display and err.argv_display.endswith("sys.exit(3)'")
    assert err.stderr_tail is not None and err.stderr_tail.splitlines()[-1] == "line 29"
    assert "line 0\n" not in err.stderr_tail


def test_nonzero_exit_without_check_returns_the_result() -> None:
    r = run(py("import sys; sys.exit(2)"), timeout=30, check=False)
    assert r.returncode == 2 and not r.ok


def test_missing_binary_raises_tool_missing_with_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as info:
        run(["kubectl", "version"], timeout=5)
    assert info.value.tool == "kubectl"
    assert "https://kubernetes.io/docs/tasks/tools/" in str(info.value)


def test_missing_helm_says_how_to_install_helm(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as info:
        run(["helm", "version"], timeout=5)
    assert "helm.sh/docs/intro/install" in str(info.value)


def test_timeout_raises_timed_out_and_kills_the_process(tmp_path) -> None:
    marker = tmp_path / "pid"
    code = f"import os, threading; open({str(marker)!r}, 'w').write(str(os.getpid())); threading.Event().wait()"
    with CommandLog() as log:
        with pytest.raises(TimedOut) as info:
            run(py(code), timeout=1.0)
    assert "did not finish within 1s" in str(info.value)
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        import os
        os.kill(pid, 0)
    assert log.entries[-1].returncode == -9


def test_argv_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="list of strings"):
        run("kubectl get pods", timeout=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strings"):
        run(["kubectl", 3], timeout=5)  # type: ignore[list-item]


def test_command_log_records_every_command_including_failures() -> None:
    with CommandLog() as log:
        run(py("print(1)"), timeout=30, display="echo 1")
        run(py("import sys; sys.exit(1)"), timeout=30, check=False, display="false")
    assert log.lines() == ["echo 1", "false"]
    assert log.as_text() == "$ echo 1\n$ false   # exit code 1"


def test_nested_logs_both_record_and_quiet_records_nothing() -> None:
    with CommandLog() as outer:
        with CommandLog() as inner:
            run(py("pass"), timeout=30, display="one")
        with shell.quiet():
            run(py("pass"), timeout=30, display="hidden")
    assert outer.lines() == ["one"] and inner.lines() == ["one"]


def test_show_input_renders_a_heredoc() -> None:
    r = run(py("import sys; sys.stdin.read()"), timeout=30, input="kind: Namespace\n",
            display="kubectl apply -f -", show_input=True)
    assert r.display == "kubectl apply -f - <<'EOF'\nkind: Namespace\nEOF"


def test_env_is_added_to_the_inherited_environment() -> None:
    r = run(py("import os; print(os.environ['AMBIENT_X'], 'PATH' in os.environ)"), timeout=30,
            env={"AMBIENT_X": "1"})
    assert r.stdout.split() == ["1", "True"]


def test_secret_on_argv_is_refused_before_anything_runs(tmp_path) -> None:
    """ps shows argv to every user, so a secret there is refused; stdin or a 0600 file instead."""
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match=r"\$\{LICENSE_KEY\}.*ps"):
        run(py(f"open({str(marker)!r}, 'w'); print({CANARY!r})"), timeout=30, secrets=[SECRET])
    assert not marker.exists()
