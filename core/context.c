/* Contexts and buffers: backend-neutral checks, then the backend's table. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

dsa_status dsa_context_create(const char *selector, dsa_context **out)
{
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = selector;
    return dsa_context_create_ex(&desc, out);
}

dsa_status dsa_context_create_ex(const dsa_context_desc *desc, dsa_context **out)
{
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_create: out is NULL");
    *out = NULL;
    if (!desc) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_create: desc is NULL");
    if (desc->num_threads < 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: num_threads is %d, expected >= 0",
                        desc->num_threads);
    dsa_device_info info;
    dsa_status st = dsa_select_device(desc->selector, &info);
    if (st != DSA_SUCCESS) return st;
    dsa_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    ctx->ops = dsa_backend_table(info.backend);
    ctx->info = info;
    st = ctx->ops->context_create(ctx, desc);
    if (st != DSA_SUCCESS) {
        free(ctx);
        return st;
    }
    dsa_log(DSA_LOG_INFO, "device", "context on %s:%d (%s)", dsa_backend_name(info.backend),
            info.index, info.name);
    *out = ctx;
    return DSA_SUCCESS;
}

dsa_status dsa_context_destroy(dsa_context *ctx)
{
    if (!ctx) return DSA_SUCCESS;
    if (ctx->live_buffers > 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "context_destroy: %d buffer(s) of this context are still allocated; free them first",
                        ctx->live_buffers);
    dsa_status st = ctx->ops->synchronize(ctx);
    if (ctx->own_ws) {
        ctx->ops->buffer_free(ctx, ctx->own_ws->native);
        free(ctx->own_ws);
    }
    ctx->ops->context_destroy(ctx);
    free(ctx);
    return st;
}

dsa_status dsa_context_get_info(const dsa_context *ctx, dsa_device_info *info)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_get_info: ctx is NULL");
    if (!info) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_get_info: info is NULL");
    *info = ctx->info;
    return DSA_SUCCESS;
}

dsa_status dsa_synchronize(dsa_context *ctx)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "synchronize: ctx is NULL");
    return ctx->ops->synchronize(ctx);
}

dsa_status dsa_context_wait_events(dsa_context *ctx, void *const *events, int n)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_wait_events: ctx is NULL");
    if (n < 0 || n > 64) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_wait_events: n is %d, expected 0..64", n);
    if (n > 0 && !events) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_wait_events: events is NULL");
    for (int i = 0; i < n; i++)
        if (!events[i]) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_wait_events: events[%d] is NULL", i);
    if (!ctx->ops->wait_events) {
        if (n == 0) return DSA_SUCCESS;
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "context_wait_events: the %s backend takes no native events",
                        dsa_backend_name(ctx->info.backend));
    }
    return ctx->ops->wait_events(ctx, events, n);
}

dsa_status dsa_context_take_event(dsa_context *ctx, void **event)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_take_event: ctx is NULL");
    if (!event) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_take_event: event is NULL");
    *event = NULL;
    return ctx->ops->take_event ? ctx->ops->take_event(ctx, event) : DSA_SUCCESS;
}

dsa_status dsa_context_take_semaphore(dsa_context *ctx, dsa_semaphore *out)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_take_semaphore: ctx is NULL");
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "context_take_semaphore: out is NULL");
    out->handle = NULL;
    out->value = 0;
    if (!ctx->ops->take_semaphore)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "context_take_semaphore: the %s backend has no semaphores%s",
                        dsa_backend_name(ctx->info.backend),
                        ctx->ops->take_event ? " (use dsa_context_take_event)" : "");
    return ctx->ops->take_semaphore(ctx, out);
}

/* ---- buffers ---- */

static dsa_status new_buffer(dsa_context *ctx, void *native, uint64_t bytes, int owned, dsa_buffer **out)
{
    dsa_buffer *b = calloc(1, sizeof *b);
    if (!b) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "buffer: out of host memory");
    b->ctx = ctx;
    b->native = native;
    b->size = bytes;
    b->owned = owned;
    ctx->live_buffers++;
    *out = b;
    return DSA_SUCCESS;
}

dsa_status dsa_buffer_alloc(dsa_context *ctx, uint64_t bytes, dsa_buffer **out)
{
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_alloc: out is NULL");
    *out = NULL;
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_alloc: ctx is NULL");
    if (ctx->info.max_buffer_bytes && bytes > ctx->info.max_buffer_bytes)
        return dsa_fail(DSA_ERROR_DEVICE_OUT_OF_MEMORY,
                        "buffer_alloc: bytes is %llu, larger than the device's largest buffer (%llu)",
                        (unsigned long long)bytes, (unsigned long long)ctx->info.max_buffer_bytes);
    void *native = NULL;
    dsa_status st = ctx->ops->buffer_alloc(ctx, bytes, &native);
    if (st != DSA_SUCCESS) return st;
    st = new_buffer(ctx, native, bytes, 1, out);
    if (st != DSA_SUCCESS) ctx->ops->buffer_free(ctx, native);
    return st;
}

