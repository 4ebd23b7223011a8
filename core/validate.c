/* Host-side argument validation, shared by every backend (DESIGN.md invariants 3 and 4).
 *
 * Each op is described by a table of its tensor arguments (name, rank, allowed dtypes, required or
 * optional, output or input) plus one function for what only that op knows (fixed dims, shapes
 * agreeing across arguments, scalars). Checks run in four phases, so that the most specific code
 * wins when one mistake trips several rules (a wrong D also makes the contiguous strides look
 * overlapping; the report should say "shape", not "stride"):
 *   1. per tensor: present if required (NULL_POINTER), buffer given when buffers are needed
 *      (NULL_POINTER), rank (BAD_SHAPE), no negative dim (BAD_SHAPE), dtype (BAD_DTYPE);
 *   2. per op: fixed dims and cross-argument agreement (BAD_SHAPE), dims that become int32 indices
 *      (OVERFLOW), scalar ranges (INVALID_ARGUMENT), conditionally required tensors (NULL_POINTER);
 *   3. per tensor, the memory layout: innermost stride 1, no negative stride, no overlap
 *      (BAD_STRIDE); offset a multiple of the element size (INVALID_ARGUMENT: it is a bad value of
 *      the offset field, not a stride); extent fits in int64 (OVERFLOW); buffer of this context
 *      (WRONG_CONTEXT); view inside its buffer (OUT_OF_BOUNDS);
 *   4. outputs overlapping inputs or other outputs (ALIASING).
 * With need_buffers == 0 (workspace queries, prepare) buffers may be NULL; whatever is given is
 * still checked, so a query never succeeds on arguments that the op itself would reject.
 * Device-resident values (indices, ranges, slots, page tables, lengths) are never read. */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#define TRY(expr)                                                                                   \
    do {                                                                                            \
        dsa_status try_st_ = (expr);                                                                \
        if (try_st_ != DSA_SUCCESS) return try_st_;                                                 \
    } while (0)

#define LL(x) ((long long)(x))
#define ULL(x) ((unsigned long long)(x))
#define DT(x) (1u << (x))
#define FLOATS (DT(DSA_BF16) | DT(DSA_FP16) | DT(DSA_FP32))
#define INDEXER_DT (DT(DSA_FP8_E4M3) | DT(DSA_BF16) | DT(DSA_FP32))
#define I32 DT(DSA_INT32)
#define F32 DT(DSA_FP32)
#define INT32_INDEX_MAX 2147483647LL
#define MAX_TOPK 65536

/* ---- checked 64-bit arithmetic ---------------------------------------------------------------- */

static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *r = a * b;
    return 1;
}

static int add_ok(uint64_t a, uint64_t b, uint64_t *r)
{
    if (b > UINT64_MAX - a) return 0;
    *r = a + b;
    return 1;
}

/* acc += (n - 1) * stride for a dimension of n >= 1 elements; 0 on overflow. */
static int add_span(uint64_t *acc, int64_t n, int64_t stride)
{
    uint64_t term;
    return mul_ok((uint64_t)(n - 1), (uint64_t)stride, &term) && add_ok(*acc, term, acc);
}

static int is_empty(const dsa_tensor *t)
{
    for (int d = 0; d < t->rank; d++)
        if (t->shape[d] == 0) return 1;
    return 0;
}

/* Does not set the error message: dsa_validate reports with context. Extents are capped at
 * INT64_MAX (reported as OVERFLOW) so that kernels may do their offset arithmetic in int64. */
dsa_status dsa_tensor_extent(const dsa_tensor *t, uint64_t *begin, uint64_t *end)
{
    uint64_t es = dsa_dtype_size(t->dtype), last = 0, bytes, stop;
    *begin = *end = 0;
    if (es == 0) return DSA_ERROR_BAD_DTYPE;
    if (t->rank < 1 || t->rank > DSA_MAX_RANK) return DSA_ERROR_BAD_SHAPE;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0) return DSA_ERROR_BAD_SHAPE;
        if (t->strides[d] < 0) return DSA_ERROR_BAD_STRIDE;
    }
    if (is_empty(t)) return DSA_SUCCESS;
    for (int d = 0; d < t->rank; d++)
        if (!add_span(&last, t->shape[d], t->strides[d])) return DSA_ERROR_OVERFLOW;
    if (!mul_ok(last, es, &bytes) || !add_ok(bytes, es, &bytes) || !add_ok(t->offset, bytes, &stop) ||
        stop > (uint64_t)INT64_MAX)
        return DSA_ERROR_OVERFLOW;
    *begin = t->offset;
    *end = stop;
    return DSA_SUCCESS;
}

