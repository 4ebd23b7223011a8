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
