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
/* Each buffer argument `q` is a macro q(i) naming element i of its view. The generator defines it
 * over the SSBO binding and the view's element offset (spec addr=0), or, for tensors larger than a
 * binding may be (maxStorageBufferRange), over a GL_EXT_buffer_reference to the element at the
 * view's device address plus i times its size, in 64-bit arithmetic (addr=1); templates read and
 * write both the same way. */
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
/* e4m3 code times an fp32 scale, rounded once, with fp32 denormals kept (scale or product): Vulkan
 * drivers may flush them (NVIDIA does, and reports no shaderDenormPreserveFloat32), which zeroed
 * the exact dequantize/cache-read outputs. Where neither the scale (exponent field >= 10) nor the
 * product (|code| >= 2^-9) can be subnormal the hardware multiplies; otherwise the product is
 * formed in integers (4 x 24 significant bits fit in 32) and rounded to nearest even at the ulp
 * U = max(msb exponent - 23, -149), which covers normal and subnormal results alike. */
#define FP8_SCALE(code, sc) dsa_glsl_fp8_scale(code, sc)
float dsa_glsl_fp8_scale(uint b, float s)
{
    uint sb = floatBitsToUint(s), es = (sb >> 23) & 255u, e = (b >> 3) & 15u, m = b & 7u;
    uint ma = e == 0u ? m : (8u | m);
    int ea = e == 0u ? -9 : int(e) - 10; /* |code| = ma * 2^ea */
    if (es >= 10u || (e == 15u && m == 7u)) {
        float a = ldexp(float(ma), ea);
        if (e == 15u && m == 7u) a = uintBitsToFloat(0x7fc00000u);
        return ((b & 128u) != 0u ? -a : a) * s;
    }
    uint sign = ((b << 24) ^ sb) & 0x80000000u;
    uint p = ma * ((sb & 0x7fffffu) | (es != 0u ? 0x800000u : 0u));
    if (p == 0u) return uintBitsToFloat(sign);
    int ex = ea + max(int(es), 1) - 150; /* |product| = p * 2^ex, exactly */
    int u = max(findMSB(p) + ex - 23, -149);
    uint r;
    if (ex >= u) {
        r = p << uint(ex - u);
    } else {
        uint sh = uint(u - ex), rem = p & ((1u << sh) - 1u), hf = 1u << (sh - 1u);
        r = p >> sh;
        if (rem > hf || (rem == hf && (r & 1u) != 0u)) r++;
    }
    return uintBitsToFloat(sign | (uint(u + 150) << 23) + r - 0x800000u);
}
/* Matrix units: none yet; MATRIX=1 compiles the portable gemm of common.h. The place for
 * VK_KHR_cooperative_matrix is here, as cuda.h does it for mma.sync: under `#if MATRIX`, define
 * DSA_FRAG_MMA, the A-fragment layout (FRAG_A_*) and GEMM_NT / GEMM_NN with coopMatLoad (A from its
 * fragment words staged in shared memory, B from the shared tile), coopMatMulAdd into a
 * coopmat<float, gl_ScopeSubgroup, 16, 8, gl_MatrixUseAccumulator> and coopMatStore back into the
 * caller's c[] through a shared scratch, because templates address accumulator elements by
 * FRAG_ROW / FRAG_COL and cooperative matrices hide their element order (DESIGN.md, the tile layer).
 * It needs GL_KHR_cooperative_matrix (glslang 14 or newer; Debian 12's 12.0 lacks it), SPIR-V 1.6
 * or SPV_KHR_cooperative_matrix, and a device listing a 16x8x16 bf16 or fp16 shape in
 * vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR (docs/backends/vulkan.md). */
