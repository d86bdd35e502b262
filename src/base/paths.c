/* Default paths (see paths.h). A relative or empty XDG variable is ignored, as the XDG base
 * directory specification requires. */
#include "base/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"

static const char *xdg(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] == '/' ? v : NULL;
}

static char *join(const char *a, const char *b)
{
    char *s;
    return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

static const char *home(void)
{
    const char *h = getenv("HOME");
    return h && h[0] == '/' ? h : "/";
}

char *paths_default_socket(void)
{
    const char *run = xdg("XDG_RUNTIME_DIR");
    char *s;

    if (run)
        return join(run, "/drover/drover.sock");
    return asprintf(&s, "/tmp/drover-%u/drover.sock", (unsigned)getuid()) < 0 ? NULL : s;
}

char *paths_default_state_dir(void)
{
    const char *state = xdg("XDG_STATE_HOME");
    char *s;

    if (state)
        return join(state, "/drover");
    return asprintf(&s, "%s/.local/state/drover", strcmp(home(), "/") ? home() : "") < 0 ? NULL : s;
}

char *paths_rp_socket(const char *scope)
{
    const char *run = xdg("XDG_RUNTIME_DIR");
    const char *dash = scope && *scope ? "-" : "", *sc = scope && *scope ? scope : "";
    char *s;
    int r =
        run ? asprintf(&s, "%s/running-process/daemon%s%s.sock", run, dash, sc)
            : asprintf(&s, "/tmp/running-process-%u/daemon%s%s.sock", (unsigned)getuid(), dash, sc);
    return r < 0 ? NULL : s;
}

char *paths_rp_db(const char *scope)
{
    const char *state = xdg("XDG_STATE_HOME");
    const char *dash = scope && *scope ? "-" : "", *sc = scope && *scope ? scope : "";
    char *s;
    int r = state ? asprintf(&s, "%s/running-process/tracked-pids%s%s.sqlite3", state, dash, sc)
                  : asprintf(&s, "%s/.local/state/running-process/tracked-pids%s%s.sqlite3",
                             strcmp(home(), "/") ? home() : "", dash, sc);
    return r < 0 ? NULL : s;
}

char *paths_default_config(void)
{
    const char *conf = xdg("XDG_CONFIG_HOME");
    char *s;

    if (conf)
        return join(conf, "/drover/drover.yaml");
    return asprintf(&s, "%s/.config/drover/drover.yaml", strcmp(home(), "/") ? home() : "") < 0
               ? NULL
               : s;
}

int paths_mkdir_p(const char *path, unsigned mode, int exact_mode)
{
    _cleanup_free_ char *p = strdup(path);
    struct stat st;

    if (!p)
        return -ENOMEM;
    if (!*p)
        return -ENOENT; /* as mkdir("") says */
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0) {
        if (errno != EEXIST)
            return -errno;
        if (stat(p, &st) < 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
        if (exact_mode && (st.st_mode & 07777) != mode) {
            if (st.st_uid != geteuid())
                return -EPERM;
            if (chmod(p, mode) < 0)
                return -errno;
        }
    }
    return 0;
}

int paths_mkdir_parent(const char *path, unsigned mode, int exact_mode)
{
    const char *slash = strrchr(path, '/');

    if (!slash || slash == path)
        return 0;
    _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
    return dir ? paths_mkdir_p(dir, mode, exact_mode) : -ENOMEM;
}

int paths_beside_self(const char *name, char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -ENOENT;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    if ((size_t)snprintf(out, size, "%s/%s", self, name) >= size)
        return -ENAMETOOLONG;
    struct stat st;
    return stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0 ? 0 : -ENOENT;
}

int paths_write_atomic(const char *path, const char *tmp, const void *data, size_t len,
                       unsigned mode)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    for (size_t done = 0; done < len;) {
        ssize_t k = write(fd, (const char *)data + done, len - done);
        if (k < 0) {
            int r = -errno;
            close(fd);
            unlink(tmp);
            return r;
        }
        done += (size_t)k;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int r = -errno;
        unlink(tmp);
        return r;
    }
    return 0;
}
