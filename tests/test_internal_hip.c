/* The HIP backend without an AMD GPU (docs/backends/hip.md says what this leaves untested):
 *  - against Debian's libamdhip64 (ROCm 5.2) with no device: the backend reports "no device"
 *    cleanly, and hiprtc compiles every kernel for gfx90a with the wave64 specialization the
 *    backend would use there, while targets that would abort ROCm 5.2's hiprtc are refused first;
 *  - the wave-size check of the HIP prelude: a wave32 specialization for a wave64 target is a
 *    compile error;
 *  - Debian's clang 15 + ROCm device libraries: every kernel's default specialization as wave64
 *    code objects for gfx90a and gfx940 (CDNA2/3) and as wave32 for gfx1030 (RDNA2);
 *  - the layout constants of hip_api.h against HIP's own header, where it is installed;
 *  - the test runtime tests/hip_on_cuda with no NVIDIA driver: "no device", cleanly.
 * The generated HIP kernels are run for correctness through tests/hip_on_cuda on an NVIDIA GPU
 * (.dev/device/hip.sh). */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/run_compiler.h"
#include "template.h"

#include "../backends/hip/hip_api.h"
#include "../backends/hip/hiprtc.h"

#if __has_include(<hip/hip_runtime_api.h>)
#define __HIP_PLATFORM_AMD__ 1
#include <hip/hip_runtime_api.h>
#include <stddef.h>
/* hip_api.h declares HIP's ABI by hand; these are the values it relies on, from HIP's own header. */
_Static_assert(offsetof(hipDeviceProp_t, gcnArchName) == DSA_HIP_PROP_R0000_ARCH_OFFSET, "gcnArchName offset");
_Static_assert(sizeof(hipDeviceProp_t) == DSA_HIP_PROP_R0000_SIZE, "hipDeviceProp_t size");
_Static_assert((int)hipDeviceAttributeWarpSize == (int)DSA_HIP_ATTR_WARP_SIZE, "warpSize attribute");
_Static_assert((int)hipDeviceAttributeMaxSharedMemoryPerBlock == (int)DSA_HIP_ATTR_MAX_SHARED_MEMORY_PER_BLOCK, "LDS");
_Static_assert((int)hipDeviceAttributeMultiprocessorCount == (int)DSA_HIP_ATTR_MULTIPROCESSOR_COUNT, "CUs");
_Static_assert((int)hipDeviceAttributeIntegrated == (int)DSA_HIP_ATTR_INTEGRATED, "integrated");
_Static_assert((int)hipDeviceAttributeMaxThreadsPerBlock == (int)DSA_HIP_ATTR_MAX_THREADS_PER_BLOCK, "threads");
_Static_assert((int)hipErrorNoDevice == (int)DSA_HIP_ERROR_NO_DEVICE, "hipErrorNoDevice");
_Static_assert((int)hipErrorIllegalAddress == (int)DSA_HIP_ERROR_ILLEGAL_ADDRESS, "hipErrorIllegalAddress");
_Static_assert((int)hipStreamNonBlocking == (int)DSA_HIP_STREAM_NON_BLOCKING, "hipStreamNonBlocking");
#endif

/* The runtime, or a skip when this machine has no libamdhip64 at all. */
static const dsa_hip_api *runtime(void)
{
    const dsa_hip_api *hip = NULL;
    dsa_hip_load(&hip);
    if (!hip) cr_skip_test("no HIP runtime library: %s", dsa_hip_reason());
    return hip;
}

static dsa_spec wave_spec(const dsa_kernel_def *k, int wave)
{
    dsa_spec s = k->defaults;
    if (s.block >= wave) s.subgroup = wave;
    return s;
}

