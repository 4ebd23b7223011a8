/* Bad-input suite: every host-checkable mistake in every op's arguments is rejected with the exact
 * status, a message naming the argument, and no output byte written (DESIGN.md invariants 3, 4).
 *
 * For each op a small valid argument set is built on the "cpu" context, with every tensor in a
 * buffer of exactly its view's size (so "one byte past the end" is a real overrun). The valid set
 * must run. Then:
 *  - generic mutations are applied to each tensor in turn (absent, buffer NULL, rank, negative
 *    dim, dtype, strides, offsets, overruns, overflow, foreign buffer, aliasing of outputs);
 *  - a per-op table applies the op's own mistakes (fixed dims, cross-argument agreement, scalars)
 *    and checks that valid corner cases (empty dims, optional tensors absent, device-resident
 *    garbage) are NOT rejected.
 * Every rejected case is also fed to dsa_workspace_size and dsa_prepare, which must agree; cases
 * that do not depend on buffers are fed again with every buffer removed. */
#include <criterion/criterion.h>

#include "dsa.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXB 64
#define COUNT(x) ((int)(sizeof(x) / sizeof((x)[0])))
#define DT(x) (1u << (x))

typedef union op_args {
    dsa_indexer_args ix;
    dsa_indexer_decode_args id;
    dsa_topk_args tk;
    dsa_sparse_mla_prefill_args pf;
    dsa_sparse_mla_decode_args dc;
    dsa_cache_write_args cw;
    dsa_cache_read_args cr;
    dsa_quantize_args qz;
    dsa_dequantize_args dq;
} op_args;

/* The test's own statement of each op's tensor arguments (independent of core/validate.c). */
typedef struct field {
    const char *name;
    size_t off;
    int required;
    int output;
    unsigned dtypes; /* allowed dtypes, to pick a wrong one */
} field;
#define FIELD(type, f, req, out, dts) {#f, offsetof(type, f), req, out, dts}

/* Per-op fixture; Criterion runs each test in its own process, so one global is enough. */
static struct {
    dsa_context *ctx, *other;
    dsa_op op;
    const field *f;
    int nf;
    op_args valid, a;
    dsa_buffer *own[MAXB];
    int nown;
    uint32_t seed;
    int checks;
} F;

enum { RUN_ONLY = 1, NO_BUFFERS_TOO = 2 };

/* ---- buffers and tensors --------------------------------------------------------------------- */

static dsa_buffer *new_buffer(uint64_t bytes)
{
    dsa_buffer *b = NULL;
    cr_assert_lt(F.nown, MAXB, "too many buffers");
    cr_assert_eq(dsa_buffer_alloc(F.ctx, bytes ? bytes : 1, &b), DSA_SUCCESS, "alloc: %s", dsa_last_error());
    uint8_t *p = dsa_buffer_native(b); /* CPU backend: host memory */
    for (uint64_t i = 0; i < bytes; i++) {
        F.seed = F.seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(F.seed >> 24);
    }
    F.own[F.nown++] = b;
    return b;
}

/* Bytes from the view's first to its last element (offset not included). */
static uint64_t view_bytes(const dsa_tensor *t)
{
    uint64_t last = 0;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] == 0) return 0;
        last += (uint64_t)(t->shape[d] - 1) * (uint64_t)t->strides[d];
    }
    return (last + 1) * dsa_dtype_size(t->dtype);
}

/* A view in its own buffer of exactly the view's size; strides NULL = contiguous. */
static dsa_tensor mk(dsa_dtype dt, int rank, const int64_t *shape, const int64_t *strides)
{
    dsa_tensor t = dsa_tensor_make(NULL, 0, dt, rank, shape, strides);
    t.buffer = new_buffer(view_bytes(&t));
    return t;
}
#define MK(dt, rank, ...) mk(dt, rank, (int64_t[]){__VA_ARGS__}, NULL)
#define MKS(dt, rank, strides, ...) mk(dt, rank, (int64_t[]){__VA_ARGS__}, strides)

/* Overwrites a whole int32 tensor's buffer with the values a, b, a, b, ... (device garbage). */
static void poke_i32(const dsa_tensor *t, int32_t a, int32_t b)
{
    int32_t *p = dsa_buffer_native(t->buffer);
    uint64_t n = dsa_buffer_size(t->buffer) / 4;
    for (uint64_t i = 0; i < n; i++) p[i] = i % 2 ? b : a;
}

static dsa_tensor *fld(op_args *a, int i) { return (dsa_tensor *)((char *)a + F.f[i].off); }
static int present(const dsa_tensor *t) { return t->buffer != NULL || t->rank != 0; }

static void setup_common(dsa_op op, const field *f, int nf)
{
    memset(&F, 0, sizeof F);
    F.seed = 12345u;
    F.op = op;
    F.f = f;
    F.nf = nf;
    cr_assert_eq(dsa_context_create("cpu", &F.ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_context_create("cpu", &F.other), DSA_SUCCESS, "%s", dsa_last_error());
}

static void teardown(void)
{
    for (int i = F.nown - 1; i >= 0; i--) dsa_buffer_free(F.own[i]);
    cr_assert_eq(dsa_context_destroy(F.ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_context_destroy(F.other), DSA_SUCCESS, "%s", dsa_last_error());
}

/* ---- the check ------------------------------------------------------------------------------- */

/* name appears in msg as a whole word (so "k" is not found inside "expected"). */
static int has_word(const char *msg, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(msg, name); p; p = strstr(p + 1, name)) {
        int before = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after) return 1;
    }
    return 0;
}

static void strip_buffers(op_args *a)
{
    for (int i = 0; i < F.nf; i++)
        if (fld(a, i)->rank != 0) fld(a, i)->buffer = NULL; /* rank 0 would turn "absent" */
}

static void expect_queries(const char *what, op_args *a, dsa_status want)
{
    uint64_t bytes = 0;
    dsa_status st = dsa_workspace_size(F.ctx, F.op, a, &bytes);
    cr_assert_eq(st, want, "%s: %s: workspace_size gave %s, expected %s (%s)", dsa_op_name(F.op), what,
                 dsa_status_string(st), dsa_status_string(want), dsa_last_error());
    st = dsa_prepare(F.ctx, F.op, a);
    cr_assert_eq(st, want, "%s: %s: prepare gave %s, expected %s (%s)", dsa_op_name(F.op), what,
                 dsa_status_string(st), dsa_status_string(want), dsa_last_error());
    F.checks += 2;
}

static void expect_unchanged(const char *what, uint8_t **saved, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert(memcmp(saved[i], dsa_buffer_native(F.own[i]), dsa_buffer_size(F.own[i])) == 0,
                  "%s: %s: buffer %d was written by a rejected call", dsa_op_name(F.op), what, i);
        free(saved[i]);
    }
    F.checks++;
}

/* Runs F.a and checks the status; on a rejection also the message, the buffers and the queries. */
static void expect(const char *what, dsa_status want, const char *arg, int flags)
{
    uint8_t *saved[MAXB];
    int n = F.nown;
    for (int i = 0; i < n; i++) {
        saved[i] = malloc(dsa_buffer_size(F.own[i]) + 1);
        memcpy(saved[i], dsa_buffer_native(F.own[i]), dsa_buffer_size(F.own[i]));
    }
    dsa_status st = dsa_run(F.ctx, F.op, &F.a, NULL);
    cr_assert_eq(st, want, "%s: %s: dsa_run gave %s, expected %s (%s)", dsa_op_name(F.op), what,
                 dsa_status_string(st), dsa_status_string(want), dsa_last_error());
    F.checks++;
    if (want == DSA_SUCCESS) {
        for (int i = 0; i < n; i++) free(saved[i]);
        return;
    }
    const char *msg = dsa_last_error();
    cr_assert(msg[0] != '\0' && has_word(msg, arg), "%s: %s: message \"%s\" does not name %s",
              dsa_op_name(F.op), what, msg, arg);
    F.checks++;
    expect_unchanged(what, saved, n);
    if (flags & RUN_ONLY) return;
    expect_queries(what, &F.a, want);
    if (flags & NO_BUFFERS_TOO) {
        op_args bare = F.a;
        strip_buffers(&bare);
        expect_queries(what, &bare, want);
    }
}

