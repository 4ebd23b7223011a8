/* ---- libdsa vocabulary: OpenCL C 1.2 ---- */
typedef int I32;
typedef uint U32;
typedef long I64;
typedef ulong U64;
typedef float F32;
typedef uchar U8;
typedef ushort U16;
#define DEVICE_FN static inline
#define TO_I32(x) ((I32)(x))
#define TO_U32(x) ((U32)(x))
#define TO_I64(x) ((I64)(x))
#define TO_F32(x) ((F32)(x))
#define TO_U8(x) ((U8)(x))
#define TO_U16(x) ((U16)(x))
#define TID ((I32)get_local_id(0))
#define BLOCK_ID_X ((I64)get_group_id(0))
#define BLOCK_ID_Y ((I64)get_group_id(1))
#define NUM_BLOCKS_X ((I64)get_num_groups(0))
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define LD(buf, i) ((buf)[i])
#define ST(buf, i, v) ((buf)[i] = (v))
#define F32_BITS(x) as_uint(x)
#define BITS_F32(u) as_float(u)
#define EXPF(x) exp(x)
#define LOGF(x) log(x)
#define FABSF(x) fabs(x)
#define FMAXF(a, b) fmax(a, b)
#define RINTF(x) rint(x)
#define ISNAN(x) isnan(x)
#define ISFINITE(x) isfinite(x)
#define SHARED_ATOMIC_ADD(arr, i, v) atomic_add(&(arr)[i], (v))

/* ---- fast paths, chosen by the specialization (templates/spec.c: dsa_spec_use_device) ----
 * Both keep the portable paths' results bit for bit: a max is exact in any order, the scans add
 * integers, and the fp8 decode is exact. */

/* SUBGROUP > 0: block reductions and scans in two steps, within each subgroup (registers), then
 * across the block's subgroups through the shared array (BLOCK / subgroup entries, read in order
 * by every thread). The subgroup operations are cl_khr_subgroups builtins (PTX = 0; the sizes are
 * read at run time, as Intel's compiler may pick 8, 16 or 32), or, on NVIDIA's OpenCL, which has
 * no subgroup extension, warp shuffles in inline PTX (PTX = 1; a warp is 32 consecutive
 * work-items of the work-group, as in CUDA). */
#if SUBGROUP > 0 && PTX
DEVICE_FN U32 dsa_warp_xor(U32 v, U32 lanes)
{
    U32 r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=r"(r) : "r"(v), "r"(lanes));
    return r;
}

/* The value of lane - delta; lanes below delta get their own value back (clamp 0). */
DEVICE_FN U32 dsa_warp_up(U32 v, U32 delta)
{
    U32 r;
    asm volatile("shfl.sync.up.b32 %0, %1, %2, 0x0, 0xffffffff;" : "=r"(r) : "r"(v), "r"(delta));
    return r;
}

DEVICE_FN F32 dsa_sg_max_f32(F32 v)
{
    for (U32 m = 16u; m > 0u; m = m / 2u) v = fmax(v, as_float(dsa_warp_xor(as_uint(v), m)));
    return v;
}

DEVICE_FN U32 dsa_sg_scan_incl_u32(U32 v)
{
    U32 lane = TO_U32(TID) & 31u;
    for (U32 d = 1u; d < 32u; d = d * 2u) {
        U32 t = dsa_warp_up(v, d);
        if (lane >= d) v += t;
    }
    return v;
}
#define DSA_SG_ID (TID / 32)
#define DSA_SG_COUNT (BLOCK / 32)
#define DSA_SG_LANE (TID & 31)
#define DSA_SG_SIZE 32
#elif SUBGROUP > 0
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#define dsa_sg_max_f32(v) sub_group_reduce_max(v)
#define dsa_sg_scan_incl_u32(v) sub_group_scan_inclusive_add(v)
#define DSA_SG_ID ((I32)get_sub_group_id())
#define DSA_SG_COUNT ((I32)get_num_sub_groups())
#define DSA_SG_LANE ((I32)get_sub_group_local_id())
#define DSA_SG_SIZE ((I32)get_sub_group_size())
#endif

#if SUBGROUP > 0
/* Replaces common.h's portable forms (same contract: called by every thread of the block, every
 * thread gets the result, the shared array is free again on return). */
#define DSA_DIALECT_BLOCK_OPS 1
#define BLOCK_REDUCE_MAX_F32(red, v, result)                                                        \
    {                                                                                               \
        F32 dsa_m = dsa_sg_max_f32(v);                                                              \
        if (DSA_SG_LANE == 0) red[DSA_SG_ID] = dsa_m;                                               \
        BARRIER();                                                                                  \
        dsa_m = red[0];                                                                             \
        for (I32 dsa_i = 1; dsa_i < DSA_SG_COUNT; dsa_i++) dsa_m = FMAXF(dsa_m, red[dsa_i]);        \
        result = dsa_m;                                                                             \
    }                                                                                               \
    BARRIER()

#define BLOCK_SCAN_ADD_U32(arr, v, excl, total)                                                     \
    {                                                                                               \
        U32 dsa_in = dsa_sg_scan_incl_u32(v);                                                       \
        if (DSA_SG_LANE == DSA_SG_SIZE - 1) arr[DSA_SG_ID] = dsa_in;                                \
        BARRIER();                                                                                  \
        U32 dsa_before = 0u;                                                                        \
        U32 dsa_all = 0u;                                                                           \
        for (I32 dsa_i = 0; dsa_i < DSA_SG_COUNT; dsa_i++) {                                        \
            U32 dsa_t = arr[dsa_i];                                                                 \
            if (dsa_i < DSA_SG_ID) dsa_before += dsa_t;                                             \
            dsa_all += dsa_t;                                                                       \
        }                                                                                           \
        excl = dsa_before + dsa_in - (v);                                                           \
        total = dsa_all;                                                                            \
    }                                                                                               \
    BARRIER()
#endif

/* HALF = 1 (cl_khr_fp16): e4m3 decoded through half. A normal e4m3 value's 7 exponent and
 * mantissa bits, placed at half's bits 7..13, read as the same value times 2^-8 (half's exponent
 * bias is 15, e4m3's 7), so one exact conversion and one exact multiplication by 2^8 give it.
 * Subnormals (m * 2^-9) would land on half subnormals, which a device may flush: they are
 * converted as integers instead; 0x7f / 0xff are NaN. bf16 has no such path (its range is not
 * half's). common.h points dsa_fp8_to_f32 here. */
#if HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
DEVICE_FN F32 dsa_fp8_to_f32_half(U32 b)
{
    U32 mag = b & 127u;
    F32 v = mag == 127u ? as_float(0x7fc00000u)
                        : (mag < 8u ? (F32)mag * 0.001953125f : convert_float(as_half((ushort)(mag << 7))) * 256.0f);
    return (b & 128u) != 0u ? -v : v;
}
#define DSA_DIALECT_FP8_TO_F32 dsa_fp8_to_f32_half
#endif
