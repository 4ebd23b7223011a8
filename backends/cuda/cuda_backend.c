/* The CUDA backend's runtime: devices through the driver API (cuda_api.h), one CUDA context and
 * one stream per libdsa context, device memory buffers, and ops run as the launch plans of
 * core/plan.h. A plan's kernels are generated from the templates for the CUDA dialect, compiled by
 * NVRTC (nvrtc.h) to a cubin for the device's exact architecture, loaded as modules and kept in a
 * per-context cache keyed by kernel name and every specialization field, so an op compiles once
 * (in dsa_prepare, or on first use) and afterwards only enqueues (DESIGN.md invariant 8).
 *
 * Threads: the library's context is made current around every driver call (cuCtxPushCurrent /
 * cuCtxPopCurrent), so any thread may use a libdsa context and the application's current context
 * is left as it was. The kernel cache is guarded by a mutex. */
#include "cuda_api.h"
#include "nvrtc.h"

#include "internal.h"
#include "kernel_cache.h"
#include "plan.h"
#include "prebuilt.h"
#include "template.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- per-context state ---- */

typedef struct cuda_kernel {
    struct cuda_kernel *next;
    const dsa_kernel_def *def;
    dsa_spec spec;
    dsa_signature sig;
    dsa_cu_module module;
    dsa_cu_function fn;
} cuda_kernel;

typedef struct cuda_ctx {
    const dsa_cu_api *cu;
    dsa_cu_device device;
    dsa_cu_context context;
    dsa_cu_stream stream;
    int retained_primary; /* the device's primary context was retained (released on destroy) */
    int owns_stream;      /* the stream was created here (destroyed on destroy) */
    int cc_major, cc_minor;
    char arch[16];        /* what NVRTC compiles for: "sm_90a", "sm_86" */
    pthread_mutex_t lock; /* guards kernels */
    cuda_kernel *kernels;
} cuda_ctx;

static cuda_ctx *impl_of(dsa_context *ctx) { return (cuda_ctx *)ctx->impl; }

static dsa_cu_deviceptr devptr(const void *native) { return (dsa_cu_deviceptr)(uintptr_t)native; }

/* Makes the context current on this thread; every successful enter is paired with leave. */
static dsa_status enter(dsa_context *ctx, const char *what)
{
    cuda_ctx *c = impl_of(ctx);
    dsa_cu_result r = c->cu->cuCtxPushCurrent(c->context);
    if (r != DSA_CU_SUCCESS) return dsa_cu_fail(r, "cuCtxPushCurrent", "cuda:%d %s", ctx->info.index, what);
    return DSA_SUCCESS;
}

static void leave(dsa_context *ctx)
{
    dsa_cu_context popped = NULL;
    impl_of(ctx)->cu->cuCtxPopCurrent(&popped);
}

/* ---- device description ---- */

static dsa_status attribute(const dsa_cu_api *cu, dsa_cu_device dev, int attr, const char *name, int *value,
                            char *reason, size_t reason_len)
{
    *value = 0;
    dsa_cu_result r = cu->cuDeviceGetAttribute(value, attr, dev);
    if (r == DSA_CU_SUCCESS) return DSA_SUCCESS;
    snprintf(reason, reason_len, "cuDeviceGetAttribute(%s) on CUDA device %d: %s (%s)", name, (int)dev,
             dsa_cu_error_name(r), dsa_cu_error_string(r));
    return DSA_ERROR_DRIVER;
}

/* The tensor-core instructions a compute capability offers, as dsa_device_info.matrix_units says. */
static const char *matrix_units_for(int major, int minor)
{
    if (major >= 10 && major < 12) return "mma.sync bf16 fp8, tcgen05";
    if (major >= 12) return "mma.sync bf16 fp8";
    if (major == 9) return "mma.sync bf16 fp8, wgmma";
    if (major == 8 && minor >= 9) return "mma.sync bf16 fp8";
    if (major == 8) return "mma.sync bf16";
    if (major == 7) return "mma.sync fp16";
    return "";
}

/* The cubin target: the arch-specific variant (sm_90a, sm_100a ...) where one exists, so that the
 * dialect may use wgmma / tcgen05; compile_kernel falls back to the plain sm_XY if NVRTC lacks it. */
static void arch_for(int major, int minor, char *arch, size_t len)
{
    snprintf(arch, len, "sm_%d%d%s", major, minor, major >= 9 ? "a" : "");
}

