/* CUDA backend, part 1: the CUDA driver API, loaded at run time.
 *
 * DESIGN.md invariant 2: libdsa never links libcuda (LIBRARY_PATH may even point at the toolkit's
 * stub, which would load and then fail every call). libcuda.so.1, the driver's own library, is
 * opened with dlopen once per process and every driver entry point the backend (and its tests) use
 * is called through the table below. The types and constants are declared here from the driver
 * API's documented ABI, prefixed dsa_cu / DSA_CU so they never clash with cuda.h, and the library
 * builds with no CUDA header at all. Entry points are resolved by their versioned names (the ones
 * cuda.h's #defines map to: cuMemAlloc_v2, cuCtxPushCurrent_v2 ...), so the ABI is the 64-bit one
 * whichever toolkit a user has. */
#ifndef DSA_CUDA_API_H
#define DSA_CUDA_API_H

#include "dsa.h"

#include <stddef.h>

/* ---- the driver API's types (64-bit ABI) ---- */
typedef int dsa_cu_result; /* CUresult, a C enum */
typedef int dsa_cu_device; /* CUdevice, an ordinal */
typedef unsigned long long dsa_cu_deviceptr; /* CUdeviceptr_v2 */
typedef struct dsa_cu_ctx_opaque *dsa_cu_context; /* CUcontext */
typedef struct dsa_cu_stream_opaque *dsa_cu_stream; /* CUstream */
typedef struct dsa_cu_module_opaque *dsa_cu_module; /* CUmodule */
typedef struct dsa_cu_function_opaque *dsa_cu_function; /* CUfunction */
typedef struct dsa_cu_uuid {
    char bytes[16];
} dsa_cu_uuid; /* CUuuid */

/* ---- the constants used (values as in the driver API; checked against cuda.h where present) ---- */
enum {
    DSA_CU_SUCCESS = 0,
    DSA_CU_ERROR_INVALID_VALUE = 1,
    DSA_CU_ERROR_OUT_OF_MEMORY = 2,
    DSA_CU_ERROR_NOT_INITIALIZED = 3,
    DSA_CU_ERROR_DEINITIALIZED = 4,
    DSA_CU_ERROR_NO_DEVICE = 100,
    DSA_CU_ERROR_INVALID_DEVICE = 101,
    DSA_CU_ERROR_INVALID_CONTEXT = 201,
    DSA_CU_ERROR_NO_BINARY_FOR_GPU = 209,
    DSA_CU_ERROR_ECC_UNCORRECTABLE = 214,
    DSA_CU_ERROR_NVLINK_UNCORRECTABLE = 220,
    DSA_CU_ERROR_INVALID_HANDLE = 400,
    DSA_CU_ERROR_NOT_FOUND = 500,
    DSA_CU_ERROR_ILLEGAL_ADDRESS = 700,
    DSA_CU_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    DSA_CU_ERROR_LAUNCH_TIMEOUT = 702,
    DSA_CU_ERROR_CONTEXT_IS_DESTROYED = 709,
    DSA_CU_ERROR_ASSERT = 710,
    DSA_CU_ERROR_HARDWARE_STACK_ERROR = 714,
    DSA_CU_ERROR_ILLEGAL_INSTRUCTION = 715,
    DSA_CU_ERROR_MISALIGNED_ADDRESS = 716,
    DSA_CU_ERROR_INVALID_ADDRESS_SPACE = 717,
    DSA_CU_ERROR_INVALID_PC = 718,
    DSA_CU_ERROR_LAUNCH_FAILED = 719,
    DSA_CU_ERROR_NOT_SUPPORTED = 801,
    DSA_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900
};

enum { /* CUdevice_attribute */
    DSA_CU_ATTR_MAX_THREADS_PER_BLOCK = 1,
    DSA_CU_ATTR_MAX_GRID_DIM_X = 5,
    DSA_CU_ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    DSA_CU_ATTR_WARP_SIZE = 10,
    DSA_CU_ATTR_MULTIPROCESSOR_COUNT = 16,
    DSA_CU_ATTR_INTEGRATED = 18,
    DSA_CU_ATTR_COMPUTE_MODE = 20,
    DSA_CU_ATTR_PCI_BUS_ID = 33,
    DSA_CU_ATTR_PCI_DEVICE_ID = 34,
    DSA_CU_ATTR_PCI_DOMAIN_ID = 50,
    DSA_CU_ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
    DSA_CU_ATTR_COMPUTE_CAPABILITY_MINOR = 76,
    DSA_CU_ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97
};

