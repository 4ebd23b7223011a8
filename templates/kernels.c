/* The kernel registry: each template's name, embedded text, portable default specialization and
 * the rules its specializations must follow. The algorithms are in templates/kernels/<name>.dsa. */
#include "template.h"
#include "internal.h"

#include <string.h>

static dsa_spec base_spec(void)
{
    dsa_spec s;
    memset(&s, 0, sizeof s);
    s.block = 128;
    s.stages = 1;
    s.in_dtype = DSA_FP32;
    s.out_dtype = DSA_FP32;
    return s;
}

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

typedef struct registry_entry {
    const char *name, *summary;
    dsa_status (*check)(const dsa_spec *);
    uint64_t (*shared_bytes)(const dsa_spec *);
    void (*defaults)(dsa_spec *);
} registry_entry;

static void quantize_defaults(dsa_spec *s) { s->in_dtype = DSA_BF16; s->out_dtype = DSA_FP8_E4M3; }
static void dequantize_defaults(dsa_spec *s) { s->in_dtype = DSA_FP8_E4M3; s->out_dtype = DSA_FP32; }

static const registry_entry entries[] = {
    {"quantize_fp8", "FP8 group quantization, one power-of-two scale per 128 values", check_quantize,
     quantize_shared, quantize_defaults},
    {"dequantize_fp8", "FP8 group dequantization to fp32 or bf16", check_dequantize, NULL, dequantize_defaults},
};
#define N_KERNELS ((int)(sizeof entries / sizeof entries[0]))

static dsa_kernel_def defs[N_KERNELS];
static int built;

/* The table is filled on first use from constant data and the embedded texts; concurrent first
 * calls write the same values, so no lock is needed for correctness. */
static void build(void)
{
    if (built) return;
    for (int i = 0; i < N_KERNELS; i++) {
        char path[96];
        strcpy(path, "kernels/");
        strncat(path, entries[i].name, sizeof path - 20);
        strcat(path, ".dsa");
        defs[i].name = entries[i].name;
        defs[i].summary = entries[i].summary;
        defs[i].source = dsa_embedded_text(path);
        defs[i].defaults = base_spec();
        if (entries[i].defaults) entries[i].defaults(&defs[i].defaults);
        defs[i].check = entries[i].check;
        defs[i].shared_bytes = entries[i].shared_bytes;
    }
    built = 1;
}

int dsa_kernel_count(void) { return N_KERNELS; }

const dsa_kernel_def *dsa_kernel_at(int i)
{
    build();
    return i >= 0 && i < N_KERNELS ? &defs[i] : NULL;
}

const dsa_kernel_def *dsa_kernel_find(const char *name)
{
    build();
    for (int i = 0; i < N_KERNELS; i++)
        if (name && strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}