/* Back to the valid set, freeing the buffers the previous case made. */
static int mark;
static void reset(void)
{
    while (F.nown > mark) dsa_buffer_free(F.own[--F.nown]);
    F.a = F.valid;
}

/* ---- generic mutations, applied to every tensor ------------------------------------------------ */

/* The outermost non-innermost dim of size > 1 (whose stride matters), or -1. */
static int outer_dim(const dsa_tensor *t)
{
    for (int d = 0; d < t->rank - 1; d++)
        if (t->shape[d] > 1) return d;
    return -1;
}

static int64_t inner_span(const dsa_tensor *t, int d)
{
    int64_t span = 1;
    for (int e = d + 1; e < t->rank; e++) span += (t->shape[e] - 1) * t->strides[e];
    return span;
}

static dsa_dtype wrong_dtype(unsigned allowed)
{
    static const dsa_dtype order[] = {DSA_INT32, DSA_FP16, DSA_UINT8, DSA_FP32};
    for (int i = 0; i < COUNT(order); i++)
        if (!(allowed & DT(order[i]))) return order[i];
    return DSA_DTYPE_INVALID;
}

#define CASE(desc, want, flags, stmt)                                                               \
    do {                                                                                            \
        reset();                                                                                    \
        dsa_tensor *tv = fld(&F.a, i);                                                              \
        stmt;                                                                                       \
        snprintf(what, sizeof what, "%s: %s", f->name, desc);                                       \
        expect(what, want, f->name, flags);                                                         \
    } while (0)

static void presence_cases(int i, const field *f)
{
    char what[160];
    if (f->required) CASE("absent", DSA_ERROR_NULL_POINTER, NO_BUFFERS_TOO, *tv = dsa_tensor_none());
    CASE("buffer NULL", DSA_ERROR_NULL_POINTER, RUN_ONLY, tv->buffer = NULL);
    /* ... which workspace queries and prepare accept: they need no buffers. */
    expect_queries("buffer NULL in a query", &F.a, DSA_SUCCESS);
    CASE("rank 5", DSA_ERROR_BAD_SHAPE, NO_BUFFERS_TOO, tv->rank = 5);
    CASE("rank 0 with a buffer", DSA_ERROR_BAD_SHAPE, 0, tv->rank = 0);
    if (F.op != DSA_OP_QUANTIZE_FP8 && F.op != DSA_OP_DEQUANTIZE_FP8 && fld(&F.valid, i)->rank > 1)
        CASE("rank - 1", DSA_ERROR_BAD_SHAPE, NO_BUFFERS_TOO, tv->rank--);
    CASE("shape[0] = -1", DSA_ERROR_BAD_SHAPE, NO_BUFFERS_TOO, tv->shape[0] = -1);
    CASE("wrong dtype", DSA_ERROR_BAD_DTYPE, NO_BUFFERS_TOO, tv->dtype = wrong_dtype(f->dtypes));
    CASE("dtype 0 (invalid)", DSA_ERROR_BAD_DTYPE, NO_BUFFERS_TOO, tv->dtype = DSA_DTYPE_INVALID);
    CASE("dtype 42", DSA_ERROR_BAD_DTYPE, NO_BUFFERS_TOO, tv->dtype = (dsa_dtype)42);
}

static void stride_cases(int i, const field *f)
{
    char what[160];
    const dsa_tensor *v = fld(&F.valid, i);
    int r = v->rank, d = outer_dim(v);
    CASE("innermost stride 2", DSA_ERROR_BAD_STRIDE, NO_BUFFERS_TOO, tv->strides[r - 1] = 2);
    CASE("innermost stride 0", DSA_ERROR_BAD_STRIDE, NO_BUFFERS_TOO, tv->strides[r - 1] = 0);
    if (r > 1) CASE("negative outer stride", DSA_ERROR_BAD_STRIDE, NO_BUFFERS_TOO, tv->strides[0] = -tv->strides[0] - 1);
    if (d < 0) return;
    CASE("overlapping stride", DSA_ERROR_BAD_STRIDE, NO_BUFFERS_TOO, tv->strides[d] = inner_span(v, d) - 1);
    CASE("stride overflowing 64 bits", DSA_ERROR_OVERFLOW, NO_BUFFERS_TOO, tv->strides[d] = INT64_MAX);
    CASE("stride + 1 overruns the buffer", DSA_ERROR_OUT_OF_BOUNDS, 0, tv->strides[d] += 1);
}

static void bounds_cases(int i, const field *f)
{
    char what[160];
    const dsa_tensor *v = fld(&F.valid, i);
    uint64_t es = dsa_dtype_size(v->dtype), size = dsa_buffer_size(v->buffer);
    CASE("buffer one byte short", DSA_ERROR_OUT_OF_BOUNDS, 0, {
        dsa_buffer *w = NULL;
        cr_assert_eq(dsa_buffer_wrap(F.ctx, dsa_buffer_native(v->buffer), size - 1, &w), DSA_SUCCESS);
        F.own[F.nown++] = w;
        tv->buffer = w;
    });
    CASE("offset + one element overruns", DSA_ERROR_OUT_OF_BOUNDS, 0, tv->offset += es);
    if (es > 1) CASE("misaligned offset", DSA_ERROR_INVALID_ARGUMENT, NO_BUFFERS_TOO, tv->offset += 1);
    CASE("offset near 2^64", DSA_ERROR_OVERFLOW, NO_BUFFERS_TOO, tv->offset = UINT64_MAX - es + 1);
    CASE("buffer of another context", DSA_ERROR_WRONG_CONTEXT, 0, {
        dsa_buffer *o = NULL;
        cr_assert_eq(dsa_buffer_alloc(F.other, size, &o), DSA_SUCCESS);
        F.own[F.nown++] = o;
        tv->buffer = o;
    });
}

/* Output i shares a buffer with tensor j: overlapping is rejected, disjoint views run. */
static void alias_pair(int i, int j)
{
    char what[160], overlap[96], apart_desc[96];
    const field *f = &F.f[i];
    uint64_t so = view_bytes(fld(&F.valid, i)), sj = view_bytes(fld(&F.valid, j));
    uint64_t apart = (sj + 63) / 64 * 64;
    snprintf(overlap, sizeof overlap, "overlaps %s", F.f[j].name);
    snprintf(apart_desc, sizeof apart_desc, "shares a buffer with %s without overlap", F.f[j].name);
    CASE(overlap, DSA_ERROR_ALIASING, 0, {
        dsa_buffer *b = new_buffer(so > sj ? so : sj);
        tv->buffer = fld(&F.a, j)->buffer = b;
    });
    CASE(apart_desc, DSA_SUCCESS, 0, {
        dsa_buffer *b = new_buffer(apart + so);
        tv->buffer = fld(&F.a, j)->buffer = b;
        tv->offset = apart;
    });
}

