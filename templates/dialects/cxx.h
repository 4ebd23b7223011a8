/* ---- libdsa vocabulary: what CUDA C++ and HIP C++ share (the same language and builtins) ----
 * The generator emits this before dialects/cuda.h or dialects/hip.h, which add what differs:
 * the matrix-unit and packed-load paths (CUDA), the wavefront checks and wave shuffles (HIP). */
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
#define RINTF(x) rintf(x) /* round half to even */
#define ISNAN(x) isnan(x)
#define ISFINITE(x) isfinite(x)
#define SHARED_ATOMIC_ADD(arr, i, v) atomicAdd(&(arr)[i], (v))
