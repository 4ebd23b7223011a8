/* Work counted per op, so that every benchmark (dsa bench, cpu_vs_oracle, GPU runs) converts
 * times into GFLOP/s and GB/s the same way. Only useful work is counted: skipped indices, keys
 * outside a row's range and padding are not. The formulas are documented in perf/README.md. */
#ifndef DSA_PERF_FORMULAS_H
#define DSA_PERF_FORMULAS_H

#include <stdint.h>

/* Sparse MLA (prefill or decode): 2 * Hq * (Dqk + Dv) per (query, valid selected index): the
 * QK^T dot (Dqk multiply-adds) and the PV accumulation (Dv multiply-adds) per head.
 * valid_total is the sum over queries of the number of valid used indices. */
double perf_flops_sparse_mla(int64_t Hq, int64_t Dqk, int64_t Dv, int64_t valid_total);

/* Lightning indexer: per (query, key) pair inside the row's range, H dots of D multiply-adds plus
 * the weighted sum over heads (one multiply and one add per head): 2*H*D + 2*H. */
double perf_flops_indexer(int64_t H, int64_t D, int64_t valid_pairs);

/* Number of (i, j) pairs with clamp(ks[i]) <= j < clamp(ke[i]) over [0, Skv). */
int64_t perf_indexer_valid_pairs(int64_t S, int64_t Skv, const int32_t *ks, const int32_t *ke);
/* Paged decode form: row b*N+n sees keys 0..context_lens[b]-N+n (and < M). */
int64_t perf_indexer_decode_valid_pairs(int64_t B, int64_t N, int64_t M, const int32_t *context_lens);

/* Sparse MLA decode bytes: the gathered 656-byte cache rows (each valid index of each query read
 * once), the bf16 queries and the bf16 outputs. */
double perf_bytes_sparse_mla_decode(int64_t Q, int64_t Hq, int64_t valid_total);

/* Top-k bytes: the fp32 scores inside the rows' ranges read once, the int32 indices written. */
double perf_bytes_topk(int64_t scores_in_range, int64_t S, int64_t k);

/* Cache writers: rows read (row_bytes each) plus their int32 slots, packed entries written
 * (656 bytes per token for the MLA cache, 132 for the indexer cache). Readers the reverse. */
double perf_bytes_cache_write(int64_t N, int64_t row_elems, int64_t elem_bytes, int64_t entry_bytes);
double perf_bytes_cache_read(int64_t N, int64_t row_elems, int64_t elem_bytes, int64_t entry_bytes);

/* Quantize: n input values read, n fp8 bytes and n/128 fp32 scales written; dequantize reverse. */
double perf_bytes_quantize(int64_t n, int64_t in_bytes);
double perf_bytes_dequantize(int64_t n, int64_t out_bytes);

#endif
