/* The passes over slices and events that numpy cannot vectorise, or would make in
 * several passes, for the timeline index and the per-event work of ingest. Calls from
 * Python: sort_slices, build_lod and self_times (the index: analysis/timeline.py), find_ranges,
 * emit_slices and compact_names (a viewport and its wire columns), ps_to_ns (event
 * times), moved_ops and route_events (analysis/tracks.py), row_sums (the op table's
 * sums). Those a viewer waits on split their work over threads (core/threads.h).
 *
 * sort_slices is built on two passes over one track's slices sorted by start ascending
 * and, for equal starts, end descending (parents before children):
 *
 * row_pass: the row (depth) of each slice and its parent. A slice nests under the
 *   innermost open slice of the same line (host thread) that contains it: that is the
 *   only true nesting (a while op and its body ops run on one thread). Slices that merely
 *   overlap -- ops of one device run concurrently on several threads, a GPU stream's
 *   kernels (a track with nesting off) -- take the lowest row free at their start, below
 *   their parent if they have one. So rows never hold overlapping slices, a child is
 *   always below its parent, and depth means nesting only where events truly nest. For
 *   one thread's properly nested slices this is the classic stack of open intervals.
 *
 * self_pass: the self time of each slice. At every instant the track's time goes to
 *   the slices running then that have no running child (its "leaves"), split evenly
 *   among them when several run at once. So a parent's self time excludes its children,
 *   concurrent slices share the time they overlap, and the self times of a track add
 *   up exactly to its busy time (the union of its slices).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "../core/threads.h"

/* Element i of an integer column whose width (2, 4 or 8 bytes, signed) the caller
 * passes: the index's columns are as narrow as their values allow. */
static inline int64_t int_at(const void *b, int size, Py_ssize_t i) {
    return size == 2 ? (int64_t)((const int16_t *)b)[i]
         : size == 4 ? (int64_t)((const int32_t *)b)[i] : ((const int64_t *)b)[i];
}

/* Rows of one track: row_end[r] is the end of the last slice put in row r. */
typedef struct {
    int64_t *end;
    int32_t n, cap;
} rows_t;

static int32_t take_row(rows_t *R, int32_t lo, int64_t start, int64_t end) {
    int32_t r = lo;
    while (r < R->n && R->end[r] > start) r++;
    if (r >= R->n) {
        if (R->n >= R->cap) {
            int32_t cap = R->cap ? 2 * R->cap : 64;
            int64_t *grown = realloc(R->end, (size_t)cap * sizeof(int64_t));
            if (!grown) return -1;
            R->end = grown;
            R->cap = cap;
        }
        while (R->n <= r) R->end[R->n++] = INT64_MIN;
    }
    R->end[r] = end;
    return r;
}

/* line: the line (thread) of each slice, or NULL (all one line); line_top: scratch of
 * n_lines entries, all -1 on entry and on return. nests == 0: no slice nests (lanes). */
static int row_pass(const int64_t *s, const int64_t *e, const int32_t *line, int nests,
                    int32_t *row, int64_t *parent, int64_t *line_top, Py_ssize_t m) {
    rows_t R = {NULL, 0, 0};
    int rc = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t p = -1;
        if (nests) {
            int32_t L = line ? line[i] : 0;
            int64_t t = line_top[L];
            while (t >= 0 && e[t] <= s[i]) t = parent[t];  /* ended: pop */
            while (t >= 0 && e[t] < e[i]) t = parent[t];   /* overlaps, no containment */
            p = t;
            line_top[L] = i;
        }
        int32_t r = take_row(&R, p >= 0 ? row[p] + 1 : 0, s[i], e[i]);
        if (r < 0) { rc = -1; break; }
        row[i] = r;
        parent[i] = p;
    }
    if (nests)
        for (Py_ssize_t i = 0; i < m; i++) line_top[line ? line[i] : 0] = -1;
    free(R.end);
    return rc;
}

/* Running slices by end (ties: the later slice first, so a child ends before a parent
 * that ends with it). */
typedef struct { int64_t end, idx; } open_t;

static void open_push(open_t *h, Py_ssize_t *n, open_t v) {
    Py_ssize_t i = (*n)++;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (h[p].end < v.end || (h[p].end == v.end && h[p].idx > v.idx)) break;
        h[i] = h[p]; i = p;
    }
    h[i] = v;
}

static open_t open_pop(open_t *h, Py_ssize_t *n) {
    open_t top = h[0], last = h[--(*n)];
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && (h[c + 1].end < h[c].end ||
                           (h[c + 1].end == h[c].end && h[c + 1].idx > h[c].idx))) c++;
        if (last.end < h[c].end || (last.end == h[c].end && last.idx > h[c].idx)) break;
        h[i] = h[c]; i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

typedef struct {
    double *self;                /* shares accumulate exactly enough in doubles */
    int32_t *n_child, *leaf_at;  /* running children; position in `leaf` or -1 */
    int64_t *leaf;
    Py_ssize_t n_leaf;
    int64_t busy;                /* ns with at least one slice running */
} leaves_t;

static void leaf_add(leaves_t *L, int64_t i) { L->leaf_at[i] = (int32_t)L->n_leaf; L->leaf[L->n_leaf++] = i; }

static void leaf_remove(leaves_t *L, int64_t i) {
    int32_t at = L->leaf_at[i];
    if (at < 0) return;
    int64_t last = L->leaf[--L->n_leaf];
    L->leaf[at] = last;
    L->leaf_at[last] = at;
    L->leaf_at[i] = -1;
}

/* Time [a, b) to the current leaves, evenly. */
static void share(leaves_t *L, int64_t a, int64_t b) {
    int64_t d = b - a;
    if (d <= 0 || L->n_leaf == 0) return;
    L->busy += d;
    double q = (double)d / (double)L->n_leaf;
    for (Py_ssize_t j = 0; j < L->n_leaf; j++) L->self[L->leaf[j]] += q;
}

typedef struct { double frac; int64_t i; } frac_t;

static int by_frac_desc(const void *x, const void *y) {
    const frac_t *a = (const frac_t *)x, *b = (const frac_t *)y;
    if (a->frac != b->frac) return a->frac < b->frac ? 1 : -1;
    return (a->i > b->i) - (a->i < b->i);
}

/* self: int64 output; the shares are summed as doubles in the same memory, then rounded
 * so that each is within 1 ns and they add up exactly to the busy time (largest
 * remainders first). */
static int self_pass(const int64_t *s, const int64_t *e, const int64_t *parent, int64_t *self,
                     Py_ssize_t m) {
    open_t *heap = m ? malloc((size_t)m * sizeof(open_t)) : NULL;
    int32_t *n_child = m ? calloc((size_t)m, sizeof(int32_t)) : NULL;
    int32_t *leaf_at = m ? malloc((size_t)m * sizeof(int32_t)) : NULL;
    int64_t *leaf = m ? malloc((size_t)m * sizeof(int64_t)) : NULL;
    if (m && (!heap || !n_child || !leaf_at || !leaf)) {
        free(heap); free(n_child); free(leaf_at); free(leaf);
        return -1;
    }
    double *acc = (double *)self;
    leaves_t L = {acc, n_child, leaf_at, leaf, 0, 0};
    Py_ssize_t nh = 0;
    int64_t now = m ? s[0] : 0;
    for (Py_ssize_t i = 0; i <= m; i++) {
        /* Up to the next start (or the end of everything): slices end, time is shared. */
        while (nh > 0 && (i == m || heap[0].end <= s[i])) {
            open_t x = open_pop(heap, &nh);
            share(&L, now, x.end);
            if (x.end > now) now = x.end;
            leaf_remove(&L, x.idx);
            int64_t p = parent[x.idx];
            if (p >= 0 && --n_child[p] == 0) leaf_add(&L, p);
        }
        if (i == m) break;
        share(&L, now, s[i]);
        if (s[i] > now) now = s[i];
        acc[i] = 0.0;
        leaf_at[i] = -1;
        int64_t p = parent[i];
        if (p >= 0 && n_child[p]++ == 0) leaf_remove(&L, p);
        leaf_add(&L, i);
        open_t v = {e[i], i};
        open_push(heap, &nh, v);
    }
    /* Round: floors, then one more ns to the largest remainders until the sum is exact.
     * The heap's memory (16 bytes a slice) holds the remainders. */
    frac_t *fr = (frac_t *)heap;
    int64_t floors = 0;
    Py_ssize_t nf = 0;  /* only shared stretches leave remainders: usually few */
    for (Py_ssize_t i = 0; i < m; i++) {
        double v = acc[i] > 0 ? acc[i] : 0.0;
        double f = floor(v + 1e-9);  /* an integer sum of shares may land just below */
        self[i] = (int64_t)f;  /* overwrites acc[i], already read */
        floors += self[i];
        if (v - f > 1e-9) { fr[nf].frac = v - f; fr[nf].i = i; nf++; }
    }
    int64_t deficit = L.busy - floors;
    if (deficit > 0) {
        if (deficit > nf) deficit = nf;
        qsort(fr, (size_t)nf, sizeof(frac_t), by_frac_desc);
        for (int64_t k = 0; k < deficit; k++) self[fr[k].i] += 1;
    }
    free(heap); free(n_child); free(leaf_at); free(leaf);
    return 0;
}


