/* GLSL -> SPIR-V with glslang's C interface, and SPIR-V validation and disassembly with SPIRV-Tools'
 * C API. Both are C++ libraries linked statically into libdsa (see sources.cmake); only their C
 * entry points are used here, so the C++ stays at this edge. */
#include "glsl_compile.h"

#include "internal.h"

#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>
#include <spirv-tools/libspirv.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glslang's own version, when this glslang is new enough to install build_info.h (11.0 and later). */
#if defined(__has_include)
#if __has_include(<glslang/build_info.h>)
#include <glslang/build_info.h>
#endif
#endif
#ifdef GLSLANG_VERSION_MAJOR
#define DSA_STR2(x) #x
#define DSA_STR(x) DSA_STR2(x)
#define GLSLANG_NAME                                                                                          \
    "glslang " DSA_STR(GLSLANG_VERSION_MAJOR) "." DSA_STR(GLSLANG_VERSION_MINOR) "." DSA_STR(                 \
        GLSLANG_VERSION_PATCH) GLSLANG_VERSION_FLAVOR
#else
#define GLSLANG_NAME "glslang"
#endif

/* glslang_initialize_process() sets up process-wide tables (symbol tables for every built-in) and
 * must run once before any shader is created; pthread_once makes the first compile from any thread
 * do it exactly once. It is never finalized: the library has no unload hook, and the tables are
 * what every later compile reuses. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok;
static char version_text[192];

/* Whether concurrent parses are safe differs between glslang releases (older ones keep per-thread
 * pool allocators that must be set up per thread). Compiles are rare (once per specialization,
 * then cached), so they are serialized rather than trusting the installed version. */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static void init_glslang(void)
{
    init_ok = glslang_initialize_process() != 0;
    snprintf(version_text, sizeof version_text, "%s, SPIRV-Tools %s", GLSLANG_NAME, spvSoftwareVersionString());
}

const char *dsa_glsl_compiler_version(void)
{
    pthread_once(&init_once, init_glslang);
    return version_text;
}

/* The info log followed by the debug log (either may be NULL or empty), as one malloc'd string. */
static char *join_logs(const char *info, const char *debug)
{
    if (!info) info = "";
    if (!debug) debug = "";
    size_t a = strlen(info), b = strlen(debug);
    char *out = malloc(a + b + 2);
    if (!out) return NULL;
    memcpy(out, info, a);
    size_t n = a;
    if (b) {
        if (a && info[a - 1] != '\n') out[n++] = '\n';
        memcpy(out + n, debug, b);
        n += b;
    }
    /* glslang ends its logs with blank lines; the message reads better without them. */
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) n--;
    out[n] = '\0';
    return out;
}

/* Reports a glslang failure at `stage` through dsa_compile_failure, which quotes the source lines the
 * log names ("ERROR: 0:LINE: ..."). */
static dsa_status glslang_failure(const char *stage, const char *kernel, const char *glsl, const char *info,
                                  const char *debug)
{
    char *log = join_logs(info, debug);
    char compiler[96];
    snprintf(compiler, sizeof compiler, "%s (%s)", GLSLANG_NAME, stage);
    dsa_status s = dsa_compile_failure(compiler, kernel, glsl, log ? log : "(out of memory for the log)");
    free(log);
    return s;
}

/* The Vulkan version a SPIR-V version needs at least: 1.3 is Vulkan 1.1's own, 1.4 runs on Vulkan 1.1
 * with VK_KHR_spirv_1_4, 1.5 is Vulkan 1.2's and 1.6 Vulkan 1.3's. */
static glslang_target_client_version_t client_for(uint32_t spirv_version)
{
    switch (spirv_version) {
    case DSA_SPIRV_1_5: return GLSLANG_TARGET_VULKAN_1_2;
    case DSA_SPIRV_1_6: return GLSLANG_TARGET_VULKAN_1_3;
    default: return GLSLANG_TARGET_VULKAN_1_1;
    }
}