enum { /* CUfunction_attribute */
    DSA_CU_FUNC_MAX_THREADS_PER_BLOCK = 0,
    DSA_CU_FUNC_SHARED_SIZE_BYTES = 1,
    DSA_CU_FUNC_LOCAL_SIZE_BYTES = 3,
    DSA_CU_FUNC_NUM_REGS = 4,
    DSA_CU_FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
};

enum {
    DSA_CU_STREAM_NON_BLOCKING = 0x1,     /* CUstream_flags */
    DSA_CU_POINTER_ATTRIBUTE_CONTEXT = 1, /* CUpointer_attribute */
    DSA_CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2,
    DSA_CU_MEMORYTYPE_HOST = 1, /* CUmemorytype */
    DSA_CU_MEMORYTYPE_DEVICE = 2,
    DSA_CU_MEMORYTYPE_ARRAY = 3,
    DSA_CU_MEMORYTYPE_UNIFIED = 4
};

/* Every driver entry point used: X(member, exported symbol, parameter list). All return CUresult.
 * The member is the API's unversioned name; the symbol is what cuda.h maps that name to. */
#define DSA_CU_FUNCTIONS(X)                                                                               \
    X(cuInit, "cuInit", (unsigned int flags))                                                             \
    X(cuDriverGetVersion, "cuDriverGetVersion", (int *version))                                           \
    X(cuGetErrorName, "cuGetErrorName", (dsa_cu_result error, const char **name))                         \
    X(cuGetErrorString, "cuGetErrorString", (dsa_cu_result error, const char **text))                     \
    X(cuDeviceGetCount, "cuDeviceGetCount", (int *count))                                                 \
    X(cuDeviceGet, "cuDeviceGet", (dsa_cu_device * device, int ordinal))                                  \
    X(cuDeviceGetName, "cuDeviceGetName", (char *name, int len, dsa_cu_device dev))                       \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *value, int attribute, dsa_cu_device dev))       \
    X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t * bytes, dsa_cu_device dev))                       \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (dsa_cu_context * ctx, dsa_cu_device dev))    \
    X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (dsa_cu_device dev))                     \
    X(cuCtxPushCurrent, "cuCtxPushCurrent_v2", (dsa_cu_context ctx))                                      \
    X(cuCtxPopCurrent, "cuCtxPopCurrent_v2", (dsa_cu_context * ctx))                                      \
    X(cuCtxGetDevice, "cuCtxGetDevice", (dsa_cu_device * device))                                         \
    X(cuStreamCreate, "cuStreamCreate", (dsa_cu_stream * stream, unsigned int flags))                     \
    X(cuStreamDestroy, "cuStreamDestroy_v2", (dsa_cu_stream stream))                                      \
    X(cuStreamSynchronize, "cuStreamSynchronize", (dsa_cu_stream stream))                                 \
    X(cuMemAlloc, "cuMemAlloc_v2", (dsa_cu_deviceptr * ptr, size_t bytes))                                \
    X(cuMemFree, "cuMemFree_v2", (dsa_cu_deviceptr ptr))                                                  \
    X(cuMemGetAddressRange, "cuMemGetAddressRange_v2",                                                    \
      (dsa_cu_deviceptr * base, size_t * size, dsa_cu_deviceptr ptr))                                     \
    X(cuPointerGetAttribute, "cuPointerGetAttribute", (void *data, int attribute, dsa_cu_deviceptr ptr))  \
    X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2",                                                          \
      (dsa_cu_deviceptr dst, const void *src, size_t bytes, dsa_cu_stream stream))                        \
    X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2",                                                          \
      (void *dst, dsa_cu_deviceptr src, size_t bytes, dsa_cu_stream stream))                              \
    X(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2",                                                          \
      (dsa_cu_deviceptr dst, dsa_cu_deviceptr src, size_t bytes, dsa_cu_stream stream))                   \
    X(cuMemsetD8Async, "cuMemsetD8Async",                                                                 \
      (dsa_cu_deviceptr dst, unsigned char value, size_t count, dsa_cu_stream stream))                    \
    X(cuModuleLoadData, "cuModuleLoadData", (dsa_cu_module * module, const void *image))                  \
    X(cuModuleUnload, "cuModuleUnload", (dsa_cu_module module))                                           \
    X(cuModuleGetFunction, "cuModuleGetFunction",                                                         \
      (dsa_cu_function * fn, dsa_cu_module module, const char *name))                                     \
    X(cuLaunchKernel, "cuLaunchKernel",                                                                   \
      (dsa_cu_function fn, unsigned int grid_x, unsigned int grid_y, unsigned int grid_z,                 \
       unsigned int block_x, unsigned int block_y, unsigned int block_z, unsigned int shared_bytes,       \
       dsa_cu_stream stream, void **params, void **extra))

/* Entry points that may be missing (older drivers); their members are NULL then. */
#define DSA_CU_OPTIONAL_FUNCTIONS(X)                                                                      \
    X(cuDeviceGetUuid, "cuDeviceGetUuid_v2", (dsa_cu_uuid * uuid, dsa_cu_device dev))                     \
    X(cuDeviceGetUuidV1, "cuDeviceGetUuid", (dsa_cu_uuid * uuid, dsa_cu_device dev))                      \
    X(cuStreamGetCtx, "cuStreamGetCtx", (dsa_cu_stream stream, dsa_cu_context * ctx))                     \
    X(cuFuncGetAttribute, "cuFuncGetAttribute", (int *value, int attribute, dsa_cu_function fn))          \
    X(cuFuncSetAttribute, "cuFuncSetAttribute", (dsa_cu_function fn, int attribute, int value))

/* The table: cu->cuMemAlloc(&ptr, bytes). */
typedef struct dsa_cu_api {
#define DSA_CU_MEMBER(member, symbol, params) dsa_cu_result (*member) params;
    DSA_CU_FUNCTIONS(DSA_CU_MEMBER)
    DSA_CU_OPTIONAL_FUNCTIONS(DSA_CU_MEMBER)
#undef DSA_CU_MEMBER
    void *library;    /* the dlopen handle (never closed) */
    int driver_major; /* cuDriverGetVersion: 13000 -> 13, 0 */
    int driver_minor;
} dsa_cu_api;

/* Loads libcuda.so.1, resolves the table and calls cuInit(0), once per process (thread-safe; the
 * result, good or bad, is kept). On failure returns DSA_ERROR_BACKEND_UNAVAILABLE with the reason
 * as the message, e.g. "libcuda.so.1: cannot open shared object file: No such file or directory"
 * or "cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)"; dsa_cu_reason() gives
 * the same text afterwards. */
dsa_status dsa_cu_load(const dsa_cu_api **api);
const char *dsa_cu_reason(void); /* "" until a load failed */

/* "CUDA_ERROR_OUT_OF_MEMORY" (the driver's name; "CUresult 123" for a code it does not know) and
 * the driver's description. Usable before and after a failed cuInit; never NULL. */
const char *dsa_cu_error_name(dsa_cu_result r);
const char *dsa_cu_error_string(dsa_cu_result r);

/* The status for a driver error: CUDA_ERROR_OUT_OF_MEMORY -> DSA_ERROR_DEVICE_OUT_OF_MEMORY; the
 * sticky errors that leave a context unusable (illegal address, launch failure, ...) ->
 * DSA_ERROR_DEVICE_LOST; anything else DSA_ERROR_DRIVER. */
dsa_status dsa_cu_status(dsa_cu_result r);

/* dsa_fail(dsa_cu_status(r), "<what>: <call> failed: <NAME> (<description>)<hint>"), where the hint
 * says what a lost context means. */
dsa_status dsa_cu_fail(dsa_cu_result r, const char *call, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
