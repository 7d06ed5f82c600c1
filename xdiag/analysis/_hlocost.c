/* The HLO cost model (xdiag/analysis/hlo/cost.py) over serialized module bytes.
 *
 * Why C: a training step's module has tens of thousands of instructions.
 * Building a Python object per instruction and costing it in Python took about
 * a second per capture, half of what ingesting a trainer capture costs. Here
 * the HloModuleProto wire format is walked once into flat arrays and every
 * instruction is costed from them, with the GIL released: ~100x faster.
 *
 * The rules live here, once: cost.py's module docstring states them and its
 * Python API (`module_cost`, `OpCost`, ...) wraps these results. What stays in
 * Python is what it does best or what profile events share:
 *   - which opcodes are elementwise, transcendental, slicing, no-traffic, and
 *     each opcode's and custom-call target's category (tables passed in), and
 *     the bits per element of each PrimitiveType;
 *   - reading JSON backend configs (while trip counts, custom-call cost
 *     estimates, GEMM dimension numbers), which only a few instructions carry:
 *     `decode` hands those configs out and `cost` takes what Python read.
 *
 * Calls:
 *   decode(data, dtype_bits) -> handle. data: HloModuleProto or HloProto bytes.
 *     dtype_bits: int16 per PrimitiveType value: bits per element, 0 for a
 *     non-array type, -1 for tuple (types past its end: 32-bit arrays).
 *   info(handle) -> (module name, opcodes, targets, configs, names, codes)
 *     opcodes/targets: the distinct opcode and custom-call target strings
 *     (the target "" included); configs: (instruction, opcode code, target
 *     code, backend_config bytes) of every while and custom-call that has one;
 *     names: every instruction's name, in module order; codes: int32 pairs
 *     (opcode code, target code) per instruction.
 *   cost(handle, op_cat, op_flags, tgt_cat, tgt_kind, collective, ncat,
 *        trips, estimates, gemm_dims) -> (columns, totals, whiles)
 *     op_cat/op_flags: int8/uint8 per opcode code; tgt_cat/tgt_kind per target
 *     code; trips {instruction: n}, estimates {instruction: (flops, trans)},
 *     gemm_dims {instruction: lhs contracting dims}. columns: bytes of int64
 *     flops, transcendentals, bytes read, bytes written, collective bytes and
 *     int8 category, fused category (-1: none), complete, note, one entry per
 *     instruction in module order; totals of the entry computation; whiles: the
 *     while instructions the totals expanded.
 *
 * Safety: every read is bounds-checked; malformed input, out-of-range
 * dimension indices and too-deep nesting become ValueError. Sums saturate at
 * INT64_MAX instead of wrapping.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/wire.h"

#define MAX_DEPTH 200   /* nested messages / computations; real modules use < 20 */
#define MAX_CAT 16

/* ------------------------------------------------------------------------ */
/* Growable arrays */

typedef struct { int64_t *v; size_t n, cap; } I64s;
typedef struct { int32_t *v; size_t n, cap; } I32s;

