/* Vulkan backend: loading the loader, the process-wide instance and validation messenger, error
 * names and device discovery (see vk_api.h). */
#include "vk_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_NAME "libvulkan.so.1"
#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"
#define MAX_VK_DEVICES 64 /* the registry's per-backend limit */

/* ---- loading ---------------------------------------------------------------------------------- */

static dsa_vk_api vk;
static dsa_status load_status = DSA_ERROR_INTERNAL;
static char load_reason[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
static atomic_uint_fast64_t validation_errors, validation_warnings;

static void set_reason(dsa_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(dsa_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(load_reason, sizeof load_reason, fmt, ap);
    va_end(ap);
    load_status = st;
}

/* Every message of the validation layer (and the loader) while the messenger exists: counted, and
 * logged in category "device". Returning VK_FALSE lets the call that triggered it proceed. */
static VKAPI_ATTR VkBool32 VKAPI_CALL debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT types,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    (void)user;
    dsa_log_level level = DSA_LOG_DEBUG;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        atomic_fetch_add(&validation_errors, 1);
        level = DSA_LOG_ERROR;
    } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        atomic_fetch_add(&validation_warnings, 1);
        level = DSA_LOG_WARN;
    }
    dsa_log(level, "device", "vulkan validation: %s: %s", data && data->pMessageIdName ? data->pMessageIdName : "-",
            data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static int layer_present(const char *name)
{
    uint32_t n = 0;
    if (vk.vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *layers = calloc(n, sizeof *layers);
    if (!layers) return 0;
    int found = 0;
    if (vk.vkEnumerateInstanceLayerProperties(&n, layers) >= 0)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(layers[i].layerName, name) == 0;
    free(layers);
    return found;
}

/* Whether an instance extension is offered by the implementation or by layer `layer` (may be NULL). */
static int instance_extension_present(const char *layer, const char *name)
{
    uint32_t n = 0;
    if (vk.vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkExtensionProperties *ext = calloc(n, sizeof *ext);
    if (!ext) return 0;
    int found = 0;
    if (vk.vkEnumerateInstanceExtensionProperties(layer, &n, ext) >= 0)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(ext[i].extensionName, name) == 0;
    free(ext);
    return found;
}

static void load_loader(void)
{
    /* RTLD_LOCAL: the loader's symbols must not satisfy anyone else's references. Only the ABI name
     * .so.1 is tried; the unversioned libvulkan.so exists only with the -dev package. */
    void *lib = dlopen(LOADER_NAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "%s: %s", LOADER_NAME, why ? why : "dlopen failed");
        return;
    }
    /* dlsym returns an object pointer; POSIX guarantees it converts to the function's type. The
     * handle is never closed: drivers keep threads and atexit handlers that must not outlive it. */
    vk.vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
    if (!vk.vkGetInstanceProcAddr) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "%s: symbol vkGetInstanceProcAddr not found", LOADER_NAME);
        return;
    }
#define DSA_VK_GLOBAL(name) vk.name = (PFN_##name)vk.vkGetInstanceProcAddr(VK_NULL_HANDLE, #name);
    DSA_VK_GLOBAL_FUNCTIONS(DSA_VK_GLOBAL)
#undef DSA_VK_GLOBAL
    if (!vk.vkCreateInstance || !vk.vkEnumerateInstanceLayerProperties || !vk.vkEnumerateInstanceExtensionProperties) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "%s: the loader lacks the global Vulkan commands", LOADER_NAME);
        return;
    }
    if (!vk.vkEnumerateInstanceVersion) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "%s is a Vulkan 1.0 loader; libdsa needs Vulkan 1.1 or newer",
                   LOADER_NAME);
        return;
    }
    VkResult r = vk.vkEnumerateInstanceVersion(&vk.instance_version);
    if (r != VK_SUCCESS) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "vkEnumerateInstanceVersion: %s", dsa_vk_result_name(r));
        return;
    }
    if (vk.instance_version < VK_API_VERSION_1_1) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "the Vulkan loader offers version %u.%u; libdsa needs 1.1 or newer",
                   VK_API_VERSION_MAJOR(vk.instance_version), VK_API_VERSION_MINOR(vk.instance_version));
        return;
    }
    vk.api_version = vk.instance_version < VK_API_VERSION_1_3 ? VK_MAKE_API_VERSION(0, 1, VK_API_VERSION_MINOR(vk.instance_version), 0)
                                                              : VK_API_VERSION_1_3;

    /* Validation: the Khronos layer, its debug messenger (installed for instance creation too), and
     * synchronization validation where the layer offers VK_EXT_validation_features. */
    const char *env = getenv("DSA_VULKAN_VALIDATION");
    int want_validation = env && strcmp(env, "1") == 0;
    const char *layers[1];
    const char *extensions[2];
    uint32_t n_layers = 0, n_ext = 0;
    int debug_utils = 0, features_ext = 0;
    if (want_validation) {
        if (layer_present(VALIDATION_LAYER)) {
            layers[n_layers++] = VALIDATION_LAYER;
            debug_utils = instance_extension_present(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                          instance_extension_present(VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
            features_ext = instance_extension_present(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
            if (debug_utils) extensions[n_ext++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
            if (features_ext) extensions[n_ext++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
            if (!debug_utils)
                dsa_log(DSA_LOG_WARN, "device", "vulkan: %s is enabled but VK_EXT_debug_utils is not offered: "
                        "its messages are not counted", VALIDATION_LAYER);
        } else {
            dsa_log(DSA_LOG_WARN, "device", "vulkan: DSA_VULKAN_VALIDATION=1 but %s is not installed (Debian: "
                    "vulkan-validationlayers); running without validation", VALIDATION_LAYER);
        }
    }

    VkDebugUtilsMessengerCreateInfoEXT mci;
    memset(&mci, 0, sizeof mci);
    mci.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
    mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mci.pfnUserCallback = debug_message;

    static const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf;
    memset(&vf, 0, sizeof vf);
    vf.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
    vf.enabledValidationFeatureCount = 1;
    vf.pEnabledValidationFeatures = enables;

    const void *chain = NULL;
    if (features_ext) {
        vf.pNext = chain;
        chain = &vf;
    }
    if (debug_utils) {
        mci.pNext = chain;
        chain = &mci;
    }

    VkApplicationInfo app;
    memset(&app, 0, sizeof app);
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "libdsa";
    app.applicationVersion = VK_MAKE_API_VERSION(0, DSA_VERSION_MAJOR, DSA_VERSION_MINOR, DSA_VERSION_PATCH);
    app.pEngineName = "libdsa";
    app.engineVersion = app.applicationVersion;
    app.apiVersion = vk.api_version;
    VkInstanceCreateInfo ici;
    memset(&ici, 0, sizeof ici);
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pNext = chain;
    ici.pApplicationInfo = &app;
    ici.enabledLayerCount = n_layers;
    ici.ppEnabledLayerNames = n_layers ? layers : NULL;
    ici.enabledExtensionCount = n_ext;
    ici.ppEnabledExtensionNames = n_ext ? extensions : NULL;
    r = vk.vkCreateInstance(&ici, NULL, &vk.instance);
    if (r != VK_SUCCESS) {
        vk.instance = VK_NULL_HANDLE;
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "vkCreateInstance: %s", dsa_vk_result_name(r));
        return;
    }
    const char *missing = NULL;
#define DSA_VK_INSTANCE(name)                                                                             \
    vk.name = (PFN_##name)vk.vkGetInstanceProcAddr(vk.instance, #name);                                   \
    if (!vk.name && !missing) missing = #name;
    DSA_VK_INSTANCE_FUNCTIONS(DSA_VK_INSTANCE)
#undef DSA_VK_INSTANCE
    if (missing) {
        set_reason(DSA_ERROR_BACKEND_UNAVAILABLE, "%s: instance command %s not found (Vulkan 1.1 is needed)",
                   LOADER_NAME, missing);
        /* The instance is kept (never destroyed) like the loader: this happens once per process. */
        return;
    }
    vk.validation = n_layers > 0;
    if (debug_utils) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vk.vkGetInstanceProcAddr(vk.instance, "vkCreateDebugUtilsMessengerEXT");
        mci.pNext = NULL;
        if (!create || create(vk.instance, &mci, NULL, &messenger) != VK_SUCCESS)
            dsa_log(DSA_LOG_WARN, "device", "vulkan: cannot create the debug messenger; validation messages "
                    "are not counted");
    }
    dsa_log(DSA_LOG_INFO, "device", "vulkan: loader %u.%u.%u, instance for Vulkan %u.%u%s",
            VK_API_VERSION_MAJOR(vk.instance_version), VK_API_VERSION_MINOR(vk.instance_version),
            VK_API_VERSION_PATCH(vk.instance_version), VK_API_VERSION_MAJOR(vk.api_version),
            VK_API_VERSION_MINOR(vk.api_version), vk.validation ? ", validation on" : "");
    load_status = DSA_SUCCESS;
}

dsa_status dsa_vk_load(const dsa_vk_api **api)
{
    if (!api) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_vk_load: api is NULL");
    pthread_once(&load_once, load_loader);
    if (load_status != DSA_SUCCESS) {
        *api = NULL;
        return dsa_fail(load_status, "%s", load_reason);
    }
    *api = &vk;
    return DSA_SUCCESS;
}

dsa_status dsa_vk_load_device(const dsa_vk_api *api, VkDevice device, dsa_vk_device_api *out)
{
    memset(out, 0, sizeof *out);
    const char *missing = NULL;
#define DSA_VK_DEVICE(name)                                                                               \
    out->name = (PFN_##name)api->vkGetDeviceProcAddr(device, #name);                                      \
    if (!out->name && !missing) missing = #name;
    DSA_VK_DEVICE_FUNCTIONS(DSA_VK_DEVICE)
#undef DSA_VK_DEVICE
    /* A 1.2 command under its core name, else its extension's (NULL when neither was enabled). */
#define DSA_VK_DEVICE2(name, khr)                                                                         \
    out->name = (PFN_##name)api->vkGetDeviceProcAddr(device, #name);                                      \
    if (!out->name) out->name = (PFN_##name)api->vkGetDeviceProcAddr(device, #khr);
    DSA_VK_DEVICE_FUNCTIONS_1_2(DSA_VK_DEVICE2)
#undef DSA_VK_DEVICE2
    if (missing) return dsa_fail(DSA_ERROR_DRIVER, "vkGetDeviceProcAddr: device command %s not found", missing);
    return DSA_SUCCESS;
}

void dsa_vk_validation_counts(uint64_t *errors, uint64_t *warnings)
{
    if (errors) *errors = (uint64_t)atomic_load(&validation_errors);
    if (warnings) *warnings = (uint64_t)atomic_load(&validation_warnings);
}

int dsa_vk_validation_active(void)
{
    const dsa_vk_api *api;
    if (dsa_vk_load(&api) != DSA_SUCCESS) return 0;
    return api->validation && messenger != VK_NULL_HANDLE;
}

/* ---- results ---------------------------------------------------------------------------------- */

const char *dsa_vk_result_name(VkResult r)
{
    switch (r) {
#define NAME(code) case code: return #code;
    NAME(VK_SUCCESS)
    NAME(VK_NOT_READY)
    NAME(VK_TIMEOUT)
    NAME(VK_EVENT_SET)
    NAME(VK_EVENT_RESET)
    NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
    NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED)
    NAME(VK_ERROR_DEVICE_LOST)
    NAME(VK_ERROR_MEMORY_MAP_FAILED)
    NAME(VK_ERROR_LAYER_NOT_PRESENT)
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
    NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
    NAME(VK_ERROR_TOO_MANY_OBJECTS)
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    NAME(VK_ERROR_FRAGMENTED_POOL)
    NAME(VK_ERROR_UNKNOWN)
    NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    NAME(VK_ERROR_FRAGMENTATION)
    NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    NAME(VK_PIPELINE_COMPILE_REQUIRED)
    NAME(VK_ERROR_SURFACE_LOST_KHR)
    NAME(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR)
    NAME(VK_SUBOPTIMAL_KHR)
    NAME(VK_ERROR_OUT_OF_DATE_KHR)
    NAME(VK_ERROR_INCOMPATIBLE_DISPLAY_KHR)
    NAME(VK_ERROR_VALIDATION_FAILED_EXT)
    NAME(VK_ERROR_INVALID_SHADER_NV)
    NAME(VK_ERROR_INVALID_DRM_FORMAT_MODIFIER_PLANE_LAYOUT_EXT)
    NAME(VK_ERROR_NOT_PERMITTED_KHR)
    NAME(VK_ERROR_FULL_SCREEN_EXCLUSIVE_MODE_LOST_EXT)
    NAME(VK_THREAD_IDLE_KHR)
    NAME(VK_THREAD_DONE_KHR)
    NAME(VK_OPERATION_DEFERRED_KHR)
    NAME(VK_OPERATION_NOT_DEFERRED_KHR)
    NAME(VK_ERROR_COMPRESSION_EXHAUSTED_EXT)
#undef NAME
    default: return "unknown VkResult";
    }
}

dsa_status dsa_vk_fail(VkResult r, const char *call)
{
    dsa_status st = DSA_ERROR_DRIVER;
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY) st = DSA_ERROR_OUT_OF_MEMORY;
    else if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) st = DSA_ERROR_DEVICE_OUT_OF_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST) st = DSA_ERROR_DEVICE_LOST;
    return dsa_fail(st, "vulkan: %s failed: %s (%d)", call, dsa_vk_result_name(r), (int)r);
}

/* ---- describing a device ---------------------------------------------------------------------- */

static int has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0) return 1;
    return 0;
}

