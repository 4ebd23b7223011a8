/* Kernel family: sparse MLA (kernels/sparse_mla_prefill.dsa, sparse_mla_decode.dsa,
 * sparse_mla_combine.dsa). Prefill and decode are one algorithm (kernels/sparse_mla_attention.dsai)
 * with different row loaders, so they share the layout rules and the shared-memory sizing. */
#include "template.h"
#include "internal.h"

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

/* Prefill and decode run one algorithm (kernels/sparse_mla_attention.dsai) on tiles and fragments:
 * heads in groups of 16 (the fragments' rows), block / 32 warps of which block / 32 / (heads / 16)
 * share a head group as K slices (1, 2 or 4: they split both 36 or 32 k-steps and the 512 output
 * dims), tile_n kv rows a tile (16-row k-steps). */
static dsa_status check_attention(const char *name, const dsa_spec *s)
{
    if (!is_pow2(s->block) || s->block < 32 || s->block > 512)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec block is %d, expected a power of two in 32..512 "
                        "(whole warps)", name, s->block);
    if (!is_pow2(s->heads) || s->heads < 16 || s->heads / 16 > s->block / 32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec heads is %d, expected a power of two >= 16 "
                        "with a warp per 16 heads (block %d)", name, s->heads, s->block);
    int slices = s->block / 32 / (s->heads / 16);
    if (slices > 4)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec block=%d heads=%d gives %d warps per 16 heads, "
                        "expected 1, 2 or 4 (more heads or a smaller block)", name, s->block, s->heads, slices);
    if (s->tile_n < 16 || s->tile_n > 64 || s->tile_n % 16 != 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_n is %d, expected 16, 32, 48 or 64", name,
                        s->tile_n);
    if (s->stages > 2)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec stages is %d, expected 1 or 2 (one tile loaded "
                        "ahead)", name, s->stages);
    return DSA_SUCCESS;
}

static dsa_status check_prefill(const dsa_spec *s)
{
    if (s->dim != 512 && s->dim != 576)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "sparse_mla_prefill: spec dim is %d, expected 512 or 576", s->dim);
    return check_attention("sparse_mla_prefill", s);
}

static dsa_status check_decode(const dsa_spec *s)
{
    if (s->dim != 576)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "sparse_mla_decode: spec dim is %d, expected 576", s->dim);
    return check_attention("sparse_mla_decode", s);
}

static dsa_status check_combine(const dsa_spec *s)
{
    if (s->block > 512)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "sparse_mla_combine: spec block is %d, expected <= 512",
                        s->block);
    return DSA_SUCCESS;
}

/* Bytes of `tiles` bf16 kv tiles (rows padded by 16 bytes) plus the arrays both attention kernels
 * declare the same: sp (F32 partial-score rows of TILE_N + 8), ring (I32) and scan (U32). */
static uint64_t attention_common(const dsa_spec *s, uint64_t tiles)
{
    uint64_t tn = (uint64_t)s->tile_n, b = (uint64_t)s->block;
    return 4u * (tiles * tn * (uint64_t)(s->dim / 2 + 4) + b / 32u * 16u * (tn + 8u) + 2u * b + b);
}

/* Prefill (sparse_mla_prefill.dsa): a kv tile per stage. */
static uint64_t attention_shared(const dsa_spec *s) { return attention_common(s, (uint64_t)s->stages); }

/* Decode (sparse_mla_decode.dsa): one bf16 tile; with two stages the raw cache rows of two tiles
 * (656 bytes a row) that its loader copies ahead (16 bytes with one); the two tiles' row byte
 * offsets (I64). */
static uint64_t decode_shared(const dsa_spec *s)
{
    uint64_t tn = (uint64_t)s->tile_n;
    uint64_t raw = 4u * ((uint64_t)(s->stages > 1 ? s->stages - 1 : 0) * 2u * tn * 164u + 4u);
    return attention_common(s, 1u) + raw + 8u * 2u * tn;
}

/* 128 threads, 16 heads, 16 rows a tile: 23.8 KiB of shared memory (portable); the plan picks the
 * tensor-core layout where the device has one (core/plan_mla.c). */
static void prefill_defaults(dsa_spec *s)
{
    s->block = 128;
    s->heads = 16;
    s->tile_n = 16;
    s->dim = 576;
    s->in_dtype = DSA_BF16;
    s->out_dtype = DSA_BF16;
}

static void decode_defaults(dsa_spec *s)
{
    prefill_defaults(s);
    s->in_dtype = DSA_FP8_E4M3;
}

static void combine_defaults(dsa_spec *s) { s->out_dtype = DSA_BF16; }

static const dsa_kernel_entry entries[] = {
    {"sparse_mla_prefill", "sparse MLA prefill: bf16 kv rows gathered by index, online softmax", check_prefill,
     attention_shared, prefill_defaults},
    {"sparse_mla_decode", "sparse MLA decode: paged FP8 cache rows dequantized once per block", check_decode,
     decode_shared, decode_defaults},
    {"sparse_mla_combine", "sparse MLA: merges the partial results of a split row", check_combine, NULL,
     combine_defaults},
};

const dsa_kernel_family dsa_family_mla = {entries, (int)(sizeof entries / sizeof entries[0])};