Test(hip, no_device_is_reported_cleanly)
{
    int available = 1;
    const char *reason = NULL;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_HIP, &available, &reason), DSA_SUCCESS);
    if (available) cr_skip_test("this machine has a HIP device");
    cr_assert(strstr(reason, "no device") || strstr(reason, "libamdhip64"), "reason: %s", reason);
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("hip", &ctx), DSA_ERROR_BACKEND_UNAVAILABLE);
    cr_assert_null(ctx);
    cr_assert(strstr(dsa_last_error(), reason) != NULL, "%s", dsa_last_error());
    /* With Debian's libamdhip64 installed, the reason is the runtime's, not a load failure. */
    void *lib = dlopen("libamdhip64.so.5", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
        cr_expect(strstr(reason, "no device: hipGetDeviceCount: hipErrorNoDevice"), "reason: %s", reason);
        dlclose(lib);
    }
}

Test(hip, hiprtc_is_never_asked_for_a_target_that_aborts_it)
{
    const dsa_hip_api *hip = runtime();
    if (hip->runtime_major != 5) cr_skip_test("the table guards ROCm 5's hiprtc; this is HIP %d", hip->runtime_major);
    cr_assert(dsa_hiprtc_target_known(hip, "gfx90a"));
    cr_assert(dsa_hiprtc_target_known(hip, "gfx90a:sramecc+:xnack-"));
    cr_assert(dsa_hiprtc_target_known(hip, "sm_90 (hip-on-cuda)"), "non-gfx targets belong to test runtimes");
    cr_assert_not(dsa_hiprtc_target_known(hip, "gfx"));
    cr_assert_not(dsa_hiprtc_target_known(hip, "gfx90"));
    cr_assert_not(dsa_hiprtc_target_known(hip, "gfxbogus"));
    if (hip->runtime_minor < 3) {
        /* Each of these aborts ROCm 5.2's hiprtc; reaching the asserts means it was not called. */
        static const char *const aborting[] = {"gfx940", "gfx941", "gfx942", "gfx1100", "gfx1101", "gfxbogus"};
        for (size_t i = 0; i < sizeof aborting / sizeof aborting[0]; i++) {
            void *bin = (void *)1;
            size_t size = 1;
            dsa_status st = dsa_hiprtc_compile(hip, "extern \"C\" __global__ void k() {}", "k", aborting[i], &bin, &size);
            cr_assert_eq(st, DSA_ERROR_UNSUPPORTED, "%s: %s", aborting[i], dsa_last_error());
            cr_assert(strstr(dsa_last_error(), aborting[i]) && strstr(dsa_last_error(), "aborts"), "%s",
                      dsa_last_error());
            cr_assert_null(bin);
            cr_assert_eq(size, 0);
        }
    }
}

Test(hip, hiprtc_compiles_every_kernel_wave64_for_gfx90a, .timeout = 900)
{
    const dsa_hip_api *hip = runtime();
    if (!hip->has_hiprtc) cr_skip_test("%s", hip->hiprtc_reason);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec s = wave_spec(k, 64);
        char *src = NULL;
        cr_assert_eq(dsa_generate(k, DSA_DIALECT_HIP, &s, &src), DSA_SUCCESS, "%s", dsa_last_error());
        void *bin = NULL;
        size_t size = 0;
        dsa_status st = dsa_hiprtc_compile(hip, src, k->name, "gfx90a", &bin, &size);
        cr_expect_eq(st, DSA_SUCCESS, "%s (subgroup %d): %s", k->name, s.subgroup, dsa_last_error());
        if (st == DSA_SUCCESS) {
            /* A code object is an ELF file (a clang offload bundle in some releases). */
            cr_expect(size > 4 && (memcmp(bin, "\177ELF", 4) == 0 || memcmp(bin, "__CLANG", 7) == 0),
                      "%s: %zu bytes, not a code object", k->name, size);
        }
        free(bin);
        free(src);
    }
}

Test(hip, a_wave32_specialization_does_not_compile_for_a_wave64_target)
{
    const dsa_hip_api *hip = runtime();
    if (!hip->has_hiprtc) cr_skip_test("%s", hip->hiprtc_reason);
    const dsa_kernel_def *k = dsa_kernel_find("quantize_fp8");
    cr_assert_not_null(k);
    dsa_spec s = wave_spec(k, 32);
    char *src = NULL;
    cr_assert_eq(dsa_generate(k, DSA_DIALECT_HIP, &s, &src), DSA_SUCCESS);
    void *bin = NULL;
    size_t size = 0;
    cr_assert_eq(dsa_hiprtc_compile(hip, src, k->name, "gfx90a", &bin, &size), DSA_ERROR_COMPILE);
    cr_assert(strstr(dsa_last_error(), "wavefront size"), "%s", dsa_last_error());
    cr_assert_null(bin);
    free(src);
}