/* Appends a structure to a pNext chain (tail is the last structure's pNext field). */
#define CHAIN(tail, s) (*(tail) = &(s), (tail) = &(s).pNext)

void dsa_vk_describe(const dsa_vk_api *api, VkPhysicalDevice pd, dsa_vk_device_desc *d)
{
    memset(d, 0, sizeof *d);
    d->physical = pd;
    api->vkGetPhysicalDeviceProperties(pd, &d->props);
    api->vkGetPhysicalDeviceMemoryProperties(pd, &d->memory);
    /* What may be used is bounded by both the device and the instance's version. */
    uint32_t ver = d->props.apiVersion < api->api_version ? d->props.apiVersion : api->api_version;
    int v12 = ver >= VK_API_VERSION_1_2, v13 = ver >= VK_API_VERSION_1_3;

    uint32_t n_ext = 0;
    VkExtensionProperties *ext = NULL;
    if (api->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL) == VK_SUCCESS && n_ext) {
        ext = calloc(n_ext, sizeof *ext);
        if (!ext || api->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, ext) < 0) n_ext = 0;
    }
    int has_drv = v12 || has_extension(ext, n_ext, "VK_KHR_driver_properties");
    int has_8bit = v12 || has_extension(ext, n_ext, "VK_KHR_8bit_storage");
    int has_f16i8 = v12 || has_extension(ext, n_ext, "VK_KHR_shader_float16_int8");
    int has_sc = v13 || has_extension(ext, n_ext, "VK_EXT_subgroup_size_control");
    int has_dot = v13 || has_extension(ext, n_ext, "VK_KHR_shader_integer_dot_product");
    int has_bda = v12 || has_extension(ext, n_ext, "VK_KHR_buffer_device_address");
    int has_tl = v12 || has_extension(ext, n_ext, "VK_KHR_timeline_semaphore");
    d->coop_matrix_khr = has_extension(ext, n_ext, "VK_KHR_cooperative_matrix");
    d->coop_matrix = d->coop_matrix_khr || has_extension(ext, n_ext, "VK_NV_cooperative_matrix");
    free(ext);

    /* Properties: only structures the device knows are chained (anything else is invalid usage). */
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties scp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceFloatControlsProperties fc = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
    void **tail = &p2.pNext;
    CHAIN(tail, sub);
    CHAIN(tail, id);
    CHAIN(tail, m3);
    if (has_drv) CHAIN(tail, drv);
    if (has_sc) CHAIN(tail, scp);
    if (v12) CHAIN(tail, fc);
    api->vkGetPhysicalDeviceProperties2(pd, &p2);

    /* Features. */
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features fi = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures scf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    VkPhysicalDeviceBufferDeviceAddressFeatures bda = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES};
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    tail = &f2.pNext;
    CHAIN(tail, s16);
    if (has_8bit) CHAIN(tail, s8);
    if (has_f16i8) CHAIN(tail, fi);
    if (has_sc) CHAIN(tail, scf);
    if (has_dot) CHAIN(tail, dot);
    if (has_bda) CHAIN(tail, bda);
    if (has_tl) CHAIN(tail, tl);
    api->vkGetPhysicalDeviceFeatures2(pd, &f2);

    d->shader_int64 = f2.features.shaderInt64 == VK_TRUE;
    d->shader_float64 = f2.features.shaderFloat64 == VK_TRUE;
    d->storage16 = s16.storageBuffer16BitAccess == VK_TRUE;
    d->storage8 = has_8bit && s8.storageBuffer8BitAccess == VK_TRUE;
    d->shader_float16 = has_f16i8 && fi.shaderFloat16 == VK_TRUE;
    d->shader_int8 = has_f16i8 && fi.shaderInt8 == VK_TRUE;
    d->size_control = has_sc && scf.subgroupSizeControl == VK_TRUE &&
                      (scp.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    d->full_subgroups = has_sc && scf.computeFullSubgroups == VK_TRUE;
    d->int_dot = has_dot && dot.shaderIntegerDotProduct == VK_TRUE;
    d->bda = has_bda && bda.bufferDeviceAddress == VK_TRUE;
    d->timeline = has_tl && tl.timelineSemaphore == VK_TRUE;
    /* Vulkan 1.2 only (float controls are core there): no extension to enable, also on an
     * application's own device. Lavapipe reports false but keeps denormals anyway. */
    d->denorm_preserve32 = v12 && fc.shaderDenormPreserveFloat32 == VK_TRUE;
    d->ext_bda = !v12 && d->bda;
    d->ext_timeline = !v12 && d->timeline;
    d->ext_8bit_storage = !v12 && d->storage8;
    d->ext_float16_int8 = !v12 && (d->shader_float16 || d->shader_int8);
    d->ext_size_control = !v13 && (d->size_control || d->full_subgroups);
    d->ext_int_dot = !v13 && d->int_dot;

    d->subgroup_size = sub.subgroupSize;
    d->subgroup_ops = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sub.supportedOperations : 0;
    d->min_subgroup_size = d->max_subgroup_size = sub.subgroupSize;
    if (d->size_control && scp.minSubgroupSize && scp.maxSubgroupSize >= scp.minSubgroupSize) {
        d->min_subgroup_size = scp.minSubgroupSize;
        d->max_subgroup_size = scp.maxSubgroupSize;
    }
    d->max_allocation = m3.maxMemoryAllocationSize;
    memcpy(d->uuid, id.deviceUUID, VK_UUID_SIZE);
    if (has_drv) {
        d->has_driver_props = 1;
        d->driver_id = drv.driverID;
        snprintf(d->driver_name, sizeof d->driver_name, "%s", drv.driverName);
        snprintf(d->driver_info, sizeof d->driver_info, "%s", drv.driverInfo);
    }

    d->queue_family = UINT32_MAX;
    uint32_t nq = 0;
    api->vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties *q = nq ? calloc(nq, sizeof *q) : NULL;
    if (q) {
        api->vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
        for (uint32_t i = 0; i < nq; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].queueCount > 0) {
                d->queue_family = i;
                break;
            }
        free(q);
    }
}

