/* hip_to_cuda.h: HIP names -> CUDA names, for compiling libdsa's generated HIP C++ with NVRTC or nvcc
 * on an NVIDIA GPU (tests/hip_on_cuda; docs/backends/hip.md). A test aid, never part of libdsa.
 *
 * hiprtc pre-includes the HIP runtime header; this file stands in for it. It covers the HIP device
 * vocabulary the HIP dialect (templates/dialects/hip.h) may use that CUDA spells differently, and
 * says which platform the code is compiled for, so the dialect's wave-size check applies (HIP on
 * NVIDIA: 32-wide warps). Names CUDA already shares with HIP (threadIdx, __syncthreads,
 * __float_as_uint, atomicAdd, expf ...) need nothing here. */
#ifndef DSA_HIP_TO_CUDA_H
#define DSA_HIP_TO_CUDA_H

#define __HIP_PLATFORM_NVIDIA__ 1
#define __HIP_PLATFORM_NVCC__ 1

/* HIP's spelled-out index names. */
#define hipThreadIdx_x threadIdx.x
#define hipThreadIdx_y threadIdx.y
#define hipBlockIdx_x blockIdx.x
#define hipBlockIdx_y blockIdx.y
#define hipBlockDim_x blockDim.x
#define hipGridDim_x gridDim.x

/* HIP's wave intrinsics take no mask (the whole wave takes part); CUDA's warp ones do. */
#define DSA_FULL_WARP 0xffffffffu
#define __shfl(v, lane, ...) __shfl_sync(DSA_FULL_WARP, (v), (lane), ##__VA_ARGS__)
#define __shfl_xor(v, mask, ...) __shfl_xor_sync(DSA_FULL_WARP, (v), (mask), ##__VA_ARGS__)
#define __shfl_up(v, delta, ...) __shfl_up_sync(DSA_FULL_WARP, (v), (delta), ##__VA_ARGS__)
#define __shfl_down(v, delta, ...) __shfl_down_sync(DSA_FULL_WARP, (v), (delta), ##__VA_ARGS__)
#define __ballot(p) ((unsigned long long)__ballot_sync(DSA_FULL_WARP, (p)))
#define __any(p) __any_sync(DSA_FULL_WARP, (p))
#define __all(p) __all_sync(DSA_FULL_WARP, (p))

/* HIP's lane id (libdsa launches 1-D blocks). */
__device__ __forceinline__ unsigned int __lane_id(void) { return threadIdx.x & 31u; }

#endif
