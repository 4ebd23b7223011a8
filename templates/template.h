/* The tile-level template layer (docs/templates.md): kernel templates written once in a small
 * portable C subset over a vocabulary of primitives, and the generator that turns a template plus
 * a specialization into source for one dialect (CUDA C++, HIP C++, OpenCL C 1.2, GLSL 4.50).
 *
 * A template file (templates/kernels/NAME.dsa) has a declaration part and a body:
 *
 *   @kernel quantize_fp8                 name of the entry point
 *   @buffer x      in    read            a buffer argument: name, element type, access
 *   @buffer q      u8    write              element types: u8 u16 i32 u32 f32, or `in` / `out`
 *   @scalar groups i64                      (the storage type of the spec's in/out dtype)
 *   @shared F32 red[BLOCK]               a shared (work-group) array
 *   @body
 *   ... statements using the vocabulary (templates/dialects/NAME.h) ...
 *
 * The generator emits, per dialect: a header, the specialization as #defines, the dialect's
 * prelude (the vocabulary's definitions), the buffer/scalar/shared declarations in the dialect's
 * own form (kernel parameters, SSBO bindings, push constants, __shared__ / __local arrays), and the
 * body. Shared arrays and buffer declarations are placed by the generator, so GLSL's rules (no
 * pointers, shared arrays at global scope) never reach a template. */
#ifndef DSA_TEMPLATE_H
#define DSA_TEMPLATE_H

#include "dsa.h"

#include <stddef.h>
#include <stdint.h>

typedef enum dsa_dialect {
    DSA_DIALECT_CUDA = 0,
    DSA_DIALECT_HIP = 1,
    DSA_DIALECT_OPENCL = 2,
    DSA_DIALECT_GLSL = 3,
    DSA_DIALECT_COUNT = 4
} dsa_dialect;

const char *dsa_dialect_name(dsa_dialect d);
int dsa_dialect_parse(const char *name, dsa_dialect *out); /* 1 on success */

/* ---- specialization: the explicit struct core fills from the device and the tuning table ---- */
typedef struct dsa_spec {
    int block;     /* threads per block (work-group size) */
    int tile_m;    /* rows of a tile (queries, heads or keys, per kernel) */
    int tile_n;    /* columns of a tile */
    int tile_k;    /* reduction depth of a tile */
    int heads;     /* heads handled by one block */
    int dim;       /* head / row dimension (128, 512, 576) */
    int subgroup;  /* subgroup (warp, wavefront) size the code may rely on; 0: no subgroup ops */
    int matrix;    /* 0: portable gemm; 1: the dialect's matrix-unit path */
    int stages;    /* pipeline stages of global -> shared copies (1: none) */
    int half;      /* OpenCL: 1 decodes fp8 through the half type (cl_khr_fp16; e4m3 -> fp16 is exact) */
    int ptx;       /* OpenCL: 1 does subgroup operations as inline PTX warp shuffles (NVIDIA's
                      OpenCL, which offers no cl_khr_subgroups); 0 uses cl_khr_subgroups builtins */
    dsa_dtype in_dtype;
    dsa_dtype out_dtype;
    int addr;      /* GLSL: 0 buffers are descriptor bindings (SSBOs); 1 device addresses
                      (GL_EXT_buffer_reference), for tensors beyond maxStorageBufferRange. Other
                      dialects take pointers either way and ignore it. */
} dsa_spec;

/* Parameters by name, for `dsa codegen --param k=v`, DSA_TUNING files and messages. */
typedef struct dsa_spec_field {
    const char *name;
    size_t offset; /* in dsa_spec */
    int is_dtype;
} dsa_spec_field;
const dsa_spec_field *dsa_spec_fields(int *count);
/* 1 when every field of the field list is equal: the per-context kernel caches' key (a new field
 * takes part without touching any backend). */
int dsa_spec_equal(const dsa_spec *a, const dsa_spec *b);
/* "block=256,tile_m=1,...,in_dtype=bf16": a specialization for messages, cut to fit cap bytes. */
void dsa_spec_format(const dsa_spec *spec, char *out, size_t cap);

/* Evaluates an integer expression over the spec's parameters (BLOCK, TILE_N, DIM, ... as the
 * generated code #defines them; + - * / % and parentheses), e.g. a @shared array's size
 * (templates/spec_expr.c). */
dsa_status dsa_spec_expr(const char *text, size_t len, const dsa_spec *spec, int64_t *value);
/* Sets one field from text ("block", "128" or "in_dtype", "bf16"); DSA_ERROR_INVALID_ARGUMENT
 * names the field and the value when either is unknown. */
dsa_status dsa_spec_set(dsa_spec *spec, const char *name, const char *value);
/* Applies "k=v,k=v" (or whitespace-separated) assignments. */
dsa_status dsa_spec_parse(dsa_spec *spec, const char *text);

