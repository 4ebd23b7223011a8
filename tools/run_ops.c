/* The op table of `dsa run` (see run_ops.h): argument names, roles and dtypes per op, scalar
 * settings, and output shapes derived from the inputs as docs/ops.md defines them. */
#include "run_ops.h"

#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SC_SM_SCALE = 1, SC_K = 2, SC_FORM = 4, SC_PAGE = 8, SC_SORTED = 16, SC_MAX_CTX = 32 };

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 0;
}

/* ---- output shapes -------------------------------------------------------------------------- */

static run_tensor *arg(run_tensor *t, const char *name)
{
    for (int i = 0; i < RUN_MAX_ARGS && t[i].spec; i++)
        if (strcmp(t[i].spec->name, name) == 0)
            return &t[i];
    return NULL;
}

/* The input `name` must be present with this rank, so that its dims can be read. */
static int need(run_tensor *t, const char *name, int rank, char *err, size_t errlen)
{
    run_tensor *x = arg(t, name);
    if (!x || !x->present)
        return fail(err, errlen, "%s is required", name);
    if (x->rank != rank)
        return fail(err, errlen, "%s has rank %d; the op takes rank %d", name, x->rank, rank);
    return 1;
}

static void set_out(run_tensor *t, const char *name, int rank, const int64_t *shape)
{
    run_tensor *x = arg(t, name);
    x->present = 1;
    x->rank = rank;
    memcpy(x->shape, shape, sizeof(int64_t) * (size_t)rank);
}

static int derive_indexer(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    if (!need(t, "q", 3, err, n) || !need(t, "k", 2, err, n))
        return 0;
    int64_t s[2] = {arg(t, "q")->shape[0], arg(t, "k")->shape[0]};
    set_out(t, "logits", 2, s);
    return 1;
}

/* M (the logits width) is max_context_len if set, else the largest context length given. */
static int derive_indexer_decode(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    if (!need(t, "q", 4, err, n) || !need(t, "context_lens", 1, err, n))
        return 0;
    run_tensor *q = arg(t, "q"), *lens = arg(t, "context_lens");
    int64_t m = 0;
    if (sc->set & SC_MAX_CTX)
        m = sc->max_context_len;
    else if (lens->dtype == DSA_INT32)
        for (int64_t b = 0; b < lens->shape[0]; b++)
            if (((const int32_t *)lens->host)[b] > m)
                m = ((const int32_t *)lens->host)[b];
    int64_t s[2] = {q->shape[0] * q->shape[1], m};
    set_out(t, "logits", 2, s);
    return 1;
}

static int derive_topk(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    if (!need(t, "scores", 2, err, n))
        return 0;
    if (!(sc->set & SC_K))
        return fail(err, n, "--set k=K is required");
    int64_t s[2] = {arg(t, "scores")->shape[0], sc->k};
    set_out(t, "indices", 2, s);
    return 1;
}

static int derive_prefill(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    if (!need(t, "q", 3, err, n))
        return 0;
    const int64_t *q = arg(t, "q")->shape;
    int64_t o[3] = {q[0], q[1], 512}, l[2] = {q[0], q[1]};
    set_out(t, "out", 3, o);
    set_out(t, "max_logits", 2, l);
    set_out(t, "lse", 2, l);
    return 1;
}

static int derive_decode(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    if (!need(t, "q", 4, err, n))
        return 0;
    const int64_t *q = arg(t, "q")->shape;
    int64_t o[4] = {q[0], q[1], q[2], 512}, l[3] = {q[0], q[2], q[1]};
    set_out(t, "out", 4, o);
    set_out(t, "lse", 3, l);
    return 1;
}

static int derive_none(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)t, (void)sc, (void)err, (void)n;
    return 1; /* cache writers: the cache is read, updated and written back */
}

static int derive_cache_read(run_tensor *t, int64_t width, char *err, size_t n)
{
    if (!need(t, "slots", 1, err, n))
        return 0;
    int64_t s[2] = {arg(t, "slots")->shape[0], width};
    set_out(t, "out", 2, s);
    return 1;
}

static int derive_kv_read(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    return derive_cache_read(t, 576, err, n);
}

static int derive_index_read(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    return derive_cache_read(t, 128, err, n);
}

static int derive_quantize(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    run_tensor *x = arg(t, "x");
    if (!x->present || x->rank < 1)
        return fail(err, n, "x is required");
    int64_t s[DSA_MAX_RANK];
    memcpy(s, x->shape, sizeof s);
    set_out(t, "q", x->rank, s);
    s[x->rank - 1] /= 128; /* a width that is not a multiple of 128 is the library's to reject */
    set_out(t, "scales", x->rank, s);
    return 1;
}

static int derive_dequantize(run_tensor *t, const run_scalars *sc, char *err, size_t n)
{
    (void)sc;
    run_tensor *q = arg(t, "q");
    if (!q->present || q->rank < 1)
        return fail(err, n, "q is required");
    set_out(t, "out", q->rank, q->shape);
    return 1;
}

/* ---- the table ------------------------------------------------------------------------------ */

