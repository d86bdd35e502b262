/* A service's run in a container: the service's program is the runtime's `run` in the
 * foreground, which passes the signals it gets to the container's init and ends with its
 * status, so the service engine supervises it like any program (restart policy, probes,
 * dependencies, logs). Each run gets a fresh writable layer over the image, and the runtime
 * lets go of it once the run ended. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errmsg.h"
#include "base/log.h"
#include "base/strv.h"
#include "container/container-internal.h"

/* A run's end being cleaned up: the runtime's delete in flight. */
struct fg {
    struct fg *next;
    struct ctr_mgr *m;
    char key[CTR_ID_LEN];
    struct ctr_cmd *cmd;
    bool held; /* droverd's stop waits for it (ctr_mgr_shutdown) */
};

static char *key_dir(struct ctr_mgr *m, const char *key)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", m->containers_dir, key) < 0 ? NULL : p;
}

/* Unmounts the run's root and removes its directory. */
static void wipe(struct ctr_mgr *m, const char *key)
{
    struct container c = {.m = m};
    snprintf(c.id, sizeof c.id, "%s", key);
    c.dir = key_dir(m, key);
    c.mounted = true;
    if (c.dir) {
        ctr_unmount_root(&c);
        (void)ctr_rm_rf(c.dir);
    }
    free(c.dir);
}

static bool pending(struct ctr_mgr *m, const char *key)
{
    for (struct fg *f = m->fg; f; f = f->next)
        if (!strcmp(f->key, key))
            return true;
    return false;
}

int ctr_foreground_prepare(struct ctr_mgr *m, const char *key, const struct ctr_spec *spec,
                           char ***ret_argv, char *err, size_t err_size)
{
    struct ctr_image *img;
    struct container c = {.m = m, .console_fd = -1};
    json_t *config = NULL;
    char *rootfs = NULL, *cfg = NULL;
    int r = 0;

    if (!m->rt.name[0])
        return errmsg_fail(err, err_size, -EOPNOTSUPP, "no OCI runtime: %s", m->rt.note);
    if (strlen(key) >= sizeof c.id)
        return errmsg_fail(err, err_size, -EINVAL, "container key '%s' too long", key);
    if (pending(m, key)) /* the last run is still being let go of: soon */
        return errmsg_fail(err, err_size, -EAGAIN, "the previous run is being cleaned up");
    char state[8192];
    snprintf(state, sizeof state, "%s/%s", m->rt.root, key);
    if (access(state, F_OK) == 0) { /* the runtime still knows a run droverd did not see end */
        ctr_foreground_release(m, key);
        return errmsg_fail(err, err_size, -EAGAIN, "the previous run is being cleaned up");
    }
    if (!(img = ctr_image_find(m, spec->image)))
        return errmsg_fail(err, err_size, -ENOENT, "no image '%s' (drover image import)",
                           spec->image);
    snprintf(c.id, sizeof c.id, "%s", key);
    wipe(m, key); /* a run droverd did not see end */
    c.spec = *spec;
    c.dir = key_dir(m, key);
    c.cgroup = strdup(key); /* one level under the runtime's own group: delete removes it */
    c.lower = ctr_image_root(m, img);
    if (!c.dir || !c.cgroup || !c.lower || asprintf(&rootfs, "%s/rootfs", c.dir) < 0 ||
        asprintf(&cfg, "%s/config.json", c.dir) < 0)
        r = errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    const char *sub[] = {"", "/upper", "/work", "/rootfs"};
    for (size_t i = 0; r == 0 && i < 4; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", c.dir, sub[i]);
        if (mkdir(p, i ? 0755 : 0700) < 0)
            r = errmsg_fail(err, err_size, -errno, "cannot create '%s': %s", p, strerror(errno));
    }
    if (r == 0)
        r = ctr_oci_config(m, &c, img, rootfs, &config, err, err_size);
    if (r == 0 && json_dump_file(config, cfg, JSON_COMPACT) < 0)
        r = errmsg_fail(err, err_size, -EIO, "cannot write '%s'", cfg);
    if (r == 0)
        r = ctr_mount_root(&c, err, err_size);
    if (r == 0 &&
        !(*ret_argv = ctr_runtime_argv(&m->rt, NULL, "run", "--bundle", c.dir, key, NULL)))
        r = errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    json_decref(config);
    if (r < 0)
        wipe(m, key);
    free(rootfs);
    free(cfg);
    free(c.dir);
    free(c.cgroup);
    free(c.lower);
    return r;
}

static void on_deleted(int status, const char *out, void *userdata)
{
    struct fg *f = userdata, **pp = &f->m->fg;
    (void)status;
    (void)out;
    wipe(f->m, f->key);
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
    if (f->held)
        ctr_shutdown_step(f->m);
    free(f);
}

void ctr_foreground_release(struct ctr_mgr *m, const char *key)
{
    struct fg *f = calloc(1, sizeof *f);
    char **argv = f ? ctr_runtime_argv(&m->rt, NULL, "delete", "--force", key, NULL) : NULL;
    if (!f || !argv || ctr_cmd_run(m, argv, -1, on_deleted, f, &f->cmd) < 0) {
        wipe(m, key);
        free(f);
    } else {
        f->m = m;
        snprintf(f->key, sizeof f->key, "%s", key);
        f->next = m->fg;
        m->fg = f;
        if (m->stopping && m->shutdown_left) { /* droverd's stop waits for this one too */
            f->held = true;
            m->shutdown_left++;
        }
    }
    strv_free(argv);
}

size_t ctr_foreground_hold(struct ctr_mgr *m)
{
    size_t n = 0;
    for (struct fg *f = m->fg; f; f = f->next, n++)
        f->held = true;
    return n;
}

void ctr_foreground_free(struct ctr_mgr *m)
{
    while (m->fg) { /* droverd stops: what the runtime has let go of goes now */
        struct fg *f = m->fg;
        m->fg = f->next;
        ctr_cmd_cancel(f->cmd);
        wipe(m, f->key);
        free(f);
    }
}

void ctr_foreground_sweep(struct ctr_mgr *m)
{
    DIR *d = opendir(m->containers_dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        char state[8192];
        if (strncmp(de->d_name, "svc", 3) || strlen(de->d_name) >= CTR_ID_LEN)
            continue;
        snprintf(state, sizeof state, "%s/%s", m->rt.root, de->d_name);
        if (access(state, F_OK) < 0) /* no run of it is left: what droverd did not see end */
            wipe(m, de->d_name);
    }
    if (d)
        closedir(d);
}
