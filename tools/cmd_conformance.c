/* `dsa conformance`: runs the conformance suite (tests/conformance) on one or more devices,
 * printing one line per case as it completes, then per-device and overall summaries; optionally
 * writes the full results as JSON and as a Markdown report (conf_report.c). */
#include "cli.h"
#include "conf_report.h"
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 64
#define LINE_WIDTH 100
#define INDENT 11 /* width of "[  12/140] " */

typedef struct conf_opts {
    const char *devices[MAX_DEVICES];
    int n_devices;
    const char *ops[DSA_OP_COUNT];
    int n_ops;
    int quick, list;
    const char *json, *report;
} conf_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dsa conformance [--device SEL]... [--quick] [--op NAME]... [--list]\n"
            "                       [--json FILE] [--report FILE.md]\n\n"
            "Runs every conformance case (op x dtype x shape x variant) on each device and\n"
            "compares with the fp64 oracle against the bars of docs/ops.md.\n\n"
            "  --device SEL   a device selector (cpu, cuda:0, opencl:nvidia...); may repeat;\n"
            "                 default: every device found, as backend:index\n"
            "  --quick        the reduced case list (smaller shapes, fewer variants)\n"
            "  --op NAME      only the cases of this op; may repeat\n"
            "  --list         print the cases without running them\n"
            "  --json FILE    write every result (device, version, date, metrics) as JSON\n"
            "  --report FILE  write a Markdown report (failures first)\n\n"
            "Exit status: 0 when every case passed or is unsupported, 1 on any failure or error,\n"
            "2 on bad usage.\n");
}

static int parse_args(int argc, char **argv, conf_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(argv[i], "--list") == 0) {
            o->list = 1;
        } else if ((m = cli_option(argc, argv, &i, "--device", &v)) != 0) {
            if (m < 0 || o->n_devices == MAX_DEVICES)
                return cli_usage_error("conformance", "--device needs a selector (at most %d)", MAX_DEVICES);
            o->devices[o->n_devices++] = v;
        } else if ((m = cli_option(argc, argv, &i, "--op", &v)) != 0) {
            if (m < 0)
                return cli_usage_error("conformance", "--op needs an op name");
            if (cli_op_from_name(v) == 0) {
                fprintf(stderr, "ops: ");
                cli_list_ops();
                return cli_usage_error("conformance", "unknown op '%s'", v);
            }
            if (o->n_ops < DSA_OP_COUNT)
                o->ops[o->n_ops++] = v;
        } else if ((m = cli_option(argc, argv, &i, "--json", &v)) != 0) {
            if (m < 0)
                return cli_usage_error("conformance", "--json needs a file name");
            o->json = v;
        } else if ((m = cli_option(argc, argv, &i, "--report", &v)) != 0) {
            if (m < 0)
                return cli_usage_error("conformance", "--report needs a file name");
            o->report = v;
        } else {
            return cli_usage_error("conformance", "unknown argument '%s'", argv[i]);
        }
    }
    return CLI_OK;
}

/* ---- case list ------------------------------------------------------------------------------ */

static int op_selected(const conf_opts *o, const char *op)
{
    if (o->n_ops == 0)
        return 1;
    for (int i = 0; i < o->n_ops; i++)
        if (strcmp(o->ops[i], op) == 0)
            return 1;
    return 0;
}

/* Keeps the selected cases, in order, at the front of the list. */
static void filter_cases(conf_list *l, const conf_opts *o)
{
    int n = 0;
    for (int i = 0; i < l->n; i++)
        if (op_selected(o, l->items[i].op))
            l->items[n++] = l->items[i];
    l->n = n;
}

/* ---- progress lines ------------------------------------------------------------------------- */

/* Prints tokens separated by spaces, starting a new indented line instead of passing
 * LINE_WIDTH columns, so long shapes and metric lists stay readable in a terminal. */
typedef struct wrapper { int col; } wrapper;

