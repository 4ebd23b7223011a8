/* The CUDA dialect's runtime compiler (backends/cuda/nvrtc.c): NVRTC loaded with dlopen, PTX and
 * cubin output, compile failures carrying the log and the offending line, and clean failures when
 * the library cannot be loaded. Tests that need NVRTC skip, saying why, where it is not installed;
 * set DSA_REQUIRE_NVRTC=1 to make that a failure instead (machines that must have it). */
#include "../backends/cuda/nvrtc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kernel_src = "extern \"C\" __global__ void k(float* x){ x[threadIdx.x] *= 2.0f; }\n";

/* Opens NVRTC or skips the calling test (fails it under DSA_REQUIRE_NVRTC). */
static dsa_nvrtc *open_or_skip(void)
{
    dsa_nvrtc *nv = NULL;
    dsa_status st = dsa_nvrtc_open(&nv);
    if (st != DSA_SUCCESS) {
        const char *req = getenv("DSA_REQUIRE_NVRTC");
        cr_assert(!(req && *req && strcmp(req, "0") != 0), "NVRTC required but not loaded: %s", dsa_last_error());
        cr_skip_test("NVRTC not available here (%s)", dsa_last_error());
    }
    cr_assert_not_null(nv);
    return nv;
}

/* Compiles and checks the basics every successful compile must satisfy. */
static void *compile_ok(dsa_nvrtc *nv, const char *src, const char *arch, int cubin, const char *const *extra,
                        int n_extra, size_t *size)
{
    void *bin = (void *)1;
    *size = 0;
    dsa_status st = dsa_nvrtc_compile(nv, src, "k", arch, cubin, extra, n_extra, &bin, size);
    cr_assert_eq(st, DSA_SUCCESS, "compile for %s (%s) failed: %s: %s", arch, cubin ? "cubin" : "PTX",
                 dsa_status_string(st), dsa_last_error());
    cr_assert_not_null(bin);
    cr_assert_gt(*size, 0);
    return bin;
}

Test(nvrtc, opens_and_reports_version)
{
    dsa_nvrtc *nv = open_or_skip();
    int major = -1, minor = -1;
    cr_assert_eq(dsa_nvrtc_version(nv, &major, &minor), DSA_SUCCESS);
    cr_assert_geq(major, 11, "NVRTC %d.%d is older than any this library can use", major, minor);
    cr_assert_geq(minor, 0);
    cr_assert_gt(strlen(dsa_nvrtc_path(nv)), 0);
    cr_log_info("NVRTC %d.%d from %s", major, minor, dsa_nvrtc_path(nv));
    /* The handle is cached process-wide: a second open gives the same object. */
    dsa_nvrtc *again = NULL;
    cr_assert_eq(dsa_nvrtc_open(&again), DSA_SUCCESS);
    cr_assert_eq(again, nv);
}

Test(nvrtc, ptx_for_compute_80)
{
    dsa_nvrtc *nv = open_or_skip();
    size_t size;
    char *ptx = compile_ok(nv, kernel_src, "sm_80", 0, NULL, 0, &size);
    /* PTX is text: NUL-terminated, and the size counts the NUL. */
    cr_assert_eq(ptx[size - 1], '\0');
    cr_assert_eq(strlen(ptx) + 1, size);
    cr_assert_not_null(strstr(ptx, ".entry k"), "no .entry k in:\n%.400s", ptx);
    cr_assert_not_null(strstr(ptx, ".target sm_80"), "not PTX for sm_80:\n%.400s", ptx);
    cr_log_info("PTX for compute_80: %zu bytes", size);
    free(ptx);
}

static void check_cubin(const char *arch)
{
    dsa_nvrtc *nv = open_or_skip();
    size_t size;
    unsigned char *cubin = compile_ok(nv, kernel_src, arch, 1, NULL, 0, &size);
    /* A cubin is an ELF image. */
    cr_assert_geq(size, 4);
    cr_assert(memcmp(cubin, "\x7f" "ELF", 4) == 0, "the %s cubin is not ELF", arch);
    cr_log_info("cubin for %s: %zu bytes", arch, size);
    free(cubin);
}

Test(nvrtc, cubin_for_sm_80) { check_cubin("sm_80"); }

Test(nvrtc, cubin_for_sm_90a) { check_cubin("sm_90a"); }

