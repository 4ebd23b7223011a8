/* The generator: template text + specialization -> source in one dialect (template.h explains the
 * template format). The dialect-specific parts here are only declarations: how a buffer, a scalar
 * and a shared array are declared and where they go. Everything a template calls is defined by
 * the dialect's prelude (templates/dialects/<dialect>.h) and the portable helpers (common.h). */
#include "template.h"
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 24
#define MAX_SHARED 8

typedef struct tpl_arg {
    char name[40];
    char type[8]; /* u8 u16 i32 u32 f32 i64, or in/out */
    int write;    /* buffers: written by the kernel */
} tpl_arg;

typedef struct tpl {
    char kernel[48];
    tpl_arg buffers[MAX_ARGS];
    int n_buffers;
    tpl_arg scalars[MAX_ARGS];
    int n_scalars;
    char shared[MAX_SHARED][128]; /* "F32 red[BLOCK]" */
    int n_shared;
    const char *functions; /* text between @functions and @body, may be empty */
    size_t functions_len;
    const char *body;      /* text after @body */
} tpl;

/* ---- a growing string ---- */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *b, const char *text, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_text(strbuf *b, const char *text) { sb_add(b, text, strlen(text)); }

/* ---- dialect names ---- */
const char *dsa_dialect_name(dsa_dialect d)
{
    static const char *names[DSA_DIALECT_COUNT] = {"cuda", "hip", "opencl", "glsl"};
    return (unsigned)d < DSA_DIALECT_COUNT ? names[d] : "unknown";
}

int dsa_dialect_parse(const char *name, dsa_dialect *out)
{
    for (int d = 0; d < DSA_DIALECT_COUNT; d++) {
        if (name && strcmp(name, dsa_dialect_name((dsa_dialect)d)) == 0) {
            *out = (dsa_dialect)d;
            return 1;
        }
    }
    return 0;
}

/* ---- parsing a template ---- */

static dsa_status parse_arg(const char *kernel, const char *line, tpl_arg *a, int is_buffer)
{
    char access[16] = "";
    int n = is_buffer ? sscanf(line, "%39s %7s %15s", a->name, a->type, access)
                      : sscanf(line, "%39s %7s", a->name, a->type);
    if (n != (is_buffer ? 3 : 2))
        return dsa_fail(DSA_ERROR_INTERNAL, "template %s: cannot parse \"%s\"", kernel, line);
    a->write = strcmp(access, "write") == 0 || strcmp(access, "readwrite") == 0;
    return DSA_SUCCESS;
}

/* Argument names become identifiers in every dialect: a keyword of any of them (GLSL's `in`, `out`,
 * `buffer`, `shared`; C++'s `new`, `this`...) would compile in some dialects and not others, so the
 * generator refuses them for all. */
static dsa_status check_names(const char *kernel, const tpl *t)
{
    static const char *reserved[] = {"in", "out", "inout", "buffer", "shared", "uniform", "layout",
                                     "input", "output", "sample", "patch", "common", "partition",
                                     "active", "filter", "new", "delete", "this", "template", "class",
                                     "private", "public", "global", "local", "constant", "kernel", "half"};
    for (int i = 0; i < t->n_buffers + t->n_scalars; i++) {
        const char *n = i < t->n_buffers ? t->buffers[i].name : t->scalars[i - t->n_buffers].name;
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            if (strcmp(n, reserved[r]) == 0)
                return dsa_fail(DSA_ERROR_INTERNAL, "template %s: argument name \"%s\" is a keyword in some dialect",
                                kernel, n);
    }
    return DSA_SUCCESS;
}

