/* OpenCL backend, part 1: the ICD loader loaded at run time, and device discovery.
 *
 * DESIGN.md invariant 2: libdsa never links libOpenCL. libOpenCL.so.1 (the Khronos or ocl-icd loader,
 * which dispatches to every installed platform: PoCL, NVIDIA, ...) is opened with dlopen once per
 * process, and every entry point used anywhere in the backend is called through the table below.
 * The Khronos headers are included for their types and constants only; no prototype from them is
 * ever called, so no symbol of libOpenCL is referenced at link time. */
#ifndef DSA_CL_API_H
#define DSA_CL_API_H

/* 3.0 headers: the 3.0 query constants (CL_DEVICE_OPENCL_C_FEATURES, CL_DEVICE_MAX_NUM_SUB_GROUPS)
 * are needed to describe 3.0 devices. The table below holds only 1.2 entry points, so the backend
 * still runs on a 1.2 loader and platform. */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <CL/cl_ext.h>

#include "internal.h"

#include <stddef.h>

/* Every OpenCL entry point the backend uses: X(name, return type, parameter list). All exist since
 * OpenCL 1.2 (clEnqueueFillBuffer is the newest), so any conforming loader provides them. */
#define DSA_CL_FUNCTIONS(X)                                                                               \
    X(clGetPlatformIDs, cl_int, (cl_uint, cl_platform_id *, cl_uint *))                                   \
    X(clGetPlatformInfo, cl_int, (cl_platform_id, cl_platform_info, size_t, void *, size_t *))            \
    X(clGetDeviceIDs, cl_int, (cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *))       \
    X(clGetDeviceInfo, cl_int, (cl_device_id, cl_device_info, size_t, void *, size_t *))                  \
    X(clCreateContext, cl_context,                                                                        \
      (const cl_context_properties *, cl_uint, const cl_device_id *,                                      \
       void(CL_CALLBACK *)(const char *, const void *, size_t, void *), void *, cl_int *))                 \
    X(clReleaseContext, cl_int, (cl_context))                                                             \
    X(clCreateCommandQueue, cl_command_queue,                                                             \
      (cl_context, cl_device_id, cl_command_queue_properties, cl_int *))                                  \
    X(clReleaseCommandQueue, cl_int, (cl_command_queue))                                                  \
    X(clCreateProgramWithSource, cl_program, (cl_context, cl_uint, const char **, const size_t *, cl_int *)) \
    X(clBuildProgram, cl_int,                                                                             \
      (cl_program, cl_uint, const cl_device_id *, const char *, void(CL_CALLBACK *)(cl_program, void *),  \
       void *))                                                                                           \
    X(clGetProgramBuildInfo, cl_int,                                                                      \
      (cl_program, cl_device_id, cl_program_build_info, size_t, void *, size_t *))                        \
    X(clGetProgramInfo, cl_int, (cl_program, cl_program_info, size_t, void *, size_t *))                  \
    X(clCreateProgramWithBinary, cl_program,                                                              \
      (cl_context, cl_uint, const cl_device_id *, const size_t *, const unsigned char **, cl_int *,       \
       cl_int *))                                                                                         \
    X(clReleaseProgram, cl_int, (cl_program))                                                             \
    X(clCreateKernel, cl_kernel, (cl_program, const char *, cl_int *))                                    \
    X(clReleaseKernel, cl_int, (cl_kernel))                                                               \
    X(clCreateBuffer, cl_mem, (cl_context, cl_mem_flags, size_t, void *, cl_int *))                       \
    X(clReleaseMemObject, cl_int, (cl_mem))                                                               \
    X(clSetKernelArg, cl_int, (cl_kernel, cl_uint, size_t, const void *))                                 \
    X(clEnqueueNDRangeKernel, cl_int,                                                                     \
      (cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *, const size_t *, cl_uint,     \
       const cl_event *, cl_event *))                                                                     \
    X(clEnqueueReadBuffer, cl_int,                                                                        \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *, cl_event *)) \
    X(clEnqueueWriteBuffer, cl_int,                                                                       \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint, const cl_event *,        \
       cl_event *))                                                                                       \
    X(clEnqueueCopyBuffer, cl_int,                                                                        \
      (cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint, const cl_event *, cl_event *))  \
    X(clEnqueueFillBuffer, cl_int,                                                                        \
      (cl_command_queue, cl_mem, const void *, size_t, size_t, size_t, cl_uint, const cl_event *,         \
       cl_event *))                                                                                       \
    X(clFinish, cl_int, (cl_command_queue))                                                               \
    X(clWaitForEvents, cl_int, (cl_uint, const cl_event *))                                               \
    X(clReleaseEvent, cl_int, (cl_event))                                                                 \
    X(clRetainEvent, cl_int, (cl_event))                                                                  \
    X(clCreateUserEvent, cl_event, (cl_context, cl_int *))                                                \
    X(clSetUserEventStatus, cl_int, (cl_event, cl_int))                                                   \
    X(clGetEventInfo, cl_int, (cl_event, cl_event_info, size_t, void *, size_t *))                        \
    X(clGetKernelWorkGroupInfo, cl_int,                                                                   \
      (cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *, size_t *))                     \
    X(clGetCommandQueueInfo, cl_int, (cl_command_queue, cl_command_queue_info, size_t, void *, size_t *)) \
    X(clGetMemObjectInfo, cl_int, (cl_mem, cl_mem_info, size_t, void *, size_t *))

