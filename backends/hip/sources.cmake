# The HIP backend's sources. The HIP runtime (libamdhip64) and hiprtc are loaded with dlopen at run
# time, so nothing is linked here and no HIP header is needed to build (DESIGN invariant 2);
# CMAKE_DL_LIBS is already in DSA_LINK_LIBS.
target_sources(dsa_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/hip_api.c
  ${CMAKE_CURRENT_LIST_DIR}/hiprtc.c
  ${CMAKE_CURRENT_LIST_DIR}/hip_backend.c)
target_include_directories(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR})
# The registry (core/registry.c) lists the backend's table only when this is defined.
target_compile_definitions(dsa_objects PRIVATE DSA_HIP_BACKEND_BUILT)
# Directory-wide: tells tests/test_internal_hip.c that the loader and hiprtc wrapper are in dsa_internal.
add_compile_definitions(DSA_BUILD_HIP=1)
