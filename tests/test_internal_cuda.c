/* The CUDA backend's runtime (backends/cuda/cuda_backend.c, cuda_api.c).
 *
 * Without a driver (the development machines) the backend must be listed as unavailable with a
 * printable reason and selecting it must fail cleanly; the tests that need a GPU skip, saying why.
 * Set DSA_REQUIRE_CUDA=1 on a machine that must have a working CUDA device (the H100 machine) to
 * turn those skips into failures.
 *
 * With a driver: device descriptions, contexts (own and application-given), buffer round trips,
 * wrapping cuMemAlloc'd memory, quantize_fp8 / dequantize_fp8 on the device equal to the CPU
 * backend byte for byte (NaN outputs compare as a class, docs/ops.md leaves their payload open),
 * kernels compiled once, use from another thread, and ordering on an application's CUstream. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/dsa.h"

#ifdef DSA_BUILD_CUDA
#include "../backends/cuda/cuda_api.h"
#endif

static int cuda_required(void)
{
    const char *req = getenv("DSA_REQUIRE_CUDA");
    return req && *req && strcmp(req, "0") != 0;
}

/* ---- no driver, or the backend not built ---------------------------------------------------- */

Test(cuda, unavailable_without_driver)
{
    int available = -1;
    const char *reason = NULL;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_CUDA, &available, &reason), DSA_SUCCESS, "%s", dsa_last_error());
    if (available) {
        cr_assert_str_eq(reason, "");
        cr_skip_test("a CUDA device is usable here; this test covers machines without a driver");
    }
    cr_assert(!cuda_required(), "DSA_REQUIRE_CUDA is set but the CUDA backend is unavailable: %s", reason);
    cr_assert_not_null(reason);
    cr_assert_gt(strlen(reason), 0, "an unavailable backend must say why");
#ifdef DSA_BUILD_CUDA
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        cr_assert(strstr(reason, "libcuda") != NULL, "reason \"%s\" does not name libcuda", reason);
    } else {
        /* The library is there but cuInit (or a symbol) failed: the reason names the call. */
        cr_assert(strstr(reason, "cuInit") || strstr(reason, "libcuda") || strstr(reason, "cuDevice"),
                  "reason \"%s\" names neither the library nor the failing call", reason);
        dlclose(lib);
    }
    const dsa_cu_api *cu = (const dsa_cu_api *)1;
    cr_assert_eq(dsa_cu_load(&cu), DSA_ERROR_BACKEND_UNAVAILABLE);
    cr_assert_null(cu);
    cr_assert_str_eq(dsa_last_error(), dsa_cu_reason());
#else
    cr_assert(strstr(reason, "not in this build") != NULL, "reason: %s", reason);
#endif
    dsa_context *ctx = (dsa_context *)1;
    dsa_status st = dsa_context_create("cuda:0", &ctx);
    cr_assert_eq(st, DSA_ERROR_BACKEND_UNAVAILABLE, "selecting cuda:0 gave %s: %s", dsa_status_string(st),
                 dsa_last_error());
    cr_assert_null(ctx);
    cr_assert(strstr(dsa_last_error(), reason) != NULL, "the message \"%s\" should carry the reason \"%s\"",
              dsa_last_error(), reason);
    /* No CUDA device is listed, and auto still finds something (the CPU backend at least). */
    int count = 0;
    cr_assert_eq(dsa_device_count(&count), DSA_SUCCESS);
    for (int i = 0; i < count; i++) {
        dsa_device_info info;
        cr_assert_eq(dsa_device_get_info(i, &info), DSA_SUCCESS);
        cr_assert_neq(info.backend, DSA_BACKEND_CUDA, "device %d is a CUDA device of an unavailable backend", i);
    }
    st = dsa_context_create("auto", &ctx);
    cr_assert_eq(st, DSA_SUCCESS, "auto: %s", dsa_last_error());
    dsa_context_destroy(ctx);
}

#ifdef DSA_BUILD_CUDA

Test(cuda, error_mapping)
{
    cr_assert_eq(dsa_cu_status(DSA_CU_SUCCESS), DSA_SUCCESS);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_OUT_OF_MEMORY), DSA_ERROR_DEVICE_OUT_OF_MEMORY);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_ILLEGAL_ADDRESS), DSA_ERROR_DEVICE_LOST);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_LAUNCH_FAILED), DSA_ERROR_DEVICE_LOST);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_MISALIGNED_ADDRESS), DSA_ERROR_DEVICE_LOST);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_INVALID_VALUE), DSA_ERROR_DRIVER);
    cr_assert_eq(dsa_cu_status(DSA_CU_ERROR_NO_BINARY_FOR_GPU), DSA_ERROR_DRIVER);
    cr_assert_eq(dsa_cu_status(12345), DSA_ERROR_DRIVER);
    int available = 0;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_CUDA, &available, NULL), DSA_SUCCESS);
    /* The driver names its codes once loaded; without one the number is still given. */
    const char *name = dsa_cu_error_name(DSA_CU_ERROR_OUT_OF_MEMORY);
    if (available)
        cr_assert_str_eq(name, "CUDA_ERROR_OUT_OF_MEMORY");
    else if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL))
        cr_assert_str_eq(name, "CUresult 2");
    cr_assert_eq(dsa_cu_fail(DSA_CU_ERROR_ILLEGAL_ADDRESS, "cuStreamSynchronize", "synchronize on cuda:%d", 0),
                 DSA_ERROR_DEVICE_LOST);
    const char *msg = dsa_last_error();
    cr_assert(strstr(msg, "synchronize on cuda:0") && strstr(msg, "cuStreamSynchronize"), "message: %s", msg);
    cr_assert(strstr(msg, available ? "CUDA_ERROR_ILLEGAL_ADDRESS" : "700"), "message: %s", msg);
    cr_assert(strstr(msg, "destroy the libdsa context"), "a lost context should say what to do: %s", msg);
}

/* ---- with a driver -------------------------------------------------------------------------- */

/* The driver table, or the calling test is skipped (failed under DSA_REQUIRE_CUDA). */
static const dsa_cu_api *driver_or_skip(void)
{
    int available = 0;
    const char *reason = "";
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_CUDA, &available, &reason), DSA_SUCCESS);
    if (!available) {
        cr_assert(!cuda_required(), "DSA_REQUIRE_CUDA is set but the CUDA backend is unavailable: %s", reason);
        cr_skip_test("no usable CUDA driver and device here: %s", reason);
    }
    const dsa_cu_api *cu = NULL;
    cr_assert_eq(dsa_cu_load(&cu), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(cu);
    return cu;
}

#define CU_OK(call)                                                                                     \
    do {                                                                                                \
        dsa_cu_result r_ = (call);                                                                      \
        cr_assert_eq(r_, DSA_CU_SUCCESS, "%s failed: %s (%s)", #call, dsa_cu_error_name(r_),            \
                     dsa_cu_error_string(r_));                                                          \
    } while (0)

