/* The OpenCL backend's runtime: contexts and in-order queues (the library's own, or the
 * application's), cl_mem buffers, and ops run as the launch plans of core/plan.h, with each planned
 * kernel generated as OpenCL C (templates/), built once per context and kept in a small cache. */
#include "cl_api.h"
#include "cl_build.h"
#include "internal.h"
#include "kernel_cache.h"
#include "plan.h"
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CACHED_KERNELS 64

typedef struct cached_kernel {
    char key[256]; /* kernel name + every spec field */
    cl_program program;
    cl_kernel kernel;
    dsa_signature sig;
} cached_kernel;

typedef struct cl_ctx {
    const dsa_cl_api *cl;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int owns_handles; /* created here (released with the context) or the application's */
    cached_kernel cache[MAX_CACHED_KERNELS];
    int n_cached;
    cl_event waits[64]; /* the application's events the next op waits for (retained) */
    int n_waits;
    cl_event last;      /* completion of the last op, until the application takes it */
    cl_event tail;      /* the same event, kept until synchronize reads how the op ended */
} cl_ctx;

static void drop_events(cl_ctx *c)
{
    for (int i = 0; i < c->n_waits; i++) c->cl->clReleaseEvent(c->waits[i]);
    c->n_waits = 0;
}

static void set_last(cl_ctx *c, cl_event e)
{
    if (c->last) c->cl->clReleaseEvent(c->last);
    if (c->tail) c->cl->clReleaseEvent(c->tail);
    c->last = e;
    c->tail = e;
    if (e) c->cl->clRetainEvent(e);
}

static cl_ctx *impl(dsa_context *ctx) { return ctx->impl; }

/* ---- context ---- */

/* The application's queue must belong to its context and to the device, and run in order (a
 * plan's launches depend on each other). Checked once here, so that a mismatch is a message
 * rather than a driver error, or wrong results, in the middle of an op. A pointer that is no
 * OpenCL object at all cannot be told apart: the ICD loader reads through it. */
static dsa_status check_native_queue(const dsa_cl_api *cl, cl_context context, cl_command_queue queue,
                                     cl_device_id device)
{
    cl_context owner = NULL;
    cl_device_id on = NULL;
    cl_command_queue_properties props = 0;
    cl_int err = cl->clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS) err = cl->clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof on, &on, NULL);
    if (err == CL_SUCCESS) err = cl->clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (err != CL_SUCCESS)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: native_queue is not a usable cl_command_queue: "
                        "clGetCommandQueueInfo returned %s (%d)", dsa_cl_error_name(err), (int)err);
    if (owner != context)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "context_create: native_queue belongs to another cl_context than native_context");
    if (on != device)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: native_queue runs on another cl_device_id than "
                        "%s", "native_device (or the selected device, when native_device is NULL)");
    if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: native_queue is out of order; ops need an "
                        "in-order queue (their launches depend on each other)");
    return DSA_SUCCESS;
}

static dsa_status cl_context_create(dsa_context *ctx, const dsa_context_desc *desc)
{
    const dsa_cl_api *cl;
    dsa_status st = dsa_cl_load(&cl);
    if (st != DSA_SUCCESS) return st;
    cl_platform_id platform;
    cl_device_id device;
    st = dsa_cl_device_handles(ctx->info.index, &platform, &device);
    if (st != DSA_SUCCESS) return st;
    cl_ctx *c = calloc(1, sizeof *c);
    if (!c) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    c->cl = cl;
    c->device = desc->native_device ? (cl_device_id)desc->native_device : device;
    if (desc->native_context || desc->native_queue) {
        if (!desc->native_context || !desc->native_queue) {
            free(c);
            return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                            "context_create: OpenCL needs both native_context (cl_context) and native_queue "
                            "(cl_command_queue), or neither");
        }
        c->context = (cl_context)desc->native_context;
        c->queue = (cl_command_queue)desc->native_queue;
        st = check_native_queue(cl, c->context, c->queue, c->device);
        if (st != DSA_SUCCESS) {
            free(c);
            return st;
        }
    } else {
        cl_int err;
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
        c->context = cl->clCreateContext(props, 1, &device, NULL, NULL, &err);
        if (err == CL_SUCCESS) c->queue = cl->clCreateCommandQueue(c->context, device, 0, &err);
        if (err != CL_SUCCESS) {
            if (c->context) cl->clReleaseContext(c->context);
            free(c);
            return dsa_cl_fail(err, "clCreateContext/clCreateCommandQueue");
        }
        c->owns_handles = 1;
    }
    ctx->impl = c;
    return DSA_SUCCESS;
}

