/*
 * libdsa: DeepSeek Sparse Attention kernels on any accelerator.
 *
 * This is the one public header. Everything a host application needs is here: status codes and
 * error messages, logging, device discovery, contexts, buffers, tensor views and the operations
 * of the specification (docs/ops.md, which follows shared/SPEC.md).
 *
 * Conventions
 *  - Every entry point returns a dsa_status. On failure, dsa_last_error() (thread-local) names the
 *    argument, the value and what was expected; nothing has been written to any output.
 *    A successful call does not clear the message (like errno).
 *  - The library never prints, aborts or exits. Messages go to a log callback, or to stderr for the
 *    categories named in the environment variable DSA_LOG.
 *  - Tensors are row-major, innermost dimension last, strides counted in elements. The innermost
 *    dimension must be contiguous (stride 1); outer strides may be padded.
 *  - Values that live in device memory (indices, ranges, slots, page tables, lengths) are never read
 *    by the host. Kernels clamp or skip them as docs/ops.md says; no value can make a kernel read or
 *    write outside its views.
 */
#ifndef DSA_H
#define DSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DSA_BUILDING_LIBRARY) && defined(__GNUC__)
#define DSA_API __attribute__((visibility("default")))
#else
#define DSA_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */
#define DSA_VERSION_MAJOR 0
#define DSA_VERSION_MINOR 1
#define DSA_VERSION_PATCH 0
/* One integer, comparable: major * 10000 + minor * 100 + patch. */
#define DSA_API_VERSION (DSA_VERSION_MAJOR * 10000 + DSA_VERSION_MINOR * 100 + DSA_VERSION_PATCH)

