/* The conformance suite: a list of cases (op x dtype x shape x variant), each of which generates
 * inputs from a fixed seed, runs the op on a device through the public API only, computes the
 * answer with the independent fp64 oracle (tests/oracle/), and compares with the bars of
 * docs/ops.md. The same cases and bars apply to every backend.
 *
 * Used by tests/test_conformance.c (Criterion, CPU backend) and by `dsa conformance` (tools/).
 * Case families live one per file: cases_indexer.c, cases_topk.c, cases_sparse_mla.c, cases_cache.c. */
#ifndef DSA_CONFORMANCE_H
#define DSA_CONFORMANCE_H

#include "dsa.h"

#include <stddef.h>
#include <stdint.h>

enum { CONF_PASS = 0, CONF_FAIL = 1, CONF_UNSUPPORTED = 2, CONF_ERROR = 3 };

typedef struct conf_metric {
    char name[40];  /* "diff(out)", "out elem", "lse elem", "set mismatches", "bit mismatches" */
    double value;   /* measured */
    double bound;   /* passes when value <= bound */
    int ok;
} conf_metric;

typedef struct conf_result {
    int status;             /* CONF_* */
    conf_metric metrics[8];
    int n_metrics;
    char message[512];      /* why it failed / is unsupported / errored: first bad element etc. */
    double seconds;         /* wall time of the op call(s) on the device, filled by the runner */
} conf_result;

typedef struct conf_case conf_case;
typedef void (*conf_run_fn)(dsa_context *ctx, const conf_case *c, conf_result *r);

struct conf_case {
    char op[32];       /* dsa_op_name() of the op tested, e.g. "sparse_mla_prefill" */
    char dtype[16];    /* "fp8", "bf16", "fp32", ... */
    char shape[96];    /* "S=7 Hq=16 Dqk=576 topk=65 Skv=300" */
    char variant[96];  /* what is special: "padded strides, sink, sentinels, NaN rows" */
    conf_run_fn run;
    uint64_t seed;
    unsigned char params[256]; /* family-specific parameters, memcpy'd in and out */
};

typedef struct conf_list {
    conf_case *items;
    int n, cap;
} conf_list;

/* ---- case lists (each family in its own file) ---- */
void conf_list_add(conf_list *l, const conf_case *c);
void conf_list_free(conf_list *l);
void conf_cases_indexer(conf_list *l, int quick);
void conf_cases_topk(conf_list *l, int quick);
void conf_cases_sparse_mla(conf_list *l, int quick);
void conf_cases_cache(conf_list *l, int quick);
/* All families, in a fixed order. */
void conf_all_cases(conf_list *l, int quick);

/* Runs one case (catches nothing: cases must not crash), fills r including r->seconds. */
void conf_run_case(dsa_context *ctx, const conf_case *c, conf_result *r);

/* ---- helpers for case writers (check.c) ---- */

/* Deterministic random numbers (splitmix64). */
typedef struct conf_rng { uint64_t s; } conf_rng;
static inline conf_rng conf_rng_make(uint64_t seed) { conf_rng r = {seed * 0x9E3779B97F4A7C15ull + 1}; return r; }
uint64_t conf_rng_u64(conf_rng *r);
double conf_rng_uniform(conf_rng *r);            /* [0, 1) */
double conf_rng_normal(conf_rng *r);             /* N(0, 1) */
int64_t conf_rng_int(conf_rng *r, int64_t lo, int64_t hi); /* [lo, hi] inclusive */

/* Device memory for a case: upload a host array into a new buffer of at least `bytes` (extra
 * bytes, if capacity > bytes, are filled with fill_byte), or make a buffer filled with a byte. */
dsa_status conf_upload(dsa_context *ctx, const void *host, uint64_t bytes, uint64_t capacity,
                       uint8_t fill_byte, dsa_buffer **out);
dsa_status conf_alloc_filled(dsa_context *ctx, uint64_t bytes, uint8_t fill_byte, dsa_buffer **out);

/* Records a metric; returns ok. The case passes when every metric is ok. */
int conf_metric_add(conf_result *r, const char *name, double value, double bound);
/* Marks the case failed/errored/unsupported with a message (printf-style). */
void conf_fail(conf_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conf_error(conf_result *r, dsa_status st, const char *what); /* includes dsa_last_error() */
void conf_unsupported(conf_result *r, const char *why);
/* Sets r->status from the metrics if no failure was recorded yet. Call at the end of a case. */
void conf_finish(conf_result *r);

/* diff(x, y) = 1 - 2*sum(x*y)/sum(x*x + y*y) over entries finite in both (0 if none). */
double conf_diff(const double *ref, const double *got, size_t n);
/* Worst element error as a fraction of the bar "within atol absolute OR rtol relative": the max
 * over finite pairs of min(|d|/atol, |d|/(rtol*|ref|)); <= 1 passes. Non-finite entries must match
 * exactly in class (+inf, -inf, NaN): each mismatch is counted in *pattern_mismatches (may be NULL)
 * and the first one's index stored in *first_bad (may be NULL, -1 if none). */
double conf_elem_error(const double *ref, const double *got, size_t n, double atol, double rtol,
                       size_t *pattern_mismatches, int64_t *first_bad);

/* Independent host decoders for reading results back (written here, not shared with the library). */
double conf_bf16_to_double(uint16_t b);
double conf_fp8_to_double(uint8_t b);
uint16_t conf_double_to_bf16(double x); /* round to nearest even, for building bf16 inputs */

#endif