/* ---- per-tensor specs ------------------------------------------------------------------------- */

enum { OPT = 0, REQ = 1, OUT = 2 }; /* OUT also marks the cache writers' in/out cache */

typedef struct tensor_spec {
    const char *name;
    size_t off;        /* offsetof the dsa_tensor in the op's argument struct */
    int rank;          /* exact rank; 0 = any of 1..DSA_MAX_RANK (quantization) */
    unsigned dtypes;   /* DT() mask */
    unsigned flags;
    const char *dims;  /* symbolic shape for messages */
} tensor_spec;

#define T(type, field, rank, dtypes, flags, dims) {#field, offsetof(type, field), rank, dtypes, flags, dims}

static const dsa_tensor *tensor_at(const void *args, const tensor_spec *s)
{
    return (const dsa_tensor *)((const char *)args + s->off);
}

static const char *dtype_list(unsigned mask, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int t = DSA_BF16; t <= DSA_FP8_E4M3; t++)
        if ((mask & DT(t)) && used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " or " : "",
                                     dsa_dtype_name((dsa_dtype)t));
    return buf;
}

/* "[a, b, c]" */
static const char *dims_text(const int64_t *v, int n, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < n && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "", LL(v[d]));
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

/* Phase 1: presence, buffer, rank, dims, dtype. */
static dsa_status check_basic(const char *op, const tensor_spec *s, const dsa_tensor *t, int need_buffers)
{
    if (!dsa_tensor_present(t))
        return (s->flags & REQ) ? dsa_fail(DSA_ERROR_NULL_POINTER, "%s: %s is absent, expected a %s tensor",
                                           op, s->name, s->dims)
                                : DSA_SUCCESS;
    if (need_buffers && !t->buffer)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: %s.buffer is NULL, expected a buffer", op, s->name);
    int lo = s->rank ? s->rank : 1, hi = s->rank ? s->rank : DSA_MAX_RANK;
    if (t->rank < lo || t->rank > hi)
        return s->rank ? dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.rank is %d, expected %d (%s)", op, s->name,
                                  t->rank, s->rank, s->dims)
                       : dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.rank is %d, expected 1..%d (%s)", op, s->name,
                                  t->rank, DSA_MAX_RANK, s->dims);
    for (int d = 0; d < t->rank; d++)
        if (t->shape[d] < 0)
            return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[%d] is %lld, expected >= 0", op, s->name,
                            d, LL(t->shape[d]));
    if ((unsigned)t->dtype >= 32 || !(s->dtypes & DT(t->dtype))) {
        char list[96];
        return dsa_fail(DSA_ERROR_BAD_DTYPE, "%s: %s.dtype is %s (%d), expected %s", op, s->name,
                        dsa_dtype_name(t->dtype), (int)t->dtype, dtype_list(s->dtypes, list, sizeof list));
    }
    return DSA_SUCCESS;
}

/* Phase 3, strides. Rule: the innermost stride is 1 and no stride is negative; for every outer
 * dimension d of size > 1, strides[d] >= the span of one index of d (1 + sum over e > d of
 * (shape[e] - 1) * strides[e]), which is exactly "no two elements share an address". A dimension
 * of size 1 never multiplies its stride, so its stride is not checked; an empty view has no
 * elements to overlap. */
static dsa_status check_strides(const char *op, const tensor_spec *s, const dsa_tensor *t)
{
    int r = t->rank;
    if (t->strides[r - 1] != 1)
        return dsa_fail(DSA_ERROR_BAD_STRIDE, "%s: %s.strides[%d] is %lld, expected 1 (innermost is contiguous)",
                        op, s->name, r - 1, LL(t->strides[r - 1]));
    for (int d = 0; d < r; d++)
        if (t->strides[d] < 0)
            return dsa_fail(DSA_ERROR_BAD_STRIDE, "%s: %s.strides[%d] is %lld, expected >= 0", op, s->name,
                            d, LL(t->strides[d]));
    if (is_empty(t)) return DSA_SUCCESS;
    uint64_t span = 1;
    for (int d = r - 1; d >= 0; d--) {
        if (t->shape[d] <= 1) continue;
        if (d < r - 1 && (uint64_t)t->strides[d] < span)
            return dsa_fail(DSA_ERROR_BAD_STRIDE,
                            "%s: %s.strides[%d] is %lld, expected >= %llu (elements would overlap)", op,
                            s->name, d, LL(t->strides[d]), ULL(span));
        if (!add_span(&span, t->shape[d], t->strides[d]))
            return dsa_fail(DSA_ERROR_OVERFLOW, "%s: %s.shape[%d] is %lld and strides[%d] is %lld: the view spans "
                            "more than 2^64 elements", op, s->name, d, LL(t->shape[d]), d, LL(t->strides[d]));
    }
    return DSA_SUCCESS;
}

