/* Kernel family: cache writers and readers (kernels/cache_mark.dsa, cache_write.dsa,
 * cache_read.dsa). One template per direction serves both caches: spec.dim 576 is the 656-byte MLA
 * KV cache, spec.dim 128 the 132-byte indexer key cache (core/plan_cache.c sets it per op). The
 * writer runs after cache_mark, which finds the rows a later row overrides. */
#include "template.h"
#include "internal.h"

static dsa_status check_dim(const char *kernel, const dsa_spec *s)
{
    if (s->dim != 576 && s->dim != 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "%s: spec dim is %d, expected 576 (KV cache rows) or 128 (index cache rows)", kernel, s->dim);
    return DSA_SUCCESS;
}

/* BLOCK is a power of two for the writer's halving-tree reduction: core's own rule (spec.c). */
static dsa_status check_write(const dsa_spec *s)
{
    if (s->in_dtype != DSA_BF16 && s->in_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "cache_write: spec in_dtype is %s, expected bf16 or fp32",
                        dsa_dtype_name(s->in_dtype));
    return check_dim("cache_write", s);
}

static dsa_status check_read(const dsa_spec *s)
{
    if (s->out_dtype != DSA_BF16 && s->out_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "cache_read: spec out_dtype is %s, expected fp32 or bf16",
                        dsa_dtype_name(s->out_dtype));
    return check_dim("cache_read", s);
}

static uint64_t block_words(const dsa_spec *s) { return (uint64_t)s->block * 4u; } /* red / tile[BLOCK] */

/* The cache holds e4m3 values: the writer's out_dtype and the reader's in_dtype say so. */
static void write_defaults(dsa_spec *s)
{
    s->dim = 576;
    s->in_dtype = DSA_BF16;
    s->out_dtype = DSA_FP8_E4M3;
}

static void read_defaults(dsa_spec *s)
{
    s->dim = 576;
    s->in_dtype = DSA_FP8_E4M3;
    s->out_dtype = DSA_FP32;
}

static void mark_defaults(dsa_spec *s)
{
    s->in_dtype = DSA_INT32;
    s->out_dtype = DSA_INT32;
}

static const dsa_kernel_entry entries[] = {
    {"cache_mark", "cache writers' last-row-wins rule: marks each row a later row of the same slot overrides",
     NULL, block_words, mark_defaults},
    {"cache_write", "KV (dim 576) / index (dim 128) cache writer: fp8 groups, scales, rope; last row wins",
     check_write, block_words, write_defaults},
    {"cache_read", "KV (dim 576) / index (dim 128) cache reader: dequantized rows to fp32 or bf16", check_read,
     NULL, read_defaults},
};

const dsa_kernel_family dsa_family_cache = {entries, (int)(sizeof entries / sizeof entries[0])};
