/* The on-disk kernel cache (core/kernel_cache.c): round trips, keys, verification of every header
 * field and the payload, the directory rules of DSA_CACHE_DIR, and many writers at once.
 * Criterion runs each test in its own process, so each sets its own environment and directory. */
#include "kernel_cache.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEADER_SIZE 72

/* ---- helpers ----------------------------------------------------------------------------------- */

static char root[256];      /* this test's temporary directory */
static char cache_dir[512]; /* DSA_CACHE_DIR, inside root, not yet created */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];
static int warn_count;

static void capture(dsa_log_level level, const char *category, const char *message, void *user)
{
    (void)user;
    if (strcmp(category, "cache") != 0) return;
    pthread_mutex_lock(&log_lock);
    if (level == DSA_LOG_WARN) warn_count++;
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof log_text - used, "%s\n", message);
    pthread_mutex_unlock(&log_lock);
}

static void clear_log(void)
{
    pthread_mutex_lock(&log_lock);
    log_text[0] = '\0';
    warn_count = 0;
    pthread_mutex_unlock(&log_lock);
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Entries in dir whose name starts with prefix ("" for all); -1 if dir cannot be opened. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    }
    closedir(d);
    return n;
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/dsa-kcache-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(cache_dir, sizeof cache_dir, "%s/cache/nested", root);
    setenv("DSA_CACHE_DIR", cache_dir, 1);
    /* Whatever a test does, nothing lands in the real home directory. */
    char home[600];
    snprintf(home, sizeof home, "%s/home", root);
    setenv("HOME", home, 1);
    unsetenv("XDG_CACHE_HOME");
    dsa_cache_reset_warnings();
    clear_log();
    dsa_set_log_callback(capture, NULL);
}

static void teardown(void)
{
    dsa_set_log_callback(NULL, NULL);
    remove_tree(root);
}

TestSuite(kernel_cache, .init = setup, .fini = teardown, .timeout = 120);

static void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static dsa_cache_key key_of(const char *source)
{
    const char *parts[] = {source, "-arch=sm_90", "NVIDIA H100 GPU-0123456789abcdef", "12040", dsa_version_string(),
                           "cuda"};
    return dsa_cache_key_make(parts, 6);
}

static void entry_path(dsa_cache_key key, const char *tag, char *buf, size_t len)
{
    cr_assert_eq(dsa_cache_entry_path(key, tag, buf, len), DSA_SUCCESS, "%s", dsa_last_error());
}

static void expect_miss(dsa_cache_key key, const char *tag)
{
    void *data = (void *)1;
    size_t size = 7;
    cr_assert_eq(dsa_cache_load(key, tag, &data, &size), DSA_SUCCESS);
    cr_assert_null(data, "expected a miss");
    cr_assert_eq(size, 0);
}

static void expect_hit(dsa_cache_key key, const char *tag, const void *want, size_t n)
{
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq(dsa_cache_load(key, tag, &data, &size), DSA_SUCCESS);
    cr_assert_not_null(data, "expected a hit");
    cr_assert_eq(size, n);
    cr_assert(memcmp(data, want, n) == 0, "payload differs");
    free(data);
}

/* ---- round trip, keys, misses ------------------------------------------------------------------ */

