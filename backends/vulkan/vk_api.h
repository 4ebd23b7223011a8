/* Vulkan backend, part 1: the loader opened at run time, the process-wide instance, the validation
 * layer's message counter, error names and device discovery.
 *
 * DESIGN.md invariant 2: libdsa never links libvulkan. libvulkan.so.1 (the Khronos loader, which
 * dispatches to every installed driver: lavapipe, NVIDIA, RADV, ANV ...) is opened with dlopen once
 * per process; vkGetInstanceProcAddr is the only symbol taken from it, and every other entry point
 * is resolved through it (instance level) or through vkGetDeviceProcAddr (device level, one table
 * per VkDevice). vulkan/vulkan.h is included for types and constants only (VK_NO_PROTOTYPES), so
 * no symbol of libvulkan is referenced at link time. */
#ifndef DSA_VK_API_H
#define DSA_VK_API_H

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include "internal.h"
#include "kernel_cache.h"

#include <stddef.h>
#include <stdint.h>

/* A VkBuffer travels as the void * of dsa_buffer.native: non-dispatchable handles must be pointers. */
_Static_assert(sizeof(VkBuffer) == sizeof(void *), "the Vulkan backend needs 64-bit handles");

/* Global commands (no instance): X(name). */
#define DSA_VK_GLOBAL_FUNCTIONS(X)                                                                        \
    X(vkCreateInstance)                                                                                   \
    X(vkEnumerateInstanceVersion)                                                                         \
    X(vkEnumerateInstanceLayerProperties)                                                                 \
    X(vkEnumerateInstanceExtensionProperties)

/* Instance commands, all core in Vulkan 1.1. */
#define DSA_VK_INSTANCE_FUNCTIONS(X)                                                                      \
    X(vkDestroyInstance)                                                                                  \
    X(vkEnumeratePhysicalDevices)                                                                         \
    X(vkGetPhysicalDeviceProperties)                                                                      \
    X(vkGetPhysicalDeviceProperties2)                                                                     \
    X(vkGetPhysicalDeviceFeatures2)                                                                       \
    X(vkGetPhysicalDeviceMemoryProperties)                                                                \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                           \
    X(vkEnumerateDeviceExtensionProperties)                                                               \
    X(vkCreateDevice)                                                                                     \
    X(vkGetDeviceProcAddr)

/* Device commands, all core in Vulkan 1.0. */
#define DSA_VK_DEVICE_FUNCTIONS(X)                                                                        \
    X(vkDestroyDevice)                                                                                    \
    X(vkGetDeviceQueue)                                                                                   \
    X(vkDeviceWaitIdle)                                                                                   \
    X(vkQueueSubmit)                                                                                      \
    X(vkCreateCommandPool)                                                                                \
    X(vkDestroyCommandPool)                                                                               \
    X(vkAllocateCommandBuffers)                                                                           \
    X(vkFreeCommandBuffers)                                                                               \
    X(vkBeginCommandBuffer)                                                                               \
    X(vkEndCommandBuffer)                                                                                 \
    X(vkResetCommandBuffer)                                                                               \
    X(vkCreateFence)                                                                                      \
    X(vkDestroyFence)                                                                                     \
    X(vkWaitForFences)                                                                                    \
    X(vkGetFenceStatus)                                                                                   \
    X(vkResetFences)                                                                                      \
    X(vkCreateBuffer)                                                                                     \
    X(vkDestroyBuffer)                                                                                    \
    X(vkGetBufferMemoryRequirements)                                                                      \
    X(vkAllocateMemory)                                                                                   \
    X(vkFreeMemory)                                                                                       \
    X(vkBindBufferMemory)                                                                                 \
    X(vkMapMemory)                                                                                        \
    X(vkUnmapMemory)                                                                                      \
    X(vkCmdCopyBuffer)                                                                                    \
    X(vkCmdFillBuffer)                                                                                    \
    X(vkCmdPipelineBarrier)                                                                               \
    X(vkCmdBindPipeline)                                                                                  \
    X(vkCmdBindDescriptorSets)                                                                            \
    X(vkCmdPushConstants)                                                                                 \
    X(vkCmdDispatch)                                                                                      \
    X(vkCreateShaderModule)                                                                               \
    X(vkDestroyShaderModule)                                                                              \
    X(vkCreateDescriptorSetLayout)                                                                        \
    X(vkDestroyDescriptorSetLayout)                                                                       \
    X(vkCreatePipelineLayout)                                                                             \
    X(vkDestroyPipelineLayout)                                                                            \
    X(vkCreatePipelineCache)                                                                              \
    X(vkDestroyPipelineCache)                                                                             \
    X(vkGetPipelineCacheData)                                                                             \
    X(vkCreateSemaphore)                                                                                  \
    X(vkDestroySemaphore)                                                                                 \
    X(vkCreateComputePipelines)                                                                           \
    X(vkDestroyPipeline)                                                                                  \
    X(vkCreateDescriptorPool)                                                                             \
    X(vkDestroyDescriptorPool)                                                                            \
    X(vkResetDescriptorPool)                                                                              \
    X(vkAllocateDescriptorSets)                                                                           \
    X(vkUpdateDescriptorSets)