static dsa_status parse_template(const char *name, const char *text, tpl *t)
{
    memset(t, 0, sizeof *t);
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        const char *next = eol ? eol + 1 : p + len;
        dsa_status st = DSA_SUCCESS;
        if (strncmp(line, "@kernel ", 8) == 0) {
            snprintf(t->kernel, sizeof t->kernel, "%.47s", line + 8);
        } else if (strncmp(line, "@buffer ", 8) == 0 && t->n_buffers < MAX_ARGS) {
            st = parse_arg(name, line + 8, &t->buffers[t->n_buffers++], 1);
        } else if (strncmp(line, "@scalar ", 8) == 0 && t->n_scalars < MAX_ARGS) {
            st = parse_arg(name, line + 8, &t->scalars[t->n_scalars++], 0);
        } else if (strncmp(line, "@shared ", 8) == 0 && t->n_shared < MAX_SHARED) {
            snprintf(t->shared[t->n_shared++], sizeof t->shared[0], "%.127s", line + 8);
        } else if (strncmp(line, "@functions", 10) == 0) {
            t->functions = next;
        } else if (strncmp(line, "@body", 5) == 0) {
            if (t->functions) t->functions_len = (size_t)(p - t->functions);
            t->body = next;
            break;
        }
        if (st != DSA_SUCCESS) return st;
        p = next;
    }
    if (!t->kernel[0] || !t->body)
        return dsa_fail(DSA_ERROR_INTERNAL, "template %s: missing @kernel or @body", name);
    return check_names(name, t);
}

/* ---- element types ---- */

static const char *dtype_storage(dsa_dtype t)
{
    switch (t) {
    case DSA_BF16: case DSA_FP16: return "u16";
    case DSA_FP32: return "f32";
    case DSA_INT32: return "i32";
    default: return "u8";
    }
}

/* The dialect's spelling of a template element type. */
static const char *type_name(dsa_dialect d, const char *type, const dsa_spec *spec)
{
    if (strcmp(type, "in") == 0) type = dtype_storage(spec->in_dtype);
    else if (strcmp(type, "out") == 0) type = dtype_storage(spec->out_dtype);
    static const char *names[][2] = {{"u8", "uint8_t"}, {"u16", "uint16_t"}, {"i32", "int"},
                                     {"u32", "uint"},   {"f32", "float"},    {"i64", "int64_t"}};
    static const char *c_names[] = {"U8", "U16", "I32", "U32", "F32", "I64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(type, names[i][0]) == 0) return d == DSA_DIALECT_GLSL ? names[i][1] : c_names[i];
    }
    return "F32";
}

/* ---- emitting ---- */

static void emit_header(strbuf *b, dsa_dialect d, const tpl *t, const dsa_spec *spec)
{
    if (d == DSA_DIALECT_GLSL) {
        sb_text(b, "#version 450\n"
                   "#extension GL_EXT_shader_8bit_storage : require\n"
                   "#extension GL_EXT_shader_16bit_storage : require\n"
                   "#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require\n");
        if (spec->addr) sb_text(b, "#extension GL_EXT_buffer_reference : require\n");
        if (spec->subgroup > 0)
            sb_text(b, "#extension GL_KHR_shader_subgroup_basic : require\n"
                       "#extension GL_KHR_shader_subgroup_arithmetic : require\n"
                       "#extension GL_KHR_shader_subgroup_shuffle : require\n");
    }
    sb_printf(b, "/* libdsa %s: kernel %s, dialect %s (generated; see templates/kernels/%s.dsa) */\n",
              dsa_version_string(), t->kernel, dsa_dialect_name(d), t->kernel);
    sb_printf(b, "#define BLOCK %d\n#define TILE_M %d\n#define TILE_N %d\n#define TILE_K %d\n",
              spec->block, spec->tile_m, spec->tile_n, spec->tile_k);
    sb_printf(b, "#define HEADS %d\n#define DIM %d\n#define SUBGROUP %d\n#define MATRIX %d\n",
              spec->heads, spec->dim, spec->subgroup, spec->matrix);
    sb_printf(b, "#define STAGES %d\n#define IN_DTYPE %d\n#define OUT_DTYPE %d\n", spec->stages,
              (int)spec->in_dtype, (int)spec->out_dtype);
    sb_printf(b, "#define HALF %d\n#define PTX %d\n", spec->half, spec->ptx);
}

