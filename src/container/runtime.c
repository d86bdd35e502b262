/* Which OCI runtime runs containers here, and the command lines droverd gives it.
 *
 * crun is preferred where it can work: it is small and quick to start. It refuses hosts whose
 * cgroups are "hybrid" with controllers in the unified hierarchy (v1 controllers beside a v2
 * mount that holds, say, hugetlb), which runc 1.1 runs on. Both are looked for in PATH and in
 * the sbin directories (Debian installs runc in /usr/sbin). Containers need root: without it
 * no runtime is picked, and the note says so. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/strv.h"
#include "container/container-internal.h"

/* Finds name (a bare program name) in PATH and the sbin directories. */
static bool find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char buf[8192];

    snprintf(buf, sizeof buf, "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin",
             path ? path : "");
    for (char *save, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (!*dir)
            continue;
        snprintf(out, size, "%s/%s", dir, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

void ctr_runtime_pick(const char *want, const char *state_dir, struct ctr_runtime *ret)
{
    bool unified_controllers = false;
    enum proc_cgroup_layout layout = proc_cgroup_layout(&unified_controllers);
    bool crun_refuses = layout == PROC_CGROUP_HYBRID && unified_controllers;

    *ret = (struct ctr_runtime){0};
    snprintf(ret->root, sizeof ret->root, "%s/runtime", state_dir);
    if (geteuid() != 0) {
        snprintf(ret->note, sizeof ret->note,
                 "containers need droverd to run as root (rootless containers are not supported)");
        return;
    }
    if (want && *want && strcmp(want, "auto") != 0) {
        const char *base = strrchr(want, '/') ? strrchr(want, '/') + 1 : want;
        bool found = strchr(want, '/') ? access(want, X_OK) == 0 && snprintf(ret->path, sizeof ret->path, "%s", want) > 0
                                       : find_program(want, ret->path, sizeof ret->path);
        if (!found) {
            snprintf(ret->note, sizeof ret->note, "the container runtime '%s' was not found",
                     want);
            ret->path[0] = '\0';
            return;
        }
        snprintf(ret->name, sizeof ret->name, "%.15s", base);
        snprintf(ret->note, sizeof ret->note, "chosen by the configuration%s",
                 strcmp(base, "crun") == 0 && crun_refuses
                     ? " (crun refuses this host's hybrid cgroups: containers will fail)"
                     : "");
        return;
    }
    if (!crun_refuses && find_program("crun", ret->path, sizeof ret->path)) {
        snprintf(ret->name, sizeof ret->name, "crun");
        snprintf(ret->note, sizeof ret->note, "crun found; preferred where it can run");
        return;
    }
    if (find_program("runc", ret->path, sizeof ret->path)) {
        snprintf(ret->name, sizeof ret->name, "runc");
        snprintf(ret->note, sizeof ret->note, "%s",
                 crun_refuses ? "crun refuses this host's hybrid cgroups (controllers in the "
                                "unified hierarchy beside v1 ones); runc runs here"
                              : "crun not found");
        return;
    }
    ret->path[0] = '\0';
    snprintf(ret->note, sizeof ret->note, "%s",
             crun_refuses ? "crun refuses this host's hybrid cgroups and runc is not installed "
                            "(Debian package runc)"
                          : "no OCI runtime is installed (Debian packages crun or runc)");
}

char **ctr_runtime_argv(const struct ctr_runtime *rt, const char *log, const char *verb, ...)
{
    char **v = NULL;
    size_t n = 0;
    int r = strv_push(&v, &n, strdup(rt->path));
    if (r == 0)
        r = strv_push(&v, &n, strdup("--root"));
    if (r == 0)
        r = strv_push(&v, &n, strdup(rt->root));
    if (r == 0 && log) {
        r = strv_push(&v, &n, strdup("--log"));
        if (r == 0)
            r = strv_push(&v, &n, strdup(log));
        if (r == 0)
            r = strv_push(&v, &n, strdup("--log-format"));
        if (r == 0)
            r = strv_push(&v, &n, strdup("json"));
    }
    if (r == 0)
        r = strv_push(&v, &n, strdup(verb));
    va_list ap;
    va_start(ap, verb);
    for (const char *a; r == 0 && (a = va_arg(ap, const char *));)
        r = strv_push(&v, &n, strdup(a));
    va_end(ap);
    if (r < 0) {
        strv_free(v);
        return NULL;
    }
    return v;
}

char *ctr_runtime_log_error(const char *path)
{
    char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *best = NULL;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *level = json_string_value(json_object_get(j, "level"));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (level && msg && (strcmp(level, "error") == 0 || strcmp(level, "fatal") == 0)) {
            free(best);
            best = strdup(msg);
        }
        json_decref(j);
    }
    return best;
}