static void generic_cases(void)
{
    for (int i = 0; i < F.nf; i++) {
        const field *f = &F.f[i];
        if (!present(fld(&F.valid, i))) continue; /* optional, absent in the valid set */
        presence_cases(i, f);
        stride_cases(i, f);
        bounds_cases(i, f);
        for (int j = 0; f->output && j < F.nf; j++)
            if (j != i && present(fld(&F.valid, j))) alias_pair(i, j);
    }
}

/* ---- per-op tables ------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    void (*mutate)(op_args *a);
    dsa_status want;
    const char *arg; /* named by the message */
    int flags;
} bad_case;

#define MUT(fn, ...) static void fn(op_args *a) { __VA_ARGS__; }
#define OK DSA_SUCCESS
#define NULLP DSA_ERROR_NULL_POINTER
#define SHAPE DSA_ERROR_BAD_SHAPE
#define STRIDE DSA_ERROR_BAD_STRIDE
#define DTYPE DSA_ERROR_BAD_DTYPE
#define OVER DSA_ERROR_OVERFLOW
#define INVAL DSA_ERROR_INVALID_ARGUMENT
#define BIG 2147483648LL /* 2^31: one past the largest int32 index */

static void run_cases(const bad_case *c, int n)
{
    for (int i = 0; i < n; i++) {
        reset();
        c[i].mutate(&F.a);
        expect(c[i].what, c[i].want, c[i].arg, c[i].flags);
    }
}

/* The whole protocol for one op, after its setup filled F.valid. */
static void run_op(const bad_case *c, int n)
{
    mark = F.nown;
    F.a = F.valid;
    expect("the valid set", DSA_SUCCESS, "", 0);
    op_args bare = F.valid;
    strip_buffers(&bare);
    expect_queries("the valid set without buffers", &bare, DSA_SUCCESS);
    dsa_status st = dsa_run(F.ctx, F.op, NULL, NULL);
    cr_assert_eq(st, NULLP, "%s: NULL args gave %s", dsa_op_name(F.op), dsa_status_string(st));
    cr_assert(has_word(dsa_last_error(), "args"), "NULL args: message \"%s\"", dsa_last_error());
    generic_cases();
    run_cases(c, n);
    reset();
    cr_log_info("%s: %d checks", dsa_op_name(F.op), F.checks);
    teardown();
}

/* 1. indexer_logits: S = 3, H = 2, Skv = 5, fp8, padded logits rows. */
static const field ix_f[] = {
    FIELD(dsa_indexer_args, q, 1, 0, DT(DSA_FP8_E4M3) | DT(DSA_BF16) | DT(DSA_FP32)),
    FIELD(dsa_indexer_args, k, 1, 0, DT(DSA_FP8_E4M3) | DT(DSA_BF16) | DT(DSA_FP32)),
    FIELD(dsa_indexer_args, k_scale, 1, 0, DT(DSA_FP32)), /* required with fp8 */
    FIELD(dsa_indexer_args, weights, 1, 0, DT(DSA_FP32)),
    FIELD(dsa_indexer_args, ks, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_indexer_args, ke, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_indexer_args, logits, 1, 1, DT(DSA_FP32)),
};
MUT(ix_d100, a->ix.q.shape[2] = 100)
MUT(ix_h0, a->ix.q.shape[1] = 0; a->ix.weights.shape[1] = 0)
MUT(ix_h129, a->ix.q.shape[1] = 129; a->ix.weights.shape[1] = 129)
MUT(ix_kd, a->ix.k.shape[1] = 64)
MUT(ix_kdt, a->ix.k.dtype = DSA_BF16)
MUT(ix_ks_n, a->ix.k_scale.shape[0] = 6)
MUT(ix_w0, a->ix.weights.shape[0] = 4)
MUT(ix_w1, a->ix.weights.shape[1] = 1)
MUT(ix_ks, a->ix.ks.shape[0] = 2)
MUT(ix_ke, a->ix.ke.shape[0] = 4)
MUT(ix_l0, a->ix.logits.shape[0] = 4)
MUT(ix_l1, a->ix.logits.shape[1] = 4)
MUT(ix_skv, a->ix.k.shape[0] = BIG; a->ix.k_scale.shape[0] = BIG; a->ix.logits.shape[1] = BIG)
MUT(ix_huge_s, a->ix.q.shape[0] = a->ix.weights.shape[0] = a->ix.ks.shape[0] = a->ix.ke.shape[0] =
                   a->ix.logits.shape[0] = 1LL << 60)
MUT(ix_empty_s, a->ix.q.shape[0] = a->ix.weights.shape[0] = a->ix.ks.shape[0] = a->ix.ke.shape[0] =
                    a->ix.logits.shape[0] = 0)
MUT(ix_empty_skv, a->ix.k.shape[0] = a->ix.k_scale.shape[0] = a->ix.logits.shape[1] = 0)
MUT(ix_bf16, a->ix.q = MK(DSA_BF16, 3, 3, 2, 128); a->ix.k = MK(DSA_BF16, 2, 5, 128);
    a->ix.k_scale = dsa_tensor_none())
MUT(ix_garbage, poke_i32(&a->ix.ks, INT32_MAX, INT32_MIN); poke_i32(&a->ix.ke, INT32_MIN, -5))
static const bad_case ix_cases[] = {
    {"D = 100", ix_d100, SHAPE, "q", NO_BUFFERS_TOO},
    {"H = 0", ix_h0, SHAPE, "q", NO_BUFFERS_TOO},
    {"H = 129", ix_h129, SHAPE, "q", NO_BUFFERS_TOO},
    {"k.shape[1] = 64", ix_kd, SHAPE, "k", NO_BUFFERS_TOO},
    {"k bf16 with q fp8", ix_kdt, DTYPE, "k", NO_BUFFERS_TOO},
    {"k_scale [Skv + 1]", ix_ks_n, SHAPE, "k_scale", NO_BUFFERS_TOO},
    {"weights [S + 1, H]", ix_w0, SHAPE, "weights", NO_BUFFERS_TOO},
    {"weights [S, H - 1]", ix_w1, SHAPE, "weights", NO_BUFFERS_TOO},
    {"ks [S - 1]", ix_ks, SHAPE, "ks", NO_BUFFERS_TOO},
    {"ke [S + 1]", ix_ke, SHAPE, "ke", NO_BUFFERS_TOO},
    {"logits [S + 1, Skv]", ix_l0, SHAPE, "logits", NO_BUFFERS_TOO},
    {"logits [S, Skv - 1]", ix_l1, SHAPE, "logits", NO_BUFFERS_TOO},
    {"Skv = 2^31", ix_skv, OVER, "k", NO_BUFFERS_TOO},
    {"S = 2^60: q's bytes overflow", ix_huge_s, OVER, "q", NO_BUFFERS_TOO},
    {"S = 0 is valid", ix_empty_s, OK, "", 0},
    {"Skv = 0 is valid", ix_empty_skv, OK, "", 0},
    {"bf16 without k_scale is valid", ix_bf16, OK, "", 0},
    {"ks > ke, INT32_MIN/MAX ranges are not host-checked", ix_garbage, OK, "", 0},
};
Test(bad_input, indexer_logits)
{
    setup_common(DSA_OP_INDEXER_LOGITS, ix_f, COUNT(ix_f));
    dsa_indexer_args *a = &F.valid.ix;
    a->q = MK(DSA_FP8_E4M3, 3, 3, 2, 128);
    a->k = MK(DSA_FP8_E4M3, 2, 5, 128);
    a->k_scale = MK(DSA_FP32, 1, 5);
    a->weights = MK(DSA_FP32, 2, 3, 2);
    a->ks = MK(DSA_INT32, 1, 3);
    a->ke = MK(DSA_INT32, 1, 3);
    a->logits = MKS(DSA_FP32, 2, ((int64_t[]){8, 1}), 3, 5);
    run_op(ix_cases, COUNT(ix_cases));
}

