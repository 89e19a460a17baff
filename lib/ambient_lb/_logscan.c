/* _logscan: the compiled line scanner behind ambient_lb.logs (issue 5: >= 10x a naive per-line parser).
   Its Python glue is lib/ambient_lb/logs/scanner.py (import, ABI check) and logs/chunks.py (the driver);
   the module stays ambient_lb._logscan (pyproject.toml builds it from this file).

   What it does: takes a block of log bytes (whole lines, '\n'-separated) and sorts every line into one of
   four kinds, writing the values of the lines it parses straight into column buffers (Python bytes objects
   that pyarrow and numpy then wrap without copying):

     ROW    an access record in the current format, parsed here;
     DEFER  anything this scanner is not sure about (prefixes, older layouts, non-ASCII bytes, escapes it
            does not undo, glued records, malformed fields): ambient_lb.logs parses these lines in Python,
            whose line parsers define the semantics (log-formats.md);
     BLANK  only whitespace (ignored, as the Python parsers ignore it);
     SKIP   certainly not an access record: ztunnel records of another target, and lines that cannot start
            an Envoy access line. The Python side (logs/chunks.py) counts them (and asks its line parser for the reason of
            the first few, so the skipped examples read the same).

   The rule for this file: a line is a ROW only when the Python line parser would give exactly these values;
   when in doubt, DEFER. tests/logs/test_scanner.py checks this against the Python parsers.

   Both formats with or without the prefixes of `kubectl logs --prefix` / `--timestamps` (log-formats.md 3).
   Envoy (log-formats.md 2, Istio >= 1.9 default text format):
     [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS TERM "TRANSPORT" RX TX DUR UPSTREAM_TIME
     "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER ULOCAL DLOCAL DREMOTE SNI ROUTE
   ztunnel (log-formats.md 1, text format):
     TIMESTAMP<ws>LEVEL<ws>TARGET<tab or spaces>[MESSAGE<tab or spaces>]key=value key="quoted value" ...
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ABI_VERSION 4

enum { ST_ROW = 0, ST_DEFER = 1, ST_BLANK = 2, ST_SKIP = 3 };
enum { K_MISSING = 0, K_TEXT = 1, K_INT = 2, K_BOOL = 3 };

#define LIKELY(x) __builtin_expect(!!(x), 1)

/* ---------------------------------------------------------------------------------------------------
   Buffers, kept in bytes objects so Python receives them without a copy. Variable-length text data grows
   as needed (Buf); fixed-width columns (offsets, ints, kinds, masks, line ends) are allocated for every
   line of the scan up front (the scan counts its lines first), so writing one is a plain store (w8, w1).
   --------------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject *obj;
    Py_ssize_t len, cap;
} Buf;

static int buf_init(Buf *b, Py_ssize_t cap) {
    if (cap < 64) cap = 64;
    b->obj = PyBytes_FromStringAndSize(NULL, cap);
    b->len = 0;
    b->cap = cap;
    return b->obj ? 0 : -1;
}

static int buf_grow(Buf *b, Py_ssize_t need) {
    Py_ssize_t cap = b->cap * 2;
    while (cap < need) cap *= 2;
    if (_PyBytes_Resize(&b->obj, cap) < 0) return -1; /* frees the object and sets it to NULL */
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *p, Py_ssize_t n) {
    if (!LIKELY(b->len + n <= b->cap) && buf_grow(b, b->len + n) < 0) return -1;
    memcpy(PyBytes_AS_STRING(b->obj) + b->len, p, (size_t)n);
    b->len += n;
    return 0;
}

static inline int buf_u8(Buf *b, uint8_t v) { return buf_put(b, &v, 1); }

static inline void w8(Buf *b, Py_ssize_t i, int64_t v) { memcpy(PyBytes_AS_STRING(b->obj) + 8 * i, &v, 8); }
static inline void w1(Buf *b, Py_ssize_t i, uint8_t v) { PyBytes_AS_STRING(b->obj)[i] = (char)v; }

static PyObject *buf_finish(Buf *b, Py_ssize_t len) { /* the bytes object, cut to len; the Buf lets go of it */
    if (_PyBytes_Resize(&b->obj, len) < 0) return NULL;
    PyObject *o = b->obj;
    b->obj = NULL;
    return o;
}

static void buf_free(Buf *b) { Py_CLEAR(b->obj); }

/* A text column: int64 offsets (Arrow large_string layout), data, and one validity byte per row. */
typedef struct {
    Buf off, data, valid;
    Py_ssize_t rows, nulls;
} TextCol;

static int text_init(TextCol *c, Py_ssize_t rows, Py_ssize_t bytes) {
    c->rows = c->nulls = 0;
    c->off.obj = c->data.obj = c->valid.obj = NULL;
    if (buf_init(&c->off, 8 * (rows + 1)) < 0 || buf_init(&c->data, bytes) < 0 || buf_init(&c->valid, rows) < 0)
        return -1;
    w8(&c->off, 0, 0);
    return 0;
}

static inline int text_push(TextCol *c, const char *p, Py_ssize_t n) {
    if (buf_put(&c->data, p, n) < 0) return -1;
    w1(&c->valid, c->rows, 1);
    w8(&c->off, ++c->rows, c->data.len);
    return 0;
}

/* text_push for a value inside the block being scanned (limit: the block's end): a short value is copied
   as one 16-byte move when both the block and the column have room (the bytes past the value are
   overwritten by the next value or cut off at the end). */
static inline int text_push_in(TextCol *c, const char *p, Py_ssize_t n, const char *limit) {
    if (n <= 16 && limit - p >= 16 && c->data.cap - c->data.len >= 16) {
        memcpy(PyBytes_AS_STRING(c->data.obj) + c->data.len, p, 16);
        c->data.len += n;
        w1(&c->valid, c->rows, 1);
        w8(&c->off, ++c->rows, c->data.len);
        return 0;
    }
    return text_push(c, p, n);
}

