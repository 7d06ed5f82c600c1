/*
 * One-pass reader of serialized XSpace profiles into columnar arrays.
 *
 * Why C: a profile holds millions of XEvents and XStats; building a protobuf
 * object per event (upb or C++) and walking it from Python runs at well under
 * 1 M events/s. Here the wire format is walked once, with the GIL released,
 * and every event and stat lands in flat arrays that Python wraps with
 * numpy.frombuffer. Only the per-plane metadata (maps of event and stat
 * metadata, plane stats) is handed back as raw protobuf bytes, because it is
 * small and upb parses it well.
 *
 * Why no numpy C API: the extension then builds against the Python headers
 * alone. Columns come back as `Buffer` objects (a minimal type exposing the
 * buffer protocol over memory the parser filled), so no copy is made.
 *
 * Besides `parse`, two helpers keep the Python side free of per-event loops:
 * `find_stats` (the rows of one stat among a plane's events) and
 * `intern_slices` (deduplicating string values by content).
 *
 * Safety: every read is bounds-checked against the enclosing message; any
 * malformed input (truncated varint, length past the end, wrong wire type for
 * a field we interpret, bad tag) becomes a ValueError naming the problem and
 * the byte offset. Unknown fields are skipped by wire type.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* Stat value kinds as exposed to Python (0: no value set). */
enum { K_NONE = 0, K_DOUBLE = 1, K_UINT64 = 2, K_INT64 = 3, K_STR = 4, K_BYTES = 5, K_REF = 6 };

/* Bit set in the event flags column when the event carries num_occurrences
 * (an aggregated event) instead of offset_ps; the value then sits in the
 * offset column. */
#define EV_FLAG_AGGREGATED 1

#define MAX_GROUP_DEPTH 64

/* Doubles are little-endian on the wire. */
static inline int64_t load_le64(const uint8_t *b) {
    uint64_t v;
    memcpy(&v, b, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return (int64_t)v;
}

/* ------------------------------------------------------------------------ */
/* Columns: where the big arrays live.
 *
 * The output size is unknown until the end, but bounded: every event or stat
 * takes at least 2 bytes on the wire. So each large column first reserves
 * address space for that bound (mmap: no memory is committed until touched)
 * and fills it with no growth and no copies; the unused tail is unmapped at
 * the end. If the reservation is refused (strict overcommit, non-POSIX), the
 * column falls back to realloc doubling. */

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define HAVE_MMAP 1
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif
#else
#define HAVE_MMAP 0
#endif

#define PAGE ((size_t)1 << 16) /* a multiple of any page size we run on */
#define MIN_RESERVE ((size_t)16 << 20)

typedef struct {
    void *data;
    size_t cap;    /* elements */
    size_t mapped; /* bytes mapped with mmap; 0 when malloc'ed */
} Col;

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static void col_reserve(Col *c, size_t count, size_t elem) {
    memset(c, 0, sizeof(*c));
#if HAVE_MMAP
    /* Small outputs just grow with realloc. */
    if (count > SIZE_MAX / elem / 2 || count * elem < MIN_RESERVE) return;
    size_t len = round_up(count * elem, PAGE);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) return;
    c->data = m;
    c->mapped = len;
    c->cap = len / elem;
#else
    (void)count;
    (void)elem;
#endif
}

/* Room for `need` elements; only malloc'ed columns ever grow. */
static int col_grow(Col *c, size_t need, size_t elem) {
    if (need <= c->cap) return 0;
    if (c->mapped) return -1; /* cannot happen: the reservation is an upper bound */
    size_t ncap = c->cap ? c->cap : 1024;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem) return -1;
        ncap *= 2;
    }
    void *q = realloc(c->data, ncap * elem);
    if (q == NULL) return -1;
    c->data = q;
    c->cap = ncap;
    return 0;
}

static void col_free(Col *c) {
#if HAVE_MMAP
    if (c->mapped) {
        munmap(c->data, c->mapped);
        memset(c, 0, sizeof(*c));
        return;
    }
#endif
    free(c->data);
    memset(c, 0, sizeof(*c));
}

/* Generic growth for the small tables (lines, planes, ranges). */
static int ensure(void **p, size_t *cap, size_t need, size_t elem) {
    Col c = {*p, *cap, 0};
    if (col_grow(&c, need, elem)) return -1;
    *p = c.data;
    *cap = c.cap;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Buffer: owns a column's memory and exports it through the buffer protocol. */

typedef struct {
    PyObject_HEAD
    Col col;
    Py_ssize_t size;
} BufferObject;

static char empty_block[8];

static void Buffer_dealloc(BufferObject *self) {
    col_free(&self->col);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags) {
    void *data = self->size ? self->col.data : (void *)empty_block;
    return PyBuffer_FillInfo(view, (PyObject *)self, data, self->size, 0, flags);
}

static Py_ssize_t Buffer_length(BufferObject *self) { return self->size; }

static PyBufferProcs Buffer_as_buffer = {
    (getbufferproc)Buffer_getbuffer,
    NULL,
};

static PySequenceMethods Buffer_as_sequence = {
    .sq_length = (lenfunc)Buffer_length,
};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "xdiag.xplane._xspace.Buffer",
    .tp_basicsize = sizeof(BufferObject),
    .tp_dealloc = (destructor)Buffer_dealloc,
    .tp_as_buffer = &Buffer_as_buffer,
    .tp_as_sequence = &Buffer_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A writable block of memory owned by the xspace reader (wrap with numpy.frombuffer).",
};

/* Hands `n` elements of a column over to a new Buffer (the column is left
 * empty either way); spare capacity is given back first. */
