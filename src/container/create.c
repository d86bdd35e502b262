/* A new container: its id, name and directories, its OCI configuration from the spec and the
 * image, then the runtime's create (ctr.c goes on from there). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/errmsg.h"
#include "base/log.h"
#include "base/macro.h"
#include "container/container-internal.h"

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 128 || n[0] == '.' || n[0] == '-')
        return false;
    for (const char *p = n; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              strchr("_.-", *p)))
            return false;
    return true;
}

/* A container's fixed parts: id, paths, its group. */
static struct container *ctr_alloc(struct ctr_mgr *m)
{
    struct container *c = calloc(1, sizeof *c);
    unsigned char rnd[6];
    if (!c)
        return NULL;
    c->m = m;
    c->console_fd = -1;
    do {
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            for (size_t i = 0; i < sizeof rnd; i++)
                rnd[i] = (unsigned char)(rand() & 0xff);
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(c->id + 2 * i, 3, "%02x", rnd[i]);
    } while (ctr_find(m, c->id));
    return c;
}

int ctr_setup_paths(struct container *c)
{
    struct ctr_mgr *m = c->m;
    c->timer = malloc(sizeof *c->timer);
    if (!c->timer || uv_timer_init(m->loop, c->timer) < 0) {
        free(c->timer);
        c->timer = NULL;
        return -ENOMEM;
    }
    c->timer->data = c;
    if (asprintf(&c->dir, "%s/%s", m->containers_dir, c->id) < 0 ||
        asprintf(&c->log_path, "%s/output.log", c->dir) < 0 ||
        asprintf(&c->cgroup, "drover-ctr.%s/%s", proc_instance(), c->id) < 0)
        return -ENOMEM;
    return 0;
}

int ctr_create(struct ctr_mgr *m, const struct ctr_spec *spec, bool start, struct ctr_wait *w,
               struct container **ret, char *err, size_t err_size)
{
    struct ctr_image *img;
    struct container *c;
    json_t *config = NULL;
    char *rootfs = NULL, *cfg_path = NULL;
    int r;

    if (m->stopping)
        return errmsg_fail(err, err_size, -ESHUTDOWN, "droverd is stopping");
    if (!m->rt.name[0])
        return errmsg_fail(err, err_size, -EOPNOTSUPP, "no OCI runtime can run containers "
                           "here: %s", m->rt.note);
    if (!spec->image || !*spec->image)
        return errmsg_fail(err, err_size, -EINVAL, "no image given");
    if (!(img = ctr_image_find(m, spec->image)))
        return errmsg_fail(err, err_size, -ENOENT, "no image '%s' (import it first: drover "
                           "image import FILE)", spec->image);
    if (spec->name && *spec->name && !name_ok(spec->name))
        return errmsg_fail(err, err_size, -EINVAL, "'%s' is not a container name (letters, "
                           "digits, '_', '.', '-'; 128 at most)", spec->name);
    if (spec->name && *spec->name && ctr_find_name(m, spec->name))
        return errmsg_fail(err, err_size, -EEXIST, "a container named '%s' exists",
                           spec->name);
    if (!(c = ctr_alloc(m)) || ctr_spec_copy(&c->spec, spec) < 0 || ctr_setup_paths(c) < 0)
        goto oom;
    if (!c->spec.name || !*c->spec.name) {
        free(c->spec.name);
        c->spec.name = strdup(c->id);
    }
    if (!c->spec.name || !(c->image_id = strdup(img->id)) || !(c->lower = ctr_image_root(m, img)) ||
        !(rootfs = ctr_path(c, "rootfs")) || !(cfg_path = ctr_path(c, "config.json")))
        goto oom;
    c->stop_signal = spec->stop_signal ? spec->stop_signal
                     : ctr_signal_parse(img->stop_signal) ? ctr_signal_parse(img->stop_signal)
                                                          : SIGTERM;
    c->stop_timeout_ms = spec->stop_timeout_ms ? spec->stop_timeout_ms : 10000;
    r = ctr_oci_config(m, c, img, rootfs, &config, err, err_size);
    if (r == 0) {
        char *sub[] = {"upper", "work", "rootfs"};
        if (mkdir(c->dir, 0700) < 0)
            r = errmsg_fail(err, err_size, -errno, "cannot create '%s': %s", c->dir,
                            strerror(errno));
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sub); i++) {
            char *p = ctr_path(c, sub[i]);
            if (!p || mkdir(p, 0755) < 0)
                r = errmsg_fail(err, err_size, -errno, "cannot create the container's "
                                "directories: %s", strerror(errno));
            free(p);
        }
        if (r == 0 && json_dump_file(config, cfg_path, JSON_COMPACT) < 0)
            r = errmsg_fail(err, err_size, -EIO, "cannot write '%s'", cfg_path);
    }
    json_decref(config);
    free(rootfs);
    free(cfg_path);
    c->created_at = ctr_now();
    if (r == 0)
        r = ctr_run_create(c, err, err_size);
    if (r < 0) {
        (void)ctr_rm_rf(c->dir);
        ctr_unref_free(c);
        return r;
    }
    c->want_start = start;
    c->next = m->containers;
    m->containers = c;
    img->users++;
    ctr_wait_push(&c->waits_run, w);
    ctr_changed(c);
    log_info("container %s (%s) of %s being created", c->spec.name, c->id, img->name);
    *ret = c;
    return 0;
oom:
    if (c)
        ctr_unref_free(c);
    free(rootfs);
    return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
}

