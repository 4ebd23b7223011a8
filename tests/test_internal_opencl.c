/* The OpenCL backend's first layer, on PoCL (the CPU OpenCL platform every development machine and
 * the H100 machine have): loading libOpenCL.so.1 by dlopen, device discovery, building from source
 * and running a kernel through the function table, and what a compile error looks like.
 * PoCL compiles each program with clang + LLVM (seconds on a small machine), so the suite does
 * exactly two builds: one that runs, one that fails. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DSA_BUILD_OPENCL
#include "../backends/opencl/cl_api.h"
#include "../backends/opencl/cl_build.h"

#define POCL_PLATFORM "Portable Computing Language"

/* The function table, or the test is skipped: a machine without an ICD loader is a supported
 * configuration (the backend then reports itself unavailable), not a failure. */
static const dsa_cl_api *table_or_skip(void)
{
    const dsa_cl_api *cl = NULL;
    dsa_status st = dsa_cl_load(&cl);
    if (st != DSA_SUCCESS) {
        cr_assert_eq(st, DSA_ERROR_BACKEND_UNAVAILABLE, "%s", dsa_last_error());
        cr_assert(strstr(dsa_last_error(), "libOpenCL.so.1: ") == dsa_last_error(), "%s", dsa_last_error());
        cr_skip_test("no OpenCL ICD loader: %s", dsa_last_error());
    }
    cr_assert_not_null(cl);
    return cl;
}

/* Probes, and finds the PoCL device (skipping when PoCL is not installed). */
static void find_pocl(dsa_device_info *out)
{
    table_or_skip();
    static dsa_device_info devs[64];
    int count = -1;
    char reason[512];
    dsa_status st = dsa_cl_probe(devs, 64, &count, reason, sizeof reason);
    if (st != DSA_SUCCESS) cr_skip_test("OpenCL loader present but unusable: %s", reason);
    for (int i = 0; i < count; i++) {
        if (strstr(devs[i].platform, POCL_PLATFORM)) {
            *out = devs[i];
            return;
        }
    }
    cr_skip_test("no \"" POCL_PLATFORM "\" platform among %d OpenCL device(s) (install pocl-opencl-icd)", count);
}