static PyObject *buffer_from_col(Col *c, size_t n, size_t elem) {
    size_t used = n * elem;
#if HAVE_MMAP
    if (c->mapped) {
        size_t keep = round_up(used, PAGE);
        if (keep < c->mapped) {
            munmap((uint8_t *)c->data + keep, c->mapped - keep);
            c->mapped = keep;
            if (keep == 0) c->data = NULL;
        }
    } else
#endif
    if (used && used < c->cap * elem) {
        void *q = realloc(c->data, used);
        if (q != NULL) c->data = q;
    }
    BufferObject *b = PyObject_New(BufferObject, &BufferType);
    if (b == NULL) {
        col_free(c);
        return NULL;
    }
    b->col = *c;
    b->size = (Py_ssize_t)used;
    memset(c, 0, sizeof(*c));
    return (PyObject *)b;
}

typedef struct {
    int64_t id, display_id, timestamp_ns, duration_ps;
    int64_t name_off, display_name_off;
    int64_t name_len, display_name_len;
    int64_t ev_start, ev_stop;
} LineRec;

typedef struct {
    int64_t id;
    int64_t name_off, name_len;
    size_t line_start, line_stop;
    size_t range_start, range_stop; /* into the ranges array */
} PlaneRec;

typedef struct {
    size_t start, stop;
} Range;

typedef struct {
    const uint8_t *base;
    size_t size;

    /* events: line (i32), metadata id, offset, duration, first stat (i64),
     * stat count (i32), flags (u8) */
    size_t nev, cap_ev;
    Col ev_line, ev_md, ev_off, ev_dur, ev_first, ev_count, ev_flags;

    /* stats: metadata id, value (i64), length (i32), kind (u8) */
    size_t nst, cap_st;
    Col st_md, st_val, st_len, st_kind;

    LineRec *lines;
    size_t nlines, cap_lines;
    PlaneRec *planes;
    size_t nplanes, cap_planes;
    Range *ranges; /* plane bytes other than lines */
    size_t nranges, cap_ranges;
    Range *space_ranges; /* space bytes other than planes */
    size_t nspace_ranges, cap_space_ranges;

    /* Options: skip lines entirely (metadata only); keep only some stats. */
    int skip_lines;
    const int64_t *const *keep; /* per plane: sorted stat ids to keep, or NULL: all */
    const size_t *keep_n;
    size_t nkeep;
    const int64_t *cur_keep; /* the current plane's, NULL: keep all */
    size_t cur_keep_n;
    uint64_t *cur_bits; /* the same as a bitmap when the ids are small */
    uint64_t cur_nbits;

    int nomem;
    char err[256];
} Parser;

#define COL(p, c, T) ((T *)(p)->c.data)

static size_t min_cap(const Col *const *cols, int n) {
    size_t m = SIZE_MAX;
    for (int i = 0; i < n; i++)
        if (cols[i]->cap < m) m = cols[i]->cap;
    return m;
}

static void parser_init(Parser *p, const uint8_t *base, size_t size, int skip_lines) {
    memset(p, 0, sizeof(*p));
    p->base = base;
    p->size = size;
    p->skip_lines = skip_lines;
    size_t bound = skip_lines ? 0 : size / 2 + 1; /* a message takes >= 2 bytes */
    col_reserve(&p->ev_line, bound, 4);
    col_reserve(&p->ev_md, bound, 8);
    col_reserve(&p->ev_off, bound, 8);
    col_reserve(&p->ev_dur, bound, 8);
    col_reserve(&p->ev_first, bound, 8);
    col_reserve(&p->ev_count, bound, 4);
    col_reserve(&p->ev_flags, bound, 1);
    col_reserve(&p->st_md, bound, 8);
    col_reserve(&p->st_val, bound, 8);
    col_reserve(&p->st_len, bound, 4);
    col_reserve(&p->st_kind, bound, 1);
    const Col *ev[] = {&p->ev_line, &p->ev_md, &p->ev_off, &p->ev_dur,
                       &p->ev_first, &p->ev_count, &p->ev_flags};
    const Col *st[] = {&p->st_md, &p->st_val, &p->st_len, &p->st_kind};
    p->cap_ev = min_cap(ev, 7);
    p->cap_st = min_cap(st, 4);
}

static void parser_free(Parser *p) {
    col_free(&p->ev_line);
    col_free(&p->ev_md);
    col_free(&p->ev_off);
    col_free(&p->ev_dur);
    col_free(&p->ev_first);
    col_free(&p->ev_count);
    col_free(&p->ev_flags);
    col_free(&p->st_md);
    col_free(&p->st_val);
    col_free(&p->st_len);
    col_free(&p->st_kind);
    free(p->lines);
    free(p->planes);
    free(p->ranges);
    free(p->space_ranges);
    free(p->cur_bits);
    memset(p, 0, sizeof(*p));
}

/* Records a malformed-input error; the first one wins. */
static int fail(Parser *p, const char *what, size_t at) {
    if (p->err[0] == '\0' && !p->nomem)
        snprintf(p->err, sizeof(p->err), "%s at byte offset %zu", what, at);
    return -1;
}