static inline void text_null(TextCol *c) {
    c->nulls++;
    w1(&c->valid, c->rows, 0);
    w8(&c->off, ++c->rows, c->data.len);
}

static void text_free(TextCol *c) {
    buf_free(&c->off);
    buf_free(&c->data);
    buf_free(&c->valid);
}

/* ("text", offsets, data, validity bytes, null count) */
static PyObject *text_finish(TextCol *c) {
    PyObject *off = buf_finish(&c->off, 8 * (c->rows + 1)), *data = off ? buf_finish(&c->data, c->data.len) : NULL;
    PyObject *valid = data ? buf_finish(&c->valid, c->rows) : NULL;
    if (!valid) {
        Py_XDECREF(off);
        Py_XDECREF(data);
        return NULL;
    }
    return Py_BuildValue("(sNNNn)", "text", off, data, valid, c->nulls);
}

/* An int column: int64 values and one mask byte per row (1 = missing, pandas' convention). */
typedef struct {
    Buf values, mask;
    Py_ssize_t rows;
} IntCol;

static int int_init(IntCol *c, Py_ssize_t rows) {
    c->values.obj = c->mask.obj = NULL;
    c->rows = 0;
    if (buf_init(&c->values, 8 * rows) < 0 || buf_init(&c->mask, rows) < 0) return -1;
    return 0;
}

static inline void int_push(IntCol *c, int64_t v, int missing) {
    w8(&c->values, c->rows, v);
    w1(&c->mask, c->rows++, (uint8_t)missing);
}

static void int_free(IntCol *c) {
    buf_free(&c->values);
    buf_free(&c->mask);
}

/* ("int", values, mask) */
static PyObject *int_finish(IntCol *c) {
    PyObject *v = buf_finish(&c->values, 8 * c->rows), *m = v ? buf_finish(&c->mask, c->rows) : NULL;
    if (!m) {
        Py_XDECREF(v);
        return NULL;
    }
    return Py_BuildValue("(sNN)", "int", v, m);
}

/* ("time", int64 nanoseconds since the epoch, UTC) */
static PyObject *time_finish(Buf *b, Py_ssize_t rows) {
    PyObject *v = buf_finish(b, 8 * rows);
    return v ? Py_BuildValue("(sN)", "time", v) : NULL;
}

