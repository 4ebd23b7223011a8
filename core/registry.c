/* Device registry: discovers every backend's devices once, resolves selectors (DESIGN.md "Names"). */
#include "internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEVICES_PER_BACKEND 64

typedef struct backend_entry {
    const dsa_backend_ops *ops;
    int available;
    char reason[512];
    dsa_device_info devices[MAX_DEVICES_PER_BACKEND];
    int count;
} backend_entry;

static backend_entry entries[DSA_BACKEND_COUNT];
static pthread_once_t discovered = PTHREAD_ONCE_INIT;

/* A GPU backend's runtime is compiled in when its backends/<name>/sources.cmake defines
 * DSA_<NAME>_BACKEND_BUILT; until then it is listed as not in this build, rather than vanishing. */
#ifdef DSA_CUDA_BACKEND_BUILT
extern const dsa_backend_ops dsa_cuda_backend;
#endif
#ifdef DSA_HIP_BACKEND_BUILT
extern const dsa_backend_ops dsa_hip_backend;
#endif
#ifdef DSA_OPENCL_BACKEND_BUILT
extern const dsa_backend_ops dsa_opencl_backend;
#endif
#ifdef DSA_VULKAN_BACKEND_BUILT
extern const dsa_backend_ops dsa_vulkan_backend;
#endif

const dsa_backend_ops *dsa_backend_table(dsa_backend b)
{
    switch (b) {
    case DSA_BACKEND_CPU: return &dsa_cpu_backend;
#ifdef DSA_CUDA_BACKEND_BUILT
    case DSA_BACKEND_CUDA: return &dsa_cuda_backend;
#endif
#ifdef DSA_HIP_BACKEND_BUILT
    case DSA_BACKEND_HIP: return &dsa_hip_backend;
#endif
#ifdef DSA_OPENCL_BACKEND_BUILT
    case DSA_BACKEND_OPENCL: return &dsa_opencl_backend;
#endif
#ifdef DSA_VULKAN_BACKEND_BUILT
    case DSA_BACKEND_VULKAN: return &dsa_vulkan_backend;
#endif
    default: return NULL;
    }
}

static void discover_one(dsa_backend b)
{
    backend_entry *e = &entries[b];
    e->ops = dsa_backend_table(b);
    if (!e->ops) {
        snprintf(e->reason, sizeof e->reason,
                 "not in this build: the %s backend is not implemented in libdsa %s yet",
                 dsa_backend_name(b), dsa_version_string());
        return;
    }
    dsa_status st = e->ops->probe(e->devices, MAX_DEVICES_PER_BACKEND, &e->count, e->reason,
                                  sizeof e->reason);
    if (st == DSA_SUCCESS && e->count == 0) {
        snprintf(e->reason, sizeof e->reason, "driver loaded but no device found");
    }
    e->available = st == DSA_SUCCESS && e->count > 0;
    for (int i = 0; i < e->count; i++) {
        e->devices[i].backend = b;
        e->devices[i].index = i;
    }
    dsa_log(DSA_LOG_INFO, "device", "%s: %s", dsa_backend_name(b),
            e->available ? "available" : e->reason);
}

static void discover_all(void)
{
    for (int b = 0; b < DSA_BACKEND_COUNT; b++) discover_one((dsa_backend)b);
}

static void ensure_discovered(void) { pthread_once(&discovered, discover_all); }

dsa_status dsa_backend_available(dsa_backend b, int *available, const char **reason)
{
    if ((unsigned)b >= DSA_BACKEND_COUNT)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "backend is %d, expected 0..%d", (int)b,
                        DSA_BACKEND_COUNT - 1);
    if (!available) return dsa_fail(DSA_ERROR_NULL_POINTER, "available is NULL");
    ensure_discovered();
    *available = entries[b].available;
    if (reason) *reason = entries[b].available ? "" : entries[b].reason;
    return DSA_SUCCESS;
}

dsa_status dsa_device_count(int *count)
{
    if (!count) return dsa_fail(DSA_ERROR_NULL_POINTER, "count is NULL");
    ensure_discovered();
    int n = 0;
    for (int b = 0; b < DSA_BACKEND_COUNT; b++) n += entries[b].available ? entries[b].count : 0;
    *count = n;
    return DSA_SUCCESS;
}

