/* The HIP runtime and hiprtc through dlopen (see hip_api.h). */
#include "hip_api.h"

#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dsa_hip_api api;
static int library_loaded;
static dsa_status load_status = DSA_ERROR_BACKEND_UNAVAILABLE;
static char load_reason[768];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* dlsym gives a void *, which POSIX lets hold a function pointer; copied through memcpy so that no
 * object-to-function pointer conversion appears in the source. */
_Static_assert(sizeof(void *) == sizeof(dsa_hip_error(*)(void)), "function pointers must fit in void *");

static void set_fn(void *member, void *sym) { memcpy(member, &sym, sizeof sym); }

/* Opens the runtime: the override alone, or the default list; NULL with load_reason set. */
static void *open_runtime(void)
{
    const char *override = getenv("DSA_HIP_LIBRARY");
    static const char *const defaults[] = {"libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6",
                                           "libamdhip64.so.5", "/opt/rocm/lib/libamdhip64.so"};
    const char *one[1] = {override};
    const char *const *list = override && *override ? one : defaults;
    size_t n = override && *override ? 1 : sizeof defaults / sizeof defaults[0];
    load_reason[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        /* RTLD_LOCAL: the runtime's symbols must not satisfy other libraries' lookups through us. */
        void *lib = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            snprintf(api.path, sizeof api.path, "%s", list[i]);
            return lib;
        }
        const char *err = dlerror();
        size_t used = strlen(load_reason);
        snprintf(load_reason + used, sizeof load_reason - used, "%s%s", used ? "; " : "",
                 err ? err : "dlopen failed");
    }
    if (override && *override) {
        size_t used = strlen(load_reason);
        snprintf(load_reason + used, sizeof load_reason - used, " (DSA_HIP_LIBRARY is set; unset it to search "
                 "libamdhip64.so and /opt/rocm/lib)");
    }
    return NULL;
}

/* Resolves the hiprtc members from lib; 0 (members cleared) when one is missing. */
static int resolve_hiprtc(void *lib)
{
    void *sym;
#define DSA_HIPRTC_RESOLVE(member, symbol, params)                                                          \
    sym = dlsym(lib, symbol);                                                                               \
    if (!sym) {                                                                                             \
        snprintf(api.hiprtc_reason, sizeof api.hiprtc_reason, "has no %s", symbol);                         \
        return 0;                                                                                           \
    }                                                                                                       \
    set_fn(&api.member, sym);
    DSA_HIPRTC_FUNCTIONS(DSA_HIPRTC_RESOLVE)
#undef DSA_HIPRTC_RESOLVE
    set_fn(&api.hiprtcGetErrorString, dlsym(lib, "hiprtcGetErrorString"));
    return 1;
}

/* ROCm 5: hiprtc lives in the runtime library. ROCm 6+: libhiprtc.so.N beside it. */
static void load_hiprtc(void *runtime)
{
    if (resolve_hiprtc(runtime)) {
        api.has_hiprtc = 1;
        snprintf(api.hiprtc_path, sizeof api.hiprtc_path, "%s", api.path);
        return;
    }
    char beside[300] = "";
    const char *slash = strrchr(api.path, '/');
    if (slash) snprintf(beside, sizeof beside, "%.*s/libhiprtc.so", (int)(slash - api.path), api.path);
    const char *override = getenv("DSA_HIPRTC_LIBRARY");
    const char *list[] = {override, "libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6", beside,
                          "/opt/rocm/lib/libhiprtc.so"};
    char why[512] = "";
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i] || !*list[i]) continue;
        void *lib = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        if (lib && resolve_hiprtc(lib)) {
            api.has_hiprtc = 1;
            snprintf(api.hiprtc_path, sizeof api.hiprtc_path, "%s", list[i]);
            return;
        }
        size_t used = strlen(why);
        if (!lib) {
            const char *err = dlerror();
            snprintf(why + used, sizeof why - used, "%s%s", used ? "; " : "", err ? err : list[i]);
        } else {
            snprintf(why + used, sizeof why - used, "%s%.200s %.200s", used ? "; " : "", list[i], api.hiprtc_reason);
            dlclose(lib);
        }
        if (override && *override) break; /* an override is the only candidate, as for the runtime */
    }
    snprintf(api.hiprtc_reason, sizeof api.hiprtc_reason, "hiprtc not found: %s has no hiprtc entry points "
             "(ROCm 6 and later ship them in libhiprtc.so) and %s", api.path, why);
}

