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
 * `parse_lean` is ingest's variant: no stat rows, but for a few wanted stats
 * one int32 column per stat aligned with the events, holding codes of values
 * interned while parsing, and nothing that points into the input (whose pages
 * it can drop behind itself). `remap_codes` and `add_by_line` are its in-place
 * helpers.
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

#include "../core/threads.h"
#include "../core/wire.h"

/* Stat value kinds as exposed to Python (0: no value set). */
enum { K_NONE = 0, K_DOUBLE = 1, K_UINT64 = 2, K_INT64 = 3, K_STR = 4, K_BYTES = 5, K_REF = 6 };

/* Bit set in the event flags column when the event carries num_occurrences
 * (an aggregated event) instead of offset_ps; the value then sits in the
 * offset column. */
#define EV_FLAG_AGGREGATED 1

/* For the few helpers each caller must get its own copy of (e.g. to call
 * a constant function pointer directly). */
#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

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
#include <unistd.h>
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
#ifdef MADV_HUGEPAGE
    /* Transparent huge pages where the kernel offers them on request: a column of
     * millions of events otherwise takes a page fault per 4 KiB as it fills, a
     * tenth of the parse's time. Only touched 2 MiB pages are ever allocated. */
    madvise(m, len, MADV_HUGEPAGE);
#endif
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

/* A run of one line's events, for the parallel lean parse: [pos, end) holds
 * events from ev_base on (and maybe other line fields between them). */
typedef struct {
    size_t pos, end;
    int64_t ev_base;
    int32_t line, plane;
} Chunk;

/* Lean mode: the most stats one parse can intern. */
#define MAX_WANT 64

/* One interned stat value of a wanted stat (lean mode). */
typedef struct {
    uint64_t hash;
    int64_t val;   /* raw value; str/bytes: offset in the arena */
    int32_t len;   /* str/bytes length */
    int32_t plane; /* values are interned per plane: refs and ordering are per plane */
    int32_t code;  /* rank among the entries of the same wanted stat */
    uint8_t kind;
    uint8_t want;
} Entry;

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

    /* Lean mode (parse_lean): per-event columns of interned codes for a few
     * wanted stats instead of stat rows; see the comment above parse_lean. */
    int lean;
    int md_wide;     /* a metadata id did not fit int32: ev_md holds int64 ids */
    Col ev_md32;     /* event metadata ids while they all fit int32 */
    int nwant;
    Col codes[MAX_WANT];          /* per wanted stat: int32 entry code per event, -1: absent */
    int32_t cur_codes[MAX_WANT];  /* the current event's (see parse_stat_lean) */
    int32_t cur_last[MAX_WANT];   /* the current event's last value of each */
    uint8_t cur_kind[MAX_WANT];
    Col exc;                      /* (wanted, event, code of the last value) triples */
    size_t nexc;
    int32_t cur_plane;
    uint8_t *cur_wmap; /* the current plane's stat id -> wanted index + 1 (small ids) */
    size_t cur_wmap_n;
    int64_t *cur_pairs; /* or sorted (id, wanted index) pairs */
    size_t cur_npairs;
    Entry *ents; /* interned values, in order of first appearance */
    size_t nents, cap_ents;
    int32_t *htab; /* open addressing over ents; -1: empty */
    size_t hcap;
    int32_t ncodes[MAX_WANT]; /* entries per wanted stat so far */
    int32_t last[MAX_WANT];   /* the entry each wanted stat matched last, -1: none */
    uint8_t *arena; /* copies of interned str/bytes values */
    size_t narena, cap_arena;
    /* Dropping the pages of a read-only file mapping behind the parse. */
    int drop;
    size_t dropped, pagesize;
    /* Parallel lean parse (see parse_lean_parallel): the planning pass counts events
     * into chunks instead of decoding them; a worker must not widen columns. */
    int plan, no_widen, need_wide;
    int workers_used; /* threads that decoded the events (0: the serial parse) */
    size_t chunk_bytes;
    Chunk *chunks;
    size_t nchunks, cap_chunks;

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
    col_free(&p->ev_md32);
    col_free(&p->exc);
    for (int w = 0; w < MAX_WANT; w++) col_free(&p->codes[w]);
    free(p->cur_wmap);
    free(p->cur_pairs);
    free(p->ents);
    free(p->htab);
    free(p->arena);
    free(p->chunks);
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
/* Wire primitives (core/wire.h), with this parser's error messages: all take the end
 * of the enclosing message as the bound. */

static inline int rd_varint(Parser *p, size_t *pos, size_t end, uint64_t *out) {
    int e = wire_varint(p->base, pos, end, out);
    return e ? fail(p, wire_errors[e], *pos) : 0;
}

static inline int rd_tag(Parser *p, size_t *pos, size_t end, uint32_t *field, int *wt) {
    size_t at = *pos;
    int e = wire_tag(p->base, pos, end, field, wt);
    return e ? fail(p, wire_errors[e], at) : 0;
}

/* Reads a length prefix and checks the payload fits in [pos, end). */
static inline int rd_len(Parser *p, size_t *pos, size_t end, size_t *len) {
    size_t at = *pos;
    uint64_t n;
    int e = wire_len(p->base, pos, end, &n);
    if (e == WIRE_PAST_END) {
        if (p->err[0] == '\0')
            snprintf(p->err, sizeof(p->err),
                     "length %llu at byte offset %zu runs past the end of its message (ends at %zu)",
                     (unsigned long long)n, at, end);
        return -1;
    }
    if (e) return fail(p, wire_errors[e], at);
    *len = (size_t)n;
    return 0;
}

/* Skips an unknown field (groups included) whose tag started at `tag_at`. */
static int skip_field(Parser *p, size_t *pos, size_t end, uint32_t field, int wt, size_t tag_at,
                      int depth) {
    size_t n, at;
    if (wt == WT_LEN) {
        if (rd_len(p, pos, end, &n)) return -1;
        *pos += n;
        return 0;
    }
    int e = wire_skip(p->base, pos, end, field, wt, tag_at, depth, &at);
    return e ? fail(p, wire_errors[e], at) : 0;
}