/* ---- SPIR-V: keeping fp32 denormals ----------------------------------------------------------- */

enum {
    SPV_OP_EXTENSION = 10,
    SPV_OP_ENTRY_POINT = 15,
    SPV_OP_EXECUTION_MODE = 16,
    SPV_OP_CAPABILITY = 17,
    SPV_CAP_DENORM_PRESERVE = 4464,
    SPV_MODE_DENORM_PRESERVE = 4459,
    SPV_HEADER_WORDS = 5
};

/* OpExtension "SPV_KHR_float_controls": 22 characters and the NUL in 6 little-endian words. */
static size_t float_controls_extension(uint32_t *w)
{
    static const char name[24] = "SPV_KHR_float_controls";
    w[0] = (7u << 16) | SPV_OP_EXTENSION;
    for (int i = 0; i < 6; i++)
        w[1 + i] = (uint32_t)(uint8_t)name[4 * i] | (uint32_t)(uint8_t)name[4 * i + 1] << 8 |
                   (uint32_t)(uint8_t)name[4 * i + 2] << 16 | (uint32_t)(uint8_t)name[4 * i + 3] << 24;
    return 7;
}

dsa_status dsa_vk_spirv_preserve_denorms(const uint32_t *words, size_t count, uint32_t **out, size_t *out_count)
{
    /* Where the new instructions go, by the module's section order: the capability and the
     * extension after the last OpCapability, the execution mode after the (one) OpEntryPoint. */
    size_t after_caps = 0, after_entry = 0;
    uint32_t entry_id = 0;
    for (size_t i = SPV_HEADER_WORDS; i < count;) {
        uint32_t n = words[i] >> 16, op = words[i] & 0xffffu;
        if (n == 0 || i + n > count) break;
        if (op == SPV_OP_CAPABILITY) after_caps = i + n;
        if (op == SPV_OP_ENTRY_POINT && n >= 3) {
            if (after_entry) return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: SPIR-V module has more than one entry point");
            after_entry = i + n;
            entry_id = words[i + 2];
        }
        i += n;
    }
    if (count < SPV_HEADER_WORDS || !after_caps || after_entry <= after_caps)
        return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: SPIR-V module (%zu words) has no capability or entry point "
                        "to add DenormPreserve to", count);
    uint32_t *w = malloc((count + 13) * sizeof *w);
    if (!w) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "vulkan: out of host memory");
    size_t n = 0;
    memcpy(w, words, after_caps * sizeof *w);
    n = after_caps;
    w[n++] = (2u << 16) | SPV_OP_CAPABILITY;
    w[n++] = SPV_CAP_DENORM_PRESERVE;
    n += float_controls_extension(w + n);
    memcpy(w + n, words + after_caps, (after_entry - after_caps) * sizeof *w);
    n += after_entry - after_caps;
    w[n++] = (4u << 16) | SPV_OP_EXECUTION_MODE;
    w[n++] = entry_id;
    w[n++] = SPV_MODE_DENORM_PRESERVE;
    w[n++] = 32; /* the float width it applies to */
    memcpy(w + n, words + after_entry, (count - after_entry) * sizeof *w);
    n += count - after_entry;
    *out = w;
    *out_count = n;
    return DSA_SUCCESS;
}

