# Kernels compiled at build time (DESIGN invariant 6; core/prebuilt.h): the default specializations
# of every registered kernel, as CUDA cubins for sm_80 and sm_90a (NVRTC) and SPIR-V 1.3 (glslang),
# are compiled into libdsa so that a machine with a driver but no compiler still runs.
#
# Included by the top-level CMakeLists.txt after the backends' fragments (it needs to know whether
# nvrtc.c and glslang are in the build). It builds dsa_prebuild (tools/prebuild/prebuild.c) from the
# template layer's sources only, without the table it produces, then runs it once per kernel template
# (templates/kernels/NAME.dsa -> generated/prebuilt_NAME.c), so the build runs them in parallel and
# reruns only the kernel whose template changed (a prelude or generator change reruns them all).
# generated/prebuilt_kernels.c lists those files' tables; core/prebuilt.c reads it. Without a
# compiler at build time (or with DSA_PREBUILT=OFF) nothing of this is built and the table is empty.
#
# A compiler that cannot be loaded or a kernel that does not compile is a build message (on stderr
# of that step), never a build failure: the library compiles that kernel at run time instead.

option(DSA_PREBUILT "Compile the kernels' default specializations into libdsa at build time (NVRTC, glslang)" ON)

set(_dsa_pb_sources "")
set(_dsa_pb_targets "")
if(DSA_ENABLE_CUDA AND EXISTS ${PROJECT_SOURCE_DIR}/backends/cuda/nvrtc.c)
  list(APPEND _dsa_pb_sources ${PROJECT_SOURCE_DIR}/backends/cuda/nvrtc.c)
  list(APPEND _dsa_pb_targets "cuda:sm_80" "cuda:sm_90a")
endif()
if(DSA_HAVE_GLSLANG)
  list(APPEND _dsa_pb_sources ${PROJECT_SOURCE_DIR}/backends/vulkan/glsl_compile.c)
  list(APPEND _dsa_pb_targets "spirv")
endif()

if(NOT DSA_PREBUILT)
  message(STATUS "libdsa: build-time kernels off (DSA_PREBUILT=OFF); kernels are compiled at run time")
elseif(NOT _dsa_pb_targets)
  message(STATUS "libdsa: no build-time kernels (neither the CUDA backend's NVRTC nor glslang is in this build)")
else()
  string(REPLACE ";" ", " _dsa_pb_list "${_dsa_pb_targets}")
  message(STATUS "libdsa: build-time kernels for ${_dsa_pb_list} (NVRTC is loaded when the build runs; "
                 "without it the CUDA binaries are skipped with a message)")
  # Directory-wide: the generator compiles for these, and tests/test_internal_prebuilt.c expects them.
  if("spirv" IN_LIST _dsa_pb_targets)
    add_compile_definitions(DSA_PREBUILT_SPIRV=1)
  endif()
  if("cuda:sm_90a" IN_LIST _dsa_pb_targets)
    add_compile_definitions(DSA_PREBUILT_CUDA=1)
  endif()

  # The generator: the template layer, error/log/name helpers and the compilers. Its own
  # dsa_embedded_text reads the templates from the source tree (no embedded_texts.c).
  file(GLOB _dsa_pb_template_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/templates/*.c)
  add_executable(dsa_prebuild ${PROJECT_SOURCE_DIR}/tools/prebuild/prebuild.c ${_dsa_pb_template_sources}
    ${PROJECT_SOURCE_DIR}/core/error.c ${PROJECT_SOURCE_DIR}/core/log.c ${PROJECT_SOURCE_DIR}/core/names.c
    ${PROJECT_SOURCE_DIR}/core/compile_log.c ${_dsa_pb_sources})
  target_include_directories(dsa_prebuild PRIVATE ${PROJECT_SOURCE_DIR}/api ${PROJECT_SOURCE_DIR}/core
    ${PROJECT_SOURCE_DIR}/templates ${PROJECT_SOURCE_DIR}/backends/cuda ${PROJECT_SOURCE_DIR}/backends/vulkan
    ${DSA_GLSLANG_INCLUDE} ${DSA_SPIRV_TOOLS_INCLUDE})
  target_compile_options(dsa_prebuild PRIVATE ${DSA_WARNINGS})
  target_link_libraries(dsa_prebuild PRIVATE ${DSA_LINK_LIBS})

  file(GLOB _dsa_pb_kernels CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/templates/kernels/*.dsa)
  # Preludes and the algorithm files kernels @include: a change to any rebuilds every kernel.
  file(GLOB _dsa_pb_preludes CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/templates/dialects/*.h
    ${PROJECT_SOURCE_DIR}/templates/kernels/*.dsai)
  # With Ninja an unchanged output is left untouched (restat) and its object is not rebuilt; other
  # generators compare times only, so there the output is always rewritten.
  set(_dsa_pb_write "")
  if(NOT CMAKE_GENERATOR MATCHES "Ninja")
    set(_dsa_pb_write --always-write)
  endif()
  set(_dsa_pb_outputs "")
  set(_dsa_pb_decls "")
  set(_dsa_pb_parts "")
  foreach(_dsa_pb_kernel ${_dsa_pb_kernels})
    get_filename_component(_dsa_pb_name ${_dsa_pb_kernel} NAME_WE)
    string(MAKE_C_IDENTIFIER "${_dsa_pb_name}" _dsa_pb_id)
    set(_dsa_pb_out ${PROJECT_BINARY_DIR}/generated/prebuilt_${_dsa_pb_id}.c)
    add_custom_command(OUTPUT ${_dsa_pb_out}
      COMMAND dsa_prebuild --templates ${PROJECT_SOURCE_DIR}/templates --kernel ${_dsa_pb_name}
              --out ${_dsa_pb_out} ${_dsa_pb_write}
      DEPENDS dsa_prebuild ${_dsa_pb_kernel} ${_dsa_pb_preludes}
      COMMENT "Compiling kernel ${_dsa_pb_name} at build time (${_dsa_pb_list})" VERBATIM)
    list(APPEND _dsa_pb_outputs ${_dsa_pb_out})
    string(APPEND _dsa_pb_decls "extern const dsa_prebuilt_entry dsa_prebuilt_${_dsa_pb_id}[];\n")
    string(APPEND _dsa_pb_decls "extern const int dsa_prebuilt_${_dsa_pb_id}_count;\n")
    string(APPEND _dsa_pb_parts "    {dsa_prebuilt_${_dsa_pb_id}, &dsa_prebuilt_${_dsa_pb_id}_count},\n")
  endforeach()
  list(LENGTH _dsa_pb_kernels _dsa_pb_n)
  if(_dsa_pb_n EQUAL 0)
    set(_dsa_pb_parts "    {NULL, NULL},\n")
  endif()
  # The index, rewritten only when the list of templates changes.
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/generated/prebuilt_kernels.c CONTENT
"/* Generated by cmake/prebuilt.cmake: the build-time kernel tables, one per template. Do not edit. */
#include \"prebuilt.h\"

#include <stddef.h>

${_dsa_pb_decls}
const dsa_prebuilt_part dsa_prebuilt_parts[] = {
${_dsa_pb_parts}};
const int dsa_prebuilt_part_count = ${_dsa_pb_n};
" @ONLY)
  target_sources(dsa_objects PRIVATE ${PROJECT_BINARY_DIR}/generated/prebuilt_kernels.c ${_dsa_pb_outputs})
  set_property(SOURCE ${PROJECT_SOURCE_DIR}/core/prebuilt.c APPEND PROPERTY COMPILE_DEFINITIONS DSA_HAVE_PREBUILT=1)
endif()
