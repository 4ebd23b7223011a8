/* The runtime API outside the ops: versions, statuses, devices, selectors, contexts, buffers,
 * logging, workspaces, and results that do not depend on the thread count. Public API only. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsa.h"

static dsa_context *open_cpu(int threads)
{
    dsa_context_desc desc = {.selector = "cpu", .num_threads = threads};
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    return ctx;
}

Test(api, version)
{
    cr_assert_eq(dsa_version(), DSA_API_VERSION);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", DSA_VERSION_MAJOR, DSA_VERSION_MINOR, DSA_VERSION_PATCH);
    cr_assert_str_eq(dsa_version_string(), expect);
}

Test(api, status_names_and_kinds)
{
    cr_assert_str_eq(dsa_status_string(DSA_SUCCESS), "DSA_SUCCESS");
    cr_assert_str_eq(dsa_status_string(DSA_ERROR_BAD_SHAPE), "DSA_ERROR_BAD_SHAPE");
    cr_assert_str_eq(dsa_status_string((dsa_status)12345), "unknown status");
    cr_assert_eq(dsa_status_kind(DSA_ERROR_OUT_OF_BOUNDS), DSA_KIND_INVALID_ARGUMENT);
    cr_assert_eq(dsa_status_kind(DSA_ERROR_NO_DEVICE), DSA_KIND_UNSUPPORTED);
    cr_assert_eq(dsa_status_kind(DSA_ERROR_DEVICE_OUT_OF_MEMORY), DSA_KIND_OUT_OF_MEMORY);
    cr_assert_eq(dsa_status_kind(DSA_ERROR_DRIVER), DSA_KIND_DRIVER);
    cr_assert_eq(dsa_status_kind(DSA_ERROR_COMPILE), DSA_KIND_COMPILE);
    cr_assert_eq(dsa_status_kind(DSA_ERROR_INTERNAL), DSA_KIND_INTERNAL);
}

Test(api, names)
{
    cr_assert_eq(dsa_dtype_size(DSA_BF16), 2);
    cr_assert_eq(dsa_dtype_size(DSA_FP8_E4M3), 1);
    cr_assert_eq(dsa_dtype_size(DSA_DTYPE_INVALID), 0);
    cr_assert_str_eq(dsa_backend_name(DSA_BACKEND_OPENCL), "opencl");
    cr_assert_str_eq(dsa_op_name(DSA_OP_SPARSE_MLA_DECODE), "sparse_mla_decode");
    cr_assert_str_eq(dsa_op_name((dsa_op)99), "unknown");
}

Test(api, devices_list_the_cpu_and_say_why_others_are_missing)
{
    int n = 0;
    cr_assert_eq(dsa_device_count(&n), DSA_SUCCESS);
    cr_assert_geq(n, 1);
    dsa_device_info info;
    cr_assert_eq(dsa_device_get_info(0, &info), DSA_SUCCESS);
    cr_assert_eq(info.backend, DSA_BACKEND_CPU);
    cr_assert(info.is_cpu && !info.is_emulation);
    cr_assert_gt(info.compute_units, 0);
    cr_assert_gt(strlen(info.name), 0);
    cr_assert_eq(dsa_device_get_info(n, &info), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_device_get_info(0, NULL), DSA_ERROR_NULL_POINTER);
    for (int b = 0; b < DSA_BACKEND_COUNT; b++) {
        int avail = -1;
        const char *why = NULL;
        cr_assert_eq(dsa_backend_available((dsa_backend)b, &avail, &why), DSA_SUCCESS);
        cr_assert(avail == 0 || avail == 1);
        if (!avail) cr_assert(why && strlen(why) > 0, "backend %d unavailable without a reason", b);
    }
    int avail;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_CPU, &avail, NULL), DSA_SUCCESS);
    cr_assert_eq(avail, 1);
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_COUNT, &avail, NULL), DSA_ERROR_INVALID_ARGUMENT);
}

static dsa_status try_selector(const char *sel)
{
    dsa_context *ctx = NULL;
    dsa_status st = dsa_context_create(sel, &ctx);
    if (st == DSA_SUCCESS) {
        dsa_device_info info;
        cr_assert_eq(dsa_context_get_info(ctx, &info), DSA_SUCCESS);
        cr_assert_eq(info.backend, DSA_BACKEND_CPU, "selector %s", sel);
        dsa_context_destroy(ctx);
    } else {
        cr_assert_null(ctx);
        cr_assert_gt(strlen(dsa_last_error()), 0);
    }
    return st;
}

Test(api, selectors)
{
    unsetenv("DSA_DEVICE");
    cr_assert_eq(try_selector("cpu"), DSA_SUCCESS);
    cr_assert_eq(try_selector("CPU:0"), DSA_SUCCESS);
    cr_assert_eq(try_selector("auto"), DSA_SUCCESS);
    cr_assert_eq(try_selector(NULL), DSA_SUCCESS);
    cr_assert_eq(try_selector("cpu:1"), DSA_ERROR_NO_DEVICE);
    cr_assert_eq(try_selector("cpu:no-such-device-name"), DSA_ERROR_NO_DEVICE);
    cr_assert_eq(try_selector("tpu:0"), DSA_ERROR_BAD_SELECTOR);
    cr_assert(strstr(dsa_last_error(), "tpu") != NULL);
    /* A backend that is not available says so (and why) rather than "no device". */
    int cuda = 0;
    dsa_backend_available(DSA_BACKEND_CUDA, &cuda, NULL);
    if (!cuda) cr_assert_eq(try_selector("cuda:0"), DSA_ERROR_BACKEND_UNAVAILABLE);
    /* Name matching: any substring of the CPU's vendor or model name. */
    dsa_device_info info;
    dsa_device_get_info(0, &info);
    char sel[300];
    snprintf(sel, sizeof sel, "cpu:%.*s", 3, info.vendor);
    cr_assert_eq(try_selector(sel), DSA_SUCCESS, "%s", sel);
}

