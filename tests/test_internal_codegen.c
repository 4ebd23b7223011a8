/* Compile checks, with no GPU: every kernel template x dialect x specialization (the defaults plus a
 * small grid) is generated and compiled by the real compilers — NVRTC to cubin for sm_80 and
 * sm_90a, PoCL's clBuildProgram, clang as an offline OpenCL C compiler with every extension
 * enabled (so paths PoCL lacks are compiled too), glslang to SPIR-V then spirv-val. A failure
 * prints the compiler's log and the offending generated lines (dsa_compile_failure). */
#include <criterion/criterion.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/run_compiler.h"
#include "template.h"

#ifdef DSA_BUILD_OPENCL
#include "../backends/opencl/cl_api.h"
#include "../backends/opencl/cl_build.h"
#endif
#ifdef DSA_HAVE_GLSLANG
#include "../backends/vulkan/glsl_compile.h"
#endif
#if __has_include("../backends/cuda/nvrtc.h")
#include "../backends/cuda/nvrtc.h"
#define HAVE_NVRTC_HEADER 1
#endif


/* The specializations checked per kernel: its defaults, then each grid point the kernel accepts. */
#define MAX_SPECS 16
static int specs_for(const dsa_kernel_def *k, dsa_spec *out)
{
    static const int blocks[] = {64, 256};
    static const dsa_dtype dtypes[] = {DSA_BF16, DSA_FP16, DSA_FP32, DSA_FP8_E4M3};
    int n = 0;
    out[n++] = k->defaults;
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0] && n < MAX_SPECS; d++) {
            dsa_spec s = k->defaults;
            s.block = blocks[b];
            if (k->defaults.in_dtype != DSA_FP8_E4M3) s.in_dtype = dtypes[d];
            else s.out_dtype = dtypes[d];
            if (dsa_spec_check(k, &s, NULL) == DSA_SUCCESS) out[n++] = s;
        }
    }
    return n;
}

static char *generate(const dsa_kernel_def *k, dsa_dialect d, const dsa_spec *s)
{
    char *src = NULL;
    dsa_status st = dsa_generate(k, d, s, &src);
    cr_assert_eq(st, DSA_SUCCESS, "%s (%s): %s", k->name, dsa_dialect_name(d), dsa_last_error());
    return src;
}

static void describe(const dsa_spec *s, char *buf, size_t n)
{
    snprintf(buf, n, "block=%d in=%s out=%s", s->block, dsa_dtype_name(s->in_dtype), dsa_dtype_name(s->out_dtype));
}

Test(codegen, every_kernel_is_registered_with_its_template)
{
    cr_assert_gt(dsa_kernel_count(), 0);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        cr_assert_not_null(k->source, "kernel %s has no embedded template", k->name);
        cr_assert_eq(dsa_spec_check(k, &k->defaults, NULL), DSA_SUCCESS, "%s defaults: %s", k->name, dsa_last_error());
    }
}

Test(codegen, bad_specs_are_refused_with_a_reason)
{
    const dsa_kernel_def *k = dsa_kernel_at(0);
    dsa_spec s = k->defaults;
    s.block = 100;
    cr_assert_eq(dsa_spec_check(k, &s, NULL), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "block") != NULL, "%s", dsa_last_error());
    s = k->defaults;
    cr_assert_eq(dsa_spec_parse(&s, "tile_q=4"), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "tile_q") != NULL, "%s", dsa_last_error());
    cr_assert_eq(dsa_spec_parse(&s, "block=abc"), DSA_ERROR_INVALID_ARGUMENT);
    /* A spec that needs more shared memory than the device has is unsupported there. */
    dsa_device_info tiny;
    memset(&tiny, 0, sizeof tiny);
    snprintf(tiny.name, sizeof tiny.name, "tiny");
    tiny.shared_mem_per_block = 16;
    s = k->defaults;
    if (k->shared_bytes && k->shared_bytes(&s) > 16) cr_assert_eq(dsa_spec_check(k, &s, &tiny), DSA_ERROR_UNSUPPORTED);
}

