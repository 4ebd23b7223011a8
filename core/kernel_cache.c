/* The on-disk kernel binary cache (kernel_cache.h; DESIGN.md invariant 6). The cache is an
 * optimization: nothing here fails an operation except a caller's own mistake (a bad tag, a NULL
 * pointer). Readers trust nothing they did not verify; writers publish whole files by rename. */
#include "kernel_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

#define CACHE_PATH_MAX 4096
#define CACHE_FORMAT_VERSION 1u
#define CACHE_TAG_FIELD 32
/* magic[8] version:u32 reserved:u32 key:u64 payload_size:u64 payload_xxh64:u64 tag[32] */
#define CACHE_HEADER_SIZE (8 + 4 + 4 + 8 + 8 + 8 + CACHE_TAG_FIELD)
#define OFF_VERSION 8
#define OFF_RESERVED 12
#define OFF_KEY 16
#define OFF_SIZE 24
#define OFF_SUM 32
#define OFF_TAG 40

static const unsigned char cache_magic[8] = {'D', 'S', 'A', 'K', 'C', '1', 0, 0};

/* ---- keys -------------------------------------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A chain of seeded XXH3-64 hashes: each part's length (or a marker for NULL), then its bytes, each
 * seeded with the hash so far, and the part count last. No state to allocate, and the lengths make
 * the encoding of the sequence unambiguous. */
dsa_cache_key dsa_cache_key_make(const char *const *parts, int n)
{
    if (!parts || n < 0) n = 0;
    uint64_t h = UINT64_C(0x64736120636163); /* "dsa cac" */
    unsigned char len[8];
    for (int i = 0; i < n; i++) {
        const char *s = parts[i];
        uint64_t l = s ? (uint64_t)strlen(s) : UINT64_MAX;
        put_u64(len, l);
        h = XXH3_64bits_withSeed(len, sizeof len, h);
        if (s) h = XXH3_64bits_withSeed(s, (size_t)l, h);
    }
    put_u64(len, (uint64_t)n);
    h = XXH3_64bits_withSeed(len, sizeof len, h);
    dsa_cache_key key = {h};
    return key;
}

/* ---- the directory ----------------------------------------------------------------------------- */

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char warned_dir[CACHE_PATH_MAX];

void dsa_cache_reset_warnings(void)
{
    pthread_mutex_lock(&warn_lock);
    warned_dir[0] = '\0';
    pthread_mutex_unlock(&warn_lock);
}

/* One warning per directory (the last one warned about), however often it is tried. */
static void warn_unusable(const char *dir, const char *why)
{
    pthread_mutex_lock(&warn_lock);
    int fresh = strcmp(warned_dir, dir) != 0;
    if (fresh) snprintf(warned_dir, sizeof warned_dir, "%s", dir);
    pthread_mutex_unlock(&warn_lock);
    if (fresh)
        dsa_log(DSA_LOG_WARN, "cache", "kernel cache disabled: cannot use directory '%s': %s", dir, why);
}

/* mkdir -p with mode for every directory it creates. 0, or -1 with errno. */
static int make_dirs(char *path, mode_t mode)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        if (p[-1] == '/') continue; /* "a//b" */
        *p = '\0';
        int rc = mkdir(path, mode);
        int err = errno;
        *p = '/';
        if (rc != 0 && err != EEXIST) {
            errno = err;
            return -1;
        }
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int dsa_cache_dir(char *buf, size_t len)
{
    if (!buf || len == 0) return 0;
    buf[0] = '\0';
    char dir[CACHE_PATH_MAX];
    int n;
    const char *env = getenv("DSA_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env) {
        if (strcmp(env, "off") == 0) return 0;
        n = snprintf(dir, sizeof dir, "%s", env);
    } else if (xdg && xdg[0] == '/') { /* the XDG spec ignores a relative XDG_CACHE_HOME */
        n = snprintf(dir, sizeof dir, "%s/libdsa", xdg);
    } else if (home && *home) {
        n = snprintf(dir, sizeof dir, "%s/.cache/libdsa", home);
    } else {
        warn_unusable("$HOME/.cache/libdsa", "neither DSA_CACHE_DIR, XDG_CACHE_HOME nor HOME is set");
        return 0;
    }
    if (n < 0 || (size_t)n >= sizeof dir || (size_t)n + 64 >= sizeof dir) {
        warn_unusable(env && *env ? "DSA_CACHE_DIR" : "the default cache directory", "path too long");
        return 0;
    }
    if (make_dirs(dir, 0700) != 0) {
        warn_unusable(dir, strerror(errno));
        return 0;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        warn_unusable(dir, strerror(errno));
        return 0;
    }
    if (strlen(dir) >= len) return 0;
    memcpy(buf, dir, strlen(dir) + 1);
    return 1;
}

