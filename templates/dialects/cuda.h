/* ---- libdsa vocabulary: CUDA C++ (NVRTC; no headers needed), after dialects/cxx.h ---- */

/* ---- tiles and fragments: the tensor-core path (spec matrix=1, sm_80 and later) ----
 * The portable meaning of every primitive here is in common.h; this section gives the same
 * primitives mma.sync m16n8k16 (bf16 in, fp32 accumulate), ldmatrix and cp.async bodies. The C
 * (accumulator) layout is the common one; an A fragment is the mma register layout: per k-step
 * four words of bf16 pairs, word r holding row g + 8 (r & 1), columns 16 k + 2 t + 8 (r >> 1)
 * and +1 (g = lane / 4, t = lane % 4).
 * ldmatrix and cp.async need 16-byte aligned shared rows: the generator places every CUDA shared
 * array at a 16-byte boundary of the kernel's dynamic shared memory (templates/generator.c), so a
 * row is aligned when its word offset is a multiple of 4. */
/* Packed-cache loads (common.h's LD_U8X4 / FP8X2_SCALED_BF16X2 / ST_SHARED_X4): one 32-bit load
 * where the address is 4-byte aligned (a cache's strides need not be), the sm_89+ fp8 -> f16
 * conversion instruction (exact: f16 holds every e4m3 value), one 16-byte shared store. */
DEVICE_FN U32 dsa_ld_u8x4(const U8 *p)
{
    if (((U64)p & 3u) == 0u) return *(const U32 *)p;
    return (U32)p[0] | ((U32)p[1] << 8) | ((U32)p[2] << 16) | ((U32)p[3] << 24);
}
#define LD_U8X4(buf, i) dsa_ld_u8x4(&(buf)[i])
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
DEVICE_FN U32 dsa_fp8x2_scaled_bf16x2(U32 w, F32 sc)
{
    U32 h2;
    F32 lo, hi;
    U32 d;
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(h2) : "h"((unsigned short)(w & 0xffffu)));
    asm("{.reg .f16 l, h;\n mov.b32 {l, h}, %2;\n cvt.f32.f16 %0, l;\n cvt.f32.f16 %1, h;}"
        : "=f"(lo), "=f"(hi) : "r"(h2));
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi * sc), "f"(lo * sc));
    return d;
}
#define FP8X2_SCALED_BF16X2(w, sc) dsa_fp8x2_scaled_bf16x2(w, sc)
#endif
#define ST_SHARED_X4(sh, word, a, b, c, d)                                                          \
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"((U32)__cvta_generic_to_shared(&(sh)[word])), \
                 "r"((U32)(a)), "r"((U32)(b)), "r"((U32)(c)), "r"((U32)(d)) : "memory")

/* e^x as 2^(x log2 e) by the SFU's ex2.approx (two instructions; expf is about ten). For x <= 0 the
 * product's rounding costs |x| 2^-24 relative and ex2 about 2^-22: about 2^-20 while the weight is
 * above 2^-20, and nothing that shows in the sums below that (SPEC's bars are 2^-9 and 3e-5 relative).
 * NaN stays NaN; -inf gives 0. */
DEVICE_FN F32 dsa_exp_softmax(F32 x)
{
    F32 y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x * 1.4426950408889634f));
    return y;
}
#define EXP_SOFTMAX(x) dsa_exp_softmax(x)

#if MATRIX
#define DSA_FRAG_MMA 1
#define FRAG_A_WORDS(ksteps) ((ksteps) * 4)
#define FRAG_A_ROW(w) ((FRAG_LANE >> 2) + ((w) & 1) * 8)
#define FRAG_A_COL(w) (((w) >> 2) * 16 + (FRAG_LANE & 3) * 2 + (((w) >> 1) & 1) * 8)

DEVICE_FN U32 dsa_smem_addr(const void *p) { return (U32)__cvta_generic_to_shared(p); }

DEVICE_FN void dsa_mma_bf16(F32 &c0, F32 &c1, F32 &c2, F32 &c3, U32 a0, U32 a1, U32 a2, U32 a3, U32 b0, U32 b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* Four 8x8 bf16 matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8. */
DEVICE_FN void dsa_ldsm_x4(U32 addr, U32 &r0, U32 &r1, U32 &r2, U32 &r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr) : "memory");
}
DEVICE_FN void dsa_ldsm_x4_trans(U32 addr, U32 &r0, U32 &r1, U32 &r2, U32 &r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr) : "memory");
}

/* Two fp32 values rounded to nearest even as a bf16 pair (lo in the low half). */
DEVICE_FN U32 dsa_pack_bf16x2(F32 lo, F32 hi)
{
    U32 d;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}

