/* dsa_prebuild: the build-time compiler of the kernels' default specializations (DESIGN invariant 6;
 * core/prebuilt.h). Built by cmake/prebuilt.cmake from the template layer's sources without the
 * prebuilt table, and run once per kernel template:
 *
 *   dsa_prebuild --templates DIR --kernel NAME --out prebuilt_NAME.c [--always-write]
 *
 * For kernel NAME of the registry it takes the default specialization and each dtype variant the
 * kernel's rules accept (in_dtype and out_dtype over bf16, fp16, fp32, fp8, where the rules look at
 * that field at all: see variants()), generates the CUDA and GLSL sources with dsa_generate exactly
 * as the backends do, and compiles them: cubins for sm_80 and sm_90a with NVRTC (the backends'
 * options: none beyond the arch), SPIR-V 1.3 with glslang. It writes a C file holding the binaries
 * (hex bytes, as cmake/embed.cmake writes texts) and a table of dsa_prebuilt_entry, named
 * dsa_prebuilt_<NAME> and dsa_prebuilt_<NAME>_count, which build/generated/prebuilt_kernels.c lists.
 *
 * Template texts are read from DIR (the source tree's templates/) rather than embedded, so that
 * the build reruns only the kernel whose template changed; they are the files the library embeds.
 *
 * A compiler that cannot be loaded, a target it does not offer, or a kernel that does not compile is
 * reported on stderr and skipped: the build never fails for it, and the library compiles that kernel
 * at run time instead. The exit status is nonzero only when the output cannot be written or the
 * command line is wrong. The output is rewritten only when its content changes. */
#include "internal.h"
#include "template.h"

#ifdef DSA_PREBUILT_CUDA
#include "nvrtc.h"
#endif
#ifdef DSA_PREBUILT_SPIRV
#include "glsl_compile.h"
#endif

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- template texts from the source tree (replaces the embedded table in this program) ---- */
#define MAX_TEXTS 64
static const char *template_root;
static struct {
    char *path, *text;
} texts[MAX_TEXTS];
static int n_texts;

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (size) *size = len;
    return buf;
}

/* The registry and the generator call this for "kernels/NAME.dsa" and "dialects/NAME.h". */
const char *dsa_embedded_text(const char *path)
{
    if (!path || !template_root) return NULL;
    for (int i = 0; i < n_texts; i++)
        if (strcmp(texts[i].path, path) == 0) return texts[i].text;
    if (n_texts == MAX_TEXTS) return NULL;
    size_t n = strlen(template_root) + strlen(path) + 2;
    char *full = malloc(n);
    if (!full) return NULL;
    snprintf(full, n, "%s/%s", template_root, path);
    char *text = read_file(full, NULL);
    free(full);
    if (!text) return NULL;
    char *copy = malloc(strlen(path) + 1);
    if (!copy) {
        free(text);
        return NULL;
    }
    strcpy(copy, path);
    texts[n_texts].path = copy;
    texts[n_texts].text = text;
    n_texts++;
    return text;
}

/* ---- messages ---- */
static const char *kernel_name_arg;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dsa_prebuild: %s: ", kernel_name_arg);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- specializations ---- */
#define MAX_VARIANTS 16
static const dsa_dtype variant_dtypes[] = {DSA_BF16, DSA_FP16, DSA_FP32, DSA_FP8_E4M3};
#define N_VARIANT_DTYPES ((int)(sizeof variant_dtypes / sizeof variant_dtypes[0]))

static int accepted(const dsa_kernel_def *k, const dsa_spec *s) { return dsa_spec_check(k, s, NULL) == DSA_SUCCESS; }

/* The values a dtype field takes: the default, then, when the kernel's rules look at the field
 * (some of bf16, fp16, fp32, fp8 are refused with the other field at its default), each accepted
 * one. A field the rules ignore keeps its default: the plans set only the dtypes a kernel reads,
 * so variants of an ignored field would be identical binaries nobody asks for. */