/* clang-15 as hipcc would run it (without its perl start-up): one target, device code only. */
static int clang_hip(const char *path, const char *arch, char *log, size_t log_len)
{
    char out[160], offload[48];
    snprintf(out, sizeof out, "%s.%s.co", path, arch);
    snprintf(offload, sizeof offload, "--offload-arch=%s", arch);
    char *argv[] = {"clang-15", "-x", "hip", "-nogpuinc", "-D__HIP_PLATFORM_AMD__",
                    "--rocm-device-lib-path=/usr/lib/x86_64-linux-gnu/amdgcn/bitcode", "-include",
                    "__clang_hip_runtime_wrapper.h", "-include", "hip/hip_runtime.h", offload,
                    "--cuda-device-only", "-O2", "-c", (char *)path, "-o", out, NULL};
    return run_compiler(argv, out, log, log_len);
}

/* Every kernel's defaults at the target's wave size, offline: wave64 on CDNA2/3, wave32 on RDNA2.
 * gfx942 (LLVM 15 does not know it) and gfx1100 (the device libraries of ROCm 5.2 have no bitcode
 * for it) have no route with Debian 12's packages: docs/backends/hip.md. */
Test(hip, clang_wave64_gfx90a_gfx940_wave32_gfx1030, .timeout = 1200)
{
    static const struct {
        const char *arch;
        int wave;
    } targets[] = {{"gfx90a", 64}, {"gfx940", 64}, {"gfx1030", 32}};
    char dir[] = "/tmp/dsa-hip-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            dsa_spec s = wave_spec(k, targets[t].wave);
            char *src = NULL;
            cr_assert_eq(dsa_generate(k, DSA_DIALECT_HIP, &s, &src), DSA_SUCCESS);
            char path[96];
            snprintf(path, sizeof path, "%s/%s.hip", dir, k->name);
            FILE *f = fopen(path, "w");
            cr_assert_not_null(f);
            fputs(src, f);
            fclose(f);
            free(src);
            static char log[8192];
            int rc = clang_hip(path, targets[t].arch, log, sizeof log);
            unlink(path);
            if (rc < 0) {
                rmdir(dir);
                cr_skip_test("clang-15 is not installed (scripts/setup.sh)");
            }
            cr_expect_eq(rc, 0, "clang-15 rejected %s for %s (subgroup %d):\n%s", k->name, targets[t].arch, s.subgroup,
                         log);
        }
    }
    rmdir(dir);
}

#ifdef DSA_HIP_ON_CUDA_PATH
Test(hip, the_test_runtime_without_a_driver_says_no_device)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (cuda) {
        dlclose(cuda);
        cr_skip_test("an NVIDIA driver is present: .dev/device/hip.sh runs the backend through it");
    }
    setenv("DSA_HIP_LIBRARY", DSA_HIP_ON_CUDA_PATH, 1);
    int available = 1;
    const char *reason = NULL;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_HIP, &available, &reason), DSA_SUCCESS);
    cr_assert_not(available);
    cr_assert(strstr(reason, "no device") && strstr(reason, "hip-on-cuda") && strstr(reason, DSA_HIP_ON_CUDA_PATH),
              "reason: %s", reason);
}
#endif

Test(hip, a_missing_runtime_override_is_named)
{
    setenv("DSA_HIP_LIBRARY", "/nonexistent/libamdhip64.so", 1);
    const dsa_hip_api *hip = (const dsa_hip_api *)1;
    cr_assert_eq(dsa_hip_load(&hip), DSA_ERROR_BACKEND_UNAVAILABLE);
    cr_assert_null(hip);
    cr_assert(strstr(dsa_last_error(), "/nonexistent/libamdhip64.so") && strstr(dsa_last_error(), "DSA_HIP_LIBRARY"),
              "%s", dsa_last_error());
}
