/* The OpenCL fast paths (subgroup reductions and scans, fp8 decode through half): core turns them
 * on from a device's capabilities (templates/spec.c, dsa_spec_use_device), PoCL (no fp16, no
 * subgroups) keeps the portable paths, a device that has them gets them, and a flag forced on a
 * device without the feature (DSA_TUNING) is refused with a message. The flagged sources are
 * compiled offline in test_internal_codegen.c; no device here runs them. Criterion runs each test
 * in its own process, so each may set DSA_TUNING before the overlay is first read. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsa.h"
#include "plan.h"
#include "template.h"

#ifdef DSA_BUILD_OPENCL
#include "../backends/opencl/cl_api.h"

/* The PoCL device as the backend describes it (the test is skipped without PoCL). */
static dsa_device_info pocl_device(void)
{
    static dsa_device_info devs[64];
    int count = 0;
    char reason[512];
    const dsa_cl_api *cl;
    if (dsa_cl_load(&cl) != DSA_SUCCESS) cr_skip_test("no OpenCL loader: %s", dsa_last_error());
    if (dsa_cl_probe(devs, 64, &count, reason, sizeof reason) != DSA_SUCCESS) cr_skip_test("no OpenCL: %s", reason);
    for (int i = 0; i < count; i++)
        if (strstr(devs[i].platform, "Portable Computing Language")) return devs[i];
    cr_skip_test("PoCL is not installed");
    return devs[0];
}

/* A device as described by a probe, for the devices CI does not have. */
static dsa_device_info fake_device(dsa_backend backend, const char *name, uint32_t caps, uint32_t sizes)
{
    dsa_device_info d;
    memset(&d, 0, sizeof d);
    d.backend = backend;
    snprintf(d.name, sizeof d.name, "%s", name);
    d.caps = caps | DSA_CAP_INT64;
    d.subgroup_sizes = sizes;
    d.shared_mem_per_block = 48 * 1024;
    return d;
}

/* The specialization core plans for kernel k on dev, or the status of the refusal. */
static dsa_status planned(const dsa_device_info *dev, const dsa_kernel_def *k, dsa_spec *out)
{
    static dsa_plan plan;
    memset(&plan, 0, sizeof plan);
    dsa_launch *l = NULL;
    dsa_status st = dsa_plan_kernel(&plan, dev, k->name, NULL, NULL, &l);
    if (st == DSA_SUCCESS) *out = l->spec;
    return st;
}

static void set_tuning(const char *text)
{
    static char path[] = "/tmp/dsa-tuning-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("DSA_TUNING", path, 1);
}

Test(opencl_paths, pocl_keeps_the_portable_paths)
{
    dsa_device_info pocl = pocl_device();
    cr_assert_eq(pocl.caps & (DSA_CAP_FP16 | DSA_CAP_SUBGROUPS | DSA_CAP_INLINE_PTX), 0u,
                 "PoCL here has no fp16, subgroups or PTX; caps 0x%x", pocl.caps);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec s;
        cr_assert_eq(planned(&pocl, k, &s), DSA_SUCCESS, "%s: %s", k->name, dsa_last_error());
        cr_expect(s.subgroup == 0 && s.half == 0 && s.ptx == 0, "%s on PoCL: subgroup=%d half=%d ptx=%d", k->name,
                  s.subgroup, s.half, s.ptx);
    }
}

Test(opencl_paths, nvidia_opencl_gets_warp_shuffles_in_ptx)
{
    /* What the NVIDIA OpenCL driver reports on Hopper: no cl_khr_fp16, no cl_khr_subgroups, warps
     * of 32 (cl_nv_device_attribute_query), inline PTX. */
    dsa_device_info h100 = fake_device(DSA_BACKEND_OPENCL, "NVIDIA H100 80GB HBM3",
                                       DSA_CAP_SUBGROUPS | DSA_CAP_INLINE_PTX | DSA_CAP_FP64, 32u);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec s;
        cr_assert_eq(planned(&h100, k, &s), DSA_SUCCESS, "%s: %s", k->name, dsa_last_error());
        cr_expect(s.subgroup == 32 && s.ptx == 1 && s.half == 0, "%s: subgroup=%d ptx=%d half=%d", k->name, s.subgroup,
                  s.ptx, s.half);
    }
}

