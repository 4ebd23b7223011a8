/* Compile failures: one message format for every compiler (NVRTC, hiprtc, clBuildProgram, glslang,
 * clang): the compiler's log, then the generated source lines it points at, numbered, so a failure
 * can be read without re-running codegen (issue: "a failure shows the compiler log and the
 * offending generated lines"). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MARKED 8 /* distinct source lines quoted from one log */

/* Line numbers a log mentions. Recognised forms: "name(12): error" (NVRTC), "file:12:3: error"
 * (clang, PoCL, hiprtc), "ERROR: 0:12: ..." (glslang), "<source>:12:3" (generic). */
static int log_lines(const char *log, long *lines, int max)
{
    int n = 0;
    for (const char *p = log; *p && n < max; p++) {
        long v = 0;
        const char *q = NULL;
        if (*p == '(' && p[1] >= '0' && p[1] <= '9') q = p + 1;
        else if (*p == ':' && p[1] >= '0' && p[1] <= '9') q = p + 1;
        if (!q) continue;
        char *end;
        v = strtol(q, &end, 10);
        int closes = (*p == '(' && *end == ')') || (*p == ':' && *end == ':');
        /* glslang writes "0:LINE:", so the first number after "ERROR: " is the string index. */
        if (!closes || v <= 0) continue;
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= lines[i] == v;
        if (!dup) lines[n++] = v;
        p = end - 1;
    }
    return n;
}

/* Appends line `no` of source (1-based) with its number to buf. */
static size_t quote_line(char *buf, size_t cap, size_t used, const char *source, long no)
{
    const char *p = source;
    for (long l = 1; l < no && p; l++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p || !*p || used >= cap) return used;
    int len = (int)strcspn(p, "\n");
    int w = snprintf(buf + used, cap - used, "  %5ld | %.*s\n", no, len > 160 ? 160 : len, p);
    return w > 0 ? used + (size_t)w : used;
}

dsa_status dsa_compile_failure(const char *compiler, const char *kernel, const char *source, const char *log)
{
    if (!log) log = "(no log)";
    dsa_log(DSA_LOG_ERROR, "compile", "%s failed on %s:\n%s", compiler, kernel, log);
    char quoted[1024];
    size_t used = 0;
    quoted[0] = '\0';
    long lines[MAX_MARKED];
    int n = source ? log_lines(log, lines, MAX_MARKED) : 0;
    for (int i = 0; i < n; i++) used = quote_line(quoted, sizeof quoted, used, source, lines[i]);
    return dsa_fail(DSA_ERROR_COMPILE, "%s failed to compile %s:\n%.900s%s%s", compiler, kernel, log,
                    used ? "\ngenerated lines:\n" : "", quoted);
}
