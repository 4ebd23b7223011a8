/* dsa_perf_cpu: the CPU backend against the fp64 oracle, on the same inputs, in the same run.
 * It measures the requirement "indexer and sparse MLA at least 10x faster than the fp64 oracle":
 *   sparse MLA prefill  S=256 Hq=64 Dqk=576 topk=512 Skv=8192   (bf16)
 *   indexer logits      S=256 H=64 D=128 Skv=8192, causal          (fp8)
 * The backend is timed as `dsa bench` times it (perf/bench.c: prepare, warm-up, median of 5);
 * the oracle (tests/oracle, naive fp64 loops, one thread) runs 3 times, or once when one run
 * takes longer than 5 s. The outputs are compared too (diff), so that the timed work is the
 * real work. Results go to stdout and, with --json, to a file (perf/record.c format). */
#include "bench.h"
#include "conformance.h"
#include "oracle_attn.h"
#include "record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    const char *device, *json;
    int64_t S, Hq, H, topk, Skv;
    int reps, oracle_reps, threads, run_prefill, run_indexer;
    double min_speedup;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dsa_perf_cpu [--S N] [--Hq N] [--H N] [--topk N] [--Skv N] [--quick]\n"
            "                    [--reps N] [--oracle-reps N] [--threads N] [--device SEL]\n"
            "                    [--op prefill|indexer] [--min-speedup X] [--json FILE]\n\n"
            "Times libdsa (default device cpu, median of --reps=5) and the fp64 oracle (median\n"
            "of --oracle-reps=3, or 1 run when one takes over 5 s) on the same inputs, for\n"
            "sparse MLA prefill (S, Hq, topk, Skv; Dqk=576) and the fp8 causal indexer (S, H,\n"
            "Skv), and prints the speedup. Defaults: S=256 Hq=64 H=64 topk=512 Skv=8192.\n"
            "--quick: S=32 Hq=16 H=16 topk=128 Skv=1024. --min-speedup X: exit 1 when a\n"
            "speedup is below X (the requirement is 10).\n");
}

static int parse_num(const char *v, int64_t *out)
{
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : -1;
    if (!v || *end || x < 1 || x > (1 << 30))
        return 0;
    *out = x;
    return 1;
}

/* Numeric options: name -> field. */
static int64_t *num_field(opts *o, const char *name, int64_t *scratch)
{
    if (!strcmp(name, "--S")) return &o->S;
    if (!strcmp(name, "--Hq")) return &o->Hq;
    if (!strcmp(name, "--H")) return &o->H;
    if (!strcmp(name, "--topk")) return &o->topk;
    if (!strcmp(name, "--Skv")) return &o->Skv;
    if (!strcmp(name, "--reps") || !strcmp(name, "--oracle-reps") || !strcmp(name, "--threads"))
        return scratch;
    return NULL;
}

static int parse_one(opts *o, const char *name, const char *v)
{
    int64_t scratch = 0, *f = num_field(o, name, &scratch);
    if (f) {
        if (!parse_num(v, f))
            return 0;
        if (!strcmp(name, "--reps")) o->reps = (int)scratch;
        if (!strcmp(name, "--oracle-reps")) o->oracle_reps = (int)scratch;
        if (!strcmp(name, "--threads")) o->threads = (int)scratch;
        return 1;
    }
    if (!strcmp(name, "--device")) o->device = v;
    else if (!strcmp(name, "--json")) o->json = v;
    else if (!strcmp(name, "--min-speedup")) o->min_speedup = atof(v);
    else if (!strcmp(name, "--op") && !strcmp(v, "prefill")) o->run_indexer = 0;
    else if (!strcmp(name, "--op") && !strcmp(v, "indexer")) o->run_prefill = 0;
    else return 0;
    return 1;
}

/* Returns 0 to go on, else the exit status. */
static int parse_args(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(argv[i], "--quick")) {
            o->S = 32, o->Hq = 16, o->H = 16, o->topk = 128, o->Skv = 1024;
            continue;
        }
        if (i + 1 >= argc || !parse_one(o, argv[i], argv[i + 1])) {
            fprintf(stderr, "dsa_perf_cpu: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        i++;
    }
    return 0;
}

/* ---- reading device tensors back as double -------------------------------------------------- */

