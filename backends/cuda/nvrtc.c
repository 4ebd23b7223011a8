/* NVRTC through dlopen (see nvrtc.h). The entry points are declared here from NVRTC's documented
 * signatures rather than taken from the toolkit's nvrtc.h, so the library builds on a machine with
 * no CUDA headers and runs with whichever NVRTC major version the machine has. */
#include "nvrtc.h"

#include "internal.h"

#include <dlfcn.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- NVRTC's C ABI ----------------------------------------------------------------------------
 * nvrtcResult is a C enum (int-sized); nvrtcProgram an opaque pointer. Only the codes this file
 * treats specially are named. */
typedef int nv_result;
typedef struct nv_program_opaque *nv_program;

enum {
    NV_SUCCESS = 0,
    NV_ERROR_OUT_OF_MEMORY = 1,
    NV_ERROR_INVALID_OPTION = 5,
    NV_ERROR_COMPILATION = 6,
    NV_ERROR_BUILTIN_OPERATION_FAILURE = 7
};

typedef const char *(*nv_get_error_string_fn)(nv_result result);
typedef nv_result (*nv_version_fn)(int *major, int *minor);
typedef nv_result (*nv_num_archs_fn)(int *count);
typedef nv_result (*nv_archs_fn)(int *archs);
typedef nv_result (*nv_create_fn)(nv_program *prog, const char *src, const char *name, int num_headers,
                                  const char *const *headers, const char *const *include_names);
typedef nv_result (*nv_destroy_fn)(nv_program *prog);
typedef nv_result (*nv_compile_fn)(nv_program prog, int num_options, const char *const *options);
typedef nv_result (*nv_size_fn)(nv_program prog, size_t *size);
typedef nv_result (*nv_get_fn)(nv_program prog, char *out);

struct dsa_nvrtc {
    void *lib;
    char *path;         /* as given to dlopen */
    char *key;          /* DSA_NVRTC_PATH at open time, NULL for the default search */
    int major, minor;
    char compiler[32];  /* "NVRTC 13.0": names the compiler in compile failures */
    struct dsa_nvrtc *next;

    nv_get_error_string_fn get_error_string;
    nv_version_fn version;
    nv_create_fn create_program;
    nv_compile_fn compile_program;
    nv_size_fn get_log_size;
    nv_get_fn get_log;
    nv_size_fn get_ptx_size;
    nv_get_fn get_ptx;
    nv_size_fn get_cubin_size;
    nv_get_fn get_cubin;
    nv_destroy_fn destroy_program;
    /* Optional (NVRTC 11.2+): used only to tell "this NVRTC cannot target that arch" apart from
     * other rejected options. */
    nv_num_archs_fn get_num_supported_archs;
    nv_archs_fn get_supported_archs;
};

/* dlsym returns void *, which POSIX guarantees can hold a function pointer; the symbols are stored
 * into the struct by offset so that one table drives resolution and error reporting. */
_Static_assert(sizeof(void *) == sizeof(nv_version_fn), "function pointers must fit in void *");

static const struct {
    const char *name;
    size_t offset;
    int optional;
} nv_symbols[] = {
    {"nvrtcGetErrorString", offsetof(struct dsa_nvrtc, get_error_string), 0},
    {"nvrtcVersion", offsetof(struct dsa_nvrtc, version), 0},
    {"nvrtcCreateProgram", offsetof(struct dsa_nvrtc, create_program), 0},
    {"nvrtcCompileProgram", offsetof(struct dsa_nvrtc, compile_program), 0},
    {"nvrtcGetProgramLogSize", offsetof(struct dsa_nvrtc, get_log_size), 0},
    {"nvrtcGetProgramLog", offsetof(struct dsa_nvrtc, get_log), 0},
    {"nvrtcGetPTXSize", offsetof(struct dsa_nvrtc, get_ptx_size), 0},
    {"nvrtcGetPTX", offsetof(struct dsa_nvrtc, get_ptx), 0},
    {"nvrtcGetCUBINSize", offsetof(struct dsa_nvrtc, get_cubin_size), 0},
    {"nvrtcGetCUBIN", offsetof(struct dsa_nvrtc, get_cubin), 0},
    {"nvrtcDestroyProgram", offsetof(struct dsa_nvrtc, destroy_program), 0},
    {"nvrtcGetNumSupportedArchs", offsetof(struct dsa_nvrtc, get_num_supported_archs), 1},
    {"nvrtcGetSupportedArchs", offsetof(struct dsa_nvrtc, get_supported_archs), 1},
};