#define ATTR(a, var)                                                                                      \
    do {                                                                                                  \
        dsa_status st_ = attribute(cu, dev, DSA_CU_ATTR_##a, #a, &(var), reason, reason_len);             \
        if (st_ != DSA_SUCCESS) return st_;                                                               \
    } while (0)

static dsa_status describe(const dsa_cu_api *cu, int ordinal, const char *runtime, dsa_device_info *d,
                           char *reason, size_t reason_len)
{
    memset(d, 0, sizeof *d);
    dsa_cu_device dev = 0;
    dsa_cu_result r = cu->cuDeviceGet(&dev, ordinal);
    if (r == DSA_CU_SUCCESS) r = cu->cuDeviceGetName(d->name, (int)sizeof d->name, dev);
    if (r != DSA_CU_SUCCESS) {
        snprintf(reason, reason_len, "cuDeviceGet/cuDeviceGetName for CUDA device %d: %s (%s)", ordinal,
                 dsa_cu_error_name(r), dsa_cu_error_string(r));
        return DSA_ERROR_DRIVER;
    }
    size_t total = 0;
    r = cu->cuDeviceTotalMem(&total, dev);
    if (r != DSA_CU_SUCCESS) {
        snprintf(reason, reason_len, "cuDeviceTotalMem for CUDA device %d: %s (%s)", ordinal, dsa_cu_error_name(r),
                 dsa_cu_error_string(r));
        return DSA_ERROR_DRIVER;
    }
    int major, minor, sms, shared, optin, warp, integrated;
    ATTR(COMPUTE_CAPABILITY_MAJOR, major);
    ATTR(COMPUTE_CAPABILITY_MINOR, minor);
    ATTR(MULTIPROCESSOR_COUNT, sms);
    ATTR(MAX_SHARED_MEMORY_PER_BLOCK, shared);
    ATTR(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, optin);
    ATTR(WARP_SIZE, warp);
    ATTR(INTEGRATED, integrated);

    snprintf(d->vendor, sizeof d->vendor, "NVIDIA");
    snprintf(d->driver_version, sizeof d->driver_version, "%d.%d", cu->driver_major, cu->driver_minor);
    snprintf(d->runtime_version, sizeof d->runtime_version, "%s", runtime);
    d->memory_bytes = (uint64_t)total;
    d->max_buffer_bytes = (uint64_t)total; /* cuMemAlloc takes any size that fits */
    /* The CUDA dialect puts a kernel's shared arrays in dynamic shared memory (templates/generator.c),
     * so a block may use the opt-in limit (227 KiB on Hopper), not only the 48 KiB of static arrays;
     * compile_kernel opts each function in to what it needs. Without cuFuncSetAttribute (very old
     * drivers) the static limit is all there is. */
    d->shared_mem_per_block = (uint64_t)(shared > 0 ? shared : 0);
    if (cu->cuFuncSetAttribute && optin > shared) d->shared_mem_per_block = (uint64_t)optin;
    d->compute_units = (uint32_t)(sms > 0 ? sms : 0);
    int cc = major * 10 + minor;
    uint32_t caps = DSA_CAP_SUBGROUPS | DSA_CAP_INT64 | DSA_CAP_FP64;
    if (cc >= 53) caps |= DSA_CAP_FP16;
    if (cc >= 61) caps |= DSA_CAP_INT8_DOT;
    if (cc >= 70) caps |= DSA_CAP_MATRIX_UNITS;
    if (cc >= 80) caps |= DSA_CAP_BF16;
    if (cc >= 89) caps |= DSA_CAP_FP8;
    d->caps = caps;
    d->subgroup_sizes = warp > 0 && (warp & (warp - 1)) == 0 ? (uint32_t)warp : 32u; /* 32 = bit 5: 2^5 */
    snprintf(d->matrix_units, sizeof d->matrix_units, "%s", matrix_units_for(major, minor));
    dsa_cu_uuid uuid;
    memset(&uuid, 0, sizeof uuid);
    r = DSA_CU_ERROR_NOT_FOUND;
    if (cu->cuDeviceGetUuid) r = cu->cuDeviceGetUuid(&uuid, dev);
    if (r != DSA_CU_SUCCESS && cu->cuDeviceGetUuidV1) r = cu->cuDeviceGetUuidV1(&uuid, dev);
    if (r == DSA_CU_SUCCESS) {
        memcpy(d->uuid, uuid.bytes, sizeof d->uuid);
        d->has_uuid = 1;
    }
    d->is_cpu = 0;
    d->is_emulation = 0;
    dsa_log(DSA_LOG_INFO, "device",
            "cuda:%d %s: compute capability %d.%d, %d SMs, %llu MiB, %s; shared memory per block %d KiB static "
            "(used by the templates), %d KiB opt-in (not used yet)%s",
            ordinal, d->name, major, minor, sms, (unsigned long long)(total >> 20), runtime, shared / 1024,
            optin / 1024, integrated ? "; integrated GPU" : "");
    return DSA_SUCCESS;
}

#undef ATTR

static dsa_status cuda_probe(dsa_device_info *devs, int max, int *count, char *reason, size_t reason_len)
{
    *count = 0;
    const dsa_cu_api *cu = NULL;
    if (dsa_cu_load(&cu) != DSA_SUCCESS) {
        snprintf(reason, reason_len, "%s", dsa_cu_reason());
        return DSA_ERROR_BACKEND_UNAVAILABLE;
    }
    int n = 0;
    dsa_cu_result r = cu->cuDeviceGetCount(&n);
    if (r != DSA_CU_SUCCESS) {
        snprintf(reason, reason_len, "cuDeviceGetCount: %s (%s)", dsa_cu_error_name(r), dsa_cu_error_string(r));
        return DSA_ERROR_DRIVER;
    }
    char runtime[64];
    dsa_nvrtc *nv = NULL;
    int nv_major = 0, nv_minor = 0;
    if (dsa_nvrtc_open(&nv) == DSA_SUCCESS && dsa_nvrtc_version(nv, &nv_major, &nv_minor) == DSA_SUCCESS) {
        snprintf(runtime, sizeof runtime, "NVRTC %d.%d", nv_major, nv_minor);
    } else {
        snprintf(runtime, sizeof runtime, "no NVRTC");
        dsa_log(DSA_LOG_WARN, "device", "cuda: devices are listed, but kernels cannot be compiled: %s",
                dsa_last_error());
    }
    if (n > max) {
        dsa_log(DSA_LOG_WARN, "device", "cuda: %d devices, listing the first %d", n, max);
        n = max;
    }
    for (int i = 0; i < n; i++) {
        dsa_status st = describe(cu, i, runtime, &devs[i], reason, reason_len);
        if (st != DSA_SUCCESS) return st;
    }
    *count = n;
    return DSA_SUCCESS;
}

/* ---- contexts ---- */

static void free_kernels(cuda_ctx *c)
{
    while (c->kernels) {
        cuda_kernel *k = c->kernels;
        c->kernels = k->next;
        if (k->module) c->cu->cuModuleUnload(k->module);
        free(k);
    }
}

static dsa_status cuda_context_create(dsa_context *ctx, const dsa_context_desc *desc)
{
    const int index = ctx->info.index;
    dsa_log(DSA_LOG_DEBUG, "device", "cuda:%d: context_create (native_context %p, native_queue %p)", index,
            desc->native_context, desc->native_queue);
    if (desc->native_device)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "context_create: the cuda backend takes no native_device (the selector names the device; "
                        "pass a CUcontext as native_context and/or a CUstream as native_queue)");
    const dsa_cu_api *cu = NULL;
    dsa_status st = dsa_cu_load(&cu);
    if (st != DSA_SUCCESS) return st;
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    c->cu = cu;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: cannot create a mutex");
    }
    dsa_cu_result r = cu->cuDeviceGet(&c->device, index);
    if (r != DSA_CU_SUCCESS) {
        st = dsa_cu_fail(r, "cuDeviceGet", "context_create on cuda:%d", index);
        goto fail;
    }
    r = cu->cuDeviceGetAttribute(&c->cc_major, DSA_CU_ATTR_COMPUTE_CAPABILITY_MAJOR, c->device);
    if (r == DSA_CU_SUCCESS) r = cu->cuDeviceGetAttribute(&c->cc_minor, DSA_CU_ATTR_COMPUTE_CAPABILITY_MINOR, c->device);
    if (r != DSA_CU_SUCCESS) {
        st = dsa_cu_fail(r, "cuDeviceGetAttribute(compute capability)", "context_create on cuda:%d", index);
        goto fail;
    }
    arch_for(c->cc_major, c->cc_minor, c->arch, sizeof c->arch);

    const char *origin;
    if (desc->native_context) {
        c->context = (dsa_cu_context)desc->native_context;
        origin = "the application's CUcontext";
    } else if (desc->native_queue && cu->cuStreamGetCtx) {
        r = cu->cuStreamGetCtx((dsa_cu_stream)desc->native_queue, &c->context);
        if (r != DSA_CU_SUCCESS) {
            st = dsa_cu_fail(r, "cuStreamGetCtx", "context_create on cuda:%d: the native_queue given is not a usable "
                             "CUstream", index);
            goto fail;
        }
        origin = "the context of the application's CUstream";
    } else {
        r = cu->cuDevicePrimaryCtxRetain(&c->context, c->device);
        if (r != DSA_CU_SUCCESS) {
            st = dsa_cu_fail(r, "cuDevicePrimaryCtxRetain", "context_create on cuda:%d (%s)", index, ctx->info.name);
            goto fail;
        }
        c->retained_primary = 1;
        origin = "the device's primary context";
    }
    ctx->impl = c;
    st = enter(ctx, "context_create");
    if (st != DSA_SUCCESS) {
        ctx->impl = NULL;
        goto fail;
    }
    /* The context must be on the device the selector chose, or every pointer would be wrong. */
    dsa_cu_device on = -1;
    r = cu->cuCtxGetDevice(&on);
    if (r != DSA_CU_SUCCESS) {
        st = dsa_cu_fail(r, "cuCtxGetDevice", "context_create on cuda:%d: the native_context given is not usable",
                         index);
    } else if (on != c->device) {
        st = dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                      "context_create: %s is on CUDA device %d, but the selector chose cuda:%d (%s); select "
                      "\"cuda:%d\" or pass a context of that device",
                      origin, (int)on, index, ctx->info.name, (int)on);
    } else if (desc->native_queue) {
        c->stream = (dsa_cu_stream)desc->native_queue;
        if (desc->native_context && cu->cuStreamGetCtx) {
            dsa_cu_context of = NULL;
            r = cu->cuStreamGetCtx(c->stream, &of);
            if (r != DSA_CU_SUCCESS)
                st = dsa_cu_fail(r, "cuStreamGetCtx", "context_create on cuda:%d: the native_queue given is not a "
                                 "usable CUstream", index);
            else if (of != c->context)
                st = dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                              "context_create: native_queue is a CUstream of another CUcontext than native_context; "
                              "pass the stream's own context (or no native_context)");
        }
    } else {
        r = cu->cuStreamCreate(&c->stream, DSA_CU_STREAM_NON_BLOCKING);
        if (r != DSA_CU_SUCCESS)
            st = dsa_cu_fail(r, "cuStreamCreate", "context_create on cuda:%d (%s)", index, ctx->info.name);
        else
            c->owns_stream = 1;
    }
    leave(ctx);
    if (st != DSA_SUCCESS) {
        ctx->impl = NULL;
        goto fail;
    }
    dsa_log(DSA_LOG_INFO, "device", "cuda:%d: using %s and %s; kernels compile for %s", index, origin,
            c->owns_stream ? "a stream of its own (non-blocking)" : "the application's CUstream", c->arch);
    return DSA_SUCCESS;