/* Phase 3: layout, extent, context, bounds. */
static dsa_status check_layout(const dsa_context *ctx, const char *op, const tensor_spec *s, const dsa_tensor *t)
{
    if (!dsa_tensor_present(t)) return DSA_SUCCESS;
    TRY(check_strides(op, s, t));
    size_t es = dsa_dtype_size(t->dtype);
    if (t->offset % es)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: %s.offset is %llu, expected a multiple of %zu (%s)",
                        op, s->name, ULL(t->offset), es, dsa_dtype_name(t->dtype));
    uint64_t begin, end;
    char dims[96], strides[96];
    if (dsa_tensor_extent(t, &begin, &end) != DSA_SUCCESS)
        return dsa_fail(DSA_ERROR_OVERFLOW, "%s: %s view (offset %llu, shape %s, strides %s) ends past byte "
                        "2^63, expected a view addressable with int64 byte offsets", op, s->name, ULL(t->offset),
                        dims_text(t->shape, t->rank, dims, sizeof dims),
                        dims_text(t->strides, t->rank, strides, sizeof strides));
    if (!t->buffer) return DSA_SUCCESS;
    if (t->buffer->ctx != ctx)
        return dsa_fail(DSA_ERROR_WRONG_CONTEXT, "%s: %s.buffer belongs to another context, expected one of this context",
                        op, s->name);
    uint64_t size = dsa_buffer_size(t->buffer);
    if (end > size)
        return dsa_fail(DSA_ERROR_OUT_OF_BOUNDS, "%s: %s view ends at byte %llu but its buffer has %llu bytes", op,
                        s->name, ULL(end), ULL(size));
    return DSA_SUCCESS;
}

/* Phase 4. Byte ranges [first, last + 1) are compared, so two padded views whose rows interleave
 * are reported too: conservative, and such interleaving is never needed by these ops. */
static dsa_status check_aliasing(const char *op, const tensor_spec *sp, int n, const void *args)
{
    for (int i = 0; i < n; i++) {
        const dsa_tensor *o = tensor_at(args, &sp[i]);
        uint64_t ob, oe;
        if (!(sp[i].flags & OUT) || !o->buffer || dsa_tensor_extent(o, &ob, &oe) || ob == oe) continue;
        for (int j = 0; j < n; j++) {
            const dsa_tensor *t = tensor_at(args, &sp[j]);
            uint64_t tb, te;
            if (j == i || (j < i && (sp[j].flags & OUT)) || t->buffer != o->buffer ||
                dsa_tensor_extent(t, &tb, &te) || tb == te)
                continue;
            if (ob < te && tb < oe)
                return dsa_fail(DSA_ERROR_ALIASING,
                                "%s: %s (bytes [%llu, %llu)) overlaps %s (bytes [%llu, %llu)) in the same buffer, "
                                "expected disjoint views",
                                op, sp[i].name, ULL(ob), ULL(oe), sp[j].name, ULL(tb), ULL(te));
        }
    }
    return DSA_SUCCESS;
}

/* ---- phase 2 helpers -------------------------------------------------------------------------- */

static dsa_status dim_in(const char *op, const char *name, const dsa_tensor *t, int d, int64_t lo, int64_t hi,
                         const char *what)
{
    if (t->shape[d] >= lo && t->shape[d] <= hi) return DSA_SUCCESS;
    return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[%d] is %lld, expected %lld..%lld (%s)", op, name, d,
                    LL(t->shape[d]), LL(lo), LL(hi), what);
}

/* A dimension that kernels index with int32 (Skv, L, M). */
static dsa_status index_dim(const char *op, const char *name, const dsa_tensor *t, int d)
{
    if (t->shape[d] <= INT32_INDEX_MAX) return DSA_SUCCESS;
    return dsa_fail(DSA_ERROR_OVERFLOW, "%s: %s.shape[%d] is %lld, expected <= 2147483647 (an int32 index)", op,
                    name, d, LL(t->shape[d]));
}

/* t (if present) has rank n and shape want[]; dims is the symbolic shape for the message. */
static dsa_status shape_is(const char *op, const char *name, const dsa_tensor *t, const char *dims, int n,
                           const int64_t *want)
{
    if (!dsa_tensor_present(t)) return DSA_SUCCESS;
    for (int d = 0; d < n; d++)
        if (t->shape[d] != want[d])
            return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[%d] is %lld, expected %lld (%s is %s)", op, name,
                            d, LL(t->shape[d]), LL(want[d]), name, dims);
    return DSA_SUCCESS;
}

