/* The fp64 oracle for the indexer and sparse MLA: naive loops, written separately from the CPU
 * backend and sharing no code with the library. Inputs are packed logical arrays already decoded to
 * double (the caller decodes bf16/fp8 with its own decoders); outputs are double. */
#ifndef DSA_ORACLE_ATTN_H
#define DSA_ORACLE_ATTN_H

#include <stdint.h>

/* logits[i*Skv + j] = k_scale[j] * sum_h max(0, q[i,h,:].k[j,:]) * weights[i*H+h] for
 * clamp(ks[i],0,Skv) <= j < clamp(ke[i],0,Skv), -INFINITY elsewhere. k_scale NULL means 1. */
void oracle_indexer_logits(int64_t S, int64_t H, int64_t D, int64_t Skv, const double *q,
                           const double *k, const double *k_scale, const double *weights,
                           const int32_t *ks, const int32_t *ke, double *logits);

/* Paged decode form (docs/ops.md 1b). keys [num_pages*P*D] and scales [num_pages*P] are the
 * decoded cache contents indexed by physical slot (page*P + token). logits is [B*N*M]. */
void oracle_indexer_decode_logits(int64_t B, int64_t N, int64_t H, int64_t D, int64_t M, int64_t P,
                                  int64_t num_pages, int64_t max_pages, const double *q,
                                  const double *keys, const double *scales, const double *weights,
                                  const int32_t *context_lens, const int32_t *block_table,
                                  double *logits);

/* Sparse attention over rows kv[Skv*Dqk] (the first Dv dims are V) for Q queries:
 * q [Q*Hq*Dqk], indices [Q*topk] (entries < 0 or >= Skv skipped), topk_length [Q] or NULL (entries
 * [0, clamp(len, 0, topk)) used), sink [Hq] or NULL. Outputs out [Q*Hq*Dv], max_logits [Q*Hq],
 * lse [Q*Hq]; an empty row gives out 0, max_logits -inf, lse +inf. Serves both prefill and decode
 * (decode: Q = B*Sq, kv = the dequantized cache indexed by slot, topk_length expanded per query). */
void oracle_sparse_mla(int64_t Q, int64_t Hq, int64_t Dqk, int64_t Dv, int64_t Skv, int64_t topk,
                       const double *q, const double *kv, const int32_t *indices,
                       const int32_t *topk_length, const double *sink, double sm_scale, double *out,
                       double *max_logits, double *lse);

#endif
