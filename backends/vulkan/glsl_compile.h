/* The Vulkan dialect's compiler: GLSL 4.50 compute shaders to SPIR-V with glslang used as a library,
 * and SPIR-V validation and disassembly with SPIRV-Tools (issue: "glslang used as a library, from
 * Debian's glslang-dev"). Internal to libdsa; built only when glslang and SPIRV-Tools were found at
 * configure time (then DSA_HAVE_GLSLANG is defined for the whole build).
 *
 * All functions are thread-safe, never print (failures go to dsa_last_error() and the "compile" log
 * category) and return malloc'd results the caller frees with free(). */
#ifndef DSA_VULKAN_GLSL_COMPILE_H
#define DSA_VULKAN_GLSL_COMPILE_H

#include "dsa.h"

#include <stddef.h>
#include <stdint.h>

/* SPIR-V versions as glslang and the SPIR-V header spell them: 0x00MMmm00. */
#define DSA_SPIRV_1_3 0x10300u
#define DSA_SPIRV_1_4 0x10400u
#define DSA_SPIRV_1_5 0x10500u
#define DSA_SPIRV_1_6 0x10600u

/* Compiles one GLSL compute shader (entry point main) to SPIR-V `spirv_version` (1.3 to 1.6), for a
 * Vulkan client: 1.1 for SPIR-V 1.3 and 1.4, 1.2 for 1.5, 1.3 for 1.6. kernel_name only labels
 * messages. On success *words is malloc'd and holds *count words. A preprocess, parse, link or
 * generation failure is DSA_ERROR_COMPILE through dsa_compile_failure(), whose message quotes the
 * glslang log and the generated lines it points at. */
dsa_status dsa_glsl_to_spirv(const char *glsl, const char *kernel_name, uint32_t spirv_version, uint32_t **words,
                             size_t *count);

/* Validates a module for Vulkan 1.<target_env_vulkan_minor> (1..3) with SPIRV-Tools' default
 * (strict) rules: standard block layouts, no relaxations. A module whose header says SPIR-V 1.4 is
 * validated for Vulkan 1.1 as "Vulkan 1.1 with VK_KHR_spirv_1_4". An invalid module is
 * DSA_ERROR_COMPILE carrying the validator's diagnostic. */
dsa_status dsa_spirv_validate(const uint32_t *words, size_t count, uint32_t target_env_vulkan_minor);

/* Disassembles a module to SPIR-V assembly text (indented, friendly names), as `dsa codegen
 * --dialect spirv` prints it. *text is malloc'd and NUL-terminated. A module that cannot be parsed
 * is DSA_ERROR_COMPILE with the disassembler's diagnostic. */
dsa_status dsa_spirv_disassemble(const uint32_t *words, size_t count, char **text);

/* "glslang 12.0.0, SPIRV-Tools v2023.1 ...": the compilers in this build, for messages and for
 * kernel cache keys (a different compiler must not reuse a cached binary). Never NULL; static. */
const char *dsa_glsl_compiler_version(void);

#endif
