/* The CPU backend's runtime: one device (this machine), host memory buffers, a thread pool per
 * context. Ops run synchronously on the calling thread plus the pool: when an op returns, its
 * results are in memory, so synchronize has nothing to wait for. */
#include "cpu_pool.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gnu/libc-version.h>

#define CPU_ALIGN 256 /* buffers start on this boundary, like device allocations */

typedef struct cpu_ctx {
    cpu_pool *pool;
} cpu_ctx;

static cpu_pool *pool_of(dsa_context *ctx) { return ((cpu_ctx *)ctx->impl)->pool; }

/* ---- device description ---- */

static void read_cpuinfo(char *name, size_t name_len, char *vendor, size_t vendor_len)
{
    snprintf(name, name_len, "CPU");
    snprintf(vendor, vendor_len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    int got_name = 0, got_vendor = 0;
    while ((!got_name || !got_vendor) && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *value = colon + 1 + (colon[1] == ' ');
        value[strcspn(value, "\n")] = '\0';
        if (!got_name && strncmp(line, "model name", 10) == 0) {
            snprintf(name, name_len, "%s", value);
            got_name = 1;
        } else if (!got_vendor && strncmp(line, "vendor_id", 9) == 0) {
            snprintf(vendor, vendor_len, "%s", value);
            got_vendor = 1;
        }
    }
    fclose(f);
}

static uint32_t cpu_caps(void)
{
    uint32_t caps = DSA_CAP_INT64 | DSA_CAP_FP64;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c")) caps |= DSA_CAP_FP16;
    if (__builtin_cpu_supports("avx512bf16")) caps |= DSA_CAP_BF16;
    if (__builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni")) caps |= DSA_CAP_INT8_DOT;
#endif
    return caps;
}

static dsa_status cpu_probe(dsa_device_info *devs, int max, int *count, char *reason, size_t reason_len)
{
    (void)reason;
    (void)reason_len;
    *count = 0;
    if (max < 1) return DSA_SUCCESS;
    dsa_device_info *d = &devs[0];
    memset(d, 0, sizeof *d);
    read_cpuinfo(d->name, sizeof d->name, d->vendor, sizeof d->vendor);
    snprintf(d->driver_version, sizeof d->driver_version, "libdsa %s", dsa_version_string());
    snprintf(d->runtime_version, sizeof d->runtime_version, "glibc %s", gnu_get_libc_version());
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    d->max_buffer_bytes = d->memory_bytes;
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    d->shared_mem_per_block = l2 > 0 ? (uint64_t)l2 : 0; /* the closest CPU analogue */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    d->compute_units = n > 0 ? (uint32_t)n : 1;
    d->caps = cpu_caps();
    d->subgroup_sizes = 1u; /* size 1: scalar lanes */
    d->is_cpu = 1;
    *count = 1;
    return DSA_SUCCESS;
}

/* ---- context and memory ---- */

static dsa_status cpu_context_create(dsa_context *ctx, const dsa_context_desc *desc)
{
    if (desc->native_context || desc->native_queue || desc->native_device)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "context_create: the cpu backend takes no native handles");
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    int threads = desc->num_threads > 0 ? desc->num_threads : (int)ctx->info.compute_units;
    c->pool = cpu_pool_create(threads);
    if (!c->pool) {
        free(c);
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: cannot create the thread pool");
    }
    ctx->impl = c;
    ctx->info.compute_units = (uint32_t)cpu_pool_threads(c->pool);
    return DSA_SUCCESS;
}

static void cpu_context_destroy(dsa_context *ctx)
{
    cpu_ctx *c = ctx->impl;
    cpu_pool_destroy(c->pool);
    free(c);
}

static dsa_status cpu_synchronize(dsa_context *ctx)
{
    (void)ctx;
    return DSA_SUCCESS;
}

static dsa_status cpu_buffer_alloc(dsa_context *ctx, uint64_t bytes, void **native)
{
    (void)ctx;
    uint64_t rounded = bytes ? (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN : CPU_ALIGN;
    if (rounded < bytes || rounded > SIZE_MAX)
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "buffer_alloc: %llu bytes cannot be allocated",
                        (unsigned long long)bytes);
    void *p = aligned_alloc(CPU_ALIGN, (size_t)rounded);
    if (!p)
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "buffer_alloc: out of host memory for %llu bytes",
                        (unsigned long long)bytes);
    *native = p;
    return DSA_SUCCESS;
}

static void cpu_buffer_free(dsa_context *ctx, void *native)
{
    (void)ctx;
    free(native);
}