#ifdef HAVE_NVRTC_HEADER
Test(codegen, cuda_nvrtc_sm80_sm90a, .timeout = 900)
{
    dsa_nvrtc *nv;
    if (dsa_nvrtc_open(&nv) != DSA_SUCCESS) cr_skip_test("NVRTC not available: %s", dsa_last_error());
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec specs[MAX_SPECS];
        int n = specs_for(k, specs);
        for (int j = 0; j < n; j++) {
            char *src = generate(k, DSA_DIALECT_CUDA, &specs[j]);
            static const char *arches[] = {"sm_80", "sm_90a"};
            for (int a = 0; a < 2; a++) {
                if (j > 0 && a == 0) continue; /* the grid on sm_90a only: compile time */
                void *bin = NULL;
                size_t size = 0;
                char what[96];
                describe(&specs[j], what, sizeof what);
                cr_expect_eq(dsa_nvrtc_compile(nv, src, k->name, arches[a], 1, NULL, 0, &bin, &size), DSA_SUCCESS,
                             "%s %s (%s): %s", k->name, arches[a], what, dsa_last_error());
                free(bin);
            }
            free(src);
        }
    }
}

/* The tensor-core path (spec matrix=1: mma.sync, ldmatrix, cp.async in templates/dialects/cuda.h)
 * for every kernel that accepts it: its defaults with matrix=1 and the layout the plans pick on
 * sm_80+ for the attention kernels (32 heads, 256 threads, two stages), on both architectures. */
Test(codegen, cuda_nvrtc_matrix_path, .timeout = 900)
{
    dsa_nvrtc *nv;
    if (dsa_nvrtc_open(&nv) != DSA_SUCCESS) cr_skip_test("NVRTC not available: %s", dsa_last_error());
    int compiled = 0;
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec specs[2] = {k->defaults, k->defaults};
        specs[0].matrix = 1;
        specs[1].matrix = 1;
        specs[1].heads = 32;
        specs[1].block = 256;
        specs[1].stages = 2;
        for (int j = 0; j < 2; j++) {
            if (dsa_spec_check(k, &specs[j], NULL) != DSA_SUCCESS) continue;
            char *src = generate(k, DSA_DIALECT_CUDA, &specs[j]);
            static const char *arches[] = {"sm_80", "sm_90a"};
            for (int a = 0; a < 2; a++) {
                void *bin = NULL;
                size_t size = 0;
                cr_expect_eq(dsa_nvrtc_compile(nv, src, k->name, arches[a], 1, NULL, 0, &bin, &size), DSA_SUCCESS,
                             "%s %s (matrix=1 heads=%d block=%d stages=%d): %s", k->name, arches[a], specs[j].heads,
                             specs[j].block, specs[j].stages, dsa_last_error());
                free(bin);
                compiled++;
            }
            free(src);
        }
    }
    cr_expect_gt(compiled, 0, "no kernel accepted matrix=1");
}
#endif

/* The generator's own layout of the @shared arrays (what a CUDA launch passes as dynamic shared
 * memory) and the family's shared_bytes (what the fit check uses) must agree, up to the 16-byte
 * alignment of each array, for every kernel and grid point. */
Test(codegen, shared_layout_matches_the_family_rule)
{
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec specs[MAX_SPECS];
        int n = specs_for(k, specs);
        for (int j = 0; j < n; j++) {
            dsa_signature sig;
            cr_assert_eq(dsa_kernel_signature(k, &specs[j], &sig), DSA_SUCCESS, "%s: %s", k->name, dsa_last_error());
            uint64_t rule = k->shared_bytes ? k->shared_bytes(&specs[j]) : 0;
            cr_expect(sig.shared_bytes >= rule && sig.shared_bytes <= rule + 16u * 8u,
                      "%s (block=%d): layout %llu bytes, family rule %llu", k->name, specs[j].block,
                      (unsigned long long)sig.shared_bytes, (unsigned long long)rule);
        }
    }
}

/* `@include` in a template is replaced by the embedded file: prefill and decode share one
 * attention algorithm, so both generated sources carry it and neither carries the directive. */
Test(codegen, include_expands_the_shared_algorithm)
{
    const char *names[] = {"sparse_mla_prefill", "sparse_mla_decode"};
    for (int i = 0; i < 2; i++) {
        const dsa_kernel_def *k = dsa_kernel_find(names[i]);
        cr_assert_not_null(k, "%s", names[i]);
        for (int d = 0; d < DSA_DIALECT_COUNT; d++) {
            char *src = generate(k, (dsa_dialect)d, &k->defaults);
            cr_expect(strstr(src, "from templates/kernels/sparse_mla_attention.dsai") != NULL, "%s %s", names[i],
                      dsa_dialect_name((dsa_dialect)d));
            cr_expect(strstr(src, "@include") == NULL, "%s %s: directive left in the source", names[i],
                      dsa_dialect_name((dsa_dialect)d));
            cr_expect(strstr(src, "online softmax per row") != NULL, "%s: the algorithm's text is missing", names[i]);
            free(src);
        }
    }
}

