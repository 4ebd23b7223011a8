/* The public face of the generator: dsa_codegen and the kernel list (api/dsa.h). */
#include "template.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef DSA_HAVE_GLSLANG
#include "glsl_compile.h"
#endif

int dsa_codegen_kernel_count(void) { return dsa_kernel_count(); }

const char *dsa_codegen_kernel_name(int i)
{
    const dsa_kernel_def *k = dsa_kernel_at(i);
    return k ? k->name : NULL;
}

const char *dsa_codegen_kernel_summary(int i)
{
    const dsa_kernel_def *k = dsa_kernel_at(i);
    return k ? k->summary : NULL;
}

void dsa_free(void *p) { free(p); }

/* GLSL -> SPIR-V -> text, for `dsa codegen --dialect spirv`. */
static dsa_status to_spirv_text(const char *kernel, char *glsl, char **source)
{
#ifdef DSA_HAVE_GLSLANG
    uint32_t *words = NULL;
    size_t count = 0;
    dsa_status st = dsa_glsl_to_spirv(glsl, kernel, 0x10300, &words, &count);
    free(glsl);
    if (st != DSA_SUCCESS) return st;
    st = dsa_spirv_disassemble(words, count, source);
    free(words);
    return st;
#else
    free(glsl);
    (void)source;
    return dsa_fail(DSA_ERROR_UNSUPPORTED, "codegen %s: spirv needs glslang, and this build has none "
                    "(install glslang-dev and spirv-tools, configure with DSA_ENABLE_VULKAN=ON)", kernel);
#endif
}

dsa_status dsa_codegen(const char *kernel, const char *dialect, const char *params, char **source)
{
    if (!source) return dsa_fail(DSA_ERROR_NULL_POINTER, "codegen: source is NULL");
    *source = NULL;
    if (!kernel) return dsa_fail(DSA_ERROR_NULL_POINTER, "codegen: kernel is NULL");
    if (!dialect) return dsa_fail(DSA_ERROR_NULL_POINTER, "codegen: dialect is NULL");
    const dsa_kernel_def *k = dsa_kernel_find(kernel);
    if (!k) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "codegen: unknown kernel \"%s\" (dsa codegen --list)", kernel);
    int spirv = strcmp(dialect, "spirv") == 0;
    dsa_dialect d;
    if (spirv) d = DSA_DIALECT_GLSL;
    else if (!dsa_dialect_parse(dialect, &d))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "codegen: dialect is \"%s\", expected cuda, hip, opencl, glsl or spirv", dialect);
    dsa_spec spec = k->defaults;
    dsa_status st = dsa_spec_parse(&spec, params);
    if (st == DSA_SUCCESS) st = dsa_spec_check_any_device(k, &spec);
    if (st == DSA_SUCCESS) st = dsa_generate(k, d, &spec, source);
    if (st != DSA_SUCCESS || !spirv) return st;
    char *glsl = *source;
    *source = NULL;
    return to_spirv_text(kernel, glsl, source);
}