/* sort_slices(track, start, end, laned, order, s_out, e_out, d_out[, threads[, name,
 *             name_out, src_out[, line, self_out, nested_out[, parent_out]]]])
 *     -> (seg_ptr, seg_track, seg_depth) as bytes (int64, int32, int32)
 *
 *   The sort and row passes of the timeline index in one call. Input: int16 or int32
 *   track per slice (0 <= track < len(laned)), int64 start and end, one byte per
 *   track (1: lanes -- nothing nests --, else nesting within a line). Output, written
 *   into the caller's buffers: the slices ordered by (track, row, start, -end, input
 *   position) as positions into the input (order), their start, end (at least start)
 *   and row ("depth"); and the segments, the (track, row) runs of that order. With
 *   `name` (int32 per slice), also each ordered slice's name (name_out, int32) and input
 *   position (src_out, int32 or int64 by its item size), filled by the same workers.
 *   With `line` (int16 or int32 per slice, >= 0; b"": every slice on one line), also each
 *   ordered slice's self time (self_out, int64) and whether it has a parent
 *   (nested_out, uint8) -- see row_pass and self_pass. With `parent_out` (int32 or
 *   int64 per slice; self_out and nested_out then empty) the self times are left to
 *   self_times: parent_out takes each slice's parent and `order`, instead of input
 *   positions, each slice's final place, both in start order.
 *   A counting sort by track, then per track: nothing if it is already in
 *   (start, -end) order (usual for one thread's line), else an LSD radix sort on
 *   start and an insertion sort of equal-start runs by end; then the row pass;
 *   then a counting sort by row. All stable, so equal slices keep input order.
 */
typedef struct {
    const int64_t *start, *end;
    int64_t *order, *s, *e, *tmp_a, *tmp_b;
    int32_t *d;
    const void *line;     /* optional, per input slice: its line (thread), int16 or int32 */
    int32_t *line_local;  /* scratch: the lines in track order */
    int64_t *line_top;    /* scratch, n_lines entries of -1 */
    int64_t *self;        /* optional output, in final order */
    uint8_t *nested;      /* optional output, in final order: has a parent */
    void *parent_out;     /* optional output, self times deferred (self_times): per
                           * slice in start order, its parent's place in that order */
    int parent_size;      /* 4 (int32) or 8 (int64) */
    int line_size;        /* 2 (int16) or 4 (int32) */
} slices_t;

/* Orders o[0..m) by start[o], stably: an LSD radix sort, 11 bits a pass over the bits
 * in use. When (start - min) and the position in o fit one 64-bit word together, the
 * passes move those words (sequential) instead of gathering start[o[i]] (random). */
