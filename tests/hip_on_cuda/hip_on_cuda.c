/* libhip_on_cuda.so: a test-only stand-in for libamdhip64, so that libdsa's real HIP backend
 * (backends/hip) runs the generated HIP kernels on an NVIDIA GPU. Never built into libdsa; loaded
 * only when DSA_HIP_LIBRARY names it (docs/backends/hip.md).
 *
 * It exports the hip* and hiprtc* entry points the backend resolves, with ROCm 5's ABI (hiprtc in
 * the runtime library, hipDeviceProp_t in ROCm 5's layout), implemented over the CUDA driver API
 * and NVRTC, both loaded with dlopen:
 *  - devices are the CUDA devices; warpSize is 32, gcnArchName is "sm_XY (hip-on-cuda)", and the
 *    name ends in " (hip-on-cuda)", so no report can mistake it for an AMD GPU;
 *  - hip error codes are CUDA's (the two enums agree on every code used here);
 *  - hiprtcCompileProgram prepends hip_to_cuda.h (HIP names -> CUDA names, embedded at build time)
 *    and compiles a cubin for the device's sm with NVRTC, or, when DSA_HIP_ON_CUDA_NVCC names an
 *    nvcc, with that nvcc offline (the header written beside the source).
 * What it cannot test: anything AMD-specific (gfx code objects, wave64, MFMA/WMMA, FNUZ fp8). */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

const char *dsa_embedded_text(const char *path); /* hip_to_cuda.h, from cmake/embed.cmake */
extern char **environ;

typedef int cu_result;
typedef unsigned long long cu_ptr;
typedef void *cu_ctx;

/* ---- the CUDA driver API, loaded once ---- */
static struct {
    cu_result (*init)(unsigned);
    cu_result (*driver_version)(int *);
    cu_result (*error_name)(cu_result, const char **);
    cu_result (*error_string)(cu_result, const char **);
    cu_result (*device_count)(int *);
    cu_result (*device_name)(char *, int, int);
    cu_result (*device_attribute)(int *, int, int);
    cu_result (*device_total_mem)(size_t *, int);
    cu_result (*device_uuid)(void *, int);
    cu_result (*primary_retain)(cu_ctx *, int);
    cu_result (*ctx_set_current)(cu_ctx);
    cu_result (*stream_create)(void **, unsigned);
    cu_result (*stream_destroy)(void *);
    cu_result (*stream_synchronize)(void *);
    cu_result (*mem_alloc)(cu_ptr *, size_t);
    cu_result (*mem_free)(cu_ptr);
    cu_result (*mem_range)(cu_ptr *, size_t *, cu_ptr);
    cu_result (*htod)(cu_ptr, const void *, size_t, void *);
    cu_result (*dtoh)(void *, cu_ptr, size_t, void *);
    cu_result (*dtod)(cu_ptr, cu_ptr, size_t, void *);
    cu_result (*memset8)(cu_ptr, unsigned char, size_t, void *);
    cu_result (*module_load)(void **, const void *);
    cu_result (*module_unload)(void *);
    cu_result (*module_function)(void **, void *, const char *);
    cu_result (*launch)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                        void **, void **);
} cu;

enum { HIP_ERROR_INVALID_VALUE = 1, HIP_ERROR_OUT_OF_MEMORY = 2, HIP_ERROR_NOT_INITIALIZED = 3,
       HIP_ERROR_NO_DEVICE = 100, HIP_ERROR_INVALID_DEVICE = 101 };

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static cu_result cu_status = HIP_ERROR_NOT_INITIALIZED;
static int n_devices;
static cu_ctx primary[16];
static _Thread_local int current_device;

static void *sym(void *lib, const char *name, int *missing)
{
    void *p = dlsym(lib, name);
    if (!p) *missing = 1;
    return p;
}

#define LOAD(field, name) memcpy(&cu.field, &(void *){sym(lib, name, &missing)}, sizeof(void *))