#define DSA_OK(call)                                                                                    \
    do {                                                                                                \
        dsa_status s_ = (call);                                                                         \
        cr_assert_eq(s_, DSA_SUCCESS, "%s failed: %s: %s", #call, dsa_status_string(s_), dsa_last_error()); \
    } while (0)

static dsa_context *gpu_context(void)
{
    dsa_context *ctx = NULL;
    DSA_OK(dsa_context_create("cuda:0", &ctx));
    return ctx;
}

static dsa_context *cpu_context(void)
{
    dsa_context *ctx = NULL;
    DSA_OK(dsa_context_create("cpu", &ctx));
    return ctx;
}

Test(cuda, describes_devices)
{
    const dsa_cu_api *cu = driver_or_skip();
    int count = 0, seen = 0;
    DSA_OK(dsa_device_count(&count));
    for (int i = 0; i < count; i++) {
        dsa_device_info d;
        DSA_OK(dsa_device_get_info(i, &d));
        if (d.backend != DSA_BACKEND_CUDA) continue;
        cr_log_info("cuda:%d %s, driver %s, %s, %llu MiB, %u SMs, shared %llu B, matrix \"%s\"", d.index, d.name,
                    d.driver_version, d.runtime_version, (unsigned long long)(d.memory_bytes >> 20), d.compute_units,
                    (unsigned long long)d.shared_mem_per_block, d.matrix_units);
        cr_assert_eq(d.index, seen, "CUDA devices are listed in ordinal order");
        seen++;
        dsa_cu_device dev;
        CU_OK(cu->cuDeviceGet(&dev, d.index));
        cr_assert_str_eq(d.vendor, "NVIDIA");
        cr_assert_gt(strlen(d.name), 0);
        int major = -1, minor = -1;
        cr_assert_eq(sscanf(d.driver_version, "%d.%d", &major, &minor), 2, "driver_version \"%s\"", d.driver_version);
        cr_assert_geq(major, 11, "driver_version \"%s\"", d.driver_version);
        cr_assert(strncmp(d.runtime_version, "NVRTC ", 6) == 0 || strcmp(d.runtime_version, "no NVRTC") == 0,
                  "runtime_version \"%s\"", d.runtime_version);
        cr_assert_gt(d.memory_bytes, 0);
        cr_assert_eq(d.max_buffer_bytes, d.memory_bytes);
        int sms = 0, shared = 0, cc_major = 0, cc_minor = 0;
        CU_OK(cu->cuDeviceGetAttribute(&sms, DSA_CU_ATTR_MULTIPROCESSOR_COUNT, dev));
        /* the opt-in limit: kernels take their shared arrays as dynamic shared memory */
        CU_OK(cu->cuDeviceGetAttribute(&shared, DSA_CU_ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev));
        CU_OK(cu->cuDeviceGetAttribute(&cc_major, DSA_CU_ATTR_COMPUTE_CAPABILITY_MAJOR, dev));
        CU_OK(cu->cuDeviceGetAttribute(&cc_minor, DSA_CU_ATTR_COMPUTE_CAPABILITY_MINOR, dev));
        cr_assert_eq(d.compute_units, (uint32_t)sms);
        cr_assert_eq(d.shared_mem_per_block, (uint64_t)shared);
        cr_assert_geq(d.shared_mem_per_block, 48u * 1024);
        cr_assert_eq(d.subgroup_sizes, 32u, "subgroup_sizes is 0x%x, expected bit 5 (warps of 32)", d.subgroup_sizes);
        uint32_t always = DSA_CAP_SUBGROUPS | DSA_CAP_INT64 | DSA_CAP_FP64;
        cr_assert_eq(d.caps & always, always, "caps 0x%x", d.caps);
        int cc = cc_major * 10 + cc_minor;
        cr_assert_eq(!!(d.caps & DSA_CAP_BF16), cc >= 80, "bf16 cap on sm_%d: caps 0x%x", cc, d.caps);
        cr_assert_eq(!!(d.caps & DSA_CAP_FP8), cc >= 89, "fp8 cap on sm_%d: caps 0x%x", cc, d.caps);
        cr_assert_eq(!!(d.caps & DSA_CAP_MATRIX_UNITS), cc >= 70, "matrix cap on sm_%d: caps 0x%x", cc, d.caps);
        if (cc == 90) cr_assert_str_eq(d.matrix_units, "mma.sync bf16 fp8, wgmma");
        cr_assert(d.has_uuid);
        int nonzero = 0;
        for (int b = 0; b < 16; b++) nonzero |= d.uuid[b];
        cr_assert(nonzero, "uuid is all zero");
        cr_assert(!d.is_cpu && !d.is_emulation);
    }
    cr_assert_gt(seen, 0, "the backend is available but no CUDA device is listed");
}

Test(cuda, contexts)
{
    driver_or_skip();
    dsa_context *ctx = gpu_context();
    dsa_device_info info;
    DSA_OK(dsa_context_get_info(ctx, &info));
    cr_assert_eq(info.backend, DSA_BACKEND_CUDA);
    cr_assert_eq(info.index, 0);
    DSA_OK(dsa_synchronize(ctx));
    DSA_OK(dsa_context_destroy(ctx));
    /* By name, and twice at once (each has its own stream on the shared primary context). */
    dsa_context *a = NULL, *b = NULL;
    DSA_OK(dsa_context_create("cuda:nvidia", &a));
    DSA_OK(dsa_context_create("cuda:0", &b));
    DSA_OK(dsa_context_destroy(a));
    DSA_OK(dsa_synchronize(b));
    DSA_OK(dsa_context_destroy(b));
    /* A native_device is not a CUDA notion: refused, saying so. */
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "cuda:0";
    desc.native_device = (void *)&desc;
    dsa_context *bad = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &bad), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "native_device"), "%s", dsa_last_error());
    cr_assert_null(bad);
}

Test(cuda, buffer_round_trips)
{
    driver_or_skip();
    dsa_context *ctx = gpu_context();
    const size_t n = (1u << 20) + 13;
    uint8_t *src = malloc(n), *dst = malloc(n);
    cr_assert(src && dst);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 131u + (i >> 9));
    dsa_buffer *a = NULL, *b = NULL, *empty = NULL;
    DSA_OK(dsa_buffer_alloc(ctx, n, &a));
    DSA_OK(dsa_buffer_alloc(ctx, n + 64, &b));
    DSA_OK(dsa_buffer_alloc(ctx, 0, &empty));
    cr_assert_not_null(dsa_buffer_native(a));
    DSA_OK(dsa_buffer_write(a, 0, src, n));
    memset(dst, 0, n);
    DSA_OK(dsa_buffer_read(a, 0, dst, n));
    cr_assert_eq(memcmp(src, dst, n), 0, "write then read of %zu bytes differs", n);
    /* Unaligned offsets on both sides of a device copy, then a fill in the middle. */
    DSA_OK(dsa_buffer_fill(b, 0, 0x5A, n + 64));
    DSA_OK(dsa_buffer_copy(b, 7, a, 3, n - 3));
    DSA_OK(dsa_buffer_fill(b, 1000, 0xC3, 77));
    uint8_t *got = malloc(n + 64);
    cr_assert_not_null(got);
    DSA_OK(dsa_buffer_read(b, 0, got, n + 64));
    for (size_t i = 0; i < n + 64; i++) {
        uint8_t want = i < 7 || i >= 7 + n - 3 ? 0x5A : src[i - 7 + 3];
        if (i >= 1000 && i < 1077) want = 0xC3;
        cr_assert_eq(got[i], want, "byte %zu after copy + fill is 0x%02x, expected 0x%02x", i, got[i], want);
    }
    /* A partial read at an odd offset. */
    DSA_OK(dsa_buffer_read(a, 12345, dst, 99));
    cr_assert_eq(memcmp(dst, src + 12345, 99), 0);
    DSA_OK(dsa_buffer_free(a));
    DSA_OK(dsa_buffer_free(b));
    DSA_OK(dsa_buffer_free(empty));
    DSA_OK(dsa_context_destroy(ctx));
    free(src);
    free(dst);
    free(got);
}

