# The CUDA backend's sources. NVRTC and the driver API (libcuda.so.1) are loaded with dlopen at run
# time, so nothing is linked here and no CUDA header is needed to build (DESIGN invariant 2);
# CMAKE_DL_LIBS is already in DSA_LINK_LIBS.
target_sources(dsa_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/nvrtc.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda_api.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda_backend.c)
target_include_directories(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR})
# The registry (core/registry.c) lists the backend's table only when this is defined.
target_compile_definitions(dsa_objects PRIVATE DSA_CUDA_BACKEND_BUILT)
# Directory-wide, like the OpenCL fragment: tells tests/test_internal_cuda.c (always built) that the
# backend's objects, and so backends/cuda/cuda_api.h's loader, are in dsa_internal.
add_compile_definitions(DSA_BUILD_CUDA=1)