Test(kernel_cache, round_trip_is_bit_exact)
{
    size_t n = 100003;
    unsigned char *bin = malloc(n);
    cr_assert_not_null(bin);
    fill_pattern(bin, n, 1);
    dsa_cache_key key = key_of("__global__ void k() {}");

    cr_assert_eq(dsa_cache_enabled(), 1);
    cr_assert_eq(dsa_cache_store(key, "cuda-cubin", bin, n), DSA_SUCCESS);
    char path[1024];
    entry_path(key, "cuda-cubin", path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "no entry at %s", path);
    cr_assert_eq((size_t)st.st_size, HEADER_SIZE + n);
    char want_name[64];
    snprintf(want_name, sizeof want_name, "/%016llx-cuda-cubin.bin", (unsigned long long)key.hash);
    cr_assert(strstr(path, want_name) != NULL, "path %s", path);
    cr_assert_eq(count_entries(cache_dir, ""), 1);

    expect_hit(key, "cuda-cubin", bin, n);
    /* The same key under another tag is another entry. */
    expect_miss(key, "spirv");
    /* A store replaces an entry. */
    fill_pattern(bin, n, 2);
    cr_assert_eq(dsa_cache_store(key, "cuda-cubin", bin, n), DSA_SUCCESS);
    expect_hit(key, "cuda-cubin", bin, n);
    cr_assert_eq(count_entries(cache_dir, ""), 1);
    free(bin);

    /* An empty payload is a hit too, with a non-NULL pointer. */
    dsa_cache_key empty = key_of("");
    cr_assert_eq(dsa_cache_store(empty, "opencl-binary", NULL, 0), DSA_SUCCESS);
    void *data = NULL;
    size_t size = 1;
    cr_assert_eq(dsa_cache_load(empty, "opencl-binary", &data, &size), DSA_SUCCESS);
    cr_assert_not_null(data);
    cr_assert_eq(size, 0);
    free(data);
}

Test(kernel_cache, created_directory_is_private)
{
    cr_assert_eq(dsa_cache_enabled(), 1);
    struct stat st;
    cr_assert_eq(stat(cache_dir, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700);
    char buf[1024];
    cr_assert_eq(dsa_cache_dir(buf, sizeof buf), 1);
    cr_assert_str_eq(buf, cache_dir);
}

Test(kernel_cache, key_sensitivity)
{
    const char *ab_c[] = {"ab", "c"}, *a_bc[] = {"a", "bc"}, *abc[] = {"abc"}, *abc_e[] = {"abc", ""};
    const char *e_abc[] = {"", "abc"}, *c_ab[] = {"c", "ab"}, *nul[] = {NULL}, *emp[] = {""};
    dsa_cache_key k[8] = {
        dsa_cache_key_make(ab_c, 2), dsa_cache_key_make(a_bc, 2), dsa_cache_key_make(abc, 1),
        dsa_cache_key_make(abc_e, 2), dsa_cache_key_make(e_abc, 2), dsa_cache_key_make(c_ab, 2),
        dsa_cache_key_make(nul, 1), dsa_cache_key_make(emp, 1),
    };
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++) cr_assert_neq(k[i].hash, k[j].hash, "keys %d and %d collide", i, j);
    cr_assert_neq(dsa_cache_key_make(NULL, 0).hash, k[7].hash);
    /* Deterministic. */
    cr_assert_eq(dsa_cache_key_make(ab_c, 2).hash, k[0].hash);
    cr_assert_eq(key_of("x").hash, key_of("x").hash);

    /* One byte anywhere in a long source, or any other component, changes the key. */
    size_t n = 20000;
    char *src = malloc(n + 1);
    cr_assert_not_null(src);
    memset(src, 'a', n);
    src[n] = '\0';
    dsa_cache_key base = key_of(src);
    src[n / 2] = 'b';
    cr_assert_neq(key_of(src).hash, base.hash);
    src[n / 2] = 'a';
    cr_assert_eq(key_of(src).hash, base.hash);
    const char *p1[] = {src, "-O3", "dev", "drv", "0.1.0", "cuda"};
    const char *p2[] = {src, "-O2", "dev", "drv", "0.1.0", "cuda"};
    const char *p3[] = {src, "-O3", "dev", "drv", "0.1.1", "cuda"};
    const char *p4[] = {src, "-O3", "dev", "drv", "0.1.0", "hip"};
    cr_assert_neq(dsa_cache_key_make(p1, 6).hash, dsa_cache_key_make(p2, 6).hash);
    cr_assert_neq(dsa_cache_key_make(p1, 6).hash, dsa_cache_key_make(p3, 6).hash);
    cr_assert_neq(dsa_cache_key_make(p1, 6).hash, dsa_cache_key_make(p4, 6).hash);
    cr_assert_neq(dsa_cache_key_make(p1, 6).hash, dsa_cache_key_make(p1, 5).hash);
    free(src);
}

