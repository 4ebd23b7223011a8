/* OpenCL backend: compiling generated OpenCL C and extracting the binary (for the kernel cache). */
#ifndef DSA_CL_BUILD_H
#define DSA_CL_BUILD_H

#include "cl_api.h"

/* Builds `source` for one device of `ctx` with clCreateProgramWithSource + clBuildProgram.
 * kernel_name only labels messages (the program may hold several kernels); options may be NULL.
 * On success *out is a built program the caller releases with clReleaseProgram. A compile error
 * (CL_BUILD_PROGRAM_FAILURE, or build options the compiler refuses) returns DSA_ERROR_COMPILE
 * through dsa_compile_failure, with the build log and the generated lines it points at; any other
 * CL error returns a status from dsa_cl_fail. Warnings of a successful build go to the "compile"
 * log category. On failure *out is NULL and nothing is leaked. */
dsa_status dsa_cl_build(cl_context ctx, cl_device_id device, const char *source, const char *kernel_name,
                        const char *options, cl_program *out);

/* The binary of a built program for `device` (which must be one of the program's devices), in a
 * malloc'd buffer the caller frees; it can be given back to clCreateProgramWithBinary. */
dsa_status dsa_cl_program_binary(cl_program program, cl_device_id device, void **bin, size_t *size);

#endif
