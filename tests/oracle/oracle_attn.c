/* The fp64 oracle for the indexer and sparse MLA (see oracle_attn.h). Written from docs/ops.md
 * alone, as plain loops: it must stay obviously correct, not fast, and it shares nothing with the
 * library (no core/ or backends/ header), so a misunderstanding in one cannot hide in the other. */
#include "oracle_attn.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* ks/ke and similar device values are clamped to [0, n] (docs/ops.md 1). */
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t d = 0; d < n; d++)
        s += a[d] * b[d];
    return s;
}

/* sum_h max(0, q[h,:].key) * w[h], the common core of both indexer forms. */
static double indexer_score(int64_t H, int64_t D, const double *q_row, const double *key,
                            const double *w_row)
{
    double acc = 0.0;
    for (int64_t h = 0; h < H; h++) {
        double d = dot(q_row + h * D, key, D);
        acc += (d > 0.0 ? d : 0.0) * w_row[h];
    }
    return acc;
}

void oracle_indexer_logits(int64_t S, int64_t H, int64_t D, int64_t Skv, const double *q,
                           const double *k, const double *k_scale, const double *weights,
                           const int32_t *ks, const int32_t *ke, double *logits)
{
    for (int64_t i = 0; i < S; i++) {
        int64_t lo = clamp64(ks[i], 0, Skv), hi = clamp64(ke[i], 0, Skv);
        for (int64_t j = 0; j < Skv; j++) {
            double v = -INFINITY;
            if (j >= lo && j < hi) {
                double sc = k_scale ? k_scale[j] : 1.0;
                v = sc * indexer_score(H, D, q + i * H * D, k + j * D, weights + i * H);
            }
            logits[i * Skv + j] = v;
        }
    }
}

void oracle_indexer_decode_logits(int64_t B, int64_t N, int64_t H, int64_t D, int64_t M, int64_t P,
                                  int64_t num_pages, int64_t max_pages, const double *q,
                                  const double *keys, const double *scales, const double *weights,
                                  const int32_t *context_lens, const int32_t *block_table,
                                  double *logits)
{
    for (int64_t b = 0; b < B; b++) {
        for (int64_t n = 0; n < N; n++) {
            int64_t r = b * N + n;
            int64_t pos = (int64_t)context_lens[b] - N + n; /* 64-bit, per docs/ops.md 1b */
            for (int64_t j = 0; j < M; j++) {
                double v = -INFINITY;
                int64_t pi = j / P;
                int64_t page = pi < max_pages ? block_table[b * max_pages + pi] : -1;
                if (j <= pos && pi < max_pages && page >= 0 && page < num_pages) {
                    int64_t slot = page * P + j % P;
                    v = scales[slot] * indexer_score(H, D, q + r * H * D, keys + slot * D,
                                                     weights + r * H);
                }
                logits[r * M + j] = v;
            }
        }
    }
}

/* One (query, head) of sparse attention: two passes over the used entries (logits and their
 * max, then the exp-weighted sums), all in fp64. Entries outside [0, Skv) are skipped; p is
 * scratch for `used` logits. */
static void sparse_row(int64_t Dqk, int64_t Dv, int64_t Skv, int64_t used, const double *qh,
                       const double *kv, const int32_t *idx, const double *sink, double sm_scale,
                       double *p, double *out, double *max_logit, double *lse)
{
    double mx = -INFINITY;
    int64_t valid = 0;
    for (int64_t t = 0; t < used; t++) {
        if (idx[t] < 0 || idx[t] >= Skv)
            continue;
        p[t] = dot(qh, kv + (int64_t)idx[t] * Dqk, Dqk) * sm_scale;
        mx = p[t] > mx ? p[t] : mx;
        valid++;
    }
    for (int64_t d = 0; d < Dv; d++)
        out[d] = 0.0;
    if (valid == 0) {
        *max_logit = -INFINITY;
        *lse = INFINITY;
        return;
    }
    double denom = 0.0;
    for (int64_t t = 0; t < used; t++) {
        if (idx[t] < 0 || idx[t] >= Skv)
            continue;
        const double *row = kv + (int64_t)idx[t] * Dqk;
        double e = exp(p[t] - mx);
        denom += e;
        for (int64_t d = 0; d < Dv; d++)
            out[d] += e * row[d];
    }
    double l = mx + log(denom);
    /* With a sink, out *= exp(lse) / (exp(lse) + exp(sink)) = 1 / (1 + exp(sink - lse)). */
    double f = 1.0 / denom;
    if (sink)
        f /= 1.0 + exp(*sink - l);
    for (int64_t d = 0; d < Dv; d++)
        out[d] *= f;
    *max_logit = mx;
    *lse = l;
}

void oracle_sparse_mla(int64_t Q, int64_t Hq, int64_t Dqk, int64_t Dv, int64_t Skv, int64_t topk,
                       const double *q, const double *kv, const int32_t *indices,
                       const int32_t *topk_length, const double *sink, double sm_scale, double *out,
                       double *max_logits, double *lse)
{
    /* Scratch for one row's logits. The oracle cannot report failure, so if it cannot get it the
     * reference becomes NaN everywhere and the case fails loudly instead of passing by accident. */
    double *p = malloc((size_t)(topk > 0 ? topk : 1) * sizeof *p);
    if (!p) {
        for (int64_t x = 0; x < Q * Hq; x++) {
            max_logits[x] = lse[x] = NAN;
            for (int64_t d = 0; d < Dv; d++)
                out[x * Dv + d] = NAN;
        }
        return;
    }
    for (int64_t i = 0; i < Q; i++) {
        int64_t used = topk_length ? clamp64(topk_length[i], 0, topk) : topk;
        for (int64_t h = 0; h < Hq; h++) {
            int64_t qh = i * Hq + h;
            sparse_row(Dqk, Dv, Skv, used, q + qh * Dqk, kv, indices + i * topk,
                       sink ? sink + h : NULL, sm_scale, p, out + qh * Dv, max_logits + qh,
                       lse + qh);
        }
    }
    free(p);
}