int dsa_cache_enabled(void)
{
    char dir[CACHE_PATH_MAX];
    return dsa_cache_dir(dir, sizeof dir);
}

/* ---- entries ----------------------------------------------------------------------------------- */

static int valid_tag(const char *tag)
{
    if (!tag) return 0;
    size_t n = strlen(tag);
    if (n == 0 || n > DSA_CACHE_TAG_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_' || c == '.';
        if (!ok) return 0;
    }
    return 1;
}

static dsa_status bad_tag(const char *fn, const char *tag)
{
    if (!tag) return dsa_fail(DSA_ERROR_NULL_POINTER, "%s: tag is NULL", fn);
    return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "%s: tag '%.64s' is invalid, expected 1..%d characters of [A-Za-z0-9._-]",
                    fn, tag, DSA_CACHE_TAG_MAX);
}

static int entry_path(const char *dir, dsa_cache_key key, const char *tag, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%016" PRIx64 "-%s.bin", dir, key.hash, tag);
    return n >= 0 && (size_t)n < len;
}

dsa_status dsa_cache_entry_path(dsa_cache_key key, const char *tag, char *buf, size_t len)
{
    if (!buf) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cache_entry_path: buf is NULL");
    if (!valid_tag(tag)) return bad_tag("dsa_cache_entry_path", tag);
    char dir[CACHE_PATH_MAX];
    if (!dsa_cache_dir(dir, sizeof dir))
        return dsa_fail(DSA_ERROR_UNSUPPORTED, "dsa_cache_entry_path: the kernel cache is disabled");
    if (!entry_path(dir, key, tag, buf, len))
        return dsa_fail(DSA_ERROR_INVALID_ARGUMENT, "dsa_cache_entry_path: len %zu is too small", len);
    return DSA_SUCCESS;
}

static void fill_header(unsigned char *h, dsa_cache_key key, const char *tag, uint64_t size, uint64_t sum)
{
    memset(h, 0, CACHE_HEADER_SIZE);
    memcpy(h, cache_magic, sizeof cache_magic);
    put_u32(h + OFF_VERSION, CACHE_FORMAT_VERSION);
    put_u32(h + OFF_RESERVED, 0);
    put_u64(h + OFF_KEY, key.hash);
    put_u64(h + OFF_SIZE, size);
    put_u64(h + OFF_SUM, sum);
    memcpy(h + OFF_TAG, tag, strlen(tag)); /* valid_tag: < CACHE_TAG_FIELD, the rest stays NUL */
}

/* Reads up to n bytes; the count read (short only at end of file), or -1 with errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* Removes a bad entry, but only if the path still names the file that was read: another process
 * may have renamed a good entry over it since. Best effort. */
static void remove_bad(const char *path, int fd, const char *why)
{
    struct stat mine, now;
    int same = fstat(fd, &mine) == 0 && stat(path, &now) == 0 && mine.st_dev == now.st_dev &&
               mine.st_ino == now.st_ino;
    int removed = same && unlink(path) == 0;
    dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: %s (%s)", path, why,
            removed ? "removed" : same ? "could not remove it" : "already replaced");
}

