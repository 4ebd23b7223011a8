/* The kernels compiled at build time (core/prebuilt.h, tools/prebuild/prebuild.c): every kernel's
 * default specialization is in the table for each target whose compiler the build had; SPIR-V
 * entries validate and are exactly what compiling the library's own generated source gives now;
 * cubins are ELF files; lookups match exactly and miss otherwise. */
#include "prebuilt.h"
#include "template.h"

#ifdef DSA_PREBUILT_CUDA
#include "../backends/cuda/nvrtc.h"
#endif
#ifdef DSA_PREBUILT_SPIRV
#include "../backends/vulkan/glsl_compile.h"
#endif

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Whether the build compiled for target (so the table must hold every kernel's defaults). */
static int target_built(const char *target)
{
#ifdef DSA_PREBUILT_SPIRV
    if (strcmp(target, "spirv") == 0) return 1;
#endif
#ifdef DSA_PREBUILT_CUDA
    /* NVRTC is loaded when the build runs; this machine is taken to be the build machine. */
    dsa_nvrtc *nv;
    if (strncmp(target, "cuda:", 5) == 0) return dsa_nvrtc_open(&nv) == DSA_SUCCESS;
#endif
    (void)target;
    return 0;
}

static void expect_defaults(const char *target)
{
    if (!target_built(target)) {
        cr_skip_test("no %s compiler in this build (or on this machine)", target);
        return;
    }
    cr_assert_gt(dsa_kernel_count(), 0);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        const void *data = NULL;
        size_t size = 0;
        cr_expect(dsa_prebuilt_find(target, k, &k->defaults, &data, &size),
                  "%s: no %s binary of the default specialization (see the build's dsa_prebuild messages)", k->name,
                  target);
        if (data) cr_expect_gt(size, 0u, "%s %s", k->name, target);
    }
}

Test(prebuilt, spirv_defaults) { expect_defaults("spirv"); }
Test(prebuilt, cuda_sm90a_defaults) { expect_defaults("cuda:sm_90a"); }
Test(prebuilt, cuda_sm80_defaults) { expect_defaults("cuda:sm_80"); }

Test(prebuilt, entries_are_well_formed)
{
    int n = dsa_prebuilt_count();
    cr_assert_geq(n, 0);
    cr_expect_null(dsa_prebuilt_at(-1));
    cr_expect_null(dsa_prebuilt_at(n));
    for (int i = 0; i < n; i++) {
        const dsa_prebuilt_entry *e = dsa_prebuilt_at(i);
        cr_assert_not_null(e);
        const dsa_kernel_def *k = dsa_kernel_find(e->kernel);
        cr_expect_not_null(k, "entry %d names kernel %s, which is not registered", i, e->kernel);
        cr_expect(strcmp(e->target, "spirv") == 0 || strcmp(e->target, "cuda:sm_80") == 0 ||
                      strcmp(e->target, "cuda:sm_90a") == 0,
                  "entry %d: target %s", i, e->target);
        cr_expect_gt(e->size, 0u);
        cr_expect_eq((uintptr_t)e->data % 16u, 0u, "entry %d is not 16-byte aligned", i);
        if (k) cr_expect_eq(dsa_spec_check(k, &e->spec, NULL), DSA_SUCCESS, "%s: %s", e->kernel, dsa_last_error());
        /* The lookup finds this very binary (entries are unique per target, kernel and spec). */
        const void *data = NULL;
        size_t size = 0;
        if (k) {
            cr_expect(dsa_prebuilt_find(e->target, k, &e->spec, &data, &size));
            cr_expect_eq(data, (const void *)e->data, "%s %s: a duplicate entry", e->kernel, e->target);
            cr_expect_eq(size, e->size);
        }
    }
}

Test(prebuilt, cubins_are_elf)
{
    int checked = 0;
    for (int i = 0; i < dsa_prebuilt_count(); i++) {
        const dsa_prebuilt_entry *e = dsa_prebuilt_at(i);
        if (strncmp(e->target, "cuda:", 5) != 0) continue;
        cr_assert_geq(e->size, 4u);
        cr_expect(memcmp(e->data, "\x7f" "ELF", 4) == 0, "%s %s: not an ELF file", e->kernel, e->target);
        checked++;
    }
    if (checked == 0) cr_skip_test("no cubins in this build");
}

