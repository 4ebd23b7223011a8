/* What `dsa run` needs to know about each op: its tensor arguments (name = the .npy file name,
 * role, optional or not, dtypes it takes), its scalar settings, and how its outputs' shapes follow
 * from the inputs (docs/ops.md). Kept as data so that cmd_run.c has one generic loop. */
#ifndef DSA_TOOL_RUN_OPS_H
#define DSA_TOOL_RUN_OPS_H

#include "dsa.h"
#include "npy.h"

#include <stddef.h>
#include <stdint.h>

enum { ARG_IN = 0, ARG_OUT = 1, ARG_INOUT = 2 };
#define DT(t) (1u << (t))
#define RUN_MAX_ARGS 8

typedef struct arg_spec {
    const char *name;
    size_t offset;       /* of the dsa_tensor in the op's argument struct */
    int role;
    int optional;        /* inputs only: the file may be absent (dsa_tensor_none) */
    unsigned dtypes;     /* DT(DSA_xxx) bits the op takes */
    dsa_dtype out_dtype; /* outputs: the default dtype */
} arg_spec;

/* A tensor as `dsa run` holds it: host data (loaded or to be written) and its device copy. */
typedef struct run_tensor {
    const arg_spec *spec;
    int present;
    dsa_dtype dtype;
    int rank;
    int64_t shape[DSA_MAX_RANK];
    void *host;          /* inputs: the loaded .npy data; outputs: read back after the op */
    dsa_buffer *buf;
} run_tensor;

/* Scalar settings (--set name=value). */
typedef struct run_scalars {
    double sm_scale;
    int64_t k, page_size, max_context_len;
    int form, sorted;
    unsigned set;        /* which scalars were given (bits private to run_ops.c) */
} run_scalars;

typedef struct op_spec op_spec;
/* Fills the shapes (and default dtypes) of the outputs; returns 0 with err filled if the inputs
 * do not determine them (wrong rank, a missing setting). */
typedef int (*derive_fn)(run_tensor *t, const run_scalars *sc, char *err, size_t errlen);

struct op_spec {
    dsa_op op;
    arg_spec args[RUN_MAX_ARGS];
    int n_args;
    const char *scalars; /* space separated names accepted by --set */
    derive_fn derive;
};

const op_spec *run_op_spec(dsa_op op);
/* Index of a named argument of spec, or -1. */
int run_arg_index(const op_spec *spec, const char *name);
/* Parses "name=value" into sc; returns 0 with err filled for an unknown name or bad value. */
int run_scalar_set(const op_spec *spec, run_scalars *sc, const char *assignment, char *err,
                   size_t errlen);
/* Writes the scalars into the op's argument struct; 0 with err if a required one is missing. */
int run_scalars_apply(const op_spec *spec, const run_scalars *sc, void *args, char *err,
                      size_t errlen);

/* The dsa dtype of an .npy array passed as argument a: bf16/fp8 are stored as uint16/uint8 and
 * chosen from the dtypes a takes; override (DSA_DTYPE_INVALID for none) forces one of the same
 * element size. Returns DSA_DTYPE_INVALID with err filled when it cannot be mapped. */
dsa_dtype run_input_dtype(const arg_spec *a, npy_type type, dsa_dtype override, char *err,
                          size_t errlen);
/* The .npy type an output of this dtype is stored as. */
npy_type run_npy_type(dsa_dtype t);

#endif