uint64_t dsa_vk_binding_limit(const dsa_vk_device_desc *d)
{
    uint64_t limit = d->props.limits.maxStorageBufferRange;
    const char *env = getenv("DSA_VULKAN_MAX_RANGE");
    if (!env || !*env) return limit;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (errno || *end || v < 256 || v % 4) {
        dsa_log(DSA_LOG_WARN, "device", "vulkan: DSA_VULKAN_MAX_RANGE is \"%s\", expected a byte count >= 256 "
                "and a multiple of 4; ignored", env);
        return limit;
    }
    return v < limit ? v : limit;
}

const char *dsa_vk_missing_feature(const dsa_vk_device_desc *d)
{
    if (!d->shader_int64) return "needs 64-bit integers (shaderInt64)";
    if (!d->storage8) return "needs 8-bit storage buffer access (storageBuffer8BitAccess, VK_KHR_8bit_storage)";
    if (!d->storage16) return "needs 16-bit storage buffer access (storageBuffer16BitAccess)";
    return NULL;
}

/* ---- discovery -------------------------------------------------------------------------------- */

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static VkPhysicalDevice known_device[MAX_VK_DEVICES];
static int known_count;

static const char *vendor_name(uint32_t id, char *buf, size_t len)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x10005: return "Mesa";
    case 0x1010: return "Imagination";
    case 0x14E4: return "Broadcom";
    case 0x106B: return "Apple";
    case 0x144D: return "Samsung";
    case 0x1414: return "Microsoft";
    case 0x10002: return "VeriSilicon";
    default: snprintf(buf, len, "vendor 0x%04x", id); return buf;
    }
}