static void load_runtime(void)
{
    void *lib = open_runtime();
    if (!lib) return;
    void *sym;
#define DSA_HIP_RESOLVE(member, symbol, params)                                                             \
    sym = dlsym(lib, symbol);                                                                               \
    if (!sym) {                                                                                             \
        snprintf(load_reason, sizeof load_reason, "%s loaded, but it has no %s (not a HIP runtime, or one "  \
                 "older than ROCm 5)", api.path, symbol);                                                   \
        dlclose(lib);                                                                                       \
        memset(&api, 0, sizeof api);                                                                        \
        return;                                                                                             \
    }                                                                                                       \
    set_fn(&api.member, sym);
    DSA_HIP_FUNCTIONS(DSA_HIP_RESOLVE)
#undef DSA_HIP_RESOLVE
#define DSA_HIP_RESOLVE_OPTIONAL(member, symbol, params) set_fn(&api.member, dlsym(lib, symbol));
    DSA_HIP_OPTIONAL_FUNCTIONS(DSA_HIP_RESOLVE_OPTIONAL)
#undef DSA_HIP_RESOLVE_OPTIONAL
    set_fn(&api.hipGetErrorName, dlsym(lib, "hipGetErrorName"));
    set_fn(&api.hipGetErrorString, dlsym(lib, "hipGetErrorString"));
    api.library = lib;
    library_loaded = 1;

    int version = 0;
    if (api.hipRuntimeGetVersion(&version) == DSA_HIP_SUCCESS && version > 0) {
        /* HIP_VERSION = major * 10^7 + minor * 10^5 + patch. */
        api.runtime_major = version / 10000000;
        api.runtime_minor = (version / 100000) % 100;
    }
    api.hipDriverGetVersion(&api.driver_version);
    load_hiprtc(lib);

    /* Without a GPU the library stays loaded: hiprtc works with no device. */
    dsa_hip_error r = api.hipInit(0);
    const char *call = "hipInit";
    int count = 0;
    if (r == DSA_HIP_SUCCESS) {
        r = api.hipGetDeviceCount(&count);
        call = "hipGetDeviceCount";
    }
    if (r == DSA_HIP_SUCCESS && count == 0) r = DSA_HIP_ERROR_NO_DEVICE;
    if (r == DSA_HIP_ERROR_INVALID_DEVICE && api.hipGetDeviceCount(&count) == DSA_HIP_ERROR_NO_DEVICE) {
        /* ROCm 5.2's hipInit says hipErrorInvalidDevice when there is none; the count says it plainly. */
        r = DSA_HIP_ERROR_NO_DEVICE;
        call = "hipGetDeviceCount";
    }
    if (r != DSA_HIP_SUCCESS) {
        int no_device = r == DSA_HIP_ERROR_NO_DEVICE || r == DSA_HIP_ERROR_INVALID_DEVICE;
        snprintf(load_reason, sizeof load_reason, "%s%s: %s (%s) (HIP runtime %d.%d, %s)",
                 no_device ? "no device: " : "", call, dsa_hip_error_name(r), dsa_hip_error_string(r),
                 api.runtime_major, api.runtime_minor, api.path);
        return;
    }
    load_status = DSA_SUCCESS;
    dsa_log(DSA_LOG_INFO, "device", "loaded %s: HIP runtime %d.%d, %d device(s); hiprtc %s", api.path,
            api.runtime_major, api.runtime_minor, count, api.has_hiprtc ? api.hiprtc_path : api.hiprtc_reason);
}

dsa_status dsa_hip_load(const dsa_hip_api **out)
{
    pthread_once(&load_once, load_runtime);
    if (out) *out = library_loaded ? &api : NULL;
    if (load_status != DSA_SUCCESS) return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE, "%s", load_reason);
    return DSA_SUCCESS;
}

const char *dsa_hip_reason(void) { return load_reason; }

const char *dsa_hip_error_name(dsa_hip_error e)
{
    static _Thread_local char unknown[32];
    const char *name = api.hipGetErrorName ? api.hipGetErrorName(e) : NULL;
    if (name && *name) return name;
    snprintf(unknown, sizeof unknown, "hipError_t %d", e);
    return unknown;
}