static int wrong_type(Parser *p, const char *msg, uint32_t field, int wt, size_t at) {
    if (p->err[0] == '\0')
        snprintf(p->err, sizeof(p->err), "%s field %u has wire type %d at byte offset %zu", msg,
                 field, wt, at);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Messages. */

/* Decodes one XStat: its metadata id, value kind and raw value (the integer,
 * the double's bits, or the str/bytes offset into the data with its length). */
static inline int decode_stat(Parser *p, size_t pos, size_t end, int64_t *md_out,
                              int64_t *val_out, int32_t *len_out, uint8_t *kind_out) {
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
    *md_out = md;
    *val_out = val;
    *len_out = len;
    *kind_out = kind;
    return 0;
}

static int parse_stat(Parser *p, size_t pos, size_t end) {
    if (p->nst >= p->cap_st) {
        size_t need = p->nst + 1;
        if (col_grow(&p->st_md, need, 8) || col_grow(&p->st_val, need, 8) ||
            col_grow(&p->st_len, need, 4) || col_grow(&p->st_kind, need, 1))
            return oom(p);
        const Col *st[] = {&p->st_md, &p->st_val, &p->st_len, &p->st_kind};
        p->cap_st = min_cap(st, 4);
    }
    int64_t md, val;
    int32_t len;
    uint8_t kind;
    if (decode_stat(p, pos, end, &md, &val, &len, &kind)) return -1;
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

/* One XEvent's own fields. */
typedef struct {
    int64_t md, off, dur;
    uint8_t flags;
} EventFields;

/* What takes an event's XStats, one at a time: parse_stat or parse_stat_lean. */
typedef int (*StatSink)(Parser *p, size_t pos, size_t end);

/* Decodes one XEvent: its fields into `out`, each of its stats handed to
 * `stat` as met. Always inlined, so each caller's copy calls its sink
 * directly. */
static ALWAYS_INLINE int decode_event(Parser *p, size_t pos, size_t end, StatSink stat,
                                      EventFields *out) {
    int64_t md = 0, off = 0, dur = 0;
    uint8_t flags = 0;
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
                if (stat(p, pos, pos + n)) return -1;
                pos += n;
                break;
            default:
                if (skip_field(p, &pos, end, f, wt, at, 0)) return -1;
        }
    }
    out->md = md;
    out->off = off;
    out->dur = dur;
    out->flags = flags;
    return 0;
}

