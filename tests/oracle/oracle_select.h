/* The naive oracle for top-k selection, the fp8/bf16/fp16 encodings, FP8 group quantization and the
 * two cache layouts (docs/ops.md sections 2 and 5). Written from the contract alone, sharing no code
 * with the library: encodings search the decoded code values in double instead of manipulating
 * bits, and top-k sorts every candidate with a comparator that spells out the key order. Slow on
 * purpose; correctness by inspection is the point. */
#ifndef DSA_ORACLE_SELECT_H
#define DSA_ORACLE_SELECT_H

#include <stdint.h>

/* ---- scalar encodings ---- */

/* fp8 e4m3 (OCP E4M3FN) byte -> value; 0x7F/0xFF decode to NaN. */
double oracle_fp8_decode(uint8_t b);
/* Nearest of the finite e4m3 codes to clamp(x, -448, 448), ties to the even mantissa; the sign of x
 * is kept for zero (negative -> 0x80); NaN -> 0x7F | sign. */
uint8_t oracle_fp8_encode(double x);

/* bf16 and IEEE binary16: decode exactly; encode = nearest representable value, ties to even
 * mantissa, overflow to infinity (IEEE rule: at or past max + half an ulp), NaN stays NaN. */
double oracle_bf16_decode(uint16_t h);
uint16_t oracle_bf16_encode(double x);
double oracle_fp16_decode(uint16_t h);
uint16_t oracle_fp16_encode(double x);
/* IEEE fp32 bits <-> value, and double -> fp32 rounded to nearest even (the C cast). */
double oracle_f32_decode(uint32_t u);
uint32_t oracle_f32_encode(double x);

/* ---- FP8 group quantization ---- */

/* The smallest power of two s with max(amax, 1e-4) <= 448 * s, by a loop over exponents. */
double oracle_fp8_scale_for_amax(double amax);
/* One group of n values: amax over the finite |x|, scale as above, codes q[t] = e4m3(x[t] / s). */
void oracle_quantize_group(const double *x, int64_t n, uint8_t *q, double *scale);
/* The fp32 bits of decode(q) * s rounded to fp32, and the bf16 bits of it rounded to bf16. */
uint32_t oracle_dequant_f32(uint8_t q, double s);
uint16_t oracle_dequant_bf16(uint8_t q, double s);

/* ---- cache layouts ---- */
enum { ORACLE_KV_BYTES = 656, ORACLE_INDEX_BYTES = 132 };

/* The 656 bytes of one MLA cache token from a 576-value row: 4 groups of 128 quantized, the 4 fp32
 * scales little-endian at 512, the 64 rope values as bf16 (RNE) little-endian at 528. */
void oracle_kv_pack(const double *row, uint8_t out[ORACLE_KV_BYTES]);
/* Same, but the rope values are given as bf16 bits (bf16 rows copy them unchanged). */
void oracle_kv_pack_bf16rope(const double *row, const uint16_t *rope, uint8_t out[ORACLE_KV_BYTES]);
/* Indexer key token: 128 fp8 values and the fp32 scale bits. */
void oracle_index_pack(const double *row, uint8_t vals[128], uint32_t *scale_bits);

/* Little-endian helpers for cache bytes. */
uint32_t oracle_le32(const uint8_t *p);
void oracle_put_le32(uint8_t *p, uint32_t v);

/* ---- top-k ---- */

/* Key order of docs/ops.md: returns > 0 when column a ranks higher than column b, < 0 when lower.
 * NaN < -inf < numbers < +inf, +0 == -0, then the lower column wins (never 0 for a != b). */
int oracle_topk_rank_cmp(float va, int64_t a, float vb, int64_t b);
/* The row range [lo, hi) of row i: from ks/ke (both non-NULL), lengths (non-NULL), or [0, L). */
void oracle_topk_range(int64_t L, const int32_t *ks, const int32_t *ke, const int32_t *lengths,
                       int64_t i, int64_t *lo, int64_t *hi);
/* The min(k, hi - lo) highest-ranked columns of row[lo, hi), highest first, into cols; returns the
 * count. row is indexed by absolute column. */
int64_t oracle_topk_row(const float *row, int64_t lo, int64_t hi, int64_t k, int64_t *cols);
/* Slot form of column j: block_table row bt (max_pages entries), page size P; -1 if unmappable. */
int64_t oracle_topk_slot(const int32_t *bt, int64_t max_pages, int64_t P, int64_t j);

#endif