static void load_cuda(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        cu_status = HIP_ERROR_NO_DEVICE; /* no NVIDIA driver: no device, as a HIP runtime would say */
        return;
    }
    int missing = 0;
    LOAD(init, "cuInit");
    LOAD(driver_version, "cuDriverGetVersion");
    LOAD(error_name, "cuGetErrorName");
    LOAD(error_string, "cuGetErrorString");
    LOAD(device_count, "cuDeviceGetCount");
    LOAD(device_name, "cuDeviceGetName");
    LOAD(device_attribute, "cuDeviceGetAttribute");
    LOAD(device_total_mem, "cuDeviceTotalMem_v2");
    LOAD(device_uuid, "cuDeviceGetUuid_v2");
    LOAD(primary_retain, "cuDevicePrimaryCtxRetain");
    LOAD(ctx_set_current, "cuCtxSetCurrent");
    LOAD(stream_create, "cuStreamCreate");
    LOAD(stream_destroy, "cuStreamDestroy_v2");
    LOAD(stream_synchronize, "cuStreamSynchronize");
    LOAD(mem_alloc, "cuMemAlloc_v2");
    LOAD(mem_free, "cuMemFree_v2");
    LOAD(mem_range, "cuMemGetAddressRange_v2");
    LOAD(htod, "cuMemcpyHtoDAsync_v2");
    LOAD(dtoh, "cuMemcpyDtoHAsync_v2");
    LOAD(dtod, "cuMemcpyDtoDAsync_v2");
    LOAD(memset8, "cuMemsetD8Async");
    LOAD(module_load, "cuModuleLoadData");
    LOAD(module_unload, "cuModuleUnload");
    LOAD(module_function, "cuModuleGetFunction");
    LOAD(launch, "cuLaunchKernel");
    if (missing) {
        cu_status = HIP_ERROR_NOT_INITIALIZED;
        return;
    }
    cu_status = cu.init(0);
    if (cu_status == 0) cu_status = cu.device_count(&n_devices);
    if (cu_status == 0 && n_devices == 0) cu_status = HIP_ERROR_NO_DEVICE;
    if (n_devices > 16) n_devices = 16;
    for (int i = 0; i < n_devices && cu_status == 0; i++) cu_status = cu.primary_retain(&primary[i], i);
}

/* Every call: the driver loaded, and the thread's current device's primary context current. */
static cu_result ready(void)
{
    pthread_once(&cu_once, load_cuda);
    if (cu_status != 0) return cu_status;
    return cu.ctx_set_current(primary[current_device]);
}

#define READY()                                                                                           \
    do {                                                                                                  \
        cu_result r_ = ready();                                                                           \
        if (r_ != 0) return r_;                                                                           \
    } while (0)

static int valid_device(int d) { return d >= 0 && d < n_devices; }

/* ---- runtime ---- */

EXPORT int hipInit(unsigned flags)
{
    (void)flags;
    return ready();
}

EXPORT int hipRuntimeGetVersion(int *v)
{
    *v = 50200000; /* the ABI implemented: ROCm 5.2's (hiprtc inside, R0000 properties layout) */
    return 0;
}

EXPORT int hipDriverGetVersion(int *v)
{
    pthread_once(&cu_once, load_cuda);
    *v = 0;
    return cu.driver_version ? cu.driver_version(v) : 0;
}

EXPORT const char *hipGetErrorName(int e)
{
    const char *s = NULL;
    if (e == HIP_ERROR_NO_DEVICE && !cu.init) return "hipErrorNoDevice (hip-on-cuda: libcuda.so.1 not found)";
    if (cu.error_name && cu.error_name(e, &s) == 0 && s) return s;
    return "hip-on-cuda: unknown error";
}

EXPORT const char *hipGetErrorString(int e)
{
    const char *s = NULL;
    if (cu.error_string && cu.error_string(e, &s) == 0 && s) return s;
    return "no description (hip-on-cuda)";
}

EXPORT int hipGetDeviceCount(int *n)
{
    pthread_once(&cu_once, load_cuda);
    *n = cu_status == 0 ? n_devices : 0;
    return cu_status;
}

EXPORT int hipGetDevice(int *d)
{
    *d = current_device;
    return 0;
}

EXPORT int hipSetDevice(int d)
{
    pthread_once(&cu_once, load_cuda);
    if (cu_status != 0) return cu_status;
    if (!valid_device(d)) return HIP_ERROR_INVALID_DEVICE;
    current_device = d;
    return cu.ctx_set_current(primary[d]);
}

EXPORT int hipDeviceGetName(char *name, int len, int d)
{
    READY();
    if (!valid_device(d)) return HIP_ERROR_INVALID_DEVICE;
    char cuda_name[200];
    cu_result r = cu.device_name(cuda_name, (int)sizeof cuda_name, d);
    if (r == 0) snprintf(name, (size_t)len, "%s (hip-on-cuda)", cuda_name);
    return r;
}