Test(cuda, device_out_of_memory)
{
    driver_or_skip();
    dsa_context *ctx = gpu_context();
    dsa_device_info info;
    DSA_OK(dsa_context_get_info(ctx, &info));
    dsa_buffer *b = NULL;
    /* The whole memory can never be had (the context itself uses some). */
    dsa_status st = dsa_buffer_alloc(ctx, info.memory_bytes, &b);
    cr_assert_eq(st, DSA_ERROR_DEVICE_OUT_OF_MEMORY, "allocating all %llu bytes gave %s: %s",
                 (unsigned long long)info.memory_bytes, dsa_status_string(st), dsa_last_error());
    cr_assert_null(b);
    cr_assert(strstr(dsa_last_error(), "cuMemAlloc") && strstr(dsa_last_error(), "CUDA_ERROR_OUT_OF_MEMORY"),
              "message: %s", dsa_last_error());
    /* The context is still fine. */
    DSA_OK(dsa_buffer_alloc(ctx, 4096, &b));
    DSA_OK(dsa_buffer_fill(b, 0, 1, 4096));
    DSA_OK(dsa_buffer_free(b));
    DSA_OK(dsa_context_destroy(ctx));
}

/* ---- ops against the CPU backend ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float rnd_float(void)
{
    /* Mixed magnitudes, so that groups get very different scales, plus the special values. */
    uint64_t r = rnd();
    switch (r % 64) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0f;
    case 4: return -0.0f;
    case 5: return 1e-40f; /* fp32 subnormal */
    case 6: return 3.0e38f;
    default: break;
    }
    float m = (float)((r >> 8) & 0xFFFFFF) / (float)0x1000000 - 0.5f;
    int e = (int)((r >> 40) % 41) - 20;
    return ldexpf(m, e);
}

/* A view: rank, shape, row strides (elements) and where it starts (elements). */
typedef struct layout {
    int rank;
    int64_t shape[DSA_MAX_RANK];
    int64_t strides[DSA_MAX_RANK];
    uint64_t offset; /* elements */
} layout;

static uint64_t layout_bytes(const layout *l, size_t esize)
{
    uint64_t last = l->offset;
    for (int d = 0; d < l->rank; d++) last += (uint64_t)(l->shape[d] - 1) * (uint64_t)l->strides[d];
    return (last + 1) * esize + 32; /* a tail that must stay untouched */
}

static dsa_tensor view(dsa_buffer *b, const layout *l, dsa_dtype t)
{
    return dsa_tensor_make(b, l->offset * dsa_dtype_size(t), t, l->rank, l->shape, l->strides);
}

static void fill_random(uint8_t *p, uint64_t bytes, dsa_dtype t)
{
    if (t == DSA_FP32) {
        for (uint64_t i = 0; i + 4 <= bytes; i += 4) {
            float f = rnd_float();
            memcpy(p + i, &f, 4);
        }
    } else {
        for (uint64_t i = 0; i < bytes; i++) p[i] = (uint8_t)rnd(); /* bf16, fp16, fp8: every bit pattern */
    }
}

static int is_nan_elem(const uint8_t *p, dsa_dtype t)
{
    if (t == DSA_FP32) {
        uint32_t u;
        memcpy(&u, p, 4);
        return (u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu);
    }
    if (t == DSA_BF16) {
        uint16_t u;
        memcpy(&u, p, 2);
        return (u & 0x7F80u) == 0x7F80u && (u & 0x7Fu);
    }
    return 0;
}

/* Byte equality of two whole buffers (views, padding and tail), NaN elements of float outputs
 * compared as a class. Reports the first difference with its element index. */
static void expect_same(const char *what, const uint8_t *cpu, const uint8_t *gpu, uint64_t bytes, dsa_dtype t)
{
    size_t es = dsa_dtype_size(t);
    uint64_t diffs = 0, first = UINT64_MAX;
    for (uint64_t i = 0; i + es <= bytes; i += es) {
        if (memcmp(cpu + i, gpu + i, es) == 0) continue;
        if (is_nan_elem(cpu + i, t) && is_nan_elem(gpu + i, t)) continue;
        if (first == UINT64_MAX) first = i;
        diffs++;
    }
    if (diffs) {
        char c[24] = "", g[24] = "";
        for (size_t k = 0; k < es; k++) {
            snprintf(c + 2 * k, sizeof c - 2 * k, "%02x", cpu[first + es - 1 - k]);
            snprintf(g + 2 * k, sizeof g - 2 * k, "%02x", gpu[first + es - 1 - k]);
        }
        cr_assert_fail("%s: %llu of %llu %s elements differ from the CPU backend; first at byte %llu (element %llu): "
                       "cpu 0x%s, cuda 0x%s",
                       what, (unsigned long long)diffs, (unsigned long long)(bytes / es), dsa_dtype_name(t),
                       (unsigned long long)first, (unsigned long long)(first / es), c, g);
    }
}

/* Runs quantize_fp8 on one context; returns q's and scales' whole buffers (malloc'd). */
static void quantize_on(dsa_context *ctx, dsa_dtype xt, const uint8_t *x, const layout *lx, const layout *lq,
                        const layout *ls, uint8_t **q_out, uint8_t **s_out)
{
    uint64_t xb = layout_bytes(lx, dsa_dtype_size(xt)), qb = layout_bytes(lq, 1), sb = layout_bytes(ls, 4);
    dsa_buffer *bx, *bq, *bs;
    DSA_OK(dsa_buffer_alloc(ctx, xb, &bx));
    DSA_OK(dsa_buffer_alloc(ctx, qb, &bq));
    DSA_OK(dsa_buffer_alloc(ctx, sb, &bs));
    DSA_OK(dsa_buffer_write(bx, 0, x, xb));
    DSA_OK(dsa_buffer_fill(bq, 0, 0xAB, qb));
    DSA_OK(dsa_buffer_fill(bs, 0, 0xCD, sb));
    dsa_quantize_args a;
    a.x = view(bx, lx, xt);
    a.q = view(bq, lq, DSA_FP8_E4M3);
    a.scales = view(bs, ls, DSA_FP32);
    DSA_OK(dsa_quantize_fp8(ctx, &a, NULL));
    *q_out = malloc(qb);
    *s_out = malloc(sb);
    cr_assert(*q_out && *s_out);
    DSA_OK(dsa_buffer_read(bq, 0, *q_out, qb));
    DSA_OK(dsa_buffer_read(bs, 0, *s_out, sb));
    DSA_OK(dsa_buffer_free(bx));
    DSA_OK(dsa_buffer_free(bq));
    DSA_OK(dsa_buffer_free(bs));
}