/* Runs the glslang pipeline; called with compile_lock held. */
static dsa_status compile_locked(const char *glsl, const char *kernel, uint32_t spirv_version, uint32_t **words,
                                 size_t *count)
{
    const glslang_messages_t messages =
        (glslang_messages_t)(GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT);
    glslang_input_t input;
    memset(&input, 0, sizeof input);
    input.language = GLSLANG_SOURCE_GLSL;
    input.stage = GLSLANG_STAGE_COMPUTE;
    input.client = GLSLANG_CLIENT_VULKAN;
    input.client_version = client_for(spirv_version);
    input.target_language = GLSLANG_TARGET_SPV;
    /* glslang's target enum uses the SPIR-V header's encoding, so the version passes through. */
    input.target_language_version = (glslang_target_language_version_t)spirv_version;
    input.code = glsl;
    /* Generated sources start with "#version 450"; the default only matters if one does not. */
    input.default_version = 450;
    input.default_profile = GLSLANG_NO_PROFILE;
    input.force_default_version_and_profile = 0;
    input.forward_compatible = 0;
    input.messages = messages;
    /* Compute shaders touch few of these limits (work-group size and count); glslang's generous
     * defaults are enough here, because fitting a specialization to the device's real limits is
     * core's job when it chooses the specialization (DESIGN.md invariant 6), not the compiler's. */
    input.resource = glslang_default_resource();

    glslang_shader_t *shader = glslang_shader_create(&input);
    if (!shader) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "glslang: cannot create a shader for %s", kernel);

    dsa_status status = DSA_SUCCESS;
    glslang_program_t *program = NULL;
    if (!glslang_shader_preprocess(shader, &input)) {
        status = glslang_failure("preprocess", kernel, glsl, glslang_shader_get_info_log(shader),
                                 glslang_shader_get_info_debug_log(shader));
        goto done;
    }
    if (!glslang_shader_parse(shader, &input)) {
        status = glslang_failure("parse", kernel, glsl, glslang_shader_get_info_log(shader),
                                 glslang_shader_get_info_debug_log(shader));
        goto done;
    }
    program = glslang_program_create();
    if (!program) {
        status = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "glslang: cannot create a program for %s", kernel);
        goto done;
    }
    glslang_program_add_shader(program, shader);
    if (!glslang_program_link(program, (int)messages)) {
        status = glslang_failure("link", kernel, glsl, glslang_program_get_info_log(program),
                                 glslang_program_get_info_debug_log(program));
        goto done;
    }

    glslang_spv_options_t options;
    memset(&options, 0, sizeof options);
    /* No debug info (smaller binaries, stable cache keys). glslang's spirv-opt pass stays off: every
     * Vulkan driver optimizes the module itself, and unoptimized SPIR-V mirrors the generated GLSL
     * line for line, which keeps `dsa codegen --dialect spirv` readable. Validation is done
     * separately by dsa_spirv_validate, against the device's Vulkan version. */
    options.disable_optimizer = 1;
    glslang_program_SPIRV_generate_with_options(program, GLSLANG_STAGE_COMPUTE, &options);

    size_t n = glslang_program_SPIRV_get_size(program);
    const unsigned int *code = glslang_program_SPIRV_get_ptr(program);
    if (n == 0 || !code) {
        status = glslang_failure("SPIR-V generation", kernel, glsl, glslang_program_SPIRV_get_messages(program),
                                 glslang_program_get_info_log(program));
        goto done;
    }
    uint32_t *out = malloc(n * sizeof *out);
    if (!out) {
        status = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "glslang: no memory for %zu SPIR-V words of %s", n, kernel);
        goto done;
    }
    for (size_t i = 0; i < n; i++) out[i] = (uint32_t)code[i];
    *words = out;
    *count = n;
    /* Warnings (not errors) of a successful compile are worth seeing when compiles are logged. */
    const char *warnings = glslang_shader_get_info_log(shader);
    if (warnings && *warnings && dsa_log_enabled("compile"))
        dsa_log(DSA_LOG_DEBUG, "compile", "%s: %s warnings:\n%s", GLSLANG_NAME, kernel, warnings);

done:
    /* The program refers to the shader, so it goes first. */
    if (program) glslang_program_delete(program);
    glslang_shader_delete(shader);
    return status;
}

dsa_status dsa_glsl_to_spirv(const char *glsl, const char *kernel_name, uint32_t spirv_version, uint32_t **words,
                             size_t *count)
{
    if (!glsl) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_glsl_to_spirv: glsl is NULL");
    if (!words || !count) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_glsl_to_spirv: words or count is NULL");
    if (!kernel_name) kernel_name = "(unnamed kernel)";
    if (spirv_version != DSA_SPIRV_1_3 && spirv_version != DSA_SPIRV_1_4 && spirv_version != DSA_SPIRV_1_5 &&
        spirv_version != DSA_SPIRV_1_6)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "dsa_glsl_to_spirv: spirv_version is 0x%x, expected 0x10300, 0x10400, 0x10500 or 0x10600 "
                        "(SPIR-V 1.3 to 1.6; Vulkan 1.1 is the minimum)",
                        (unsigned)spirv_version);
    *words = NULL;
    *count = 0;

    pthread_once(&init_once, init_glslang);
    if (!init_ok) return dsa_fail(DSA_ERROR_INTERNAL, "%s: glslang_initialize_process failed", GLSLANG_NAME);

    pthread_mutex_lock(&compile_lock);
    dsa_status s = compile_locked(glsl, kernel_name, spirv_version, words, count);
    pthread_mutex_unlock(&compile_lock);
    return s;
}

