/* Shared helpers of the `dsa` command (see cli.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_fail_status(const char *what, dsa_status st)
{
    const char *msg = dsa_last_error();
    fprintf(stderr, "dsa: %s: %s: %s\n", what, dsa_status_string(st),
            (msg && msg[0]) ? msg : "(no message)");
    return CLI_FAILED;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dsa %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'dsa %s --help'.\n", cmd);
    return CLI_USAGE;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dsa: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAILED;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0; /* "--jsonx" is some other option */
    if (*i + 1 >= argc)
        return -1;
    *i += 1;
    *value = argv[*i];
    return 1;
}

int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long v;
    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = (int64_t)v;
    return 1;
}

int cli_parse_double(const char *s, double *out)
{
    char *end = NULL;
    double v;
    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0')
        return 0;
    *out = v;
    return 1;
}

void cli_device_selector(const dsa_device_info *info, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", dsa_backend_name(info->backend), info->index);
}

void cli_format_bytes(uint64_t bytes, char *buf, size_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, n, "%.1f %s", v, units[u]);
}

void cli_format_caps(uint32_t caps, char *buf, size_t n)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        {DSA_CAP_FP16, "fp16"},           {DSA_CAP_BF16, "bf16"},
        {DSA_CAP_FP8, "fp8"},             {DSA_CAP_INT8_DOT, "int8dot"},
        {DSA_CAP_SUBGROUPS, "subgroups"}, {DSA_CAP_MATRIX_UNITS, "matrix"},
        {DSA_CAP_INT64, "int64"},         {DSA_CAP_FP64, "fp64"},
        {DSA_CAP_INLINE_PTX, "inline-ptx"},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(caps & names[i].bit) || used >= n)
            continue;
        used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "", names[i].name);
    }
    if (!buf[0])
        snprintf(buf, n, "-");
}

void cli_format_subgroups(uint32_t mask, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int bit = 0; bit < 32; bit++) {
        if (!(mask & (1u << bit)) || used >= n)
            continue;
        used += (size_t)snprintf(buf + used, n - used, "%s%u", used ? "," : "", 1u << bit);
    }
    if (!buf[0])
        snprintf(buf, n, "-");
}

void cli_format_date(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(buf, n, "%Y-%m-%d %H:%M:%S %z", &tm) == 0 && n)
        buf[0] = '\0';
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

dsa_op cli_op_from_name(const char *name)
{
    for (int op = 1; op < DSA_OP_COUNT; op++)
        if (strcmp(dsa_op_name((dsa_op)op), name) == 0)
            return (dsa_op)op;
    return (dsa_op)0;
}

void cli_list_ops(void)
{
    for (int op = 1; op < DSA_OP_COUNT; op++)
        fprintf(stderr, "%s%s", op > 1 ? ", " : "", dsa_op_name((dsa_op)op));
    fputc('\n', stderr);
}

dsa_dtype cli_dtype_from_name(const char *name)
{
    static const struct { const char *name; dsa_dtype t; } names[] = {
        {"fp8", DSA_FP8_E4M3}, {"e4m3", DSA_FP8_E4M3}, {"fp8_e4m3", DSA_FP8_E4M3},
        {"bf16", DSA_BF16},    {"fp16", DSA_FP16},     {"fp32", DSA_FP32},
        {"int32", DSA_INT32},  {"uint8", DSA_UINT8},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].t;
    return DSA_DTYPE_INVALID;
}
