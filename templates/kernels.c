/* The kernel registry: every family's kernels with their embedded template text and portable
 * default specialization. The algorithms are in templates/kernels/<name>.dsa; each family's rules
 * (spec checks, shared memory) are in templates/family_<family>.c. */
#include "template.h"
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_KERNELS 64

static dsa_kernel_def defs[MAX_KERNELS];
static int n_defs;
static pthread_once_t built = PTHREAD_ONCE_INIT;

static dsa_spec base_spec(void)
{
    dsa_spec s;
    memset(&s, 0, sizeof s);
    s.block = 128;
    s.stages = 1;
    s.in_dtype = DSA_FP32;
    s.out_dtype = DSA_FP32;
    return s;
}

static void add_family(const dsa_kernel_family *f)
{
    for (int i = 0; i < f->count && n_defs < MAX_KERNELS; i++) {
        const dsa_kernel_entry *e = &f->entries[i];
        char path[96];
        snprintf(path, sizeof path, "kernels/%s.dsa", e->name);
        dsa_kernel_def *d = &defs[n_defs++];
        d->name = e->name;
        d->summary = e->summary;
        d->source = dsa_embedded_text(path);
        d->defaults = base_spec();
        if (e->defaults) e->defaults(&d->defaults);
        d->check = e->check;
        d->shared_bytes = e->shared_bytes;
    }
}

static void build(void)
{
    add_family(&dsa_family_quant);
    add_family(&dsa_family_cache);
    add_family(&dsa_family_indexer);
    add_family(&dsa_family_topk);
    add_family(&dsa_family_mla);
}

int dsa_kernel_count(void)
{
    pthread_once(&built, build);
    return n_defs;
}

const dsa_kernel_def *dsa_kernel_at(int i)
{
    pthread_once(&built, build);
    return i >= 0 && i < n_defs ? &defs[i] : NULL;
}

const dsa_kernel_def *dsa_kernel_find(const char *name)
{
    pthread_once(&built, build);
    for (int i = 0; i < n_defs; i++)
        if (name && strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}