Test(api, dsa_device_overrides_auto_only)
{
    setenv("DSA_DEVICE", "bogus:3", 1);
    cr_assert_eq(try_selector("auto"), DSA_ERROR_BAD_SELECTOR);
    cr_assert_eq(try_selector("cpu"), DSA_SUCCESS); /* an explicit selector wins */
    setenv("DSA_DEVICE", "cpu:0", 1);
    cr_assert_eq(try_selector(NULL), DSA_SUCCESS);
    unsetenv("DSA_DEVICE");
}

Test(api, context_arguments)
{
    cr_assert_eq(dsa_context_create("cpu", NULL), DSA_ERROR_NULL_POINTER);
    dsa_context *ctx = (dsa_context *)0x1;
    cr_assert_eq(dsa_context_create_ex(NULL, &ctx), DSA_ERROR_NULL_POINTER);
    cr_assert_null(ctx);
    dsa_context_desc desc = {.selector = "cpu", .native_queue = (void *)0x10};
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_ERROR_INVALID_ARGUMENT);
    desc.native_queue = NULL;
    desc.num_threads = -2;
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_context_destroy(NULL), DSA_SUCCESS);
    cr_assert_eq(dsa_synchronize(NULL), DSA_ERROR_NULL_POINTER);
}

Test(api, buffers_round_trip_and_bounds)
{
    dsa_context *ctx = open_cpu(0);
    dsa_buffer *a = NULL, *b = NULL;
    cr_assert_eq(dsa_buffer_alloc(ctx, 64, &a), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, 64, &b), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_size(a), 64);
    unsigned char src[64], dst[64];
    for (int i = 0; i < 64; i++) src[i] = (unsigned char)(i * 7);
    cr_assert_eq(dsa_buffer_write(a, 0, src, 64), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_copy(b, 8, a, 0, 56), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_fill(b, 0, 0xAB, 8), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_read(b, 0, dst, 64), DSA_SUCCESS);
    for (int i = 0; i < 8; i++) cr_assert_eq(dst[i], 0xAB);
    cr_assert_arr_eq(dst + 8, src, 56);

    /* Out of range, including offsets that would overflow: refused, nothing written. */
    unsigned char before[64], after[64];
    dsa_buffer_read(a, 0, before, 64);
    cr_assert_eq(dsa_buffer_write(a, 1, src, 64), DSA_ERROR_OUT_OF_BOUNDS);
    cr_assert_eq(dsa_buffer_write(a, UINT64_MAX, src, 2), DSA_ERROR_OUT_OF_BOUNDS);
    cr_assert_eq(dsa_buffer_fill(a, 60, 0, UINT64_MAX - 10), DSA_ERROR_OUT_OF_BOUNDS);
    cr_assert_eq(dsa_buffer_copy(a, 0, b, 32, 33), DSA_ERROR_OUT_OF_BOUNDS);
    cr_assert_eq(dsa_buffer_copy(a, 0, a, 8, 16), DSA_ERROR_ALIASING);
    cr_assert_eq(dsa_buffer_write(a, 0, NULL, 4), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_buffer_read(a, 65, dst, 0), DSA_ERROR_OUT_OF_BOUNDS);
    dsa_buffer_read(a, 0, after, 64);
    cr_assert_arr_eq(before, after, 64);

    /* A context refuses to go while its buffers live. */
    cr_assert_eq(dsa_context_destroy(ctx), DSA_ERROR_INVALID_ARGUMENT);
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_assert_eq(dsa_buffer_free(NULL), DSA_SUCCESS);
    cr_assert_eq(dsa_context_destroy(ctx), DSA_SUCCESS);
}

