/* `dsa devices`: every device libdsa can see, then why each missing backend is missing.
 * One table row per device holds what fits in 100 columns; a second, indented line carries the
 * longer strings (driver, runtime, capabilities, matrix units). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dsa devices\n\n"
               "Lists every device of every available backend (global index, the selector that\n"
               "names it, name, vendor, memory, compute units, shared memory per block, subgroup\n"
               "sizes, capabilities, driver and runtime versions), then one line per backend that\n"
               "is unavailable, with the reason.\n");
}

/* Copies s into buf, cutting it with "..." so that it fits width columns. */
static const char *clip(const char *s, char *buf, size_t width)
{
    size_t len = strlen(s);
    if (len <= width) {
        memcpy(buf, s, len + 1);
        return buf;
    }
    memcpy(buf, s, width - 3);
    memcpy(buf + width - 3, "...", 4);
    return buf;
}

/* Which OpenCL paths the kernels take on this device (the rule of templates/spec.c,
 * dsa_spec_use_device, read back from the capabilities it uses). */
static void print_opencl_paths(const dsa_device_info *d)
{
    const char *sg = !(d->caps & DSA_CAP_SUBGROUPS) ? "through local memory (portable)"
                     : (d->caps & DSA_CAP_INLINE_PTX) ? "by warp shuffles (inline PTX)"
                                                        : "by subgroup builtins (built as OpenCL C 2.0+)";
    printf("     kernels: block reductions and scans %s; fp8 decoded %s\n", sg,
           (d->caps & DSA_CAP_FP16) ? "through half (cl_khr_fp16)" : "by bit operations");
}

static void print_device(int global, const dsa_device_info *d)
{
    char sel[32], name[40], vendor[20], mem[24], shared[24], sg[48], caps[96];
    cli_device_selector(d, sel, sizeof sel);
    cli_format_bytes(d->memory_bytes, mem, sizeof mem);
    cli_format_bytes(d->shared_mem_per_block, shared, sizeof shared);
    cli_format_subgroups(d->subgroup_sizes, sg, sizeof sg);
    cli_format_caps(d->caps, caps, sizeof caps);
    printf("%3d  %-10s %-28s %-12s %10s %5u %10s  %s\n", global, sel,
           clip(d->name, name, 28), clip(d->vendor, vendor, 12), mem, d->compute_units, shared, sg);
    printf("     driver %s, runtime %s%s%s; caps: %s%s%s%s\n",
           d->driver_version[0] ? d->driver_version : "-",
           d->runtime_version[0] ? d->runtime_version : "-",
           d->platform[0] ? ", platform " : "", d->platform, caps,
           d->matrix_units[0] ? "; matrix units: " : "", d->matrix_units,
           d->is_emulation ? " (CPU emulation: never chosen by auto)" : "");
    if (d->backend == DSA_BACKEND_OPENCL) print_opencl_paths(d);
    if (d->features[0]) printf("     features: %s\n", d->features);
}

static int print_devices(void)
{
    int count = 0;
    dsa_status st = dsa_device_count(&count);
    if (st != DSA_SUCCESS)
        return cli_fail_status("devices", st);
    printf("%3s  %-10s %-28s %-12s %10s %5s %10s  %s\n", "#", "selector", "name", "vendor",
           "memory", "CUs", "shared", "subgroups");
    for (int i = 0; i < count; i++) {
        dsa_device_info info;
        memset(&info, 0, sizeof info);
        st = dsa_device_get_info(i, &info);
        if (st != DSA_SUCCESS)
            return cli_fail_status("devices", st);
        print_device(i, &info);
    }
    if (count == 0)
        printf("(no device found)\n");
    return CLI_OK;
}

static void print_unavailable(void)
{
    int first = 1;
    for (int b = 0; b < DSA_BACKEND_COUNT; b++) {
        int available = 0;
        const char *reason = NULL;
        dsa_status st = dsa_backend_available((dsa_backend)b, &available, &reason);
        if (st == DSA_SUCCESS && available)
            continue;
        if (first)
            printf("\n");
        first = 0;
        if (st != DSA_SUCCESS && st != DSA_ERROR_BACKEND_UNAVAILABLE)
            reason = dsa_last_error();
        printf("%s: unavailable: %s\n", dsa_backend_name((dsa_backend)b),
               (reason && reason[0]) ? reason : "(no reason given)");
    }
}

int cmd_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        }
        return cli_usage_error("devices", "unexpected argument '%s'", argv[i]);
    }
    int rc = print_devices();
    print_unavailable();
    return rc;
}