/* The version of the library actually loaded (may differ from the header's DSA_API_VERSION). */
DSA_API int dsa_version(void);
DSA_API const char *dsa_version_string(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes, grouped by kind in ranges of 100. dsa_status_kind() maps a code to its group.
 * ------------------------------------------------------------------------------------------- */
typedef enum dsa_status {
    DSA_SUCCESS = 0,

    /* 100..199: the caller passed something wrong. Nothing was written. */
    DSA_ERROR_INVALID_ARGUMENT = 100, /* generic: a value out of its allowed range */
    DSA_ERROR_NULL_POINTER = 101,     /* a required pointer, buffer or tensor is missing */
    DSA_ERROR_BAD_DTYPE = 102,        /* a tensor has a dtype the op does not take */
    DSA_ERROR_BAD_SHAPE = 103,        /* wrong rank, or shapes that do not agree */
    DSA_ERROR_BAD_STRIDE = 104,       /* non-unit innermost stride, overlapping or negative stride */
    DSA_ERROR_OUT_OF_BOUNDS = 105,    /* a view (offset + extent) does not fit in its buffer */
    DSA_ERROR_OVERFLOW = 106,         /* a size whose byte count overflows 64 bits or int32 indices */
    DSA_ERROR_BAD_SELECTOR = 107,     /* a device selector that names nothing */
    DSA_ERROR_ALIASING = 108,         /* an output overlaps an input or another output */
    DSA_ERROR_WRONG_CONTEXT = 109,    /* a buffer belongs to another context */

    /* 200..299: valid request, but this device or build cannot do it. */
    DSA_ERROR_UNSUPPORTED = 200,
    DSA_ERROR_NO_DEVICE = 201,           /* no device matches the selector */
    DSA_ERROR_BACKEND_UNAVAILABLE = 202, /* driver missing or backend not in this build */

    /* 300..399: memory. */
    DSA_ERROR_OUT_OF_MEMORY = 300,        /* host memory */
    DSA_ERROR_DEVICE_OUT_OF_MEMORY = 301, /* device memory */
    DSA_ERROR_WORKSPACE_TOO_SMALL = 302,  /* the workspace given is smaller than the query said */

    /* 400..499: the driver or runtime reported an error (its code is in the message). */
    DSA_ERROR_DRIVER = 400,
    DSA_ERROR_DEVICE_LOST = 401,

    /* 500..599: generating or compiling a kernel failed (the log is in the message). */
    DSA_ERROR_COMPILE = 500,

    /* 600..699: a bug in libdsa, or an I/O failure of its own files. Please report. */
    DSA_ERROR_INTERNAL = 600,
    DSA_ERROR_IO = 601
} dsa_status;

typedef enum dsa_status_kind_t {
    DSA_KIND_SUCCESS = 0,
    DSA_KIND_INVALID_ARGUMENT = 1,
    DSA_KIND_UNSUPPORTED = 2,
    DSA_KIND_OUT_OF_MEMORY = 3,
    DSA_KIND_DRIVER = 4,
    DSA_KIND_COMPILE = 5,
    DSA_KIND_INTERNAL = 6
} dsa_status_kind_t;

DSA_API dsa_status_kind_t dsa_status_kind(dsa_status s);
/* A short constant name ("DSA_ERROR_BAD_SHAPE"); never NULL, "unknown status" for other values. */
DSA_API const char *dsa_status_string(dsa_status s);
/* The calling thread's message for its last failed call; "" if none. Valid until the next call. */
DSA_API const char *dsa_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Logging. Silent by default. DSA_LOG=all, or a comma list of categories (api, device, op, compile,
 * cache), turns on a default logger on stderr. A callback set here receives every message instead.
 * ------------------------------------------------------------------------------------------- */
typedef enum dsa_log_level { DSA_LOG_ERROR = 0, DSA_LOG_WARN = 1, DSA_LOG_INFO = 2, DSA_LOG_DEBUG = 3 } dsa_log_level;
typedef void (*dsa_log_fn)(dsa_log_level level, const char *category, const char *message, void *user);
/* fn == NULL restores the default (DSA_LOG-controlled stderr) logger. Thread-safe. */
DSA_API void dsa_set_log_callback(dsa_log_fn fn, void *user);

/* ---------------------------------------------------------------------------------------------
 * Data types
 * ------------------------------------------------------------------------------------------- */
typedef enum dsa_dtype {
    DSA_DTYPE_INVALID = 0,
    DSA_BF16 = 1,
    DSA_FP16 = 2,
    DSA_FP32 = 3,
    DSA_INT32 = 4,
    DSA_UINT8 = 5,
    DSA_FP8_E4M3 = 6 /* OCP E4M3FN: bias 7, no infinities, 0x7F/0xFF NaN, max 448 */
} dsa_dtype;

DSA_API size_t dsa_dtype_size(dsa_dtype t); /* 0 for an invalid dtype */
DSA_API const char *dsa_dtype_name(dsa_dtype t);

/* ---------------------------------------------------------------------------------------------
 * Backends and devices
 * ------------------------------------------------------------------------------------------- */
typedef enum dsa_backend {
    DSA_BACKEND_CPU = 0,
    DSA_BACKEND_CUDA = 1,
    DSA_BACKEND_HIP = 2,
    DSA_BACKEND_OPENCL = 3,
    DSA_BACKEND_VULKAN = 4,
    DSA_BACKEND_COUNT = 5
} dsa_backend;

DSA_API const char *dsa_backend_name(dsa_backend b); /* "cpu", "cuda", "hip", "opencl", "vulkan" */

/* Whether a backend found a usable driver and at least one device; if not, *reason says why
 * ("not built: configure with DSA_ENABLE_CUDA=ON", "libcuda.so.1: cannot open shared object file").
 * reason may be NULL. The string lives as long as the library. */
DSA_API dsa_status dsa_backend_available(dsa_backend b, int *available, const char **reason);

/* Capability bits of dsa_device_info.caps: what the hardware does natively. fp8 and bf16 ops run
 * on every device regardless (they are decoded by bit operations where the hardware lacks them). */
enum {
    DSA_CAP_FP16 = 1u << 0,         /* fp16 arithmetic */
    DSA_CAP_BF16 = 1u << 1,         /* bf16 arithmetic or dot products */
    DSA_CAP_FP8 = 1u << 2,          /* fp8 (e4m3) arithmetic or matrix units */
    DSA_CAP_INT8_DOT = 1u << 3,     /* packed int8 dot product */
    DSA_CAP_SUBGROUPS = 1u << 4,    /* subgroup / warp / wavefront operations */
    DSA_CAP_MATRIX_UNITS = 1u << 5, /* tensor cores, MFMA/WMMA, cooperative matrices */
    DSA_CAP_INT64 = 1u << 6,        /* 64-bit integers in kernels */
    DSA_CAP_FP64 = 1u << 7,         /* fp64 arithmetic */
    DSA_CAP_INLINE_PTX = 1u << 8    /* the kernel compiler takes inline PTX (NVIDIA's OpenCL) */
};

typedef struct dsa_device_info {
    dsa_backend backend;
    int index;        /* index within its backend: the N of "cuda:N" */
    char name[256];   /* device name as the driver reports it */
    char vendor[128]; /* vendor (or, for OpenCL, platform) name */
    char platform[128];       /* OpenCL platform, Vulkan driver name; "" elsewhere */
    char driver_version[64];  /* driver version string */
    char runtime_version[64]; /* runtime / API version string */
    uint64_t memory_bytes;    /* global memory */
    uint64_t max_buffer_bytes;      /* largest single buffer or binding */
    uint64_t shared_mem_per_block;  /* local / shared memory available to one block */
    uint32_t compute_units;   /* SMs, CUs, or CPU threads used */
    uint32_t caps;            /* DSA_CAP_* bits */
    uint32_t subgroup_sizes;  /* bit n set: subgroup size 2^n is supported (CPU: 1) */
    char matrix_units[64];    /* e.g. "mma.sync bf16 fp8, wgmma"; "" if none */
    uint8_t uuid[16];         /* physical device identity, when has_uuid */
    int has_uuid;
    int is_cpu;               /* the device is a CPU (native backend or an emulation) */
    int is_emulation;         /* a CPU pretending to be a GPU (PoCL, lavapipe): auto never picks it */
    char features[256];       /* what the backend queried beyond caps, as words (Vulkan: "int8 fp16
                                 storage8 storage16 ... bda timeline"); "" where it says nothing */
} dsa_device_info;

/* Devices across all available backends, in backend order (cpu, cuda, hip, opencl, vulkan). */
DSA_API dsa_status dsa_device_count(int *count);
DSA_API dsa_status dsa_device_get_info(int global_index, dsa_device_info *info);

/* ---------------------------------------------------------------------------------------------
 * Contexts. A context is one device plus one in-order queue (CUDA stream, HIP stream, OpenCL
 * command queue, Vulkan queue; on the CPU backend, ops run on the calling thread plus the
 * context's worker threads and are complete when the call returns).
 *
 * Selector: "auto", "cpu", "backend:index" ("cuda:1") or "backend:name" where name is matched
 * case-insensitively as a substring of the device name, vendor, platform or driver/runtime version
 * strings ("opencl:nvidia", "opencl:pocl",
 * "vulkan:llvmpipe"). "auto" (or NULL) prefers a GPU: CUDA or HIP, then Vulkan, then OpenCL, then
 * the CPU backend; CPU emulations (PoCL, lavapipe) are never chosen by auto. When the selector is
 * "auto" or NULL, the environment variable DSA_DEVICE, if set, is used instead.
 * ------------------------------------------------------------------------------------------- */
typedef struct dsa_context dsa_context;
typedef struct dsa_buffer dsa_buffer;

typedef struct dsa_context_desc {
    const char *selector; /* as above; NULL means "auto" */
    /* Optional native handles to run on the application's own objects (NULL: the library creates
     * its own). CUDA: CUcontext, CUstream. HIP: -, hipStream_t. OpenCL: cl_context, cl_command_queue
     * (native_device = cl_device_id). Vulkan: VkDevice, VkQueue (native_device = VkPhysicalDevice).
     * The CPU backend takes none. */
    void *native_context;
    void *native_queue;
    void *native_device;
    int num_threads; /* CPU backend: worker threads; 0 = all online cores */
} dsa_context_desc;

DSA_API dsa_status dsa_context_create(const char *selector, dsa_context **out);
DSA_API dsa_status dsa_context_create_ex(const dsa_context_desc *desc, dsa_context **out);
/* Waits for outstanding work, then frees the context. NULL is a no-op. Buffers must be freed first. */
DSA_API dsa_status dsa_context_destroy(dsa_context *ctx);
DSA_API dsa_status dsa_context_get_info(const dsa_context *ctx, dsa_device_info *info);
/* Blocks until every op enqueued on the context's queue has finished. */
DSA_API dsa_status dsa_synchronize(dsa_context *ctx);

/* Interop with the application's own events (OpenCL: cl_event). The next op enqueued on the
 * context waits for these events (they are retained until then); after each op, the event that
 * signals its completion can be taken with dsa_context_take_event (a new reference the caller
 * releases with clReleaseEvent; NULL when the last call enqueued nothing). Backends whose queues
 * order work without events (CPU: ops complete on return) accept n == 0 only and return NULL.
 *
 * Vulkan works with semaphores instead (a timeline semaphore needs a value besides its handle):
 * each events[i] of dsa_context_wait_events points to a dsa_semaphore, read during the call; the
 * next op's submission waits for it (a binary semaphore is thereby unsignalled; a timeline one
 * until it reaches value). Vulkan ops are asynchronous like the other GPU backends' (submitted, not
 * waited for): a binary semaphore's signal must already be submitted when the op is called
 * (Vulkan's rule), a timeline value may be signalled later (from the host or another queue), and
 * until it is, that op and all work after it on the queue wait, and so do dsa_synchronize and
 * buffer reads. dsa_context_take_semaphore then gives the context's own timeline semaphore and the
 * value that the last op's submission signals when that op has finished (taking it waits for
 * nothing; handle NULL when no op ran since the last take; the semaphore belongs to the context
 * and lives until it is destroyed). On the application's VkDevice, timelineSemaphore must be
 * enabled for it.
 * dsa_context_take_event returns DSA_ERROR_UNSUPPORTED on Vulkan; other backends return
 * DSA_ERROR_UNSUPPORTED from dsa_context_take_semaphore. */
DSA_API dsa_status dsa_context_wait_events(dsa_context *ctx, void *const *events, int n);
DSA_API dsa_status dsa_context_take_event(dsa_context *ctx, void **event);
typedef struct dsa_semaphore {
    void *handle;   /* VkSemaphore */
    uint64_t value; /* timeline semaphore: the value; 0: a binary semaphore */
} dsa_semaphore;
DSA_API dsa_status dsa_context_take_semaphore(dsa_context *ctx, dsa_semaphore *out);

/* ---------------------------------------------------------------------------------------------
 * Buffers: device memory owned by the library, or wrapped from the application.
 * Read, write and copy are ordered with the context's queue and complete before returning.
 * ------------------------------------------------------------------------------------------- */
DSA_API dsa_status dsa_buffer_alloc(dsa_context *ctx, uint64_t bytes, dsa_buffer **out);
/* Wrap memory the application owns; freeing the wrapper does not free the memory. native is a host
 * pointer (CPU), a CUdeviceptr / hipDeviceptr_t cast to void*, a cl_mem or a VkBuffer.
 * Freeing a buffer the library allocated waits for the context's queue first; freeing a wrapper
 * does not wait (the memory stays the application's, to keep alive until work using it is done),
 * so wrapping per call costs no synchronization. */
DSA_API dsa_status dsa_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes, dsa_buffer **out);
DSA_API dsa_status dsa_buffer_free(dsa_buffer *buf); /* NULL is a no-op */
DSA_API dsa_status dsa_buffer_write(dsa_buffer *dst, uint64_t offset, const void *src, uint64_t bytes);
DSA_API dsa_status dsa_buffer_read(dsa_buffer *src, uint64_t offset, void *dst, uint64_t bytes);
DSA_API dsa_status dsa_buffer_copy(dsa_buffer *dst, uint64_t dst_offset, dsa_buffer *src,
                                   uint64_t src_offset, uint64_t bytes);