static int oom(Parser *p) {
    p->nomem = 1;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Wire primitives: all take the end of the enclosing message as the bound. */

static inline int rd_varint(Parser *p, size_t *pos, size_t end, uint64_t *out) {
    size_t i = *pos;
    const uint8_t *b = p->base;
    if (i < end && b[i] < 0x80) { /* most tags and small values */
        *out = b[i];
        *pos = i + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (i >= end) return fail(p, "truncated varint", *pos);
        uint8_t c = b[i++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *out = v;
            *pos = i;
            return 0;
        }
    }
    return fail(p, "varint longer than 10 bytes", *pos);
}

static inline int rd_tag(Parser *p, size_t *pos, size_t end, uint32_t *field, int *wt) {
    size_t at = *pos;
    uint64_t t;
    if (rd_varint(p, pos, end, &t)) return -1;
    if (t > 0xFFFFFFFFu || (t >> 3) == 0) return fail(p, "invalid field tag", at);
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return 0;
}

/* Reads a length prefix and checks the payload fits in [pos, end). */
static inline int rd_len(Parser *p, size_t *pos, size_t end, size_t *len) {
    size_t at = *pos;
    uint64_t n;
    if (rd_varint(p, pos, end, &n)) return -1;
    if (n > (uint64_t)(end - *pos)) {
        if (p->err[0] == '\0')
            snprintf(p->err, sizeof(p->err),
                     "length %llu at byte offset %zu runs past the end of its message (ends at %zu)",
                     (unsigned long long)n, at, end);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

static int skip_field(Parser *p, size_t *pos, size_t end, uint32_t field, int wt, size_t tag_at,
                      int depth);

/* Skips a (deprecated) group up to its matching end-group tag. */
static int skip_group(Parser *p, size_t *pos, size_t end, uint32_t field, size_t tag_at, int depth) {
    if (depth > MAX_GROUP_DEPTH) return fail(p, "groups nested too deeply", tag_at);
    while (*pos < end) {
        size_t at = *pos;
        uint32_t f;
        int wt;
        if (rd_tag(p, pos, end, &f, &wt)) return -1;
        if (wt == WT_EGROUP) {
            if (f != field) return fail(p, "mismatched end-group tag", at);
            return 0;
        }
        if (skip_field(p, pos, end, f, wt, at, depth + 1)) return -1;
    }
    return fail(p, "unterminated group", tag_at);
}

static int skip_field(Parser *p, size_t *pos, size_t end, uint32_t field, int wt, size_t tag_at,
                      int depth) {
    uint64_t v;
    size_t n;
    switch (wt) {
        case WT_VARINT:
            return rd_varint(p, pos, end, &v);
        case WT_I64:
            if (end - *pos < 8) return fail(p, "truncated fixed64 field", *pos);
            *pos += 8;
            return 0;
        case WT_LEN:
            if (rd_len(p, pos, end, &n)) return -1;
            *pos += n;
            return 0;
        case WT_I32:
            if (end - *pos < 4) return fail(p, "truncated fixed32 field", *pos);
            *pos += 4;
            return 0;
        case WT_SGROUP:
            return skip_group(p, pos, end, field, tag_at, depth);
        case WT_EGROUP:
            return fail(p, "unexpected end-group tag", tag_at);
        default:
            return fail(p, "invalid wire type", tag_at);
    }
}

static int wrong_type(Parser *p, const char *msg, uint32_t field, int wt, size_t at) {
    if (p->err[0] == '\0')
        snprintf(p->err, sizeof(p->err), "%s field %u has wire type %d at byte offset %zu", msg,
                 field, wt, at);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Messages. */

static int parse_stat(Parser *p, size_t pos, size_t end) {
    if (p->nst >= p->cap_st) {
        size_t need = p->nst + 1;
        if (col_grow(&p->st_md, need, 8) || col_grow(&p->st_val, need, 8) ||
            col_grow(&p->st_len, need, 4) || col_grow(&p->st_kind, need, 1))
            return oom(p);
        const Col *st[] = {&p->st_md, &p->st_val, &p->st_len, &p->st_kind};
        p->cap_st = min_cap(st, 4);
    }
    int64_t md = 0, val = 0;
    int32_t len = 0;
    uint8_t kind = K_NONE;
    uint64_t v;
    size_t n;
    /* Fast path for the layout writers use (metadata_id, then the value); any
     * other layout, and whatever follows, goes through the general loop. */
    const uint8_t *b = p->base;
    if (pos < end && b[pos] == 0x08) {
        pos++;
        if (rd_varint(p, &pos, end, &v)) return -1;
        md = (int64_t)v;
    }
    if (pos < end) {
        uint8_t t = b[pos];
        if (t == 0x38 || t == 0x20 || t == 0x18) {
            pos++;
            if (rd_varint(p, &pos, end, &v)) return -1;
            val = (int64_t)v;
            kind = t == 0x38 ? K_REF : t == 0x20 ? K_INT64 : K_UINT64;
        } else if (t == 0x11 && end - pos >= 9) {
            val = load_le64(b + pos + 1);
            pos += 9;
            kind = K_DOUBLE;
        }
    }
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        int wt;
        if (rd_tag(p, &pos, end, &f, &wt)) return -1;
        switch (f) {
            case 1:
            case 3:
            case 4:
            case 7:
                if (wt != WT_VARINT) return wrong_type(p, "XStat", f, wt, at);
                if (rd_varint(p, &pos, end, &v)) return -1;
                if (f == 1) {
                    md = (int64_t)v;
                } else {
                    val = (int64_t)v;
                    len = 0;
                    kind = f == 3 ? K_UINT64 : f == 4 ? K_INT64 : K_REF;
                }
                break;
            case 2:
                if (wt != WT_I64) return wrong_type(p, "XStat", f, wt, at);
                if (end - pos < 8) return fail(p, "truncated double", pos);
                val = load_le64(b + pos);
                pos += 8;
                len = 0;
                kind = K_DOUBLE;
                break;
            case 5:
            case 6:
                if (wt != WT_LEN) return wrong_type(p, "XStat", f, wt, at);
                if (rd_len(p, &pos, end, &n)) return -1;
                if (n > INT32_MAX) return fail(p, "string stat longer than 2 GiB", at);
                val = (int64_t)pos;
                len = (int32_t)n;
                kind = f == 5 ? K_STR : K_BYTES;
                pos += n;
                break;
            default:
                if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        }
    }
    if (p->cur_bits != NULL) {
        if ((uint64_t)md >= p->cur_nbits || !(p->cur_bits[(uint64_t)md >> 6] >> (md & 63) & 1))
            return 0;
    } else if (p->cur_keep != NULL) {
        /* Binary search in the (short, sorted) list of stat ids to keep. */
        size_t lo = 0, hi = p->cur_keep_n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (p->cur_keep[mid] < md)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == p->cur_keep_n || p->cur_keep[lo] != md) return 0;
    }
    size_t s = p->nst++;
    COL(p, st_md, int64_t)[s] = md;
    COL(p, st_val, int64_t)[s] = val;
    COL(p, st_len, int32_t)[s] = len;
    COL(p, st_kind, uint8_t)[s] = kind;
    return 0;
}

static int grow_events(Parser *p) {
    size_t need = p->nev + 1;
    if (col_grow(&p->ev_line, need, 4) || col_grow(&p->ev_md, need, 8) ||
        col_grow(&p->ev_off, need, 8) || col_grow(&p->ev_dur, need, 8) ||
        col_grow(&p->ev_first, need, 8) || col_grow(&p->ev_count, need, 4) ||
        col_grow(&p->ev_flags, need, 1))
        return oom(p);
    const Col *ev[] = {&p->ev_line, &p->ev_md, &p->ev_off, &p->ev_dur,
                       &p->ev_first, &p->ev_count, &p->ev_flags};
    p->cap_ev = min_cap(ev, 7);
    return 0;
}

static int parse_event(Parser *p, size_t pos, size_t end, int32_t line) {
    if (p->nev >= p->cap_ev && grow_events(p)) return -1;
    /* The slot is claimed first so that stats can be appended while parsing;
     * events do not nest, so nothing else claims slots meanwhile. */
    size_t e = p->nev++;
    int64_t md = 0, off = 0, dur = 0;
    uint8_t flags = 0;
    size_t stat_first = p->nst;
    uint64_t v;
    size_t n;
    /* Fast path for the usual prefix (metadata_id, offset_ps, duration_ps);
     * stats and anything unusual go through the general loop. */
    const uint8_t *b = p->base;
    if (pos < end && b[pos] == 0x08) {
        pos++;
        if (rd_varint(p, &pos, end, &v)) return -1;
        md = (int64_t)v;
    }
    if (pos < end && b[pos] == 0x10) {
        pos++;
        if (rd_varint(p, &pos, end, &v)) return -1;
        off = (int64_t)v;
    }
    if (pos < end && b[pos] == 0x18) {
        pos++;
        if (rd_varint(p, &pos, end, &v)) return -1;
        dur = (int64_t)v;
    }
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        int wt;
        if (rd_tag(p, &pos, end, &f, &wt)) return -1;
        switch (f) {
            case 1:
            case 2:
            case 3:
            case 5:
                if (wt != WT_VARINT) return wrong_type(p, "XEvent", f, wt, at);
                if (rd_varint(p, &pos, end, &v)) return -1;
                if (f == 1) {
                    md = (int64_t)v;
                } else if (f == 3) {
                    dur = (int64_t)v;
                } else { /* oneof {offset_ps, num_occurrences}: the last one set wins */
                    off = (int64_t)v;
                    flags = f == 5 ? (uint8_t)(flags | EV_FLAG_AGGREGATED)
                                   : (uint8_t)(flags & ~EV_FLAG_AGGREGATED);
                }
                break;
            case 4:
                if (wt != WT_LEN) return wrong_type(p, "XEvent", f, wt, at);
                if (rd_len(p, &pos, end, &n)) return -1;
                if (parse_stat(p, pos, pos + n)) return -1;
                pos += n;
                break;
            default:
                if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        }
    }
    size_t cnt = p->nst - stat_first;
    if (cnt > INT32_MAX) return fail(p, "event with more than 2^31 stats", end);
    COL(p, ev_line, int32_t)[e] = line;
    COL(p, ev_md, int64_t)[e] = md;
    COL(p, ev_off, int64_t)[e] = off;
    COL(p, ev_dur, int64_t)[e] = dur;
    COL(p, ev_flags, uint8_t)[e] = flags;
    COL(p, ev_first, int64_t)[e] = (int64_t)stat_first;
    COL(p, ev_count, int32_t)[e] = (int32_t)cnt;
    return 0;
}

static int parse_line(Parser *p, size_t pos, size_t end) {
    if (p->nlines >= INT32_MAX) return fail(p, "more than 2^31 lines", pos);
    if (ensure((void **)&p->lines, &p->cap_lines, p->nlines + 1, sizeof(LineRec))) return oom(p);
    size_t li = p->nlines++;
    LineRec rec;
    memset(&rec, 0, sizeof(rec));
    rec.ev_start = (int64_t)p->nev;
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        int wt;
        uint64_t v;
        size_t n;
        if (rd_tag(p, &pos, end, &f, &wt)) return -1;
        switch (f) {
            case 1:
            case 3:
            case 9:
            case 10:
                if (wt != WT_VARINT) return wrong_type(p, "XLine", f, wt, at);
                if (rd_varint(p, &pos, end, &v)) return -1;
                if (f == 1)
                    rec.id = (int64_t)v;
                else if (f == 3)
                    rec.timestamp_ns = (int64_t)v;
                else if (f == 9)
                    rec.duration_ps = (int64_t)v;
                else
                    rec.display_id = (int64_t)v;
                break;
            case 2:
            case 11:
                if (wt != WT_LEN) return wrong_type(p, "XLine", f, wt, at);
                if (rd_len(p, &pos, end, &n)) return -1;
                if (f == 2) {
                    rec.name_off = (int64_t)pos;
                    rec.name_len = (int64_t)n;
                } else {
                    rec.display_name_off = (int64_t)pos;
                    rec.display_name_len = (int64_t)n;
                }
                pos += n;
                break;
            case 4:
                if (wt != WT_LEN) return wrong_type(p, "XLine", f, wt, at);
                if (rd_len(p, &pos, end, &n)) return -1;
                if (parse_event(p, pos, pos + n, (int32_t)li)) return -1;
                pos += n;
                break;
            default:
                if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        }
    }
    rec.ev_stop = (int64_t)p->nev;
    p->lines[li] = rec;
    return 0;
}

