/* `dsa codegen`: prints exactly what a backend compiles, for any kernel, dialect and
 * specialization, with no device present (DESIGN.md invariant 5). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dsa codegen --list\n"
               "       dsa codegen --dialect {cuda,hip,opencl,glsl,spirv} --kernel NAME [--param k=v]...\n\n"
               "Prints the generated source of a kernel template for one dialect (disassembled SPIR-V\n"
               "for spirv). --param sets specialization fields (block, tile_m, tile_n, tile_k, heads,\n"
               "dim, subgroup, matrix, stages, in_dtype, out_dtype); unset fields keep the kernel's\n"
               "portable defaults. --list prints the kernels and dialects.\n");
}

static int list_kernels(void)
{
    printf("kernels:\n");
    for (int i = 0; i < dsa_codegen_kernel_count(); i++)
        printf("  %-24s %s\n", dsa_codegen_kernel_name(i), dsa_codegen_kernel_summary(i));
    printf("dialects:\n  cuda hip opencl glsl spirv\n");
    return CLI_OK;
}

int cmd_codegen(int argc, char **argv)
{
    const char *dialect = NULL, *kernel = NULL, *value;
    char params[1024] = "";
    int list = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else if ((r = cli_option(argc, argv, &i, "--dialect", &value)) != 0) {
            if (r < 0) return cli_usage_error("codegen", "--dialect needs a value");
            dialect = value;
        } else if ((r = cli_option(argc, argv, &i, "--kernel", &value)) != 0) {
            if (r < 0) return cli_usage_error("codegen", "--kernel needs a value");
            kernel = value;
        } else if ((r = cli_option(argc, argv, &i, "--param", &value)) != 0) {
            if (r < 0 || !strchr(value, '=')) return cli_usage_error("codegen", "--param needs name=value");
            if (strlen(params) + strlen(value) + 2 > sizeof params)
                return cli_usage_error("codegen", "too many --param values");
            if (params[0]) strcat(params, ",");
            strcat(params, value);
        } else {
            return cli_usage_error("codegen", "unknown argument '%s'", argv[i]);
        }
    }
    if (list) return list_kernels();
    if (!dialect || !kernel) return cli_usage_error("codegen", "--dialect and --kernel are required (or --list)");
    char *source = NULL;
    dsa_status st = dsa_codegen(kernel, dialect, params, &source);
    if (st != DSA_SUCCESS) return cli_fail_status("codegen", st);
    fputs(source, stdout);
    dsa_free(source);
    return CLI_OK;
}