Test(kernel_cache, absent_key_is_a_miss)
{
    expect_miss(key_of("never stored"), "cuda-cubin");
    cr_assert(strstr(log_text, "no entry") != NULL, "log: %s", log_text);
    cr_assert_eq(warn_count, 0);
}

Test(kernel_cache, bad_arguments)
{
    dsa_cache_key key = key_of("k");
    void *data;
    size_t size;
    cr_assert_eq(dsa_cache_enabled(), 1);
    cr_assert_eq(dsa_cache_load(key, NULL, &data, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_cache_load(key, "", &data, &size), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_cache_load(key, "../x", &data, &size), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_cache_load(key, "a-tag-that-is-far-too-long-for-the-header", &data, &size),
                 DSA_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(dsa_cache_load(key, "spirv", NULL, &size), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_cache_load(key, "spirv", &data, NULL), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_cache_store(key, "spirv", NULL, 4), DSA_ERROR_NULL_POINTER);
    cr_assert_eq(dsa_cache_store(key, "sp/rv", "abcd", 4), DSA_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(dsa_last_error(), "tag") != NULL, "%s", dsa_last_error());
    cr_assert_eq(count_entries(cache_dir, ""), 0);
}

/* ---- corruption: every field is verified; a bad entry is removed and rebuilt ---------------------- */

static void patch_byte(const char *path, long offset, unsigned char x)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, offset), 1);
    b ^= x;
    cr_assert_eq(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

static void truncate_to(const char *path, off_t size)
{
    cr_assert_eq(truncate(path, size), 0, "truncate: %s", strerror(errno));
}

static void append_byte(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "z", 1), 1);
    close(fd);
}

enum corruption {
    FLIP_PAYLOAD_FIRST, FLIP_PAYLOAD_LAST, TRUNCATE_PAYLOAD, TRUNCATE_HEADER, TRUNCATE_EMPTY, TRAILING_BYTE,
    HEADER_MAGIC, HEADER_VERSION, HEADER_KEY, HEADER_SIZE_FIELD, HEADER_CHECKSUM, HEADER_TAG, CORRUPTION_COUNT
};

static const char *corrupt(const char *path, size_t n, enum corruption c)
{
    switch (c) {
    case FLIP_PAYLOAD_FIRST: patch_byte(path, HEADER_SIZE, 0x01); return "checksum";
    case FLIP_PAYLOAD_LAST: patch_byte(path, HEADER_SIZE + (long)n - 1, 0x80); return "checksum";
    case TRUNCATE_PAYLOAD: truncate_to(path, HEADER_SIZE + (off_t)n / 2); return "size";
    case TRUNCATE_HEADER: truncate_to(path, 30); return "truncated header";
    case TRUNCATE_EMPTY: truncate_to(path, 0); return "truncated header";
    case TRAILING_BYTE: append_byte(path); return "size";
    case HEADER_MAGIC: patch_byte(path, 0, 0x20); return "magic";
    case HEADER_VERSION: patch_byte(path, 8, 0x02); return "version";
    case HEADER_KEY: patch_byte(path, 16 + 3, 0x10); return "key";
    case HEADER_SIZE_FIELD: patch_byte(path, 24, 0x01); return "size";
    case HEADER_CHECKSUM: patch_byte(path, 32 + 7, 0x40); return "checksum";
    case HEADER_TAG: patch_byte(path, 40, 0x20); return "tag"; /* 'c' -> 'C' */
    default: break;
    }
    return "";
}

