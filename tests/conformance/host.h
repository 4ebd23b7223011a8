/* Host-side helpers shared by the conformance case files: strided host images of device views,
 * naive fp8 encoding and group quantization written from docs/ops.md (not the library's), and a
 * per-case bag of resources freed in one place. */
#ifndef DSA_CONFORMANCE_HOST_H
#define DSA_CONFORMANCE_HOST_H

#include "conformance.h"

#include <stddef.h>
#include <stdint.h>

#define GUARD 64 /* bytes after every view, to catch writes just past it */

/* ---------------------------------------------------------------------------------------------
 * Host views: where each logical element of a strided tensor lives in a host image of its buffer.
 * ------------------------------------------------------------------------------------------- */
typedef struct hview {
    uint64_t off;   /* bytes */
    int rank;
    int64_t shape[4], strides[4]; /* strides in elements */
    size_t es;      /* element size */
} hview;

/* A view whose stride of dim d is (stride of d+1) * extent of d+1 plus pad[d] elements. */
hview hv_make(uint64_t off, size_t es, int rank, const int64_t *shape, const int64_t *pad);

int64_t hv_numel(const hview *v);

/* Byte offset of the element with row-major linear index lin. */
uint64_t hv_at(const hview *v, int64_t lin);

/* Bytes a buffer needs for the view plus a guard band after it. */
uint64_t hv_capacity(const hview *v);

void hv_pack(uint8_t *img, const hview *v, const void *packed);

/* Bytes of img outside the view that no longer hold `fill`. */
int64_t hv_pad_changed(const uint8_t *img, uint64_t size, const hview *v, uint8_t fill);

dsa_tensor hv_tensor(dsa_buffer *b, const hview *v, dsa_dtype dt);

/* fp8 e4m3 (E4M3FN) bits of x: clamp to +-448, round to nearest even, sign kept for zero. */
uint8_t enc_fp8(double x);

/* The smallest power of two s with amax <= 448 * s (amax at least 1e-4), exactly. */
double pow2_scale(double amax);

/* Quantizes n (<= 128) values as one group: codes out, returns the scale. */
double quant_group(const double *x, int n, uint8_t *codes);

/* ---------------------------------------------------------------------------------------------
 * Per-case resources: everything allocated is recorded here and freed at the end.
 * ------------------------------------------------------------------------------------------- */
typedef struct bag {
    void *host[32];
    int nh;
    dsa_buffer *dev[16];
    int nd;
    int oom;
} bag;

void *bag_alloc(bag *g, size_t bytes);

void bag_free(bag *g);

/* Reports a failed library call: unsupported is its own outcome, everything else an error. */
void case_report(conf_result *r, dsa_status st, const char *what);

/* Uploads a host image as a new device buffer recorded in the bag. */
dsa_buffer *bag_upload(bag *g, dsa_context *ctx, const void *img, uint64_t bytes,
                              conf_result *r, const char *what);

/* Builds the image of a strided input: padding bytes get `fill` (a NaN pattern for the dtype, so a
 * kernel that reads padding gets NaN). Returns the device buffer. */
dsa_buffer *upload_view(bag *g, dsa_context *ctx, const hview *v, const void *packed,
                               const void *fill_elem, conf_result *r, const char *what);

int64_t bytes_differ(const uint8_t *a, const uint8_t *b, uint64_t n);

#endif