Test(api, wrapped_host_memory_stays_the_callers)
{
    dsa_context *ctx = open_cpu(1), *other = open_cpu(1);
    float *host = calloc(16, sizeof *host);
    dsa_buffer *w = NULL, *o = NULL;
    cr_assert_eq(dsa_buffer_wrap(ctx, NULL, 64, &w), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_buffer_wrap(ctx, host, 64, &w), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_native(w), host);
    float v = 3.5f;
    cr_assert_eq(dsa_buffer_write(w, 8, &v, 4), DSA_SUCCESS);
    cr_assert_eq(host[2], 3.5f);
    cr_assert_eq(dsa_buffer_alloc(other, 64, &o), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_copy(o, 0, w, 0, 4), DSA_ERROR_WRONG_CONTEXT);
    dsa_buffer_free(w);
    host[3] = 1.0f; /* still ours: the wrapper did not free it */
    free(host);
    dsa_buffer_free(o);
    dsa_context_destroy(ctx);
    dsa_context_destroy(other);
}

/* ---- logging ---- */

typedef struct log_seen {
    int count;
    char last[256];
} log_seen;

static void record_log(dsa_log_level level, const char *category, const char *message, void *user)
{
    (void)level;
    log_seen *s = user;
    s->count++;
    snprintf(s->last, sizeof s->last, "%s|%s", category, message);
}

Test(api, log_callback_receives_messages)
{
    log_seen seen = {0};
    dsa_set_log_callback(record_log, &seen);
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("nothing:0", &ctx), DSA_ERROR_BAD_SELECTOR);
    cr_assert_gt(seen.count, 0);
    cr_assert(strstr(seen.last, "nothing") != NULL, "%s", seen.last);
    dsa_set_log_callback(NULL, NULL);
    int before = seen.count;
    dsa_context_create("nothing:0", &ctx);
    cr_assert_eq(seen.count, before);
}

/* ---- thread-local messages ---- */

static void *fail_in_thread(void *arg)
{
    (void)arg;
    dsa_context *ctx;
    dsa_context_create("elsewhere:9", &ctx);
    return NULL;
}

Test(api, error_message_is_per_thread)
{
    dsa_context *ctx;
    cr_assert_eq(dsa_context_create("mine:1", &ctx), DSA_ERROR_BAD_SELECTOR);
    pthread_t t;
    pthread_create(&t, NULL, fail_in_thread, NULL);
    pthread_join(t, NULL);
    cr_assert(strstr(dsa_last_error(), "mine") != NULL, "%s", dsa_last_error());
}

/* ---- workspaces and thread-count independence, on a small sparse MLA prefill ---- */

typedef struct mla_case {
    dsa_buffer *q, *kv, *idx, *out, *lse;
    dsa_sparse_mla_prefill_args args;
} mla_case;

static void mla_setup(dsa_context *ctx, mla_case *m)
{
    enum { S = 5, H = 16, D = 576, SKV = 40, TOPK = 24 };
    uint16_t *q = malloc(sizeof(uint16_t) * S * H * D), *kv = malloc(sizeof(uint16_t) * SKV * D);
    int32_t idx[S * TOPK];
    uint32_t x = 12345;
    for (int i = 0; i < S * H * D; i++) {
        x = x * 1664525u + 1013904223u;
        q[i] = (uint16_t)(0x3c00 | (x >> 25) | ((x >> 8) & 0x8000)); /* bf16 in [-2,-1] U [1,2) */
    }
    for (int i = 0; i < SKV * D; i++) {
        x = x * 1664525u + 1013904223u;
        kv[i] = (uint16_t)(0x3c00 | (x >> 25) | ((x >> 8) & 0x8000));
    }
    for (int i = 0; i < S * TOPK; i++) idx[i] = (int32_t)((i * 7) % (SKV + 3)) - 1; /* some invalid */
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof(uint16_t) * S * H * D, &m->q), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof(uint16_t) * SKV * D, &m->kv), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof idx, &m->idx), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof(uint16_t) * S * H * 512, &m->out), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof(float) * S * H, &m->lse), DSA_SUCCESS);
    dsa_buffer_write(m->q, 0, q, sizeof(uint16_t) * S * H * D);
    dsa_buffer_write(m->kv, 0, kv, sizeof(uint16_t) * SKV * D);
    dsa_buffer_write(m->idx, 0, idx, sizeof idx);
    free(q);
    free(kv);
    int64_t qs[3] = {S, H, D}, kvs[3] = {SKV, 1, D}, is[3] = {S, 1, TOPK}, os[3] = {S, H, 512}, ls[2] = {S, H};
    memset(&m->args, 0, sizeof m->args);
    m->args.q = dsa_tensor_make(m->q, 0, DSA_BF16, 3, qs, NULL);
    m->args.kv = dsa_tensor_make(m->kv, 0, DSA_BF16, 3, kvs, NULL);
    m->args.indices = dsa_tensor_make(m->idx, 0, DSA_INT32, 3, is, NULL);
    m->args.out = dsa_tensor_make(m->out, 0, DSA_BF16, 3, os, NULL);
    m->args.lse = dsa_tensor_make(m->lse, 0, DSA_FP32, 2, ls, NULL);
    m->args.sm_scale = 0.0371f;
}

