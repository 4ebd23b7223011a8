/* Kernel family: the lightning indexer (kernels/indexer_logits.dsa, kernels/indexer_decode_logits.dsa).
 * Both templates share one tile scheme: a block owns TILE_N keys (decoded to fp32, transposed, all
 * DIM = 128 dims in shared memory) and computes, per query, C[h][n] = q[h] . k[n] over all HEADS
 * heads (HEADS = the op's H, so the micro-tile loops unroll) with q streamed in TILE_K-dim chunks.
 * Thread mapping: TILE_N / 4 threads across the keys (4 keys each), BLOCK / (TILE_N / 4) thread
 * rows across the heads. core/plan_indexer.c sets heads and in_dtype per call. */
#include "template.h"
#include "internal.h"

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

/* Rules of the shared tile scheme (both kernels). */
static dsa_status check_tiles(const char *kernel, const dsa_spec *s)
{
    if (s->dim != 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec dim is %d, expected 128 (indexer head dim)", kernel,
                        s->dim);
    if (s->heads < 1 || s->heads > 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec heads is %d, expected 1..128 (the op's H)", kernel,
                        s->heads);
    /* 4 keys per thread, and the key threads (tile_n / 4) must divide the block evenly. */
    if (!is_pow2(s->tile_n) || s->tile_n < 4 || s->tile_n > 4 * s->block)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_n is %d, expected a power of two in 4..%d "
                        "(4 * block)", kernel, s->tile_n, 4 * s->block);
    if (!is_pow2(s->tile_k) || s->tile_k > 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_k is %d, expected a power of two in 1..128 "
                        "(it divides dim)", kernel, s->tile_k);
    return DSA_SUCCESS;
}

static dsa_status check_prefill(const dsa_spec *s)
{
    if (s->in_dtype != DSA_FP8_E4M3 && s->in_dtype != DSA_BF16 && s->in_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "indexer_logits: spec in_dtype is %s, expected fp8, bf16 or fp32",
                        dsa_dtype_name(s->in_dtype));
    if (s->tile_m < 1 || s->tile_m > 256)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "indexer_logits: spec tile_m is %d, expected 1..256 (queries "
                        "per tile)", s->tile_m);
    return check_tiles("indexer_logits", s);
}

static dsa_status check_decode(const dsa_spec *s)
{
    if (s->in_dtype != DSA_FP8_E4M3)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "indexer_decode_logits: spec in_dtype is %s, expected fp8",
                        dsa_dtype_name(s->in_dtype));
    return check_tiles("indexer_decode_logits", s);
}

/* The arrays both templates declare: skt, sq, sw, part, sscale (all fp32). */
static uint64_t tile_shared(const dsa_spec *s)
{
    uint64_t thread_rows = 4u * (uint64_t)s->block / (uint64_t)s->tile_n;
    uint64_t skt = (uint64_t)s->dim * (uint64_t)(s->tile_n + 1);
    uint64_t sq = (uint64_t)s->tile_k * ((uint64_t)s->heads + thread_rows);
    uint64_t sw = (uint64_t)s->heads + thread_rows;
    uint64_t part = 4u * (uint64_t)s->block;
    return 4u * (skt + sq + sw + part + (uint64_t)s->tile_n);
}

/* srange: [lo, hi) per query of the tile */
static uint64_t prefill_shared(const dsa_spec *s) { return tile_shared(s) + 8u * (uint64_t)s->tile_m; }

/* skey (I64 per key) and srange (4 draft queries) */
static uint64_t decode_shared(const dsa_spec *s) { return tile_shared(s) + 8u * (uint64_t)s->tile_n + 16u; }

/* Portable defaults: 128 threads, 32 keys x 8 queries a tile, 16-dim q chunks; about 24 KiB of shared
 * memory at 64 heads and 28 KiB at 128, inside the 32 KiB every device offers. */
static void tile_defaults(dsa_spec *s)
{
    s->block = 128;
    s->tile_m = 8;
    s->tile_n = 32;
    s->tile_k = 16;
    s->heads = 64;
    s->dim = 128;
    s->in_dtype = DSA_FP8_E4M3;
    s->out_dtype = DSA_FP32;
}

static void decode_defaults(dsa_spec *s)
{
    tile_defaults(s);
    s->tile_m = 0; /* unused: a tile's queries are the N <= 4 draft tokens of one batch */
}

static const dsa_kernel_entry entries[] = {
    {"indexer_logits", "lightning indexer logits (prefill): relu(q.k) * w summed over heads, ks/ke ranges",
     check_prefill, prefill_shared, tile_defaults},
    {"indexer_decode_logits", "lightning indexer logits (decode) over the paged 132-byte fp8 key cache",
     check_decode, decode_shared, decode_defaults},
};

const dsa_kernel_family dsa_family_indexer = {entries, (int)(sizeof entries / sizeof entries[0])};
