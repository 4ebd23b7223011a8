/* The library's scalar conversions (core/dtype.h, an internal header that kernels inline) checked
 * exhaustively or by dense sweeps against the independent oracle of tests/oracle/oracle_select.c,
 * which rounds by searching decoded values in double rather than by bit manipulation. Each test
 * counts every disagreement and reports the first input, so one failure names a reproducer. */
#include "dtype.h"
#include "oracle_select.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Tallies disagreements, keeping the first input and both answers. */
typedef struct tally {
    uint64_t checked, bad;
    uint32_t first_in, first_lib, first_ref;
} tally;

static void note(tally *t, uint32_t in, uint32_t lib, uint32_t ref)
{
    t->checked++;
    if (lib == ref) return;
    if (t->bad++ == 0) {
        t->first_in = in;
        t->first_lib = lib;
        t->first_ref = ref;
    }
}

#define EXPECT_CLEAN(t, what)                                                                      \
    cr_expect_eq((t).bad, 0, "%s: %llu of %llu inputs disagree; first input 0x%08x: library 0x%x, " \
                 "oracle 0x%x", what, (unsigned long long)(t).bad, (unsigned long long)(t).checked, \
                 (t).first_in, (t).first_lib, (t).first_ref)

/* ---- fp8 e4m3 ---- */

Test(dtype, fp8_decode_all_256)
{
    for (int b = 0; b < 256; b++) {
        double ref = oracle_fp8_decode((uint8_t)b);
        float lib = dsa_fp8_to_f32((uint8_t)b);
        if (isnan(ref)) {
            cr_expect(isnan(lib), "fp8 0x%02x must decode to NaN, got %a", b, (double)lib);
            continue;
        }
        cr_expect((double)lib == ref && !signbit(lib) == !signbit(ref),
                  "fp8 0x%02x decodes to %a, expected %a", b, (double)lib, ref);
    }
}

/* The encoder on one fp32 input, both signs. */
static void fp8_check(tally *t, uint32_t u)
{
    float f = f32_of(u);
    note(t, u, dsa_f32_to_fp8(f), oracle_fp8_encode(f));
    note(t, u ^ 0x80000000u, dsa_f32_to_fp8(-f), oracle_fp8_encode(-(double)f));
}

/* Every 7th positive pattern where fp8 has codes or ties nearby (|x| in [2^-11, 2^9]) against the
 * oracle, and its negative against the sign rule (same code | 0x80); elsewhere (the all-zero and
 * the saturated ranges, infinities, NaN) every 4099th pattern, both signs against the oracle. */
Test(dtype, fp8_encode_sweep, .timeout = 120)
{
    tally t = {0}, sym = {0};
    uint32_t lo = bits_of(0x1p-11f), hi = bits_of(0x1p9f);
    for (uint32_t u = lo; u <= hi; u += 7) {
        float f = f32_of(u);
        uint8_t pos = dsa_f32_to_fp8(f);
        note(&t, u, pos, oracle_fp8_encode(f));
        note(&sym, u | 0x80000000u, dsa_f32_to_fp8(-f), pos | 0x80u);
    }
    for (uint64_t u = 0; u < 0x80000000ull; u += 4099) fp8_check(&t, (uint32_t)u);
    EXPECT_CLEAN(t, "fp32 -> fp8 sweep");
    EXPECT_CLEAN(sym, "fp32 -> fp8 of negatives (expected: the positive's code | 0x80)");
}

/* Every code value, every midpoint between adjacent codes (a tie), and their fp32 neighbours. */
Test(dtype, fp8_encode_boundaries)
{
    tally t = {0};
    for (int c = 0; c < 0x7e; c++) {
        float a = (float)oracle_fp8_decode((uint8_t)c), b = (float)oracle_fp8_decode((uint8_t)(c + 1));
        float mid = (float)(0.5 * ((double)a + (double)b)); /* 5 significant bits: exact */
        const float probes[] = {a, nextafterf(a, 0.0f), nextafterf(a, 1e9f), mid, nextafterf(mid, 0.0f),
                                nextafterf(mid, 1e9f)};
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) fp8_check(&t, bits_of(probes[i]));
    }
    /* saturation: 448, the midpoint to the missing 480, beyond; the largest values; infinity */
    const float big[] = {448.0f, nextafterf(448.0f, 1e9f), 464.0f, 480.0f, 1e6f, 3.4028235e38f, INFINITY};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) fp8_check(&t, bits_of(big[i]));
    /* the subnormal edge and fp32 denormals */
    const uint32_t tiny[] = {0, 1, 0x007fffff, 0x00800000, bits_of(0x1p-10f), bits_of(0x1p-9f), bits_of(0x1p-6f)};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) fp8_check(&t, tiny[i]);
    EXPECT_CLEAN(t, "fp32 -> fp8 at code boundaries");
}

Test(dtype, fp8_encode_nan_keeps_sign)
{
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xffc00000u, 0xff800001u, 0xffffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint8_t want = (nans[i] >> 31) ? 0xff : 0x7f, got = dsa_f32_to_fp8(f32_of(nans[i]));
        cr_expect_eq(got, want, "NaN 0x%08x encodes to 0x%02x, expected 0x%02x", nans[i], got, want);
    }
    cr_expect_eq(dsa_f32_to_fp8(-0.0f), 0x80, "-0.0 must encode to 0x80");
    cr_expect_eq(dsa_f32_to_fp8(-0x1p-11f), 0x80, "-2^-11 rounds to zero and must keep its sign (0x80)");
}