Test(kernel_cache, corrupt_entries_are_misses_and_rebuilt)
{
    size_t n = 4096 + 17;
    unsigned char *bin = malloc(n);
    cr_assert_not_null(bin);
    fill_pattern(bin, n, 3);
    dsa_cache_key key = key_of("corruptible");
    char path[1024];
    entry_path(key, "cuda-cubin", path, sizeof path);

    for (int c = 0; c < CORRUPTION_COUNT; c++) {
        cr_assert_eq(dsa_cache_store(key, "cuda-cubin", bin, n), DSA_SUCCESS);
        expect_hit(key, "cuda-cubin", bin, n);
        const char *why = corrupt(path, n, (enum corruption)c);
        clear_log();
        expect_miss(key, "cuda-cubin");
        cr_assert_eq(access(path, F_OK), -1, "corruption %d: the bad entry was not removed", c);
        cr_assert(strstr(log_text, why) != NULL, "corruption %d: log does not say '%s': %s", c, why, log_text);
        cr_assert(strstr(log_text, "removed") != NULL, "corruption %d: %s", c, log_text);
        cr_assert_eq(warn_count, 0);
        /* Rebuilt by the next store, then a hit. */
        cr_assert_eq(dsa_cache_store(key, "cuda-cubin", bin, n), DSA_SUCCESS);
        expect_hit(key, "cuda-cubin", bin, n);
        cr_assert_eq(unlink(path), 0);
    }
    free(bin);
}

Test(kernel_cache, entry_of_another_key_is_a_miss)
{
    unsigned char bin[64];
    fill_pattern(bin, sizeof bin, 4);
    dsa_cache_key a = key_of("a"), b = key_of("b");
    cr_assert_eq(dsa_cache_store(a, "spirv", bin, sizeof bin), DSA_SUCCESS);
    char pa[1024], pb[1024];
    entry_path(a, "spirv", pa, sizeof pa);
    entry_path(b, "spirv", pb, sizeof pb);
    cr_assert_eq(link(pa, pb), 0);
    expect_miss(b, "spirv");
    cr_assert_eq(access(pb, F_OK), -1);
    cr_assert(strstr(log_text, "key") != NULL, "%s", log_text);
    expect_hit(a, "spirv", bin, sizeof bin);
}

Test(kernel_cache, directory_at_entry_path_is_a_miss)
{
    dsa_cache_key key = key_of("dir");
    char path[1024];
    cr_assert_eq(dsa_cache_enabled(), 1);
    entry_path(key, "spirv", path, sizeof path);
    cr_assert_eq(mkdir(path, 0700), 0);
    expect_miss(key, "spirv");
    /* A store cannot replace a directory: logged, ignored, no temporary file left. */
    cr_assert_eq(dsa_cache_store(key, "spirv", "abc", 3), DSA_SUCCESS);
    cr_assert_eq(count_entries(cache_dir, ".tmp-"), 0);
    cr_assert(strstr(log_text, "rename") != NULL, "%s", log_text);
    expect_miss(key, "spirv");
}

/* ---- where the cache lives ---------------------------------------------------------------------- */