#define SHAPE(t, dims, ...)                                                                         \
    TRY(shape_is(op, #t, &a->t, dims, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),   \
                 (int64_t[]){__VA_ARGS__}))

static dsa_status finite_scale(const char *op, float sm_scale)
{
    if (isfinite(sm_scale)) return DSA_SUCCESS;
    return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: sm_scale is %g, expected a finite number", op,
                    (double)sm_scale);
}

/* A paged cache [num_pages, P, row_bytes] uint8. P >= 1 (kernels divide by it). The packed
 * (132-byte) layout keeps a page's values and scales in two regions, so its tokens sit exactly
 * row_bytes apart; the 656-byte layout allows a padded token stride, with pages at least
 * P token strides apart. Dims of size 1 do not constrain their stride (as in check_strides). */
static dsa_status cache_shape(const char *op, const char *name, const dsa_tensor *c, int64_t row_bytes, int packed)
{
    int64_t pages = c->shape[0], P = c->shape[1];
    uint64_t slots;
    if (c->shape[2] != row_bytes)
        return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[2] is %lld, expected %lld (bytes per token)", op, name,
                        LL(c->shape[2]), LL(row_bytes));
    if (P < 1)
        return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[1] is %lld, expected >= 1 (the page size P)", op, name,
                        LL(P));
    if (!mul_ok((uint64_t)pages, (uint64_t)P, &slots) || slots > (uint64_t)INT32_INDEX_MAX)
        return dsa_fail(DSA_ERROR_OVERFLOW, "%s: %s.shape is [%lld, %lld, ...], expected at most 2147483647 slots "
                        "(slots are int32)", op, name, LL(pages), LL(P));
    if (packed && P > 1 && c->strides[1] != row_bytes)
        return dsa_fail(DSA_ERROR_BAD_STRIDE, "%s: %s.strides[1] is %lld, expected %lld (tokens packed in a page)",
                        op, name, LL(c->strides[1]), LL(row_bytes));
    /* Negative strides are left to check_strides, which says so. */
    if (!packed && P > 1 && pages > 1 && c->strides[1] > 0 && c->strides[0] >= 0 &&
        (c->strides[1] > INT64_MAX / P || c->strides[0] < P * c->strides[1]))
        return dsa_fail(DSA_ERROR_BAD_STRIDE, "%s: %s.strides[0] is %lld, expected >= %lld (P * strides[1]: "
                        "pages do not overlap)", op, name, LL(c->strides[0]),
                        c->strides[1] > INT64_MAX / P ? LL(INT64_MAX) : LL(P * c->strides[1]));
    return DSA_SUCCESS;
}

/* ---- phase 2, per op -------------------------------------------------------------------------- */

static dsa_status indexer_shapes(const char *op, const void *args)
{
    const dsa_indexer_args *a = args;
    int64_t S = a->q.shape[0], H = a->q.shape[1], Skv = a->k.shape[0];
    SHAPE(q, "[S, H, 128]", S, H, 128);
    TRY(dim_in(op, "q", &a->q, 1, 1, 128, "H"));
    TRY(index_dim(op, "k", &a->k, 0));
    if (a->k.dtype != a->q.dtype)
        return dsa_fail(DSA_ERROR_BAD_DTYPE, "%s: k.dtype is %s, expected %s (the dtype of q)", op,
                        dsa_dtype_name(a->k.dtype), dsa_dtype_name(a->q.dtype));
    if (a->q.dtype == DSA_FP8_E4M3 && !dsa_tensor_present(&a->k_scale))
        return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: k_scale is absent, expected [Skv] fp32 (required for fp8)", op);
    SHAPE(k, "[Skv, 128]", Skv, 128);
    SHAPE(k_scale, "[Skv]", Skv);
    SHAPE(weights, "[S, H]", S, H);
    SHAPE(ks, "[S]", S);
    SHAPE(ke, "[S]", S);
    SHAPE(logits, "[S, Skv]", S, Skv);
    return DSA_SUCCESS;
}

