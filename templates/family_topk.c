/* Kernel family: top-k selection (docs/ops.md section 2; plans in core/plan_topk.c).
 *   topk_select  radix select + collection, one block per row, the row's bucket of candidates in
 *                shared memory when it fits (kernels/topk_select.dsa)
 *   topk_sort    bitonic sort of runs of TILE_N selected columns in shared memory (sorted path)
 *   topk_merge   one pass merging sorted runs pairwise (sorted path, rows longer than one run) */
#include "template.h"
#include "internal.h"

enum { TOPK_HIST = 2048 }; /* buckets of the widest digit, the size of topk_select's hist[] */

static dsa_status check_select(const dsa_spec *s)
{
    /* The collection packs a chunk's two counts into 16-bit halves of one U32. */
    if (s->tile_k < 1 || (int64_t)s->block * s->tile_k > 65535)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "topk_select: spec tile_k is %d with block %d, expected "
                        "tile_k >= 1 and block * tile_k <= 65535", s->tile_k, s->block);
    /* tile_n: the candidates (key + column, 8 bytes each) a row's bucket may hold in shared memory */
    if (s->tile_n < 1 || s->tile_n > (1 << 20))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "topk_select: spec tile_n is %d, expected 1..1048576 (shared "
                        "candidates)", s->tile_n);
    return DSA_SUCCESS;
}

/* hist, scan, cut and cand (U32), as declared in kernels/topk_select.dsa */
static uint64_t select_shared(const dsa_spec *s)
{
    return ((uint64_t)TOPK_HIST + (uint64_t)s->block + 4u + 2u * (uint64_t)s->tile_n) * 4u;
}

static dsa_status check_sort(const dsa_spec *s)
{
    /* Runs of at least 1024 keep a row of 65536 within 64 runs: one sort and at most six merge
     * passes, so a plan stays within DSA_PLAN_MAX_LAUNCHES. */
    if (s->tile_n < 1024 || (s->tile_n & (s->tile_n - 1)) != 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "topk_sort: spec tile_n is %d, expected a power of two >= 1024",
                        s->tile_n);
    return DSA_SUCCESS;
}

static uint64_t sort_shared(const dsa_spec *s) { return (uint64_t)s->tile_n * 8u; }

/* 2048 candidates: 16 KiB, 25 KiB in all with 256 threads (the portable 32 KiB). */
static void select_defaults(dsa_spec *s)
{
    s->block = 256;
    s->tile_k = 16;
    s->tile_n = 2048;
}

static void sort_defaults(dsa_spec *s)
{
    s->block = 256;
    s->tile_n = 2048;
}

static void merge_defaults(dsa_spec *s) { s->block = 256; }

static const dsa_kernel_entry entries[] = {
    {"topk_select", "top-k radix select and collection, one block per row", check_select, select_shared,
     select_defaults},
    {"topk_sort", "top-k sorted path: bitonic sort of runs of selected columns", check_sort, sort_shared,
     sort_defaults},
    {"topk_merge", "top-k sorted path: one pass merging sorted runs", NULL, NULL, merge_defaults},
};

const dsa_kernel_family dsa_family_topk = {entries, (int)(sizeof entries / sizeof entries[0])};