static void quantize_case(dsa_context *gpu, dsa_context *cpu, dsa_dtype xt, const layout *lx, const layout *lq,
                          const layout *ls)
{
    uint64_t xb = layout_bytes(lx, dsa_dtype_size(xt));
    uint8_t *x = malloc(xb);
    cr_assert_not_null(x);
    fill_random(x, xb, xt);
    uint8_t *qc, *sc, *qg, *sg;
    quantize_on(cpu, xt, x, lx, lq, ls, &qc, &sc);
    quantize_on(gpu, xt, x, lx, lq, ls, &qg, &sg);
    char what[128];
    snprintf(what, sizeof what, "quantize_fp8 from %s, rank %d, x offset %llu: q", dsa_dtype_name(xt), lx->rank,
             (unsigned long long)lx->offset);
    expect_same(what, qc, qg, layout_bytes(lq, 1), DSA_UINT8);
    snprintf(what, sizeof what, "quantize_fp8 from %s, rank %d, x offset %llu: scales", dsa_dtype_name(xt), lx->rank,
             (unsigned long long)lx->offset);
    expect_same(what, sc, sg, layout_bytes(ls, 4), DSA_FP32);
    free(x);
    free(qc);
    free(sc);
    free(qg);
    free(sg);
}

Test(cuda, quantize_fp8_matches_cpu)
{
    driver_or_skip();
    dsa_context *gpu = gpu_context(), *cpu = cpu_context();
    /* Contiguous [3, 5, 256]. */
    layout cx = {3, {3, 5, 256}, {5 * 256, 256, 1}, 0};
    layout cs = {3, {3, 5, 2}, {10, 2, 1}, 0};
    /* Padded rows, every view starting inside its buffer: [7, 384] with row strides 512, 400 and 5. */
    layout px = {2, {7, 384}, {512, 1}, 64};
    layout pq = {2, {7, 384}, {400, 1}, 16};
    layout ps = {2, {7, 3}, {5, 1}, 3};
    /* One group, rank 1, at an odd fp8 offset. */
    layout ox = {1, {128}, {1}, 8};
    layout oq = {1, {128}, {1}, 7};
    layout os = {1, {1}, {1}, 1};
    const dsa_dtype types[] = {DSA_FP32, DSA_BF16, DSA_FP16};
    for (int t = 0; t < 3; t++) {
        quantize_case(gpu, cpu, types[t], &cx, &cx, &cs);
        quantize_case(gpu, cpu, types[t], &px, &pq, &ps);
        quantize_case(gpu, cpu, types[t], &ox, &oq, &os);
    }
    /* Enough groups that blocks stride over them (the grid is capped at 65535). */
    layout bx = {2, {70000, 128}, {128, 1}, 0};
    layout bs = {2, {70000, 1}, {1, 1}, 0};
    quantize_case(gpu, cpu, DSA_BF16, &bx, &bx, &bs);
    DSA_OK(dsa_context_destroy(gpu));
    DSA_OK(dsa_context_destroy(cpu));
}

static void dequantize_on(dsa_context *ctx, dsa_dtype ot, const uint8_t *q, const uint8_t *s, const layout *lq,
                          const layout *ls, const layout *lo, uint8_t **out)
{
    uint64_t qb = layout_bytes(lq, 1), sb = layout_bytes(ls, 4), ob = layout_bytes(lo, dsa_dtype_size(ot));
    dsa_buffer *bq, *bs, *bo;
    DSA_OK(dsa_buffer_alloc(ctx, qb, &bq));
    DSA_OK(dsa_buffer_alloc(ctx, sb, &bs));
    DSA_OK(dsa_buffer_alloc(ctx, ob, &bo));
    DSA_OK(dsa_buffer_write(bq, 0, q, qb));
    DSA_OK(dsa_buffer_write(bs, 0, s, sb));
    DSA_OK(dsa_buffer_fill(bo, 0, 0xEE, ob));
    dsa_dequantize_args a;
    a.q = view(bq, lq, DSA_FP8_E4M3);
    a.scales = view(bs, ls, DSA_FP32);
    a.out = view(bo, lo, ot);
    DSA_OK(dsa_dequantize_fp8(ctx, &a, NULL));
    *out = malloc(ob);
    cr_assert_not_null(*out);
    DSA_OK(dsa_buffer_read(bo, 0, *out, ob));
    DSA_OK(dsa_buffer_free(bq));
    DSA_OK(dsa_buffer_free(bs));
    DSA_OK(dsa_buffer_free(bo));
}

static void dequantize_case(dsa_context *gpu, dsa_context *cpu, dsa_dtype ot, const layout *lq, const layout *ls,
                            const layout *lo)
{
    uint64_t qb = layout_bytes(lq, 1), sb = layout_bytes(ls, 4);
    uint8_t *q = malloc(qb), *s = malloc(sb);
    cr_assert(q && s);
    fill_random(q, qb, DSA_FP8_E4M3);
    for (uint64_t i = 0; i + 4 <= sb; i += 4) {
        /* Mostly powers of two as quantize makes them, some arbitrary, one very small. */
        uint64_t r = rnd();
        float f = r % 7 == 0 ? (float)(r >> 40) / 1234.5f : ldexpf(1.0f, (int)((r >> 8) % 40) - 20);
        if (r % 97 == 0) f = 1e-38f;
        memcpy(s + i, &f, 4);
    }
    uint8_t *oc, *og;
    dequantize_on(cpu, ot, q, s, lq, ls, lo, &oc);
    dequantize_on(gpu, ot, q, s, lq, ls, lo, &og);
    char what[128];
    snprintf(what, sizeof what, "dequantize_fp8 to %s, rank %d, q offset %llu: out", dsa_dtype_name(ot), lq->rank,
             (unsigned long long)lq->offset);
    expect_same(what, oc, og, layout_bytes(lo, dsa_dtype_size(ot)), ot);
    free(q);
    free(s);
    free(oc);
    free(og);
}

Test(cuda, dequantize_fp8_matches_cpu)
{
    driver_or_skip();
    dsa_context *gpu = gpu_context(), *cpu = cpu_context();
    layout cq = {3, {2, 3, 512}, {3 * 512, 512, 1}, 0};
    layout cs = {3, {2, 3, 4}, {12, 4, 1}, 0};
    layout pq = {2, {5, 256}, {300, 1}, 7};
    layout ps = {2, {5, 2}, {3, 1}, 1};
    layout po = {2, {5, 256}, {260, 1}, 8};
    const dsa_dtype types[] = {DSA_FP32, DSA_BF16};
    for (int t = 0; t < 2; t++) {
        dequantize_case(gpu, cpu, types[t], &cq, &cs, &cq);
        dequantize_case(gpu, cpu, types[t], &pq, &ps, &po);
    }
    DSA_OK(dsa_context_destroy(gpu));
    DSA_OK(dsa_context_destroy(cpu));
}