static dsa_status indexer_decode_shapes(const char *op, const void *args)
{
    const dsa_indexer_decode_args *a = args;
    int64_t B = a->q.shape[0], N = a->q.shape[1], H = a->q.shape[2];
    SHAPE(q, "[B, N, H, 128]", B, N, H, 128);
    TRY(dim_in(op, "q", &a->q, 1, 1, 4, "N, draft tokens"));
    TRY(dim_in(op, "q", &a->q, 2, 1, 128, "H"));
    TRY(cache_shape(op, "k_cache", &a->k_cache, 132, 1));
    TRY(index_dim(op, "logits", &a->logits, 1));
    if (B > INT64_MAX / N) /* N >= 1 here */
        return dsa_fail(DSA_ERROR_OVERFLOW, "%s: q.shape[0] is %lld: B * N overflows", op, LL(B));
    SHAPE(weights, "[B*N, H]", B * N, H);
    SHAPE(context_lens, "[B]", B);
    SHAPE(block_table, "[B, max_pages]", B, a->block_table.shape[1]);
    SHAPE(logits, "[B*N, max_context_len]", B * N, a->logits.shape[1]);
    return DSA_SUCCESS;
}

static dsa_status topk_slot_args(const char *op, const dsa_topk_args *a, int64_t S)
{
    if (a->form != DSA_TOPK_SLOT) {
        if (dsa_tensor_present(&a->block_table))
            return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: block_table is given but form is %d, expected "
                            "form 2 (slot) or no block_table", op, (int)a->form);
        return DSA_SUCCESS;
    }
    if (!dsa_tensor_present(&a->block_table))
        return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: block_table is absent, expected [B, max_pages] int32 "
                        "(required by the slot form)", op);
    if (a->page_size < 1 || a->page_size > MAX_TOPK)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: page_size is %lld, expected 1..65536", op,
                        LL(a->page_size));
    int64_t B = a->block_table.shape[0];
    if (S > 0 && (B < 1 || S % B != 0))
        return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: block_table.shape[0] is %lld, expected a divisor of S = %lld",
                        op, LL(B), LL(S));
    return DSA_SUCCESS;
}

static dsa_status topk_shapes(const char *op, const void *args)
{
    const dsa_topk_args *a = args;
    int64_t S = a->scores.shape[0];
    if ((unsigned)a->form > DSA_TOPK_SLOT)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: form is %d, expected 0 (absolute), 1 (relative) or 2 (slot)",
                        op, (int)a->form);
    if (a->k < 1 || a->k > MAX_TOPK)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: k is %lld, expected 1..65536", op, LL(a->k));
    TRY(index_dim(op, "scores", &a->scores, 1));
    if (dsa_tensor_present(&a->ks) != dsa_tensor_present(&a->ke))
        return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: %s is absent, expected [S] int32 (ks and ke come together)",
                        op, dsa_tensor_present(&a->ks) ? "ke" : "ks");
    if (dsa_tensor_present(&a->ks) && dsa_tensor_present(&a->lengths))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: lengths is given with ks/ke, expected one or the other", op);
    SHAPE(ks, "[S]", S);
    SHAPE(ke, "[S]", S);
    SHAPE(lengths, "[S]", S);
    SHAPE(indices, "[S, k]", S, a->k);
    return topk_slot_args(op, a, S);
}

static dsa_status prefill_shapes(const char *op, const void *args)
{
    const dsa_sparse_mla_prefill_args *a = args;
    int64_t S = a->q.shape[0], Hq = a->q.shape[1], D = a->q.shape[2], Skv = a->kv.shape[0];
    int64_t topk = a->indices.shape[2];
    if (D != 512 && D != 576)
        return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: q.shape[2] is %lld, expected 512 or 576", op, LL(D));
    TRY(dim_in(op, "q", &a->q, 1, 1, 128, "Hq"));
    TRY(index_dim(op, "kv", &a->kv, 0));
    TRY(dim_in(op, "indices", &a->indices, 2, 1, MAX_TOPK, "topk"));
    TRY(finite_scale(op, a->sm_scale));
    SHAPE(kv, "[Skv, 1, Dqk]", Skv, 1, D);
    SHAPE(indices, "[S, 1, topk]", S, 1, topk);
    SHAPE(topk_length, "[S]", S);
    SHAPE(attn_sink, "[Hq]", Hq);
    SHAPE(out, "[S, Hq, 512]", S, Hq, 512);
    SHAPE(max_logits, "[S, Hq]", S, Hq);
    SHAPE(lse, "[S, Hq]", S, Hq);
    return DSA_SUCCESS;
}

