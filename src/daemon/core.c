/* Opening the core (see daemon.c for the rest of the start): the lock beside the socket, the
 * database with its reserve, the reaper, tracked processes, sessions (with what the descriptor
 * holder kept across a restart), Stratavore's runners, services, containers and the agent hub. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/stratavore/stratavore.h"
#include "base/log.h"
#include "base/paths.h"
#include "daemon/daemon-internal.h"
#include "daemon/holder.h"
#include "daemon/upgrade.h"
#include "proc/proc.h"
#include "runner/runner.h"
#include "session/session.h"
#include "store/store.h"
#include "track/track.h"

/* A lock beside the socket: two daemons started at once cannot both pass the liveness check
 * and replace each other's socket. */
int daemon_take_lock(struct daemon *d)
{
    char *path;
    int r = 0;

    if ((d->lock_fd = upgrade_take_lock(d->upgrade)) >= 0)
        return 0; /* held since before the upgrade */
    if (asprintf(&path, "%s.lock", d->cfg.socket_path) < 0)
        return -ENOMEM;
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lock_fd < 0)
        r = log_error_errno(-errno, "cannot open '%s'", path);
    else if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        r = errno == EWOULDBLOCK
                ? log_error_errno(-EADDRINUSE, "another droverd holds '%s'", d->cfg.socket_path)
                : log_error_errno(-errno, "cannot lock '%s'", path);
    free(path);
    return r;
}

void daemon_on_fd_low(bool low, unsigned long free, void *userdata)
{
    (void)userdata;
    if (low)
        log_warning("only %lu file descriptors are free: new connections are refused until %u are",
                    free, FD_RESERVE);
    else
        log_notice("%lu file descriptors are free: new connections are accepted again", free);
}

/* What the emergency reserve could take: less than asked for on a small disk, none at all when
 * even that would leave too little room (or the file cannot be made). */
static void log_reserve(struct daemon *d)
{
    struct store_stats st;

    store_get_stats(d->store, &st);
    if (!strcmp(st.reserve_state, "degraded"))
        log_warning("could not set aside an emergency reserve beside '%s' (%u bytes asked for, "
                    "a quarter of the free space at most)",
                    d->cfg.db_path, d->cfg.emergency_reserve_bytes);
    else if (st.reserve_bytes < d->cfg.emergency_reserve_bytes &&
             !strcmp(st.reserve_state, "armed"))
        log_notice("emergency reserve beside '%s': %llu bytes of the %u asked for, a quarter of "
                   "the free space",
                   d->cfg.db_path, (unsigned long long)st.reserve_bytes,
                   d->cfg.emergency_reserve_bytes);
}

static int connect_holder(bool start, void *userdata)
{
    struct daemon *d = userdata;
    return holder_connect(d->holder_path, start);
}

/* The descriptor holder keeps runners' terminals while no droverd runs (started with the first
 * runner): take back what one that runs kept for us, before the runners are loaded. */
static void take_held_sessions(struct daemon *d)
{
    if (!d->holder_path && asprintf(&d->holder_path, "%s.holder", d->cfg.socket_path) < 0) {
        d->holder_path = NULL;
        return;
    }
    sess_mgr_set_holder(d->sessions, connect_holder, d);
    int n = sess_hold_restore(d->sessions);
    if (n > 0)
        log_notice("%d sessions taken back from the descriptor holder", n);
}

/* Stratavore's runners: rows loaded, live ones bound to their sessions again (handed over by an
 * upgrade in place) or failed as lost. The face records events from before the restore on. */
static int start_runners(struct daemon *d)
{
    char err[RN_ERR_MAX] = "", *argv_buf = NULL;
    char *argv[64];
    size_t n = 0;

    if (d->cfg.stratavore_runner_command && (argv_buf = strdup(d->cfg.stratavore_runner_command)))
        for (char *save, *tok = strtok_r(argv_buf, " \t", &save); tok && n < ARRAY_SIZE(argv) - 1;
             tok = strtok_r(NULL, " \t", &save))
            argv[n++] = tok;
    argv[n] = NULL;
    struct rn_config rc = {
        .command = n ? argv : NULL,
        .socket_path = d->cfg.socket_path,
        .state_dir = d->cfg.state_dir,
        .reconcile_ms = d->cfg.stratavore_reconcile_ms,
        .heartbeat_interval_s = d->cfg.stratavore_heartbeat_s,
    };
    int r =
        rn_mgr_new(&d->loop, d->reaper, d->sessions, d->store, &rc, &d->runners, err, sizeof err);
    free(argv_buf);
    if (r < 0)
        return log_error_errno(r, "cannot set up runners: %s", err);
    d->host.runners = d->runners;
    api_stratavore_bind(d->stratavore);
    r = rn_mgr_restore(d->runners);
    if (r < 0)
        return log_error_errno(r, "cannot load Stratavore's projects and runners");
    return 0;
}

/* The database, the registry and the reaper. */
int daemon_start_core(struct daemon *d)
{
    int r = paths_mkdir_parent(d->cfg.db_path, 0700, false);

    if (r < 0)
        return log_error_errno(r, "cannot create the directory of '%s'", d->cfg.db_path);
    r = store_open(d->cfg.db_path, d->cfg.emergency_reserve_bytes, &d->store);
    if (r == -EPROTO)
        return log_error_errno(r, "'%s' was written by a newer droverd (schema above %d)",
                               d->cfg.db_path, store_schema_version());
    if (r < 0)
        return log_error_errno(r, "cannot open the database '%s'", d->cfg.db_path);
    log_reserve(d);
    r = track_new(&d->loop, d->store, d->cfg.zombie_pass_interval_ms, &d->track);
    if (r < 0)
        return log_error_errno(r, "cannot load the tracked processes from '%s'", d->cfg.db_path);
    proc_set_instance(d->cfg.socket_path);
    r = proc_reaper_new(&d->loop, &d->reaper);
    if (r < 0)
        return log_error_errno(r, "cannot become a child subreaper");
    log_info("%zu tracked processes; spawned trees are contained with cgroups: %s",
             track_count(d->track), proc_reaper_cgroup_mode(d->reaper));
    d->host.store = d->store;
    d->host.track = d->track;
    d->host.reaper = d->reaper;
    struct sess_limits sl = {
        .backlog_bytes = d->cfg.session_backlog_bytes,
        .max_sessions = d->cfg.session_max,
        .input_max = d->cfg.session_input_max,
        .tee_queue = d->cfg.session_tee_queue,
        .stall_ms = d->cfg.session_stall_ms,
    };
    r = sess_mgr_new(&d->loop, d->reaper, &sl, &d->sessions);
    if (r < 0)
        return log_error_errno(r, "cannot set up sessions");
    d->host.sessions = d->sessions;
    upgrade_restore_sessions(d->upgrade, d->sessions);
    take_held_sessions(d);
    r = start_runners(d);
    if (r == 0)
        r = daemon_start_containers(d);
    if (r == 0)
        r = daemon_start_agents(d);
    if (r < 0)
        return r;
    return daemon_start_services(d);
}
