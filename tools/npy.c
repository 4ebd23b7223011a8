/* NumPy .npy reader and writer (see npy.h). The format: the magic "\x93NUMPY", a major and minor
 * version byte, the header length (uint16 little-endian for 1.0, uint32 for 2.0/3.0), then an
 * ASCII Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
 * with spaces and ended by '\n', then the raw data. */
#include "npy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { npy_type type; const char *descr; size_t size; } type_table[] = {
    {NPY_U8, "|u1", 1},  {NPY_I8, "|i1", 1},  {NPY_U16, "<u2", 2}, {NPY_I16, "<i2", 2},
    {NPY_F16, "<f2", 2}, {NPY_U32, "<u4", 4}, {NPY_I32, "<i4", 4}, {NPY_F32, "<f4", 4},
    {NPY_I64, "<i8", 8}, {NPY_F64, "<f8", 8},
};
#define N_TYPES (sizeof type_table / sizeof type_table[0])

const char *npy_type_descr(npy_type t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (type_table[i].type == t)
            return type_table[i].descr;
    return "?";
}

size_t npy_type_size(npy_type t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (type_table[i].type == t)
            return type_table[i].size;
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return 0;
}

/* Byte-sized types may be written with '<', '>' or '|' (NumPy writes '|'); others must be
 * little-endian, since the data is used in place on a little-endian host. */
static npy_type type_from_descr(const char *d, char *err, size_t errlen)
{
    if (strlen(d) == 3 && d[2] == '1' && (d[0] == '<' || d[0] == '>' || d[0] == '|')) {
        if (d[1] == 'u' || d[1] == 'b')
            return NPY_U8;
        if (d[1] == 'i')
            return NPY_I8;
    }
    if (d[0] == '>') {
        fail(err, errlen, "big-endian dtype '%s' is not supported (store little-endian)", d);
        return NPY_INVALID;
    }
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(type_table[i].descr, d) == 0)
            return type_table[i].type;
    fail(err, errlen, "dtype '%s' is not supported (uint8, int8, uint16, int16, float16, "
                      "uint32, int32, float32, int64, float64 are)", d);
    return NPY_INVALID;
}

/* Finds the value that follows 'key': in the header dict; NULL if absent. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "'%s'", key);
    const char *p = strstr(hdr, pattern);
    if (!p)
        return NULL;
    p += strlen(pattern);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_descr(const char *hdr, npy_array *a, char *err, size_t errlen)
{
    const char *v = dict_value(hdr, "descr");
    char descr[16];
    size_t n = 0;
    if (!v || (*v != '\'' && *v != '"'))
        return fail(err, errlen, "header has no 'descr' string (structured dtypes are not supported)");
    char quote = *v++;
    while (*v && *v != quote && n + 1 < sizeof descr)
        descr[n++] = *v++;
    descr[n] = '\0';
    if (*v != quote)
        return fail(err, errlen, "bad 'descr' in header");
    a->type = type_from_descr(descr, err, errlen);
    a->itemsize = npy_type_size(a->type);
    return a->type != NPY_INVALID;
}

static int parse_order(const char *hdr, char *err, size_t errlen)
{
    const char *v = dict_value(hdr, "fortran_order");
    if (!v)
        return fail(err, errlen, "header has no 'fortran_order'");
    if (strncmp(v, "False", 5) == 0)
        return 1;
    if (strncmp(v, "True", 4) == 0)
        return fail(err, errlen, "Fortran-order arrays are not supported (use numpy.ascontiguousarray)");
    return fail(err, errlen, "bad 'fortran_order' in header");
}

/* shape is a Python tuple of non-negative ints: "()", "(5,)", "(2, 3)". The count must not
 * overflow 64-bit sizes (checked against the data size later). */