/* 1b. indexer_decode_logits: B = 2, N = 2, H = 2, 3 pages of P = 4, M = 10 (row stride 12). */
static const field id_f[] = {
    FIELD(dsa_indexer_decode_args, q, 1, 0, DT(DSA_FP8_E4M3)),
    FIELD(dsa_indexer_decode_args, k_cache, 1, 0, DT(DSA_UINT8)),
    FIELD(dsa_indexer_decode_args, weights, 1, 0, DT(DSA_FP32)),
    FIELD(dsa_indexer_decode_args, context_lens, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_indexer_decode_args, block_table, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_indexer_decode_args, logits, 1, 1, DT(DSA_FP32)),
};
MUT(id_n5, a->id.q.shape[1] = 5)
MUT(id_n0, a->id.q.shape[1] = 0)
MUT(id_h129, a->id.q.shape[2] = 129)
MUT(id_d, a->id.q.shape[3] = 127)
MUT(id_row, a->id.k_cache.shape[2] = 128)
MUT(id_tok, a->id.k_cache.strides[1] = 136; a->id.k_cache.strides[0] = 4 * 136)
MUT(id_p0, a->id.k_cache.shape[1] = 0)
MUT(id_slots, a->id.k_cache.shape[0] = 1LL << 30)
MUT(id_w0, a->id.weights.shape[0] = 2)
MUT(id_w1, a->id.weights.shape[1] = 3)
MUT(id_cl, a->id.context_lens.shape[0] = 3)
MUT(id_bt, a->id.block_table.shape[0] = 1)
MUT(id_l0, a->id.logits.shape[0] = 3)
MUT(id_m, a->id.logits.shape[1] = BIG)
MUT(id_huge_b, a->id.q.shape[0] = 1LL << 62)
MUT(id_empty_b, a->id.q.shape[0] = a->id.weights.shape[0] = a->id.context_lens.shape[0] =
                    a->id.block_table.shape[0] = a->id.logits.shape[0] = 0)
MUT(id_empty_m, a->id.logits.shape[1] = 0)
MUT(id_padded_pages, a->id.k_cache.shape[0] = 2; a->id.k_cache.strides[0] = 600)
MUT(id_garbage, poke_i32(&a->id.block_table, -5, INT32_MAX); poke_i32(&a->id.context_lens, INT32_MIN, INT32_MAX))
static const bad_case id_cases[] = {
    {"N = 5", id_n5, SHAPE, "q", NO_BUFFERS_TOO},
    {"N = 0", id_n0, SHAPE, "q", NO_BUFFERS_TOO},
    {"H = 129", id_h129, SHAPE, "q", NO_BUFFERS_TOO},
    {"D = 127", id_d, SHAPE, "q", NO_BUFFERS_TOO},
    {"k_cache rows of 128 bytes", id_row, SHAPE, "k_cache", NO_BUFFERS_TOO},
    {"k_cache token stride 136", id_tok, STRIDE, "k_cache", NO_BUFFERS_TOO},
    {"k_cache P = 0", id_p0, SHAPE, "k_cache", NO_BUFFERS_TOO},
    {"num_pages * P > INT32_MAX", id_slots, OVER, "k_cache", NO_BUFFERS_TOO},
    {"weights [B, H]", id_w0, SHAPE, "weights", NO_BUFFERS_TOO},
    {"weights [B*N, H + 1]", id_w1, SHAPE, "weights", NO_BUFFERS_TOO},
    {"context_lens [B + 1]", id_cl, SHAPE, "context_lens", NO_BUFFERS_TOO},
    {"block_table [B - 1, ...]", id_bt, SHAPE, "block_table", NO_BUFFERS_TOO},
    {"logits [B*N - 1, M]", id_l0, SHAPE, "logits", NO_BUFFERS_TOO},
    {"M = 2^31", id_m, OVER, "logits", NO_BUFFERS_TOO},
    {"B = 2^62: B * N overflows", id_huge_b, OVER, "q", NO_BUFFERS_TOO},
    {"B = 0 is valid", id_empty_b, OK, "", 0},
    {"M = 0 is valid", id_empty_m, OK, "", 0},
    {"padded page stride is valid", id_padded_pages, OK, "", 0},
    {"block_table -5, context_lens INT32_MIN are not host-checked", id_garbage, OK, "", 0},
};
Test(bad_input, indexer_decode_logits)
{
    setup_common(DSA_OP_INDEXER_DECODE_LOGITS, id_f, COUNT(id_f));
    dsa_indexer_decode_args *a = &F.valid.id;
    a->q = MK(DSA_FP8_E4M3, 4, 2, 2, 2, 128);
    a->k_cache = MK(DSA_UINT8, 3, 3, 4, 132);
    a->weights = MK(DSA_FP32, 2, 4, 2);
    a->context_lens = MK(DSA_INT32, 1, 2);
    a->block_table = MK(DSA_INT32, 2, 2, 3);
    a->logits = MKS(DSA_FP32, 2, ((int64_t[]){12, 1}), 4, 10);
    poke_i32(&a->context_lens, 7, 3);
    poke_i32(&a->block_table, 2, 0);
    run_op(id_cases, COUNT(id_cases));
}

/* 2. topk: S = 4, L = 10 (row stride 12), k = 3, ks/ke; spare lengths and block_table. */
static dsa_tensor tk_lengths, tk_table;
static const field tk_f[] = {
    FIELD(dsa_topk_args, scores, 1, 0, DT(DSA_FP32)),
    FIELD(dsa_topk_args, ks, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_topk_args, ke, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_topk_args, lengths, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_topk_args, block_table, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_topk_args, indices, 1, 1, DT(DSA_INT32)),
};
static void tk_slot(op_args *a)
{
    a->tk.form = DSA_TOPK_SLOT;
    a->tk.block_table = tk_table;
    a->tk.page_size = 4;
}
MUT(tk_k0, a->tk.k = 0)
MUT(tk_kbig, a->tk.k = 65537; a->tk.indices.shape[1] = 65537)
MUT(tk_k4, a->tk.k = 4)
MUT(tk_form7, a->tk.form = (dsa_topk_form)7)
MUT(tk_formneg, a->tk.form = (dsa_topk_form)-1)
MUT(tk_no_ke, a->tk.ke = dsa_tensor_none())
MUT(tk_no_ks, a->tk.ks = dsa_tensor_none())
MUT(tk_ks_len, a->tk.lengths = tk_lengths)
MUT(tk_len_only, a->tk.ks = a->tk.ke = dsa_tensor_none(); a->tk.lengths = tk_lengths)
MUT(tk_no_range, a->tk.ks = a->tk.ke = dsa_tensor_none())
MUT(tk_ks_n, a->tk.ks.shape[0] = 5)
MUT(tk_len_n, a->tk.ks = a->tk.ke = dsa_tensor_none(); a->tk.lengths = tk_lengths; a->tk.lengths.shape[0] = 3)
MUT(tk_idx_n, a->tk.indices.shape[0] = 5)
MUT(tk_lbig, a->tk.scores.shape[1] = BIG)
MUT(tk_slot_ok, tk_slot(a))
MUT(tk_slot_sorted_rel, a->tk.form = DSA_TOPK_RELATIVE; a->tk.sorted = 1)
MUT(tk_slot_notable, tk_slot(a); a->tk.block_table = dsa_tensor_none())
MUT(tk_slot_p0, tk_slot(a); a->tk.page_size = 0)
MUT(tk_slot_pbig, tk_slot(a); a->tk.page_size = 65537)
MUT(tk_slot_b3, tk_slot(a); a->tk.block_table.shape[0] = 3)
MUT(tk_table_abs, a->tk.block_table = tk_table)
MUT(tk_huge_s, a->tk.scores.shape[0] = a->tk.ks.shape[0] = a->tk.ke.shape[0] = a->tk.indices.shape[0] = 1LL << 62)
MUT(tk_empty_s, a->tk.scores.shape[0] = a->tk.ks.shape[0] = a->tk.ke.shape[0] = a->tk.indices.shape[0] = 0)
MUT(tk_empty_l, a->tk.scores.shape[1] = 0)
MUT(tk_garbage, tk_slot(a); poke_i32(&a->tk.ks, 9, INT32_MIN); poke_i32(&a->tk.ke, 2, INT32_MAX);
    poke_i32(&tk_table, -5, INT32_MAX))