/* ---------------------------------------------------------------------------------------------------
   Shared pieces: characters, lines, timestamps, integers
   --------------------------------------------------------------------------------------------------- */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_key_first(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static inline int is_key_char(char c) { return is_key_first(c) || is_digit(c) || c == '.'; }
static inline int is_tab_space(char c) { return c == ' ' || c == '\t'; }

/* Python's str.isspace() for ASCII: what line.strip() removes, so a line of only these is blank. */
static inline int is_py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* Does an 8-byte word hold only printable ASCII (0x20..0x7e)? Exact when it says yes; a word it doubts
   (false alarms are possible) is checked byte by byte. */
static inline int word_printable(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t below_space = (x - ones * 0x20) & ~x & highs;
    uint64_t del_or_high = ((x + ones) | x) & highs;
    return !(below_space | del_or_high);
}

/* The kind of line before any parsing: BLANK, DEFER (bytes the scanner leaves to Python), or ROW meaning
   "plain printable ASCII, tabs allowed": then *end is the line end without trailing spaces, tabs and CRs
   (what both formats' regexes allow before the end of the line) and *tabs whether a tab is left in it. */
static int classify_bytes(const char *p, const char *e, const char **end, int *tabs) {
    const char *q = p;
    while (q < e && is_py_space((unsigned char)*q)) q++;
    if (q == e) return ST_BLANK;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *tabs = 0;
    for (q = p; q < e;) {
        uint64_t w;
        if (e - q >= 8) {
            memcpy(&w, q, 8);
            if (word_printable(w)) {
                q += 8;
                continue;
            }
        }
        const char *stop = e - q >= 8 ? q + 8 : e;
        for (; q < stop; q++) {
            unsigned char c = (unsigned char)*q;
            if (c == '\t') *tabs = 1;
            else if (c < 0x20 || c > 0x7e) return ST_DEFER;
        }
    }
    *end = e;
    return ST_ROW;
}

/* The regex \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z at p: the end of the match, or NULL. */
static const char *ts_syntax(const char *p, const char *e) {
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd";
    if (e - p < 20) return NULL;
    for (int i = 0; i < 19; i++) {
        if (pattern[i] == 'd' ? !is_digit(p[i]) : p[i] != pattern[i]) return NULL;
    }
    p += 19;
    if (*p == '.') {
        const char *f = ++p;
        while (p < e && is_digit(*p)) p++;
        if (p == f) return NULL;
    }
    return (p < e && *p == 'Z') ? p + 1 : NULL;
}

static int64_t days_from_civil(int64_t y, int m, int d) { /* days since 1970-01-01 (proleptic Gregorian) */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int num(const char *p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) v = v * 10 + (p[i] - '0');
    return v;
}

/* A timestamp whose syntax ts_syntax accepted (p..end) -> nanoseconds since the epoch, when pandas'
   to_datetime(format="ISO8601") gives exactly that: a real date and time, at most 9 fractional digits,
   inside the datetime64[ns] range. Returns 0 when the scanner should leave the line to Python. */
static int ts_nanos(const char *p, const char *end, int64_t *out) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = num(p, 4), mo = num(p + 5, 2), d = num(p + 8, 2), h = num(p + 11, 2), mi = num(p + 14, 2),
        s = num(p + 17, 2);
    if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return 0;
    int64_t frac = 0;
    const char *f = p + 19;
    if (*f == '.') {
        int digits = (int)(end - 1 - (f + 1));
        if (digits > 9) return 0;
        frac = num(f + 1, digits);
        for (int i = digits; i < 9; i++) frac *= 10;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    *out = secs * 1000000000LL + frac;
    return 1;
}

/* Decimal digits with an optional '-' (the regex -?\d+), at most 18 digits so int64 holds them. */
static int parse_int(const char *p, Py_ssize_t n, int64_t *out) {
    int neg = n > 0 && p[0] == '-';
    Py_ssize_t i = neg;
    if (n - i < 1 || n - i > 18) return 0;
    int64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(p[i])) return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* The lines of one scan: where each ends (the '\n', or the block end) and its status. */
typedef struct {
    Buf ends, status;
    Py_ssize_t lines, rows, cap;
} Lines;

/* Count the lines of data..end (at most max_lines) and allocate for them. */
static int lines_init(Lines *l, const char *data, const char *end, Py_ssize_t max_lines) {
    Py_ssize_t n = 0;
    for (const char *p = data; p < end && n < max_lines; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    l->ends.obj = l->status.obj = NULL;
    l->lines = l->rows = 0;
    l->cap = n;
    if (buf_init(&l->ends, 8 * n) < 0 || buf_init(&l->status, n) < 0) return -1;
    return 0;
}

static void lines_free(Lines *l) {
    buf_free(&l->ends);
    buf_free(&l->status);
}

static inline void lines_add(Lines *l, Py_ssize_t end, int status) {
    w8(&l->ends, l->lines, end);
    w1(&l->status, l->lines++, (uint8_t)status);
    l->rows += status == ST_ROW;
}

static PyObject *lines_finish(Lines *l, PyObject **status) {
    PyObject *ends = buf_finish(&l->ends, 8 * l->lines);
    *status = ends ? buf_finish(&l->status, l->lines) : NULL;
    if (!*status) Py_CLEAR(ends);
    return ends;
}

/* ---------------------------------------------------------------------------------------------------
   Prefixes that `kubectl logs --prefix` and `--timestamps` add (log-formats.md 3), as logs/sources.py prefix_re reads
   them: "[pod/<pod>/<container>] " and "<timestamp> " (or "<timestamp> | "). Stern's "<pod> <container> "
   and a viewer's bare "<container> " are left to Python: a line starting with a word could be many things.
   --------------------------------------------------------------------------------------------------- */

static const char *const LEVELS[] = {"trace", "debug", "info", "warn", "error", NULL};

/* (trace|debug|info|warn|error) followed by a space or tab at q: the end of the level, or NULL. */
static const char *level_end(const char *q, const char *e) {
    for (int i = 0; LEVELS[i]; i++) {
        size_t n = strlen(LEVELS[i]);
        if ((size_t)(e - q) > n && memcmp(q, LEVELS[i], n) == 0 && is_tab_space(q[n])) return q + n;
    }
    return NULL;
}

/* Does a ztunnel record start at q? TIMESTAMP[\t ]+LEVEL[\t ] (logs/ztunnel.py _ZT_START) */
static int zt_record_start(const char *q, const char *e) {
    const char *r = ts_syntax(q, e);
    if (!r || r >= e || !is_tab_space(*r)) return 0;
    while (r < e && is_tab_space(*r)) r++;
    return level_end(r, e) != NULL;
}

static int envoy_record_start(const char *q, const char *e) { return q < e && *q == '['; }

typedef struct {
    const char *pod, *container;
    Py_ssize_t pod_n, container_n;
    int has_pod, has_time;
    int64_t time;
} Prefix;

/* \[(?:pod/)?([^/\]\s]+)/([^\]\s]+)\][ \t]+ at p: the end of the prefix, or p when there is none. */
static const char *kubectl_prefix(const char *p, const char *e, Prefix *x) {
    if (p >= e || *p != '[') return p;
    for (int with_pod = 1; with_pod >= 0; with_pod--) { /* the regex tries "pod/" first, then without */
        const char *q = p + 1, *pod, *pod_end, *cont, *cont_end;
        if (with_pod) {
            if (e - q < 4 || memcmp(q, "pod/", 4) != 0) continue;
            q += 4;
        }
        for (pod = q; q < e && *q != '/' && *q != ']' && !is_tab_space(*q); q++) {}
        if (q == pod || q >= e || *q != '/') continue;
        pod_end = q++;
        for (cont = q; q < e && *q != ']' && !is_tab_space(*q); q++) {}
        if (q == cont || q >= e || *q != ']') continue;
        cont_end = q++;
        if (q >= e || !is_tab_space(*q)) continue;
        while (q < e && is_tab_space(*q)) q++;
        x->has_pod = 1;
        x->pod = pod;
        x->pod_n = pod_end - pod;
        x->container = cont;
        x->container_n = cont_end - cont;
        return q;
    }
    return p;
}

/* (TIMESTAMP)[ \t]+(?:\|[ \t]+)? before a record start: the record's start, or p when there is none.
   *bad is set when the timestamp is not one this scanner converts exactly (then Python decides). */
static const char *timestamps_prefix(const char *p, const char *e, Prefix *x, int (*record_start)(const char *, const char *),
                                     int *bad) {
    const char *q = ts_syntax(p, e), *ts_end = q;
    if (!q || q >= e || !is_tab_space(*q)) return p;
    while (q < e && is_tab_space(*q)) q++;
    if (q < e && *q == '|' && q + 1 < e && is_tab_space(q[1])) {
        const char *r = q + 1;
        while (r < e && is_tab_space(*r)) r++;
        if (record_start(r, e)) q = r;
    }
    if (!record_start(q, e)) return p;
    x->has_time = 1;
    if (!ts_nanos(p, ts_end, &x->time)) *bad = 1;
    return q;
}

/* The record start after the optional prefixes; *bad as for timestamps_prefix. */
static const char *prefixes(const char *p, const char *e, Prefix *x, int (*record_start)(const char *, const char *),
                            int *bad) {
    x->has_pod = x->has_time = 0;
    *bad = 0;
    return timestamps_prefix(kubectl_prefix(p, e, x), e, x, record_start, bad);
}

/* The log_pod, log_container and log_time columns (NA where a line had no such prefix). */
typedef struct {
    TextCol pod, container;
    Buf time;
    Py_ssize_t pods, times;
} PrefixCols;

static int prefix_init(PrefixCols *c, Py_ssize_t rows) {
    c->pods = c->times = 0;
    c->time.obj = NULL;
    if (text_init(&c->pod, rows, 64) < 0 || text_init(&c->container, rows, 64) < 0) return -1;
    return buf_init(&c->time, 8 * rows);
}

static int prefix_push(PrefixCols *c, Py_ssize_t row, const Prefix *x) {
    if (x->has_pod) {
        c->pods++;
        if (text_push(&c->pod, x->pod, x->pod_n) < 0 || text_push(&c->container, x->container, x->container_n) < 0)
            return -1;
    } else {
        text_null(&c->pod);
        text_null(&c->container);
    }
    c->times += x->has_time;
    w8(&c->time, row, x->has_time ? x->time : INT64_MIN); /* INT64_MIN is numpy's NaT */
    return 0;
}

static void prefix_free(PrefixCols *c) {
    text_free(&c->pod);
    text_free(&c->container);
    buf_free(&c->time);
}

/* [(name, column), ...] for the prefix columns some row has */
static PyObject *prefix_finish(PrefixCols *c, Py_ssize_t rows) {
    PyObject *out = PyList_New(0), *col;
    if (!out) return NULL;
    if (c->pods) {
        if (!(col = Py_BuildValue("(sN)", "log_pod", text_finish(&c->pod))) || PyList_Append(out, col) < 0) goto fail;
        Py_DECREF(col);
        if (!(col = Py_BuildValue("(sN)", "log_container", text_finish(&c->container))) || PyList_Append(out, col) < 0)
            goto fail;
        Py_DECREF(col);
    }
    if (c->times) {
        if (!(col = Py_BuildValue("(sN)", "log_time", time_finish(&c->time, rows))) || PyList_Append(out, col) < 0)
            goto fail;
        Py_DECREF(col);
    }
    return out;
fail:
    Py_XDECREF(col);
    Py_DECREF(out);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------
   Envoy
   --------------------------------------------------------------------------------------------------- */

#define ENVOY_FIELDS 24 /* ENVOY_COLUMNS in logs/envoy.py: start_time, method path protocol, then 20 more */

/* After the request line, in order: I an integer or '-', T a bare token, Q a quoted field. */
static const char ENVOY_AFTER_REQUEST[] = "ITTTQIIIIQQQQQTTTTTT";

typedef struct {
    const char *p;
    Py_ssize_t n;
} Span;

/* The first space or quote in q..e (the line is printable ASCII), 8 bytes at a time: a byte equal to c
   makes (w ^ c) zero, and the lowest zero byte of a word is found exactly by the borrow trick. */
static inline const char *space_or_quote(const char *q, const char *e) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; e - q >= 8; q += 8) {
        uint64_t w, a, b;
        memcpy(&w, q, 8);
        a = w ^ (ones * ' ');
        b = w ^ (ones * '"');
        uint64_t hit = ((a - ones) & ~a & highs) | ((b - ones) & ~b & highs);
        if (hit) return q + (__builtin_ctzll(hit) >> 3);
    }
#endif
    while (q < e && *q != ' ' && *q != '"') q++;
    return q;
}

/* A bare token: [^\s"]\S*, here stricter: no quote in it (else the line is deferred). The line has no tabs. */
static inline const char *bare_token(const char *p, const char *e) {
    const char *q = space_or_quote(p, e);
    if (q < e && *q == '"') return NULL;
    return q > p ? q : NULL;
}

/* One Envoy line (printable ASCII without tabs, trailing whitespace cut) -> its 23 value spans after
   start_time; 0 when it is not exactly the current layout. */
static int envoy_fields(const char *p, const char *e, int64_t *ts, Span *f) {
    const char *q;
    if (*p != '[') return 0;
    q = ts_syntax(p + 1, e);
    if (!q || !ts_nanos(p + 1, q, ts) || e - q < 3 || q[0] != ']' || q[1] != ' ' || q[2] != '"') return 0;
    p = q + 3;
    for (int i = 0; i < 3; i++) { /* "(\S+) (\S+) (\S+)" */
        q = space_or_quote(p, e);
        if (q == p || q >= e || *q != (i < 2 ? ' ' : '"')) return 0;
        f[i].p = p;
        f[i].n = q - p;
        p = q + 1;
    }
    for (int i = 0; ENVOY_AFTER_REQUEST[i]; i++) {
        if (p >= e || *p != ' ') return 0;
        p++;
        Span *s = &f[3 + i];
        if (ENVOY_AFTER_REQUEST[i] == 'Q') {
            if (p >= e || *p != '"') return 0;
            q = memchr(p + 1, '"', (size_t)(e - p - 1));
            if (!q) return 0;
            s->p = p + 1;
            s->n = q - p - 1;
            p = q + 1;
            continue;
        }
        q = bare_token(p, e);
        if (!q) return 0;
        if (ENVOY_AFTER_REQUEST[i] == 'I' && !(q - p == 1 && *p == '-')) { /* (\d+|-) */
            if (q - p > 18) return 0;
            for (const char *d = p; d < q; d++)
                if (!is_digit(*d)) return 0;
        }
        s->p = p;
        s->n = q - p;
        p = q;
    }
    return p == e;
}

/* Not a row: is the line certainly skipped by logs/envoy.py _envoy_slow? Its optional prefixes start with '[' (kubectl
   --prefix), [a-z0-9] (stern) or a timestamp (kubectl --timestamps, only before '[', '"' or '| '), and the
   record itself with '[' or '"'. A line starting with anything else, or with a timestamp followed by
   whitespace and something else, is certainly not an access line. */
static int envoy_certainly_skipped(const char *p, const char *e) {
    char c = *p;
    if (c == '[' || c == '"') return 0;
    if (!is_digit(c) && !(c >= 'a' && c <= 'z')) return 1;
    const char *q = ts_syntax(p, e);
    if (!q || q >= e || !is_tab_space(*q)) return 0;
    while (q < e && is_tab_space(*q)) q++;
    return q < e && *q != '[' && *q != '"' && *q != '|';
}

static const int ENVOY_INT_FIELDS[] = {3, 8, 9, 10, 11}; /* response_code, bytes_*, duration, upstream_time */

static PyObject *scan_envoy(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t max_lines = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "y*|n", &view, &max_lines)) return NULL;
    const char *data = view.buf, *end = data + view.len;
    Lines lines;
    Buf start_time = {NULL, 0, 0};
    TextCol text[ENVOY_FIELDS];
    IntCol ints[5];
    PrefixCols pre;
    int is_int[ENVOY_FIELDS - 1] = {0}, slot[ENVOY_FIELDS - 1];
    PyObject *result = NULL;
    int ti = 0, ii = 0;

    memset(&pre, 0, sizeof pre);

    for (int i = 0; i < 5; i++) is_int[ENVOY_INT_FIELDS[i]] = 1;
    for (int i = 0; i < ENVOY_FIELDS - 1; i++) slot[i] = is_int[i] ? ii++ : ti++;
    memset(text, 0, sizeof text);
    memset(ints, 0, sizeof ints);
    if (lines_init(&lines, data, end, max_lines) < 0 || buf_init(&start_time, 8 * lines.cap) < 0 ||
        prefix_init(&pre, lines.cap) < 0)
        goto done;
    for (int i = 0; i < ti; i++)
        if (text_init(&text[i], lines.cap, 16 * lines.cap) < 0) goto done;
    for (int i = 0; i < ii; i++)
        if (int_init(&ints[i], lines.cap) < 0) goto done;

    for (const char *p = data; p < end && lines.lines < lines.cap;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *stop;
        int64_t ts;
        Span f[ENVOY_FIELDS - 1];
        Prefix x;
        int tabs, bad, st = classify_bytes(p, e, &stop, &tabs);
        if (st == ST_ROW) {
            const char *record = prefixes(p, stop, &x, envoy_record_start, &bad);
            if (bad || tabs || !envoy_fields(record, stop, &ts, f))
                st = envoy_certainly_skipped(p, stop) ? ST_SKIP : ST_DEFER;
        }
        if (st == ST_ROW) {
            w8(&start_time, lines.rows, ts);
            if (prefix_push(&pre, lines.rows, &x) < 0) goto done;
            for (int i = 0; i < ENVOY_FIELDS - 1; i++) {
                int dash = f[i].n == 1 && f[i].p[0] == '-';
                if (is_int[i]) {
                    int64_t v = 0;
                    if (!dash) parse_int(f[i].p, f[i].n, &v);
                    int_push(&ints[slot[i]], v, dash);
                } else if (dash) {
                    text_null(&text[slot[i]]);
                } else if (text_push_in(&text[slot[i]], f[i].p, f[i].n, end) < 0) {
                    goto done;
                }
            }
        }
        lines_add(&lines, e - data, st);
        p = nl ? nl + 1 : end;
    }
    {
        PyObject *cols = PyList_New(ENVOY_FIELDS), *ends, *status, *prefix_cols;
        if (!cols) goto done;
        for (int i = 0; i < ENVOY_FIELDS; i++) {
            PyObject *c = i == 0 ? time_finish(&start_time, lines.rows)
                        : is_int[i - 1] ? int_finish(&ints[slot[i - 1]]) : text_finish(&text[slot[i - 1]]);
            if (!c) {
                Py_DECREF(cols);
                goto done;
            }
            PyList_SET_ITEM(cols, i, c);
        }
        if (!(prefix_cols = prefix_finish(&pre, lines.rows))) {
            Py_DECREF(cols);
            goto done;
        }
        ends = lines_finish(&lines, &status);
        if (!ends) {
            Py_DECREF(cols);
            Py_DECREF(prefix_cols);
            goto done;
        }
        result = Py_BuildValue("(NNnNN)", ends, status, lines.rows, cols, prefix_cols);
    }
