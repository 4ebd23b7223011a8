/* Launch plans: how an op becomes kernel launches on a GPU backend. Written once here and shared by
 * CUDA, HIP, OpenCL and Vulkan, so that no backend repeats the op -> kernel mapping; a backend only
 * compiles the planned kernels (templates/) and marshals their arguments (template.h,
 * dsa_kernel_signature). Each family's plans live in core/plan_<family>.c. */
#ifndef DSA_CORE_PLAN_H
#define DSA_CORE_PLAN_H

#include "internal.h"
#include "template.h"

#define DSA_PLAN_MAX_LAUNCHES 8

typedef struct dsa_launch_buffer {
    dsa_buffer *buffer;
    uint64_t byte_offset; /* where the view starts; backends pass byte_offset / element size */
} dsa_launch_buffer;

typedef union dsa_launch_scalar {
    int64_t i; /* i64, i32, u32 scalars */
    float f;   /* f32 scalars */
} dsa_launch_scalar;

typedef struct dsa_launch {
    const dsa_kernel_def *kernel;
    dsa_spec spec;
    uint32_t grid[3]; /* blocks; each block has spec.block threads */
    dsa_launch_buffer buffers[DSA_MAX_KERNEL_ARGS]; /* in the template's order */
    int n_buffers;
    dsa_launch_scalar scalars[DSA_MAX_KERNEL_ARGS]; /* in the template's order */
    int n_scalars;
} dsa_launch;

/* Launches run in order on the context's queue. */
typedef struct dsa_plan {
    dsa_launch launch[DSA_PLAN_MAX_LAUNCHES];
    int n;
} dsa_plan;

/* Scratch bytes the op's plan needs on this device (0 for most ops). */
dsa_status dsa_plan_workspace(const dsa_device_info *dev, dsa_op op, const void *args, uint64_t *bytes);
/* The launches of a validated op on this device; ws is the resolved workspace. An op without a
 * template yet is DSA_ERROR_UNSUPPORTED with a message naming it. */
dsa_status dsa_plan_build(const dsa_device_info *dev, dsa_op op, const void *args, const dsa_workspace *ws,
                          dsa_plan *plan);

/* ---- helpers for plan files ---- */
/* The specialization of kernel `name` for a device: the kernel's defaults, then the DSA_TUNING
 * overlay (templates/tuning.c), then `adjust` by the plan (dtypes, dims); checked for the device. */
dsa_status dsa_plan_kernel(dsa_plan *plan, const dsa_device_info *dev, const char *name,
                           void (*adjust)(dsa_spec *spec, const void *ctx), const void *adjust_ctx,
                           dsa_launch **out);
/* The largest tile_n, halving from `largest` while above `above`, with which `spec` passes the
 * device checks (shared memory above all); 0 if none does. How a plan takes the shared memory a
 * device has (attention kv tiles, top-k candidates). */
int dsa_plan_largest_tile_n(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *dev, int largest,
                            int above);
void dsa_launch_add_buffer(dsa_launch *l, const dsa_tensor *t);
void dsa_launch_add_i64(dsa_launch *l, int64_t v);
void dsa_launch_add_f32(dsa_launch *l, float v);
/* Blocks for n items at `per_block` items a block, capped so grid-stride loops cover the rest. */
uint32_t dsa_grid_for(int64_t n, int64_t per_block);
/* A tensor seen as rows x cols (cols = the last dim) with one row stride: possible when the outer
 * dims nest without gaps. Returns 0 when they do not. */
int dsa_as_rows(const dsa_tensor *t, int64_t *rows, int64_t *row_stride);

/* Each family (core/plan_<family>.c) lists the ops it plans: the plan and, where the op needs
 * scratch, the workspace rule (NULL: none). core/plan.c looks ops up in every family. */
typedef struct dsa_plan_entry {
    dsa_op op;
    dsa_status (*plan)(const dsa_device_info *dev, const void *args, const dsa_workspace *ws, dsa_plan *plan);
    uint64_t (*workspace)(const dsa_device_info *dev, const void *args);
} dsa_plan_entry;
typedef struct dsa_plan_family {
    const dsa_plan_entry *entries;
    int count;
} dsa_plan_family;
extern const dsa_plan_family dsa_plans_quant, dsa_plans_cache, dsa_plans_indexer, dsa_plans_topk, dsa_plans_mla;

#endif