static int field_values(const dsa_kernel_def *k, int out_field, dsa_dtype *values)
{
    dsa_dtype def = out_field ? k->defaults.out_dtype : k->defaults.in_dtype;
    int n = 0, refused = 0;
    dsa_dtype ok[N_VARIANT_DTYPES];
    int n_ok = 0;
    values[n++] = def;
    for (int i = 0; i < N_VARIANT_DTYPES; i++) {
        dsa_spec s = k->defaults;
        if (out_field)
            s.out_dtype = variant_dtypes[i];
        else
            s.in_dtype = variant_dtypes[i];
        if (accepted(k, &s))
            ok[n_ok++] = variant_dtypes[i];
        else
            refused = 1;
    }
    if (refused)
        for (int i = 0; i < n_ok; i++)
            if (ok[i] != def) values[n++] = ok[i];
    return n;
}

/* The default first, then in_dtype x out_dtype combinations the rules accept. */
static int variants(const dsa_kernel_def *k, dsa_spec *out)
{
    dsa_dtype ins[N_VARIANT_DTYPES + 1], outs[N_VARIANT_DTYPES + 1];
    int n_in = field_values(k, 0, ins), n_out = field_values(k, 1, outs), n = 0;
    for (int i = 0; i < n_in; i++)
        for (int o = 0; o < n_out && n < MAX_VARIANTS; o++) {
            dsa_spec s = k->defaults;
            s.in_dtype = ins[i];
            s.out_dtype = outs[o];
            dsa_status st = dsa_spec_check(k, &s, NULL);
            if (st == DSA_SUCCESS) {
                out[n++] = s;
            } else if (i == 0 && o == 0) {
                char txt[384];
                dsa_spec_format(&s, txt, sizeof txt);
                fprintf(stderr, "dsa_prebuild: %s: warning: the default specialization [%s] is refused by the "
                                "kernel's own rules, nothing is prebuilt for it: %s\n",
                        k->name, txt, dsa_last_error());
                return 0;
            }
        }
    return n;
}

/* ---- compiled binaries ---- */
typedef struct blob {
    unsigned char *data;
    size_t size;
} blob;

typedef struct entry {
    const char *target;
    dsa_spec spec;
    int blob;
} entry;

#define MAX_ENTRIES (3 * MAX_VARIANTS)
static blob blobs[MAX_ENTRIES];
static entry entries[MAX_ENTRIES];
static int n_blobs, n_entries, n_failed;

static void add_entry(const char *target, const dsa_spec *spec, void *data, size_t size)
{
    if (n_entries == MAX_ENTRIES) {
        free(data);
        return;
    }
    int same = -1;
    for (int i = 0; i < n_blobs && same < 0; i++)
        if (blobs[i].size == size && memcmp(blobs[i].data, data, size) == 0) same = i;
    int b = same;
    if (same < 0) {
        b = n_blobs++;
        blobs[b].data = data;
        blobs[b].size = size;
    } else {
        free(data);
    }
    entries[n_entries].target = target;
    entries[n_entries].spec = *spec;
    entries[n_entries].blob = b;
    n_entries++;
}

static void compile_failed(const char *target, const dsa_spec *spec, const char *what)
{
    char txt[384];
    dsa_spec_format(spec, txt, sizeof txt);
    n_failed++;
    fprintf(stderr,
            "dsa_prebuild: %s: warning: %s [%s] %s, left out of the build-time table (compiled at run time "
            "instead): %s\n",
            kernel_name_arg, target, txt, what, dsa_last_error());
}