Test(nvrtc, extra_options_are_passed)
{
    dsa_nvrtc *nv = open_or_skip();
    /* SCALE is defined only by the extra option, so the compile fails if it is dropped. */
    const char *src = "extern \"C\" __global__ void k(float* x){ x[threadIdx.x] *= SCALE; }\n";
    const char *const extra[] = {"-DSCALE=3.0f", "-lineinfo"};
    size_t size;
    char *ptx = compile_ok(nv, src, "sm_80", 0, extra, 2, &size);
    cr_assert_not_null(strstr(ptx, "0f40400000"), "3.0f does not appear in the PTX:\n%.600s", ptx);
    free(ptx);
}

Test(nvrtc, syntax_error_carries_log_and_line)
{
    dsa_nvrtc *nv = open_or_skip();
    const char *src = "extern \"C\" __global__ void k(float* x)\n"
                      "{\n"
                      "    x[threadIdx.x] *= 2.0f oops_not_a_token;\n"
                      "}\n";
    void *bin = (void *)1;
    size_t size = 7;
    dsa_status st = dsa_nvrtc_compile(nv, src, "k", "sm_80", 0, NULL, 0, &bin, &size);
    cr_assert_eq(st, DSA_ERROR_COMPILE, "got %s: %s", dsa_status_string(st), dsa_last_error());
    cr_assert_null(bin);
    cr_assert_eq(size, 0);
    const char *msg = dsa_last_error();
    cr_assert_not_null(strstr(msg, "NVRTC"), "message does not name the compiler: %s", msg);
    cr_assert_not_null(strstr(msg, "error"), "message has no compiler log: %s", msg);
    cr_assert_not_null(strstr(msg, "k.cu(3)"), "log does not point at line 3: %s", msg);
    /* dsa_compile_failure quotes the generated line the log points at. */
    cr_assert_not_null(strstr(msg, "3 |     x[threadIdx.x] *= 2.0f oops_not_a_token;"),
                       "offending line not quoted: %s", msg);
}

Test(nvrtc, rejected_option_is_a_compile_error)
{
    dsa_nvrtc *nv = open_or_skip();
    const char *const extra[] = {"--no-such-option-for-nvrtc"};
    void *bin = NULL;
    size_t size = 0;
    dsa_status st = dsa_nvrtc_compile(nv, kernel_src, "k", "sm_80", 0, extra, 1, &bin, &size);
    cr_assert_eq(st, DSA_ERROR_COMPILE, "got %s: %s", dsa_status_string(st), dsa_last_error());
    cr_assert_null(bin);
    cr_assert_not_null(strstr(dsa_last_error(), "no-such-option"), "message: %s", dsa_last_error());
}

Test(nvrtc, unknown_arch_is_unsupported)
{
    dsa_nvrtc *nv = open_or_skip();
    void *bin = NULL;
    size_t size = 0;
    /* sm_10 never existed: well-formed, but no NVRTC targets it. */
    dsa_status st = dsa_nvrtc_compile(nv, kernel_src, "k", "sm_10", 1, NULL, 0, &bin, &size);
    cr_assert(st == DSA_ERROR_UNSUPPORTED || st == DSA_ERROR_COMPILE, "got %s: %s", dsa_status_string(st),
              dsa_last_error());
    cr_assert_null(bin);
    cr_assert_not_null(strstr(dsa_last_error(), "sm_10"), "message: %s", dsa_last_error());
}

