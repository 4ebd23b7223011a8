/* The CPU backend's kernels: the hand-written reference that every other backend is compared with
 * (shared/DESIGN.md, invariant 1). Each op is one function in its own file:
 *   cpu_indexer.c     indexer logits (prefill and paged decode)
 *   cpu_topk.c        top-k selection
 *   cpu_sparse_mla.c  sparse MLA prefill and decode
 *   cpu_cache.c       cache writers/readers, fp8 quantize/dequantize
 * Arguments arrive validated by core (core/validate.c): dtypes, shapes, strides and views are as
 * the header documents, buffers are host memory. Device-resident values (indices, ranges, slots,
 * page tables, lengths) are NOT checked: every kernel clamps or skips them per docs/ops.md.
 * Work is split over the context's threads with cpu_parallel_for; each output element is written
 * by exactly one task and reductions run in a fixed order, so results are bitwise reproducible
 * whatever the thread count. */
#ifndef DSA_CPU_KERNELS_H
#define DSA_CPU_KERNELS_H

#include "dsa.h"

#include <stdint.h>

typedef struct cpu_pool cpu_pool;

/* Runs fn(arg, begin, end, thread) over [0, n) split into chunks of `grain` items (grain >= 1),
 * on the pool's threads plus the caller; returns when all are done. thread is in
 * [0, cpu_pool_threads(pool)) and identifies per-thread scratch. */
typedef void (*cpu_task_fn)(void *arg, int64_t begin, int64_t end, int thread);
void cpu_parallel_for(cpu_pool *pool, int64_t n, int64_t grain, cpu_task_fn fn, void *arg);
int cpu_pool_threads(const cpu_pool *pool);

/* Host address of a view's element (0, ..., 0). */
static inline char *cpu_ptr(const dsa_tensor *t)
{
    return t->buffer ? (char *)dsa_buffer_native(t->buffer) + t->offset : (char *)0;
}

/* Each op: a workspace-size function (bytes of scratch for `threads` threads; the pointer passed
 * to the kernel is 64-byte aligned) and the kernel. ws may be NULL when the size is 0. */
#define DSA_CPU_OP(name, args_t)                                                                    \
    uint64_t cpu_##name##_workspace(int threads, const args_t *a);                                  \
    dsa_status cpu_##name(cpu_pool *pool, const args_t *a, void *ws)

DSA_CPU_OP(indexer_logits, dsa_indexer_args);
DSA_CPU_OP(indexer_decode_logits, dsa_indexer_decode_args);
DSA_CPU_OP(topk, dsa_topk_args);
DSA_CPU_OP(sparse_mla_prefill, dsa_sparse_mla_prefill_args);
DSA_CPU_OP(sparse_mla_decode, dsa_sparse_mla_decode_args);
DSA_CPU_OP(kv_cache_write, dsa_cache_write_args);
DSA_CPU_OP(index_cache_write, dsa_cache_write_args);
DSA_CPU_OP(kv_cache_read, dsa_cache_read_args);
DSA_CPU_OP(index_cache_read, dsa_cache_read_args);
DSA_CPU_OP(quantize_fp8, dsa_quantize_args);
DSA_CPU_OP(dequantize_fp8, dsa_dequantize_args);

#undef DSA_CPU_OP

/* cpu_gemm.c: C[m][n] += sum_k A(m, k) * B[k][n] for m < M, n < N; N must be a multiple of 8.
 * A(m, k) = A[m * a_row + k * a_col] (either layout, so a transposed operand needs no copy);
 * B and C are row-major with row strides ldb, ldc (in floats). Fixed summation order. */
void cpu_sgemm_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_row, int64_t a_col,
                   const float *B, int64_t ldb, float *C, int64_t ldc);
#endif