/* Appends [start, stop) to a range list, merging with the previous range when
 * contiguous (consecutive non-line fields of a plane are one memcpy later). */
static int add_range(Parser *p, Range **arr, size_t *n, size_t *cap, size_t floor, size_t start,
                     size_t stop) {
    if (*n > floor && (*arr)[*n - 1].stop == start) {
        (*arr)[*n - 1].stop = stop;
        return 0;
    }
    if (ensure((void **)arr, cap, *n + 1, sizeof(Range))) return oom(p);
    (*arr)[*n].start = start;
    (*arr)[*n].stop = stop;
    (*n)++;
    return 0;
}

static int parse_plane(Parser *p, size_t pos, size_t end) {
    if (ensure((void **)&p->planes, &p->cap_planes, p->nplanes + 1, sizeof(PlaneRec))) return oom(p);
    size_t pi = p->nplanes++;
    PlaneRec rec;
    memset(&rec, 0, sizeof(rec));
    rec.line_start = p->nlines;
    rec.range_start = p->nranges;
    p->cur_keep = pi < p->nkeep ? p->keep[pi] : NULL;
    p->cur_keep_n = pi < p->nkeep ? p->keep_n[pi] : 0;
    /* Stat ids are usually small: test membership with a bitmap then. */
    free(p->cur_bits);
    p->cur_bits = NULL;
    p->cur_nbits = 0;
    if (p->cur_keep != NULL) {
        int64_t top = -1, bottom = 0;
        for (size_t i = 0; i < p->cur_keep_n; i++) {
            if (p->cur_keep[i] > top) top = p->cur_keep[i];
            if (p->cur_keep[i] < bottom) bottom = p->cur_keep[i];
        }
        if (top < ((int64_t)1 << 20) && bottom >= 0) {
            uint64_t nbits = (uint64_t)(top + 1);
            p->cur_bits = calloc((size_t)(nbits / 64 + 1), sizeof(uint64_t));
            if (p->cur_bits == NULL) return oom(p);
            for (size_t i = 0; i < p->cur_keep_n; i++) {
                uint64_t id = (uint64_t)p->cur_keep[i];
                p->cur_bits[id >> 6] |= (uint64_t)1 << (id & 63);
            }
            p->cur_nbits = nbits;
        }
    }
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        int wt;
        uint64_t v;
        size_t n;
        if (rd_tag(p, &pos, end, &f, &wt)) return -1;
        if (f == 3) {
            if (wt != WT_LEN) return wrong_type(p, "XPlane", f, wt, at);
            if (rd_len(p, &pos, end, &n)) return -1;
            if (!p->skip_lines && parse_line(p, pos, pos + n)) return -1;
            pos += n;
            continue;
        }
        /* Everything but lines is kept, byte for byte, for upb to parse. */
        if (f == 1) {
            if (wt != WT_VARINT) return wrong_type(p, "XPlane", f, wt, at);
            if (rd_varint(p, &pos, end, &v)) return -1;
            rec.id = (int64_t)v;
        } else if (f == 2) {
            if (wt != WT_LEN) return wrong_type(p, "XPlane", f, wt, at);
            if (rd_len(p, &pos, end, &n)) return -1;
            rec.name_off = (int64_t)pos;
            rec.name_len = (int64_t)n;
            pos += n;
        } else if (f == 4 || f == 5 || f == 6) {
            if (wt != WT_LEN) return wrong_type(p, "XPlane", f, wt, at);
            if (rd_len(p, &pos, end, &n)) return -1;
            pos += n;
        } else {
            if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        }
        if (add_range(p, &p->ranges, &p->nranges, &p->cap_ranges, rec.range_start, at, pos))
            return -1;
    }
    rec.line_stop = p->nlines;
    rec.range_stop = p->nranges;
    p->planes[pi] = rec;
    return 0;
}

