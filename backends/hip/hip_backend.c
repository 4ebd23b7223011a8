/* The HIP backend's runtime: devices through the HIP runtime (hip_api.h), one stream per libdsa
 * context, device memory buffers, and ops run as the launch plans of core/plan.h. A plan's kernels
 * are generated from the templates for the HIP dialect, compiled by hiprtc (hiprtc.h) to a code
 * object for the device's gfx target, loaded as modules and kept in a per-context cache keyed by
 * kernel and specialization, so an op compiles once (in dsa_prepare or on first use) and afterwards
 * only enqueues (DESIGN.md invariant 8). Code objects are also kept in the disk cache.
 *
 * Wave size: the device's warpSize (64 on CDNA, 32 on RDNA) becomes the specialization's subgroup
 * field for every kernel it fits (block >= warpSize), so the generated code is compiled for the wave
 * size it runs with and the HIP prelude checks the two agree at compile time.
 *
 * Threads: HIP's current device is per thread; every runtime call is made with the context's device
 * current (hipSetDevice), and the caller's current device is restored afterwards. The kernel cache
 * is guarded by a mutex. */
#include "hip_api.h"
#include "hiprtc.h"

#include "internal.h"
#include "kernel_cache.h"
#include "plan.h"
#include "template.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- per-context state ---- */

typedef struct hip_kernel {
    struct hip_kernel *next;
    const dsa_kernel_def *def;
    dsa_spec spec; /* as the plan asked (before the wave size is filled in) */
    dsa_signature sig;
    dsa_hip_module module;
    dsa_hip_function fn;
} hip_kernel;

typedef struct hip_ctx {
    const dsa_hip_api *hip;
    int device;
    int wave;           /* warpSize */
    dsa_hip_stream stream;
    int owns_stream;
    char target[128];   /* what hiprtc compiles for: the gcnArchName */
    pthread_mutex_t lock; /* guards kernels */
    hip_kernel *kernels;
} hip_ctx;

static hip_ctx *impl_of(dsa_context *ctx) { return (hip_ctx *)ctx->impl; }

/* Makes the context's device current on this thread; *prev is restored by leave. */
static dsa_status enter(dsa_context *ctx, const char *what, int *prev)
{
    hip_ctx *c = impl_of(ctx);
    *prev = -1;
    c->hip->hipGetDevice(prev);
    if (*prev == c->device) return DSA_SUCCESS;
    dsa_hip_error r = c->hip->hipSetDevice(c->device);
    if (r != DSA_HIP_SUCCESS) return dsa_hip_fail(r, "hipSetDevice", "hip:%d %s", ctx->info.index, what);
    return DSA_SUCCESS;
}

static void leave(dsa_context *ctx, int prev)
{
    hip_ctx *c = impl_of(ctx);
    if (prev >= 0 && prev != c->device) c->hip->hipSetDevice(prev);
}

/* ---- device description ---- */

/* The matrix instructions a gfx processor offers (dsa_device_info.matrix_units). None is used by
 * the templates yet (docs/backends/hip.md). */
static const char *matrix_units_for(const char *arch)
{
    if (strncmp(arch, "gfx94", 5) == 0)
        return "MFMA bf16 fp8-fnuz (CDNA3)"; /* FNUZ fp8: OCP e4m3 bytes must be decoded, never fed */
    if (strncmp(arch, "gfx95", 5) == 0) return "MFMA bf16 fp8 (CDNA4)";
    if (strncmp(arch, "gfx90a", 6) == 0) return "MFMA bf16 (CDNA2)";
    if (strncmp(arch, "gfx908", 6) == 0) return "MFMA bf16 (CDNA1)";
    if (strncmp(arch, "gfx11", 5) == 0) return "WMMA bf16 (RDNA3)";
    if (strncmp(arch, "gfx12", 5) == 0) return "WMMA bf16 fp8 (RDNA4)";
    return "";
}

