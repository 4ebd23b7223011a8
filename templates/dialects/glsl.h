/* ---- libdsa vocabulary: GLSL 4.50 compute (Vulkan) ---- */
#define I32 int
#define U32 uint
#define I64 int64_t
#define U64 uint64_t
#define F32 float
#define DEVICE_FN
#define TO_I32(x) int(x)
#define TO_U32(x) uint(x)
#define TO_I64(x) int64_t(x)
#define TO_F32(x) float(x)
#define TO_U8(x) uint8_t(x)
#define TO_U16(x) uint16_t(x)
#define TID int(gl_LocalInvocationID.x)
#define BLOCK_ID_X int64_t(gl_WorkGroupID.x)
#define BLOCK_ID_Y int64_t(gl_WorkGroupID.y)
#define NUM_BLOCKS_X int64_t(gl_NumWorkGroups.x)
#define BARRIER() { memoryBarrierShared(); barrier(); }
/* Each buffer argument `q` is a macro q(i) naming element i of its view (the generator defines it
 * over the SSBO and the view's offset). GLSL indexes with 32 bits: bindings larger than 2^32
 * elements are split by the backend. */
#define LD(buf, i) buf(i)
#define ST(buf, i, v) buf(i) = (v)
#define F32_BITS(x) floatBitsToUint(x)
#define BITS_F32(u) uintBitsToFloat(u)
#define EXPF(x) exp(x)
#define LOGF(x) log(x)
#define FABSF(x) abs(x)
#define FMAXF(a, b) max(a, b) /* callers pass no NaN */
#define RINTF(x) roundEven(x)
#define ISNAN(x) isnan(x)
#define ISFINITE(x) (!isnan(x) && !isinf(x))
#define SHARED_ATOMIC_ADD(arr, i, v) atomicAdd(arr[i], (v))