static void cl_context_destroy(dsa_context *ctx)
{
    cl_ctx *c = impl(ctx);
    drop_events(c);
    set_last(c, NULL);
    for (int i = 0; i < c->n_cached; i++) {
        c->cl->clReleaseKernel(c->cache[i].kernel);
        c->cl->clReleaseProgram(c->cache[i].program);
    }
    if (c->owns_handles) {
        c->cl->clReleaseCommandQueue(c->queue);
        c->cl->clReleaseContext(c->context);
    }
    free(c);
}

/* clFinish says the queue drained, not that its commands succeeded: a kernel the device aborted
 * (lost device, out of resources) or one cancelled by a failed event it waited for ends with a
 * negative status on its event, which is read here and returned with its CL name. */
static dsa_status cl_synchronize(dsa_context *ctx)
{
    cl_ctx *c = impl(ctx);
    cl_int err = c->cl->clFinish(c->queue);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clFinish");
    if (!c->tail) return DSA_SUCCESS;
    cl_int state = CL_COMPLETE;
    err = c->cl->clGetEventInfo(c->tail, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state, NULL);
    c->cl->clReleaseEvent(c->tail);
    c->tail = NULL;
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clGetEventInfo(CL_EVENT_COMMAND_EXECUTION_STATUS)");
    return state < 0 ? dsa_cl_fail(state, "the last op's kernel (its event's execution status)") : DSA_SUCCESS;
}

/* ---- buffers: every transfer completes before it returns (api/dsa.h) ---- */

static dsa_status cl_buffer_alloc(dsa_context *ctx, uint64_t bytes, void **native)
{
    cl_int err;
    cl_mem m = impl(ctx)->cl->clCreateBuffer(impl(ctx)->context, CL_MEM_READ_WRITE, bytes ? (size_t)bytes : 1,
                                             NULL, &err);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clCreateBuffer");
    *native = m;
    return DSA_SUCCESS;
}

static void cl_buffer_free(dsa_context *ctx, void *native) { impl(ctx)->cl->clReleaseMemObject((cl_mem)native); }

/* A wrapped cl_mem must be a buffer of this context holding at least `bytes` (the views' bounds
 * are checked against `bytes`); as for queues, a pointer that is no OpenCL object cannot be told. */
static dsa_status cl_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes)
{
    cl_ctx *c = impl(ctx);
    cl_context owner = NULL;
    cl_mem_object_type type = 0;
    size_t size = 0;
    cl_int err = c->cl->clGetMemObjectInfo((cl_mem)native, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS) err = c->cl->clGetMemObjectInfo((cl_mem)native, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err == CL_SUCCESS) err = c->cl->clGetMemObjectInfo((cl_mem)native, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "buffer_wrap: native is not a usable cl_mem: clGetMemObjectInfo "
                        "returned %s (%d)", dsa_cl_error_name(err), (int)err);
    if (owner != c->context)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "buffer_wrap: the cl_mem belongs to another cl_context than "
                        "the context's");
    if (type != CL_MEM_OBJECT_BUFFER)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "buffer_wrap: the cl_mem is not a buffer (CL_MEM_TYPE 0x%x)",
                        (unsigned)type);
    if ((uint64_t)size < bytes)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "buffer_wrap: bytes is %llu, but the cl_mem holds %llu",
                        (unsigned long long)bytes, (unsigned long long)size);
    return DSA_SUCCESS;
}

