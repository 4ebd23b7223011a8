/* Shared helpers of the `dsa` command: option parsing, error reporting, device naming.
 * Every subcommand is one function `int cmd_xxx(int argc, char **argv)` (argv[0] is the
 * subcommand's name) that returns the process exit status:
 *   0  success
 *   1  the work failed (a libdsa error, a failing conformance case, an unreadable file)
 *   2  bad usage (unknown option, missing value) */
#ifndef DSA_TOOL_CLI_H
#define DSA_TOOL_CLI_H

#include "dsa.h"

#include <stddef.h>
#include <stdint.h>

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cmd_devices(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_codegen(int argc, char **argv);

/* "dsa: <what>: <STATUS>: <dsa_last_error()>" on stderr; returns CLI_FAILED. */
int cli_fail_status(const char *what, dsa_status st);
/* "dsa <cmd>: <message>" plus a hint to --help, on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "dsa: <message>" on stderr; returns CLI_FAILED. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cli_is_help(const char *arg);
/* Matches argv[*i] against option `name` ("--json"), in both "--json FILE" and "--json=FILE"
 * forms. Returns 1 and sets *value (advancing *i past a separate value) on a match, 0 when the
 * argument is another option, -1 when the option is present but its value is missing. */
int cli_option(int argc, char **argv, int *i, const char *name, const char **value);

/* Strict number parsing: the whole string must be a number in range. Return 1 on success. */
int cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_parse_double(const char *s, double *out);

/* "cpu:0", "cuda:1": the selector naming exactly this device. */
void cli_device_selector(const dsa_device_info *info, char *buf, size_t n);
/* "12.0 GiB" style. */
void cli_format_bytes(uint64_t bytes, char *buf, size_t n);
/* "fp16 bf16 fp8 subgroups" from DSA_CAP_* bits; "-" if none. */
void cli_format_caps(uint32_t caps, char *buf, size_t n);
/* "8,16,32" from the subgroup_sizes bit mask; "-" if none. */
void cli_format_subgroups(uint32_t mask, char *buf, size_t n);

/* Local time as "2026-11-03 14:05:09 +0000" (for reports). */
void cli_format_date(char *buf, size_t n);
/* Wall clock in seconds (CLOCK_MONOTONIC). */
double cli_now(void);

/* Looks an op up by its dsa_op_name(); returns 0 (not an op) if unknown. */
dsa_op cli_op_from_name(const char *name);
/* "fp8" / "e4m3" / "fp8_e4m3", "bf16", "fp16", "fp32", "int32", "uint8"; DSA_DTYPE_INVALID else. */
dsa_dtype cli_dtype_from_name(const char *name);
/* Prints the op names, comma separated, to stderr (for error messages). */
void cli_list_ops(void);

#endif
