/* Bit-exact conversions between fp32 and bf16, fp16 and fp8 e4m3 (OCP E4M3FN), and the FP8 group
 * quantization rule of docs/ops.md. Header-only so that kernels inline them. */
#ifndef DSA_CORE_DTYPE_H
#define DSA_CORE_DTYPE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t dsa_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float dsa_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* bf16 is the top half of an fp32. */
static inline float dsa_bf16_to_f32(uint16_t h) { return dsa_bits_f32((uint32_t)h << 16); }

/* Round to nearest even; NaN stays NaN (quiet, sign kept); infinities stay infinite. */
static inline uint16_t dsa_f32_to_bf16(float f)
{
    uint32_t u = dsa_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* IEEE binary16. */
static inline float dsa_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return dsa_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in fp32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return dsa_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t dsa_f32_to_fp16(float f)
{
    uint32_t u = dsa_f32_bits(f), sign = (u >> 16) & 0x8000u;
    float a = fabsf(f);
    if (a != a) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u); /* rounds to infinity */
    if (a < 0x1p-14f) { /* subnormal range: quantum 2^-24, nearbyint rounds half to even */
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 0x1p24f));
    }
    uint32_t au = dsa_f32_bits(a);
    uint32_t r = au + 0xfffu + ((au >> 13) & 1u); /* round mantissa to 10 bits, ties to even */
    return (uint16_t)(sign | (((r >> 23) - 112u) << 10 | ((r >> 13) & 0x3ffu)));
}

/* e4m3: s eeee mmm, bias 7; exponent 0 is subnormal (m * 2^-9); 0x7f / 0xff are NaN. */
static inline float dsa_fp8_to_f32(uint8_t b)
{
    uint32_t e = (b >> 3) & 0xfu, m = b & 7u;
    float v;
    if (e == 15 && m == 7) return dsa_bits_f32(((uint32_t)(b & 0x80u) << 24) | 0x7fc00000u);
    if (e == 0) v = (float)m * 0x1p-9f;
    else v = dsa_bits_f32(((e + 120u) << 23) | (m << 20)); /* (1 + m/8) * 2^(e-7) */
    return (b & 0x80u) ? -v : v;
}

/* Round to nearest even after clamping to [-448, 448]; NaN gives 0x7f (sign kept); the sign of a
 * value that rounds to zero is kept (0x80 for negatives). */
static inline uint8_t dsa_f32_to_fp8(float f)
{
    uint32_t u = dsa_f32_bits(f);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    float a = fabsf(f);
    if (a != a) return (uint8_t)(sign | 0x7fu);
    if (a >= 448.0f) return (uint8_t)(sign | 0x7eu);
    if (a < 0x1p-6f) { /* subnormal: quantum 2^-9 (m = 0..8; 8 means the smallest normal) */
        return (uint8_t)(sign | (uint8_t)nearbyintf(a * 0x1p9f));
    }
    uint32_t au = dsa_f32_bits(a);
    uint32_t r = au + 0x7ffffu + ((au >> 20) & 1u); /* round mantissa to 3 bits, ties to even */
    uint32_t e = (r >> 23) - 120u, m = (r >> 20) & 7u;
    return (uint8_t)(sign | (e << 3) | m);
}

/* The group scale: the smallest power of two s with amax <= 448 * s, where amax is the largest
 * finite |x| of the group, at least 1e-4 (NaN and infinities do not count: a NaN stays NaN and an
 * infinity saturates to +-448). Exact: no rounding in the choice of s. */
static inline float dsa_fp8_scale_for_amax(float amax)
{
    if (!(amax >= 1e-4f)) amax = 1e-4f;
    int e;
    float m = frexpf(amax / 448.0f, &e); /* only used as a first guess: fixed up exactly below */
    (void)m;
    float s = ldexpf(1.0f, e);
    while (s * 0.5f * 448.0f >= amax) s *= 0.5f; /* products by 448 of powers of two are exact */
    while (s * 448.0f < amax) s *= 2.0f;
    return s;
}

#endif