static dsa_status attribute(const dsa_hip_api *hip, int dev, int attr, const char *name, int *value, char *reason,
                            size_t reason_len)
{
    *value = 0;
    dsa_hip_error r = hip->hipDeviceGetAttribute(value, attr, dev);
    if (r == DSA_HIP_SUCCESS) return DSA_SUCCESS;
    snprintf(reason, reason_len, "hipDeviceGetAttribute(%s) on HIP device %d: %s (%s)", name, dev,
             dsa_hip_error_name(r), dsa_hip_error_string(r));
    return DSA_ERROR_DRIVER;
}

#define ATTR(a, var)                                                                                      \
    do {                                                                                                  \
        dsa_status st_ = attribute(hip, dev, DSA_HIP_ATTR_##a, #a, &(var), reason, reason_len);           \
        if (st_ != DSA_SUCCESS) return st_;                                                               \
    } while (0)

static dsa_status describe(const dsa_hip_api *hip, int dev, dsa_device_info *d, char *reason, size_t reason_len)
{
    memset(d, 0, sizeof *d);
    dsa_hip_error r = hip->hipDeviceGetName(d->name, (int)sizeof d->name, dev);
    size_t total = 0;
    if (r == DSA_HIP_SUCCESS) r = hip->hipDeviceTotalMem(&total, dev);
    if (r != DSA_HIP_SUCCESS) {
        snprintf(reason, reason_len, "hipDeviceGetName/hipDeviceTotalMem for HIP device %d: %s (%s)", dev,
                 dsa_hip_error_name(r), dsa_hip_error_string(r));
        return DSA_ERROR_DRIVER;
    }
    char arch[96] = "";
    if (dsa_hip_arch_name(hip, dev, arch, sizeof arch) != DSA_SUCCESS) {
        snprintf(reason, reason_len, "%s", dsa_last_error());
        return DSA_ERROR_DRIVER;
    }
    int cus, shared, warp, integrated;
    ATTR(MULTIPROCESSOR_COUNT, cus);
    ATTR(MAX_SHARED_MEMORY_PER_BLOCK, shared);
    ATTR(WARP_SIZE, warp);
    ATTR(INTEGRATED, integrated);

    snprintf(d->vendor, sizeof d->vendor, "%s", strncmp(arch, "gfx", 3) == 0 ? "AMD" : "HIP");
    /* The gfx target is part of the platform string so that "hip:gfx90a" selects by it. */
    snprintf(d->platform, sizeof d->platform, "%s", arch);
    snprintf(d->driver_version, sizeof d->driver_version, "%d", hip->driver_version);
    snprintf(d->runtime_version, sizeof d->runtime_version, "HIP %d.%d, %s", hip->runtime_major,
             hip->runtime_minor, hip->has_hiprtc ? "hiprtc" : "no hiprtc");
    d->memory_bytes = (uint64_t)total;
    d->max_buffer_bytes = (uint64_t)total;
    d->shared_mem_per_block = (uint64_t)(shared > 0 ? shared : 0); /* LDS a block may use */
    d->compute_units = (uint32_t)(cus > 0 ? cus : 0);
    const char *mu = matrix_units_for(arch);
    /* bf16 and fp8 are decoded by bit operations in every dialect; FP8 here means hardware OCP e4m3,
     * which gfx94x does not have (its fp8 is FNUZ). */
    d->caps = DSA_CAP_SUBGROUPS | DSA_CAP_INT64 | DSA_CAP_FP64 | DSA_CAP_FP16 | DSA_CAP_BF16;
    if (mu[0]) d->caps |= DSA_CAP_MATRIX_UNITS;
    if (strstr(mu, " fp8 ")) d->caps |= DSA_CAP_FP8;
    d->subgroup_sizes = warp > 0 && (warp & (warp - 1)) == 0 ? (uint32_t)warp : 64u; /* 2^n as bit n */
    snprintf(d->matrix_units, sizeof d->matrix_units, "%s", mu);
    dsa_hip_uuid uuid;
    if (hip->hipDeviceGetUuid && hip->hipDeviceGetUuid(&uuid, dev) == DSA_HIP_SUCCESS) {
        memcpy(d->uuid, uuid.bytes, sizeof d->uuid);
        d->has_uuid = 1;
    }
    dsa_log(DSA_LOG_INFO, "device", "hip:%d %s: %s, %d CUs, wave%d, %d KiB LDS per block, %llu MiB%s%s%s", dev,
            d->name, arch, cus, warp, shared / 1024, (unsigned long long)(total >> 20), mu[0] ? ", " : "", mu,
            integrated ? "; integrated GPU" : "");
    return DSA_SUCCESS;
}

#undef ATTR

static dsa_status hip_probe(dsa_device_info *devs, int max, int *count, char *reason, size_t reason_len)
{
    *count = 0;
    const dsa_hip_api *hip = NULL;
    if (dsa_hip_load(&hip) != DSA_SUCCESS) {
        snprintf(reason, reason_len, "%s", dsa_hip_reason());
        return DSA_ERROR_BACKEND_UNAVAILABLE;
    }
    int n = 0;
    dsa_hip_error r = hip->hipGetDeviceCount(&n);
    if (r != DSA_HIP_SUCCESS) {
        snprintf(reason, reason_len, "hipGetDeviceCount: %s (%s)", dsa_hip_error_name(r), dsa_hip_error_string(r));
        return DSA_ERROR_DRIVER;
    }
    if (!hip->has_hiprtc)
        dsa_log(DSA_LOG_WARN, "device", "hip: devices are listed, but kernels cannot be compiled: %s",
                hip->hiprtc_reason);
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        dsa_status st = describe(hip, i, &devs[i], reason, reason_len);
        if (st != DSA_SUCCESS) return st;
    }
    *count = n;
    return DSA_SUCCESS;
}