static dsa_status emit_preludes(strbuf *b, dsa_dialect d)
{
    char path[64];
    snprintf(path, sizeof path, "dialects/%s.h", dsa_dialect_name(d));
    const char *prelude = dsa_embedded_text(path), *common = dsa_embedded_text("dialects/common.h");
    /* CUDA and HIP are one language: their shared vocabulary is written once (dialects/cxx.h). */
    const char *cxx = d == DSA_DIALECT_CUDA || d == DSA_DIALECT_HIP ? dsa_embedded_text("dialects/cxx.h") : "";
    if (!prelude || !common || !cxx)
        return dsa_fail(DSA_ERROR_INTERNAL, "codegen: the %s prelude is not embedded in this build", path);
    sb_text(b, cxx);
    sb_text(b, prelude);
    sb_text(b, common);
    return DSA_SUCCESS;
}

/* Template text with its `@include PATH` lines replaced by the embedded file PATH (relative to
 * templates/, e.g. kernels/sparse_mla_attention.dsai): two kernels that run one algorithm over
 * different inputs (sparse MLA prefill over bf16 rows, decode over the FP8 cache) keep that
 * algorithm in one file and differ only in the hooks they define before including it. Included
 * text may include again, up to a small depth (a cycle is an error, not a hang). */
#define MAX_INCLUDE_DEPTH 4

static dsa_status emit_text(strbuf *b, const char *kernel, const char *text, size_t len, int depth)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if ((size_t)(end - p) > 9 && strncmp(p, "@include ", 9) == 0) {
            char path[128];
            size_t n = (size_t)((eol ? eol : end) - (p + 9));
            while (n > 0 && (p[9 + n - 1] == ' ' || p[9 + n - 1] == '\r')) n--;
            snprintf(path, sizeof path, "%.*s", (int)(n < sizeof path ? n : sizeof path - 1), p + 9);
            const char *inc = dsa_embedded_text(path);
            if (!inc)
                return dsa_fail(DSA_ERROR_INTERNAL, "template %s: @include %s: no such embedded file", kernel, path);
            if (depth >= MAX_INCLUDE_DEPTH)
                return dsa_fail(DSA_ERROR_INTERNAL, "template %s: @include %s: nested more than %d deep", kernel,
                                path, MAX_INCLUDE_DEPTH);
            sb_printf(b, "/* ---- from templates/%s ---- */\n", path);
            dsa_status st = emit_text(b, kernel, inc, strlen(inc), depth + 1);
            if (st != DSA_SUCCESS) return st;
            sb_printf(b, "/* ---- end of templates/%s ---- */\n", path);
        } else {
            sb_add(b, p, (size_t)(next - p));
        }
        p = next;
    }
    return DSA_SUCCESS;
}

/* ---- element types for backends ---- */

static dsa_arg_type arg_type(const char *type, const dsa_spec *spec)
{
    if (strcmp(type, "in") == 0) type = dtype_storage(spec->in_dtype);
    else if (strcmp(type, "out") == 0) type = dtype_storage(spec->out_dtype);
    static const char *names[] = {"u8", "u16", "i32", "u32", "f32", "i64"};
    for (int i = 0; i < 6; i++)
        if (strcmp(type, names[i]) == 0) return (dsa_arg_type)i;
    return DSA_ARG_F32;
}

size_t dsa_arg_type_size(dsa_arg_type t)
{
    static const size_t sizes[] = {1, 2, 4, 4, 4, 8};
    return (unsigned)t < 6 ? sizes[t] : 0;
}

/* GLSL's parameter block (template.h, dsa_signature): the scalars, then one int64 offset per
 * buffer, each aligned to its size; returns the block's size, a multiple of 4. */
static uint32_t glsl_params_layout(const tpl *t, const dsa_spec *spec, uint32_t *offset)
{
    uint32_t off = 0;
    for (int i = 0; i < t->n_scalars + t->n_buffers; i++) {
        uint32_t size = i < t->n_scalars ? (uint32_t)dsa_arg_type_size(arg_type(t->scalars[i].type, spec)) : 8u;
        off = (off + size - 1) / size * size;
        offset[i] = off;
        off += size;
    }
    return (off + 3u) / 4u * 4u;
}

