/* Protobuf wire format, read: the primitives both C parsers share, once.
 * (xplane/_xspace.c reads XSpace profiles; analysis/_hlocost.c reads HLO modules.)
 *
 * Every read is bounded by `end`, the end of the enclosing message, and returns
 * WIRE_OK or a WIRE_* error without touching the caller's state; `wire_errors` words
 * each error, and the caller says where (a byte offset) in its own way. On an error
 * of `wire_varint` *pos is unchanged, so it is where the bad varint starts.
 */
#ifndef XDIAG_WIRE_H
#define XDIAG_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

enum {
    WIRE_OK = 0,
    WIRE_TRUNCATED_VARINT,
    WIRE_LONG_VARINT,
    WIRE_BAD_TAG,
    WIRE_PAST_END,
    WIRE_TRUNCATED_FIXED64,
    WIRE_TRUNCATED_FIXED32,
    WIRE_BAD_WIRE_TYPE,
    WIRE_UNEXPECTED_END_GROUP,
    WIRE_MISMATCHED_END_GROUP,
    WIRE_UNTERMINATED_GROUP,
    WIRE_GROUPS_TOO_DEEP,
};

static const char *const wire_errors[] = {
    "",
    "truncated varint",
    "varint longer than 10 bytes",
    "invalid field tag",
    "length runs past the end of its message",
    "truncated fixed64 field",
    "truncated fixed32 field",
    "invalid wire type",
    "unexpected end-group tag",
    "mismatched end-group tag",
    "unterminated group",
    "groups nested too deeply",
};

#define WIRE_MAX_GROUP_DEPTH 64 /* deprecated groups inside groups; real data has none */

/* A varint (at most 10 bytes); most tags and small values take the one-byte path. */
static inline int wire_varint(const uint8_t *b, size_t *pos, size_t end, uint64_t *out) {
    size_t i = *pos;
    if (i < end && b[i] < 0x80) {
        *out = b[i];
        *pos = i + 1;
        return WIRE_OK;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (i >= end) return WIRE_TRUNCATED_VARINT;
        uint8_t c = b[i++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *out = v;
            *pos = i;
            return WIRE_OK;
        }
    }
    return WIRE_LONG_VARINT;
}

/* A field's tag: its number (not 0, below 2^29) and wire type. */
static inline int wire_tag(const uint8_t *b, size_t *pos, size_t end, uint32_t *field, int *wt) {
    uint64_t t;
    int e = wire_varint(b, pos, end, &t);
    if (e) return e;
    if (t > 0xFFFFFFFFu || (t >> 3) == 0) return WIRE_BAD_TAG;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return WIRE_OK;
}

/* A length prefix whose payload fits in [*pos, end) once it is read. */
static inline int wire_len(const uint8_t *b, size_t *pos, size_t end, uint64_t *len) {
    int e = wire_varint(b, pos, end, len);
    if (e) return e;
    return *len > (uint64_t)(end - *pos) ? WIRE_PAST_END : WIRE_OK;
}

/* Skips the value of a field whose tag (at `tag_at`) was just read, groups included.
 * On an error, *at is where it was found. */
static int wire_skip(const uint8_t *b, size_t *pos, size_t end, uint32_t field, int wt,
                     size_t tag_at, int depth, size_t *at) {
    uint64_t v;
    int e;
    switch (wt) {
        case WT_VARINT:
            *at = *pos;
            return wire_varint(b, pos, end, &v);
        case WT_I64:
            if (end - *pos < 8) return *at = *pos, WIRE_TRUNCATED_FIXED64;
            *pos += 8;
            return WIRE_OK;
        case WT_LEN:
            *at = *pos;
            if ((e = wire_len(b, pos, end, &v))) return e;
            *pos += (size_t)v;
            return WIRE_OK;
        case WT_I32:
            if (end - *pos < 4) return *at = *pos, WIRE_TRUNCATED_FIXED32;
            *pos += 4;
            return WIRE_OK;
        case WT_SGROUP:
            if (depth > WIRE_MAX_GROUP_DEPTH) return *at = tag_at, WIRE_GROUPS_TOO_DEEP;
            while (*pos < end) {
                size_t inner = *pos;
                uint32_t f;
                int w;
                if ((e = wire_tag(b, pos, end, &f, &w))) return *at = inner, e;
                if (w == WT_EGROUP)
                    return f == field ? WIRE_OK : (*at = inner, WIRE_MISMATCHED_END_GROUP);
                if ((e = wire_skip(b, pos, end, f, w, inner, depth + 1, at))) return e;
            }
            return *at = tag_at, WIRE_UNTERMINATED_GROUP;
        case WT_EGROUP:
            return *at = tag_at, WIRE_UNEXPECTED_END_GROUP;
        default:
            return *at = tag_at, WIRE_BAD_WIRE_TYPE;
    }
}

#endif