dsa_status dsa_cache_load(dsa_cache_key key, const char *tag, void **data, size_t *size)
{
    if (!data) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cache_load: data is NULL");
    *data = NULL;
    if (!size) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cache_load: size is NULL");
    *size = 0;
    if (!valid_tag(tag)) return bad_tag("dsa_cache_load", tag);

    char dir[CACHE_PATH_MAX], path[CACHE_PATH_MAX];
    if (!dsa_cache_dir(dir, sizeof dir)) return DSA_SUCCESS;
    if (!entry_path(dir, key, tag, path, sizeof path)) return DSA_SUCCESS;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: %s", path, errno == ENOENT ? "no entry" : strerror(errno));
        return DSA_SUCCESS;
    }
    char why[160];
    unsigned char h[CACHE_HEADER_SIZE], want_tag[CACHE_TAG_FIELD];
    void *payload = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: fstat: %s", path, strerror(errno));
        close(fd);
        return DSA_SUCCESS;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "not a regular file");
        goto bad;
    }
    ssize_t got = read_full(fd, h, sizeof h);
    if (got < 0) {
        dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: read: %s", path, strerror(errno));
        close(fd);
        return DSA_SUCCESS;
    }
    if ((size_t)got < sizeof h) {
        snprintf(why, sizeof why, "truncated header (%zd of %d bytes)", got, CACHE_HEADER_SIZE);
        goto bad;
    }
    if (memcmp(h, cache_magic, sizeof cache_magic) != 0) {
        snprintf(why, sizeof why, "bad magic");
        goto bad;
    }
    if (get_u32(h + OFF_VERSION) != CACHE_FORMAT_VERSION) {
        snprintf(why, sizeof why, "format version %" PRIu32 ", expected %u", get_u32(h + OFF_VERSION),
                 CACHE_FORMAT_VERSION);
        goto bad;
    }
    if (get_u64(h + OFF_KEY) != key.hash) {
        snprintf(why, sizeof why, "key %016" PRIx64 " in the header, expected %016" PRIx64, get_u64(h + OFF_KEY),
                 key.hash);
        goto bad;
    }
    memset(want_tag, 0, sizeof want_tag);
    memcpy(want_tag, tag, strlen(tag));
    if (memcmp(h + OFF_TAG, want_tag, sizeof want_tag) != 0) {
        snprintf(why, sizeof why, "tag in the header is not '%s'", tag);
        goto bad;
    }
    uint64_t psize = get_u64(h + OFF_SIZE);
    uint64_t fsize = (uint64_t)st.st_size - CACHE_HEADER_SIZE; /* st_size >= header: the read got it all */
    if (st.st_size < CACHE_HEADER_SIZE || psize != fsize) {
        snprintf(why, sizeof why, "payload size %" PRIu64 " in the header, %" PRIu64 " in the file", psize, fsize);
        goto bad;
    }
    if (psize > (uint64_t)SIZE_MAX - 1) {
        snprintf(why, sizeof why, "payload size %" PRIu64 " too large", psize);
        goto bad;
    }
    payload = malloc(psize ? (size_t)psize : 1);
    if (!payload) {
        dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: out of memory for %" PRIu64 " bytes", path, psize);
        close(fd);
        return DSA_SUCCESS;
    }
    got = read_full(fd, payload, (size_t)psize);
    if (got < 0) {
        dsa_log(DSA_LOG_DEBUG, "cache", "miss: %s: read: %s", path, strerror(errno));
        free(payload);
        close(fd);
        return DSA_SUCCESS;
    }
    if ((uint64_t)got != psize) {
        snprintf(why, sizeof why, "truncated payload (%zd of %" PRIu64 " bytes)", got, psize);
        goto bad;
    }
    uint64_t sum = XXH64(payload, (size_t)psize, 0);
    if (sum != get_u64(h + OFF_SUM)) {
        snprintf(why, sizeof why, "payload checksum %016" PRIx64 ", header says %016" PRIx64, sum,
                 get_u64(h + OFF_SUM));
        goto bad;
    }
    close(fd);
    dsa_log(DSA_LOG_DEBUG, "cache", "hit: %s (%" PRIu64 " bytes)", path, psize);
    *data = payload;
    *size = (size_t)psize;
    return DSA_SUCCESS;

bad:
    free(payload);
    remove_bad(path, fd, why);
    close(fd);
    return DSA_SUCCESS;
}

dsa_status dsa_cache_store(dsa_cache_key key, const char *tag, const void *data, size_t size)
{
    if (!valid_tag(tag)) return bad_tag("dsa_cache_store", tag);
    if (!data && size > 0) return dsa_fail(DSA_ERROR_NULL_POINTER, "dsa_cache_store: data is NULL, size %zu", size);

    char dir[CACHE_PATH_MAX], path[CACHE_PATH_MAX], tmp[CACHE_PATH_MAX];
    if (!dsa_cache_dir(dir, sizeof dir)) return DSA_SUCCESS;
    if (!entry_path(dir, key, tag, path, sizeof path)) return DSA_SUCCESS;
    int n = snprintf(tmp, sizeof tmp, "%s/.tmp-%016" PRIx64 "-%s.XXXXXX", dir, key.hash, tag);
    if (n < 0 || (size_t)n >= sizeof tmp) return DSA_SUCCESS;

    int fd = mkstemp(tmp);
    if (fd < 0) {
        dsa_log(DSA_LOG_WARN, "cache", "store %s: cannot create a temporary file: %s", path, strerror(errno));
        return DSA_SUCCESS;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    unsigned char h[CACHE_HEADER_SIZE];
    fill_header(h, key, tag, (uint64_t)size, XXH64(size ? data : "", size, 0));
    const char *step = "write";
    int ok = write_full(fd, h, sizeof h) == 0 && (size == 0 || write_full(fd, data, size) == 0);
    int err = errno;
    if (close(fd) != 0 && ok) { /* some file systems report write errors only at close */
        ok = 0;
        err = errno;
        step = "close";
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
        step = "rename";
    }
    if (!ok) {
        unlink(tmp);
        dsa_log(DSA_LOG_WARN, "cache", "store %s: %s: %s (not cached)", path, step, strerror(err));
        return DSA_SUCCESS;
    }
    dsa_log(DSA_LOG_DEBUG, "cache", "stored %s (%zu bytes)", path, size);
    return DSA_SUCCESS;
}