static dsa_status cpu_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes)
{
    (void)ctx;
    (void)native;
    (void)bytes;
    return DSA_SUCCESS; /* any host pointer; the caller promises it spans `bytes` */
}

static dsa_status cpu_buffer_write(dsa_context *ctx, void *native, uint64_t off, const void *src, uint64_t n)
{
    (void)ctx;
    memcpy((char *)native + off, src, (size_t)n);
    return DSA_SUCCESS;
}

static dsa_status cpu_buffer_read(dsa_context *ctx, void *native, uint64_t off, void *dst, uint64_t n)
{
    (void)ctx;
    memcpy(dst, (const char *)native + off, (size_t)n);
    return DSA_SUCCESS;
}

static dsa_status cpu_buffer_copy(dsa_context *ctx, void *dst, uint64_t doff, void *src, uint64_t soff,
                                  uint64_t n)
{
    (void)ctx;
    memcpy((char *)dst + doff, (const char *)src + soff, (size_t)n);
    return DSA_SUCCESS;
}

static dsa_status cpu_buffer_fill(dsa_context *ctx, void *native, uint64_t off, uint8_t byte, uint64_t n)
{
    (void)ctx;
    memset((char *)native + off, byte, (size_t)n);
    return DSA_SUCCESS;
}

/* ---- ops ---- */

#define OP_TABLE(X)                                                                                 \
    X(DSA_OP_INDEXER_LOGITS, indexer_logits, dsa_indexer_args)                                      \
    X(DSA_OP_INDEXER_DECODE_LOGITS, indexer_decode_logits, dsa_indexer_decode_args)                 \
    X(DSA_OP_TOPK, topk, dsa_topk_args)                                                             \
    X(DSA_OP_SPARSE_MLA_PREFILL, sparse_mla_prefill, dsa_sparse_mla_prefill_args)                   \
    X(DSA_OP_SPARSE_MLA_DECODE, sparse_mla_decode, dsa_sparse_mla_decode_args)                      \
    X(DSA_OP_KV_CACHE_WRITE, kv_cache_write, dsa_cache_write_args)                                  \
    X(DSA_OP_INDEX_CACHE_WRITE, index_cache_write, dsa_cache_write_args)                            \
    X(DSA_OP_KV_CACHE_READ, kv_cache_read, dsa_cache_read_args)                                     \
    X(DSA_OP_INDEX_CACHE_READ, index_cache_read, dsa_cache_read_args)                               \
    X(DSA_OP_QUANTIZE_FP8, quantize_fp8, dsa_quantize_args)                                         \
    X(DSA_OP_DEQUANTIZE_FP8, dequantize_fp8, dsa_dequantize_args)

static dsa_status cpu_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    int threads = cpu_pool_threads(pool_of(ctx));
    switch (op) {
#define X(code, name, args_t)                                                                       \
    case code: *bytes = cpu_##name##_workspace(threads, (const args_t *)args); return DSA_SUCCESS;
        OP_TABLE(X)
#undef X
    default: break;
    }
    return dsa_fail(DSA_ERROR_INTERNAL, "cpu: no workspace rule for op %d", (int)op);
}

static dsa_status cpu_prepare(dsa_context *ctx, dsa_op op, const void *args)
{
    (void)ctx;
    (void)op;
    (void)args;
    return DSA_SUCCESS; /* nothing to compile: the workspace is all a CPU op needs */
}

static dsa_status cpu_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    void *scratch = ws->buffer ? (char *)ws->buffer->native + ws->offset : NULL;
    if ((uintptr_t)scratch % 64)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "%s: workspace address is not 64-byte aligned (wrapped host memory?)",
                        dsa_op_name(op));
    cpu_pool *pool = pool_of(ctx);
    switch (op) {
#define X(code, name, args_t)                                                                       \
    case code: return cpu_##name(pool, (const args_t *)args, scratch);
        OP_TABLE(X)
#undef X
    default: break;
    }
    return dsa_fail(DSA_ERROR_INTERNAL, "cpu: op %d has no kernel", (int)op);
}

const dsa_backend_ops dsa_cpu_backend = {
    .id = DSA_BACKEND_CPU,
    .probe = cpu_probe,
    .context_create = cpu_context_create,
    .context_destroy = cpu_context_destroy,
    .synchronize = cpu_synchronize,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_wrap = cpu_buffer_wrap,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_copy = cpu_buffer_copy,
    .buffer_fill = cpu_buffer_fill,
    .workspace_size = cpu_workspace_size,
    .prepare = cpu_prepare,
    .run = cpu_run,
};