/* ---- loading ---------------------------------------------------------------------------------- */

/* Successful opens, never freed: NVRTC stays loaded for the life of the process because compiled
 * programs and other threads may still be using it. Keyed by the override so that a test or a user
 * changing DSA_NVRTC_PATH gets what the variable now says. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dsa_nvrtc *cache_head;

/* Appends to a bounded message; silently stops at capacity (the message is diagnostic only). */
static void append(char *buf, size_t cap, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    snprintf(buf + used, cap - used, fmt, a, b);
}

static int same_key(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

#define MAX_CANDIDATES 24

static int add_candidate(char **list, int n, const char *path)
{
    if (n >= MAX_CANDIDATES) return n;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], path) == 0) return n; /* tried once is enough (CUDA_HOME may repeat one) */
    char *copy = strdup(path);
    if (!copy) return n;
    list[n] = copy;
    return n + 1;
}

/* The default search order: the loader's own path first (LD_LIBRARY_PATH, ld.so.cache), so a user's
 * environment wins over the fixed locations; newer majors before older. */
static int default_candidates(char **list)
{
    int n = 0;
    n = add_candidate(list, n, "libnvrtc.so.13");
    n = add_candidate(list, n, "libnvrtc.so.12");
    n = add_candidate(list, n, "libnvrtc.so");
    const char *home = getenv("CUDA_HOME");
    if (home && *home) {
        char pattern[4096];
        int w = snprintf(pattern, sizeof pattern, "%s/lib64/libnvrtc.so*", home);
        glob_t g;
        if (w > 0 && (size_t)w < sizeof pattern && glob(pattern, 0, NULL, &g) == 0) {
            /* glob sorts names, so walking backwards tries the most specific version first. */
            for (size_t i = g.gl_pathc; i-- > 0;) n = add_candidate(list, n, g.gl_pathv[i]);
            globfree(&g);
        }
    }
    n = add_candidate(list, n, "/usr/local/cuda/lib64/libnvrtc.so.13");
    n = add_candidate(list, n, "/usr/local/cuda/lib64/libnvrtc.so.12");
    return n;
}

/* dlerror's text usually starts with the path it failed on; drop that so the list is not doubled. */
static const char *without_path(const char *err, const char *path)
{
    size_t len = strlen(path);
    if (strncmp(err, path, len) == 0 && err[len] == ':' && err[len + 1] == ' ') return err + len + 2;
    return err;
}

/* Tries one library; on failure appends why to `why` and returns NULL. */
static struct dsa_nvrtc *try_load(const char *path, char *why, size_t why_cap)
{
    /* RTLD_LOCAL: NVRTC's symbols must not satisfy lookups of other libraries in the process. */
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *err = dlerror();
        append(why, why_cap, "%s (%s); ", path, without_path(err ? err : "unknown dlopen error", path));
        return NULL;
    }
    struct dsa_nvrtc *nv = calloc(1, sizeof *nv);
    if (!nv) {
        dlclose(lib);
        append(why, why_cap, "%s (%s); ", path, "out of host memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof nv_symbols / sizeof nv_symbols[0]; i++) {
        void *sym = dlsym(lib, nv_symbols[i].name);
        if (!sym && !nv_symbols[i].optional) {
            /* Too old an NVRTC (the cubin entry points arrived in 11.1), or not NVRTC at all. */
            append(why, why_cap, "%s (loaded, but has no %s); ", path, nv_symbols[i].name);
            free(nv);
            dlclose(lib);
            return NULL;
        }
        memcpy((char *)nv + nv_symbols[i].offset, &sym, sizeof sym);
    }
    if (nv->version(&nv->major, &nv->minor) != NV_SUCCESS) {
        append(why, why_cap, "%s (%s); ", path, "loaded, but nvrtcVersion failed");
        free(nv);
        dlclose(lib);
        return NULL;
    }
    nv->lib = lib;
    nv->path = strdup(path);
    if (!nv->path) {
        append(why, why_cap, "%s (%s); ", path, "out of host memory");
        free(nv);
        dlclose(lib);
        return NULL;
    }
    snprintf(nv->compiler, sizeof nv->compiler, "NVRTC %d.%d", nv->major, nv->minor);
    return nv;
}

