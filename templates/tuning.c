/* The tuning overlay (DESIGN.md invariant 6): DSA_TUNING names a file of lines
 *
 *     # comment
 *     KERNEL [@DEVICE]  name=value, name=value ...
 *
 * where KERNEL is a kernel name or `*`, and DEVICE (optional) is matched case-insensitively as a
 * substring of the device's name, vendor or platform. Matching lines apply in file order over the
 * kernel's defaults, so later lines win. The file is read once per process, on first use; an
 * error (unreadable file, unknown field, bad value) is reported on every op that would use it,
 * naming file and line, rather than silently ignored. */
#include "template.h"
#include "internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RULES 256

typedef struct rule {
    char kernel[48];
    char device[64];
    char assignments[192];
    int line;
} rule;

static rule rules[MAX_RULES];
static int n_rules;
static char load_error[512];
static char path[512];
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static int parse_line(char *line, int no, rule *r)
{
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *p = line;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return 0;
    memset(r, 0, sizeof *r);
    r->line = no;
    size_t n = strcspn(p, " \t@");
    snprintf(r->kernel, sizeof r->kernel, "%.*s", (int)(n < sizeof r->kernel ? n : sizeof r->kernel - 1), p);
    p += n;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '@') {
        p++;
        n = strcspn(p, " \t");
        snprintf(r->device, sizeof r->device, "%.*s", (int)(n < sizeof r->device ? n : sizeof r->device - 1), p);
        p += n;
    }
    snprintf(r->assignments, sizeof r->assignments, "%s", p);
    r->assignments[strcspn(r->assignments, "\r\n")] = '\0';
    return 1;
}

static void load(void)
{
    const char *env = getenv("DSA_TUNING");
    if (!env || !*env) return;
    snprintf(path, sizeof path, "%s", env);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(load_error, sizeof load_error, "DSA_TUNING: cannot open \"%.480s\"", path);
        return;
    }
    char line[512];
    int no = 0;
    while (fgets(line, sizeof line, f) && n_rules < MAX_RULES) {
        no++;
        if (parse_line(line, no, &rules[n_rules])) n_rules++;
    }
    fclose(f);
    dsa_log(DSA_LOG_INFO, "op", "DSA_TUNING: %d rule(s) from %s", n_rules, path);
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return n == 0;
}

dsa_status dsa_tuning_apply(const dsa_kernel_def *k, const dsa_device_info *dev, dsa_spec *spec)
{
    pthread_once(&loaded, load);
    if (load_error[0]) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s", load_error);
    for (int i = 0; i < n_rules; i++) {
        const rule *r = &rules[i];
        if (strcmp(r->kernel, "*") != 0 && strcmp(r->kernel, k->name) != 0) continue;
        if (r->device[0] && (!dev || !(contains_ci(dev->name, r->device) || contains_ci(dev->vendor, r->device) ||
                                       contains_ci(dev->platform, r->device))))
            continue;
        dsa_spec trial = *spec;
        dsa_status st = dsa_spec_parse(&trial, r->assignments);
        if (st != DSA_SUCCESS)
            return dsa_fail(st, "DSA_TUNING %s:%d: %s", path, r->line, dsa_last_error());
        *spec = trial;
    }
    return DSA_SUCCESS;
}