/* ---- compile once: prepare compiles, later runs only enqueue ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int compiles_seen;

static void count_compiles(dsa_log_level level, const char *category, const char *message, void *user)
{
    (void)level;
    (void)user;
    if (strcmp(category, "compile") == 0 && strstr(message, "compiled for")) {
        pthread_mutex_lock(&log_lock);
        compiles_seen++;
        pthread_mutex_unlock(&log_lock);
    }
}

Test(cuda, prepare_compiles_once)
{
    driver_or_skip();
    dsa_context *ctx = gpu_context();
    dsa_set_log_callback(count_compiles, NULL);
    int64_t shape[2] = {4, 256}, sshape[2] = {4, 2};
    dsa_quantize_args a;
    a.x = dsa_tensor_make(NULL, 0, DSA_BF16, 2, shape, NULL);
    a.q = dsa_tensor_make(NULL, 0, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(NULL, 0, DSA_FP32, 2, sshape, NULL);
    uint64_t ws = 1;
    DSA_OK(dsa_workspace_size(ctx, DSA_OP_QUANTIZE_FP8, &a, &ws));
    DSA_OK(dsa_prepare(ctx, DSA_OP_QUANTIZE_FP8, &a));
    cr_assert_eq(compiles_seen, 1, "prepare compiled %d kernels, expected 1", compiles_seen);
    DSA_OK(dsa_prepare(ctx, DSA_OP_QUANTIZE_FP8, &a));
    cr_assert_eq(compiles_seen, 1, "a second prepare compiled again");
    dsa_buffer *bx, *bq, *bs;
    DSA_OK(dsa_buffer_alloc(ctx, 4 * 256 * 2, &bx));
    DSA_OK(dsa_buffer_alloc(ctx, 4 * 256, &bq));
    DSA_OK(dsa_buffer_alloc(ctx, 4 * 2 * 4, &bs));
    DSA_OK(dsa_buffer_fill(bx, 0, 0x3F, 4 * 256 * 2));
    a.x.buffer = bx;
    a.q.buffer = bq;
    a.scales.buffer = bs;
    for (int i = 0; i < 3; i++) DSA_OK(dsa_quantize_fp8(ctx, &a, NULL));
    DSA_OK(dsa_synchronize(ctx));
    cr_assert_eq(compiles_seen, 1, "running a prepared shape compiled %d more kernel(s)", compiles_seen - 1);
    /* Another dtype is another specialization: one more compile. */
    a.x.dtype = DSA_FP16;
    DSA_OK(dsa_quantize_fp8(ctx, &a, NULL));
    cr_assert_eq(compiles_seen, 2);
    dsa_set_log_callback(NULL, NULL);
    DSA_OK(dsa_buffer_free(bx));
    DSA_OK(dsa_buffer_free(bq));
    DSA_OK(dsa_buffer_free(bs));
    DSA_OK(dsa_context_destroy(ctx));
}

/* ---- application memory and streams ---- */