EXPORT int hipDeviceTotalMem(size_t *bytes, int d)
{
    READY();
    return cu.device_total_mem(bytes, d);
}

EXPORT int hipDeviceGetUuid(void *uuid, int d)
{
    READY();
    return cu.device_uuid(uuid, d);
}

/* HIP attribute ids (hipDeviceAttribute_t) -> CUDA's (CUdevice_attribute), for those libdsa asks. */
EXPORT int hipDeviceGetAttribute(int *value, int attr, int d)
{
    static const int map[][2] = {{16, 18}, {23, 75}, {56, 1}, {61, 76}, {63, 16}, {67, 33},
                                 {68, 34}, {69, 50}, {74, 8}, {87, 10}};
    READY();
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i][0] == attr) return cu.device_attribute(value, map[i][1], d);
    return HIP_ERROR_INVALID_VALUE;
}

/* hipDeviceProp_t, ROCm 5 layout (792 bytes): name at 0, totalGlobalMem at 256, warpSize at 276,
 * gcnArchName at 396. Only these are filled; the rest is zero. */
EXPORT int hipGetDeviceProperties(void *props, int d)
{
    READY();
    if (!valid_device(d)) return HIP_ERROR_INVALID_DEVICE;
    char *p = props;
    memset(p, 0, 792);
    hipDeviceGetName(p, 256, d);
    size_t total = 0;
    cu.device_total_mem(&total, d);
    memcpy(p + 256, &total, sizeof total);
    int warp = 32, major = 0, minor = 0;
    memcpy(p + 276, &warp, sizeof warp);
    cu.device_attribute(&major, 75, d);
    cu.device_attribute(&minor, 76, d);
    snprintf(p + 396, 256, "sm_%d%d (hip-on-cuda)", major, minor);
    return 0;
}

EXPORT int hipStreamCreateWithFlags(void **s, unsigned flags)
{
    READY();
    return cu.stream_create(s, flags);
}

EXPORT int hipStreamDestroy(void *s)
{
    READY();
    return cu.stream_destroy(s);
}

EXPORT int hipStreamSynchronize(void *s)
{
    READY();
    return cu.stream_synchronize(s);
}

EXPORT int hipMalloc(void **p, size_t n)
{
    READY();
    cu_ptr d = 0;
    cu_result r = cu.mem_alloc(&d, n);
    *p = (void *)(size_t)d;
    return r;
}

EXPORT int hipFree(void *p)
{
    READY();
    return cu.mem_free((cu_ptr)(size_t)p);
}

EXPORT int hipMemGetAddressRange(void **base, size_t *size, void *p)
{
    READY();
    cu_ptr b = 0;
    cu_result r = cu.mem_range(&b, size, (cu_ptr)(size_t)p);
    *base = (void *)(size_t)b;
    return r;
}

EXPORT int hipMemcpyHtoDAsync(void *dst, void *src, size_t n, void *s)
{
    READY();
    return cu.htod((cu_ptr)(size_t)dst, src, n, s);
}

EXPORT int hipMemcpyDtoHAsync(void *dst, void *src, size_t n, void *s)
{
    READY();
    return cu.dtoh(dst, (cu_ptr)(size_t)src, n, s);
}

EXPORT int hipMemcpyDtoDAsync(void *dst, void *src, size_t n, void *s)
{
    READY();
    return cu.dtod((cu_ptr)(size_t)dst, (cu_ptr)(size_t)src, n, s);
}

EXPORT int hipMemsetD8Async(void *dst, unsigned char v, size_t n, void *s)
{
    READY();
    return cu.memset8((cu_ptr)(size_t)dst, v, n, s);
}

EXPORT int hipModuleLoadData(void **m, const void *image)
{
    READY();
    return cu.module_load(m, image);
}

EXPORT int hipModuleUnload(void *m)
{
    READY();
    return cu.module_unload(m);
}

EXPORT int hipModuleGetFunction(void **f, void *m, const char *name)
{
    READY();
    return cu.module_function(f, m, name);
}

EXPORT int hipModuleLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned shared, void *s, void **params, void **extra)
{
    READY();
    return cu.launch(f, gx, gy, gz, bx, by, bz, shared, s, params, extra);
}

/* ---- hiprtc over NVRTC (or nvcc) ---- */

