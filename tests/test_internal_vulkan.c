/* The Vulkan backend's runtime (backends/vulkan/vk_api.c, vk_backend.c) on lavapipe, the CPU Vulkan
 * driver, with the Khronos validation layer on: discovery, buffers (mapped and staged), the fp8 ops
 * bit-for-bit against the CPU backend, the application's own VkDevice, VkQueue and VkBuffer, and the
 * validation message counter itself. Each test runs in its own process (Criterion forks), so the
 * process-wide counter read at the end of a test counts that test's messages only. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef DSA_BUILD_VULKAN

#include "../backends/vulkan/vk_api.h"
#include "plan.h"

/* Validation messages (and anything else the library logs as a warning or error) go to stderr, so
 * a failing count can be read in the test output. */
static void log_to_stderr(dsa_log_level level, const char *category, const char *message, void *user)
{
    (void)user;
    if (level <= DSA_LOG_WARN) fprintf(stderr, "[%s] %s\n", category, message);
}

static void setup(void)
{
    /* Before the first library call: the instance is created once per process. */
    setenv("DSA_VULKAN_VALIDATION", "1", 1);
    unsetenv("DSA_VULKAN_STAGING");
    dsa_set_log_callback(log_to_stderr, NULL);
}

TestSuite(vulkan, .init = setup);

/* lavapipe's device description, or the test is skipped saying why. */
static void need_lavapipe(dsa_device_info *out)
{
    int available = 0;
    const char *reason = NULL;
    cr_assert_eq(dsa_backend_available(DSA_BACKEND_VULKAN, &available, &reason), DSA_SUCCESS);
    if (!available) cr_skip_test("no Vulkan device: %s", reason);
    int n = 0;
    cr_assert_eq(dsa_device_count(&n), DSA_SUCCESS);
    for (int i = 0; i < n; i++) {
        dsa_device_info info;
        cr_assert_eq(dsa_device_get_info(i, &info), DSA_SUCCESS);
        if (info.backend == DSA_BACKEND_VULKAN && strstr(info.name, "llvmpipe")) {
            *out = info;
            return;
        }
    }
    cr_skip_test("Vulkan is available but lavapipe is not installed (Debian: mesa-vulkan-drivers)");
}

/* Asserts that the validation layer was on and reported nothing. */
static void expect_clean_validation(void)
{
    if (!dsa_vk_validation_active()) {
        cr_log_warn("VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers): "
                    "validation was not checked");
        return;
    }
    uint64_t errors = 0, warnings = 0;
    dsa_vk_validation_counts(&errors, &warnings);
    cr_expect_eq(errors, 0, "the validation layer reported %llu error(s) (messages above)", (unsigned long long)errors);
    cr_expect_eq(warnings, 0, "the validation layer reported %llu warning(s) (messages above)",
                 (unsigned long long)warnings);
}

