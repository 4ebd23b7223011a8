/* Benchmark results as JSON (perf/results/<device>.json): one document per run, naming the device,
 * the library version, the git commit when known, the date, and per op the shape and the timings.
 * The device is always named, since numbers from different devices are not comparable. */
#ifndef DSA_PERF_RECORD_H
#define DSA_PERF_RECORD_H

#include "bench.h"
#include "dsa.h"

#include <stddef.h>

typedef struct perf_record perf_record;

/* commit may be NULL or "" (unknown). selector is how the device was chosen ("cpu:0"). */
perf_record *perf_record_create(const dsa_device_info *device, const char *selector,
                                const char *commit);
/* One timed op: its timings, and its GFLOP/s or GB/s where the op counts them. */
void perf_record_add(perf_record *rec, dsa_op op, const char *shape, const perf_case *pc,
                     const perf_stats *st);
/* An op that could not run: its status and message. */
void perf_record_add_error(perf_record *rec, dsa_op op, const char *shape, dsa_status status,
                           const char *message);
/* Attaches a peer measured in the same run to the last added entry (e.g. the fp64 oracle). */
void perf_record_add_peer(perf_record *rec, const char *peer, const perf_stats *peer_st,
                          double speedup, double diff);
/* Extra top-level note (threads, method). */
void perf_record_note(perf_record *rec, const char *key, const char *value);
/* Writes the document; returns 0 and fills err on failure. */
int perf_record_write(const perf_record *rec, const char *path, char *err, size_t errlen);
void perf_record_free(perf_record *rec);

/* The commit to record: $DSA_COMMIT if set, else `git rev-parse --short HEAD` in the current
 * directory, else "". Writes into buf. */
void perf_commit(char *buf, size_t n);
/* "2026-11-03T14:05:09Z" (UTC). */
void perf_date(char *buf, size_t n);

#endif