static void radix_by_start(const int64_t *start, int64_t *o, int64_t *tmp_a, int64_t *tmp_b,
                           Py_ssize_t m) {
    if (m < 2) return;
    int64_t lo = start[o[0]], hi = lo;
    for (Py_ssize_t i = 1; i < m; i++) {
        int64_t v = start[o[i]];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    int vbits = 0, pbits = 0;
    while (vbits < 64 && ((uint64_t)(hi - lo) >> vbits) != 0) vbits++;
    while (((uint64_t)(m - 1) >> pbits) != 0) pbits++;
    Py_ssize_t count[2049];
    if (vbits + pbits <= 64) {
        uint64_t *src = (uint64_t *)tmp_a, *dst = (uint64_t *)tmp_b;
        for (Py_ssize_t i = 0; i < m; i++)
            src[i] = ((uint64_t)(start[o[i]] - lo) << pbits) | (uint64_t)i;
        for (int shift = pbits; shift < pbits + vbits; shift += 11) {
            memset(count, 0, sizeof(count));
            for (Py_ssize_t i = 0; i < m; i++) count[((src[i] >> shift) & 2047) + 1]++;
            for (int b = 0; b < 2048; b++) count[b + 1] += count[b];
            for (Py_ssize_t i = 0; i < m; i++) dst[count[(src[i] >> shift) & 2047]++] = src[i];
            uint64_t *t = src; src = dst; dst = t;
        }
        uint64_t mask = pbits ? (~(uint64_t)0 >> (64 - pbits)) : 0;
        int64_t *out = (int64_t *)dst;  /* the buffer not holding the sorted words */
        for (Py_ssize_t i = 0; i < m; i++) out[i] = o[src[i] & mask];
        memcpy(o, out, (size_t)m * sizeof(int64_t));
        return;
    }
    int64_t *src = o, *dst = tmp_a;
    for (int shift = 0; shift < vbits; shift += 11) {
        memset(count, 0, sizeof(count));
        for (Py_ssize_t i = 0; i < m; i++) count[(((uint64_t)(start[src[i]] - lo) >> shift) & 2047) + 1]++;
        for (int b = 0; b < 2048; b++) count[b + 1] += count[b];
        for (Py_ssize_t i = 0; i < m; i++)
            dst[count[((uint64_t)(start[src[i]] - lo) >> shift) & 2047]++] = src[i];
        int64_t *t = src; src = dst; dst = t;
    }
    if (src != o) memcpy(o, src, (size_t)m * sizeof(int64_t));
}

/* A slice's end, never before its start. */
#define CLAMPED_END(start, end, r) ((end)[r] > (start)[r] ? (end)[r] : (start)[r])

static int by_start_end_desc(const int64_t *start, const int64_t *end, const int64_t *o,
                             Py_ssize_t m) {
    for (Py_ssize_t i = 1; i < m; i++) {
        int64_t a = o[i - 1], b = o[i];
        if (start[b] < start[a] ||
            (start[b] == start[a] && CLAMPED_END(start, end, b) > CLAMPED_END(start, end, a)))
            return 0;
    }
    return 1;
}

/* Moves v[0..m) so that v[i] lands at cnt[key[i]]++ (a counting-sort scatter), via tmp. */
static void scatter_by(int64_t *v, int64_t *tmp, const int32_t *key, const Py_ssize_t *first,
                       Py_ssize_t *cnt, int32_t nkeys, Py_ssize_t m) {
    memcpy(cnt, first, ((size_t)nkeys + 1) * sizeof(Py_ssize_t));
    for (Py_ssize_t i = 0; i < m; i++) tmp[cnt[key[i]]++] = v[i];
    memcpy(v, tmp, (size_t)m * sizeof(int64_t));
}

/* The same scatter for bytes. */
static void scatter_bytes(uint8_t *v, uint8_t *tmp, const int32_t *key, const Py_ssize_t *first,
                          Py_ssize_t *cnt, int32_t nkeys, Py_ssize_t m) {
    memcpy(cnt, first, ((size_t)nkeys + 1) * sizeof(Py_ssize_t));
    for (Py_ssize_t i = 0; i < m; i++) tmp[cnt[key[i]]++] = v[i];
    memcpy(v, tmp, (size_t)m);
}

static int sort_track(slices_t *S, Py_ssize_t a, Py_ssize_t b, int laned, int32_t *max_depth) {
    Py_ssize_t m = b - a;
    int64_t *o = S->order + a, *s = S->s + a, *e = S->e + a;
    int32_t *d = S->d + a;
    int64_t *self = S->self ? S->self + a : NULL;
    uint8_t *nested = S->nested ? S->nested + a : NULL;
    int sorted = by_start_end_desc(S->start, S->end, o, m);
    if (!sorted) radix_by_start(S->start, o, S->tmp_a, S->tmp_b, m);
    for (Py_ssize_t i = 0; i < m; i++) {
        s[i] = S->start[o[i]];
        e[i] = CLAMPED_END(S->start, S->end, o[i]);
    }
    if (!sorted) {
        /* Equal starts: parents (longer) first. Insertion sort: such runs are short. */
        for (Py_ssize_t i = 1; i < m; i++) {
            if (s[i] != s[i - 1] || e[i] <= e[i - 1]) continue;
            int64_t vo = o[i], ve = e[i], st = s[i];
            Py_ssize_t j = i;
            while (j > 0 && s[j - 1] == st && e[j - 1] < ve) {
                o[j] = o[j - 1];
                e[j] = e[j - 1];
                j--;
            }
            o[j] = vo;
            e[j] = ve;
        }
    }
    /* Rows and parents (parents in tmp_b, free once sorted), then self times. */
    int64_t *parent = S->tmp_b;
    if (S->line)
        for (Py_ssize_t i = 0; i < m; i++) S->line_local[i] = (int32_t)int_at(S->line, S->line_size, o[i]);
    int rc = row_pass(s, e, S->line ? S->line_local : NULL, !laned, d, parent, S->line_top, m);
    if (rc) return rc;
    if (self) {
        if (self_pass(s, e, parent, self, m)) return -1;
        for (Py_ssize_t i = 0; i < m; i++) nested[i] = parent[i] >= 0;
    }
    if (S->parent_out && S->parent_size == 8)
        memcpy((int64_t *)S->parent_out + a, parent, (size_t)m * sizeof(int64_t));
    else if (S->parent_out)
        for (Py_ssize_t i = 0; i < m; i++) ((int32_t *)S->parent_out)[a + i] = (int32_t)parent[i];
    int32_t md = 0;
    for (Py_ssize_t i = 0; i < m; i++) if (d[i] > md) md = d[i];
    *max_depth = md;
    if (md == 0) {
        /* Deferred self times: each slice's final place is its place in start order. */
        for (Py_ssize_t i = 0; S->parent_out && i < m; i++) S->tmp_a[i] = a + i;
        return 0;
    }
    /* Counting sort by depth (stable: start order is kept within each depth). */
    Py_ssize_t *first = calloc((size_t)md + 2, sizeof(Py_ssize_t));
    Py_ssize_t *cnt = malloc(((size_t)md + 2) * sizeof(Py_ssize_t));
    if (!first || !cnt) { free(first); free(cnt); return -1; }
    for (Py_ssize_t i = 0; i < m; i++) first[d[i] + 1]++;
    for (int32_t k = 0; k <= md; k++) first[k + 1] += first[k];
    scatter_by(o, S->tmp_a, d, first, cnt, md + 1, m);
    scatter_by(s, S->tmp_a, d, first, cnt, md + 1, m);
    scatter_by(e, S->tmp_a, d, first, cnt, md + 1, m);
    if (self) {
        scatter_by(self, S->tmp_a, d, first, cnt, md + 1, m);
        scatter_bytes(nested, (uint8_t *)S->tmp_a, d, first, cnt, md + 1, m);
    }
    if (S->parent_out) {  /* deferred self times: the final place of each slice */
        memcpy(cnt, first, ((size_t)md + 2) * sizeof(Py_ssize_t));
        for (Py_ssize_t i = 0; i < m; i++) S->tmp_a[i] = a + cnt[d[i]]++;
    }
    for (int32_t k = 0; k <= md; k++)
        for (Py_ssize_t i = first[k]; i < first[k + 1]; i++) d[i] = k;
    free(first);
    free(cnt);
    return 0;
}

/* Tracks are independent: workers take them from a shared list, biggest first,
 * each with its own scratch buffers, and write to the tracks' own ranges. */
typedef struct {
    slices_t S;
    const Py_ssize_t *tptr, *todo;
    const uint8_t *laned;
    int32_t *tdepth;
    Py_ssize_t nt, biggest;
    const int32_t *name; /* optional: names to carry into the order */
    int32_t *name_out;
    void *src_out;
    int src_size;
    Py_ssize_t n_lines;
    long next, sorted;
} sort_job;

static void sort_worker(void *ctx, int worker) {
    (void)worker;
    sort_job *J = (sort_job *)ctx;
    slices_t S = J->S;
    S.tmp_a = J->biggest ? malloc((size_t)J->biggest * sizeof(int64_t)) : NULL;
    S.tmp_b = J->biggest ? malloc((size_t)J->biggest * sizeof(int64_t)) : NULL;
    S.line_local = S.line && J->biggest ? malloc((size_t)J->biggest * sizeof(int32_t)) : NULL;
    S.line_top = malloc((size_t)J->n_lines * sizeof(int64_t));
    if (S.line_top)
        for (Py_ssize_t i = 0; i < J->n_lines; i++) S.line_top[i] = -1;
    if ((J->biggest && (!S.tmp_a || !S.tmp_b || (S.line && !S.line_local))) || !S.line_top)
        goto out; /* the others take the tracks */
    for (;;) {
        long k = next_item(&J->next);
        if (k >= J->nt) break;
        Py_ssize_t t = J->todo[k];
        if (sort_track(&S, J->tptr[t], J->tptr[t + 1], J->laned[t], &J->tdepth[t]) != 0)
            continue;
        if (J->name != NULL) {
            for (Py_ssize_t i = J->tptr[t]; i < J->tptr[t + 1]; i++) {
                int64_t r = S.order[i];
                J->name_out[i] = J->name[r];
                if (J->src_size == 4) ((int32_t *)J->src_out)[i] = (int32_t)r;
                else ((int64_t *)J->src_out)[i] = r;
            }
        }
        if (S.parent_out)  /* the order is read: it now takes each slice's final place */
            memcpy(S.order + J->tptr[t], S.tmp_a,
                   (size_t)(J->tptr[t + 1] - J->tptr[t]) * sizeof(int64_t));
        __atomic_fetch_add(&J->sorted, 1, __ATOMIC_RELAXED);
    }
out:
    free(S.tmp_a);
    free(S.tmp_b);
    free(S.line_local);
    free(S.line_top);
}

static int by_size_desc(const void *a, const void *b) {
    const Py_ssize_t *x = (const Py_ssize_t *)a, *y = (const Py_ssize_t *)b;
    return x[0] < y[0] ? 1 : x[0] > y[0] ? -1 : (x[1] > y[1]) - (x[1] < y[1]);
}

static PyObject *sort_slices(PyObject *self, PyObject *args) {
    Py_buffer tb, sb, eb, lb, ob, sob, eob, dob, nb = {0}, nob = {0}, srb = {0};
    Py_buffer lnb = {0}, slb = {0}, neb = {0}, pab = {0};
    int threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*w*|iy*w*w*y*w*w*w*", &tb, &sb, &eb, &lb, &ob, &sob,
                          &eob, &dob, &threads, &nb, &nob, &srb, &lnb, &slb, &neb, &pab))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = sb.len / 8, nt = lb.len;
    Py_ssize_t *tptr = NULL, *todo = NULL;
    int32_t *tdepth = NULL;
    /* Tracks and lines: int16 or int32 (their item size says which). */
    int track_size = (int)tb.itemsize, line_size = lnb.obj != NULL ? (int)lnb.itemsize : 4;
    if ((track_size != 2 && track_size != 4) || tb.len != n * track_size ||
        sb.len != eb.len || sb.len % 8 || ob.len != sb.len ||
        sob.len != sb.len || eob.len != sb.len || dob.len != n * 4 ||
        (line_size != 2 && line_size != 4)) {
        PyErr_SetString(PyExc_ValueError, "sort_slices: buffers of mismatched sizes");
        goto done;
    }
    int src_size = srb.obj != NULL ? (int)srb.itemsize : 0;
    if (nb.obj != NULL && (nb.len != n * 4 || nob.len != n * 4 ||
                           (src_size != 4 && src_size != 8) || srb.len != n * src_size ||
                           (src_size == 4 && n > INT32_MAX))) {
        PyErr_SetString(PyExc_ValueError, "sort_slices: name or source buffers of wrong sizes");
        goto done;
    }
    /* With parent_out, the self times are left to self_times (self_out and nested_out
     * are then empty): parent_out takes each slice's parent and `order` each slice's
     * final place, both in start order. */
    int defer = pab.obj != NULL;
    int with_self = slb.obj != NULL && !defer;
    if (slb.obj != NULL && ((lnb.len != 0 && lnb.len != n * line_size) ||
                            (defer ? slb.len != 0 || neb.len != 0 ||
                                         (pab.len != sb.len && (pab.len != n * 4 || n > INT32_MAX))
                                   : slb.len != sb.len || neb.len != n))) {
        PyErr_SetString(PyExc_ValueError, "sort_slices: line, self or nested buffers of wrong sizes");
        goto done;
    }
    const void *line = slb.obj != NULL && lnb.len ? lnb.buf : NULL;
    Py_ssize_t n_lines = 1;
    for (Py_ssize_t i = 0; line && i < n; i++) {
        int32_t l = (int32_t)int_at(line, line_size, i);
        if (l < 0) {
            PyErr_SetString(PyExc_IndexError, "sort_slices: negative line");
            goto done;
        }
        if (l >= n_lines) n_lines = (Py_ssize_t)l + 1;
    }
    const uint8_t *laned = (const uint8_t *)lb.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t t = (int32_t)int_at(tb.buf, track_size, i);
        if (t < 0 || t >= nt) {
            PyErr_SetString(PyExc_IndexError, "sort_slices: track out of range");
            goto done;
        }
    }
    tptr = calloc((size_t)nt + 1, sizeof(Py_ssize_t));
    tdepth = calloc((size_t)nt + 1, sizeof(int32_t));
    todo = malloc(((size_t)nt + 1) * 2 * sizeof(Py_ssize_t));
    if (!tptr || !tdepth || !todo) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) tptr[int_at(tb.buf, track_size, i) + 1]++;
    Py_ssize_t biggest = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        if (tptr[t + 1] > biggest) biggest = tptr[t + 1];
        todo[2 * t] = tptr[t + 1];
        todo[2 * t + 1] = t;
        tptr[t + 1] += tptr[t];
    }
    /* Biggest tracks first, so that the workers finish together. */
    qsort(todo, (size_t)nt, 2 * sizeof(Py_ssize_t), by_size_desc);
    for (Py_ssize_t k = 0; k < nt; k++) todo[k] = todo[2 * k + 1];
    sort_job J = {{(const int64_t *)sb.buf, (const int64_t *)eb.buf, (int64_t *)ob.buf,
                   (int64_t *)sob.buf, (int64_t *)eob.buf, NULL, NULL, (int32_t *)dob.buf,
                   line, NULL, NULL, with_self ? (int64_t *)slb.buf : NULL,
                   with_self ? (uint8_t *)neb.buf : NULL, defer ? pab.buf : NULL,
                   defer && pab.len != sb.len ? 4 : 8, line_size},
                  tptr, todo, laned, tdepth, nt, biggest,
                  nb.obj != NULL ? (const int32_t *)nb.buf : NULL, (int32_t *)nob.buf, srb.buf,
                  src_size, n_lines, 0, 0};
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    {
        Py_ssize_t *fill = malloc(((size_t)nt + 1) * sizeof(Py_ssize_t));
        if (!fill) rc = -1;
        else {
            memcpy(fill, tptr, ((size_t)nt + 1) * sizeof(Py_ssize_t));
            for (Py_ssize_t i = 0; i < n; i++) J.S.order[fill[int_at(tb.buf, track_size, i)]++] = i;
            free(fill);
            int w = workers_for(n, threads);
            run_workers(w < nt ? w : (int)(nt ? nt : 1), sort_worker, &J);
            if (J.sorted != nt) rc = -1;
        }
    }
    Py_END_ALLOW_THREADS
    if (rc) { PyErr_NoMemory(); goto done; }
    /* Segments: per non-empty track, one per row 0..max (every row is occupied: rows
     * are opened one at a time, only when all below are taken). */
    Py_ssize_t n_seg = 0;
    for (Py_ssize_t t = 0; t < nt; t++) if (tptr[t + 1] > tptr[t]) n_seg += tdepth[t] + 1;
    PyObject *ptr_b = PyBytes_FromStringAndSize(NULL, (n_seg + 1) * 8);
    PyObject *trk_b = PyBytes_FromStringAndSize(NULL, n_seg * 4);
    PyObject *dep_b = PyBytes_FromStringAndSize(NULL, n_seg * 4);
    if (ptr_b && trk_b && dep_b) {
        int64_t *ptr = (int64_t *)PyBytes_AS_STRING(ptr_b);
        int32_t *st = (int32_t *)PyBytes_AS_STRING(trk_b), *sd = (int32_t *)PyBytes_AS_STRING(dep_b);
        const int32_t *d = (const int32_t *)dob.buf;
        Py_ssize_t k = 0;
        for (Py_ssize_t t = 0; t < nt; t++) {
            Py_ssize_t i = tptr[t];
            for (int32_t dep = 0; tptr[t + 1] > tptr[t] && dep <= tdepth[t]; dep++) {
                ptr[k] = i; st[k] = (int32_t)t; sd[k] = dep; k++;
                while (i < tptr[t + 1] && d[i] == dep) i++;
            }
        }
        ptr[k] = n;
        result = PyTuple_Pack(3, ptr_b, trk_b, dep_b);
    }
    Py_XDECREF(ptr_b);
    Py_XDECREF(trk_b);
    Py_XDECREF(dep_b);
