/* ---- libdsa vocabulary: HIP C++ (hiprtc pre-includes the HIP runtime), after dialects/cxx.h ----
 * Wave size: SUBGROUP is the wavefront the code is specialized for (the HIP backend sets it from
 * the device's warpSize: 64 on CDNA, 32 on RDNA). clang names the wave it compiles for in
 * __AMDGCN_WAVEFRONT_SIZE; a mismatch is a compile error here, never a kernel that silently
 * assumes the wrong width.
 * fp8: the cache bytes are OCP e4m3 and are decoded by the bit operations of the common helpers;
 * gfx94x's hardware fp8 is the FNUZ variant (bias 8, no -0, 0x80 is NaN), so they are never fed
 * to its fp8 instructions as they are.
 * Matrix units: no MFMA (CDNA) or WMMA (RDNA3) path yet; MATRIX=1 compiles the portable code. */
#if defined(__HIP_DEVICE_COMPILE__) && defined(__AMDGCN_WAVEFRONT_SIZE) && SUBGROUP != 0
static_assert(SUBGROUP == __AMDGCN_WAVEFRONT_SIZE, "libdsa: SUBGROUP differs from the target's wavefront size");
#elif defined(__HIP_PLATFORM_NVIDIA__) && SUBGROUP != 0
static_assert(SUBGROUP == 32, "libdsa: HIP on an NVIDIA GPU has 32-wide warps");
#endif

/* SUBGROUP > 0: block reductions and scans in two steps, within each wave (register shuffles over
 * SUBGROUP lanes: 64 on CDNA, 32 on RDNA), then across the block's waves through the shared array
 * (BLOCK / SUBGROUP entries, read in order by every thread). They replace common.h's portable
 * forms with the same contract and the same results bit for bit: a max is exact in any order and
 * the scan adds integers. */
#if SUBGROUP > 0
DEVICE_FN F32 dsa_wave_max_f32(F32 v)
{
    for (I32 m = SUBGROUP / 2; m > 0; m = m / 2) v = FMAXF(v, __shfl_xor(v, m, SUBGROUP));
    return v;
}

DEVICE_FN U32 dsa_wave_scan_incl_u32(U32 v)
{
    I32 lane = TID & (SUBGROUP - 1);
    for (I32 d = 1; d < SUBGROUP; d = d * 2) {
        U32 t = __shfl_up(v, (unsigned int)d, SUBGROUP);
        if (lane >= d) v += t;
    }
    return v;
}

#define DSA_DIALECT_BLOCK_OPS 1
#define BLOCK_REDUCE_MAX_F32(red, v, result)                                                        \
    {                                                                                               \
        F32 dsa_m = dsa_wave_max_f32(v);                                                            \
        if ((TID & (SUBGROUP - 1)) == 0) red[TID / SUBGROUP] = dsa_m;                               \
        BARRIER();                                                                                  \
        dsa_m = red[0];                                                                             \
        for (I32 dsa_i = 1; dsa_i < BLOCK / SUBGROUP; dsa_i++) dsa_m = FMAXF(dsa_m, red[dsa_i]);    \
        result = dsa_m;                                                                             \
    }                                                                                               \
    BARRIER()

#define BLOCK_SCAN_ADD_U32(arr, v, excl, total)                                                     \
    {                                                                                               \
        U32 dsa_in = dsa_wave_scan_incl_u32(v);                                                     \
        if ((TID & (SUBGROUP - 1)) == SUBGROUP - 1) arr[TID / SUBGROUP] = dsa_in;                   \
        BARRIER();                                                                                  \
        U32 dsa_before = 0u;                                                                        \
        U32 dsa_all = 0u;                                                                           \
        for (I32 dsa_i = 0; dsa_i < BLOCK / SUBGROUP; dsa_i++) {                                    \
            U32 dsa_t = arr[dsa_i];                                                                 \
            if (dsa_i < TID / SUBGROUP) dsa_before += dsa_t;                                        \
            dsa_all += dsa_t;                                                                       \
        }                                                                                           \
        excl = dsa_before + dsa_in - (v);                                                           \
        total = dsa_all;                                                                            \
    }                                                                                               \
    BARRIER()
#endif