static const bad_case tk_cases[] = {
    {"k = 0", tk_k0, INVAL, "k", NO_BUFFERS_TOO},
    {"k = 65537", tk_kbig, INVAL, "k", NO_BUFFERS_TOO},
    {"k = 4 with indices [S, 3]", tk_k4, SHAPE, "indices", NO_BUFFERS_TOO},
    {"form = 7", tk_form7, INVAL, "form", NO_BUFFERS_TOO},
    {"form = -1", tk_formneg, INVAL, "form", NO_BUFFERS_TOO},
    {"ks without ke", tk_no_ke, NULLP, "ke", NO_BUFFERS_TOO},
    {"ke without ks", tk_no_ks, NULLP, "ks", NO_BUFFERS_TOO},
    {"ks/ke with lengths", tk_ks_len, INVAL, "lengths", NO_BUFFERS_TOO},
    {"lengths alone is valid", tk_len_only, OK, "", 0},
    {"no range (whole rows) is valid", tk_no_range, OK, "", 0},
    {"ks [S + 1]", tk_ks_n, SHAPE, "ks", NO_BUFFERS_TOO},
    {"lengths [S - 1]", tk_len_n, SHAPE, "lengths", NO_BUFFERS_TOO},
    {"indices [S + 1, k]", tk_idx_n, SHAPE, "indices", NO_BUFFERS_TOO},
    {"L = 2^31", tk_lbig, OVER, "scores", NO_BUFFERS_TOO},
    {"slot form is valid", tk_slot_ok, OK, "", 0},
    {"relative sorted form is valid", tk_slot_sorted_rel, OK, "", 0},
    {"slot form without block_table", tk_slot_notable, NULLP, "block_table", NO_BUFFERS_TOO},
    {"slot form page_size 0", tk_slot_p0, INVAL, "page_size", NO_BUFFERS_TOO},
    {"slot form page_size 65537", tk_slot_pbig, INVAL, "page_size", NO_BUFFERS_TOO},
    {"slot form B = 3 does not divide S = 4", tk_slot_b3, SHAPE, "block_table", NO_BUFFERS_TOO},
    {"block_table with the absolute form", tk_table_abs, INVAL, "block_table", NO_BUFFERS_TOO},
    {"S = 2^62: scores' bytes overflow", tk_huge_s, OVER, "scores", NO_BUFFERS_TOO},
    {"S = 0 is valid", tk_empty_s, OK, "", 0},
    {"L = 0 is valid", tk_empty_l, OK, "", 0},
    {"ks > ke, block_table -5 are not host-checked", tk_garbage, OK, "", 0},
};
Test(bad_input, topk)
{
    setup_common(DSA_OP_TOPK, tk_f, COUNT(tk_f));
    dsa_topk_args *a = &F.valid.tk;
    a->scores = MKS(DSA_FP32, 2, ((int64_t[]){12, 1}), 4, 10);
    a->ks = MK(DSA_INT32, 1, 4);
    a->ke = MK(DSA_INT32, 1, 4);
    a->indices = MK(DSA_INT32, 2, 4, 3);
    a->k = 3;
    a->form = DSA_TOPK_ABSOLUTE;
    tk_lengths = MK(DSA_INT32, 1, 4);
    tk_table = MK(DSA_INT32, 2, 2, 3);
    poke_i32(&a->ks, 0, 2);
    poke_i32(&a->ke, 10, 7);
    poke_i32(&tk_table, 1, 0);
    run_op(tk_cases, COUNT(tk_cases));
}

/* 3. sparse_mla_prefill: S = 2, Hq = 2, Dqk = 576, Skv = 4, topk = 3, every optional given. */
static const field pf_f[] = {
    FIELD(dsa_sparse_mla_prefill_args, q, 1, 0, DT(DSA_BF16)),
    FIELD(dsa_sparse_mla_prefill_args, kv, 1, 0, DT(DSA_BF16)),
    FIELD(dsa_sparse_mla_prefill_args, indices, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_sparse_mla_prefill_args, topk_length, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_sparse_mla_prefill_args, attn_sink, 0, 0, DT(DSA_FP32)),
    FIELD(dsa_sparse_mla_prefill_args, out, 1, 1, DT(DSA_BF16)),
    FIELD(dsa_sparse_mla_prefill_args, max_logits, 0, 1, DT(DSA_FP32)),
    FIELD(dsa_sparse_mla_prefill_args, lse, 0, 1, DT(DSA_FP32)),
};
MUT(pf_d100, a->pf.q.shape[2] = 100)
MUT(pf_d512, a->pf.q.shape[2] = 512; a->pf.kv.shape[2] = 512)
MUT(pf_kvd, a->pf.kv.shape[2] = 512)
MUT(pf_kv1, a->pf.kv.shape[1] = 2)
MUT(pf_h0, a->pf.q.shape[1] = 0)
MUT(pf_h129, a->pf.q.shape[1] = 129)
MUT(pf_skv, a->pf.kv.shape[0] = BIG)
MUT(pf_topk0, a->pf.indices.shape[2] = 0)
MUT(pf_topkbig, a->pf.indices.shape[2] = 65537)
MUT(pf_idx1, a->pf.indices.shape[1] = 2)
MUT(pf_idx0, a->pf.indices.shape[0] = 3)
MUT(pf_tl, a->pf.topk_length.shape[0] = 3)
MUT(pf_sink, a->pf.attn_sink.shape[0] = 3)
MUT(pf_out, a->pf.out.shape[2] = 576)
MUT(pf_outh, a->pf.out.shape[1] = 1)
MUT(pf_ml, a->pf.max_logits.shape[1] = 3)
MUT(pf_lse, a->pf.lse.shape[0] = 1)
MUT(pf_nan, a->pf.sm_scale = NAN)
MUT(pf_inf, a->pf.sm_scale = -INFINITY)
MUT(pf_no_opt, a->pf.topk_length = a->pf.attn_sink = a->pf.max_logits = a->pf.lse = dsa_tensor_none())
MUT(pf_huge_s, a->pf.q.shape[0] = a->pf.indices.shape[0] = a->pf.topk_length.shape[0] = a->pf.out.shape[0] =
                   a->pf.max_logits.shape[0] = a->pf.lse.shape[0] = 1LL << 60)
MUT(pf_empty_s, a->pf.q.shape[0] = a->pf.indices.shape[0] = a->pf.topk_length.shape[0] = a->pf.out.shape[0] =
                    a->pf.max_logits.shape[0] = a->pf.lse.shape[0] = 0)