done:
    free(tptr); free(tdepth); free(todo);
    PyBuffer_Release(&tb); PyBuffer_Release(&sb); PyBuffer_Release(&eb); PyBuffer_Release(&lb);
    PyBuffer_Release(&ob); PyBuffer_Release(&sob); PyBuffer_Release(&eob); PyBuffer_Release(&dob);
    if (nb.obj != NULL) PyBuffer_Release(&nb);
    if (nob.obj != NULL) PyBuffer_Release(&nob);
    if (srb.obj != NULL) PyBuffer_Release(&srb);
    if (lnb.obj != NULL) PyBuffer_Release(&lnb);
    if (slb.obj != NULL) PyBuffer_Release(&slb);
    if (neb.obj != NULL) PyBuffer_Release(&neb);
    if (pab.obj != NULL) PyBuffer_Release(&pab);
    return result;
}

/* self_times(start, end, seg_ptr, seg_track, place, parent, self_out, nested_out, threads)
 *
 *   The self times sort_slices leaves when given parent_out, so that the index is
 *   final (and can be served) before they are computed: start, end and the segments
 *   as sort_slices ordered them, and per slice in start order within its track its
 *   final place (`place`: the order buffer, or it as int32) and its parent (`parent`;
 *   both int64, or both int32 below 2^31 slices). Writes each
 *   slice's self time (int64) and whether it has a parent (uint8), in final order: the
 *   same self_pass over the same slices in the same order as sort_slices without
 *   parent_out, so the same values. Tracks on `threads` threads, the GIL released. */
typedef struct {
    const int64_t *start, *end;
    const void *place, *parent;  /* int32 or int64: ref_size */
    int ref_size;
    int64_t *self;
    uint8_t *nested;
    const Py_ssize_t *tptr, *todo;
    Py_ssize_t nt, biggest;
    long next, done;
} self_job;

static void self_worker(void *ctx, int worker) {
    (void)worker;
    self_job *J = (self_job *)ctx;
    size_t cap = J->biggest ? (size_t)J->biggest : 1;
    int64_t *s = malloc(cap * sizeof(int64_t)), *e = malloc(cap * sizeof(int64_t));
    int64_t *self = malloc(cap * sizeof(int64_t)), *parent = malloc(cap * sizeof(int64_t));
    int rs = J->ref_size;
    if (s && e && self && parent) {
        for (;;) {
            long k = next_item(&J->next);
            if (k >= J->nt) break;
            Py_ssize_t t = J->todo[k], a = J->tptr[t], m = J->tptr[t + 1] - a;
            for (Py_ssize_t i = 0; i < m; i++) {
                int64_t at = int_at(J->place, rs, a + i);
                s[i] = J->start[at];
                e[i] = J->end[at];
                parent[i] = int_at(J->parent, rs, a + i);
            }
            if (self_pass(s, e, parent, self, m)) continue;
            for (Py_ssize_t i = 0; i < m; i++) {
                int64_t at = int_at(J->place, rs, a + i);
                J->self[at] = self[i];
                J->nested[at] = parent[i] >= 0;
            }
            __atomic_fetch_add(&J->done, 1, __ATOMIC_RELAXED);
        }
    }
    free(s); free(e); free(self); free(parent);
}

static PyObject *self_times(PyObject *self_mod, PyObject *args) {
    (void)self_mod;
    Py_buffer sb, eb, pb, tb, plb, pab, slb, neb;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*|i", &sb, &eb, &pb, &tb, &plb, &pab, &slb,
                          &neb, &threads))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = sb.len / 8, nseg = tb.len / 4;
    Py_ssize_t *tptr = NULL, *todo = NULL;
    const int64_t *seg_ptr = (const int64_t *)pb.buf;
    const int32_t *seg_track = (const int32_t *)tb.buf;
    /* place and parent: both int64, or both int32 (below 2^31 slices) */
    int rs = plb.len == sb.len ? 8 : 4;
    if (sb.len % 8 || eb.len != sb.len || pb.len != (nseg + 1) * 8 ||
        plb.len != n * rs || pab.len != n * rs || (rs == 4 && n > INT32_MAX) ||
        slb.len != sb.len || neb.len != n || seg_ptr[0] != 0 || seg_ptr[nseg] != n) {
        PyErr_SetString(PyExc_ValueError, "self_times: buffers of mismatched sizes");
        goto done;
    }
    /* Tracks: runs of segments of one track (sort_slices writes them so). */
    tptr = malloc(((size_t)nseg + 1) * sizeof(Py_ssize_t));
    todo = malloc(((size_t)nseg + 1) * 2 * sizeof(Py_ssize_t));
    if (!tptr || !todo) { PyErr_NoMemory(); goto done; }
    Py_ssize_t nt = 0, biggest = 0;
    for (Py_ssize_t k = 0; k < nseg; k++) {
        if (seg_ptr[k + 1] < seg_ptr[k]) {
            PyErr_SetString(PyExc_ValueError, "self_times: segments out of order");
            goto done;
        }
        if (k == 0 || seg_track[k] != seg_track[k - 1]) tptr[nt++] = (Py_ssize_t)seg_ptr[k];
    }
    tptr[nt] = n;
    for (Py_ssize_t t = 0; t < nt; t++) {
        Py_ssize_t m = tptr[t + 1] - tptr[t];
        if (m > biggest) biggest = m;
        todo[2 * t] = m;
        todo[2 * t + 1] = t;
    }
    for (Py_ssize_t t = 0; t < nt; t++)  /* every place and parent within its track */
        for (Py_ssize_t i = tptr[t]; i < tptr[t + 1]; i++) {
            int64_t at = int_at(plb.buf, rs, i), up = int_at(pab.buf, rs, i);
            if (at < tptr[t] || at >= tptr[t + 1] || up >= i - tptr[t] || up < -1) {
                PyErr_SetString(PyExc_ValueError, "self_times: a place or parent out of range");
                goto done;
            }
        }
    qsort(todo, (size_t)nt, 2 * sizeof(Py_ssize_t), by_size_desc);
    for (Py_ssize_t k = 0; k < nt; k++) todo[k] = todo[2 * k + 1];
    self_job J = {(const int64_t *)sb.buf, (const int64_t *)eb.buf, plb.buf, pab.buf, rs,
                  (int64_t *)slb.buf, (uint8_t *)neb.buf, tptr, todo, nt, biggest, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    int w = workers_for(n, threads);
    run_workers(w < nt ? w : (int)(nt ? nt : 1), self_worker, &J);
    Py_END_ALLOW_THREADS
    if (J.done != nt) { PyErr_NoMemory(); goto done; }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(tptr); free(todo);
    PyBuffer_Release(&sb); PyBuffer_Release(&eb); PyBuffer_Release(&pb); PyBuffer_Release(&tb);
    PyBuffer_Release(&plb); PyBuffer_Release(&pab); PyBuffer_Release(&slb);
    PyBuffer_Release(&neb);
    return result;
}