DSA_API dsa_status dsa_buffer_fill(dsa_buffer *dst, uint64_t offset, uint8_t byte, uint64_t bytes);
DSA_API uint64_t dsa_buffer_size(const dsa_buffer *buf);
/* The native handle (as given to wrap, or allocated); NULL for NULL. */
DSA_API void *dsa_buffer_native(const dsa_buffer *buf);

/* ---------------------------------------------------------------------------------------------
 * Tensor views. The all-zero view (dsa_tensor_none(): rank 0, no buffer) is "absent", for optional
 * arguments. dsa_workspace_size() and dsa_prepare() accept views whose buffer is NULL.
 * ------------------------------------------------------------------------------------------- */
#define DSA_MAX_RANK 4

typedef struct dsa_tensor {
    dsa_buffer *buffer;
    uint64_t offset; /* in bytes, a multiple of the dtype size */
    dsa_dtype dtype;
    int rank;        /* 1..DSA_MAX_RANK */
    int64_t shape[DSA_MAX_RANK];
    int64_t strides[DSA_MAX_RANK]; /* in elements; strides[rank-1] must be 1 */
} dsa_tensor;

/* A view; strides == NULL means contiguous. Returns a view with rank 0 (rejected by every op) if
 * rank is out of range or shape is NULL. */