/* The two n-tiles' mma (instruction wrapper `mma`: dsa_mma_bf16, or dsa_mma_f16 for the fp8
 * operands of GEMM_NT_F8) of A fragment a into c, at the gemm loops' (dsa_k, dsa_j) with the B
 * fragments dsa_b0..3 they loaded. */
#define DSA_MMAS(mma, c, a)                                                                         \
    mma(c[dsa_j * 4], c[dsa_j * 4 + 1], c[dsa_j * 4 + 2], c[dsa_j * 4 + 3], a[dsa_k * 4],           \
        a[dsa_k * 4 + 1], a[dsa_k * 4 + 2], a[dsa_k * 4 + 3], dsa_b0, dsa_b1);                      \
    mma(c[dsa_j * 4 + 4], c[dsa_j * 4 + 5], c[dsa_j * 4 + 6], c[dsa_j * 4 + 7], a[dsa_k * 4],       \
        a[dsa_k * 4 + 1], a[dsa_k * 4 + 2], a[dsa_k * 4 + 3], dsa_b2, dsa_b3);

/* c[16 x 8 NT] += A[16 x 16 KSTEPS] . B^T, B(n, k) the bf16 at word sh[base + n stride + k / 2]
 * (half k % 2): one ldmatrix.x4 gives two n-tiles' B fragments per k-step, and `mmas` (DSA_MMAS
 * of one A fragment, or of two sharing the load for GEMM_NT2) multiplies them. NT is even; rows
 * of B start on 16-byte boundaries (base and stride multiples of 4 words). */
#define DSA_GEMM_NT_WITH(mmas, NT, KSTEPS, sh, base, stride)                                        \
    _Pragma("unroll") for (I32 dsa_k = 0; dsa_k < (KSTEPS); dsa_k++) {                              \
        _Pragma("unroll") for (I32 dsa_j = 0; dsa_j < (NT); dsa_j += 2) {                           \
            U32 dsa_b0, dsa_b1, dsa_b2, dsa_b3;                                                     \
            I32 dsa_row = dsa_j * 8 + (FRAG_LANE >> 4) * 8 + (FRAG_LANE & 7);                       \
            dsa_ldsm_x4(dsa_smem_addr(&sh[(base) + dsa_row * (stride) + dsa_k * 8 + ((FRAG_LANE >> 3) & 1) * 4]), \
                        dsa_b0, dsa_b1, dsa_b2, dsa_b3);                                            \
            mmas                                                                                    \
        }                                                                                           \
    }
#define GEMM_NT(c, NT, a, KSTEPS, sh, base, stride)                                                 \
    DSA_GEMM_NT_WITH(DSA_MMAS(dsa_mma_bf16, c, a), NT, KSTEPS, sh, base, stride)

/* c[16 x 8 NT] += A . B, B(k, n) the bf16 at word sh[base + k stride + n / 2]: ldmatrix.trans
 * gives two n-tiles' B fragments per k-step, and `mmas` multiplies them: one A fragment for
 * GEMM_NN, two for GEMM_NN2. */
#define DSA_GEMM_NN_WITH(mmas, NT, KSTEPS, sh, base, stride)                                        \
    _Pragma("unroll") for (I32 dsa_k = 0; dsa_k < (KSTEPS); dsa_k++) {                              \
        _Pragma("unroll") for (I32 dsa_j = 0; dsa_j < (NT); dsa_j += 2) {                           \
            U32 dsa_b0, dsa_b1, dsa_b2, dsa_b3;                                                     \
            I32 dsa_row = dsa_k * 16 + ((FRAG_LANE >> 3) & 1) * 8 + (FRAG_LANE & 7);                \
            dsa_ldsm_x4_trans(dsa_smem_addr(&sh[(base) + dsa_row * (stride) + dsa_j * 4 + (FRAG_LANE >> 4) * 4]), \
                              dsa_b0, dsa_b1, dsa_b2, dsa_b3);                                      \
            mmas                                                                                    \
        }                                                                                           \
    }
#define GEMM_NN(c, NT, a, KSTEPS, sh, base, stride)                                                 \
    DSA_GEMM_NN_WITH(DSA_MMAS(dsa_mma_bf16, c, a), NT, KSTEPS, sh, base, stride)
/* c += A0 . B + A1 . B with each B fragment loaded once (per k-step and n-tile: A0, then A1). */
#define GEMM_NN2(c, NT, a0, a1, KSTEPS, sh, base, stride)                                           \
    DSA_GEMM_NN_WITH(DSA_MMAS(dsa_mma_bf16, c, a0) DSA_MMAS(dsa_mma_bf16, c, a1), NT, KSTEPS, sh, base, stride)