static dsa_status decode_shapes(const char *op, const void *args)
{
    const dsa_sparse_mla_decode_args *a = args;
    int64_t B = a->q.shape[0], Sq = a->q.shape[1], Hq = a->q.shape[2], topk = a->indices.shape[2];
    SHAPE(q, "[B, Sq, Hq, 576]", B, Sq, Hq, 576);
    TRY(dim_in(op, "q", &a->q, 2, 1, 128, "Hq"));
    TRY(cache_shape(op, "kv_cache", &a->kv_cache, 656, 0));
    TRY(dim_in(op, "indices", &a->indices, 2, 1, MAX_TOPK, "topk"));
    TRY(finite_scale(op, a->sm_scale));
    SHAPE(indices, "[B, Sq, topk]", B, Sq, topk);
    SHAPE(topk_length, "[B]", B);
    SHAPE(attn_sink, "[Hq]", Hq);
    SHAPE(out, "[B, Sq, Hq, 512]", B, Sq, Hq, 512);
    SHAPE(lse, "[B, Hq, Sq]", B, Hq, Sq);
    return DSA_SUCCESS;
}

static dsa_status cache_write_shapes(const char *op, const dsa_cache_write_args *a, int64_t width, int64_t row_bytes)
{
    int64_t N = a->rows.shape[0];
    SHAPE(rows, width == 576 ? "[N, 576]" : "[N, 128]", N, width);
    TRY(cache_shape(op, "cache", &a->cache, row_bytes, row_bytes == 132));
    SHAPE(slots, "[N]", N);
    return DSA_SUCCESS;
}

static dsa_status cache_read_shapes(const char *op, const dsa_cache_read_args *a, int64_t width, int64_t row_bytes)
{
    int64_t N = a->slots.shape[0];
    TRY(cache_shape(op, "cache", &a->cache, row_bytes, row_bytes == 132));
    SHAPE(out, width == 576 ? "[N, 576]" : "[N, 128]", N, width);
    return DSA_SUCCESS;
}

static dsa_status kv_write_shapes(const char *op, const void *a) { return cache_write_shapes(op, a, 576, 656); }
static dsa_status index_write_shapes(const char *op, const void *a) { return cache_write_shapes(op, a, 128, 132); }
static dsa_status kv_read_shapes(const char *op, const void *a) { return cache_read_shapes(op, a, 576, 656); }
static dsa_status index_read_shapes(const char *op, const void *a) { return cache_read_shapes(op, a, 128, 132); }

/* x [..., 128*g] (the value tensor) with same = a tensor of x's shape and s = [..., g]. */
static dsa_status group_shapes(const char *op, const char *xn, const dsa_tensor *x, const char *qn,
                               const dsa_tensor *same, const char *sn, const dsa_tensor *s)
{
    int r = x->rank;
    int64_t last = x->shape[r - 1];
    if (last <= 0 || last % 128)
        return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[%d] is %lld, expected a positive multiple of 128", op,
                        xn, r - 1, LL(last));
    const dsa_tensor *t[2] = {same, s};
    const char *n[2] = {qn, sn};
    for (int i = 0; i < 2; i++) {
        if (t[i]->rank != r)
            return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.rank is %d, expected %d (the rank of %s)", op, n[i],
                            t[i]->rank, r, xn);
        for (int d = 0; d < r; d++) {
            int64_t want = (i == 1 && d == r - 1) ? last / 128 : x->shape[d];
            if (t[i]->shape[d] != want)
                return dsa_fail(DSA_ERROR_BAD_SHAPE, "%s: %s.shape[%d] is %lld, expected %lld (%s of %s)", op, n[i],
                                d, LL(t[i]->shape[d]), LL(want), i ? "one scale per 128 values" : "the shape", xn);
        }
    }
    return DSA_SUCCESS;
}

static dsa_status quantize_shapes(const char *op, const void *args)
{
    const dsa_quantize_args *a = args;
    return group_shapes(op, "x", &a->x, "q", &a->q, "scales", &a->scales);
}

static dsa_status dequantize_shapes(const char *op, const void *args)
{
    const dsa_dequantize_args *a = args;
    return group_shapes(op, "q", &a->q, "out", &a->out, "scales", &a->scales);
}

/* ---- the tables ------------------------------------------------------------------------------- */