/* How many slices a segment's levels keep is known before any is built: neighbours
 * share a level-L bucket unless their starts differ above bit L, so a histogram of
 * the highest differing bit gives every level's count of bucket runs (which a level
 * built from the last one's survivors keeps, one per run, in any order). That
 * plans every block (its number and place in the pool) up front, and segments are
 * then built in parallel, each into its own planned places. */
typedef struct {
    const int64_t *start, *end, *seg_ptr;
    Py_ssize_t n_seg, biggest;
    int lmin, n_levels, ref_size;
    Py_ssize_t *hist;                /* [n_seg, 65]: segment's neighbours by differing bit */
    int32_t *lod;                    /* [n_seg, n_levels] */
    Py_ssize_t *seg_used;            /* pool position of each segment's first block */
    void *ref;
    long next, built;
} lod_job;

static void lod_hist_worker(void *ctx, int worker) {
    (void)worker;
    lod_job *J = (lod_job *)ctx;
    for (;;) {
        long s = next_item(&J->next);
        if (s >= J->n_seg) break;
        Py_ssize_t lo = J->seg_ptr[s], m = J->seg_ptr[s + 1] - lo;
        Py_ssize_t *differ_at = J->hist + s * 65;
        for (Py_ssize_t i = 1; i < m; i++) {
            uint64_t x = (uint64_t)(J->start[lo + i] ^ J->start[lo + i - 1]);
            differ_at[x ? 64 - __builtin_clzll(x) : 0]++;
        }
    }
}

static void lod_build_worker(void *ctx, int worker) {
    (void)worker;
    lod_job *J = (lod_job *)ctx;
    const int64_t *start = J->start, *end = J->end;
    int64_t *cur = J->biggest ? malloc((size_t)J->biggest * sizeof(int64_t)) : NULL;
    if (J->biggest && !cur) return; /* the others take the segments */
    int32_t *ref32 = (int32_t *)J->ref;
    int64_t *ref64 = (int64_t *)J->ref;
    for (;;) {
        long s = next_item(&J->next);
        if (s >= J->n_seg) break;
        Py_ssize_t lo = J->seg_ptr[s], m = J->seg_ptr[s + 1] - lo;
        Py_ssize_t used = J->seg_used[s];
        for (Py_ssize_t i = 0; i < m; i++) cur[i] = lo + i;
        for (int li = 0; li < J->n_levels; li++) {
            int32_t block = J->lod[s * J->n_levels + li];
            if (block < 0 || (li > 0 && block == J->lod[s * J->n_levels + li - 1])) continue;
            /* A stored level: the longest slice per bucket, from the last stored level
             * (longest-of-longest). */
            int level = J->lmin + li;
            Py_ssize_t k = 0;
            int64_t bucket = 0;
            for (Py_ssize_t i = 0; i < m; i++) {
                int64_t r = cur[i], b = start[r] >> level;
                if (k == 0 || b != bucket) {
                    cur[k++] = r;
                    bucket = b;
                } else if (end[r] - start[r] > end[cur[k - 1]] - start[cur[k - 1]]) {
                    cur[k - 1] = r;
                }
            }
            m = k; /* = the planned block size (runs of equal buckets are counted alike) */
            for (Py_ssize_t i = 0; i < m; i++) {
                if (J->ref_size == 4) ref32[used + i] = (int32_t)cur[i];
                else ref64[used + i] = cur[i];
            }
            used += m;
        }
        __atomic_fetch_add(&J->built, 1, __ATOMIC_RELAXED);
    }
    free(cur);
}

/* build_lod(start, end, seg_ptr, lmin, n_levels, pool_ref, ref_size, lod_block[, threads])
 *     -> bytes of int64 block_ptr
 *
 *   The level-of-detail blocks of every segment (see timeline.py): level li keeps the
 *   longest slice starting in each 2**(lmin + li) ns bucket, computed from level li-1's
 *   survivors in place; a level is stored as a block only when it at most halves the
 *   last stored one. pool_ref (int32 or int64, by its item size `ref_size`) receives
 *   the blocks (each sorted by start, as its segment), lod_block (int32 [segments,
 *   n_levels]) the block of each level (-1: the raw slices).
 */
static PyObject *build_lod(PyObject *self, PyObject *args) {
    Py_buffer sb, eb, pb, rb, lb;
    int lmin, n_levels, ref_size, threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*iiw*iw*|i", &sb, &eb, &pb, &lmin, &n_levels, &rb,
                          &ref_size, &lb, &threads))
        return NULL;
    PyObject *out = NULL;
    int64_t *bptr = NULL;
    Py_ssize_t *hist = NULL, *seg_used = NULL;
    Py_ssize_t n = sb.len / 8, n_seg = pb.len / 8 - 1;
    const int64_t *seg_ptr = (const int64_t *)pb.buf;
    if (sb.len != eb.len || sb.len % 8 || n_seg < 0 || (ref_size != 4 && ref_size != 8) ||
        rb.len != n * ref_size || lb.len != (Py_ssize_t)n_seg * n_levels * 4 || lmin < 0 ||
        n_levels < 0 || lmin + n_levels > 63) {
        PyErr_SetString(PyExc_ValueError, "build_lod: bad arguments");
        goto done;
    }
    Py_ssize_t biggest = 0;
    for (Py_ssize_t s = 0; s < n_seg; s++) {
        if (seg_ptr[s] < 0 || seg_ptr[s + 1] < seg_ptr[s] || seg_ptr[s + 1] > n) {
            PyErr_SetString(PyExc_ValueError, "build_lod: bad segment pointers");
            goto done;
        }
        if (seg_ptr[s + 1] - seg_ptr[s] > biggest) biggest = seg_ptr[s + 1] - seg_ptr[s];
    }
    /* Each stored block at most halves the one before it: fewer than n + 1 blocks. */
    bptr = malloc(((size_t)n_seg * n_levels + 1) * sizeof(int64_t));
    hist = calloc((size_t)n_seg * 65 + 1, sizeof(Py_ssize_t));
    seg_used = malloc(((size_t)n_seg + 1) * sizeof(Py_ssize_t));
    if (!bptr || !hist || !seg_used) { PyErr_NoMemory(); goto done; }
    lod_job J = {(const int64_t *)sb.buf, (const int64_t *)eb.buf, seg_ptr, n_seg, biggest,
                 lmin, n_levels, ref_size, hist, (int32_t *)lb.buf, seg_used, rb.buf, 0, 0};
    int w = workers_for(n, threads);
    if (w > n_seg) w = n_seg ? (int)n_seg : 1;
    Py_ssize_t n_blocks = 0, used = 0;
    bptr[0] = 0;
    Py_BEGIN_ALLOW_THREADS
    run_workers(w, lod_hist_worker, &J);
    /* The plan: which levels are stored, and each block's number and size. A level's
     * survivors are its buckets; it is stored when they at most halve the last stored
     * level (an empty segment stores empty blocks). */
    for (Py_ssize_t s = 0; s < n_seg; s++) {
        const Py_ssize_t *differ_at = hist + s * 65;
        Py_ssize_t m = seg_ptr[s + 1] - seg_ptr[s], stored = m, above = 0;
        for (int bit = lmin + 1; bit <= 64; bit++) above += differ_at[bit];
        int32_t block = -1;
        seg_used[s] = used;
        for (int li = 0; li < n_levels; li++) {
            int level = lmin + li;
            Py_ssize_t buckets = m ? 1 + above : 0;
            if (level + 1 <= 64) above -= differ_at[level + 1];
            if (buckets * 2 <= stored) m = buckets;
            if (m * 2 <= stored) {
                block = (int32_t)n_blocks;
                used += m;
                bptr[++n_blocks] = used;
                stored = m;
            }
            J.lod[s * n_levels + li] = block;
        }
    }
    J.next = 0;
    run_workers(w, lod_build_worker, &J);
    Py_END_ALLOW_THREADS
    if (J.built != n_seg) { PyErr_NoMemory(); goto done; }
    out = PyBytes_FromStringAndSize((const char *)bptr, (n_blocks + 1) * 8);
done:
    free(bptr); free(hist); free(seg_used);
    PyBuffer_Release(&sb); PyBuffer_Release(&eb); PyBuffer_Release(&pb);
    PyBuffer_Release(&rb); PyBuffer_Release(&lb);
    return out;
}

/* row_sums(row, pos, self_ns, ev_start, ev_end, nested, n_rows)
 *     -> bytes of int64 [4, n_rows]: occurrences, total, self, top-level count
 *
 *   The op table's sums in one pass over the op slices: slice j (index position pos[j],
 *   int32 or int64, like row[j]) adds to row[j] one occurrence, its duration, its self
 *   time (self_ns, by index position) and, when it nests in no other slice (nested[j],
 *   one byte per op slice, is 0), one top-level occurrence.
 */
static inline int64_t idx_at(const Py_buffer *b, Py_ssize_t i) {
    return int_at(b->buf, (int)b->itemsize, i);
}

