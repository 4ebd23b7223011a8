/* The op dispatcher: validate (core/validate.c), resolve the workspace, call the backend. */
#include "internal.h"

#include <stdlib.h>

/* Workspaces handed to kernels start on this boundary (CPU vector loads, GPU alignment rules). */
#define DSA_WORKSPACE_ALIGN 256u

static dsa_status check_ctx(dsa_context *ctx, dsa_op op)
{
    if (!ctx) return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: ctx is NULL", dsa_op_name(op));
    return DSA_SUCCESS;
}

/* Grows the context's own workspace; only prepare or a call without a workspace gets here. */
static dsa_status grow_own_workspace(dsa_context *ctx, uint64_t need)
{
    if (need == 0 || (ctx->own_ws && ctx->own_ws->size >= need)) return DSA_SUCCESS;
    dsa_log(DSA_LOG_INFO, "op", "growing the context workspace to %llu bytes",
            (unsigned long long)need);
    if (ctx->own_ws) {
        dsa_status st = ctx->ops->synchronize(ctx);
        if (st != DSA_SUCCESS) return st;
        ctx->ops->buffer_free(ctx, ctx->own_ws->native);
        free(ctx->own_ws);
        ctx->own_ws = NULL;
    }
    dsa_buffer *b = calloc(1, sizeof *b);
    if (!b) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "workspace: out of host memory");
    dsa_status st = ctx->ops->buffer_alloc(ctx, need, &b->native);
    if (st != DSA_SUCCESS) {
        free(b);
        return st;
    }
    b->ctx = ctx;
    b->size = need;
    b->owned = 1;
    ctx->own_ws = b; /* not counted in live_buffers: the context frees it */
    return DSA_SUCCESS;
}

static dsa_status resolve_workspace(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws,
                                    uint64_t need, dsa_workspace *out)
{
    const char *name = dsa_op_name(op);
    if (!ws) {
        dsa_status st = grow_own_workspace(ctx, need);
        if (st != DSA_SUCCESS) return st;
        out->buffer = need ? ctx->own_ws : NULL;
        out->offset = 0;
        out->size = need;
        return DSA_SUCCESS;
    }
    if (need == 0) {
        *out = *ws;
        return DSA_SUCCESS;
    }
    if (!ws->buffer)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: workspace.buffer is NULL, expected %llu bytes",
                        name, (unsigned long long)need);
    if (ws->buffer->ctx != ctx)
        return dsa_fail(DSA_ERROR_WRONG_CONTEXT, "%s: workspace.buffer belongs to another context", name);
    if (ws->offset % DSA_WORKSPACE_ALIGN)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: workspace.offset is %llu, expected a multiple of %u",
                        name, (unsigned long long)ws->offset, DSA_WORKSPACE_ALIGN);
    if (ws->offset > ws->buffer->size || ws->size > ws->buffer->size - ws->offset)
        return dsa_fail(DSA_ERROR_OUT_OF_BOUNDS,
                        "%s: workspace [%llu, +%llu) exceeds its buffer's %llu bytes", name,
                        (unsigned long long)ws->offset, (unsigned long long)ws->size,
                        (unsigned long long)ws->buffer->size);
    if (ws->size < need)
        return dsa_fail(DSA_ERROR_WORKSPACE_TOO_SMALL, "%s: workspace.size is %llu, expected >= %llu",
                        name, (unsigned long long)ws->size, (unsigned long long)need);
    dsa_status st = dsa_validate_workspace(op, args, ws->buffer, ws->offset, ws->offset + ws->size);
    if (st != DSA_SUCCESS) return st;
    *out = *ws;
    return DSA_SUCCESS;
}

dsa_status dsa_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    dsa_status st = check_ctx(ctx, op);
    if (st != DSA_SUCCESS) return st;
    if (!bytes) return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: bytes is NULL", dsa_op_name(op));
    st = dsa_validate(ctx, op, args, 0);
    if (st != DSA_SUCCESS) return st;
    return ctx->ops->workspace_size(ctx, op, args, bytes);
}

dsa_status dsa_prepare(dsa_context *ctx, dsa_op op, const void *args)
{
    uint64_t need = 0;
    dsa_status st = dsa_workspace_size(ctx, op, args, &need);
    if (st == DSA_SUCCESS) st = grow_own_workspace(ctx, need);
    if (st == DSA_SUCCESS) st = ctx->ops->prepare(ctx, op, args);
    return st;
}

dsa_status dsa_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    dsa_status st = check_ctx(ctx, op);
    if (st != DSA_SUCCESS) return st;
    st = dsa_validate(ctx, op, args, 1);
    if (st != DSA_SUCCESS) return st;
    uint64_t need = 0;
    st = ctx->ops->workspace_size(ctx, op, args, &need);
    if (st != DSA_SUCCESS) return st;
    dsa_workspace eff;
    st = resolve_workspace(ctx, op, args, ws, need, &eff);
    if (st != DSA_SUCCESS) return st;
    return ctx->ops->run(ctx, op, args, &eff);
}

#define TYPED_ENTRY(fn, op, args_t)                                                                 \
    dsa_status fn(dsa_context *ctx, const args_t *args, const dsa_workspace *ws)                    \
    {                                                                                               \
        return dsa_run(ctx, op, args, ws);                                                          \
    }
TYPED_ENTRY(dsa_indexer_logits, DSA_OP_INDEXER_LOGITS, dsa_indexer_args)
TYPED_ENTRY(dsa_indexer_decode_logits, DSA_OP_INDEXER_DECODE_LOGITS, dsa_indexer_decode_args)
TYPED_ENTRY(dsa_topk, DSA_OP_TOPK, dsa_topk_args)
TYPED_ENTRY(dsa_sparse_mla_prefill, DSA_OP_SPARSE_MLA_PREFILL, dsa_sparse_mla_prefill_args)
TYPED_ENTRY(dsa_sparse_mla_decode, DSA_OP_SPARSE_MLA_DECODE, dsa_sparse_mla_decode_args)
TYPED_ENTRY(dsa_kv_cache_write, DSA_OP_KV_CACHE_WRITE, dsa_cache_write_args)
TYPED_ENTRY(dsa_index_cache_write, DSA_OP_INDEX_CACHE_WRITE, dsa_cache_write_args)
TYPED_ENTRY(dsa_kv_cache_read, DSA_OP_KV_CACHE_READ, dsa_cache_read_args)
TYPED_ENTRY(dsa_index_cache_read, DSA_OP_INDEX_CACHE_READ, dsa_cache_read_args)
TYPED_ENTRY(dsa_quantize_fp8, DSA_OP_QUANTIZE_FP8, dsa_quantize_args)
TYPED_ENTRY(dsa_dequantize_fp8, DSA_OP_DEQUANTIZE_FP8, dsa_dequantize_args)
#undef TYPED_ENTRY
