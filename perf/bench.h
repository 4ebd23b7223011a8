/* Benchmark driver: builds random valid inputs for one op at one shape on a context, runs the op
 * through the public API, and times it (warm-up, then the median of N runs, each followed by
 * dsa_synchronize, wall clock from CLOCK_MONOTONIC). `dsa bench` and perf/cpu_vs_oracle.c are
 * thin front ends over this file. */
#ifndef DSA_PERF_BENCH_H
#define DSA_PERF_BENCH_H

#include "dsa.h"

#include <stddef.h>
#include <stdint.h>

/* One struct for every op's shape; each op reads only its own keys (perf_shape_keys()).
 *   S     query tokens (prefill ops), score rows (top-k)
 *   H     heads: indexer heads, or query heads Hq of sparse MLA
 *   Dqk   sparse MLA prefill q/kv width (576 or 512)
 *   Skv   keys (indexer) or kv rows (sparse MLA prefill)
 *   topk  selected indices per query (sparse MLA)
 *   B, N  batch and tokens per batch entry for decode ops (N is Sq for sparse MLA decode)
 *   ctx   context length per batch entry for decode ops (the cache holds B*ctx tokens)
 *   page  page size P of paged caches
 *   L, k  top-k row length and k
 *   rows  rows of the cache and quantization ops
 *   cols  row width of quantize/dequantize (a multiple of 128)
 * dtype is the op's "float side": q/k for the indexer, rows of cache writers, out of cache readers
 * and dequantize, x of quantize; ignored by the other ops. */
typedef struct perf_shape {
    int64_t S, H, Dqk, Skv, topk, B, N, ctx, page, L, k, rows, cols;
    dsa_dtype dtype;
} perf_shape;

/* The default shape of an op: CPU-sized (gpu == 0) or the GPU shapes of shared/GPU.md. */
void perf_default_shape(dsa_op op, int gpu, perf_shape *s);
/* The keys an op reads, space separated ("S H Skv"). */
const char *perf_shape_keys(dsa_op op);
/* Sets one key ("S", "Skv", ...); returns 0 for an unknown key or a value < 0. */
int perf_shape_set(perf_shape *s, const char *key, int64_t value);
/* "S=256 H=64 Skv=8192 fp8": the op's keys only. */
void perf_shape_format(dsa_op op, const perf_shape *s, char *buf, size_t n);

/* One op ready to run: its device buffers and argument struct. */
typedef struct perf_case {
    dsa_op op;
    perf_shape shape;
    union {
        dsa_indexer_args indexer;
        dsa_indexer_decode_args indexer_decode;
        dsa_topk_args topk;
        dsa_sparse_mla_prefill_args prefill;
        dsa_sparse_mla_decode_args decode;
        dsa_cache_write_args cache_write;
        dsa_cache_read_args cache_read;
        dsa_quantize_args quantize;
        dsa_dequantize_args dequantize;
    } args;
    dsa_buffer *bufs[12];
    int nbufs;
    double flops; /* useful work per run (formulas.h); 0 when the op is counted in bytes */
    double bytes; /* bytes moved per run; 0 when not meaningful */
} perf_case;

/* Builds inputs from `seed` (the same seed gives the same inputs) and allocates outputs. On
 * failure everything allocated is freed, and the status is returned (dsa_last_error() says why,
 * or the message is DSA_ERROR_INVALID_ARGUMENT for a shape this driver refuses). */
dsa_status perf_case_build(dsa_context *ctx, dsa_op op, const perf_shape *shape, uint64_t seed,
                           perf_case *pc);
void perf_case_free(perf_case *pc);
/* One run: the op, then dsa_synchronize. */
dsa_status perf_case_run(dsa_context *ctx, perf_case *pc);

typedef struct perf_stats {
    int reps;
    double median_ms, min_ms, max_ms;
    double gflops; /* flops / median; 0 if not counted */
    double gbps;   /* bytes / median; 0 if not counted */
} perf_stats;

/* dsa_prepare, `warmup` untimed runs, then `reps` timed runs. */
dsa_status perf_time(dsa_context *ctx, perf_case *pc, int warmup, int reps, perf_stats *st);

/* Median (and min/max) of n millisecond samples; sorts ms in place. */
void perf_summarize(double *ms, int n, perf_stats *st);
double perf_now(void); /* seconds, CLOCK_MONOTONIC */

/* The bench driver's own refusal message (a shape it cannot build), "" if none. */
const char *perf_error(void);

#endif