Test(kernel_cache, off_disables)
{
    char home[600], xdg[600];
    snprintf(home, sizeof home, "%s/home", root);
    snprintf(xdg, sizeof xdg, "%s/xdg", root);
    cr_assert_eq(mkdir(home, 0700), 0);
    cr_assert_eq(mkdir(xdg, 0700), 0);
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("DSA_CACHE_DIR", "off", 1);

    cr_assert_eq(dsa_cache_enabled(), 0);
    char buf[256] = "x";
    cr_assert_eq(dsa_cache_dir(buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "");
    dsa_cache_key key = key_of("off");
    cr_assert_eq(dsa_cache_store(key, "spirv", "abc", 3), DSA_SUCCESS);
    expect_miss(key, "spirv");
    cr_assert_eq(dsa_cache_entry_path(key, "spirv", buf, sizeof buf), DSA_ERROR_UNSUPPORTED);
    cr_assert_eq(count_entries(home, ""), 0);
    cr_assert_eq(count_entries(xdg, ""), 0);
    cr_assert_eq(count_entries(root, ""), 2); /* home and xdg only: no "cache" */
    cr_assert_eq(warn_count, 0);

    /* The environment is read on every call. */
    setenv("DSA_CACHE_DIR", cache_dir, 1);
    cr_assert_eq(dsa_cache_enabled(), 1);
}

Test(kernel_cache, default_directories)
{
    char xdg[600], want[700];
    unsetenv("DSA_CACHE_DIR");
    snprintf(xdg, sizeof xdg, "%s/xdg/deep", root);
    setenv("XDG_CACHE_HOME", xdg, 1);
    snprintf(want, sizeof want, "%s/libdsa", xdg);
    char buf[1024];
    cr_assert_eq(dsa_cache_dir(buf, sizeof buf), 1);
    cr_assert_str_eq(buf, want);
    struct stat st;
    cr_assert_eq(stat(want, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);

    /* No XDG_CACHE_HOME (or a relative one, which the XDG spec says to ignore): $HOME/.cache. */
    setenv("XDG_CACHE_HOME", "relative/dir", 1);
    snprintf(want, sizeof want, "%s/home/.cache/libdsa", root);
    cr_assert_eq(dsa_cache_dir(buf, sizeof buf), 1);
    cr_assert_str_eq(buf, want);
    unsetenv("XDG_CACHE_HOME");
    setenv("DSA_CACHE_DIR", "", 1); /* empty is unset */
    cr_assert_eq(dsa_cache_dir(buf, sizeof buf), 1);
    cr_assert_str_eq(buf, want);

    dsa_cache_key key = key_of("default");
    cr_assert_eq(dsa_cache_store(key, "spirv", "abcd", 4), DSA_SUCCESS);
    expect_hit(key, "spirv", "abcd", 4);
    cr_assert_eq(count_entries(want, ""), 1);
}

static void check_unusable(const char *dir)
{
    setenv("DSA_CACHE_DIR", dir, 1);
    clear_log();
    dsa_cache_key key = key_of("unusable");
    for (int i = 0; i < 3; i++) cr_assert_eq(dsa_cache_enabled(), 0);
    cr_assert_eq(dsa_cache_store(key, "spirv", "abcd", 4), DSA_SUCCESS);
    expect_miss(key, "spirv");
    cr_assert_eq(warn_count, 1, "expected one warning, got %d: %s", warn_count, log_text);
    cr_assert(strstr(log_text, dir) != NULL, "%s", log_text);
}

Test(kernel_cache, unusable_directory_is_a_logged_no_op)
{
    /* Under a regular file: no one can create it, root included. */
    char file[600], under[700];
    snprintf(file, sizeof file, "%s/a-file", root);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(under, sizeof under, "%s/sub/dir", file);
    check_unusable(under);
    check_unusable(file); /* a file where the directory should be */
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    cr_assert_eq(st.st_size, 0);

    /* A directory without write permission (permissions do not bind root). */
    if (geteuid() != 0) {
        char ro[600];
        snprintf(ro, sizeof ro, "%s/read-only", root);
        cr_assert_eq(mkdir(ro, 0500), 0);
        check_unusable(ro);
        cr_assert_eq(count_entries(ro, ""), 0);
    }
}

/* ---- many writers and readers at once ------------------------------------------------------------ */

#define WRITERS 8
#define ROUNDS 50
#define BIG (192 * 1024 + 5)

/* Child: ROUNDS times store its payload and load it back; every load must be a whole payload
 * among the candidates (all the same, or one per writer). Exit status 0 when all were. */
static int writer(dsa_cache_key key, const unsigned char *mine, unsigned char *const *candidates, int ncand)
{
    for (int r = 0; r < ROUNDS; r++) {
        if (dsa_cache_store(key, "cuda-cubin", mine, BIG) != DSA_SUCCESS) return 1;
        void *data = NULL;
        size_t size = 0;
        if (dsa_cache_load(key, "cuda-cubin", &data, &size) != DSA_SUCCESS) return 2;
        if (!data) return 3; /* after a store, the path always names a whole entry */
        int ok = 0;
        for (int c = 0; c < ncand && !ok; c++) ok = size == BIG && memcmp(data, candidates[c], BIG) == 0;
        free(data);
        if (!ok) return 4;
    }
    return 0;
}

static void run_writers(int distinct)
{
    unsigned char *payloads[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        payloads[w] = malloc(BIG);
        cr_assert_not_null(payloads[w]);
        fill_pattern(payloads[w], BIG, distinct ? (uint32_t)w + 10 : 10);
    }
    int ncand = distinct ? WRITERS : 1;
    dsa_cache_key key = key_of(distinct ? "race distinct" : "race");
    cr_assert_eq(dsa_cache_enabled(), 1);
    dsa_set_log_callback(NULL, NULL); /* children need no capture */

    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_geq(pids[w], 0);
        if (pids[w] == 0) _exit(writer(key, payloads[w], payloads, ncand));
    }
    /* This process reads as long as any writer runs. */
    int running = WRITERS, hits = 0, misses = 0, bad = 0, status[WRITERS];
    int done[WRITERS] = {0};
    while (running > 0) {
        void *data = NULL;
        size_t size = 0;
        cr_assert_eq(dsa_cache_load(key, "cuda-cubin", &data, &size), DSA_SUCCESS);
        if (data) {
            int ok = 0;
            for (int c = 0; c < ncand && !ok; c++) ok = size == BIG && memcmp(data, payloads[c], BIG) == 0;
            hits += ok;
            bad += !ok;
            free(data);
        } else {
            misses++;
        }
        for (int w = 0; w < WRITERS; w++) {
            if (done[w]) continue;
            pid_t p = waitpid(pids[w], &status[w], WNOHANG);
            cr_assert_geq(p, 0);
            if (p == pids[w]) {
                done[w] = 1;
                running--;
            }
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        cr_assert(WIFEXITED(status[w]), "writer %d did not exit", w);
        cr_assert_eq(WEXITSTATUS(status[w]), 0, "writer %d failed (%d)", w, WEXITSTATUS(status[w]));
    }
    cr_assert_eq(bad, 0, "%d loads returned a payload that no writer stored", bad);
    cr_log_info("reader: %d hits, %d misses", hits, misses);
    cr_assert_eq(count_entries(cache_dir, ".tmp-"), 0, "temporary files left behind");
    cr_assert_eq(count_entries(cache_dir, ""), 1);
    /* The survivor is whole. */
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq(dsa_cache_load(key, "cuda-cubin", &data, &size), DSA_SUCCESS);
    cr_assert_not_null(data);
    int ok = 0;
    for (int c = 0; c < ncand && !ok; c++) ok = size == BIG && memcmp(data, payloads[c], BIG) == 0;
    cr_assert(ok);
    free(data);
    for (int w = 0; w < WRITERS; w++) free(payloads[w]);
}

Test(kernel_cache, concurrent_processes_same_payload)
{
    run_writers(0);
}

Test(kernel_cache, concurrent_processes_distinct_payloads)
{
    run_writers(1);
}

typedef struct thread_arg {
    dsa_cache_key key;
    const unsigned char *payload;
    int result;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    const unsigned char *cand[1] = {a->payload};
    a->result = writer(a->key, a->payload, (unsigned char *const *)cand, 1);
    return NULL;
}

Test(kernel_cache, concurrent_threads)
{
    unsigned char *payload = malloc(BIG);
    cr_assert_not_null(payload);
    fill_pattern(payload, BIG, 99);
    thread_arg args[WRITERS];
    pthread_t threads[WRITERS];
    for (int t = 0; t < WRITERS; t++) {
        args[t].key = key_of("threads");
        args[t].payload = payload;
        args[t].result = -1;
        cr_assert_eq(pthread_create(&threads[t], NULL, thread_main, &args[t]), 0);
    }
    for (int t = 0; t < WRITERS; t++) {
        pthread_join(threads[t], NULL);
        cr_assert_eq(args[t].result, 0, "thread %d failed (%d)", t, args[t].result);
    }
    cr_assert_eq(count_entries(cache_dir, ".tmp-"), 0);
    cr_assert_eq(count_entries(cache_dir, ""), 1);
    free(payload);
}
