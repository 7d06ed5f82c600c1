/* Interval kernels for the timeline index that numpy cannot vectorise.
 *
 * nest_depths(start, end) -> bytes of int32 depths (and lane_depths, below)
 *   Input: int64 buffers of equal length, sorted by start ascending and, for
 *   equal starts, by end descending (parents before children). Output: the
 *   depth of each interval such that intervals at the same depth never
 *   overlap, and a properly nested interval sits exactly one level below its
 *   parent. A stack of open intervals gives this in O(n): pop what has ended,
 *   then the new interval goes on top. A partially overlapping interval (not
 *   contained in the top) still goes above it, so no two open intervals ever
 *   share a depth.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

/* The shared shape of nest_depths and lane_depths: two int64 buffers in, one int32
 * per interval out, the pass itself run without the GIL (it returns -1 when out of memory). */
typedef int (*interval_pass)(const int64_t *start, const int64_t *end, int32_t *out,
                             Py_ssize_t n);

static PyObject *run_pass(PyObject *args, interval_pass pass) {
    Py_buffer sb, eb;
    if (!PyArg_ParseTuple(args, "y*y*", &sb, &eb)) return NULL;
    PyObject *out = NULL;
    if (sb.len != eb.len || sb.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "start and end must be int64 buffers of equal length");
        goto done;
    }
    Py_ssize_t n = sb.len / 8;
    out = PyBytes_FromStringAndSize(NULL, n * 4);
    if (!out) goto done;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pass((const int64_t *)sb.buf, (const int64_t *)eb.buf,
              (int32_t *)PyBytes_AS_STRING(out), n);
    Py_END_ALLOW_THREADS
    if (rc != 0) { Py_CLEAR(out); PyErr_NoMemory(); }
done:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&eb);
    return out;
}

static int nest_pass(const int64_t *start, const int64_t *end, int32_t *depth, Py_ssize_t n) {
    int64_t *stack_end = n ? malloc(sizeof(int64_t) * n) : NULL;
    if (n && !stack_end) return -1;
    Py_ssize_t top = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        while (top > 0 && stack_end[top - 1] <= start[i]) top--;
        depth[i] = (int32_t)top;
        stack_end[top++] = end[i];
    }
    free(stack_end);
    return 0;
}

static PyObject *nest_depths(PyObject *self, PyObject *args) { return run_pass(args, nest_pass); }

/* lane_depths(start, end) -> bytes of int32 lanes
 *
 *   Same input order as nest_depths. For slices that overlap without nesting
 *   (GPU kernels of one stream running concurrently), each interval takes the
 *   lowest lane that is free at its start, so lanes never hold overlapping
 *   intervals and concurrent kernels sit side by side instead of in a staircase.
 *   Two binary heaps (busy lanes by end, free lanes by index): O(n log lanes).
 */
typedef struct { int64_t end; int32_t lane; } busy_t;

static void busy_push(busy_t *h, Py_ssize_t *n, busy_t v) {
    Py_ssize_t i = (*n)++;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (h[p].end <= v.end) break;
        h[i] = h[p]; i = p;
    }
    h[i] = v;
}

static busy_t busy_pop(busy_t *h, Py_ssize_t *n) {
    busy_t top = h[0], last = h[--(*n)];
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].end < h[c].end) c++;
        if (last.end <= h[c].end) break;
        h[i] = h[c]; i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void free_push(int32_t *h, Py_ssize_t *n, int32_t v) {
    Py_ssize_t i = (*n)++;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p]; i = p;
    }
    h[i] = v;
}

static int32_t free_pop(int32_t *h, Py_ssize_t *n) {
    int32_t top = h[0], last = h[--(*n)];
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (last <= h[c]) break;
        h[i] = h[c]; i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static int lane_pass(const int64_t *start, const int64_t *end, int32_t *lane, Py_ssize_t n) {
    busy_t *busy = n ? malloc(sizeof(busy_t) * n) : NULL;
    int32_t *freed = n ? malloc(sizeof(int32_t) * n) : NULL;
    if (n && (!busy || !freed)) { free(busy); free(freed); return -1; }
    Py_ssize_t nb = 0, nf = 0;
    int32_t lanes = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        while (nb > 0 && busy[0].end <= start[i]) free_push(freed, &nf, busy_pop(busy, &nb).lane);
        int32_t l = nf > 0 ? free_pop(freed, &nf) : lanes++;
        lane[i] = l;
        busy_t b = {end[i], l};
        busy_push(busy, &nb, b);
    }
    free(busy);
    free(freed);
    return 0;
}

static PyObject *lane_depths(PyObject *self, PyObject *args) { return run_pass(args, lane_pass); }

/* bucket_longest(start, dur, refs, level) -> bytes of int64 refs
 *
 *   refs index into start/dur and are sorted by start. Buckets are
 *   start >> level; for each bucket keep the ref with the longest duration
 *   (the first one on ties). One pass, O(len(refs)).
 */
static PyObject *bucket_longest(PyObject *self, PyObject *args) {
    Py_buffer sb, db, rb;
    int level;
    if (!PyArg_ParseTuple(args, "y*y*y*i", &sb, &db, &rb, &level)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = sb.len / 8, m = rb.len / 8;
    if (sb.len != db.len || sb.len % 8 || rb.len % 8 || level < 0 || level > 62) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to bucket_longest");
        goto done;
    }
    const int64_t *start = (const int64_t *)sb.buf, *dur = (const int64_t *)db.buf;
    const int64_t *refs = (const int64_t *)rb.buf;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (refs[i] < 0 || refs[i] >= n) {
            PyErr_SetString(PyExc_IndexError, "ref out of range in bucket_longest");
            goto done;
        }
    }
    int64_t *tmp = m > 0 ? malloc((size_t)m * sizeof(int64_t)) : NULL;
    if (m && !tmp) { PyErr_NoMemory(); goto done; }
    Py_ssize_t k = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t cur_bucket = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t r = refs[i], b = start[r] >> level;
        if (k == 0 || b != cur_bucket) {
            tmp[k++] = r;
            cur_bucket = b;
        } else if (dur[r] > dur[tmp[k - 1]]) {
            tmp[k - 1] = r;
        }
    }
    Py_END_ALLOW_THREADS
    out = PyBytes_FromStringAndSize((const char *)tmp, k * 8);
    free(tmp);
done:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&db);
    PyBuffer_Release(&rb);
    return out;
}

static PyMethodDef methods[] = {
    {"bucket_longest", bucket_longest, METH_VARARGS, "Longest ref per time bucket (int64 bytes)."},
    {"nest_depths", nest_depths, METH_VARARGS, "Nesting depth of sorted intervals (int32 bytes)."},
    {"lane_depths", lane_depths, METH_VARARGS, "Lowest free lane of sorted intervals (int32 bytes)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_intervals", NULL, -1, methods};

PyMODINIT_FUNC PyInit__intervals(void) { return PyModule_Create(&module); }
