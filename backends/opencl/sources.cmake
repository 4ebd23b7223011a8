# OpenCL backend: included by the top-level CMakeLists.txt when DSA_ENABLE_OPENCL is ON.
# Only the Khronos headers are needed at build time; libOpenCL.so.1 is opened with dlopen at run
# time (DESIGN.md invariant 2), so nothing is added to DSA_LINK_LIBS.
if(NOT DSA_OPENCL_INCLUDE)
  message(FATAL_ERROR "DSA_ENABLE_OPENCL is ON but CL/cl.h was not found: install the Khronos OpenCL "
                      "headers (Debian: opencl-c-headers) or set DSA_OPENCL_INCLUDE")
endif()
target_sources(dsa_objects PRIVATE
  ${PROJECT_SOURCE_DIR}/backends/opencl/cl_api.c
  ${PROJECT_SOURCE_DIR}/backends/opencl/cl_build.c
  ${PROJECT_SOURCE_DIR}/backends/opencl/cl_backend.c)
target_compile_definitions(dsa_objects PRIVATE DSA_OPENCL_BACKEND_BUILT)
target_include_directories(dsa_objects PRIVATE ${PROJECT_SOURCE_DIR}/backends/opencl)
# Directory-wide rather than on dsa_objects: the headers must also be found by the registry and by
# tests/test_internal_opencl.c, which include backends/opencl/*.h, and DSA_BUILD_OPENCL tells those
# files that the backend's objects are part of this build (so the test skips instead of failing to
# link when the backend is off).
include_directories(${DSA_OPENCL_INCLUDE})
add_compile_definitions(DSA_BUILD_OPENCL=1)