static PyObject *row_sums(PyObject *self, PyObject *args) {
    Py_buffer rb, pb, sb, stb, eb, nb;
    Py_ssize_t n_rows;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*n", &rb, &pb, &sb, &stb, &eb, &nb, &n_rows))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = stb.len / 8;
    Py_ssize_t m = rb.itemsize ? rb.len / rb.itemsize : 0;
    if ((rb.itemsize != 4 && rb.itemsize != 8) || (pb.itemsize != 4 && pb.itemsize != 8) ||
        pb.len / pb.itemsize != m || nb.len != m || sb.len != stb.len ||
        eb.len != stb.len || n_rows < 0) {
        PyErr_SetString(PyExc_ValueError, "row_sums: bad arguments");
        goto done;
    }
    for (Py_ssize_t j = 0; j < m; j++) {
        int64_t r = idx_at(&rb, j), q = idx_at(&pb, j);
        if (r < 0 || r >= n_rows || q < 0 || q >= n) {
            PyErr_SetString(PyExc_IndexError, "row_sums: row or position out of range");
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, 4 * n_rows * 8);
    if (!out) goto done;
    int64_t *acc = (int64_t *)PyBytes_AS_STRING(out);
    memset(acc, 0, (size_t)(4 * n_rows) * 8);
    int64_t *occ = acc, *tot = acc + n_rows, *slf = acc + 2 * n_rows, *top = acc + 3 * n_rows;
    const int64_t *self_ns = (const int64_t *)sb.buf, *start = (const int64_t *)stb.buf;
    const int64_t *end = (const int64_t *)eb.buf;
    const uint8_t *nested = (const uint8_t *)nb.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < m; j++) {
        int64_t r = idx_at(&rb, j), q = idx_at(&pb, j);
        occ[r] += 1;
        tot[r] += end[q] - start[q];
        slf[r] += self_ns[q];
        top[r] += nested[j] == 0;
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&rb); PyBuffer_Release(&pb); PyBuffer_Release(&sb);
    PyBuffer_Release(&stb); PyBuffer_Release(&eb); PyBuffer_Release(&nb);
    return out;
}

/* ps_to_ns(start_ps, dur_ps, shift_ps, start_out, end_out) -> (min start, max end)
 *
 *   Event times in ns from the profile start, in one pass: start = floor((start_ps +
 *   shift_ps) / 1000), end = max(ceil((start_ps + shift_ps + dur_ps) / 1000), start), as
 *   numpy's floor division would give; plus the window they span.
 */
static inline int64_t floor_div1000(int64_t x) {
    int64_t q = x / 1000;
    return (x % 1000 != 0 && x < 0) ? q - 1 : q;
}

typedef struct {
    const int64_t *sp, *dp;
    int64_t *st, *en, shift;
    Py_ssize_t n;
    int parts;
    int64_t lo[MAX_WORKERS], hi[MAX_WORKERS];
} ns_job;

static void ps_to_ns_worker(void *ctx, int w) {
    ns_job *J = (ns_job *)ctx;
    Py_ssize_t a = J->n * w / J->parts, b = J->n * (w + 1) / J->parts;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (Py_ssize_t i = a; i < b; i++) {
        int64_t x = J->sp[i] + J->shift;
        int64_t s0 = floor_div1000(x), e0 = floor_div1000(x + J->dp[i] + 999);
        if (e0 < s0) e0 = s0;
        J->st[i] = s0;
        J->en[i] = e0;
        if (s0 < lo) lo = s0;
        if (e0 > hi) hi = e0;
    }
    J->lo[w] = lo;
    J->hi[w] = hi;
}

static PyObject *ps_to_ns(PyObject *self, PyObject *args) {
    Py_buffer sb, db, so, eo;
    long long shift;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*Lw*w*|i", &sb, &db, &shift, &so, &eo, &threads)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = sb.len / 8;
    if (sb.len % 8 || db.len != sb.len || so.len != sb.len || eo.len != sb.len) {
        PyErr_SetString(PyExc_ValueError, "ps_to_ns: buffers of mismatched sizes");
        goto done;
    }
    ns_job J = {(const int64_t *)sb.buf, (const int64_t *)db.buf, (int64_t *)so.buf,
                (int64_t *)eo.buf, (int64_t)shift, n, workers_for(n, threads), {0}, {0}};
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    Py_BEGIN_ALLOW_THREADS
    run_workers(J.parts, ps_to_ns_worker, &J);
    for (int w = 0; w < J.parts; w++) {
        if (J.lo[w] < lo) lo = J.lo[w];
        if (J.hi[w] > hi) hi = J.hi[w];
    }
    Py_END_ALLOW_THREADS
    out = n ? Py_BuildValue("(LL)", (long long)lo, (long long)hi) : Py_BuildValue("(ii)", 0, 0);
done:
    PyBuffer_Release(&sb); PyBuffer_Release(&db); PyBuffer_Release(&so); PyBuffer_Release(&eo);
    return out;
}

/* Line i's events are [a[i], z[i]) within n events; else IndexError naming `who`. */
static int check_line_ranges(const int64_t *a, const int64_t *z, Py_ssize_t nl, Py_ssize_t n,
                             const char *who) {
    for (Py_ssize_t l = 0; l < nl; l++) {
        if (a[l] < 0 || z[l] < a[l] || z[l] > n) {
            PyErr_Format(PyExc_IndexError, "%s: line range out of bounds", who);
            return -1;
        }
    }
    return 0;
}

/* moved_ops(line_start, line_stop, on_host, has_op, codes, used_out) -> bytes of int64
 *
 *   CPU XLA op events are regrouped by device: on host lines (on_host, one byte per
 *   line), an event that has an op (has_op, one byte per event) and a device ordinal
 *   (codes[e] >= 0, int32, the ordinal's code) moves to its device's track. Returns
 *   how many events of each line move, and marks in used_out (one byte per code,
 *   zeroed by the caller) the codes that occur among them.
 */
static PyObject *moved_ops(PyObject *self, PyObject *args) {
    Py_buffer ab, zb, hb, ob, cb, ub;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*", &ab, &zb, &hb, &ob, &cb, &ub)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t nl = ab.len / 8, n = ob.len, nc = ub.len;
    const int64_t *a = (const int64_t *)ab.buf, *z = (const int64_t *)zb.buf;
    const uint8_t *host = (const uint8_t *)hb.buf, *op = (const uint8_t *)ob.buf;
    const int32_t *codes = (const int32_t *)cb.buf;
    uint8_t *used = (uint8_t *)ub.buf;
    if (ab.len % 8 || zb.len != ab.len || hb.len != nl || cb.len != n * 4) {
        PyErr_SetString(PyExc_ValueError, "moved_ops: buffers of mismatched sizes");
        goto done;
    }
    if (check_line_ranges(a, z, nl, n, "moved_ops")) goto done;
    out = PyBytes_FromStringAndSize(NULL, nl * 8);
    if (!out) goto done;
    int64_t *moved = (int64_t *)PyBytes_AS_STRING(out);
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t l = 0; l < nl; l++) {
        int64_t m = 0;
        if (host[l]) {
            for (int64_t e = a[l]; e < z[l]; e++) {
                int32_t c = codes[e];
                if (op[e] && c >= 0) {
                    if (c >= nc) { bad = 1; break; }
                    used[c] = 1;
                    m++;
                }
            }
        }
        moved[l] = m;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_IndexError, "moved_ops: code out of range");
    }
done:
    PyBuffer_Release(&ab); PyBuffer_Release(&zb); PyBuffer_Release(&hb);
    PyBuffer_Release(&ob); PyBuffer_Release(&cb); PyBuffer_Release(&ub);
    return out;
}

/* route_events(line_start, line_stop, on_host, line_track, has_op, codes, code_track, out)
 *
 *   Every event's track (into `out`: int16 or int32, by its item size): its line's
 *   (line_track, int32 per line), or for the events moved_ops moves, their device's
 *   (code_track, int32 per code). A track that does not fit int16 is an error.
 */
