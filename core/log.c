/* Logging: silent unless a callback is set or DSA_LOG names the category (DESIGN.md invariant 3). */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static dsa_log_fn log_fn;
static void *log_user;

/* DSA_LOG is read on every check rather than cached, so tests and tools may set it at run time;
 * the cost is a getenv, paid only where a message would be formatted. */
static int env_enables(const char *category)
{
    const char *env = getenv("DSA_LOG");
    if (!env || !*env) return 0;
    if (strstr(env, "all")) return 1;
    size_t n = strlen(category);
    for (const char *p = env; (p = strstr(p, category)) != NULL; p += n) {
        int starts = p == env || p[-1] == ',' || p[-1] == ' ';
        int ends = p[n] == '\0' || p[n] == ',' || p[n] == ' ';
        if (starts && ends) return 1;
    }
    return 0;
}

void dsa_set_log_callback(dsa_log_fn fn, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

int dsa_log_enabled(const char *category)
{
    pthread_mutex_lock(&log_lock);
    int has_fn = log_fn != NULL;
    pthread_mutex_unlock(&log_lock);
    return has_fn || env_enables(category);
}

void dsa_log(dsa_log_level level, const char *category, const char *fmt, ...)
{
    if (!dsa_log_enabled(category)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    dsa_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_lock);
    if (fn) {
        fn(level, category, msg, user);
        return;
    }
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "[dsa %s %s] %s\n", names[level & 3], category, msg);
}
