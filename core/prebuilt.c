/* The table of kernels compiled at build time (core/prebuilt.h). The entries live in generated
 * files (build/generated/prebuilt_kernels.c and one prebuilt_<kernel>.c per template, written by
 * tools/prebuild/prebuild.c through cmake/prebuilt.cmake); without them (no compiler at build time,
 * or DSA_PREBUILT=OFF) the table is empty and every lookup misses. */
#include "prebuilt.h"
#include "internal.h"

#include <string.h>

#ifdef DSA_HAVE_PREBUILT
/* Defined in the generated prebuilt_kernels.c. */
extern const dsa_prebuilt_part dsa_prebuilt_parts[];
extern const int dsa_prebuilt_part_count;
#else
static const dsa_prebuilt_part dsa_prebuilt_parts[1] = {{NULL, NULL}};
static const int dsa_prebuilt_part_count = 0;
#endif

/* Field by field through the spec's field list, so that a field added to dsa_spec is compared too
 * (the generator writes every listed field). */
static int spec_equal(const dsa_spec *a, const dsa_spec *b)
{
    int n;
    const dsa_spec_field *f = dsa_spec_fields(&n);
    for (int i = 0; i < n; i++) {
        const char *pa = (const char *)a + f[i].offset, *pb = (const char *)b + f[i].offset;
        if (f[i].is_dtype) {
            dsa_dtype ta, tb;
            memcpy(&ta, pa, sizeof ta);
            memcpy(&tb, pb, sizeof tb);
            if (ta != tb) return 0;
        } else {
            int va, vb;
            memcpy(&va, pa, sizeof va);
            memcpy(&vb, pb, sizeof vb);
            if (va != vb) return 0;
        }
    }
    return 1;
}

int dsa_prebuilt_count(void)
{
    int total = 0;
    for (int p = 0; p < dsa_prebuilt_part_count; p++) total += *dsa_prebuilt_parts[p].count;
    return total;
}

const dsa_prebuilt_entry *dsa_prebuilt_at(int i)
{
    if (i < 0) return NULL;
    for (int p = 0; p < dsa_prebuilt_part_count; p++) {
        int n = *dsa_prebuilt_parts[p].count;
        if (i < n) return &dsa_prebuilt_parts[p].entries[i];
        i -= n;
    }
    return NULL;
}

int dsa_prebuilt_find(const char *target, const dsa_kernel_def *k, const dsa_spec *spec, const void **data,
                      size_t *size)
{
    if (data) *data = NULL;
    if (size) *size = 0;
    if (!target || !k || !k->name || !spec || !data || !size) return 0;
    for (int p = 0; p < dsa_prebuilt_part_count; p++) {
        const dsa_prebuilt_part *part = &dsa_prebuilt_parts[p];
        for (int i = 0; i < *part->count; i++) {
            const dsa_prebuilt_entry *e = &part->entries[i];
            if (strcmp(e->kernel, k->name) != 0 || strcmp(e->target, target) != 0 || !spec_equal(&e->spec, spec))
                continue;
            *data = e->data;
            *size = e->size;
            dsa_log(DSA_LOG_DEBUG, "compile", "kernel %s: using the %zu-byte %s binary compiled at build time",
                    k->name, e->size, target);
            return 1;
        }
    }
    return 0;
}