#ifdef DSA_BUILD_OPENCL
Test(codegen, opencl_pocl_build, .timeout = 900)
{
    const dsa_cl_api *cl;
    if (dsa_cl_load(&cl) != DSA_SUCCESS) cr_skip_test("no OpenCL loader: %s", dsa_last_error());
    dsa_device_info devs[16];
    int count = 0;
    char reason[256];
    if (dsa_cl_probe(devs, 16, &count, reason, sizeof reason) != DSA_SUCCESS || count == 0)
        cr_skip_test("no OpenCL device: %s", reason);
    int pocl = -1;
    for (int i = 0; i < count && pocl < 0; i++)
        if (strstr(devs[i].runtime_version, "PoCL")) pocl = i;
    if (pocl < 0) cr_skip_test("PoCL is not installed");
    cl_platform_id platform;
    cl_device_id device;
    cr_assert_eq(dsa_cl_device_handles(pocl, &platform, &device), DSA_SUCCESS);
    cl_int err;
    cl_context ctx = cl->clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        char *src = generate(k, DSA_DIALECT_OPENCL, &k->defaults); /* PoCL builds are slow: defaults */
        cl_program prog = NULL;
        cr_expect_eq(dsa_cl_build(ctx, device, src, k->name, "-cl-std=CL1.2", &prog), DSA_SUCCESS, "%s: %s",
                     k->name, dsa_last_error());
        if (prog) cl->clReleaseProgram(prog);
        free(src);
    }
    cl->clReleaseContext(ctx);
}
#endif

/* clang as an offline OpenCL C compiler for an AMD GPU target, every extension on. */
static int clang_compile(const char *path, char *log, size_t log_len)
{
    char out[128];
    snprintf(out, sizeof out, "%s.o", path);
    char *argv[] = {"clang", "-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header", "-Xclang",
                    "-cl-ext=+all", "-target", "amdgcn-amd-amdhsa", "-mcpu=gfx90a", "-nogpulib", "-c",
                    (char *)path, "-o", out, NULL};
    return run_compiler(argv, out, log, log_len);
}

/* Debian's clang 15 with the ROCm 5.2 device libraries and HIP headers (what hipcc runs, without
 * its perl and python start-up) to code objects for CDNA2 and CDNA3. hiprtc pre-includes the HIP
 * runtime header; offline, -include does the same. */
static int hip_compile(const char *path, char *log, size_t log_len)
{
    char out[128];
    snprintf(out, sizeof out, "%s.co", path);
    char *argv[] = {"clang-15", "-x", "hip", "-nogpuinc", "-D__HIP_PLATFORM_AMD__",
                    "--rocm-device-lib-path=/usr/lib/x86_64-linux-gnu/amdgcn/bitcode", "-include",
                    "__clang_hip_runtime_wrapper.h", "-include", "hip/hip_runtime.h", "--offload-arch=gfx90a",
                    "--offload-arch=gfx940", "--cuda-device-only", "-O2", "-c", (char *)path, "-o", out, NULL};
    return run_compiler(argv, out, log, log_len);
}

/* Generates every kernel x spec for dialect d into files and runs `compile` on each. */
static void compile_all(dsa_dialect d, const char *ext, int (*compile)(const char *, char *, size_t),
                        const char *tool, int grid)
{
    char dir[] = "/tmp/dsa-codegen-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec specs[MAX_SPECS];
        int n = grid ? specs_for(k, specs) : 1;
        if (!grid) specs[0] = k->defaults;
        for (int j = 0; j < n; j++) {
            char *src = generate(k, d, &specs[j]);
            char path[96];
            snprintf(path, sizeof path, "%s/%s.%s", dir, k->name, ext);
            FILE *f = fopen(path, "w");
            cr_assert_not_null(f);
            fputs(src, f);
            fclose(f);
            static char log[8192];
            int rc = compile(path, log, sizeof log);
            unlink(path);
            free(src);
            if (rc < 0) {
                rmdir(dir);
                cr_skip_test("%s is not installed", tool);
            }
            char what[96];
            describe(&specs[j], what, sizeof what);
            cr_expect_eq(rc, 0, "%s rejected %s (%s):\n%s", tool, k->name, what, log);
        }
    }
    rmdir(dir);
}

