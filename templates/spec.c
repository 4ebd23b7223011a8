/* Specializations: named fields, parsing "k=v" lists (dsa codegen --param, DSA_TUNING), and the
 * checks every specialization passes before code is generated for a device. */
#include "template.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(n) {#n, offsetof(dsa_spec, n), 0}
static const dsa_spec_field fields[] = {
    FIELD(block), FIELD(tile_m), FIELD(tile_n), FIELD(tile_k), FIELD(heads), FIELD(dim),
    FIELD(subgroup), FIELD(matrix), FIELD(stages), FIELD(half), FIELD(ptx),
    {"in_dtype", offsetof(dsa_spec, in_dtype), 1}, {"out_dtype", offsetof(dsa_spec, out_dtype), 1},
    FIELD(addr),
};
#undef FIELD

/* Portable limits: what every device class offers (lavapipe's 32 KiB of shared memory, Vulkan's
 * guaranteed 128-invocation work-groups are the floor; larger blocks need a device that says so). */
#define PORTABLE_SHARED_BYTES (32u * 1024u)
#define MAX_BLOCK 1024

const dsa_spec_field *dsa_spec_fields(int *count)
{
    *count = (int)(sizeof fields / sizeof fields[0]);
    return fields;
}

int dsa_spec_equal(const dsa_spec *a, const dsa_spec *b)
{
    int n;
    const dsa_spec_field *f = dsa_spec_fields(&n);
    for (int i = 0; i < n; i++) {
        size_t size = f[i].is_dtype ? sizeof(dsa_dtype) : sizeof(int);
        if (memcmp((const char *)a + f[i].offset, (const char *)b + f[i].offset, size) != 0) return 0;
    }
    return 1;
}

void dsa_spec_format(const dsa_spec *spec, char *out, size_t cap)
{
    int n;
    const dsa_spec_field *f = dsa_spec_fields(&n);
    size_t used = 0;
    if (cap == 0) return;
    out[0] = '\0';
    for (int i = 0; i < n && used + 1 < cap; i++) {
        const char *base = (const char *)spec + f[i].offset;
        int w;
        if (f[i].is_dtype) {
            dsa_dtype t;
            memcpy(&t, base, sizeof t);
            w = snprintf(out + used, cap - used, "%s%s=%s", i ? "," : "", f[i].name, dsa_dtype_name(t));
        } else {
            int v;
            memcpy(&v, base, sizeof v);
            w = snprintf(out + used, cap - used, "%s%s=%d", i ? "," : "", f[i].name, v);
        }
        if (w < 0) break;
        used += (size_t)w;
    }
}

static int parse_dtype(const char *v, dsa_dtype *out)
{
    for (int t = DSA_BF16; t <= DSA_FP8_E4M3; t++) {
        const char *name = dsa_dtype_name((dsa_dtype)t);
        if (strcmp(v, name) == 0 || (t == DSA_FP8_E4M3 && strcmp(v, "fp8") == 0)) {
            *out = (dsa_dtype)t;
            return 1;
        }
    }
    return 0;
}

dsa_status dsa_spec_set(dsa_spec *spec, const char *name, const char *value)
{
    int n;
    const dsa_spec_field *f = dsa_spec_fields(&n);
    for (int i = 0; i < n; i++) {
        if (strcmp(f[i].name, name) != 0) continue;
        char *base = (char *)spec + f[i].offset;
        if (f[i].is_dtype) {
            dsa_dtype t;
            if (!parse_dtype(value, &t))
                return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                                "spec: %s is \"%s\", expected bf16, fp16, fp32, int32, uint8 or fp8", name, value);
            memcpy(base, &t, sizeof t);
            return DSA_SUCCESS;
        }
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || *end || end == value || v < 0 || v > 1 << 20)
            return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "spec: %s is \"%s\", expected an integer 0..%d",
                            name, value, 1 << 20);
        int iv = (int)v;
        memcpy(base, &iv, sizeof iv);
        return DSA_SUCCESS;
    }
    char known[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(known, f[i].name, sizeof known - strlen(known) - 1);
        if (i + 1 < n) strncat(known, ", ", sizeof known - strlen(known) - 1);
    }
    return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "spec: unknown field \"%s\", expected one of %s", name, known);
}

dsa_status dsa_spec_parse(dsa_spec *spec, const char *text)
{
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        size_t len = strcspn(p, ", \t\n");
        char item[96];
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        char *eq = strchr(item, '=');
        if (!eq) return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "spec: \"%s\" is not name=value", item);
        *eq = '\0';
        dsa_status st = dsa_spec_set(spec, item, eq + 1);
        if (st != DSA_SUCCESS) return st;
        p += len;
    }
    return DSA_SUCCESS;
}

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

static dsa_status check_opencl_flags(const dsa_kernel_def *k, const dsa_spec *spec,
                                     const dsa_device_info *device);

static dsa_status spec_check(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *device,
                             uint64_t deviceless_limit);

dsa_status dsa_spec_check(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *device)
{
    return spec_check(k, spec, device, PORTABLE_SHARED_BYTES);
}

/* `dsa codegen` prints any spec some device can run: without a device, the shared-memory bound is
 * the largest any offers (Hopper's 227 KiB opt-in); a plan still checks each device's own. */