static void mla_free(mla_case *m)
{
    dsa_buffer_free(m->q);
    dsa_buffer_free(m->kv);
    dsa_buffer_free(m->idx);
    dsa_buffer_free(m->out);
    dsa_buffer_free(m->lse);
}

static void mla_result(mla_case *m, unsigned char *out, size_t out_bytes, unsigned char *lse, size_t lse_bytes)
{
    dsa_buffer_read(m->out, 0, out, out_bytes);
    dsa_buffer_read(m->lse, 0, lse, lse_bytes);
}

Test(api, results_do_not_depend_on_thread_count)
{
    static unsigned char out1[5 * 16 * 512 * 2], out2[sizeof out1], lse1[5 * 16 * 4], lse2[sizeof lse1];
    for (int pass = 0; pass < 2; pass++) {
        dsa_context *ctx = open_cpu(pass == 0 ? 1 : 3);
        mla_case m;
        mla_setup(ctx, &m);
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, NULL), DSA_SUCCESS, "%s", dsa_last_error());
        mla_result(&m, pass ? out2 : out1, sizeof out1, pass ? lse2 : lse1, sizeof lse1);
        mla_free(&m);
        dsa_context_destroy(ctx);
    }
    cr_assert_arr_eq(out1, out2, sizeof out1);
    cr_assert_arr_eq(lse1, lse2, sizeof lse1);
}

Test(api, caller_workspace_and_prepare)
{
    dsa_context *ctx = open_cpu(2);
    mla_case m;
    mla_setup(ctx, &m);
    uint64_t need = 0;
    cr_assert_eq(dsa_workspace_size(ctx, DSA_OP_SPARSE_MLA_PREFILL, &m.args, &need), DSA_SUCCESS);
    cr_assert_eq(dsa_workspace_size(ctx, DSA_OP_SPARSE_MLA_PREFILL, &m.args, NULL), DSA_ERROR_NULL_POINTER);
    /* A shape-only query works with no buffers at all. */
    dsa_sparse_mla_prefill_args shapes = m.args;
    shapes.q.buffer = shapes.kv.buffer = shapes.indices.buffer = shapes.out.buffer = shapes.lse.buffer = NULL;
    uint64_t need2 = 1;
    cr_assert_eq(dsa_workspace_size(ctx, DSA_OP_SPARSE_MLA_PREFILL, &shapes, &need2), DSA_SUCCESS,
                 "%s", dsa_last_error());
    cr_assert_eq(need, need2);
    cr_assert_eq(dsa_prepare(ctx, DSA_OP_SPARSE_MLA_PREFILL, &shapes), DSA_SUCCESS, "%s", dsa_last_error());

    dsa_buffer *wsbuf = NULL;
    cr_assert_eq(dsa_buffer_alloc(ctx, need + 512, &wsbuf), DSA_SUCCESS);
    dsa_workspace ws = {wsbuf, 256, need};
    cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, &ws), DSA_SUCCESS, "%s", dsa_last_error());
    if (need > 0) {
        dsa_workspace small = {wsbuf, 0, need - 1};
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, &small), DSA_ERROR_WORKSPACE_TOO_SMALL);
        dsa_workspace misaligned = {wsbuf, 8, need};
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, &misaligned), DSA_ERROR_INVALID_ARGUMENT);
        dsa_workspace overrun = {wsbuf, 512, need + 1};
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, &overrun), DSA_ERROR_OUT_OF_BOUNDS);
        /* Scratch overlapping an output (lse placed in bytes [0, 320) of the workspace buffer). */
        dsa_sparse_mla_prefill_args clash = m.args;
        clash.lse.buffer = wsbuf;
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &clash, &ws), DSA_ERROR_ALIASING);
        cr_assert(strstr(dsa_last_error(), "lse") != NULL, "%s", dsa_last_error());
        dsa_workspace none = {NULL, 0, need};
        cr_assert_eq(dsa_sparse_mla_prefill(ctx, &m.args, &none), DSA_ERROR_NULL_POINTER);
    }
    dsa_buffer_free(wsbuf);
    mla_free(&m);
    dsa_context_destroy(ctx);
}
