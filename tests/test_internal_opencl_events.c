/* OpenCL interop: ops run on the application's cl_context and queue, wait for its events, and hand
 * back an event that signals their completion (dsa_context_wait_events / dsa_context_take_event). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "dsa.h"
#include "../backends/opencl/cl_api.h"

static int pocl_index(void)
{
    int n = 0;
    dsa_device_count(&n);
    int local = -1;
    for (int i = 0; i < n; i++) {
        dsa_device_info d;
        dsa_device_get_info(i, &d);
        if (d.backend != DSA_BACKEND_OPENCL) continue;
        local++;
        if (strstr(d.runtime_version, "PoCL")) return local;
    }
    return -1;
}

Test(opencl_events, op_waits_for_the_applications_event_and_returns_its_own)
{
    const dsa_cl_api *cl;
    if (dsa_cl_load(&cl) != DSA_SUCCESS) cr_skip_test("no OpenCL loader: %s", dsa_last_error());
    int idx = pocl_index();
    if (idx < 0) cr_skip_test("PoCL is not installed");
    cl_platform_id platform;
    cl_device_id device;
    cr_assert_eq(dsa_cl_device_handles(idx, &platform, &device), DSA_SUCCESS);
    cl_int err;
    cl_context app_ctx = cl->clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue app_q = cl->clCreateCommandQueue(app_ctx, device, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);

    char sel[32];
    snprintf(sel, sizeof sel, "opencl:%d", idx);
    dsa_context_desc desc = {.selector = sel, .native_context = app_ctx, .native_queue = app_q,
                             .native_device = device};
    dsa_context *ctx;
    cr_assert_eq(dsa_context_create_ex(&desc, &ctx), DSA_SUCCESS, "%s", dsa_last_error());

    /* dequantize 2 x 128 codes; the expected values are the CPU backend's */
    unsigned char codes[256];
    float scales[2] = {0.5f, 4.0f}, got[256], want[256];
    for (int i = 0; i < 256; i++) codes[i] = (unsigned char)(i * 37);
    codes[127] = 0x11; /* no NaN codes: compare values exactly */
    for (int i = 0; i < 256; i++) if ((codes[i] & 0x7f) == 0x7f) codes[i] = 0x10;
    dsa_buffer *q, *s, *y;
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof codes, &q), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof scales, &s), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(ctx, sizeof got, &y), DSA_SUCCESS);
    dsa_buffer_write(q, 0, codes, sizeof codes);
    dsa_buffer_write(s, 0, scales, sizeof scales);
    int64_t shape[2] = {2, 128}, sshape[2] = {2, 1};
    dsa_dequantize_args a = {.q = dsa_tensor_make(q, 0, DSA_FP8_E4M3, 2, shape, NULL),
                             .scales = dsa_tensor_make(s, 0, DSA_FP32, 2, sshape, NULL),
                             .out = dsa_tensor_make(y, 0, DSA_FP32, 2, shape, NULL)};
    cr_assert_eq(dsa_prepare(ctx, DSA_OP_DEQUANTIZE_FP8, &a), DSA_SUCCESS, "%s", dsa_last_error());

    /* The op is gated by the application's user event: it must not run before the event is set. */
    cl_event gate = cl->clCreateUserEvent(app_ctx, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_assert_eq(dsa_context_wait_events(ctx, (void *const *)&gate, 1), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_dequantize_fp8(ctx, &a, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    cl_event done = NULL;
    cr_assert_eq(dsa_context_take_event(ctx, (void **)&done), DSA_SUCCESS);
    cr_assert_not_null(done);
    cl_int state = CL_COMPLETE;
    cr_assert_eq(cl->clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state, NULL), CL_SUCCESS);
    cr_assert_neq(state, CL_COMPLETE, "the op ran before the application's event was set");
    cr_assert_eq(cl->clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    cr_assert_eq(cl->clWaitForEvents(1, &done), CL_SUCCESS);
    cr_assert_eq(dsa_buffer_read(y, 0, got, sizeof got), DSA_SUCCESS);

    /* The same op on the CPU backend. */
    dsa_context *cpu;
    cr_assert_eq(dsa_context_create("cpu", &cpu), DSA_SUCCESS);
    dsa_buffer *cq, *cs, *cy;
    dsa_buffer_alloc(cpu, sizeof codes, &cq);
    dsa_buffer_alloc(cpu, sizeof scales, &cs);
    dsa_buffer_alloc(cpu, sizeof want, &cy);
    dsa_buffer_write(cq, 0, codes, sizeof codes);
    dsa_buffer_write(cs, 0, scales, sizeof scales);
    dsa_dequantize_args c = {.q = dsa_tensor_make(cq, 0, DSA_FP8_E4M3, 2, shape, NULL),
                             .scales = dsa_tensor_make(cs, 0, DSA_FP32, 2, sshape, NULL),
                             .out = dsa_tensor_make(cy, 0, DSA_FP32, 2, shape, NULL)};
    cr_assert_eq(dsa_dequantize_fp8(cpu, &c, NULL), DSA_SUCCESS);
    dsa_buffer_read(cy, 0, want, sizeof want);
    cr_assert_arr_eq(got, want, sizeof got);

    /* Bad input: a NULL event, too many, and events on a backend that takes none. */
    void *null_event = NULL;
    cr_assert_eq(dsa_context_wait_events(ctx, &null_event, 1), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_context_wait_events(ctx, NULL, 1), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_context_wait_events(ctx, (void *const *)&gate, 65), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_context_wait_events(cpu, (void *const *)&gate, 1), DSA_ERROR_UNSUPPORTED);
    void *none = (void *)1;
    cr_assert_eq(dsa_context_take_event(cpu, &none), DSA_SUCCESS);
    cr_assert_null(none);

    cl->clReleaseEvent(done);
    cl->clReleaseEvent(gate);
    dsa_buffer_free(cq);
    dsa_buffer_free(cs);
    dsa_buffer_free(cy);
    dsa_context_destroy(cpu);
    dsa_buffer_free(q);
    dsa_buffer_free(s);
    dsa_buffer_free(y);
    dsa_context_destroy(ctx);
    cl->clReleaseCommandQueue(app_q);
    cl->clReleaseContext(app_ctx);
}