/* The accumulator layout is the A layout of the next mma: no data leaves the registers. */
#define FRAG_C_TO_A(a, c, NT, scratch)                                                              \
    _Pragma("unroll") for (I32 dsa_w = 0; dsa_w < 2 * (NT); dsa_w++)                                \
        a[dsa_w] = dsa_pack_bf16x2(c[dsa_w * 2], c[dsa_w * 2 + 1])

/* hi = c rounded to bf16 pairs, lo = the remainders rounded (common.h's meaning, in registers). */
#define FRAG_C_TO_A_SPLIT(hi, lo, c, NT, scratch)                                                   \
    _Pragma("unroll") for (I32 dsa_w = 0; dsa_w < 2 * (NT); dsa_w++) {                              \
        U32 dsa_h = dsa_pack_bf16x2(c[dsa_w * 2], c[dsa_w * 2 + 1]);                                \
        hi[dsa_w] = dsa_h;                                                                          \
        lo[dsa_w] = dsa_pack_bf16x2(c[dsa_w * 2] - BITS_F32(dsa_h << 16),                           \
                                    c[dsa_w * 2 + 1] - BITS_F32(dsa_h & 0xffff0000u));              \
    }

/* Quad reductions by shuffles (the four lanes of a row), the same tree in every lane. */
#define FRAG_QUAD_MAX(v, scratch)                                                                   \
    {                                                                                               \
        F32 dsa_o = __shfl_xor_sync(0xffffffffu, v, 1);                                             \
        v = dsa_o > v ? dsa_o : v;                                                                  \
        dsa_o = __shfl_xor_sync(0xffffffffu, v, 2);                                                 \
        v = dsa_o > v ? dsa_o : v;                                                                  \
    }
#define FRAG_QUAD_SUM(v, scratch)                                                                   \
    {                                                                                               \
        v += __shfl_xor_sync(0xffffffffu, v, 1);                                                    \
        v += __shfl_xor_sync(0xffffffffu, v, 2);                                                    \
    }

/* 8 bf16 (16 bytes) global -> shared words [word, word + 4): cp.async when the source is 16-byte
 * aligned (a padded or offset view may not be), else plain loads. */
#define COPY_ASYNC_16(sh, word, buf, elem)                                                          \
    {                                                                                               \
        const U16 *dsa_p = &(buf)[elem];                                                            \
        if (((U64)dsa_p & 15u) == 0u) {                                                             \
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dsa_smem_addr(&sh[word])), \
                         "l"(dsa_p) : "memory");                                                    \
        } else {                                                                                    \
            for (I32 dsa_i = 0; dsa_i < 4; dsa_i++)                                                 \
                sh[(word) + dsa_i] = (U32)dsa_p[2 * dsa_i] | ((U32)dsa_p[2 * dsa_i + 1] << 16);     \
        }                                                                                           \
    }
#define COPY_ASYNC_COMMIT() asm volatile("cp.async.commit_group;" ::: "memory")
#define COPY_ASYNC_WAIT_ALL() asm volatile("cp.async.wait_all;" ::: "memory")
/* all but the most recent group: the tile in use is in, the prefetched one may still fly */
#define COPY_ASYNC_WAIT_PRIOR() asm volatile("cp.async.wait_group 1;" ::: "memory")
#endif

/* ---- fragment additions for the lightning indexer (owner: ix; common.h has their portable
 * meaning): fp8 operands as fp16 (e4m3 is exact in fp16: one cvt.rn.f16x2.e4m3x2 a pair on
 * sm_89+, bit operations and an exact f16x2 multiply by 2^8 before), mma.sync m16n8k16 on fp16,
 * gemms of two m-tiles sharing their B loads, column sums over a fragment's rows by shuffles
 * (whole, or split over the row groups), 16-byte asynchronous copies from u8 buffers;
 * UNROLL for loops over register arrays on every path. */
#define UNROLL _Pragma("unroll")
#if MATRIX
/* fp16 pair of the e4m3 codes in bits 0-7 (low half) and 8-15 (high half) of u, exactly; NaN
 * stays NaN. */
DEVICE_FN U32 dsa_fp8x2_to_f16x2(U32 u)
{
    U32 r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    U16 h = (U16)u;
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(r) : "h"(h));
#else
    /* the byte moved into place is an fp16 code of value v * 2^-8 (subnormals included: e4m3
     * and fp16 share the 3 mantissa bits, their exponent biases differ by 8); times 2^8 exactly */
    U32 t = ((u & 0x7fu) << 7) | ((u & 0x80u) << 8) | ((u & 0x7f00u) << 15) | ((u & 0x8000u) << 16);
    asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(t), "r"(0x5c005c00u));
    if ((u & 0x7fu) == 0x7fu) r = (r & 0xffff0000u) | 0x7e00u | ((u & 0x80u) << 8);
    if ((u & 0x7f00u) == 0x7f00u) r = (r & 0x0000ffffu) | 0x7e000000u | ((u & 0x8000u) << 16);