done:
    lines_free(&lines);
    buf_free(&start_time);
    for (int i = 0; i < ti; i++) text_free(&text[i]);
    for (int i = 0; i < ii; i++) int_free(&ints[i]);
    prefix_free(&pre);
    PyBuffer_Release(&view);
    return result;
}

/* ---------------------------------------------------------------------------------------------------
   ztunnel
   --------------------------------------------------------------------------------------------------- */

#define MAX_KEYS 128      /* distinct keys per scan; a line with more is deferred */
#define MAX_LINE_KEYS 64  /* keys per line */
#define MAX_KEY_LEN 64

typedef struct { /* one key's column: a kind per row, an int64 per row (ints, bools), text offsets and data */
    char name[MAX_KEY_LEN];
    Py_ssize_t name_len;
    int is_duration, is_derived; /* "duration"; "duration_ms" (computed here, never read from a line) */
    Buf kinds, ints, off, data;
    Py_ssize_t rows;    /* rows written so far (the rest are padded as missing) */
    Py_ssize_t present; /* rows that carry the key (duration_ms: rows that carry duration) */
    Py_ssize_t seen_at; /* the last line number that carried this key: duplicate keys defer the line */
} KeyCol;

typedef struct {
    int col;
    int kind;
    const char *p;
    Py_ssize_t n;
    int escaped;
    int64_t value;
    int has_ms; /* for "duration": duration_ms is known (else NA) */
    int64_t ms;
} Tok;