fail:
    if (c->retained_primary) cu->cuDevicePrimaryCtxRelease(c->device);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return st;
}

static void cuda_context_destroy(dsa_context *ctx)
{
    cuda_ctx *c = impl_of(ctx);
    if (!c) return;
    dsa_cu_result r = c->cu->cuCtxPushCurrent(c->context);
    if (r == DSA_CU_SUCCESS) {
        free_kernels(c);
        if (c->owns_stream) {
            c->cu->cuStreamSynchronize(c->stream);
            c->cu->cuStreamDestroy(c->stream);
        }
        leave(ctx);
    } else {
        /* Nothing more can be done with a context that cannot be made current; the host memory of the
         * cache is still ours to free. */
        dsa_log(DSA_LOG_WARN, "device", "cuda:%d: context_destroy: cuCtxPushCurrent failed: %s; modules and stream "
                "left to the driver", ctx->info.index, dsa_cu_error_name(r));
        while (c->kernels) {
            cuda_kernel *k = c->kernels;
            c->kernels = k->next;
            free(k);
        }
    }
    if (c->retained_primary) c->cu->cuDevicePrimaryCtxRelease(c->device);
    pthread_mutex_destroy(&c->lock);
    free(c);
    ctx->impl = NULL;
}

static dsa_status cuda_synchronize(dsa_context *ctx)
{
    dsa_status st = enter(ctx, "synchronize");
    if (st != DSA_SUCCESS) return st;
    dsa_cu_result r = impl_of(ctx)->cu->cuStreamSynchronize(impl_of(ctx)->stream);
    leave(ctx);
    if (r != DSA_CU_SUCCESS) return dsa_cu_fail(r, "cuStreamSynchronize", "synchronize on cuda:%d", ctx->info.index);
    return DSA_SUCCESS;
}

