/* Benchmark results as JSON (see record.h), written with cJSON. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "record.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct perf_record {
    cJSON *root;
    cJSON *results;
    cJSON *last;
};

void perf_date(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && n)
        buf[0] = '\0';
}

/* Keeps only the first line, without its newline. */
static void first_line(char *s)
{
    s[strcspn(s, "\r\n")] = '\0';
}

void perf_commit(char *buf, size_t n)
{
    const char *env = getenv("DSA_COMMIT");
    buf[0] = '\0';
    if (env && env[0]) {
        snprintf(buf, n, "%s", env);
        first_line(buf);
        return;
    }
    /* Best effort: outside a git checkout (or with no commit yet) the commit stays unknown. */
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (!p)
        return;
    if (!fgets(buf, (int)n, p))
        buf[0] = '\0';
    if (pclose(p) != 0)
        buf[0] = '\0';
    first_line(buf);
}

static cJSON *device_json(const dsa_device_info *d, const char *selector)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "selector", selector ? selector : "");
    cJSON_AddStringToObject(o, "backend", dsa_backend_name(d->backend));
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "platform", d->platform);
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "runtime_version", d->runtime_version);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)d->memory_bytes);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddBoolToObject(o, "is_cpu", d->is_cpu);
    cJSON_AddBoolToObject(o, "is_emulation", d->is_emulation);
    return o;
}

perf_record *perf_record_create(const dsa_device_info *device, const char *selector,
                                const char *commit)
{
    perf_record *rec = calloc(1, sizeof *rec);
    char date[32];
    if (!rec)
        return NULL;
    rec->root = cJSON_CreateObject();
    perf_date(date, sizeof date);
    cJSON_AddItemToObject(rec->root, "device", device_json(device, selector));
    cJSON_AddStringToObject(rec->root, "library_version", dsa_version_string());
    if (commit && commit[0])
        cJSON_AddStringToObject(rec->root, "commit", commit);
    else
        cJSON_AddNullToObject(rec->root, "commit");
    cJSON_AddStringToObject(rec->root, "date", date);
    cJSON_AddStringToObject(rec->root, "method",
                            "dsa_prepare, warm-up runs, then the median of N timed runs; each run "
                            "is the op plus dsa_synchronize, wall clock (CLOCK_MONOTONIC)");
    rec->results = cJSON_AddArrayToObject(rec->root, "results");
    return rec;
}

static cJSON *entry(perf_record *rec, dsa_op op, const char *shape)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", dsa_op_name(op));
    cJSON_AddStringToObject(o, "shape", shape);
    cJSON_AddItemToArray(rec->results, o);
    rec->last = o;
    return o;
}

static void add_stats(cJSON *o, const perf_stats *st)
{
    cJSON_AddNumberToObject(o, "reps", st->reps);
    cJSON_AddNumberToObject(o, "median_ms", st->median_ms);
    cJSON_AddNumberToObject(o, "min_ms", st->min_ms);
    cJSON_AddNumberToObject(o, "max_ms", st->max_ms);
}

void perf_record_add(perf_record *rec, dsa_op op, const char *shape, const perf_case *pc,
                     const perf_stats *st)
{
    if (!rec)
        return;
    cJSON *o = entry(rec, op, shape);
    cJSON_AddStringToObject(o, "status", "ok");
    add_stats(o, st);
    if (pc->flops > 0) {
        cJSON_AddNumberToObject(o, "flops", pc->flops);
        cJSON_AddNumberToObject(o, "gflops_per_s", st->gflops);
    }
    if (pc->bytes > 0) {
        cJSON_AddNumberToObject(o, "bytes", pc->bytes);
        cJSON_AddNumberToObject(o, "gbytes_per_s", st->gbps);
    }
}

void perf_record_add_error(perf_record *rec, dsa_op op, const char *shape, dsa_status status,
                           const char *message)
{
    if (!rec)
        return;
    cJSON *o = entry(rec, op, shape);
    cJSON_AddStringToObject(o, "status", dsa_status_string(status));
    cJSON_AddStringToObject(o, "message", message ? message : "");
}

void perf_record_add_peer(perf_record *rec, const char *peer, const perf_stats *peer_st,
                          double speedup, double diff)
{
    if (!rec || !rec->last)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", peer);
    add_stats(o, peer_st);
    cJSON_AddNumberToObject(o, "speedup", speedup);
    cJSON_AddNumberToObject(o, "diff_vs_peer", diff);
    cJSON_AddItemToObject(rec->last, "peer", o);
}

void perf_record_note(perf_record *rec, const char *key, const char *value)
{
    if (rec)
        cJSON_AddStringToObject(rec->root, key, value);
}

int perf_record_write(const perf_record *rec, const char *path, char *err, size_t errlen)
{
    char *text = rec ? cJSON_Print(rec->root) : NULL;
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        snprintf(err, errlen, "cannot write %s", path);
    free(text);
    return ok;
}

void perf_record_free(perf_record *rec)
{
    if (!rec)
        return;
    cJSON_Delete(rec->root);
    free(rec);
}
