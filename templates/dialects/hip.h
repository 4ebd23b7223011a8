/* ---- libdsa vocabulary: HIP C++ (hiprtc pre-includes the HIP runtime) ----
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
typedef int I32;
typedef unsigned int U32;
typedef long long I64;
typedef unsigned long long U64;
typedef float F32;
typedef unsigned char U8;
typedef unsigned short U16;
#define DEVICE_FN __device__ __forceinline__ /* not static: unused helpers draw no warning */
#define TO_I32(x) ((I32)(x))
#define TO_U32(x) ((U32)(x))
#define TO_I64(x) ((I64)(x))
#define TO_F32(x) ((F32)(x))
#define TO_U8(x) ((U8)(x))
#define TO_U16(x) ((U16)(x))
#define TID ((I32)threadIdx.x)
#define BLOCK_ID_X ((I64)blockIdx.x)
#define BLOCK_ID_Y ((I64)blockIdx.y)
#define NUM_BLOCKS_X ((I64)gridDim.x)
#define BARRIER() __syncthreads()
#define LD(buf, i) ((buf)[i])
#define ST(buf, i, v) ((buf)[i] = (v))
#define F32_BITS(x) __float_as_uint(x)
#define BITS_F32(u) __uint_as_float(u)
#define EXPF(x) expf(x)
#define LOGF(x) logf(x)
#define FABSF(x) fabsf(x)
#define FMAXF(a, b) fmaxf(a, b)
#define RINTF(x) rintf(x)
#define ISNAN(x) isnan(x)
#define ISFINITE(x) isfinite(x)
#define SHARED_ATOMIC_ADD(arr, i, v) atomicAdd(&(arr)[i], (v))