/* ---- contexts ---- */

static void free_kernels(hip_ctx *c)
{
    while (c->kernels) {
        hip_kernel *k = c->kernels;
        c->kernels = k->next;
        if (k->module) c->hip->hipModuleUnload(k->module);
        free(k);
    }
}

static dsa_status hip_context_create(dsa_context *ctx, const dsa_context_desc *desc)
{
    const int index = ctx->info.index;
    if (desc->native_device || desc->native_context)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "context_create: the hip backend takes no native_device or native_context (HIP has no "
                        "context objects to share; the selector names the device): pass a hipStream_t as "
                        "native_queue to run on the application's stream");
    const dsa_hip_api *hip = NULL;
    dsa_status st = dsa_hip_load(&hip);
    if (st != DSA_SUCCESS) return st;
    hip_ctx *c = calloc(1, sizeof *c);
    if (!c) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: cannot create a mutex");
    }
    c->hip = hip;
    c->device = index;
    c->wave = (int)ctx->info.subgroup_sizes; /* one bit set: the warpSize itself */
    snprintf(c->target, sizeof c->target, "%s", ctx->info.platform);
    ctx->impl = c;
    int prev;
    st = enter(ctx, "context_create", &prev);
    if (st == DSA_SUCCESS) {
        if (desc->native_queue) {
            /* hipStreamSynchronize on a stream that is not one fails (or is the null stream's). */
            c->stream = (dsa_hip_stream)desc->native_queue;
            dsa_hip_error r = hip->hipStreamSynchronize(c->stream);
            if (r != DSA_HIP_SUCCESS)
                st = dsa_hip_fail(r, "hipStreamSynchronize", "context_create on hip:%d: the native_queue given is "
                                  "not a usable hipStream_t of this device", index);
        } else {
            dsa_hip_error r = hip->hipStreamCreateWithFlags(&c->stream, DSA_HIP_STREAM_NON_BLOCKING);
            if (r != DSA_HIP_SUCCESS)
                st = dsa_hip_fail(r, "hipStreamCreateWithFlags", "context_create on hip:%d (%s)", index, ctx->info.name);
            else
                c->owns_stream = 1;
        }
        leave(ctx, prev);
    }
    if (st != DSA_SUCCESS) {
        ctx->impl = NULL;
        pthread_mutex_destroy(&c->lock);
        free(c);
        return st;
    }
    dsa_log(DSA_LOG_INFO, "device", "hip:%d: using %s; kernels compile for %s, wave%d", index,
            c->owns_stream ? "a stream of its own (non-blocking)" : "the application's hipStream_t", c->target,
            c->wave);
    return DSA_SUCCESS;
}

