/* The CUDA dialect's runtime compiler: NVRTC, loaded with dlopen so that libdsa links no CUDA library
 * (DESIGN invariant 2) and builds without CUDA headers. A machine without NVRTC still runs the
 * binaries compiled at build time or cached on disk; dsa_nvrtc_open then says why it cannot compile.
 *
 * Which library: $DSA_NVRTC_PATH when set (a full path, and then nothing else, so an override that
 * does not load is reported instead of silently replaced); otherwise the first that loads of
 * libnvrtc.so.13, libnvrtc.so.12, libnvrtc.so, $CUDA_HOME/lib64/libnvrtc.so*,
 * /usr/local/cuda/lib64/libnvrtc.so.13 and .12. */
#ifndef DSA_BACKEND_CUDA_NVRTC_H
#define DSA_BACKEND_CUDA_NVRTC_H

#include "dsa.h"

#include <stddef.h>

typedef struct dsa_nvrtc dsa_nvrtc;

/* A loaded NVRTC, shared by the whole process and never unloaded (its programs may be compiled
 * from any thread at any time). Successful opens are cached per library choice (the value of
 * DSA_NVRTC_PATH, or the default search); a failed open is retried by the next call, so setting
 * the override later takes effect. Thread-safe.
 * Fails with DSA_ERROR_BACKEND_UNAVAILABLE naming every path tried and why each did not load, or
 * which entry point a library lacks. */
dsa_status dsa_nvrtc_open(dsa_nvrtc **out);

/* The NVRTC version (e.g. 13, 0). */
dsa_status dsa_nvrtc_version(dsa_nvrtc *nv, int *major, int *minor);

/* The library file that was loaded (as it was named to dlopen). */
const char *dsa_nvrtc_path(const dsa_nvrtc *nv);

/* Compiles one self-contained CUDA C++ source (it includes no CUDA header) for `arch`, given as
 * "sm_XX" with an optional feature suffix ("sm_80", "sm_90a", "sm_100f").
 * want_cubin != 0: a cubin for sm_XX; want_cubin == 0: PTX for compute_XX (NUL-terminated text,
 * *size counting the NUL). Options: --gpu-architecture, -std=c++17, then extra_options in order.
 * *binary is malloc'd; the caller frees it. On failure *binary is NULL and *size 0:
 *  - DSA_ERROR_COMPILE: the source does not compile (the message carries the NVRTC log and the
 *    generated lines it points at), or NVRTC rejected an option;
 *  - DSA_ERROR_UNSUPPORTED: this NVRTC cannot target `arch` (the message lists those it can);
 *  - DSA_ERROR_INVALID_ARGUMENT / NULL_POINTER: a malformed arch or a missing argument;
 *  - DSA_ERROR_OUT_OF_MEMORY, DSA_ERROR_INTERNAL: NVRTC's own failures, with its error string. */
dsa_status dsa_nvrtc_compile(dsa_nvrtc *nv, const char *source, const char *kernel_name, const char *arch,
                             int want_cubin, const char *const *extra_options, int n_extra, void **binary,
                             size_t *size);

#endif