#define F32 DT(DSA_FP32)
#define I32 DT(DSA_INT32)
#define BF16 DT(DSA_BF16)
#define FP8 DT(DSA_FP8_E4M3)
#define U8 DT(DSA_UINT8)
#define IN(s, f, d) {#f, offsetof(s, f), ARG_IN, 0, d, DSA_DTYPE_INVALID}
#define OPT(s, f, d) {#f, offsetof(s, f), ARG_IN, 1, d, DSA_DTYPE_INVALID}
#define OUT(s, f, d, def) {#f, offsetof(s, f), ARG_OUT, 0, d, def}
#define INOUT(s, f, d) {#f, offsetof(s, f), ARG_INOUT, 0, d, DSA_DTYPE_INVALID}

typedef dsa_indexer_args ia;
typedef dsa_indexer_decode_args ida;
typedef dsa_topk_args ta;
typedef dsa_sparse_mla_prefill_args pa;
typedef dsa_sparse_mla_decode_args da;
typedef dsa_cache_write_args cwa;
typedef dsa_cache_read_args cra;
typedef dsa_quantize_args qa;
typedef dsa_dequantize_args dqa;

static const op_spec specs[] = {
    {DSA_OP_INDEXER_LOGITS,
     {IN(ia, q, FP8 | BF16 | F32), IN(ia, k, FP8 | BF16 | F32), OPT(ia, k_scale, F32),
      IN(ia, weights, F32), IN(ia, ks, I32), IN(ia, ke, I32), OUT(ia, logits, F32, DSA_FP32)},
     7, "", derive_indexer},
    {DSA_OP_INDEXER_DECODE_LOGITS,
     {IN(ida, q, FP8), IN(ida, k_cache, U8), IN(ida, weights, F32), IN(ida, context_lens, I32),
      IN(ida, block_table, I32), OUT(ida, logits, F32, DSA_FP32)},
     6, "max_context_len", derive_indexer_decode},
    {DSA_OP_TOPK,
     {IN(ta, scores, F32), OPT(ta, ks, I32), OPT(ta, ke, I32), OPT(ta, lengths, I32),
      OPT(ta, block_table, I32), OUT(ta, indices, I32, DSA_INT32)},
     6, "k form page_size sorted", derive_topk},
    {DSA_OP_SPARSE_MLA_PREFILL,
     {IN(pa, q, BF16), IN(pa, kv, BF16), IN(pa, indices, I32), OPT(pa, topk_length, I32),
      OPT(pa, attn_sink, F32), OUT(pa, out, BF16, DSA_BF16), OUT(pa, max_logits, F32, DSA_FP32),
      OUT(pa, lse, F32, DSA_FP32)},
     8, "sm_scale", derive_prefill},
    {DSA_OP_SPARSE_MLA_DECODE,
     {IN(da, q, BF16), IN(da, kv_cache, U8), IN(da, indices, I32), OPT(da, topk_length, I32),
      OPT(da, attn_sink, F32), OUT(da, out, BF16, DSA_BF16), OUT(da, lse, F32, DSA_FP32)},
     7, "sm_scale", derive_decode},
    {DSA_OP_KV_CACHE_WRITE,
     {IN(cwa, rows, BF16 | F32), IN(cwa, slots, I32), INOUT(cwa, cache, U8)}, 3, "", derive_none},
    {DSA_OP_INDEX_CACHE_WRITE,
     {IN(cwa, rows, BF16 | F32), IN(cwa, slots, I32), INOUT(cwa, cache, U8)}, 3, "", derive_none},
    {DSA_OP_KV_CACHE_READ,
     {IN(cra, cache, U8), IN(cra, slots, I32), OUT(cra, out, F32 | BF16, DSA_FP32)}, 3, "",
     derive_kv_read},
    {DSA_OP_INDEX_CACHE_READ,
     {IN(cra, cache, U8), IN(cra, slots, I32), OUT(cra, out, F32 | BF16, DSA_FP32)}, 3, "",
     derive_index_read},
    {DSA_OP_QUANTIZE_FP8,
     {IN(qa, x, BF16 | DT(DSA_FP16) | F32), OUT(qa, q, FP8, DSA_FP8_E4M3),
      OUT(qa, scales, F32, DSA_FP32)},
     3, "", derive_quantize},
    {DSA_OP_DEQUANTIZE_FP8,
     {IN(dqa, q, FP8), IN(dqa, scales, F32), OUT(dqa, out, F32 | BF16, DSA_FP32)}, 3, "",
     derive_dequantize},
};

const op_spec *run_op_spec(dsa_op op)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].op == op)
            return &specs[i];
    return NULL;
}

