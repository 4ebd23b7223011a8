/* The CPU backend's one dense building block: a small fp32 matrix multiply-accumulate, used by the
 * indexer (scores of a key block for all heads) and sparse MLA (scores and P x V per block). */
#include "cpu_kernels.h"

#include <string.h>

/* A 4 x 8 register tile: eight accumulators of 4 floats (SSE2 on baseline x86-64, NEON on arm64),
 * each A element broadcast against two vectors of B. Written with the GCC/Clang vector extension
 * because gcc, given plain loops, vectorizes the k loop as an in-order reduction instead (~4x
 * slower); other compilers get the same tile as plain loops. */
#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}

static inline void v4_store(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static void sgemm_4x8(int64_t K, const float *A, int64_t a_row, int64_t a_col, const float *B,
                      int64_t ldb, float *C, int64_t ldc)
{
    v4f c[4][2];
    for (int r = 0; r < 4; r++) {
        c[r][0] = v4_load(C + r * ldc);
        c[r][1] = v4_load(C + r * ldc + 4);
    }
    for (int64_t k = 0; k < K; k++) {
        const float *a = A + k * a_col, *b = B + k * ldb;
        v4f b0 = v4_load(b), b1 = v4_load(b + 4);
        for (int r = 0; r < 4; r++) {
            float x = a[r * a_row];
            v4f av = {x, x, x, x};
            c[r][0] += av * b0;
            c[r][1] += av * b1;
        }
    }
    for (int r = 0; r < 4; r++) {
        v4_store(C + r * ldc, c[r][0]);
        v4_store(C + r * ldc + 4, c[r][1]);
    }
}

static void sgemm_1x8(int64_t K, const float *A, int64_t a_col, const float *B, int64_t ldb, float *C)
{
    v4f c0 = v4_load(C), c1 = v4_load(C + 4);
    for (int64_t k = 0; k < K; k++) {
        float x = A[k * a_col];
        v4f av = {x, x, x, x};
        c0 += av * v4_load(B + k * ldb);
        c1 += av * v4_load(B + k * ldb + 4);
    }
    v4_store(C, c0);
    v4_store(C + 4, c1);
}
#else
static void sgemm_1x8(int64_t K, const float *A, int64_t a_col, const float *B, int64_t ldb, float *C)
{
    float c[8];
    for (int t = 0; t < 8; t++) c[t] = C[t];
    for (int64_t k = 0; k < K; k++)
        for (int t = 0; t < 8; t++) c[t] += A[k * a_col] * B[k * ldb + t];
    for (int t = 0; t < 8; t++) C[t] = c[t];
}

static void sgemm_4x8(int64_t K, const float *A, int64_t a_row, int64_t a_col, const float *B,
                      int64_t ldb, float *C, int64_t ldc)
{
    for (int r = 0; r < 4; r++) sgemm_1x8(K, A + r * a_row, a_col, B, ldb, C + r * ldc);
}
#endif

void cpu_sgemm_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_row, int64_t a_col,
                   const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t m = 0;
    for (; m + 4 <= M; m += 4)
        for (int64_t n = 0; n < N; n += 8)
            sgemm_4x8(K, A + m * a_row, a_row, a_col, B + n, ldb, C + m * ldc + n, ldc);
    for (; m < M; m++)
        for (int64_t n = 0; n < N; n += 8) sgemm_1x8(K, A + m * a_row, a_col, B + n, ldb, C + m * ldc + n);
}

