# Vulkan backend fragment, included by the top-level CMakeLists.txt when DSA_ENABLE_VULKAN is ON.
#
# libvulkan itself is never linked (the backend dlopens it). What is linked is the GLSL compiler:
# glslang and SPIRV-Tools, as libraries (Debian: glslang-dev, spirv-tools). Static archives are
# preferred so that libdsa.so runs on a machine with only a Vulkan driver; Debian 12 ships only
# static ones, built position-independent, so they go into the shared library as they are.
# Without glslang the backend's sources are left out and Vulkan reports itself unavailable.

find_path(DSA_GLSLANG_INCLUDE glslang/Include/glslang_c_interface.h)
find_path(DSA_SPIRV_TOOLS_INCLUDE spirv-tools/libspirv.h)

# Link order matters for static archives: each library comes before those it uses. glslang's C
# interface (libglslang) uses the front end (MachineIndependent, OSDependent, GenericCodeGen,
# OGLCompiler) and the SPIR-V back end (SPIRV), which calls spirv-opt (SPIRV-Tools-opt), which
# uses SPIRV-Tools. MachineIndependent, OSDependent, GenericCodeGen and OGLCompiler were folded
# into libglslang in later glslang releases, and SPIRV-Tools-opt is absent when glslang was built
# without the optimizer, so those are optional; the others are required.
set(_dsa_glslang_order glslang MachineIndependent OSDependent GenericCodeGen OGLCompiler SPIRV
    glslang-default-resource-limits SPIRV-Tools-opt SPIRV-Tools)
set(_dsa_glslang_required glslang SPIRV glslang-default-resource-limits SPIRV-Tools)
set(_dsa_glslang_libs "")
set(_dsa_glslang_missing "")
foreach(_dsa_lib ${_dsa_glslang_order})
  string(MAKE_C_IDENTIFIER "${_dsa_lib}" _dsa_id)
  # The static archive first; a shared library (other distributions) only when there is none.
  set(_dsa_names lib${_dsa_lib}.a ${_dsa_lib})
  if(_dsa_lib STREQUAL "SPIRV-Tools")
    list(APPEND _dsa_names SPIRV-Tools-shared)
  endif()
  find_library(DSA_LIB_${_dsa_id} NAMES ${_dsa_names})
  if(DSA_LIB_${_dsa_id})
    list(APPEND _dsa_glslang_libs ${DSA_LIB_${_dsa_id}})
  elseif(_dsa_lib IN_LIST _dsa_glslang_required)
    list(APPEND _dsa_glslang_missing lib${_dsa_lib})
  endif()
endforeach()
if(NOT DSA_GLSLANG_INCLUDE)
  list(APPEND _dsa_glslang_missing glslang/Include/glslang_c_interface.h)
endif()
if(NOT DSA_SPIRV_TOOLS_INCLUDE)
  list(APPEND _dsa_glslang_missing spirv-tools/libspirv.h)
endif()

if(_dsa_glslang_missing)
  string(REPLACE ";" ", " _dsa_glslang_missing "${_dsa_glslang_missing}")
  message(STATUS "libdsa: Vulkan backend unavailable: built without glslang (missing ${_dsa_glslang_missing}; "
                 "on Debian install glslang-dev and spirv-tools, then configure again)")
  return()
endif()

set(DSA_HAVE_GLSLANG ON)
target_sources(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR}/glsl_compile.c)
target_include_directories(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${DSA_GLSLANG_INCLUDE}
                           ${DSA_SPIRV_TOOLS_INCLUDE})
# Directory-wide, so that tests (tests/test_internal_glsl.c) and tools know the compiler is in.
add_compile_definitions(DSA_HAVE_GLSLANG=1)

# glslang and SPIRV-Tools are C++: the C link needs libstdc++ (and pthread, m, already in the list).
list(APPEND DSA_LINK_LIBS ${_dsa_glslang_libs} stdc++ Threads::Threads m)
if(NOT APPLE)
  # Keep the archives' symbols out of libdsa.so's dynamic symbol table: libdsa exports only dsa_*,
  # and an application with its own glslang or SPIRV-Tools must not bind to ours (or we to its).
  list(APPEND DSA_LINK_LIBS "-Wl,--exclude-libs,ALL")
endif()
message(STATUS "libdsa: Vulkan GLSL compiler: ${_dsa_glslang_libs}")

# The runtime (vk_api.c: loader, instance, discovery; vk_backend.c: contexts, buffers, pipelines,
# launches). It needs vulkan/vulkan.h for types and constants only (Debian: libvulkan-dev); the
# loader itself is opened with dlopen at run time. Without the header the compiler above is still
# built (dsa codegen --dialect spirv) and the backend reports itself as not in this build.
if(NOT DSA_VULKAN_INCLUDE)
  message(STATUS "libdsa: Vulkan runtime not built: vulkan/vulkan.h not found (Debian: libvulkan-dev)")
  return()
endif()
target_sources(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR}/vk_api.c ${CMAKE_CURRENT_LIST_DIR}/vk_backend.c)
target_include_directories(dsa_objects PRIVATE ${DSA_VULKAN_INCLUDE})
# The registry lists the backend (core/registry.c)...
target_compile_definitions(dsa_objects PRIVATE DSA_VULKAN_BACKEND_BUILT)
# ...and tests/test_internal_vulkan.c, which includes vk_api.h, knows the runtime is in this build.
include_directories(${DSA_VULKAN_INCLUDE})
add_compile_definitions(DSA_BUILD_VULKAN=1)
message(STATUS "libdsa: Vulkan runtime built (libvulkan.so.1 is loaded at run time)")