static dsa_status cl_buffer_write(dsa_context *ctx, void *native, uint64_t off, const void *src, uint64_t n)
{
    cl_ctx *c = impl(ctx);
    cl_int err = c->cl->clEnqueueWriteBuffer(c->queue, (cl_mem)native, CL_TRUE, (size_t)off, (size_t)n, src, 0,
                                             NULL, NULL);
    return err == CL_SUCCESS ? DSA_SUCCESS : dsa_cl_fail(err, "clEnqueueWriteBuffer");
}

static dsa_status cl_buffer_read(dsa_context *ctx, void *native, uint64_t off, void *dst, uint64_t n)
{
    cl_ctx *c = impl(ctx);
    cl_int err = c->cl->clEnqueueReadBuffer(c->queue, (cl_mem)native, CL_TRUE, (size_t)off, (size_t)n, dst, 0,
                                            NULL, NULL);
    return err == CL_SUCCESS ? DSA_SUCCESS : dsa_cl_fail(err, "clEnqueueReadBuffer");
}

static dsa_status cl_buffer_copy(dsa_context *ctx, void *dst, uint64_t doff, void *src, uint64_t soff, uint64_t n)
{
    cl_ctx *c = impl(ctx);
    cl_int err = c->cl->clEnqueueCopyBuffer(c->queue, (cl_mem)src, (cl_mem)dst, (size_t)soff, (size_t)doff,
                                            (size_t)n, 0, NULL, NULL);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clEnqueueCopyBuffer");
    return cl_synchronize(ctx);
}

static dsa_status cl_buffer_fill(dsa_context *ctx, void *native, uint64_t off, uint8_t byte, uint64_t n)
{
    cl_ctx *c = impl(ctx);
    cl_int err = c->cl->clEnqueueFillBuffer(c->queue, (cl_mem)native, &byte, 1, (size_t)off, (size_t)n, 0, NULL,
                                            NULL);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clEnqueueFillBuffer");
    return cl_synchronize(ctx);
}

/* ---- kernels ---- */

static void cache_key(const dsa_launch *l, char *key, size_t n)
{
    const dsa_spec *s = &l->spec;
    snprintf(key, n, "%s b%d m%d n%d k%d h%d d%d sg%d mx%d st%d i%d o%d hf%d px%d", l->kernel->name, s->block,
             s->tile_m, s->tile_n, s->tile_k, s->heads, s->dim, s->subgroup, s->matrix, s->stages, (int)s->in_dtype,
             (int)s->out_dtype, s->half, s->ptx);
}

/* OpenCL C 1.2 everywhere, except for kernels using the Khronos subgroup builtins, which the
 * language has from 2.0 on: those are built for the device's own version (2.x or 3.x, as
 * cl_api.c found the builtins there). */
static const char *cl_options(const dsa_context *ctx, const dsa_spec *spec)
{
    if (!spec->subgroup || spec->ptx) return "-cl-std=CL1.2";
    int major = 1, minor = 0;
    sscanf(ctx->info.runtime_version, "OpenCL %d.%d", &major, &minor);
    return major >= 3 ? "-cl-std=CL3.0" : "-cl-std=CL2.0";
}

/* A program from the disk cache (DSA_CACHE_DIR) when this exact source was built before for this
 * device, driver and library version; otherwise built from source and its binary stored. */
static dsa_status build_program(dsa_context *ctx, const char *name, const char *key, const char *source,
                                const char *options, cl_program *out)
{
    cl_ctx *c = impl(ctx);
    const char *parts[] = {"opencl", source, options, ctx->info.name, ctx->info.platform,
                           ctx->info.driver_version, ctx->info.runtime_version, dsa_version_string()};
    dsa_cache_key ck = dsa_cache_key_make(parts, (int)(sizeof parts / sizeof parts[0]));
    void *bin = NULL;
    size_t size = 0;
    if (dsa_cache_load(ck, "opencl-binary", &bin, &size) == DSA_SUCCESS && bin) {
        cl_int err, bin_status;
        const unsigned char *b = bin;
        cl_program p = c->cl->clCreateProgramWithBinary(c->context, 1, &c->device, &size, &b, &bin_status, &err);
        if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
            err = c->cl->clBuildProgram(p, 1, &c->device, options, NULL, NULL);
        free(bin);
        if (err == CL_SUCCESS) {
            *out = p;
            return DSA_SUCCESS;
        }
        if (p) c->cl->clReleaseProgram(p); /* a stale binary the driver refuses: rebuild from source */
        dsa_log(DSA_LOG_INFO, "cache", "opencl: cached binary for %s refused (%s); rebuilding", key,
                dsa_cl_error_name(err));
    }
    dsa_log(DSA_LOG_INFO, "compile", "opencl: building %s for %s", key, ctx->info.name);
    dsa_status st = dsa_cl_build(c->context, c->device, source, name, options, out);
    if (st == DSA_SUCCESS && dsa_cache_enabled() && dsa_cl_program_binary(*out, c->device, &bin, &size) == DSA_SUCCESS) {
        dsa_cache_store(ck, "opencl-binary", bin, size);
        free(bin);
    }
    return st;
}