/* Runs the search for one key; caller holds cache_lock. */
static dsa_status load(const char *override, struct dsa_nvrtc **out)
{
    char *list[MAX_CANDIDATES];
    int n = override ? add_candidate(list, 0, override) : default_candidates(list);
    char why[1600];
    why[0] = '\0';
    struct dsa_nvrtc *nv = NULL;
    for (int i = 0; i < n && !nv; i++) nv = try_load(list[i], why, sizeof why);
    for (int i = 0; i < n; i++) free(list[i]);
    if (nv) {
        nv->key = override ? strdup(override) : NULL;
        if (override && !nv->key) {
            /* Unkeyed it would be mistaken for the default search; keep it loaded but uncached. */
            *out = nv;
            dsa_log(DSA_LOG_INFO, "device", "loaded %s from %s (not cached: out of host memory)", nv->compiler,
                    nv->path);
            return DSA_SUCCESS;
        }
        nv->next = cache_head;
        cache_head = nv;
        *out = nv;
        dsa_log(DSA_LOG_INFO, "device", "loaded %s from %s", nv->compiler, nv->path);
        return DSA_SUCCESS;
    }
    size_t len = strlen(why);
    if (len >= 2 && why[len - 2] == ';') why[len - 2] = '\0';
    if (n == 0) snprintf(why, sizeof why, "out of host memory while listing candidates");
    if (override)
        return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE,
                        "NVRTC: DSA_NVRTC_PATH=%s could not be used: %s (unset it to search the default "
                        "locations)",
                        override, why);
    return dsa_fail(DSA_ERROR_BACKEND_UNAVAILABLE,
                    "NVRTC (the CUDA runtime compiler) not found; tried: %s. Install the CUDA toolkit's "
                    "libnvrtc, or set DSA_NVRTC_PATH to its full path",
                    why);
}

dsa_status dsa_nvrtc_open(dsa_nvrtc **out)
{
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_open: out is NULL");
    *out = NULL;
    const char *override = getenv("DSA_NVRTC_PATH");
    if (override && !*override) override = NULL; /* set but empty means not set */

    pthread_mutex_lock(&cache_lock);
    for (struct dsa_nvrtc *nv = cache_head; nv; nv = nv->next) {
        if (same_key(nv->key, override)) {
            *out = nv;
            pthread_mutex_unlock(&cache_lock);
            return DSA_SUCCESS;
        }
    }
    /* Loading under the lock makes concurrent first opens load once; dlopen is not re-entered into
     * this file, so no deadlock. */
    dsa_status st = load(override, out);
    pthread_mutex_unlock(&cache_lock);
    return st;
}

dsa_status dsa_nvrtc_version(dsa_nvrtc *nv, int *major, int *minor)
{
    if (!nv || !major || !minor) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_version: a NULL argument");
    *major = nv->major;
    *minor = nv->minor;
    return DSA_SUCCESS;
}

const char *dsa_nvrtc_path(const dsa_nvrtc *nv) { return nv ? nv->path : ""; }

/* ---- compiling -------------------------------------------------------------------------------- */

static const char *err_string(const dsa_nvrtc *nv, nv_result r)
{
    const char *s = nv->get_error_string(r);
    return s ? s : "unknown NVRTC error";
}

/* "sm_" DIGITS [a|f]: the architectures NVRTC names; *number gets DIGITS (e.g. 90 for sm_90a). */
static int parse_arch(const char *arch, int *number, const char **suffix)
{
    if (strncmp(arch, "sm_", 3) != 0) return 0;
    const char *p = arch + 3;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) v = v * 10 + (*p++ - '0'), digits++;
    if (digits < 2) return 0;
    if (*p == 'a' || *p == 'f') p++;
    if (*p) return 0;
    *number = v;
    *suffix = arch + 3;
    return 1;
}

