/* `dsa bench`: times each op on one device at a default shape for its class (CPU or GPU),
 * through perf/bench.c; optionally records the results as JSON through perf/record.c. */
#include "bench.h"
#include "cli.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_opts {
    const char *device;
    int ops[DSA_OP_COUNT]; /* ops[op] != 0: selected; all when none is */
    int any_op;
    int reps, warmup;
    int shape_class;       /* -1: from the device, 0: CPU shapes, 1: GPU shapes */
    const char *shape_overrides[16];
    int n_overrides;
    dsa_dtype dtype;
    const char *json;
} bench_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dsa bench [--device SEL] [--op NAME]... [--reps N] [--warmup N]\n"
            "                 [--shape KEY=VAL[,KEY=VAL...]]... [--dtype DTYPE]\n"
            "                 [--cpu-shapes | --gpu-shapes] [--json FILE]\n\n"
            "Times each op (or those named by --op) on one device with random valid inputs:\n"
            "dsa_prepare, --warmup untimed runs (default 2), then the median of --reps runs\n"
            "(default 10), each the op plus dsa_synchronize, wall clock. Prints ms and GFLOP/s\n"
            "(attention, indexer) or GB/s (top-k, caches, quantization; see perf/README.md).\n\n"
            "  --device SEL   selector (default auto, or $DSA_DEVICE)\n"
            "  --shape K=V    override shape keys: S H Hq Dqk Skv topk B N Sq ctx page L k rows cols\n"
            "  --dtype DTYPE  the op's float-side dtype (indexer q/k, cache rows, quantize x...)\n"
            "  --cpu-shapes, --gpu-shapes\n"
            "                 use that class's default shapes (default: by the device's type)\n"
            "  --json FILE    record results (perf/results/<device>.json by convention);\n"
            "                 the commit comes from $DSA_COMMIT or git rev-parse\n");
}

static int parse_int_opt(const char *v, const char *name, int lo, int *out)
{
    int64_t x;
    if (!cli_parse_i64(v, lo, 1000000, &x))
        return cli_usage_error("bench", "%s needs an integer >= %d, got '%s'", name, lo, v);
    *out = (int)x;
    return CLI_OK;
}

static int parse_value_opt(bench_opts *o, const char *name, const char *v)
{
    if (strcmp(name, "--device") == 0) {
        o->device = v;
    } else if (strcmp(name, "--op") == 0) {
        dsa_op op = cli_op_from_name(v);
        if (op == 0) {
            fprintf(stderr, "ops: ");
            cli_list_ops();
            return cli_usage_error("bench", "unknown op '%s'", v);
        }
        o->ops[op] = o->any_op = 1;
    } else if (strcmp(name, "--reps") == 0) {
        return parse_int_opt(v, name, 1, &o->reps);
    } else if (strcmp(name, "--warmup") == 0) {
        return parse_int_opt(v, name, 0, &o->warmup);
    } else if (strcmp(name, "--shape") == 0) {
        if (o->n_overrides == 16)
            return cli_usage_error("bench", "too many --shape options");
        o->shape_overrides[o->n_overrides++] = v;
    } else if (strcmp(name, "--dtype") == 0) {
        o->dtype = cli_dtype_from_name(v);
        if (o->dtype == DSA_DTYPE_INVALID)
            return cli_usage_error("bench", "unknown dtype '%s'", v);
    } else {
        o->json = v;
    }
    return CLI_OK;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    static const char *valued[] = {"--device", "--op", "--reps", "--warmup",
                                   "--shape", "--dtype", "--json"};
    for (int i = 1; i < argc; i++) {
        int matched = 0;
        if (strcmp(argv[i], "--cpu-shapes") == 0 || strcmp(argv[i], "--gpu-shapes") == 0) {
            o->shape_class = argv[i][2] == 'g';
            continue;
        }
        for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !matched; k++) {
            const char *v = NULL;
            int m = cli_option(argc, argv, &i, valued[k], &v);
            if (m < 0)
                return cli_usage_error("bench", "%s needs a value", valued[k]);
            if (m > 0) {
                matched = 1;
                int rc = parse_value_opt(o, valued[k], v);
                if (rc != CLI_OK)
                    return rc;
            }
        }
        if (!matched)
            return cli_usage_error("bench", "unknown argument '%s'", argv[i]);
    }
    return CLI_OK;
}