const char *dsa_hip_error_string(dsa_hip_error e)
{
    const char *text = api.hipGetErrorString ? api.hipGetErrorString(e) : NULL;
    return text && *text ? text : "no description from the runtime";
}

dsa_status dsa_hip_status(dsa_hip_error e)
{
    switch (e) {
    case DSA_HIP_SUCCESS: return DSA_SUCCESS;
    case DSA_HIP_ERROR_OUT_OF_MEMORY: return DSA_ERROR_DEVICE_OUT_OF_MEMORY;
    case DSA_HIP_ERROR_ILLEGAL_ADDRESS:
    case DSA_HIP_ERROR_LAUNCH_TIMEOUT:
    case DSA_HIP_ERROR_ASSERT:
    case DSA_HIP_ERROR_LAUNCH_FAILURE:
    case DSA_HIP_ERROR_DEINITIALIZED: return DSA_ERROR_DEVICE_LOST;
    default: return DSA_ERROR_DRIVER;
    }
}

dsa_status dsa_hip_fail(dsa_hip_error e, const char *call, const char *what_fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    dsa_status st = dsa_hip_status(e);
    const char *hint = "";
    if (st == DSA_ERROR_DEVICE_LOST)
        hint = "; the device is unusable from now on in this process (a kernel faulted, possibly in work "
               "enqueued earlier): free its buffers and destroy the libdsa context";
    else if (e == DSA_HIP_ERROR_OUT_OF_MEMORY)
        hint = "; free device memory or use smaller shapes";
    return dsa_fail(st, "%s: %s failed: %s (%s)%s", what, call, dsa_hip_error_name(e), dsa_hip_error_string(e), hint);
}

/* ROCm 6+ without the R0000 entry point: the struct's layout is not ROCm 5's, so gcnArchName is
 * found as the first string after the 256-byte name that starts with "gfx" (the field exists in
 * every layout and no earlier field holds such text). */
static int find_arch_text(const char *props, size_t size, char *arch, size_t len)
{
    for (size_t off = 256; off + 4 < size; off += 4) {
        if (strncmp(props + off, "gfx", 3) != 0) continue;
        size_t n = strnlen(props + off, size - off);
        if (n < size - off) {
            snprintf(arch, len, "%s", props + off);
            return 1;
        }
    }
    return 0;
}

dsa_status dsa_hip_arch_name(const dsa_hip_api *hip, int device, char *arch, size_t len)
{
    /* Bigger than any layout so far (ROCm 6's is about 1.5 KiB): a runtime that writes more than
     * its own struct would be a bug, but the spare room costs nothing. */
    enum { PROPS_BYTES = 16384 };
    char *props = calloc(1, PROPS_BYTES);
    if (!props) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "hip:%d: out of host memory", device);
    int r0000 = hip->hipGetDevicePropertiesR0000 != NULL || hip->runtime_major < 6;
    dsa_hip_error (*get)(void *, int) =
        hip->hipGetDevicePropertiesR0000 ? hip->hipGetDevicePropertiesR0000 : hip->hipGetDevicePropertiesV5;
    dsa_status st = DSA_SUCCESS;
    if (!get) {
        st = dsa_fail(DSA_ERROR_DRIVER, "hip:%d: %s exports no hipGetDeviceProperties", device, hip->path);
    } else {
        dsa_hip_error r = get(props, device);
        if (r != DSA_HIP_SUCCESS) {
            st = dsa_hip_fail(r, "hipGetDeviceProperties", "hip:%d: reading the gfx target", device);
        } else if (r0000) {
            snprintf(arch, len, "%.255s", props + DSA_HIP_PROP_R0000_ARCH_OFFSET);
        } else if (!find_arch_text(props, PROPS_BYTES, arch, len)) {
            st = dsa_fail(DSA_ERROR_DRIVER, "hip:%d: no gcnArchName (\"gfx...\") in hipGetDeviceProperties of HIP "
                          "runtime %d.%d", device, hip->runtime_major, hip->runtime_minor);
        }
    }
    free(props);
    if (st == DSA_SUCCESS && !arch[0])
        st = dsa_fail(DSA_ERROR_DRIVER, "hip:%d: hipGetDeviceProperties gave an empty gcnArchName", device);
    return st;
}