/* The program's log (warnings or errors); malloc'd, never NULL unless out of memory. */
static char *program_log(const dsa_nvrtc *nv, nv_program prog)
{
    size_t n = 0;
    if (nv->get_log_size(prog, &n) != NV_SUCCESS || n == 0) return strdup("");
    char *log = malloc(n + 1);
    if (!log) return NULL;
    if (nv->get_log(prog, log) != NV_SUCCESS) log[0] = '\0';
    log[n] = '\0';
    return log;
}

/* Whether this NVRTC lists `number` among its targets; -1 when it cannot say (older NVRTC). Also
 * writes the list into `list` for the message. */
static int arch_supported(const dsa_nvrtc *nv, int number, char *list, size_t cap)
{
    list[0] = '\0';
    if (!nv->get_num_supported_archs || !nv->get_supported_archs) return -1;
    int count = 0;
    if (nv->get_num_supported_archs(&count) != NV_SUCCESS || count <= 0 || count > 4096) return -1;
    int *archs = malloc((size_t)count * sizeof *archs);
    if (!archs) return -1;
    int found = 0;
    if (nv->get_supported_archs(archs) != NV_SUCCESS) {
        free(archs);
        return -1;
    }
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        found |= archs[i] == number;
        if (used + 1 < cap) {
            int w = snprintf(list + used, cap - used, "%ssm_%d", i ? ", " : "", archs[i]);
            if (w > 0) used += (size_t)w;
        }
    }
    free(archs);
    return found;
}

/* Maps an NVRTC failure outside compilation proper (creating, querying) to a status. */
static dsa_status api_failure(const dsa_nvrtc *nv, const char *call, const char *kernel, nv_result r)
{
    if (r == NV_ERROR_OUT_OF_MEMORY)
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s: %s ran out of memory compiling %s", nv->compiler, call,
                        kernel);
    return dsa_fail(DSA_ERROR_INTERNAL, "%s: %s failed for %s: %s (nvrtcResult %d)", nv->compiler, call, kernel,
                    err_string(nv, r), r);
}

/* After nvrtcCompileProgram failed: the status and message for result r. */
static dsa_status compile_failure(const dsa_nvrtc *nv, nv_program prog, nv_result r, const char *source,
                                  const char *kernel, const char *arch, int arch_number)
{
    char *log = program_log(nv, prog);
    if (!log) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s: out of host memory reading the log of %s",
                              nv->compiler, kernel);
    dsa_status st;
    if (r == NV_ERROR_COMPILATION) {
        st = dsa_compile_failure(nv->compiler, kernel, source, log);
    } else if (r == NV_ERROR_INVALID_OPTION) {
        /* An arch this NVRTC does not know is the common cause (sm_90a on NVRTC 11, sm_70 on 13):
         * report it as unsupported so the caller can fall back to another target or device. */
        char archs[512];
        int known = arch_supported(nv, arch_number, archs, sizeof archs);
        if (known == 0)
            st = dsa_fail(DSA_ERROR_UNSUPPORTED, "%s cannot target %s (it supports %s); compiling %s", nv->compiler,
                          arch, archs, kernel);
        else
            st = dsa_fail(DSA_ERROR_COMPILE, "%s rejected the options for %s (arch %s): %s\n%.1200s", nv->compiler,
                          kernel, arch, err_string(nv, r), log);
    } else if (r == NV_ERROR_OUT_OF_MEMORY) {
        st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "%s ran out of memory compiling %s", nv->compiler, kernel);
    } else if (r == NV_ERROR_BUILTIN_OPERATION_FAILURE) {
        /* Usually libnvrtc-builtins of the same version is missing next to libnvrtc. */
        st = dsa_fail(DSA_ERROR_COMPILE,
                      "%s failed to compile %s: %s (is libnvrtc-builtins.so of the same version beside %s?)\n%.1000s",
                      nv->compiler, kernel, err_string(nv, r), nv->path, log);
    } else {
        st = dsa_fail(DSA_ERROR_COMPILE, "%s failed to compile %s: %s (nvrtcResult %d)\n%.1200s", nv->compiler,
                      kernel, err_string(nv, r), r, log);
    }
    free(log);
    return st;
}