#ifdef DSA_PREBUILT_CUDA
static void build_cuda(const dsa_kernel_def *k, const dsa_spec *specs, int n)
{
    static const char *const archs[] = {"sm_80", "sm_90a"};
    static const char *const targets[] = {"cuda:sm_80", "cuda:sm_90a"};
    dsa_nvrtc *nv = NULL;
    if (dsa_nvrtc_open(&nv) != DSA_SUCCESS) {
        note("warning: NVRTC cannot be loaded, no CUDA binaries are prebuilt: %s", dsa_last_error());
        return;
    }
    for (int a = 0; a < 2; a++) {
        for (int i = 0; i < n; i++) {
            char *source = NULL;
            if (dsa_generate(k, DSA_DIALECT_CUDA, &specs[i], &source) != DSA_SUCCESS) {
                compile_failed(targets[a], &specs[i], "cannot be generated");
                continue;
            }
            void *cubin = NULL;
            size_t size = 0;
            dsa_status st = dsa_nvrtc_compile(nv, source, k->name, archs[a], 1, NULL, 0, &cubin, &size);
            free(source);
            if (st == DSA_ERROR_UNSUPPORTED) {
                note("warning: this NVRTC cannot target %s, no %s binaries are prebuilt: %s", archs[a], targets[a],
                     dsa_last_error());
                break;
            }
            if (st != DSA_SUCCESS) {
                compile_failed(targets[a], &specs[i], "does not compile");
                continue;
            }
            add_entry(targets[a], &specs[i], cubin, size);
        }
    }
}
#endif

#ifdef DSA_PREBUILT_SPIRV
static void build_spirv(const dsa_kernel_def *k, const dsa_spec *specs, int n)
{
    for (int i = 0; i < n; i++) {
        char *source = NULL;
        if (dsa_generate(k, DSA_DIALECT_GLSL, &specs[i], &source) != DSA_SUCCESS) {
            compile_failed("spirv", &specs[i], "cannot be generated");
            continue;
        }
        uint32_t *words = NULL;
        size_t count = 0;
        dsa_status st = dsa_glsl_to_spirv(source, k->name, DSA_SPIRV_1_3, &words, &count);
        free(source);
        if (st != DSA_SUCCESS) {
            compile_failed("spirv", &specs[i], "does not compile");
            continue;
        }
        if (dsa_spirv_validate(words, count, 1) != DSA_SUCCESS) {
            compile_failed("spirv", &specs[i], "does not validate for Vulkan 1.1");
            free(words);
            continue;
        }
        add_entry("spirv", &specs[i], words, count * sizeof(uint32_t));
    }
}
#endif

/* ---- output ---- */
typedef struct outbuf {
    char *p;
    size_t len, cap;
    int failed;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->failed) return;
    if (o->cap - o->len < n + 1) {
        size_t ncap = o->cap ? o->cap : 1 << 16;
        while (ncap - o->len < n + 1) ncap *= 2;
        char *np = realloc(o->p, ncap);
        if (!np) {
            o->failed = 1;
            return;
        }
        o->p = np;
        o->cap = ncap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(outbuf *o, const char *s) { put(o, s, strlen(s)); }

static void putf(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(outbuf *o, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) {
        o->failed = 1;
        return;
    }
    put(o, buf, (size_t)n);
}

static void put_hex(outbuf *o, const unsigned char *data, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    char line[16 * 5 + 2];
    for (size_t i = 0; i < size; i += 16) {
        size_t n = 0;
        for (size_t j = i; j < size && j < i + 16; j++) {
            line[n++] = '0';
            line[n++] = 'x';
            line[n++] = digits[data[j] >> 4];
            line[n++] = digits[data[j] & 15];
            line[n++] = ',';
        }
        line[n++] = '\n';
        put(o, line, n);
    }
}

static void put_spec(outbuf *o, const dsa_spec *s)
{
    int n;
    const dsa_spec_field *f = dsa_spec_fields(&n);
    put(o, "{", 1);
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)s + f[i].offset;
        if (f[i].is_dtype) {
            dsa_dtype t;
            memcpy(&t, p, sizeof t);
            putf(o, "%s.%s = (dsa_dtype)%d", i ? ", " : "", f[i].name, (int)t);
        } else {
            int v;
            memcpy(&v, p, sizeof v);
            putf(o, "%s.%s = %d", i ? ", " : "", f[i].name, v);
        }
    }
    put(o, "}", 1);
}

