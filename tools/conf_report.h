/* Results of one `dsa conformance` run over several devices, and their JSON and Markdown forms.
 * Kept apart from the runner so that the report formats can change without touching the loop. */
#ifndef DSA_TOOL_CONF_REPORT_H
#define DSA_TOOL_CONF_REPORT_H

#include "conformance.h"
#include "dsa.h"

#include <stddef.h>

typedef struct run_device {
    char selector[64];
    dsa_device_info info;
    int have_info;
    char error[768];      /* context creation failed: "STATUS: message"; "" otherwise */
    conf_result *results; /* one per case of the session, NULL if the device did not run */
    int counts[4];        /* indexed by CONF_PASS .. CONF_ERROR */
    double seconds;
} run_device;

typedef struct run_session {
    const conf_case *cases; /* the cases run on every device (after --op filtering) */
    int n_cases;
    int quick;
    char date[48];
    run_device *devices;
    int n_devices;
} run_session;

const char *report_status_name(int status); /* "PASS", "FAIL", "UNSUPPORTED", "ERROR" */

/* Return 1 on success; 0 with err filled otherwise. */
int report_write_json(const run_session *s, const char *path, char *err, size_t errlen);
int report_write_markdown(const run_session *s, const char *path, char *err, size_t errlen);

#endif
