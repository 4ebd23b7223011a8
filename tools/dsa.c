/* The `dsa` command: a thin front end over libdsa's public API for people running the kernels,
 * the conformance suite and the benchmarks on a device. This file only dispatches; each
 * subcommand lives in its own file (cmd_*.c). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list devices and unavailable backends"},
    {"conformance", cmd_conformance, "run the conformance suite on devices"},
    {"bench", cmd_bench, "time each op on a device"},
    {"run", cmd_run, "run one op on .npy tensors"},
    {"codegen", cmd_codegen, "print the generated source of a kernel for a dialect"},
};

static void print_help(FILE *f)
{
    fprintf(f, "usage: dsa <command> [options]\n"
               "       dsa --version | --help\n\n"
               "DeepSeek Sparse Attention kernels (libdsa) on any device.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'dsa <command> --help' describes a command's options.\n"
               "Environment: DSA_DEVICE (default selector), DSA_LOG (library logging),\n"
               "DSA_CACHE_DIR, DSA_TUNING.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        /* The loaded library may be newer than the header the tool was built with: show both. */
        printf("dsa (libdsa) %s (built against API %d.%d.%d)\n", dsa_version_string(),
               DSA_VERSION_MAJOR, DSA_VERSION_MINOR, DSA_VERSION_PATCH);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dsa: unknown command '%s'\nTry 'dsa --help'.\n", argv[1]);
    return CLI_USAGE;
}