/* The built kernel for a launch: from the context's cache, or generated and built now. */
static dsa_status get_kernel(dsa_context *ctx, const dsa_launch *l, cached_kernel **out)
{
    cl_ctx *c = impl(ctx);
    char key[256];
    cache_key(l, key, sizeof key);
    for (int i = 0; i < c->n_cached; i++) {
        if (strcmp(c->cache[i].key, key) == 0) {
            *out = &c->cache[i];
            return DSA_SUCCESS;
        }
    }
    if (c->n_cached == MAX_CACHED_KERNELS)
        return dsa_fail(DSA_ERROR_INTERNAL, "opencl: more than %d kernel specializations in one context",
                        MAX_CACHED_KERNELS);
    cached_kernel *k = &c->cache[c->n_cached];
    dsa_status st = dsa_kernel_signature(l->kernel, &l->spec, &k->sig);
    char *source = NULL;
    if (st == DSA_SUCCESS) st = dsa_generate(l->kernel, DSA_DIALECT_OPENCL, &l->spec, &source);
    if (st == DSA_SUCCESS)
        st = build_program(ctx, l->kernel->name, key, source, cl_options(ctx, &l->spec), &k->program);
    free(source);
    if (st != DSA_SUCCESS) return st;
    cl_int err;
    k->kernel = c->cl->clCreateKernel(k->program, k->sig.entry, &err);
    if (err != CL_SUCCESS) {
        c->cl->clReleaseProgram(k->program);
        return dsa_cl_fail(err, "clCreateKernel");
    }
    snprintf(k->key, sizeof k->key, "%s", key);
    c->n_cached++;
    *out = k;
    return DSA_SUCCESS;
}

/* Arguments in the generator's order: buffers, scalars by their declared type, then each
 * buffer's element offset. */
static dsa_status set_args(cl_ctx *c, cached_kernel *k, const dsa_launch *l)
{
    const dsa_signature *sig = &k->sig;
    if (sig->n_buffers != l->n_buffers || sig->n_scalars != l->n_scalars)
        return dsa_fail(DSA_ERROR_INTERNAL, "opencl: plan for %s passes %d buffers and %d scalars, the template "
                        "takes %d and %d", l->kernel->name, l->n_buffers, l->n_scalars, sig->n_buffers,
                        sig->n_scalars);
    cl_uint a = 0;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < sig->n_buffers && err == CL_SUCCESS; i++) {
        cl_mem m = (cl_mem)dsa_buffer_native(l->buffers[i].buffer);
        err = c->cl->clSetKernelArg(k->kernel, a++, sizeof m, &m);
    }
    for (int i = 0; i < sig->n_scalars && err == CL_SUCCESS; i++) {
        cl_long v64 = l->scalars[i].i;
        cl_int v32 = (cl_int)l->scalars[i].i;
        cl_float f = l->scalars[i].f;
        if (sig->scalar_type[i] == DSA_ARG_I64) err = c->cl->clSetKernelArg(k->kernel, a++, sizeof v64, &v64);
        else if (sig->scalar_type[i] == DSA_ARG_F32) err = c->cl->clSetKernelArg(k->kernel, a++, sizeof f, &f);
        else err = c->cl->clSetKernelArg(k->kernel, a++, sizeof v32, &v32);
    }
    for (int i = 0; i < sig->n_buffers && err == CL_SUCCESS; i++) {
        cl_long off = (cl_long)(l->buffers[i].byte_offset / dsa_arg_type_size(sig->buffer_type[i]));
        err = c->cl->clSetKernelArg(k->kernel, a++, sizeof off, &off);
    }
    return err == CL_SUCCESS ? DSA_SUCCESS : dsa_cl_fail(err, "clSetKernelArg");
}