Test(opencl, error_names)
{
    cr_assert_str_eq(dsa_cl_error_name(-11), "CL_BUILD_PROGRAM_FAILURE");
    cr_assert_str_eq(dsa_cl_error_name(0), "CL_SUCCESS");
    cr_assert_str_eq(dsa_cl_error_name(-5), "CL_OUT_OF_RESOURCES");
    cr_assert_str_eq(dsa_cl_error_name(-30), "CL_INVALID_VALUE");
    cr_assert_str_eq(dsa_cl_error_name(-72), "CL_MAX_SIZE_RESTRICTION_EXCEEDED");
    cr_assert_str_eq(dsa_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    cr_assert_str_eq(dsa_cl_error_name(-20), "unknown OpenCL error");
    cr_assert_str_eq(dsa_cl_error_name(12345), "unknown OpenCL error");
    cr_assert_eq(dsa_cl_fail(CL_OUT_OF_RESOURCES, "clFinish"), DSA_ERROR_DRIVER);
    cr_assert_str_eq(dsa_last_error(), "OpenCL clFinish failed: CL_OUT_OF_RESOURCES (-5)");
    cr_assert_eq(dsa_cl_fail(CL_MEM_OBJECT_ALLOCATION_FAILURE, "clCreateBuffer"), DSA_ERROR_DEVICE_OUT_OF_MEMORY);
    cr_assert_eq(dsa_cl_fail(CL_OUT_OF_HOST_MEMORY, "clCreateBuffer"), DSA_ERROR_OUT_OF_MEMORY);
}

Test(opencl, probe_lists_pocl_as_cpu_emulation)
{
    dsa_device_info d;
    find_pocl(&d);
    cr_assert_eq(d.backend, DSA_BACKEND_OPENCL);
    cr_assert(d.name[0] != '\0');
    cr_assert(d.vendor[0] != '\0');
    cr_assert(d.driver_version[0] != '\0');
    cr_assert(strncmp(d.runtime_version, "OpenCL ", 7) == 0, "runtime_version \"%s\"", d.runtime_version);
    cr_assert(d.is_cpu, "PoCL's device is a CPU");
    cr_assert(d.is_emulation, "a CPU behind OpenCL is an emulation that auto never picks");
    cr_assert_gt(d.memory_bytes, 0);
    cr_assert_gt(d.max_buffer_bytes, 0);
    cr_assert_leq(d.max_buffer_bytes, d.memory_bytes);
    cr_assert_gt(d.shared_mem_per_block, 0);
    cr_assert_gt(d.compute_units, 0);
    cr_assert(d.caps & DSA_CAP_INT64, "PoCL is a full-profile device");
    cr_assert_eq(d.caps & (DSA_CAP_BF16 | DSA_CAP_FP8 | DSA_CAP_MATRIX_UNITS), 0u);

    cl_platform_id p = NULL;
    cl_device_id dev = NULL;
    cr_assert_eq(dsa_cl_device_handles(d.index, &p, &dev), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert(p && dev);
    cr_assert_eq(dsa_cl_device_handles(64, &p, &dev), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_cl_device_handles(-1, &p, &dev), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "opencl:-1") != NULL, "%s", dsa_last_error());

    /* Counting into a zero-length array is a valid call that lists nothing. */
    int count = -1;
    cr_assert_eq(dsa_cl_probe(NULL, 0, &count, NULL, 0), DSA_SUCCESS);
    cr_assert_eq(count, 0);
}

/* A context and in-order queue on the PoCL device, made through the table only. */
typedef struct pocl_session {
    const dsa_cl_api *cl;
    dsa_device_info info;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
} pocl_session;

static void open_session(pocl_session *s)
{
    s->cl = table_or_skip();
    find_pocl(&s->info);
    cl_platform_id platform;
    cr_assert_eq(dsa_cl_device_handles(s->info.index, &platform, &s->device), DSA_SUCCESS);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
    cl_int err = CL_SUCCESS;
    s->ctx = s->cl->clCreateContext(props, 1, &s->device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateContext: %s", dsa_cl_error_name(err));
    s->queue = s->cl->clCreateCommandQueue(s->ctx, s->device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateCommandQueue: %s", dsa_cl_error_name(err));
}

static void close_session(pocl_session *s)
{
    s->cl->clReleaseCommandQueue(s->queue);
    s->cl->clReleaseContext(s->ctx);
}

static const char axpy_source[] =
    "__kernel void axpy(__global float *y, __global const float *x, const float a, const uint n)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n";

Test(opencl, build_and_run_on_pocl)
{
    pocl_session s;
    open_session(&s);
    const dsa_cl_api *cl = s.cl;

    cl_program program = NULL;
    dsa_status st = dsa_cl_build(s.ctx, s.device, axpy_source, "axpy", "-cl-std=CL1.2", &program);
    cr_assert_eq(st, DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(program);

    /* The binary the kernel cache will store. */
    void *bin = NULL;
    size_t bin_size = 0;
    cr_assert_eq(dsa_cl_program_binary(program, s.device, &bin, &bin_size), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert(bin != NULL && bin_size > 0);
    free(bin);

    cl_int err = CL_SUCCESS;
    cl_kernel kernel = cl->clCreateKernel(program, "axpy", &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateKernel: %s", dsa_cl_error_name(err));

    enum { N = 1000 };
    float x[N], y[N], out[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = (float)(3 * i);
    }
    cl_mem bx = cl->clCreateBuffer(s.ctx, CL_MEM_READ_ONLY, sizeof x, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %s", dsa_cl_error_name(err));
    cl_mem by = cl->clCreateBuffer(s.ctx, CL_MEM_READ_WRITE, sizeof y, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %s", dsa_cl_error_name(err));
    cr_assert_eq(cl->clEnqueueWriteBuffer(s.queue, bx, CL_TRUE, 0, sizeof x, x, 0, NULL, NULL), CL_SUCCESS);
    cr_assert_eq(cl->clEnqueueWriteBuffer(s.queue, by, CL_TRUE, 0, sizeof y, y, 0, NULL, NULL), CL_SUCCESS);

    float a = 0.5f;
    cl_uint n = N;
    cr_assert_eq(cl->clSetKernelArg(kernel, 0, sizeof by, &by), CL_SUCCESS);
    cr_assert_eq(cl->clSetKernelArg(kernel, 1, sizeof bx, &bx), CL_SUCCESS);
    cr_assert_eq(cl->clSetKernelArg(kernel, 2, sizeof a, &a), CL_SUCCESS);
    cr_assert_eq(cl->clSetKernelArg(kernel, 3, sizeof n, &n), CL_SUCCESS);
    size_t global = 1024; /* more work-items than elements: the kernel's bound check is exercised */
    cl_event done = NULL;
    err = cl->clEnqueueNDRangeKernel(s.queue, kernel, 1, NULL, &global, NULL, 0, NULL, &done);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueNDRangeKernel: %s", dsa_cl_error_name(err));
    cr_assert_eq(cl->clWaitForEvents(1, &done), CL_SUCCESS);
    cl->clReleaseEvent(done);
    cr_assert_eq(cl->clEnqueueReadBuffer(s.queue, by, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL), CL_SUCCESS);
    cr_assert_eq(cl->clFinish(s.queue), CL_SUCCESS);

    /* 0.5 * i + 3 * i is exact in fp32 for these i, fused or not. */
    for (int i = 0; i < N; i++) cr_assert_float_eq(out[i], 3.5f * (float)i, 0.0f, "y[%d] = %g", i, (double)out[i]);

    cl->clReleaseMemObject(bx);
    cl->clReleaseMemObject(by);
    cl->clReleaseKernel(kernel);
    cl->clReleaseProgram(program);
    close_session(&s);
}

Test(opencl, compile_error_quotes_the_line)
{
    pocl_session s;
    open_session(&s);
    static const char broken_source[] =
        "__kernel void broken(__global float *y)\n"
        "{\n"
        "    y[0] = 1.0f +;\n"
        "}\n";
    cl_program program = (cl_program)(uintptr_t)1; /* must be reset to NULL on failure */
    dsa_status st = dsa_cl_build(s.ctx, s.device, broken_source, "broken", "-cl-std=CL1.2", &program);
    cr_assert_eq(st, DSA_ERROR_COMPILE, "%s: %s", dsa_status_string(st), dsa_last_error());
    cr_assert_null(program);
    const char *msg = dsa_last_error();
    cr_assert(strstr(msg, "OpenCL " POCL_PLATFORM) != NULL, "names the compiler: %s", msg);
    cr_assert(strstr(msg, "broken") != NULL, "names the kernel: %s", msg);
    cr_assert(strstr(msg, "error") != NULL, "carries the build log: %s", msg);
    cr_assert(strstr(msg, "3 |     y[0] = 1.0f +;") != NULL, "quotes the offending line: %s", msg);
    close_session(&s);
}

Test(opencl, build_rejects_null_arguments)
{
    cl_program program;
    cr_assert_eq(dsa_cl_build(NULL, NULL, "x", "k", NULL, &program), DSA_ERROR_NULL_POINTER);
    cr_assert_null(program);
    cr_assert_eq(dsa_cl_build(NULL, NULL, "x", "k", NULL, NULL), DSA_ERROR_NULL_POINTER);
    void *bin;
    size_t size;
    cr_assert_eq(dsa_cl_program_binary(NULL, NULL, &bin, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_null(bin);
    cr_assert_eq(size, 0);
}

/* ---- error routes through the public API (issue 4, item 4) ---- */

#include "dsa.h"

static const char *pocl_selector(const pocl_session *s, char *buf, size_t n)
{
    snprintf(buf, n, "opencl:%d", s->info.index);
    return buf;
}

/* The application's objects are checked when they are handed over: a queue of another context, an
 * out-of-order queue, a cl_mem of another context, one smaller than claimed, or an object that is
 * no buffer each come back as DSA_ERROR_INVALID_ARGUMENT naming the problem, before any op. */
Test(opencl, wrapped_objects_are_checked)
{
    pocl_session s;
    open_session(&s);
    const dsa_cl_api *cl = s.cl;
    char sel[32];
    cl_int err;
    cl_context other = cl->clCreateContext(NULL, 1, &s.device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue other_q = cl->clCreateCommandQueue(other, s.device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);

    dsa_context *ctx = NULL;
    dsa_context_desc desc = {.selector = pocl_selector(&s, sel, sizeof sel), .native_context = s.ctx,
                             .native_queue = other_q, .native_device = s.device};
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "another cl_context") != NULL, "%s", dsa_last_error());

    cl_command_queue ooo = cl->clCreateCommandQueue(s.ctx, s.device, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {
        desc.native_queue = ooo;
        cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_ERROR_INVALID_ARGUMENT);
        cr_assert(strstr(dsa_last_error(), "out of order") != NULL, "%s", dsa_last_error());
        cl->clReleaseCommandQueue(ooo);
    }

    desc.native_queue = s.queue;
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cl_mem mine = cl->clCreateBuffer(s.ctx, CL_MEM_READ_WRITE, 256, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem theirs = cl->clCreateBuffer(other, CL_MEM_READ_WRITE, 256, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    dsa_buffer *b = NULL;
    cr_assert_eq(dsa_buffer_wrap(ctx, mine, 256, &b), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer_free(b);
    cr_assert_eq(dsa_buffer_wrap(ctx, mine, 257, &b), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "bytes is 257, but the cl_mem holds 256") != NULL, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_wrap(ctx, theirs, 256, &b), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "another cl_context") != NULL, "%s", dsa_last_error());
    cr_assert_null(b);

    dsa_context_destroy(ctx);
    cl->clReleaseMemObject(mine);
    cl->clReleaseMemObject(theirs);
    cl->clReleaseCommandQueue(other_q);
    cl->clReleaseContext(other);
    close_session(&s);
}

/* A kernel that does not complete (here: cancelled because the application's event it waits for
 * failed; on a GPU also a lost device or CL_OUT_OF_RESOURCES at run time) is reported by the next
 * dsa_synchronize with its CL error name, not swallowed by clFinish. */
Test(opencl, failed_kernel_is_reported_by_synchronize)
{
    pocl_session s;
    open_session(&s);
    const dsa_cl_api *cl = s.cl;
    char sel[32];
    dsa_context_desc desc = {.selector = pocl_selector(&s, sel, sizeof sel), .native_context = s.ctx,
                             .native_queue = s.queue, .native_device = s.device};
    dsa_context *ctx;
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer *q, *sc, *y;
    cr_assert_eq(dsa_buffer_alloc(ctx, 128, &q), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, 4, &sc), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, 128 * 4, &y), DSA_SUCCESS);
    int64_t shape[2] = {1, 128}, sshape[2] = {1, 1};
    dsa_dequantize_args a = {.q = dsa_tensor_make(q, 0, DSA_FP8_E4M3, 2, shape, NULL),
                             .scales = dsa_tensor_make(sc, 0, DSA_FP32, 2, sshape, NULL),
                             .out = dsa_tensor_make(y, 0, DSA_FP32, 2, shape, NULL)};
    cl_int err;
    cl_event gate = cl->clCreateUserEvent(s.ctx, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_assert_eq(dsa_context_wait_events(ctx, (void *const *)&gate, 1), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_dequantize_fp8(ctx, &a, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(cl->clSetUserEventStatus(gate, CL_INVALID_OPERATION), CL_SUCCESS);
    dsa_status st = dsa_synchronize(ctx);
    cr_assert_eq(st, DSA_ERROR_DRIVER, "%s: %s", dsa_status_string(st), dsa_last_error());
    cr_assert(strstr(dsa_last_error(), "the last op's kernel") != NULL && strstr(dsa_last_error(), "CL_") != NULL,
              "%s", dsa_last_error());
    /* Reported once; the context goes on. */
    cr_assert_eq(dsa_synchronize(ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_dequantize_fp8(ctx, &a, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_synchronize(ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cl->clReleaseEvent(gate);
    dsa_buffer_free(q);
    dsa_buffer_free(sc);
    dsa_buffer_free(y);
    dsa_context_destroy(ctx);
    close_session(&s);
}

#else

Test(opencl, not_built)
{
    cr_skip_test("the OpenCL backend is not in this build (DSA_ENABLE_OPENCL=OFF or no CL/cl.h)");
}

#endif
