/* JSON (cJSON) and Markdown forms of a conformance run (see conf_report.h). */
#include "conf_report.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *report_status_name(int status)
{
    switch (status) {
    case CONF_PASS: return "PASS";
    case CONF_FAIL: return "FAIL";
    case CONF_UNSUPPORTED: return "UNSUPPORTED";
    case CONF_ERROR: return "ERROR";
    default: return "?";
    }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static cJSON *device_json(const run_device *d)
{
    const dsa_device_info *i = &d->info;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "selector", d->selector);
    if (!d->have_info)
        return o;
    cJSON_AddStringToObject(o, "backend", dsa_backend_name(i->backend));
    cJSON_AddNumberToObject(o, "index", i->index);
    cJSON_AddStringToObject(o, "name", i->name);
    cJSON_AddStringToObject(o, "vendor", i->vendor);
    cJSON_AddStringToObject(o, "platform", i->platform);
    cJSON_AddStringToObject(o, "driver_version", i->driver_version);
    cJSON_AddStringToObject(o, "runtime_version", i->runtime_version);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)i->memory_bytes);
    cJSON_AddNumberToObject(o, "compute_units", i->compute_units);
    cJSON_AddNumberToObject(o, "caps", i->caps);
    cJSON_AddNumberToObject(o, "subgroup_sizes", i->subgroup_sizes);
    cJSON_AddStringToObject(o, "matrix_units", i->matrix_units);
    cJSON_AddBoolToObject(o, "is_cpu", i->is_cpu);
    cJSON_AddBoolToObject(o, "is_emulation", i->is_emulation);
    return o;
}

static cJSON *counts_json(const int counts[4], double seconds)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "passed", counts[CONF_PASS]);
    cJSON_AddNumberToObject(o, "failed", counts[CONF_FAIL]);
    cJSON_AddNumberToObject(o, "unsupported", counts[CONF_UNSUPPORTED]);
    cJSON_AddNumberToObject(o, "errors", counts[CONF_ERROR]);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    return o;
}

/* Non-finite metric values become null (cJSON writes them so), which readers must accept. */
static cJSON *case_json(int index, const conf_case *c, const conf_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", index + 1);
    cJSON_AddStringToObject(o, "op", c->op);
    cJSON_AddStringToObject(o, "dtype", c->dtype);
    cJSON_AddStringToObject(o, "shape", c->shape);
    cJSON_AddStringToObject(o, "variant", c->variant);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddStringToObject(o, "status", report_status_name(r->status));
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddStringToObject(o, "message", r->message);
    cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
    for (int m = 0; m < r->n_metrics && m < 8; m++) {
        cJSON *mo = cJSON_CreateObject();
        cJSON_AddStringToObject(mo, "name", r->metrics[m].name);
        cJSON_AddNumberToObject(mo, "value", r->metrics[m].value);
        cJSON_AddNumberToObject(mo, "bound", r->metrics[m].bound);
        cJSON_AddBoolToObject(mo, "ok", r->metrics[m].ok);
        cJSON_AddItemToArray(ms, mo);
    }
    return o;
}

static cJSON *run_device_json(const run_session *s, const run_device *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "device", device_json(d));
    if (d->error[0])
        cJSON_AddStringToObject(o, "error", d->error);
    cJSON_AddItemToObject(o, "summary", counts_json(d->counts, d->seconds));
    cJSON *cases = cJSON_AddArrayToObject(o, "cases");
    for (int i = 0; d->results && i < s->n_cases; i++)
        cJSON_AddItemToArray(cases, case_json(i, &s->cases[i], &d->results[i]));
    return o;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        snprintf(err, errlen, "cannot write %s", path);
    return ok;
}

int report_write_json(const run_session *s, const char *path, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    int totals[4] = {0, 0, 0, 0};
    double seconds = 0;
    cJSON_AddStringToObject(root, "library_version", dsa_version_string());
    cJSON_AddStringToObject(root, "date", s->date);
    cJSON_AddStringToObject(root, "mode", s->quick ? "quick" : "full");
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int d = 0; d < s->n_devices; d++) {
        cJSON_AddItemToArray(devs, run_device_json(s, &s->devices[d]));
        for (int k = 0; k < 4; k++)
            totals[k] += s->devices[d].counts[k];
        seconds += s->devices[d].seconds;
    }
    cJSON_AddItemToObject(root, "summary", counts_json(totals, seconds));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    int ok = write_text(path, text, err, errlen);
    free(text);
    return ok;
}

/* ---- Markdown -------------------------------------------------------------------------------- */

