/* droverd's lifecycle.
 *
 * Start: state and socket directories (0700), a lock beside the socket so two daemons never
 * race for it, the gRPC listener (refused when a live daemon answers there; a stale file is
 * replaced), then READY=1 to $NOTIFY_SOCKET. Signals arrive as loop events (uv_signal).
 *
 * Stop (SIGTERM, SIGINT, Admin.Shutdown): the listener goes away first, health watchers hear
 * NOT_SERVING, the gRPC server sends GOAWAY and lets calls in flight finish within
 * shutdown_timeout_ms, and when the last connection is gone the loop runs out of work and
 * daemon_run returns 0. Services stop dependents first, each within its kill_timeout; past
 * shutdown_grace_ms from the signal, whatever still runs is SIGKILLed. As PID 1 (a container's
 * entrypoint) droverd then sweeps its namespace: the processes left (orphans of double forks)
 * get SIGTERM, the rest of the grace, then SIGKILL. The exit code says how it went: 0 when
 * everything stopped by itself, EXIT_FORCED (3) when anything had to be SIGKILLed. A second
 * signal during a stop stops at once with exit code 1. */
#include "daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/drover/drover.h"
#include "api/rp/rp.h"
#include "api/stratavore/stratavore.h"
#include "api/superviz/superviz.h"
#include "api/web/web.h"
#include "base/log.h"
#include "agents/agents.h"
#include "api/baaaht/baaaht.h"
#include "container/container.h"
#include "events/events.h"
#include "base/paths.h"
#include "base/trim.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "daemon/access.h"
#include "daemon/daemon-internal.h"
#include "daemon/upgrade.h"
#include "descriptor-set.h"
#include "grpc/grpc.h"
#include "http1/http1.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "proc/proc.h"
#include "runner/runner.h"
#include "session/session.h"
#include "store/store.h"
#include "supervise/supervise.h"
#include "track/track.h"

static void notify(const char *state)
{
    const char *e = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char msg[128];
    int fd;

    if (!e || !*e || strlen(e) >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, e, strlen(e));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    int n = snprintf(msg, sizeof msg, "%s\nMAINPID=%d", state, (int)getpid());
    (void)sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(e)));
    close(fd);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

/* Quiet again. The code and constants the calls of a busy spell faulted back in (64 KB at a
 * time: the kernel's fault-around) are handed back as they were after start-up, so that an idle
 * droverd's RSS and PSS are again what it runs on. Once per quiet spell, and never a wake-up of
 * its own: the timer is armed only by a loop turn that something else caused. */
#define QUIET_MS 10000

static void on_quiet(uv_timer_t *t)
{
    struct daemon *d = t->data;
    size_t trimmed = trim_mappings();
    d->quiet_trimmed = true;
    log_debug("quiet for %u s: %zu kB of mappings handed back", QUIET_MS / 1000, trimmed >> 10);
}

static void on_turn(uv_prepare_t *p)
{
    struct daemon *d = p->data;
    if (d->quiet_trimmed) { /* the trim's own turn */
        d->quiet_trimmed = false;
        return;
    }
    uv_timer_start(&d->quiet_timer, on_quiet, QUIET_MS, 0);
}

/* The logger's rate limits: a window that dropped lines is reported once it ends, also when
 * the flood that filled it is over (no next line would carry the count). */
static uv_timer_t *log_flush_timer;

static void on_log_flush(uv_timer_t *t)
{
    unsigned ms = log_ratelimit_flush(false);
    if (ms)
        uv_timer_start(t, on_log_flush, ms, 0);
}

static void log_flush_wanted(void)
{
    if (log_flush_timer && !uv_is_active((uv_handle_t *)log_flush_timer))
        uv_timer_start(log_flush_timer, on_log_flush, LOG_INTERVAL_MS, 0);
}

static void on_guard(uv_timer_t *t)
{
    log_warning("a client still holds its connection open; exiting anyway");
    uv_stop(t->loop);
}

/* The core goes once no door can reach it: kill-trees still running end now, children that
 * still run are forgotten (they outlive us), the database is closed. It goes once: from
 * on_stopped, or from daemon_free when droverd never got that far. */