static const tensor_spec indexer_t[] = {
    T(dsa_indexer_args, q, 3, INDEXER_DT, REQ, "[S, H, 128]"),
    T(dsa_indexer_args, k, 2, INDEXER_DT, REQ, "[Skv, 128]"),
    T(dsa_indexer_args, k_scale, 1, F32, OPT, "[Skv]"),
    T(dsa_indexer_args, weights, 2, F32, REQ, "[S, H]"),
    T(dsa_indexer_args, ks, 1, I32, REQ, "[S]"),
    T(dsa_indexer_args, ke, 1, I32, REQ, "[S]"),
    T(dsa_indexer_args, logits, 2, F32, REQ | OUT, "[S, Skv]"),
};
static const tensor_spec indexer_decode_t[] = {
    T(dsa_indexer_decode_args, q, 4, DT(DSA_FP8_E4M3), REQ, "[B, N, H, 128]"),
    T(dsa_indexer_decode_args, k_cache, 3, DT(DSA_UINT8), REQ, "[num_pages, P, 132]"),
    T(dsa_indexer_decode_args, weights, 2, F32, REQ, "[B*N, H]"),
    T(dsa_indexer_decode_args, context_lens, 1, I32, REQ, "[B]"),
    T(dsa_indexer_decode_args, block_table, 2, I32, REQ, "[B, max_pages]"),
    T(dsa_indexer_decode_args, logits, 2, F32, REQ | OUT, "[B*N, max_context_len]"),
};
static const tensor_spec topk_t[] = {
    T(dsa_topk_args, scores, 2, F32, REQ, "[S, L]"),
    T(dsa_topk_args, ks, 1, I32, OPT, "[S]"),
    T(dsa_topk_args, ke, 1, I32, OPT, "[S]"),
    T(dsa_topk_args, lengths, 1, I32, OPT, "[S]"),
    T(dsa_topk_args, block_table, 2, I32, OPT, "[B, max_pages]"),
    T(dsa_topk_args, indices, 2, I32, REQ | OUT, "[S, k]"),
};
static const tensor_spec prefill_t[] = {
    T(dsa_sparse_mla_prefill_args, q, 3, DT(DSA_BF16), REQ, "[S, Hq, Dqk]"),
    T(dsa_sparse_mla_prefill_args, kv, 3, DT(DSA_BF16), REQ, "[Skv, 1, Dqk]"),
    T(dsa_sparse_mla_prefill_args, indices, 3, I32, REQ, "[S, 1, topk]"),
    T(dsa_sparse_mla_prefill_args, topk_length, 1, I32, OPT, "[S]"),
    T(dsa_sparse_mla_prefill_args, attn_sink, 1, F32, OPT, "[Hq]"),
    T(dsa_sparse_mla_prefill_args, out, 3, DT(DSA_BF16), REQ | OUT, "[S, Hq, 512]"),
    T(dsa_sparse_mla_prefill_args, max_logits, 2, F32, OPT | OUT, "[S, Hq]"),
    T(dsa_sparse_mla_prefill_args, lse, 2, F32, OPT | OUT, "[S, Hq]"),
};
static const tensor_spec decode_t[] = {
    T(dsa_sparse_mla_decode_args, q, 4, DT(DSA_BF16), REQ, "[B, Sq, Hq, 576]"),
    T(dsa_sparse_mla_decode_args, kv_cache, 3, DT(DSA_UINT8), REQ, "[num_pages, P, 656]"),
    T(dsa_sparse_mla_decode_args, indices, 3, I32, REQ, "[B, Sq, topk]"),
    T(dsa_sparse_mla_decode_args, topk_length, 1, I32, OPT, "[B]"),
    T(dsa_sparse_mla_decode_args, attn_sink, 1, F32, OPT, "[Hq]"),
    T(dsa_sparse_mla_decode_args, out, 4, DT(DSA_BF16), REQ | OUT, "[B, Sq, Hq, 512]"),
    T(dsa_sparse_mla_decode_args, lse, 3, F32, OPT | OUT, "[B, Hq, Sq]"),
};
static const tensor_spec kv_write_t[] = {
    T(dsa_cache_write_args, rows, 2, DT(DSA_BF16) | F32, REQ, "[N, 576]"),
    T(dsa_cache_write_args, slots, 1, I32, REQ, "[N]"),
    T(dsa_cache_write_args, cache, 3, DT(DSA_UINT8), REQ | OUT, "[num_pages, P, 656]"),
};
static const tensor_spec index_write_t[] = {
    T(dsa_cache_write_args, rows, 2, DT(DSA_BF16) | F32, REQ, "[N, 128]"),
    T(dsa_cache_write_args, slots, 1, I32, REQ, "[N]"),
    T(dsa_cache_write_args, cache, 3, DT(DSA_UINT8), REQ | OUT, "[num_pages, P, 132]"),
};
static const tensor_spec kv_read_t[] = {
    T(dsa_cache_read_args, cache, 3, DT(DSA_UINT8), REQ, "[num_pages, P, 656]"),
    T(dsa_cache_read_args, slots, 1, I32, REQ, "[N]"),
    T(dsa_cache_read_args, out, 2, DT(DSA_BF16) | F32, REQ | OUT, "[N, 576]"),
};
static const tensor_spec index_read_t[] = {
    T(dsa_cache_read_args, cache, 3, DT(DSA_UINT8), REQ, "[num_pages, P, 132]"),
    T(dsa_cache_read_args, slots, 1, I32, REQ, "[N]"),
    T(dsa_cache_read_args, out, 2, DT(DSA_BF16) | F32, REQ | OUT, "[N, 128]"),
};
static const tensor_spec quantize_t[] = {
    T(dsa_quantize_args, x, 0, FLOATS, REQ, "[..., 128*g]"),
    T(dsa_quantize_args, q, 0, DT(DSA_FP8_E4M3), REQ | OUT, "[..., 128*g]"),
    T(dsa_quantize_args, scales, 0, F32, REQ | OUT, "[..., g]"),
};
static const tensor_spec dequantize_t[] = {
    T(dsa_dequantize_args, q, 0, DT(DSA_FP8_E4M3), REQ, "[..., 128*g]"),
    T(dsa_dequantize_args, scales, 0, F32, REQ, "[..., g]"),
    T(dsa_dequantize_args, out, 0, DT(DSA_BF16) | F32, REQ | OUT, "[..., 128*g]"),
};

