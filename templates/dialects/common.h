/* ---- libdsa vocabulary: portable helpers, written once in the common subset ----
 * Bit-exact conversions (the same rules as the library's host code) and the FP8 group scale. */
#define DT_BF16 1
#define DT_FP16 2
#define DT_FP32 3
#define DT_INT32 4
#define DT_UINT8 5
#define DT_FP8_E4M3 6

DEVICE_FN F32 dsa_bf16_to_f32(U32 h) { return BITS_F32(h << 16); }

/* Round to nearest even; NaN stays a quiet NaN with its sign. */
DEVICE_FN U32 dsa_f32_to_bf16(F32 f)
{
    U32 u = F32_BITS(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

DEVICE_FN F32 dsa_fp16_to_f32(U32 h)
{
    U32 sign = (h & 0x8000u) << 16;
    U32 e = (h >> 10) & 31u;
    U32 m = h & 1023u;
    if (e == 31u) return BITS_F32(sign | 0x7f800000u | (m << 13));
    if (e == 0u) {
        F32 v = TO_F32(m) * 5.9604644775390625e-8f; /* m * 2^-24 */
        return sign != 0u ? -v : v;
    }
    return BITS_F32(sign | ((e + 112u) << 23) | (m << 13));
}

/* e4m3 (OCP E4M3FN): bias 7, subnormals m * 2^-9, 0x7f / 0xff NaN. */
DEVICE_FN F32 dsa_fp8_to_f32(U32 b)
{
    U32 e = (b >> 3) & 15u;
    U32 m = b & 7u;
    U32 sign = (b & 128u) << 24;
    if (e == 15u && m == 7u) return BITS_F32(sign | 0x7fc00000u);
    F32 v = e == 0u ? TO_F32(m) * 0.001953125f : BITS_F32(((e + 120u) << 23) | (m << 20));
    return sign != 0u ? -v : v;
}

/* Clamp to +-448 and round to nearest even; NaN -> 0x7f with its sign; -0 -> 0x80. */
DEVICE_FN U32 dsa_f32_to_fp8(F32 f)
{
    U32 sign = (F32_BITS(f) >> 24) & 128u;
    F32 a = FABSF(f);
    if (ISNAN(f)) return sign | 127u;
    if (a >= 448.0f) return sign | 126u;
    if (a < 0.015625f) return sign | TO_U32(RINTF(a * 512.0f)); /* subnormal: quantum 2^-9 */
    U32 au = F32_BITS(a);
    U32 r = au + 0x7ffffu + ((au >> 20) & 1u); /* mantissa rounded to 3 bits, ties to even */
    return sign | (((r >> 23) - 120u) << 3) | ((r >> 20) & 7u);
}

/* The smallest power of two s with amax <= 448 s (amax over finite values, at least 1e-4). */
DEVICE_FN F32 dsa_fp8_group_scale(F32 amax)
{
    if (!(amax >= 1e-4f)) amax = 1e-4f;
    U32 e = (F32_BITS(amax) >> 23) & 255u; /* amax = 1.m * 2^(e-127) */
    F32 s = BITS_F32((e < 9u ? 1u : e - 8u) << 23); /* about amax / 256: at or below the answer */
    while (s * 448.0f < amax) s = s * 2.0f;
    while (s * 224.0f >= amax) s = s * 0.5f;
    return s;
}

/* 1 / s for a power of two s in [2^-125, 2^125], exactly: division is not correctly rounded in
 * every dialect (OpenCL and Vulkan allow 2.5 ulp), so quantization multiplies by this instead. */
DEVICE_FN F32 dsa_pow2_reciprocal(F32 s) { return BITS_F32((254u - ((F32_BITS(s) >> 23) & 255u)) << 23); }

/* Loads and stores of the spec's `in` / `out` element types as fp32. */
#if IN_DTYPE == DT_BF16
#define LOAD_IN_F32(buf, i) dsa_bf16_to_f32(TO_U32(LD(buf, i)))
#elif IN_DTYPE == DT_FP16
#define LOAD_IN_F32(buf, i) dsa_fp16_to_f32(TO_U32(LD(buf, i)))
#elif IN_DTYPE == DT_FP8_E4M3
#define LOAD_IN_F32(buf, i) dsa_fp8_to_f32(TO_U32(LD(buf, i)))
#else
#define LOAD_IN_F32(buf, i) TO_F32(LD(buf, i))
#endif
#if OUT_DTYPE == DT_BF16
#define STORE_OUT_F32(buf, i, v) ST(buf, i, TO_U16(dsa_f32_to_bf16(v)))
#elif OUT_DTYPE == DT_FP8_E4M3
#define STORE_OUT_F32(buf, i, v) ST(buf, i, TO_U8(dsa_f32_to_fp8(v)))
#else
#define STORE_OUT_F32(buf, i, v) ST(buf, i, (v))
#endif

/* ---- dialect-overridable helpers (owner: ocl) ----
 * A dialect prelude (emitted before this file) may replace the block reductions and scans below
 * (it then defines DSA_DIALECT_BLOCK_OPS and its own forms of both macros, with the same contract)
 * and the fp8 decode (DSA_DIALECT_FP8_TO_F32 names its function, used from here on instead of
 * dsa_fp8_to_f32). The OpenCL prelude does so where the specialization allows (subgroup, half). */
#ifdef DSA_DIALECT_FP8_TO_F32
#define dsa_fp8_to_f32 DSA_DIALECT_FP8_TO_F32
#endif
#ifndef DSA_DIALECT_BLOCK_OPS
/* Block-wide reductions through a shared array of BLOCK floats (the portable path; BLOCK is a
 * power of two). Every thread gets the result. NaN-free inputs are the caller's job. */
#define BLOCK_REDUCE_MAX_F32(red, v, result)                                                        \
    red[TID] = (v);                                                                                 \
    BARRIER();                                                                                      \
    for (I32 dsa_s = BLOCK / 2; dsa_s > 0; dsa_s = dsa_s / 2) {                                     \
        if (TID < dsa_s) red[TID] = FMAXF(red[TID], red[TID + dsa_s]);                                \
        BARRIER();                                                                                  \
    }                                                                                               \
    result = red[0];                                                                                \
    BARRIER()

/* Block-wide exclusive prefix sum of one U32 per thread, in thread order, through a shared array
 * of BLOCK U32 (Hillis-Steele: log2(BLOCK) steps; any BLOCK). `v` must be a plain variable.
 * Every thread gets its exclusive prefix in `excl` and the block's total in `total`; the shared
 * array is free again when the macro returns. Integer sums: the result is deterministic. */
#define BLOCK_SCAN_ADD_U32(arr, v, excl, total)                                                     \
    arr[TID] = (v);                                                                                 \
    BARRIER();                                                                                      \
    for (I32 dsa_o = 1; dsa_o < BLOCK; dsa_o = dsa_o * 2) {                                         \
        U32 dsa_t = TID >= dsa_o ? arr[TID - dsa_o] : 0u;                                           \
        BARRIER();                                                                                  \
        arr[TID] = arr[TID] + dsa_t;                                                                \
        BARRIER();                                                                                  \
    }                                                                                               \
    excl = arr[TID] - (v);                                                                          \
    total = arr[BLOCK - 1];                                                                         \
    BARRIER()
#endif
/* Byte-level loads and fp8 pairs, for loaders of packed caches. LD_U8X4: 4 bytes of a U8 buffer
 * from byte i as a little-endian U32 (no alignment assumed; a dialect may load a word where the
 * address allows). FP8X2_SCALED_BF16X2: the fp8 e4m3 codes in bits 0-7 and 8-15 of w, each times
 * sc (FP8_SCALE, which the template defines), as a word of two bf16 (low half: bits 0-7) -
 * exact for a power-of-two scale. ST_SHARED_X4: 4 words to sh[word .. word + 3] (word a multiple
 * of 4, the array 16-byte aligned). */
#ifndef LD_U8X4
#define LD_U8X4(buf, i)                                                                             \
    (TO_U32(LD(buf, i)) | (TO_U32(LD(buf, (i) + 1)) << 8) | (TO_U32(LD(buf, (i) + 2)) << 16) |      \
     (TO_U32(LD(buf, (i) + 3)) << 24))
#endif
#ifndef FP8X2_SCALED_BF16X2
#define FP8X2_SCALED_BF16X2(w, sc)                                                                  \
    (dsa_f32_to_bf16(FP8_SCALE((w) & 255u, sc)) | (dsa_f32_to_bf16(FP8_SCALE(((w) >> 8) & 255u, sc)) << 16))
#endif
#ifndef ST_SHARED_X4
#define ST_SHARED_X4(sh, word, a, b, c, d)                                                          \
    {                                                                                               \
        sh[word] = (a);                                                                             \
        sh[(word) + 1] = (b);                                                                       \
        sh[(word) + 2] = (c);                                                                       \
        sh[(word) + 3] = (d);                                                                       \
    }
#endif
/* ---- end of the dialect-overridable helpers ---- */

/* Top-k order (docs/ops.md section 2). dsa_order_key maps fp32 bits to a U32 whose unsigned order
 * is the contract's: every NaN lowest (0, which no number reaches), then -inf, numbers, +inf;
 * -0 ranks as +0. Negative numbers have their bits reversed and sit below the positives. */
DEVICE_FN U32 dsa_order_key(U32 u)
{
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0u;
    if (u == 0x80000000u) u = 0u;
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

/* 1 when entry (ka, ia) ranks above (kb, ib): higher key, or the same key and a lower column. */
DEVICE_FN I32 dsa_topk_before(U32 ka, U32 ia, U32 kb, U32 ib)
{
    return (ka > kb || (ka == kb && ia < ib)) ? 1 : 0;
}

/* The slot of column j on page entry e (P tokens a page), in 64 bits; -1 when e is negative or the
 * slot does not fit int32. */
DEVICE_FN I32 dsa_topk_slot(I64 e, I64 j, I64 p)
{
    if (e < 0) return -1;
    I64 s = e * p + j % p;
    return s > 2147483647 ? -1 : TO_I32(s);
}

/* ---- tiles and fragments (owner: tc) ----
 * A warp here is 32 consecutive threads of the block (a real warp in CUDA; elsewhere only a
 * grouping: the portable bodies exchange data through shared memory and block barriers, so every
 * primitive below is called by all threads of the block together, like BARRIER).
 * A C fragment (accumulator) is F32 c[4 * NT]: a warp's 16 x (8 NT) fp32 tile, element e of lane
 * l at row FRAG_ROW(e) = l / 4 + 8 ((e >> 1) & 1), column FRAG_COL(e) = 8 (e >> 2) + 2 (l % 4) +
 * (e & 1) (the mma.sync accumulator layout; every dialect uses it, so element-wise maps with
 * (row, col) and per-row work are written once in the template). An A fragment (16 x 16 KSTEPS
 * bf16 operand) is U32 a[FRAG_A_WORDS(KSTEPS)], each word a bf16 pair (even column in the low
 * half) at row FRAG_A_ROW(w), columns FRAG_A_COL(w) and +1; its layout is the dialect's.
 * B operands are bf16 pairs in shared U32 arrays (row starts on 16 bytes). */
#define FRAG_LANE (TID & 31)
#define FRAG_WARP (TID >> 5)
#define FRAG_ROW(e) ((FRAG_LANE >> 2) + (((e) >> 1) & 1) * 8)
#define FRAG_COL(e) (((e) >> 2) * 8 + (FRAG_LANE & 3) * 2 + ((e) & 1))

#ifndef DSA_FRAG_MMA
/* Portable A layout: per k-step 16 words, rows l / 4 and l / 4 + 8, all 16 columns (the scalar
 * gemm needs whole rows). */
#define FRAG_A_WORDS(ksteps) ((ksteps) * 16)
#define FRAG_A_ROW(w) ((FRAG_LANE >> 2) + (((w) >> 3) & 1) * 8)
#define FRAG_A_COL(w) (((w) >> 4) * 16 + ((w) & 7) * 2)

/* c[16 x 8 NT] += A[16 x 16 KSTEPS] . B^T, B(n, k) the bf16 at word sh[base + n stride + k / 2]
 * (half k % 2); fp32 products and sums. */
#define GEMM_NT(c, NT, a, KSTEPS, sh, base, stride)                                                 \
    for (I32 dsa_e = 0; dsa_e < 4 * (NT); dsa_e++) {                                                \
        I32 dsa_h = ((dsa_e >> 1) & 1) * 8;                                                         \
        I32 dsa_n = FRAG_COL(dsa_e);                                                                \
        F32 dsa_s = 0.0f;                                                                           \
        for (I32 dsa_k = 0; dsa_k < (KSTEPS) * 8; dsa_k++) {                                        \
            U32 dsa_a = a[(dsa_k >> 3) * 16 + dsa_h + (dsa_k & 7)];                                 \
            U32 dsa_b = sh[(base) + dsa_n * (stride) + dsa_k];                                      \
            dsa_s += dsa_bf16_to_f32(dsa_a & 0xffffu) * dsa_bf16_to_f32(dsa_b & 0xffffu);           \
            dsa_s += dsa_bf16_to_f32(dsa_a >> 16) * dsa_bf16_to_f32(dsa_b >> 16);                   \
        }                                                                                           \
        c[dsa_e] += dsa_s;                                                                          \
    }

/* c[16 x 8 NT] += A . B, B(k, n) the bf16 at word sh[base + k stride + n / 2] (half n % 2). */
#define GEMM_NN(c, NT, a, KSTEPS, sh, base, stride)                                                 \
    for (I32 dsa_e = 0; dsa_e < 4 * (NT); dsa_e++) {                                                \
        I32 dsa_h = ((dsa_e >> 1) & 1) * 8;                                                         \
        I32 dsa_n = FRAG_COL(dsa_e);                                                                \
        U32 dsa_sh = TO_U32(dsa_n & 1) * 16u;                                                       \
        F32 dsa_s = 0.0f;                                                                           \
        for (I32 dsa_k = 0; dsa_k < (KSTEPS) * 16; dsa_k++) {                                       \
            U32 dsa_a = a[(dsa_k >> 4) * 16 + dsa_h + ((dsa_k & 15) >> 1)] >> (TO_U32(dsa_k & 1) * 16u); \
            U32 dsa_b = sh[(base) + dsa_k * (stride) + (dsa_n >> 1)] >> dsa_sh;                    \
            dsa_s += dsa_bf16_to_f32(dsa_a & 0xffffu) * dsa_bf16_to_f32(dsa_b & 0xffffu);           \
        }                                                                                           \
        c[dsa_e] += dsa_s;                                                                          \
    }

/* C fragment (16 x 8 NT) -> A fragment (KSTEPS = NT / 2), rounded to bf16 (nearest even), through
 * a shared F32 scratch of (BLOCK / 32) * 128 * NT floats. */
#define FRAG_C_TO_A(a, c, NT, scratch)                                                              \
    for (I32 dsa_e = 0; dsa_e < 4 * (NT); dsa_e++)                                                  \
        scratch[FRAG_WARP * 128 * (NT) + FRAG_ROW(dsa_e) * 8 * (NT) + FRAG_COL(dsa_e)] = c[dsa_e]; \
    BARRIER();                                                                                      \
    for (I32 dsa_w = 0; dsa_w < 8 * (NT); dsa_w++) {                                                \
        I32 dsa_i = FRAG_WARP * 128 * (NT) + FRAG_A_ROW(dsa_w) * 8 * (NT) + FRAG_A_COL(dsa_w);     \
        a[dsa_w] = dsa_f32_to_bf16(scratch[dsa_i]) | (dsa_f32_to_bf16(scratch[dsa_i + 1]) << 16);  \
    }                                                                                               \
    BARRIER()

/* v over the four lanes of a fragment row (lanes 4 g .. 4 g + 3), through a shared F32 scratch of
 * BLOCK floats; every lane gets the result (NaN is skipped by the max, as a > comparison does). */
#define FRAG_QUAD_MAX(v, scratch)                                                                   \
    scratch[TID] = (v);                                                                             \
    BARRIER();                                                                                      \
    for (I32 dsa_i = 0; dsa_i < 4; dsa_i++) {                                                       \
        F32 dsa_o = scratch[(TID & ~3) + dsa_i];                                                    \
        v = dsa_o > v ? dsa_o : v;                                                                  \
    }                                                                                               \
    BARRIER()
#define FRAG_QUAD_SUM(v, scratch)                                                                   \
    scratch[TID] = (v);                                                                             \
    BARRIER();                                                                                      \
    v = (scratch[TID & ~3] + scratch[(TID & ~3) + 1]) + (scratch[(TID & ~3) + 2] + scratch[(TID & ~3) + 3]); \
    BARRIER()

/* 8 bf16 global -> shared words [word, word + 4); asynchronous where the dialect can be. */
#define COPY_ASYNC_16(sh, word, buf, elem)                                                          \
    for (I32 dsa_i = 0; dsa_i < 4; dsa_i++)                                                         \
        sh[(word) + dsa_i] = TO_U32(LD(buf, (elem) + 2 * dsa_i)) | (TO_U32(LD(buf, (elem) + 2 * dsa_i + 1)) << 16)
#define COPY_ASYNC_COMMIT()
#define COPY_ASYNC_WAIT_ALL()
#define COPY_ASYNC_WAIT_PRIOR() /* waits for all but the most recent commit */
#endif
/* ---- end tiles and fragments ---- */

/* ---- fragment additions for the lightning indexer (owner: ix) ----
 * Portable bodies; a dialect prelude that defines one of these macros first keeps its own (cuda.h
 * under MATRIX). Called by every thread of the block together, like the primitives above.
 *   FRAG_FP8X2(u): the e4m3 codes in bits 0-7 and 8-15 of u as the pair of 16-bit operands that
 *     GEMM_NT_F8 multiplies (low half first). e4m3 is exact in bf16 and in fp16, so the dialect
 *     picks: portable bf16 (GEMM_NT_F8 is GEMM_NT), CUDA fp16 (one cvt a pair on sm_89+).
 *   GEMM_NT_F8(c, NT, a, KSTEPS, sh, base, stride): GEMM_NT on such operands (fp32 products and
 *     accumulation: the products are exact).
 *   FRAG_COL_SUM(v, N, scratch): v[0 .. N) summed, in every lane, over the eight lanes that share
 *     the lane's fragment columns (lanes l % 4 + 4 g, g = 0..7: the C rows g and g + 8 of those
 *     lanes), as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)); portable: through a shared F32
 *     scratch of BLOCK floats, one element at a time.
 *   UNROLL: placed before a loop whose trip count is a constant and that indexes register arrays
 *     (fragments), so that they stay in registers (CUDA: #pragma unroll; elsewhere nothing).
 *   GEMM_NT2(c0, c1, NT, a0, a1, KSTEPS, sh, base, stride), GEMM_NT2_F8(...): GEMM_NT (GEMM_NT_F8)
 *     of two A fragments against the same B: c0 += A0 . B^T and c1 += A1 . B^T (CUDA: each B
 *     fragment loaded once for both).
 *   FRAG_C_TO_A_SPLIT(hi, lo, c, NT, scratch): FRAG_C_TO_A twice: hi = c rounded to bf16, lo = the
 *     remainder c - hi rounded to bf16 (hi + lo carries 16 significant bits); c is overwritten
 *     (CUDA: in registers, by the hardware rounding, three instructions an element).
 *   EXP_SOFTMAX(x): e^x for an online softmax's weights and rescale factors (x <= 0 or NaN);
 *     the dialect may use its hardware approximation (CUDA: ex2.approx, about 2^-20 relative
 *     where the weight matters); elsewhere EXPF.
 *   GEMM_NN2(c, NT, a0, a1, KSTEPS, sh, base, stride): c += A0 . B + A1 . B (GEMM_NN of both; CUDA:
 *     each B fragment loaded once for both, the sums in a different but fixed order), for an
 *     operand carried as two bf16 parts (sparse MLA's P as rounding + remainder).
 *   FRAG_COL_SUM_SPLIT(v, N, scratch): FRAG_COL_SUM's sums (the same order of additions), of which
 *     each lane keeps N / 8 (N a multiple of 8): v[i] for i < N / 8 is the sum of element
 *     FRAG_COL_SPLIT_AT(N) + i, FRAG_COL_SPLIT_AT(N) = N / 8 * (4 (g & 1) + 2 (g >> 1 & 1) +
 *     (g >> 2 & 1)) for the lane's row group g = lane / 4 (CUDA: 7 N / 8 shuffles instead of 3 N);
 *     the other elements of v are left undefined.
 *   COPY_ASYNC_16_U8(sh, word, buf, elem): 16 bytes of a u8 buffer into shared words
 *     [word, word + 4), little-endian; asynchronous where the dialect can be (COPY_ASYNC_COMMIT /
 *     COPY_ASYNC_WAIT_ALL and a BARRIER() as for COPY_ASYNC_16). */
#ifndef UNROLL
#define UNROLL /* before a loop over register arrays: unroll it fully (CUDA: #pragma unroll) */
#endif
#ifndef GEMM_NT_F8
DEVICE_FN U32 dsa_fp8_to_bf16(U32 b) { return F32_BITS(dsa_fp8_to_f32(b)) >> 16; } /* exact */
#define FRAG_FP8X2(u) (dsa_fp8_to_bf16((u) & 255u) | (dsa_fp8_to_bf16(((u) >> 8) & 255u) << 16))
#define GEMM_NT_F8(c, NT, a, KSTEPS, sh, base, stride) GEMM_NT(c, NT, a, KSTEPS, sh, base, stride)
#endif
/* The portable forms of the two-operand gemms: `gemm` once per (c, a) pair, one after the other. */
#define DSA_GEMM_TWICE(gemm, c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)                          \
    {                                                                                               \
        gemm(c0, NT, a0, KSTEPS, sh, base, stride)                                                  \
        gemm(c1, NT, a1, KSTEPS, sh, base, stride)                                                  \
    }
#ifndef GEMM_NT2
#define GEMM_NT2(c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)                                      \
    DSA_GEMM_TWICE(GEMM_NT, c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)
#endif
#ifndef GEMM_NT2_F8
#define GEMM_NT2_F8(c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)                                   \
    DSA_GEMM_TWICE(GEMM_NT_F8, c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)
#endif
#ifndef FRAG_C_TO_A_SPLIT
#define FRAG_C_TO_A_SPLIT(hi, lo, c, NT, scratch)                                                   \
    FRAG_C_TO_A(hi, c, NT, scratch);                                                                \
    for (I32 dsa_e = 0; dsa_e < 4 * (NT); dsa_e++) c[dsa_e] = c[dsa_e] - dsa_bf16_to_f32(dsa_f32_to_bf16(c[dsa_e])); \
    FRAG_C_TO_A(lo, c, NT, scratch)
#endif
#ifndef EXP_SOFTMAX
#define EXP_SOFTMAX(x) EXPF(x)
#endif
#ifndef GEMM_NN2
#define GEMM_NN2(c, NT, a0, a1, KSTEPS, sh, base, stride)                                           \
    DSA_GEMM_TWICE(GEMM_NN, c, c, NT, a0, a1, KSTEPS, sh, base, stride)
#endif
#define FRAG_COL_SPLIT_AT(N)                                                                        \
    (((N) / 8) * (4 * ((FRAG_LANE >> 2) & 1) + 2 * ((FRAG_LANE >> 3) & 1) + ((FRAG_LANE >> 4) & 1)))
#ifndef FRAG_COL_SUM_SPLIT
#define FRAG_COL_SUM_SPLIT(v, N, scratch)                                                           \
    for (I32 dsa_x = 0; dsa_x < (N); dsa_x++) {                                                     \
        scratch[TID] = v[dsa_x];                                                                    \
        BARRIER();                                                                                  \
        I32 dsa_c = (TID & ~31) + (TID & 3);                                                        \
        I32 dsa_at = FRAG_COL_SPLIT_AT(N);                                                          \
        if (dsa_x >= dsa_at && dsa_x < dsa_at + (N) / 8)                                            \
            v[dsa_x - dsa_at] = ((scratch[dsa_c] + scratch[dsa_c + 4]) + (scratch[dsa_c + 8] + scratch[dsa_c + 12])) + \
                                ((scratch[dsa_c + 16] + scratch[dsa_c + 20]) + (scratch[dsa_c + 24] + scratch[dsa_c + 28])); \
        BARRIER();                                                                                  \
    }
#endif
#ifndef FRAG_COL_SUM
#define FRAG_COL_SUM(v, N, scratch)                                                                 \
    for (I32 dsa_x = 0; dsa_x < (N); dsa_x++) {                                                     \
        scratch[TID] = v[dsa_x];                                                                    \
        BARRIER();                                                                                  \
        I32 dsa_c = (TID & ~31) + (TID & 3);                                                        \
        v[dsa_x] = ((scratch[dsa_c] + scratch[dsa_c + 4]) + (scratch[dsa_c + 8] + scratch[dsa_c + 12])) + \
                   ((scratch[dsa_c + 16] + scratch[dsa_c + 20]) + (scratch[dsa_c + 24] + scratch[dsa_c + 28])); \
        BARRIER();                                                                                  \
    }
#endif
#ifndef COPY_ASYNC_16_U8
#define COPY_ASYNC_16_U8(sh, word, buf, elem)                                                       \
    for (I32 dsa_i = 0; dsa_i < 4; dsa_i++)                                                         \
        sh[(word) + dsa_i] = TO_U32(LD(buf, (elem) + 4 * dsa_i)) | (TO_U32(LD(buf, (elem) + 4 * dsa_i + 1)) << 8) | \
                             (TO_U32(LD(buf, (elem) + 4 * dsa_i + 2)) << 16) |                      \
                             (TO_U32(LD(buf, (elem) + 4 * dsa_i + 3)) << 24)
#endif
/* ---- end of the indexer's fragment additions ---- */
