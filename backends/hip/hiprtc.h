/* The HIP dialect's runtime compiler: hiprtc (hip_api.h says where it is loaded from), generated
 * HIP C++ -> a code object for one target.
 *
 * A target is the device's gcnArchName as the runtime reports it ("gfx90a:sramecc+:xnack-"), or
 * whatever a test runtime names its device ("sm_90" for tests/hip_on_cuda). hiprtc of ROCm 5.x
 * aborts the whole process (a heap-corruption abort inside the library) when asked for a
 * processor it does not know: seen here with ROCm 5.2 and gfx940, gfx941, gfx1100, gfx1101 and a
 * misspelled name. So on a runtime older than ROCm 6, a gfx target is compiled only when it is in
 * the table of processors that release knows (dsa_hiprtc_target_known); anything else is
 * DSA_ERROR_UNSUPPORTED without calling hiprtc. ROCm 6 and later return an error instead. */
#ifndef DSA_BACKEND_HIP_HIPRTC_H
#define DSA_BACKEND_HIP_HIPRTC_H

#include "hip_api.h"

#include <stddef.h>

/* 1 when the hiprtc of this runtime can be asked for `target` without risk of aborting: any
 * target on ROCm 6+, a known gfx processor on ROCm 5.x (the feature suffix after ':' ignored),
 * and any non-gfx target (test runtimes). 0 otherwise. */
int dsa_hiprtc_target_known(const dsa_hip_api *hip, const char *target);

/* Compiles one generated source for `target` with --offload-arch=<target> -O3. *binary is
 * malloc'd (the caller frees it). Failures: DSA_ERROR_BACKEND_UNAVAILABLE (no hiprtc, with the
 * reason), DSA_ERROR_UNSUPPORTED (a target this hiprtc would abort on), DSA_ERROR_COMPILE (the
 * log and the generated lines it points at), DSA_ERROR_OUT_OF_MEMORY, DSA_ERROR_INTERNAL. */
dsa_status dsa_hiprtc_compile(const dsa_hip_api *hip, const char *source, const char *kernel_name, const char *target,
                              void **binary, size_t *size);

#endif