static int parse_space(Parser *p) {
    size_t pos = 0, end = p->size;
    while (pos < end) {
        size_t at = pos;
        uint32_t f;
        int wt;
        size_t n;
        if (rd_tag(p, &pos, end, &f, &wt)) return -1;
        if (f == 1) {
            if (wt != WT_LEN) return wrong_type(p, "XSpace", f, wt, at);
            if (rd_len(p, &pos, end, &n)) return -1;
            if (parse_plane(p, pos, pos + n)) return -1;
            pos += n;
            continue;
        }
        if (f >= 2 && f <= 4 && wt != WT_LEN) return wrong_type(p, "XSpace", f, wt, at);
        if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        if (add_range(p, &p->space_ranges, &p->nspace_ranges, &p->cap_space_ranges, 0, at, pos))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Building the Python result (GIL held). */

static PyObject *decode_str(const uint8_t *base, int64_t off, int64_t len) {
    return PyUnicode_DecodeUTF8((const char *)base + off, (Py_ssize_t)len, "replace");
}

static PyObject *join_ranges(const uint8_t *base, const Range *r, size_t start, size_t stop) {
    size_t total = 0;
    for (size_t i = start; i < stop; i++) total += r[i].stop - r[i].start;
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (b == NULL) return NULL;
    char *dst = PyBytes_AS_STRING(b);
    for (size_t i = start; i < stop; i++) {
        memcpy(dst, base + r[i].start, r[i].stop - r[i].start);
        dst += r[i].stop - r[i].start;
    }
    return b;
}

static PyObject *build_line(const Parser *p, const LineRec *l) {
    PyObject *name = decode_str(p->base, l->name_off, l->name_len);
    PyObject *dname = name ? decode_str(p->base, l->display_name_off, l->display_name_len) : NULL;
    if (dname == NULL) {
        Py_XDECREF(name);
        return NULL;
    }
    return Py_BuildValue("(LLNNLLLL)", (long long)l->id, (long long)l->display_id, name, dname,
                         (long long)l->timestamp_ns, (long long)l->duration_ps,
                         (long long)l->ev_start, (long long)l->ev_stop);
}

static PyObject *build_planes(const Parser *p) {
    PyObject *planes = PyList_New((Py_ssize_t)p->nplanes);
    if (planes == NULL) return NULL;
    for (size_t i = 0; i < p->nplanes; i++) {
        const PlaneRec *pr = &p->planes[i];
        PyObject *lines = PyList_New((Py_ssize_t)(pr->line_stop - pr->line_start));
        if (lines == NULL) goto error;
        for (size_t j = pr->line_start; j < pr->line_stop; j++) {
            PyObject *t = build_line(p, &p->lines[j]);
            if (t == NULL) {
                Py_DECREF(lines);
                goto error;
            }
            PyList_SET_ITEM(lines, (Py_ssize_t)(j - pr->line_start), t);
        }
        PyObject *name = decode_str(p->base, pr->name_off, pr->name_len);
        PyObject *rest = name ? join_ranges(p->base, p->ranges, pr->range_start, pr->range_stop) : NULL;
        if (rest == NULL) {
            Py_XDECREF(name);
            Py_DECREF(lines);
            goto error;
        }
        PyObject *t = Py_BuildValue("(LNNNn)", (long long)pr->id, name, rest, lines,
                                    (Py_ssize_t)pr->line_start);
        if (t == NULL) goto error;
        PyList_SET_ITEM(planes, (Py_ssize_t)i, t);
    }
    return planes;
error:
    Py_DECREF(planes);
    return NULL;
}

/* Moves a column into a Buffer under `key`; the parser no longer owns it. */
static int put_column(PyObject *d, const char *key, Col *c, size_t n, size_t elem) {
    PyObject *b = buffer_from_col(c, n, elem);
    if (b == NULL) return -1;
    int rc = PyDict_SetItemString(d, key, b);
    Py_DECREF(b);
    return rc;
}

static PyObject *build_result(Parser *p) {
    PyObject *res = PyDict_New();
    if (res == NULL) return NULL;
    PyObject *planes = build_planes(p);
    if (planes == NULL || PyDict_SetItemString(res, "planes", planes)) goto error;
    Py_CLEAR(planes);
    PyObject *rest = join_ranges(p->base, p->space_ranges, 0, p->nspace_ranges);
    if (rest == NULL || PyDict_SetItemString(res, "space_rest", rest)) {
        Py_XDECREF(rest);
        goto error;
    }
    Py_DECREF(rest);
    if (put_column(res, "ev_line", &p->ev_line, p->nev, 4) ||
        put_column(res, "ev_metadata_id", &p->ev_md, p->nev, 8) ||
        put_column(res, "ev_offset_ps", &p->ev_off, p->nev, 8) ||
        put_column(res, "ev_duration_ps", &p->ev_dur, p->nev, 8) ||
        put_column(res, "ev_flags", &p->ev_flags, p->nev, 1) ||
        put_column(res, "ev_stat_first", &p->ev_first, p->nev, 8) ||
        put_column(res, "ev_stat_count", &p->ev_count, p->nev, 4) ||
        put_column(res, "st_metadata_id", &p->st_md, p->nst, 8) ||
        put_column(res, "st_kind", &p->st_kind, p->nst, 1) ||
        put_column(res, "st_value", &p->st_val, p->nst, 8) ||
        put_column(res, "st_length", &p->st_len, p->nst, 4))
        goto error;
    return res;
error:
    Py_XDECREF(planes);
    Py_DECREF(res);
    return NULL;
}

PyDoc_STRVAR(parse_doc,
"parse(data, keep=None, lines=True) -> dict\n"
"\n"
"Parses a serialized XSpace held by any buffer-protocol object in one pass,\n"
"with the GIL released. Returns a dict with:\n"
"  planes: list of (id, name, plane_bytes_without_lines, lines, first_line_index),\n"
"    lines being (id, display_id, name, display_name, timestamp_ns, duration_ps,\n"
"    event_start, event_stop) tuples;\n"
"  space_rest: the XSpace bytes other than its planes (hostnames, errors, ...);\n"
"  ev_line (int32), ev_metadata_id, ev_offset_ps, ev_duration_ps (int64),\n"
"    ev_flags (uint8; bit 0: num_occurrences held in ev_offset_ps),\n"
"    ev_stat_first (int64), ev_stat_count (int32);\n"
"  st_metadata_id (int64), st_kind (uint8: 0 none, 1 double, 2 uint64, 3 int64,\n"
"    4 str, 5 bytes, 6 ref), st_value (int64: the integer, the double's bits,\n"
"    or the str/bytes offset into `data`), st_length (int32: str/bytes length).\n"
"Columns are Buffer objects for numpy.frombuffer.\n"
"keep: None, or a sequence with an entry per plane (in file order; missing\n"
"  entries keep everything): None to keep all of that plane's event stats,\n"
"  or a buffer of sorted int64 stat metadata ids to keep only those.\n"
"lines: False skips lines altogether (planes' metadata only, empty columns).\n"
"Raises ValueError on malformed input, naming the problem and its byte offset.");

static PyObject *xspace_parse(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"data", "keep", "lines", NULL};
    PyObject *data, *keep_obj = Py_None;
    int lines = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|Op:parse", kwlist, &data, &keep_obj, &lines))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)) return NULL;
    PyObject *res = NULL, *keep_seq = NULL;
    Py_buffer *kviews = NULL;
    const int64_t **kids = NULL;
    size_t *kn = NULL;
    Py_ssize_t nkeep = 0, held = 0;
    if (keep_obj != Py_None) {
        keep_seq = PySequence_Fast(keep_obj, "keep must be a sequence");
        if (keep_seq == NULL) goto done;
        nkeep = PySequence_Fast_GET_SIZE(keep_seq);
        kviews = PyMem_Calloc((size_t)nkeep + 1, sizeof(Py_buffer));
        kids = PyMem_Calloc((size_t)nkeep + 1, sizeof(int64_t *));
        kn = PyMem_Calloc((size_t)nkeep + 1, sizeof(size_t));
        if (kviews == NULL || kids == NULL || kn == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (; held < nkeep; held++) {
            PyObject *item = PySequence_Fast_GET_ITEM(keep_seq, held);
            if (item == Py_None) {
                kviews[held].obj = NULL;
                continue;
            }
            if (PyObject_GetBuffer(item, &kviews[held], PyBUF_SIMPLE)) goto done;
            if (kviews[held].len % 8) {
                held++;
                PyErr_SetString(PyExc_ValueError, "keep entries must be int64 buffers");
                goto done;
            }
            /* An empty list still filters (keeps nothing): point at a dummy. */
            kids[held] = kviews[held].len ? kviews[held].buf : (const int64_t *)empty_block;
            kn[held] = (size_t)kviews[held].len / 8;
        }
    }
    Parser p;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    parser_init(&p, (const uint8_t *)view.buf, (size_t)view.len, !lines);
    p.keep = (const int64_t *const *)kids;
    p.keep_n = kn;
    p.nkeep = (size_t)nkeep;
    rc = parse_space(&p);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (p.nomem)
            PyErr_NoMemory();
        else
            PyErr_SetString(PyExc_ValueError, p.err[0] ? p.err : "malformed XSpace");
    } else {
        res = build_result(&p);
    }
    parser_free(&p);
done:
    for (Py_ssize_t i = 0; i < held; i++)
        if (kviews[i].obj != NULL) PyBuffer_Release(&kviews[i]);
    PyMem_Free(kviews);
    PyMem_Free(kids);
    PyMem_Free(kn);
    Py_XDECREF(keep_seq);
    PyBuffer_Release(&view);
    return res;
}

/* ------------------------------------------------------------------------ */
/* Interning of byte slices (str stat values) by content. */

static uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)n; /* FNV-1a, seeded by length */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