static PyObject *route_events(PyObject *self, PyObject *args) {
    Py_buffer ab, zb, hb, lb, ob, cb, kb, tb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*", &ab, &zb, &hb, &lb, &ob, &cb, &kb, &tb))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t nl = ab.len / 8, n = ob.len, nc = kb.len / 4;
    const int64_t *a = (const int64_t *)ab.buf, *z = (const int64_t *)zb.buf;
    const uint8_t *host = (const uint8_t *)hb.buf, *op = (const uint8_t *)ob.buf;
    const int32_t *lt = (const int32_t *)lb.buf, *codes = (const int32_t *)cb.buf;
    const int32_t *ct = (const int32_t *)kb.buf;
    int wide = tb.itemsize == 4;
    if (ab.len % 8 || zb.len != ab.len || hb.len != nl || lb.len != nl * 4 ||
        cb.len != n * 4 || (tb.itemsize != 2 && tb.itemsize != 4) ||
        tb.len != n * tb.itemsize || kb.len % 4) {
        PyErr_SetString(PyExc_ValueError, "route_events: buffers of mismatched sizes");
        goto done;
    }
    if (check_line_ranges(a, z, nl, n, "route_events")) goto done;
    int bad = 0, fits = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t l = 0; l < nl && !bad; l++) {
        int32_t own = lt[l];
        for (int64_t e = a[l]; e < z[l]; e++) {
            int32_t c = codes[e], t;
            if (host[l] && op[e] && c >= 0) {
                if (c >= nc) { bad = 1; break; }
                t = ct[c];
            } else {
                t = own;
            }
            if (wide) {
                ((int32_t *)tb.buf)[e] = t;
            } else {
                ((int16_t *)tb.buf)[e] = (int16_t)t;
                fits &= t >= INT16_MIN && t <= INT16_MAX;
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (bad || !fits) {
        PyErr_SetString(PyExc_IndexError, bad ? "route_events: code out of range"
                                              : "route_events: a track does not fit int16");
        goto done;
    }
    out = Py_None;
    Py_INCREF(out);
done:
    PyBuffer_Release(&ab); PyBuffer_Release(&zb); PyBuffer_Release(&hb); PyBuffer_Release(&lb);
    PyBuffer_Release(&ob); PyBuffer_Release(&cb); PyBuffer_Release(&kb); PyBuffer_Release(&tb);
    return out;
}

/* find_ranges(ev_start, ev_end, ptr, refs, blocks, start_ns, end_ns, tmax)
 *     -> (lo, hi) as bytes of int64
 *
 *   The window [start_ns, end_ns) in each of `blocks`: block b holds positions
 *   ptr[b]..ptr[b+1], sorted by start, each position either a slice (refs empty: the
 *   raw segments) or refs[position] (int32 or int64: the LOD pool). lo is the first
 *   position starting at or after start_ns, or the one before it when that slice
 *   still runs into the window (slices of a block never overlap, so at most one
 *   does); hi the first starting at or after end_ns. Times are clamped to [0, tmax];
 *   an end past tmax takes the whole rest of the block. A binary search per block,
 *   on the slices' own starts: no sort keys stored.
 */
typedef struct {
    const int64_t *start, *end;
    Py_ssize_t n;
    const void *refs;
    int ref_size; /* 0: positions are slices */
    int bad;      /* a reference out of range (a damaged index file) */
} blocks_t;

static inline int64_t slice_at(blocks_t *B, int64_t i) {
    if (B->ref_size == 0) return i;
    int64_t r = int_at(B->refs, B->ref_size, i);
    if (r < 0 || r >= B->n) {
        B->bad = 1;
        return 0;
    }
    return r;
}

static int64_t lower_bound(blocks_t *B, int64_t a, int64_t b, int64_t t) {
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (B->start[slice_at(B, m)] < t)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static PyObject *find_ranges(PyObject *self, PyObject *args) {
    Py_buffer sb, eb, pb, rb, bb;
    long long start_ns, end_ns, tmax;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*LLL", &sb, &eb, &pb, &rb, &bb, &start_ns, &end_ns,
                          &tmax))
        return NULL;
    PyObject *result = NULL, *lo_b = NULL, *hi_b = NULL;
    Py_ssize_t n_ptr = pb.len / 8 - 1, nb = bb.len / 8;
    blocks_t B = {(const int64_t *)sb.buf, (const int64_t *)eb.buf, sb.len / 8, rb.buf,
                  rb.len == 0 ? 0 : (int)rb.itemsize, 0};
    const int64_t *ptr = (const int64_t *)pb.buf, *blocks = (const int64_t *)bb.buf;
    if (sb.len % 8 || eb.len != sb.len || pb.len % 8 || n_ptr < 0 || bb.len % 8 ||
        (B.ref_size != 0 && B.ref_size != 4 && B.ref_size != 8)) {
        PyErr_SetString(PyExc_ValueError, "find_ranges: bad arguments");
        goto done;
    }
    Py_ssize_t limit = B.ref_size ? rb.len / B.ref_size : B.n;
    for (Py_ssize_t j = 0; j < nb; j++) {
        int64_t b = blocks[j];
        if (b < 0 || b >= n_ptr || ptr[b] < 0 || ptr[b] > ptr[b + 1] || ptr[b + 1] > limit) {
            PyErr_SetString(PyExc_IndexError, "find_ranges: block out of range");
            goto done;
        }
    }
    lo_b = PyBytes_FromStringAndSize(NULL, nb * 8);
    hi_b = PyBytes_FromStringAndSize(NULL, nb * 8);
    if (!lo_b || !hi_b) goto done;
    int64_t *lo = (int64_t *)PyBytes_AS_STRING(lo_b), *hi = (int64_t *)PyBytes_AS_STRING(hi_b);
    int64_t qs = start_ns < 0 ? 0 : start_ns > tmax ? tmax : start_ns;
    int64_t qe = end_ns < 0 ? 0 : end_ns > tmax ? tmax : end_ns;
    for (Py_ssize_t j = 0; j < nb; j++) {
        int64_t a = ptr[blocks[j]], z = ptr[blocks[j] + 1];
        int64_t l = lower_bound(&B, a, z, qs);
        int64_t h = end_ns > tmax ? z : lower_bound(&B, a, z, qe);
        if (l > a && B.end[slice_at(&B, l - 1)] > start_ns) l--;
        lo[j] = l;
        hi[j] = h;
    }
    if (B.bad) {
        PyErr_SetString(PyExc_IndexError, "find_ranges: slice reference out of range");
        goto done;
    }
    result = PyTuple_Pack(2, lo_b, hi_b);
done:
    Py_XDECREF(lo_b);
    Py_XDECREF(hi_b);
    PyBuffer_Release(&sb); PyBuffer_Release(&eb); PyBuffer_Release(&pb);
    PyBuffer_Release(&rb); PyBuffer_Release(&bb);
    return result;
}

/* emit_slices(lo, hi, pooled, pool_ref, segs, seg_track, seg_depth, track_base,
 *             ev_start, ev_end, ev_name, ev_src, id_base, origin,
 *             out_start, out_dur, out_name, out_id, out_track, out_depth)
 *
 *   A viewport's slices, straight into the response's columns:
 *   for each queried segment j (segs[j]), positions lo[j]..hi[j) of its raw slices or,
 *   where pooled[j], of the LOD pool (pool_ref: int32 or int64). Per slice: start - origin
 *   and duration (ns; uint32 or float64 columns), host-local name id (uint16 or uint32),
 *   event id (ev_src + id_base, uint32), track (seg_track + track_base, uint16 or uint32)
 *   and depth (uint8 or uint16): each column's item size says its type, chosen by the
 *   caller from bounds it knows; a value that does not fit its column is an error, never
 *   wrapped. The outputs hold exactly sum(hi - lo) rows. No intermediate arrays: a
 *   viewport of 70k slices is ~5 MB of temporaries otherwise, each a fresh mapping to
 *   fault in per request.
 */
static inline int put_uint(void *buf, int size, Py_ssize_t i, uint64_t v) {
    switch (size) {
    case 1: ((uint8_t *)buf)[i] = (uint8_t)v; return v <= UINT8_MAX;
    case 2: ((uint16_t *)buf)[i] = (uint16_t)v; return v <= UINT16_MAX;
    default: ((uint32_t *)buf)[i] = (uint32_t)v; return v <= UINT32_MAX;
    }
}

static inline int put_time(void *buf, int size, Py_ssize_t i, int64_t v) {
    if (size == 8) {
        ((double *)buf)[i] = (double)v;
        return 1;
    }
    ((uint32_t *)buf)[i] = (uint32_t)v;
    return v >= 0 && v <= UINT32_MAX;
}

/* A pooled (LOD) slice is read from anywhere in the index: four cache misses, which the
 * loop requests this many slices ahead. Measured on 200 windows, one thread: p50 -7% at
 * 3M events, -14% at 10M, mean -25% (8 ahead: no gain; 32 and 64 alike). */
#define EMIT_AHEAD 64

typedef struct {
    const int64_t *lo, *hi, *segs, *st, *en;
    const uint8_t *pooled;
    const int32_t *nm, *trk, *dep;
    const void *ref, *src;
    void *o_s, *o_d, *o_n, *o_t, *o_dp;
    uint32_t *o_i;
    Py_ssize_t m, n;
    int64_t track_base, id_base, origin;
} emit_job;

/* The loop of emit_slices for given column widths (ref and src: 4 or 8 bytes; times 4 or
 * 8; names and tracks 2 or 4; depths 1 or 2). Called with constant widths for the usual
 * responses (the compiler then drops every per-value switch: 3M events, 200 windows, p50
 * 0.46 -> 0.34 ms) and with the actual ones otherwise. Returns 0 when a value does not fit its column, -1 when a
 * pooled slice is out of range. */
static inline __attribute__((always_inline)) int emit_loop(const emit_job *J, int rs, int xs,
                                                           int ts, int ns, int tks, int dps) {
    int fits = 1;
    Py_ssize_t at = 0;
    for (Py_ssize_t j = 0; j < J->m; j++) {
        int64_t track = J->trk[J->segs[j]] + J->track_base, depth = J->dep[J->segs[j]];
        int64_t lo = J->lo[j], hi = J->hi[j];
        if (hi <= lo) continue;
        if (track < 0 || depth < 0) fits = 0;
        /* A segment's slices share its track and depth. */
        for (Py_ssize_t i = at; i < at + (hi - lo); i++) {
            fits &= put_uint(J->o_t, tks, i, (uint64_t)track);
            fits &= put_uint(J->o_dp, dps, i, (uint64_t)depth);
        }
        const int pooled = J->pooled[j];
        for (int64_t q = lo; q < hi; q++, at++) {
            int64_t e = q;
            if (pooled) {
                e = int_at(J->ref, rs, q);
                if (e < 0 || e >= J->n) return -1;
                if (q + EMIT_AHEAD < hi) {  /* a pooled slice's four loads */
                    int64_t f = int_at(J->ref, rs, q + EMIT_AHEAD);
                    __builtin_prefetch(J->st + f);
                    __builtin_prefetch(J->en + f);
                    __builtin_prefetch(J->nm + f);
                    __builtin_prefetch((const char *)J->src + f * xs);
                }
            }
            int64_t s = J->st[e];
            fits &= put_time(J->o_s, ts, at, s - J->origin);
            fits &= put_time(J->o_d, ts, at, J->en[e] - s);
            fits &= put_uint(J->o_n, ns, at, (uint64_t)(uint32_t)J->nm[e]);
            J->o_i[at] = (uint32_t)(int_at(J->src, xs, e) + J->id_base);
        }
    }
    return fits;
}

static PyObject *emit_slices(PyObject *self, PyObject *args) {
    Py_buffer lb, hb, pb, rb, gb, tb, db, sb, eb, nb, xb, os_, od, on, oi, ot, odp;
    long long track_base, id_base, origin;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*Ly*y*y*y*LLw*w*w*w*w*w*", &lb, &hb, &pb, &rb,
                          &gb, &tb, &db, &track_base, &sb, &eb, &nb, &xb, &id_base, &origin,
                          &os_, &od, &on, &oi, &ot, &odp))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t m = lb.len / 8, n = sb.len / 8, n_seg = tb.len / 4;
    Py_ssize_t n_pool = rb.len && rb.itemsize ? rb.len / rb.itemsize : 0;
    const int64_t *lo = (const int64_t *)lb.buf, *hi = (const int64_t *)hb.buf;
    const int64_t *segs = (const int64_t *)gb.buf;
    const uint8_t *pooled = (const uint8_t *)pb.buf;
    if (lb.len % 8 || hb.len != lb.len || pb.len != m || gb.len != m * 8 || tb.len % 4 ||
        db.len != tb.len || sb.len % 8 || eb.len != sb.len || nb.len != n * 4 ||
        (xb.itemsize != 4 && xb.itemsize != 8) || xb.len != n * xb.itemsize ||
        (rb.len && rb.itemsize != 4 && rb.itemsize != 8) ||
        (os_.itemsize != 4 && os_.itemsize != 8) || od.itemsize != os_.itemsize ||
        (on.itemsize != 2 && on.itemsize != 4) || oi.itemsize != 4 ||
        (ot.itemsize != 2 && ot.itemsize != 4) || (odp.itemsize != 1 && odp.itemsize != 2)) {
        PyErr_SetString(PyExc_ValueError, "emit_slices: bad arguments");
        goto done;
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        if (segs[j] < 0 || segs[j] >= n_seg || lo[j] < 0 || hi[j] > (pooled[j] ? n_pool : n)) {
            PyErr_SetString(PyExc_IndexError, "emit_slices: range out of bounds");
            goto done;
        }
        if (hi[j] > lo[j]) k += hi[j] - lo[j];
    }
    if (os_.len != k * os_.itemsize || od.len != k * od.itemsize ||
        on.len != k * on.itemsize || oi.len != k * 4 || ot.len != k * ot.itemsize ||
        odp.len != k * odp.itemsize) {
        PyErr_SetString(PyExc_ValueError, "emit_slices: outputs of the wrong size");
        goto done;
    }
    emit_job J = {lo, hi, segs, (const int64_t *)sb.buf, (const int64_t *)eb.buf, pooled,
                  (const int32_t *)nb.buf, (const int32_t *)tb.buf, (const int32_t *)db.buf,
                  rb.buf, xb.buf, os_.buf, od.buf, on.buf, ot.buf, odp.buf, (uint32_t *)oi.buf,
                  m, n, track_base, id_base, origin};
    int rs = rb.len ? (int)rb.itemsize : 4, fits;
    Py_BEGIN_ALLOW_THREADS
    int usual = rs == 4 && xb.itemsize == 4 && on.itemsize == 2 && ot.itemsize == 2 &&
                odp.itemsize == 1;
    if (usual && os_.itemsize == 4)
        fits = emit_loop(&J, 4, 4, 4, 2, 2, 1);
    else if (usual)  /* a window whose slices span over 2^32 ns: float64 times */
        fits = emit_loop(&J, 4, 4, 8, 2, 2, 1);
    else
        fits = emit_loop(&J, rs, (int)xb.itemsize, (int)os_.itemsize, (int)on.itemsize,
                         (int)ot.itemsize, (int)odp.itemsize);
    Py_END_ALLOW_THREADS
    if (fits < 0) {
        PyErr_SetString(PyExc_IndexError, "emit_slices: slice out of range");
        goto done;
    }
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "emit_slices: a value does not fit its column");
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&lb); PyBuffer_Release(&hb); PyBuffer_Release(&pb); PyBuffer_Release(&rb);
    PyBuffer_Release(&gb); PyBuffer_Release(&tb); PyBuffer_Release(&db); PyBuffer_Release(&sb);
    PyBuffer_Release(&eb); PyBuffer_Release(&nb); PyBuffer_Release(&xb);
    PyBuffer_Release(&os_); PyBuffer_Release(&od); PyBuffer_Release(&on); PyBuffer_Release(&oi);
    PyBuffer_Release(&ot); PyBuffer_Release(&odp);
    return result;
}

