/* `dsa run`: runs one op on tensors stored as .npy files named after the op's argument fields
 * (DIR/q.npy, DIR/kv.npy...), and writes its outputs as .npy files into the output directory.
 * The op table (argument names, dtypes, output shapes) lives in run_ops.c. */
#include "cli.h"
#include "npy.h"
#include "run_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DTYPE_OVERRIDES 16

typedef struct run_opts {
    const char *op_name, *in_dir, *out_dir, *device;
    const char *sets[32];
    int n_sets;
    const char *dtypes[MAX_DTYPE_OVERRIDES];
    int n_dtypes;
} run_opts;

typedef struct run_job {
    const op_spec *spec;
    run_tensor t[RUN_MAX_ARGS];
    dsa_dtype overrides[RUN_MAX_ARGS];
    run_scalars sc;
    dsa_context *ctx;
} run_job;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dsa run --op NAME --in DIR --out DIR [--device SEL]\n"
            "               [--set name=value]... [--dtype arg=DTYPE]...\n\n"
            "Runs one op on tensors stored as NumPy .npy files named after the op's arguments\n"
            "(DIR/q.npy, DIR/kv.npy, DIR/indices.npy...; an optional argument is just absent)\n"
            "and writes its outputs to the --out directory (created if missing) as <name>.npy.\n"
            "Cache writers read the cache from --in and write the updated cache to --out.\n\n"
            "  --set name=value  sm_scale (sparse MLA, required), k, form=absolute|relative|slot,\n"
            "                    page_size, sorted=0|1 (top-k), max_context_len (indexer decode)\n"
            "  --dtype arg=DTYPE the dtype of an argument: fp8, bf16, fp16, fp32, int32, uint8\n\n"
            "bf16 and fp8 are stored as uint16 and uint8: a uint16 file is bf16, a uint8 file is\n"
            "fp8 where the argument takes fp8; outputs are written the same way. Files must be\n"
            "little-endian and C order; int64/float64 are refused (store int32/float32).\n"
            "Argument names per op are the fields of its struct in dsa.h.\n");
}

static int parse_args(int argc, char **argv, run_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        const char *names[] = {"--op", "--in", "--out", "--device", "--set", "--dtype"};
        int k;
        for (k = 0; k < 6 && m == 0; k++)
            m = cli_option(argc, argv, &i, names[k], &v);
        k--;
        if (m == 0)
            return cli_usage_error("run", "unknown argument '%s'", argv[i]);
        if (m < 0)
            return cli_usage_error("run", "%s needs a value", names[k]);
        if (k == 0) o->op_name = v;
        else if (k == 1) o->in_dir = v;
        else if (k == 2) o->out_dir = v;
        else if (k == 3) o->device = v;
        else if (k == 4 && o->n_sets < 32) o->sets[o->n_sets++] = v;
        else if (k == 5 && o->n_dtypes < MAX_DTYPE_OVERRIDES) o->dtypes[o->n_dtypes++] = v;
        else return cli_usage_error("run", "too many %s options", names[k]);
    }
    if (!o->op_name || !o->in_dir || !o->out_dir)
        return cli_usage_error("run", "--op, --in and --out are required");
    return CLI_OK;
}

/* Resolves --op, --set and --dtype against the op table. */
static int setup_job(const run_opts *o, run_job *j)
{
    char err[256];
    dsa_op op = cli_op_from_name(o->op_name);
    j->spec = op ? run_op_spec(op) : NULL;
    if (!j->spec) {
        fprintf(stderr, "ops: ");
        cli_list_ops();
        return cli_usage_error("run", "unknown op '%s'", o->op_name);
    }
    for (int i = 0; i < j->spec->n_args; i++)
        j->t[i].spec = &j->spec->args[i];
    for (int i = 0; i < o->n_sets; i++)
        if (!run_scalar_set(j->spec, &j->sc, o->sets[i], err, sizeof err))
            return cli_usage_error("run", "%s", err);
    for (int i = 0; i < o->n_dtypes; i++) {
        char name[64];
        const char *eq = strchr(o->dtypes[i], '=');
        size_t len = eq ? (size_t)(eq - o->dtypes[i]) : 0;
        if (!eq || len == 0 || len >= sizeof name)
            return cli_usage_error("run", "--dtype wants arg=DTYPE, got '%s'", o->dtypes[i]);
        memcpy(name, o->dtypes[i], len);
        name[len] = '\0';
        int a = run_arg_index(j->spec, name);
        dsa_dtype t = cli_dtype_from_name(eq + 1);
        if (a < 0)
            return cli_usage_error("run", "%s has no argument '%s'", o->op_name, name);
        if (t == DSA_DTYPE_INVALID)
            return cli_usage_error("run", "unknown dtype '%s'", eq + 1);
        j->overrides[a] = t;
    }
    return CLI_OK;
}

