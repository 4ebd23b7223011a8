/* Work counted per op (see formulas.h and perf/README.md). All in double: counts reach 1e13. */
#include "formulas.h"

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

double perf_flops_sparse_mla(int64_t Hq, int64_t Dqk, int64_t Dv, int64_t valid_total)
{
    return 2.0 * (double)Hq * (double)(Dqk + Dv) * (double)valid_total;
}

double perf_flops_indexer(int64_t H, int64_t D, int64_t valid_pairs)
{
    return (2.0 * (double)H * (double)D + 2.0 * (double)H) * (double)valid_pairs;
}

int64_t perf_indexer_valid_pairs(int64_t S, int64_t Skv, const int32_t *ks, const int32_t *ke)
{
    int64_t total = 0;
    for (int64_t i = 0; i < S; i++) {
        int64_t lo = clamp64(ks[i], 0, Skv), hi = clamp64(ke[i], 0, Skv);
        if (hi > lo)
            total += hi - lo;
    }
    return total;
}

int64_t perf_indexer_decode_valid_pairs(int64_t B, int64_t N, int64_t M, const int32_t *context_lens)
{
    int64_t total = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < N; n++) {
            int64_t pos = (int64_t)context_lens[b] - N + n; /* sees keys 0..pos */
            total += clamp64(pos + 1, 0, M);
        }
    return total;
}

double perf_bytes_sparse_mla_decode(int64_t Q, int64_t Hq, int64_t valid_total)
{
    return 656.0 * (double)valid_total + 2.0 * (double)Q * (double)Hq * (576.0 + 512.0);
}

double perf_bytes_topk(int64_t scores_in_range, int64_t S, int64_t k)
{
    return 4.0 * (double)scores_in_range + 4.0 * (double)S * (double)k;
}

double perf_bytes_cache_write(int64_t N, int64_t row_elems, int64_t elem_bytes, int64_t entry_bytes)
{
    return (double)N * ((double)(row_elems * elem_bytes) + 4.0 + (double)entry_bytes);
}

double perf_bytes_cache_read(int64_t N, int64_t row_elems, int64_t elem_bytes, int64_t entry_bytes)
{
    return perf_bytes_cache_write(N, row_elems, elem_bytes, entry_bytes);
}

double perf_bytes_quantize(int64_t n, int64_t in_bytes)
{
    return (double)n * ((double)in_bytes + 1.0) + 4.0 * (double)(n / 128);
}

double perf_bytes_dequantize(int64_t n, int64_t out_bytes)
{
    return perf_bytes_quantize(n, out_bytes);
}