DSA_API dsa_tensor dsa_tensor_make(dsa_buffer *buffer, uint64_t offset, dsa_dtype dtype, int rank,
                                   const int64_t *shape, const int64_t *strides);
/* The absent (optional) tensor. */
DSA_API dsa_tensor dsa_tensor_none(void);

/* Scratch memory for one op call. Ask dsa_workspace_size() for the size; pass NULL to use the
 * context's own workspace (grown by dsa_prepare, or on first use; pass your own, or prepare first,
 * when enqueueing must never allocate, e.g. inside graph capture). */
/* A workspace buffer belongs to the op's context, offset is a multiple of 256, and it must not
 * overlap the op's tensors. */
typedef struct dsa_workspace {
    dsa_buffer *buffer;
    uint64_t offset;
    uint64_t size;
} dsa_workspace;

/* ---------------------------------------------------------------------------------------------
 * Operations (docs/ops.md gives the exact math, layouts and accuracy of each).
 * Each op takes an argument struct; optional tensors are dsa_tensor_none().
 * ------------------------------------------------------------------------------------------- */
typedef enum dsa_op {
    DSA_OP_INDEXER_LOGITS = 1,        /* dsa_indexer_args */
    DSA_OP_INDEXER_DECODE_LOGITS = 2, /* dsa_indexer_decode_args */
    DSA_OP_TOPK = 3,                  /* dsa_topk_args */
    DSA_OP_SPARSE_MLA_PREFILL = 4,    /* dsa_sparse_mla_prefill_args */
    DSA_OP_SPARSE_MLA_DECODE = 5,     /* dsa_sparse_mla_decode_args */
    DSA_OP_KV_CACHE_WRITE = 6,        /* dsa_cache_write_args, 656-byte MLA cache */
    DSA_OP_INDEX_CACHE_WRITE = 7,     /* dsa_cache_write_args, 132-byte indexer key cache */
    DSA_OP_KV_CACHE_READ = 8,         /* dsa_cache_read_args, 656-byte MLA cache */
    DSA_OP_INDEX_CACHE_READ = 9,      /* dsa_cache_read_args, 132-byte indexer key cache */
    DSA_OP_QUANTIZE_FP8 = 10,         /* dsa_quantize_args */
    DSA_OP_DEQUANTIZE_FP8 = 11,       /* dsa_dequantize_args */
    DSA_OP_COUNT = 12
} dsa_op;

