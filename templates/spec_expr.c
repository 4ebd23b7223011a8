/* Integer expressions over a specialization, as templates write them in @shared sizes
 * ("STAGES * TILE_N * (DIM / 2 + 4)"): numbers, the spec's macro names, + - * / % and
 * parentheses, with C's precedence and int64 arithmetic. The generator evaluates the sizes to lay
 * out shared memory itself (CUDA's dynamic shared memory needs the byte count on the host), so a
 * template's declaration is the only statement of how much memory it takes. */
#include "template.h"
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct parser {
    const char *p;
    const dsa_spec *spec;
    const char *error; /* first problem seen, NULL while fine */
} parser;

static int64_t expr(parser *ps);

static void skip_space(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static int64_t spec_name(parser *ps, const char *name, size_t n)
{
    static const char *names[] = {"BLOCK", "TILE_M", "TILE_N", "TILE_K", "HEADS", "DIM", "SUBGROUP", "MATRIX",
                                  "STAGES"};
    const dsa_spec *s = ps->spec;
    const int values[] = {s->block, s->tile_m, s->tile_n, s->tile_k, s->heads, s->dim, s->subgroup, s->matrix,
                          s->stages};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncmp(name, names[i], n) == 0) return values[i];
    if (!ps->error) ps->error = "a name that is not a spec parameter";
    return 0;
}

static int64_t factor(parser *ps)
{
    skip_space(ps);
    const char *p = ps->p;
    if (*p == '(') {
        ps->p++;
        int64_t v = expr(ps);
        skip_space(ps);
        if (*ps->p == ')') ps->p++;
        else if (!ps->error) ps->error = "a missing ')'";
        return v;
    }
    if (*p == '-') {
        ps->p++;
        return -factor(ps);
    }
    if (isdigit((unsigned char)*p)) {
        int64_t v = 0;
        while (isdigit((unsigned char)*ps->p) && v < ((int64_t)1 << 40)) v = v * 10 + (*ps->p++ - '0');
        while (*ps->p == 'u' || *ps->p == 'U') ps->p++;
        return v;
    }
    if (isalpha((unsigned char)*p) || *p == '_') {
        while (isalnum((unsigned char)*ps->p) || *ps->p == '_') ps->p++;
        return spec_name(ps, p, (size_t)(ps->p - p));
    }
    if (!ps->error) ps->error = "an unexpected character";
    return 0;
}

static int64_t term(parser *ps)
{
    int64_t v = factor(ps);
    for (;;) {
        skip_space(ps);
        char op = *ps->p;
        if (op != '*' && op != '/' && op != '%') return v;
        ps->p++;
        int64_t r = factor(ps);
        if (op == '*') {
            v *= r;
        } else if (r == 0) {
            if (!ps->error) ps->error = "a division by zero";
            v = 0;
        } else {
            v = op == '/' ? v / r : v % r;
        }
        if (v > ((int64_t)1 << 40) || v < -((int64_t)1 << 40)) {
            if (!ps->error) ps->error = "a value out of range";
            v = 0;
        }
    }
}

static int64_t expr(parser *ps)
{
    int64_t v = term(ps);
    for (;;) {
        skip_space(ps);
        char op = *ps->p;
        if (op != '+' && op != '-') return v;
        ps->p++;
        int64_t r = term(ps);
        v = op == '+' ? v + r : v - r;
    }
}

dsa_status dsa_spec_expr(const char *text, size_t len, const dsa_spec *spec, int64_t *value)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), text);
    parser ps = {buf, spec, NULL};
    *value = expr(&ps);
    skip_space(&ps);
    if (!ps.error && *ps.p) ps.error = "text after the expression";
    if (ps.error) {
        *value = 0;
        return dsa_fail(DSA_ERROR_INTERNAL, "spec expression \"%s\": %s (at \"%s\")", buf, ps.error, ps.p);
    }
    return DSA_SUCCESS;
}