/* GLSL: bindings, the parameter block and shared arrays live at global scope. */
static void emit_glsl_globals(strbuf *b, const tpl *t, const dsa_spec *spec)
{
    sb_text(b, "\nlayout(local_size_x = BLOCK) in;\n");
    for (int i = 0; i < t->n_buffers && spec->addr; i++) {
        /* addr=1: no bindings; each buffer is an element reference type, and its parameter holds
         * the device address of the view's first element instead of an element offset. */
        const tpl_arg *a = &t->buffers[i];
        sb_printf(b, "layout(buffer_reference, std430, buffer_reference_align = %zu) restrict %sbuffer dsa_r%d "
                  "{ %s v; };\n", dsa_arg_type_size(arg_type(a->type, spec)), a->write ? "" : "readonly ", i,
                  type_name(DSA_DIALECT_GLSL, a->type, spec));
    }
    for (int i = 0; i < t->n_buffers && !spec->addr; i++) {
        const tpl_arg *a = &t->buffers[i];
        sb_printf(b, "layout(std430, binding = %d) restrict %sbuffer dsa_b%d { %s d[]; } dsa_%s;\n", i,
                  a->write ? "" : "readonly ", i, type_name(DSA_DIALECT_GLSL, a->type, spec), a->name);
    }
    /* Scalars, then each buffer's element offset (members prefixed so that the macros naming them
     * are not self-referential): push constants where they fit in the 128 bytes every Vulkan
     * device offers, else a uniform block after the buffers' bindings (lavapipe offers only 128;
     * some kernels need more). Members are 4- and 8-byte scalars, so std140 lays them out as
     * std430 does. */
    uint32_t offset[2 * MAX_ARGS];
    if (glsl_params_layout(t, spec, offset) > DSA_GLSL_PUSH_MAX)
        sb_printf(b, "layout(std140, binding = %d) uniform dsa_params_t {\n", t->n_buffers);
    else
        sb_text(b, "layout(push_constant) uniform dsa_params_t {\n");
    for (int i = 0; i < t->n_scalars; i++)
        sb_printf(b, "    %s p_%s;\n", type_name(DSA_DIALECT_GLSL, t->scalars[i].type, spec), t->scalars[i].name);
    for (int i = 0; i < t->n_buffers; i++) sb_printf(b, "    int64_t p_%s_off;\n", t->buffers[i].name);
    sb_text(b, "} dsa_params;\n");
    for (int i = 0; i < t->n_scalars; i++)
        sb_printf(b, "#define %s dsa_params.p_%s\n", t->scalars[i].name, t->scalars[i].name);
    /* A buffer is used as LD(q, i) -> q(i): a macro per buffer adds its view's offset. */
    for (int i = 0; i < t->n_buffers && !spec->addr; i++)
        sb_printf(b, "#define %s(i) dsa_%s.d[uint(dsa_params.p_%s_off + (i))]\n", t->buffers[i].name,
                  t->buffers[i].name, t->buffers[i].name);
    /* Byte address arithmetic in 64 bits: a view may exceed 4 GiB. */
    for (int i = 0; i < t->n_buffers && spec->addr; i++)
        sb_printf(b, "#define %s(i) dsa_r%d(uint64_t(dsa_params.p_%s_off) + uint64_t(TO_I64(i)) * %zuul).v\n",
                  t->buffers[i].name, i, t->buffers[i].name, dsa_arg_type_size(arg_type(t->buffers[i].type, spec)));
    for (int i = 0; i < t->n_shared; i++) sb_printf(b, "shared %s;\n", t->shared[i]);
}

/* ---- shared arrays ---- */