/* ---- buffers ---- */

static dsa_status cuda_buffer_alloc(dsa_context *ctx, uint64_t bytes, void **native)
{
    cuda_ctx *c = impl_of(ctx);
    if (bytes > (uint64_t)SIZE_MAX)
        return dsa_fail(DSA_ERROR_DEVICE_OUT_OF_MEMORY, "buffer_alloc: %llu bytes cannot be allocated",
                        (unsigned long long)bytes);
    /* cuMemAlloc refuses 0 bytes; an empty buffer still gets a (small) allocation of its own. */
    size_t n = bytes ? (size_t)bytes : 256;
    dsa_status st = enter(ctx, "buffer_alloc");
    if (st != DSA_SUCCESS) return st;
    dsa_cu_deviceptr p = 0;
    dsa_cu_result r = c->cu->cuMemAlloc(&p, n);
    leave(ctx);
    if (r != DSA_CU_SUCCESS)
        return dsa_cu_fail(r, "cuMemAlloc", "buffer_alloc of %llu bytes on cuda:%d (%s)", (unsigned long long)bytes,
                           ctx->info.index, ctx->info.name);
    *native = (void *)(uintptr_t)p;
    return DSA_SUCCESS;
}

static void cuda_buffer_free(dsa_context *ctx, void *native)
{
    if (enter(ctx, "buffer_free") != DSA_SUCCESS) {
        dsa_log(DSA_LOG_WARN, "device", "cuda:%d: buffer_free: %s", ctx->info.index, dsa_last_error());
        return;
    }
    dsa_cu_result r = impl_of(ctx)->cu->cuMemFree(devptr(native));
    leave(ctx);
    if (r != DSA_CU_SUCCESS)
        dsa_log(DSA_LOG_WARN, "device", "cuda:%d: buffer_free: cuMemFree failed: %s (%s)", ctx->info.index,
                dsa_cu_error_name(r), dsa_cu_error_string(r));
}

