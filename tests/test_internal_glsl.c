/* The Vulkan dialect's compiler (backends/vulkan/glsl_compile.c): glslang to SPIR-V, SPIRV-Tools
 * validation and disassembly, and the messages a failure leaves in dsa_last_error(). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef DSA_HAVE_GLSLANG

#include "../backends/vulkan/glsl_compile.h"

/* Uses everything the generated kernels rely on: 8- and 16-bit storage buffers, 64-bit integer
 * arithmetic, subgroup arithmetic, shared memory, a barrier and push constants. */
static const char *good_shader =
    "#version 450\n"
    "#extension GL_EXT_shader_8bit_storage : require\n"
    "#extension GL_EXT_shader_16bit_storage : require\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require\n"
    "#extension GL_KHR_shader_subgroup_basic : require\n"
    "#extension GL_KHR_shader_subgroup_arithmetic : require\n"
    "layout(local_size_x = 64) in;\n"
    "layout(std430, set = 0, binding = 0) readonly buffer Bytes { uint8_t bytes[]; };\n"
    "layout(std430, set = 0, binding = 1) readonly buffer Halves { uint16_t halves[]; };\n"
    "layout(std430, set = 0, binding = 2) writeonly buffer Sums { float sums[]; };\n"
    "layout(push_constant) uniform Params { int64_t offset; uint n; } pc;\n"
    "shared float tile[64];\n"
    "void main() {\n"
    "    uint i = gl_LocalInvocationID.x;\n"
    "    int64_t g = pc.offset + int64_t(gl_GlobalInvocationID.x);\n"
    "    float v = 0.0;\n"
    "    if (g < int64_t(pc.n)) v = float(uint(bytes[uint(g)])) + float(uint(halves[uint(g)]));\n"
    "    tile[i] = v;\n"
    "    barrier();\n"
    "    float s = subgroupAdd(tile[i ^ 1u]);\n"
    "    if (subgroupElect()) sums[gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID] = s;\n"
    "}\n";

/* Line 5 is broken, as a generator bug would break it. */
static const char *bad_shader =
    "#version 450\n"
    "layout(local_size_x = 32) in;\n"
    "layout(std430, binding = 0) buffer Out { float out_values[]; };\n"
    "void main() {\n"
    "    float broken_value = 1.0 +;\n"
    "    out_values[gl_GlobalInvocationID.x] = broken_value;\n"
    "}\n";

static uint32_t *compile_good(uint32_t version, size_t *count)
{
    uint32_t *words = NULL;
    dsa_status s = dsa_glsl_to_spirv(good_shader, "test_good", version, &words, count);
    cr_assert_eq(s, DSA_SUCCESS, "compile to 0x%x failed: %s", version, dsa_last_error());
    cr_assert_not_null(words);
    cr_assert_gt(*count, 5);
    return words;
}

Test(glsl, compiles_validates_and_disassembles)
{
    size_t count = 0;
    uint32_t *words = compile_good(DSA_SPIRV_1_3, &count);
    cr_expect_eq(words[0], 0x07230203u, "SPIR-V magic");
    cr_expect_eq(words[1], DSA_SPIRV_1_3, "module version word is 0x%x", words[1]);

    cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_SUCCESS, "Vulkan 1.1: %s", dsa_last_error());
    /* Later Vulkan versions accept SPIR-V 1.3 too. */
    cr_expect_eq(dsa_spirv_validate(words, count, 2), DSA_SUCCESS, "Vulkan 1.2: %s", dsa_last_error());
    cr_expect_eq(dsa_spirv_validate(words, count, 3), DSA_SUCCESS, "Vulkan 1.3: %s", dsa_last_error());

    char *text = NULL;
    cr_assert_eq(dsa_spirv_disassemble(words, count, &text), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(text);
    cr_expect(strstr(text, "OpEntryPoint") != NULL, "no OpEntryPoint in:\n%.2000s", text);
    cr_expect(strstr(text, "GLCompute") != NULL);
    cr_expect(strstr(text, "StorageBuffer8BitAccess") != NULL, "8-bit storage capability missing");
    cr_expect(strstr(text, "StorageBuffer16BitAccess") != NULL, "16-bit storage capability missing");
    cr_expect(strstr(text, "Int64") != NULL, "Int64 capability missing");
    cr_expect(strstr(text, "GroupNonUniformArithmetic") != NULL, "subgroup arithmetic missing");
    cr_expect(strstr(text, "PushConstant") != NULL, "push constants missing");
    cr_expect(strstr(text, "Workgroup") != NULL, "shared memory missing");
    free(text);
    free(words);
}

Test(glsl, every_spirv_version_validates_for_its_vulkan)
{
    static const struct { uint32_t spirv, vulkan_minor; } pairs[] = {
        {DSA_SPIRV_1_4, 1}, /* Vulkan 1.1 + VK_KHR_spirv_1_4 */
        {DSA_SPIRV_1_5, 2},
        {DSA_SPIRV_1_6, 3},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t count = 0;
        uint32_t *words = compile_good(pairs[i].spirv, &count);
        cr_expect_eq(words[1], pairs[i].spirv);
        cr_expect_eq(dsa_spirv_validate(words, count, pairs[i].vulkan_minor), DSA_SUCCESS, "0x%x on 1.%u: %s",
                     pairs[i].spirv, pairs[i].vulkan_minor, dsa_last_error());
        free(words);
    }
    /* SPIR-V 1.5 is too new for Vulkan 1.1. */
    size_t count = 0;
    uint32_t *words = compile_good(DSA_SPIRV_1_5, &count);
    cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_ERROR_COMPILE);
    free(words);
}