/* Copies a driver string into a shorter field, cut at the field's size. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void driver_version_string(const dsa_vk_device_desc *d, char *out, size_t len)
{
    uint32_t v = d->props.driverVersion;
    if (d->has_driver_props && d->driver_info[0]) {
        copy_cut(out, len, d->driver_info);
    } else if (d->props.vendorID == 0x10DE) { /* NVIDIA packs 10.8.8.6 bits */
        snprintf(out, len, "%u.%u.%u.%u", (v >> 22) & 0x3ffu, (v >> 14) & 0xffu, (v >> 6) & 0xffu, v & 0x3fu);
    } else {
        snprintf(out, len, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
    }
}

static uint32_t size_bits(uint32_t lo, uint32_t hi)
{
    uint32_t bits = 0;
    for (uint32_t s = 1, b = 0; b < 31 && s <= hi; s <<= 1, b++)
        if (s >= lo) bits |= 1u << b;
    return bits;
}

/* Appends one word to the features string (cut where it is full). */
static void add_word(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_word(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 2 >= cap) return;
    if (used) buf[used++] = ' ', buf[used] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* The queried features in words, for `dsa devices` (dsa_device_info.features). */
static void describe_features(const dsa_vk_device_desc *d, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (d->shader_float16) add_word(buf, cap, "float16");
    if (d->shader_int8) add_word(buf, cap, "int8");
    if (d->shader_int64) add_word(buf, cap, "int64");
    if (d->shader_float64) add_word(buf, cap, "float64");
    if (d->storage8) add_word(buf, cap, "storage8");
    if (d->storage16) add_word(buf, cap, "storage16");
    if (d->size_control) add_word(buf, cap, "subgroup-size-control=%u..%u", d->min_subgroup_size, d->max_subgroup_size);
    if (d->full_subgroups) add_word(buf, cap, "full-subgroups");
    static const struct { uint32_t bit; const char *name; } ops[] = {
        {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"}, {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
        {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arith"}, {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
        {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"}, {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "relative"},
        {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"}, {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"}};
    char list[96] = "";
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (d->subgroup_ops & ops[i].bit)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? "," : "", ops[i].name);
    if (list[0]) add_word(buf, cap, "subgroup-ops=%s", list);
    if (d->int_dot) add_word(buf, cap, "int-dot");
    if (d->coop_matrix) add_word(buf, cap, "cooperative-matrix(%s)", d->coop_matrix_khr ? "KHR" : "NV");
    if (d->bda) add_word(buf, cap, "buffer-device-address");
    if (d->timeline) add_word(buf, cap, "timeline-semaphore");
    if (d->denorm_preserve32) add_word(buf, cap, "denorm-preserve32");
    add_word(buf, cap, "max-binding=%llu", (unsigned long long)dsa_vk_binding_limit(d));
    add_word(buf, cap, "push-constants=%u", d->props.limits.maxPushConstantsSize);
}

static void fill_info(const dsa_vk_device_desc *d, dsa_device_info *info)
{
    char vbuf[32];
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", d->props.deviceName);
    snprintf(info->vendor, sizeof info->vendor, "%s", vendor_name(d->props.vendorID, vbuf, sizeof vbuf));
    copy_cut(info->platform, sizeof info->platform, d->has_driver_props ? d->driver_name : "");
    driver_version_string(d, info->driver_version, sizeof info->driver_version);
    uint32_t av = d->props.apiVersion;
    snprintf(info->runtime_version, sizeof info->runtime_version, "Vulkan %u.%u.%u", VK_API_VERSION_MAJOR(av),
             VK_API_VERSION_MINOR(av), VK_API_VERSION_PATCH(av));
    for (uint32_t h = 0; h < d->memory.memoryHeapCount; h++)
        if ((d->memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            d->memory.memoryHeaps[h].size > info->memory_bytes)
            info->memory_bytes = d->memory.memoryHeaps[h].size;
    /* Beyond the binding limit, buffers are reached through device addresses where the device has
     * them; then one allocation is the limit. */
    info->max_buffer_bytes = dsa_vk_binding_limit(d);
    if (d->bda && d->max_allocation) info->max_buffer_bytes = d->max_allocation;
    if (d->max_allocation && d->max_allocation < info->max_buffer_bytes) info->max_buffer_bytes = d->max_allocation;
    info->shared_mem_per_block = d->props.limits.maxComputeSharedMemorySize;
    info->compute_units = 0; /* core Vulkan does not say */
    uint32_t caps = 0;
    if (d->shader_int64) caps |= DSA_CAP_INT64;
    if (d->shader_float64) caps |= DSA_CAP_FP64;
    if (d->shader_float16) caps |= DSA_CAP_FP16;
    if (d->int_dot) caps |= DSA_CAP_INT8_DOT;
    const uint32_t needed_ops = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |
                                VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    if ((d->subgroup_ops & needed_ops) == needed_ops) caps |= DSA_CAP_SUBGROUPS;
    if (d->coop_matrix) {
        caps |= DSA_CAP_MATRIX_UNITS; /* described, not used by any dialect path yet */
        snprintf(info->matrix_units, sizeof info->matrix_units, "cooperative matrix");
    }
    info->caps = caps;
    info->subgroup_sizes = (caps & DSA_CAP_SUBGROUPS) ? size_bits(d->min_subgroup_size, d->max_subgroup_size) : 0;
    if (!info->subgroup_sizes && d->subgroup_size) info->subgroup_sizes = size_bits(d->subgroup_size, d->subgroup_size);
    memcpy(info->uuid, d->uuid, sizeof info->uuid);
    info->has_uuid = 1;
    info->is_cpu = d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    /* A CPU implementing a GPU API (lavapipe/llvmpipe, SwiftShader): auto never picks it. */
    info->is_emulation = info->is_cpu || (d->has_driver_props && d->driver_id == VK_DRIVER_ID_MESA_LLVMPIPE);
    describe_features(d, info->features, sizeof info->features);
}

static dsa_status probe_fail(char *reason, size_t reason_len, dsa_status st, const char *msg)
{
    snprintf(reason, reason_len, "%s", msg);
    return dsa_fail(st, "%s", msg);
}

dsa_status dsa_vk_probe(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len)
{
    *count = 0;
    const dsa_vk_api *api;
    dsa_status st = dsa_vk_load(&api);
    if (st != DSA_SUCCESS) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dsa_last_error());
        return probe_fail(reason, reason_len, st, msg);
    }
    uint32_t n = 0;
    VkResult r = api->vkEnumeratePhysicalDevices(api->instance, &n, NULL);
    if (r != VK_SUCCESS) {
        char msg[256];
        snprintf(msg, sizeof msg, "vkEnumeratePhysicalDevices: %s", dsa_vk_result_name(r));
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE, msg);
    }
    if (n == 0) return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE, "no Vulkan physical device found");
    VkPhysicalDevice *pds = calloc(n, sizeof *pds);
    if (!pds) return probe_fail(reason, reason_len, DSA_ERROR_OUT_OF_MEMORY, "out of host memory");
    r = api->vkEnumeratePhysicalDevices(api->instance, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(pds);
        char msg[256];
        snprintf(msg, sizeof msg, "vkEnumeratePhysicalDevices: %s", dsa_vk_result_name(r));
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE, msg);
    }
    pthread_mutex_lock(&handles_lock);
    known_count = 0;
    dsa_vk_device_desc d;
    for (uint32_t i = 0; i < n; i++) {
        dsa_vk_describe(api, pds[i], &d);
        if (d.queue_family == UINT32_MAX) {
            dsa_log(DSA_LOG_INFO, "device", "vulkan: %s has no compute queue; not listed", d.props.deviceName);
            continue;
        }
        if (d.props.apiVersion < VK_API_VERSION_1_1) {
            dsa_log(DSA_LOG_INFO, "device", "vulkan: %s is a Vulkan 1.0 device; libdsa needs 1.1; not listed",
                    d.props.deviceName);
            continue;
        }
        if (*count >= max || known_count >= MAX_VK_DEVICES) {
            dsa_log(DSA_LOG_WARN, "device", "vulkan: more than %d devices; %s is not listed", max, d.props.deviceName);
            continue;
        }
        fill_info(&d, &devices[*count]);
        const char *missing = dsa_vk_missing_feature(&d);
        if (missing)
            dsa_log(DSA_LOG_INFO, "device", "vulkan: %s is listed but cannot run ops: %s", d.props.deviceName, missing);
        known_device[known_count++] = pds[i];
        (*count)++;
    }
    pthread_mutex_unlock(&handles_lock);
    free(pds);
    if (*count == 0)
        return probe_fail(reason, reason_len, DSA_ERROR_BACKEND_UNAVAILABLE,
                          "no Vulkan 1.1 device with a compute queue found");
    return DSA_SUCCESS;
}

dsa_status dsa_vk_physical_device(int index, VkPhysicalDevice *pd)
{
    pthread_mutex_lock(&handles_lock);
    int ok = index >= 0 && index < known_count;
    if (ok) *pd = known_device[index];
    pthread_mutex_unlock(&handles_lock);
    if (!ok) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "vulkan: no device %d in the probe", index);
    return DSA_SUCCESS;
}
