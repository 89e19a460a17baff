"""The compiled scanner (lib/ambient_lb/_logscan.c) gives exactly the frames of the Python parsers.

The scanner parses the lines it is sure of and leaves every other line to Python (ambient_lb/logs/chunks.py "Speed"), so
the property checked here is whole-frame equality between the two engines, skipped-line accounting included, on
real-format lines and on thousands of mutated ones (quotes, escapes, tabs, control and non-ASCII bytes,
prefixes, glued records, odd keys and values), plus sources and chunk boundaries.
"""

from __future__ import annotations

import gzip
import io
import os
import random

import pandas as pd
import pytest

from ambient_lb import logs
from ambient_lb.logs import chunks, envoy, parse_envoy, parse_ztunnel, scanner, ztunnel

from .test_envoy import GUIDE_STEP3
from .test_shapes_in_the_wild import COPIES, MIXER_1_1, MIXER_1_3, PREVIEW_INBOUND, PREVIEW_OUTBOUND
from .test_ztunnel import GUIDE_STEP2, TABBED, row

pytestmark = pytest.mark.skipif(
    logs.engine() != "compiled" and os.environ.get("AMBIENT_LB_LOGS_PURE_PYTHON", "") not in ("", "0"),
    reason="AMBIENT_LB_LOGS_PURE_PYTHON is set: the compiled scanner is off on purpose",
)
# The fuzz cases parse thousands of lines with both engines (seconds each). `make test` runs every case; `make
# test-fast` leaves out those marked slow and keeps a sample of each fuzz (ztunnel seed 0, the default chunk
# size, chunks of 64).
SLOW = pytest.mark.slow

HTTP = ('2025-03-19T17:32:42.762545Z\tinfo\thttp access\trequest complete\tsrc.addr=10.0.71.117:42468 '
        'dst.workload="in-ambient-7d8f9b6c54-abc12" direction="inbound" method=GET path="/hostname" '
        'protocol=HTTP1 response_code=200 duration="3ms"')  # fmt: skip
FAILED = ('2025-03-19T17:32:43.1Z\twarn\taccess\tconnection failed\tsrc.addr=10.0.71.117:42468 '
          'dst.addr=10.0.65.144:15008 direction="inbound" '
          'error="connection closed due to policy rejection"')  # fmt: skip
ESCAPED = TABBED + ' error="http status: 503 \\"Service Unavailable\\" \\\\ \\n \\t \\q"'
TCP = ('[2024-09-10T08:00:01.002Z] "- - -" 0 UF,URX - - "delayed_connect_error:_Connection_refused" 0 0 1 - "-" '
       '"-" "-" "-" "-" connect_originate - 10.244.0.7:8080 envoy://internal_client_address/ - -')  # fmt: skip
NOT_ACCESS = "2025-03-19T17:32:44.000001Z\tinfo\txds::client:xds{id=2}\treceived response\ttype_url=\"x\" size=3"
ZT_SEEDS = [TABBED, HTTP, FAILED, ESCAPED, NOT_ACCESS, GUIDE_STEP2, TABBED.replace("\t", "  "),
            TABBED + " odd=true flag=false neg=-7 empty= dash=-", TABBED.replace('duration="6742ms"', "duration=12"),
            COPIES["first tabs kept, later ones turned into spaces"], "istio-proxy " + TABBED]  # shapes met in the wild
ENVOY_SEEDS = [GUIDE_STEP3, TCP, GUIDE_STEP3.replace('"curl/7.88.1"', '"Mozilla/5.0 (X11; Linux x86_64)"'),
               NOT_ACCESS, GUIDE_STEP3.replace(" 5 4 ", " 5 - "), PREVIEW_OUTBOUND, PREVIEW_INBOUND,
               MIXER_1_3, MIXER_1_1]
INSERTS = [" ", "\t", '"', "\\", "=", "é", "µ", "\r", "\x1c", "\x0b", "\x00", "-", "0", "9" * 20, "{", "}", "[",
           "]", "|", "\\u{41}", "ms", "us", ".5", "s", "duration_ms=1 ", "level=x ", "src.addr=1 ", "\ufffd"]
PREFIXES = ["[pod/ztunnel-x/istio-proxy] ", "2025-01-30T12:10:13.682034460Z ", "ztunnel-x istio-proxy ",
            "2025-01-30T12:10:13Z | ", " ", "\t", "istio-proxy "]


def mutate(rng: random.Random, line: str, seeds: list[str]) -> str:
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        kind = rng.randrange(7)
        at = rng.randrange(len(line) + 1)
        if kind <= 2:
            line = line[:at] + rng.choice(INSERTS) + line[at:]
        elif kind == 3:
            line = line[:at] + line[at + rng.randrange(1, 12):]
        elif kind == 4:
            line = rng.choice(PREFIXES) + line
        elif kind == 5:
            line = line + rng.choice([" ", "\t", "\r", " " + rng.choice(seeds)])  # trailing space, a glued record
        else:
            tokens = line.split(" ")
            k = rng.randrange(len(tokens))
            tokens.insert(k, tokens[k])  # a duplicated token: a key twice, a shifted Envoy field
            line = " ".join(tokens)
    return line


