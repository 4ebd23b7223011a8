/* The Vulkan backend's runtime: contexts (a VkDevice with one compute queue, ours or the
 * application's), buffers (VkBuffer + memory, mapped where the device shares memory with the host,
 * staged otherwise), and ops: core's launch plans (core/plan.h) run as compute pipelines generated
 * from the templates (GLSL 4.50 -> SPIR-V 1.3 with glslang, glsl_compile.h).
 *
 * Ops are asynchronous (DESIGN.md invariant 8: enqueueing never waits): each op's launches are
 * recorded into one slot of a small ring (command buffer, fence, descriptor pool, uniform parameter
 * slots, all made when the context is) and submitted; nothing waits for the fence until the host
 * needs results (dsa_synchronize, buffer reads and writes, frees, context destroy) or every slot is
 * in flight (back-pressure: the oldest is waited for). A slot is recycled only after its fence has
 * signalled, so its descriptor sets and parameters outlive the submission. Submissions run in queue
 * order, and each command buffer starts with a barrier from all earlier writes, so an op sees what
 * the ops before it wrote. Copies and fills go through the same ring and are waited for (the API
 * promises they complete before returning).
 *
 * Every entry point takes the context's lock (a VkQueue and a command pool need external
 * synchronization), so a context may be shared by threads. */
#include "glsl_compile.h"
#include "kernel_cache.h"
#include "plan.h"
#include "prebuilt.h"
#include "vk_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_ALIGN 256u                       /* allocation granularity of buffers */
#define STAGING_MAX (16u * 1024u * 1024u)   /* the largest staging chunk */
#define STAGING_MIN (64u * 1024u)
#define MEM_BUCKETS 256u
#define PUSH_MAX 512u                       /* scalars + offsets of the largest signature */
#define MEM_STORAGE 0                       /* kinds of mem_create */
#define MEM_STAGING 1
#define MEM_UNIFORM 2
#define MAX_WAITS 64                        /* application semaphores pending for the next op */
#define RING_SLOTS 8                        /* submissions in flight at once (an op is one) */

/* A buffer the backend allocated (wrapped buffers have no record: the application owns them). */
typedef struct vk_mem {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *mapped; /* host-visible and coherent: read and written with memcpy */
    uint64_t size;
    VkDeviceAddress address; /* storage buffers where the context uses device addresses; else 0 */
    struct vk_mem *next;
} vk_mem;

/* A compute pipeline for one (kernel, specialization). */
typedef struct vk_pipeline {
    const dsa_kernel_def *kernel;
    dsa_spec spec;
    dsa_signature sig;
    uint32_t push_size; /* bytes of push constants: sig.params_size, or 0 where the parameters are a
                           uniform block (sig.params_in_uniform) */
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    struct vk_pipeline *next;
} vk_pipeline;

/* One submission's resources, recycled only once its fence has signalled. Its launches' uniform
 * parameters live in vk_ctx.params at this slot's range (params_offset). */
typedef struct vk_slot {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool dpool; /* the descriptor sets of its launches, reset when the slot is taken */
    int in_flight;          /* submitted; the fence has not been seen signalled */
} vk_slot;

typedef struct vk_ctx {
    const dsa_vk_api *api;
    dsa_vk_device_api d;
    dsa_vk_device_desc desc;
    VkDevice device;
    int own_device;      /* created here (else the application's, never destroyed here) */
    int size_control;    /* subgroupSizeControl enabled on the device */
    int full_subgroups;  /* computeFullSubgroups enabled */
    int bda;             /* bufferDeviceAddress enabled: kernels may take buffers by address */
    uint64_t max_range;  /* the largest storage-buffer binding (dsa_vk_binding_limit) */
    VkQueue queue;
    VkCommandPool pool;
    vk_slot ring[RING_SLOTS];
    int head;            /* the slot the next submission takes */
    int in_flight;       /* slots submitted and not recycled: the ones before head */
    vk_slot *cur;        /* the slot being recorded, or NULL */
    uint64_t submits, full_waits, drains; /* counts for tests (dsa_vk_ring_state) */
    VkResult inject_submit, inject_wait;  /* failures a test asked for (dsa_vk_inject_failure) */
    dsa_status deferred;  /* a failure found where it could not be returned (a free), for the next call */
    char deferred_msg[512];
    VkPipelineCache pcache;
    int pcache_dirty;    /* pipelines were created: the cache is saved when the context ends */
    int prefer_mapped;   /* allocate host-visible device-local memory (UMA, lavapipe, ReBAR) */
    vk_mem staging;      /* host-visible chunk for copies to and from unmapped buffers */
    vk_mem dummy;        /* bound where a launch has no buffer (an absent optional tensor) */
    vk_mem params;       /* host-visible uniform buffer for kernels whose parameters exceed
                            DSA_GLSL_PUSH_MAX: one block per launch of a plan, per ring slot (written
                            only while that slot is not in flight) */
    uint64_t params_stride; /* bytes between slots: PUSH_MAX rounded to minUniformBufferOffsetAlignment */
    vk_mem *buckets[MEM_BUCKETS];
    vk_pipeline *pipelines;
    const char *missing; /* why ops cannot run on this device, or NULL */
    /* Semaphore interop (dsa_context_wait_events / dsa_context_take_semaphore, api/dsa.h). */
    dsa_semaphore waits[MAX_WAITS]; /* the application's, waited for by the next op */
    int n_waits;
    VkSemaphore timeline;   /* ours: every op's submission signals the next value (NULL: none yet) */
    uint64_t timeline_value; /* the last value signalled */
    uint64_t untaken;        /* the value of the last op not yet taken; 0: none */
    int op_untaken;          /* an op ran since the last take (with or without a timeline) */
    int lost;
    int recording;
    pthread_mutex_t lock;
} vk_ctx;

extern const dsa_backend_ops dsa_vulkan_backend;

static vk_ctx *ctx_of(dsa_context *ctx) { return (vk_ctx *)ctx->impl; }

/* A failed call; VK_ERROR_DEVICE_LOST also marks the context so that later calls say so at once. */
static dsa_status vk_error(vk_ctx *c, VkResult r, const char *call)
{
    if (r == VK_ERROR_DEVICE_LOST) c->lost = 1;
    return dsa_vk_fail(r, call);
}

/* A lost device, or a failure kept for the next call (defer), is reported here; the latter once. */
static dsa_status check_alive(vk_ctx *c)
{
    if (c->lost)
        return dsa_fail(DSA_ERROR_DEVICE_LOST, "vulkan: the device was lost (VK_ERROR_DEVICE_LOST) earlier in "
                        "this context; destroy it and create a new one");
    if (c->deferred != DSA_SUCCESS) {
        dsa_status st = dsa_fail(c->deferred, "%s (found earlier, while freeing a buffer)", c->deferred_msg);
        c->deferred = DSA_SUCCESS;
        return st;
    }
    return DSA_SUCCESS;
}

static dsa_status timeline_create(vk_ctx *c);

/* ---- memory ----------------------------------------------------------------------------------- */

static int find_memory_type(const vk_ctx *c, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags want)
{
    const VkPhysicalDeviceMemoryProperties *m = &c->desc.memory;
    int fallback = -1;
    for (uint32_t i = 0; i < m->memoryTypeCount; i++) {
        if (!(bits & (1u << i)) || (m->memoryTypes[i].propertyFlags & need) != need) continue;
        if ((m->memoryTypes[i].propertyFlags & want) == want) return (int)i;
        if (fallback < 0) fallback = (int)i;
    }
    return fallback;
}

/* Host-visible device-local memory is used for every buffer where it is the device's main memory:
 * CPU devices and integrated GPUs, or a discrete GPU whose largest device-local heap is mappable
 * (resizable BAR). A small BAR window on a discrete GPU is not. */
static int choose_mapped_policy(const vk_ctx *c)
{
    const VkPhysicalDeviceMemoryProperties *m = &c->desc.memory;
    VkPhysicalDeviceType type = c->desc.props.deviceType;
    uint32_t largest = UINT32_MAX;
    for (uint32_t h = 0; h < m->memoryHeapCount; h++)
        if ((m->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            (largest == UINT32_MAX || m->memoryHeaps[h].size > m->memoryHeaps[largest].size))
            largest = h;
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < m->memoryTypeCount; i++) {
        if ((m->memoryTypes[i].propertyFlags & want) != want) continue;
        if (type == VK_PHYSICAL_DEVICE_TYPE_CPU || type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU) return 1;
        if (m->memoryTypes[i].heapIndex == largest) return 1;
    }
    return 0;
}

static void mem_destroy(vk_ctx *c, vk_mem *m)
{
    if (m->mapped) c->d.vkUnmapMemory(c->device, m->memory);
    if (m->buffer) c->d.vkDestroyBuffer(c->device, m->buffer, NULL);
    if (m->memory) c->d.vkFreeMemory(c->device, m->memory, NULL);
    m->buffer = VK_NULL_HANDLE;
    m->memory = VK_NULL_HANDLE;
    m->mapped = NULL;
    m->size = 0;
}

/* kind: MEM_STORAGE = a storage buffer (mapped if the policy says so), MEM_STAGING = staging
 * (host-visible, coherent), MEM_UNIFORM = a uniform buffer (host-visible, coherent, mapped). */