PyDoc_STRVAR(intern_doc,
"intern_slices(data, offsets, lengths) -> (codes, uniques)\n"
"\n"
"Interns the byte slices data[offsets[i]:offsets[i]+lengths[i]] by content.\n"
"offsets is a buffer of int64, lengths of int32 (same count). Returns codes\n"
"(a Buffer of int32, one per slice, in order of first appearance) and the\n"
"list of unique slices as bytes. Raises ValueError if a slice is out of range.");

static PyObject *xspace_intern(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o_data, *o_off, *o_len;
    if (!PyArg_ParseTuple(args, "OOO:intern_slices", &o_data, &o_off, &o_len)) return NULL;
    Py_buffer vd, vo, vl;
    if (PyObject_GetBuffer(o_data, &vd, PyBUF_SIMPLE)) return NULL;
    if (PyObject_GetBuffer(o_off, &vo, PyBUF_SIMPLE)) {
        PyBuffer_Release(&vd);
        return NULL;
    }
    if (PyObject_GetBuffer(o_len, &vl, PyBUF_SIMPLE)) {
        PyBuffer_Release(&vd);
        PyBuffer_Release(&vo);
        return NULL;
    }
    PyObject *result = NULL;
    size_t n = (size_t)vo.len / 8;
    int32_t *codes = NULL;
    int64_t *uniq = NULL; /* index of the first slice with each code */
    int64_t *table = NULL;
    size_t nuniq = 0, tcap = 16;
    int bad = 0; /* 1: out of range, 2: out of memory */
    if (vo.len % 8 || vl.len % 4 || (size_t)vl.len / 4 != n) {
        PyErr_SetString(PyExc_ValueError, "offsets must be int64 and lengths int32 of equal count");
        goto done;
    }
    if (n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many slices to intern");
        goto done;
    }
    while (tcap < 2 * n) tcap *= 2;
    codes = malloc((n ? n : 1) * sizeof(int32_t));
    uniq = malloc((n ? n : 1) * sizeof(int64_t));
    table = malloc(tcap * sizeof(int64_t));
    if (codes == NULL || uniq == NULL || table == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const uint8_t *base = vd.buf;
    const int64_t *off = vo.buf;
    const int32_t *len = vl.buf;
    size_t dsize = (size_t)vd.len;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < tcap; i++) table[i] = -1;
    for (size_t i = 0; i < n; i++) {
        if (off[i] < 0 || len[i] < 0 || (uint64_t)off[i] > dsize ||
            (uint64_t)len[i] > dsize - (uint64_t)off[i]) {
            bad = 1;
            break;
        }
        const uint8_t *s = base + off[i];
        size_t l = (size_t)len[i];
        size_t h = (size_t)hash_bytes(s, l) & (tcap - 1);
        for (;;) {
            int64_t k = table[h];
            if (k < 0) {
                table[h] = (int64_t)nuniq;
                uniq[nuniq] = (int64_t)i;
                codes[i] = (int32_t)nuniq++;
                break;
            }
            int64_t j = uniq[k];
            if ((size_t)len[j] == l && memcmp(base + off[j], s, l) == 0) {
                codes[i] = (int32_t)k;
                break;
            }
            h = (h + 1) & (tcap - 1);
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "slice out of range of data");
        goto done;
    }
    PyObject *list = PyList_New((Py_ssize_t)nuniq);
    if (list == NULL) goto done;
    for (size_t k = 0; k < nuniq; k++) {
        int64_t j = uniq[k];
        PyObject *b = PyBytes_FromStringAndSize((const char *)base + off[j], len[j]);
        if (b == NULL) {
            Py_DECREF(list);
            goto done;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)k, b);
    }
    Col cc = {codes, n, 0};
    codes = NULL;
    PyObject *cb = buffer_from_col(&cc, n, sizeof(int32_t));
    if (cb == NULL) {
        Py_DECREF(list);
        goto done;
    }
    result = Py_BuildValue("(NN)", cb, list);