Test(cuda, wraps_application_memory)
{
    const dsa_cu_api *cu = driver_or_skip();
    dsa_cu_device dev;
    dsa_cu_context primary;
    CU_OK(cu->cuDeviceGet(&dev, 0));
    CU_OK(cu->cuDevicePrimaryCtxRetain(&primary, dev));
    CU_OK(cu->cuCtxPushCurrent(primary));
    const size_t bytes = 8192;
    dsa_cu_deviceptr p = 0;
    CU_OK(cu->cuMemAlloc(&p, bytes));

    dsa_context *ctx = gpu_context();
    dsa_buffer *b = NULL;
    DSA_OK(dsa_buffer_wrap(ctx, (void *)(uintptr_t)p, bytes, &b));
    cr_assert_eq((dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(b), p);
    uint8_t pattern[8192], got[8192];
    for (size_t i = 0; i < bytes; i++) pattern[i] = (uint8_t)(i * 7 + 1);
    DSA_OK(dsa_buffer_write(b, 0, pattern, bytes));
    CU_OK(cu->cuMemcpyDtoHAsync(got, p, bytes, NULL));
    CU_OK(cu->cuStreamSynchronize(NULL));
    cr_assert_eq(memcmp(pattern, got, bytes), 0, "bytes written through the wrapper are not in the application's memory");

    /* Past the allocation's end: refused. Inside it, at an offset: fine. A host pointer: refused. */
    dsa_buffer *bad = NULL;
    cr_assert_eq(dsa_buffer_wrap(ctx, (void *)(uintptr_t)p, bytes + 256, &bad), DSA_ERROR_OUT_OF_BOUNDS, "%s",
                 dsa_last_error());
    cr_assert_null(bad);
    void *host = malloc(4096);
    cr_assert_neq(dsa_buffer_wrap(ctx, host, 4096, &bad), DSA_SUCCESS, "a malloc'd host pointer was accepted");
    cr_assert_null(bad);
    free(host);

    /* An op on a wrapper that starts 256 bytes into the allocation (its base is p + 256). */
    dsa_buffer *inner = NULL;
    DSA_OK(dsa_buffer_wrap(ctx, (void *)(uintptr_t)(p + 256), 128 * 4 + 64, &inner));
    float x[128];
    for (int i = 0; i < 128; i++) x[i] = (float)(i - 60) * 0.37f;
    DSA_OK(dsa_buffer_write(inner, 64, x, sizeof x));
    dsa_buffer *bq = NULL, *bs = NULL;
    DSA_OK(dsa_buffer_alloc(ctx, 128, &bq));
    DSA_OK(dsa_buffer_alloc(ctx, 4, &bs));
    int64_t shape[1] = {128}, one[1] = {1};
    dsa_quantize_args a;
    a.x = dsa_tensor_make(inner, 64, DSA_FP32, 1, shape, NULL);
    a.q = dsa_tensor_make(bq, 0, DSA_FP8_E4M3, 1, shape, NULL);
    a.scales = dsa_tensor_make(bs, 0, DSA_FP32, 1, one, NULL);
    DSA_OK(dsa_quantize_fp8(ctx, &a, NULL));
    uint8_t qg[128], qc[128];
    float sg, sc;
    DSA_OK(dsa_buffer_read(bq, 0, qg, 128));
    DSA_OK(dsa_buffer_read(bs, 0, &sg, 4));
    dsa_context *cpu = cpu_context();
    dsa_buffer *cx, *cq, *cs;
    DSA_OK(dsa_buffer_alloc(cpu, sizeof x, &cx));
    DSA_OK(dsa_buffer_alloc(cpu, 128, &cq));
    DSA_OK(dsa_buffer_alloc(cpu, 4, &cs));
    DSA_OK(dsa_buffer_write(cx, 0, x, sizeof x));
    a.x = dsa_tensor_make(cx, 0, DSA_FP32, 1, shape, NULL);
    a.q = dsa_tensor_make(cq, 0, DSA_FP8_E4M3, 1, shape, NULL);
    a.scales = dsa_tensor_make(cs, 0, DSA_FP32, 1, one, NULL);
    DSA_OK(dsa_quantize_fp8(cpu, &a, NULL));
    DSA_OK(dsa_buffer_read(cq, 0, qc, 128));
    DSA_OK(dsa_buffer_read(cs, 0, &sc, 4));
    cr_assert_eq(memcmp(&sg, &sc, 4), 0, "scale on wrapped memory %g, cpu %g", (double)sg, (double)sc);
    expect_same("quantize_fp8 on wrapped memory: q", qc, qg, 128, DSA_UINT8);
    DSA_OK(dsa_buffer_free(cx));
    DSA_OK(dsa_buffer_free(cq));
    DSA_OK(dsa_buffer_free(cs));
    DSA_OK(dsa_context_destroy(cpu));

    /* Freeing the wrappers leaves the memory to the application: it is still readable, and its own
     * cuMemFree succeeds (it would fail on a double free). */
    DSA_OK(dsa_buffer_free(inner));
    DSA_OK(dsa_buffer_free(b));
    DSA_OK(dsa_buffer_free(bq));
    DSA_OK(dsa_buffer_free(bs));
    DSA_OK(dsa_context_destroy(ctx));
    CU_OK(cu->cuMemcpyDtoHAsync(got, p, 16, NULL));
    CU_OK(cu->cuStreamSynchronize(NULL));
    CU_OK(cu->cuMemFree(p));
    dsa_cu_context popped;
    CU_OK(cu->cuCtxPopCurrent(&popped));
    CU_OK(cu->cuDevicePrimaryCtxRelease(dev));
}

/* An op enqueued on the application's stream runs after the work the application enqueued before it,
 * and the application's own synchronization of that stream covers it. The stream is kept busy with
 * large memsets first, so an op on any other stream would run before x is written and give the
 * quantization of zeros. */
Test(cuda, runs_on_application_stream)
{
    const dsa_cu_api *cu = driver_or_skip();
    dsa_cu_device dev;
    dsa_cu_context primary;
    dsa_cu_stream stream;
    CU_OK(cu->cuDeviceGet(&dev, 0));
    CU_OK(cu->cuDevicePrimaryCtxRetain(&primary, dev));
    CU_OK(cu->cuCtxPushCurrent(primary));
    CU_OK(cu->cuStreamCreate(&stream, DSA_CU_STREAM_NON_BLOCKING));
    const size_t busy_bytes = (size_t)1 << 30;
    dsa_cu_deviceptr busy = 0;
    CU_OK(cu->cuMemAlloc(&busy, busy_bytes));

    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "cuda:0";
    desc.native_context = primary;
    desc.native_queue = stream;
    dsa_context *ctx = NULL;
    DSA_OK(dsa_context_create_ex(&desc, &ctx));

    enum { ROWS = 512, COLS = 1024 };
    int64_t shape[2] = {ROWS, COLS}, sshape[2] = {ROWS, COLS / 128};
    dsa_buffer *bx, *bq, *bs;
    DSA_OK(dsa_buffer_alloc(ctx, ROWS * COLS * 4, &bx));
    DSA_OK(dsa_buffer_alloc(ctx, ROWS * COLS, &bq));
    DSA_OK(dsa_buffer_alloc(ctx, ROWS * COLS / 128 * 4, &bs));
    DSA_OK(dsa_buffer_fill(bx, 0, 0, ROWS * COLS * 4));
    dsa_quantize_args a;
    a.x = dsa_tensor_make(bx, 0, DSA_FP32, 2, shape, NULL);
    a.q = dsa_tensor_make(bq, 0, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, 0, DSA_FP32, 2, sshape, NULL);
    DSA_OK(dsa_prepare(ctx, DSA_OP_QUANTIZE_FP8, &a)); /* the compile is not what is being timed */

    for (int i = 0; i < 8; i++) CU_OK(cu->cuMemsetD8Async(busy, (unsigned char)i, busy_bytes, stream));
    dsa_cu_deviceptr x = (dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(bx);
    CU_OK(cu->cuMemsetD8Async(x, 0x3C, ROWS * COLS * 4, stream)); /* every x = 0x3C3C3C3C = 0.01149 */
    DSA_OK(dsa_quantize_fp8(ctx, &a, NULL));
    static uint8_t q[ROWS * COLS];
    static float s[ROWS * COLS / 128];
    CU_OK(cu->cuMemcpyDtoHAsync(q, (dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(bq), sizeof q, stream));
    CU_OK(cu->cuMemcpyDtoHAsync(s, (dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(bs), sizeof s, stream));
    CU_OK(cu->cuStreamSynchronize(stream));

    /* The same on the CPU backend. */
    dsa_context *cpu = cpu_context();
    dsa_buffer *cx, *cq, *cs;
    DSA_OK(dsa_buffer_alloc(cpu, ROWS * COLS * 4, &cx));
    DSA_OK(dsa_buffer_alloc(cpu, ROWS * COLS, &cq));
    DSA_OK(dsa_buffer_alloc(cpu, ROWS * COLS / 128 * 4, &cs));
    DSA_OK(dsa_buffer_fill(cx, 0, 0x3C, ROWS * COLS * 4));
    a.x.buffer = cx;
    a.q.buffer = cq;
    a.scales.buffer = cs;
    DSA_OK(dsa_quantize_fp8(cpu, &a, NULL));
    static uint8_t qc[ROWS * COLS];
    static float sc[ROWS * COLS / 128];
    DSA_OK(dsa_buffer_read(cq, 0, qc, sizeof qc));
    DSA_OK(dsa_buffer_read(cs, 0, sc, sizeof sc));
    cr_assert_neq(qc[0], 0, "the reference should not be the quantization of zeros");
    cr_assert_eq(memcmp(s, sc, sizeof s), 0,
                 "scales differ (cuda %g, cpu %g): the op did not run in order on the application's stream "
                 "(a result from zeros means it ran before the memset enqueued ahead of it)",
                 (double)s[0], (double)sc[0]);
    expect_same("quantize_fp8 on the application's stream: q", qc, q, sizeof q, DSA_UINT8);
    DSA_OK(dsa_buffer_free(cx));
    DSA_OK(dsa_buffer_free(cq));
    DSA_OK(dsa_buffer_free(cs));
    DSA_OK(dsa_context_destroy(cpu));

    DSA_OK(dsa_buffer_free(bx));
    DSA_OK(dsa_buffer_free(bq));
    DSA_OK(dsa_buffer_free(bs));
    DSA_OK(dsa_context_destroy(ctx));
    /* The stream and context are still the application's: usable after the library let go. */
    CU_OK(cu->cuMemsetD8Async(busy, 0, 4096, stream));
    CU_OK(cu->cuStreamSynchronize(stream));
    CU_OK(cu->cuMemFree(busy));
    CU_OK(cu->cuStreamDestroy(stream));

    cr_log_info("the application's stream and context survived the libdsa context");
    /* A stream alone brings its context along (the primary context is still retained here). */
    CU_OK(cu->cuStreamCreate(&stream, DSA_CU_STREAM_NON_BLOCKING));
    dsa_cu_context popped;
    CU_OK(cu->cuCtxPopCurrent(&popped));
    desc.native_context = NULL;
    desc.native_queue = stream;
    DSA_OK(dsa_context_create_ex(&desc, &ctx));
    DSA_OK(dsa_synchronize(ctx));
    DSA_OK(dsa_context_destroy(ctx));
    CU_OK(cu->cuCtxPushCurrent(primary));
    CU_OK(cu->cuStreamDestroy(stream));
    CU_OK(cu->cuCtxPopCurrent(&popped));
    CU_OK(cu->cuDevicePrimaryCtxRelease(dev));
}

/* ---- any thread ---- */

typedef struct thread_job {
    dsa_context *ctx;
    dsa_buffer *buf;
    dsa_status st;
    char msg[512];
    int ok;
} thread_job;

static void *other_thread(void *p)
{
    thread_job *j = p;
    uint8_t in[1000], out[1000];
    for (int i = 0; i < 1000; i++) in[i] = (uint8_t)(i ^ 0x55);
    j->st = dsa_buffer_write(j->buf, 24, in, sizeof in);
    if (j->st == DSA_SUCCESS) j->st = dsa_buffer_read(j->buf, 24, out, sizeof out);
    if (j->st == DSA_SUCCESS) j->st = dsa_synchronize(j->ctx);
    if (j->st != DSA_SUCCESS) snprintf(j->msg, sizeof j->msg, "%s", dsa_last_error());
    j->ok = j->st == DSA_SUCCESS && memcmp(in, out, sizeof in) == 0;
    return NULL;
}

Test(cuda, usable_from_another_thread)
{
    driver_or_skip();
    dsa_context *ctx = gpu_context();
    thread_job job;
    memset(&job, 0, sizeof job);
    job.ctx = ctx;
    DSA_OK(dsa_buffer_alloc(ctx, 2048, &job.buf));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, &job), 0);
    pthread_join(t, NULL);
    cr_assert_eq(job.st, DSA_SUCCESS, "on a thread with no current CUDA context: %s: %s", dsa_status_string(job.st),
                 job.msg);
    cr_assert(job.ok, "the round trip from another thread differs");
    DSA_OK(dsa_buffer_free(job.buf));
    DSA_OK(dsa_context_destroy(ctx));
}

/* ---- CUDA graphs: a prepared pipeline captured on the application's stream and replayed ---- */

/* The graph entry points come from the driver directly: the library itself never needs them. */
typedef struct graph_api {
    dsa_cu_result (*begin)(dsa_cu_stream, int mode);
    dsa_cu_result (*end)(dsa_cu_stream, void **graph);
    dsa_cu_result (*instantiate)(void **exec, void *graph, unsigned long long flags);
    dsa_cu_result (*launch)(void *exec, dsa_cu_stream);
    dsa_cu_result (*exec_destroy)(void *exec);
    dsa_cu_result (*destroy)(void *graph);
} graph_api;

static void load_graph_api(graph_api *g)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(lib, "dlopen libcuda.so.1: %s", dlerror());
    void *sym[6];
    const char *names[6] = {"cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuGraphInstantiateWithFlags",
                            "cuGraphLaunch", "cuGraphExecDestroy", "cuGraphDestroy"};
    for (int i = 0; i < 6; i++) {
        sym[i] = dlsym(lib, names[i]);
        cr_assert_not_null(sym[i], "libcuda lacks %s", names[i]);
    }
    memcpy(&g->begin, &sym[0], sizeof sym[0]);
    memcpy(&g->end, &sym[1], sizeof sym[1]);
    memcpy(&g->instantiate, &sym[2], sizeof sym[2]);
    memcpy(&g->launch, &sym[3], sizeof sym[3]);
    memcpy(&g->exec_destroy, &sym[4], sizeof sym[4]);
    memcpy(&g->destroy, &sym[5], sizeof sym[5]);
}

enum { G_S = 48, G_L = 3000, G_K = 256, G_H = 64, G_D = 576 };

typedef struct pipeline {
    dsa_buffer *scores, *idx, *q, *kv, *out, *lse, *ws;
    dsa_topk_args topk;
    dsa_sparse_mla_prefill_args mla;
    dsa_workspace wtopk, wmla;
} pipeline;

/* top-k over random scores, then sparse MLA prefill on the rows it picked: two ops, one feeding the
 * other through device memory, both with explicit workspaces (so the library has nothing to grow). */
static void pipeline_init(dsa_context *ctx, pipeline *p)
{
    int64_t ss[2] = {G_S, G_L}, is[2] = {G_S, G_K}, is3[3] = {G_S, 1, G_K};
    int64_t qs[3] = {G_S, G_H, G_D}, kvs[3] = {G_L, 1, G_D}, os[3] = {G_S, G_H, 512}, ls[2] = {G_S, G_H};
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_S * G_L * 4, &p->scores));
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_S * G_K * 4, &p->idx));
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_S * G_H * G_D * 2, &p->q));
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_L * G_D * 2, &p->kv));
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_S * G_H * 512 * 2, &p->out));
    DSA_OK(dsa_buffer_alloc(ctx, (uint64_t)G_S * G_H * 4, &p->lse));
    memset(&p->topk, 0, sizeof p->topk);
    p->topk.scores = dsa_tensor_make(p->scores, 0, DSA_FP32, 2, ss, NULL);
    p->topk.ks = p->topk.ke = p->topk.lengths = p->topk.block_table = dsa_tensor_none();
    p->topk.indices = dsa_tensor_make(p->idx, 0, DSA_INT32, 2, is, NULL);
    p->topk.k = G_K;
    p->topk.form = DSA_TOPK_ABSOLUTE;
    p->mla.q = dsa_tensor_make(p->q, 0, DSA_BF16, 3, qs, NULL);
    p->mla.kv = dsa_tensor_make(p->kv, 0, DSA_BF16, 3, kvs, NULL);
    p->mla.indices = dsa_tensor_make(p->idx, 0, DSA_INT32, 3, is3, NULL);
    p->mla.topk_length = p->mla.attn_sink = p->mla.max_logits = dsa_tensor_none();
    p->mla.out = dsa_tensor_make(p->out, 0, DSA_BF16, 3, os, NULL);
    p->mla.lse = dsa_tensor_make(p->lse, 0, DSA_FP32, 2, ls, NULL);
    p->mla.sm_scale = 0.0625f;

    uint64_t wt = 0, wm = 0;
    DSA_OK(dsa_workspace_size(ctx, DSA_OP_TOPK, &p->topk, &wt));
    DSA_OK(dsa_workspace_size(ctx, DSA_OP_SPARSE_MLA_PREFILL, &p->mla, &wm));
    uint64_t at = (wt + 255) / 256 * 256;
    DSA_OK(dsa_buffer_alloc(ctx, at + wm + 256, &p->ws));
    p->wtopk = (dsa_workspace){p->ws, 0, wt};
    p->wmla = (dsa_workspace){p->ws, at, wm};
    DSA_OK(dsa_prepare(ctx, DSA_OP_TOPK, &p->topk));
    DSA_OK(dsa_prepare(ctx, DSA_OP_SPARSE_MLA_PREFILL, &p->mla));

    /* q and kv: random bf16 of moderate size (finite: the point is ordering, not special values). */
    size_t nq = (size_t)G_S * G_H * G_D, nkv = (size_t)G_L * G_D;
    uint16_t *h = malloc((nq > nkv ? nq : nkv) * 2);
    cr_assert_not_null(h);
    for (size_t i = 0; i < nq; i++) h[i] = (uint16_t)(0x3c00u + (rnd() & 0x7ffu)) ^ (uint16_t)(rnd() & 0x8000u);
    DSA_OK(dsa_buffer_write(p->q, 0, h, nq * 2));
    for (size_t i = 0; i < nkv; i++) h[i] = (uint16_t)(0x3c00u + (rnd() & 0x7ffu)) ^ (uint16_t)(rnd() & 0x8000u);
    DSA_OK(dsa_buffer_write(p->kv, 0, h, nkv * 2));
    free(h);
}

