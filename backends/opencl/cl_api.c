/* OpenCL backend: loading the ICD loader, error names, device discovery (see cl_api.h). */
#include "cl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_NAME "libOpenCL.so.1"

/* Matches the registry's per-backend limit; devices beyond it are not listed (and logged). */
#define MAX_CL_DEVICES 64

/* ---- loading ---------------------------------------------------------------------------------- */

static dsa_cl_api cl_table;
static dsa_status load_status = DSA_ERROR_INTERNAL;
static char load_reason[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_loader(void)
{
    /* RTLD_LOCAL: the loader's symbols must not satisfy anyone else's references (an application
     * that links its own libOpenCL keeps its own). Only the .so.1 name is tried: it is the ABI
     * name every loader installs, while the unversioned libOpenCL.so exists only with -dev
     * packages. */
    void *lib = dlopen(LOADER_NAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(load_reason, sizeof load_reason, "%s: %s", LOADER_NAME, why ? why : "dlopen failed");
        load_status = DSA_ERROR_BACKEND_UNAVAILABLE;
        return;
    }
    const char *missing = NULL;
    /* dlsym returns an object pointer; POSIX guarantees it converts to the function's type. */
#define DSA_CL_RESOLVE(name, ret, params)                                                                 \
    cl_table.name = (ret(CL_API_CALL *) params)dlsym(lib, #name);                                        \
    if (!cl_table.name && !missing) missing = #name;
    DSA_CL_FUNCTIONS(DSA_CL_RESOLVE)
#undef DSA_CL_RESOLVE
    if (missing) {
        /* A loader older than OpenCL 1.2. The handle stays open: closing a loader whose ICDs may
         * already have started is not safe, and this happens at most once per process. */
        snprintf(load_reason, sizeof load_reason,
                 "%s: symbol %s not found (an OpenCL 1.2 or newer ICD loader is needed)", LOADER_NAME,
                 missing);
        memset(&cl_table, 0, sizeof cl_table);
        load_status = DSA_ERROR_BACKEND_UNAVAILABLE;
        return;
    }
    load_status = DSA_SUCCESS;
}

dsa_status dsa_cl_load(const dsa_cl_api **api)
{
    if (!api) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_load: api is NULL");
    pthread_once(&load_once, load_loader);
    if (load_status != DSA_SUCCESS) {
        *api = NULL;
        /* The message is thread-local, so each caller gets it set anew from the kept reason. */
        return dsa_fail(load_status, "%s", load_reason);
    }
    *api = &cl_table;
    return DSA_SUCCESS;
}

/* ---- error codes ------------------------------------------------------------------------------ */

const char *dsa_cl_error_name(cl_int err)
{
    /* Spelled through the header's own macros so a name can never disagree with its value. */
    switch (err) {
#define NAME(code) case code: return #code;
    NAME(CL_SUCCESS)
    NAME(CL_DEVICE_NOT_FOUND)
    NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE)
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    NAME(CL_OUT_OF_RESOURCES)
    NAME(CL_OUT_OF_HOST_MEMORY)
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    NAME(CL_MEM_COPY_OVERLAP)
    NAME(CL_IMAGE_FORMAT_MISMATCH)
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    NAME(CL_BUILD_PROGRAM_FAILURE)
    NAME(CL_MAP_FAILURE)
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    NAME(CL_COMPILE_PROGRAM_FAILURE)
    NAME(CL_LINKER_NOT_AVAILABLE)
    NAME(CL_LINK_PROGRAM_FAILURE)
    NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    NAME(CL_INVALID_VALUE)
    NAME(CL_INVALID_DEVICE_TYPE)
    NAME(CL_INVALID_PLATFORM)
    NAME(CL_INVALID_DEVICE)
    NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES)
    NAME(CL_INVALID_COMMAND_QUEUE)
    NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT)
    NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    NAME(CL_INVALID_IMAGE_SIZE)
    NAME(CL_INVALID_SAMPLER)
    NAME(CL_INVALID_BINARY)
    NAME(CL_INVALID_BUILD_OPTIONS)
    NAME(CL_INVALID_PROGRAM)
    NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    NAME(CL_INVALID_KERNEL_NAME)
    NAME(CL_INVALID_KERNEL_DEFINITION)
    NAME(CL_INVALID_KERNEL)
    NAME(CL_INVALID_ARG_INDEX)
    NAME(CL_INVALID_ARG_VALUE)
    NAME(CL_INVALID_ARG_SIZE)
    NAME(CL_INVALID_KERNEL_ARGS)
    NAME(CL_INVALID_WORK_DIMENSION)
    NAME(CL_INVALID_WORK_GROUP_SIZE)
    NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET)
    NAME(CL_INVALID_EVENT_WAIT_LIST)
    NAME(CL_INVALID_EVENT)
    NAME(CL_INVALID_OPERATION)
    NAME(CL_INVALID_GL_OBJECT)
    NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL)
    NAME(CL_INVALID_GLOBAL_WORK_SIZE)
    NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR)
    NAME(CL_INVALID_COMPILER_OPTIONS)
    NAME(CL_INVALID_LINKER_OPTIONS)
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
    NAME(CL_INVALID_PIPE_SIZE)
    NAME(CL_INVALID_DEVICE_QUEUE)
    NAME(CL_INVALID_SPEC_ID)
    NAME(CL_MAX_SIZE_RESTRICTION_EXCEEDED)
    /* Returned by the ICD loader itself (cl_khr_icd) when no platform is installed. */
    NAME(CL_PLATFORM_NOT_FOUND_KHR)