Test(vulkan, probe_finds_lavapipe)
{
    dsa_device_info d;
    need_lavapipe(&d);
    cr_expect(d.is_emulation, "lavapipe must be marked as an emulation (auto never picks it)");
    cr_expect(d.is_cpu);
    cr_expect_str_eq(d.vendor, "Mesa");
    cr_expect_str_eq(d.platform, "llvmpipe");
    cr_expect(strncmp(d.runtime_version, "Vulkan 1.", 9) == 0, "runtime_version is \"%s\"", d.runtime_version);
    cr_expect(d.driver_version[0] != '\0');
    cr_expect(d.caps & DSA_CAP_INT64);
    cr_expect(d.caps & DSA_CAP_SUBGROUPS);
    cr_expect_eq(d.caps & DSA_CAP_MATRIX_UNITS, 0u);
    cr_expect_gt(d.max_buffer_bytes, 1u << 20);
    cr_expect_geq(d.shared_mem_per_block, 16384u);
    cr_expect_neq(d.subgroup_sizes, 0u);
    cr_expect(d.has_uuid);
    /* The features queried, as `dsa devices` prints them: what lavapipe (Mesa 22.3) offers. */
    static const char *words[] = {"float16", "int8", "int64", "storage8", "storage16", "subgroup-ops=basic,",
                                  "int-dot", "buffer-device-address", "timeline-semaphore", "max-binding=",
                                  "push-constants=128"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        cr_expect(strstr(d.features, words[i]) != NULL, "features lack \"%s\": %s", words[i], d.features);
    cr_expect(strstr(d.features, "cooperative-matrix") == NULL, "lavapipe has no cooperative matrices");
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(dsa_context_destroy(ctx), DSA_SUCCESS);
    cr_expect(dsa_vk_validation_active(), "DSA_VULKAN_VALIDATION=1 but the layer is not active");
    expect_clean_validation();
}

static void round_trip(void)
{
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    enum { N = 1000 };
    uint8_t in[N], out[N];
    for (int i = 0; i < N; i++) in[i] = (uint8_t)(i * 37 + 11);
    dsa_buffer *a = NULL, *b = NULL;
    cr_assert_eq(dsa_buffer_alloc(ctx, N, &a), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_alloc(ctx, N, &b), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(dsa_buffer_native(a));
    cr_assert_eq(dsa_buffer_write(a, 0, in, N), DSA_SUCCESS, "%s", dsa_last_error());
    memset(out, 0, sizeof out);
    cr_assert_eq(dsa_buffer_read(a, 0, out, N), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_arr_eq(out, in, N);

    /* Unaligned fill (head, 4-byte body, tail), then a copy between buffers at odd offsets. */
    cr_assert_eq(dsa_buffer_fill(a, 3, 0xab, 10), DSA_SUCCESS, "%s", dsa_last_error());
    memset(in + 3, 0xab, 10);
    cr_assert_eq(dsa_buffer_fill(b, 0, 0, N), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_copy(b, 5, a, 1, 500), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_read(b, 0, out, N), DSA_SUCCESS, "%s", dsa_last_error());
    uint8_t want[N];
    memset(want, 0, sizeof want);
    memcpy(want + 5, in + 1, 500);
    cr_expect_arr_eq(out, want, N);
    cr_assert_eq(dsa_buffer_read(a, 7, out, 100), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_arr_eq(out, in + 7, 100);

    cr_expect_eq(dsa_synchronize(ctx), DSA_SUCCESS);
    cr_expect_eq(dsa_buffer_free(a), DSA_SUCCESS);
    cr_expect_eq(dsa_buffer_free(b), DSA_SUCCESS);
    cr_expect_eq(dsa_context_destroy(ctx), DSA_SUCCESS, "%s", dsa_last_error());
}

Test(vulkan, buffer_round_trip_mapped_and_staged)
{
    dsa_device_info d;
    need_lavapipe(&d);
    round_trip();
    setenv("DSA_VULKAN_STAGING", "1", 1); /* read at context creation */
    round_trip();
    expect_clean_validation();
}

/* ---- fp8 ops against the CPU backend -------------------------------------------------------- */

enum { ROWS = 7, COLS = 384, GROUPS = COLS / 128, X_STRIDE = 512, X_OFF = 64, Q_OFF = 3, S_OFF = 8,
       O_OFF = 16, O_STRIDE = 400 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* x in dtype t: ordinary values, with every 5th element a random bit pattern (NaN, inf, denormals,
 * huge and tiny values) and one all-zero group. */
static size_t make_x(dsa_dtype t, uint8_t **out)
{
    size_t es = dsa_dtype_size(t), n = (size_t)X_OFF + (size_t)(ROWS - 1) * X_STRIDE + COLS;
    uint8_t *x = calloc(n, es);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++) {
        float v = ((float)(rnd() % 20001) - 10000.0f) / (float)(1 + rnd() % 1000);
        uint32_t bits;
        memcpy(&bits, &v, 4);
        if (i % 5 == 0) bits = rnd() ^ (rnd() << 16);
        if (i >= (size_t)X_OFF + X_STRIDE && i < (size_t)X_OFF + X_STRIDE + 128) bits = 0;
        if (t == DSA_FP32) memcpy(x + i * 4, &bits, 4);
        else {
            uint16_t h = (uint16_t)(t == DSA_BF16 ? bits >> 16 : (i % 5 == 0 ? bits : (bits >> 13) & 0x3fffu));
            memcpy(x + i * 2, &h, 2);
        }
    }
    *out = x;
    return n * es;
}

static dsa_buffer *upload(dsa_context *ctx, const void *data, size_t bytes, uint8_t fill)
{
    dsa_buffer *b = NULL;
    cr_assert_eq(dsa_buffer_alloc(ctx, bytes, &b), DSA_SUCCESS, "%s", dsa_last_error());
    if (data) cr_assert_eq(dsa_buffer_write(b, 0, data, bytes), DSA_SUCCESS, "%s", dsa_last_error());
    else cr_assert_eq(dsa_buffer_fill(b, 0, fill, bytes), DSA_SUCCESS, "%s", dsa_last_error());
    return b;
}

static void download(dsa_buffer *b, void *dst, size_t bytes)
{
    cr_assert_eq(dsa_buffer_read(b, 0, dst, bytes), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer_free(b);
}

#define Q_BYTES ((size_t)Q_OFF + ROWS * COLS)
#define S_BYTES ((size_t)S_OFF + ROWS * GROUPS * 4)

/* quantize_fp8 of x (dtype t) on ctx; whole q and scales buffers (padding included) come back. */
static void quantize_on(dsa_context *ctx, dsa_dtype t, const uint8_t *x, size_t x_bytes, uint8_t *q, uint8_t *s,
                        int prepare)
{
    dsa_buffer *bx = upload(ctx, x, x_bytes, 0), *bq = upload(ctx, NULL, Q_BYTES, 0xcd),
               *bs = upload(ctx, NULL, S_BYTES, 0xcd);
    int64_t shape[2] = {ROWS, COLS}, xstr[2] = {X_STRIDE, 1}, sshape[2] = {ROWS, GROUPS};
    dsa_quantize_args a;
    a.x = dsa_tensor_make(bx, (uint64_t)X_OFF * dsa_dtype_size(t), t, 2, shape, xstr);
    a.q = dsa_tensor_make(bq, Q_OFF, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, S_OFF, DSA_FP32, 2, sshape, NULL);
    if (prepare) {
        dsa_quantize_args shapes_only = a;
        shapes_only.x.buffer = shapes_only.q.buffer = shapes_only.scales.buffer = NULL;
        cr_assert_eq(dsa_prepare(ctx, DSA_OP_QUANTIZE_FP8, &shapes_only), DSA_SUCCESS, "%s", dsa_last_error());
    }
    cr_assert_eq(dsa_run(ctx, DSA_OP_QUANTIZE_FP8, &a, NULL), DSA_SUCCESS, "quantize_fp8 %s: %s", dsa_dtype_name(t),
                 dsa_last_error());
    dsa_buffer_free(bx);
    download(bq, q, Q_BYTES);
    download(bs, s, S_BYTES);
}

#define O_BYTES(t) (((size_t)O_OFF + (size_t)(ROWS - 1) * O_STRIDE + COLS) * dsa_dtype_size(t))

static void dequantize_on(dsa_context *ctx, dsa_dtype t, const uint8_t *q, const uint8_t *s, uint8_t *o)
{
    dsa_buffer *bq = upload(ctx, q, Q_BYTES, 0), *bs = upload(ctx, s, S_BYTES, 0), *bo = upload(ctx, NULL, O_BYTES(t), 0xcd);
    int64_t shape[2] = {ROWS, COLS}, ostr[2] = {O_STRIDE, 1}, sshape[2] = {ROWS, GROUPS};
    dsa_dequantize_args a;
    a.q = dsa_tensor_make(bq, Q_OFF, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, S_OFF, DSA_FP32, 2, sshape, NULL);
    a.out = dsa_tensor_make(bo, (uint64_t)O_OFF * dsa_dtype_size(t), t, 2, shape, ostr);
    cr_assert_eq(dsa_run(ctx, DSA_OP_DEQUANTIZE_FP8, &a, NULL), DSA_SUCCESS, "dequantize_fp8 -> %s: %s",
                 dsa_dtype_name(t), dsa_last_error());
    dsa_buffer_free(bq);
    dsa_buffer_free(bs);
    download(bo, o, O_BYTES(t));
}

static void expect_same_bytes(const char *what, const uint8_t *want, const uint8_t *got, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (want[i] != got[i] && bad++ == 0) first = i;
    cr_expect_eq(bad, 0, "%s: %zu of %zu bytes differ from the reference, first at byte %zu (reference 0x%02x, "
                 "vulkan 0x%02x)", what, bad, n, first, bad ? want[first] : 0, bad ? got[first] : 0);
}

/* Both fp8 ops on `vk` and on the CPU backend, every input dtype and both output dtypes. */
static void compare_fp8_ops(dsa_context *vk)
{
    dsa_context *cpu = NULL;
    cr_assert_eq(dsa_context_create("cpu", &cpu), DSA_SUCCESS, "%s", dsa_last_error());
    static const dsa_dtype in_types[] = {DSA_FP32, DSA_BF16, DSA_FP16};
    for (size_t k = 0; k < sizeof in_types / sizeof in_types[0]; k++) {
        dsa_dtype t = in_types[k];
        uint8_t *x;
        size_t xb = make_x(t, &x);
        uint8_t qc[Q_BYTES], sc[S_BYTES], qv[Q_BYTES], sv[S_BYTES];
        quantize_on(cpu, t, x, xb, qc, sc, 0);
        quantize_on(vk, t, x, xb, qv, sv, k == 0);
        char what[64];
        snprintf(what, sizeof what, "quantize_fp8 %s: q", dsa_dtype_name(t));
        expect_same_bytes(what, qc, qv, Q_BYTES);
        snprintf(what, sizeof what, "quantize_fp8 %s: scales", dsa_dtype_name(t));
        expect_same_bytes(what, sc, sv, S_BYTES);
        free(x);

        dsa_dtype ot = k == 1 ? DSA_BF16 : DSA_FP32;
        uint8_t *oc = malloc(O_BYTES(ot)), *ov = malloc(O_BYTES(ot));
        cr_assert(oc && ov);
        dequantize_on(cpu, ot, qc, sc, oc);
        dequantize_on(vk, ot, qc, sc, ov);
        snprintf(what, sizeof what, "dequantize_fp8 -> %s", dsa_dtype_name(ot));
        expect_same_bytes(what, oc, ov, O_BYTES(ot));
        free(oc);
        free(ov);
    }
    cr_expect_eq(dsa_context_destroy(cpu), DSA_SUCCESS);
}

Test(vulkan, fp8_ops_match_cpu_bytes)
{
    dsa_device_info d;
    need_lavapipe(&d);
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
    compare_fp8_ops(vk);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    setenv("DSA_VULKAN_STAGING", "1", 1);
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
    compare_fp8_ops(vk);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

/* ---- the application's own objects ---------------------------------------------------------- */

typedef struct app_device {
    const dsa_vk_api *api;
    dsa_vk_device_api d;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
} app_device;

/* A VkDevice as an application would create it for libdsa: one compute queue of the first compute
 * family, shaderInt64, 8/16-bit storage buffer access and timeline semaphores enabled. */
static void app_device_create(const dsa_device_info *info, app_device *app)
{
    memset(app, 0, sizeof *app);
    cr_assert_eq(dsa_vk_load(&app->api), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_vk_physical_device(info->index, &app->physical), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_vk_device_desc desc;
    dsa_vk_describe(app->api, app->physical, &desc);
    cr_assert_null(dsa_vk_missing_feature(&desc));
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = desc.queue_family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &priority;
    cr_assert(desc.timeline, "lavapipe offers timelineSemaphore");
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    tl.timelineSemaphore = VK_TRUE;
    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    s8.pNext = &tl;
    s8.storageBuffer8BitAccess = VK_TRUE;
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    s16.pNext = &s8;
    s16.storageBuffer16BitAccess = VK_TRUE;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &s16;
    f2.features.shaderInt64 = VK_TRUE;
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.pNext = &f2;
    ci.queueCreateInfoCount = 1;
    ci.pQueueCreateInfos = &qi;
    cr_assert_eq(app->api->vkCreateDevice(app->physical, &ci, NULL, &app->device), VK_SUCCESS);
    cr_assert_eq(dsa_vk_load_device(app->api, app->device, &app->d), DSA_SUCCESS, "%s", dsa_last_error());
    app->d.vkGetDeviceQueue(app->device, desc.queue_family, 0, &app->queue);
}

/* A buffer the application owns: device-local memory, storage and transfer usage. */
static VkBuffer app_buffer(app_device *app, VkDeviceSize bytes, VkDeviceMemory *mem)
{
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = bytes;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer buf;
    cr_assert_eq(app->d.vkCreateBuffer(app->device, &bi, NULL, &buf), VK_SUCCESS);
    VkMemoryRequirements req;
    app->d.vkGetBufferMemoryRequirements(app->device, buf, &req);
    VkPhysicalDeviceMemoryProperties mp;
    app->api->vkGetPhysicalDeviceMemoryProperties(app->physical, &mp);
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++)
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
            type = i;
    cr_assert_neq(type, UINT32_MAX);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = type;
    cr_assert_eq(app->d.vkAllocateMemory(app->device, &ai, NULL, mem), VK_SUCCESS);
    cr_assert_eq(app->d.vkBindBufferMemory(app->device, buf, *mem, 0), VK_SUCCESS);
    return buf;
}

Test(vulkan, application_device_queue_and_buffer)
{
    dsa_device_info info;
    need_lavapipe(&info);
    app_device app;
    app_device_create(&info, &app);

    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "vulkan:llvmpipe";
    desc.native_context = (void *)app.device;
    desc.native_queue = (void *)app.queue;
    desc.native_device = (void *)app.physical;
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &vk), DSA_SUCCESS, "%s", dsa_last_error());

    /* A wrapped VkBuffer: written and read through staging copies, used by an op. */
    VkDeviceMemory mem;
    VkBuffer raw = app_buffer(&app, 4096, &mem);
    dsa_buffer *wrapped = NULL;
    cr_assert_eq(dsa_buffer_wrap(vk, (void *)raw, 4096, &wrapped), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(dsa_buffer_native(wrapped), (void *)raw);
    uint8_t in[300], out[300];
    for (int i = 0; i < 300; i++) in[i] = (uint8_t)(255 - i);
    cr_assert_eq(dsa_buffer_write(wrapped, 1001, in, 300), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_read(wrapped, 1001, out, 300), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_arr_eq(out, in, 300);
    cr_assert_eq(dsa_buffer_fill(wrapped, 2, 0x5a, 7), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_read(wrapped, 0, out, 12), DSA_SUCCESS, "%s", dsa_last_error());
    uint8_t want_fill[12] = {0};
    cr_assert_eq(dsa_buffer_read(wrapped, 0, want_fill, 2), DSA_SUCCESS);
    memset(want_fill + 2, 0x5a, 7);
    cr_assert_eq(dsa_buffer_read(wrapped, 9, want_fill + 9, 3), DSA_SUCCESS);
    cr_expect_arr_eq(out, want_fill, 12);

    /* dequantize_fp8 writing into the wrapped buffer: 1 row of 128 values, all 1.0 (0x38) * 0.5. */
    dsa_buffer *bq = NULL, *bs = NULL;
    cr_assert_eq(dsa_buffer_alloc(vk, 128, &bq), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_alloc(vk, 4, &bs), DSA_SUCCESS);
    cr_assert_eq(dsa_buffer_fill(bq, 0, 0x38, 128), DSA_SUCCESS);
    float half = 0.5f;
    cr_assert_eq(dsa_buffer_write(bs, 0, &half, 4), DSA_SUCCESS);
    int64_t shape[2] = {1, 128}, sshape[2] = {1, 1};
    dsa_dequantize_args a;
    a.q = dsa_tensor_make(bq, 0, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, 0, DSA_FP32, 2, sshape, NULL);
    a.out = dsa_tensor_make(wrapped, 2048, DSA_FP32, 2, shape, NULL);
    cr_assert_eq(dsa_dequantize_fp8(vk, &a, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    float got[128];
    cr_assert_eq(dsa_buffer_read(wrapped, 2048, got, sizeof got), DSA_SUCCESS, "%s", dsa_last_error());
    for (int i = 0; i < 128; i++) cr_expect_eq(got[i], 0.5f, "out[%d] = %g", i, (double)got[i]);

    dsa_buffer_free(bq);
    dsa_buffer_free(bs);
    dsa_buffer_free(wrapped);
    /* The full comparison on the application's device too. */
    compare_fp8_ops(vk);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());

    /* Freeing the wrapper left the VkBuffer alive; the application frees it, then its device. */
    app.d.vkDestroyBuffer(app.device, raw, NULL);
    app.d.vkFreeMemory(app.device, mem, NULL);
    app.d.vkDestroyDevice(app.device, NULL);
    expect_clean_validation();
}

Test(vulkan, native_handles_are_checked)
{
    dsa_device_info info;
    need_lavapipe(&info);
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "vulkan:llvmpipe";
    desc.native_context = (void *)&desc; /* never dereferenced: the queue is missing */
    dsa_context *vk = NULL;
    cr_expect_eq(dsa_context_create_ex(&desc, &vk), DSA_ERROR_NULL_POINTER);
    cr_expect(strstr(dsa_last_error(), "native_queue") != NULL, "message: %s", dsa_last_error());
    cr_expect_null(vk);
}

/* ---- kernels of the tests' own, run through dsa_vk_run_plan ---------------------------------- */

/* A one-launch plan of `def` with one block of `block` threads; buffers and scalars set by the caller. */
static void own_launch(dsa_launch *l, const dsa_kernel_def *def, int block)
{
    memset(l, 0, sizeof *l);
    l->kernel = def;
    l->spec.block = block;
    l->spec.stages = 1;
    l->spec.in_dtype = DSA_FP32;
    l->spec.out_dtype = DSA_FP32;
    l->grid[0] = l->grid[1] = l->grid[2] = 1;
}

/* lavapipe (Mesa 22.3) compiles an int32 widened by OpSConvert as if zero-extended wherever it meets
 * a signed comparison with a constant or a sign-bit test (templates/dialects/glsl.h): TO_I64 builds
 * the 64 bits itself. x = {-1, -5, 0, INT32_MIN, 7}; each o[j] is one form's 0/1 answer. */
static const char widen_src[] =
    "@kernel widen_check\n"
    "@buffer x i32 read\n"
    "@buffer o i32 write\n"
    "@buffer w i64 write\n"
    "@scalar k i32\n"
    "@scalar u u32\n"
    "@body\n"
    "    I64 e = TO_I64(LD(x, 0));\n"
    "    ST(o, 0, e < 0 ? 1 : 0);\n"
    "    ST(o, 1, e < 5 ? 1 : 0);\n"
    "    ST(o, 2, e > 0 ? 1 : 0);\n"
    "    ST(o, 3, e >= 0 ? 1 : 0);\n"
    "    ST(o, 4, (e >> 63) != 0 ? 1 : 0);\n"
    "    ST(o, 5, TO_I64(LD(x, 1)) < -3 ? 1 : 0);\n"
    "    ST(o, 6, TO_I64(LD(x, 3)) < 0 ? 1 : 0);\n"
    "    ST(o, 7, TO_I64(k) < 0 ? 1 : 0);\n"
    "    ST(o, 8, TO_I64(TID - 1) < 0 ? 1 : 0);\n"
    "    ST(o, 9, TO_I64(u) > 0 ? 1 : 0);\n"           /* u = 0xffffffff: zero-extended */
    "    ST(o, 10, TO_I64(LD(x, 4)) < 0 ? 1 : 0);\n"
    "    ST(o, 11, TO_I64(LD(x, 2)) == 0 ? 1 : 0);\n"
    "    ST(w, 0, e);\n"
    "    ST(w, 1, TO_I64(LD(x, 3)));\n"
    "    ST(w, 2, TO_I64(u));\n"
    "    ST(w, 3, TO_I64(e));\n"
    "    ST(w, 4, TO_I64(-2.5f));\n";

Test(vulkan, to_i64_sign_extends)
{
    dsa_device_info info;
    need_lavapipe(&info);
    dsa_kernel_def def;
    memset(&def, 0, sizeof def);
    def.name = "widen_check";
    def.source = widen_src;
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    const int32_t x[5] = {-1, -5, 0, -2147483647 - 1, 7};
    dsa_buffer *bx = upload(ctx, x, sizeof x, 0), *bo = upload(ctx, NULL, 12 * 4, 0xee),
               *bw = upload(ctx, NULL, 5 * 8, 0xee);
    dsa_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n = 1;
    own_launch(&plan.launch[0], &def, 1);
    dsa_launch *l = &plan.launch[0];
    l->buffers[0].buffer = bx;
    l->buffers[1].buffer = bo;
    l->buffers[2].buffer = bw;
    l->n_buffers = 3;
    l->scalars[0].i = -1;
    l->scalars[1].i = 0xffffffffll;
    l->n_scalars = 2;
    cr_assert_eq(dsa_vk_run_plan(ctx, &plan), DSA_SUCCESS, "%s", dsa_last_error());
    int32_t o[12];
    int64_t w[5];
    download(bo, o, sizeof o);
    download(bw, w, sizeof w);
    const int32_t want_o[12] = {1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1};
    for (int j = 0; j < 12; j++) cr_expect_eq(o[j], want_o[j], "form %d: %d, expected %d", j, o[j], want_o[j]);
    const int64_t want_w[5] = {-1, -2147483647ll - 1, 0xffffffffll, -1, -2};
    for (int j = 0; j < 5; j++) cr_expect_eq(w[j], want_w[j], "w[%d] = %lld, expected %lld", j, (long long)w[j],
                                             (long long)want_w[j]);
    dsa_buffer_free(bx);
    cr_expect_eq(dsa_context_destroy(ctx), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

/* Parameters beyond DSA_GLSL_PUSH_MAX bytes travel in a uniform buffer (lavapipe offers 128 bytes of
 * push constants): 20 i64 scalars, two f32 and two buffer offsets make 192 bytes. Two launches of
 * the uniform kernel in one plan (each with its own slot) and one of a push-constant kernel. */
static const char many_src[] =
    "@kernel many_params\n"
    "@buffer o i64 write\n"
    "@buffer f f32 write\n"
    "@scalar a0 i64\n@scalar a1 i64\n@scalar a2 i64\n@scalar a3 i64\n@scalar a4 i64\n"
    "@scalar a5 i64\n@scalar a6 i64\n@scalar a7 i64\n@scalar a8 i64\n@scalar a9 i64\n"
    "@scalar g f32\n"
    "@scalar b0 i64\n@scalar b1 i64\n@scalar b2 i64\n@scalar b3 i64\n@scalar b4 i64\n"
    "@scalar b5 i64\n@scalar b6 i64\n@scalar b7 i64\n@scalar b8 i64\n@scalar b9 i64\n"
    "@scalar h f32\n"
    "@body\n"
    "    ST(o, 0, a0); ST(o, 1, a1); ST(o, 2, a2); ST(o, 3, a3); ST(o, 4, a4);\n"
    "    ST(o, 5, a5); ST(o, 6, a6); ST(o, 7, a7); ST(o, 8, a8); ST(o, 9, a9);\n"
    "    ST(o, 10, b0); ST(o, 11, b1); ST(o, 12, b2); ST(o, 13, b3); ST(o, 14, b4);\n"
    "    ST(o, 15, b5); ST(o, 16, b6); ST(o, 17, b7); ST(o, 18, b8); ST(o, 19, b9);\n"
    "    ST(f, 0, g);\n"
    "    ST(f, 1, h);\n";
static const char few_src[] =
    "@kernel few_params\n"
    "@buffer o i64 write\n"
    "@scalar a0 i64\n"
    "@scalar k i32\n"
    "@body\n"
    "    ST(o, 0, a0 + TO_I64(k));\n";

Test(vulkan, parameters_beyond_push_constants)
{
    dsa_device_info info;
    need_lavapipe(&info);
    dsa_kernel_def many, few;
    memset(&many, 0, sizeof many);
    memset(&few, 0, sizeof few);
    many.name = "many_params";
    many.source = many_src;
    few.name = "few_params";
    few.source = few_src;
    dsa_spec spec;
    memset(&spec, 0, sizeof spec);
    dsa_signature sig;
    cr_assert_eq(dsa_kernel_signature(&many, &spec, &sig), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(sig.params_size, 192u);
    cr_expect(sig.params_in_uniform);
    cr_expect_eq(sig.params_offset[10], 80u);  /* g after a0..a9 */
    cr_expect_eq(sig.params_offset[11], 88u);  /* b0 8-byte aligned */
    cr_expect_eq(sig.params_offset[22], 176u); /* o's offset after h (168) */
    cr_assert_eq(dsa_kernel_signature(&few, &spec, &sig), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(sig.params_size, 24u);
    cr_expect(!sig.params_in_uniform);

    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    enum { N = 3 * 24 + 2 };
    dsa_buffer *bo = upload(ctx, NULL, N * 8, 0xee), *bf = upload(ctx, NULL, 8 * 4, 0xee);
    dsa_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n = 3;
    for (int i = 0; i < 2; i++) {
        dsa_launch *l = &plan.launch[i];
        own_launch(l, &many, 1);
        l->buffers[0].buffer = bo;
        l->buffers[0].byte_offset = (uint64_t)i * 24 * 8; /* launch i writes o[24 i ..] */
        l->buffers[1].buffer = bf;
        l->buffers[1].byte_offset = (uint64_t)i * 4 * 4;
        l->n_buffers = 2;
        for (int j = 0; j < 22; j++) {
            if (j == 10 || j == 21) l->scalars[j].f = (float)(i * 100 + j) + 0.5f;
            else l->scalars[j].i = -((int64_t)(i + 1) << 40) - j;
        }
        l->n_scalars = 22;
    }
    dsa_launch *l = &plan.launch[2];
    own_launch(l, &few, 1);
    l->buffers[0].buffer = bo;
    l->buffers[0].byte_offset = 48 * 8;
    l->n_buffers = 1;
    l->scalars[0].i = (int64_t)1 << 33;
    l->scalars[1].i = -3;
    l->n_scalars = 2;
    cr_assert_eq(dsa_vk_run_plan(ctx, &plan), DSA_SUCCESS, "%s", dsa_last_error());
    int64_t o[N];
    float f[8];
    download(bo, o, sizeof o);
    download(bf, f, sizeof f);
    for (int i = 0; i < 2; i++) {
        for (int j = 0, m = 0; j < 22; j++) {
            if (j == 10 || j == 21) continue;
            int64_t want = -((int64_t)(i + 1) << 40) - j;
            cr_expect_eq(o[i * 24 + m], want, "launch %d, scalar %d: %lld", i, j, (long long)o[i * 24 + m]);
            m++;
        }
        cr_expect_eq(f[i * 4], (float)(i * 100 + 10) + 0.5f, "launch %d: g = %g", i, (double)f[i * 4]);
        cr_expect_eq(f[i * 4 + 1], (float)(i * 100 + 21) + 0.5f, "launch %d: h = %g", i, (double)f[i * 4 + 1]);
    }
    cr_expect_eq(o[48], ((int64_t)1 << 33) - 3);
    cr_expect_eq(dsa_context_destroy(ctx), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

/* The counter is real: a deliberate invalid usage (a buffer without usage flags) is counted. */
Test(vulkan, validation_messages_are_counted)
{
    dsa_device_info info;
    need_lavapipe(&info);
    if (!dsa_vk_validation_active()) cr_skip_test("VK_LAYER_KHRONOS_validation is not installed");
    app_device app;
    app_device_create(&info, &app);
    uint64_t before = 0, after = 0;
    dsa_vk_validation_counts(&before, NULL);
    dsa_set_log_callback(NULL, NULL); /* the expected error is not printed */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = 64;
    bi.usage = 0;
    VkBuffer buf = VK_NULL_HANDLE;
    VkResult r = app.d.vkCreateBuffer(app.device, &bi, NULL, &buf);
    dsa_vk_validation_counts(&after, NULL);
    cr_expect_gt(after, before, "an invalid VkBufferCreateInfo was not reported");
    if (r == VK_SUCCESS && buf) app.d.vkDestroyBuffer(app.device, buf, NULL);
    app.d.vkDestroyDevice(app.device, NULL);
}

/* ---- tensors beyond the storage-buffer binding limit -------------------------------------------- */

/* Log lines of one category at any level, kept for a test to search (warnings also printed). */
static char captured[1 << 16];
static void capture_log(dsa_log_level level, const char *category, const char *message, void *user)
{
    (void)user;
    if (level <= DSA_LOG_WARN) fprintf(stderr, "[%s] %s\n", category, message);
    size_t used = strlen(captured);
    snprintf(captured + used, sizeof captured - used, "[%s] %s\n", category, message);
}

/* With bindings capped at 4 KiB (DSA_VULKAN_MAX_RANGE, read when the device is probed), the fp8 ops'
 * larger tensors (x: up to 13952 bytes) go through buffer device addresses, bit-exact with the CPU
 * backend; staged too. Where addresses cannot be used (the application's VkDevice) allocations and
 * wrapped buffers beyond the limit are refused as unsupported, naming it. */
Test(vulkan, tensors_beyond_binding_limit)
{
    setenv("DSA_VULKAN_MAX_RANGE", "4096", 1);
    dsa_device_info info;
    need_lavapipe(&info);
    cr_expect_gt(info.max_buffer_bytes, 4096, "lavapipe has bufferDeviceAddress: buffers may exceed the bindings");
    captured[0] = '\0';
    dsa_set_log_callback(capture_log, NULL);
    for (int staged = 0; staged < 2; staged++) {
        if (staged) setenv("DSA_VULKAN_STAGING", "1", 1);
        dsa_context *vk = NULL;
        cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
        compare_fp8_ops(vk);
        cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    }
    cr_expect(strstr(captured, "buffers by device address") != NULL, "no pipeline took device addresses");
    cr_expect(strstr(captured, "buffers as bindings") != NULL, "small launches keep their bindings");

    app_device app;
    app_device_create(&info, &app);
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "vulkan:llvmpipe";
    desc.native_context = (void *)app.device;
    desc.native_queue = (void *)app.queue;
    desc.native_device = (void *)app.physical;
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &vk), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer *big = NULL;
    cr_expect_eq(dsa_buffer_alloc(vk, 8192, &big), DSA_ERROR_UNSUPPORTED);
    cr_expect(strstr(dsa_last_error(), "binding limit (4096 bytes") && strstr(dsa_last_error(), "DSA_VULKAN_MAX_RANGE"),
              "message: %s", dsa_last_error());
    cr_expect_null(big);
    /* A wrapped buffer beyond the limit is taken, but an op using it says why it cannot run. */
    VkDeviceMemory mem;
    VkBuffer raw = app_buffer(&app, 8192, &mem);
    dsa_buffer *wrapped = NULL, *bq = NULL, *bs = NULL;
    cr_assert_eq(dsa_buffer_wrap(vk, (void *)raw, 8192, &wrapped), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_alloc(vk, 128, &bq), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_buffer_alloc(vk, 4, &bs), DSA_SUCCESS, "%s", dsa_last_error());
    int64_t shape[2] = {1, 128}, sshape[2] = {1, 1};
    dsa_dequantize_args a;
    a.q = dsa_tensor_make(bq, 0, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, 0, DSA_FP32, 2, sshape, NULL);
    a.out = dsa_tensor_make(wrapped, 0, DSA_FP32, 2, shape, NULL);
    cr_expect_eq(dsa_dequantize_fp8(vk, &a, NULL), DSA_ERROR_UNSUPPORTED);
    cr_expect(strstr(dsa_last_error(), "binding limit (4096 bytes"), "message: %s", dsa_last_error());
    dsa_buffer_free(bq);
    dsa_buffer_free(bs);
    dsa_buffer_free(wrapped);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app.d.vkDestroyBuffer(app.device, raw, NULL);
    app.d.vkFreeMemory(app.device, mem, NULL);
    app.d.vkDestroyDevice(app.device, NULL);
    expect_clean_validation();
}

/* ---- the persisted pipeline cache -------------------------------------------------------------- */

static void run_one_op(const char *what)
{
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s: %s", what, dsa_last_error());
    uint8_t q[Q_BYTES], s[S_BYTES];
    uint8_t *x;
    size_t xb = make_x(DSA_FP32, &x);
    quantize_on(vk, DSA_FP32, x, xb, q, s, 0);
    free(x);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s: %s", what, dsa_last_error());
}

/* The entry's payload, read through the kernel cache (NULL on a miss). */
static void *load_entry(dsa_cache_key key, size_t *size)
{
    void *data = NULL;
    cr_assert_eq(dsa_cache_load(key, "vk-pipeline-cache", &data, size), DSA_SUCCESS, "%s", dsa_last_error());
    return data;
}

/* A context saves its VkPipelineCache when it ends (kernel cache entry, temp file + rename); the
 * next one loads it. Entries that do not verify (a corrupt or truncated file) or whose header names
 * another pipelineCacheUUID or driver version are ignored, and the context still runs. */
Test(vulkan, pipeline_cache_persists)
{
    char dir[] = "/tmp/dsa-vk-pcache-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    setenv("DSA_CACHE_DIR", dir, 1);
    dsa_device_info info;
    need_lavapipe(&info);
    const dsa_vk_api *api;
    cr_assert_eq(dsa_vk_load(&api), DSA_SUCCESS);
    VkPhysicalDevice pd;
    cr_assert_eq(dsa_vk_physical_device(info.index, &pd), DSA_SUCCESS);
    dsa_vk_device_desc d;
    dsa_vk_describe(api, pd, &d);
    dsa_cache_key key = dsa_vk_pipeline_cache_key(&d);
    char path[4096];
    cr_assert_eq(dsa_cache_entry_path(key, "vk-pipeline-cache", path, sizeof path), DSA_SUCCESS, "%s", dsa_last_error());
    captured[0] = '\0';
    dsa_set_log_callback(capture_log, NULL);

    /* Written. */
    run_one_op("first context");
    size_t size = 0;
    uint8_t *good = load_entry(key, &size);
    cr_assert_not_null(good, "no pipeline cache entry at %s", path);
    cr_expect_null(dsa_vk_pipeline_cache_check(&d, good, size), "%s", dsa_vk_pipeline_cache_check(&d, good, size));
    cr_expect(strstr(captured, "bytes saved") != NULL);
    cr_expect(strstr(captured, "bytes loaded") == NULL, "nothing to load the first time");

    /* Reloaded. */
    captured[0] = '\0';
    run_one_op("second context");
    cr_expect(strstr(captured, "bytes loaded") != NULL, "the saved cache was not used:\n%s", captured);

    /* Checks of the payload itself: the prefix (16 bytes), then Vulkan's header (UUID at 16..31). */
    uint8_t *bad = calloc(1, size + 1);
    cr_assert_not_null(bad);
    const char *why;
    memcpy(bad, good, size); /* one byte more than the prefix says (lavapipe's data is a bare header) */
    cr_expect_str_eq((why = dsa_vk_pipeline_cache_check(&d, bad, size + 1)) ? why : "", "truncated or padded");
    cr_expect_str_eq((why = dsa_vk_pipeline_cache_check(&d, good, 20)) ? why : "", "shorter than its headers");
    memcpy(bad, good, size);
    bad[16 + 16] ^= 0x5a;
    cr_expect_str_eq((why = dsa_vk_pipeline_cache_check(&d, bad, size)) ? why : "", "another pipelineCacheUUID");
    memcpy(bad, good, size);
    bad[8] ^= 1; /* driver version */
    cr_expect_str_eq((why = dsa_vk_pipeline_cache_check(&d, bad, size)) ? why : "", "written by another driver version");
    memcpy(bad, good, size);
    bad[16 + 8] ^= 1; /* vendorID */
    cr_expect_str_eq((why = dsa_vk_pipeline_cache_check(&d, bad, size)) ? why : "", "another vendor or device");

    /* A stored entry with another UUID is ignored; the context runs and saves a good one again. */
    memcpy(bad, good, size);
    bad[16 + 16] ^= 0x5a;
    cr_assert_eq(dsa_cache_store(key, "vk-pipeline-cache", bad, size), DSA_SUCCESS);
    captured[0] = '\0';
    run_one_op("mismatched UUID");
    cr_expect(strstr(captured, "ignored: another pipelineCacheUUID") != NULL, "log:\n%s", captured);
    cr_expect(strstr(captured, "bytes loaded") == NULL);
    size_t n2 = 0;
    void *again = load_entry(key, &n2);
    cr_expect(again && dsa_vk_pipeline_cache_check(&d, again, n2) == NULL, "the good entry was not written back");
    free(again);

    /* A corrupt file (a payload byte flipped on disk) and a truncated one are misses. */
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(path, "r+b");
        cr_assert_not_null(f, "%s", path);
        cr_assert_eq(fseek(f, 0, SEEK_END), 0);
        long len = ftell(f);
        if (k == 0) {
            cr_assert_eq(fseek(f, len - 3, SEEK_SET), 0);
            int ch = fgetc(f);
            cr_assert_eq(fseek(f, len - 3, SEEK_SET), 0);
            fputc(ch ^ 0xff, f);
            fclose(f);
        } else {
            fclose(f);
            cr_assert_eq(truncate(path, len - 5), 0);
        }
        void *miss = load_entry(key, &n2);
        cr_expect_null(miss, "a %s entry was served", k ? "truncated" : "corrupt");
        free(miss);
        captured[0] = '\0';
        run_one_op(k ? "truncated file" : "corrupt file");
        cr_expect(strstr(captured, "bytes loaded") == NULL, "log:\n%s", captured);
        cr_expect(strstr(captured, "bytes saved") != NULL, "log:\n%s", captured);
    }
    free(bad);
    free(good);
    expect_clean_validation();
}

/* ---- semaphores ------------------------------------------------------------------------------ */

static VkSemaphore app_semaphore(app_device *app, int timeline)
{
    VkSemaphoreTypeCreateInfo ti = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    ti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    if (timeline) si.pNext = &ti;
    VkSemaphore s;
    cr_assert_eq(app->d.vkCreateSemaphore(app->device, &si, NULL, &s), VK_SUCCESS);
    return s;
}

/* An empty batch on the application's queue: waits for `wait` (binary, may be NULL), signals
 * `binary` (may be NULL) and `timeline` to `value` (may be NULL). */
static void app_submit(app_device *app, VkSemaphore wait, VkSemaphore binary, VkSemaphore timeline, uint64_t value)
{
    VkSemaphore sig[2];
    uint64_t vals[2] = {0, 0}, wait_val = 0;
    uint32_t n = 0;
    if (binary) sig[n++] = binary;
    if (timeline) {
        vals[n] = value;
        sig[n++] = timeline;
    }
    VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkTimelineSemaphoreSubmitInfo ts = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ts.waitSemaphoreValueCount = wait ? 1 : 0;
    ts.pWaitSemaphoreValues = &wait_val;
    ts.signalSemaphoreValueCount = n;
    ts.pSignalSemaphoreValues = vals;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = &ts;
    si.waitSemaphoreCount = wait ? 1 : 0;
    si.pWaitSemaphores = &wait;
    si.pWaitDstStageMask = &stage;
    si.signalSemaphoreCount = n;
    si.pSignalSemaphores = sig;
    cr_assert_eq(app->d.vkQueueSubmit(app->queue, 1, &si, VK_NULL_HANDLE), VK_SUCCESS);
}

static void dequantize_once(dsa_context *vk)
{
    uint8_t q[Q_BYTES], s[S_BYTES];
    memset(q, 0x38, sizeof q); /* 1.0 */
    for (size_t i = 0; i < S_BYTES / 4; i++) {
        float half = 0.5f;
        memcpy(s + 4 * i, &half, 4);
    }
    uint8_t *o = malloc(O_BYTES(DSA_FP32));
    cr_assert_not_null(o);
    dequantize_on(vk, DSA_FP32, q, s, o);
    float v;
    memcpy(&v, o + (size_t)O_OFF * 4, 4);
    cr_expect_eq(v, 0.5f);
    free(o);
}

/* Ops wait for the application's semaphores (a timeline value and a binary one) and signal the
 * context's timeline semaphore, which the application waits for; on its own VkDevice, and on ours. */
Test(vulkan, semaphores_wait_and_signal)
{
    dsa_device_info info;
    need_lavapipe(&info);
    app_device app;
    app_device_create(&info, &app);
    PFN_vkWaitSemaphores wait_semaphores = (PFN_vkWaitSemaphores)app.api->vkGetDeviceProcAddr(app.device, "vkWaitSemaphores");
    cr_assert_not_null(wait_semaphores);
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "vulkan:llvmpipe";
    desc.native_context = (void *)app.device;
    desc.native_queue = (void *)app.queue;
    desc.native_device = (void *)app.physical;
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &vk), DSA_SUCCESS, "%s", dsa_last_error());

    dsa_semaphore got = {(void *)1, 1};
    cr_expect_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_null(got.handle, "no op has run");
    void *event = (void *)1;
    cr_expect_eq(dsa_context_take_event(vk, &event), DSA_ERROR_UNSUPPORTED);
    cr_expect(strstr(dsa_last_error(), "dsa_context_take_semaphore") != NULL, "message: %s", dsa_last_error());
    cr_expect_null(event);
    dsa_semaphore none = {NULL, 0};
    void *bad[1] = {&none};
    cr_expect_eq(dsa_context_wait_events(vk, bad, 1), DSA_ERROR_NULL_POINTER);

    VkSemaphore a = app_semaphore(&app, 1), b = app_semaphore(&app, 0);
    app_submit(&app, VK_NULL_HANDLE, b, a, 5);
    dsa_semaphore sa = {(void *)a, 5}, sb = {(void *)b, 0};
    void *waits[2] = {&sa, &sb};
    cr_assert_eq(dsa_context_wait_events(vk, waits, 2), DSA_SUCCESS, "%s", dsa_last_error());
    dequantize_once(vk);
    /* b was waited for (unsignalled): signalling it again is valid only then (validation checks). */
    app_submit(&app, VK_NULL_HANDLE, b, VK_NULL_HANDLE, 0);
    app_submit(&app, b, VK_NULL_HANDLE, VK_NULL_HANDLE, 0);

    /* The context's timeline: created on this first take (the application's device), covering the op. */
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(got.handle);
    cr_expect_eq(got.value, 1);
    VkSemaphore t = (VkSemaphore)got.handle;
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &t;
    wi.pValues = &got.value;
    cr_expect_eq(wait_semaphores(app.device, &wi, 5000000000ull), VK_SUCCESS);
    /* Later ops signal it themselves. */
    dequantize_once(vk);
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(got.handle, (void *)t);
    cr_expect_eq(got.value, 2);
    wi.pValues = &got.value;
    cr_expect_eq(wait_semaphores(app.device, &wi, 5000000000ull), VK_SUCCESS);
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS);
    cr_expect_null(got.handle, "taken already, and no op since");

    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app.d.vkDeviceWaitIdle(app.device);
    app.d.vkDestroySemaphore(app.device, a, NULL);
    app.d.vkDestroySemaphore(app.device, b, NULL);
    app.d.vkDestroyDevice(app.device, NULL);

    /* Our own device: the timeline exists from the start and every op signals it. */
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
    dequantize_once(vk);
    dequantize_once(vk);
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_not_null(got.handle);
    cr_expect_eq(got.value, 2);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

/* ---- asynchronous submission ------------------------------------------------------------------ */

/* One op of a chain: o[i] = x[i] * 5 + k over n int32 values, one block of 64 threads. Chained
 * ping-pong between two buffers, each op reads what the op before wrote and overwrites what the op
 * before that read, so a missing barrier (read-after-write or write-after-read) shows in the bits. */
static const char step_src[] =
    "@kernel async_step\n"
    "@buffer x i32 read\n"
    "@buffer o i32 write\n"
    "@scalar n i32\n"
    "@scalar k i32\n"
    "@body\n"
    "    for (I32 i = TID; i < n; i += BLOCK) ST(o, i, LD(x, i) * 5 + k);\n";
enum { STEP_N = 4096 };

static dsa_kernel_def step_def(void)
{
    dsa_kernel_def def;
    memset(&def, 0, sizeof def);
    def.name = "async_step";
    def.source = step_src;
    return def;
}

static void step_values(uint32_t *v)
{
    for (int i = 0; i < STEP_N; i++) v[i] = (uint32_t)i * 2654435761u;
}

/* What a chain of n_ops (constants k0, k0 + 1, ...) makes of step_values, computed on the host. */
static void step_expected(uint32_t *v, int n_ops, int k0)
{
    step_values(v);
    for (int j = 0; j < n_ops; j++)
        for (int i = 0; i < STEP_N; i++) v[i] = v[i] * 5u + (uint32_t)(k0 + j);
}

/* Enqueues the chain on ctx starting from buffer a (b is the other), with dsa_synchronize after each
 * op where `sync`; returns the buffer the last op wrote. */
static dsa_buffer *step_chain(dsa_context *ctx, const dsa_kernel_def *def, dsa_buffer *a, dsa_buffer *b, int n_ops,
                              int k0, int sync)
{
    dsa_buffer *src = a, *dst = b;
    for (int j = 0; j < n_ops; j++) {
        dsa_plan plan;
        memset(&plan, 0, sizeof plan);
        plan.n = 1;
        dsa_launch *l = &plan.launch[0];
        own_launch(l, def, 64);
        l->buffers[0].buffer = src;
        l->buffers[1].buffer = dst;
        l->n_buffers = 2;
        l->scalars[0].i = STEP_N;
        l->scalars[1].i = k0 + j;
        l->n_scalars = 2;
        cr_assert_eq(dsa_vk_run_plan(ctx, &plan), DSA_SUCCESS, "op %d: %s", j, dsa_last_error());
        if (sync) cr_assert_eq(dsa_synchronize(ctx), DSA_SUCCESS, "op %d: %s", j, dsa_last_error());
        dsa_buffer *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

static void step_buffers(dsa_context *ctx, dsa_buffer **a, dsa_buffer **b)
{
    static uint32_t v[STEP_N];
    step_values(v);
    *a = upload(ctx, v, sizeof v, 0);
    *b = upload(ctx, NULL, sizeof v, 0xee);
}

/* A context of libdsa's own on lavapipe (the test skips without it; info describes it) with the step
 * buffers. */
static dsa_context *step_context(dsa_device_info *info, dsa_buffer **a, dsa_buffer **b)
{
    need_lavapipe(info);
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
    step_buffers(vk, a, b);
    return vk;
}

static void expect_step_result(dsa_buffer *out, int n_ops, int k0, const char *what)
{
    static uint32_t got[STEP_N], want[STEP_N];
    cr_assert_eq(dsa_buffer_read(out, 0, got, sizeof got), DSA_SUCCESS, "%s: %s", what, dsa_last_error());
    step_expected(want, n_ops, k0);
    int bad = 0, first = -1;
    for (int i = 0; i < STEP_N; i++)
        if (got[i] != want[i] && bad++ == 0) first = i;
    cr_expect_eq(bad, 0, "%s: %d of %d values wrong, first at %d (0x%08x, expected 0x%08x)", what, bad, STEP_N, first,
                 first >= 0 ? got[first] : 0, first >= 0 ? want[first] : 0);
}

static dsa_vk_ring_state ring_state(dsa_context *ctx)
{
    dsa_vk_ring_state s;
    cr_assert_eq(dsa_vk_ring_state_get(ctx, &s), DSA_SUCCESS, "%s", dsa_last_error());
    return s;
}

/* The application's device, with a context on it and the timeline commands it needs. */
typedef struct app_timeline {
    PFN_vkSignalSemaphore signal;
    PFN_vkWaitSemaphores wait;
    PFN_vkGetSemaphoreCounterValue value;
} app_timeline;

static dsa_context *app_context(const dsa_device_info *info, app_device *app, app_timeline *t)
{
    app_device_create(info, app);
    t->signal = (PFN_vkSignalSemaphore)app->api->vkGetDeviceProcAddr(app->device, "vkSignalSemaphore");
    t->wait = (PFN_vkWaitSemaphores)app->api->vkGetDeviceProcAddr(app->device, "vkWaitSemaphores");
    t->value = (PFN_vkGetSemaphoreCounterValue)app->api->vkGetDeviceProcAddr(app->device, "vkGetSemaphoreCounterValue");
    cr_assert(t->signal && t->wait && t->value, "lavapipe is a Vulkan 1.2+ device");
    dsa_context_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.selector = "vulkan:llvmpipe";
    desc.native_context = (void *)app->device;
    desc.native_queue = (void *)app->queue;
    desc.native_device = (void *)app->physical;
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create_ex(&desc, &vk), DSA_SUCCESS, "%s", dsa_last_error());
    return vk;
}

static void app_destroy(app_device *app, VkSemaphore gate)
{
    app->d.vkDeviceWaitIdle(app->device);
    if (gate) app->d.vkDestroySemaphore(app->device, gate, NULL);
    app->d.vkDestroyDevice(app->device, NULL);
}

/* Enqueueing waits for nothing. On our device: a full ring of ops is submitted with no host wait (no
 * full-ring wait, no drain). Timing-free proof on the application's device: the first op waits for
 * a timeline value the host has not signalled, so the device cannot finish any of the ops; they
 * still all return, in flight and unfinished, and complete once the host signals. */
Test(vulkan, ops_enqueue_without_waiting, .timeout = 120)
{
    dsa_device_info info;
    dsa_kernel_def def = step_def();
    dsa_buffer *a, *b;
    dsa_context *vk = step_context(&info, &a, &b);
    dsa_vk_ring_state s0 = ring_state(vk);
    cr_expect_eq(s0.in_flight, 0, "uploads are waited for");
    cr_assert_geq(s0.slots, 2);
    dsa_buffer *out = step_chain(vk, &def, a, b, s0.slots, 1, 0);
    dsa_vk_ring_state s1 = ring_state(vk);
    cr_expect_eq(s1.submits - s0.submits, (uint64_t)s0.slots);
    cr_expect_eq(s1.full_waits, s0.full_waits, "an op waited for a slot");
    cr_expect_eq(s1.drains, s0.drains, "an op drained the ring");
    cr_expect_gt(s1.in_flight, 0);
    cr_expect_leq(s1.in_flight, s0.slots);
    cr_assert_eq(dsa_synchronize(vk), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(ring_state(vk).in_flight, 0, "synchronize recycles every slot");
    expect_step_result(out, s0.slots, 1, "own device");
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());

    app_device app;
    app_timeline t;
    vk = app_context(&info, &app, &t);
    step_buffers(vk, &a, &b);
    VkSemaphore gate = app_semaphore(&app, 1);
    dsa_semaphore g = {(void *)gate, 1};
    void *waits[1] = {&g};
    cr_assert_eq(dsa_context_wait_events(vk, waits, 1), DSA_SUCCESS, "%s", dsa_last_error());
    int n = s0.slots - 1;
    out = step_chain(vk, &def, a, b, n, 7, 0);
    s1 = ring_state(vk);
    cr_expect_eq(s1.in_flight, n, "every op is in flight");
    cr_expect_eq(s1.done, 0, "no op can have finished: the first waits for the gate");
    cr_expect_eq(s1.full_waits, 0);
    VkSemaphoreSignalInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
    si.semaphore = gate;
    si.value = 1;
    cr_assert_eq(t.signal(app.device, &si), VK_SUCCESS);
    expect_step_result(out, n, 7, "application's device, after the gate");
    cr_expect_eq(ring_state(vk).in_flight, 0, "a read waits for the ops in flight");
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app_destroy(&app, gate);
    expect_clean_validation();
}

/* The fp8 ops chained (quantize -> dequantize -> quantize -> dequantize, each reading the last one's
 * output): the same bytes whether enqueued back to back or with dsa_synchronize after each. */
static void fp8_chain(dsa_context *ctx, const uint8_t *x, int sync, uint8_t *q, uint8_t *s, float *y)
{
    enum { R = 5, C = 256, G = C / 128 };
    dsa_buffer *bx = upload(ctx, x, (size_t)R * C * 4, 0), *bq = upload(ctx, NULL, R * C, 0xcd),
               *bs = upload(ctx, NULL, R * G * 4, 0xcd), *by = upload(ctx, NULL, (size_t)R * C * 4, 0xcd);
    int64_t shape[2] = {R, C}, sshape[2] = {R, G};
    dsa_quantize_args qa;
    qa.q = dsa_tensor_make(bq, 0, DSA_FP8_E4M3, 2, shape, NULL);
    qa.scales = dsa_tensor_make(bs, 0, DSA_FP32, 2, sshape, NULL);
    dsa_dequantize_args da;
    da.q = qa.q;
    da.scales = qa.scales;
    da.out = dsa_tensor_make(by, 0, DSA_FP32, 2, shape, NULL);
    for (int round = 0; round < 3; round++) {
        qa.x = dsa_tensor_make(round ? by : bx, 0, DSA_FP32, 2, shape, NULL);
        cr_assert_eq(dsa_quantize_fp8(ctx, &qa, NULL), DSA_SUCCESS, "%s", dsa_last_error());
        if (sync) cr_assert_eq(dsa_synchronize(ctx), DSA_SUCCESS, "%s", dsa_last_error());
        cr_assert_eq(dsa_dequantize_fp8(ctx, &da, NULL), DSA_SUCCESS, "%s", dsa_last_error());
        if (sync) cr_assert_eq(dsa_synchronize(ctx), DSA_SUCCESS, "%s", dsa_last_error());
    }
    dsa_buffer_free(bx);
    download(bq, q, R * C);
    download(bs, s, R * G * 4);
    download(by, y, (size_t)R * C * 4);
}

/* Dependent ops give the same bits enqueued back to back as with a synchronize between each, and
 * the bits the host computes; mapped and staged memory, our device and the application's. */
Test(vulkan, dependent_ops_match_synchronized)
{
    dsa_device_info info;
    need_lavapipe(&info);
    dsa_kernel_def def = step_def();
    for (int staged = 0; staged < 2; staged++) {
        if (staged) setenv("DSA_VULKAN_STAGING", "1", 1);
        dsa_context *vk = NULL;
        cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
        dsa_buffer *a, *b;
        step_buffers(vk, &a, &b);
        expect_step_result(step_chain(vk, &def, a, b, 5, 3, 1), 5, 3, staged ? "staged, synchronized" : "synchronized");
        dsa_buffer_free(a);
        dsa_buffer_free(b);
        step_buffers(vk, &a, &b);
        expect_step_result(step_chain(vk, &def, a, b, 5, 3, 0), 5, 3, staged ? "staged, back to back" : "back to back");
        dsa_buffer_free(a);
        dsa_buffer_free(b);

        static uint8_t q[2][5 * 256], s[2][5 * 2 * 4];
        static float y[2][5 * 256];
        uint8_t *x;
        make_x(DSA_FP32, &x); /* its first 5 x 256 values, as one contiguous tensor */
        fp8_chain(vk, x, 1, q[0], s[0], y[0]);
        fp8_chain(vk, x, 0, q[1], s[1], y[1]);
        free(x);
        expect_same_bytes("fp8 chain: q", q[0], q[1], sizeof q[0]);
        expect_same_bytes("fp8 chain: scales", s[0], s[1], sizeof s[0]);
        expect_same_bytes("fp8 chain: y", (const uint8_t *)y[0], (const uint8_t *)y[1], sizeof y[0]);
        cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    }
    unsetenv("DSA_VULKAN_STAGING");
    app_device app;
    app_timeline t;
    dsa_context *vk = app_context(&info, &app, &t);
    dsa_buffer *a, *b;
    step_buffers(vk, &a, &b);
    expect_step_result(step_chain(vk, &def, a, b, 6, 11, 0), 6, 11, "application's device, back to back");
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app_destroy(&app, VK_NULL_HANDLE);
    expect_clean_validation();
}

/* More ops than ring slots: the oldest slot is waited for and recycled (its descriptor pool and its
 * uniform parameter blocks reused) while later ones run. A chain of 3 rings and a bit, and ops whose
 * parameters travel in the slot's uniform blocks (many_params), each writing its own rows. */
Test(vulkan, ring_wraps_around)
{
    dsa_device_info info;
    dsa_kernel_def def = step_def();
    dsa_buffer *a, *b;
    dsa_context *vk = step_context(&info, &a, &b);
    int slots = ring_state(vk).slots, n = 3 * slots + 3;
    dsa_buffer *out = step_chain(vk, &def, a, b, n, 100, 0);
    dsa_vk_ring_state s = ring_state(vk);
    cr_expect_leq(s.in_flight, slots);
    expect_step_result(out, n, 100, "3 rings and 3 ops");
    dsa_buffer_free(a);
    dsa_buffer_free(b);

    dsa_kernel_def many;
    memset(&many, 0, sizeof many);
    many.name = "many_params";
    many.source = many_src;
    enum { OPS = 20 };
    cr_assert_gt(OPS, 2 * slots);
    dsa_buffer *bo = upload(vk, NULL, OPS * 24 * 8, 0xee), *bf = upload(vk, NULL, OPS * 4 * 4, 0xee);
    s = ring_state(vk);
    for (int i = 0; i < OPS; i++) {
        dsa_plan plan;
        memset(&plan, 0, sizeof plan);
        plan.n = 2; /* two launches: two uniform blocks of the slot */
        for (int h = 0; h < 2; h++) {
            dsa_launch *l = &plan.launch[h];
            own_launch(l, &many, 1);
            l->buffers[0].buffer = bo;
            l->buffers[0].byte_offset = ((uint64_t)i * 24 + (uint64_t)h * 12) * 8; /* o[24 i + 12 h ..]: a0..a9, b0.. */
            l->buffers[1].buffer = bf;
            l->buffers[1].byte_offset = ((uint64_t)i * 4 + (uint64_t)h * 2) * 4;
            l->n_buffers = 2;
            for (int j = 0; j < 22; j++) {
                if (j == 10 || j == 21) l->scalars[j].f = (float)(i * 100 + h * 10 + j) + 0.5f;
                else l->scalars[j].i = -((int64_t)(i + 1) << 32) - h * 1000 - j;
            }
            l->n_scalars = 22;
        }
        cr_assert_eq(dsa_vk_run_plan(vk, &plan), DSA_SUCCESS, "op %d: %s", i, dsa_last_error());
    }
    cr_expect_eq(ring_state(vk).submits - s.submits, (uint64_t)OPS);
    static int64_t o[OPS * 24];
    static float f[OPS * 4];
    download(bo, o, sizeof o);
    download(bf, f, sizeof f);
    /* Launch h of op i wrote a0..a9 at o[24 i + 12 h ..] and b0..b9 at +10 (launch 0's b0, b1 are
     * overwritten by launch 1's a0, a1: it runs after); g, h at f[4 i + 2 h ..]. */
    for (int i = 0; i < OPS; i++)
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 10; j++) {
                int64_t want = -((int64_t)(i + 1) << 32) - h * 1000 - j;
                cr_expect_eq(o[i * 24 + h * 12 + j], want, "op %d launch %d a%d: %lld", i, h, j,
                             (long long)o[i * 24 + h * 12 + j]);
            }
            cr_expect_eq(f[i * 4 + h * 2], (float)(i * 100 + h * 10 + 10) + 0.5f, "op %d launch %d: g", i, h);
            cr_expect_eq(f[i * 4 + h * 2 + 1], (float)(i * 100 + h * 10 + 21) + 0.5f, "op %d launch %d: h", i, h);
        }
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());

    /* A full ring of unfinished ops (a gate holds the first): the gate opens and more ops follow at
     * once, so the next one usually finds the oldest slot still running and waits for it. A slot
     * reused too early would show in the bits, or as the validation layer's "in use" errors.
     * (The gate is opened on this thread: the layer, Debian's 1.3.239, can stall for 10 s and
     * report its own timeout when a host signal on one thread races a fence wait on another.) */
    app_device app;
    app_timeline t;
    vk = app_context(&info, &app, &t);
    step_buffers(vk, &a, &b);
    VkSemaphore gate = app_semaphore(&app, 1);
    dsa_semaphore sem = {(void *)gate, 1};
    void *waits[1] = {&sem};
    cr_assert_eq(dsa_context_wait_events(vk, waits, 1), DSA_SUCCESS, "%s", dsa_last_error());
    out = step_chain(vk, &def, a, b, slots, 40, 0);
    s = ring_state(vk);
    cr_expect_eq(s.in_flight, slots);
    cr_expect_eq(s.done, 0);
    VkSemaphoreSignalInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
    si.semaphore = gate;
    si.value = 1;
    cr_assert_eq(t.signal(app.device, &si), VK_SUCCESS);
    out = step_chain(vk, &def, out, out == a ? b : a, slots + 3, 40 + slots, 0);
    cr_log_info("ring of %d: %llu waits for a full ring", slots, (unsigned long long)ring_state(vk).full_waits);
    expect_step_result(out, 2 * slots + 3, 40, "after a full ring");
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app_destroy(&app, gate);
    expect_clean_validation();
}

/* dsa_context_take_semaphore right after enqueueing (nothing synchronized): the value is the last
 * op's, reached only once that op has run (the first waits for a gate the host opens later), and
 * the application's wait for it completes with the results in place. */
Test(vulkan, semaphore_taken_after_async_ops, .timeout = 120)
{
    dsa_device_info info;
    need_lavapipe(&info);
    dsa_kernel_def def = step_def();
    app_device app;
    app_timeline t;
    dsa_context *vk = app_context(&info, &app, &t);
    dsa_buffer *a, *b;
    step_buffers(vk, &a, &b);
    step_chain(vk, &def, a, b, 1, 0, 0); /* the timeline is made by the first take, after an op */
    dsa_semaphore first;
    cr_assert_eq(dsa_context_take_semaphore(vk, &first), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_not_null(first.handle);
    /* The gate holds the first op; the others are queued behind it. More ops than slots would make
     * the enqueue wait for the oldest slot, which cannot finish before the gate: n stays within. */
    int n = ring_state(vk).slots - 1;
    VkSemaphore gate = app_semaphore(&app, 1);
    dsa_semaphore g = {(void *)gate, 1};
    void *waits[1] = {&g};
    cr_assert_eq(dsa_context_wait_events(vk, waits, 1), DSA_SUCCESS, "%s", dsa_last_error());
    dsa_buffer *out = step_chain(vk, &def, b, a, n, 20, 0); /* b holds the first op's result */
    dsa_semaphore got;
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(got.handle, first.handle);
    cr_expect_eq(got.value, first.value + (uint64_t)n, "one value per op: %llu after %llu",
                 (unsigned long long)got.value, (unsigned long long)first.value);
    VkSemaphore tl = (VkSemaphore)got.handle;
    uint64_t now = 0;
    cr_assert_eq(t.value(app.device, tl, &now), VK_SUCCESS);
    cr_expect_lt(now, got.value, "the ops ran before the gate opened");
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &tl;
    wi.pValues = &got.value;
    cr_expect_eq(t.wait(app.device, &wi, 0), VK_TIMEOUT, "the taken value is reached only after the gate");
    VkSemaphoreSignalInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
    si.semaphore = gate;
    si.value = 1;
    cr_assert_eq(t.signal(app.device, &si), VK_SUCCESS);
    cr_expect_eq(t.wait(app.device, &wi, 10000000000ull), VK_SUCCESS);
    /* The value stands for the ops' results: the first op's, then n more (constants 20, 21, ...). */
    static uint32_t got_v[STEP_N], want[STEP_N];
    cr_assert_eq(dsa_buffer_read(out, 0, got_v, sizeof got_v), DSA_SUCCESS, "%s", dsa_last_error());
    step_expected(want, 1, 0);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < STEP_N; i++) want[i] = want[i] * 5u + (uint32_t)(20 + j);
    cr_expect_arr_eq(got_v, want, sizeof want);

    /* Our own device: the value after async ops, then synchronize and the results. */
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    app_destroy(&app, gate);
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());
    step_buffers(vk, &a, &b);
    dsa_vk_ring_state s0 = ring_state(vk);
    out = step_chain(vk, &def, a, b, n, 1, 0);
    cr_assert_eq(dsa_context_take_semaphore(vk, &got), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_not_null(got.handle);
    cr_expect_eq(got.value, (uint64_t)n, "every op signals the next value");
    cr_expect_eq(ring_state(vk).drains, s0.drains, "taking the semaphore waits for nothing");
    cr_assert_eq(dsa_synchronize(vk), DSA_SUCCESS, "%s", dsa_last_error());
    expect_step_result(out, n, 1, "own device");
    dsa_buffer_free(a);
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

/* Failures of asynchronous work, injected (dsa_vk_inject_failure): a failed submission is the op's
 * status and the context goes on; a failed fence wait is reported by the next synchronize (or, for
 * the poll on the enqueue path, by the next op), naming the VkResult; a lost device stays lost, and
 * freeing and destroying still work. Nothing crashes, the validation layer stays silent. */
Test(vulkan, async_failures_reported)
{
    dsa_device_info info;
    dsa_kernel_def def = step_def();
    dsa_buffer *a, *b;
    dsa_context *vk = step_context(&info, &a, &b);
    dsa_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n = 1;
    own_launch(&plan.launch[0], &def, 64);
    plan.launch[0].buffers[0].buffer = a;
    plan.launch[0].buffers[1].buffer = b;
    plan.launch[0].n_buffers = 2;
    plan.launch[0].scalars[0].i = STEP_N;
    plan.launch[0].scalars[1].i = 1;
    plan.launch[0].n_scalars = 2;
    dsa_set_log_callback(NULL, NULL); /* the expected errors are not printed */

    cr_assert_eq(dsa_vk_inject_failure(vk, "vkQueueSubmit", VK_ERROR_OUT_OF_DEVICE_MEMORY), DSA_SUCCESS);
    cr_expect_eq(dsa_vk_run_plan(vk, &plan), DSA_ERROR_DEVICE_OUT_OF_MEMORY);
    cr_expect(strstr(dsa_last_error(), "vkQueueSubmit") && strstr(dsa_last_error(), "VK_ERROR_OUT_OF_DEVICE_MEMORY"),
              "message: %s", dsa_last_error());
    cr_expect_eq(ring_state(vk).in_flight, 0, "the failed submission holds no slot");
    cr_assert_eq(dsa_vk_run_plan(vk, &plan), DSA_SUCCESS, "the context goes on: %s", dsa_last_error());
    expect_step_result(b, 1, 1, "after a failed submission");

    cr_assert_eq(dsa_vk_run_plan(vk, &plan), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_vk_inject_failure(vk, "vkWaitForFences", VK_ERROR_OUT_OF_HOST_MEMORY), DSA_SUCCESS);
    cr_expect_eq(dsa_synchronize(vk), DSA_ERROR_OUT_OF_MEMORY);
    cr_expect(strstr(dsa_last_error(), "vkWaitForFences") && strstr(dsa_last_error(), "VK_ERROR_OUT_OF_HOST_MEMORY"),
              "message: %s", dsa_last_error());
    cr_expect_eq(ring_state(vk).in_flight, 1, "the slot whose wait failed stays in flight");
    cr_expect_eq(dsa_synchronize(vk), DSA_SUCCESS, "the next wait succeeds: %s", dsa_last_error());
    expect_step_result(b, 1, 1, "after a failed wait");

    cr_assert_eq(dsa_vk_run_plan(vk, &plan), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_vk_inject_failure(vk, "vkWaitForFences", VK_ERROR_DEVICE_LOST), DSA_SUCCESS);
    cr_expect_eq(dsa_vk_run_plan(vk, &plan), DSA_ERROR_DEVICE_LOST, "the next op polls the earlier fence");
    cr_expect(strstr(dsa_last_error(), "VK_ERROR_DEVICE_LOST") != NULL, "message: %s", dsa_last_error());
    cr_expect_eq(dsa_synchronize(vk), DSA_ERROR_DEVICE_LOST);
    cr_expect(strstr(dsa_last_error(), "VK_ERROR_DEVICE_LOST") != NULL, "message: %s", dsa_last_error());
    cr_expect_eq(dsa_vk_run_plan(vk, &plan), DSA_ERROR_DEVICE_LOST, "a lost context stays lost");
    uint32_t v;
    cr_expect_eq(dsa_buffer_read(a, 0, &v, 4), DSA_ERROR_DEVICE_LOST);
    cr_expect_eq(dsa_buffer_free(a), DSA_ERROR_DEVICE_LOST, "freed, saying why the wait failed");
    dsa_buffer_free(b);
    cr_expect_eq(dsa_context_destroy(vk), DSA_ERROR_DEVICE_LOST);
    expect_clean_validation();
}

/* dsa_prepare builds the device-address form (spec addr=1) of a launch that may need it, so that an
 * op on tensors beyond the binding limit compiles nothing when enqueued; a shape class whose buffers
 * are given, all within the limit, gets the bindings form only. Bindings capped at 4 KiB. */
Test(vulkan, prepare_builds_address_pipelines)
{
    setenv("DSA_VULKAN_MAX_RANGE", "4096", 1);
    dsa_device_info info;
    need_lavapipe(&info);
    captured[0] = '\0';
    dsa_set_log_callback(capture_log, NULL);
    dsa_context *vk = NULL;
    cr_assert_eq(dsa_context_create("vulkan:llvmpipe", &vk), DSA_SUCCESS, "%s", dsa_last_error());

    uint8_t *x;
    size_t xb = make_x(DSA_FP32, &x);
    cr_assert_gt(xb, 4096);
    dsa_buffer *bx = upload(vk, x, xb, 0), *bq = upload(vk, NULL, Q_BYTES, 0), *bs = upload(vk, NULL, S_BYTES, 0);
    free(x);
    int64_t shape[2] = {ROWS, COLS}, xstr[2] = {X_STRIDE, 1}, sshape[2] = {ROWS, GROUPS};
    dsa_quantize_args a;
    a.x = dsa_tensor_make(bx, (uint64_t)X_OFF * 4, DSA_FP32, 2, shape, xstr);
    a.q = dsa_tensor_make(bq, Q_OFF, DSA_FP8_E4M3, 2, shape, NULL);
    a.scales = dsa_tensor_make(bs, S_OFF, DSA_FP32, 2, sshape, NULL);
    dsa_quantize_args shapes_only = a;
    shapes_only.x.buffer = shapes_only.q.buffer = shapes_only.scales.buffer = NULL;
    captured[0] = '\0';
    cr_assert_eq(dsa_prepare(vk, DSA_OP_QUANTIZE_FP8, &shapes_only), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect(strstr(captured, "buffers by device address") != NULL, "prepare:\n%s", captured);
    cr_expect(strstr(captured, "buffers as bindings") != NULL, "prepare:\n%s", captured);
    captured[0] = '\0';
    cr_assert_eq(dsa_run(vk, DSA_OP_QUANTIZE_FP8, &a, NULL), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_synchronize(vk), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect(strstr(captured, "pipeline for") == NULL, "the op compiled when enqueued:\n%s", captured);

    /* Buffers given to prepare, all within the limit: no address form. */
    dsa_buffer *dq = upload(vk, NULL, 128, 0x38), *ds = upload(vk, NULL, 4, 0), *dout = upload(vk, NULL, 512, 0);
    int64_t dshape[2] = {1, 128}, dsshape[2] = {1, 1};
    dsa_dequantize_args d;
    d.q = dsa_tensor_make(dq, 0, DSA_FP8_E4M3, 2, dshape, NULL);
    d.scales = dsa_tensor_make(ds, 0, DSA_FP32, 2, dsshape, NULL);
    d.out = dsa_tensor_make(dout, 0, DSA_FP32, 2, dshape, NULL);
    captured[0] = '\0';
    cr_assert_eq(dsa_prepare(vk, DSA_OP_DEQUANTIZE_FP8, &d), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect(strstr(captured, "buffers as bindings") != NULL, "prepare:\n%s", captured);
    cr_expect(strstr(captured, "buffers by device address") == NULL, "prepare:\n%s", captured);
    dsa_buffer_free(bx);
    dsa_buffer_free(bq);
    dsa_buffer_free(bs);
    dsa_buffer_free(dq);
    dsa_buffer_free(ds);
    dsa_buffer_free(dout);
    cr_expect_eq(dsa_context_destroy(vk), DSA_SUCCESS, "%s", dsa_last_error());
    expect_clean_validation();
}

#ifdef DSA_HAVE_GLSLANG
#include "../backends/vulkan/glsl_compile.h"

/* Devices that flush fp32 denormals unless the module says DenormPreserve (the NVIDIA driver) get
 * every module with that execution mode added (vk_backend.c, create_pipeline); lavapipe keeps
 * denormals without it and does not advertise the property, so the rewrite is checked here as a
 * module: valid for Vulkan 1.2 and 1.3, with the capability, extension and mode in place. */
Test(vulkan, spirv_denorm_preserve_added)
{
    static const char glsl[] = "#version 450\n"
                               "layout(local_size_x = 32) in;\n"
                               "layout(std430, binding = 0) buffer B { float v[]; };\n"
                               "void main() { v[gl_GlobalInvocationID.x] *= 1e-30; }\n";
    uint32_t *words = NULL, *kept = NULL;
    size_t n = 0, n_kept = 0;
    cr_assert_eq(dsa_glsl_to_spirv(glsl, "denorm", DSA_SPIRV_1_3, &words, &n), DSA_SUCCESS, "%s", dsa_last_error());
    cr_assert_eq(dsa_vk_spirv_preserve_denorms(words, n, &kept, &n_kept), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect_eq(n_kept, n + 13, "%zu words from %zu", n_kept, n);
    cr_expect_eq(dsa_spirv_validate(kept, n_kept, 2), DSA_SUCCESS, "Vulkan 1.2: %s", dsa_last_error());
    cr_expect_eq(dsa_spirv_validate(kept, n_kept, 3), DSA_SUCCESS, "Vulkan 1.3: %s", dsa_last_error());
    char *text = NULL;
    cr_assert_eq(dsa_spirv_disassemble(kept, n_kept, &text), DSA_SUCCESS, "%s", dsa_last_error());
    cr_expect(strstr(text, "OpCapability DenormPreserve") != NULL, "%s", text);
    cr_expect(strstr(text, "OpExtension \"SPV_KHR_float_controls\"") != NULL, "%s", text);
    cr_expect(strstr(text, "OpExecutionMode %main DenormPreserve 32") != NULL, "%s", text);
    free(text);
    free(kept);
    /* A module cut before its entry point is refused, not patched. */
    kept = NULL;
    cr_expect_eq(dsa_vk_spirv_preserve_denorms(words, 8, &kept, &n_kept), DSA_ERROR_INTERNAL);
    cr_expect_null(kept);
    free(words);
}
#endif

#else

Test(vulkan, not_built)
{
    cr_skip_test("the Vulkan runtime is not in this build (configure with DSA_ENABLE_VULKAN=ON, glslang-dev and "
                 "libvulkan-dev installed)");
}

#endif