/* ---- bf16 ---- */

/* NaN compares by class (the contract: NaN stays NaN); the rest bit for bit. */
static void bf16_check(tally *t, uint32_t u)
{
    float f = f32_of(u);
    uint16_t lib = dsa_f32_to_bf16(f), ref = oracle_bf16_encode(f);
    if (isnan(f)) ref = isnan(oracle_bf16_decode(lib)) ? lib : ref;
    note(t, u, lib, ref);
}

/* Every upper half with the low halves that decide rounding (0, 1, just below / at / above the tie,
 * all ones), plus a strided sweep. */
Test(dtype, bf16_encode_sweep, .timeout = 120)
{
    tally t = {0};
    const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xc000, 0xffff};
    for (uint32_t up = 0; up < 0x10000u; up++)
        for (size_t i = 0; i < sizeof lows / sizeof lows[0]; i++) bf16_check(&t, up << 16 | lows[i]);
    for (uint64_t u = 0; u < 0x100000000ull; u += 65537) bf16_check(&t, (uint32_t)u);
    EXPECT_CLEAN(t, "fp32 -> bf16");
}

Test(dtype, bf16_decode_all)
{
    tally t = {0};
    for (uint32_t h = 0; h < 0x10000u; h++) {
        double ref = oracle_bf16_decode((uint16_t)h);
        float lib = dsa_bf16_to_f32((uint16_t)h);
        int same = isnan(ref) ? isnan(lib) : bits_of(lib) == oracle_f32_encode(ref);
        note(&t, h, same ? 0 : bits_of(lib), same ? 0 : oracle_f32_encode(ref));
    }
    EXPECT_CLEAN(t, "bf16 -> fp32");
}

/* ---- fp16 ---- */

Test(dtype, fp16_decode_and_round_trip_all)
{
    tally dec = {0}, trip = {0};
    for (uint32_t h = 0; h < 0x10000u; h++) {
        double ref = oracle_fp16_decode((uint16_t)h);
        float lib = dsa_fp16_to_f32((uint16_t)h);
        int same = isnan(ref) ? isnan(lib) : bits_of(lib) == oracle_f32_encode(ref);
        note(&dec, h, same ? 0 : bits_of(lib), same ? 0 : oracle_f32_encode(ref));
        uint16_t back = dsa_f32_to_fp16(lib);
        if (isnan(ref)) note(&trip, h, isnan(dsa_fp16_to_f32(back)) ? h : back, h);
        else note(&trip, h, back, h);
    }
    EXPECT_CLEAN(dec, "fp16 -> fp32");
    EXPECT_CLEAN(trip, "fp16 -> fp32 -> fp16");
}

static void fp16_check(tally *t, uint32_t u)
{
    float f = f32_of(u);
    uint16_t lib = dsa_f32_to_fp16(f), ref = oracle_fp16_encode(f);
    if (isnan(f)) ref = isnan(oracle_fp16_decode(lib)) ? lib : ref;
    note(t, u, lib, ref);
}

/* fp16 keeps 10 of fp32's 23 mantissa bits: every value of the top 19 bits with the low 13 bits
 * that decide rounding (the tie 0x1000 and its neighbours). */
Test(dtype, fp16_encode_sweep, .timeout = 120)
{
    tally t = {0};
    const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff};
    for (uint32_t up = 0; up < (1u << 19); up++)
        for (size_t i = 0; i < sizeof lows / sizeof lows[0]; i++) fp16_check(&t, up << 13 | lows[i]);
    EXPECT_CLEAN(t, "fp32 -> fp16");
}

/* ---- the FP8 group scale ---- */

static void scale_check(tally *t, float amax)
{
    note(t, bits_of(amax), bits_of(dsa_fp8_scale_for_amax(amax)), oracle_f32_encode(oracle_fp8_scale_for_amax(amax)));
}

Test(dtype, fp8_scale_for_amax)
{
    tally t = {0};
    for (int e = -149; e <= 127; e++) scale_check(&t, ldexpf(1.0f, e)); /* powers of two */
    for (int e = -40; e <= 119; e++) {                                    /* 448 * 2^e and neighbours */
        float b = ldexpf(448.0f, e);
        scale_check(&t, b);
        scale_check(&t, nextafterf(b, 0.0f));
        scale_check(&t, nextafterf(b, INFINITY));
    }
    const float edges[] = {0.0f, 1e-4f, nextafterf(1e-4f, 0.0f), nextafterf(1e-4f, 1.0f), 0x1p-149f,
                           3.4028235e38f, 448.0f * 0x1p-23f, 448.0f * 0x1p-22f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) scale_check(&t, edges[i]);
    uint64_t s = 0x1234567u; /* xorshift: positive finite floats of every exponent */
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t u = (uint32_t)s & 0x7fffffffu;
        if ((u >> 23) == 0xff) continue;
        scale_check(&t, f32_of(u));
    }
    EXPECT_CLEAN(t, "dsa_fp8_scale_for_amax");
}