enum { RTC_SUCCESS = 0, RTC_OUT_OF_MEMORY = 1, RTC_INVALID_INPUT = 3, RTC_INVALID_OPTION = 5,
       RTC_COMPILATION = 6, RTC_INTERNAL = 11 };

typedef struct program {
    char *source; /* hip_to_cuda.h, a #line, then the generated source */
    char *name;
    char *log;
    void *code;
    size_t code_size;
} program;

static struct {
    int (*create)(void **, const char *, const char *, int, const char *const *, const char *const *);
    int (*compile)(void *, int, const char *const *);
    int (*log_size)(void *, size_t *);
    int (*log)(void *, char *);
    int (*cubin_size)(void *, size_t *);
    int (*cubin)(void *, char *);
    int (*destroy)(void **);
} nv;
static pthread_once_t nv_once = PTHREAD_ONCE_INIT;
static int nv_loaded;

static void load_nvrtc(void)
{
    static const char *names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                                  "/usr/local/cuda/lib64/libnvrtc.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        int missing = 0;
        memcpy(&nv.create, &(void *){sym(lib, "nvrtcCreateProgram", &missing)}, sizeof(void *));
        memcpy(&nv.compile, &(void *){sym(lib, "nvrtcCompileProgram", &missing)}, sizeof(void *));
        memcpy(&nv.log_size, &(void *){sym(lib, "nvrtcGetProgramLogSize", &missing)}, sizeof(void *));
        memcpy(&nv.log, &(void *){sym(lib, "nvrtcGetProgramLog", &missing)}, sizeof(void *));
        memcpy(&nv.cubin_size, &(void *){sym(lib, "nvrtcGetCUBINSize", &missing)}, sizeof(void *));
        memcpy(&nv.cubin, &(void *){sym(lib, "nvrtcGetCUBIN", &missing)}, sizeof(void *));
        memcpy(&nv.destroy, &(void *){sym(lib, "nvrtcDestroyProgram", &missing)}, sizeof(void *));
        if (!missing) {
            nv_loaded = 1;
            return;
        }
        dlclose(lib);
    }
}

EXPORT const char *hiprtcGetErrorString(int r)
{
    switch (r) {
    case RTC_SUCCESS: return "HIPRTC_SUCCESS";
    case RTC_OUT_OF_MEMORY: return "HIPRTC_ERROR_OUT_OF_MEMORY";
    case RTC_INVALID_OPTION: return "HIPRTC_ERROR_INVALID_OPTION (hip-on-cuda: expected --offload-arch=sm_XY)";
    case RTC_COMPILATION: return "HIPRTC_ERROR_COMPILATION";
    default: return "HIPRTC_ERROR_INTERNAL_ERROR (hip-on-cuda: NVRTC or nvcc could not be run)";
    }
}

EXPORT int hiprtcCreateProgram(void **out, const char *src, const char *name, int num_headers,
                               const char *const *headers, const char *const *include_names)
{
    (void)headers;
    (void)include_names;
    if (!out || !src || num_headers != 0) return RTC_INVALID_INPUT;
    const char *compat = dsa_embedded_text("hip_to_cuda.h");
    program *p = calloc(1, sizeof *p);
    const char *nm = name ? name : "program.hip";
    size_t n = strlen(compat) + strlen(src) + strlen(nm) + 32;
    if (p) p->source = malloc(n);
    if (p) p->name = strdup(nm);
    if (!p || !p->source || !p->name) {
        if (p) free(p->source), free(p->name);
        free(p);
        return RTC_OUT_OF_MEMORY;
    }
    /* #line keeps the compiler's line numbers those of the generated source, as libdsa quotes them. */
    snprintf(p->source, n, "%s#line 1 \"%s\"\n%s", compat, nm, src);
    *out = p;
    return RTC_SUCCESS;
}

static void set_log(program *p, const char *text)
{
    free(p->log);
    p->log = strdup(text ? text : "");
}