static void core_free(struct daemon *d)
{
    if (d->core_freed)
        return;
    d->core_freed = true;
    daemon_flush_services(d);   /* the last turn's changes */
    upgrade_cancel(d->upgrade); /* its check is the reaper's child */
    rn_mgr_free(d->runners);
    d->runners = d->host.runners = NULL;
    ag_mgr_free(d->agents); /* it watches the containers: it goes first */
    d->agents = d->host.agents = NULL;
    ctr_mgr_free(d->containers);
    d->containers = d->host.containers = NULL;
    sess_mgr_free(d->sessions);
    d->host.sessions = NULL;
    svc_engine_free(d->services);
    svc_db_free(d->svc_db);
    proc_reaper_free(d->reaper);
    track_free(d->track);
    ev_bus_free(d->bus); /* after all that publish on it (sessions, the registry) */
    d->bus = d->host.bus = NULL;
    metrics_free(d->metrics);
    d->host.metrics = NULL;
    store_close(d->store);
}

/* Everything is stopped: the core goes, from the loop itself. (The last door to finish may be
 * the service engine, whose news comes from inside the reaper's SIGCHLD handling: freeing the
 * reaper there would pull it from under its own feet.) */
static void on_stopped(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_info("all connections closed");
    sess_mgr_hold_quit(d->sessions); /* a graceful stop: nothing to keep for a next droverd */
    d->forced = d->forced || svc_engine_forced(d->services);
    core_free(d);
    uv_close((uv_handle_t *)&d->grace_timer, on_closed);
    uv_close((uv_handle_t *)&d->sig_term, on_closed);
    uv_close((uv_handle_t *)&d->sig_int, on_closed);
    uv_close((uv_handle_t *)&d->sig_hup, on_closed);
    uv_close((uv_handle_t *)&d->sync_timer, on_closed);
    uv_close((uv_handle_t *)&d->flush_prep, on_closed);
    uv_close((uv_handle_t *)&d->quiet_prep, on_closed);
    uv_close((uv_handle_t *)&d->quiet_timer, on_closed);
    uv_close((uv_handle_t *)&d->sig_usr2, on_closed);
    log_set_ratelimit_hook(NULL);
    log_flush_timer = NULL;
    (void)log_ratelimit_flush(true);
    uv_close((uv_handle_t *)&d->log_flush, on_closed);
    /* Closing sockets may wait on their peers; the guard ends the loop regardless, and being
     * unreferenced it does not keep the loop alive by itself. */
    uv_timer_start(&d->exit_guard, on_guard, 2000, 0);
    uv_unref((uv_handle_t *)&d->exit_guard);
}

static void on_door_done(void *userdata)
{
    struct daemon *d = userdata;

    if (--d->doors_open == 0)
        uv_timer_start(&d->exit_guard, on_stopped, 0, 0);
}

/* Every service has stopped: the next droverd starts the autostart ones afresh. */
static void on_services_stopped(void *userdata)
{
    struct daemon *d = userdata;
    daemon_flush_services(d); /* every service's last state before the clean stop's mark */
    int r = store_set_state(d->store, "clean_stop", "1");
    if (r < 0)
        log_warning_errno(r, "cannot record the clean stop");
    on_door_done(d);
}

/* The agent hub's tasks have stopped: then the containers (what they let go of included). */
static void on_agents_stopped(void *userdata)
{
    struct daemon *d = userdata;
    if (d->containers)
        ctr_mgr_shutdown(d->containers, on_door_done, d);
    else
        on_door_done(d);
}

/* The doors take no more connections; those open stay until their door shuts down. */
static void close_listeners(struct daemon *d)
{
    net_listener_close(d->listener);
    net_listener_close(d->tcp);
    net_listener_close(d->http_l);
    net_listener_close(d->rp_l);
    net_listener_close(d->baaaht_l);
    d->listener = d->tcp = d->http_l = d->rp_l = d->baaaht_l = NULL;
}

/* The stop's grace ran out: services are SIGKILLed, dependents and kill timeouts not waited for;
 * as PID 1, every other process of the namespace too (runners, containers, orphans). */
static void on_grace(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_warning("the stop's grace (shutdown_grace_ms, %u ms) ran out: killing what still runs",
                d->cfg.shutdown_grace_ms);
    d->forced = true;
    svc_engine_kill_all(d->services);
    if (getpid() == 1)
        (void)kill(-1, SIGKILL);
}