/* The validator's environment for a Vulkan version and the module's own SPIR-V version (word 1 of
 * its header): SPIR-V 1.4 on Vulkan 1.1 is legal only through VK_KHR_spirv_1_4, which SPIRV-Tools
 * names as a separate environment. */
static spv_target_env vulkan_env(uint32_t minor, const uint32_t *words, size_t count)
{
    switch (minor) {
    case 1: return count >= 2 && words[1] == DSA_SPIRV_1_4 ? SPV_ENV_VULKAN_1_1_SPIRV_1_4 : SPV_ENV_VULKAN_1_1;
    case 2: return SPV_ENV_VULKAN_1_2;
    default: return SPV_ENV_VULKAN_1_3;
    }
}

/* A diagnostic's text, or a fallback naming the result code when SPIRV-Tools gave none. */
static const char *diag_text(spv_diagnostic diag, spv_result_t r, char *buf, size_t cap)
{
    if (diag && diag->error && *diag->error) return diag->error;
    snprintf(buf, cap, "spv_result_t %d without a diagnostic", (int)r);
    return buf;
}

dsa_status dsa_spirv_validate(const uint32_t *words, size_t count, uint32_t target_env_vulkan_minor)
{
    if (!words) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_spirv_validate: words is NULL");
    if (count == 0) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_spirv_validate: count is 0, expected a module");
    if (target_env_vulkan_minor < 1 || target_env_vulkan_minor > 3)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "dsa_spirv_validate: target_env_vulkan_minor is %u, expected 1..3 (Vulkan 1.1 to 1.3)",
                        (unsigned)target_env_vulkan_minor);

    spv_context ctx = spvContextCreate(vulkan_env(target_env_vulkan_minor, words, count));
    if (!ctx) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "SPIRV-Tools: cannot create a validation context");
    spv_const_binary_t binary = {words, count};
    spv_diagnostic diag = NULL;
    spv_result_t r = spvValidate(ctx, &binary, &diag);
    dsa_status s = DSA_SUCCESS;
    if (r != SPV_SUCCESS) {
        char fallback[64];
        const char *text = diag_text(diag, r, fallback, sizeof fallback);
        dsa_log(DSA_LOG_ERROR, "compile", "SPIR-V validation for Vulkan 1.%u failed (SPIRV-Tools %s): %s",
                (unsigned)target_env_vulkan_minor, spvSoftwareVersionString(), text);
        s = dsa_fail(DSA_ERROR_COMPILE,
                     "SPIR-V validation for Vulkan 1.%u failed at word %zu (SPIRV-Tools %s): %.1500s",
                     (unsigned)target_env_vulkan_minor, diag ? diag->position.index : (size_t)0,
                     spvSoftwareVersionString(), text);
    }
    spvDiagnosticDestroy(diag);
    spvContextDestroy(ctx);
    return s;
}

dsa_status dsa_spirv_disassemble(const uint32_t *words, size_t count, char **text)
{
    if (!words || !text) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_spirv_disassemble: words or text is NULL");
    if (count == 0)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_spirv_disassemble: count is 0, expected a module");
    *text = NULL;
    /* The universal 1.6 environment knows every instruction of every version this library emits,
     * so any module disassembles whatever Vulkan version it was made for. */
    spv_context ctx = spvContextCreate(SPV_ENV_UNIVERSAL_1_6);
    if (!ctx) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "SPIRV-Tools: cannot create a disassembly context");
    spv_text out = NULL;
    spv_diagnostic diag = NULL;
    uint32_t options = SPV_BINARY_TO_TEXT_OPTION_INDENT | SPV_BINARY_TO_TEXT_OPTION_FRIENDLY_NAMES;
    spv_result_t r = spvBinaryToText(ctx, words, count, options, &out, &diag);
    dsa_status s = DSA_SUCCESS;
    if (r != SPV_SUCCESS || !out || !out->str) {
        char fallback[64];
        s = dsa_fail(DSA_ERROR_COMPILE, "SPIR-V disassembly failed at word %zu (SPIRV-Tools %s): %.1500s",
                     diag ? diag->position.index : (size_t)0, spvSoftwareVersionString(),
                     diag_text(diag, r, fallback, sizeof fallback));
    } else {
        char *copy = malloc(out->length + 1);
        if (!copy) {
            s = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "SPIR-V disassembly: no memory for %zu bytes", out->length + 1);
        } else {
            memcpy(copy, out->str, out->length);
            copy[out->length] = '\0';
            *text = copy;
        }
    }
    spvTextDestroy(out);
    spvDiagnosticDestroy(diag);
    spvContextDestroy(ctx);
    return s;
}