dsa_status dsa_nvrtc_compile(dsa_nvrtc *nv, const char *source, const char *kernel_name, const char *arch,
                             int want_cubin, const char *const *extra_options, int n_extra, void **binary,
                             size_t *size)
{
    if (!binary || !size) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: binary or size is NULL");
    *binary = NULL;
    *size = 0;
    if (!nv) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: nv is NULL (call dsa_nvrtc_open)");
    if (!source) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: source is NULL");
    if (!kernel_name) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: kernel_name is NULL");
    if (!arch) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: arch is NULL");
    if (n_extra < 0 || (n_extra > 0 && !extra_options))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "dsa_nvrtc_compile: n_extra is %d with extra_options %s; expected n_extra >= 0 and an array "
                        "when n_extra > 0",
                        n_extra, extra_options ? "given" : "NULL");
    for (int i = 0; i < n_extra; i++)
        if (!extra_options[i])
            return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_nvrtc_compile: extra_options[%d] is NULL", i);
    int arch_number = 0;
    const char *arch_suffix = NULL;
    if (!parse_arch(arch, &arch_number, &arch_suffix))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "dsa_nvrtc_compile: arch is \"%.40s\"; expected sm_<digits> with an optional a or f suffix "
                        "(\"sm_80\", \"sm_90a\")",
                        arch);

    /* PTX is for the virtual architecture (compute_XX) so the driver can JIT it for the device; a
     * cubin is for the real one. */
    char arch_opt[64];
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=%s_%s", want_cubin ? "sm" : "compute", arch_suffix);
    const char **options = malloc((size_t)(n_extra + 2) * sizeof *options);
    if (!options) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "dsa_nvrtc_compile: out of host memory");
    options[0] = arch_opt;
    options[1] = "-std=c++17";
    for (int i = 0; i < n_extra; i++) options[2 + i] = extra_options[i];

    /* The program name is what NVRTC's log cites ("k.cu(12): error"), which compile_log.c parses
     * to quote the offending lines. */
    char name[160];
    snprintf(name, sizeof name, "%.150s.cu", kernel_name);

    nv_program prog = NULL;
    nv_result r = nv->create_program(&prog, source, name, 0, NULL, NULL);
    if (r != NV_SUCCESS) {
        free(options);
        return api_failure(nv, "nvrtcCreateProgram", kernel_name, r);
    }
    r = nv->compile_program(prog, n_extra + 2, options);
    free(options);
    dsa_status st = DSA_SUCCESS;
    if (r != NV_SUCCESS) {
        st = compile_failure(nv, prog, r, source, kernel_name, arch, arch_number);
        nv->destroy_program(&prog);
        return st;
    }

    /* Warnings are worth seeing when someone asked for compile logs, never otherwise. */
    char *log = program_log(nv, prog);
    if (log && log[0])
        dsa_log(DSA_LOG_WARN, "compile", "%s compiled %s for %s with messages:\n%s", nv->compiler, kernel_name,
                arch, log);
    free(log);

    size_t n = 0;
    r = want_cubin ? nv->get_cubin_size(prog, &n) : nv->get_ptx_size(prog, &n);
    if (r != NV_SUCCESS) {
        st = api_failure(nv, want_cubin ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize", kernel_name, r);
    } else if (n == 0) {
        st = dsa_fail(DSA_ERROR_INTERNAL, "%s produced an empty %s for %s", nv->compiler,
                      want_cubin ? "cubin" : "PTX", kernel_name);
    } else {
        /* One spare byte keeps the PTX NUL-terminated even if a size ever excluded the NUL. */
        char *out = malloc(n + 1);
        if (!out) {
            st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "dsa_nvrtc_compile: out of host memory for %zu bytes", n);
        } else {
            r = want_cubin ? nv->get_cubin(prog, out) : nv->get_ptx(prog, out);
            if (r != NV_SUCCESS) {
                free(out);
                st = api_failure(nv, want_cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX", kernel_name, r);
            } else {
                out[n] = '\0';
                if (!want_cubin && out[n - 1] != '\0') n++; /* count the terminator, as documented */
                *binary = out;
                *size = n;
            }
        }
    }
    nv->destroy_program(&prog);
    return st;
}