static void daemon_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_notice("shutting down (%s)", why);
    d->grace_end_ms = mono_ms() + d->cfg.shutdown_grace_ms;
    uv_timer_start(&d->grace_timer, on_grace, d->cfg.shutdown_grace_ms, 0);
    notify("STOPPING=1");
    upgrade_cancel(d->upgrade); /* and none from now on */
    close_listeners(d);
    grpc_health_shutdown(d->health);
    /* Sessions die with droverd (upstream's rule): their exits end the attached streams.
     * Runners' sessions are stopped by their manager, each within its project's grace. */
    sess_mgr_kill_all(d->sessions);
    /* Services stop first (each within its kill_timeout), alongside the doors closing. */
    d->doors_open = 2 + (d->rp != NULL) + (d->http != NULL) + (d->runners != NULL) +
                    (d->containers != NULL || d->agents != NULL);
    svc_engine_shutdown(d->services, on_services_stopped, d);
    if (d->runners)
        rn_mgr_shutdown(d->runners, on_door_done, d);
    if (d->agents) /* its tasks first: those in containers let go of them as they end */
        ag_mgr_shutdown(d->agents, on_agents_stopped, d);
    else if (d->containers)
        ctr_mgr_shutdown(d->containers, on_door_done, d);
    if (d->http)
        http_server_shutdown(d->http, on_door_done, d);
    if (d->rp)
        api_rp_shutdown(d->rp, on_door_done, d);
    grpc_server_shutdown(d->grpc, on_door_done, d);
}