/* Table cells must not contain '|' or newlines. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static void md_metrics(FILE *f, const conf_result *r)
{
    for (int m = 0; m < r->n_metrics && m < 8; m++) {
        const conf_metric *x = &r->metrics[m];
        fputs(m ? "; " : "", f);
        md_cell(f, x->name);
        fprintf(f, x->ok ? " %.3g <= %.3g" : " **%.3g > %.3g**", x->value, x->bound);
    }
    if (r->n_metrics == 0)
        fputs("-", f);
}

static void md_device_header(FILE *f, const run_device *d)
{
    const dsa_device_info *i = &d->info;
    fprintf(f, "## %s: %s\n\n| | |\n|---|---|\n", d->selector, d->have_info ? i->name : "?");
    if (d->have_info) {
        fprintf(f, "| Backend | %s |\n| Device | ", dsa_backend_name(i->backend));
        md_cell(f, i->name);
        fputs(" |\n| Vendor | ", f);
        md_cell(f, i->vendor);
        fputs(" |\n| Driver | ", f);
        md_cell(f, i->driver_version[0] ? i->driver_version : "-");
        fputs(" |\n| Runtime | ", f);
        md_cell(f, i->runtime_version[0] ? i->runtime_version : "-");
        if (i->platform[0]) {
            fputs(" |\n| Platform | ", f);
            md_cell(f, i->platform);
        }
        /* The capabilities choose the kernels' paths (subgroups, inline PTX, half): the report
         * says which ran. */
        char caps[128], sizes[64];
        cli_format_caps(i->caps, caps, sizeof caps);
        cli_format_subgroups(i->subgroup_sizes, sizes, sizeof sizes);
        fprintf(f, " |\n| Capabilities | %s; subgroup sizes %s |\n| Compute units | %u |\n", caps, sizes,
                i->compute_units);
    }
    fprintf(f, "| Result | %d passed, %d failed, %d unsupported, %d errors in %.1f s |\n\n",
            d->counts[CONF_PASS], d->counts[CONF_FAIL], d->counts[CONF_UNSUPPORTED],
            d->counts[CONF_ERROR], d->seconds);
}

/* passed/total per op, in the order ops first appear in the case list. */
static void md_op_summary(FILE *f, const run_session *s, const run_device *d)
{
    fputs("### Summary per op\n\n| op | passed / total | failed | unsupported | errors |\n"
          "|---|---|---|---|---|\n", f);
    for (int i = 0; i < s->n_cases; i++) {
        int seen = 0, c[4] = {0, 0, 0, 0}, total = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(s->cases[j].op, s->cases[i].op) == 0;
        if (seen)
            continue;
        for (int j = i; j < s->n_cases; j++)
            if (strcmp(s->cases[j].op, s->cases[i].op) == 0) {
                int st = d->results[j].status;
                c[st >= 0 && st < 4 ? st : CONF_ERROR]++;
                total++;
            }
        fprintf(f, "| %s | %d / %d | %d | %d | %d |\n", s->cases[i].op, c[CONF_PASS], total,
                c[CONF_FAIL], c[CONF_UNSUPPORTED], c[CONF_ERROR]);
    }
    fputc('\n', f);
}

static void md_case_title(FILE *f, int i, const conf_case *c)
{
    fprintf(f, "%d. **%s** %s ", i + 1, c->op, c->dtype);
    md_cell(f, c->shape);
    if (c->variant[0]) {
        fputs(" (", f);
        md_cell(f, c->variant);
        fputc(')', f);
    }
}

/* Everything that did not pass, first, with its message: what a reader looks for. */
static void md_failures(FILE *f, const run_session *s, const run_device *d)
{
    int any = 0;
    for (int i = 0; i < s->n_cases; i++) {
        const conf_result *r = &d->results[i];
        if (r->status == CONF_PASS)
            continue;
        if (!any)
            fputs("### Not passed\n\n", f);
        any = 1;
        fprintf(f, "- ");
        md_case_title(f, i, &s->cases[i]);
        fprintf(f, ": %s: ", report_status_name(r->status));
        md_cell(f, r->message[0] ? r->message : "(no message)");
        fputs(". Metrics: ", f);
        md_metrics(f, r);
        fputc('\n', f);
    }
    if (any)
        fputc('\n', f);
}

static void md_all_cases(FILE *f, const run_session *s, const run_device *d)
{
    fputs("### All cases\n\n| # | op | dtype | shape | variant | status | metrics (value <= bound) | s |\n"
          "|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < s->n_cases; i++) {
        const conf_case *c = &s->cases[i];
        const conf_result *r = &d->results[i];
        fprintf(f, "| %d | %s | %s | ", i + 1, c->op, c->dtype);
        md_cell(f, c->shape);
        fputs(" | ", f);
        md_cell(f, c->variant);
        fprintf(f, " | %s | ", report_status_name(r->status));
        md_metrics(f, r);
        fprintf(f, " | %.3f |\n", r->seconds);
    }
    fputc('\n', f);
}

static void md_device(FILE *f, const run_session *s, const run_device *d)
{
    md_device_header(f, d);
    if (d->error[0]) {
        fputs("The device could not be opened: ", f);
        md_cell(f, d->error);
        fputs("\n\n", f);
    }
    if (!d->results)
        return;
    md_op_summary(f, s, d);
    md_failures(f, s, d);
    md_all_cases(f, s, d);
}

int report_write_markdown(const run_session *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", path);
        return 0;
    }
    fprintf(f, "# libdsa conformance report\n\n- Library: libdsa %s\n- Date: %s\n"
               "- Mode: %s (%d cases per device)\n- Devices: %d\n\n",
            dsa_version_string(), s->date, s->quick ? "quick" : "full", s->n_cases,
            s->n_devices);
    fputs("Each case runs the op on the device and compares it with the fp64 oracle against the "
          "bars of docs/ops.md; a metric passes when its value <= its bound.\n\n", f);
    for (int d = 0; d < s->n_devices; d++)
        md_device(f, s, &s->devices[d]);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        return 0;
    }
    return 1;
}
