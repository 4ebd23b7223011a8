/* HIP backend, part 1: the HIP runtime (libamdhip64) and hiprtc, loaded at run time.
 *
 * DESIGN.md invariant 2: libdsa never links libamdhip64. The library is opened with dlopen once per
 * process and every entry point the backend uses is called through the table below. Types and
 * constants are declared here from HIP's documented C ABI (values as in ROCm 5.x's
 * hip_runtime_api.h; tests/test_internal_hip.c checks them against the header where it is
 * installed), prefixed dsa_hip / DSA_HIP so they never clash with HIP's own headers, and the
 * backend builds with no HIP header at all.
 *
 * Which runtime: $DSA_HIP_LIBRARY when set (a full path, and then nothing else; the test shim
 * tests/hip_on_cuda is loaded this way), otherwise the first that loads of libamdhip64.so,
 * libamdhip64.so.7, .6, .5, then /opt/rocm/lib/libamdhip64.so.
 *
 * Which hiprtc: ROCm 5 ships hiprtc inside libamdhip64; ROCm 6 and later ship it as libhiprtc.so.N
 * beside it. The runtime library's own hiprtc symbols are used when it exports them; otherwise
 * $DSA_HIPRTC_LIBRARY, libhiprtc.so, libhiprtc.so.7, .6, then libhiprtc.so in the runtime's
 * directory. */
#ifndef DSA_HIP_API_H
#define DSA_HIP_API_H

#include "dsa.h"

#include <stddef.h>

/* ---- the runtime's types ---- */
typedef int dsa_hip_error;                               /* hipError_t, a C enum */
typedef int dsa_hip_device;                              /* hipDevice_t, an ordinal */
typedef void *dsa_hip_deviceptr;                         /* hipDeviceptr_t */
typedef struct dsa_hip_stream_opaque *dsa_hip_stream;     /* hipStream_t */
typedef struct dsa_hip_module_opaque *dsa_hip_module;     /* hipModule_t */
typedef struct dsa_hip_function_opaque *dsa_hip_function; /* hipFunction_t */
typedef struct dsa_hiprtc_program_opaque *dsa_hiprtc_program; /* hiprtcProgram */
typedef int dsa_hiprtc_result;                           /* hiprtcResult */
typedef struct dsa_hip_uuid {
    char bytes[16];
} dsa_hip_uuid;

enum { /* hipError_t values used by name */
    DSA_HIP_SUCCESS = 0,
    DSA_HIP_ERROR_INVALID_VALUE = 1,
    DSA_HIP_ERROR_OUT_OF_MEMORY = 2,
    DSA_HIP_ERROR_NOT_INITIALIZED = 3,
    DSA_HIP_ERROR_DEINITIALIZED = 4,
    DSA_HIP_ERROR_NO_DEVICE = 100,
    DSA_HIP_ERROR_INVALID_DEVICE = 101,
    DSA_HIP_ERROR_INVALID_IMAGE = 200,
    DSA_HIP_ERROR_NO_BINARY_FOR_GPU = 209,
    DSA_HIP_ERROR_NOT_FOUND = 500,
    DSA_HIP_ERROR_ILLEGAL_ADDRESS = 700,
    DSA_HIP_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    DSA_HIP_ERROR_LAUNCH_TIMEOUT = 702,
    DSA_HIP_ERROR_ASSERT = 710,
    DSA_HIP_ERROR_LAUNCH_FAILURE = 719
};

enum { /* hipDeviceAttribute_t (stable since ROCm 5.0, which fixed the enum's ranges) */
    DSA_HIP_ATTR_INTEGRATED = 16,
    DSA_HIP_ATTR_COMPUTE_CAPABILITY_MAJOR = 23,
    DSA_HIP_ATTR_MAX_THREADS_PER_BLOCK = 56,
    DSA_HIP_ATTR_COMPUTE_CAPABILITY_MINOR = 61,
    DSA_HIP_ATTR_MULTIPROCESSOR_COUNT = 63,
    DSA_HIP_ATTR_PCI_BUS_ID = 67,
    DSA_HIP_ATTR_PCI_DEVICE_ID = 68,
    DSA_HIP_ATTR_PCI_DOMAIN_ID = 69,
    DSA_HIP_ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 74,
    DSA_HIP_ATTR_WARP_SIZE = 87
};

enum {
    DSA_HIP_STREAM_NON_BLOCKING = 1, /* hipStreamNonBlocking */
    DSA_HIPRTC_SUCCESS = 0,
    DSA_HIPRTC_ERROR_OUT_OF_MEMORY = 1,
    DSA_HIPRTC_ERROR_INVALID_OPTION = 5,
    DSA_HIPRTC_ERROR_COMPILATION = 6
};