Test(glsl, syntax_error_quotes_the_generated_line)
{
    uint32_t *words = (uint32_t *)(uintptr_t)1; /* must be reset to NULL on failure */
    size_t count = 99;
    dsa_status s = dsa_glsl_to_spirv(bad_shader, "test_bad", DSA_SPIRV_1_3, &words, &count);
    cr_assert_eq(s, DSA_ERROR_COMPILE, "status %d: %s", s, dsa_last_error());
    cr_expect_null(words);
    cr_expect_eq(count, 0);
    const char *msg = dsa_last_error();
    cr_expect(strstr(msg, "glslang") != NULL, "compiler not named: %s", msg);
    cr_expect(strstr(msg, "test_bad") != NULL, "kernel not named: %s", msg);
    cr_expect(strstr(msg, "0:5:") != NULL, "glslang's log (line 5) missing: %s", msg);
    cr_expect(strstr(msg, "5 |     float broken_value = 1.0 +;") != NULL, "offending line not quoted: %s", msg);
}

Test(glsl, link_error_is_a_compile_error)
{
    /* Parses, but a compute shader without main cannot link. */
    const char *src = "#version 450\nlayout(local_size_x = 1) in;\nvoid helper() {}\n";
    uint32_t *words = NULL;
    size_t count = 0;
    cr_assert_eq(dsa_glsl_to_spirv(src, "test_nomain", DSA_SPIRV_1_3, &words, &count), DSA_ERROR_COMPILE);
    cr_expect(strstr(dsa_last_error(), "test_nomain") != NULL, "%s", dsa_last_error());
    cr_expect_null(words);
}

Test(glsl, corrupt_spirv_fails_validation)
{
    size_t count = 0;
    uint32_t *words = compile_good(DSA_SPIRV_1_3, &count);

    /* An id bound below the ids in use: every instruction after the header is now invalid. */
    uint32_t bound = words[3];
    words[3] = 2;
    cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_ERROR_COMPILE);
    cr_expect(strstr(dsa_last_error(), "SPIR-V validation") != NULL, "%s", dsa_last_error());
    words[3] = bound;
    cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_SUCCESS, "%s", dsa_last_error());

    /* A truncated module: the last instruction is cut in half or missing. */
    cr_expect_eq(dsa_spirv_validate(words, count - 1, 1), DSA_ERROR_COMPILE);

    /* No SPIR-V at all: the magic number is wrong; the disassembler refuses it too. */
    words[0] = 0xdeadbeefu;
    cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_ERROR_COMPILE);
    cr_expect(strlen(dsa_last_error()) > 0);
    char *text = (char *)(uintptr_t)1;
    cr_expect_eq(dsa_spirv_disassemble(words, count, &text), DSA_ERROR_COMPILE);
    cr_expect_null(text);
    free(words);
}

Test(glsl, bad_arguments_are_rejected)
{
    uint32_t *words = NULL;
    size_t count = 0;
    cr_expect_eq(dsa_glsl_to_spirv(good_shader, "k", 0x10000, &words, &count), DSA_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(dsa_last_error(), "spirv_version") != NULL, "%s", dsa_last_error());
    cr_expect_eq(dsa_glsl_to_spirv(NULL, "k", DSA_SPIRV_1_3, &words, &count), DSA_ERROR_NULL_POINTER);
    cr_expect_eq(dsa_glsl_to_spirv(good_shader, "k", DSA_SPIRV_1_3, NULL, &count), DSA_ERROR_NULL_POINTER);

    uint32_t one = 0x07230203u;
    cr_expect_eq(dsa_spirv_validate(&one, 1, 0), DSA_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(dsa_spirv_validate(&one, 1, 4), DSA_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(dsa_spirv_validate(NULL, 1, 1), DSA_ERROR_NULL_POINTER);
    cr_expect_eq(dsa_spirv_validate(&one, 0, 1), DSA_ERROR_INVALID_ARGUMENT);
    char *text = NULL;
    cr_expect_eq(dsa_spirv_disassemble(&one, 0, &text), DSA_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(dsa_spirv_disassemble(&one, 1, NULL), DSA_ERROR_NULL_POINTER);
}

Test(glsl, version_names_both_tools)
{
    const char *v = dsa_glsl_compiler_version();
    cr_assert_not_null(v);
    cr_expect(strstr(v, "glslang") != NULL, "%s", v);
    cr_expect(strstr(v, "SPIRV-Tools") != NULL, "%s", v);
}

/* Several threads compiling at once (kernels are prepared from any thread) each get their own
 * correct module. */
static void *compile_in_thread(void *arg)
{
    size_t *count = arg;
    uint32_t *words = NULL;
    if (dsa_glsl_to_spirv(good_shader, "test_thread", DSA_SPIRV_1_3, &words, count) != DSA_SUCCESS) *count = 0;
    else if (dsa_spirv_validate(words, *count, 1) != DSA_SUCCESS) *count = 0;
    free(words);
    return NULL;
}

Test(glsl, concurrent_compiles)
{
    enum { N = 4 };
    pthread_t threads[N];
    size_t counts[N];
    for (int i = 0; i < N; i++) {
        counts[i] = 0;
        cr_assert_eq(pthread_create(&threads[i], NULL, compile_in_thread, &counts[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_expect_gt(counts[i], 5, "thread %d failed", i);
        cr_expect_eq(counts[i], counts[0], "thread %d produced a different module", i);
    }
}

#else

Test(glsl, not_built)
{
    cr_skip_test("built without glslang: configure with glslang-dev and spirv-tools installed");
}

#endif