DSA_API const char *dsa_op_name(dsa_op op); /* "indexer_logits", ... ; "unknown" otherwise */

/* Bytes of workspace the op needs for these arguments (buffers may be NULL: only dtypes and
 * shapes are read). */
DSA_API dsa_status dsa_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes);
/* One-time work for the shape class of these arguments (kernel compilation, the context's own
 * workspace) so that later calls only enqueue. Buffers may be NULL. */
DSA_API dsa_status dsa_prepare(dsa_context *ctx, dsa_op op, const void *args);

/* 1. Lightning indexer logits (prefill).
 *    logits[i,j] = k_scale[j] * sum_h max(0, q[i,h,:].k[j,:]) * weights[i,h] for ks[i] <= j < ke[i]
 *    (ks, ke clamped to [0, Skv]), -inf elsewhere. */
typedef struct dsa_indexer_args {
    dsa_tensor q;       /* [S, H, 128] fp8 e4m3, bf16 or fp32 */
    dsa_tensor k;       /* [Skv, 128] same dtype as q */
    dsa_tensor k_scale; /* [Skv] fp32; required for fp8, optional (1.0) otherwise */
    dsa_tensor weights; /* [S, H] fp32 */
    dsa_tensor ks;      /* [S] int32 */
    dsa_tensor ke;      /* [S] int32 */
    dsa_tensor logits;  /* out: [S, Skv] fp32, row stride may be padded */
} dsa_indexer_args;
DSA_API dsa_status dsa_indexer_logits(dsa_context *ctx, const dsa_indexer_args *args,
                                      const dsa_workspace *ws);