#undef NAME
    default: return "unknown OpenCL error";
    }
}

dsa_status dsa_cl_fail(cl_int err, const char *call)
{
    dsa_status st = DSA_ERROR_DRIVER;
    if (err == CL_OUT_OF_HOST_MEMORY) st = DSA_ERROR_OUT_OF_MEMORY;
    else if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE) st = DSA_ERROR_DEVICE_OUT_OF_MEMORY;
    return dsa_fail(st, "OpenCL %s failed: %s (%d)", call ? call : "call", dsa_cl_error_name(err), (int)err);
}

/* ---- device discovery ------------------------------------------------------------------------- */

/* Handles of the devices listed by the last probe, by dsa_device_info.index. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_platform_id known_platform[MAX_CL_DEVICES];
static cl_device_id known_device[MAX_CL_DEVICES];
static int known_count;

/* A string query's value, NUL-terminated and heap-allocated, or NULL if the query failed (a
 * missing string is then reported as ""; nothing depends on telling the two apart). */
static char *platform_string(const dsa_cl_api *cl, cl_platform_id p, cl_platform_info what)
{
    size_t n = 0;
    if (cl->clGetPlatformInfo(p, what, 0, NULL, &n) != CL_SUCCESS) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (cl->clGetPlatformInfo(p, what, n, s, NULL) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static char *device_string(const dsa_cl_api *cl, cl_device_id d, cl_device_info what)
{
    size_t n = 0;
    if (cl->clGetDeviceInfo(d, what, 0, NULL, &n) != CL_SUCCESS) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (cl->clGetDeviceInfo(d, what, n, s, NULL) != CL_SUCCESS) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

/* A fixed-size query; *out is zeroed first so a failed query reads as 0 / false. */
static int device_value(const dsa_cl_api *cl, cl_device_id d, cl_device_info what, void *out, size_t size)
{
    memset(out, 0, size);
    return cl->clGetDeviceInfo(d, what, size, out, NULL) == CL_SUCCESS;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Copies src into dst (cap bytes) without leading or trailing blanks: some drivers pad device
 * names, which would otherwise defeat selector matching and show up in reports. */
static void copy_trimmed(char *dst, size_t cap, const char *src)
{
    if (!src) src = "";
    while (is_space(*src)) src++;
    size_t n = strlen(src);
    while (n > 0 && is_space(src[n - 1])) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Whether a space-separated extension list names ext exactly (cl_khr_fp16 must not match
 * cl_khr_fp16_something). */
static int has_extension(const char *list, const char *ext)
{
    if (!list) return 0;
    size_t len = strlen(ext);
    for (const char *p = list; *p;) {
        while (is_space(*p)) p++;
        const char *end = p;
        while (*end && !is_space(*end)) end++;
        if ((size_t)(end - p) == len && memcmp(p, ext, len) == 0) return 1;
        p = end;
    }
    return 0;
}

/* Whether an OpenCL 3.0 device lists an OpenCL C feature macro (CL_DEVICE_OPENCL_C_FEATURES). */
static int has_c_feature(const dsa_cl_api *cl, cl_device_id d, const char *feature)
{
    size_t bytes = 0;
    if (cl->clGetDeviceInfo(d, CL_DEVICE_OPENCL_C_FEATURES, 0, NULL, &bytes) != CL_SUCCESS || bytes == 0)
        return 0;
    cl_name_version *list = malloc(bytes);
    if (!list) return 0;
    int found = 0;
    if (cl->clGetDeviceInfo(d, CL_DEVICE_OPENCL_C_FEATURES, bytes, list, NULL) == CL_SUCCESS) {
        for (size_t i = 0; i < bytes / sizeof *list && !found; i++)
            found = strncmp(list[i].name, feature, CL_NAME_VERSION_MAX_NAME_SIZE) == 0;
    }
    free(list);
    return found;
}

/* The subgroup_sizes bit for a width, or 0 if it is not a power of two that fits the mask. */
static uint32_t width_bit(size_t width)
{
    for (unsigned b = 0; b < 32; b++)
        if (width == ((size_t)1 << b)) return 1u << b;
    return 0;
}

/* Subgroup widths where the device states them; 0 (unknown) otherwise: guessing a width from
 * CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE would be wrong on CPUs, where it is a vector width. */
static uint32_t subgroup_widths(const dsa_cl_api *cl, cl_device_id d, const char *ext)
{
    uint32_t bits = 0;
    if (has_extension(ext, "cl_intel_required_subgroup_size")) {
        size_t bytes = 0;
        if (cl->clGetDeviceInfo(d, CL_DEVICE_SUB_GROUP_SIZES_INTEL, 0, NULL, &bytes) == CL_SUCCESS && bytes) {
            size_t *sizes = malloc(bytes);
            if (sizes && cl->clGetDeviceInfo(d, CL_DEVICE_SUB_GROUP_SIZES_INTEL, bytes, sizes, NULL) == CL_SUCCESS)
                for (size_t i = 0; i < bytes / sizeof *sizes; i++) bits |= width_bit(sizes[i]);
            free(sizes);
        }
    }
    cl_uint width = 0;
    /* NVIDIA's warp and AMD's wavefront: fixed hardware widths the vendors report. */
    if (!bits && has_extension(ext, "cl_nv_device_attribute_query") &&
        device_value(cl, d, CL_DEVICE_WARP_SIZE_NV, &width, sizeof width))
        bits = width_bit(width);
    if (!bits && has_extension(ext, "cl_amd_device_attribute_query") &&
        device_value(cl, d, CL_DEVICE_WAVEFRONT_WIDTH_AMD, &width, sizeof width))
        bits = width_bit(width);
    return bits;
}

/* The vendor matrix-unit extensions a device lists (Intel's XMX through subgroup matrix
 * multiply-accumulate), and NVIDIA tensor cores, which OpenCL C reaches only as inline PTX. */
static void matrix_extensions(const dsa_cl_api *cl, cl_device_id d, const char *ext, char *out, size_t cap)
{
    static const char *names[] = {"cl_intel_subgroup_matrix_multiply_accumulate",
                                  "cl_intel_subgroup_split_matrix_multiply_accumulate"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (has_extension(ext, names[i]))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? ", " : "", names[i]);
    cl_uint major = 0, minor = 0;
    if (!out[0] && has_extension(ext, "cl_nv_device_attribute_query") &&
        device_value(cl, d, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, &major, sizeof major) && major >= 7) {
        device_value(cl, d, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, &minor, sizeof minor);
        snprintf(out, cap, "tensor cores sm_%u%u (inline PTX only; not used)", major, minor);
    }
}

/* Fills *info for one device. *listed is 0 (with why[] set) for a device that cannot run generated
 * kernels: marked unavailable, or without an OpenCL C compiler (embedded devices that only take
 * binaries), since every kernel here is compiled from source at run time. */
static void describe_device(const dsa_cl_api *cl, const char *platform_name, cl_device_id d,
                            dsa_device_info *info, int *listed, char *why, size_t why_len)
{
    memset(info, 0, sizeof *info);
    info->backend = DSA_BACKEND_OPENCL;
    char *s = device_string(cl, d, CL_DEVICE_NAME);
    copy_trimmed(info->name, sizeof info->name, s);
    free(s);

    cl_bool available = CL_FALSE, compiler = CL_FALSE;
    device_value(cl, d, CL_DEVICE_AVAILABLE, &available, sizeof available);
    device_value(cl, d, CL_DEVICE_COMPILER_AVAILABLE, &compiler, sizeof compiler);
    if (!available || !compiler) {
        snprintf(why, why_len, "%s", !available ? "the driver reports it unavailable" : "it has no OpenCL C compiler");
        *listed = 0;
        return;
    }
    *listed = 1;

    s = device_string(cl, d, CL_DEVICE_VENDOR);
    copy_trimmed(info->vendor, sizeof info->vendor, s);
    free(s);
    copy_trimmed(info->platform, sizeof info->platform, platform_name);
    s = device_string(cl, d, CL_DRIVER_VERSION);
    copy_trimmed(info->driver_version, sizeof info->driver_version, s);
    free(s);
    char *version = device_string(cl, d, CL_DEVICE_VERSION); /* "OpenCL <major>.<minor> <vendor text>" */
    copy_trimmed(info->runtime_version, sizeof info->runtime_version, version);
    int major = 1, minor = 0;
    if (version) sscanf(version, "OpenCL %d.%d", &major, &minor);
    free(version);

    cl_ulong u64 = 0;
    device_value(cl, d, CL_DEVICE_GLOBAL_MEM_SIZE, &u64, sizeof u64);
    info->memory_bytes = u64;
    device_value(cl, d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &u64, sizeof u64);
    info->max_buffer_bytes = u64;
    device_value(cl, d, CL_DEVICE_LOCAL_MEM_SIZE, &u64, sizeof u64);
    info->shared_mem_per_block = u64;
    cl_uint units = 0;
    device_value(cl, d, CL_DEVICE_MAX_COMPUTE_UNITS, &units, sizeof units);
    info->compute_units = units;

    char *ext = device_string(cl, d, CL_DEVICE_EXTENSIONS);
    char *profile = device_string(cl, d, CL_DEVICE_PROFILE);
    uint32_t caps = 0;
    if (has_extension(ext, "cl_khr_fp16")) caps |= DSA_CAP_FP16;
    if (has_extension(ext, "cl_khr_fp64")) caps |= DSA_CAP_FP64;
    /* 64-bit integers are mandatory in the full profile; the embedded profile announces them. */
    if ((profile && strstr(profile, "FULL_PROFILE")) || has_extension(ext, "cles_khr_int64"))
        caps |= DSA_CAP_INT64;
    if (has_extension(ext, "cl_khr_integer_dot_product") || has_extension(ext, "cl_arm_integer_dot_product_int8"))
        caps |= DSA_CAP_INT8_DOT;
    info->subgroup_sizes = subgroup_widths(cl, d, ext);
    /* NVIDIA's own platform compiles inline PTX (and offers no cl_khr_subgroups, no cl_khr_fp16 and
     * no 3.0 subgroup feature, Hopper included): its warps are reached as PTX shuffles. */
    if (strstr(platform_name ? platform_name : "", "NVIDIA") && has_extension(ext, "cl_nv_device_attribute_query"))
        caps |= DSA_CAP_INLINE_PTX;
    /* Subgroup operations the kernels can use: NVIDIA warps through inline PTX, or the Khronos
     * builtins, which OpenCL C has from 2.0 on (cl_khr_subgroups, or Intel's extension) and in 3.0
     * as the __opencl_c_subgroups feature; kernels using them are built with -cl-std=CL2.0 or
     * CL3.0 accordingly (cl_backend.c). A 1.x device keeps the portable path. */
    if (((caps & DSA_CAP_INLINE_PTX) && (info->subgroup_sizes & 32u)) ||
        (major == 2 && (has_extension(ext, "cl_khr_subgroups") || has_extension(ext, "cl_intel_subgroups"))) ||
        (major >= 3 && has_c_feature(cl, d, "__opencl_c_subgroups")))
        caps |= DSA_CAP_SUBGROUPS;
    /* bf16, fp8 and matrix units have no portable OpenCL C exposure; the kernels decode those
     * types by bit operations and multiply with scalar FMA, so none of these bits is claimed. The
     * vendor matrix extensions present are named in matrix_units, for the record. */
    info->caps = caps;
    matrix_extensions(cl, d, ext, info->matrix_units, sizeof info->matrix_units);

    if (has_extension(ext, "cl_khr_device_uuid")) {
        cl_uchar uuid[CL_UUID_SIZE_KHR];
        if (device_value(cl, d, CL_DEVICE_UUID_KHR, uuid, sizeof uuid)) {
            memcpy(info->uuid, uuid, sizeof info->uuid);
            info->has_uuid = 1;
        }
    }
    free(ext);
    free(profile);

    cl_device_type type = 0;
    device_value(cl, d, CL_DEVICE_TYPE, &type, sizeof type);
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    /* A CPU reached through OpenCL (PoCL, Intel's CPU runtime) runs the same work as the native CPU
     * backend with an extra layer in between, so it is an emulation that auto never picks. */
    info->is_emulation = info->is_cpu;
}

/* Sets the thread's message and copies it into the probe's reason buffer. */
static dsa_status probe_fail(char *reason, size_t reason_len, dsa_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dsa_status probe_fail(char *reason, size_t reason_len, dsa_status st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dsa_fail(st, "%s", msg);
    if (reason && reason_len) snprintf(reason, reason_len, "%s", msg);
    return st;
}

dsa_status dsa_cl_probe(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len)
{
    if (!count) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_probe: count is NULL");
    *count = 0;
    if (max < 0 || (max > 0 && !devices))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_cl_probe: max is %d with devices %p", max,
                        (void *)devices);
    if (reason && reason_len) reason[0] = '\0';

    const dsa_cl_api *cl;
    dsa_status st = dsa_cl_load(&cl);
    if (st != DSA_SUCCESS) {
        if (reason && reason_len) snprintf(reason, reason_len, "%s", dsa_last_error());
        return st;
    }

    cl_uint nplat = 0;
    cl_int err = cl->clGetPlatformIDs(0, NULL, &nplat);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && nplat == 0))
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE,
                          "%s loaded, but no OpenCL platform is installed (no ICD registered in "
                          "/etc/OpenCL/vendors)",
                          LOADER_NAME);
    if (err != CL_SUCCESS)
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE,
                          "clGetPlatformIDs failed: %s (%d)", dsa_cl_error_name(err), (int)err);
    cl_platform_id *plats = malloc(nplat * sizeof *plats);
    if (!plats) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "dsa_cl_probe: %u platform handles", nplat);
    err = cl->clGetPlatformIDs(nplat, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE,
                          "clGetPlatformIDs failed: %s (%d)", dsa_cl_error_name(err), (int)err);
    }

    cl_platform_id found_platform[MAX_CL_DEVICES];
    cl_device_id found_device[MAX_CL_DEVICES];
    int limit = max < MAX_CL_DEVICES ? max : MAX_CL_DEVICES;
    int n = 0, seen = 0;
    char last_skip[512] = ""; /* why the most recent device or platform was left out */
    for (cl_uint p = 0; p < nplat; p++) {
        char *pname = platform_string(cl, plats[p], CL_PLATFORM_NAME);
        const char *shown = pname ? pname : "(unnamed platform)";
        cl_uint ndev = 0;
        err = cl->clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        cl_device_id *devs = NULL;
        if (err == CL_SUCCESS && ndev > 0) {
            devs = malloc(ndev * sizeof *devs);
            err = devs ? cl->clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, devs, NULL) : CL_OUT_OF_HOST_MEMORY;
        }
        /* One broken platform must not hide the others: it is logged and skipped. */
        if (err != CL_SUCCESS && err != CL_DEVICE_NOT_FOUND) {
            snprintf(last_skip, sizeof last_skip, "platform \"%.150s\": clGetDeviceIDs failed: %s (%d)", shown,
                     dsa_cl_error_name(err), (int)err);
            dsa_log(DSA_LOG_WARN, "device", "opencl: %s", last_skip);
            ndev = 0;
        } else if (err == CL_DEVICE_NOT_FOUND) {
            ndev = 0;
        }
        for (cl_uint i = 0; i < ndev; i++) {
            seen++;
            dsa_device_info info;
            int listed;
            char why[160];
            describe_device(cl, shown, devs[i], &info, &listed, why, sizeof why);
            if (!listed) {
                snprintf(last_skip, sizeof last_skip, "\"%.150s\" on \"%.150s\" left out: %s", info.name,
                         shown, why);
                dsa_log(DSA_LOG_INFO, "device", "opencl: %s", last_skip);
                continue;
            }
            if (n >= limit) {
                dsa_log(DSA_LOG_WARN, "device", "opencl: \"%s\" on \"%s\" not listed: only %d devices are kept",
                        info.name, shown, limit);
                continue;
            }
            info.index = n;
            devices[n] = info;
            found_platform[n] = plats[p];
            found_device[n] = devs[i];
            n++;
        }
        free(devs);
        free(pname);
    }
    free(plats);

    pthread_mutex_lock(&handles_lock);
    memcpy(known_platform, found_platform, (size_t)n * sizeof *found_platform);
    memcpy(known_device, found_device, (size_t)n * sizeof *found_device);
    known_count = n;
    pthread_mutex_unlock(&handles_lock);

    *count = n;
    if (n == 0 && max > 0) {
        /* Loaded, platforms present, nothing usable: say exactly why rather than "no device". */
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE,
                          "%u OpenCL platform(s), %d device(s), none usable%s%s", nplat, seen,
                          last_skip[0] ? "; " : "", last_skip);
    }
    return DSA_SUCCESS;
}

dsa_status dsa_cl_device_handles(int index, cl_platform_id *platform, cl_device_id *device)
{
    if (!platform || !device)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_device_handles: %s is NULL", !platform ? "platform" : "device");
    pthread_mutex_lock(&handles_lock);
    int have = known_count;
    if (index >= 0 && index < have) {
        *platform = known_platform[index];
        *device = known_device[index];
    }
    pthread_mutex_unlock(&handles_lock);
    if (index < 0 || index >= have)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "opencl:%d: no such device (the last probe listed %d)", index, have);
    return DSA_SUCCESS;
}