static int compile_nvrtc(program *p, int sm)
{
    pthread_once(&nv_once, load_nvrtc);
    if (!nv_loaded) {
        set_log(p, "hip-on-cuda: no libnvrtc.so.13/.12 could be loaded");
        return RTC_INTERNAL;
    }
    void *prog = NULL;
    if (nv.create(&prog, p->source, p->name, 0, NULL, NULL) != 0) return RTC_INTERNAL;
    char arch[48];
    snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d", sm);
    const char *opts[] = {arch, "-std=c++17"};
    int r = nv.compile(prog, 2, opts);
    size_t n = 0;
    nv.log_size(prog, &n);
    free(p->log);
    p->log = calloc(1, n + 1);
    if (p->log && n) nv.log(prog, p->log);
    if (r == 0 && nv.cubin_size(prog, &p->code_size) == 0 && (p->code = malloc(p->code_size)) != NULL)
        r = nv.cubin(prog, p->code);
    nv.destroy(&prog);
    if (r == 6) return RTC_COMPILATION; /* NVRTC_ERROR_COMPILATION */
    return r == 0 && p->code ? RTC_SUCCESS : RTC_INTERNAL;
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    *n = buf ? (size_t)len : 0;
    return buf;
}

/* nvcc offline: the header beside the source (#include, as a HIP program would have it), the
 * cubin read back; nvcc's output is the log. */
static int compile_nvcc(program *p, int sm, const char *nvcc)
{
    char dir[] = "/tmp/hip-on-cuda-XXXXXX";
    if (!mkdtemp(dir)) return RTC_INTERNAL;
    char hdr[64], src[64], out[64], log[64], arch[32];
    snprintf(hdr, sizeof hdr, "%s/hip_to_cuda.h", dir);
    snprintf(src, sizeof src, "%s/k.cu", dir);
    snprintf(out, sizeof out, "%s/k.cubin", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(arch, sizeof arch, "-arch=sm_%d", sm);
    const char *compat = dsa_embedded_text("hip_to_cuda.h");
    const char *body = p->source + strlen(compat); /* "#line ..." and the generated source */
    char *text = malloc(strlen(body) + 64);
    int rc = RTC_INTERNAL;
    if (text) {
        sprintf(text, "#include \"hip_to_cuda.h\"\n%s", body);
        if (write_file(hdr, compat, strlen(compat)) == 0 && write_file(src, text, strlen(text)) == 0) {
            char *argv[] = {(char *)nvcc, "-cubin", arch, "-O3", "-std=c++17", "-o", out, src, NULL};
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            posix_spawn_file_actions_adddup2(&fa, 1, 2);
            pid_t pid;
            int status = -1;
            if (posix_spawnp(&pid, nvcc, &fa, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid) {
                size_t n = 0;
                char *l = read_file(log, &n);
                set_log(p, l);
                free(l);
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                    rc = (p->code = read_file(out, &p->code_size)) != NULL ? RTC_SUCCESS : RTC_INTERNAL;
                else
                    rc = RTC_COMPILATION;
            } else {
                set_log(p, "hip-on-cuda: DSA_HIP_ON_CUDA_NVCC could not be run");
            }
            posix_spawn_file_actions_destroy(&fa);
        }
    }
    free(text);
    unlink(hdr), unlink(src), unlink(out), unlink(log);
    rmdir(dir);
    return rc;
}

EXPORT int hiprtcCompileProgram(void *prog, int n, const char *const *options)
{
    program *p = prog;
    int sm = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(options[i], "--offload-arch=sm_", 18) == 0) sm = atoi(options[i] + 18);
    if (sm <= 0) return RTC_INVALID_OPTION;
    free(p->code);
    p->code = NULL;
    const char *nvcc = getenv("DSA_HIP_ON_CUDA_NVCC");
    return nvcc && *nvcc ? compile_nvcc(p, sm, nvcc) : compile_nvrtc(p, sm);
}

EXPORT int hiprtcGetProgramLogSize(void *prog, size_t *n)
{
    program *p = prog;
    *n = p->log ? strlen(p->log) + 1 : 1;
    return RTC_SUCCESS;
}

EXPORT int hiprtcGetProgramLog(void *prog, char *out)
{
    program *p = prog;
    strcpy(out, p->log ? p->log : "");
    return RTC_SUCCESS;
}

EXPORT int hiprtcGetCodeSize(void *prog, size_t *n)
{
    *n = ((program *)prog)->code_size;
    return RTC_SUCCESS;
}

EXPORT int hiprtcGetCode(void *prog, char *out)
{
    program *p = prog;
    if (p->code) memcpy(out, p->code, p->code_size);
    return RTC_SUCCESS;
}

EXPORT int hiprtcDestroyProgram(void **prog)
{
    program *p = *prog;
    if (p) {
        free(p->source), free(p->name), free(p->log), free(p->code);
        free(p);
    }
    *prog = NULL;
    return RTC_SUCCESS;
}