typedef struct {
    KeyCol cols[MAX_KEYS];
    int ncols;
    int last_order[MAX_LINE_KEYS]; /* the previous row's key columns, in order: the usual next guess */
    int last_count;
    Py_ssize_t cap; /* rows the fixed-width buffers hold */
} Keys;

static const char *const RESERVED_KEYS[] = {"timestamp", "level", "target", "message", "log_pod",
                                             "log_container", "log_time", "duration_ms", NULL};

static int keycol_new(Keys *k, const char *name, Py_ssize_t n) {
    KeyCol *c = &k->cols[k->ncols];
    memset(c, 0, sizeof *c);
    memcpy(c->name, name, (size_t)n);
    c->name_len = n;
    c->is_duration = n == 8 && memcmp(name, "duration", 8) == 0;
    c->is_derived = n == 11 && memcmp(name, "duration_ms", 11) == 0;
    c->seen_at = -1;
    if (buf_init(&c->kinds, k->cap) < 0 || buf_init(&c->ints, 8 * k->cap) < 0 ||
        buf_init(&c->off, 8 * (k->cap + 1)) < 0 || buf_init(&c->data, 64))
        return -1;
    w8(&c->off, 0, 0);
    return k->ncols++;
}

/* The column of a key (created on first sight; "duration" brings "duration_ms" right after it).
   -1 on a Python error, -2 when the line should be deferred. */