Test(prebuilt, spirv_validates_and_is_reproducible, .timeout = 600)
{
#ifdef DSA_PREBUILT_SPIRV
    int checked = 0;
    for (int i = 0; i < dsa_prebuilt_count(); i++) {
        const dsa_prebuilt_entry *e = dsa_prebuilt_at(i);
        if (strcmp(e->target, "spirv") != 0) continue;
        const dsa_kernel_def *k = dsa_kernel_find(e->kernel);
        cr_assert_not_null(k);
        cr_assert_eq(e->size % 4u, 0u);
        const uint32_t *words = (const uint32_t *)(const void *)e->data;
        size_t count = e->size / 4u;
        cr_expect_eq(words[0], 0x07230203u, "%s: not SPIR-V", e->kernel);
        cr_expect_eq(words[1], DSA_SPIRV_1_3, "%s: SPIR-V version 0x%x", e->kernel, words[1]);
        cr_expect_eq(dsa_spirv_validate(words, count, 1), DSA_SUCCESS, "%s: %s", e->kernel, dsa_last_error());
        /* The library's generated source (its embedded templates), compiled now, gives the same words. */
        char *glsl = NULL;
        cr_assert_eq(dsa_generate(k, DSA_DIALECT_GLSL, &e->spec, &glsl), DSA_SUCCESS, "%s", dsa_last_error());
        uint32_t *fresh = NULL;
        size_t n_fresh = 0;
        cr_assert_eq(dsa_glsl_to_spirv(glsl, k->name, DSA_SPIRV_1_3, &fresh, &n_fresh), DSA_SUCCESS, "%s",
                     dsa_last_error());
        free(glsl);
        cr_expect(n_fresh == count && memcmp(fresh, words, e->size) == 0,
                  "%s: the build-time SPIR-V (%zu words) differs from a fresh compile (%zu words): stale table "
                  "or a nondeterministic compiler",
                  e->kernel, count, n_fresh);
        free(fresh);
        checked++;
    }
    cr_expect_gt(checked, 0, "SPIR-V was built but the table has none (see the build's dsa_prebuild messages)");
#else
    cr_skip_test("no glslang in this build");
#endif
}

Test(prebuilt, lookups_match_exactly)
{
    cr_assert_gt(dsa_kernel_count(), 0);
    for (int i = 0; i < dsa_kernel_count(); i++) {
        const dsa_kernel_def *k = dsa_kernel_at(i);
        const void *data = (const void *)1;
        size_t size = 1;
        static const char *const targets[] = {"spirv", "cuda:sm_80", "cuda:sm_90a"};
        for (int t = 0; t < 3; t++) {
            /* A non-default spec (any one field changed) misses. */
            dsa_spec s = k->defaults;
            s.block = k->defaults.block * 2;
            cr_expect(!dsa_prebuilt_find(targets[t], k, &s, &data, &size), "%s %s block", k->name, targets[t]);
            cr_expect_null(data);
            cr_expect_eq(size, 0u);
            s = k->defaults;
            s.stages = k->defaults.stages + 1;
            cr_expect(!dsa_prebuilt_find(targets[t], k, &s, &data, &size), "%s %s stages", k->name, targets[t]);
            s = k->defaults;
            s.subgroup = k->defaults.subgroup ? 0 : 32;
            cr_expect(!dsa_prebuilt_find(targets[t], k, &s, &data, &size), "%s %s subgroup", k->name, targets[t]);
            s = k->defaults;
            s.dim = k->defaults.dim + 1;
            cr_expect(!dsa_prebuilt_find(targets[t], k, &s, &data, &size), "%s %s dim", k->name, targets[t]);
        }
        /* Unknown targets and missing arguments miss. */
        cr_expect(!dsa_prebuilt_find("cuda:sm_75", k, &k->defaults, &data, &size));
        cr_expect(!dsa_prebuilt_find("hip:gfx942", k, &k->defaults, &data, &size));
        cr_expect(!dsa_prebuilt_find(NULL, k, &k->defaults, &data, &size));
        cr_expect(!dsa_prebuilt_find("spirv", k, NULL, &data, &size));
        cr_expect(!dsa_prebuilt_find("spirv", k, &k->defaults, NULL, &size));
        /* Another kernel's name with this one's spec misses unless that kernel has the same spec in the table. */
        dsa_kernel_def other = *k;
        other.name = "no_such_kernel";
        cr_expect(!dsa_prebuilt_find("spirv", &other, &k->defaults, &data, &size));
    }
    cr_expect(!dsa_prebuilt_find("spirv", NULL, NULL, NULL, NULL));
}