/* compact_names(names, n_names, base) -> bytes of int64: the distinct ids, ascending
 *
 *   A viewport's name column (uint16 or uint32 ids into a table of n_names) rewritten in
 *   place to base + the rank of each id among those used, so that the response carries
 *   only the strings it uses. Returns the used ids in rank order.
 */
static inline uint32_t name_at(const Py_buffer *b, Py_ssize_t i) {
    return b->itemsize == 2 ? ((const uint16_t *)b->buf)[i] : ((const uint32_t *)b->buf)[i];
}

static PyObject *compact_names(PyObject *self, PyObject *args) {
    Py_buffer nb;
    Py_ssize_t n_names;
    long long base;
    if (!PyArg_ParseTuple(args, "w*nL", &nb, &n_names, &base)) return NULL;
    PyObject *result = NULL;
    uint32_t *rank = NULL;
    Py_ssize_t k = nb.itemsize ? nb.len / nb.itemsize : 0;
    uint64_t limit = nb.itemsize == 2 ? UINT16_MAX : UINT32_MAX;
    if ((nb.itemsize != 2 && nb.itemsize != 4) || nb.len % nb.itemsize || n_names < 0 ||
        base < 0 || (uint64_t)base + (uint64_t)n_names > limit + 1) {
        PyErr_SetString(PyExc_ValueError, "compact_names: bad arguments");
        goto done;
    }
    rank = (uint32_t *)PyMem_Calloc(n_names ? n_names : 1, sizeof(uint32_t));
    if (!rank) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        uint32_t v = name_at(&nb, i);
        if (v >= (uint64_t)n_names) {
            PyErr_SetString(PyExc_IndexError, "compact_names: name id out of range");
            goto done;
        }
        rank[v] = 1;
    }
    Py_ssize_t used = 0;
    for (Py_ssize_t j = 0; j < n_names; j++) used += rank[j];
    result = PyBytes_FromStringAndSize(NULL, used * 8);
    if (!result) goto done;
    int64_t *ids = (int64_t *)PyBytes_AS_STRING(result);
    Py_ssize_t r = 0;
    for (Py_ssize_t j = 0; j < n_names; j++)
        if (rank[j]) {
            ids[r] = j;
            rank[j] = (uint32_t)(base + r++);
        }
    if (nb.itemsize == 2)
        for (Py_ssize_t i = 0; i < k; i++)
            ((uint16_t *)nb.buf)[i] = (uint16_t)rank[((uint16_t *)nb.buf)[i]];
    else
        for (Py_ssize_t i = 0; i < k; i++)
            ((uint32_t *)nb.buf)[i] = rank[((uint32_t *)nb.buf)[i]];
done:
    PyMem_Free(rank);
    PyBuffer_Release(&nb);
    return result;
}

static PyMethodDef methods[] = {
    {"sort_slices", sort_slices, METH_VARARGS, "Order, depths and segments of a host's slices."},
    {"build_lod", build_lod, METH_VARARGS, "Level-of-detail blocks of sorted segments."},
    {"self_times", self_times, METH_VARARGS, "Self times that sort_slices left (deferred)."},
    {"row_sums", row_sums, METH_VARARGS, "Op table sums per row in one pass."},
    {"ps_to_ns", ps_to_ns, METH_VARARGS, "Event times in ns from the profile start."},
    {"find_ranges", find_ranges, METH_VARARGS, "A window's position range in each block."},
    {"moved_ops", moved_ops, METH_VARARGS, "CPU op events that move to device tracks."},
    {"route_events", route_events, METH_VARARGS, "Every event's track."},
    {"emit_slices", emit_slices, METH_VARARGS, "A viewport's slices into its wire columns."},
    {"compact_names", compact_names, METH_VARARGS, "A viewport's name ids, ranked in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_intervals", NULL, -1, methods};

PyMODINIT_FUNC PyInit__intervals(void) { return PyModule_Create(&module); }