done:
    free(codes);
    free(uniq);
    free(table);
    PyBuffer_Release(&vd);
    PyBuffer_Release(&vo);
    PyBuffer_Release(&vl);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Finding one stat's rows among the events of a plane. */

PyDoc_STRVAR(find_stats_doc,
"find_stats(st_metadata_id, st_kind, st_value, ev_stat_first, ev_stat_count, e0, e1, ids)\n"
"    -> (events, rows, kinds, values, kind_counts)\n"
"\n"
"For events e0 <= e < e1, finds the stat rows (of that event) whose metadata\n"
"id is in `ids`. Columns are buffers as returned by parse (ids: int64).\n"
"Returns, in event order, Buffers of the owning event (int64), the stat row\n"
"(int64), its kind (uint8) and raw value (int64), plus a tuple with the\n"
"number of matches per kind (0..6). One linear pass over the plane's stat\n"
"rows, GIL released; raises ValueError if the stat range is out of bounds.");

#define N_KINDS 7

static PyObject *xspace_find_stats(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *obj[6];
    Py_ssize_t e0, e1;
    if (!PyArg_ParseTuple(args, "OOOOOnnO:find_stats", &obj[0], &obj[1], &obj[2], &obj[3],
                          &obj[4], &e0, &e1, &obj[5]))
        return NULL;
    Py_buffer v[6];
    int got = 0;
    for (; got < 6; got++)
        if (PyObject_GetBuffer(obj[got], &v[got], PyBUF_SIMPLE)) break;
    PyObject *result = NULL;
    Col c_ev = {0}, c_rows = {0}, c_kind = {0}, c_val = {0};
    if (got < 6) goto done;
    size_t nst = (size_t)v[0].len / 8, nev = (size_t)v[3].len / 8, nids = (size_t)v[5].len / 8;
    if (v[0].len % 8 || (size_t)v[1].len != nst || (size_t)v[2].len != nst * 8 || v[3].len % 8 ||
        (size_t)v[4].len != nev * 4 || v[5].len % 8 || e0 < 0 || e1 < e0 || (size_t)e1 > nev) {
        PyErr_SetString(PyExc_ValueError, "find_stats: bad column sizes or event range");
        goto done;
    }
    const int64_t *md = v[0].buf, *val = v[2].buf, *first = v[3].buf, *ids = v[5].buf;
    const uint8_t *kind = v[1].buf;
    const int32_t *count = v[4].buf;
    size_t counts[N_KINDS] = {0};
    int bad = 0;
    size_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Matches are at most the plane's stat rows: reserve that (address space
     * only), so the output never moves while it fills. */
    /* The plane's stat rows [s0, s1), checked without overflow. */
    int64_t s0 = 0, s1 = 0;
    if (e1 > e0) {
        int64_t f = first[e1 - 1], c = count[e1 - 1];
        s0 = first[e0];
        if (s0 < 0 || f < s0 || c < 0 || (uint64_t)f > nst || (uint64_t)c > nst - (uint64_t)f)
            bad = 1;
        else
            s1 = f + c;
    }
    size_t bound = (size_t)(s1 - s0);
    col_reserve(&c_ev, bound, 8);
    col_reserve(&c_rows, bound, 8);
    col_reserve(&c_kind, bound, 1);
    col_reserve(&c_val, bound, 8);
    /* Scan the plane's stat rows for the ids (a tight loop: most rows miss),
     * and walk the owning event forward as rows increase. */
    Py_ssize_t e = e0;
    int64_t id0 = nids ? ids[0] : 0;
    for (int64_t r = s0; r < s1 && !bad; r++) {
        int64_t m = md[r];
        if (m != id0) {
            size_t k = 1;
            while (k < nids && ids[k] != m) k++;
            if (k >= nids) continue;
        } else if (nids == 0) {
            continue;
        }
        while (e + 1 < e1 && first[e + 1] <= r) e++;
        if (first[e] < 0 || r < first[e] || r - first[e] >= (int64_t)count[e]) continue; /* no owner */
        if (n >= c_ev.cap || n >= c_rows.cap || n >= c_kind.cap || n >= c_val.cap) {
            if (col_grow(&c_ev, n + 1, 8) || col_grow(&c_rows, n + 1, 8) ||
                col_grow(&c_kind, n + 1, 1) || col_grow(&c_val, n + 1, 8)) {
                bad = 2;
                break;
            }
        }
        uint8_t kd = kind[r];
        ((int64_t *)c_ev.data)[n] = (int64_t)e;
        ((int64_t *)c_rows.data)[n] = r;
        ((uint8_t *)c_kind.data)[n] = kd;
        ((int64_t *)c_val.data)[n] = val[r];
        counts[kd < N_KINDS ? kd : 0]++;
        n++;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        if (bad == 2)
            PyErr_NoMemory();
        else
            PyErr_SetString(PyExc_ValueError, "find_stats: an event's stat range is out of bounds");
        goto done;
    }
    PyObject *tc = PyTuple_New(N_KINDS);
    if (tc == NULL) goto done;
    for (int k = 0; k < N_KINDS; k++) {
        PyObject *x = PyLong_FromSize_t(counts[k]);
        if (x == NULL) {
            Py_DECREF(tc);
            goto done;
        }
        PyTuple_SET_ITEM(tc, k, x);
    }
    PyObject *b0 = buffer_from_col(&c_ev, n, 8);
    PyObject *b1 = b0 ? buffer_from_col(&c_rows, n, 8) : NULL;
    PyObject *b2 = b1 ? buffer_from_col(&c_kind, n, 1) : NULL;
    PyObject *b3 = b2 ? buffer_from_col(&c_val, n, 8) : NULL;
    if (b3 == NULL) {
        Py_XDECREF(b0);
        Py_XDECREF(b1);
        Py_XDECREF(b2);
        Py_DECREF(tc);
        goto done;
    }
    result = Py_BuildValue("(NNNNN)", b0, b1, b2, b3, tc);
done:
    col_free(&c_ev);
    col_free(&c_rows);
    col_free(&c_kind);
    col_free(&c_val);
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", (PyCFunction)(void (*)(void))xspace_parse, METH_VARARGS | METH_KEYWORDS, parse_doc},
    {"intern_slices", xspace_intern, METH_VARARGS, intern_doc},
    {"find_stats", xspace_find_stats, METH_VARARGS, find_stats_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_xspace",
    .m_doc = "Fast columnar reader of serialized XSpace profiles.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__xspace(void) {
    if (PyType_Ready(&BufferType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    Py_INCREF(&BufferType);
    if (PyModule_AddObject(m, "Buffer", (PyObject *)&BufferType) < 0) {
        Py_DECREF(&BufferType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "EV_FLAG_AGGREGATED", EV_FLAG_AGGREGATED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