dsa_status dsa_device_get_info(int global_index, dsa_device_info *info)
{
    if (!info) return dsa_fail(DSA_ERROR_NULL_POINTER, "info is NULL");
    ensure_discovered();
    int i = global_index;
    for (int b = 0; b < DSA_BACKEND_COUNT && i >= 0; b++) {
        if (!entries[b].available) continue;
        if (i < entries[b].count) {
            *info = entries[b].devices[i];
            return DSA_SUCCESS;
        }
        i -= entries[b].count;
    }
    int n = 0;
    dsa_device_count(&n);
    return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "device index is %d, expected 0..%d", global_index,
                    n - 1);
}

dsa_status dsa_registry_find(dsa_backend b, int index, dsa_device_info *info)
{
    ensure_discovered();
    if ((unsigned)b >= DSA_BACKEND_COUNT || !entries[b].available || index < 0 ||
        index >= entries[b].count)
        return dsa_fail(DSA_ERROR_NO_DEVICE, "no device %s:%d", dsa_backend_name(b), index);
    *info = entries[b].devices[index];
    return DSA_SUCCESS;
}

/* ---- selectors ---- */

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* auto: CUDA or HIP, then Vulkan, then OpenCL, never a CPU emulation, then the CPU backend. A
 * physical GPU seen through several backends is therefore chosen once, through the first. */
static dsa_status select_auto(dsa_device_info *out)
{
    static const dsa_backend order[] = {DSA_BACKEND_CUDA, DSA_BACKEND_HIP, DSA_BACKEND_VULKAN,
                                        DSA_BACKEND_OPENCL, DSA_BACKEND_CPU};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        backend_entry *e = &entries[order[k]];
        if (!e->available) continue;
        for (int i = 0; i < e->count; i++) {
            if (e->devices[i].is_emulation) continue;
            if (order[k] != DSA_BACKEND_CPU && e->devices[i].is_cpu) continue;
            *out = e->devices[i];
            return DSA_SUCCESS;
        }
    }
    return dsa_fail(DSA_ERROR_NO_DEVICE, "selector \"auto\": no usable device found");
}

static int parse_backend(const char *s, size_t len, dsa_backend *b)
{
    for (int i = 0; i < DSA_BACKEND_COUNT; i++) {
        const char *name = dsa_backend_name((dsa_backend)i);
        if (strlen(name) == len && strncasecmp(s, name, len) == 0) {
            *b = (dsa_backend)i;
            return 1;
        }
    }
    return 0;
}

dsa_status dsa_select_device(const char *selector, dsa_device_info *out)
{
    ensure_discovered();
    const char *sel = selector;
    if (!sel || !*sel || strcasecmp(sel, "auto") == 0) {
        const char *env = getenv("DSA_DEVICE");
        if (env && *env && strcasecmp(env, "auto") != 0) sel = env;
        else return select_auto(out);
    }
    const char *colon = strchr(sel, ':');
    size_t blen = colon ? (size_t)(colon - sel) : strlen(sel);
    dsa_backend b;
    if (!parse_backend(sel, blen, &b))
        return dsa_fail(DSA_ERROR_BAD_SELECTOR,
                        "selector \"%s\": unknown backend, expected auto, cpu, cuda, hip, opencl or "
                        "vulkan, optionally followed by :index or :name",
                        sel);
    backend_entry *e = &entries[b];
    if (!e->available)
        return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE, "selector \"%s\": %s backend unavailable: %s",
                        sel, dsa_backend_name(b), e->reason);
    const char *rest = colon ? colon + 1 : "";
    if (!*rest) {
        *out = e->devices[0];
        return DSA_SUCCESS;
    }
    char *end;
    long idx = strtol(rest, &end, 10);
    if (*end == '\0' && end != rest) {
        if (idx < 0 || idx >= e->count)
            return dsa_fail(DSA_ERROR_NO_DEVICE, "selector \"%s\": index %ld, expected 0..%d", sel,
                            idx, e->count - 1);
        *out = e->devices[idx];
        return DSA_SUCCESS;
    }
    for (int i = 0; i < e->count; i++) {
        const dsa_device_info *d = &e->devices[i];
        /* Versions too: PoCL names itself only there ("OpenCL 3.0 PoCL ..."), yet "opencl:pocl" is the
         * natural way to ask for it. */
        if (contains_ci(d->name, rest) || contains_ci(d->vendor, rest) || contains_ci(d->platform, rest) ||
            contains_ci(d->runtime_version, rest) || contains_ci(d->driver_version, rest)) {
            *out = *d;
            return DSA_SUCCESS;
        }
    }
    return dsa_fail(DSA_ERROR_NO_DEVICE, "selector \"%s\": no %s device whose name, vendor, platform or version contains \"%s\"",
                    sel, dsa_backend_name(b), rest);
}