static void pipeline_scores(pipeline *p)
{
    static float s[G_S * G_L];
    for (int i = 0; i < G_S * G_L; i++) s[i] = (float)(rnd() % 100000) * 1e-3f; /* many ties too */
    DSA_OK(dsa_buffer_write(p->scores, 0, s, sizeof s));
}

static void pipeline_enqueue(dsa_context *ctx, pipeline *p)
{
    DSA_OK(dsa_topk(ctx, &p->topk, &p->wtopk));
    DSA_OK(dsa_sparse_mla_prefill(ctx, &p->mla, &p->wmla));
}

/* The pipeline's results (indices, out, lse) as bytes, after the stream has drained. */
static uint8_t *pipeline_results(dsa_cu_stream stream, const dsa_cu_api *cu, pipeline *p, size_t *bytes)
{
    size_t ni = (size_t)G_S * G_K * 4, no = (size_t)G_S * G_H * 512 * 2, nl = (size_t)G_S * G_H * 4;
    uint8_t *r = malloc(ni + no + nl);
    cr_assert_not_null(r);
    CU_OK(cu->cuStreamSynchronize(stream));
    DSA_OK(dsa_buffer_read(p->idx, 0, r, ni));
    DSA_OK(dsa_buffer_read(p->out, 0, r + ni, no));
    DSA_OK(dsa_buffer_read(p->lse, 0, r + ni + no, nl));
    *bytes = ni + no + nl;
    return r;
}