#endif
    return r;
}

DEVICE_FN void dsa_mma_f16(F32 &c0, F32 &c1, F32 &c2, F32 &c3, U32 a0, U32 a1, U32 a2, U32 a3, U32 b0, U32 b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

#define FRAG_FP8X2(u) dsa_fp8x2_to_f16x2(u)
/* GEMM_NT on FRAG_FP8X2 operands (fp16 pairs): the same loop as GEMM_NT, mma on f16. */
#define GEMM_NT_F8(c, NT, a, KSTEPS, sh, base, stride)                                              \
    DSA_GEMM_NT_WITH(DSA_MMAS(dsa_mma_f16, c, a), NT, KSTEPS, sh, base, stride)

/* GEMM_NT for two A fragments (two m-tiles) sharing each B load: half the ldmatrix traffic. */
#define GEMM_NT2(c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)                                      \
    DSA_GEMM_NT_WITH(DSA_MMAS(dsa_mma_bf16, c0, a0) DSA_MMAS(dsa_mma_bf16, c1, a1), NT, KSTEPS, sh, base, stride)
#define GEMM_NT2_F8(c0, c1, NT, a0, a1, KSTEPS, sh, base, stride)                                   \
    DSA_GEMM_NT_WITH(DSA_MMAS(dsa_mma_f16, c0, a0) DSA_MMAS(dsa_mma_f16, c1, a1), NT, KSTEPS, sh, base, stride)

/* FRAG_COL_SUM_SPLIT: three butterfly steps that each keep half of the values (the lane's bit
 * g & 1, then g >> 1 & 1, then g >> 2 & 1 of its row group picks which half) and receive the
 * partner's copy of them: N / 2 + N / 4 + N / 8 shuffles instead of 3 N. */
#define DSA_COL_SPLIT_STEP(v, half, lanes, bit)                                                     \
    _Pragma("unroll") for (I32 dsa_x = 0; dsa_x < (half); dsa_x++) {                                \
        F32 dsa_keep = (bit) != 0 ? v[dsa_x + (half)] : v[dsa_x];                                   \
        F32 dsa_send = (bit) != 0 ? v[dsa_x] : v[dsa_x + (half)];                                   \
        v[dsa_x] = dsa_keep + __shfl_xor_sync(0xffffffffu, dsa_send, lanes);                        \
    }
#define FRAG_COL_SUM_SPLIT(v, N, scratch)                                                           \
    {                                                                                               \
        DSA_COL_SPLIT_STEP(v, (N) / 2, 4, (FRAG_LANE >> 2) & 1)                                     \
        DSA_COL_SPLIT_STEP(v, (N) / 4, 8, (FRAG_LANE >> 3) & 1)                                     \
        DSA_COL_SPLIT_STEP(v, (N) / 8, 16, (FRAG_LANE >> 4) & 1)                                    \
    }

/* Butterfly over lanes xor 4, 8, 16: ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)) for rows
 * r0..r7 in every lane of the column group (a + b == b + a, so the lanes agree bit for bit). */
#define FRAG_COL_SUM(v, N, scratch)                                                                 \
    _Pragma("unroll") for (I32 dsa_x = 0; dsa_x < (N); dsa_x++) {                                   \
        v[dsa_x] += __shfl_xor_sync(0xffffffffu, v[dsa_x], 4);                                      \
        v[dsa_x] += __shfl_xor_sync(0xffffffffu, v[dsa_x], 8);                                      \
        v[dsa_x] += __shfl_xor_sync(0xffffffffu, v[dsa_x], 16);                                     \
    }

/* 16 bytes global -> shared words [word, word + 4), little-endian: cp.async when the source is
 * 16-byte aligned, else byte loads. */
#define COPY_ASYNC_16_U8(sh, word, buf, elem)                                                       \
    {                                                                                               \
        const U8 *dsa_p = &(buf)[elem];                                                             \
        if (((U64)dsa_p & 15u) == 0u) {                                                             \
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dsa_smem_addr(&sh[word])), \
                         "l"(dsa_p) : "memory");                                                    \
        } else {                                                                                    \
            for (I32 dsa_i = 0; dsa_i < 4; dsa_i++)                                                 \
                sh[(word) + dsa_i] = (U32)dsa_p[4 * dsa_i] | ((U32)dsa_p[4 * dsa_i + 1] << 8) |     \
                                     ((U32)dsa_p[4 * dsa_i + 2] << 16) | ((U32)dsa_p[4 * dsa_i + 3] << 24); \
        }                                                                                           \
    }
#endif