static void hip_context_destroy(dsa_context *ctx)
{
    hip_ctx *c = impl_of(ctx);
    if (!c) return;
    int prev;
    if (enter(ctx, "context_destroy", &prev) == DSA_SUCCESS) {
        if (c->owns_stream) {
            c->hip->hipStreamSynchronize(c->stream);
            c->hip->hipStreamDestroy(c->stream);
        }
        free_kernels(c);
        leave(ctx, prev);
    } else {
        dsa_log(DSA_LOG_WARN, "device", "hip:%d: context_destroy: %s; modules and stream left to the runtime",
                ctx->info.index, dsa_last_error());
        while (c->kernels) {
            hip_kernel *k = c->kernels;
            c->kernels = k->next;
            free(k);
        }
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
    ctx->impl = NULL;
}

static dsa_status hip_synchronize(dsa_context *ctx)
{
    int prev;
    dsa_status st = enter(ctx, "synchronize", &prev);
    if (st != DSA_SUCCESS) return st;
    dsa_hip_error r = impl_of(ctx)->hip->hipStreamSynchronize(impl_of(ctx)->stream);
    leave(ctx, prev);
    if (r != DSA_HIP_SUCCESS) return dsa_hip_fail(r, "hipStreamSynchronize", "synchronize on hip:%d", ctx->info.index);
    return DSA_SUCCESS;
}

/* ---- buffers ---- */

static dsa_status hip_buffer_alloc(dsa_context *ctx, uint64_t bytes, void **native)
{
    if (bytes > (uint64_t)SIZE_MAX)
        return dsa_fail(DSA_ERROR_DEVICE_OUT_OF_MEMORY, "buffer_alloc: %llu bytes cannot be allocated",
                        (unsigned long long)bytes);
    int prev;
    dsa_status st = enter(ctx, "buffer_alloc", &prev);
    if (st != DSA_SUCCESS) return st;
    void *p = NULL;
    /* An empty buffer still gets a small allocation of its own (a distinct, valid address). */
    dsa_hip_error r = impl_of(ctx)->hip->hipMalloc(&p, bytes ? (size_t)bytes : 256);
    leave(ctx, prev);
    if (r != DSA_HIP_SUCCESS)
        return dsa_hip_fail(r, "hipMalloc", "buffer_alloc of %llu bytes on hip:%d (%s)", (unsigned long long)bytes,
                            ctx->info.index, ctx->info.name);
    *native = p;
    return DSA_SUCCESS;
}

static void hip_buffer_free(dsa_context *ctx, void *native)
{
    int prev;
    if (enter(ctx, "buffer_free", &prev) != DSA_SUCCESS) {
        dsa_log(DSA_LOG_WARN, "device", "hip:%d: buffer_free: %s", ctx->info.index, dsa_last_error());
        return;
    }
    dsa_hip_error r = impl_of(ctx)->hip->hipFree(native);
    leave(ctx, prev);
    if (r != DSA_HIP_SUCCESS)
        dsa_log(DSA_LOG_WARN, "device", "hip:%d: buffer_free: hipFree failed: %s (%s)", ctx->info.index,
                dsa_hip_error_name(r), dsa_hip_error_string(r));
}

/* A wrapped pointer must be device memory the runtime knows, spanning the bytes given. */
static dsa_status hip_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes)
{
    int prev;
    dsa_status st = enter(ctx, "buffer_wrap", &prev);
    if (st != DSA_SUCCESS) return st;
    void *base = NULL;
    size_t size = 0;
    dsa_hip_error r = impl_of(ctx)->hip->hipMemGetAddressRange(&base, &size, native);
    leave(ctx, prev);
    if (r != DSA_HIP_SUCCESS)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "buffer_wrap: %p is not device memory known to the HIP runtime (hipMemGetAddressRange: %s); "
                        "expected a pointer from hipMalloc (or hipMallocAsync, hipMallocManaged)",
                        native, dsa_hip_error_name(r));
    uint64_t p = (uint64_t)(uintptr_t)native, b = (uint64_t)(uintptr_t)base, end = b + (uint64_t)size;
    if (p + bytes < p || p + bytes > end)
        return dsa_fail(DSA_ERROR_OUT_OF_BOUNDS,
                        "buffer_wrap: %p + %llu bytes runs past the end of its allocation [0x%llx, 0x%llx) (%llu "
                        "bytes from that address), as hipMemGetAddressRange reports it",
                        native, (unsigned long long)bytes, (unsigned long long)b, (unsigned long long)end,
                        (unsigned long long)(end - p));
    return DSA_SUCCESS;
}

