# The CUDA backend's sources. NVRTC (and later the driver API) is loaded with dlopen at run time, so
# nothing is linked here and no CUDA header is needed to build (DESIGN invariant 2); CMAKE_DL_LIBS
# is already in DSA_LINK_LIBS.
target_sources(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR}/nvrtc.c)
target_include_directories(dsa_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR})