static int i64_push(I64s *a, int64_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int64_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v; a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static int i32_push(I32s *a, int32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v; a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q; *cap = c;
    return 0;
}

typedef struct { const uint8_t *p; size_t n; } Str;

/* A run of an I64s / I32s pool. */
typedef struct { size_t off; int32_t n; } Run;

/* ------------------------------------------------------------------------ */
/* Model */

typedef struct {
    Str key;               /* its bytes, for interning */
    int32_t bits;          /* -1 tuple, 0 non-array, else bits per element */
    Run dims;              /* M.i64 */
    Run kids;              /* M.i32: child shape indices */
    int64_t element_bits;
    int64_t num_elements, byte_size;
    int64_t max_leaf;      /* largest leaf's bytes (0 without leaves) */
    int32_t first_leaf;    /* first leaf depth-first (itself unless a tuple), -1 none */
} Shape;

typedef struct { int64_t size, stride, pad_lo, pad_hi, wdil, bdil; } WinDim;

enum {  /* opcodes the formulas single out */
    OP_OTHER, OP_FUSION, OP_MAP, OP_DOT, OP_RAGGED_DOT, OP_CONV, OP_REDUCE, OP_REDUCING_COLL,
    OP_REDUCE_WINDOW, OP_SCATTER, OP_SELECT_AND_SCATTER, OP_SORT, OP_CUSTOM_CALL, OP_DUS,
    OP_ASYNC_START, OP_ASYNC_UPDATE, OP_ASYNC_DONE, OP_WHILE, OP_CALL, OP_CONDITIONAL,
    OP_PARAMETER, OP_BITCAST,
};

typedef struct {
    Str name, backend, op_name;  /* op_name: the framework's name stack (metadata) */
    int32_t opcode, target, shape, comp;
    int64_t id, param_no;
    Run ops, called;        /* raw ids (i64) */
    Run rops, rcalled;      /* resolved instruction / computation indices (i32) */
    uint8_t has_dot, has_ragged, has_conv, has_window;
    Run dot_lc, rag_lc, rag_lr;
    int64_t c_kin, c_ofeat, c_obatch;
    Run c_osp, c_isp;
    Run win;                /* M.wins */
} Ins;

typedef struct {
    Str name;
    int64_t id, root_id;
    int32_t first, n;       /* instructions [first, first + n) */
    int32_t root;           /* resolved root instruction */
} Comp;

typedef struct { Str s; int32_t special; uint8_t starts, dones; } Op;

typedef struct { uint64_t h; int32_t idx; } Slot;   /* open addressing, idx -1 empty */

typedef struct {
    PyObject *data;         /* keeps the bytes alive: Str point into it */
    Str name, entry_name;
    int64_t entry_id;
    int32_t entry;
    Shape *shapes; size_t nshapes, shapes_cap;
    Slot *shape_tab; size_t shape_tab_cap;
    Ins *ins; size_t nins, ins_cap;
    Comp *comps; size_t ncomps, comps_cap;
    Op *opcodes; size_t nops, ops_cap;
    Str *targets; size_t ntargets, targets_cap;
    WinDim *wins; size_t nwins, wins_cap;
    I64s i64;
    I32s i32;
    /* users: CSR over instructions */
    int32_t *user_ptr, *users;
    const int16_t *dtype_bits; size_t ndtype;
    char err[200];
} M;

static int failf(M *m, const char *msg, size_t at) {
    if (!m->err[0]) snprintf(m->err, sizeof m->err, "%s at byte %zu", msg, at);
    return -1;
}

static int oom(M *m) {
    if (!m->err[0]) snprintf(m->err, sizeof m->err, "out of memory");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Wire reading */

typedef struct { const uint8_t *base; size_t pos, end; } Rd;

static int rd_varint(M *m, Rd *r, uint64_t *out) {
    int e = wire_varint(r->base, &r->pos, r->end, out);
    return e ? failf(m, wire_errors[e], r->pos) : 0;
}

static int rd_tag(M *m, Rd *r, uint32_t *field, int *wt) {
    size_t at = r->pos;
    int e = wire_tag(r->base, &r->pos, r->end, field, wt);
    return e ? failf(m, wire_errors[e], at) : 0;
}

/* The body of a length-delimited field as its own reader. */
static int rd_sub(M *m, Rd *r, Rd *sub) {
    size_t at = r->pos;
    uint64_t len;
    int e = wire_len(r->base, &r->pos, r->end, &len);
    if (e) return failf(m, wire_errors[e], at);
    sub->base = r->base; sub->pos = r->pos; sub->end = r->pos + (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

/* Skips a field this model does not read (errors are placed after its tag). */
static int skip(M *m, Rd *r, int wt, uint32_t field) {
    size_t at;
    int e = wire_skip(r->base, &r->pos, r->end, field, wt, r->pos, 0, &at);
    return e ? failf(m, wire_errors[e], at) : 0;
}

static int want(M *m, Rd *r, int wt, int expect) {
    return wt == expect ? 0 : failf(m, "unexpected wire type for a field the cost model reads", r->pos);
}

static int rd_int(M *m, Rd *r, int wt, int64_t *out) {
    uint64_t v;
    if (want(m, r, wt, WT_VARINT) || rd_varint(m, r, &v)) return -1;
    *out = (int64_t)v;
    return 0;
}

static int rd_str(M *m, Rd *r, int wt, Str *out) {
    Rd sub;
    if (want(m, r, wt, WT_LEN) || rd_sub(m, r, &sub)) return -1;
    out->p = sub.base + sub.pos; out->n = sub.end - sub.pos;
    return 0;
}

/* A repeated int64, packed or not, appended to `into`. */
static int rd_rep(M *m, Rd *r, int wt, I64s *into) {
    uint64_t v;
    if (wt == WT_VARINT) {
        if (rd_varint(m, r, &v)) return -1;
        return i64_push(into, (int64_t)v) ? oom(m) : 0;
    }
    Rd sub;
    if (want(m, r, wt, WT_LEN) || rd_sub(m, r, &sub)) return -1;
    while (sub.pos < sub.end) {
        if (rd_varint(m, &sub, &v)) return -1;
        if (i64_push(into, (int64_t)v)) return oom(m);
    }
    return 0;
}

/* Moves a scratch list into the shared pool as one run. */
static int commit(M *m, I64s *tmp, Run *run) {
    run->off = m->i64.n; run->n = (int32_t)tmp->n;
    if (tmp->n > INT32_MAX) return failf(m, "repeated field too long", 0);
    for (size_t k = 0; k < tmp->n; k++)
        if (i64_push(&m->i64, tmp->v[k])) return oom(m);
    tmp->n = 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Saturating arithmetic: Python's ints never overflow; ours stop at the top. */

static inline int64_t smul(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
    return r;
}

static inline int64_t sadd(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return a < 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* ------------------------------------------------------------------------ */
/* Shapes, interned by their bytes: a module repeats a few hundred shapes
 * tens of thousands of times. */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ n;
    for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static int shape_tab_insert(M *m, uint64_t h, int32_t idx) {
    if ((m->nshapes + 1) * 2 > m->shape_tab_cap) {
        size_t cap = m->shape_tab_cap ? m->shape_tab_cap * 2 : 1024;
        Slot *t = malloc(cap * sizeof *t);
        if (!t) return oom(m);
        for (size_t k = 0; k < cap; k++) t[k].idx = -1;
        for (size_t k = 0; k < m->shape_tab_cap; k++) {
            if (m->shape_tab[k].idx < 0) continue;
            size_t j = m->shape_tab[k].h & (cap - 1);
            while (t[j].idx >= 0) j = (j + 1) & (cap - 1);
            t[j] = m->shape_tab[k];
        }
        free(m->shape_tab);
        m->shape_tab = t; m->shape_tab_cap = cap;
    }
    size_t j = h & (m->shape_tab_cap - 1);
    while (m->shape_tab[j].idx >= 0) j = (j + 1) & (m->shape_tab_cap - 1);
    m->shape_tab[j].h = h; m->shape_tab[j].idx = idx;
    return 0;
}

/* Sizes as module.py's Shape defines them (num_elements, byte_size, leaves()). */
static void shape_sizes(M *m, Shape *sh, int32_t self) {
    if (sh->bits == -1) {  /* tuple: sums and maxima over its children */
        sh->num_elements = 0; sh->byte_size = 0; sh->max_leaf = 0; sh->first_leaf = -1;
        for (int32_t k = 0; k < sh->kids.n; k++) {
            const Shape *kid = &m->shapes[m->i32.v[sh->kids.off + k]];
            sh->byte_size = sadd(sh->byte_size, kid->byte_size);
            if (kid->max_leaf > sh->max_leaf) sh->max_leaf = kid->max_leaf;
            if (sh->first_leaf < 0) sh->first_leaf = kid->first_leaf;
        }
        return;
    }
    sh->first_leaf = self;
    if (sh->bits == 0) { sh->num_elements = 0; sh->byte_size = 0; sh->max_leaf = 0; return; }
    int64_t n = 1;
    for (int32_t k = 0; k < sh->dims.n; k++) n = smul(n, m->i64.v[sh->dims.off + k]);
    sh->num_elements = n;
    int64_t bits = sh->element_bits ? sh->element_bits : sh->bits;
    sh->byte_size = sadd(smul(n, bits), 7) / 8;
    sh->max_leaf = sh->byte_size;
}

static int shape_of(M *m, Str bytes, int depth, int32_t *out);

static int decode_shape(M *m, Str bytes, int depth, Shape *sh) {
    Rd r = {bytes.p, 0, bytes.n};
    int64_t etype = 0;
    I32s kids = {0};
    I64s dims = {0};
    int rc = -1;
    memset(sh, 0, sizeof *sh);
    sh->key = bytes;
    while (r.pos < r.end) {
        uint32_t f; int wt;
        if (rd_tag(m, &r, &f, &wt)) goto done;
        if (f == 2) {
            if (rd_int(m, &r, wt, &etype)) goto done;
        } else if (f == 3) {
            if (rd_rep(m, &r, wt, &dims)) goto done;
        } else if (f == 4) {
            Str kid; int32_t k;
            if (rd_str(m, &r, wt, &kid) || shape_of(m, kid, depth + 1, &k)) goto done;
            if (i32_push(&kids, k)) { oom(m); goto done; }
        } else if (f == 5) {  /* layout: only the packed element size matters */
            Rd lay;
            if (want(m, &r, wt, WT_LEN) || rd_sub(m, &r, &lay)) goto done;
            while (lay.pos < lay.end) {
                uint32_t lf; int lwt;
                if (rd_tag(m, &lay, &lf, &lwt)) goto done;
                if (lf == 7) { if (rd_int(m, &lay, lwt, &sh->element_bits)) goto done; }
                else if (skip(m, &lay, lwt, lf)) goto done;
            }
        } else if (skip(m, &r, wt, f)) goto done;
    }
    /* Types past the table are newer than our enum: arrays, 32 bits as in Python. */
    sh->bits = (etype >= 0 && (uint64_t)etype < m->ndtype) ? m->dtype_bits[etype] : 32;
    if (commit(m, &dims, &sh->dims)) goto done;
    sh->kids.off = m->i32.n; sh->kids.n = (int32_t)kids.n;
    for (size_t k = 0; k < kids.n; k++)
        if (i32_push(&m->i32, kids.v[k])) { oom(m); goto done; }
    rc = 0;
done:
    free(kids.v); free(dims.v);
    return rc;
}

static int shape_of(M *m, Str bytes, int depth, int32_t *out) {
    if (depth > MAX_DEPTH) return failf(m, "tuple shapes nest too deep", 0);
    uint64_t h = hash_bytes(bytes.p, bytes.n);
    if (m->shape_tab_cap) {
        for (size_t j = h & (m->shape_tab_cap - 1); m->shape_tab[j].idx >= 0;
             j = (j + 1) & (m->shape_tab_cap - 1)) {
            const Slot *s = &m->shape_tab[j];
            Str k = m->shapes[s->idx].key;
            if (s->h == h && k.n == bytes.n && memcmp(k.p, bytes.p, k.n) == 0) {
                *out = s->idx;
                return 0;
            }
        }
    }
    Shape sh;
    if (decode_shape(m, bytes, depth, &sh)) return -1;
    if (grow((void **)&m->shapes, &m->shapes_cap, m->nshapes + 1, sizeof(Shape))) return oom(m);
    int32_t idx = (int32_t)m->nshapes++;
    m->shapes[idx] = sh;
    shape_sizes(m, &m->shapes[idx], idx);
    if (shape_tab_insert(m, h, idx)) return -1;
    *out = idx;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Opcodes and targets, interned (a module uses a few dozen of each). */

static const struct { const char *name; int32_t special; } SPECIAL[] = {
    {"fusion", OP_FUSION}, {"map", OP_MAP}, {"dot", OP_DOT}, {"ragged-dot", OP_RAGGED_DOT},
    {"convolution", OP_CONV}, {"reduce", OP_REDUCE}, {"all-reduce", OP_REDUCING_COLL},
    {"all-reduce-start", OP_REDUCING_COLL}, {"reduce-scatter", OP_REDUCING_COLL},
    {"reduce-scatter-start", OP_REDUCING_COLL}, {"reduce-window", OP_REDUCE_WINDOW},
    {"scatter", OP_SCATTER}, {"select-and-scatter", OP_SELECT_AND_SCATTER}, {"sort", OP_SORT},
    {"custom-call", OP_CUSTOM_CALL}, {"dynamic-update-slice", OP_DUS},
    {"async-start", OP_ASYNC_START}, {"async-update", OP_ASYNC_UPDATE},
    {"async-done", OP_ASYNC_DONE}, {"while", OP_WHILE}, {"call", OP_CALL},
    {"conditional", OP_CONDITIONAL}, {"parameter", OP_PARAMETER}, {"bitcast", OP_BITCAST},
};

static int str_eq(Str s, const char *c) {
    size_t n = strlen(c);
    return s.n == n && memcmp(s.p, c, n) == 0;
}

static int ends_with(Str s, const char *c) {
    size_t n = strlen(c);
    return s.n >= n && memcmp(s.p + s.n - n, c, n) == 0;
}

static int intern_opcode(M *m, Str s, int32_t *out) {
    for (size_t k = 0; k < m->nops; k++)
        if (m->opcodes[k].s.n == s.n && memcmp(m->opcodes[k].s.p, s.p, s.n) == 0) {
            *out = (int32_t)k;
            return 0;
        }
    if (grow((void **)&m->opcodes, &m->ops_cap, m->nops + 1, sizeof(Op))) return oom(m);
    Op *op = &m->opcodes[m->nops];
    op->s = s; op->special = OP_OTHER;
    for (size_t k = 0; k < sizeof SPECIAL / sizeof SPECIAL[0]; k++)
        if (str_eq(s, SPECIAL[k].name)) op->special = SPECIAL[k].special;
    op->starts = (uint8_t)ends_with(s, "-start");
    op->dones = (uint8_t)ends_with(s, "-done");
    *out = (int32_t)m->nops++;
    return 0;
}

static int intern_target(M *m, Str s, int32_t *out) {
    for (size_t k = 0; k < m->ntargets; k++)
        if (m->targets[k].n == s.n && memcmp(m->targets[k].p, s.p, s.n) == 0) {
            *out = (int32_t)k;
            return 0;
        }
    if (grow((void **)&m->targets, &m->targets_cap, m->ntargets + 1, sizeof(Str))) return oom(m);
    m->targets[m->ntargets] = s;
    *out = (int32_t)m->ntargets++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Decoding: module -> computations -> instructions. */

typedef struct { I64s dims, ops, called, dot_lc, rag_lc, rag_lr, osp, isp; } Scratch;

static void scratch_free(Scratch *s) {
    free(s->dims.v); free(s->ops.v); free(s->called.v); free(s->dot_lc.v);
    free(s->rag_lc.v); free(s->rag_lr.v); free(s->osp.v); free(s->isp.v);
}

static int decode_dot(M *m, Rd *r, int wt, I64s *lhs_contracting) {
    Rd d;
    if (want(m, r, wt, WT_LEN) || rd_sub(m, r, &d)) return -1;
    while (d.pos < d.end) {
        uint32_t f; int w;
        if (rd_tag(m, &d, &f, &w)) return -1;
        if (f == 1) { if (rd_rep(m, &d, w, lhs_contracting)) return -1; }
        else if (skip(m, &d, w, f)) return -1;
    }
    return 0;
}

static int decode_window(M *m, Rd *r, int wt) {
    Rd w;
    if (want(m, r, wt, WT_LEN) || rd_sub(m, r, &w)) return -1;
    while (w.pos < w.end) {
        uint32_t f; int fw;
        if (rd_tag(m, &w, &f, &fw)) return -1;
        if (f != 1) { if (skip(m, &w, fw, f)) return -1; continue; }
        Rd d;
        if (want(m, &w, fw, WT_LEN) || rd_sub(m, &w, &d)) return -1;
        int64_t v[7] = {0};
        while (d.pos < d.end) {
            uint32_t df; int dw;
            if (rd_tag(m, &d, &df, &dw)) return -1;
            if (df >= 1 && df <= 6) { if (rd_int(m, &d, dw, &v[df])) return -1; }
            else if (skip(m, &d, dw, df)) return -1;
        }
        if (grow((void **)&m->wins, &m->wins_cap, m->nwins + 1, sizeof(WinDim))) return oom(m);
        /* Unset stride and dilations mean 1, as module.py's WindowDim reads them. */
        m->wins[m->nwins++] = (WinDim){v[1], v[2] ? v[2] : 1, v[3], v[4], v[5] ? v[5] : 1,
                                       v[6] ? v[6] : 1};
    }
    return 0;
}

static int decode_instruction(M *m, Str bytes, int32_t comp, Scratch *s) {
    if (grow((void **)&m->ins, &m->ins_cap, m->nins + 1, sizeof(Ins))) return oom(m);
    Ins *in = &m->ins[m->nins];
    memset(in, 0, sizeof *in);
    in->comp = comp;
    Str opcode = {(const uint8_t *)"", 0}, target = {(const uint8_t *)"", 0};
    size_t win_first = m->nwins;
    int has_shape = 0;
    Rd r = {bytes.p, 0, bytes.n};
    while (r.pos < r.end) {
        uint32_t f; int wt;
        if (rd_tag(m, &r, &f, &wt)) return -1;
        int rc = 0;
        switch (f) {
        case 1: rc = rd_str(m, &r, wt, &in->name); break;
        case 2: rc = rd_str(m, &r, wt, &opcode); break;
        case 3: {
            Str sh;
            has_shape = 1;
            rc = rd_str(m, &r, wt, &sh) || shape_of(m, sh, 0, &in->shape);
            break;
        }
        case 7: {  /* OpMetadata: op_name (2) is the JAX name stack, e.g. jit(f)/experts/dot */
            Rd md;
            if (want(m, &r, wt, WT_LEN) || rd_sub(m, &r, &md)) return -1;
            while (md.pos < md.end && !rc) {
                uint32_t mf; int mw;
                if (rd_tag(m, &md, &mf, &mw)) return -1;
                if (mf == 2) rc = rd_str(m, &md, mw, &in->op_name);
                else rc = skip(m, &md, mw, mf);
            }
            break;
        }
        case 9: rc = rd_int(m, &r, wt, &in->param_no); break;
        case 15: in->has_window = 1; rc = decode_window(m, &r, wt); break;
        case 16: {
            Rd c;
            in->has_conv = 1;
            if (want(m, &r, wt, WT_LEN) || rd_sub(m, &r, &c)) return -1;
            while (c.pos < c.end && !rc) {
                uint32_t cf; int cw;
                if (rd_tag(m, &c, &cf, &cw)) return -1;
                if (cf == 3) rc = rd_int(m, &c, cw, &in->c_kin);
                else if (cf == 9) rc = rd_int(m, &c, cw, &in->c_obatch);
                else if (cf == 10) rc = rd_int(m, &c, cw, &in->c_ofeat);
                else if (cf == 11) rc = rd_rep(m, &c, cw, &s->isp);
                else if (cf == 12) rc = rd_rep(m, &c, cw, &s->osp);
                else rc = skip(m, &c, cw, cf);
            }
            break;
        }
        case 28: rc = rd_str(m, &r, wt, &target); break;
        case 30: in->has_dot = 1; rc = decode_dot(m, &r, wt, &s->dot_lc); break;
        case 35: rc = rd_int(m, &r, wt, &in->id); break;
        case 36: rc = rd_rep(m, &r, wt, &s->ops); break;
        case 38: rc = rd_rep(m, &r, wt, &s->called); break;
        case 43: rc = rd_str(m, &r, wt, &in->backend); break;
        case 90: {
            Rd g;
            in->has_ragged = 1;
            if (want(m, &r, wt, WT_LEN) || rd_sub(m, &r, &g)) return -1;
            while (g.pos < g.end && !rc) {
                uint32_t gf; int gw;
                if (rd_tag(m, &g, &gf, &gw)) return -1;
                if (gf == 1) rc = decode_dot(m, &g, gw, &s->rag_lc);
                else if (gf == 2) rc = rd_rep(m, &g, gw, &s->rag_lr);
                else rc = skip(m, &g, gw, gf);
            }
            break;
        }
        default: rc = skip(m, &r, wt, f);
        }
        if (rc) return -1;
    }
    if (!has_shape) {  /* an unset shape reads as the empty (invalid-type) one */
        Str none = {(const uint8_t *)"", 0};
        if (shape_of(m, none, 0, &in->shape)) return -1;
    }
    if (intern_opcode(m, opcode, &in->opcode) || intern_target(m, target, &in->target)) return -1;
    in->win.off = win_first; in->win.n = (int32_t)(m->nwins - win_first);
    if (commit(m, &s->ops, &in->ops) || commit(m, &s->called, &in->called) ||
        commit(m, &s->dot_lc, &in->dot_lc) || commit(m, &s->rag_lc, &in->rag_lc) ||
        commit(m, &s->rag_lr, &in->rag_lr) || commit(m, &s->osp, &in->c_osp) ||
        commit(m, &s->isp, &in->c_isp))
        return -1;
    m->nins++;
    return 0;
}

static int decode_computation(M *m, Str bytes, Scratch *s) {
    if (grow((void **)&m->comps, &m->comps_cap, m->ncomps + 1, sizeof(Comp))) return oom(m);
    int32_t ci = (int32_t)m->ncomps;
    Comp c = {0};
    c.first = (int32_t)m->nins; c.root = -1;
    Rd r = {bytes.p, 0, bytes.n};
    while (r.pos < r.end) {
        uint32_t f; int wt;
        if (rd_tag(m, &r, &f, &wt)) return -1;
        int rc;
        if (f == 1) rc = rd_str(m, &r, wt, &c.name);
        else if (f == 2) {
            Str in;
            rc = rd_str(m, &r, wt, &in) || decode_instruction(m, in, ci, s);
        } else if (f == 5) rc = rd_int(m, &r, wt, &c.id);
        else if (f == 6) rc = rd_int(m, &r, wt, &c.root_id);
        else rc = skip(m, &r, wt, f);
        if (rc) return -1;
    }
    if (m->nins - (size_t)c.first > INT32_MAX) return failf(m, "too many instructions", 0);
    c.n = (int32_t)(m->nins - (size_t)c.first);
    m->comps[m->ncomps++] = c;
    return 0;
}

static int decode_module(M *m, Str bytes) {
    Scratch s = {0};
    int rc = 0;
    Rd r = {bytes.p, 0, bytes.n};
    while (r.pos < r.end && !rc) {
        uint32_t f; int wt;
        if (rd_tag(m, &r, &f, &wt)) { rc = -1; break; }
        if (f == 1) rc = rd_str(m, &r, wt, &m->name);
        else if (f == 2) rc = rd_str(m, &r, wt, &m->entry_name);
        else if (f == 3) {
            Str c;
            rc = rd_str(m, &r, wt, &c) || decode_computation(m, c, &s);
        } else if (f == 6) rc = rd_int(m, &r, wt, &m->entry_id);
        else rc = skip(m, &r, wt, f);
    }
    scratch_free(&s);
    return rc;
}

/* Whether `bytes` is an HloProto wrapper: its field 1 a message holding
 * computations (a bare module's field 1 is its name, which never reads so). */
static int wrapped_module(M *m, Str bytes, Str *inner) {
    Rd r = {bytes.p, 0, bytes.n};
    int found = 0;
    while (r.pos < r.end) {
        uint32_t f; int wt;
        if (rd_tag(m, &r, &f, &wt)) return 0;
        if (f == 1 && wt == WT_LEN) {
            if (rd_str(m, &r, wt, inner)) return 0;
            found = 1;
        } else if (skip(m, &r, wt, f)) return 0;
    }
    if (!found) return 0;
    Rd in = {inner->p, 0, inner->n};
    int comps = 0;
    while (in.pos < in.end) {
        uint32_t f; int wt;
        if (rd_tag(m, &in, &f, &wt)) return 0;
        if (f == 3 && wt == WT_LEN) comps = 1;
        if (skip(m, &in, wt, f)) return 0;
    }
    return comps;
}

/* ------------------------------------------------------------------------ */
/* Resolution: operand ids and called computation ids to indices, as
 * module.py resolves them (operands within their computation; unknown ids
 * dropped; the last of duplicate ids wins). */

typedef struct { int64_t id; int32_t comp, idx; } IdSlot;
typedef struct { IdSlot *s; size_t cap; } IdTab;

static uint64_t mix(int64_t id, int32_t comp) {
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(uint32_t)comp << 17);
    x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ULL; x ^= x >> 29;
    return x;
}

static int idtab_init(IdTab *t, size_t n) {
    t->cap = 16;
    while (t->cap < 2 * n + 2) t->cap *= 2;
    t->s = malloc(t->cap * sizeof *t->s);
    if (!t->s) return -1;
    for (size_t k = 0; k < t->cap; k++) t->s[k].idx = -1;
    return 0;
}

static void idtab_put(IdTab *t, int64_t id, int32_t comp, int32_t idx) {
    size_t j = mix(id, comp) & (t->cap - 1);
    while (t->s[j].idx >= 0 && !(t->s[j].id == id && t->s[j].comp == comp)) j = (j + 1) & (t->cap - 1);
    t->s[j].id = id; t->s[j].comp = comp; t->s[j].idx = idx;
}

static int32_t idtab_get(const IdTab *t, int64_t id, int32_t comp) {
    for (size_t j = mix(id, comp) & (t->cap - 1); t->s[j].idx >= 0; j = (j + 1) & (t->cap - 1))
        if (t->s[j].id == id && t->s[j].comp == comp) return t->s[j].idx;
    return -1;
}

static int resolve(M *m) {
    IdTab ins = {0}, comps = {0};
    int32_t *stamp = NULL, *count = NULL;
    int rc = -1;
    if (idtab_init(&ins, m->nins) || idtab_init(&comps, m->ncomps)) { oom(m); goto done; }
    for (size_t c = 0; c < m->ncomps; c++) {
        idtab_put(&comps, m->comps[c].id, -1, (int32_t)c);
        for (int32_t k = 0; k < m->comps[c].n; k++) {
            int32_t i = m->comps[c].first + k;
            idtab_put(&ins, m->ins[i].id, (int32_t)c, i);
        }
    }
    for (size_t c = 0; c < m->ncomps; c++) {
        Comp *cp = &m->comps[c];
        cp->root = idtab_get(&ins, cp->root_id, (int32_t)c);
        if (cp->root < 0 && cp->n) cp->root = cp->first + cp->n - 1;  /* XLA's last */
    }
    for (size_t i = 0; i < m->nins; i++) {
        Ins *in = &m->ins[i];
        in->rops.off = m->i32.n;
        for (int32_t k = 0; k < in->ops.n; k++) {
            int32_t o = idtab_get(&ins, m->i64.v[in->ops.off + k], in->comp);
            if (o >= 0 && i32_push(&m->i32, o)) { oom(m); goto done; }
        }
        in->rops.n = (int32_t)(m->i32.n - in->rops.off);
        in->rcalled.off = m->i32.n;
        for (int32_t k = 0; k < in->called.n; k++) {
            int32_t c = idtab_get(&comps, m->i64.v[in->called.off + k], -1);
            if (c >= 0 && i32_push(&m->i32, c)) { oom(m); goto done; }
        }
        in->rcalled.n = (int32_t)(m->i32.n - in->rcalled.off);
    }
    /* Entry: by id, else by name, else the last computation (module.py's rule). */
    m->entry = idtab_get(&comps, m->entry_id, -1);
    for (size_t c = 0; m->entry < 0 && c < m->ncomps; c++)
        if (m->comps[c].name.n == m->entry_name.n &&
            memcmp(m->comps[c].name.p, m->entry_name.p, m->entry_name.n) == 0)
            m->entry = (int32_t)c;
    if (m->entry < 0) m->entry = (int32_t)m->ncomps - 1;
    /* Users (CSR), each user once per value, in computation order. */
    stamp = malloc((m->nins + 1) * sizeof *stamp);
    count = calloc(m->nins + 1, sizeof *count);
    m->user_ptr = calloc(m->nins + 1, sizeof *m->user_ptr);
    if (!stamp || !count || !m->user_ptr) { oom(m); goto done; }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < m->nins; k++) stamp[k] = -1;
        for (size_t i = 0; i < m->nins; i++) {
            const Ins *in = &m->ins[i];
            for (int32_t k = 0; k < in->ops.n; k++) {
                int32_t o = idtab_get(&ins, m->i64.v[in->ops.off + k], in->comp);
                if (o < 0 || stamp[o] == (int32_t)i) continue;
                stamp[o] = (int32_t)i;
                if (pass == 0) count[o + 1]++;
                else m->users[m->user_ptr[o] + count[o]++] = (int32_t)i;
            }
        }
        if (pass == 0) {
            for (size_t k = 0; k < m->nins; k++) m->user_ptr[k + 1] = m->user_ptr[k] + count[k + 1];
            m->users = malloc(((size_t)m->user_ptr[m->nins] + 1) * sizeof *m->users);
            if (!m->users) { oom(m); goto done; }
            memset(count, 0, (m->nins + 1) * sizeof *count);
        }
    }
    rc = 0;
done:
    free(ins.s); free(comps.s); free(stamp); free(count);
    return rc;
}

static void module_free(M *m) {
    if (!m) return;
    free(m->shapes); free(m->shape_tab); free(m->ins); free(m->comps); free(m->opcodes);
    free(m->targets); free(m->wins); free(m->i64.v); free(m->i32.v);
    free(m->user_ptr); free(m->users);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Costing */

/* op_flags; F_ON_DEMAND: in a fusion, computed element by element for its consumers
 * (elementwise ops, bitcasts, reshapes, transposes), so reading through it reads only the
 * elements a later slice or gather selects. */
enum { F_TRANS = 1, F_ELEM = 2, F_NO_TRAFFIC = 4, F_SLICING = 8, F_ON_DEMAND = 16 };
enum { TK_OTHER = 0, TK_GEMM = 1, TK_CONV = 2, TK_NOOP = 3 };        /* tgt_kind */
enum { N_NONE = 0, N_ESTIMATE = 1, N_ASSUMED = 2, N_UNKNOWN = 3 };   /* notes */

typedef struct {
    int64_t flops, trans, br, bw, coll;
    int8_t cat, fcat;
    uint8_t complete, note;
} Cost;

typedef struct {
    int64_t flops, trans, br, bw, coll;
    uint8_t complete;
    int64_t fbc[MAX_CAT], bbc[MAX_CAT];   /* flops / bytes by category */
} Tot;

typedef struct {
    M *m;
    const int8_t *op_cat, *tgt_cat;
    const uint8_t *op_flags, *tgt_kind;
    int8_t collective;
    int ncat;
    /* What Python read from backend configs, per instruction. */
    uint8_t *has_trips, *has_est, *has_gemm;
    int64_t *trips, *est_f, *est_t;
    Run *gemm;
    I64s gemm_pool;
    /* Memos: 0 not started, 1 in progress, 2 done. */
    Cost *cost; uint8_t *cstate;
    Tot *tot; uint8_t *tstate;
    int64_t *sf, *st; uint8_t *sstate;
    uint8_t *while_seen;
    int depth;
} C;

static inline const Ins *INS(const C *c, int32_t i) { return &c->m->ins[i]; }
static inline const Shape *SH(const C *c, int32_t s) { return &c->m->shapes[s]; }
static inline const Op *OPC(const C *c, int32_t i) { return &c->m->opcodes[c->m->ins[i].opcode]; }
static inline int32_t ROP(const C *c, const Ins *in, int32_t k) { return c->m->i32.v[in->rops.off + k]; }
static inline int32_t RCALLED(const C *c, const Ins *in, int32_t k) { return c->m->i32.v[in->rcalled.off + k]; }
static inline int64_t bytes_of_ins(const C *c, int32_t i) { return SH(c, INS(c, i)->shape)->byte_size; }

static inline int32_t first_array(const C *c, int32_t s) {
    int32_t f = SH(c, s)->first_leaf;
    return f >= 0 ? f : s;
}

static int root_of(C *c, int32_t comp, int32_t *out) {
    *out = c->m->comps[comp].root;
    if (*out < 0) {
        snprintf(c->m->err, sizeof c->m->err, "computation %.*s has no instructions",
                 (int)c->m->comps[comp].name.n, (const char *)c->m->comps[comp].name.p);
        return -1;
    }
    return 0;
}

static int8_t category_of(const C *c, int32_t i) {
    const Ins *in = INS(c, i);
    return OPC(c, i)->special == OP_CUSTOM_CALL ? c->tgt_cat[in->target] : c->op_cat[in->opcode];
}

/* categorize_instruction: async wrappers take the wrapped op's category. */
static int categorize(C *c, int32_t i, int8_t *out) {
    int32_t cur = i;
    for (int k = 0; k < 8; k++) {
        int32_t sp = OPC(c, cur)->special;
        if (sp != OP_ASYNC_START && sp != OP_ASYNC_UPDATE && sp != OP_ASYNC_DONE) break;
        const Ins *in = INS(c, cur);
        if (in->rcalled.n) {
            int32_t root;
            if (root_of(c, RCALLED(c, in, 0), &root)) return -1;
            *out = category_of(c, root);
            return 0;
        }
        if (!in->rops.n) break;
        cur = ROP(c, in, 0);
    }
    *out = category_of(c, i);
    return 0;
}

/* shape.dims[idx] with Python's indexing (negative from the end). */
static int dim_at(C *c, int32_t s, int64_t idx, int64_t *out) {
    const Shape *sh = SH(c, s);
    int64_t n = sh->dims.n;
    if (idx < 0) idx += n;
    if (idx < 0 || idx >= n) {
        snprintf(c->m->err, sizeof c->m->err, "dimension index out of range for a %lld-d shape",
                 (long long)n);
        return -1;
    }
    *out = c->m->i64.v[sh->dims.off + idx];
    return 0;
}

/* prod(shape.dims[d] for d in dims if d < len(shape.dims)) */
static int dims_product(C *c, int32_t s, const int64_t *dims, int32_t n, int64_t *out) {
    int64_t p = 1;
    for (int32_t k = 0; k < n; k++) {
        if (dims[k] >= SH(c, s)->dims.n) continue;
        int64_t d;
        if (dim_at(c, s, dims[k], &d)) return -1;
        p = smul(p, d);
    }
    *out = p;
    return 0;
}

static int dot_flops(C *c, int32_t lhs, int32_t out, const int64_t *lc, int32_t n, int64_t *flops) {
    int64_t contraction;
    if (dims_product(c, lhs, lc, n, &contraction)) return -1;
    *flops = smul(smul(2, SH(c, first_array(c, out))->num_elements), contraction);
    return 0;
}

static int64_t valid_taps(int64_t out_size, int64_t in_size, const WinDim *w) {
    int64_t limit = (in_size - 1) * w->bdil, count = 0;
    for (int64_t k = 0; k < w->size; k++) {
        int64_t offset = k * w->wdil - w->pad_lo;
        for (int64_t o = 0; o < out_size; o++) {
            int64_t p = o * w->stride + offset;
            if (p >= 0 && p <= limit && p % w->bdil == 0) count++;
        }
    }
    return count;
}

static int conv_flops(C *c, int32_t i, int32_t lhs, int32_t rhs, int32_t out_shape, int64_t *flops) {
    const Ins *in = INS(c, i);
    int32_t out = first_array(c, out_shape);
    *flops = 0;
    if (!in->has_conv) return 0;
    int64_t kin = 1, kout = 1, batch = 1, taps = 1;
    if (SH(c, rhs)->dims.n && dim_at(c, rhs, in->c_kin, &kin)) return -1;
    if (SH(c, out)->dims.n && (dim_at(c, out, in->c_ofeat, &kout) || dim_at(c, out, in->c_obatch, &batch)))
        return -1;
    int32_t n = in->c_osp.n < in->c_isp.n ? in->c_osp.n : in->c_isp.n;
    for (int32_t k = 0; k < n; k++) {
        int64_t od, id;
        if (dim_at(c, out, c->m->i64.v[in->c_osp.off + k], &od)) return -1;
        if (k < in->win.n) {
            if (dim_at(c, lhs, c->m->i64.v[in->c_isp.off + k], &id)) return -1;
            taps = smul(taps, valid_taps(od, id, &c->m->wins[in->win.off + k]));
        } else {
            taps = smul(taps, od);
        }
    }
    *flops = smul(smul(smul(smul(2, batch), kout), kin), taps);
    return 0;
}

static int cost_of(C *c, int32_t i, const Cost **out);
static int total_of(C *c, int32_t comp, const Tot **out);

/* (flops, transcendentals) of one application of the op's to_apply. */
static int scalar_fn(C *c, int32_t i, int64_t *f, int64_t *t) {
    const Ins *in = INS(c, i);
    if (!in->rcalled.n) { *f = 1; *t = 0; return 0; }  /* a reducer we can't see: one op */
    int32_t comp = RCALLED(c, in, 0);
    if (!c->sstate[comp]) {
        c->sstate[comp] = 1;  /* (0, 0) while in progress, as cost.py's recursion guard */
        int64_t sf = 0, st = 0;
        const Comp *cp = &c->m->comps[comp];
        for (int32_t k = 0; k < cp->n; k++) {
            const Cost *ck;
            if (cost_of(c, cp->first + k, &ck)) return -1;
            sf = sadd(sf, ck->flops); st = sadd(st, ck->trans);
        }
        c->sf[comp] = sf; c->st[comp] = st; c->sstate[comp] = 2;
    }
    *f = c->sf[comp]; *t = c->st[comp];
    return 0;
}

static int custom_call(C *c, int32_t i, int64_t *f, int64_t *t, uint8_t *note) {
    const Ins *in = INS(c, i);
    int kind = c->tgt_kind[in->target];
    *f = 0; *t = 0; *note = N_NONE;
    if (c->has_est[i]) {  /* a declared cost_estimate (Pallas kernels): trusted */
        *f = c->est_f[i]; *t = c->est_t[i]; *note = N_ESTIMATE;
        return 0;
    }
    if (kind == TK_GEMM && in->rops.n >= 2) {
        int32_t lhs = INS(c, ROP(c, in, 0))->shape;
        if (c->has_gemm[i])
            return dot_flops(c, lhs, in->shape, c->gemm_pool.v + c->gemm[i].off, c->gemm[i].n, f);
        int64_t last = (int64_t)SH(c, lhs)->dims.n - 1;
        *note = N_ASSUMED;
        return dot_flops(c, lhs, in->shape, &last, 1, f);
    }
    if (kind == TK_CONV && in->has_conv && in->rops.n >= 2)
        return conv_flops(c, i, INS(c, ROP(c, in, 0))->shape, INS(c, ROP(c, in, 1))->shape,
                          in->shape, f);
    if (kind == TK_NOOP) return 0;
    *note = N_UNKNOWN;
    return 0;
}

/* FLOPs and transcendentals of a non-fusion instruction. */
static int compute(C *c, int32_t i, int64_t *f, int64_t *t, uint8_t *note) {
    const Ins *in = INS(c, i);
    const Op *op = OPC(c, i);
    int64_t n_out = SH(c, first_array(c, in->shape))->num_elements;
    int32_t nops = in->rops.n;
    int64_t sf, st;
    *f = 0; *t = 0; *note = N_NONE;
    uint8_t flags = c->op_flags[in->opcode];
    if (flags & F_TRANS) { *t = n_out; return 0; }
    if (op->special == OP_MAP) {
        if (scalar_fn(c, i, &sf, &st)) return -1;
        *f = smul(n_out, sf); *t = smul(n_out, st);
        return 0;
    }
    if (flags & F_ELEM) { *f = n_out; return 0; }
    switch (op->special) {
    case OP_DOT:
        if (in->has_dot && nops)
            return dot_flops(c, INS(c, ROP(c, in, 0))->shape, in->shape,
                             c->m->i64.v + in->dot_lc.off, in->dot_lc.n, f);
        return 0;
    case OP_RAGGED_DOT: {
        if (!in->has_ragged || nops < 3) return 0;
        int32_t lhs = INS(c, ROP(c, in, 0))->shape, groups = INS(c, ROP(c, in, 2))->shape;
        const int64_t *lc = c->m->i64.v + in->rag_lc.off, *lr = c->m->i64.v + in->rag_lr.off;
        if (dot_flops(c, lhs, in->shape, lc, in->rag_lc.n, f)) return -1;
        int ragged_contracting = 0;  /* ragged dims among the contracting ones */
        for (int32_t a = 0; a < in->rag_lr.n; a++)
            for (int32_t b = 0; b < in->rag_lc.n; b++) ragged_contracting |= lr[a] == lc[b];
        if (ragged_contracting) {
            int64_t g = 1;
            if (SH(c, groups)->dims.n && dim_at(c, groups, -1, &g)) return -1;
            int64_t d = g > 1 ? g : 1;
            /* Python's floor division */
            *f = (*f / d) - ((*f % d != 0) && ((*f < 0) != (d < 0)));
        }
        return 0;
    }
    case OP_CONV:
        if (nops < 2) return 0;
        return conv_flops(c, i, INS(c, ROP(c, in, 0))->shape, INS(c, ROP(c, in, 1))->shape,
                          in->shape, f);
    case OP_REDUCE:
    case OP_REDUCING_COLL: {
        int64_t n_in = nops ? SH(c, first_array(c, INS(c, ROP(c, in, 0))->shape))->num_elements : 0;
        if (scalar_fn(c, i, &sf, &st)) return -1;
        int64_t apps = op->special == OP_REDUCE ? n_in - n_out : n_in;
        if (apps < 0) apps = 0;
        *f = smul(apps, sf); *t = smul(apps, st);
        return 0;
    }
    case OP_REDUCE_WINDOW: {
        int64_t win = 1;
        for (int32_t k = 0; k < in->win.n; k++) win = smul(win, c->m->wins[in->win.off + k].size);
        if (scalar_fn(c, i, &sf, &st)) return -1;
        *f = smul(smul(n_out, win - 1), sf); *t = smul(smul(n_out, win - 1), st);
        return 0;
    }
    case OP_SCATTER: {
        if (nops < 3) return 0;
        int64_t n_upd = SH(c, first_array(c, INS(c, ROP(c, in, nops - 1))->shape))->num_elements;
        if (scalar_fn(c, i, &sf, &st)) return -1;
        *f = smul(n_upd, sf); *t = smul(n_upd, st);
        return 0;
    }
    case OP_SELECT_AND_SCATTER: {
        if (nops < 2) return 0;
        int64_t win = 1;
        for (int32_t k = 0; k < in->win.n; k++) win = smul(win, c->m->wins[in->win.off + k].size);
        int64_t n_src = SH(c, INS(c, ROP(c, in, 1))->shape)->num_elements;
        *f = sadd(smul(n_src, win), n_src);  /* one compare per tap, one add per source */
        return 0;
    }
    case OP_SORT: {
        if (!nops) return 0;
        int64_t n = SH(c, first_array(c, INS(c, ROP(c, in, 0))->shape))->num_elements;
        if (scalar_fn(c, i, &sf, &st)) return -1;
        int64_t logn = n > 1 ? (int64_t)ceil(log2((double)n)) : 0;
        *f = smul(smul(n, logn), sf); *t = smul(smul(n, logn), st);
        return 0;
    }
    case OP_CUSTOM_CALL:
        return custom_call(c, i, f, t, note);
    default:
        return 0;
    }
}

static int64_t operand_bytes(const C *c, const Ins *in, int32_t from) {
    int64_t s = 0;
    for (int32_t k = from; k < in->rops.n; k++) s = sadd(s, bytes_of_ins(c, ROP(c, in, k)));
    return s;
}

/* Bytes read and written by a non-fusion instruction. */
static void bytes_moved(const C *c, int32_t i, int64_t *br, int64_t *bw) {
    const Ins *in = INS(c, i);
    const Op *op = OPC(c, i);
    uint8_t flags = c->op_flags[in->opcode];
    int32_t nops = in->rops.n;
    *br = 0; *bw = 0;
    if (flags & F_NO_TRAFFIC) return;
    int64_t out = SH(c, in->shape)->byte_size;
    if (flags & F_SLICING) {  /* only the selected window of the data operand is read */
        *br = sadd(out, operand_bytes(c, in, 1)); *bw = out;
        return;
    }
    if (op->special == OP_DUS && nops >= 2) {  /* in place: the rest is untouched */
        int64_t upd = bytes_of_ins(c, ROP(c, in, 1));
        *br = sadd(upd, operand_bytes(c, in, 2)); *bw = upd;
        return;
    }
    if (op->special == OP_SCATTER && nops >= 3) {  /* reads old values and updates */
        int32_t n = (nops - 1) / 2;
        int64_t idx = bytes_of_ins(c, ROP(c, in, n)), upd = operand_bytes(c, in, n + 1);
        *br = sadd(idx, smul(2, upd)); *bw = upd;
        return;
    }
    /* Async starts return (operands..., result..., context): only the result is new. */
    if (op->starts && SH(c, in->shape)->bits == -1) out = SH(c, in->shape)->max_leaf;
    *br = operand_bytes(c, in, 0); *bw = out;
}

/* Bytes a fused parameter really reads if only slices or gathers of it are used (through
 * bitcasts and ops computed on demand, e.g. a bf16 -> f32 convert before a gather): the
 * selected elements at the parameter's own element size; -1 when some use needs the
 * whole value (the root, a reduce, a dot...). */
static int64_t sliced_bytes(const C *c, int32_t param) {
    const M *m = c->m;
    int64_t total = 0;
    int64_t bits = SH(c, INS(c, param)->shape)->element_bits;
    int32_t stack[256];
    int top = 0;
    stack[top++] = param;
    for (size_t steps = 0; top; steps++) {
        int32_t v = stack[--top];
        int32_t a = m->user_ptr[v], b = m->user_ptr[v + 1];
        if (a == b || steps > m->nins) return -1;
        for (int32_t k = a; k < b; k++) {
            int32_t u = m->users[k];
            const Ins *ui = INS(c, u);
            if (OPC(c, u)->special == OP_BITCAST || (c->op_flags[ui->opcode] & F_ON_DEMAND)) {
                if (top == 256) return -1;
                stack[top++] = u;
            } else if ((c->op_flags[ui->opcode] & F_SLICING) && ui->ops.n &&
                       m->i64.v[ui->ops.off] == INS(c, v)->id) {
                const Shape *out = SH(c, ui->shape);
                total = sadd(total, bits > 0 ? smul(out->num_elements, (bits + 7) / 8)
                                             : out->byte_size);
            } else {
                return -1;
            }
        }
    }
    return total;
}

static int fusion_bytes(C *c, int32_t i, int32_t fused, int64_t *br, int64_t *bw) {
    const M *m = c->m;
    const Ins *in = INS(c, i);
    const Comp *cp = &m->comps[fused];
    int32_t root;
    if (root_of(c, fused, &root)) return -1;
    /* Parameters by number (a stable insertion sort: fused computations are small). */
    int32_t *params = malloc(((size_t)cp->n + 1) * sizeof *params);
    if (!params) return oom(c->m), -1;
    int32_t np = 0;
    for (int32_t k = 0; k < cp->n; k++) {
        int32_t j = cp->first + k;
        if (OPC(c, j)->special != OP_PARAMETER) continue;
        int32_t at = np++;
        while (at > 0 && INS(c, params[at - 1])->param_no > INS(c, j)->param_no) {
            params[at] = params[at - 1];
            at--;
        }
        params[at] = j;
    }
    /* An in-place update: the buffer parameter aliased with the output is not
     * read in full and only the update is written (a scatter also reads the old values
     * it combines with). */
    int64_t dus_param = -1, written = SH(c, in->shape)->byte_size, read = 0;
    const Ins *ri = INS(c, root);
    if (OPC(c, root)->special == OP_DUS && ri->rops.n &&
        OPC(c, ROP(c, ri, 0))->special == OP_PARAMETER) {
        dus_param = INS(c, ROP(c, ri, 0))->param_no;
        if (ri->rops.n > 1) written = bytes_of_ins(c, ROP(c, ri, 1));
    } else if (OPC(c, root)->special == OP_SCATTER && ri->rops.n == 3 &&
               OPC(c, ROP(c, ri, 0))->special == OP_PARAMETER &&
               SH(c, INS(c, ROP(c, ri, 0))->shape)->byte_size == written) {
        dus_param = INS(c, ROP(c, ri, 0))->param_no;
        written = bytes_of_ins(c, ROP(c, ri, 2));
        read = written;
    }
    for (int32_t k = 0; k < in->rops.n; k++) {
        int64_t full = bytes_of_ins(c, ROP(c, in, k));
        int32_t p = (k < np && INS(c, params[k])->param_no == k) ? params[k] : -1;
        if (p < 0) { read = sadd(read, full); continue; }
        if (k == dus_param && m->user_ptr[p + 1] - m->user_ptr[p] == 1) continue;
        int64_t sliced = sliced_bytes(c, p);
        read = sadd(read, sliced < 0 ? full : (sliced < full ? sliced : full));
    }
    free(params);
    *br = read; *bw = written;
    return 0;
}

/* The category of a fusion's work: its op with the most FLOPs, else its root's. */
static int fused_category(C *c, int32_t comp, int8_t *out) {
    const Comp *cp = &c->m->comps[comp];
    int8_t best = -1;
    int64_t best_flops = -1;
    for (int32_t k = 0; k < cp->n; k++) {
        int32_t j = cp->first + k;
        const Cost *cj;
        if (cost_of(c, j, &cj)) return -1;
        int64_t w = sadd(cj->flops, cj->trans);
        if (w > best_flops && !(c->op_flags[INS(c, j)->opcode] & F_NO_TRAFFIC)) {
            best = cj->cat; best_flops = w;
        }
    }
    if (best_flops > 0) { *out = best; return 0; }
    int32_t root;
    return root_of(c, comp, &root) || categorize(c, root, out);
}

static int nest(C *c) {
    if (++c->depth > MAX_DEPTH) {
        snprintf(c->m->err, sizeof c->m->err, "HLO computations nest deeper than %d", MAX_DEPTH);
        return -1;
    }
    return 0;
}

static int cost_of(C *c, int32_t i, const Cost **out) {
    *out = &c->cost[i];
    if (c->cstate[i] == 2) return 0;
    if (c->cstate[i] == 1) {
        snprintf(c->m->err, sizeof c->m->err, "instruction %.*s depends on itself",
                 (int)INS(c, i)->name.n, (const char *)INS(c, i)->name.p);
        return -1;
    }
    if (nest(c)) return -1;
    c->cstate[i] = 1;
    const Ins *in = INS(c, i);
    int32_t sp = OPC(c, i)->special;
    Cost r = {0};
    r.fcat = -1; r.complete = 1;
    if (categorize(c, i, &r.cat)) return -1;
    if (sp == OP_FUSION && in->rcalled.n) {
        int32_t fused = RCALLED(c, in, 0);
        const Tot *inner;
        if (total_of(c, fused, &inner)) return -1;
        r.flops = inner->flops; r.trans = inner->trans; r.coll = inner->coll;
        r.complete = inner->complete;
        if (fusion_bytes(c, i, fused, &r.br, &r.bw) || fused_category(c, fused, &r.fcat)) return -1;
    } else if (sp == OP_ASYNC_START && in->rcalled.n) {
        int32_t wrapped = RCALLED(c, in, 0), root;
        const Tot *inner;
        const Cost *rc;
        if (total_of(c, wrapped, &inner) || root_of(c, wrapped, &root) || cost_of(c, root, &rc))
            return -1;
        r.flops = inner->flops; r.trans = inner->trans; r.br = inner->br; r.bw = inner->bw;
        r.coll = inner->coll; r.complete = inner->complete; r.fcat = rc->cat;
    } else {
        if (compute(c, i, &r.flops, &r.trans, &r.note)) return -1;
        bytes_moved(c, i, &r.br, &r.bw);
        if (r.cat == c->collective && !OPC(c, i)->dones) {
            int64_t ops = operand_bytes(c, in, 0), biggest = SH(c, in->shape)->max_leaf;
            r.coll = ops > biggest ? ops : biggest;
        }
        r.complete = r.note != N_UNKNOWN;
    }
    c->cost[i] = r;
    c->cstate[i] = 2;
    c->depth--;
    return 0;
}

static void tot_add_op(Tot *t, const Cost *k, int ncat) {
    t->flops = sadd(t->flops, k->flops); t->trans = sadd(t->trans, k->trans);
    t->br = sadd(t->br, k->br); t->bw = sadd(t->bw, k->bw); t->coll = sadd(t->coll, k->coll);
    t->complete = t->complete && k->complete;
    if (k->cat >= 0 && k->cat < ncat) {
        t->fbc[k->cat] = sadd(t->fbc[k->cat], k->flops);
        t->bbc[k->cat] = sadd(t->bbc[k->cat], sadd(k->br, k->bw));
    }
}

static void tot_add(Tot *t, const Tot *o, int64_t times, int ncat) {
    t->flops = sadd(t->flops, smul(o->flops, times)); t->trans = sadd(t->trans, smul(o->trans, times));
    t->br = sadd(t->br, smul(o->br, times)); t->bw = sadd(t->bw, smul(o->bw, times));
    t->coll = sadd(t->coll, smul(o->coll, times));
    t->complete = t->complete && o->complete;
    for (int k = 0; k < ncat; k++) {
        t->fbc[k] = sadd(t->fbc[k], smul(o->fbc[k], times));
        t->bbc[k] = sadd(t->bbc[k], smul(o->bbc[k], times));
    }
}

/* Cost of running a computation once, nested control flow expanded. */
static int total_of(C *c, int32_t comp, const Tot **out) {
    Tot *t = &c->tot[comp];
    *out = t;
    if (c->tstate[comp]) return 0;  /* done, or in progress: the partial sum, as cost.py */
    if (nest(c)) return -1;
    c->tstate[comp] = 1;
    t->complete = 1;
    const Comp *cp = &c->m->comps[comp];
    for (int32_t k = 0; k < cp->n; k++) {
        int32_t i = cp->first + k;
        const Ins *in = INS(c, i);
        const Cost *ci;
        if (cost_of(c, i, &ci)) return -1;
        tot_add_op(t, ci, c->ncat);
        if (!in->rcalled.n) continue;
        int32_t sp = OPC(c, i)->special;
        if (sp == OP_WHILE) {
            Tot body;
            memset(&body, 0, sizeof body);
            body.complete = 1;
            c->while_seen[i] = 1;
            for (int32_t j = 0; j < in->rcalled.n; j++) {  /* body and condition */
                const Tot *part;
                if (total_of(c, RCALLED(c, in, j), &part)) return -1;
                tot_add(&body, part, 1, c->ncat);
            }
            tot_add(t, &body, c->has_trips[i] ? c->trips[i] : 1, c->ncat);
            if (!c->has_trips[i]) t->complete = 0;
        } else if (sp == OP_CALL) {
            const Tot *part;
            if (total_of(c, RCALLED(c, in, 0), &part)) return -1;
            tot_add(t, part, 1, c->ncat);
        } else if (sp == OP_CONDITIONAL) {  /* the most expensive branch */
            const Tot *best = NULL;
            for (int32_t j = 0; j < in->rcalled.n; j++) {
                const Tot *part;
                if (total_of(c, RCALLED(c, in, j), &part)) return -1;
                if (!best || part->flops > best->flops ||
                    (part->flops == best->flops && sadd(part->br, part->bw) > sadd(best->br, best->bw)))
                    best = part;
            }
            /* copy first: `best` may be `t` itself in a malformed module */
            Tot b = *best;
            tot_add(t, &b, 1, c->ncat);
        }
    }
    c->tstate[comp] = 2;
    c->depth--;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Python bindings */

typedef struct { M *m; Py_buffer buf; } Handle;

static void handle_free(PyObject *cap) {
    Handle *h = PyCapsule_GetPointer(cap, "xdiag.hlocost");
    if (!h) return;
    module_free(h->m);
    PyBuffer_Release(&h->buf);
    PyMem_Free(h);
}

static Handle *handle_of(PyObject *cap) {
    return PyCapsule_GetPointer(cap, "xdiag.hlocost");
}

static PyObject *bad(const M *m) {
    PyErr_Format(PyExc_ValueError, "malformed HLO module proto: %s", m->err[0] ? m->err : "?");
    return NULL;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer bits;
    Handle *h = PyMem_Calloc(1, sizeof *h);
    if (!h) return PyErr_NoMemory();
    if (!PyArg_ParseTuple(args, "y*y*", &h->buf, &bits)) { PyMem_Free(h); return NULL; }
    M *m = calloc(1, sizeof *m);
    int16_t *dtype_bits = m ? malloc((size_t)bits.len + 2) : NULL;
    if (!m || !dtype_bits) {
        free(m); free(dtype_bits);
        PyBuffer_Release(&bits); PyBuffer_Release(&h->buf); PyMem_Free(h);
        return PyErr_NoMemory();
    }
    memcpy(dtype_bits, bits.buf, (size_t)bits.len);
    m->dtype_bits = dtype_bits; m->ndtype = (size_t)bits.len / 2;
    PyBuffer_Release(&bits);
    h->m = m;
    Str all = {h->buf.buf, (size_t)h->buf.len}, inner;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    int wrapped = wrapped_module(m, all, &inner);
    m->err[0] = 0;
    rc = decode_module(m, wrapped ? inner : all);
    if (!rc && !m->ncomps) rc = failf(m, "no computations", 0);
    if (!rc) rc = resolve(m);
    Py_END_ALLOW_THREADS
    m->dtype_bits = NULL;  /* only shapes read it */
    free(dtype_bits);
    if (rc) {
        PyObject *err = bad(m);
        module_free(m); PyBuffer_Release(&h->buf); PyMem_Free(h);
        return err;
    }
    PyObject *cap = PyCapsule_New(h, "xdiag.hlocost", handle_free);
    if (!cap) { module_free(m); PyBuffer_Release(&h->buf); PyMem_Free(h); }
    return cap;
}

static PyObject *text(Str s) {
    if (!s.n) return PyUnicode_FromStringAndSize("", 0);
    return PyUnicode_DecodeUTF8((const char *)s.p, (Py_ssize_t)s.n, "replace");
}

static PyObject *info(PyObject *self, PyObject *cap) {
    (void)self;
    Handle *h = handle_of(cap);
    if (!h) return NULL;
    const M *m = h->m;
    PyObject *opcodes = PyList_New((Py_ssize_t)m->nops);
    PyObject *targets = PyList_New((Py_ssize_t)m->ntargets);
    PyObject *names = PyList_New((Py_ssize_t)m->nins);
    PyObject *op_names = PyList_New((Py_ssize_t)m->nins);
    PyObject *configs = PyList_New(0);
    PyObject *name = text(m->name);
    if (!opcodes || !targets || !names || !op_names || !configs || !name) goto fail;
    for (size_t k = 0; k < m->nops; k++) {
        PyObject *s = text(m->opcodes[k].s);
        if (!s) goto fail;
        PyList_SET_ITEM(opcodes, (Py_ssize_t)k, s);
    }
    for (size_t k = 0; k < m->ntargets; k++) {
        PyObject *s = text(m->targets[k]);
        if (!s) goto fail;
        PyList_SET_ITEM(targets, (Py_ssize_t)k, s);
    }
    for (size_t i = 0; i < m->nins; i++) {
        const Ins *in = &m->ins[i];
        PyObject *s = text(in->name);
        if (!s) goto fail;
        PyList_SET_ITEM(names, (Py_ssize_t)i, s);
        PyObject *on = text(in->op_name);
        if (!on) goto fail;
        PyList_SET_ITEM(op_names, (Py_ssize_t)i, on);
        int32_t sp = m->opcodes[in->opcode].special;
        if (!in->backend.n || (sp != OP_WHILE && sp != OP_CUSTOM_CALL)) continue;
        PyObject *t = Py_BuildValue("(niiy#)", (Py_ssize_t)i, in->opcode, in->target,
                                    (const char *)in->backend.p, (Py_ssize_t)in->backend.n);
        if (!t || PyList_Append(configs, t)) { Py_XDECREF(t); goto fail; }
        Py_DECREF(t);
    }
    PyObject *codes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(m->nins * 8));
    if (!codes) goto fail;
    int32_t *cc = (int32_t *)PyBytes_AS_STRING(codes);
    for (size_t i = 0; i < m->nins; i++) {
        cc[2 * i] = m->ins[i].opcode;
        cc[2 * i + 1] = m->ins[i].target;
    }
    return Py_BuildValue("(NNNNNNN)", name, opcodes, targets, configs, names, codes, op_names);
fail:
    Py_XDECREF(opcodes); Py_XDECREF(targets); Py_XDECREF(names); Py_XDECREF(configs);
    Py_XDECREF(name); Py_XDECREF(op_names);
    return NULL;
}

static void coster_free(C *c) {
    free(c->has_trips); free(c->has_est); free(c->has_gemm); free(c->trips); free(c->est_f);
    free(c->est_t); free(c->gemm); free(c->gemm_pool.v); free(c->cost); free(c->cstate);
    free(c->tot); free(c->tstate); free(c->sf); free(c->st); free(c->sstate); free(c->while_seen);
}

/* Index of a dict key naming an instruction, checked. */
static int key_index(PyObject *key, size_t n, Py_ssize_t *out) {
    *out = PyLong_AsSsize_t(key);
    if (*out == -1 && PyErr_Occurred()) return -1;
    if (*out < 0 || (size_t)*out >= n) {
        PyErr_SetString(PyExc_IndexError, "instruction index out of range");
        return -1;
    }
    return 0;
}

static int table(Py_buffer *b, size_t need, const char *what) {
    if ((size_t)b->len < need) {
        PyErr_Format(PyExc_ValueError, "%s table has %zd entries, needs %zu", what, b->len, need);
        return -1;
    }
    return 0;
}

static PyObject *cost(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cap, *trips, *estimates, *gemm;
    Py_buffer op_cat, op_flags, tgt_cat, tgt_kind;
    int collective, ncat;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*iiO!O!O!", &cap, &op_cat, &op_flags, &tgt_cat,
                          &tgt_kind, &collective, &ncat, &PyDict_Type, &trips, &PyDict_Type,
                          &estimates, &PyDict_Type, &gemm))
        return NULL;
    PyObject *result = NULL;
    C c;
    memset(&c, 0, sizeof c);
    Handle *h = handle_of(cap);
    if (!h) goto out;
    M *m = h->m;
    size_t n = m->nins;
    if (table(&op_cat, m->nops, "opcode category") || table(&op_flags, m->nops, "opcode flag") ||
        table(&tgt_cat, m->ntargets, "target category") || table(&tgt_kind, m->ntargets, "target kind"))
        goto out;
    if (ncat < 1 || ncat > MAX_CAT) { PyErr_SetString(PyExc_ValueError, "bad category count"); goto out; }
    c.m = m; c.op_cat = op_cat.buf; c.op_flags = op_flags.buf; c.tgt_cat = tgt_cat.buf;
    c.tgt_kind = tgt_kind.buf; c.collective = (int8_t)collective; c.ncat = ncat;
    size_t nn = n + 1, nc = m->ncomps + 1;
    c.has_trips = calloc(nn, 1); c.has_est = calloc(nn, 1); c.has_gemm = calloc(nn, 1);
    c.trips = calloc(nn, 8); c.est_f = calloc(nn, 8); c.est_t = calloc(nn, 8);
    c.gemm = calloc(nn, sizeof(Run)); c.cost = calloc(nn, sizeof(Cost)); c.cstate = calloc(nn, 1);
    c.while_seen = calloc(nn, 1);
    c.tot = calloc(nc, sizeof(Tot)); c.tstate = calloc(nc, 1); c.sf = calloc(nc, 8);
    c.st = calloc(nc, 8); c.sstate = calloc(nc, 1);
    if (!c.has_trips || !c.has_est || !c.has_gemm || !c.trips || !c.est_f || !c.est_t || !c.gemm ||
        !c.cost || !c.cstate || !c.while_seen || !c.tot || !c.tstate || !c.sf || !c.st || !c.sstate) {
        PyErr_NoMemory();
        goto out;
    }
    PyObject *key, *val;
    Py_ssize_t pos = 0, i;
    while (PyDict_Next(trips, &pos, &key, &val)) {
        if (key_index(key, n, &i)) goto out;
        c.trips[i] = PyLong_AsLongLong(val);
        if (c.trips[i] == -1 && PyErr_Occurred()) goto out;
        c.has_trips[i] = 1;
    }
    pos = 0;
    while (PyDict_Next(estimates, &pos, &key, &val)) {
        long long f, t;
        if (key_index(key, n, &i) || !PyArg_ParseTuple(val, "LL", &f, &t)) goto out;
        c.est_f[i] = f; c.est_t[i] = t; c.has_est[i] = 1;
    }
    pos = 0;
    while (PyDict_Next(gemm, &pos, &key, &val)) {
        if (key_index(key, n, &i)) goto out;
        PyObject *seq = PySequence_Fast(val, "gemm dimensions must be a sequence");
        if (!seq) goto out;
        c.gemm[i].off = c.gemm_pool.n;
        c.gemm[i].n = (int32_t)PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(seq); k++) {
            long long d = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, k));
            if ((d == -1 && PyErr_Occurred()) || i64_push(&c.gemm_pool, d)) {
                Py_DECREF(seq);
                if (!PyErr_Occurred()) PyErr_NoMemory();
                goto out;
            }
        }
        Py_DECREF(seq);
        c.has_gemm[i] = 1;
    }
    /* Tables must not send the model out of bounds. */
    for (size_t k = 0; k < m->nops; k++)
        if (((const int8_t *)op_cat.buf)[k] < 0 || ((const int8_t *)op_cat.buf)[k] >= ncat) {
            PyErr_SetString(PyExc_ValueError, "opcode category out of range");
            goto out;
        }
    for (size_t k = 0; k < m->ntargets; k++)
        if (((const int8_t *)tgt_cat.buf)[k] < 0 || ((const int8_t *)tgt_cat.buf)[k] >= ncat) {
            PyErr_SetString(PyExc_ValueError, "target category out of range");
            goto out;
        }
    int rc = 0;
    const Tot *total = NULL;
    m->err[0] = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = total_of(&c, m->entry, &total);
    for (size_t k = 0; !rc && k < n; k++) {
        const Cost *ck;
        rc = cost_of(&c, (int32_t)k, &ck);
    }
    Py_END_ALLOW_THREADS
    if (rc) { PyErr_Format(PyExc_ValueError, "HLO cost model: %s", m->err); goto out; }
    int64_t *cols[5];
    int8_t *small[5];
    PyObject *outs[10] = {0};
    for (int k = 0; k < 5; k++) outs[k] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    for (int k = 5; k < 10; k++) outs[k] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    for (int k = 0; k < 10; k++)
        if (!outs[k]) { for (int j = 0; j < 10; j++) Py_XDECREF(outs[j]); goto out; }
    for (int k = 0; k < 5; k++) cols[k] = (int64_t *)PyBytes_AS_STRING(outs[k]);
    for (int k = 0; k < 5; k++) small[k] = (int8_t *)PyBytes_AS_STRING(outs[5 + k]);
    for (size_t k = 0; k < n; k++) {
        const Cost *ck = &c.cost[k];
        cols[0][k] = ck->flops; cols[1][k] = ck->trans; cols[2][k] = ck->br; cols[3][k] = ck->bw;
        cols[4][k] = ck->coll;
        small[0][k] = ck->cat; small[1][k] = ck->fcat; small[2][k] = (int8_t)ck->complete;
        small[3][k] = (int8_t)ck->note;
    }
    /* in_fusion: the instruction is inside a fused computation (its cost is its fusion's
     * too), through nested fusions. Computations called from fused ones are fused. */
    {
        uint8_t *fused = c.sstate;  /* one byte per computation, free once totals are in */
        memset(fused, 0, nc);
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t k = 0; k < n; k++) {
                const Ins *in = &m->ins[k];
                int sp = m->opcodes[in->opcode].special;
                if (!in->rcalled.n || !(sp == OP_FUSION || (in->comp >= 0 && fused[in->comp])))
                    continue;
                for (int32_t j = 0; j < in->rcalled.n; j++) {
                    int32_t cc = RCALLED(&c, in, j);
                    if (cc >= 0 && (size_t)cc < m->ncomps && !fused[cc]) { fused[cc] = 1; changed = 1; }
                }
            }
        }
        for (size_t k = 0; k < n; k++)
            small[4][k] = (int8_t)(m->ins[k].comp >= 0 && fused[m->ins[k].comp]);
    }
    PyObject *fbc = PyTuple_New(ncat), *bbc = PyTuple_New(ncat), *whiles = PyList_New(0);
    PyObject *columns = PyTuple_New(10);
    if (!fbc || !bbc || !whiles || !columns) {
        Py_XDECREF(fbc); Py_XDECREF(bbc); Py_XDECREF(whiles); Py_XDECREF(columns);
        for (int j = 0; j < 10; j++) Py_XDECREF(outs[j]);
        goto out;
    }
    for (int k = 0; k < 10; k++) PyTuple_SET_ITEM(columns, k, outs[k]);
    for (int k = 0; k < ncat; k++) {
        PyTuple_SET_ITEM(fbc, k, PyLong_FromLongLong(total->fbc[k]));
        PyTuple_SET_ITEM(bbc, k, PyLong_FromLongLong(total->bbc[k]));
    }
    for (size_t k = 0; k < n; k++) {
        if (!c.while_seen[k]) continue;
        PyObject *v = PyLong_FromSsize_t((Py_ssize_t)k);
        if (!v || PyList_Append(whiles, v)) { Py_XDECREF(v); break; }
        Py_DECREF(v);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(fbc); Py_DECREF(bbc); Py_DECREF(whiles); Py_DECREF(columns);
        goto out;
    }
    result = Py_BuildValue("(N(LLLLLONN)N)", columns, (long long)total->flops,
                           (long long)total->trans, (long long)total->br, (long long)total->bw,
                           (long long)total->coll, total->complete ? Py_True : Py_False, fbc, bbc,
                           whiles);
out:
    coster_free(&c);
    PyBuffer_Release(&op_cat); PyBuffer_Release(&op_flags);
    PyBuffer_Release(&tgt_cat); PyBuffer_Release(&tgt_kind);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS, "Decodes HloModuleProto or HloProto bytes into a handle."},
    {"info", info, METH_O, "(name, opcodes, targets, configs, names, codes, op_names) of a handle."},
    {"cost", cost, METH_VARARGS, "Per-instruction cost columns and entry totals."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hlocost", NULL, -1, methods,
                                     NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__hlocost(void) { return PyModule_Create(&module); }
