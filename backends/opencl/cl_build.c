/* OpenCL backend: building programs from generated source, and reading their binaries back. */
#include "cl_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "OpenCL <platform> <device>": the compiler's name in messages, so a log read later says which
 * driver's compiler refused the source (PoCL's clang and NVIDIA's differ in what they accept). */
static void compiler_label(const dsa_cl_api *cl, cl_device_id device, char *buf, size_t cap)
{
    char pname[128] = "", dname[128] = "";
    cl_platform_id platform = NULL;
    if (cl->clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL) == CL_SUCCESS &&
        platform)
        cl->clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
    /* A name longer than the buffer makes the query fail and leaves "": only the label suffers. */
    cl->clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof dname - 1, dname, NULL);
    pname[sizeof pname - 1] = '\0';
    dname[sizeof dname - 1] = '\0';
    snprintf(buf, cap, "OpenCL %s %s", pname[0] ? pname : "(platform?)", dname[0] ? dname : "(device?)");
}

/* The build log for `device`, heap-allocated and NUL-terminated, or NULL if there is none. */
static char *build_log(const dsa_cl_api *cl, cl_program program, cl_device_id device)
{
    size_t n = 0;
    if (cl->clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return NULL;
    char *log = malloc(n + 1);
    if (!log) return NULL;
    if (cl->clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[n] = '\0';
    return log;
}

static int blank(const char *s)
{
    if (!s) return 1;
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t') return 0;
    return 1;
}

dsa_status dsa_cl_build(cl_context ctx, cl_device_id device, const char *source, const char *kernel_name,
                        const char *options, cl_program *out)
{
    if (!out) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_build: out is NULL");
    *out = NULL;
    if (!ctx || !device || !source)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_build: %s is NULL",
                        !ctx ? "context" : !device ? "device" : "source");
    if (!kernel_name) kernel_name = "(unnamed kernel)";
    if (!options) options = "";

    const dsa_cl_api *cl;
    dsa_status st = dsa_cl_load(&cl);
    if (st != DSA_SUCCESS) return st;

    cl_int err = CL_SUCCESS;
    cl_program program = cl->clCreateProgramWithSource(ctx, 1, &source, NULL, &err);
    if (!program || err != CL_SUCCESS) {
        if (program) cl->clReleaseProgram(program);
        return dsa_cl_fail(err != CL_SUCCESS ? err : CL_INVALID_PROGRAM, "clCreateProgramWithSource");
    }

    char label[300];
    compiler_label(cl, device, label, sizeof label);
    err = cl->clBuildProgram(program, 1, &device, options, NULL, NULL);
    if (err == CL_SUCCESS) {
        /* Warnings are worth seeing when compile logging is on, but only then (a log query is a
         * driver call, and PoCL returns an empty log for clean builds). */
        if (dsa_log_enabled("compile")) {
            char *log = build_log(cl, program, device);
            if (!blank(log))
                dsa_log(DSA_LOG_DEBUG, "compile", "%s built %s (options \"%s\") with messages:\n%s", label,
                        kernel_name, options, log);
            free(log);
        }
        *out = program;
        return DSA_SUCCESS;
    }

    if (err == CL_BUILD_PROGRAM_FAILURE || err == CL_COMPILE_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS ||
        err == CL_INVALID_COMPILER_OPTIONS) {
        /* Options are generated with the source, so a refused option is a compile failure of the
         * generated kernel too; the message then leads with the options themselves. */
        char *log = build_log(cl, program, device);
        if (err != CL_BUILD_PROGRAM_FAILURE && err != CL_COMPILE_PROGRAM_FAILURE) {
            const char *rest = blank(log) ? "" : log;
            size_t need = strlen(options) + strlen(rest) + 96;
            char *msg = malloc(need);
            if (msg) snprintf(msg, need, "clBuildProgram: %s for options \"%s\"\n%s", dsa_cl_error_name(err), options, rest);
            free(log);
            log = msg;
        }
        st = dsa_compile_failure(label, kernel_name, source, blank(log) ? "(the compiler left no build log)" : log);
        free(log);
    } else {
        char call[400];
        snprintf(call, sizeof call, "clBuildProgram (%s, %s)", label, kernel_name);
        st = dsa_cl_fail(err, call);
    }
    cl->clReleaseProgram(program);
    return st;
}

dsa_status dsa_cl_program_binary(cl_program program, cl_device_id device, void **bin, size_t *size)
{
    if (!bin || !size)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_program_binary: %s is NULL", !bin ? "bin" : "size");
    *bin = NULL;
    *size = 0;
    if (!program || !device)
        return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cl_program_binary: %s is NULL", !program ? "program" : "device");
    const dsa_cl_api *cl;
    dsa_status st = dsa_cl_load(&cl);
    if (st != DSA_SUCCESS) return st;

    /* Binaries are returned per device of the program, so first find which slot is ours. */
    cl_uint ndev = 0;
    cl_int err = cl->clGetProgramInfo(program, CL_PROGRAM_NUM_DEVICES, sizeof ndev, &ndev, NULL);
    if (err != CL_SUCCESS) return dsa_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_NUM_DEVICES)");
    if (ndev == 0) return dsa_fail(DSA_ERROR_DRIVER, "dsa_cl_program_binary: the program has no devices");
    cl_device_id *devs = malloc(ndev * sizeof *devs);
    size_t *sizes = malloc(ndev * sizeof *sizes);
    unsigned char **ptrs = calloc(ndev, sizeof *ptrs);
    if (!devs || !sizes || !ptrs) {
        st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "dsa_cl_program_binary: tables for %u devices", ndev);
        goto done;
    }
    err = cl->clGetProgramInfo(program, CL_PROGRAM_DEVICES, ndev * sizeof *devs, devs, NULL);
    if (err != CL_SUCCESS) {
        st = dsa_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_DEVICES)");
        goto done;
    }
    cl_uint slot = ndev;
    for (cl_uint i = 0; i < ndev; i++)
        if (devs[i] == device) slot = i;
    if (slot == ndev) {
        st = dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                      "dsa_cl_program_binary: the device is not one of the program's %u device(s)", ndev);
        goto done;
    }
    err = cl->clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, ndev * sizeof *sizes, sizes, NULL);
    if (err != CL_SUCCESS) {
        st = dsa_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)");
        goto done;
    }
    if (sizes[slot] == 0) {
        st = dsa_fail(DSA_ERROR_UNSUPPORTED,
                      "dsa_cl_program_binary: the driver returned no binary (is the program built for this device?)");
        goto done;
    }
    /* NULL entries are skipped by clGetProgramInfo, so only this device's binary is copied. */
    ptrs[slot] = malloc(sizes[slot]);
    if (!ptrs[slot]) {
        st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "dsa_cl_program_binary: %zu bytes", sizes[slot]);
        goto done;
    }
    err = cl->clGetProgramInfo(program, CL_PROGRAM_BINARIES, ndev * sizeof *ptrs, ptrs, NULL);
    if (err != CL_SUCCESS) {
        st = dsa_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_BINARIES)");
        free(ptrs[slot]);
        goto done;
    }
    *bin = ptrs[slot];
    *size = sizes[slot];
    st = DSA_SUCCESS;
done:
    free(devs);
    free(sizes);
    free(ptrs);
    return st;
}