/* "F32 red[BLOCK * 2]" -> type "F32", name "red", its size in bytes for this spec. */
static dsa_status shared_array(const char *kernel, const char *decl, const dsa_spec *spec, char *type, char *name,
                               uint64_t *bytes)
{
    static const struct {
        const char *type;
        unsigned size;
    } sizes[] = {{"F32", 4}, {"U32", 4}, {"I32", 4}, {"I64", 8}, {"U64", 8}, {"U16", 2}, {"U8", 1}};
    const char *open = strchr(decl, '['), *close = strrchr(decl, ']');
    if (sscanf(decl, "%7s %39[A-Za-z0-9_]", type, name) != 2 || !open || !close || close < open)
        return dsa_fail(DSA_ERROR_INTERNAL, "template %s: @shared \"%s\": expected TYPE NAME[SIZE]", kernel, decl);
    unsigned elem = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(type, sizes[i].type) == 0) elem = sizes[i].size;
    if (!elem)
        return dsa_fail(DSA_ERROR_INTERNAL, "template %s: @shared \"%s\": type %s is not one of F32 U32 I32 I64 U64 "
                        "U16 U8", kernel, decl, type);
    int64_t n = 0;
    dsa_status st = dsa_spec_expr(open + 1, (size_t)(close - open - 1), spec, &n);
    if (st != DSA_SUCCESS) return dsa_fail(st, "template %s: @shared %s: %s", kernel, name, dsa_last_error());
    if (n < 1)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "template %s: @shared %s has %lld elements for this spec",
                        kernel, name, (long long)n);
    *bytes = (uint64_t)n * elem;
    return DSA_SUCCESS;
}

#define SHARED_ALIGN 16u /* every array starts at a 16-byte boundary (16-byte copies, ldmatrix) */

typedef struct shared_slot {
    char type[8], name[40];
    uint64_t offset;
} shared_slot;

/* The shared arrays laid out in declaration order (slot may be NULL); returns the total bytes. */
static dsa_status shared_layout(const char *kernel, const tpl *t, const dsa_spec *spec, shared_slot *slot,
                                uint64_t *total)
{
    uint64_t at = 0;
    for (int i = 0; i < t->n_shared; i++) {
        shared_slot one;
        uint64_t bytes = 0;
        dsa_status st = shared_array(kernel, t->shared[i], spec, one.type, one.name, &bytes);
        if (st != DSA_SUCCESS) return st;
        one.offset = at;
        if (slot) slot[i] = one;
        at += (bytes + SHARED_ALIGN - 1) / SHARED_ALIGN * SHARED_ALIGN;
    }
    *total = at;
    return DSA_SUCCESS;
}

/* CUDA: one dynamic shared allocation (its size comes with the launch, so a block can use the
 * device's opt-in limit, 227 KiB on Hopper, beyond the 48 KiB of static arrays); each array is
 * a pointer into it, used by the template exactly as the static array of the other dialects. */
static dsa_status emit_cuda_shared(strbuf *b, const char *kernel, const tpl *t, const dsa_spec *spec)
{
    if (t->n_shared == 0) return DSA_SUCCESS;
    shared_slot slot[MAX_SHARED];
    uint64_t total = 0;
    dsa_status st = shared_layout(kernel, t, spec, slot, &total);
    if (st != DSA_SUCCESS) return st;
    sb_printf(b, "    extern __shared__ __align__(%u) unsigned char dsa_smem[]; /* %llu bytes */\n", SHARED_ALIGN,
              (unsigned long long)total);
    for (int i = 0; i < t->n_shared; i++)
        sb_printf(b, "    %s *__restrict__ const %s = (%s *)(dsa_smem + %llu); /* %s */\n", slot[i].type, slot[i].name,
                  slot[i].type, (unsigned long long)slot[i].offset, t->shared[i]);
    return DSA_SUCCESS;
}

