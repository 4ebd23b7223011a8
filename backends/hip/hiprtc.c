/* hiprtc: generated HIP C++ -> code object (see hiprtc.h). */
#include "hiprtc.h"

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Processors the hiprtc inside ROCm 5.x knows, by the first 5.x release that knows them. The 5.2
 * rows were each compiled here with Debian's libamdhip64 5.2.3; the later rows follow the releases'
 * LLVM (15 in ROCm 5.3: gfx940 and RDNA3; 17 in ROCm 5.7: gfx941, gfx942) and are not verified. */
static const struct {
    int minor;
    const char *names;
} rocm5_targets[] = {
    {0, " gfx700 gfx701 gfx702 gfx703 gfx704 gfx705 gfx801 gfx802 gfx803 gfx805 gfx810 gfx900 gfx902 gfx904 gfx906 "
        "gfx908 gfx909 gfx90a gfx90c gfx1010 gfx1011 gfx1012 gfx1013 gfx1030 gfx1031 gfx1032 gfx1033 gfx1034 "
        "gfx1035 gfx1036 "},
    {3, " gfx940 gfx1100 gfx1101 gfx1102 gfx1103 "},
    {7, " gfx941 gfx942 "},
};

int dsa_hiprtc_target_known(const dsa_hip_api *hip, const char *target)
{
    if (strncmp(target, "gfx", 3) != 0) return 1;
    if (hip->runtime_major >= 6) return 1;
    if (hip->runtime_major < 5) return 0;
    char processor[40];
    size_t n = strcspn(target, ":");
    if (n == 0 || n + 3 > sizeof processor) return 0;
    snprintf(processor, sizeof processor, " %.*s ", (int)n, target);
    for (size_t i = 0; i < sizeof rocm5_targets / sizeof rocm5_targets[0]; i++)
        if (hip->runtime_minor >= rocm5_targets[i].minor && strstr(rocm5_targets[i].names, processor)) return 1;
    return 0;
}

static const char *rtc_error(const dsa_hip_api *hip, dsa_hiprtc_result r)
{
    const char *s = hip->hiprtcGetErrorString ? hip->hiprtcGetErrorString(r) : NULL;
    return s ? s : "unknown hiprtc error";
}

static char *program_log(const dsa_hip_api *hip, dsa_hiprtc_program prog)
{
    size_t n = 0;
    if (hip->hiprtcGetProgramLogSize(prog, &n) != DSA_HIPRTC_SUCCESS || n == 0) return strdup("");
    char *log = malloc(n + 1);
    if (!log) return NULL;
    if (hip->hiprtcGetProgramLog(prog, log) != DSA_HIPRTC_SUCCESS) log[0] = '\0';
    log[n] = '\0';
    return log;
}

/* The code object of a compiled program into *binary. */
static dsa_status take_code(const dsa_hip_api *hip, dsa_hiprtc_program prog, const char *kernel_name, void **binary,
                            size_t *size)
{
    size_t n = 0;
    dsa_hiprtc_result r = hip->hiprtcGetCodeSize(prog, &n);
    if (r != DSA_HIPRTC_SUCCESS)
        return dsa_fail(DSA_ERROR_INTERNAL, "hiprtc: hiprtcGetCodeSize for %s: %s", kernel_name, rtc_error(hip, r));
    if (n == 0) return dsa_fail(DSA_ERROR_INTERNAL, "hiprtc produced an empty code object for %s", kernel_name);
    char *code = malloc(n);
    if (!code) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "hiprtc: out of host memory for %zu bytes", n);
    r = hip->hiprtcGetCode(prog, code);
    if (r != DSA_HIPRTC_SUCCESS) {
        free(code);
        return dsa_fail(DSA_ERROR_INTERNAL, "hiprtc: hiprtcGetCode for %s: %s", kernel_name, rtc_error(hip, r));
    }
    *binary = code;
    *size = n;
    return DSA_SUCCESS;
}

dsa_status dsa_hiprtc_compile(const dsa_hip_api *hip, const char *source, const char *kernel_name, const char *target,
                              void **binary, size_t *size)
{
    *binary = NULL;
    *size = 0;
    if (!hip || !hip->has_hiprtc)
        return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE, "HIP kernels cannot be compiled: %s",
                        hip ? hip->hiprtc_reason : "the HIP runtime is not loaded");
    if (!dsa_hiprtc_target_known(hip, target))
        return dsa_fail(DSA_ERROR_UNSUPPORTED,
                        "hiprtc of HIP runtime %d.%d (%s) does not know the target %s, and hiprtc before ROCm 6 "
                        "aborts the process on an unknown target instead of returning an error, so it was not "
                        "asked; use a ROCm release that supports %s",
                        hip->runtime_major, hip->runtime_minor, hip->hiprtc_path, target, target);
    char arch_opt[96], compiler[64], name[160];
    snprintf(arch_opt, sizeof arch_opt, "--offload-arch=%.80s", target);
    snprintf(compiler, sizeof compiler, "hiprtc (HIP %d.%d)", hip->runtime_major, hip->runtime_minor);
    /* The program name is what the log cites ("k.hip:12:3: error"), which compile_log.c parses. */
    snprintf(name, sizeof name, "%.150s.hip", kernel_name);
    const char *options[] = {arch_opt, "-O3"};

    dsa_hiprtc_program prog = NULL;
    dsa_hiprtc_result r = hip->hiprtcCreateProgram(&prog, source, name, 0, NULL, NULL);
    if (r != DSA_HIPRTC_SUCCESS)
        return dsa_fail(r == DSA_HIPRTC_ERROR_OUT_OF_MEMORY ? DSA_ERROR_OUT_OF_MEMORY : DSA_ERROR_INTERNAL,
                        "%s: hiprtcCreateProgram for %s: %s", compiler, kernel_name, rtc_error(hip, r));
    r = hip->hiprtcCompileProgram(prog, 2, options);
    char *log = program_log(hip, prog);
    dsa_status st;
    if (!log) {
        st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s: out of host memory reading the log of %s", compiler, kernel_name);
    } else if (r == DSA_HIPRTC_ERROR_COMPILATION) {
        st = dsa_compile_failure(compiler, kernel_name, source, log);
    } else if (r != DSA_HIPRTC_SUCCESS) {
        st = dsa_fail(r == DSA_HIPRTC_ERROR_OUT_OF_MEMORY ? DSA_ERROR_OUT_OF_MEMORY : DSA_ERROR_COMPILE,
                      "%s failed to compile %s for %s: %s (hiprtcResult %d)\n%.1200s", compiler, kernel_name, target,
                      rtc_error(hip, r), r, log);
    } else {
        if (log[0])
            dsa_log(DSA_LOG_WARN, "compile", "%s compiled %s for %s with messages:\n%s", compiler, kernel_name,
                    target, log);
        st = take_code(hip, prog, kernel_name, binary, size);
    }
    free(log);
    hip->hiprtcDestroyProgram(&prog);
    return st;
}