def corpus(seed: int, seeds: list[str], n: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        line = rng.choice(seeds)
        line = line.replace("42468", str(rng.randrange(1, 65535))).replace("6742ms", f"{rng.randrange(10**6)}ms")
        lines.append(mutate(rng, line, seeds) if rng.random() < 0.6 else line)
        if rng.random() < 0.03:
            lines.append(rng.choice(["", "   ", "\t\x0c", "\x1f"]))
    return lines


def both(parse, source_factory, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    assert logs.engine() == "compiled"
    compiled = parse(source_factory())
    with monkeypatch.context() as m:
        m.setattr(scanner, "compiled", None)
        python = parse(source_factory())
    return compiled, python


def assert_same(compiled: pd.DataFrame, python: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(compiled, python)
    assert compiled.attrs == python.attrs


def test_the_compiled_scanner_is_built():
    """pip install -e . builds it (gcc and the Python headers are on every machine of this project); without
    it the parsers still work, 10x slower, and this test says so unless that is intended."""
    assert logs.engine() == "compiled", (
        "ambient_lb._logscan is not built: run `pip install -e .` with a C compiler, "
        "or set AMBIENT_LB_LOGS_PURE_PYTHON=1 to run the pure-Python parsers on purpose"
    )


@pytest.mark.parametrize("seed", [0, *(pytest.param(seed, marks=SLOW) for seed in range(1, 4))])
def test_mutated_ztunnel_lines_give_the_python_parsers_frame(seed, monkeypatch):
    lines = corpus(seed, ZT_SEEDS, 2500)
    compiled, python = both(parse_ztunnel, lambda: "\n".join(lines), monkeypatch)
    assert len(python) > 1000 and python.attrs["skipped"] > 100  # the corpus has rows and skips of every kind
    assert_same(compiled, python)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_envoy_lines_give_the_python_parsers_frame(seed, monkeypatch):
    lines = corpus(seed, ENVOY_SEEDS, 2500)
    compiled, python = both(parse_envoy, lambda: "\n".join(lines), monkeypatch)
    assert len(python) > 1000 and python.attrs["skipped"] > 100
    assert_same(compiled, python)


def reference_rows(lines: list[str], slow) -> tuple[list[dict], int]:
    """What the line parser (the semantics) makes of each line on its own: rows without NA cells, and skips."""
    rows, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            records = slow(line)
        except chunks.Skip:
            skipped += 1
            continue
        for record in records:
            out = {}
            for key, value in record.items():
                if key in ("timestamp", "start_time", "log_time") and value is not None:
                    value = pd.to_datetime(value, format="ISO8601", utc=True, errors="coerce")
                if value is not None and value is not pd.NaT:
                    out[key] = value
            rows.append(out)
    return rows, skipped


@pytest.mark.parametrize("engine", ["compiled", "python"], indirect=True)
@pytest.mark.parametrize("chunk_lines", [pytest.param(3, marks=SLOW), chunks.CHUNK_LINES])
@pytest.mark.parametrize("fmt", ["ztunnel", "envoy"])
def test_every_parser_path_gives_the_line_parsers_rows_for_each_line(fmt, chunk_lines, engine, monkeypatch):
    """The Python fast paths (shapes, splits, regexes) and the compiled scanner against the line parser, line by
    line, on mutated lines: whatever path a line takes, in whatever company, its rows are the same."""
    if fmt == "ztunnel":
        parse, slow, seeds = parse_ztunnel, ztunnel._zt_slow, ZT_SEEDS
    else:
        parse, slow, seeds = parse_envoy, envoy._envoy_slow, ENVOY_SEEDS
    lines = corpus(31, seeds, 1500)
    expected, skipped = reference_rows(lines, slow)
    monkeypatch.setattr(chunks, "CHUNK_LINES", chunk_lines)
    df = parse(lines)
    assert len(df) == len(expected) and df.attrs["skipped"] == skipped
    for i, want in enumerate(expected):
        assert row(df, i) == want, (i, want)


def test_most_lines_of_a_real_log_are_parsed_by_the_scanner_not_by_python(monkeypatch):
    calls = []
    real = ztunnel._zt_pieces
    monkeypatch.setattr(ztunnel, "_zt_pieces", lambda lines: calls.append(len(lines)) or real(lines))
    lines = [TABBED, HTTP, FAILED, ESCAPED, NOT_ACCESS, TABBED.replace("\t", "  ")] * 100
    lines += ["[pod/ztunnel-x/istio-proxy] " + HTTP, "2025-01-30T12:10:13.682034460Z " + TABBED,
              "[ztunnel-x/istio-proxy] 2025-01-30T12:10:13Z | " + TABBED]  # kubectl logs --prefix / --timestamps
    df = parse_ztunnel(lines)
    assert len(df) == 503 and df.attrs["skipped"] == 100 and calls == []
    assert df["error"].dropna().iloc[-1] == 'http status: 503 "Service Unavailable" \\ \n \t \\q'
    assert df["log_pod"].iloc[-3:].fillna("-").tolist() == ["ztunnel-x", "-", "ztunnel-x"]
    assert df["log_time"].iloc[-2] == pd.Timestamp("2025-01-30T12:10:13.682034460Z")


@pytest.mark.parametrize("chunk_lines", [*(pytest.param(n, marks=SLOW) for n in (1, 2, 7)), 64])
def test_chunk_boundaries_do_not_change_the_compiled_result(chunk_lines, monkeypatch):
    lines, envoy = corpus(11, ZT_SEEDS, 400), corpus(12, ENVOY_SEEDS, 400)
    whole, whole_envoy = parse_ztunnel(lines), parse_envoy(envoy)
    monkeypatch.setattr(chunks, "CHUNK_LINES", chunk_lines)
    assert_same(parse_ztunnel(lines), whole)
    assert_same(parse_envoy(envoy), whole_envoy)


# slow; in the fast tier test_ztunnel.py's test_sources_path_gzip_file_object_and_lines_agree reads the sources
@SLOW
def test_every_source_kind_and_a_line_longer_than_a_read_block_give_the_same_frame(tmp_path, monkeypatch):
    lines = corpus(21, ZT_SEEDS, 300) + [TABBED + " note=" + "x" * 5000]
    text = "\n".join(lines) + "\n"
    raw = text.encode("utf-8", "surrogatepass")
    plain, packed = tmp_path / "zt.log", tmp_path / "zt.log.gz"
    plain.write_bytes(raw)
    packed.write_bytes(gzip.compress(raw))
    expected = parse_ztunnel(text)
    monkeypatch.setattr(logs.sources, "_BLOCK", 1000)  # many reads, and lines cut across them
    sources = [text, lines, raw, memoryview(raw), plain, str(plain), packed, io.BytesIO(raw), io.StringIO(text),
               open(plain, "rb"), open(plain, encoding="utf-8", newline="")]  # fmt: skip
    for source in sources:
        got = parse_ztunnel(source)
        if hasattr(source, "close"):
            source.close()
        assert_same(got, expected)


def test_crlf_files_parse_like_lf_text(tmp_path):
    path = tmp_path / "wp.log"
    path.write_bytes((GUIDE_STEP3 + "\r\n" + TCP + "\r\n").encode())
    df = parse_envoy(path)
    assert df["route_name"][0] == "default" and pd.isna(df["route_name"][1]) and df.attrs["skipped"] == 0
    assert_same(df, parse_envoy(GUIDE_STEP3 + "\n" + TCP + "\n"))


def test_bad_bytes_in_a_file_are_replaced_and_the_line_still_parses(tmp_path):
    path = tmp_path / "zt.log"
    path.write_bytes(TABBED.replace("abc12", "abc\xff2").encode("latin-1") + b"\n" + TABBED.encode() + b"\n")
    df = parse_ztunnel(path)
    assert df["dst.workload"].tolist() == ["in-ambient-7d8f9b6c54-abc\ufffd2", "in-ambient-7d8f9b6c54-abc12"]


def test_random_bytes_never_crash_the_scanner():
    rng = random.Random(99)
    alphabet = b' \t\r\n"\\=[]|-.0123456789:TZazms\x00\x1c\xc3\xa9\xff'
    for size in [0, 1, 2, 7, 20, 64, 300, 5000]:
        for _ in range(60):
            block = bytes(rng.choice(alphabet) for _ in range(size))
            for scan in (scanner.compiled.scan_ztunnel, scanner.compiled.scan_envoy):
                ends, status, rows, *_ = scan(block, rng.choice([1, 3, 1 << 30]))
                assert len(ends) == 8 * len(status) and rows <= len(status)
    for _ in range(400):  # near-valid lines: mostly real text with random damage
        line = mutate(rng, rng.choice(ZT_SEEDS + ENVOY_SEEDS), ZT_SEEDS).encode("utf-8", "surrogatepass")
        scanner.compiled.scan_ztunnel(line[: rng.randrange(len(line) + 1)])
        scanner.compiled.scan_envoy(line[: rng.randrange(len(line) + 1)])


MIXED_TABS = COPIES["first tabs kept, later ones turned into spaces"]


def test_the_compiled_scanner_defers_a_header_with_tabs_then_spaces_instead_of_skipping_it():
    """The scanner reads the text before the first tab as the target; were it to call this line certainly
    skipped, the frames of the two engines would differ beyond the first five skipped lines."""
    mixed = MIXED_TABS.encode()
    _, status, rows, *_ = scanner.compiled.scan_ztunnel(mixed)
    assert (rows, list(status)) == (0, [scanner.DEFER])
    df = parse_ztunnel([MIXED_TABS] * 8)
    assert len(df) == 8 and df.attrs["skipped"] == 0
