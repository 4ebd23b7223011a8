/* The on-disk cache of compiled kernel binaries (DESIGN.md invariant 6).
 *
 * GPU backends call it around their compilers (NVRTC, hiprtc, clBuildProgram, glslang):
 *
 *     const char *parts[] = {source, options, device_name_and_uuid, driver, dsa_version_string(), "cuda"};
 *     dsa_cache_key key = dsa_cache_key_make(parts, 6);
 *     void *bin; size_t n;
 *     dsa_cache_load(key, "cuda-cubin", &bin, &n);          // bin == NULL: a miss
 *     if (!bin) { compile...; dsa_cache_store(key, "cuda-cubin", cubin, cubin_size); }
 *     ... use bin, then free(bin)
 *
 * Where: DSA_CACHE_DIR, or "$XDG_CACHE_HOME/libdsa", or "$HOME/.cache/libdsa" (created 0700, as
 * mkdir -p would); DSA_CACHE_DIR=off disables the cache. The environment is read on every call.
 * A directory that cannot be created or written disables the cache, with one warning (category
 * "cache") per directory; it is never an error for the operation.
 *
 * An entry is "<dir>/<16 hex digits of the key>-<tag>.bin": a fixed 72-byte header (magic
 * "DSAKC1\0\0", format version, key, payload size, XXH64 of the payload, the tag NUL-padded to
 * 32 bytes; integers little-endian) then the payload. It is written to a unique temporary file in
 * the same directory and renamed over the final name, so readers see either no entry or a whole
 * one, with any number of processes and threads at once. Every field is verified on load; an entry
 * that does not verify is a miss, is removed, and the reason is logged at debug level. */
#ifndef DSA_CORE_KERNEL_CACHE_H
#define DSA_CORE_KERNEL_CACHE_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dsa_cache_key {
    uint64_t hash;
} dsa_cache_key;

/* Longest tag, without its NUL. A tag is 1..31 characters of [A-Za-z0-9._-]. */
#define DSA_CACHE_TAG_MAX 31

/* XXH3-64 over n strings, each preceded by its length, so ("ab", "c") and ("a", "bc") differ.
 * A NULL part differs from "" ; parts == NULL is taken as n == 0. */
dsa_cache_key dsa_cache_key_make(const char *const *parts, int n);

/* 1 if the cache is in use (the directory exists or was just created, and is writable). */
int dsa_cache_enabled(void);

/* The cache directory into buf (NUL-terminated) and 1 when the cache is enabled; 0 otherwise
 * (buf then holds ""). Same checks, warning and side effects as dsa_cache_enabled. */
int dsa_cache_dir(char *buf, size_t len);

/* The path an entry has (or would have). DSA_ERROR_UNSUPPORTED when the cache is disabled,
 * DSA_ERROR_INVALID_ARGUMENT for a bad tag or a buffer too small. For tools and tests. */
dsa_status dsa_cache_entry_path(dsa_cache_key key, const char *tag, char *buf, size_t len);

/* On a verified hit: DSA_SUCCESS, *data a malloc'd copy of the payload (the caller frees it; never
 * NULL, even for an empty payload) and *size its length. On a miss (no entry, a disabled cache, an
 * entry that does not verify, any I/O failure): DSA_SUCCESS with *data == NULL and *size == 0.
 * Errors only for the caller's mistakes: NULL data or size (DSA_ERROR_NULL_POINTER), a bad tag
 * (DSA_ERROR_INVALID_ARGUMENT). */
dsa_status dsa_cache_load(dsa_cache_key key, const char *tag, void **data, size_t *size);

/* Writes an entry (replacing any). I/O failures are logged (warning, category "cache") and
 * ignored: the result is DSA_SUCCESS and no temporary file is left. Errors only for the caller's
 * mistakes: data == NULL with size > 0 (DSA_ERROR_NULL_POINTER), a bad tag
 * (DSA_ERROR_INVALID_ARGUMENT). */
dsa_status dsa_cache_store(dsa_cache_key key, const char *tag, const void *data, size_t size);

/* Forgets which directories were already warned about (tests). */
void dsa_cache_reset_warnings(void);

#endif