dsa_status dsa_spec_check_any_device(const dsa_kernel_def *k, const dsa_spec *spec)
{
    return spec_check(k, spec, NULL, DSA_LARGEST_SHARED_BYTES);
}

static dsa_status spec_check(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *device,
                             uint64_t deviceless_limit)
{
    if (!is_pow2(spec->block) || spec->block < 32 || spec->block > MAX_BLOCK)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec block is %d, expected a power of two in 32..%d",
                        k->name, spec->block, MAX_BLOCK);
    if (spec->subgroup != 0 && (!is_pow2(spec->subgroup) || spec->subgroup > 64 || spec->subgroup > spec->block))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT,
                        "%s: spec subgroup is %d, expected 0 or a power of two <= min(64, block)", k->name,
                        spec->subgroup);
    if (spec->matrix != 0 && spec->matrix != 1)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec matrix is %d, expected 0 or 1", k->name, spec->matrix);
    if (spec->addr != 0 && spec->addr != 1)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec addr is %d, expected 0 or 1", k->name, spec->addr);
    if (spec->stages < 1 || spec->stages > 8)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec stages is %d, expected 1..8", k->name, spec->stages);
    dsa_status st = k->check ? k->check(spec) : DSA_SUCCESS;
    if (st != DSA_SUCCESS) return st;
    uint64_t shared = k->shared_bytes ? k->shared_bytes(spec) : 0;
    uint64_t limit = device && device->shared_mem_per_block ? device->shared_mem_per_block : deviceless_limit;
    if (shared > limit)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: this spec needs %llu bytes of shared memory, the %s has %llu",
                        k->name, (unsigned long long)shared,
                        device ? "device" : (deviceless_limit == PORTABLE_SHARED_BYTES ? "portable limit"
                                                                                        : "largest device"),
                        (unsigned long long)limit);
    if (device && spec->subgroup && !(device->subgroup_sizes & (1u << __builtin_ctz((unsigned)spec->subgroup))))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec subgroup %d is not a subgroup size of %s", k->name,
                        spec->subgroup, device->name);
    if (device && spec->matrix && !(device->caps & DSA_CAP_MATRIX_UNITS))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec matrix=1 but %s has no matrix units", k->name, device->name);
    return check_opencl_flags(k, spec, device);
}

/* OpenCL fast paths (ocl): the flags say which device features the generated code relies on. */
static dsa_status check_opencl_flags(const dsa_kernel_def *k, const dsa_spec *spec, const dsa_device_info *device)
{
    if ((spec->half != 0 && spec->half != 1) || (spec->ptx != 0 && spec->ptx != 1))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec half is %d and ptx is %d, expected 0 or 1", k->name,
                        spec->half, spec->ptx);
    if (spec->ptx && spec->subgroup != 32)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: spec ptx=1 with subgroup %d, expected subgroup 32 (a warp)",
                        k->name, spec->subgroup);
    if (!device) return DSA_SUCCESS;
    if ((spec->half || spec->ptx) && device->backend != DSA_BACKEND_OPENCL)
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec half/ptx are OpenCL flags, %s is a %s device", k->name,
                        device->name, dsa_backend_name(device->backend));
    if (spec->subgroup && !(device->caps & DSA_CAP_SUBGROUPS))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec subgroup=%d but %s offers no subgroup operations", k->name,
                        spec->subgroup, device->name);
    if (spec->half && !(device->caps & DSA_CAP_FP16))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec half=1 but %s has no fp16 arithmetic (cl_khr_fp16)", k->name,
                        device->name);
    if (spec->ptx && !(device->caps & DSA_CAP_INLINE_PTX))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec ptx=1 but the compiler of %s takes no inline PTX", k->name,
                        device->name);
    /* Without ptx, OpenCL subgroups are cl_khr_subgroups builtins, which NVIDIA's compiler lacks. */
    if (spec->subgroup && !spec->ptx && device->backend == DSA_BACKEND_OPENCL && (device->caps & DSA_CAP_INLINE_PTX))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "%s: spec subgroup=%d with ptx=0 on %s, whose OpenCL offers subgroups "
                        "only through inline PTX (set ptx=1 or subgroup=0)", k->name, spec->subgroup, device->name);
    return DSA_SUCCESS;
}

/* The largest subgroup size the device lists that fits a block (0 if none). */
static int fitting_subgroup(uint32_t sizes, int block)
{
    for (int s = 64; s >= 2; s /= 2)
        if ((sizes & (uint32_t)s) && s <= block) return s;
    return 0;
}

void dsa_spec_use_device(dsa_spec *spec, const dsa_device_info *device)
{
    /* Only the OpenCL dialect implements these paths so far; the other backends' specs (and their
     * prebuilt binaries, compiled for the defaults) stay as they are. */
    if (!device || device->backend != DSA_BACKEND_OPENCL) return;
    if (device->caps & DSA_CAP_SUBGROUPS) {
        int ptx = (device->caps & DSA_CAP_INLINE_PTX) != 0;
        int size = ptx ? ((device->subgroup_sizes & 32u) && spec->block >= 32 ? 32 : 0)
                       : fitting_subgroup(device->subgroup_sizes, spec->block);
        spec->subgroup = size;
        spec->ptx = size ? ptx : 0;
    }
    if (device->caps & DSA_CAP_FP16) spec->half = 1;
}