static void emit_signature(strbuf *b, dsa_dialect d, const tpl *t, const dsa_spec *spec)
{
    if (d == DSA_DIALECT_GLSL) {
        sb_text(b, "\nvoid main()\n{\n");
        return;
    }
    if (d == DSA_DIALECT_OPENCL)
        sb_printf(b, "\n__kernel __attribute__((reqd_work_group_size(BLOCK, 1, 1))) void %s(", t->kernel);
    else
        sb_printf(b, "\nextern \"C\" __global__ void __launch_bounds__(BLOCK) %s(", t->kernel);
    const char *space = d == DSA_DIALECT_OPENCL ? "__global " : "";
    const char *restrict_kw = d == DSA_DIALECT_OPENCL ? "restrict" : "__restrict__";
    int first = 1;
    for (int i = 0; i < t->n_buffers; i++, first = 0) {
        const tpl_arg *a = &t->buffers[i];
        sb_printf(b, "%s\n    %s%s%s *%s %s", first ? "" : ",", space, a->write ? "" : "const ",
                  type_name(d, a->type, spec), restrict_kw, a->name);
    }
    for (int i = 0; i < t->n_scalars; i++, first = 0)
        sb_printf(b, "%s\n    %s %s", first ? "" : ",", type_name(d, t->scalars[i].type, spec), t->scalars[i].name);
    /* Views start anywhere in their buffer (cl_mem and VkBuffer bindings cannot be offset freely),
     * so every buffer comes with its view's element offset, applied once here. */
    for (int i = 0; i < t->n_buffers; i++, first = 0)
        sb_printf(b, "%s\n    I64 %s_off", first ? "" : ",", t->buffers[i].name);
    sb_text(b, ")\n{\n");
    for (int i = 0; i < t->n_buffers; i++) sb_printf(b, "    %s += %s_off;\n", t->buffers[i].name, t->buffers[i].name);
    if (d == DSA_DIALECT_CUDA) return; /* emit_cuda_shared */
    const char *qual = d == DSA_DIALECT_OPENCL ? "__local" : "__shared__";
    for (int i = 0; i < t->n_shared; i++) sb_printf(b, "    %s %s;\n", qual, t->shared[i]);
}

dsa_status dsa_generate(const dsa_kernel_def *k, dsa_dialect d, const dsa_spec *spec, char **source)
{
    if (!k || !spec || !source) return dsa_fail(DSA_ERROR_NULL_POINTER, "codegen: NULL argument");
    *source = NULL;
    if ((unsigned)d >= DSA_DIALECT_COUNT)
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "codegen: dialect %d, expected 0..%d", (int)d,
                        DSA_DIALECT_COUNT - 1);
    tpl t;
    dsa_status st = parse_template(k->name, k->source, &t);
    if (st != DSA_SUCCESS) return st;
    strbuf b = {0};
    emit_header(&b, d, &t, spec);
    st = emit_preludes(&b, d);
    if (st != DSA_SUCCESS) {
        free(b.s);
        return st;
    }
    if (d == DSA_DIALECT_GLSL) emit_glsl_globals(&b, &t, spec);
    if (t.functions_len) {
        sb_text(&b, "\n");
        st = emit_text(&b, k->name, t.functions, t.functions_len, 0);
    }
    emit_signature(&b, d, &t, spec);
    if (st == DSA_SUCCESS && d == DSA_DIALECT_CUDA) st = emit_cuda_shared(&b, k->name, &t, spec);
    if (st == DSA_SUCCESS) st = emit_text(&b, k->name, t.body, strlen(t.body), 0);
    sb_text(&b, "}\n");
    if (st != DSA_SUCCESS) {
        free(b.s);
        return st;
    }
    if (b.oom) {
        free(b.s);
        return dsa_fail(DSA_ERROR_OUT_OF_MEMORY, "codegen: out of host memory");
    }
    *source = b.s;
    return DSA_SUCCESS;
}

/* ---- signatures, for backends ---- */

dsa_status dsa_kernel_signature(const dsa_kernel_def *k, const dsa_spec *spec, dsa_signature *sig)
{
    tpl t;
    dsa_status st = parse_template(k->name, k->source, &t);
    if (st != DSA_SUCCESS) return st;
    memset(sig, 0, sizeof *sig);
    sig->n_buffers = t.n_buffers;
    sig->n_scalars = t.n_scalars;
    for (int i = 0; i < t.n_buffers; i++) {
        sig->buffer_type[i] = arg_type(t.buffers[i].type, spec);
        sig->buffer_written[i] = t.buffers[i].write;
    }
    for (int i = 0; i < t.n_scalars; i++) sig->scalar_type[i] = arg_type(t.scalars[i].type, spec);
    snprintf(sig->entry, sizeof sig->entry, "%s", t.kernel);
    sig->params_size = glsl_params_layout(&t, spec, sig->params_offset);
    sig->params_in_uniform = sig->params_size > DSA_GLSL_PUSH_MAX;
    return shared_layout(k->name, &t, spec, NULL, &sig->shared_bytes);
}
