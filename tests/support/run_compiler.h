/* Test helper: runs an offline compiler (clang, clang-15 for HIP, glslang, ...) as a child process,
 * its stderr captured, for the compile checks of tests/test_internal_codegen.c and
 * tests/test_internal_hip.c. Header-only: each test is one executable from one source file. */
#ifndef DSA_TESTS_RUN_COMPILER_H
#define DSA_TESTS_RUN_COMPILER_H

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs argv (argv[0] looked up in PATH) with stderr to `out`.log; returns 0 when it exits 0 and
 * wrote `out`, 1 on a compile failure (its stderr in log), -1 if the program is not installed.
 * `out` and the log file are removed afterwards. */
static int run_compiler(char *const argv[], const char *out, char *log, size_t log_len)
{
    char err_path[256];
    snprintf(err_path, sizeof err_path, "%s.log", out);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    FILE *f = fopen(err_path, "r");
    size_t n = f ? fread(log, 1, log_len - 1, f) : 0;
    log[n] = '\0';
    if (f) fclose(f);
    unlink(err_path);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(out, F_OK) == 0;
    unlink(out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return -1; /* spawned, but not found */
    return ok ? 0 : 1;
}

#endif
