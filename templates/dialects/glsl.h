/* ---- libdsa vocabulary: GLSL 4.50 compute (Vulkan) ---- */
#define I32 int
#define U32 uint
#define I64 int64_t
#define U64 uint64_t
#define F32 float
#define DEVICE_FN
#define TO_I32(x) int(x)
#define TO_U32(x) uint(x)
/* TO_I64 is a set of overloads, not the int64_t() constructor, because of a lavapipe (Mesa 22.3.6,
 * llvmpipe) miscompilation: an int32 widened by OpSConvert (int64_t(x), or implicitly: `I64 s = x;`,
 * `s += x`) holds the right bits when stored or used in arithmetic, but when it reaches a signed
 * comparison with a constant, a min/max with a constant, or a sign-bit test it behaves as if it had
 * been zero-extended: for x = -1, `int64_t(x) < 0`, `int64_t(x) < 5`, `(int64_t(x) >> 63) != 0`,
 * `(int64_t(x) & 0x8000000000000000l) != 0` and `min(int64_t(x), 0) < 0` are false and
 * `int64_t(x) > 0`, `int64_t(x) >= 0` true (comparisons with a run-time int64 value are right).
 * Building the 64 bits by hand (packInt2x32(ivec2(x, x >> 31)), an OpBitcast) is compiled
 * correctly. Implicit int -> int64 conversions cannot be intercepted here: templates widen int32
 * device values with TO_I64 explicitly (docs/templates.md, rules). U8/U16 values go through TO_U32
 * first. */
int64_t TO_I64(int x) { return packInt2x32(ivec2(x, x >> 31)); }
int64_t TO_I64(uint x) { return packInt2x32(ivec2(int(x), 0)); }
int64_t TO_I64(int64_t x) { return x; }
int64_t TO_I64(uint64_t x) { return int64_t(x); }
int64_t TO_I64(float x) { return int64_t(x); }
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