static dsa_status mem_create(vk_ctx *c, uint64_t bytes, int kind, vk_mem *m)
{
    int staging = kind != MEM_STORAGE;
    memset(m, 0, sizeof *m);
    uint64_t size = bytes ? (bytes + VK_ALIGN - 1) / VK_ALIGN * VK_ALIGN : VK_ALIGN;
    if (!staging && size > c->max_range && !c->bda)
        return dsa_fail(DSA_ERROR_UNSUPPORTED,
                        "vulkan: a buffer of %llu bytes exceeds %s's storage-buffer binding limit (%llu bytes, "
                        "maxStorageBufferRange%s), and kernels cannot take it by address: %s",
                        (unsigned long long)bytes, c->desc.props.deviceName, (unsigned long long)c->max_range,
                        c->max_range < c->desc.props.limits.maxStorageBufferRange ? " lowered by DSA_VULKAN_MAX_RANGE" : "",
                        c->own_device ? "the device has no bufferDeviceAddress"
                                      : "on the application's VkDevice libdsa cannot know whether bufferDeviceAddress is enabled");
    if (c->desc.max_allocation && size > c->desc.max_allocation)
        return dsa_fail(DSA_ERROR_UNSUPPORTED,
                        "vulkan: a buffer of %llu bytes exceeds %s's maxMemoryAllocationSize (%llu bytes)",
                        (unsigned long long)bytes, c->desc.props.deviceName, (unsigned long long)c->desc.max_allocation);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = kind == MEM_UNIFORM ? VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT
               : staging ? VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT
                         : VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    int addressed = !staging && c->bda; /* any storage buffer may meet a kernel that takes addresses */
    if (addressed) bi.usage |= VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkResult r = c->d.vkCreateBuffer(c->device, &bi, NULL, &m->buffer);
    if (r != VK_SUCCESS) {
        m->buffer = VK_NULL_HANDLE;
        return vk_error(c, r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    c->d.vkGetBufferMemoryRequirements(c->device, m->buffer, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = -1, map = 0;
    if (staging) {
        type = find_memory_type(c, req.memoryTypeBits, hv,
                                kind == MEM_UNIFORM ? VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT
                                                    : VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        map = 1;
    } else {
        if (c->prefer_mapped) {
            type = find_memory_type(c, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
            map = type >= 0;
        }
        if (type < 0) type = find_memory_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (type < 0) type = find_memory_type(c, req.memoryTypeBits, 0, 0);
    }
    if (type < 0) {
        mem_destroy(c, m);
        return dsa_fail(DSA_ERROR_DRIVER, "vulkan: %s offers no %s memory type for a buffer", c->desc.props.deviceName,
                        staging ? "host-visible coherent" : "usable");
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = (uint32_t)type;
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
    flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
    if (addressed) ai.pNext = &flags;
    r = c->d.vkAllocateMemory(c->device, &ai, NULL, &m->memory);
    if (r != VK_SUCCESS) {
        m->memory = VK_NULL_HANDLE;
        mem_destroy(c, m);
        return vk_error(c, r, "vkAllocateMemory");
    }
    r = c->d.vkBindBufferMemory(c->device, m->buffer, m->memory, 0);
    if (r != VK_SUCCESS) {
        mem_destroy(c, m);
        return vk_error(c, r, "vkBindBufferMemory");
    }
    if (map) {
        r = c->d.vkMapMemory(c->device, m->memory, 0, VK_WHOLE_SIZE, 0, &m->mapped);
        if (r != VK_SUCCESS) {
            m->mapped = NULL;
            mem_destroy(c, m);
            return vk_error(c, r, "vkMapMemory");
        }
    }
    if (addressed) {
        VkBufferDeviceAddressInfo di = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
        di.buffer = m->buffer;
        m->address = c->d.vkGetBufferDeviceAddress(c->device, &di);
    }
    m->size = size;
    return DSA_SUCCESS;
}

static unsigned bucket_of(VkBuffer b) { return (unsigned)(((uintptr_t)b >> 4) % MEM_BUCKETS); }

static vk_mem *find_mem(vk_ctx *c, VkBuffer b)
{
    for (vk_mem *m = c->buckets[bucket_of(b)]; m; m = m->next)
        if (m->buffer == b) return m;
    return NULL;
}

static dsa_status ensure_staging(vk_ctx *c, uint64_t want)
{
    uint64_t chunk = want > STAGING_MAX ? STAGING_MAX : want < STAGING_MIN ? STAGING_MIN : want;
    if (c->staging.buffer && c->staging.size >= chunk) return DSA_SUCCESS;
    mem_destroy(c, &c->staging);
    return mem_create(c, chunk, MEM_STAGING, &c->staging);
}

/* ---- the submission ring ---------------------------------------------------------------------- */

static vk_slot *oldest(vk_ctx *c) { return &c->ring[(c->head + RING_SLOTS - c->in_flight) % RING_SLOTS]; }

/* Where launch i of the plan recorded into slot s finds its uniform parameters in c->params. */
static uint64_t params_offset(const vk_ctx *c, const vk_slot *s, int i)
{
    return ((uint64_t)(s - c->ring) * DSA_PLAN_MAX_LAUNCHES + (uint64_t)i) * c->params_stride;
}

/* A fence's state: VK_SUCCESS (signalled), VK_NOT_READY (a poll, !block) or an error; a failure a
 * test injected (dsa_vk_inject_failure) comes first. */
static VkResult fence_result(vk_ctx *c, VkFence f, int block)
{
    if (c->inject_wait != VK_SUCCESS) {
        VkResult r = c->inject_wait;
        c->inject_wait = VK_SUCCESS;
        return r;
    }
    if (!block) return c->d.vkGetFenceStatus(c->device, f);
    return c->d.vkWaitForFences(c->device, 1, &f, VK_TRUE, UINT64_MAX);
}

static VkResult queue_submit(vk_ctx *c, const VkSubmitInfo *si, VkFence fence)
{
    if (c->inject_submit != VK_SUCCESS) {
        VkResult r = c->inject_submit;
        c->inject_submit = VK_SUCCESS;
        return r;
    }
    return c->d.vkQueueSubmit(c->queue, 1, si, fence);
}

/* Recycles the oldest slot in flight once its fence has signalled: waits for it where `block`, else
 * only looks (*done stays 0 while it runs). A failed wait names the VkResult and leaves the slot in
 * flight (the next wait tries again); VK_ERROR_DEVICE_LOST also marks the context lost. */
static dsa_status retire_oldest(vk_ctx *c, int block, int *done)
{
    vk_slot *s = oldest(c);
    VkResult r = fence_result(c, s->fence, block);
    *done = 0;
    if (r == VK_NOT_READY && !block) return DSA_SUCCESS;
    if (r != VK_SUCCESS)
        return vk_error(c, r, block ? "vkWaitForFences (an earlier op's fence)" : "vkGetFenceStatus (an earlier op's fence)");
    r = c->d.vkResetFences(c->device, 1, &s->fence);
    if (r != VK_SUCCESS) return vk_error(c, r, "vkResetFences");
    s->in_flight = 0;
    c->in_flight--;
    *done = 1;
    return DSA_SUCCESS;
}

/* Recycles, oldest first, the slots whose work has finished, waiting for nothing. This is also where
 * the enqueue path learns of a lost device. */
static dsa_status reap(vk_ctx *c)
{
    int done = 1;
    dsa_status st = DSA_SUCCESS;
    while (st == DSA_SUCCESS && done && c->in_flight) st = retire_oldest(c, 0, &done);
    return st;
}

/* Waits for every submission: dsa_synchronize, and before the host reads or writes memory that
 * earlier ops may use. */
static dsa_status drain(vk_ctx *c)
{
    int done;
    dsa_status st = DSA_SUCCESS;
    if (c->in_flight) c->drains++;
    while (st == DSA_SUCCESS && c->in_flight) st = retire_oldest(c, 1, &done);
    return st;
}

/* A failure found where it cannot be returned (a free) is kept for the next call that can. */
static void defer(vk_ctx *c, dsa_status st)
{
    if (st == DSA_SUCCESS || c->lost || c->deferred != DSA_SUCCESS) return;
    c->deferred = st;
    snprintf(c->deferred_msg, sizeof c->deferred_msg, "%s", dsa_last_error());
}

/* Before memory, or the context, goes away: every slot waited for whatever failed before (a lost
 * device's fences return at once; injected failures are not consulted the second time). */
static void settle(vk_ctx *c)
{
    defer(c, drain(c));
    for (; c->in_flight > 0; c->in_flight--) {
        vk_slot *s = oldest(c);
        c->d.vkWaitForFences(c->device, 1, &s->fence, VK_TRUE, UINT64_MAX);
        if (!c->lost) c->d.vkResetFences(c->device, 1, &s->fence);
        s->in_flight = 0;
    }
}

/* Takes the slot the next submission records into. The host waits only when every slot is in flight
 * (back-pressure: it runs at most RING_SLOTS submissions ahead of the device), and then for the
 * oldest alone. The slot's descriptor sets from its last use are done with: its pool is reset. */
static dsa_status acquire(vk_ctx *c)
{
    dsa_status st = reap(c);
    int done;
    if (st == DSA_SUCCESS && c->in_flight == RING_SLOTS) {
        c->full_waits++;
        st = retire_oldest(c, 1, &done);
    }
    if (st != DSA_SUCCESS) return st;
    c->cur = &c->ring[c->head];
    c->d.vkResetDescriptorPool(c->device, c->cur->dpool, 0);
    return DSA_SUCCESS;
}

static void memory_barrier(vk_ctx *c, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                           VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = src_access;
    mb.dstAccessMask = dst_access;
    c->d.vkCmdPipelineBarrier(c->cur->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Starts recording into the acquired slot. Work of earlier submissions on this queue (ours, still
 * running or not, and the application's) is made visible to this one's transfers and shaders: a
 * barrier's first scope includes everything earlier in submission order. */
static dsa_status begin(vk_ctx *c)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VkResult r = c->d.vkBeginCommandBuffer(c->cur->cmd, &bi); /* an implicit reset of its last use */
    if (r != VK_SUCCESS) return vk_error(c, r, "vkBeginCommandBuffer");
    c->recording = 1;
    memory_barrier(c, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
    return DSA_SUCCESS;
}

/* Abandons a recording after a failure. The slot stays free: its next use begins it anew. */
static void abandon(vk_ctx *c)
{
    if (c->recording) {
        c->d.vkEndCommandBuffer(c->cur->cmd);
        c->recording = 0;
    }
    c->cur = NULL;
}

/* The semaphores of one submission: an op waits for the application's (dsa_context_wait_events) and
 * signals the next value of our timeline, where there is one. */
typedef struct submit_sync {
    VkSemaphore wait[MAX_WAITS];
    uint64_t wait_value[MAX_WAITS];
    VkPipelineStageFlags stage[MAX_WAITS];
    uint64_t signal_value;
    VkTimelineSemaphoreSubmitInfo ts;
} submit_sync;

static void add_semaphores(vk_ctx *c, int op, submit_sync *y, VkSubmitInfo *si)
{
    int n_wait = op ? c->n_waits : 0, timeline = 0;
    for (int i = 0; i < n_wait; i++) {
        y->wait[i] = (VkSemaphore)c->waits[i].handle;
        y->wait_value[i] = c->waits[i].value;
        y->stage[i] = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        timeline |= y->wait_value[i] != 0;
    }
    y->signal_value = c->timeline_value + 1;
    int signal = op && c->timeline;
    memset(&y->ts, 0, sizeof y->ts);
    y->ts.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
    si->waitSemaphoreCount = (uint32_t)n_wait;
    si->pWaitSemaphores = y->wait;
    si->pWaitDstStageMask = y->stage;
    if (signal) {
        si->signalSemaphoreCount = 1;
        si->pSignalSemaphores = &c->timeline;
        y->ts.signalSemaphoreValueCount = 1;
        y->ts.pSignalSemaphoreValues = &y->signal_value;
    }
    if (timeline || signal) { /* values for binary semaphores are ignored */
        y->ts.waitSemaphoreValueCount = (uint32_t)n_wait;
        y->ts.pWaitSemaphoreValues = y->wait_value;
        si->pNext = &y->ts;
    }
}

/* Ends the recording and submits it with its slot's fence, waiting for nothing. Device writes are
 * made visible to the host before the fence signals, so mapped memory may be read once it has. A
 * failed submission is the caller's status; the slot stays free. */
static dsa_status submit(vk_ctx *c, int op)
{
    vk_slot *s = c->cur;
    memory_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                   VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT);
    c->recording = 0;
    c->cur = NULL;
    VkResult r = c->d.vkEndCommandBuffer(s->cmd);
    if (r != VK_SUCCESS) {
        if (op) c->n_waits = 0; /* the op failed: its semaphores are spent */
        return vk_error(c, r, "vkEndCommandBuffer");
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &s->cmd;
    submit_sync y;
    add_semaphores(c, op, &y, &si);
    r = queue_submit(c, &si, s->fence);
    if (op) c->n_waits = 0; /* waited for, or the op failed: either way they are spent */
    if (r != VK_SUCCESS) return vk_error(c, r, "vkQueueSubmit");
    if (op) c->op_untaken = 1;
    if (si.signalSemaphoreCount) c->untaken = c->timeline_value = y.signal_value;
    s->in_flight = 1;
    c->in_flight++;
    c->head = (c->head + 1) % RING_SLOTS;
    c->submits++;
    return DSA_SUCCESS;
}

/* Copies and fills: recorded after begin_transfer, then submitted and waited for (the API promises
 * them complete on return; staging is reused at once). */
static dsa_status begin_transfer(vk_ctx *c)
{
    dsa_status st = acquire(c);
    if (st == DSA_SUCCESS) st = begin(c);
    if (st != DSA_SUCCESS) abandon(c);
    return st;
}

static dsa_status finish_transfer(vk_ctx *c)
{
    dsa_status st = submit(c, 0);
    return st == DSA_SUCCESS ? drain(c) : st;
}

static dsa_status copy_now(vk_ctx *c, VkBuffer dst, uint64_t doff, VkBuffer src, uint64_t soff, uint64_t n)
{
    dsa_status st = begin_transfer(c);
    if (st != DSA_SUCCESS) return st;
    VkBufferCopy region = {soff, doff, n};
    c->d.vkCmdCopyBuffer(c->cur->cmd, src, dst, 1, &region);
    return finish_transfer(c);
}

/* ---- the persisted pipeline cache -------------------------------------------------------------- */

/* The VkPipelineCache's data is kept in the kernel cache (core/kernel_cache.h: verified, written
 * with temp file + rename), keyed by the device's identity and driver, behind a prefix of ours: */
#define PCACHE_TAG "vk-pipeline-cache"
#define PCACHE_MAGIC "DSAVKPC1"
typedef struct pcache_prefix {
    char magic[8];
    uint32_t driver_version; /* VkPhysicalDeviceProperties.driverVersion */
    uint32_t data_size;      /* bytes of vkGetPipelineCacheData's output that follow */
} pcache_prefix;
#define VK_PCACHE_HEADER_BYTES 32u /* VkPipelineCacheHeaderVersionOne, as the spec lays it out */

dsa_cache_key dsa_vk_pipeline_cache_key(const dsa_vk_device_desc *d)
{
    char ids[64], uuid[2 * VK_UUID_SIZE + 1];
    snprintf(ids, sizeof ids, "%08x:%08x:%08x", d->props.vendorID, d->props.deviceID, d->props.driverVersion);
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", d->props.pipelineCacheUUID[i]);
    const char *parts[] = {"vulkan pipeline cache", ids, uuid, d->props.deviceName,
                           d->has_driver_props ? d->driver_info : "", dsa_version_string()};
    return dsa_cache_key_make(parts, 6);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *dsa_vk_pipeline_cache_check(const dsa_vk_device_desc *d, const void *data, size_t size)
{
    pcache_prefix pre;
    if (size < sizeof pre + VK_PCACHE_HEADER_BYTES) return "shorter than its headers";
    memcpy(&pre, data, sizeof pre);
    if (memcmp(pre.magic, PCACHE_MAGIC, sizeof pre.magic) != 0) return "not written by libdsa";
    if (pre.driver_version != d->props.driverVersion) return "written by another driver version";
    if (pre.data_size != size - sizeof pre) return "truncated or padded";
    /* The header Vulkan defines: length, version, vendor, device, pipelineCacheUUID (little-endian
     * on every platform libdsa builds for). A driver checks it too, but not every driver does. */
    const uint8_t *h = (const uint8_t *)data + sizeof pre;
    if (le32(h) < VK_PCACHE_HEADER_BYTES || le32(h) > pre.data_size) return "a bad header length";
    if (le32(h + 4) != (uint32_t)VK_PIPELINE_CACHE_HEADER_VERSION_ONE) return "an unknown header version";
    if (le32(h + 8) != d->props.vendorID || le32(h + 12) != d->props.deviceID) return "another vendor or device";
    if (memcmp(h + 16, d->props.pipelineCacheUUID, VK_UUID_SIZE) != 0) return "another pipelineCacheUUID";
    return NULL;
}

/* Creates c->pcache, seeded from the disk cache where an entry verifies for this device. */
static VkResult pipeline_cache_open(vk_ctx *c)
{
    void *data = NULL;
    size_t size = 0;
    dsa_cache_key key = dsa_vk_pipeline_cache_key(&c->desc);
    if (dsa_cache_load(key, PCACHE_TAG, &data, &size) != DSA_SUCCESS) data = NULL;
    const char *why = data ? dsa_vk_pipeline_cache_check(&c->desc, data, size) : NULL;
    if (why) dsa_log(DSA_LOG_DEBUG, "cache", "vulkan: pipeline cache for %s ignored: %s", c->desc.props.deviceName, why);
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (data && !why) {
        ci.initialDataSize = size - sizeof(pcache_prefix);
        ci.pInitialData = (const char *)data + sizeof(pcache_prefix);
    }
    VkResult r = c->d.vkCreatePipelineCache(c->device, &ci, NULL, &c->pcache);
    if (r == VK_SUCCESS && ci.initialDataSize)
        dsa_log(DSA_LOG_DEBUG, "cache", "vulkan: pipeline cache for %s: %zu bytes loaded", c->desc.props.deviceName,
                ci.initialDataSize);
    free(data);
    return r;
}

/* Saves c->pcache when this context created pipelines. Failures only lose the cache: logged. */
static void pipeline_cache_save(vk_ctx *c)
{
    if (!c->pcache || !c->pcache_dirty || c->lost || !dsa_cache_enabled()) return;
    size_t n = 0;
    VkResult r = c->d.vkGetPipelineCacheData(c->device, c->pcache, &n, NULL);
    char *buf = r == VK_SUCCESS && n <= UINT32_MAX ? malloc(sizeof(pcache_prefix) + n) : NULL;
    if (buf) r = c->d.vkGetPipelineCacheData(c->device, c->pcache, &n, buf + sizeof(pcache_prefix));
    if (!buf || r != VK_SUCCESS) {
        dsa_log(DSA_LOG_WARN, "cache", "vulkan: the pipeline cache of %s was not saved: %s", c->desc.props.deviceName,
                buf ? dsa_vk_result_name(r) : "out of host memory");
        free(buf);
        return;
    }
    pcache_prefix pre;
    memcpy(pre.magic, PCACHE_MAGIC, sizeof pre.magic);
    pre.driver_version = c->desc.props.driverVersion;
    pre.data_size = (uint32_t)n;
    memcpy(buf, &pre, sizeof pre);
    dsa_cache_store(dsa_vk_pipeline_cache_key(&c->desc), PCACHE_TAG, buf, sizeof pre + n);
    dsa_log(DSA_LOG_DEBUG, "cache", "vulkan: pipeline cache for %s: %zu bytes saved", c->desc.props.deviceName, n);
    free(buf);
}

/* ---- context ---------------------------------------------------------------------------------- */

/* On the application's device only our own work is waited for (its queue may hold its work too):
 * the ring's fences, and the timeline's last signal (which may come from an empty batch). */
static void wait_own_work(vk_ctx *c)
{
    settle(c);
    if (c->own_device) {
        c->d.vkDeviceWaitIdle(c->device);
    } else if (c->timeline && c->timeline_value && c->d.vkWaitSemaphores) {
        VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
        wi.semaphoreCount = 1;
        wi.pSemaphores = &c->timeline;
        wi.pValues = &c->timeline_value;
        c->d.vkWaitSemaphores(c->device, &wi, UINT64_MAX);
    }
}

static void ctx_free(vk_ctx *c)
{
    if (c->device) {
        wait_own_work(c);
        for (vk_pipeline *p = c->pipelines, *next; p; p = next) {
            next = p->next;
            if (p->pipeline) c->d.vkDestroyPipeline(c->device, p->pipeline, NULL);
            if (p->layout) c->d.vkDestroyPipelineLayout(c->device, p->layout, NULL);
            if (p->set_layout) c->d.vkDestroyDescriptorSetLayout(c->device, p->set_layout, NULL);
            if (p->module) c->d.vkDestroyShaderModule(c->device, p->module, NULL);
            free(p);
        }
        for (unsigned b = 0; b < MEM_BUCKETS; b++)
            for (vk_mem *m = c->buckets[b], *next; m; m = next) {
                next = m->next;
                mem_destroy(c, m);
                free(m);
            }
        mem_destroy(c, &c->staging);
        mem_destroy(c, &c->dummy);
        mem_destroy(c, &c->params);
        pipeline_cache_save(c);
        if (c->timeline) c->d.vkDestroySemaphore(c->device, c->timeline, NULL);
        if (c->pcache) c->d.vkDestroyPipelineCache(c->device, c->pcache, NULL);
        for (int i = 0; i < RING_SLOTS; i++) {
            if (c->ring[i].dpool) c->d.vkDestroyDescriptorPool(c->device, c->ring[i].dpool, NULL);
            if (c->ring[i].fence) c->d.vkDestroyFence(c->device, c->ring[i].fence, NULL);
        }
        if (c->pool) c->d.vkDestroyCommandPool(c->device, c->pool, NULL); /* frees the ring's buffers */
        if (c->own_device) c->d.vkDestroyDevice(c->device, NULL);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static dsa_status create_device(vk_ctx *c)
{
    const dsa_vk_device_desc *d = &c->desc;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = d->queue_family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &priority;

    /* Only features the device has are asked for, so a device lacking one still gets a context
     * (whose ops then say what is missing). */
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures scf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceBufferDeviceAddressFeatures bda = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES};
    VkPhysicalDeviceTimelineSemaphoreFeatures tl = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    void **tail = &f2.pNext;
    f2.features.shaderInt64 = d->shader_int64 ? VK_TRUE : VK_FALSE;
    s16.storageBuffer16BitAccess = d->storage16 ? VK_TRUE : VK_FALSE;
    *tail = &s16;
    tail = &s16.pNext;
    const char *ext[6];
    uint32_t n_ext = 0;
    if (d->storage8) {
        s8.storageBuffer8BitAccess = VK_TRUE;
        *tail = &s8;
        tail = &s8.pNext;
        if (d->ext_8bit_storage) ext[n_ext++] = "VK_KHR_8bit_storage";
    }
    if (d->size_control || d->full_subgroups) {
        scf.subgroupSizeControl = d->size_control ? VK_TRUE : VK_FALSE;
        scf.computeFullSubgroups = d->full_subgroups ? VK_TRUE : VK_FALSE;
        *tail = &scf;
        tail = &scf.pNext;
        if (d->ext_size_control) ext[n_ext++] = "VK_EXT_subgroup_size_control";
    }
    /* Device addresses: for tensors beyond the binding limit. Timeline semaphores: the one that
     * ops signal for the application (dsa_context_take_semaphore). */
    if (d->bda) {
        bda.bufferDeviceAddress = VK_TRUE;
        *tail = &bda;
        tail = &bda.pNext;
        if (d->ext_bda) ext[n_ext++] = "VK_KHR_buffer_device_address";
    }
    if (d->timeline) {
        tl.timelineSemaphore = VK_TRUE;
        *tail = &tl;
        tail = &tl.pNext;
        if (d->ext_timeline) ext[n_ext++] = "VK_KHR_timeline_semaphore";
    }
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.pNext = &f2;
    ci.queueCreateInfoCount = 1;
    ci.pQueueCreateInfos = &qi;
    ci.enabledExtensionCount = n_ext;
    ci.ppEnabledExtensionNames = n_ext ? ext : NULL;
    VkResult r = c->api->vkCreateDevice(d->physical, &ci, NULL, &c->device);
    if (r != VK_SUCCESS) {
        c->device = VK_NULL_HANDLE;
        return dsa_vk_fail(r, "vkCreateDevice");
    }
    c->own_device = 1;
    c->size_control = d->size_control;
    c->full_subgroups = d->full_subgroups;
    c->bda = d->bda;
    return DSA_SUCCESS;
}

/* The command pool and the ring's slots: a command buffer, a fence and a descriptor pool each, the
 * pool enough for every launch of one plan. *call names what failed. */
static VkResult ring_create(vk_ctx *c, const char **call)
{
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = c->desc.queue_family;
    *call = "vkCreateCommandPool";
    VkResult r = c->d.vkCreateCommandPool(c->device, &pi, NULL, &c->pool);
    if (r != VK_SUCCESS) {
        c->pool = VK_NULL_HANDLE;
        return r;
    }
    VkCommandBuffer cmd[RING_SLOTS];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = c->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = RING_SLOTS;
    *call = "vkAllocateCommandBuffers";
    r = c->d.vkAllocateCommandBuffers(c->device, &ai, cmd);
    VkDescriptorPoolSize size[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, DSA_PLAN_MAX_LAUNCHES * DSA_MAX_KERNEL_ARGS},
                                    {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, DSA_PLAN_MAX_LAUNCHES}};
    VkDescriptorPoolCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    di.maxSets = DSA_PLAN_MAX_LAUNCHES;
    di.poolSizeCount = 2;
    di.pPoolSizes = size;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    for (int i = 0; r == VK_SUCCESS && i < RING_SLOTS; i++) {
        vk_slot *s = &c->ring[i];
        s->cmd = cmd[i];
        *call = "vkCreateFence";
        r = c->d.vkCreateFence(c->device, &fi, NULL, &s->fence);
        if (r != VK_SUCCESS) {
            s->fence = VK_NULL_HANDLE;
            break;
        }
        *call = "vkCreateDescriptorPool";
        r = c->d.vkCreateDescriptorPool(c->device, &di, NULL, &s->dpool);
        if (r != VK_SUCCESS) s->dpool = VK_NULL_HANDLE;
    }
    return r;
}

static dsa_status vk_context_create(dsa_context *ctx, const dsa_context_desc *desc)
{
    const dsa_vk_api *api;
    dsa_status st = dsa_vk_load(&api);
    if (st != DSA_SUCCESS) return st;
    int given = desc->native_context || desc->native_queue || desc->native_device;
    if (given && (!desc->native_context || !desc->native_queue || !desc->native_device))
        return dsa_fail(DSA_ERROR_NULL_POINTER, "context_create: the vulkan backend takes a VkDevice "
                        "(native_context), a VkQueue (native_queue) and its VkPhysicalDevice (native_device) "
                        "together; %s is NULL",
                        !desc->native_context ? "native_context" : !desc->native_queue ? "native_queue" : "native_device");
    if (desc->num_threads)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: num_threads is %d, the vulkan backend takes none",
                        desc->num_threads);
    vk_ctx *c = calloc(1, sizeof *c);
    if (!c) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "context_create: out of host memory");
    pthread_mutex_init(&c->lock, NULL);
    c->api = api;
    VkPhysicalDevice pd;
    if (given) {
        pd = (VkPhysicalDevice)desc->native_device;
    } else {
        st = dsa_vk_physical_device(ctx->info.index, &pd);
        if (st != DSA_SUCCESS) {
            ctx_free(c);
            return st;
        }
    }
    dsa_vk_describe(api, pd, &c->desc);
    if (given) {
        if (memcmp(c->desc.uuid, ctx->info.uuid, sizeof c->desc.uuid) != 0) {
            char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
            snprintf(name, sizeof name, "%s", c->desc.props.deviceName);
            ctx_free(c);
            return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                            "context_create: native_device is %s but the selector chose %s (vulkan:%d); select the "
                            "application's device",
                            name, ctx->info.name, ctx->info.index);
        }
        if (c->desc.queue_family == UINT32_MAX) {
            ctx_free(c);
            return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_create: native_device has no compute queue family");
        }
        /* Used as given. The application enabled shaderInt64 and 8/16-bit storage buffer access (if
         * not, the validation layer says so); its queue belongs to the device's first queue family
         * with compute, whose command pool we create (the desc has no field for a family yet).
         * Subgroup size control is not used: whether it was enabled cannot be asked. */
        c->device = (VkDevice)desc->native_context;
        c->queue = (VkQueue)desc->native_queue;
        st = dsa_vk_load_device(api, c->device, &c->d);
        if (st != DSA_SUCCESS) {
            c->device = VK_NULL_HANDLE;
            ctx_free(c);
            return st;
        }
    } else {
        st = create_device(c);
        if (st == DSA_SUCCESS) {
            st = dsa_vk_load_device(api, c->device, &c->d);
            if (st != DSA_SUCCESS) {
                /* Without the table the device cannot even be destroyed through it. */
                PFN_vkDestroyDevice destroy = (PFN_vkDestroyDevice)api->vkGetDeviceProcAddr(c->device, "vkDestroyDevice");
                if (destroy) destroy(c->device, NULL);
                c->device = VK_NULL_HANDLE;
            }
        }
        if (st != DSA_SUCCESS) {
            ctx_free(c);
            return st;
        }
        c->d.vkGetDeviceQueue(c->device, c->desc.queue_family, 0, &c->queue);
    }
    c->missing = dsa_vk_missing_feature(&c->desc);
    c->max_range = dsa_vk_binding_limit(&c->desc);
    if (c->bda && !c->d.vkGetBufferDeviceAddress) c->bda = 0; /* cannot happen with a conformant driver */
    c->prefer_mapped = choose_mapped_policy(c);
    /* DSA_VULKAN_STAGING=1: device-local memory and staging copies even where mapping would do, so
     * that the discrete-GPU path is exercised on lavapipe and integrated GPUs (tests, debugging). */
    const char *staging_env = getenv("DSA_VULKAN_STAGING");
    if (staging_env && strcmp(staging_env, "1") == 0) c->prefer_mapped = 0;

    const char *call = NULL;
    VkResult r = ring_create(c, &call);
    if (r == VK_SUCCESS) {
        call = "vkCreatePipelineCache";
        r = pipeline_cache_open(c);
        if (r != VK_SUCCESS) c->pcache = VK_NULL_HANDLE;
    }
    if (r != VK_SUCCESS) {
        st = dsa_vk_fail(r, call);
        ctx_free(c);
        return st;
    }
    st = mem_create(c, VK_ALIGN, MEM_STORAGE, &c->dummy);
    if (st == DSA_SUCCESS && c->own_device && c->desc.timeline) st = timeline_create(c);
    if (st == DSA_SUCCESS) {
        uint64_t align = c->desc.props.limits.minUniformBufferOffsetAlignment;
        if (align == 0) align = 1;
        c->params_stride = (PUSH_MAX + align - 1) / align * align;
        st = mem_create(c, c->params_stride * DSA_PLAN_MAX_LAUNCHES * RING_SLOTS, MEM_UNIFORM, &c->params);
    }
    if (st != DSA_SUCCESS) {
        ctx_free(c);
        return st;
    }
    ctx->impl = c;
    dsa_log(DSA_LOG_INFO, "device", "vulkan: context on %s (%s device, queue family %u, %s memory)%s%s",
            c->desc.props.deviceName, c->own_device ? "own" : "application's", c->desc.queue_family,
            c->prefer_mapped ? "mapped device-local" : "device-local + staging", c->missing ? "; ops unsupported: " : "",
            c->missing ? c->missing : "");
    return DSA_SUCCESS;
}

/* ---- semaphores (api/dsa.h, dsa_context_wait_events) ------------------------------------------- */

static dsa_status timeline_create(vk_ctx *c)
{
    if (c->own_device && !c->desc.timeline)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "context_take_semaphore: %s has no timeline semaphores "
                        "(timelineSemaphore, Vulkan 1.2 or VK_KHR_timeline_semaphore)", c->desc.props.deviceName);
    /* On the application's device: it promised timelineSemaphore (api/dsa.h); the validation layer
     * reports it when it did not. */
    VkSemaphoreTypeCreateInfo ti = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    ti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    ti.initialValue = 0;
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    si.pNext = &ti;
    VkResult r = c->d.vkCreateSemaphore(c->device, &si, NULL, &c->timeline);
    if (r != VK_SUCCESS) {
        c->timeline = VK_NULL_HANDLE;
        return vk_error(c, r, "vkCreateSemaphore");
    }
    c->timeline_value = 0;
    return DSA_SUCCESS;
}

/* Signals the next timeline value from an empty batch: it covers all earlier submissions. */
static dsa_status timeline_signal_now(vk_ctx *c)
{
    uint64_t value = c->timeline_value + 1;
    VkTimelineSemaphoreSubmitInfo ts = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ts.signalSemaphoreValueCount = 1;
    ts.pSignalSemaphoreValues = &value;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = &ts;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &c->timeline;
    VkResult r = c->d.vkQueueSubmit(c->queue, 1, &si, VK_NULL_HANDLE);
    if (r != VK_SUCCESS) return vk_error(c, r, "vkQueueSubmit");
    c->untaken = c->timeline_value = value;
    return DSA_SUCCESS;
}

static dsa_status vk_wait_events(dsa_context *ctx, void *const *events, int n)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    if (st == DSA_SUCCESS && c->n_waits + n > MAX_WAITS)
        st = dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "context_wait_events: %d semaphores pending and %d more; at most %d "
                      "wait for one op", c->n_waits, n, MAX_WAITS);
    for (int i = 0; st == DSA_SUCCESS && i < n; i++)
        if (!((const dsa_semaphore *)events[i])->handle)
            st = dsa_fail(DSA_ERROR_NULL_POINTER, "context_wait_events: events[%d] is a dsa_semaphore whose handle is "
                          "NULL (Vulkan takes dsa_semaphore pointers, api/dsa.h)", i);
    for (int i = 0; st == DSA_SUCCESS && i < n; i++) c->waits[c->n_waits++] = *(const dsa_semaphore *)events[i];
    pthread_mutex_unlock(&c->lock);
    return st;
}

static dsa_status vk_take_event(dsa_context *ctx, void **event)
{
    (void)ctx;
    *event = NULL;
    return dsa_fail(DSA_ERROR_UNSUPPORTED, "context_take_event: Vulkan ops signal a timeline semaphore, a handle and "
                    "a value: use dsa_context_take_semaphore");
}

static dsa_status vk_take_semaphore(dsa_context *ctx, dsa_semaphore *out)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    if (st == DSA_SUCCESS && !c->timeline) st = timeline_create(c);
    /* A timeline created just now (the application's device) missed the last op: signal it now. */
    if (st == DSA_SUCCESS && c->op_untaken && !c->untaken) st = timeline_signal_now(c);
    if (st == DSA_SUCCESS && c->untaken) {
        out->handle = (void *)c->timeline;
        out->value = c->untaken;
    }
    if (st == DSA_SUCCESS) c->untaken = 0, c->op_untaken = 0;
    pthread_mutex_unlock(&c->lock);
    return st;
}

static void vk_context_destroy(dsa_context *ctx)
{
    vk_ctx *c = ctx_of(ctx);
    if (c) ctx_free(c);
    ctx->impl = NULL;
}

/* Waits for every submission in the ring; reports a wait that failed (naming its VkResult), a lost
 * device, or a failure kept from a free. */
static dsa_status vk_synchronize(dsa_context *ctx)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = drain(c);
    if (st == DSA_SUCCESS) st = check_alive(c);
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ---- buffers ---------------------------------------------------------------------------------- */

static dsa_status vk_buffer_alloc(dsa_context *ctx, uint64_t bytes, void **native)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    vk_mem *m = NULL;
    if (st == DSA_SUCCESS) {
        m = calloc(1, sizeof *m);
        if (!m) st = dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "buffer_alloc: out of host memory");
    }
    if (st == DSA_SUCCESS) st = mem_create(c, bytes, MEM_STORAGE, m);
    if (st == DSA_SUCCESS) {
        unsigned b = bucket_of(m->buffer);
        m->next = c->buckets[b];
        c->buckets[b] = m;
        *native = (void *)m->buffer;
    } else {
        free(m);
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

static void vk_buffer_free(dsa_context *ctx, void *native)
{
    vk_ctx *c = ctx_of(ctx);
    if (!native) return;
    pthread_mutex_lock(&c->lock);
    settle(c); /* core synchronized already; this also covers a synchronize that failed */
    VkBuffer buf = (VkBuffer)native;
    for (vk_mem **p = &c->buckets[bucket_of(buf)]; *p; p = &(*p)->next) {
        if ((*p)->buffer == buf) {
            vk_mem *m = *p;
            *p = m->next;
            mem_destroy(c, m); /* every submission is done: the device no longer uses it */
            free(m);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static dsa_status vk_buffer_wrap(dsa_context *ctx, void *native, uint64_t bytes)
{
    /* A VkBuffer cannot be checked without risking a crash on a bad handle; the application promises
     * a buffer of this device spanning `bytes`, created with STORAGE_BUFFER, TRANSFER_SRC and
     * TRANSFER_DST usage (the validation layer reports a missing one). */
    (void)ctx;
    (void)native;
    (void)bytes;
    return DSA_SUCCESS;
}

/* Writes through the staging chunk (for unmapped and wrapped buffers). Lock held. The copy is queued
 * after earlier ops (begin's barrier orders it after their reads) and waited for, so staging is free
 * again on return. */
static dsa_status staged_write(vk_ctx *c, VkBuffer dst, uint64_t off, const void *src, uint64_t n)
{
    dsa_status st = ensure_staging(c, n);
    const char *p = src;
    while (st == DSA_SUCCESS && n > 0) {
        uint64_t chunk = n < c->staging.size ? n : c->staging.size;
        memcpy(c->staging.mapped, p, (size_t)chunk);
        st = copy_now(c, dst, off, c->staging.buffer, 0, chunk);
        p += chunk;
        off += chunk;
        n -= chunk;
    }
    return st;
}

/* The host writes mapped memory itself, after the ops in flight (which may read it) are done. */
static dsa_status write_locked(vk_ctx *c, VkBuffer dst, uint64_t off, const void *src, uint64_t n)
{
    vk_mem *m = find_mem(c, dst);
    if (m && m->mapped) {
        dsa_status st = drain(c);
        if (st == DSA_SUCCESS) memcpy((char *)m->mapped + off, src, (size_t)n);
        return st;
    }
    return staged_write(c, dst, off, src, n);
}

static dsa_status vk_buffer_write(dsa_context *ctx, void *native, uint64_t off, const void *src, uint64_t n)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    if (st == DSA_SUCCESS) st = write_locked(c, (VkBuffer)native, off, src, n);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static dsa_status vk_buffer_read(dsa_context *ctx, void *native, uint64_t off, void *dst, uint64_t n)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    VkBuffer src = (VkBuffer)native;
    vk_mem *m = st == DSA_SUCCESS ? find_mem(c, src) : NULL;
    if (m && m->mapped) { /* after the ops that may write it */
        st = drain(c);
        if (st == DSA_SUCCESS) memcpy(dst, (const char *)m->mapped + off, (size_t)n);
    } else if (st == DSA_SUCCESS) {
        st = ensure_staging(c, n);
        char *p = dst;
        while (st == DSA_SUCCESS && n > 0) {
            uint64_t chunk = n < c->staging.size ? n : c->staging.size;
            st = copy_now(c, c->staging.buffer, 0, src, off, chunk);
            if (st == DSA_SUCCESS) memcpy(p, c->staging.mapped, (size_t)chunk);
            p += chunk;
            off += chunk;
            n -= chunk;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

static dsa_status vk_buffer_copy(dsa_context *ctx, void *dst, uint64_t doff, void *src, uint64_t soff, uint64_t n)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    if (st == DSA_SUCCESS) {
        vk_mem *md = find_mem(c, (VkBuffer)dst), *ms = find_mem(c, (VkBuffer)src);
        if (md && md->mapped && ms && ms->mapped) { /* core refuses overlapping ranges */
            st = drain(c);
            if (st == DSA_SUCCESS) memcpy((char *)md->mapped + doff, (const char *)ms->mapped + soff, (size_t)n);
        } else
            st = copy_now(c, (VkBuffer)dst, doff, (VkBuffer)src, soff, n);
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

static dsa_status vk_buffer_fill(dsa_context *ctx, void *native, uint64_t off, uint8_t byte, uint64_t n)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    VkBuffer buf = (VkBuffer)native;
    vk_mem *m = st == DSA_SUCCESS ? find_mem(c, buf) : NULL;
    if (m && m->mapped) {
        st = drain(c);
        if (st == DSA_SUCCESS) memset((char *)m->mapped + off, byte, (size_t)n);
    } else if (st == DSA_SUCCESS) {
        /* vkCmdFillBuffer writes whole 4-byte words at 4-byte offsets: the unaligned head and tail
         * (at most 3 bytes each) are written through staging. */
        uint64_t head = (4 - off % 4) % 4;
        if (head > n) head = n;
        uint64_t body = (n - head) / 4 * 4, tail = n - head - body;
        uint8_t edge[3];
        memset(edge, byte, sizeof edge);
        if (head) st = staged_write(c, buf, off, edge, head);
        if (st == DSA_SUCCESS && body) {
            st = begin_transfer(c);
            if (st == DSA_SUCCESS) {
                c->d.vkCmdFillBuffer(c->cur->cmd, buf, off + head, body, 0x01010101u * byte);
                st = finish_transfer(c);
            }
        }
        if (st == DSA_SUCCESS && tail) st = staged_write(c, buf, off + head + body, edge, tail);
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ---- pipelines -------------------------------------------------------------------------------- */

/* The parameter block as the generator declares it (template.h, dsa_signature): the scalars in
 * order, then one int64 element offset per buffer, at sig.params_offset; push constants, or a
 * uniform block at binding n_buffers where it exceeds DSA_GLSL_PUSH_MAX. */
static dsa_status params_layout(const char *kernel, vk_pipeline *p)
{
    for (int i = 0; i < p->sig.n_scalars; i++) {
        dsa_arg_type t = p->sig.scalar_type[i];
        if (t != DSA_ARG_I64 && t != DSA_ARG_I32 && t != DSA_ARG_U32 && t != DSA_ARG_F32)
            return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: kernel %s: scalar %d has an 8- or 16-bit type, which the "
                            "parameter block does not carry", kernel, i);
    }
    if (p->sig.params_size > PUSH_MAX)
        return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: kernel %s: %u bytes of parameters, more than %u", kernel,
                        p->sig.params_size, PUSH_MAX);
    p->push_size = p->sig.params_in_uniform ? 0 : p->sig.params_size;
    return DSA_SUCCESS;
}

static void pipeline_free(vk_ctx *c, vk_pipeline *p)
{
    if (p->pipeline) c->d.vkDestroyPipeline(c->device, p->pipeline, NULL);
    if (p->layout) c->d.vkDestroyPipelineLayout(c->device, p->layout, NULL);
    if (p->set_layout) c->d.vkDestroyDescriptorSetLayout(c->device, p->set_layout, NULL);
    if (p->module) c->d.vkDestroyShaderModule(c->device, p->module, NULL);
    free(p);
}

/* Checks a specialization against the device's compute limits before anything is compiled. */
static dsa_status check_limits(const vk_ctx *c, const dsa_launch *l)
{
    const VkPhysicalDeviceLimits *lim = &c->desc.props.limits;
    const char *name = l->kernel->name, *dev = c->desc.props.deviceName;
    uint32_t block = (uint32_t)l->spec.block;
    if (block > lim->maxComputeWorkGroupSize[0] || block > lim->maxComputeWorkGroupInvocations)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: block %u exceeds %s's work-group limits (size %u, invocations %u)",
                        name, block, dev, lim->maxComputeWorkGroupSize[0], lim->maxComputeWorkGroupInvocations);
    if (l->spec.subgroup > 0) {
        uint32_t s = (uint32_t)l->spec.subgroup;
        int ok = c->size_control ? s >= c->desc.min_subgroup_size && s <= c->desc.max_subgroup_size
                                 : s == c->desc.subgroup_size;
        if (!ok)
            return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec subgroup %u cannot be guaranteed on %s (subgroup size %u, "
                            "%s)", name, s, dev, c->desc.subgroup_size,
                            c->size_control ? "outside the size-control range" : "no subgroup size control");
    }
    return DSA_SUCCESS;
}

static dsa_status create_pipeline(vk_ctx *c, const dsa_launch *l, vk_pipeline **out)
{
    const dsa_kernel_def *k = l->kernel;
    dsa_status st = check_limits(c, l);
    if (st != DSA_SUCCESS) return st;
    vk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "vulkan: out of host memory");
    p->kernel = k;
    p->spec = l->spec;
    st = dsa_kernel_signature(k, &l->spec, &p->sig);
    if (st == DSA_SUCCESS) st = params_layout(k->name, p);
    if (st == DSA_SUCCESS && p->push_size > c->desc.props.limits.maxPushConstantsSize)
        st = dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: needs %u bytes of push constants, %s offers %u "
                      "(maxPushConstantsSize)", k->name, p->push_size, c->desc.props.deviceName,
                      c->desc.props.limits.maxPushConstantsSize);
    if (st != DSA_SUCCESS) {
        free(p);
        return st;
    }

    /* SPIR-V: shipped in the library when this exact specialization was prebuilt (a machine
     * without glslang's cost at run time), else source -> glslang. */
    uint32_t *words = NULL;
    size_t n_words = 0;
    const void *shipped = NULL;
    size_t shipped_size = 0;
    if (dsa_prebuilt_find("spirv", k, &l->spec, &shipped, &shipped_size)) {
        n_words = shipped_size / sizeof(uint32_t);
    } else {
        char *source = NULL;
        st = dsa_generate(k, DSA_DIALECT_GLSL, &l->spec, &source);
        if (st == DSA_SUCCESS) st = dsa_glsl_to_spirv(source, k->name, DSA_SPIRV_1_3, &words, &n_words);
        free(source);
        if (st != DSA_SUCCESS) {
            free(p);
            return st;
        }
    }
    /* Where the device flushes fp32 denormals by default, the module asks it to keep them (the
     * exact ops depend on it; dsa_vk_spirv_preserve_denorms). Shipped and compiled modules alike. */
    if (c->desc.denorm_preserve32) {
        uint32_t *kept = NULL;
        size_t n_kept = 0;
        st = dsa_vk_spirv_preserve_denorms(shipped ? (const uint32_t *)shipped : words, n_words, &kept, &n_kept);
        free(words);
        if (st != DSA_SUCCESS) {
            free(p);
            return st;
        }
        words = kept;
        n_words = n_kept;
        shipped = NULL;
    }
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = n_words * sizeof(uint32_t);
    mi.pCode = shipped ? (const uint32_t *)shipped : words;
    VkResult r = c->d.vkCreateShaderModule(c->device, &mi, NULL, &p->module);
    free(words);
    const char *call = "vkCreateShaderModule";
    if (r != VK_SUCCESS) p->module = VK_NULL_HANDLE;

    /* Bindings 0..n_buffers-1 of set 0, one storage buffer each (none where the kernel takes
     * device addresses, spec addr=1); then, at binding n_buffers, the parameters' uniform buffer
     * where they are not push constants. */
    if (r == VK_SUCCESS) {
        VkDescriptorSetLayoutBinding bind[DSA_MAX_KERNEL_ARGS + 1];
        memset(bind, 0, sizeof bind);
        int n = 0;
        for (int i = 0; i < p->sig.n_buffers && !l->spec.addr; i++, n++) { /* addr=1: none */
            bind[i].binding = (uint32_t)i;
            bind[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            bind[i].descriptorCount = 1;
            bind[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
        }
        if (p->sig.params_in_uniform) {
            bind[n].binding = (uint32_t)p->sig.n_buffers;
            bind[n].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;
            bind[n].descriptorCount = 1;
            bind[n].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
            n++;
        }
        VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
        li.bindingCount = (uint32_t)n;
        li.pBindings = bind;
        call = "vkCreateDescriptorSetLayout";
        r = c->d.vkCreateDescriptorSetLayout(c->device, &li, NULL, &p->set_layout);
        if (r != VK_SUCCESS) p->set_layout = VK_NULL_HANDLE;
    }
    if (r == VK_SUCCESS) {
        VkPushConstantRange range = {VK_SHADER_STAGE_COMPUTE_BIT, 0, p->push_size};
        VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
        li.setLayoutCount = 1;
        li.pSetLayouts = &p->set_layout;
        li.pushConstantRangeCount = p->push_size ? 1 : 0;
        li.pPushConstantRanges = p->push_size ? &range : NULL;
        call = "vkCreatePipelineLayout";
        r = c->d.vkCreatePipelineLayout(c->device, &li, NULL, &p->layout);
        if (r != VK_SUCCESS) p->layout = VK_NULL_HANDLE;
    }
    if (r == VK_SUCCESS) {
        VkComputePipelineCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
        pi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        pi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        pi.stage.module = p->module;
        pi.stage.pName = "main";
        pi.layout = p->layout;
        /* A kernel relying on a subgroup size gets exactly that size where the device can promise it. */
        VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rs = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
        if (l->spec.subgroup > 0 && c->size_control) {
            rs.requiredSubgroupSize = (uint32_t)l->spec.subgroup;
            pi.stage.pNext = &rs;
            if (c->full_subgroups && l->spec.block % l->spec.subgroup == 0)
                pi.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
        }
        call = "vkCreateComputePipelines";
        r = c->d.vkCreateComputePipelines(c->device, c->pcache, 1, &pi, NULL, &p->pipeline);
        if (r != VK_SUCCESS) p->pipeline = VK_NULL_HANDLE;
        else c->pcache_dirty = 1;
    }
    if (r != VK_SUCCESS) {
        st = vk_error(c, r, call);
        dsa_log(DSA_LOG_ERROR, "compile", "vulkan: kernel %s: %s", k->name, dsa_last_error());
        pipeline_free(c, p);
        return st;
    }
    dsa_log(DSA_LOG_DEBUG, "compile", "vulkan: pipeline for %s (block %d, %zu SPIR-V words, %u parameter bytes as %s, "
            "buffers %s)", k->name, l->spec.block, n_words, p->sig.params_size,
            p->sig.params_in_uniform ? "a uniform buffer" : "push constants",
            l->spec.addr ? "by device address" : "as bindings");
    *out = p;
    return DSA_SUCCESS;
}

/* The context's pipeline for a launch, created on first use. Lock held. */
static dsa_status get_pipeline(vk_ctx *c, const dsa_launch *l, vk_pipeline **out)
{
    for (vk_pipeline *p = c->pipelines; p; p = p->next)
        if (strcmp(p->kernel->name, l->kernel->name) == 0 && dsa_spec_equal(&p->spec, &l->spec)) {
            *out = p;
            return DSA_SUCCESS;
        }
    vk_pipeline *p;
    dsa_status st = create_pipeline(c, l, &p);
    if (st != DSA_SUCCESS) return st;
    p->next = c->pipelines;
    c->pipelines = p;
    *out = p;
    return DSA_SUCCESS;
}

/* ---- ops -------------------------------------------------------------------------------------- */

static dsa_status check_runnable(vk_ctx *c, dsa_op op)
{
    dsa_status st = check_alive(c);
    if (st != DSA_SUCCESS) return st;
    if (c->missing)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: unsupported on %s: %s", dsa_op_name(op), c->desc.props.deviceName,
                        c->missing);
    return DSA_SUCCESS;
}

static dsa_status vk_workspace_size(dsa_context *ctx, dsa_op op, const void *args, uint64_t *bytes)
{
    return dsa_plan_workspace(&ctx->info, op, args, bytes);
}

static dsa_status choose_addressing(const vk_ctx *c, const dsa_launch *l, int *addr);

/* Whether a launch being prepared may run with its buffers by device address (spec addr=1): where
 * a buffer it was given is larger than a binding, or where a buffer is unknown (a shape class has
 * NULL buffers) and the context could allocate one that large. */
static int may_need_addresses(const vk_ctx *c, const dsa_launch *l)
{
    if (!c->bda) return 0;
    int addr = 0;
    if (choose_addressing(c, l, &addr) == DSA_SUCCESS && addr) return 1;
    int unknown = 0;
    for (int b = 0; b < l->n_buffers; b++) unknown |= l->buffers[b].buffer == NULL;
    return unknown && (!c->desc.max_allocation || c->desc.max_allocation > c->max_range);
}

/* The pipelines a launch may need, so that enqueueing it compiles nothing: the bindings form, and
 * the device-address form where it may be needed. */
static dsa_status prepare_launch(vk_ctx *c, const dsa_launch *l)
{
    vk_pipeline *p;
    dsa_status st = get_pipeline(c, l, &p);
    if (st != DSA_SUCCESS || !may_need_addresses(c, l)) return st;
    dsa_launch by_address = *l;
    by_address.spec.addr = 1;
    return get_pipeline(c, &by_address, &p);
}

static dsa_status vk_prepare(dsa_context *ctx, dsa_op op, const void *args)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_runnable(c, op);
    dsa_plan plan;
    if (st == DSA_SUCCESS) {
        /* The plan of a shape class: buffers may be NULL; the context's workspace (grown by core
         * before this call) stands in for the one a later call gets. */
        dsa_workspace ws = {ctx->own_ws, 0, ctx->own_ws ? ctx->own_ws->size : 0};
        st = dsa_plan_build(&ctx->info, op, args, &ws, &plan);
    }
    for (int i = 0; st == DSA_SUCCESS && i < plan.n; i++) st = prepare_launch(c, &plan.launch[i]);
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* One launch's parameter block (push constants or its uniform buffer slot): PUSH_MAX bytes. */
static dsa_status fill_params(vk_ctx *c, const vk_pipeline *p, const dsa_launch *l, uint8_t *push)
{
    memset(push, 0, PUSH_MAX);
    for (int i = 0; i < p->sig.n_scalars; i++) {
        uint8_t *at = push + p->sig.params_offset[i];
        switch (p->sig.scalar_type[i]) {
        case DSA_ARG_I64: { int64_t v = l->scalars[i].i; memcpy(at, &v, 8); break; }
        case DSA_ARG_I32: { int32_t v = (int32_t)l->scalars[i].i; memcpy(at, &v, 4); break; }
        case DSA_ARG_U32: { uint32_t v = (uint32_t)l->scalars[i].i; memcpy(at, &v, 4); break; }
        case DSA_ARG_F32: { float v = l->scalars[i].f; memcpy(at, &v, 4); break; }
        default: return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: %s: scalar %d has no push constant form", l->kernel->name, i);
        }
    }
    for (int i = 0; i < p->sig.n_buffers; i++) {
        size_t esize = dsa_arg_type_size(p->sig.buffer_type[i]);
        uint64_t bo = l->buffers[i].buffer ? l->buffers[i].byte_offset : 0;
        if (esize == 0 || bo % esize)
            return dsa_fail(DSA_ERROR_INTERNAL, "vulkan: %s: buffer %d's offset %llu is not a multiple of its element "
                            "size %zu", l->kernel->name, i, (unsigned long long)bo, esize);
        /* Bindings: the view's element offset. Addresses: the view's first byte (every buffer has
         * one: choose_addressing checked; an absent one is the dummy buffer's). */
        int64_t value = (int64_t)(bo / esize);
        if (l->spec.addr) {
            const vk_mem *m = l->buffers[i].buffer ? find_mem(c, (VkBuffer)l->buffers[i].buffer->native) : &c->dummy;
            value = m ? (int64_t)(m->address + bo) : 0;
        }
        memcpy(push + p->sig.params_offset[p->sig.n_scalars + i], &value, 8);
    }
    return DSA_SUCCESS;
}

/* Whether launch l must take its buffers by device address (spec addr=1): one of them is larger
 * than a storage-buffer binding may be. Then every buffer needs an address: DSA_ERROR_UNSUPPORTED
 * naming the limit where one has none. */
static dsa_status choose_addressing(const vk_ctx *c, const dsa_launch *l, int *addr)
{
    const dsa_buffer *big = NULL;
    for (int b = 0; b < l->n_buffers && !big; b++) {
        const dsa_buffer *buf = l->buffers[b].buffer;
        const vk_mem *m = buf ? find_mem((vk_ctx *)c, (VkBuffer)buf->native) : NULL;
        if (buf && (m ? m->size : buf->size) > c->max_range) big = buf;
    }
    *addr = big != NULL;
    if (!big) return DSA_SUCCESS;
    for (int b = 0; b < l->n_buffers; b++) {
        const dsa_buffer *buf = l->buffers[b].buffer;
        const vk_mem *m = buf ? find_mem((vk_ctx *)c, (VkBuffer)buf->native) : NULL;
        if (!c->bda || (buf && (!m || !m->address)))
            return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: a buffer of %llu bytes exceeds %s's storage-buffer binding "
                            "limit (%llu bytes%s) and %s", l->kernel->name, (unsigned long long)big->size,
                            c->desc.props.deviceName, (unsigned long long)c->max_range,
                            c->max_range < c->desc.props.limits.maxStorageBufferRange ? ", DSA_VULKAN_MAX_RANGE" : "",
                            !c->bda ? "the context cannot use buffer device addresses (no bufferDeviceAddress, or "
                                      "the application's VkDevice)"
                                    : "a wrapped VkBuffer of the launch has no device address libdsa can take");
    }
    return DSA_SUCCESS;
}

/* Everything about a plan that can fail, settled before a slot is taken: each launch's addressing
 * (local->launch[i].spec.addr), pipeline, arguments and grid limits. */
static dsa_status check_plan(vk_ctx *c, dsa_plan *local, vk_pipeline **pipe)
{
    const VkPhysicalDeviceLimits *lim = &c->desc.props.limits;
    dsa_status st = DSA_SUCCESS;
    for (int i = 0; st == DSA_SUCCESS && i < local->n; i++) {
        const dsa_launch *l = &local->launch[i];
        st = choose_addressing(c, l, &local->launch[i].spec.addr);
        if (st == DSA_SUCCESS) st = get_pipeline(c, l, &pipe[i]);
        if (st != DSA_SUCCESS) break;
        if (l->n_buffers != pipe[i]->sig.n_buffers || l->n_scalars != pipe[i]->sig.n_scalars)
            st = dsa_fail(DSA_ERROR_INTERNAL, "vulkan: %s: the plan passes %d buffers and %d scalars, the kernel takes "
                          "%d and %d", l->kernel->name, l->n_buffers, l->n_scalars, pipe[i]->sig.n_buffers,
                          pipe[i]->sig.n_scalars);
        for (int a = 0; st == DSA_SUCCESS && a < 3; a++)
            if (l->grid[a] > lim->maxComputeWorkGroupCount[a])
                st = dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: grid[%d] is %u blocks, %s allows %u", l->kernel->name, a,
                              l->grid[a], c->desc.props.deviceName, lim->maxComputeWorkGroupCount[a]);
    }
    return st;
}

static void buffer_write_desc(VkWriteDescriptorSet *w, VkDescriptorSet set, uint32_t binding, VkDescriptorType type,
                              const VkDescriptorBufferInfo *info)
{
    memset(w, 0, sizeof *w);
    w->sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    w->dstSet = set;
    w->dstBinding = binding;
    w->descriptorCount = 1;
    w->descriptorType = type;
    w->pBufferInfo = info;
}

/* Launch i's descriptor set, from the current slot's pool: every buffer bound whole at offset 0
 * (views' offsets travel as parameters), and the slot's uniform parameter block for launch i where
 * the kernel has one. */
static dsa_status bind_launch(vk_ctx *c, const dsa_launch *l, int i, const vk_pipeline *p, VkDescriptorSet *set)
{
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = c->cur->dpool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p->set_layout;
    VkResult r = c->d.vkAllocateDescriptorSets(c->device, &ai, set);
    if (r != VK_SUCCESS) return vk_error(c, r, "vkAllocateDescriptorSets");
    VkDescriptorBufferInfo info[DSA_MAX_KERNEL_ARGS + 1];
    VkWriteDescriptorSet w[DSA_MAX_KERNEL_ARGS + 1];
    int n = 0;
    for (int b = 0; b < l->n_buffers && !l->spec.addr; b++, n++) {
        const dsa_buffer *buf = l->buffers[b].buffer;
        VkBuffer vb = buf ? (VkBuffer)buf->native : c->dummy.buffer;
        info[b].buffer = vb;
        info[b].offset = 0;
        info[b].range = !buf || find_mem(c, vb) || buf->size == 0 ? VK_WHOLE_SIZE : buf->size;
        buffer_write_desc(&w[b], *set, (uint32_t)b, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, &info[b]);
    }
    if (p->sig.params_in_uniform) { /* at binding n_buffers in either addressing */
        info[n].buffer = c->params.buffer;
        info[n].offset = params_offset(c, c->cur, i);
        info[n].range = p->sig.params_size;
        buffer_write_desc(&w[n], *set, (uint32_t)l->n_buffers, VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, &info[n]);
        n++;
    }
    if (n) c->d.vkUpdateDescriptorSets(c->device, (uint32_t)n, w, 0, NULL);
    return DSA_SUCCESS;
}

/* Records the plan's launches into the acquired slot, in order, each after the one before. */
static dsa_status record_plan(vk_ctx *c, const dsa_plan *plan, vk_pipeline *const *pipe)
{
    VkDescriptorSet sets[DSA_PLAN_MAX_LAUNCHES];
    dsa_status st = DSA_SUCCESS;
    for (int i = 0; st == DSA_SUCCESS && i < plan->n; i++) st = bind_launch(c, &plan->launch[i], i, pipe[i], &sets[i]);
    if (st == DSA_SUCCESS) st = begin(c);
    VkCommandBuffer cmd = c->cur->cmd;
    for (int i = 0; st == DSA_SUCCESS && i < plan->n; i++) {
        const dsa_launch *l = &plan->launch[i];
        uint8_t push[PUSH_MAX];
        st = fill_params(c, pipe[i], l, push);
        if (st != DSA_SUCCESS) break;
        if (pipe[i]->sig.params_in_uniform) /* coherent, and the slot is not in flight: the submission makes it visible */
            memcpy((uint8_t *)c->params.mapped + params_offset(c, c->cur, i), push, pipe[i]->sig.params_size);
        if (i > 0) /* launch i reads what launch i-1 wrote */
            memory_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
        if (l->grid[0] == 0 || l->grid[1] == 0 || l->grid[2] == 0) continue;
        c->d.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe[i]->pipeline);
        c->d.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe[i]->layout, 0, 1, &sets[i], 0, NULL);
        if (pipe[i]->push_size)
            c->d.vkCmdPushConstants(cmd, pipe[i]->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pipe[i]->push_size, push);
        c->d.vkCmdDispatch(cmd, l->grid[0], l->grid[1], l->grid[2]);
    }
    return st;
}

/* Enqueues a plan's launches as one submission and returns without waiting for it (invariant 8: a
 * prepared op neither compiles, allocates nor waits here, except that a full ring waits for its
 * oldest slot). Lock held. */
static dsa_status run_plan(vk_ctx *c, const dsa_plan *given)
{
    if (given->n == 0) return DSA_SUCCESS; /* nothing to do (an empty op) */
    dsa_plan local = *given; /* launches whose tensors exceed a binding get spec addr=1 */
    vk_pipeline *pipe[DSA_PLAN_MAX_LAUNCHES];
    dsa_status st = check_plan(c, &local, pipe);
    if (st == DSA_SUCCESS) st = acquire(c);
    if (st == DSA_SUCCESS) st = record_plan(c, &local, pipe);
    if (st == DSA_SUCCESS) st = submit(c, 1);
    else abandon(c);
    return st;
}

static dsa_status vk_run(dsa_context *ctx, dsa_op op, const void *args, const dsa_workspace *ws)
{
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_runnable(c, op);
    dsa_plan plan;
    if (st == DSA_SUCCESS) st = dsa_plan_build(&ctx->info, op, args, ws, &plan);
    if (st == DSA_SUCCESS) st = run_plan(c, &plan);
    pthread_mutex_unlock(&c->lock);
    return st;
}

dsa_status dsa_vk_run_plan(dsa_context *ctx, const dsa_plan *plan)
{
    if (!ctx || ctx->ops != &dsa_vulkan_backend)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_vk_run_plan: not a vulkan context");
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    dsa_status st = check_alive(c);
    if (st == DSA_SUCCESS && c->missing)
        st = dsa_fail(DSA_ERROR_UNSUPPORTED, "vulkan: unsupported on %s: %s", c->desc.props.deviceName, c->missing);
    if (st == DSA_SUCCESS) st = run_plan(c, plan);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static dsa_status test_hook_context(dsa_context *ctx, const char *fn)
{
    if (!ctx || ctx->ops != &dsa_vulkan_backend || !ctx->impl)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: not a vulkan context", fn);
    return DSA_SUCCESS;
}

dsa_status dsa_vk_ring_state_get(dsa_context *ctx, dsa_vk_ring_state *out)
{
    dsa_status st = test_hook_context(ctx, "dsa_vk_ring_state_get");
    if (st != DSA_SUCCESS) return st;
    vk_ctx *c = ctx_of(ctx);
    pthread_mutex_lock(&c->lock);
    memset(out, 0, sizeof *out);
    out->slots = RING_SLOTS;
    out->in_flight = c->in_flight;
    for (int i = 0; i < RING_SLOTS; i++)
        if (c->ring[i].in_flight && c->d.vkGetFenceStatus(c->device, c->ring[i].fence) == VK_SUCCESS) out->done++;
    out->submits = c->submits;
    out->full_waits = c->full_waits;
    out->drains = c->drains;
    pthread_mutex_unlock(&c->lock);
    return DSA_SUCCESS;
}

dsa_status dsa_vk_inject_failure(dsa_context *ctx, const char *call, VkResult result)
{
    dsa_status st = test_hook_context(ctx, "dsa_vk_inject_failure");
    if (st != DSA_SUCCESS) return st;
    vk_ctx *c = ctx_of(ctx);
    int submit = strcmp(call, "vkQueueSubmit") == 0, wait = strcmp(call, "vkWaitForFences") == 0;
    if (!submit && !wait)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_vk_inject_failure: call is \"%s\", expected vkQueueSubmit "
                        "or vkWaitForFences", call);
    pthread_mutex_lock(&c->lock);
    if (submit) c->inject_submit = result;
    else c->inject_wait = result;
    pthread_mutex_unlock(&c->lock);
    return DSA_SUCCESS;
}


static dsa_status vk_probe(dsa_device_info *devices, int max, int *count, char *reason, size_t reason_len)
{
    return dsa_vk_probe(devices, max, count, reason, reason_len);
}

const dsa_backend_ops dsa_vulkan_backend = {
    .id = DSA_BACKEND_VULKAN,
    .probe = vk_probe,
    .context_create = vk_context_create,
    .context_destroy = vk_context_destroy,
    .synchronize = vk_synchronize,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .buffer_wrap = vk_buffer_wrap,
    .buffer_write = vk_buffer_write,
    .buffer_read = vk_buffer_read,
    .buffer_copy = vk_buffer_copy,
    .buffer_fill = vk_buffer_fill,
    .wait_events = vk_wait_events,
    .take_event = vk_take_event,
    .take_semaphore = vk_take_semaphore,
    .workspace_size = vk_workspace_size,
    .prepare = vk_prepare,
    .run = vk_run,
};
