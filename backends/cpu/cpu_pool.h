/* Thread pool lifetime (used by cpu_backend.c); kernels see only cpu_kernels.h. */
#ifndef DSA_CPU_POOL_H
#define DSA_CPU_POOL_H

#include "cpu_kernels.h"

cpu_pool *cpu_pool_create(int threads); /* NULL on out of memory */
void cpu_pool_destroy(cpu_pool *pool);

#endif