/* 1b. Indexer logits for decode, over the paged 132-byte key cache. Query n of batch b sits at
 *     position context_lens[b] - N + n and sees keys 0 <= j <= that position. */
typedef struct dsa_indexer_decode_args {
    dsa_tensor q;            /* [B, N, H, 128] fp8 e4m3, N = 1..4 */
    dsa_tensor k_cache;      /* [num_pages, P, 132] uint8: per page P*128 fp8 bytes, then P fp32 scales;
                                a page's P*132 bytes are contiguous */
    dsa_tensor weights;      /* [B*N, H] fp32 */
    dsa_tensor context_lens; /* [B] int32 */
    dsa_tensor block_table;  /* [B, max_pages] int32 */
    dsa_tensor logits;       /* out: [B*N, max_context_len] fp32, -inf outside each row's range */
} dsa_indexer_decode_args;
DSA_API dsa_status dsa_indexer_decode_logits(dsa_context *ctx, const dsa_indexer_decode_args *args,
                                             const dsa_workspace *ws);

/* 2. Top-k. The k largest scores of each row's range (order: NaN < -inf < numbers, +0 == -0,
 *    lower index wins ties), -1 padded when the range holds fewer than k. */
typedef enum dsa_topk_form {
    DSA_TOPK_ABSOLUTE = 0, /* column j */
    DSA_TOPK_RELATIVE = 1, /* j - ks[i] (ks clamped) */
    DSA_TOPK_SLOT = 2      /* block_table[b][j / P] * P + j % P, b = i / (S / B); -1 if unmapped */
} dsa_topk_form;

typedef struct dsa_topk_args {
    dsa_tensor scores;      /* [S, L] fp32, row stride may be padded */
    dsa_tensor ks;          /* optional [S] int32 row starts (with ke) */
    dsa_tensor ke;          /* optional [S] int32 row ends (with ks) */
    dsa_tensor lengths;     /* optional [S] int32: range [0, lengths[i]); not with ks/ke */
    dsa_tensor block_table; /* [B, max_pages] int32, for DSA_TOPK_SLOT only; B divides S */
    dsa_tensor indices;     /* out: [S, k] int32 */
    int64_t k;              /* 1..65536 */
    dsa_topk_form form;
    int64_t page_size;      /* P, for DSA_TOPK_SLOT (1..65536) */
    int sorted;             /* nonzero: indices by descending score (ties: lower index first) */
} dsa_topk_args;
DSA_API dsa_status dsa_topk(dsa_context *ctx, const dsa_topk_args *args, const dsa_workspace *ws);

/* 3. Sparse MLA prefill (MQA form): each query row attends to the kv rows named by its indices. */
typedef struct dsa_sparse_mla_prefill_args {
    dsa_tensor q;           /* [S, Hq, Dqk] bf16, Dqk = 576 or 512, Hq = 1..128 */
    dsa_tensor kv;          /* [Skv, 1, Dqk] bf16; V is kv[:, :, :512] */
    dsa_tensor indices;     /* [S, 1, topk] int32; < 0 or >= Skv skipped */
    dsa_tensor topk_length; /* optional [S] int32: only the first topk_length[i] entries are used */
    dsa_tensor attn_sink;   /* optional [Hq] fp32 */
    dsa_tensor out;         /* out: [S, Hq, 512] bf16 */
    dsa_tensor max_logits;  /* optional out: [S, Hq] fp32 */
    dsa_tensor lse;         /* optional out: [S, Hq] fp32 (natural log) */
    float sm_scale;         /* finite, explicit (V3.2: 0.13523) */
} dsa_sparse_mla_prefill_args;
DSA_API dsa_status dsa_sparse_mla_prefill(dsa_context *ctx, const dsa_sparse_mla_prefill_args *args,
                                          const dsa_workspace *ws);

/* 4. Sparse MLA decode over the paged 656-byte FP8 KV cache. */
typedef struct dsa_sparse_mla_decode_args {
    dsa_tensor q;           /* [B, Sq, Hq, 576] bf16 */
    dsa_tensor kv_cache;    /* [num_pages, P, 656] uint8 */
    dsa_tensor indices;     /* [B, Sq, topk] int32 physical slots page * P + offset */
    dsa_tensor topk_length; /* optional [B] int32 */
    dsa_tensor attn_sink;   /* optional [Hq] fp32 */
    dsa_tensor out;         /* out: [B, Sq, Hq, 512] bf16 */
    dsa_tensor lse;         /* optional out: [B, Hq, Sq] fp32 */
    float sm_scale;
} dsa_sparse_mla_decode_args;
DSA_API dsa_status dsa_sparse_mla_decode(dsa_context *ctx, const dsa_sparse_mla_decode_args *args,
                                         const dsa_workspace *ws);