/* A wrapped handle must be device memory that the driver knows and that spans the bytes given. */
static dsa_status cuda_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes)
{
    cuda_ctx *c = impl_of(ctx);
    dsa_status st = enter(ctx, "buffer_wrap");
    if (st != DSA_SUCCESS) return st;
    dsa_cu_deviceptr p = devptr(native), base = 0;
    size_t size = 0;
    dsa_cu_result r = c->cu->cuMemGetAddressRange(&base, &size, p);
    unsigned int type = 0;
    dsa_cu_result r2 = DSA_CU_ERROR_NOT_FOUND;
    if (r != DSA_CU_SUCCESS) r2 = c->cu->cuPointerGetAttribute(&type, DSA_CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p);
    leave(ctx);
    if (r == DSA_CU_SUCCESS) {
        uint64_t end = (uint64_t)base + (uint64_t)size;
        if (p + bytes < p || p + bytes > end)
            return dsa_fail(DSA_ERROR_OUT_OF_BOUNDS,
                            "buffer_wrap: 0x%llx + %llu bytes runs past the end of its allocation [0x%llx, 0x%llx) "
                            "(%llu bytes from that address), as cuMemGetAddressRange reports it",
                            (unsigned long long)p, (unsigned long long)bytes, (unsigned long long)base,
                            (unsigned long long)end, (unsigned long long)(end - p));
        return DSA_SUCCESS;
    }
    /* Not a cuMemAlloc range; memory the driver still knows as device or managed memory (mapped
     * virtual memory, for instance) is accepted as the application says. */
    if (r2 == DSA_CU_SUCCESS && (type == DSA_CU_MEMORYTYPE_DEVICE || type == DSA_CU_MEMORYTYPE_UNIFIED)) {
        dsa_log(DSA_LOG_DEBUG, "device", "cuda:%d: buffer_wrap: 0x%llx is %s memory without an address range; "
                "its size is taken as given (%llu bytes)", ctx->info.index, (unsigned long long)p,
                type == DSA_CU_MEMORYTYPE_DEVICE ? "device" : "managed", (unsigned long long)bytes);
        return DSA_SUCCESS;
    }
    return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                    "buffer_wrap: 0x%llx is not device memory known to the CUDA driver (cuMemGetAddressRange: %s, "
                    "cuPointerGetAttribute: %s); expected a CUdeviceptr (from cuMemAlloc, cuMemAllocAsync, "
                    "cuMemAllocManaged, cudaMalloc ...) cast to void*",
                    (unsigned long long)p, dsa_cu_error_name(r),
                    r2 == DSA_CU_SUCCESS ? "host memory" : dsa_cu_error_name(r2));
}

/* Enqueues one transfer on the context's stream and waits for it: read, write, copy and fill are
 * ordered after earlier work on the stream and complete when they return (api/dsa.h). */
typedef enum { XFER_WRITE, XFER_READ, XFER_COPY, XFER_FILL } xfer_kind;

static dsa_status transfer(dsa_context *ctx, xfer_kind kind, dsa_cu_deviceptr dev, dsa_cu_deviceptr dev2,
                           void *host, const void *chost, uint8_t byte, uint64_t bytes)
{
    static const char *const fn_names[] = {"buffer_write", "buffer_read", "buffer_copy", "buffer_fill"};
    static const char *const calls[] = {"cuMemcpyHtoDAsync", "cuMemcpyDtoHAsync", "cuMemcpyDtoDAsync",
                                        "cuMemsetD8Async"};
    cuda_ctx *c = impl_of(ctx);
    if (bytes > (uint64_t)SIZE_MAX)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: %llu bytes exceed this host's size_t", fn_names[kind],
                        (unsigned long long)bytes);
    dsa_status st = enter(ctx, fn_names[kind]);
    if (st != DSA_SUCCESS) return st;
    dsa_cu_result r;
    switch (kind) {
    case XFER_WRITE: r = c->cu->cuMemcpyHtoDAsync(dev, chost, (size_t)bytes, c->stream); break;
    case XFER_READ: r = c->cu->cuMemcpyDtoHAsync(host, dev, (size_t)bytes, c->stream); break;
    case XFER_COPY: r = c->cu->cuMemcpyDtoDAsync(dev, dev2, (size_t)bytes, c->stream); break;
    default: r = c->cu->cuMemsetD8Async(dev, byte, (size_t)bytes, c->stream); break;
    }
    const char *call = calls[kind];
    if (r == DSA_CU_SUCCESS) {
        r = c->cu->cuStreamSynchronize(c->stream);
        call = "cuStreamSynchronize";
    }
    leave(ctx);
    if (r != DSA_CU_SUCCESS)
        return dsa_cu_fail(r, call, "%s of %llu bytes on cuda:%d", fn_names[kind], (unsigned long long)bytes,
                           ctx->info.index);
    return DSA_SUCCESS;
}

static dsa_status cuda_buffer_write(dsa_context *ctx, void *native, uint64_t off, const void *src, uint64_t n)
{
    return transfer(ctx, XFER_WRITE, devptr(native) + off, 0, NULL, src, 0, n);
}