static void pipeline_free(pipeline *p)
{
    dsa_buffer *b[7] = {p->scores, p->idx, p->q, p->kv, p->out, p->lse, p->ws};
    for (int i = 0; i < 7; i++) DSA_OK(dsa_buffer_free(b[i]));
}

/* Capture in the strictest mode (CU_STREAM_CAPTURE_MODE_GLOBAL: an allocation, synchronization or
 * module load anywhere in the process during capture fails it), then replay: each replay equals a
 * direct run on the same inputs bit for bit, and sees new inputs written between replays. */
Test(cuda, graph_capture_replays_prepared_ops)
{
    const dsa_cu_api *cu = driver_or_skip();
    graph_api g;
    load_graph_api(&g);
    dsa_cu_device dev;
    dsa_cu_context primary;
    dsa_cu_stream stream;
    CU_OK(cu->cuDeviceGet(&dev, 0));
    CU_OK(cu->cuDevicePrimaryCtxRetain(&primary, dev));
    CU_OK(cu->cuCtxPushCurrent(primary));
    CU_OK(cu->cuStreamCreate(&stream, DSA_CU_STREAM_NON_BLOCKING));
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "cuda:0";
    desc.native_context = primary;
    desc.native_queue = stream;
    dsa_context *ctx = NULL;
    DSA_OK(dsa_context_create_ex(&desc, &ctx));
    pipeline p;
    pipeline_init(ctx, &p);

    /* Direct runs: twice on the same input, bitwise equal (determinism). */
    pipeline_scores(&p);
    size_t n = 0;
    pipeline_enqueue(ctx, &p);
    uint8_t *direct = pipeline_results(stream, cu, &p, &n);
    pipeline_enqueue(ctx, &p);
    uint8_t *again = pipeline_results(stream, cu, &p, &n);
    cr_assert_eq(memcmp(direct, again, n), 0, "two runs of the same inputs differ");

    dsa_set_log_callback(count_compiles, NULL);
    compiles_seen = 0;
    void *graph = NULL, *exec = NULL;
    CU_OK(g.begin(stream, 0 /* CU_STREAM_CAPTURE_MODE_GLOBAL */));
    pipeline_enqueue(ctx, &p);
    CU_OK(g.end(stream, &graph));
    dsa_set_log_callback(NULL, NULL);
    cr_assert_eq(compiles_seen, 0, "enqueueing prepared ops compiled %d kernel(s) during capture", compiles_seen);
    CU_OK(g.instantiate(&exec, graph, 0));

    /* Clear the outputs, replay, compare with the direct run. */
    CU_OK(cu->cuMemsetD8Async((dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(p.out), 0, (size_t)G_S * G_H * 1024,
                              stream));
    CU_OK(cu->cuMemsetD8Async((dsa_cu_deviceptr)(uintptr_t)dsa_buffer_native(p.idx), 0, (size_t)G_S * G_K * 4,
                              stream));
    CU_OK(g.launch(exec, stream));
    uint8_t *replay = pipeline_results(stream, cu, &p, &n);
    cr_assert_eq(memcmp(direct, replay, n), 0, "the graph's replay differs from the direct run");

    /* New scores: the replay follows them, and again equals a direct run. */
    pipeline_scores(&p);
    CU_OK(g.launch(exec, stream));
    uint8_t *replay2 = pipeline_results(stream, cu, &p, &n);
    cr_assert_neq(memcmp(replay, replay2, (size_t)G_S * G_K * 4), 0, "new scores picked the same rows");
    pipeline_enqueue(ctx, &p);
    uint8_t *direct2 = pipeline_results(stream, cu, &p, &n);
    cr_assert_eq(memcmp(direct2, replay2, n), 0, "the replay on new scores differs from a direct run");

    free(direct);
    free(again);
    free(replay);
    free(replay2);
    free(direct2);
    CU_OK(g.exec_destroy(exec));
    CU_OK(g.destroy(graph));
    pipeline_free(&p);
    DSA_OK(dsa_context_destroy(ctx));
    CU_OK(cu->cuStreamDestroy(stream));
    dsa_cu_context popped;
    CU_OK(cu->cuCtxPopCurrent(&popped));
    CU_OK(cu->cuDevicePrimaryCtxRelease(dev));
}

#else

Test(cuda, not_built)
{
    cr_assert(!cuda_required(), "DSA_REQUIRE_CUDA is set but this build has no CUDA backend (DSA_ENABLE_CUDA=OFF)");
    cr_skip_test("the CUDA backend is not in this build (configure with -DDSA_ENABLE_CUDA=ON)");
}

#endif