static void put_token(wrapper *w, const char *tok)
{
    int len = (int)strlen(tok);
    if (w->col > INDENT && w->col + 1 + len > LINE_WIDTH) {
        printf("\n%*s", INDENT, "");
        w->col = INDENT;
    } else if (w->col > 0) {
        putchar(' ');
        w->col++;
    }
    fputs(tok, stdout);
    w->col += len;
}

/* Puts each space-separated word of text, so that lines break between words. */
static void put_words(wrapper *w, const char *prefix, const char *text, const char *suffix)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s%s", prefix, text, suffix);
    for (char *save = NULL, *word = strtok_r(buf, " ", &save); word;
         word = strtok_r(NULL, " ", &save))
        put_token(w, word);
}

static void print_case_line(int i, int n, const conf_case *c, const conf_result *r)
{
    char buf[256];
    wrapper w = {0};
    snprintf(buf, sizeof buf, "[%4d/%d] %-21s %-4s", i + 1, n, c->op, c->dtype);
    put_token(&w, buf);
    put_words(&w, "", c->shape, "");
    if (c->variant[0])
        put_words(&w, "(", c->variant, ")");
    put_token(&w, report_status_name(r->status));
    for (int m = 0; m < r->n_metrics && m < 8; m++) {
        const conf_metric *x = &r->metrics[m];
        snprintf(buf, sizeof buf, "%s=%.2g%s%.2g", x->name, x->value, x->ok ? "<=" : ">", x->bound);
        put_token(&w, buf);
    }
    snprintf(buf, sizeof buf, "%.2fs", r->seconds);
    put_token(&w, buf);
    putchar('\n');
    if (r->status != CONF_PASS)
        printf("%*s%s\n", INDENT, "", r->message[0] ? r->message : "(no message)");
    fflush(stdout);
}

/* ---- running -------------------------------------------------------------------------------- */

static void device_summary(const run_device *d)
{
    printf("%s%s%s: %d passed, %d failed, %d unsupported, %d errors in %.1f s\n\n", d->selector,
           d->have_info ? " " : "", d->have_info ? d->info.name : "", d->counts[CONF_PASS],
           d->counts[CONF_FAIL], d->counts[CONF_UNSUPPORTED], d->counts[CONF_ERROR], d->seconds);
}

/* Runs every case on one device. A device that cannot be opened counts as one error. */
static void run_device_cases(run_session *s, run_device *d)
{
    dsa_context *ctx = NULL;
    dsa_status st = dsa_context_create(d->selector, &ctx);
    if (st != DSA_SUCCESS) {
        snprintf(d->error, sizeof d->error, "%s: %s", dsa_status_string(st), dsa_last_error());
        cli_fail_status(d->selector, st);
        d->counts[CONF_ERROR]++;
        return;
    }
    d->have_info = dsa_context_get_info(ctx, &d->info) == DSA_SUCCESS;
    printf("== %s: %s (%s), %d cases, %s ==\n", d->selector, d->have_info ? d->info.name : "?",
           d->have_info ? dsa_backend_name(d->info.backend) : "?", s->n_cases,
           s->quick ? "quick" : "full");
    d->results = calloc((size_t)(s->n_cases ? s->n_cases : 1), sizeof *d->results);
    if (!d->results) {
        snprintf(d->error, sizeof d->error, "out of memory");
        d->counts[CONF_ERROR]++;
        dsa_context_destroy(ctx);
        return;
    }
    double t0 = cli_now();
    for (int i = 0; i < s->n_cases; i++) {
        conf_result *r = &d->results[i];
        conf_run_case(ctx, &s->cases[i], r);
        int stt = r->status >= 0 && r->status < 4 ? r->status : CONF_ERROR;
        d->counts[stt]++;
        print_case_line(i, s->n_cases, &s->cases[i], r);
    }
    d->seconds = cli_now() - t0;
    dsa_context_destroy(ctx);
}

