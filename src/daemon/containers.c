/* Containers: the manager made with the state directory and the runtime the configuration
 * names, its rows loaded and the containers that still run adopted (after the held sessions
 * were taken back: a terminal container's session is among them). */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "base/log.h"
#include "base/macro.h"
#include "container/container.h"
#include "daemon/daemon-internal.h"
#include "supervise/supervise.h"

int daemon_start_containers(struct daemon *d)
{
    char err[CTR_ERR_MAX] = "", *sock = strdup(d->cfg.socket_path);
    struct ctr_config cc = {
        .state_dir = d->cfg.state_dir,
        .runtime = d->cfg.container_runtime,
        .console_dir = sock ? dirname(sock) : NULL, /* short: its socket fits there */
    };
    int r = ctr_mgr_new(&d->loop, d->reaper, d->sessions, d->store, &cc, &d->containers, err,
                        sizeof err);
    free(sock);
    if (r < 0)
        return log_error_errno(r, "cannot set up containers: %s", err);
    d->host.containers = d->containers;
    r = ctr_mgr_restore(d->containers);
    if (r < 0)
        return log_error_errno(r, "cannot load the containers");
    return 0;
}

/* ---- services with an image ---- */

static void svc_key(uint32_t id, char key[CTR_ID_LEN])
{
    snprintf(key, CTR_ID_LEN, "svc%08x", id);
}

/* The service's definition as a container's: its command (else the image's), environment,
 * working directory inside, user, limits, volumes. */
static int svc_prepare(void *userdata, uint32_t id, const struct svc_config *c, char ***ret_argv,
                       char *err, size_t err_size)
{
    struct daemon *d = userdata;
    struct ctr_mount mounts[32];
    char key[CTR_ID_LEN], user[32], name[64], vols[32][512];
    size_t n = 0;

    for (size_t i = 0; c->ctr.volumes && c->ctr.volumes[i]; i++, n++) {
        char *v = vols[n], *c2, *c3;
        if (n == ARRAY_SIZE(mounts))
            return snprintf(err, err_size, "more than %zu volumes", n), -EINVAL;
        snprintf(vols[n], sizeof vols[n], "%s", c->ctr.volumes[i]);
        if (!(c2 = strchr(v, ':')) || c2 == v || !c2[1])
            return snprintf(err, err_size, "volume '%s' is not SRC:DST[:ro]", v), -EINVAL;
        *c2 = '\0';
        if ((c3 = strchr(c2 + 1, ':')))
            *c3 = '\0';
        mounts[n] = (struct ctr_mount){.type = v[0] == '/' ? CTR_MOUNT_BIND : CTR_MOUNT_VOLUME,
                                       .source = v,
                                       .destination = c2 + 1,
                                       .read_only = c3 && !strcmp(c3 + 1, "ro")};
    }
    snprintf(user, sizeof user, "%u:%u", (unsigned)c->uid, (unsigned)c->gid);
    snprintf(name, sizeof name, "%s", c->name);
    struct ctr_spec s = {
        .name = name,
        .image = c->ctr.image,
        .command = c->argv && c->argv[0] ? c->argv : NULL,
        .env = c->env,
        .cwd = c->cwd,
        .user = c->set_ids ? user : NULL,
        .read_only = c->ctr.read_only,
        .host_network = c->ctr.host_network,
        .mounts = mounts,
        .n_mounts = n,
        .res = {.memory = c->ctr.memory,
                .cpu_quota_us = (uint64_t)c->ctr.cpu_pct * 1000,
                .cpu_period_us = c->ctr.cpu_pct ? 100000 : 0,
                .pids = c->ctr.pids},
        .stop_signal = c->stop_signal,
    };
    svc_key(id, key);
    return ctr_foreground_prepare(d->containers, key, &s, ret_argv, err, err_size);
}

static void svc_release(void *userdata, uint32_t id)
{
    struct daemon *d = userdata;
    char key[CTR_ID_LEN];
    svc_key(id, key);
    if (d->containers)
        ctr_foreground_release(d->containers, key);
}

static const struct svc_container_ops svc_ops = {.prepare = svc_prepare, .release = svc_release};

void daemon_services_in_containers(struct daemon *d)
{
    svc_engine_set_container(d->services, &svc_ops, d);
}