static int key_column(Keys *k, const char *name, Py_ssize_t n) {
    if (n >= MAX_KEY_LEN) return -2;
    for (int i = 0; i < k->ncols; i++) {
        if (k->cols[i].name_len == n && memcmp(k->cols[i].name, name, (size_t)n) == 0) return i;
    }
    for (int i = 0; RESERVED_KEYS[i]; i++) {
        if ((Py_ssize_t)strlen(RESERVED_KEYS[i]) == n && memcmp(RESERVED_KEYS[i], name, (size_t)n) == 0) return -2;
    }
    int is_duration = n == 8 && memcmp(name, "duration", 8) == 0;
    if (k->ncols + 1 + is_duration > MAX_KEYS) return -2;
    int col = keycol_new(k, name, n);
    if (col >= 0 && is_duration && keycol_new(k, "duration_ms", 11) < 0) return -1;
    return col;
}

static void keycol_pad(KeyCol *c, Py_ssize_t row) { /* rows before `row` this key was absent from */
    for (; c->rows < row; c->rows++) {
        w1(&c->kinds, c->rows, K_MISSING);
        w8(&c->ints, c->rows, 0);
        w8(&c->off, c->rows + 1, c->data.len);
    }
}

/* Rust Debug escapes that logs/ztunnel.py _unescape undoes; \u{...} and a trailing backslash are left to Python. */
static int unescape_into(Buf *b, const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            char x = p[++i], out;
            switch (x) {
            case 'n': out = '\n'; break;
            case 't': out = '\t'; break;
            case 'r': out = '\r'; break;
            case '0': out = '\0'; break;
            case '\\': case '"': case '\'': out = x; break;
            default:
                if (buf_u8(b, '\\') < 0) return -1;
                out = x;
            }
            if (buf_u8(b, (uint8_t)out) < 0) return -1;
        } else if (buf_u8(b, (uint8_t)c) < 0) {
            return -1;
        }
    }
    return 0;
}

static int keycol_push(KeyCol *c, Py_ssize_t row, const Tok *t) {
    keycol_pad(c, row);
    if (t->kind == K_TEXT) {
        int r = t->escaped ? unescape_into(&c->data, t->p, t->n) : buf_put(&c->data, t->p, t->n);
        if (r < 0) return -1;
    }
    w1(&c->kinds, c->rows, (uint8_t)t->kind);
    w8(&c->ints, c->rows, t->value);
    w8(&c->off, ++c->rows, c->data.len);
    c->present++;
    return 0;
}

/* logs/ztunnel.py _duration_ms on a duration text: 1 and *ms for "-?\d+ms", 0 for text that is no duration (NA),
   2 for the other units and fractions (rounded by Python: deferred). */
static int duration_ms(const char *p, Py_ssize_t n, int64_t *ms) {
    Py_ssize_t i = p[0] == '-', digits;
    for (digits = 0; i + digits < n && is_digit(p[i + digits]); digits++) {}
    if (digits == 0) return 0;
    const char *unit = p + i + digits;
    Py_ssize_t rest = n - i - digits;
    if (rest == 2 && unit[0] == 'm' && unit[1] == 's' && digits <= 15) return parse_int(p, n - 2, ms) ? 1 : 2;
    if (rest > 0 && unit[0] == '.') return 2;
    if ((rest == 2 && (unit[0] == 'n' || unit[0] == 'u' || unit[0] == 'm') && unit[1] == 's') ||
        (rest == 1 && unit[0] == 's'))
        return 2;
    return 0;
}

static int key_start(const char *p, const char *e) { /* [A-Za-z_][\w.]*= at p */
    if (p >= e || !is_key_first(*p)) return 0;
    while (p < e && is_key_char(*p)) p++;
    return p < e && *p == '=';
}

/* The header of a ztunnel text line, as logs/ztunnel.py _ZT_HEAD and _zt_header split it. */
typedef struct {
    int64_t ts;
    const char *level, *target, *message, *fields;
    Py_ssize_t level_n, target_n, message_n;
} ZtHead;