/* Enqueues one launch; the first launch of an op waits for the application's events, and every
 * launch's event becomes the context's "last" (the queue is in order, so the last one signals the
 * whole op). */
static dsa_status enqueue(dsa_context *ctx, const dsa_launch *l, int first)
{
    cl_ctx *c = impl(ctx);
    cached_kernel *k;
    dsa_status st = get_kernel(ctx, l, &k);
    if (st == DSA_SUCCESS) st = set_args(c, k, l);
    if (st != DSA_SUCCESS) return st;
    size_t local[3] = {(size_t)l->spec.block, 1, 1};
    size_t global[3] = {(size_t)l->grid[0] * local[0], l->grid[1], l->grid[2]};
    cl_uint n_wait = first ? (cl_uint)c->n_waits : 0;
    cl_event done = NULL;
    cl_int err = c->cl->clEnqueueNDRangeKernel(c->queue, k->kernel, 3, NULL, global, local, n_wait,
                                               n_wait ? c->waits : NULL, &done);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clEnqueueNDRangeKernel");
    if (first) drop_events(c);
    set_last(c, done);
    return DSA_SUCCESS;
}

static dsa_status cl_wait_events(dsa_context *ctx, void *const *events, int n)
{
    cl_ctx *c = impl(ctx);
    if (c->n_waits + n > (int)(sizeof c->waits / sizeof c->waits[0]))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_wait_events: more than 64 pending events");
    for (int i = 0; i < n; i++) {
        cl_int err = c->cl->clRetainEvent((cl_event)events[i]);
        if (err != CL_SUCCESS) return dsa_cl_fail(err, "clRetainEvent");
        c->waits[c->n_waits++] = (cl_event)events[i];
    }
    return DSA_SUCCESS;
}

static dsa_status cl_take_event(dsa_context *ctx, void **event)
{
    cl_ctx *c = impl(ctx);
    *event = c->last; /* the caller now owns this reference */
    c->last = NULL;
    return DSA_SUCCESS;
}

static dsa_status cl_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    return dsa_plan_workspace(&ctx->info, op, args, bytes);
}

/* Builds every kernel the op's plan uses for these shapes, so later calls only enqueue. */
static dsa_status cl_prepare(dsa_context *ctx, dsa_op op, const void *args)
{
    dsa_plan plan;
    dsa_workspace none = {0};
    dsa_status st = dsa_plan_build(&ctx->info, op, args, &none, &plan);
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) {
        cached_kernel *k;
        st = get_kernel(ctx, &plan.launch[i], &k);
    }
    return st;
}

static dsa_status cl_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    dsa_plan plan;
    dsa_status st = dsa_plan_build(&ctx->info, op, args, ws, &plan);
    for (int i = 0; i < plan.n && st == DSA_SUCCESS; i++) st = enqueue(ctx, &plan.launch[i], i == 0);
    return st;
}

const dsa_backend_ops dsa_opencl_backend = {
    .id = DSA_BACKEND_OPENCL,
    .probe = dsa_cl_probe,
    .context_create = cl_context_create,
    .context_destroy = cl_context_destroy,
    .synchronize = cl_synchronize,
    .buffer_alloc = cl_buffer_alloc,
    .buffer_free = cl_buffer_free,
    .buffer_wrap = cl_buffer_wrap,
    .buffer_write = cl_buffer_write,
    .buffer_read = cl_buffer_read,
    .buffer_copy = cl_buffer_copy,
    .buffer_fill = cl_buffer_fill,
    .wait_events = cl_wait_events,
    .take_event = cl_take_event,
    .workspace_size = cl_workspace_size,
    .prepare = cl_prepare,
    .run = cl_run,
};