/* 5. Cache writers: quantize N rows into their slots, in place. A slot outside the cache is skipped.
 *    A slot named by several rows holds the row with the highest index (as a sequential loop). */
typedef struct dsa_cache_write_args {
    dsa_tensor rows;  /* KV: [N, 576] bf16 or fp32; INDEX: [N, 128] bf16 or fp32 */
    dsa_tensor slots; /* [N] int32, page * P + offset */
    dsa_tensor cache; /* in/out: KV [num_pages, P, 656] uint8; INDEX [num_pages, P, 132] uint8 */
} dsa_cache_write_args;
DSA_API dsa_status dsa_kv_cache_write(dsa_context *ctx, const dsa_cache_write_args *args,
                                      const dsa_workspace *ws);
DSA_API dsa_status dsa_index_cache_write(dsa_context *ctx, const dsa_cache_write_args *args,
                                         const dsa_workspace *ws);

/* Cache readers (dequantize): row r of out is the dequantized content of slots[r]; a row whose slot
 * is outside the cache is left as it was. */
typedef struct dsa_cache_read_args {
    dsa_tensor cache; /* KV [num_pages, P, 656] uint8; INDEX [num_pages, P, 132] uint8 */
    dsa_tensor slots; /* [N] int32 */
    dsa_tensor out;   /* out: KV [N, 576], INDEX [N, 128]; fp32 or bf16 */
} dsa_cache_read_args;
DSA_API dsa_status dsa_kv_cache_read(dsa_context *ctx, const dsa_cache_read_args *args,
                                     const dsa_workspace *ws);
DSA_API dsa_status dsa_index_cache_read(dsa_context *ctx, const dsa_cache_read_args *args,
                                        const dsa_workspace *ws);

/* FP8 group quantization, one power-of-two scale per 128 consecutive values of the last dim. */
typedef struct dsa_quantize_args {
    dsa_tensor x;      /* [..., 128*g] bf16, fp16 or fp32 */
    dsa_tensor q;      /* out: same shape, fp8 e4m3 */
    dsa_tensor scales; /* out: [..., g] fp32 */
} dsa_quantize_args;
DSA_API dsa_status dsa_quantize_fp8(dsa_context *ctx, const dsa_quantize_args *args,
                                    const dsa_workspace *ws);

typedef struct dsa_dequantize_args {
    dsa_tensor q;      /* [..., 128*g] fp8 e4m3 */
    dsa_tensor scales; /* [..., g] fp32 */
    dsa_tensor out;    /* out: same shape as q, fp32 or bf16 */
} dsa_dequantize_args;
DSA_API dsa_status dsa_dequantize_fp8(dsa_context *ctx, const dsa_dequantize_args *args,
                                      const dsa_workspace *ws);

/* Generic form of every op above: args points to the struct named in dsa_op's comment. */
DSA_API dsa_status dsa_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws);

/* ---------------------------------------------------------------------------------------------
 * Code generation: the exact source a backend compiles, with no device present (docs/templates.md).
 * ------------------------------------------------------------------------------------------- */
DSA_API int dsa_codegen_kernel_count(void);
DSA_API const char *dsa_codegen_kernel_name(int i);    /* NULL when i is out of range */
DSA_API const char *dsa_codegen_kernel_summary(int i); /* one line; NULL when out of range */
/* Source of `kernel` for `dialect` ("cuda", "hip", "opencl", "glsl", or "spirv" for disassembled
 * SPIR-V where the build has glslang), specialized by `params` ("block=256,in_dtype=bf16"; NULL or
 * "" for the kernel's portable defaults). *source is malloc'd: release it with dsa_free(). */
DSA_API dsa_status dsa_codegen(const char *kernel, const char *dialect, const char *params, char **source);
/* Frees memory the library returned (dsa_codegen). NULL is a no-op. */
DSA_API void dsa_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* DSA_H */