/* Applies "K=V,K=V" overrides to s; only validates syntax and keys (the op ignores others). */
static int apply_overrides(const bench_opts *o, perf_shape *s)
{
    for (int i = 0; i < o->n_overrides; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", o->shape_overrides[i]);
        for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            int64_t v;
            if (!eq)
                return cli_usage_error("bench", "--shape wants KEY=VALUE, got '%s'", kv);
            *eq = '\0';
            if (!cli_parse_i64(eq + 1, 0, 1 << 30, &v) || !perf_shape_set(s, kv, v))
                return cli_usage_error("bench", "bad shape setting '%s=%s'", kv, eq + 1);
        }
    }
    if (o->dtype != DSA_DTYPE_INVALID)
        s->dtype = o->dtype;
    return CLI_OK;
}

static void print_rate(const perf_case *pc, const perf_stats *st)
{
    if (pc->flops > 0)
        printf("  %.1f GFLOP/s", st->gflops);
    if (pc->bytes > 0)
        printf("  %.1f GB/s", st->gbps);
    printf("\n");
}

/* Builds, times and reports one op; returns CLI_OK or CLI_FAILED. */
static int bench_one(dsa_context *ctx, dsa_op op, const perf_shape *s, const bench_opts *o,
                     perf_record *rec)
{
    char shape[160];
    perf_case pc;
    perf_stats st;
    perf_shape_format(op, s, shape, sizeof shape);
    printf("%-21s %-41s ", dsa_op_name(op), shape);
    fflush(stdout);
    dsa_status status = perf_case_build(ctx, op, s, 42, &pc);
    if (status == DSA_SUCCESS)
        status = perf_time(ctx, &pc, o->warmup, o->reps, &st);
    if (status != DSA_SUCCESS) {
        const char *msg = perf_error()[0] ? perf_error() : dsa_last_error();
        printf("ERROR %s\n", dsa_status_string(status));
        fflush(stdout);
        fprintf(stderr, "dsa: %s: %s: %s\n", dsa_op_name(op), dsa_status_string(status), msg);
        perf_record_add_error(rec, op, shape, status, msg);
        perf_case_free(&pc);
        return CLI_FAILED;
    }
    printf("%9.3f %9.3f", st.median_ms, st.min_ms);
    print_rate(&pc, &st);
    perf_record_add(rec, op, shape, &pc, &st);
    perf_case_free(&pc);
    return CLI_OK;
}

static int write_record(perf_record *rec, const char *path)
{
    char err[256];
    if (!perf_record_write(rec, path, err, sizeof err))
        return cli_error("bench: %s", err);
    printf("results written to %s\n", path);
    return CLI_OK;
}

static int bench_device(dsa_context *ctx, const bench_opts *o)
{
    dsa_device_info info;
    char sel[32], commit[64];
    dsa_status st = dsa_context_get_info(ctx, &info);
    if (st != DSA_SUCCESS)
        return cli_fail_status("bench", st);
    cli_device_selector(&info, sel, sizeof sel);
    int gpu = o->shape_class >= 0 ? o->shape_class : !info.is_cpu;
    printf("device %s: %s (%s), %u compute units; libdsa %s; %s shapes; median of %d\n", sel,
           info.name, info.vendor, info.compute_units, dsa_version_string(), gpu ? "GPU" : "CPU",
           o->reps);
    printf("%-21s %-41s %9s %9s  %s\n", "op", "shape", "median ms", "min ms", "rate");
    perf_commit(commit, sizeof commit);
    perf_record *rec = o->json ? perf_record_create(&info, sel, commit) : NULL;
    int rc = CLI_OK;
    for (int op = 1; op < DSA_OP_COUNT; op++) {
        perf_shape s;
        if (o->any_op && !o->ops[op])
            continue;
        perf_default_shape((dsa_op)op, gpu, &s);
        apply_overrides(o, &s); /* validated once in cmd_bench */
        if (bench_one(ctx, (dsa_op)op, &s, o, rec) != CLI_OK)
            rc = CLI_FAILED;
    }
    if (rec && write_record(rec, o->json) != CLI_OK)
        rc = CLI_FAILED;
    perf_record_free(rec);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.reps = 10;
    o.warmup = 2;
    o.shape_class = -1;
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        }
    int rc = parse_args(argc, argv, &o);
    perf_shape check;
    perf_default_shape(DSA_OP_SPARSE_MLA_PREFILL, 0, &check);
    if (rc == CLI_OK) /* reports a bad --shape once, before any device work */
        rc = apply_overrides(&o, &check);
    if (rc != CLI_OK)
        return rc;
    dsa_context *ctx = NULL;
    dsa_status st = dsa_context_create(o.device, &ctx);
    if (st != DSA_SUCCESS)
        return cli_fail_status("bench", st);
    rc = bench_device(ctx, &o);
    dsa_context_destroy(ctx);
    return rc;
}