static int parse_event(Parser *p, size_t pos, size_t end, int32_t line) {
    if (p->nev >= p->cap_ev && grow_events(p)) return -1;
    /* The slot is claimed first so that stats can be appended while parsing;
     * events do not nest, so nothing else claims slots meanwhile. */
    size_t e = p->nev++;
    size_t stat_first = p->nst;
    EventFields ev;
    if (decode_event(p, pos, end, parse_stat, &ev)) return -1;
    size_t cnt = p->nst - stat_first;
    if (cnt > INT32_MAX) return fail(p, "event with more than 2^31 stats", end);
    COL(p, ev_line, int32_t)[e] = line;
    COL(p, ev_md, int64_t)[e] = ev.md;
    COL(p, ev_off, int64_t)[e] = ev.off;
    COL(p, ev_dur, int64_t)[e] = ev.dur;
    COL(p, ev_flags, uint8_t)[e] = ev.flags;
    COL(p, ev_first, int64_t)[e] = (int64_t)stat_first;
    COL(p, ev_count, int32_t)[e] = (int32_t)cnt;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lean mode: per-event columns for a few wanted stats.
 *
 * Instead of one row per stat (21 bytes each, plus each event's stat range),
 * every wanted stat gets one int32 column aligned with the events: the code
 * of the event's value among the distinct values of that stat, interned here
 * per (stat, plane, kind, value), or -1 where the event has no such stat.
 * Str/bytes values are copied into an arena when first seen, so nothing in
 * the result points into the input: once parsed, its pages are not needed.
 * Event metadata ids are kept as int32 while they fit. */

#define DROP_CHUNK ((size_t)4 << 20)

/* The active event columns of lean mode and their element sizes. */
static int lean_cols(Parser *p, Col **cols, size_t *elem) {
    int k = 0;
    cols[k] = &p->ev_line, elem[k++] = 4;
    if (p->md_wide)
        cols[k] = &p->ev_md, elem[k++] = 8;
    else
        cols[k] = &p->ev_md32, elem[k++] = 4;
    cols[k] = &p->ev_off, elem[k++] = 8;
    cols[k] = &p->ev_dur, elem[k++] = 8;
    cols[k] = &p->ev_flags, elem[k++] = 1;
    for (int w = 0; w < p->nwant; w++) cols[k] = &p->codes[w], elem[k++] = 4;
    return k;
}

static void lean_update_cap(Parser *p) {
    Col *cols[5 + MAX_WANT];
    size_t elem[5 + MAX_WANT];
    int k = lean_cols(p, cols, elem);
    p->cap_ev = min_cap((const Col *const *)cols, k);
}

static int grow_events_lean(Parser *p) {
    Col *cols[5 + MAX_WANT];
    size_t elem[5 + MAX_WANT];
    int k = lean_cols(p, cols, elem);
    for (int i = 0; i < k; i++)
        if (col_grow(cols[i], p->nev + 1, elem[i])) return oom(p);
    lean_update_cap(p);
    return 0;
}

static void parser_init_lean(Parser *p, const uint8_t *base, size_t size, int nwant, int drop) {
    memset(p, 0, sizeof(*p));
    p->base = base;
    p->size = size;
    p->lean = 1;
    p->nwant = nwant;
    size_t bound = size / 2 + 1; /* an event takes >= 2 bytes */
    col_reserve(&p->ev_line, bound, 4);
    col_reserve(&p->ev_md32, bound, 4);
    col_reserve(&p->ev_off, bound, 8);
    col_reserve(&p->ev_dur, bound, 8);
    col_reserve(&p->ev_flags, bound, 1);
    for (int w = 0; w < nwant; w++) {
        col_reserve(&p->codes[w], bound, 4);
        p->last[w] = -1;
    }
    lean_update_cap(p);
#if HAVE_MMAP && defined(MADV_DONTNEED)
    p->drop = drop;
    long ps = sysconf(_SC_PAGESIZE);
    p->pagesize = ps > 0 ? (size_t)ps : 4096;
#else
    (void)drop;
#endif
}

/* Drops the pages of [dropped, upto) of the input (a read-only file mapping:
 * they are read back from the file if touched again). */
static void drop_pages(Parser *p, size_t upto) {
#if HAVE_MMAP && defined(MADV_DONTNEED)
    uintptr_t a = (uintptr_t)p->base + p->dropped, b = (uintptr_t)p->base + upto;
    uintptr_t mask = (uintptr_t)p->pagesize - 1;
    a = (a + mask) & ~mask;
    b &= ~mask;
    if (b > a) madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
#endif
    p->dropped = upto;
}

static inline void maybe_drop(Parser *p, size_t pos) {
    if (p->drop && pos >= p->dropped + DROP_CHUNK) drop_pages(p, pos);
}

/* Event metadata ids go int64 from the first one that does not fit int32. */
static int widen_md(Parser *p, size_t upto) {
    if (p->no_widen) { /* a worker of the parallel parse: the serial parse takes over */
        p->need_wide = 1;
        return -1;
    }
    col_reserve(&p->ev_md, p->size / 2 + 1, 8);
    if (col_grow(&p->ev_md, p->nev + 1, 8)) return oom(p);
    const int32_t *src = p->ev_md32.data;
    int64_t *dst = p->ev_md.data;
    for (size_t i = 0; i < upto; i++) dst[i] = src[i];
    col_free(&p->ev_md32);
    p->md_wide = 1;
    lean_update_cap(p);
    return 0;
}

/* The current plane's wanted stat ids: `keep[pi]` holds (id, wanted index) pairs. */
static int cmp_pair(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int setup_lean_keep(Parser *p, size_t pi) {
    free(p->cur_wmap);
    free(p->cur_pairs);
    p->cur_wmap = NULL;
    p->cur_pairs = NULL;
    p->cur_wmap_n = p->cur_npairs = 0;
    if (pi >= p->nkeep || p->keep[pi] == NULL) return 0;
    const int64_t *kp = p->keep[pi];
    size_t np = p->keep_n[pi] / 2;
    if (np == 0) return 0;
    int64_t top = -1;
    int small = 1;
    for (size_t i = 0; i < np; i++) {
        int64_t id = kp[2 * i];
        if (id < 0 || id >= ((int64_t)1 << 20))
            small = 0;
        else if (id > top)
            top = id;
    }
    if (small) {
        p->cur_wmap = calloc((size_t)top + 1, 1);
        if (p->cur_wmap == NULL) return oom(p);
        for (size_t i = 0; i < np; i++) p->cur_wmap[kp[2 * i]] = (uint8_t)(kp[2 * i + 1] + 1);
        p->cur_wmap_n = (size_t)top + 1;
    } else {
        p->cur_pairs = malloc(np * 2 * sizeof(int64_t));
        if (p->cur_pairs == NULL) return oom(p);
        memcpy(p->cur_pairs, kp, np * 2 * sizeof(int64_t));
        qsort(p->cur_pairs, np, 2 * sizeof(int64_t), cmp_pair);
        p->cur_npairs = np;
    }
    return 0;
}

static inline int want_of(const Parser *p, int64_t md) {
    if (p->cur_wmap != NULL) return (uint64_t)md < p->cur_wmap_n ? (int)p->cur_wmap[md] - 1 : -1;
    size_t lo = 0, hi = p->cur_npairs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->cur_pairs[2 * mid] < md)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->cur_npairs && p->cur_pairs[2 * lo] == md ? (int)p->cur_pairs[2 * lo + 1] : -1;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_str8(const uint8_t *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0x94d049bb133111ebULL;
        h ^= h >> 29;
    }
    return h;
}

static inline int is_str_kind(uint8_t kind) { return kind == K_STR || kind == K_BYTES; }

static inline int entry_matches(const Parser *p, const Entry *e, int want, uint8_t kind,
                                int64_t val, int32_t len) {
    if (e->want != want || e->plane != p->cur_plane || e->kind != kind) return 0;
    if (!is_str_kind(kind)) return e->val == val;
    return e->len == len && memcmp(p->arena + e->val, p->base + val, (size_t)len) == 0;
}

static int rehash(Parser *p, size_t ncap) {
    int32_t *t = malloc(ncap * sizeof(int32_t));
    if (t == NULL) return oom(p);
    for (size_t i = 0; i < ncap; i++) t[i] = -1;
    for (size_t k = 0; k < p->nents; k++) {
        size_t i = (size_t)p->ents[k].hash & (ncap - 1);
        while (t[i] >= 0) i = (i + 1) & (ncap - 1);
        t[i] = (int32_t)k;
    }
    free(p->htab);
    p->htab = t;
    p->hcap = ncap;
    return 0;
}

/* The code of a wanted stat's value among that stat's distinct values. */
static int intern_value(Parser *p, int want, uint8_t kind, int64_t val, int32_t len,
                        int32_t *code, size_t at) {
    int32_t li = p->last[want]; /* consecutive events often repeat a value */
    if (li >= 0 && entry_matches(p, &p->ents[li], want, kind, val, len)) {
        *code = p->ents[li].code;
        return 0;
    }
    if (p->hcap == 0 && rehash(p, 1024)) return -1;
    uint64_t h = is_str_kind(kind) ? hash_str8(p->base + val, (size_t)len) : (uint64_t)val;
    h = mix64(h ^ ((uint64_t)want << 56) ^ ((uint64_t)kind << 48) ^
              ((uint64_t)(uint32_t)p->cur_plane * 0x9E3779B97F4A7C15ULL));
    size_t mask = p->hcap - 1, i = (size_t)h & mask;
    for (;;) {
        int32_t k = p->htab[i];
        if (k < 0) break;
        if (p->ents[k].hash == h && entry_matches(p, &p->ents[k], want, kind, val, len)) {
            p->last[want] = k;
            *code = p->ents[k].code;
            return 0;
        }
        i = (i + 1) & mask;
    }
    if (p->nents >= INT32_MAX / 2 || p->ncodes[want] == INT32_MAX)
        return fail(p, "too many distinct stat values", at);
    if (ensure((void **)&p->ents, &p->cap_ents, p->nents + 1, sizeof(Entry))) return oom(p);
    Entry *e = &p->ents[p->nents];
    e->hash = h;
    e->len = len;
    e->plane = p->cur_plane;
    e->kind = kind;
    e->want = (uint8_t)want;
    e->code = p->ncodes[want]++;
    if (is_str_kind(kind)) {
        if (ensure((void **)&p->arena, &p->cap_arena, p->narena + (size_t)len + 1, 1)) return oom(p);
        memcpy(p->arena + p->narena, p->base + val, (size_t)len);
        e->val = (int64_t)p->narena;
        p->narena += (size_t)len;
    } else {
        e->val = val;
    }
    p->htab[i] = (int32_t)p->nents;
    p->last[want] = (int32_t)p->nents;
    *code = e->code;
    p->nents++;
    if (p->nents * 2 > p->hcap && rehash(p, p->hcap * 2)) return -1;
    return 0;
}

static int parse_stat_lean(Parser *p, size_t pos, size_t end) {
    int64_t md, val;
    int32_t len;
    uint8_t kind;
    if (decode_stat(p, pos, end, &md, &val, &len, &kind)) return -1;
    int w = want_of(p, md);
    if (w < 0) return 0;
    int32_t code;
    if (intern_value(p, w, kind, val, len, &code, pos)) return -1;
    /* An event that repeats a stat (never seen in real profiles) keeps the
     * value read_xspace's event_stat_codes keeps: the last of the highest
     * kind; event_stat keeps the last one, kept aside as an exception. */
    p->cur_last[w] = code;
    if (p->cur_codes[w] < 0 || kind >= p->cur_kind[w]) {
        p->cur_codes[w] = code;
        p->cur_kind[w] = kind;
    }
    return 0;
}

static int parse_event_lean(Parser *p, size_t pos, size_t end, int32_t line) {
    if (p->nev >= p->cap_ev && grow_events_lean(p)) return -1;
    size_t e = p->nev++;
    for (int w = 0; w < p->nwant; w++) p->cur_codes[w] = p->cur_last[w] = -1;
    EventFields ev;
    if (decode_event(p, pos, end, parse_stat_lean, &ev)) return -1;
    int64_t md = ev.md;
    if (!p->md_wide && md != (int64_t)(int32_t)md && widen_md(p, e)) return -1;
    COL(p, ev_line, int32_t)[e] = line;
    if (p->md_wide)
        COL(p, ev_md, int64_t)[e] = md;
    else
        COL(p, ev_md32, int32_t)[e] = (int32_t)md;
    COL(p, ev_off, int64_t)[e] = ev.off;
    COL(p, ev_dur, int64_t)[e] = ev.dur;
    COL(p, ev_flags, uint8_t)[e] = ev.flags;
    for (int w = 0; w < p->nwant; w++) {
        ((int32_t *)p->codes[w].data)[e] = p->cur_codes[w];
        if (p->cur_last[w] != p->cur_codes[w]) {
            if (col_grow(&p->exc, 3 * (p->nexc + 1), 8)) return oom(p);
            int64_t *x = (int64_t *)p->exc.data + 3 * p->nexc++;
            x[0] = w;
            x[1] = (int64_t)e;
            x[2] = p->cur_last[w];
        }
    }
    return 0;
}

/* Bytes of events per chunk of the parallel parse: small enough to split the work
 * evenly, big enough that the chunk list stays short. */
#define CHUNK_BYTES ((Py_ssize_t)256 << 10)

/* The planning pass's share of an event: count it into the current chunk of its
 * line, or start a new chunk at its tag. */
static int plan_event(Parser *p, size_t at, size_t stop, int32_t line) {
    Chunk *c = p->nchunks ? &p->chunks[p->nchunks - 1] : NULL;
    if (c == NULL || c->line != line || c->end - c->pos >= p->chunk_bytes) {
        if (ensure((void **)&p->chunks, &p->cap_chunks, p->nchunks + 1, sizeof(Chunk)))
            return oom(p);
        c = &p->chunks[p->nchunks++];
        c->pos = at;
        c->line = line;
        c->plane = p->cur_plane;
        c->ev_base = (int64_t)p->nev;
    }
    c->end = stop;
    p->nev++;
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
                if (p->plan ? plan_event(p, at, pos + n, (int32_t)li)
                    : p->lean ? parse_event_lean(p, pos, pos + n, (int32_t)li)
                              : parse_event(p, pos, pos + n, (int32_t)li))
                    return -1;
                pos += n;
                maybe_drop(p, pos);
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
    p->cur_plane = (int32_t)pi;
    if (p->lean) {
        if (setup_lean_keep(p, pi)) return -1;
    } else {
        p->cur_keep = pi < p->nkeep ? p->keep[pi] : NULL;
        p->cur_keep_n = pi < p->nkeep ? p->keep_n[pi] : 0;
    }
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
/* The lean parse on several threads.
 *
 * A planning pass walks the whole space as the serial parse does, but only counts
 * each line's events into chunks (a tag and a length per event). The events then
 * number from 0 in file order, so each chunk knows where its events go in the
 * columns. Each worker decodes a contiguous run of chunks (about equal bytes) into
 * those places, interning wanted stat values in its own table. The tables are then
 * merged in worker order, which numbers every value where the serial parse would
 * (in order of first appearance), and each worker's codes are mapped to the merged
 * ones. Anything unusual (a malformed event, a metadata id over int32, no memory)
 * makes the caller redo the parse serially, which gives the same result or the
 * same error as without threads. */

typedef struct {
    Parser *main;
    Parser *w;            /* one per worker */
    size_t *first_chunk;  /* worker i: chunks [first_chunk[i], first_chunk[i + 1]) */
    int32_t **map;        /* worker i: (wanted, local code) -> merged code */
    size_t (*map_off)[MAX_WANT + 1];
    int nworkers;
    int failed;
} ParJob;

static void worker_init(Parser *w, const Parser *p) {
    memset(w, 0, sizeof(*w));
    w->base = p->base;
    w->size = p->size;
    w->lean = 1;
    w->nwant = p->nwant;
    w->keep = p->keep;
    w->keep_n = p->keep_n;
    w->nkeep = p->nkeep;
    /* The shared columns, borrowed (see worker_free): rows are written in place. */
    w->ev_line = p->ev_line;
    w->ev_md32 = p->ev_md32;
    w->ev_off = p->ev_off;
    w->ev_dur = p->ev_dur;
    w->ev_flags = p->ev_flags;
    for (int k = 0; k < p->nwant; k++) {
        w->codes[k] = p->codes[k];
        w->last[k] = -1;
    }
    w->cap_ev = p->cap_ev;
    w->no_widen = 1;
    w->cur_plane = -1;
    w->drop = p->drop;
    w->pagesize = p->pagesize;
}

static void worker_free(Parser *w) {
    free(w->cur_wmap);
    free(w->cur_pairs);
    free(w->ents);
    free(w->htab);
    free(w->arena);
    col_free(&w->exc);
    memset(w, 0, sizeof(*w));
}

static int parse_chunk(Parser *w, const Chunk *c) {
    if (c->plane != w->cur_plane) {
        w->cur_plane = c->plane;
        if (setup_lean_keep(w, (size_t)c->plane)) return -1;
    }
    w->nev = (size_t)c->ev_base;
    size_t pos = c->pos;
    while (pos < c->end) {
        size_t at = pos, n;
        uint32_t f;
        int wt;
        if (rd_tag(w, &pos, c->end, &f, &wt)) return -1;
        if (f == 4 && wt == WT_LEN) {
            if (rd_len(w, &pos, c->end, &n)) return -1;
            if (parse_event_lean(w, pos, pos + n, c->line)) return -1;
            pos += n;
            maybe_drop(w, pos);
        } else if (skip_field(w, &pos, c->end, f, wt, at, 0)) {
            return -1;
        }
    }
    return 0;
}

static void par_decode(void *ctx, int i) {
    ParJob *J = (ParJob *)ctx;
    Parser *w = &J->w[i];
    size_t a = J->first_chunk[i], b = J->first_chunk[i + 1];
    if (a < b) w->dropped = J->main->chunks[a].pos;
    for (size_t c = a; c < b; c++) {
        if (parse_chunk(w, &J->main->chunks[c])) {
            __atomic_store_n(&J->failed, 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

/* Adds worker entry `le` (its str/bytes in `larena`) to the merged table of `g`
 * unless there: the merged code. */
static int merge_entry(Parser *g, const Entry *le, const uint8_t *larena, int32_t *code) {
    if (g->hcap == 0 && rehash(g, 1024)) return -1;
    size_t mask = g->hcap - 1, i = (size_t)le->hash & mask;
    int str = is_str_kind(le->kind);
    for (;;) {
        int32_t k = g->htab[i];
        if (k < 0) break;
        const Entry *e = &g->ents[k];
        if (e->hash == le->hash && e->want == le->want && e->plane == le->plane &&
            e->kind == le->kind &&
            (str ? e->len == le->len &&
                       memcmp(g->arena + e->val, larena + le->val, (size_t)le->len) == 0
                 : e->val == le->val)) {
            *code = e->code;
            return 0;
        }
        i = (i + 1) & mask;
    }
    if (g->ncodes[le->want] == INT32_MAX) return -1;
    if (ensure((void **)&g->ents, &g->cap_ents, g->nents + 1, sizeof(Entry))) return oom(g);
    Entry *e = &g->ents[g->nents];
    *e = *le;
    e->code = g->ncodes[le->want]++;
    if (str) {
        if (ensure((void **)&g->arena, &g->cap_arena, g->narena + (size_t)le->len + 1, 1))
            return oom(g);
        memcpy(g->arena + g->narena, larena + le->val, (size_t)le->len);
        e->val = (int64_t)g->narena;
        g->narena += (size_t)le->len;
    }
    g->htab[i] = (int32_t)g->nents;
    *code = e->code;
    g->nents++;
    if (g->nents * 2 > g->hcap && rehash(g, g->hcap * 2)) return -1;
    return 0;
}

/* Worker i >= 1 maps its events' codes to the merged ones. */
static void par_remap(void *ctx, int i) {
    ParJob *J = (ParJob *)ctx;
    if (i == 0) return;
    const Parser *p = J->main;
    size_t a = J->first_chunk[i], b = J->first_chunk[i + 1];
    if (a == b) return;
    size_t lo = (size_t)p->chunks[a].ev_base;
    size_t hi = b < p->nchunks ? (size_t)p->chunks[b].ev_base : p->nev;
    for (int k = 0; k < p->nwant; k++) {
        int32_t *col = (int32_t *)p->codes[k].data;
        const int32_t *m = J->map[i] + J->map_off[i][k];
        for (size_t e = lo; e < hi; e++)
            if (col[e] >= 0) col[e] = m[col[e]];
    }
}

/* The parallel lean parse into `p` (set up by parser_init_lean, keep attached).
 * Returns 0 on success; -1 means: redo it serially on a fresh parser. */
static int parse_lean_parallel(Parser *p, int threads, size_t chunk_bytes) {
    p->plan = 1;
    p->chunk_bytes = chunk_bytes;
    /* The workers read the pages again: only they drop them, behind themselves. */
    int drop = p->drop;
    p->drop = 0;
    int rc = parse_space(p);
    p->drop = drop;
    p->plan = 0;
    if (rc || p->nchunks == 0) return rc ? -1 : 0;
    /* Rows for exactly nev events (small inputs' columns are not reserved). */
    if (p->nev > p->cap_ev) {
        Col *cols[5 + MAX_WANT];
        size_t elem[5 + MAX_WANT];
        int k = lean_cols(p, cols, elem);
        for (int i = 0; i < k; i++)
            if (col_grow(cols[i], p->nev, elem[i])) return -1;
        lean_update_cap(p);
    }
    int nw = threads > MAX_WORKERS ? MAX_WORKERS : threads;
    if ((size_t)nw > p->nchunks) nw = (int)p->nchunks;
    ParJob J;
    memset(&J, 0, sizeof(J));
    J.main = p;
    J.nworkers = nw;
    J.w = calloc((size_t)nw, sizeof(Parser));
    J.first_chunk = calloc((size_t)nw + 1, sizeof(size_t));
    J.map = calloc((size_t)nw, sizeof(int32_t *));
    J.map_off = calloc((size_t)nw, sizeof(*J.map_off));
    rc = -1;
    if (!J.w || !J.first_chunk || !J.map || !J.map_off) goto out;
    /* Contiguous runs of chunks of about equal bytes, in file order. */
    size_t total = 0;
    for (size_t c = 0; c < p->nchunks; c++) total += p->chunks[c].end - p->chunks[c].pos;
    size_t c = 0, seen = 0;
    for (int i = 0; i < nw; i++) {
        J.first_chunk[i] = c;
        size_t goal = (size_t)((double)total * (i + 1) / nw);
        while (c < p->nchunks && (i == nw - 1 || seen < goal)) {
            seen += p->chunks[c].end - p->chunks[c].pos;
            c++;
        }
    }
    J.first_chunk[nw] = p->nchunks;
    for (int i = 0; i < nw; i++) worker_init(&J.w[i], p);
    run_workers(nw, par_decode, &J);
    if (J.failed) goto out;
    /* Merge: worker 0's table is the start of the merged one. */
    Parser *w0 = &J.w[0];
    p->ents = w0->ents, p->nents = w0->nents, p->cap_ents = w0->cap_ents;
    p->htab = w0->htab, p->hcap = w0->hcap;
    p->arena = w0->arena, p->narena = w0->narena, p->cap_arena = w0->cap_arena;
    memcpy(p->ncodes, w0->ncodes, sizeof(p->ncodes));
    w0->ents = NULL, w0->htab = NULL, w0->arena = NULL;
    for (int i = 1; i < nw; i++) {
        Parser *w = &J.w[i];
        size_t off = 0;
        for (int k = 0; k < p->nwant; k++) {
            J.map_off[i][k] = off;
            off += (size_t)w->ncodes[k];
        }
        J.map[i] = malloc((off + 1) * sizeof(int32_t));
        if (!J.map[i]) goto out;
        for (size_t k = 0; k < w->nents; k++) {
            const Entry *le = &w->ents[k];
            int32_t code;
            if (merge_entry(p, le, w->arena, &code)) goto out;
            J.map[i][J.map_off[i][le->want] + (size_t)le->code] = code;
        }
    }
    run_workers(nw, par_remap, &J);
    /* Exceptions, in event order: each worker's, codes mapped. */
    for (int i = 0; i < nw; i++) {
        Parser *w = &J.w[i];
        if (w->nexc == 0) continue;
        if (col_grow(&p->exc, 3 * (p->nexc + w->nexc), 8)) goto out;
        int64_t *dst = (int64_t *)p->exc.data + 3 * p->nexc;
        const int64_t *src = (const int64_t *)w->exc.data;
        for (size_t x = 0; x < w->nexc; x++) {
            int64_t k = src[3 * x], code = src[3 * x + 2];
            dst[3 * x] = k;
            dst[3 * x + 1] = src[3 * x + 1];
            dst[3 * x + 2] = i == 0 || code < 0 ? code : J.map[i][J.map_off[i][k] + (size_t)code];
        }
        p->nexc += w->nexc;
    }
    p->workers_used = nw;
    rc = 0;
out:
    if (J.w)
        for (int i = 0; i < nw; i++) worker_free(&J.w[i]);
    if (J.map)
        for (int i = 0; i < nw; i++) free(J.map[i]);
    free(J.w);
    free(J.first_chunk);
    free(J.map);
    free(J.map_off);
    return rc;
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

static PyObject *build_planes(const Parser *p, int with_rest) {
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
        PyObject *rest = name == NULL ? NULL
                         : with_rest ? join_ranges(p->base, p->ranges, pr->range_start, pr->range_stop)
                                     : PyBytes_FromStringAndSize(NULL, 0);
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
    PyObject *planes = build_planes(p, 1);
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

/* ------------------------------------------------------------------------ */
/* What parse and parse_lean share: their `keep` argument and the parse itself. */

/* What a call asks for: parse (lean == 0) or parse_lean. */
typedef struct {
    int lean;
    int skip_lines;  /* parse: lines=False */
    int nwant, drop; /* parse_lean */
    int threads;     /* parse_lean: threads to decode events on */
    Py_ssize_t parallel_from, chunk_bytes; /* parse_lean: when and how to split */
} Mode;

/* Below this size the lean parse stays on one thread (starting threads and the
 * planning pass would cost more than they save). */
#define PAR_MIN_BYTES ((Py_ssize_t)8 << 20)

/* The `keep` argument: a buffer (or none) per plane, held for the parse. */
typedef struct {
    PyObject *seq;
    Py_buffer *views; /* .obj NULL: none held */
    const int64_t **ids;
    size_t *n;
    Py_ssize_t count, held;
} Keep;

/* Takes hold of the entries of `obj`, a sequence with an entry per plane:
 * None, or for parse a buffer of int64 stat ids, for parse_lean one of int64
 * (stat id, wanted index) pairs. On failure an exception is set; keep_release
 * is due either way. */
static int keep_acquire(PyObject *obj, const Mode *m, Keep *k) {
    k->seq = PySequence_Fast(obj, "keep must be a sequence");
    if (k->seq == NULL) return -1;
    k->count = PySequence_Fast_GET_SIZE(k->seq);
    k->views = PyMem_Calloc((size_t)k->count + 1, sizeof(Py_buffer));
    k->ids = PyMem_Calloc((size_t)k->count + 1, sizeof(int64_t *));
    k->n = PyMem_Calloc((size_t)k->count + 1, sizeof(size_t));
    if (k->views == NULL || k->ids == NULL || k->n == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (; k->held < k->count; k->held++) {
        PyObject *item = PySequence_Fast_GET_ITEM(k->seq, k->held);
        Py_buffer *v = &k->views[k->held];
        if (item == Py_None) {
            v->obj = NULL;
            continue;
        }
        if (PyObject_GetBuffer(item, v, PyBUF_SIMPLE)) return -1;
        const int64_t *kp = v->buf;
        size_t cnt = (size_t)v->len / 8;
        if (!m->lean) {
            if (v->len % 8) {
                k->held++;
                PyErr_SetString(PyExc_ValueError, "keep entries must be int64 buffers");
                return -1;
            }
            /* An empty list still filters (keeps nothing): point at a dummy. */
            k->ids[k->held] = v->len ? kp : (const int64_t *)empty_block;
        } else {
            int bad = v->len % 16 != 0;
            for (size_t i = 0; i + 1 < cnt && !bad; i += 2)
                bad = kp[i + 1] < 0 || kp[i + 1] >= m->nwant;
            if (bad) {
                k->held++;
                PyErr_SetString(PyExc_ValueError,
                                "keep entries must be int64 (id, wanted index) pairs, index < nwant");
                return -1;
            }
            k->ids[k->held] = cnt ? kp : NULL;
        }
        k->n[k->held] = cnt;
    }
    return 0;
}

static void keep_release(Keep *k) {
    for (Py_ssize_t i = 0; i < k->held; i++)
        if (k->views[i].obj != NULL) PyBuffer_Release(&k->views[i]);
    PyMem_Free(k->views);
    PyMem_Free(k->ids);
    PyMem_Free(k->n);
    Py_XDECREF(k->seq);
}

static PyObject *build_result_lean(Parser *p);

/* parse or parse_lean (as `m` says) of `data`, its arguments checked: the
 * parse runs with the GIL released, then the result is built (or the error
 * raised). parse takes None for `keep` (keep everything); parse_lean does not. */
static PyObject *parse_data(PyObject *data, PyObject *keep_obj, const Mode *m) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)) return NULL;
    PyObject *res = NULL;
    Keep k;
    memset(&k, 0, sizeof(k));
    if ((m->lean || keep_obj != Py_None) && keep_acquire(keep_obj, m, &k)) goto done;
    Parser p;
    int rc = -1;
    int parallel = m->lean && m->threads > 1 && view.len >= m->parallel_from;
    Py_BEGIN_ALLOW_THREADS
    for (int attempt = parallel ? 0 : 1; attempt < 2 && rc; attempt++) {
        if (attempt && parallel) parser_free(&p); /* nothing of the failed attempt is left */
        if (m->lean)
            parser_init_lean(&p, (const uint8_t *)view.buf, (size_t)view.len, m->nwant, m->drop);
        else
            parser_init(&p, (const uint8_t *)view.buf, (size_t)view.len, m->skip_lines);
        p.keep = (const int64_t *const *)k.ids;
        p.keep_n = k.n;
        p.nkeep = (size_t)k.count;
        rc = attempt ? parse_space(&p)
                     : parse_lean_parallel(&p, m->threads, (size_t)m->chunk_bytes);
    }
    if (p.drop) {
        p.dropped = 0;
        drop_pages(&p, p.size);
    }
    Py_END_ALLOW_THREADS
    if (rc) {
        if (p.nomem)
            PyErr_NoMemory();
        else
            PyErr_SetString(PyExc_ValueError, p.err[0] ? p.err : "malformed XSpace");
    } else {
        res = m->lean ? build_result_lean(&p) : build_result(&p);
    }
    parser_free(&p);
done:
    keep_release(&k);
    PyBuffer_Release(&view);
    return res;
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
    Mode m = {.skip_lines = !lines};
    return parse_data(data, keep_obj, &m);
}

/* ------------------------------------------------------------------------ */
/* parse_lean: the columns ingest's analyses read, and nothing else. */

static int put_entries(PyObject *res, Parser *p) {
    size_t n = p->nents, nstr = 0;
    Col cw = {0}, cp = {0}, ck = {0}, cv = {0};
    PyObject *strs = NULL;
    if (col_grow(&cw, n, 1) || col_grow(&cp, n, 4) || col_grow(&ck, n, 1) || col_grow(&cv, n, 8)) {
        PyErr_NoMemory();
        goto error;
    }
    for (size_t i = 0; i < n; i++) nstr += is_str_kind(p->ents[i].kind);
    strs = PyList_New((Py_ssize_t)nstr);
    if (strs == NULL) goto error;
    nstr = 0;
    for (size_t i = 0; i < n; i++) {
        const Entry *e = &p->ents[i];
        ((uint8_t *)cw.data)[i] = e->want;
        ((int32_t *)cp.data)[i] = e->plane;
        ((uint8_t *)ck.data)[i] = e->kind;
        if (is_str_kind(e->kind)) {
            PyObject *b = PyBytes_FromStringAndSize((const char *)p->arena + e->val, e->len);
            if (b == NULL) goto error;
            PyList_SET_ITEM(strs, (Py_ssize_t)nstr, b);
            ((int64_t *)cv.data)[i] = (int64_t)nstr++;
        } else {
            ((int64_t *)cv.data)[i] = e->val;
        }
    }
    if (PyDict_SetItemString(res, "ent_str", strs)) goto error;
    Py_CLEAR(strs);
    if (put_column(res, "ent_want", &cw, n, 1) || put_column(res, "ent_plane", &cp, n, 4) ||
        put_column(res, "ent_kind", &ck, n, 1) || put_column(res, "ent_value", &cv, n, 8))
        goto error;
    return 0;
error:
    Py_XDECREF(strs);
    col_free(&cw);
    col_free(&cp);
    col_free(&ck);
    col_free(&cv);
    return -1;
}

static PyObject *build_result_lean(Parser *p) {
    PyObject *res = PyDict_New();
    if (res == NULL) return NULL;
    PyObject *planes = build_planes(p, 0);
    if (planes == NULL || PyDict_SetItemString(res, "planes", planes)) {
        Py_XDECREF(planes);
        goto error;
    }
    Py_DECREF(planes);
    PyObject *wide = PyBool_FromLong(p->md_wide);
    if (PyDict_SetItemString(res, "ev_metadata_id_wide", wide)) {
        Py_DECREF(wide);
        goto error;
    }
    Py_DECREF(wide);
    PyObject *used = PyLong_FromLong(p->workers_used > 1 ? p->workers_used : 1);
    if (used == NULL || PyDict_SetItemString(res, "workers", used)) {
        Py_XDECREF(used);
        goto error;
    }
    Py_DECREF(used);
    if (put_column(res, "ev_line", &p->ev_line, p->nev, 4) ||
        (p->md_wide ? put_column(res, "ev_metadata_id", &p->ev_md, p->nev, 8)
                    : put_column(res, "ev_metadata_id", &p->ev_md32, p->nev, 4)) ||
        put_column(res, "ev_offset_ps", &p->ev_off, p->nev, 8) ||
        put_column(res, "ev_duration_ps", &p->ev_dur, p->nev, 8) ||
        put_column(res, "ev_flags", &p->ev_flags, p->nev, 1))
        goto error;
    PyObject *codes = PyList_New(p->nwant);
    if (codes == NULL || PyDict_SetItemString(res, "codes", codes)) {
        Py_XDECREF(codes);
        goto error;
    }
    Py_DECREF(codes); /* the dict holds it */
    for (int w = 0; w < p->nwant; w++) {
        PyObject *b = buffer_from_col(&p->codes[w], p->nev, 4);
        if (b == NULL) goto error;
        PyList_SET_ITEM(codes, w, b);
    }
    if (put_entries(res, p) || put_column(res, "exceptions", &p->exc, 3 * p->nexc, 8)) goto error;
    return res;
error:
    Py_DECREF(res);
    return NULL;
}

PyDoc_STRVAR(parse_lean_doc,
"parse_lean(data, keep, nwant, drop=False, threads=1, parallel_from=8 MiB,\n"
"           chunk_bytes=256 KiB) -> dict\n"
"\n"
"Parses a serialized XSpace into only what ingest's analyses read: per event\n"
"its line, metadata id, offset, duration and flags, and for each of `nwant`\n"
"wanted stats an int32 column aligned with the events holding the code of the\n"
"event's value (-1: the event has no such stat). Codes number each wanted\n"
"stat's distinct (plane, kind, value) entries in order of first appearance.\n"
"keep: a sequence with an entry per plane (in file order; missing entries or\n"
"  None want nothing there): an int64 buffer of (stat metadata id, wanted\n"
"  index) pairs, each id at most once.\n"
"drop: the data is a read-only file mapping whose pages can be dropped\n"
"  (madvise MADV_DONTNEED) behind the parse and at its end.\n"
"threads: decode events on up to this many threads, for inputs of at least\n"
"  parallel_from bytes, split in runs of about chunk_bytes of events (the\n"
"  last two are there for tests); the result is the same on any number.\n"
"Returns a dict with planes (as parse, but each plane's rest is b''),\n"
"  ev_line (int32), ev_metadata_id (int32, or int64 when\n"
"  ev_metadata_id_wide), ev_offset_ps, ev_duration_ps (int64), ev_flags\n"
"  (uint8), codes (a list of nwant int32 Buffers), and the interned entries:\n"
"  ent_want (uint8), ent_plane (int32), ent_kind (uint8), ent_value (int64:\n"
"  the raw value as in parse, or for str/bytes an index into ent_str, the list\n"
"  of their bytes). An event that repeats a wanted stat holds the code of\n"
"  its last value of the highest kind; where its very last value differs,\n"
"  exceptions (int64 (wanted index, event, code) triples) has that one.\n"
"  The result holds no reference into `data`. workers: how many threads\n"
"  decoded the events (1 when the parse ran serially).\n"
"Raises ValueError on malformed input, exactly where parse does.");

static PyObject *xspace_parse_lean(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"data",    "keep",          "nwant",       "drop",
                             "threads", "parallel_from", "chunk_bytes", NULL};
    PyObject *data, *keep_obj;
    int nwant, drop = 0, threads = 1;
    Py_ssize_t parallel_from = PAR_MIN_BYTES, chunk_bytes = CHUNK_BYTES;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOi|pinn:parse_lean", kwlist, &data,
                                     &keep_obj, &nwant, &drop, &threads, &parallel_from,
                                     &chunk_bytes))
        return NULL;
    if (chunk_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "parse_lean: chunk_bytes must be positive");
        return NULL;
    }
    if (nwant < 0 || nwant > MAX_WANT) {
        PyErr_Format(PyExc_ValueError, "parse_lean: at most %d wanted stats", MAX_WANT);
        return NULL;
    }
    Mode m = {.lean = 1, .nwant = nwant, .drop = drop, .threads = threads,
              .parallel_from = parallel_from, .chunk_bytes = chunk_bytes};
    return parse_data(data, keep_obj, &m);
}

PyDoc_STRVAR(remap_doc,
"remap_codes(codes, lut)\n"
"\n"
"In place, over a writable int32 buffer `codes`: every code c >= 0 becomes\n"
"lut[c] (lut: int32); negative codes become -1. GIL released. Raises\n"
"ValueError if a code is out of the lut's range (codes before it are remapped).");

static PyObject *xspace_remap_codes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o_codes, *o_lut;
    if (!PyArg_ParseTuple(args, "OO:remap_codes", &o_codes, &o_lut)) return NULL;
    Py_buffer vc, vl;
    if (PyObject_GetBuffer(o_codes, &vc, PyBUF_WRITABLE)) return NULL;
    if (PyObject_GetBuffer(o_lut, &vl, PyBUF_SIMPLE)) {
        PyBuffer_Release(&vc);
        return NULL;
    }
    int bad = vc.len % 4 || vl.len % 4;
    if (!bad) {
        int32_t *c = vc.buf;
        const int32_t *lut = vl.buf;
        size_t n = (size_t)vc.len / 4, nl = (size_t)vl.len / 4;
        Py_BEGIN_ALLOW_THREADS
        for (size_t i = 0; i < n; i++) {
            int32_t x = c[i];
            if (x < 0) {
                c[i] = -1;
            } else if ((size_t)x < nl) {
                c[i] = lut[x];
            } else {
                bad = 1;
                break;
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&vc);
    PyBuffer_Release(&vl);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "remap_codes: int32 buffers expected, codes within the lut");
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(add_by_line_doc,
"add_by_line(values, line, base)\n"
"\n"
"In place: values[i] += base[line[i]] (values, base: int64; line: int32;\n"
"values writable). GIL released. Raises ValueError on sizes or a line out of\n"
"range (values before it are updated).");

static PyObject *xspace_add_by_line(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[3];
    if (!PyArg_ParseTuple(args, "OOO:add_by_line", &o[0], &o[1], &o[2])) return NULL;
    Py_buffer v[3];
    if (PyObject_GetBuffer(o[0], &v[0], PyBUF_WRITABLE)) return NULL;
    if (PyObject_GetBuffer(o[1], &v[1], PyBUF_SIMPLE)) {
        PyBuffer_Release(&v[0]);
        return NULL;
    }
    if (PyObject_GetBuffer(o[2], &v[2], PyBUF_SIMPLE)) {
        PyBuffer_Release(&v[0]);
        PyBuffer_Release(&v[1]);
        return NULL;
    }
    size_t n = (size_t)v[0].len / 8, nb = (size_t)v[2].len / 8;
    int bad = v[0].len % 8 || v[2].len % 8 || (size_t)v[1].len != n * 4;
    if (!bad) {
        int64_t *val = v[0].buf;
        const int32_t *line = v[1].buf;
        const int64_t *base = v[2].buf;
        Py_BEGIN_ALLOW_THREADS
        for (size_t i = 0; i < n; i++) {
            int32_t l = line[i];
            if (l < 0 || (size_t)l >= nb) {
                bad = 1;
                break;
            }
            val[i] = (int64_t)((uint64_t)val[i] + (uint64_t)base[l]);
        }
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < 3; i++) PyBuffer_Release(&v[i]);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "add_by_line: bad sizes or a line out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Single events out of the raw file, without parsing it (the viewer's event
 * details). event_chunks is the parallel parse's planning pass: chunks of one
 * line's events, each starting at an event's tag; event_span walks one chunk. */

PyDoc_STRVAR(event_chunks_doc,
             "event_chunks(data, chunk_bytes) -> bytes of int64 rows (first event index,\n"
             "start, end, plane): runs of one line's events of about chunk_bytes, in file\n"
             "order; event i is in the last row whose first index is <= i.");

static PyObject *xspace_event_chunks(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t chunk_bytes;
    if (!PyArg_ParseTuple(args, "y*n:event_chunks", &view, &chunk_bytes)) return NULL;
    if (chunk_bytes < 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "chunk_bytes must be positive");
        return NULL;
    }
    Parser p;
    memset(&p, 0, sizeof(p)); /* no columns: the planning pass only counts events */
    p.base = view.buf;
    p.size = (size_t)view.len;
    p.plan = 1;
    p.chunk_bytes = (size_t)chunk_bytes;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = parse_space(&p);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (rc) {
        PyErr_SetString(PyExc_ValueError, p.err[0] ? p.err : "malformed XSpace");
    } else {
        out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(p.nchunks * 4 * sizeof(int64_t)));
        if (out != NULL) {
            int64_t *row = (int64_t *)PyBytes_AS_STRING(out);
            for (size_t c = 0; c < p.nchunks; c++, row += 4) {
                row[0] = p.chunks[c].ev_base;
                row[1] = (int64_t)p.chunks[c].pos;
                row[2] = (int64_t)p.chunks[c].end;
                row[3] = p.chunks[c].plane;
            }
        }
    }
    parser_free(&p);
    PyBuffer_Release(&view);
    return out;
}

PyDoc_STRVAR(event_span_doc,
             "event_span(data, start, end, k) -> (start, stop) of the k-th XEvent's bytes\n"
             "(from 0) among the line fields in [start, end) (an event_chunks row).");

static PyObject *xspace_event_span(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t start, end, k;
    if (!PyArg_ParseTuple(args, "y*nnn:event_span", &view, &start, &end, &k)) return NULL;
    Parser p;
    memset(&p, 0, sizeof(p));
    p.base = view.buf;
    p.size = (size_t)view.len;
    size_t pos = (size_t)start, stop = (size_t)end, found = 0, len = 0;
    int ok = start >= 0 && end >= start && end <= view.len && k >= 0, hit = 0;
    while (ok && !hit && pos < stop) {
        size_t at = pos, n;
        uint32_t f;
        int wt;
        if (rd_tag(&p, &pos, stop, &f, &wt)) {
            ok = 0;
        } else if (f == 4 && wt == WT_LEN) {
            if (rd_len(&p, &pos, stop, &n)) {
                ok = 0;
            } else if (k-- == 0) {
                found = pos, len = n, hit = 1;
            } else {
                pos += n;
            }
        } else if (skip_field(&p, &pos, stop, f, wt, at, 0)) {
            ok = 0;
        }
    }
    PyBuffer_Release(&view);
    if (!hit) {
        PyErr_Format(PyExc_ValueError, "event_span: %s",
                     p.err[0] ? p.err : "no such event in the range");
        return NULL;
    }
    return Py_BuildValue("nn", (Py_ssize_t)found, (Py_ssize_t)(found + len));
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
    {"parse_lean", (PyCFunction)(void (*)(void))xspace_parse_lean, METH_VARARGS | METH_KEYWORDS,
     parse_lean_doc},
    {"remap_codes", xspace_remap_codes, METH_VARARGS, remap_doc},
    {"add_by_line", xspace_add_by_line, METH_VARARGS, add_by_line_doc},
    {"event_chunks", xspace_event_chunks, METH_VARARGS, event_chunks_doc},
    {"event_span", xspace_event_span, METH_VARARGS, event_span_doc},
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