static uint64_t numel(const dsa_tensor *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

/* The whole (contiguous) tensor, decoded with the conformance suite's own decoders. */
static double *read_double(const dsa_tensor *t)
{
    uint64_t n = numel(t), esz = dsa_dtype_size(t->dtype);
    unsigned char *raw = malloc((size_t)(n * esz) + 1);
    double *d = malloc(sizeof(double) * (size_t)n + 1);
    if (!raw || !d || dsa_buffer_read(t->buffer, t->offset, raw, n * esz) != DSA_SUCCESS) {
        free(raw);
        free(d);
        return NULL;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (t->dtype == DSA_BF16) {
            uint16_t b;
            memcpy(&b, raw + 2 * i, 2);
            d[i] = conf_bf16_to_double(b);
        } else if (t->dtype == DSA_FP8_E4M3) {
            d[i] = conf_fp8_to_double(raw[i]);
        } else {
            float f;
            memcpy(&f, raw + 4 * i, 4);
            d[i] = f;
        }
    }
    free(raw);
    return d;
}

static int32_t *read_int(const dsa_tensor *t)
{
    uint64_t n = numel(t);
    int32_t *d = malloc(sizeof(int32_t) * (size_t)n + 1);
    if (d && dsa_buffer_read(t->buffer, t->offset, d, 4 * n) != DSA_SUCCESS) {
        free(d);
        return NULL;
    }
    return d;
}

/* ---- the two comparisons -------------------------------------------------------------------- */

typedef struct oracle_run {
    double *in[6];
    int32_t *idx[2];
    double *out, *aux1, *aux2;
} oracle_run;

static void oracle_free(oracle_run *r)
{
    for (int i = 0; i < 6; i++)
        free(r->in[i]);
    free(r->idx[0]);
    free(r->idx[1]);
    free(r->out);
    free(r->aux1);
    free(r->aux2);
}

static void oracle_call(const perf_case *pc, oracle_run *r)
{
    const perf_shape *s = &pc->shape;
    if (pc->op == DSA_OP_SPARSE_MLA_PREFILL)
        oracle_sparse_mla(s->S, s->H, s->Dqk, 512, s->Skv, s->topk, r->in[0], r->in[1], r->idx[0],
                          NULL, NULL, pc->args.prefill.sm_scale, r->out, r->aux1, r->aux2);
    else
        oracle_indexer_logits(s->S, s->H, 128, s->Skv, r->in[0], r->in[1], r->in[2], r->in[3],
                              r->idx[0], r->idx[1], r->out);
}

/* Decodes the case's inputs from the device and allocates the oracle's outputs. */
static int oracle_prepare(const perf_case *pc, oracle_run *r)
{
    const perf_shape *s = &pc->shape;
    memset(r, 0, sizeof *r);
    if (pc->op == DSA_OP_SPARSE_MLA_PREFILL) {
        const dsa_sparse_mla_prefill_args *a = &pc->args.prefill;
        r->in[0] = read_double(&a->q);
        r->in[1] = read_double(&a->kv);
        r->idx[0] = read_int(&a->indices);
        r->out = malloc(sizeof(double) * (size_t)(s->S * s->H * 512) + 1);
        r->aux1 = malloc(sizeof(double) * (size_t)(s->S * s->H) + 1);
        r->aux2 = malloc(sizeof(double) * (size_t)(s->S * s->H) + 1);
        return r->in[0] && r->in[1] && r->idx[0] && r->out && r->aux1 && r->aux2;
    }
    const dsa_indexer_args *a = &pc->args.indexer;
    r->in[0] = read_double(&a->q);
    r->in[1] = read_double(&a->k);
    r->in[2] = read_double(&a->k_scale);
    r->in[3] = read_double(&a->weights);
    r->idx[0] = read_int(&a->ks);
    r->idx[1] = read_int(&a->ke);
    r->out = malloc(sizeof(double) * (size_t)(s->S * s->Skv) + 1);
    return r->in[0] && r->in[1] && r->in[2] && r->in[3] && r->idx[0] && r->idx[1] && r->out;
}

/* Up to `reps` oracle runs, stopping after the first when it took longer than 5 s. */
static void time_oracle(const perf_case *pc, oracle_run *r, int reps, perf_stats *st)
{
    double ms[16];
    int n = 0;
    if (reps > 16)
        reps = 16;
    while (n < reps) {
        double t0 = perf_now();
        oracle_call(pc, r);
        ms[n++] = 1e3 * (perf_now() - t0);
        if (ms[0] > 5000.0)
            break;
    }
    perf_summarize(ms, n, st);
    st->gflops = st->median_ms > 0 ? pc->flops / (st->median_ms * 1e6) : 0;
}

/* diff between the backend's output and the oracle's (over entries finite in both). */
static double output_diff(const perf_case *pc, const oracle_run *r)
{
    const dsa_tensor *t = pc->op == DSA_OP_SPARSE_MLA_PREFILL ? &pc->args.prefill.out
                                                               : &pc->args.indexer.logits;
    double *got = read_double(t);
    if (!got)
        return NAN;
    double d = conf_diff(r->out, got, (size_t)numel(t));
    free(got);
    return d;
}

static int compare(dsa_context *ctx, dsa_op op, const perf_shape *s, const opts *o,
                   perf_record *rec, double *speedup)
{
    perf_case pc;
    perf_stats lib, orc;
    oracle_run r;
    char shape[160];
    perf_shape_format(op, s, shape, sizeof shape);
    dsa_status st = perf_case_build(ctx, op, s, 7, &pc);
    if (st == DSA_SUCCESS)
        st = perf_time(ctx, &pc, 1, o->reps, &lib);
    if (st != DSA_SUCCESS) {
        fprintf(stderr, "dsa: %s: %s: %s\n", dsa_op_name(op), dsa_status_string(st),
                perf_error()[0] ? perf_error() : dsa_last_error());
        perf_record_add_error(rec, op, shape, st, dsa_last_error());
        perf_case_free(&pc);
        return 1;
    }
    if (!oracle_prepare(&pc, &r)) {
        fprintf(stderr, "dsa_perf_cpu: %s: cannot read the inputs back (out of memory?)\n", dsa_op_name(op));
        oracle_free(&r);
        perf_case_free(&pc);
        return 1;
    }
    time_oracle(&pc, &r, o->oracle_reps, &orc);
    double diff = output_diff(&pc, &r);
    *speedup = orc.median_ms / lib.median_ms;
    printf("%-18s %s\n  libdsa %10.1f ms %8.2f GFLOP/s (median of %d)\n"
           "  oracle %10.1f ms %8.2f GFLOP/s (median of %d)\n  speedup %.1fx, diff(out) %.2e\n",
           dsa_op_name(op), shape, lib.median_ms, lib.gflops, lib.reps, orc.median_ms,
           orc.gflops, orc.reps, *speedup, diff);
    perf_record_add(rec, op, shape, &pc, &lib);
    perf_record_add_peer(rec, "fp64 oracle (tests/oracle, 1 thread)", &orc, *speedup, diff);
    oracle_free(&r);
    perf_case_free(&pc);
    return 0;
}

static int run(const opts *o, dsa_context *ctx)
{
    dsa_device_info info;
    char sel[64], commit[64], threads[32];
    perf_record *rec = NULL;
    int rc = 0;
    if (dsa_context_get_info(ctx, &info) != DSA_SUCCESS)
        memset(&info, 0, sizeof info);
    snprintf(sel, sizeof sel, "%s:%d", dsa_backend_name(info.backend), info.index);
    printf("device %s: %s, %u threads; libdsa %s\n", sel, info.name, info.compute_units,
           dsa_version_string());
    perf_commit(commit, sizeof commit);
    rec = perf_record_create(&info, sel, commit);
    snprintf(threads, sizeof threads, "%u", info.compute_units);
    perf_record_note(rec, "threads", threads);
    for (int which = 0; which < 2; which++) {
        dsa_op op = which == 0 ? DSA_OP_SPARSE_MLA_PREFILL : DSA_OP_INDEXER_LOGITS;
        if ((which == 0 && !o->run_prefill) || (which == 1 && !o->run_indexer))
            continue;
        perf_shape s;
        double speedup = 0;
        perf_default_shape(op, 0, &s);
        s.S = o->S, s.Skv = o->Skv, s.topk = o->topk, s.H = which == 0 ? o->Hq : o->H;
        if (compare(ctx, op, &s, o, rec, &speedup) != 0)
            rc = 1;
        else if (o->min_speedup > 0 && speedup < o->min_speedup) {
            printf("  below the required %.1fx\n", o->min_speedup);
            rc = 1;
        }
    }
    char err[256];
    if (o->json && !perf_record_write(rec, o->json, err, sizeof err)) {
        fprintf(stderr, "dsa_perf_cpu: %s\n", err);
        rc = 1;
    }
    perf_record_free(rec);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {"cpu", NULL, 256, 64, 64, 512, 8192, 5, 3, 0, 1, 1, 0};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = o.device;
    desc.num_threads = o.threads;
    dsa_context *ctx = NULL;
    dsa_status st = dsa_context_create_ex(&desc, &ctx);
    if (st != DSA_SUCCESS) {
        fprintf(stderr, "dsa: %s: %s: %s\n", o.device, dsa_status_string(st), dsa_last_error());
        return 1;
    }
    rc = run(&o, ctx);
    dsa_context_destroy(ctx);
    return rc;
}
