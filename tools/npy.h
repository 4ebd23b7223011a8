/* A small reader and writer of NumPy .npy files (format versions 1.0, 2.0 and 3.0), limited to
 * what `dsa run` exchanges: little-endian (or byte-sized) numeric dtypes, C order. Anything else
 * is refused with a message that says what was found, never guessed at. */
#ifndef DSA_TOOL_NPY_H
#define DSA_TOOL_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_RANK 8

typedef enum npy_type {
    NPY_INVALID = 0,
    NPY_U8,  /* |u1 */
    NPY_I8,  /* |i1 */
    NPY_U16, /* <u2: bf16 bits in `dsa run` */
    NPY_I16, /* <i2 */
    NPY_F16, /* <f2 */
    NPY_U32, /* <u4 */
    NPY_I32, /* <i4 */
    NPY_F32, /* <f4 */
    NPY_I64, /* <i8 */
    NPY_F64  /* <f8 */
} npy_type;

typedef struct npy_array {
    npy_type type;
    size_t itemsize;
    int rank;                     /* 0 for a scalar */
    int64_t shape[NPY_MAX_RANK];
    uint64_t count;               /* product of shape */
    void *data;                   /* count * itemsize bytes, malloc'd */
} npy_array;

/* Loads a whole file. On failure returns 0 and writes a message (without the path) to err. */
int npy_load(const char *path, npy_array *a, char *err, size_t errlen);
/* Writes data (count(shape) items of `type`) as a version 1.0 file (at most NPY_MAX_RANK
 * dimensions keep the header far below 1.0's 64 KiB limit). */
int npy_save(const char *path, npy_type type, int rank, const int64_t *shape, const void *data,
             char *err, size_t errlen);
void npy_free(npy_array *a);

const char *npy_type_descr(npy_type t); /* "<f4" */
size_t npy_type_size(npy_type t);

#endif