/* ST_ROW with the header filled in, ST_SKIP for another target, ST_DEFER when unsure. */
static int zt_head(const char *p, const char *e, ZtHead *h) {
    const char *q = ts_syntax(p, e), *r;
    int tabbed = 0;
    if (!q || q >= e || !is_tab_space(*q) || !ts_nanos(p, q, &h->ts)) return ST_DEFER;
    while (q < e && is_tab_space(*q)) tabbed |= *q++ == '\t';
    if (!(r = level_end(q, e))) return ST_DEFER;
    h->level = q;
    h->level_n = r - q;
    q = r;
    while (q < e && is_tab_space(*q)) tabbed |= *q++ == '\t';
    /* q..e is `rest` (trailing whitespace already cut) */
    h->message = q;
    h->message_n = 0;
    if (tabbed) {
        const char *t1 = memchr(q, '\t', (size_t)(e - q));
        h->target = q;
        h->target_n = (t1 ? t1 : e) - q;
        h->fields = e;
        if (t1) {
            const char *part = t1 + 1, *t2 = memchr(part, '\t', (size_t)(e - part));
            if (key_start(part, t2 ? t2 : e)) {
                h->fields = part;
            } else {
                h->message = part;
                h->message_n = (t2 ? t2 : e) - part;
                h->fields = t2 ? t2 + 1 : e;
            }
        }
    } else {
        if (e - q >= 12 && memcmp(q, "http access ", 12) == 0) {
            h->target_n = 11;
        } else {
            r = memchr(q, ' ', (size_t)(e - q));
            h->target_n = (r ? r : e) - q;
        }
        h->target = q;
        r = q + h->target_n;
        while (r < e && is_tab_space(*r)) r++; /* .lstrip(" \t") */
        h->message = r;
        h->fields = e;
        if (key_start(r, e)) {
            h->fields = r;
        } else { /* (.*?)(?:[ \t]+(?=key=)|$) */
            const char *m = r;
            h->message_n = e - r;
            while (m < e) {
                if (is_tab_space(*m)) {
                    const char *run = m;
                    while (run < e && is_tab_space(*run)) run++;
                    if (key_start(run, e)) {
                        h->message_n = m - r;
                        h->fields = run;
                        break;
                    }
                    m = run;
                } else {
                    m++;
                }
            }
        }
    }
    int access = (h->target_n == 6 && memcmp(h->target, "access", 6) == 0) ||
                 (h->target_n == 11 && memcmp(h->target, "http access", 11) == 0);
    /* A copy that kept the first tabs and turned the later ones into spaces: Python reads the rest as a
       copy with spaces (logs/ztunnel.py _ZT_SPACED_ACCESS), so such a line is not certainly skipped. */
    if (!access && tabbed && ((h->target_n >= 7 && memcmp(h->target, "access ", 7) == 0) ||
                              (h->target_n >= 12 && memcmp(h->target, "http access ", 12) == 0)))
        return ST_DEFER;
    return access ? ST_ROW : ST_SKIP;
}

/* The key at p: the previous row's key at this position when it is the same (the usual case), else
   [A-Za-z_][\w.]*= read and looked up. Sets *after to the '='; -1 on a Python error, -2 to defer. */
static inline int zt_key(Keys *k, int position, const char *p, const char *e, const char **after) {
    if (position < k->last_count) {
        KeyCol *c = &k->cols[k->last_order[position]];
        if (e - p > c->name_len && p[c->name_len] == '=' && memcmp(p, c->name, (size_t)c->name_len) == 0) {
            *after = p + c->name_len;
            return k->last_order[position];
        }
    }
    const char *q = p;
    if (!is_key_first(*q)) return -2; /* a glued record, an old unquoted continuation, or malformed */
    while (q < e && is_key_char(*q)) q++;
    if (q >= e || *q != '=') return -2;
    *after = q;
    return key_column(k, p, q - p);
}

/* The key=value fields (logs/ztunnel.py _zt_fields) into toks; the count, or -2 to defer, -1 on a Python error. */
static int zt_fields(Keys *k, const char *p, const char *e, Py_ssize_t line_no, Tok *toks) {
    int n = 0;
    while (p < e) {
        while (p < e && is_tab_space(*p)) p++;
        if (p >= e) break; /* not reached: trailing whitespace is cut */
        if (n >= MAX_LINE_KEYS) return -2;
        int col = zt_key(k, n, p, e, &p);
        if (col < 0) return col;
        if (k->cols[col].is_derived) return -2; /* a logged duration_ms: Python decides which value wins */
        if (k->cols[col].seen_at == line_no) return -2; /* a key twice: Python skips the line */
        k->cols[col].seen_at = line_no;
        Tok *t = &toks[n];
        t->col = col;
        t->escaped = 0;
        t->value = 0;
        p++;
        if (p < e && *p == '"') {
            const char *v = ++p, *q = memchr(p, '"', (size_t)(e - p));
            if (q && memchr(v, '\\', (size_t)(q - v))) { /* escapes: find the closing quote the slow way */
                while (p < e && *p != '"') {
                    if (*p == '\\') {
                        if (p + 1 >= e || p[1] == 'u') return -2;
                        p++;
                    }
                    p++;
                }
                q = p < e ? p : NULL;
                t->escaped = 1;
            }
            if (!q) return -2;
            t->kind = K_TEXT;
            t->p = v;
            t->n = q - v;
            p = q + 1;
            if (p < e && !is_tab_space(*p)) return -2;
        } else {
            const char *v = p;
            while (p < e && !is_tab_space(*p) && *p != '"') p++;
            if (p < e && *p == '"') return -2;
            t->p = v;
            t->n = p - v;
            if (parse_int(v, t->n, &t->value)) {
                t->kind = K_INT;
            } else if (t->n == 4 && memcmp(v, "true", 4) == 0) {
                t->kind = K_BOOL;
                t->value = 1;
            } else if (t->n == 5 && memcmp(v, "false", 5) == 0) {
                t->kind = K_BOOL;
            } else {
                Py_ssize_t digits = t->n - (t->n > 0 && v[0] == '-');
                int all_digits = digits > 0;
                for (Py_ssize_t i = t->n - digits; i < t->n; i++) all_digits &= is_digit(v[i]);
                if (all_digits) return -2; /* an integer beyond int64: Python's int */
                t->kind = K_TEXT;
            }
        }
        t->has_ms = 0;
        if (k->cols[col].is_duration && t->kind == K_TEXT && !t->escaped) {
            int d = duration_ms(t->p, t->n, &t->ms);
            if (d == 2) return -2; /* a fraction or another unit: Python rounds it */
            t->has_ms = d == 1;
        }
        n++;
    }
    return n;
}