Test(codegen, opencl_clang_offline_all_extensions, .timeout = 900)
{
    compile_all(DSA_DIALECT_OPENCL, "cl", clang_compile, "clang", 1);
}

Test(codegen, hip_code_objects_gfx90a_gfx940, .timeout = 900)
{
    /* Seconds per file (two targets): the defaults only. */
    compile_all(DSA_DIALECT_HIP, "hip", hip_compile, "clang-15 (HIP)", 0);
}

/* ---- the OpenCL fast paths (ocl): every kernel with the flags core sets from a device's
 * capabilities, compiled by the compilers those paths meet: the Khronos subgroup builtins and half
 * as OpenCL C 2.0 and 3.0 for an AMD target (clang, every extension on), and the inline PTX warp
 * shuffles of NVIDIA's OpenCL as PTX (clang's nvptx64-nvidia-nvcl target) assembled by ptxas for
 * sm_90. PoCL, the CI device, has none of these, so only these checks compile them there. */

static int clang_cl_std(const char *path, const char *std, char *log, size_t log_len)
{
    char out[128];
    snprintf(out, sizeof out, "%s.o", path);
    char *argv[] = {"clang", "-x", "cl", (char *)std, "-Xclang", "-finclude-default-header", "-Xclang",
                    "-cl-ext=+all", "-target", "amdgcn-amd-amdhsa", "-mcpu=gfx90a", "-nogpulib", "-Werror", "-c",
                    (char *)path, "-o", out, NULL};
    return run_compiler(argv, out, log, log_len);
}

static int clang_cl20(const char *path, char *log, size_t n) { return clang_cl_std(path, "-cl-std=CL2.0", log, n); }
static int clang_cl30(const char *path, char *log, size_t n) { return clang_cl_std(path, "-cl-std=CL3.0", log, n); }

/* OpenCL C with inline PTX to PTX (clang spells GNU asm as a keyword only with -fgnu-keywords in
 * OpenCL mode; NVIDIA's compiler takes `asm` as is), then ptxas. The OpenCL builtins clang leaves
 * as calls (get_local_id, barrier...) are declared .extern, so ptxas checks everything else. */
static int ptx_compile(const char *path, char *log, size_t log_len)
{
    char ptx[128], fixed[140], obj[150];
    snprintf(ptx, sizeof ptx, "%s.ptx", path);
    snprintf(fixed, sizeof fixed, "%s.ext.ptx", path);
    snprintf(obj, sizeof obj, "%s.o", path);
    char *cl_argv[] = {"clang", "-x", "cl", "-cl-std=CL1.2", "-fgnu-keywords", "-Xclang", "-finclude-default-header",
                       "-target", "nvptx64-nvidia-nvcl", "-Xclang", "-target-cpu", "-Xclang", "sm_80", "-O2",
                       "-S", (char *)path, "-o", ptx, NULL};
    FILE *in = NULL, *out = NULL;
    int rc = run_compiler(cl_argv, ptx, log, log_len);
    if (rc != 0) return rc;
    /* run_compiler removed the output after checking it: build it again to keep it. */
    char *keep_argv[sizeof cl_argv / sizeof cl_argv[0]];
    memcpy(keep_argv, cl_argv, sizeof cl_argv);
    pid_t pid;
    if (posix_spawnp(&pid, "clang", NULL, NULL, keep_argv, environ) != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    in = fopen(ptx, "r");
    out = fopen(fixed, "w");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        snprintf(log, log_len, "cannot rewrite %s", ptx);
        return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        int builtin = strncmp(line, ".func ", 6) == 0 && strstr(line, " _Z") != NULL; /* mangled: a builtin */
        fprintf(out, "%s%s", builtin ? ".extern " : "", line);
    }
    fclose(in);
    fclose(out);
    unlink(ptx);
    char *as_argv[] = {"ptxas", "-arch=sm_90", "-c", fixed, "-o", obj, NULL};
    rc = run_compiler(as_argv, obj, log, log_len);
    if (rc < 0) {
        as_argv[0] = "/usr/local/cuda/bin/ptxas";
        rc = run_compiler(as_argv, obj, log, log_len);
    }
    unlink(fixed);
    return rc;
}