/* hipDeviceProp_t as ROCm 5 lays it out (hipGetDeviceProperties there, hipGetDevicePropertiesR0000
 * in ROCm 6): 792 bytes, gcnArchName[256] at byte 396. Only that field is read from it; every number
 * comes from hipDeviceGetAttribute, whose values do not depend on the struct's layout. */
#define DSA_HIP_PROP_R0000_SIZE 792u
#define DSA_HIP_PROP_R0000_ARCH_OFFSET 396u

/* Every runtime entry point used: X(member, exported symbol, parameter list). All return hipError_t. */
#define DSA_HIP_FUNCTIONS(X)                                                                              \
    X(hipInit, "hipInit", (unsigned int flags))                                                           \
    X(hipDriverGetVersion, "hipDriverGetVersion", (int *version))                                         \
    X(hipRuntimeGetVersion, "hipRuntimeGetVersion", (int *version))                                       \
    X(hipGetDeviceCount, "hipGetDeviceCount", (int *count))                                               \
    X(hipDeviceGetName, "hipDeviceGetName", (char *name, int len, dsa_hip_device dev))                    \
    X(hipDeviceGetAttribute, "hipDeviceGetAttribute", (int *value, int attribute, dsa_hip_device dev))    \
    X(hipDeviceTotalMem, "hipDeviceTotalMem", (size_t * bytes, dsa_hip_device dev))                       \
    X(hipGetDevice, "hipGetDevice", (int *device))                                                        \
    X(hipSetDevice, "hipSetDevice", (int device))                                                         \
    X(hipStreamCreateWithFlags, "hipStreamCreateWithFlags", (dsa_hip_stream * stream, unsigned int flags)) \
    X(hipStreamDestroy, "hipStreamDestroy", (dsa_hip_stream stream))                                      \
    X(hipStreamSynchronize, "hipStreamSynchronize", (dsa_hip_stream stream))                              \
    X(hipMalloc, "hipMalloc", (void **ptr, size_t bytes))                                                 \
    X(hipFree, "hipFree", (void *ptr))                                                                    \
    X(hipMemGetAddressRange, "hipMemGetAddressRange",                                                     \
      (dsa_hip_deviceptr * base, size_t * size, dsa_hip_deviceptr ptr))                                   \
    X(hipMemcpyHtoDAsync, "hipMemcpyHtoDAsync",                                                           \
      (dsa_hip_deviceptr dst, void *src, size_t bytes, dsa_hip_stream stream))                            \
    X(hipMemcpyDtoHAsync, "hipMemcpyDtoHAsync",                                                           \
      (void *dst, dsa_hip_deviceptr src, size_t bytes, dsa_hip_stream stream))                            \
    X(hipMemcpyDtoDAsync, "hipMemcpyDtoDAsync",                                                           \
      (dsa_hip_deviceptr dst, dsa_hip_deviceptr src, size_t bytes, dsa_hip_stream stream))                \
    X(hipMemsetD8Async, "hipMemsetD8Async",                                                               \
      (dsa_hip_deviceptr dst, unsigned char value, size_t count, dsa_hip_stream stream))                  \
    X(hipModuleLoadData, "hipModuleLoadData", (dsa_hip_module * module, const void *image))               \
    X(hipModuleUnload, "hipModuleUnload", (dsa_hip_module module))                                        \
    X(hipModuleGetFunction, "hipModuleGetFunction",                                                       \
      (dsa_hip_function * fn, dsa_hip_module module, const char *name))                                   \
    X(hipModuleLaunchKernel, "hipModuleLaunchKernel",                                                     \
      (dsa_hip_function fn, unsigned int grid_x, unsigned int grid_y, unsigned int grid_z,                \
       unsigned int block_x, unsigned int block_y, unsigned int block_z, unsigned int shared_bytes,       \
       dsa_hip_stream stream, void **params, void **extra))

/* Entry points that may be missing; their members are NULL then. The properties call is resolved
 * by the names that keep ROCm 5's layout (see DSA_HIP_PROP_R0000_*). */
#define DSA_HIP_OPTIONAL_FUNCTIONS(X)                                                                     \
    X(hipGetDevicePropertiesR0000, "hipGetDevicePropertiesR0000", (void *props, int device))             \
    X(hipGetDevicePropertiesV5, "hipGetDeviceProperties", (void *props, int device))                      \
    X(hipDeviceGetUuid, "hipDeviceGetUuid", (dsa_hip_uuid * uuid, dsa_hip_device dev))