static void emit(outbuf *o, const char *kernel, const char *ident, const char *skipped)
{
    putf(o, "/* Generated by tools/prebuild/prebuild.c (dsa_prebuild) for kernel %s: do not edit. */\n", kernel);
    if (skipped) putf(o, "/* Nothing prebuilt: %s. */\n", skipped);
    puts_(o, "#include \"prebuilt.h\"\n\n#include <stddef.h>\n\n");
    for (int b = 0; b < n_blobs; b++) {
        putf(o, "static _Alignas(16) const unsigned char bin_%d[%zu] = {\n", b, blobs[b].size);
        put_hex(o, blobs[b].data, blobs[b].size);
        put(o, "};\n", 3);
    }
    if (n_entries == 0) {
        putf(o, "const dsa_prebuilt_entry dsa_prebuilt_%s[1] = {{NULL, NULL, {.block = 0}, NULL, 0}};\n", ident);
    } else {
        putf(o, "\nconst dsa_prebuilt_entry dsa_prebuilt_%s[%d] = {\n", ident, n_entries);
        for (int i = 0; i < n_entries; i++) {
            putf(o, "    {\"%s\", \"%s\",\n     ", entries[i].target, kernel);
            put_spec(o, &entries[i].spec);
            putf(o, ",\n     bin_%d, %zu},\n", entries[i].blob, blobs[entries[i].blob].size);
        }
        put(o, "};\n", 3);
    }
    putf(o, "const int dsa_prebuilt_%s_count = %d;\n", ident, n_entries);
}

/* Writes path only when its content differs (the build then leaves the object as it is), unless
 * always (--always-write: for build tools that compare times only). */
static int write_if_changed(const char *path, const outbuf *o, int always)
{
    size_t old_size = 0;
    char *old = always ? NULL : read_file(path, &old_size);
    int same = old && old_size == o->len && memcmp(old, o->p, o->len) == 0;
    free(old);
    if (same) return 0;
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(o->p, 1, o->len, f) == o->len;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "dsa_prebuild: cannot write %s\n", path);
        remove(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: dsa_prebuild --templates DIR --kernel NAME --out FILE.c [--always-write]\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    int always_write = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--templates") == 0)
            template_root = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--kernel") == 0)
            kernel_name_arg = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--out") == 0)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--always-write") == 0)
            always_write = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!template_root || !kernel_name_arg || !out_path) {
        usage();
        return 2;
    }
    char ident[128];
    size_t il = strlen(kernel_name_arg);
    if (il == 0 || il >= sizeof ident) {
        usage();
        return 2;
    }
    for (size_t i = 0; i <= il; i++) {
        char c = kernel_name_arg[i];
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        ident[i] = c == '\0' ? '\0' : word ? c : '_';
    }

    double t0 = now_s();
    const char *skipped = NULL;
    const dsa_kernel_def *k = dsa_kernel_find(kernel_name_arg);
    dsa_spec specs[MAX_VARIANTS];
    int n_specs = 0;
    if (!k) {
        skipped = "the template is not in the kernel registry (templates/family_*.c)";
        note("note: %s; nothing is prebuilt", skipped);
    } else if (!k->source) {
        skipped = "the kernel's template text was not found";
        note("warning: %s; nothing is prebuilt", skipped);
    } else {
        n_specs = variants(k, specs);
#ifdef DSA_PREBUILT_CUDA
        build_cuda(k, specs, n_specs);
#endif
#ifdef DSA_PREBUILT_SPIRV
        build_spirv(k, specs, n_specs);
#endif
    }

    outbuf o = {0};
    emit(&o, kernel_name_arg, ident, skipped);
    if (o.failed) {
        fprintf(stderr, "dsa_prebuild: out of memory writing %s\n", out_path);
        return 1;
    }
    if (write_if_changed(out_path, &o, always_write) != 0) return 1;
    size_t bytes = 0;
    for (int b = 0; b < n_blobs; b++) bytes += blobs[b].size;
    if (k && k->source)
        fprintf(n_failed ? stderr : stdout, "dsa_prebuild: %s: %d specialization%s, %d binar%s (%zu KiB) in %.1f s%s\n",
                kernel_name_arg, n_specs, n_specs == 1 ? "" : "s", n_entries, n_entries == 1 ? "y" : "ies",
                (bytes + 1023) / 1024, now_s() - t0,
                n_failed ? "; some did not compile (warnings above): the library compiles those at run time" : "");
    free(o.p);
    for (int b = 0; b < n_blobs; b++) free(blobs[b].data);
    return 0;
}