static void host_shutdown(struct api_host *host, const char *why)
{
    daemon_shutdown(container_of(host, struct daemon, host), why);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;

    if (d->stopping) {
        log_warning("%s again: stopping now", strsignal(signum));
        d->exit_code = 1;
        uv_stop(&d->loop);
        return;
    }
    daemon_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Re-reads the configuration (SIGHUP, Admin.Reload): log level and services take effect now. */
static int reload(struct daemon *d, struct svc_apply_counts *ret, char err[CONFIG_ERROR_MAX])
{
    struct config c;
    int r = config_load_all(&c, d->cfg.config_path, d->flags, d->n_flags, err);

    if (r < 0) {
        if (!err[0])
            snprintf(err, CONFIG_ERROR_MAX, "%s", strerror(-r));
        config_done(&c);
        return r;
    }
    if (d->authz && (r = access_authz_reload(d->authz, &c)) < 0) {
        snprintf(err, CONFIG_ERROR_MAX, "the credentials could not be read (see the log)");
        config_done(&c);
        return r;
    }
    log_set_level(c.log_level);
    d->cfg.log_level = c.log_level;
    d->cfg.metrics_ttl_ms = d->host.metrics_ttl_ms = c.metrics_ttl_ms;
    if (strcmp(c.socket_path, d->cfg.socket_path) || strcmp(c.state_dir, d->cfg.state_dir) ||
        strcmp(c.log_dir, d->cfg.log_dir))
        log_warning("socket, state_dir and log_dir changes take effect at the next start");
    if ((r = daemon_apply_services(d, &c, ret)) < 0) {
        snprintf(err, CONFIG_ERROR_MAX,
                 "the services cannot be applied: %s; they are left as they were",
                 r == -ENOSPC ? "the state disk is full" : strerror(-r));
        config_done(&c);
        return r;
    }
    log_notice("configuration re-read: log level %s; services: %u added, %u changed, %u removed, "
               "%u unchanged",
               log_level_to_string(c.log_level), ret->added, ret->changed, ret->removed,
               ret->unchanged);
    config_done(&c);
    return 0;
}

static int host_reload(struct api_host *host, struct svc_apply_counts *ret, char *err,
                       size_t err_size)
{
    char e[CONFIG_ERROR_MAX] = "";
    int r = reload(container_of(host, struct daemon, host), ret, e);
    snprintf(err, err_size, "%s", e);
    return r;
}

static void on_hup(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    struct svc_apply_counts rc;
    char err[CONFIG_ERROR_MAX] = "";
    (void)signum;

    if (!d->stopping && reload(d, &rc, err) < 0)
        log_error("SIGHUP: keeping the current configuration: %s", err);
}

static unsigned upgrade_drain(void *userdata)
{
    struct daemon *d = userdata;
    unsigned n = 1 + (d->rp != NULL) + (d->http != NULL);

    notify("RELOADING=1");
    upgrade_keep_listener(d->upgrade, UPGRADE_GRPC, d->listener);
    upgrade_keep_listener(d->upgrade, UPGRADE_TCP, d->tcp);
    upgrade_keep_listener(d->upgrade, UPGRADE_HTTP, d->http_l);
    if (d->rp)
        upgrade_keep_listener(d->upgrade, UPGRADE_RP,
                              net_listener_find(&d->loop, d->cfg.rp_socket));
    close_listeners(d);
    /* Streams that never end by themselves would hold the exec until the drain's bound: they end
     * now, in words clients know (client.h's DROVER_UPGRADE_MESSAGE), and resume from where they
     * were. gRPC attach streams included: the running-process door's get a last frame below. */
    grpc_server_end_streams(d->grpc, GRPC_UNAVAILABLE, "droverd is upgrading in place; reconnect");
    sess_mgr_detach_all(d->sessions);
    if (d->http)
        http_server_shutdown(d->http, upgrade_door_done, d->upgrade);
    if (d->rp)
        api_rp_shutdown(d->rp, upgrade_door_done, d->upgrade);
    grpc_server_shutdown(d->grpc, upgrade_door_done, d->upgrade);
    return n;
}

/* Neither exec worked: droverd ends without stopping its services. */
static void upgrade_abandon(void *userdata)
{
    struct daemon *d = userdata;

    d->stopping = true;
    d->exit_code = 1;
    uv_stop(&d->loop);
}

static const struct upgrade_ops upgrade_ops = {daemon_save_rows, upgrade_drain, upgrade_abandon};

static void host_upgrade(struct api_host *host, const char *binary, upgrade_answer_fn done,
                         void *userdata)
{
    struct daemon *d = container_of(host, struct daemon, host);
    const struct upgrade_env env = {
        .reaper = d->reaper,
        .sessions = d->sessions,
        .config_path = d->cfg.config_path,
        .flags = d->flags,
        .n_flags = d->n_flags,
        .lock_fd = d->lock_fd,
    };

    upgrade_start(d->upgrade, &env, binary, done, userdata);
}

/* SIGUSR2: an upgrade to the installed binary, as `drover upgrade` asks (refusals are logged). */
static void on_usr2(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    (void)signum;
    log_notice("SIGUSR2: upgrading in place");
    host_upgrade(&d->host, NULL, NULL, NULL);
}

int daemon_new(struct config *cfg, const struct config_flag *flags, size_t n_flags,
               struct daemon **ret)
{
    struct daemon *d = calloc(1, sizeof *d);

    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    *cfg = (struct config){0};
    d->flags = flags;
    d->n_flags = n_flags;
    d->lock_fd = -1;
    uv_loop_init(&d->loop);
    uv_timer_init(&d->loop, &d->exit_guard);
    d->exit_guard.data = d;
    uv_timer_init(&d->loop, &d->grace_timer);
    d->grace_timer.data = d;
    uv_timer_init(&d->loop, &d->sync_timer);
    d->sync_timer.data = d;
    uv_prepare_init(&d->loop, &d->flush_prep);
    d->flush_prep.data = d;
    uv_prepare_init(&d->loop, &d->quiet_prep);
    d->quiet_prep.data = d;
    uv_timer_init(&d->loop, &d->quiet_timer);
    d->quiet_timer.data = d;
    uv_unref((uv_handle_t *)&d->quiet_timer); /* never what keeps the loop running */
    uv_timer_init(&d->loop, &d->log_flush);
    uv_unref((uv_handle_t *)&d->log_flush); /* never what keeps the loop running */
    log_flush_timer = &d->log_flush;
    log_set_ratelimit_hook(log_flush_wanted);
    if (upgrade_new(&d->loop, &upgrade_ops, d, &d->upgrade) < 0) {
        daemon_free(d);
        return -ENOMEM;
    }

    d->grpc = grpc_server_new(&d->loop, &d->cfg.grpc);
    d->health = d->grpc ? grpc_health_new(d->grpc) : NULL;
    if (d->health)
        daemon_baaaht_health(d);
    d->metrics = metrics_new(&(struct metrics_roots){.podinfo = d->cfg.podinfo_dir});
    if (d->metrics && metrics_attach_loop(d->metrics, &d->loop, 10000) < 0) {
        metrics_free(d->metrics);
        d->metrics = NULL;
    }
    d->reflection =
        d->grpc ? grpc_reflection_new(d->grpc, drover_descriptor_set, drover_descriptor_set_len)
                : NULL;
    d->host = (struct api_host){
        .loop = &d->loop,
        .version = DROVER_VERSION,
        .socket_path = d->cfg.socket_path,
        .state_dir = d->cfg.state_dir,
        .config_path = d->cfg.config_path,
        .started_real_ns = now_ns(CLOCK_REALTIME),
        .started_mono_ns = now_ns(CLOCK_MONOTONIC),
        .grpc = d->grpc,
        .shutdown = host_shutdown,
        .reload = host_reload,
        .parse_services = config_parse_services_err,
        .upgrade = host_upgrade,
        .scope = d->cfg.scope,
        .metrics = d->metrics,
        .metrics_ttl_ms = d->cfg.metrics_ttl_ms,
        .scope_cwd = getcwd(d->cwd, sizeof d->cwd) ? d->cwd : "",
    };
    if (!d->health || !d->reflection || !d->metrics || api_drover_register(d->grpc, &d->host) < 0 ||
        api_superviz_register(d->grpc, &d->host) < 0 ||
        api_stratavore_register(d->grpc, &d->host, &d->stratavore) < 0 ||
        api_baaaht_register(d->grpc, &d->host) < 0 ||
        grpc_health_register(d->grpc, d->health) < 0 ||
        grpc_reflection_register(d->grpc, d->reflection) < 0) {
        daemon_free(d);
        return -ENOMEM;
    }
    *ret = d;
    return 0;
}

int daemon_start(struct daemon *d)
{
    int r = paths_mkdir_parent(d->cfg.socket_path, 0700, true);

    if (r < 0)
        return log_error_errno(r, "cannot create the directory of '%s'", d->cfg.socket_path);
    r = paths_mkdir_p(d->cfg.state_dir, 0700, false);
    if (r < 0)
        return log_error_errno(r, "cannot create the state directory '%s'", d->cfg.state_dir);

    r = daemon_take_lock(d);
    if (r < 0)
        return r;
    char err[512];
    r = access_authz_new(&d->cfg, &d->authz);
    if (r < 0)
        return r;
    d->host.authz = d->authz;
    if ((r = authz_install(d->authz, d->grpc, err, sizeof err)) < 0)
        return log_error_errno(r, "%s", err);
    r = daemon_start_core(d);
    if (r < 0)
        return r;
    net_set_fd_reserve(FD_RESERVE, daemon_on_fd_low, d);
    r = upgrade_listen(d->upgrade, UPGRADE_GRPC, d->cfg.socket_path, daemon_on_accept, d,
                       &d->listener);
    if (r == 0)
        r = net_listen_unix(&d->loop, d->cfg.socket_path, 0600, daemon_on_accept, d, &d->listener);
    if (r == -EADDRINUSE)
        return log_error_errno(r, "another droverd already answers on '%s'", d->cfg.socket_path);
    if (r == -EEXIST)
        return log_error_errno(r, "'%s' exists and is not a socket; not replacing it",
                               d->cfg.socket_path);
    if (r < 0)
        return log_error_errno(r, "cannot listen on '%s'", d->cfg.socket_path);
    r = access_share_socket(&d->cfg);
    if (r < 0)
        return r;

    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    uv_signal_init(&d->loop, &d->sig_usr2);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d->sig_usr2.data = d;
    uv_signal_start(&d->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
    uv_signal_start(&d->sig_usr2, on_usr2, SIGUSR2);
    upgrade_signals_ready(d->upgrade);
    /* A peer that hangs up must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);

    r = daemon_listen_tcp(d);
    if (r < 0)
        return r;
    r = daemon_listen_http(d);
    if (r < 0)
        return r;
    if (d->cfg.rp_socket) {
        r = daemon_listen_rp(d);
        if (r < 0)
            return r;
        d->host.rp_socket_path = d->cfg.rp_socket;
    }
    if ((r = daemon_listen_baaaht(d)) < 0)
        return r;

    log_notice("droverd %s ready on '%s' (pid %d, state in '%s', config %s)", DROVER_VERSION,
               d->cfg.socket_path, (int)getpid(), d->cfg.state_dir,
               d->cfg.config_path ? d->cfg.config_path : "built-in");
    if (d->rp)
        log_notice("running-process door on '%s'", d->cfg.rp_socket);
    /* What only start-up used (configuration, schema, door set-up) is handed back: an idle
     * droverd's RSS is what it runs on. Before READY=1, so that ready means serving at once. */
    size_t trimmed = trim_mappings();
    log_debug("start-up's mappings handed back: %zu kB", trimmed >> 10);
    d->quiet_trimmed = true; /* the next turn is READY's own */
    uv_prepare_start(&d->quiet_prep, on_turn);
    uv_unref((uv_handle_t *)&d->quiet_prep);
    notify("READY=1");
    return 0;
}

/* As PID 1: the namespace's other processes go before we do, with what is left of the grace
 * (none after a second signal). */
static void sweep(struct daemon *d)
{
    uint64_t now = mono_ms();
    uint32_t left = d->exit_code || now >= d->grace_end_ms ? 0 : (uint32_t)(d->grace_end_ms - now);
    unsigned killed = 0;
    int r = proc_sweep_namespace(left, &killed);
    if (r == -EPERM)
        return;
    if (killed) {
        log_warning("%u process(es) left in the namespace ignored SIGTERM: killed", killed);
        d->forced = true;
    }
    if (r < 0)
        log_warning_errno(r, "processes are still there after SIGKILL");
}

int daemon_run(struct daemon *d)
{
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (d->stopping && getpid() == 1)
        sweep(d);
    if (d->exit_code == 0 && d->forced)
        d->exit_code = EXIT_FORCED;
    return d->exit_code;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    net_handle_close(h);
}

void daemon_free(struct daemon *d)
{
    if (!d)
        return;
    log_set_ratelimit_hook(NULL);
    log_flush_timer = NULL;
    close_listeners(d);
    http_server_free(d->http);
    api_web_free(d->web);
    api_rp_free(d->rp);
    grpc_server_free(d->grpc);
    core_free(d);
    api_stratavore_free(d->stratavore);
    grpc_health_free(d->health);
    grpc_reflection_free(d->reflection);
    upgrade_free(d->upgrade);
    /* Handles of connections that were still closing: close and let libuv finish with them. */
    uv_walk(&d->loop, close_any, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
    net_tls_free(d->http_tls); /* after the last TLS connection */
    net_tls_free(d->grpc_tls);
    authz_free(d->authz);
    /* The lock on <socket>.lock is not let go here: it goes with the process, so that `drover
     * shutdown`, which waits for it, returns once droverd has really exited (not while exit
     * handlers still run). */
    config_done(&d->cfg);
    free(d->said);
    free(d->holder_path);
    free(d);
}

int daemon_main(const char *config_path, const struct config_flag *flags, size_t n_flags,
                const char *scope)
{
    char err[CONFIG_ERROR_MAX] = "";
    struct config cfg;
    struct daemon *d = NULL;
    int r;

    r = config_load_all(&cfg, config_path, flags, n_flags, err);
    if (r >= 0 && scope && !(cfg.scope = strdup(scope)))
        r = -ENOMEM;
    if (r < 0) {
        fprintf(stderr, "droverd: %s\n", err[0] ? err : strerror(-r));
        config_done(&cfg);
        return 1;
    }
    log_set_level(cfg.log_level);

    r = daemon_new(&cfg, flags, n_flags, &d);
    if (r < 0) {
        log_error_errno(r, "cannot set up");
        config_done(&cfg);
        return 1;
    }
    r = daemon_start(d);
    if (r < 0) {
        daemon_free(d);
        return 1;
    }
    r = daemon_run(d);
    daemon_free(d);
    return r;
}
