/* Internal runtime structures shared by core/ and the backends. Not installed. */
#ifndef DSA_CORE_INTERNAL_H
#define DSA_CORE_INTERNAL_H

#include "dsa.h"

#include <stdarg.h>
#include <stdint.h>

/* ---- errors and logging (core/error.c, core/log.c) ------------------------------------------ */

/* Sets the thread-local message (printf-style) and returns status, so call sites read
 * `return dsa_fail(DSA_ERROR_BAD_SHAPE, "q: shape[2] is %lld, expected 128", ...)`.
 * The message is also logged at DSA_LOG_DEBUG in category "api". */
dsa_status dsa_fail(dsa_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void dsa_log(dsa_log_level level, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether anyone would see a message of this category (avoid formatting work otherwise). */
int dsa_log_enabled(const char *category);

/* ---- compile failures (core/compile_log.c) ---- */
/* DSA_ERROR_COMPILE with the compiler's log and the generated lines it points at; the whole log is
 * also sent to the "compile" log category. */
dsa_status dsa_compile_failure(const char *compiler, const char *kernel, const char *source, const char *log);

/* ---- backend table ---------------------------------------------------------------------------
 * A backend is a table of functions. Core validates every argument before calling into it, so a
 * backend may assume: non-NULL pointers, dtypes/shapes/strides as documented, views inside their
 * buffers, buffers belonging to the context, and a workspace of at least workspace_size bytes. */
typedef struct dsa_backend_ops {
    dsa_backend id;
    /* Fill up to max device descriptions; set *count. If the backend cannot run at all, return a
     * non-success status and a reason ("not built", "libcuda.so.1: not found"). */
    dsa_status (*probe)(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len);
    /* ctx->info and ctx->ops are set; create ctx->impl. */
    dsa_status (*context_create)(dsa_context *ctx, const dsa_context_desc *desc);
    void (*context_destroy)(dsa_context *ctx);
    dsa_status (*synchronize)(dsa_context *ctx);

    dsa_status (*buffer_alloc)(dsa_context *ctx, uint64_t bytes, void **native);
    void (*buffer_free)(dsa_context *ctx, void *native);
    /* Called for dsa_buffer_wrap; may reject a handle it can recognise as invalid. */
    dsa_status (*buffer_wrap)(dsa_context *ctx, void *native, uint64_t bytes);
    dsa_status (*buffer_write)(dsa_context *ctx, void *native, uint64_t offset, const void *src, uint64_t bytes);
    dsa_status (*buffer_read)(dsa_context *ctx, void *native, uint64_t offset, void *dst, uint64_t bytes);
    dsa_status (*buffer_copy)(dsa_context *ctx, void *dst, uint64_t dst_offset, void *src,
                              uint64_t src_offset, uint64_t bytes);
    dsa_status (*buffer_fill)(dsa_context *ctx, void *native, uint64_t offset, uint8_t byte, uint64_t bytes);

    /* Native event interop (may be NULL: the backend takes no events). */
    dsa_status (*wait_events)(dsa_context *ctx, void *const *events, int n);
    dsa_status (*take_event)(dsa_context *ctx, void **event);
    dsa_status (*take_semaphore)(dsa_context *ctx, dsa_semaphore *out); /* Vulkan */

    /* Op entry points; args are already validated. */
    dsa_status (*workspace_size)(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes);
    dsa_status (*prepare)(dsa_context *ctx, dsa_op op, const void *args);
    dsa_status (*run)(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws);
} dsa_backend_ops;

struct dsa_context {
    const dsa_backend_ops *ops;
    dsa_device_info info;
    void *impl;              /* backend's own state */
    dsa_buffer *own_ws;      /* the context's workspace, used when an op is given none */
    int live_buffers;        /* buffers not yet freed (destroy refuses while > 0) */
};

struct dsa_buffer {
    dsa_context *ctx;
    void *native; /* host pointer (CPU), device pointer, cl_mem, VkBuffer ... */
    uint64_t size;
    int owned;    /* allocated by the library (freed with the buffer) */
};

/* ---- registry (core/registry.c) ------------------------------------------------------------- */
/* The backend table for a backend, or NULL when it is not compiled in. */
const dsa_backend_ops *dsa_backend_table(dsa_backend b);
/* Resolve a selector (NULL/"auto" honour DSA_DEVICE) to a device description. */
dsa_status dsa_select_device(const char *selector, dsa_device_info *out);
/* Look up a device in the discovered list by backend and backend-local index. */
dsa_status dsa_registry_find(dsa_backend b, int index, dsa_device_info *info);

/* ---- validation (core/validate.c) -------------------------------------------------------------
 * Checks every host-checkable property of an op's arguments: required tensors present, dtypes,
 * ranks, shapes agreeing across arguments, strides, scalar ranges, views inside their buffers
 * (overflow-safe), buffers of this context, outputs not overlapping inputs or each other.
 * With need_buffers == 0 (workspace queries, prepare) a tensor's buffer may be NULL; everything
 * else is checked the same (bounds, context and aliasing wherever a buffer is given), so a query
 * never accepts arguments the op would reject. On failure the message names op, argument, value
 * and expectation. */
dsa_status dsa_validate(const dsa_context *ctx, dsa_op op, const void *args, int need_buffers);
/* A caller's workspace [begin, end) of `buffer` must not overlap the op's (validated) tensors. */
dsa_status dsa_validate_workspace(dsa_op op, const void *args, const dsa_buffer *buffer, uint64_t begin,
                                  uint64_t end);

/* Byte range [begin, end) of a view within its buffer; begin == end for an empty view. Returns
 * DSA_ERROR_OVERFLOW, without setting a message, if end exceeds 2^63 - 1 (so kernels may use
 * signed 64-bit offsets). */
dsa_status dsa_tensor_extent(const dsa_tensor *t, uint64_t *begin, uint64_t *end);
static inline int dsa_tensor_present(const dsa_tensor *t) { return t->buffer != NULL || t->rank != 0; }
static inline int64_t dsa_tensor_numel(const dsa_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

/* ---- built-in backends ---------------------------------------------------------------------- */
extern const dsa_backend_ops dsa_cpu_backend;

#endif