static void compile_flagged(const char *flags, int (*compile)(const char *, char *, size_t), const char *tool)
{
    char dir[] = "/tmp/dsa-codegen-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        static const int blocks[] = {0, 64, 256};
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            dsa_spec s = k->defaults;
            if (blocks[b]) s.block = blocks[b];
            cr_assert_eq(dsa_spec_parse(&s, flags), DSA_SUCCESS, "%s", dsa_last_error());
            if (dsa_spec_check(k, &s, NULL) != DSA_SUCCESS) continue; /* a block the kernel does not take */
            char *src = generate(k, DSA_DIALECT_OPENCL, &s);
            char path[96];
            snprintf(path, sizeof path, "%s/%s.cl", dir, k->name);
            FILE *f = fopen(path, "w");
            cr_assert_not_null(f);
            fputs(src, f);
            fclose(f);
            free(src);
            static char log[8192];
            int rc = compile(path, log, sizeof log);
            unlink(path);
            if (rc < 0) {
                rmdir(dir);
                cr_skip_test("%s is not installed", tool);
            }
            cr_expect_eq(rc, 0, "%s rejected %s (block=%d %s):\n%s", tool, k->name, s.block, flags, log);
        }
    }
    rmdir(dir);
}

Test(codegen, opencl_khr_subgroups_and_half_cl20_cl30, .timeout = 900)
{
    compile_flagged("subgroup=32,half=1", clang_cl20, "clang");
    compile_flagged("subgroup=16,half=1", clang_cl30, "clang");
    compile_flagged("half=1", clang_compile, "clang");
}

Test(codegen, opencl_inline_ptx_warps_ptxas_sm90, .timeout = 900)
{
    compile_flagged("subgroup=32,ptx=1", ptx_compile, "clang + ptxas");
}

/* The flags are in the generated source (so in every cache key) and select the paths. */
Test(codegen, opencl_flags_select_the_paths)
{
    const dsa_kernel_def *k = dsa_kernel_find("topk_select");
    cr_assert_not_null(k);
    dsa_spec s = k->defaults;
    char *portable = generate(k, DSA_DIALECT_OPENCL, &s);
    /* The prelude carries every path; the defines pick one when it is compiled. */
    cr_assert(strstr(portable, "#define SUBGROUP 0\n") && strstr(portable, "#define PTX 0\n"));
    cr_assert(strstr(portable, "#define HALF 0\n") && strstr(portable, "#if SUBGROUP > 0 && PTX"));
    free(portable);
    cr_assert_eq(dsa_spec_parse(&s, "subgroup=32,ptx=1"), DSA_SUCCESS);
    char *ptx = generate(k, DSA_DIALECT_OPENCL, &s);
    cr_assert(strstr(ptx, "#define SUBGROUP 32\n") && strstr(ptx, "#define PTX 1\n"));
    free(ptx);
    s.ptx = 0;
    cr_assert_eq(dsa_spec_check(k, &s, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    s.subgroup = 16;
    s.ptx = 1; /* a warp is 32 */
    cr_assert_eq(dsa_spec_check(k, &s, NULL), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "ptx=1") != NULL, "%s", dsa_last_error());
    s = k->defaults;
    s.half = 2;
    cr_assert_eq(dsa_spec_check(k, &s, NULL), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "half is 2") != NULL, "%s", dsa_last_error());
}

#ifdef DSA_HAVE_GLSLANG
Test(codegen, glsl_to_spirv_validated, .timeout = 900)
{
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec specs[MAX_SPECS];
        int n = specs_for(k, specs);
        for (int j = 0; j < n; j++) {
            char *src = generate(k, DSA_DIALECT_GLSL, &specs[j]);
            uint32_t *words = NULL;
            size_t count = 0;
            char what[96];
            describe(&specs[j], what, sizeof what);
            dsa_status st = dsa_glsl_to_spirv(src, k->name, 0x10300, &words, &count);
            cr_expect_eq(st, DSA_SUCCESS, "%s (%s): %s", k->name, what, dsa_last_error());
            if (st == DSA_SUCCESS)
                cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_SUCCESS, "%s (%s): %s", k->name, what,
                             dsa_last_error());
            free(words);
            free(src);
        }
    }
}
#endif