static PyObject *keycol_finish(KeyCol *c, Py_ssize_t rows) {
    keycol_pad(c, rows);
    PyObject *kinds = buf_finish(&c->kinds, rows), *ints = kinds ? buf_finish(&c->ints, 8 * rows) : NULL;
    PyObject *off = ints ? buf_finish(&c->off, 8 * (rows + 1)) : NULL;
    PyObject *data = off ? buf_finish(&c->data, c->data.len) : NULL;
    if (!data) {
        Py_XDECREF(kinds);
        Py_XDECREF(ints);
        Py_XDECREF(off);
        return NULL;
    }
    return Py_BuildValue("(s#nNNNN)", c->name, c->name_len, c->present, kinds, ints, off, data);
}

static void keycol_free(KeyCol *c) {
    buf_free(&c->kinds);
    buf_free(&c->ints);
    buf_free(&c->off);
    buf_free(&c->data);
}

static PyObject *scan_ztunnel(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t max_lines = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "y*|n", &view, &max_lines)) return NULL;
    const char *data = view.buf, *end = data + view.len;
    Lines lines;
    Buf stamps = {NULL, 0, 0};
    TextCol level, target, message;
    PrefixCols pre;
    Keys *keys = PyMem_Calloc(1, sizeof(Keys));
    Tok toks[MAX_LINE_KEYS];
    PyObject *result = NULL;

    memset(&level, 0, sizeof level);
    memset(&target, 0, sizeof target);
    memset(&message, 0, sizeof message);
    memset(&pre, 0, sizeof pre);
    lines.ends.obj = lines.status.obj = NULL;
    if (!keys) {
        PyErr_NoMemory();
        goto done;
    }
    if (lines_init(&lines, data, end, max_lines) < 0) goto done;
    keys->cap = lines.cap;
    if (buf_init(&stamps, 8 * lines.cap) < 0 || text_init(&level, lines.cap, 5 * lines.cap) < 0 ||
        text_init(&target, lines.cap, 6 * lines.cap) < 0 || text_init(&message, lines.cap, 20 * lines.cap) < 0 ||
        prefix_init(&pre, lines.cap) < 0)
        goto done;

    for (const char *p = data; p < end && lines.lines < lines.cap;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *stop;
        ZtHead h;
        Prefix x;
        int tabs, bad, count = 0, st = classify_bytes(p, e, &stop, &tabs);
        if (st == ST_ROW) {
            const char *record = prefixes(p, stop, &x, zt_record_start, &bad);
            st = bad ? ST_DEFER : zt_head(record, stop, &h);
        }
        if (st == ST_ROW) {
            count = zt_fields(keys, h.fields, stop, lines.lines, toks);
            if (count == -1) goto done;
            if (count == -2) st = ST_DEFER;
        }
        if (st == ST_ROW) {
            Py_ssize_t row = lines.rows;
            w8(&stamps, row, h.ts);
            if (prefix_push(&pre, row, &x) < 0) goto done;
            if (text_push(&level, h.level, h.level_n) < 0 || text_push(&target, h.target, h.target_n) < 0 ||
                text_push(&message, h.message, h.message_n) < 0)
                goto done;
            for (int i = 0; i < count; i++) {
                Tok *t = &toks[i];
                KeyCol *c = &keys->cols[t->col];
                if (keycol_push(c, row, t) < 0) goto done;
                if (c->is_duration) {
                    Tok ms = {t->col + 1, t->has_ms ? K_INT : K_MISSING, NULL, 0, 0, t->has_ms ? t->ms : 0, 0, 0};
                    if (keycol_push(&keys->cols[t->col + 1], row, &ms) < 0) goto done;
                }
                keys->last_order[i] = t->col;
            }
            keys->last_count = count;
        }
        lines_add(&lines, e - data, st);
        p = nl ? nl + 1 : end;
    }
    {
        PyObject *dynamic = PyList_New(keys->ncols), *fixed, *ends, *status, *prefix_cols;
        if (!dynamic) goto done;
        for (int i = 0; i < keys->ncols; i++) {
            PyObject *c = keycol_finish(&keys->cols[i], lines.rows);
            if (!c) {
                Py_DECREF(dynamic);
                goto done;
            }
            PyList_SET_ITEM(dynamic, i, c);
        }
        fixed = Py_BuildValue("(NNNN)", time_finish(&stamps, lines.rows), text_finish(&level), text_finish(&target),
                              text_finish(&message));
        prefix_cols = fixed ? prefix_finish(&pre, lines.rows) : NULL;
        ends = prefix_cols ? lines_finish(&lines, &status) : NULL;
        if (!ends) {
            Py_DECREF(dynamic);
            Py_XDECREF(fixed);
            Py_XDECREF(prefix_cols);
            goto done;
        }
        result = Py_BuildValue("(NNnNNN)", ends, status, lines.rows, fixed, dynamic, prefix_cols);
    }
done:
    lines_free(&lines);
    buf_free(&stamps);
    text_free(&level);
    text_free(&target);
    text_free(&message);
    prefix_free(&pre);
    if (keys) {
        for (int i = 0; i < keys->ncols; i++) keycol_free(&keys->cols[i]);
        PyMem_Free(keys);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_envoy", scan_envoy, METH_VARARGS,
     "scan_envoy(block, max_lines=all) -> (line ends, line status, rows, columns, prefix columns): the Envoy\n"
     "access lines of the first max_lines lines of a block."},
    {"scan_ztunnel", scan_ztunnel, METH_VARARGS,
     "scan_ztunnel(block, max_lines=all) -> (line ends, line status, rows, (timestamp, level, target, message),\n"
     "key columns, prefix columns): the ztunnel access records of the first max_lines lines of a block."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_logscan",
    .m_doc = "Compiled line scanner behind ambient_lb.logs (see _logscan.c).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__logscan(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI", ABI_VERSION) < 0) Py_CLEAR(m);
    return m;
}