static int parse_shape(const char *hdr, npy_array *a, char *err, size_t errlen)
{
    const char *p = dict_value(hdr, "shape");
    if (!p || *p != '(')
        return fail(err, errlen, "header has no 'shape' tuple");
    p++;
    a->rank = 0;
    a->count = 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            return 1;
        if (!isdigit((unsigned char)*p))
            return fail(err, errlen, "bad 'shape' in header");
        if (a->rank == NPY_MAX_RANK)
            return fail(err, errlen, "more than %d dimensions", NPY_MAX_RANK);
        char *end = NULL;
        unsigned long long d = strtoull(p, &end, 10);
        if (d > (unsigned long long)INT64_MAX)
            return fail(err, errlen, "dimension too large");
        if (d != 0 && a->count > UINT64_MAX / d)
            return fail(err, errlen, "shape too large");
        a->shape[a->rank++] = (int64_t)d;
        a->count *= d;
        p = end;
        if (*p == 'L')
            p++; /* Python 2 long suffix, as old NumPy wrote it */
    }
}

static int read_all(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n;
}

/* Reads the magic, version and header; leaves f at the start of the data. */
static int read_header(FILE *f, npy_array *a, char *err, size_t errlen)
{
    unsigned char pre[12];
    if (!read_all(f, pre, 10) || memcmp(pre, "\x93NUMPY", 6) != 0)
        return fail(err, errlen, "not a .npy file (bad magic)");
    int major = pre[6];
    uint32_t hlen;
    if (major == 1) {
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (!read_all(f, pre + 10, 2))
            return fail(err, errlen, "truncated header");
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
               (uint32_t)pre[11] << 24;
    } else {
        return fail(err, errlen, "unsupported .npy format version %d.%d", major, pre[7]);
    }
    if (hlen > (1u << 20))
        return fail(err, errlen, "header too long (%u bytes)", hlen);
    char *hdr = malloc(hlen + 1);
    if (!hdr)
        return fail(err, errlen, "out of memory");
    int ok = read_all(f, hdr, hlen);
    hdr[ok ? hlen : 0] = '\0';
    if (!ok)
        fail(err, errlen, "truncated header");
    ok = ok && parse_descr(hdr, a, err, errlen) && parse_order(hdr, err, errlen) &&
         parse_shape(hdr, a, err, errlen);
    free(hdr);
    return ok;
}

static int read_data(FILE *f, npy_array *a, char *err, size_t errlen)
{
    if (a->count > SIZE_MAX / a->itemsize)
        return fail(err, errlen, "array too large");
    size_t bytes = (size_t)a->count * a->itemsize;
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data)
        return fail(err, errlen, "out of memory for %zu bytes", bytes);
    if (!read_all(f, a->data, bytes))
        return fail(err, errlen, "truncated data: expected %zu bytes for the shape", bytes);
    if (fgetc(f) != EOF)
        return fail(err, errlen, "trailing bytes after the data");
    return 1;
}

int npy_load(const char *path, npy_array *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open for reading");
    int ok = read_header(f, a, err, errlen) && read_data(f, a, err, errlen);
    fclose(f);
    if (!ok)
        npy_free(a);
    return ok;
}

void npy_free(npy_array *a)
{
    free(a->data);
    a->data = NULL;
}

/* The dict, padded with spaces so that magic + length + header is a multiple of 64 bytes (what
 * NumPy does, so the data is aligned when the file is mapped). */
static size_t format_header(char *hdr, size_t cap, npy_type type, int rank, const int64_t *shape,
                            size_t prefix)
{
    size_t n = (size_t)snprintf(hdr, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                npy_type_descr(type));
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(hdr + n, cap - n, "%lld%s", (long long)shape[i],
                              (rank == 1 || i + 1 < rank) ? ", " : "");
    if (n < cap)
        n += (size_t)snprintf(hdr + n, cap - n, "), }");
    while (n < cap - 1 && (prefix + n + 1) % 64 != 0)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    return n;
}

int npy_save(const char *path, npy_type type, int rank, const int64_t *shape, const void *data,
             char *err, size_t errlen)
{
    char hdr[512];
    uint64_t count = 1;
    if (rank < 0 || rank > NPY_MAX_RANK || npy_type_size(type) == 0)
        return fail(err, errlen, "bad array description");
    for (int i = 0; i < rank; i++)
        count *= (uint64_t)shape[i];
    size_t hlen = format_header(hdr, sizeof hdr, type, rank, shape, 10);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xFF), (unsigned char)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(err, errlen, "cannot open for writing");
    size_t bytes = (size_t)count * npy_type_size(type);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen &&
             (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return fail(err, errlen, "write failed");
    return 1;
}