static dsa_status cuda_buffer_read(dsa_context *ctx, void *native, uint64_t off, void *dst, uint64_t n)
{
    return transfer(ctx, XFER_READ, devptr(native) + off, 0, dst, NULL, 0, n);
}

static dsa_status cuda_buffer_copy(dsa_context *ctx, void *dst, uint64_t doff, void *src, uint64_t soff, uint64_t n)
{
    return transfer(ctx, XFER_COPY, devptr(dst) + doff, devptr(src) + soff, NULL, NULL, 0, n);
}

static dsa_status cuda_buffer_fill(dsa_context *ctx, void *native, uint64_t off, uint8_t byte, uint64_t n)
{
    return transfer(ctx, XFER_FILL, devptr(native) + off, 0, NULL, NULL, byte, n);
}

/* ---- kernels: generate, compile, load, cache ---- */

static cuda_kernel *find_kernel(cuda_ctx *c, const dsa_kernel_def *def, const dsa_spec *spec)
{
    pthread_mutex_lock(&c->lock);
    cuda_kernel *k = c->kernels;
    while (k && !(k->def == def && dsa_spec_equal(&k->spec, spec))) k = k->next;
    pthread_mutex_unlock(&c->lock);
    return k;
}

/* Re-raises the current message with a prefix naming what was being done. */
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

/* DSA_CUDA_LINEINFO=1 compiles every kernel with NVRTC's -lineinfo (and never takes the prebuilt
 * cubins, which lack it), so that compute-sanitizer and ncu name lines of the generated source
 * (`dsa codegen --dialect cuda` prints the same text). Off by default: it changes no code, but
 * the cubins are larger. */
static int want_lineinfo(void)
{
    const char *env = getenv("DSA_CUDA_LINEINFO");
    return env && *env && strcmp(env, "0") != 0;
}

/* NVRTC for the device's arch-specific target, or the plain one when this NVRTC lacks it. */
static dsa_status nvrtc_cubin(cuda_ctx *c, const char *source, const char *name, const char *prefix, int lineinfo,
                              const char **arch, void **cubin, size_t *size)
{
    dsa_nvrtc *nv = NULL;
    dsa_status st = dsa_nvrtc_open(&nv);
    if (st != DSA_SUCCESS) return st;
    static _Thread_local char plain[16];
    const char *extra[] = {"-lineinfo"};
    int n_extra = lineinfo ? 1 : 0;
    st = dsa_nvrtc_compile(nv, source, name, *arch, 1, extra, n_extra, cubin, size);
    if (st == DSA_ERROR_UNSUPPORTED && c->arch[strlen(c->arch) - 1] == 'a') {
        /* This NVRTC does not know the arch-specific target; the portable one still runs everything
         * but the arch-specific instructions. */
        snprintf(plain, sizeof plain, "sm_%d%d", c->cc_major, c->cc_minor);
        dsa_log(DSA_LOG_WARN, "compile", "%s: %s; compiling for %s instead", prefix, dsa_last_error(), plain);
        *arch = plain;
        st = dsa_nvrtc_compile(nv, source, name, *arch, 1, extra, n_extra, cubin, size);
    }
    return st;
}

/* Loads the kernel's module: the cubin shipped in the library when this exact specialization was
 * prebuilt for the device's architecture (so a machine without NVRTC runs the defaults), else one
 * from the disk cache, else NVRTC's (then stored in the cache). */
static dsa_status load_module(dsa_context *ctx, const dsa_kernel_def *def, const dsa_spec *spec, const char *source,
                              const char *prefix, dsa_cu_module *module, const char **arch, size_t *size)
{
    cuda_ctx *c = impl_of(ctx);
    char target[32];
    snprintf(target, sizeof target, "cuda:%s", c->arch);
    const void *shipped = NULL;
    int lineinfo = want_lineinfo();
    if (!lineinfo && dsa_prebuilt_find(target, def, spec, &shipped, size) &&
        c->cu->cuModuleLoadData(module, shipped) == DSA_CU_SUCCESS) {
        dsa_log(DSA_LOG_DEBUG, "compile", "%s: prebuilt cubin", prefix);
        return DSA_SUCCESS;
    }
    const char *parts[] = {"cuda", source, c->arch, ctx->info.name, ctx->info.driver_version, dsa_version_string(),
                           lineinfo ? "-lineinfo" : ""};
    dsa_cache_key key = dsa_cache_key_make(parts, (int)(sizeof parts / sizeof parts[0]));
    void *cubin = NULL;
    if (dsa_cache_load(key, "cuda-cubin", &cubin, size) == DSA_SUCCESS && cubin) {
        dsa_cu_result r = c->cu->cuModuleLoadData(module, cubin);
        free(cubin);
        if (r == DSA_CU_SUCCESS) return DSA_SUCCESS;
        dsa_log(DSA_LOG_INFO, "cache", "%s: cached cubin refused by the driver; recompiling", prefix);
    }
    dsa_status st = nvrtc_cubin(c, source, def->name, prefix, lineinfo, arch, &cubin, size);
    if (st != DSA_SUCCESS) return prefixed(st, prefix);
    dsa_cu_result r = c->cu->cuModuleLoadData(module, cubin);
    if (r == DSA_CU_SUCCESS && *arch == c->arch) dsa_cache_store(key, "cuda-cubin", cubin, *size);
    free(cubin);
    if (r != DSA_CU_SUCCESS)
        return dsa_cu_fail(r, "cuModuleLoadData", "%s (a %zu-byte cubin from NVRTC)", prefix, *size);
    return DSA_SUCCESS;
}