MUT(pf_empty_skv, a->pf.kv.shape[0] = 0)
MUT(pf_garbage, poke_i32(&a->pf.indices, INT32_MIN, 4); poke_i32(&a->pf.topk_length, -5, INT32_MAX))
static const bad_case pf_cases[] = {
    {"Dqk = 100", pf_d100, SHAPE, "q", NO_BUFFERS_TOO},
    {"Dqk = 512 (padded views) is valid", pf_d512, OK, "", 0},
    {"kv Dqk 512 with q 576", pf_kvd, SHAPE, "kv", NO_BUFFERS_TOO},
    {"kv.shape[1] = 2", pf_kv1, SHAPE, "kv", NO_BUFFERS_TOO},
    {"Hq = 0", pf_h0, SHAPE, "q", NO_BUFFERS_TOO},
    {"Hq = 129", pf_h129, SHAPE, "q", NO_BUFFERS_TOO},
    {"Skv = 2^31", pf_skv, OVER, "kv", NO_BUFFERS_TOO},
    {"topk = 0", pf_topk0, SHAPE, "indices", NO_BUFFERS_TOO},
    {"topk = 65537", pf_topkbig, SHAPE, "indices", NO_BUFFERS_TOO},
    {"indices.shape[1] = 2", pf_idx1, SHAPE, "indices", NO_BUFFERS_TOO},
    {"indices [S + 1, ...]", pf_idx0, SHAPE, "indices", NO_BUFFERS_TOO},
    {"topk_length [S + 1]", pf_tl, SHAPE, "topk_length", NO_BUFFERS_TOO},
    {"attn_sink [Hq + 1]", pf_sink, SHAPE, "attn_sink", NO_BUFFERS_TOO},
    {"out Dv = 576", pf_out, SHAPE, "out", NO_BUFFERS_TOO},
    {"out [S, Hq - 1, 512]", pf_outh, SHAPE, "out", NO_BUFFERS_TOO},
    {"max_logits [S, Hq + 1]", pf_ml, SHAPE, "max_logits", NO_BUFFERS_TOO},
    {"lse [S - 1, Hq]", pf_lse, SHAPE, "lse", NO_BUFFERS_TOO},
    {"sm_scale NaN", pf_nan, INVAL, "sm_scale", NO_BUFFERS_TOO},
    {"sm_scale -inf", pf_inf, INVAL, "sm_scale", NO_BUFFERS_TOO},
    {"no optional tensors is valid", pf_no_opt, OK, "", 0},
    {"S = 2^60: q's bytes overflow", pf_huge_s, OVER, "q", NO_BUFFERS_TOO},
    {"S = 0 is valid", pf_empty_s, OK, "", 0},
    {"Skv = 0 is valid", pf_empty_skv, OK, "", 0},
    {"indices INT32_MIN / Skv, topk_length -5 are not host-checked", pf_garbage, OK, "", 0},
};
Test(bad_input, sparse_mla_prefill)
{
    setup_common(DSA_OP_SPARSE_MLA_PREFILL, pf_f, COUNT(pf_f));
    dsa_sparse_mla_prefill_args *a = &F.valid.pf;
    a->q = MK(DSA_BF16, 3, 2, 2, 576);
    a->kv = MK(DSA_BF16, 3, 4, 1, 576);
    a->indices = MK(DSA_INT32, 3, 2, 1, 3);
    a->topk_length = MK(DSA_INT32, 1, 2);
    a->attn_sink = MK(DSA_FP32, 1, 2);
    a->out = MK(DSA_BF16, 3, 2, 2, 512);
    a->max_logits = MK(DSA_FP32, 2, 2, 2);
    a->lse = MK(DSA_FP32, 2, 2, 2);
    a->sm_scale = 0.13523f;
    poke_i32(&a->indices, 1, 3);
    poke_i32(&a->topk_length, 3, 2);
    run_op(pf_cases, COUNT(pf_cases));
}

/* 4. sparse_mla_decode: B = 2, Sq = 1, Hq = 2, 2 pages of P = 2 with a padded token stride. */
static const field dc_f[] = {
    FIELD(dsa_sparse_mla_decode_args, q, 1, 0, DT(DSA_BF16)),
    FIELD(dsa_sparse_mla_decode_args, kv_cache, 1, 0, DT(DSA_UINT8)),
    FIELD(dsa_sparse_mla_decode_args, indices, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_sparse_mla_decode_args, topk_length, 0, 0, DT(DSA_INT32)),
    FIELD(dsa_sparse_mla_decode_args, attn_sink, 0, 0, DT(DSA_FP32)),
    FIELD(dsa_sparse_mla_decode_args, out, 1, 1, DT(DSA_BF16)),
    FIELD(dsa_sparse_mla_decode_args, lse, 0, 1, DT(DSA_FP32)),
};
MUT(dc_d, a->dc.q.shape[3] = 512)
MUT(dc_h129, a->dc.q.shape[2] = 129)
MUT(dc_row, a->dc.kv_cache.shape[2] = 576)
MUT(dc_tok, a->dc.kv_cache.strides[1] = 600)
MUT(dc_page, a->dc.kv_cache.strides[0] = 2 * 672 - 1)
MUT(dc_p0, a->dc.kv_cache.shape[1] = 0)
MUT(dc_slots, a->dc.kv_cache.shape[0] = 1LL << 30)
MUT(dc_topk0, a->dc.indices.shape[2] = 0)
MUT(dc_idx_b, a->dc.indices.shape[0] = 3)
MUT(dc_idx_sq, a->dc.indices.shape[1] = 2)
MUT(dc_tl, a->dc.topk_length.shape[0] = 1)
MUT(dc_sink, a->dc.attn_sink.shape[0] = 1)
MUT(dc_out, a->dc.out.shape[3] = 576)
MUT(dc_lse, a->dc.lse.shape[1] = 1; a->dc.lse.shape[2] = 2) /* [B, Sq, Hq] instead of [B, Hq, Sq] */
MUT(dc_inf, a->dc.sm_scale = INFINITY)
MUT(dc_no_opt, a->dc.topk_length = a->dc.attn_sink = a->dc.lse = dsa_tensor_none())
MUT(dc_empty_b, a->dc.q.shape[0] = a->dc.indices.shape[0] = a->dc.topk_length.shape[0] = a->dc.out.shape[0] =
                    a->dc.lse.shape[0] = 0)
