/* Kernel family: the lightning indexer (kernels/indexer_logits.dsa, kernels/indexer_decode_logits.dsa).
 * Both run one algorithm (kernels/indexer_scores.dsai) on tiles and fragments: the rows of the
 * scores gemm are (query, head) pairs in m-tiles of 16 heads (HEADS = the op's H, padded to whole
 * m-tiles), TILE_M queries a block, their m-tiles spread over the block's warps (IX_WM each, all
 * 128 dims of q in registers), TILE_N keys a tile (16-row k-steps of the B operand). Shared memory:
 * stages key tiles of 16-bit operands (bf16 stages, fp8 raw + converted, fp32 hi/lo planes), the
 * warps' partial sums, a scratch for the portable column sums, ranges, scales and validity.
 * core/plan_indexer.c sets heads, in_dtype and the layout per call. */
#include "template.h"
#include "internal.h"

/* m-tiles a warp holds: each costs FRAG_A_WORDS(8) registers of q (32 on the mma path), twice for
 * fp32 (hi and lo). */
#define IX_MAX_WM 4

static int m_tiles_per_warp(const dsa_spec *s)
{
    int mg = (s->heads + 15) / 16, warps = s->block / 32;
    return (s->tile_m * mg + warps - 1) / warps;
}

/* Rules of the shared tile scheme (both kernels). */
static dsa_status check_tiles(const char *kernel, const dsa_spec *s)
{
    if (s->dim != 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec dim is %d, expected 128 (indexer head dim)", kernel,
                        s->dim);
    if (s->heads < 1 || s->heads > 128)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec heads is %d, expected 1..128 (the op's H)", kernel,
                        s->heads);
    if (s->tile_n < 16 || s->tile_n > 128 || s->tile_n % 16 != 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_n is %d, expected a multiple of 16 in 16..128 "
                        "(keys a tile: pairs of 8-key n-tiles)", kernel, s->tile_n);
    if (s->tile_m < 1 || s->tile_m > 64)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_m is %d, expected 1..64 (queries a block)", kernel,
                        s->tile_m);
    if (s->stages < 2 || s->stages > 3)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec stages is %d, expected 2 (key tiles: two stages, or "
                        "fp8 converted + raw) or 3 (fp8: the next tile converted while one is used)", kernel,
                        s->stages);
    int wm = m_tiles_per_warp(s);
    if (wm > IX_MAX_WM)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec tile_m=%d heads=%d block=%d gives %d m-tiles of 16 "
                        "heads a warp, expected at most %d (fewer queries a block or more threads)", kernel,
                        s->tile_m, s->heads, s->block, wm, IX_MAX_WM);
    return DSA_SUCCESS;
}

static dsa_status check_prefill(const dsa_spec *s)
{
    if (s->in_dtype != DSA_FP8_E4M3 && s->in_dtype != DSA_BF16 && s->in_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "indexer_logits: spec in_dtype is %s, expected fp8, bf16 or fp32",
                        dsa_dtype_name(s->in_dtype));
    return check_tiles("indexer_logits", s);
}

static dsa_status check_decode(const dsa_spec *s)
{
    if (s->in_dtype != DSA_FP8_E4M3)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "indexer_decode_logits: spec in_dtype is %s, expected fp8",
                        dsa_dtype_name(s->in_dtype));
    return check_tiles("indexer_decode_logits", s);
}

/* The arrays both templates declare: kbuf (stages tiles of key rows, 64 words + 16 bytes each), part
 * (F32, a row of TILE_N per m-tile at most), scratch (BLOCK F32), srange (I64), sscale, svalid. */
static uint64_t tile_shared(const dsa_spec *s)
{
    uint64_t tn = (uint64_t)s->tile_n, mg = (uint64_t)(s->heads + 15) / 16u;
    uint64_t kbuf = 4u * (uint64_t)s->stages * tn * (uint64_t)(s->dim / 2 + 4);
    uint64_t part = 4u * (uint64_t)s->tile_m * mg * tn;
    uint64_t scratch = 4u * (uint64_t)s->block;
    uint64_t srange = 8u * 2u * (uint64_t)s->tile_m;
    return kbuf + part + scratch + srange + 4u * 2u * tn + 4u * 2u * tn;
}

/* Portable defaults: 128 threads (4 warps), one query of 64 heads a block (an m-tile a warp), 32 keys
 * a tile: 18.6 KiB of shared memory, inside the 32 KiB every device offers. core/plan_indexer.c
 * fits tile_m to the op's H, and on CUDA with bf16 matrix units takes the tensor-core layout. */
static void tile_defaults(dsa_spec *s)
{
    s->block = 128;
    s->tile_m = 1;
    s->tile_n = 32;
    s->tile_k = 0; /* unused */
    s->stages = 2;
    s->heads = 64;
    s->dim = 128;
    s->in_dtype = DSA_FP8_E4M3;
    s->out_dtype = DSA_FP32;
}

static const dsa_kernel_entry entries[] = {
    {"indexer_logits", "lightning indexer logits (prefill): relu(q.k) * w summed over heads, ks/ke ranges",
     check_prefill, tile_shared, tile_defaults},
    {"indexer_decode_logits", "lightning indexer logits (decode) over the paged 132-byte fp8 key cache",
     check_decode, tile_shared, tile_defaults},
};

const dsa_kernel_family dsa_family_indexer = {entries, (int)(sizeof entries / sizeof entries[0])};