/* Compiles and loads one kernel; the context is current. */
static dsa_status compile_kernel(dsa_context *ctx, const dsa_kernel_def *def, const dsa_spec *spec,
                                 cuda_kernel **out)
{
    cuda_ctx *c = impl_of(ctx);
    char spec_str[384], prefix[640];
    dsa_spec_format(spec, spec_str, sizeof spec_str);
    snprintf(prefix, sizeof prefix, "cuda:%d: kernel %s [%s] for %s", ctx->info.index, def->name, spec_str, c->arch);
    double t0 = now_ms();

    cuda_kernel *k = calloc(1, sizeof *k);
    if (!k) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s: out of host memory", prefix);
    k->def = def;
    k->spec = *spec;
    dsa_status st = dsa_kernel_signature(def, spec, &k->sig);
    if (st != DSA_SUCCESS) {
        free(k);
        return prefixed(st, prefix);
    }
    char *source = NULL;
    st = dsa_generate(def, DSA_DIALECT_CUDA, spec, &source);
    if (st != DSA_SUCCESS) {
        free(k);
        return prefixed(st, prefix);
    }
    const char *arch = c->arch;
    size_t cubin_size = 0;
    st = load_module(ctx, def, spec, source, prefix, &k->module, &arch, &cubin_size);
    free(source);
    if (st != DSA_SUCCESS) {
        free(k);
        return st;
    }
    dsa_cu_result r;
    r = c->cu->cuModuleGetFunction(&k->fn, k->module, k->sig.entry);
    if (r != DSA_CU_SUCCESS) {
        c->cu->cuModuleUnload(k->module);
        free(k);
        return dsa_cu_fail(r, "cuModuleGetFunction", "%s: entry point \"%s\"", prefix, k->sig.entry);
    }
    int max_threads = -1, regs = -1, shared = -1, local = -1;
    if (c->cu->cuFuncGetAttribute) {
        c->cu->cuFuncGetAttribute(&max_threads, DSA_CU_FUNC_MAX_THREADS_PER_BLOCK, k->fn);
        c->cu->cuFuncGetAttribute(&regs, DSA_CU_FUNC_NUM_REGS, k->fn);
        c->cu->cuFuncGetAttribute(&shared, DSA_CU_FUNC_SHARED_SIZE_BYTES, k->fn);
        c->cu->cuFuncGetAttribute(&local, DSA_CU_FUNC_LOCAL_SIZE_BYTES, k->fn);
    }
    if (k->sig.shared_bytes > 48u * 1024u) {
        /* Dynamic shared memory beyond 48 KiB must be asked for per function. */
        r = c->cu->cuFuncSetAttribute ? c->cu->cuFuncSetAttribute(k->fn, DSA_CU_FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                                  (int)k->sig.shared_bytes)
                                      : DSA_CU_ERROR_NOT_SUPPORTED;
        if (r != DSA_CU_SUCCESS) {
            unsigned long long bytes = (unsigned long long)k->sig.shared_bytes;
            c->cu->cuModuleUnload(k->module);
            free(k);
            return dsa_cu_fail(r, "cuFuncSetAttribute", "%s: %llu bytes of dynamic shared memory (device opt-in limit "
                               "%llu)", prefix, bytes, (unsigned long long)ctx->info.shared_mem_per_block);
        }
    }
    if (max_threads > 0 && spec->block > max_threads) {
        c->cu->cuModuleUnload(k->module);
        free(k);
        return dsa_fail(DSA_ERROR_UNSUPPORTED,
                        "%s: block is %d threads, but the compiled kernel can run at most %d per block (%d registers "
                        "per thread); choose a smaller block in the tuning table (DSA_TUNING)",
                        prefix, spec->block, max_threads, regs);
    }
    dsa_log(DSA_LOG_INFO, "compile", "%s: compiled for %s in %.1f ms (%zu-byte cubin; %d registers, %d B static + "
            "%llu B dynamic shared, %d B local per thread)", prefix, arch, now_ms() - t0, cubin_size, regs, shared,
            (unsigned long long)k->sig.shared_bytes, local);

    /* Another thread may have compiled the same kernel meanwhile: keep the first. */
    pthread_mutex_lock(&c->lock);
    cuda_kernel *have = c->kernels;
    while (have && !(have->def == def && dsa_spec_equal(&have->spec, spec))) have = have->next;
    if (!have) {
        k->next = c->kernels;
        c->kernels = k;
    }
    pthread_mutex_unlock(&c->lock);
    if (have) {
        c->cu->cuModuleUnload(k->module);
        free(k);
        k = have;
    }
    *out = k;
    return DSA_SUCCESS;
}