MUT(dc_empty_cache, a->dc.kv_cache.shape[0] = 0)
MUT(dc_garbage, poke_i32(&a->dc.indices, INT32_MIN, 4); poke_i32(&a->dc.topk_length, -5, INT32_MAX))
static const bad_case dc_cases[] = {
    {"q Dqk = 512", dc_d, SHAPE, "q", NO_BUFFERS_TOO},
    {"Hq = 129", dc_h129, SHAPE, "q", NO_BUFFERS_TOO},
    {"kv_cache rows of 576 bytes", dc_row, SHAPE, "kv_cache", NO_BUFFERS_TOO},
    {"kv_cache token stride 600 < 656", dc_tok, STRIDE, "kv_cache", NO_BUFFERS_TOO},
    {"kv_cache page stride < P * token stride", dc_page, STRIDE, "kv_cache", NO_BUFFERS_TOO},
    {"kv_cache P = 0", dc_p0, SHAPE, "kv_cache", NO_BUFFERS_TOO},
    {"num_pages * P > INT32_MAX", dc_slots, OVER, "kv_cache", NO_BUFFERS_TOO},
    {"topk = 0", dc_topk0, SHAPE, "indices", NO_BUFFERS_TOO},
    {"indices [B + 1, ...]", dc_idx_b, SHAPE, "indices", NO_BUFFERS_TOO},
    {"indices [B, Sq + 1, ...]", dc_idx_sq, SHAPE, "indices", NO_BUFFERS_TOO},
    {"topk_length [B - 1]", dc_tl, SHAPE, "topk_length", NO_BUFFERS_TOO},
    {"attn_sink [Hq - 1]", dc_sink, SHAPE, "attn_sink", NO_BUFFERS_TOO},
    {"out Dv = 576", dc_out, SHAPE, "out", NO_BUFFERS_TOO},
    {"lse [B, Sq, Hq]", dc_lse, SHAPE, "lse", NO_BUFFERS_TOO},
    {"sm_scale +inf", dc_inf, INVAL, "sm_scale", NO_BUFFERS_TOO},
    {"no optional tensors is valid", dc_no_opt, OK, "", 0},
    {"B = 0 is valid", dc_empty_b, OK, "", 0},
    {"an empty cache is valid", dc_empty_cache, OK, "", 0},
    {"slots INT32_MIN / past the cache, topk_length -5 are not host-checked", dc_garbage, OK, "", 0},
};
Test(bad_input, sparse_mla_decode)
{
    setup_common(DSA_OP_SPARSE_MLA_DECODE, dc_f, COUNT(dc_f));
    dsa_sparse_mla_decode_args *a = &F.valid.dc;
    a->q = MK(DSA_BF16, 4, 2, 1, 2, 576);
    a->kv_cache = MKS(DSA_UINT8, 3, ((int64_t[]){2 * 672, 672, 1}), 2, 2, 656);
    a->indices = MK(DSA_INT32, 3, 2, 1, 3);
    a->topk_length = MK(DSA_INT32, 1, 2);
    a->attn_sink = MK(DSA_FP32, 1, 2);
    a->out = MK(DSA_BF16, 4, 2, 1, 2, 512);
    a->lse = MK(DSA_FP32, 3, 2, 2, 1);
    a->sm_scale = 0.0417f;
    poke_i32(&a->indices, 0, 3);
    poke_i32(&a->topk_length, 3, 1);
    run_op(dc_cases, COUNT(dc_cases));
}

/* 5. Cache writers and readers: N = 3 rows; KV cache 2 pages of P = 2, index cache 2 pages of P = 4. */
static const field cw_f[] = {
    FIELD(dsa_cache_write_args, rows, 1, 0, DT(DSA_BF16) | DT(DSA_FP32)),
    FIELD(dsa_cache_write_args, slots, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_cache_write_args, cache, 1, 1, DT(DSA_UINT8)), /* in/out */
};
static const field cr_f[] = {
    FIELD(dsa_cache_read_args, cache, 1, 0, DT(DSA_UINT8)),
    FIELD(dsa_cache_read_args, slots, 1, 0, DT(DSA_INT32)),
    FIELD(dsa_cache_read_args, out, 1, 1, DT(DSA_BF16) | DT(DSA_FP32)),
};
MUT(cw_width, a->cw.rows.shape[1] -= 64)
MUT(cw_fp16, a->cw.rows.dtype = DSA_FP16)
MUT(cw_slots, a->cw.slots.shape[0] = 4)
MUT(cw_kv_row, a->cw.cache.shape[2] = 132)
MUT(cw_ix_row, a->cw.cache.shape[2] = 656)
MUT(cw_ix_tok, a->cw.cache.strides[1] = 140; a->cw.cache.strides[0] = 4 * 140)
MUT(cw_p0, a->cw.cache.shape[1] = 0)
MUT(cw_pages, a->cw.cache.shape[0] = 1LL << 30)
MUT(cw_empty, a->cw.rows.shape[0] = a->cw.slots.shape[0] = 0)
MUT(cw_garbage, poke_i32(&a->cw.slots, INT32_MIN, -5))
MUT(cr_width, a->cr.out.shape[1] -= 64)
MUT(cr_n, a->cr.out.shape[0] = 4)
MUT(cr_kv_row, a->cr.cache.shape[2] = 132)
MUT(cr_ix_row, a->cr.cache.shape[2] = 656)
MUT(cr_ix_tok, a->cr.cache.strides[1] = 140; a->cr.cache.strides[0] = 4 * 140)
MUT(cr_p0, a->cr.cache.shape[1] = 0)
MUT(cr_pages, a->cr.cache.shape[0] = 1LL << 30)
MUT(cr_empty, a->cr.slots.shape[0] = a->cr.out.shape[0] = 0)
MUT(cr_garbage, poke_i32(&a->cr.slots, INT32_MAX, -5))
#define CACHE_COMMON_WRITE(row)                                                                     \
    {"rows width - 64", cw_width, SHAPE, "rows", NO_BUFFERS_TOO},                                   \
    {"rows fp16", cw_fp16, DTYPE, "rows", NO_BUFFERS_TOO},                                          \
    {"slots [N + 1]", cw_slots, SHAPE, "slots", NO_BUFFERS_TOO},                                    \
    {"cache wrong bytes per token", row, SHAPE, "cache", NO_BUFFERS_TOO},                           \
    {"cache P = 0", cw_p0, SHAPE, "cache", NO_BUFFERS_TOO},                                         \
    {"cache num_pages * P > INT32_MAX", cw_pages, OVER, "cache", NO_BUFFERS_TOO},                   \
    {"N = 0 is valid", cw_empty, OK, "", 0},                                                        \
    {"slots INT32_MIN / -5 are not host-checked", cw_garbage, OK, "", 0}
#define CACHE_COMMON_READ(row)                                                                      \
    {"out width - 64", cr_width, SHAPE, "out", NO_BUFFERS_TOO},                                     \
    {"out [N + 1, ...]", cr_n, SHAPE, "out", NO_BUFFERS_TOO},                                       \
    {"cache wrong bytes per token", row, SHAPE, "cache", NO_BUFFERS_TOO},                           \
    {"cache P = 0", cr_p0, SHAPE, "cache", NO_BUFFERS_TOO},                                         \
    {"cache num_pages * P > INT32_MAX", cr_pages, OVER, "cache", NO_BUFFERS_TOO},                   \
    {"N = 0 is valid", cr_empty, OK, "", 0},                                                        \
    {"slots INT32_MAX / -5 are not host-checked", cr_garbage, OK, "", 0}
static const bad_case kvw_cases[] = {CACHE_COMMON_WRITE(cw_kv_row)};
static const bad_case ixw_cases[] = {
    CACHE_COMMON_WRITE(cw_ix_row),
    {"cache token stride 140", cw_ix_tok, STRIDE, "cache", NO_BUFFERS_TOO},
};
static const bad_case kvr_cases[] = {CACHE_COMMON_READ(cr_kv_row)};
static const bad_case ixr_cases[] = {
    CACHE_COMMON_READ(cr_ix_row),
    {"cache token stride 140", cr_ix_tok, STRIDE, "cache", NO_BUFFERS_TOO},
};

static dsa_tensor kv_cache(void) { return MK(DSA_UINT8, 3, 2, 2, 656); }
static dsa_tensor index_cache(void) { return MK(DSA_UINT8, 3, 2, 4, 132); }

Test(bad_input, kv_cache_write)
{
    setup_common(DSA_OP_KV_CACHE_WRITE, cw_f, COUNT(cw_f));
    F.valid.cw = (dsa_cache_write_args){MK(DSA_FP32, 2, 3, 576), MK(DSA_INT32, 1, 3), kv_cache()};
    poke_i32(&F.valid.cw.slots, 3, 0);
    run_op(kvw_cases, COUNT(kvw_cases));
}