typedef struct op_spec {
    const tensor_spec *t;
    int n;
    dsa_status (*shapes)(const char *op, const void *args);
} op_spec;

#define OP(table, fn) {table, (int)(sizeof table / sizeof table[0]), fn}
static const op_spec op_specs[DSA_OP_COUNT] = {
    [DSA_OP_INDEXER_LOGITS] = OP(indexer_t, indexer_shapes),
    [DSA_OP_INDEXER_DECODE_LOGITS] = OP(indexer_decode_t, indexer_decode_shapes),
    [DSA_OP_TOPK] = OP(topk_t, topk_shapes),
    [DSA_OP_SPARSE_MLA_PREFILL] = OP(prefill_t, prefill_shapes),
    [DSA_OP_SPARSE_MLA_DECODE] = OP(decode_t, decode_shapes),
    [DSA_OP_KV_CACHE_WRITE] = OP(kv_write_t, kv_write_shapes),
    [DSA_OP_INDEX_CACHE_WRITE] = OP(index_write_t, index_write_shapes),
    [DSA_OP_KV_CACHE_READ] = OP(kv_read_t, kv_read_shapes),
    [DSA_OP_INDEX_CACHE_READ] = OP(index_read_t, index_read_shapes),
    [DSA_OP_QUANTIZE_FP8] = OP(quantize_t, quantize_shapes),
    [DSA_OP_DEQUANTIZE_FP8] = OP(dequantize_t, dequantize_shapes),
};

dsa_status dsa_validate(const dsa_context *ctx, dsa_op op, const void *args, int need_buffers)
{
    const char *name = dsa_op_name(op);
    if (!args) return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: args is NULL, expected the op's argument struct", name);
    if ((unsigned)op >= DSA_OP_COUNT || !op_specs[op].t)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "op is %d, expected 1..%d (a dsa_op)", (int)op, DSA_OP_COUNT - 1);
    const op_spec *s = &op_specs[op];
    for (int i = 0; i < s->n; i++) TRY(check_basic(name, &s->t[i], tensor_at(args, &s->t[i]), need_buffers));
    TRY(s->shapes(name, args));
    for (int i = 0; i < s->n; i++) TRY(check_layout(ctx, name, &s->t[i], tensor_at(args, &s->t[i])));
    return check_aliasing(name, s->t, s->n, args);
}

/* The caller's workspace must not overlap any tensor of the op (scratch writes would corrupt it). */
dsa_status dsa_validate_workspace(dsa_op op, const void *args, const dsa_buffer *buffer, uint64_t begin,
                                  uint64_t end)
{
    const op_spec *s = &op_specs[op];
    for (int i = 0; i < s->n; i++) {
        const dsa_tensor *t = tensor_at(args, &s->t[i]);
        uint64_t tb, te;
        if (t->buffer != buffer || dsa_tensor_extent(t, &tb, &te) || tb == te) continue;
        if (begin < te && tb < end)
            return dsa_fail(DSA_ERROR_ALIASING,
                            "%s: workspace (bytes [%llu, %llu)) overlaps %s (bytes [%llu, %llu)), expected disjoint",
                            dsa_op_name(op), ULL(begin), ULL(end), s->t[i].name, ULL(tb), ULL(te));
    }
    return DSA_SUCCESS;
}