int run_arg_index(const op_spec *spec, const char *name)
{
    for (int i = 0; i < spec->n_args; i++)
        if (strcmp(spec->args[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- scalars -------------------------------------------------------------------------------- */

static int scalar_allowed(const op_spec *spec, const char *name)
{
    char list[96];
    snprintf(list, sizeof list, " %s ", spec->scalars);
    char key[72];
    snprintf(key, sizeof key, " %s ", name);
    return strlen(name) < 32 && strstr(list, key) != NULL;
}

static int parse_form(const char *v, int *form)
{
    static const char *names[] = {"absolute", "relative", "slot"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            *form = i;
            return 1;
        }
    return 0;
}

static int parse_bool(const char *v, int *b)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
        return *b = 1, 1;
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
        return *b = 0, 1;
    return 0;
}

int run_scalar_set(const op_spec *spec, run_scalars *sc, const char *assignment, char *err,
                   size_t errlen)
{
    char name[64];
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof name)
        return fail(err, errlen, "--set wants name=value, got '%s'", assignment);
    memcpy(name, assignment, (size_t)(eq - assignment));
    name[eq - assignment] = '\0';
    const char *v = eq + 1;
    if (!scalar_allowed(spec, name))
        return fail(err, errlen, "%s takes no setting '%s' (it takes: %s)", dsa_op_name(spec->op),
                    name, spec->scalars[0] ? spec->scalars : "none");
    int ok;
    if (!strcmp(name, "sm_scale"))
        ok = cli_parse_double(v, &sc->sm_scale), sc->set |= SC_SM_SCALE;
    else if (!strcmp(name, "k"))
        ok = cli_parse_i64(v, 1, 65536, &sc->k), sc->set |= SC_K;
    else if (!strcmp(name, "form"))
        ok = parse_form(v, &sc->form), sc->set |= SC_FORM;
    else if (!strcmp(name, "page_size"))
        ok = cli_parse_i64(v, 1, 65536, &sc->page_size), sc->set |= SC_PAGE;
    else if (!strcmp(name, "sorted"))
        ok = parse_bool(v, &sc->sorted), sc->set |= SC_SORTED;
    else
        ok = cli_parse_i64(v, 0, INT32_MAX, &sc->max_context_len), sc->set |= SC_MAX_CTX;
    if (!ok)
        return fail(err, errlen, "bad value for %s: '%s'", name, v);
    return 1;
}

int run_scalars_apply(const op_spec *spec, const run_scalars *sc, void *args, char *err,
                      size_t errlen)
{
    if (spec->op == DSA_OP_SPARSE_MLA_PREFILL || spec->op == DSA_OP_SPARSE_MLA_DECODE) {
        /* No default: the specification wants sm_scale explicit (never 1/sqrt(Dqk) by accident). */
        if (!(sc->set & SC_SM_SCALE))
            return fail(err, errlen, "--set sm_scale=VALUE is required (V3.2: 0.13523)");
        if (spec->op == DSA_OP_SPARSE_MLA_PREFILL)
            ((dsa_sparse_mla_prefill_args *)args)->sm_scale = (float)sc->sm_scale;
        else
            ((dsa_sparse_mla_decode_args *)args)->sm_scale = (float)sc->sm_scale;
    }
    if (spec->op == DSA_OP_TOPK) {
        dsa_topk_args *a = args;
        if (sc->form == DSA_TOPK_SLOT && !(sc->set & SC_PAGE))
            return fail(err, errlen, "form=slot needs --set page_size=P");
        a->k = sc->k;
        a->form = (dsa_topk_form)sc->form;
        a->page_size = sc->page_size;
        a->sorted = sc->sorted;
    }
    return 1;
}

/* ---- dtypes --------------------------------------------------------------------------------- */

static dsa_dtype natural_dtype(const arg_spec *a, npy_type type)
{
    switch (type) {
    case NPY_F32: return DSA_FP32;
    case NPY_F16: return DSA_FP16;
    case NPY_I32: return DSA_INT32;
    case NPY_U16: return DSA_BF16; /* bf16 bits: NumPy has no bf16 */
    case NPY_U8: return (a->dtypes & FP8) && !(a->dtypes & U8) ? DSA_FP8_E4M3 : DSA_UINT8;
    default: return DSA_DTYPE_INVALID;
    }
}

dsa_dtype run_input_dtype(const arg_spec *a, npy_type type, dsa_dtype override, char *err,
                          size_t errlen)
{
    if (override != DSA_DTYPE_INVALID) {
        if (dsa_dtype_size(override) != npy_type_size(type)) {
            fail(err, errlen, "--dtype %s=%s: the file holds %s (%zu-byte elements)", a->name,
                 dsa_dtype_name(override), npy_type_descr(type), npy_type_size(type));
            return DSA_DTYPE_INVALID;
        }
        return override;
    }
    dsa_dtype t = natural_dtype(a, type);
    if (t == DSA_DTYPE_INVALID) {
        const char *hint = type == NPY_I64 ? " (store int32: .astype(numpy.int32))"
                         : type == NPY_F64 ? " (store float32: .astype(numpy.float32))" : "";
        fail(err, errlen, "dtype %s is not a libdsa dtype%s", npy_type_descr(type), hint);
    }
    return t;
}

npy_type run_npy_type(dsa_dtype t)
{
    switch (t) {
    case DSA_FP32: return NPY_F32;
    case DSA_INT32: return NPY_I32;
    case DSA_FP16: return NPY_F16;
    case DSA_BF16: return NPY_U16;
    case DSA_FP8_E4M3:
    case DSA_UINT8: return NPY_U8;
    default: return NPY_INVALID;
    }
}
