/* The conformance suite (quick sizes) on the CPU backend, one Criterion test per op family so a
 * failure names its family. Every case must pass: the CPU backend may not be "unsupported". */
#include <criterion/criterion.h>

#include "conformance.h"

static void run_family(void (*family)(conf_list *, int))
{
    dsa_context *ctx = NULL;
    cr_assert_eq(dsa_context_create("cpu", &ctx), DSA_SUCCESS, "%s", dsa_last_error());
    conf_list list = {0};
    family(&list, 1);
    cr_assert_gt(list.n, 0, "the family has no cases");
    int failed = 0;
    for (int i = 0; i < list.n; i++) {
        const conf_case *c = &list.items[i];
        conf_result r;
        conf_run_case(ctx, c, &r);
        cr_expect_eq(r.status, CONF_PASS, "%s %s %s [%s]: status %d: %s", c->op, c->dtype, c->shape,
                     c->variant, r.status, r.message);
        for (int m = 0; m < r.n_metrics; m++)
            cr_expect(r.metrics[m].ok, "%s %s %s [%s]: %s = %g > %g", c->op, c->dtype, c->shape,
                      c->variant, r.metrics[m].name, r.metrics[m].value, r.metrics[m].bound);
        failed += r.status != CONF_PASS;
    }
    conf_list_free(&list);
    dsa_context_destroy(ctx);
    cr_assert_eq(failed, 0, "%d case(s) failed", failed);
}

Test(conformance, cache_and_quantization, .timeout = 600) { run_family(conf_cases_cache); }
Test(conformance, indexer, .timeout = 600) { run_family(conf_cases_indexer); }
Test(conformance, topk, .timeout = 600) { run_family(conf_cases_topk); }
Test(conformance, sparse_mla, .timeout = 600) { run_family(conf_cases_sparse_mla); }