/* ---- inputs --------------------------------------------------------------------------------- */

static int load_input(const char *dir, run_tensor *t, dsa_dtype override)
{
    char path[4096], err[256];
    npy_array a;
    snprintf(path, sizeof path, "%s/%s.npy", dir, t->spec->name);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        if (t->spec->optional && t->spec->role == ARG_IN)
            return CLI_OK; /* absent optional argument */
        return cli_error("run: %s: missing (the op needs argument '%s')", path, t->spec->name);
    }
    if (!npy_load(path, &a, err, sizeof err))
        return cli_error("run: %s: %s", path, err);
    if (a.rank < 1 || a.rank > DSA_MAX_RANK) {
        npy_free(&a);
        return cli_error("run: %s: rank %d; libdsa tensors have rank 1..%d", path, a.rank, DSA_MAX_RANK);
    }
    t->dtype = run_input_dtype(t->spec, a.type, override, err, sizeof err);
    if (t->dtype == DSA_DTYPE_INVALID) {
        npy_free(&a);
        return cli_error("run: %s: %s", path, err);
    }
    t->present = 1;
    t->rank = a.rank;
    memcpy(t->shape, a.shape, sizeof(int64_t) * (size_t)a.rank);
    t->host = a.data;
    return CLI_OK;
}

static int load_inputs(const run_opts *o, run_job *j)
{
    for (int i = 0; i < j->spec->n_args; i++) {
        run_tensor *t = &j->t[i];
        if (t->spec->role == ARG_OUT)
            continue;
        int rc = load_input(o->in_dir, t, j->overrides[i]);
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

/* Output shapes from the inputs; dtypes from the table unless --dtype says otherwise. */
static int derive_outputs(run_job *j)
{
    char err[256];
    if (!j->spec->derive(j->t, &j->sc, err, sizeof err))
        return cli_error("run: %s: %s", dsa_op_name(j->spec->op), err);
    for (int i = 0; i < j->spec->n_args; i++)
        if (j->t[i].spec->role == ARG_OUT)
            j->t[i].dtype = j->overrides[i] ? j->overrides[i] : j->t[i].spec->out_dtype;
    return CLI_OK;
}

/* ---- device --------------------------------------------------------------------------------- */

static uint64_t tensor_bytes(const run_tensor *t)
{
    uint64_t n = dsa_dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

/* Device buffers for every present tensor: inputs uploaded, outputs zeroed (so that rows an op
 * leaves untouched, like a cache reader's invalid slots, read back as 0). */
static int upload(run_job *j)
{
    const char *op = dsa_op_name(j->spec->op);
    for (int i = 0; i < j->spec->n_args; i++) {
        run_tensor *t = &j->t[i];
        if (!t->present)
            continue;
        uint64_t bytes = tensor_bytes(t);
        dsa_status st = dsa_buffer_alloc(j->ctx, bytes < 4 ? 4 : bytes, &t->buf);
        if (st == DSA_SUCCESS && t->host && bytes)
            st = dsa_buffer_write(t->buf, 0, t->host, bytes);
        else if (st == DSA_SUCCESS)
            st = dsa_buffer_fill(t->buf, 0, 0, bytes < 4 ? 4 : bytes);
        if (st != DSA_SUCCESS)
            return cli_fail_status(op, st);
    }
    return CLI_OK;
}

static int execute(run_job *j)
{
    union {
        dsa_indexer_args a1;
        dsa_indexer_decode_args a2;
        dsa_topk_args a3;
        dsa_sparse_mla_prefill_args a4;
        dsa_sparse_mla_decode_args a5;
        dsa_cache_write_args a6;
        dsa_cache_read_args a7;
        dsa_quantize_args a8;
        dsa_dequantize_args a9;
    } args;
    char err[256];
    const char *op = dsa_op_name(j->spec->op);
    memset(&args, 0, sizeof args);
    for (int i = 0; i < j->spec->n_args; i++) {
        run_tensor *t = &j->t[i];
        dsa_tensor *dst = (dsa_tensor *)(void *)((char *)&args + t->spec->offset);
        *dst = t->present ? dsa_tensor_make(t->buf, 0, t->dtype, t->rank, t->shape, NULL)
                          : dsa_tensor_none();
    }
    if (!run_scalars_apply(j->spec, &j->sc, &args, err, sizeof err))
        return cli_usage_error("run", "%s", err);
    dsa_status st = dsa_run(j->ctx, j->spec->op, &args, NULL);
    if (st == DSA_SUCCESS)
        st = dsa_synchronize(j->ctx);
    return st == DSA_SUCCESS ? CLI_OK : cli_fail_status(op, st);
}

/* ---- outputs -------------------------------------------------------------------------------- */

/* mkdir -p: creates each missing component of path. */
static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return 0;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

static int write_output(const char *dir, const char *op, run_tensor *t)
{
    char path[4096], err[256];
    uint64_t bytes = tensor_bytes(t);
    free(t->host);
    t->host = malloc(bytes ? (size_t)bytes : 1);
    if (!t->host)
        return cli_error("run: out of memory for %s", t->spec->name);
    dsa_status st = bytes ? dsa_buffer_read(t->buf, 0, t->host, bytes) : DSA_SUCCESS;
    if (st != DSA_SUCCESS)
        return cli_fail_status(op, st);
    snprintf(path, sizeof path, "%s/%s.npy", dir, t->spec->name);
    if (!npy_save(path, run_npy_type(t->dtype), t->rank, t->shape, t->host, err, sizeof err))
        return cli_error("run: %s: %s", path, err);
    printf("wrote %s: [", path);
    for (int i = 0; i < t->rank; i++)
        printf("%s%lld", i ? ", " : "", (long long)t->shape[i]);
    printf("] %s\n", dsa_dtype_name(t->dtype));
    return CLI_OK;
}

static int write_outputs(const run_opts *o, run_job *j)
{
    if (!make_dirs(o->out_dir))
        return cli_error("run: cannot create directory %s: %s", o->out_dir, strerror(errno));
    for (int i = 0; i < j->spec->n_args; i++) {
        run_tensor *t = &j->t[i];
        if (t->spec->role == ARG_IN || !t->present)
            continue;
        int rc = write_output(o->out_dir, dsa_op_name(j->spec->op), t);
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

static void release(run_job *j)
{
    for (int i = 0; i < RUN_MAX_ARGS; i++) {
        dsa_buffer_free(j->t[i].buf);
        free(j->t[i].host);
    }
    dsa_context_destroy(j->ctx);
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    run_job j;
    memset(&o, 0, sizeof o);
    memset(&j, 0, sizeof j);
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_OK;
        }
    int rc = parse_args(argc, argv, &o);
    if (rc == CLI_OK)
        rc = setup_job(&o, &j);
    if (rc == CLI_OK)
        rc = load_inputs(&o, &j);
    if (rc == CLI_OK)
        rc = derive_outputs(&j);
    if (rc == CLI_OK) {
        dsa_status st = dsa_context_create(o.device, &j.ctx);
        if (st != DSA_SUCCESS)
            rc = cli_fail_status(dsa_op_name(j.spec->op), st);
    }
    if (rc == CLI_OK)
        rc = upload(&j);
    if (rc == CLI_OK)
        rc = execute(&j);
    if (rc == CLI_OK)
        rc = write_outputs(&o, &j);
    release(&j);
    return rc;
}