/* hiprtc (inside libamdhip64 on ROCm 5, libhiprtc on ROCm 6+). All return hiprtcResult. */
#define DSA_HIPRTC_FUNCTIONS(X)                                                                           \
    X(hiprtcCreateProgram, "hiprtcCreateProgram",                                                         \
      (dsa_hiprtc_program * prog, const char *src, const char *name, int num_headers,                    \
       const char *const *headers, const char *const *include_names))                                     \
    X(hiprtcCompileProgram, "hiprtcCompileProgram",                                                       \
      (dsa_hiprtc_program prog, int num_options, const char *const *options))                             \
    X(hiprtcGetProgramLogSize, "hiprtcGetProgramLogSize", (dsa_hiprtc_program prog, size_t * size))       \
    X(hiprtcGetProgramLog, "hiprtcGetProgramLog", (dsa_hiprtc_program prog, char *log))                   \
    X(hiprtcGetCodeSize, "hiprtcGetCodeSize", (dsa_hiprtc_program prog, size_t * size))                   \
    X(hiprtcGetCode, "hiprtcGetCode", (dsa_hiprtc_program prog, char *code))                              \
    X(hiprtcDestroyProgram, "hiprtcDestroyProgram", (dsa_hiprtc_program * prog))

typedef struct dsa_hip_api {
#define DSA_HIP_MEMBER(member, symbol, params) dsa_hip_error (*member) params;
    DSA_HIP_FUNCTIONS(DSA_HIP_MEMBER)
    DSA_HIP_OPTIONAL_FUNCTIONS(DSA_HIP_MEMBER)
#undef DSA_HIP_MEMBER
#define DSA_HIPRTC_MEMBER(member, symbol, params) dsa_hiprtc_result (*member) params;
    DSA_HIPRTC_FUNCTIONS(DSA_HIPRTC_MEMBER)
#undef DSA_HIPRTC_MEMBER
    const char *(*hipGetErrorName)(dsa_hip_error e);
    const char *(*hipGetErrorString)(dsa_hip_error e);
    const char *(*hiprtcGetErrorString)(dsa_hiprtc_result r);
    void *library;        /* the runtime's dlopen handle (never closed) */
    char path[256];       /* the runtime as named to dlopen */
    int runtime_major;    /* hipRuntimeGetVersion: 50221153 -> 5, 2 */
    int runtime_minor;
    int driver_version;   /* hipDriverGetVersion, as reported */
    int has_hiprtc;       /* the hiprtc members are set */
    char hiprtc_path[256]; /* where they came from ("" when none) */
    char hiprtc_reason[512]; /* why there is no hiprtc */
} dsa_hip_api;

/* Loads the runtime (and hiprtc), calls hipInit(0) and hipGetDeviceCount, once per process
 * (thread-safe; the result, good or bad, is kept). On failure returns DSA_ERROR_BACKEND_UNAVAILABLE
 * with the reason as the message, e.g. "libamdhip64.so: cannot open shared object file" or
 * "no device: hipGetDeviceCount: hipErrorNoDevice (no ROCm-capable device is detected) (ROCm 5.2
 * runtime libamdhip64.so.5)"; dsa_hip_reason() gives the same text afterwards. The table is set
 * in *api whenever the library itself loaded (even with no device), so that hiprtc can be used
 * without a GPU; *api is NULL only when the library could not be loaded. */
dsa_status dsa_hip_load(const dsa_hip_api **api);
const char *dsa_hip_reason(void); /* "" until a load failed */

/* hipGetErrorName / hipGetErrorString, usable before hipInit succeeded; never NULL. */
const char *dsa_hip_error_name(dsa_hip_error e);
const char *dsa_hip_error_string(dsa_hip_error e);

/* The status for a runtime error: out of memory -> DSA_ERROR_DEVICE_OUT_OF_MEMORY; the sticky
 * errors (illegal address, launch failure ...) -> DSA_ERROR_DEVICE_LOST; anything else
 * DSA_ERROR_DRIVER. */
dsa_status dsa_hip_status(dsa_hip_error e);

/* dsa_fail(dsa_hip_status(e), "<what>: <call> failed: <NAME> (<description>)<hint>"). */
dsa_status dsa_hip_fail(dsa_hip_error e, const char *call, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The device's gfx target ("gfx90a:sramecc+:xnack-"), read from hipDeviceProp_t through the call
 * that keeps ROCm 5's layout. DSA_ERROR_DRIVER with a message when it cannot be read. */
dsa_status dsa_hip_arch_name(const dsa_hip_api *hip, int device, char *arch, size_t len);

#endif