/* One transfer on the context's stream, waited for: read, write, copy and fill are ordered after
 * earlier work on the stream and complete when they return (api/dsa.h). */
typedef enum { XFER_WRITE, XFER_READ, XFER_COPY, XFER_FILL } xfer_kind;

static dsa_status transfer(dsa_context *ctx, xfer_kind kind, char *dev, char *dev2, void *host, const void *chost,
                           uint8_t byte, uint64_t bytes)
{
    static const char *const fn_names[] = {"buffer_write", "buffer_read", "buffer_copy", "buffer_fill"};
    static const char *const calls[] = {"hipMemcpyHtoDAsync", "hipMemcpyDtoHAsync", "hipMemcpyDtoDAsync",
                                        "hipMemsetD8Async"};
    hip_ctx *c = impl_of(ctx);
    if (bytes > (uint64_t)SIZE_MAX)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: %llu bytes exceed this host's size_t", fn_names[kind],
                        (unsigned long long)bytes);
    if (bytes == 0) return DSA_SUCCESS;
    int prev;
    dsa_status st = enter(ctx, fn_names[kind], &prev);
    if (st != DSA_SUCCESS) return st;
    dsa_hip_error r;
    /* hipMemcpyHtoDAsync takes a non-const source; it only reads it. */
    void *src;
    memcpy(&src, &chost, sizeof src);
    switch (kind) {
    case XFER_WRITE: r = c->hip->hipMemcpyHtoDAsync(dev, src, (size_t)bytes, c->stream); break;
    case XFER_READ: r = c->hip->hipMemcpyDtoHAsync(host, dev, (size_t)bytes, c->stream); break;
    case XFER_COPY: r = c->hip->hipMemcpyDtoDAsync(dev, dev2, (size_t)bytes, c->stream); break;
    default: r = c->hip->hipMemsetD8Async(dev, byte, (size_t)bytes, c->stream); break;
    }
    const char *call = calls[kind];
    if (r == DSA_HIP_SUCCESS) {
        r = c->hip->hipStreamSynchronize(c->stream);
        call = "hipStreamSynchronize";
    }
    leave(ctx, prev);
    if (r != DSA_HIP_SUCCESS)
        return dsa_hip_fail(r, call, "%s of %llu bytes on hip:%d", fn_names[kind], (unsigned long long)bytes,
                            ctx->info.index);
    return DSA_SUCCESS;
}

static dsa_status hip_buffer_write(dsa_context *ctx, void *native, uint64_t off, const void *src, uint64_t n)
{
    return transfer(ctx, XFER_WRITE, (char *)native + off, NULL, NULL, src, 0, n);
}

static dsa_status hip_buffer_read(dsa_context *ctx, void *native, uint64_t off, void *dst, uint64_t n)
{
    return transfer(ctx, XFER_READ, (char *)native + off, NULL, dst, NULL, 0, n);
}

static dsa_status hip_buffer_copy(dsa_context *ctx, void *dst, uint64_t doff, void *src, uint64_t soff, uint64_t n)
{
    return transfer(ctx, XFER_COPY, (char *)dst + doff, (char *)src + soff, NULL, NULL, 0, n);
}

static dsa_status hip_buffer_fill(dsa_context *ctx, void *native, uint64_t off, uint8_t byte, uint64_t n)
{
    return transfer(ctx, XFER_FILL, (char *)native + off, NULL, NULL, NULL, byte, n);
}