Test(opencl_paths, khr_device_gets_builtins_and_half)
{
    /* An Intel-like device: cl_khr_fp16, subgroups of 8, 16 or 32. */
    dsa_device_info gpu = fake_device(DSA_BACKEND_OPENCL, "Intel(R) Arc(TM) A770 Graphics",
                                      DSA_CAP_SUBGROUPS | DSA_CAP_FP16, 8u | 16u | 32u);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        dsa_spec s;
        cr_assert_eq(planned(&gpu, k, &s), DSA_SUCCESS, "%s: %s", k->name, dsa_last_error());
        cr_expect(s.subgroup == 32 && s.ptx == 0 && s.half == 1, "%s: subgroup=%d ptx=%d half=%d", k->name, s.subgroup,
                  s.ptx, s.half);
    }
}

Test(opencl_paths, other_backends_keep_their_specs)
{
    /* The flags are the OpenCL dialect's: a CUDA device's specs (and its prebuilt cubins) stay. */
    dsa_device_info cuda = fake_device(DSA_BACKEND_CUDA, "NVIDIA H100", DSA_CAP_SUBGROUPS | DSA_CAP_FP16, 32u);
    const dsa_kernel_def *k = dsa_kernel_find("topk_select");
    dsa_spec s;
    cr_assert_eq(planned(&cuda, k, &s), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert(s.subgroup == 0 && s.half == 0 && s.ptx == 0);
    s.half = 1;
    cr_assert_eq(dsa_spec_check(k, &s, &cuda), DSA_ERROR_UNSUPPORTED);
    cr_assert(strstr(dsa_last_error(), "OpenCL flags") != NULL, "%s", dsa_last_error());
}

Test(opencl_paths, tuning_turns_the_paths_off)
{
    set_tuning("* subgroup=0, ptx=0, half=0\n");
    dsa_device_info gpu = fake_device(DSA_BACKEND_OPENCL, "gpu", DSA_CAP_SUBGROUPS | DSA_CAP_INLINE_PTX, 32u);
    dsa_spec s;
    cr_assert_eq(planned(&gpu, dsa_kernel_find("quantize_fp8"), &s), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert(s.subgroup == 0 && s.ptx == 0 && s.half == 0);
}

/* A flag forced onto PoCL is refused before anything is built, with the feature named, through
 * the public API. */
static void expect_refused(const char *tuning, const char *needle)
{
    set_tuning(tuning);
    pocl_device();
    dsa_context *ctx;
    cr_assert_eq(dsa_context_create("opencl:pocl", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer *xb, *qb, *sb;
    cr_assert_eq(dsa_buffer_alloc(ctx, 256 * 4, &xb), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, 256, &qb), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, 2 * 4, &sb), DSA_SUCCESS);
    int64_t shape[2] = {1, 256}, sshape[2] = {1, 2};
    dsa_quantize_args a = {
        .x = dsa_tensor_make(xb, 0, DSA_FP32, 2, shape, NULL),
        .q = dsa_tensor_make(qb, 0, DSA_FP8_E4M3, 2, shape, NULL),
        .scales = dsa_tensor_make(sb, 0, DSA_FP32, 2, sshape, NULL),
    };
    dsa_status st = dsa_quantize_fp8(ctx, &a, NULL);
    cr_expect_eq(st, DSA_ERROR_UNSUPPORTED, "%s: %s", dsa_status_string(st), dsa_last_error());
    cr_expect(strstr(dsa_last_error(), needle) != NULL, "message names %s: %s", needle, dsa_last_error());
    dsa_buffer_free(xb);
    dsa_buffer_free(qb);
    dsa_buffer_free(sb);
    dsa_context_destroy(ctx);
}

Test(opencl_paths, forced_half_is_refused_on_pocl) { expect_refused("quantize_fp8 half=1\n", "cl_khr_fp16"); }

Test(opencl_paths, forced_subgroups_are_refused_on_pocl)
{
    expect_refused("quantize_fp8 subgroup=32\n", "subgroup 32 is not a subgroup size");
}

Test(opencl_paths, forced_ptx_is_refused_on_a_khr_device)
{
    set_tuning("* ptx=1\n");
    dsa_device_info gpu = fake_device(DSA_BACKEND_OPENCL, "khr gpu", DSA_CAP_SUBGROUPS, 32u);
    dsa_spec s;
    cr_assert_eq(planned(&gpu, dsa_kernel_find("quantize_fp8"), &s), DSA_ERROR_UNSUPPORTED);
    cr_assert(strstr(dsa_last_error(), "takes no inline PTX") != NULL, "%s", dsa_last_error());
}

#else

Test(opencl_paths, not_built)
{
    cr_skip_test("the OpenCL backend is not in this build (DSA_ENABLE_OPENCL=OFF or no CL/cl.h)");
}

#endif