/* Without --device: every device found, each named by its backend:index selector. */
static int default_devices(run_session *s)
{
    int count = 0;
    dsa_status st = dsa_device_count(&count);
    if (st != DSA_SUCCESS)
        return cli_fail_status("conformance", st);
    if (count == 0)
        return cli_error("conformance: no device found (see 'dsa devices')");
    s->devices = calloc((size_t)count, sizeof *s->devices);
    if (!s->devices)
        return cli_error("conformance: out of memory");
    for (int i = 0; i < count; i++) {
        dsa_device_info info;
        st = dsa_device_get_info(i, &info);
        if (st != DSA_SUCCESS)
            return cli_fail_status("conformance", st);
        cli_device_selector(&info, s->devices[i].selector, sizeof s->devices[i].selector);
    }
    s->n_devices = count;
    return CLI_OK;
}

static int named_devices(run_session *s, const conf_opts *o)
{
    s->devices = calloc((size_t)o->n_devices, sizeof *s->devices);
    if (!s->devices)
        return cli_error("conformance: out of memory");
    for (int i = 0; i < o->n_devices; i++)
        snprintf(s->devices[i].selector, sizeof s->devices[i].selector, "%s", o->devices[i]);
    s->n_devices = o->n_devices;
    return CLI_OK;
}

static int write_outputs(const run_session *s, const conf_opts *o)
{
    char err[256];
    int rc = CLI_OK;
    if (o->json && !report_write_json(s, o->json, err, sizeof err))
        rc = cli_error("conformance: %s", err);
    if (o->report && !report_write_markdown(s, o->report, err, sizeof err))
        rc = cli_error("conformance: %s", err);
    return rc;
}

static int run_all(run_session *s, const conf_opts *o)
{
    int totals[4] = {0, 0, 0, 0};
    for (int d = 0; d < s->n_devices; d++) {
        run_device_cases(s, &s->devices[d]);
        device_summary(&s->devices[d]);
        for (int k = 0; k < 4; k++)
            totals[k] += s->devices[d].counts[k];
    }
    printf("conformance: %d passed, %d failed, %d unsupported, %d errors on %d device(s)\n",
           totals[CONF_PASS], totals[CONF_FAIL], totals[CONF_UNSUPPORTED], totals[CONF_ERROR],
           s->n_devices);
    int rc = write_outputs(s, o);
    return (totals[CONF_FAIL] || totals[CONF_ERROR]) ? CLI_FAILED : rc;
}

static void list_cases(const run_session *s)
{
    for (int i = 0; i < s->n_cases; i++) {
        const conf_case *c = &s->cases[i];
        char head[96];
        wrapper w = {0};
        snprintf(head, sizeof head, "[%4d/%d] %-21s %-4s", i + 1, s->n_cases, c->op, c->dtype);
        put_token(&w, head);
        put_words(&w, "", c->shape, "");
        if (c->variant[0])
            put_words(&w, "(", c->variant, ")");
        putchar('\n');
    }
}

int cmd_conformance(int argc, char **argv)
{
    conf_opts o;
    run_session s;
    conf_list l = {NULL, 0, 0};
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        }
    int rc = parse_args(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    conf_all_cases(&l, o.quick);
    filter_cases(&l, &o);
    s.cases = l.items;
    s.n_cases = l.n;
    s.quick = o.quick;
    cli_format_date(s.date, sizeof s.date);
    if (l.n == 0)
        rc = cli_error("conformance: no case matches the --op selection");
    else if (o.list)
        list_cases(&s);
    else
        rc = o.n_devices ? named_devices(&s, &o) : default_devices(&s);
    if (rc == CLI_OK && !o.list)
        rc = run_all(&s, &o);
    for (int d = 0; d < s.n_devices; d++)
        free(s.devices[d].results);
    free(s.devices);
    conf_list_free(&l);
    return rc;
}