/* ---- kernels: generate, compile, load, cache ---- */

static hip_kernel *find_kernel(hip_ctx *c, const dsa_kernel_def *def, const dsa_spec *spec)
{
    pthread_mutex_lock(&c->lock);
    hip_kernel *k = c->kernels;
    while (k && !(k->def == def && dsa_spec_equal(&k->spec, spec))) k = k->next;
    pthread_mutex_unlock(&c->lock);
    return k;
}

static dsa_status prefixed(dsa_status st, const char *prefix)
{
    char *msg = strdup(dsa_last_error());
    st = dsa_fail(st, "%s: %s", prefix, msg ? msg : "(out of host memory for the message)");
    free(msg);
    return st;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Loads the kernel's module: a code object from the disk cache, else hiprtc's (then stored). */
static dsa_status load_module(dsa_context *ctx, const dsa_kernel_def *def, const char *source, const char *prefix,
                              dsa_hip_module *module, size_t *size)
{
    hip_ctx *c = impl_of(ctx);
    char runtime[32];
    snprintf(runtime, sizeof runtime, "%d.%d", c->hip->runtime_major, c->hip->runtime_minor);
    const char *parts[] = {"hip", source, c->target, ctx->info.name, ctx->info.driver_version, runtime,
                           c->hip->hiprtc_path, dsa_version_string()};
    dsa_cache_key key = dsa_cache_key_make(parts, (int)(sizeof parts / sizeof parts[0]));
    void *code = NULL;
    if (dsa_cache_load(key, "hip-code-object", &code, size) == DSA_SUCCESS && code) {
        dsa_hip_error r = c->hip->hipModuleLoadData(module, code);
        free(code);
        if (r == DSA_HIP_SUCCESS) return DSA_SUCCESS;
        dsa_log(DSA_LOG_INFO, "cache", "%s: cached code object refused by the runtime; recompiling", prefix);
    }
    dsa_status st = dsa_hiprtc_compile(c->hip, source, def->name, c->target, &code, size);
    if (st != DSA_SUCCESS) return prefixed(st, prefix);
    dsa_hip_error r = c->hip->hipModuleLoadData(module, code);
    if (r == DSA_HIP_SUCCESS) dsa_cache_store(key, "hip-code-object", code, *size);
    free(code);
    if (r != DSA_HIP_SUCCESS)
        return dsa_hip_fail(r, "hipModuleLoadData", "%s (a %zu-byte code object from hiprtc)", prefix, *size);
    return DSA_SUCCESS;
}

/* The specialization compiled for this device: the plan's, with the wave size filled in. */
static dsa_spec device_spec(const hip_ctx *c, const dsa_spec *spec)
{
    dsa_spec s = *spec;
    if (s.subgroup == 0 && c->wave <= s.block) s.subgroup = c->wave;
    return s;
}

/* Compiles and loads one kernel; the device is current. */
static dsa_status compile_kernel(dsa_context *ctx, const dsa_kernel_def *def, const dsa_spec *spec, hip_kernel **out)
{
    hip_ctx *c = impl_of(ctx);
    dsa_spec dev_spec = device_spec(c, spec);
    char spec_str[384], prefix[640];
    dsa_spec_format(&dev_spec, spec_str, sizeof spec_str);
    snprintf(prefix, sizeof prefix, "hip:%d: kernel %s [%s] for %s", ctx->info.index, def->name, spec_str, c->target);
    double t0 = now_ms();

    hip_kernel *k = calloc(1, sizeof *k);
    if (!k) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s: out of host memory", prefix);
    k->def = def;
    k->spec = *spec;
    dsa_status st = dsa_kernel_signature(def, &dev_spec, &k->sig);
    char *source = NULL;
    if (st == DSA_SUCCESS) st = dsa_generate(def, DSA_DIALECT_HIP, &dev_spec, &source);
    if (st != DSA_SUCCESS) {
        free(k);
        return prefixed(st, prefix);
    }
    size_t code_size = 0;
    st = load_module(ctx, def, source, prefix, &k->module, &code_size);
    free(source);
    if (st != DSA_SUCCESS) {
        free(k);
        return st;
    }
    dsa_hip_error r = c->hip->hipModuleGetFunction(&k->fn, k->module, k->sig.entry);
    if (r != DSA_HIP_SUCCESS) {
        c->hip->hipModuleUnload(k->module);
        free(k);
        return dsa_hip_fail(r, "hipModuleGetFunction", "%s: entry point \"%s\"", prefix, k->sig.entry);
    }
    dsa_log(DSA_LOG_INFO, "compile", "%s: ready in %.1f ms (%zu-byte code object)", prefix, now_ms() - t0, code_size);

    /* Another thread may have compiled the same kernel meanwhile: keep the first. */
    pthread_mutex_lock(&c->lock);
    hip_kernel *have = c->kernels;
    while (have && !(have->def == def && dsa_spec_equal(&have->spec, spec))) have = have->next;
    if (!have) {
        k->next = c->kernels;
        c->kernels = k;
    }
    pthread_mutex_unlock(&c->lock);
    if (have) {
        c->hip->hipModuleUnload(k->module);
        free(k);
        k = have;
    }
    *out = k;
    return DSA_SUCCESS;
}

static dsa_status get_kernel(dsa_context *ctx, const dsa_launch *l, hip_kernel **out)
{
    hip_kernel *k = find_kernel(impl_of(ctx), l->kernel, &l->spec);
    if (k) {
        *out = k;
        return DSA_SUCCESS;
    }
    return compile_kernel(ctx, l->kernel, &l->spec, out);
}

/* One kernel argument, as the generated HIP signature declares it. */
typedef union hip_arg {
    void *ptr;
    long long i64;
    int i32;
    unsigned int u32;
    unsigned short u16;
    unsigned char u8;
    float f32;
} hip_arg;

/* Marshals a launch's arguments (buffers, scalars, then per buffer its element offset: template.h)
 * and enqueues it with hipModuleLaunchKernel; the device is current. */
static dsa_status launch(dsa_context *ctx, dsa_op op, int index, const dsa_launch *l, const hip_kernel *k)
{
    hip_ctx *c = impl_of(ctx);
    const dsa_signature *sig = &k->sig;
    if (sig->n_buffers != l->n_buffers || sig->n_scalars != l->n_scalars)
        return dsa_fail(DSA_ERROR_INTERNAL,
                        "%s: launch %d (%s): the plan gives %d buffers and %d scalars, the kernel takes %d and %d",
                        dsa_op_name(op), index, l->kernel->name, l->n_buffers, l->n_scalars, sig->n_buffers,
                        sig->n_scalars);
    hip_arg values[3 * DSA_MAX_KERNEL_ARGS];
    void *params[3 * DSA_MAX_KERNEL_ARGS];
    int n = 0;
    for (int i = 0; i < l->n_buffers; i++) {
        const dsa_buffer *b = l->buffers[i].buffer;
        values[n++].ptr = b ? b->native : NULL; /* the base: the kernel adds the offset itself */
    }
    for (int i = 0; i < l->n_scalars; i++) {
        const dsa_launch_scalar *s = &l->scalars[i];
        switch (sig->scalar_type[i]) {
        case DSA_ARG_I64: values[n].i64 = (long long)s->i; break;
        case DSA_ARG_I32: values[n].i32 = (int)s->i; break;
        case DSA_ARG_U32: values[n].u32 = (unsigned int)s->i; break;
        case DSA_ARG_U16: values[n].u16 = (unsigned short)s->i; break;
        case DSA_ARG_U8: values[n].u8 = (unsigned char)s->i; break;
        case DSA_ARG_F32: values[n].f32 = s->f; break;
        default:
            return dsa_fail(DSA_ERROR_INTERNAL, "%s: launch %d (%s): scalar %d has unknown type %d", dsa_op_name(op),
                            index, l->kernel->name, i, (int)sig->scalar_type[i]);
        }
        n++;
    }
    for (int i = 0; i < l->n_buffers; i++) {
        size_t size = dsa_arg_type_size(sig->buffer_type[i]);
        uint64_t off = l->buffers[i].byte_offset;
        if (size == 0 || off % size)
            return dsa_fail(DSA_ERROR_INTERNAL,
                            "%s: launch %d (%s): buffer %d starts at byte %llu, not a multiple of its %zu-byte elements",
                            dsa_op_name(op), index, l->kernel->name, i, (unsigned long long)off, size);
        values[n++].i64 = (long long)(off / size);
    }
    for (int i = 0; i < n; i++) params[i] = &values[i];
    dsa_hip_error r = c->hip->hipModuleLaunchKernel(k->fn, l->grid[0], l->grid[1], l->grid[2], (unsigned)l->spec.block,
                                                    1, 1, 0, c->stream, params, NULL);
    if (r != DSA_HIP_SUCCESS)
        return dsa_hip_fail(r, "hipModuleLaunchKernel", "%s on hip:%d: launch %d, kernel %s, grid %ux%ux%u, block %d",
                            dsa_op_name(op), ctx->info.index, index, l->kernel->name, l->grid[0], l->grid[1],
                            l->grid[2], l->spec.block);
    if (dsa_log_enabled("op"))
        dsa_log(DSA_LOG_DEBUG, "op", "%s on hip:%d: launched %s, grid %ux%ux%u, block %d", dsa_op_name(op),
                ctx->info.index, l->kernel->name, l->grid[0], l->grid[1], l->grid[2], l->spec.block);
    return DSA_SUCCESS;
}

/* ---- ops ---- */

static dsa_status hip_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    return dsa_plan_workspace(&ctx->info, op, args, bytes);
}

