/* Version, dtype, backend and op names; tensor view constructors. */
#include "internal.h"

#include <string.h>

#define STR2(x) #x
#define STR(x) STR2(x)

int dsa_version(void) { return DSA_API_VERSION; }
const char *dsa_version_string(void)
{
    return STR(DSA_VERSION_MAJOR) "." STR(DSA_VERSION_MINOR) "." STR(DSA_VERSION_PATCH);
}

size_t dsa_dtype_size(dsa_dtype t)
{
    switch (t) {
    case DSA_BF16: case DSA_FP16: return 2;
    case DSA_FP32: case DSA_INT32: return 4;
    case DSA_UINT8: case DSA_FP8_E4M3: return 1;
    default: return 0;
    }
}

const char *dsa_dtype_name(dsa_dtype t)
{
    switch (t) {
    case DSA_BF16: return "bf16";
    case DSA_FP16: return "fp16";
    case DSA_FP32: return "fp32";
    case DSA_INT32: return "int32";
    case DSA_UINT8: return "uint8";
    case DSA_FP8_E4M3: return "fp8_e4m3";
    default: return "invalid";
    }
}

const char *dsa_backend_name(dsa_backend b)
{
    static const char *names[DSA_BACKEND_COUNT] = {"cpu", "cuda", "hip", "opencl", "vulkan"};
    return (unsigned)b < DSA_BACKEND_COUNT ? names[b] : "unknown";
}

const char *dsa_op_name(dsa_op op)
{
    static const char *names[DSA_OP_COUNT] = {
        "unknown",          "indexer_logits",  "indexer_decode_logits", "topk",
        "sparse_mla_prefill", "sparse_mla_decode", "kv_cache_write",   "index_cache_write",
        "kv_cache_read",    "index_cache_read", "quantize_fp8",         "dequantize_fp8"};
    return (unsigned)op < DSA_OP_COUNT ? names[op] : "unknown";
}

dsa_tensor dsa_tensor_none(void)
{
    dsa_tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

dsa_tensor dsa_tensor_make(dsa_buffer *buffer, uint64_t offset, dsa_dtype dtype, int rank,
                           const int64_t *shape, const int64_t *strides)
{
    dsa_tensor t = dsa_tensor_none();
    t.buffer = buffer;
    t.offset = offset;
    t.dtype = dtype;
    if (rank < 1 || rank > DSA_MAX_RANK || !shape) return t; /* rank 0 with a buffer: rejected */
    t.rank = rank;
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.strides[d] = strides ? strides[d] : stride;
        stride *= shape[d] > 0 ? shape[d] : 1;
    }
    return t;
}
