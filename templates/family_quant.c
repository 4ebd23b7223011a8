/* Kernel family: FP8 group quantization and dequantization (kernels/quantize_fp8.dsa,
 * kernels/dequantize_fp8.dsa). */
#include "template.h"
#include "internal.h"

static dsa_status check_quantize(const dsa_spec *s)
{
    if (s->in_dtype != DSA_BF16 && s->in_dtype != DSA_FP16 && s->in_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "quantize_fp8: spec in_dtype is %s, expected bf16, fp16 or fp32",
                        dsa_dtype_name(s->in_dtype));
    return DSA_SUCCESS;
}

static uint64_t quantize_shared(const dsa_spec *s) { return (uint64_t)s->block * 4u; }

static dsa_status check_dequantize(const dsa_spec *s)
{
    if (s->out_dtype != DSA_BF16 && s->out_dtype != DSA_FP32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dequantize_fp8: spec out_dtype is %s, expected fp32 or bf16",
                        dsa_dtype_name(s->out_dtype));
    return DSA_SUCCESS;
}

static void quantize_defaults(dsa_spec *s)
{
    s->in_dtype = DSA_BF16;
    s->out_dtype = DSA_FP8_E4M3;
}

static void dequantize_defaults(dsa_spec *s)
{
    s->in_dtype = DSA_FP8_E4M3;
    s->out_dtype = DSA_FP32;
}

static const dsa_kernel_entry entries[] = {
    {"quantize_fp8", "FP8 group quantization, one power-of-two scale per 128 values", check_quantize,
     quantize_shared, quantize_defaults},
    {"dequantize_fp8", "FP8 group dequantization to fp32 or bf16", check_dequantize, NULL, dequantize_defaults},
};

const dsa_kernel_family dsa_family_quant = {entries, (int)(sizeof entries / sizeof entries[0])};
