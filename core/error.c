/* Status strings and the thread-local error message (DESIGN.md invariant 3). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[2048];

dsa_status dsa_fail(dsa_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    dsa_log(DSA_LOG_DEBUG, "api", "%s: %s", dsa_status_string(status), last_message);
    return status;
}

const char *dsa_last_error(void) { return last_message; }

dsa_status_kind_t dsa_status_kind(dsa_status s)
{
    if (s == DSA_SUCCESS) return DSA_KIND_SUCCESS;
    switch ((int)s / 100) {
    case 1: return DSA_KIND_INVALID_ARGUMENT;
    case 2: return DSA_KIND_UNSUPPORTED;
    case 3: return DSA_KIND_OUT_OF_MEMORY;
    case 4: return DSA_KIND_DRIVER;
    case 5: return DSA_KIND_COMPILE;
    default: return DSA_KIND_INTERNAL;
    }
}

const char *dsa_status_string(dsa_status s)
{
    switch (s) {
#define NAME(x) case x: return #x;
    NAME(DSA_SUCCESS)
    NAME(DSA_ERROR_INVALID_ARGUMENT)
    NAME(DSA_ERROR_NULL_POINTER)
    NAME(DSA_ERROR_BAD_DTYPE)
    NAME(DSA_ERROR_BAD_SHAPE)
    NAME(DSA_ERROR_BAD_STRIDE)
    NAME(DSA_ERROR_OUT_OF_BOUNDS)
    NAME(DSA_ERROR_OVERFLOW)
    NAME(DSA_ERROR_BAD_SELECTOR)
    NAME(DSA_ERROR_ALIASING)
    NAME(DSA_ERROR_WRONG_CONTEXT)
    NAME(DSA_ERROR_UNSUPPORTED)
    NAME(DSA_ERROR_NO_DEVICE)
    NAME(DSA_ERROR_BACKEND_UNAVAILABLE)
    NAME(DSA_ERROR_OUT_OF_MEMORY)
    NAME(DSA_ERROR_DEVICE_OUT_OF_MEMORY)
    NAME(DSA_ERROR_WORKSPACE_TOO_SMALL)
    NAME(DSA_ERROR_DRIVER)
    NAME(DSA_ERROR_DEVICE_LOST)
    NAME(DSA_ERROR_COMPILE)
    NAME(DSA_ERROR_INTERNAL)
    NAME(DSA_ERROR_IO)
#undef NAME
    }
    return "unknown status";
}
