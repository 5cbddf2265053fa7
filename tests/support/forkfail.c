/*
 * forkfail: an LD_PRELOAD library that makes fork() fail with ENOMEM while a condition the
 * test controls holds, so a real redis-server fails its BGSAVE exactly as under the kernel's
 * commit accounting (docs/domain.md section 6). Built by the test suite; never used in production.
 *
 * Conditions (read from the environment once, at load time, because Redis rewrites its
 * environment block for its process title):
 *   FORKFAIL_FLAG_FILE       fork fails while this file exists;
 *   FORKFAIL_RSS_LIMIT_FILE  fork fails while the process's VmRSS (from /proc/self/status),
 *                            in bytes, is above the decimal number of bytes in this file
 *                            (no file, or an empty one, means no limit).
 * Every decision is appended to FORKFAIL_TRACE_FILE when set: "fail rss=<bytes> limit=<bytes>"
 * or "pass rss=<bytes> limit=<bytes>".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define PATH_SIZE 4096

static char flag_file[PATH_SIZE];
static char rss_limit_file[PATH_SIZE];
static char trace_file[PATH_SIZE];

static void copy_env(const char *name, char *target) {
    const char *value = getenv(name);
    target[0] = '\0';
    if (value != NULL && strlen(value) < PATH_SIZE) {
        strcpy(target, value);
    }
}

__attribute__((constructor)) static void forkfail_init(void) {
    copy_env("FORKFAIL_FLAG_FILE", flag_file);
    copy_env("FORKFAIL_RSS_LIMIT_FILE", rss_limit_file);
    copy_env("FORKFAIL_TRACE_FILE", trace_file);
}

/* VmRSS of this process in bytes, or -1 when it cannot be read. */
static long long vm_rss_bytes(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long long kib = -1;
    if (status == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(status);
    return kib < 0 ? -1 : kib * 1024;
}

/* The RSS limit in bytes, or -1 for none. */
static long long rss_limit_bytes(void) {
    FILE *limit;
    long long bytes = -1;
    if (rss_limit_file[0] == '\0') {
        return -1;
    }
    limit = fopen(rss_limit_file, "r");
    if (limit == NULL) {
        return -1;
    }
    if (fscanf(limit, "%lld", &bytes) != 1) {
        bytes = -1;
    }
    fclose(limit);
    return bytes;
}

static void trace(const char *verdict, long long rss, long long limit) {
    FILE *out;
    if (trace_file[0] == '\0') {
        return;
    }
    out = fopen(trace_file, "a");
    if (out != NULL) {
        fprintf(out, "%s rss=%lld limit=%lld\n", verdict, rss, limit);
        fclose(out);
    }
}

pid_t fork(void) {
    static pid_t (*real_fork)(void) = NULL;
    long long rss = vm_rss_bytes();
    long long limit = rss_limit_bytes();
    int fail = 0;
    if (flag_file[0] != '\0' && access(flag_file, F_OK) == 0) {
        fail = 1;
    }
    if (limit >= 0 && rss > limit) {
        fail = 1;
    }
    trace(fail ? "fail" : "pass", rss, limit);
    if (fail) {
        errno = ENOMEM;
        return -1;
    }
    if (real_fork == NULL) {
        real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
        if (real_fork == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    return real_fork();
}