Test(nvrtc, malformed_arguments)
{
    dsa_nvrtc *nv = open_or_skip();
    void *bin = NULL;
    size_t size = 0;
    const char *bad_arch[] = {"compute_80", "sm_", "sm_8", "sm_90b", "80", "sm_90a "};
    for (size_t i = 0; i < sizeof bad_arch / sizeof bad_arch[0]; i++) {
        dsa_status st = dsa_nvrtc_compile(nv, kernel_src, "k", bad_arch[i], 0, NULL, 0, &bin, &size);
        cr_assert_eq(st, DSA_ERROR_INVALID_ARGUMENT, "arch \"%s\" gave %s", bad_arch[i], dsa_status_string(st));
        cr_assert_not_null(strstr(dsa_last_error(), bad_arch[i]), "message: %s", dsa_last_error());
    }
    cr_assert_eq(dsa_nvrtc_compile(nv, NULL, "k", "sm_80", 0, NULL, 0, &bin, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_nvrtc_compile(nv, kernel_src, NULL, "sm_80", 0, NULL, 0, &bin, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_nvrtc_compile(nv, kernel_src, "k", "sm_80", 0, NULL, 2, &bin, &size),
                 DSA_ERROR_INVALID_ARGUMENT);
    const char *const holes[] = {"-lineinfo", NULL};
    cr_assert_eq(dsa_nvrtc_compile(nv, kernel_src, "k", "sm_80", 0, holes, 2, &bin, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_nvrtc_compile(NULL, kernel_src, "k", "sm_80", 0, NULL, 0, &bin, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_null(bin);
    cr_assert_eq(dsa_nvrtc_open(NULL), DSA_ERROR_NULL_POINTER);
}

/* Concurrent opens load once, and programs compile concurrently (one nvrtcProgram per thread). */
static void *open_and_compile(void *arg)
{
    dsa_nvrtc **slot = arg;
    if (dsa_nvrtc_open(slot) != DSA_SUCCESS) return (void *)1;
    void *bin = NULL;
    size_t size = 0;
    dsa_status st = dsa_nvrtc_compile(*slot, kernel_src, "k", "sm_80", 0, NULL, 0, &bin, &size);
    int ok = st == DSA_SUCCESS && bin && strstr(bin, ".entry k");
    free(bin);
    return ok ? NULL : (void *)2;
}

Test(nvrtc, threads_share_one_handle)
{
    dsa_nvrtc *probe = open_or_skip();
    (void)probe;
    enum { N = 4 };
    pthread_t t[N];
    dsa_nvrtc *got[N] = {0};
    for (int i = 0; i < N; i++) cr_assert_eq(pthread_create(&t[i], NULL, open_and_compile, &got[i]), 0);
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        cr_assert_null(r, "thread %d failed (%p)", i, r);
        cr_assert_eq(got[i], probe);
    }
}

/* ---- DSA_NVRTC_PATH ------------------------------------------------------------------------ */

static void set_missing_path(void) { setenv("DSA_NVRTC_PATH", "/nonexistent/libnvrtc.so.13", 1); }

Test(nvrtc_override, missing_path_fails_cleanly, .init = set_missing_path)
{
    dsa_nvrtc *nv = (dsa_nvrtc *)1;
    dsa_status st = dsa_nvrtc_open(&nv);
    cr_assert_eq(st, DSA_ERROR_BACKEND_UNAVAILABLE, "got %s", dsa_status_string(st));
    cr_assert_null(nv);
    const char *msg = dsa_last_error();
    cr_assert_not_null(strstr(msg, "DSA_NVRTC_PATH"), "message: %s", msg);
    cr_assert_not_null(strstr(msg, "/nonexistent/libnvrtc.so.13"), "message does not name the path: %s", msg);
    cr_assert_not_null(strstr(msg, "No such file"), "message lacks dlerror's reason: %s", msg);
    /* Not cached: it fails again, the same way, rather than returning something else. */
    cr_assert_eq(dsa_nvrtc_open(&nv), DSA_ERROR_BACKEND_UNAVAILABLE);
}

static void set_not_nvrtc(void) { setenv("DSA_NVRTC_PATH", "libm.so.6", 1); }

Test(nvrtc_override, library_without_nvrtc_symbols, .init = set_not_nvrtc)
{
    dsa_nvrtc *nv = NULL;
    dsa_status st = dsa_nvrtc_open(&nv);
    cr_assert_eq(st, DSA_ERROR_BACKEND_UNAVAILABLE, "got %s", dsa_status_string(st));
    cr_assert_null(nv);
    cr_assert_not_null(strstr(dsa_last_error(), "has no nvrtc"), "message: %s", dsa_last_error());
}

Test(nvrtc_override, override_is_keyed_separately)
{
    unsetenv("DSA_NVRTC_PATH");
    dsa_nvrtc *def = open_or_skip();
    char path[4096];
    snprintf(path, sizeof path, "%s", dsa_nvrtc_path(def));

    /* The same library named explicitly: a separate cache entry, loaded from that path. */
    setenv("DSA_NVRTC_PATH", path, 1);
    dsa_nvrtc *over = NULL;
    cr_assert_eq(dsa_nvrtc_open(&over), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_str_eq(dsa_nvrtc_path(over), path);

    /* A bad override after a good default open still fails: the cache never answers for another key. */
    setenv("DSA_NVRTC_PATH", "/nonexistent/libnvrtc.so", 1);
    dsa_nvrtc *bad = NULL;
    cr_assert_eq(dsa_nvrtc_open(&bad), DSA_ERROR_BACKEND_UNAVAILABLE);
    cr_assert_null(bad);

    /* Back to the default search: the first handle again. */
    unsetenv("DSA_NVRTC_PATH");
    dsa_nvrtc *again = NULL;
    cr_assert_eq(dsa_nvrtc_open(&again), DSA_SUCCESS);
    cr_assert_eq(again, def);
}