/* ---- kernels ---- */
typedef struct dsa_kernel_def dsa_kernel_def;
struct dsa_kernel_def {
    const char *name;       /* entry point and file name */
    const char *summary;    /* one line for `dsa codegen --list` */
    const char *source;     /* the template text, embedded at build time */
    dsa_spec defaults;      /* portable defaults, valid on every device class */
    /* Rejects combinations the template cannot run (message names the field, value, rule). */
    dsa_status (*check)(const dsa_spec *spec);
    /* Shared memory bytes one block uses with this spec (for the device-fit check). */
    uint64_t (*shared_bytes)(const dsa_spec *spec);
};

/* What a family file (templates/family_<name>.c) lists for each of its kernels; the registry
 * (templates/kernels.c) adds the embedded text and the defaults. */
typedef struct dsa_kernel_entry {
    const char *name, *summary;
    dsa_status (*check)(const dsa_spec *spec);        /* may be NULL */
    uint64_t (*shared_bytes)(const dsa_spec *spec);   /* may be NULL: no shared memory */
    void (*defaults)(dsa_spec *spec);                 /* adjusts the base defaults; may be NULL */
} dsa_kernel_entry;
typedef struct dsa_kernel_family {
    const dsa_kernel_entry *entries;
    int count;
} dsa_kernel_family;
extern const dsa_kernel_family dsa_family_quant, dsa_family_cache, dsa_family_indexer, dsa_family_topk,
    dsa_family_mla;

int dsa_kernel_count(void);
const dsa_kernel_def *dsa_kernel_at(int i);
const dsa_kernel_def *dsa_kernel_find(const char *name);

/* The checks every specialization passes: kernel rules, then fit on the device (NULL: no device,
 * only the kernel's rules and the portable limits: block <= 1024, shared <= 32 KiB... see docs). */
dsa_status dsa_spec_check(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *device);
/* The same checks with no device, against the largest shared memory any device offers. */
#define DSA_LARGEST_SHARED_BYTES (227u * 1024u)
dsa_status dsa_spec_check_any_device(const dsa_kernel_def *k, const dsa_spec *spec);

/* Turns on the fast paths a device offers (core calls it on a kernel's defaults, before the tuning
 * overlay, which may turn them off again): today the OpenCL dialect's subgroup, ptx and half flags
 * from DSA_CAP_SUBGROUPS, DSA_CAP_INLINE_PTX and DSA_CAP_FP16. Other backends are left as they are. */
void dsa_spec_use_device(dsa_spec *spec, const dsa_device_info *device);

/* A kernel's arguments as backends marshal them, in this order in every dialect: the buffers, the
 * scalars, then one i64 element offset per buffer (GLSL: bindings 0..n_buffers-1, then the scalars
 * and offsets as one block: push constants when they fit in DSA_GLSL_PUSH_MAX bytes, Vulkan's
 * guaranteed maxPushConstantsSize, else a uniform block at binding n_buffers; the same member
 * offsets either way, see params_offset). */
#define DSA_GLSL_PUSH_MAX 128u
#define DSA_MAX_KERNEL_ARGS 24
typedef enum dsa_arg_type { DSA_ARG_U8, DSA_ARG_U16, DSA_ARG_I32, DSA_ARG_U32, DSA_ARG_F32, DSA_ARG_I64 } dsa_arg_type;
typedef struct dsa_signature {
    int n_buffers, n_scalars;
    dsa_arg_type buffer_type[DSA_MAX_KERNEL_ARGS]; /* element type after the spec's in/out are applied */
    int buffer_written[DSA_MAX_KERNEL_ARGS];
    dsa_arg_type scalar_type[DSA_MAX_KERNEL_ARGS];
    char entry[48]; /* the entry point's name (GLSL: "main") */
    /* GLSL's parameter block: each scalar's, then each buffer offset's byte offset (every member
     * aligned to its size: I64 8 bytes, I32/U32/F32 4, so std430 and std140 agree), the block's
     * size (a multiple of 4), and whether it is a uniform block at binding n_buffers
     * (params_size > DSA_GLSL_PUSH_MAX) rather than push constants. */
    uint32_t params_offset[2 * DSA_MAX_KERNEL_ARGS];
    uint32_t params_size;
    int params_in_uniform;
    /* The @shared arrays laid out one after another at 16-byte boundaries: the bytes the CUDA
     * dialect takes as dynamic shared memory (the launch passes them; above 48 KiB the function
     * must be opted in). Other dialects declare the arrays statically. */
    uint64_t shared_bytes;
} dsa_signature;
dsa_status dsa_kernel_signature(const dsa_kernel_def *k, const dsa_spec *spec, dsa_signature *sig);
size_t dsa_arg_type_size(dsa_arg_type t);

/* Applies the DSA_TUNING overlay (templates/tuning.c) for kernel k on dev (NULL: rules without a
 * device filter only) to spec. */
dsa_status dsa_tuning_apply(const dsa_kernel_def *k, const dsa_device_info *dev, dsa_spec *spec);

/* Generates the source for kernel k in dialect d: a malloc'd NUL-terminated string. */
dsa_status dsa_generate(const dsa_kernel_def *k, dsa_dialect d, const dsa_spec *spec, char **source);

/* ---- embedded texts (generated at build time from templates/kernels and templates/dialects) ---- */
const char *dsa_embedded_text(const char *path); /* "kernels/quantize_fp8.dsa"; NULL if absent */

#endif
