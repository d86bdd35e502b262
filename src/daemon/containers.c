/* Containers: the manager made with the state directory and the runtime the configuration
 * names, its rows loaded and the containers that still run adopted (after the held sessions
 * were taken back: a terminal container's session is among them). */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "container/container.h"
#include "daemon/daemon-internal.h"

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