Test(bad_input, index_cache_write)
{
    setup_common(DSA_OP_INDEX_CACHE_WRITE, cw_f, COUNT(cw_f));
    F.valid.cw = (dsa_cache_write_args){MK(DSA_BF16, 2, 3, 128), MK(DSA_INT32, 1, 3), index_cache()};
    poke_i32(&F.valid.cw.slots, 7, 1);
    run_op(ixw_cases, COUNT(ixw_cases));
}

Test(bad_input, kv_cache_read)
{
    setup_common(DSA_OP_KV_CACHE_READ, cr_f, COUNT(cr_f));
    F.valid.cr = (dsa_cache_read_args){kv_cache(), MK(DSA_INT32, 1, 3),
                                       MKS(DSA_FP32, 2, ((int64_t[]){600, 1}), 3, 576)};
    poke_i32(&F.valid.cr.slots, 2, 1);
    run_op(kvr_cases, COUNT(kvr_cases));
}

Test(bad_input, index_cache_read)
{
    setup_common(DSA_OP_INDEX_CACHE_READ, cr_f, COUNT(cr_f));
    F.valid.cr = (dsa_cache_read_args){index_cache(), MK(DSA_INT32, 1, 3), MK(DSA_BF16, 2, 3, 128)};
    poke_i32(&F.valid.cr.slots, 0, 6);
    run_op(ixr_cases, COUNT(ixr_cases));
}

/* FP8 group quantization: x [2, 256] -> q [2, 256], scales [2, 2]. */
static const field qz_f[] = {
    FIELD(dsa_quantize_args, x, 1, 0, DT(DSA_BF16) | DT(DSA_FP16) | DT(DSA_FP32)),
    FIELD(dsa_quantize_args, q, 1, 1, DT(DSA_FP8_E4M3)),
    FIELD(dsa_quantize_args, scales, 1, 1, DT(DSA_FP32)),
};
static const field dq_f[] = {
    FIELD(dsa_dequantize_args, q, 1, 0, DT(DSA_FP8_E4M3)),
    FIELD(dsa_dequantize_args, scales, 1, 0, DT(DSA_FP32)),
    FIELD(dsa_dequantize_args, out, 1, 1, DT(DSA_BF16) | DT(DSA_FP32)),
};
/* Same elements seen as [1, 1, 2, last]: a contiguous rank-4 view. */
static void as_rank4(dsa_tensor *t)
{
    int64_t last = t->shape[1];
    *t = dsa_tensor_make(t->buffer, t->offset, t->dtype, 4, (int64_t[]){1, 1, 2, last}, NULL);
}
MUT(qz_last100, a->qz.x.shape[1] = 100; a->qz.q.shape[1] = 100)
MUT(qz_last0, a->qz.x.shape[1] = 0; a->qz.q.shape[1] = 0; a->qz.scales.shape[1] = 0)
MUT(qz_q, a->qz.q.shape[0] = 1)
MUT(qz_qrank, a->qz.q.rank = 3; a->qz.q.shape[2] = 1; a->qz.q.strides[2] = 1)
MUT(qz_s, a->qz.scales.shape[1] = 3)
MUT(qz_srank, a->qz.scales.rank = 1; a->qz.scales.shape[0] = 2)
MUT(qz_rank4, as_rank4(&a->qz.x); as_rank4(&a->qz.q); as_rank4(&a->qz.scales))
MUT(qz_fp16, a->qz.x.dtype = DSA_FP16)
MUT(qz_huge, a->qz.x.shape[0] = a->qz.q.shape[0] = a->qz.scales.shape[0] = 1LL << 57)
MUT(qz_empty, a->qz.x.shape[0] = a->qz.q.shape[0] = a->qz.scales.shape[0] = 0)
MUT(dq_last, a->dq.q.shape[1] = 130; a->dq.out.shape[1] = 130)
MUT(dq_out, a->dq.out.shape[1] = 128)
MUT(dq_s, a->dq.scales.shape[0] = 3)
MUT(dq_fp32, a->dq.out = MK(DSA_FP32, 2, 2, 256))
MUT(dq_rank4, as_rank4(&a->dq.q); as_rank4(&a->dq.out); as_rank4(&a->dq.scales))
static const bad_case qz_cases[] = {
    {"last dim 100", qz_last100, SHAPE, "x", NO_BUFFERS_TOO},
    {"last dim 0", qz_last0, SHAPE, "x", NO_BUFFERS_TOO},
    {"q [1, 256]", qz_q, SHAPE, "q", NO_BUFFERS_TOO},
    {"q rank 3", qz_qrank, SHAPE, "q", NO_BUFFERS_TOO},
    {"scales [2, 3]", qz_s, SHAPE, "scales", NO_BUFFERS_TOO},
    {"scales rank 1", qz_srank, SHAPE, "scales", NO_BUFFERS_TOO},
    {"rank 4 is valid", qz_rank4, OK, "", 0},
    {"fp16 x is valid", qz_fp16, OK, "", 0},
    {"2^57 rows: x's bytes overflow", qz_huge, OVER, "x", NO_BUFFERS_TOO},
    {"no rows is valid", qz_empty, OK, "", 0},
};
static const bad_case dq_cases[] = {
    {"last dim 130", dq_last, SHAPE, "q", NO_BUFFERS_TOO},
    {"out [2, 128]", dq_out, SHAPE, "out", NO_BUFFERS_TOO},
    {"scales [3, 2]", dq_s, SHAPE, "scales", NO_BUFFERS_TOO},
    {"fp32 out is valid", dq_fp32, OK, "", 0},
    {"rank 4 is valid", dq_rank4, OK, "", 0},
};

Test(bad_input, quantize_fp8)
{
    setup_common(DSA_OP_QUANTIZE_FP8, qz_f, COUNT(qz_f));
    F.valid.qz = (dsa_quantize_args){MK(DSA_FP32, 2, 2, 256), MK(DSA_FP8_E4M3, 2, 2, 256), MK(DSA_FP32, 2, 2, 2)};
    run_op(qz_cases, COUNT(qz_cases));
}

Test(bad_input, dequantize_fp8)
{
    setup_common(DSA_OP_DEQUANTIZE_FP8, dq_f, COUNT(dq_f));
    F.valid.dq = (dsa_dequantize_args){MK(DSA_FP8_E4M3, 2, 2, 256), MK(DSA_FP32, 2, 2, 2), MK(DSA_BF16, 2, 2, 256)};
    run_op(dq_cases, COUNT(dq_cases));
}

/* The op code itself. */
Test(bad_input, unknown_op)
{
    dsa_context *ctx = NULL;
    dsa_quantize_args a;
    memset(&a, 0, sizeof a);
    cr_assert_eq(dsa_context_create("cpu", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    const int ops[] = {0, DSA_OP_COUNT, 99, -1};
    for (int i = 0; i < COUNT(ops); i++) {
        dsa_status st = dsa_run(ctx, (dsa_op)ops[i], &a, NULL);
        cr_assert_eq(st, DSA_ERROR_INVALID_ARGUMENT, "op %d gave %s", ops[i], dsa_status_string(st));
        cr_assert(has_word(dsa_last_error(), "op"), "op %d: message \"%s\"", ops[i], dsa_last_error());
        uint64_t bytes;
        st = dsa_workspace_size(ctx, (dsa_op)ops[i], &a, &bytes);
        cr_assert_eq(st, DSA_ERROR_INVALID_ARGUMENT, "op %d: workspace_size gave %s", ops[i], dsa_status_string(st));
    }
    cr_assert_eq(dsa_context_destroy(ctx), DSA_SUCCESS, "%s", dsa_last_error());
}