/* Compiles every kernel the plan for these shapes would launch (nothing is launched). */
static dsa_status hip_prepare(dsa_context *ctx, dsa_op op, const void *args)
{
    uint64_t need = 0;
    dsa_status st = dsa_plan_workspace(&ctx->info, op, args, &need);
    if (st != DSA_SUCCESS) return st;
    dsa_workspace ws;
    memset(&ws, 0, sizeof ws);
    if (need && ctx->own_ws && ctx->own_ws->size >= need) ws.buffer = ctx->own_ws;
    ws.size = need;
    dsa_plan plan;
    st = dsa_plan_build(&ctx->info, op, args, &ws, &plan);
    if (st != DSA_SUCCESS) return st;
    int prev;
    st = enter(ctx, "prepare", &prev);
    if (st != DSA_SUCCESS) return st;
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) {
        hip_kernel *k;
        st = get_kernel(ctx, &plan.launch[i], &k);
    }
    leave(ctx, prev);
    return st;
}

static dsa_status hip_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    dsa_plan plan;
    dsa_status st = dsa_plan_build(&ctx->info, op, args, ws, &plan);
    if (st != DSA_SUCCESS) return st;
    int prev;
    st = enter(ctx, dsa_op_name(op), &prev);
    if (st != DSA_SUCCESS) return st;
    /* Every kernel first, so that a compile failure enqueues nothing of the op. */
    hip_kernel *kernels[DSA_PLAN_MAX_LAUNCHES];
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) st = get_kernel(ctx, &plan.launch[i], &kernels[i]);
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) st = launch(ctx, op, i, &plan.launch[i], kernels[i]);
    leave(ctx, prev);
    return st;
}

const dsa_backend_ops dsa_hip_backend = {
    .id = DSA_BACKEND_HIP,
    .probe = hip_probe,
    .context_create = hip_context_create,
    .context_destroy = hip_context_destroy,
    .synchronize = hip_synchronize,
    .buffer_alloc = hip_buffer_alloc,
    .buffer_free = hip_buffer_free,
    .buffer_wrap = hip_buffer_wrap,
    .buffer_write = hip_buffer_write,
    .buffer_read = hip_buffer_read,
    .buffer_copy = hip_buffer_copy,
    .buffer_fill = hip_buffer_fill,
    .workspace_size = hip_workspace_size,
    .prepare = hip_prepare,
    .run = hip_run,
};