/* Device commands of Vulkan 1.2 that 1.1 devices offer through an extension under a KHR name:
 * X(name, extension name). Optional: NULL where neither is offered (the feature is then off). */
#define DSA_VK_DEVICE_FUNCTIONS_1_2(X)                                                                    \
    X(vkGetBufferDeviceAddress, vkGetBufferDeviceAddressKHR)                                              \
    X(vkGetSemaphoreCounterValue, vkGetSemaphoreCounterValueKHR)                                          \
    X(vkWaitSemaphores, vkWaitSemaphoresKHR)

#define DSA_VK_MEMBER(name) PFN_##name name;
#define DSA_VK_MEMBER2(name, khr) PFN_##name name;

/* The process-wide state: the loader's global and instance commands and the one VkInstance every
 * context shares. */
typedef struct dsa_vk_api {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    DSA_VK_GLOBAL_FUNCTIONS(DSA_VK_MEMBER)
    DSA_VK_INSTANCE_FUNCTIONS(DSA_VK_MEMBER)
    VkInstance instance;
    uint32_t instance_version; /* what the loader offers (VK_MAKE_API_VERSION) */
    uint32_t api_version;      /* what the instance was created for: min(loader, 1.3) */
    int validation;            /* VK_LAYER_KHRONOS_validation is enabled (DSA_VULKAN_VALIDATION=1) */
} dsa_vk_api;

/* One VkDevice's commands (from vkGetDeviceProcAddr, so calls skip the loader's trampolines). */
typedef struct dsa_vk_device_api {
    DSA_VK_DEVICE_FUNCTIONS(DSA_VK_MEMBER)
    DSA_VK_DEVICE_FUNCTIONS_1_2(DSA_VK_MEMBER2)
} dsa_vk_device_api;

/* Loads libvulkan.so.1, creates the instance (Vulkan 1.1 or newer; with DSA_VULKAN_VALIDATION=1 also
 * the Khronos validation layer and a VK_EXT_debug_utils messenger logging to category "device"), once
 * per process, thread-safe. The instance lives until the process exits. On failure returns
 * DSA_ERROR_BACKEND_UNAVAILABLE with the reason ("libvulkan.so.1: cannot open ...", "vkCreateInstance:
 * VK_ERROR_INCOMPATIBLE_DRIVER") in dsa_last_error(), every time it is asked. */
dsa_status dsa_vk_load(const dsa_vk_api **api);

/* Resolves every device command for `device` into *out; DSA_ERROR_DRIVER naming a missing one.
 * The optional 1.2 commands (DSA_VK_DEVICE_FUNCTIONS_1_2) are left NULL where absent. */
dsa_status dsa_vk_load_device(const dsa_vk_api *api, VkDevice device, dsa_vk_device_api *out);

/* "VK_ERROR_DEVICE_LOST" for -4; "unknown VkResult" otherwise. Never NULL. */
const char *dsa_vk_result_name(VkResult r);

/* A failed Vulkan call as a status whose message names the call and the result:
 * VK_ERROR_OUT_OF_HOST_MEMORY -> DSA_ERROR_OUT_OF_MEMORY, VK_ERROR_OUT_OF_DEVICE_MEMORY ->
 * DSA_ERROR_DEVICE_OUT_OF_MEMORY, VK_ERROR_DEVICE_LOST -> DSA_ERROR_DEVICE_LOST, else DSA_ERROR_DRIVER. */
dsa_status dsa_vk_fail(VkResult r, const char *call);

/* What a physical device offers, as the backend needs it (probe and context creation share it). */
typedef struct dsa_vk_device_desc {
    VkPhysicalDevice physical;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memory;
    uint32_t queue_family;        /* the first family with compute */
    uint32_t subgroup_size;       /* default subgroup size */
    uint32_t subgroup_ops;        /* VkSubgroupFeatureFlags usable in compute shaders (0 if none) */
    uint32_t min_subgroup_size, max_subgroup_size; /* with size control; else both subgroup_size */
    uint64_t max_allocation;      /* maxMemoryAllocationSize (maintenance3) */
    int has_driver_props;         /* driver_id, driver_name, driver_info are valid */
    VkDriverId driver_id;
    char driver_name[VK_MAX_DRIVER_NAME_SIZE];
    char driver_info[VK_MAX_DRIVER_INFO_SIZE];
    uint8_t uuid[VK_UUID_SIZE];
    /* Features (what can be enabled) and the extensions they need on a Vulkan 1.1 device. */
    int shader_int64, shader_float64, shader_float16, shader_int8;
    int storage8, storage16;      /* storageBuffer8BitAccess, storageBuffer16BitAccess */
    int size_control;             /* subgroupSizeControl, compute stage among requiredSubgroupSizeStages */
    int full_subgroups;           /* computeFullSubgroups */
    int int_dot;                  /* shaderIntegerDotProduct */
    int bda;                      /* bufferDeviceAddress */
    int timeline;                 /* timelineSemaphore */
    int denorm_preserve32;        /* shaderDenormPreserveFloat32 on a Vulkan 1.2 device (see below) */
    int coop_matrix;              /* VK_KHR_cooperative_matrix or VK_NV_cooperative_matrix offered */
    int coop_matrix_khr;          /* the KHR one (the one a dialect path would use) */
    int ext_8bit_storage, ext_float16_int8, ext_size_control, ext_int_dot; /* needed as extensions */
    int ext_bda, ext_timeline;
} dsa_vk_device_desc;