/* The table: one member per entry point, named as in the OpenCL API (cl->clFinish(queue)). */
typedef struct dsa_cl_api {
#define DSA_CL_MEMBER(name, ret, params) ret(CL_API_CALL *name) params;
    DSA_CL_FUNCTIONS(DSA_CL_MEMBER)
#undef DSA_CL_MEMBER
} dsa_cl_api;

/* Loads libOpenCL.so.1 and resolves the table, once per process (thread-safe). On success *api
 * points to the table, valid until the process exits (the loader is never closed: ICDs keep
 * threads and atexit handlers that must not outlive their code). On failure returns
 * DSA_ERROR_BACKEND_UNAVAILABLE with "libOpenCL.so.1: <dlerror>" in dsa_last_error(), every time
 * it is asked (the first attempt's answer is kept). */
dsa_status dsa_cl_load(const dsa_cl_api **api);

/* The name of an OpenCL error code ("CL_BUILD_PROGRAM_FAILURE" for -11), covering every code of
 * OpenCL 1.2 and 3.0 and the extension codes a loader may return; "unknown OpenCL error" otherwise.
 * Never NULL. */
const char *dsa_cl_error_name(cl_int err);

/* Turns a failed OpenCL call into a status with a message naming the call, the code and its name:
 * CL_OUT_OF_HOST_MEMORY -> DSA_ERROR_OUT_OF_MEMORY, CL_MEM_OBJECT_ALLOCATION_FAILURE ->
 * DSA_ERROR_DEVICE_OUT_OF_MEMORY, anything else -> DSA_ERROR_DRIVER. */
dsa_status dsa_cl_fail(cl_int err, const char *call);

/* dsa_backend_ops.probe for OpenCL: every device of every platform that can compile OpenCL C, in
 * platform then device order. Sets *count. If the loader cannot be loaded or no platform is
 * installed, returns DSA_ERROR_BACKEND_UNAVAILABLE with the reason in reason[] (and in
 * dsa_last_error()). Also remembers each listed device's handles (dsa_cl_device_handles). */
dsa_status dsa_cl_probe(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len);

/* The platform and device handles of device `index` (dsa_device_info.index) of the last probe, for
 * creating a context. DSA_ERROR_INVALID_ARGUMENT if there is no such device. */
dsa_status dsa_cl_device_handles(int index, cl_platform_id *platform, cl_device_id *device);

#endif