dsa_status dsa_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes, dsa_buffer **out)
{
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_wrap: out is NULL");
    *out = NULL;
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_wrap: ctx is NULL");
    if (!native) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_wrap: native handle is NULL");
    dsa_status st = ctx->ops->buffer_wrap(ctx, native, bytes);
    if (st != DSA_SUCCESS) return st;
    return new_buffer(ctx, native, bytes, 0, out);
}

dsa_status dsa_buffer_free(dsa_buffer *buf)
{
    if (!buf) return DSA_SUCCESS;
    dsa_context *ctx = buf->ctx;
    /* The queue may still use owned memory: wait before handing it back. A wrapper hands nothing
     * back, so it does not wait: the application keeps its memory alive until the work using it
     * is done, as for its own work on that queue (a binding wraps per call and must not stall). */
    dsa_status st = buf->owned ? ctx->ops->synchronize(ctx) : DSA_SUCCESS;
    if (buf->owned) ctx->ops->buffer_free(ctx, buf->native);
    ctx->live_buffers--;
    free(buf);
    return st;
}

/* offset + bytes <= size, without overflow. */
static dsa_status check_range(const char *fn, const char *what, const dsa_buffer *b, uint64_t offset,
                              uint64_t bytes)
{
    if (offset > b->size || bytes > b->size - offset)
        return dsa_fail(DSA_ERROR_OUT_OF_BOUNDS,
                        "%s: %s range [%llu, %llu + %llu) exceeds the buffer's %llu bytes", fn, what,
                        (unsigned long long)offset, (unsigned long long)offset,
                        (unsigned long long)bytes, (unsigned long long)b->size);
    return DSA_SUCCESS;
}

dsa_status dsa_buffer_write(dsa_buffer *dst, uint64_t offset, const void *src, uint64_t bytes)
{
    if (!dst) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_write: dst is NULL");
    if (!src && bytes) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_write: src is NULL");
    dsa_status st = check_range("buffer_write", "destination", dst, offset, bytes);
    if (st != DSA_SUCCESS || bytes == 0) return st;
    return dst->ctx->ops->buffer_write(dst->ctx, dst->native, offset, src, bytes);
}

dsa_status dsa_buffer_read(dsa_buffer *src, uint64_t offset, void *dst, uint64_t bytes)
{
    if (!src) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_read: src is NULL");
    if (!dst && bytes) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_read: dst is NULL");
    dsa_status st = check_range("buffer_read", "source", src, offset, bytes);
    if (st != DSA_SUCCESS || bytes == 0) return st;
    return src->ctx->ops->buffer_read(src->ctx, src->native, offset, dst, bytes);
}

dsa_status dsa_buffer_copy(dsa_buffer *dst, uint64_t dst_offset, dsa_buffer *src, uint64_t src_offset,
                           uint64_t bytes)
{
    if (!dst) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_copy: dst is NULL");
    if (!src) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_copy: src is NULL");
    if (dst->ctx != src->ctx)
        return dsa_fail(DSA_ERROR_WRONG_CONTEXT, "buffer_copy: src and dst belong to different contexts");
    dsa_status st = check_range("buffer_copy", "destination", dst, dst_offset, bytes);
    if (st == DSA_SUCCESS) st = check_range("buffer_copy", "source", src, src_offset, bytes);
    if (st != DSA_SUCCESS || bytes == 0) return st;
    /* Device copy engines do not promise memmove semantics, so overlap is refused everywhere. */
    if (dst->native == src->native && dst_offset < src_offset + bytes && src_offset < dst_offset + bytes)
        return dsa_fail(DSA_ERROR_ALIASING, "buffer_copy: source and destination ranges overlap");
    return dst->ctx->ops->buffer_copy(dst->ctx, dst->native, dst_offset, src->native, src_offset, bytes);
}

dsa_status dsa_buffer_fill(dsa_buffer *dst, uint64_t offset, uint8_t byte, uint64_t bytes)
{
    if (!dst) return dsa_fail(DSA_ERROR_NULL_POINTER, "buffer_fill: dst is NULL");
    dsa_status st = check_range("buffer_fill", "destination", dst, offset, bytes);
    if (st != DSA_SUCCESS || bytes == 0) return st;
    return dst->ctx->ops->buffer_fill(dst->ctx, dst->native, offset, byte, bytes);
}

uint64_t dsa_buffer_size(const dsa_buffer *buf) { return buf ? buf->size : 0; }
void *dsa_buffer_native(const dsa_buffer *buf) { return buf ? buf->native : NULL; }