/* The cached kernel for a launch, compiled on a miss; the context is current. */
static dsa_status get_kernel(dsa_context *ctx, const dsa_launch *l, cuda_kernel **out)
{
    cuda_kernel *k = find_kernel(impl_of(ctx), l->kernel, &l->spec);
    if (k) {
        *out = k;
        return DSA_SUCCESS;
    }
    return compile_kernel(ctx, l->kernel, &l->spec, out);
}

/* One kernel argument, as the generated CUDA signature declares it. */
typedef union cuda_arg {
    dsa_cu_deviceptr ptr;
    long long i64;
    int i32;
    unsigned int u32;
    unsigned short u16;
    unsigned char u8;
    float f32;
} cuda_arg;

/* Marshals a launch's arguments (buffers, scalars, then per buffer its element offset: template.h)
 * and enqueues it; the context is current. */
static dsa_status launch(dsa_context *ctx, dsa_op op, int index, const dsa_launch *l, const cuda_kernel *k)
{
    cuda_ctx *c = impl_of(ctx);
    const dsa_signature *sig = &k->sig;
    if (sig->n_buffers != l->n_buffers || sig->n_scalars != l->n_scalars)
        return dsa_fail(DSA_ERROR_INTERNAL,
                        "%s: launch %d (%s): the plan gives %d buffers and %d scalars, the kernel takes %d and %d",
                        dsa_op_name(op), index, l->kernel->name, l->n_buffers, l->n_scalars, sig->n_buffers,
                        sig->n_scalars);
    cuda_arg values[3 * DSA_MAX_KERNEL_ARGS];
    void *params[3 * DSA_MAX_KERNEL_ARGS];
    int n = 0;
    for (int i = 0; i < l->n_buffers; i++) {
        const dsa_buffer *b = l->buffers[i].buffer;
        values[n].ptr = b ? devptr(b->native) : 0; /* the base: the kernel adds the offset itself */
        n++;
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
        values[n].i64 = (long long)(off / size);
        n++;
    }
    for (int i = 0; i < n; i++) params[i] = &values[i];
    dsa_cu_result r = c->cu->cuLaunchKernel(k->fn, l->grid[0], l->grid[1], l->grid[2], (unsigned)l->spec.block, 1, 1,
                                            (unsigned)k->sig.shared_bytes, c->stream, params, NULL);
    if (r != DSA_CU_SUCCESS)
        return dsa_cu_fail(r, "cuLaunchKernel", "%s on cuda:%d: launch %d, kernel %s, grid %ux%ux%u, block %d",
                           dsa_op_name(op), ctx->info.index, index, l->kernel->name, l->grid[0], l->grid[1],
                           l->grid[2], l->spec.block);
    if (dsa_log_enabled("op"))
        dsa_log(DSA_LOG_DEBUG, "op", "%s on cuda:%d: launched %s, grid %ux%ux%u, block %d", dsa_op_name(op),
                ctx->info.index, l->kernel->name, l->grid[0], l->grid[1], l->grid[2], l->spec.block);
    return DSA_SUCCESS;
}

/* ---- ops ---- */

static dsa_status cuda_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    return dsa_plan_workspace(&ctx->info, op, args, bytes);
}

/* Compiles every kernel the plan for these shapes would launch (buffers may be NULL: the plan reads
 * only shapes and dtypes, and nothing is launched). */
static dsa_status cuda_prepare(dsa_context *ctx, dsa_op op, const void *args)
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
    st = enter(ctx, "prepare");
    if (st != DSA_SUCCESS) return st;
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) {
        cuda_kernel *k;
        st = get_kernel(ctx, &plan.launch[i], &k);
    }
    leave(ctx);
    return st;
}

static dsa_status cuda_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    dsa_plan plan;
    dsa_status st = dsa_plan_build(&ctx->info, op, args, ws, &plan);
    if (st != DSA_SUCCESS) return st;
    st = enter(ctx, dsa_op_name(op));
    if (st != DSA_SUCCESS) return st;
    /* Every kernel first, so that a compile failure enqueues nothing of the op. */
    cuda_kernel *kernels[DSA_PLAN_MAX_LAUNCHES];
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) st = get_kernel(ctx, &plan.launch[i], &kernels[i]);
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) st = launch(ctx, op, i, &plan.launch[i], kernels[i]);
    leave(ctx);
    return st;
}

const dsa_backend_ops dsa_cuda_backend = {
    .id = DSA_BACKEND_CUDA,
    .probe = cuda_probe,
    .context_create = cuda_context_create,
    .context_destroy = cuda_context_destroy,
    .synchronize = cuda_synchronize,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .buffer_wrap = cuda_buffer_wrap,
    .buffer_write = cuda_buffer_write,
    .buffer_read = cuda_buffer_read,
    .buffer_copy = cuda_buffer_copy,
    .buffer_fill = cuda_buffer_fill,
    .workspace_size = cuda_workspace_size,
    .prepare = cuda_prepare,
    .run = cuda_run,
};
