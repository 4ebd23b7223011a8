# libhip_on_cuda.so: the test-only HIP runtime over CUDA (hip_on_cuda.c). A separate module that
# libdsa never links or loads unless DSA_HIP_LIBRARY names it; not installed.
set(_hoc ${CMAKE_CURRENT_LIST_DIR})
set(_hoc_text ${PROJECT_BINARY_DIR}/generated/hip_to_cuda_text.c)
add_custom_command(OUTPUT ${_hoc_text}
  COMMAND ${CMAKE_COMMAND} -DOUT=${_hoc_text} -DROOT=${_hoc} -DFILES=hip_to_cuda.h
          -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${_hoc}/hip_to_cuda.h ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding hip_to_cuda.h" VERBATIM)
add_library(hip_on_cuda MODULE ${_hoc}/hip_on_cuda.c ${_hoc_text})
set_target_properties(hip_on_cuda PROPERTIES PREFIX "lib" C_VISIBILITY_PRESET hidden)
target_include_directories(hip_on_cuda PRIVATE api templates)
# The entry points are HIP's ABI, declared by HIP's headers, which are not included here.
target_compile_options(hip_on_cuda PRIVATE ${DSA_WARNINGS} -Wno-missing-prototypes)
target_link_libraries(hip_on_cuda PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
