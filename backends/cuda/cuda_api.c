/* The CUDA driver API through dlopen (see cuda_api.h). */
#include "cuda_api.h"

#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DSA_CU_LIBRARY "libcuda.so.1"

static dsa_cu_api api;
static dsa_status load_status = DSA_ERROR_BACKEND_UNAVAILABLE;
static char load_reason[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* dlsym gives a void *, which POSIX lets hold a function pointer; copied through memcpy so that no
 * object-to-function pointer conversion appears in the source. */
_Static_assert(sizeof(void *) == sizeof(dsa_cu_result(*)(void)), "function pointers must fit in void *");

static void load_driver(void)
{
    /* RTLD_LOCAL: the driver's symbols must not satisfy other libraries' lookups through us. */
    void *lib = dlopen(DSA_CU_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *err = dlerror();
        /* dlerror already reads "libcuda.so.1: cannot open shared object file: ...". */
        snprintf(load_reason, sizeof load_reason, "%s", err ? err : DSA_CU_LIBRARY ": dlopen failed");
        if (!strstr(load_reason, DSA_CU_LIBRARY))
            snprintf(load_reason, sizeof load_reason, "%s: %s", DSA_CU_LIBRARY, err ? err : "dlopen failed");
        return;
    }
    void *sym;
#define DSA_CU_RESOLVE(member, symbol, params)                                                              \
    sym = dlsym(lib, symbol);                                                                               \
    if (!sym) {                                                                                             \
        snprintf(load_reason, sizeof load_reason,                                                           \
                 DSA_CU_LIBRARY " loaded, but it has no %s (a driver older than CUDA 11, or not the NVIDIA " \
                 "driver's library)",                                                                       \
                 symbol);                                                                                   \
        dlclose(lib);                                                                                       \
        memset(&api, 0, sizeof api);                                                                        \
        return;                                                                                             \
    }                                                                                                       \
    memcpy(&api.member, &sym, sizeof sym);
    DSA_CU_FUNCTIONS(DSA_CU_RESOLVE)
#undef DSA_CU_RESOLVE
#define DSA_CU_RESOLVE_OPTIONAL(member, symbol, params)                                                     \
    sym = dlsym(lib, symbol);                                                                               \
    memcpy(&api.member, &sym, sizeof sym);
    DSA_CU_OPTIONAL_FUNCTIONS(DSA_CU_RESOLVE_OPTIONAL)
#undef DSA_CU_RESOLVE_OPTIONAL
    api.library = lib;

    dsa_cu_result r = api.cuInit(0);
    if (r != DSA_CU_SUCCESS) {
        /* Kept loaded: cuGetErrorName still serves messages, and unloading a driver that cuInit
         * touched is not something it promises to survive. */
        snprintf(load_reason, sizeof load_reason, "cuInit: %s (%s)", dsa_cu_error_name(r), dsa_cu_error_string(r));
        return;
    }
    int version = 0;
    r = api.cuDriverGetVersion(&version);
    if (r != DSA_CU_SUCCESS) {
        snprintf(load_reason, sizeof load_reason, "cuDriverGetVersion: %s (%s)", dsa_cu_error_name(r),
                 dsa_cu_error_string(r));
        return;
    }
    api.driver_major = version / 1000;
    api.driver_minor = (version % 1000) / 10;
    load_status = DSA_SUCCESS;
    dsa_log(DSA_LOG_INFO, "device", "loaded %s: CUDA driver API %d.%d", DSA_CU_LIBRARY, api.driver_major,
            api.driver_minor);
}

dsa_status dsa_cu_load(const dsa_cu_api **out)
{
    pthread_once(&load_once, load_driver);
    if (load_status != DSA_SUCCESS) {
        if (out) *out = NULL;
        return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE, "%s", load_reason);
    }
    if (out) *out = &api;
    return DSA_SUCCESS;
}

const char *dsa_cu_reason(void) { return load_reason; }

const char *dsa_cu_error_name(dsa_cu_result r)
{
    static _Thread_local char unknown[32];
    const char *name = NULL;
    if (api.cuGetErrorName && api.cuGetErrorName(r, &name) == DSA_CU_SUCCESS && name) return name;
    snprintf(unknown, sizeof unknown, "CUresult %d", r);
    return unknown;
}

const char *dsa_cu_error_string(dsa_cu_result r)
{
    const char *text = NULL;
    if (api.cuGetErrorString && api.cuGetErrorString(r, &text) == DSA_CU_SUCCESS && text) return text;
    return "no description from the driver";
}

dsa_status dsa_cu_status(dsa_cu_result r)
{
    switch (r) {
    case DSA_CU_SUCCESS: return DSA_SUCCESS;
    case DSA_CU_ERROR_OUT_OF_MEMORY: return DSA_ERROR_DEVICE_OUT_OF_MEMORY;
    /* Sticky errors: the context that saw them can do nothing more. */
    case DSA_CU_ERROR_ILLEGAL_ADDRESS:
    case DSA_CU_ERROR_LAUNCH_TIMEOUT:
    case DSA_CU_ERROR_ASSERT:
    case DSA_CU_ERROR_HARDWARE_STACK_ERROR:
    case DSA_CU_ERROR_ILLEGAL_INSTRUCTION:
    case DSA_CU_ERROR_MISALIGNED_ADDRESS:
    case DSA_CU_ERROR_INVALID_ADDRESS_SPACE:
    case DSA_CU_ERROR_INVALID_PC:
    case DSA_CU_ERROR_LAUNCH_FAILED:
    case DSA_CU_ERROR_ECC_UNCORRECTABLE:
    case DSA_CU_ERROR_NVLINK_UNCORRECTABLE:
    case DSA_CU_ERROR_CONTEXT_IS_DESTROYED:
    case DSA_CU_ERROR_DEINITIALIZED: return DSA_ERROR_DEVICE_LOST;
    default: return DSA_ERROR_DRIVER;
    }
}

dsa_status dsa_cu_fail(dsa_cu_result r, const char *call, const char *what_fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    dsa_status st = dsa_cu_status(r);
    const char *hint = "";
    if (st == DSA_ERROR_DEVICE_LOST)
        hint = "; the CUDA context is unusable from now on (a kernel faulted or the device failed, possibly in "
               "work enqueued earlier): free its buffers, destroy the libdsa context and create a new one "
               "(an application-owned CUcontext must be recreated too)";
    else if (r == DSA_CU_ERROR_OUT_OF_MEMORY)
        hint = "; free device memory or use smaller shapes";
    return dsa_fail(st, "%s: %s failed: %s (%s)%s", what, call, dsa_cu_error_name(r), dsa_cu_error_string(r), hint);
}