/* The largest storage-buffer binding used: maxStorageBufferRange, or less where the environment
 * variable DSA_VULKAN_MAX_RANGE (bytes, >= 256, a multiple of 4) asks for less, so that the
 * device-address path for larger tensors is exercised on any device (tests, CI on lavapipe). */
uint64_t dsa_vk_binding_limit(const dsa_vk_device_desc *d);

/* Adds the DenormPreserve execution mode for 32-bit floats to a SPIR-V compute module (with its
 * capability and SPV_KHR_float_controls), for devices that flush fp32 denormals unless asked not to
 * (the NVIDIA driver does): the exact ops (dequantize_fp8, the cache readers) produce and consume
 * fp32 denormals (SPEC.md: bit-exact), and a flush turns them into zeros. Only for a device with
 * denorm_preserve32. *out is malloc'd (*out_count words); a module that cannot be parsed is
 * DSA_ERROR_INTERNAL. */
dsa_status dsa_vk_spirv_preserve_denorms(const uint32_t *words, size_t count, uint32_t **out, size_t *out_count);

/* Fills *d for physical device pd. Never fails: what cannot be queried is reported as absent. */
void dsa_vk_describe(const dsa_vk_api *api, VkPhysicalDevice pd, dsa_vk_device_desc *d);

/* Why ops cannot run on a device ("needs 64-bit integers (shaderInt64)"), or NULL when they can. */
const char *dsa_vk_missing_feature(const dsa_vk_device_desc *d);

/* dsa_backend_ops.probe for Vulkan: every physical device with a compute queue, in the loader's order.
 * Remembers each listed device's VkPhysicalDevice (dsa_vk_physical_device). */
dsa_status dsa_vk_probe(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len);

/* The VkPhysicalDevice of device `index` (dsa_device_info.index) of the probe. */
dsa_status dsa_vk_physical_device(int index, VkPhysicalDevice *pd);

/* Validation layer messages seen so far in this process (errors and warnings, counted by the debug
 * messenger); both 0 when validation is off. Either pointer may be NULL. For tests. */
void dsa_vk_validation_counts(uint64_t *errors, uint64_t *warnings);
/* Whether the validation layer is active (DSA_VULKAN_VALIDATION=1 and the layer is installed). Loads
 * the backend if needed; 0 when Vulkan is unavailable. */
int dsa_vk_validation_active(void);

/* The persisted VkPipelineCache (vk_backend.c): the kernel-cache key of a device's entry (vendor,
 * device, driver version, pipelineCacheUUID, driver, library version), and the check an entry's
 * payload passes before the driver sees it: NULL, or why it is ignored ("another
 * pipelineCacheUUID", "truncated or padded" ...). For tests. */
dsa_cache_key dsa_vk_pipeline_cache_key(const dsa_vk_device_desc *d);
const char *dsa_vk_pipeline_cache_check(const dsa_vk_device_desc *d, const void *data, size_t size);

/* Enqueues a plan's launches on a Vulkan context (vk_backend.c) without waiting for them (like every
 * op: dsa_synchronize or a buffer read waits): the path every op takes after dsa_plan_build, open to
 * tests of internals that launch kernels of their own. */
struct dsa_plan;
dsa_status dsa_vk_run_plan(dsa_context *ctx, const struct dsa_plan *plan);

/* The context's submission ring (vk_backend.c), as tests look at it. Reading it waits for nothing:
 * `done` polls the fences of the slots in flight. */
typedef struct dsa_vk_ring_state {
    int slots;            /* command buffers (with fence and descriptor pool) in the ring */
    int in_flight;        /* submitted and not yet recycled */
    int done;             /* of those, how many have signalled their fence by now */
    uint64_t submits;     /* submissions so far (ops, copies, fills) */
    uint64_t full_waits;  /* host waits of the enqueue path because every slot was in flight */
    uint64_t drains;      /* waits for the whole ring (synchronize, host reads and writes, frees) */
} dsa_vk_ring_state;
dsa_status dsa_vk_ring_state_get(dsa_context *ctx, dsa_vk_ring_state *out);

/* For tests of the error paths: the next call of `call` ("vkQueueSubmit", or "vkWaitForFences",
 * which also stands for a fence poll) on this context returns `result` without reaching the
 * driver. The work itself still runs; libdsa only believes it failed. */
dsa_status dsa_vk_inject_failure(dsa_context *ctx, const char *call, VkResult result);

#endif
