/* droverd's services: bringing them back at start (each row reconciled with what runs, then
 * all saved in one transaction), recording every change the engine reports, writing again what
 * a full disk refused, refusing a client's change that cannot be recorded (the engine's persist
 * hook), and logging what is news about a service (a spawn that failed, survivors of a stop). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/vec.h"
#include "daemon/daemon-internal.h"
#include "daemon/upgrade.h"
#include "proc/proc.h"
#include "store/store.h"
#include "supervise/supervise.h"

static void apply_failed(const char *name, int r, void *userdata)
{
    (void)userdata;
    log_warning_errno(r, "service '%s' from the configuration: %s", name, strerror(-r));
}

/* The file's services onto the engine (svc_apply_config says what that means). */
int daemon_apply_services(struct daemon *d, const struct config *cfg, struct svc_apply_counts *ret)
{
    return svc_apply_config(d->services, cfg->services, cfg->n_services, apply_failed, d, ret);
}

/* Logs what is news about s: a spawn that failed (or works again), a stop that left processes
 * running. */
static void log_news(struct daemon *d, struct svc *s)
{
    struct svc_status st = {0};
    struct said *w = NULL, was = {svc_id(s), 0, 0};
    char pids[512] = "";

    for (size_t i = 0; i < d->n_said && !w; i++)
        w = d->said[i].id == was.id ? &d->said[i] : NULL;
    was = w ? *w : was;
    if (!svc_is_removed(s))
        svc_get_status(s, &st);
    if (st.last_error && st.last_error != was.last_error)
        log_warning("service '%s' could not start: %s%s", svc_name(s),
                    st.reason[0] ? st.reason : strerror(-st.last_error),
                    st.state == SVC_BACKOFF ? "; trying again after its restart delay" : "");
    else if (!st.last_error && was.last_error && st.state == SVC_ONLINE)
        log_notice("service '%s' started (pid %d) after '%s'", svc_name(s), (int)st.pid,
                   strerror(-was.last_error));
    for (uint32_t i = 0; st.survivors != was.survivors && i < MIN(st.survivors, SVC_SURVIVORS_MAX);
         i++)
        snprintf(pids + strlen(pids), sizeof pids - strlen(pids), "%s%d", i ? ", " : "",
                 (int)st.survivor_pids[i]);
    if (pids[0])
        log_warning("service '%s' stopped, but processes that left its tree still run (%u): %s",
                    svc_name(s), st.survivors, pids);
    struct said now = {was.id, st.last_error, st.survivors};
    if (!now.last_error && !now.survivors) {
        if (w)
            *w = d->said[--d->n_said];
    } else if (w) {
        *w = now;
    } else if (VEC_RESERVE(d->said, d->cap_said, d->n_said + 1) >= 0) {
        d->said[d->n_said++] = now;
    }
}

/* ---- state on disk: rows that could not be written are written again ----
 *
 * A row whose write failed (a full disk) waits in the svc_db; a timer writes them again, from
 * SYNC_FIRST_MS doubling to SYNC_MAX_MS, while any waits or the emergency reserve is spent, and
 * every write that succeeds meanwhile takes them along. Once all are written the reserve is set
 * aside again (if it fits), and the log says once that the state is in sync. */

#define SYNC_FIRST_MS 100  /* the first retry of rows that could not be written */
#define SYNC_MAX_MS   5000 /* the retries' backoff cap */

static void on_sync_timer(uv_timer_t *t);

static bool reserve_spent(const struct daemon *d)
{
    return !strcmp(store_reserve_state(d->store), "released");
}

/* Something is out of sync: the timer goes, if it does not already. */
static void sync_later(struct daemon *d)
{
    d->out_of_sync = true;
    if (uv_is_active((uv_handle_t *)&d->sync_timer))
        return;
    d->sync_delay_ms = SYNC_FIRST_MS;
    uv_timer_start(&d->sync_timer, on_sync_timer, d->sync_delay_ms, 0);
}

/* Writes again what waits, then sets the reserve aside again: true once both are done. */
static bool sync_state(struct daemon *d)
{
    size_t n = svc_db_unsynced(d->svc_db);

    if (svc_db_resync(d->svc_db, d->services) < 0)
        return false;
    if (store_reserve_rearm(d->store) > 0)
        log_notice("the emergency reserve beside '%s' is set aside again", d->cfg.db_path);
    if (reserve_spent(d))
        return false;
    if (d->out_of_sync)
        log_notice("the state in '%s' is in sync again (rows written again: %zu)", d->cfg.db_path,
                   n);
    d->out_of_sync = false;
    return true;
}

static void on_sync_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (sync_state(d))
        return;
    d->sync_delay_ms = MIN(d->sync_delay_ms * 2, SYNC_MAX_MS);
    uv_timer_start(t, on_sync_timer, d->sync_delay_ms, 0);
}

/* Every change the engine reports goes to the database before the loop next waits (a prepare
 * handle, started by the turn's first change): what the table says is what droverd last knew,
 * a turn at most behind. A client's change is not among these: the persist hook writes it
 * before it is made. A failed write waits to be written again; a write that succeeds takes
 * along those that wait. */
void daemon_flush_services(struct daemon *d)
{
    if (!d->svc_db || !svc_db_marked(d->svc_db))
        return;
    size_t n = svc_db_marked(d->svc_db), waiting = svc_db_unsynced(d->svc_db);
    uint32_t first = svc_db_marked_id(d->svc_db, 0);
    int r = svc_db_flush(d->svc_db, d->services);

    if (r >= 0 && !d->out_of_sync && !reserve_spent(d))
        return; /* all in sync, as nearly always */
    if (r < 0 && waiting == 0) {
        struct svc *one = n == 1 ? svc_find_id(d->services, first) : NULL;
        char what[160];
        if (one)
            snprintf(what, sizeof what, "service '%s'", svc_name(one));
        else
            snprintf(what, sizeof what, "%zu services", n);
        log_warning_errno(r,
                          "cannot record the state of %s in '%s'; writing it again until it can be",
                          what, d->cfg.db_path);
    } else if (r >= 0 && !d->out_of_sync)
        log_warning("the disk of '%s' is full: its emergency reserve was spent", d->cfg.db_path);
    if (r < 0 || !sync_state(d))
        sync_later(d);
}

static void on_flush(uv_prepare_t *h)
{
    uv_prepare_stop(h);
    daemon_flush_services(h->data);
}

static void record_service(struct daemon *d, struct svc *s)
{
    svc_db_mark(d->svc_db, svc_id(s));
    if (svc_db_pid_unrecorded(s)) /* a spawn: on disk before anyone hears of it */
        daemon_flush_services(d);
    else if (!uv_is_active((uv_handle_t *)&d->flush_prep))
        uv_prepare_start(&d->flush_prep, on_flush);
}

/* The engine's persist hook: a client's change is written before it is made, or refused. */
static int persist_services(const struct svc_intent *v, size_t n, void *userdata)
{
    struct daemon *d = userdata;
    int r = svc_db_persist(d->svc_db, v, n);

    if (r < 0)
        log_warning_errno(r, "refusing a change to %zu service(s): it cannot be recorded in '%s'",
                          n, d->cfg.db_path);
    return r;
}

static size_t unsynced_services(void *userdata)
{
    struct daemon *d = userdata;
    return svc_db_unsynced(d->svc_db);
}

static void on_service_change(struct svc *s, void *userdata)
{
    struct daemon *d = userdata;
    if (d->restoring && !svc_is_removed(s))
        return; /* save_all writes every row once they are reconciled */
    record_service(d, s);
    log_news(d, s);
}

/* A row of the services table back in the engine (svc_restore): its instance adopted if it
 * still runs, or started once every row is in if it is wanted up (or starts with droverd). */
static int load_service(const struct svc_db_row *row, void *userdata)
{
    struct daemon *d = userdata;
    struct svc *s;
    bool start;
    int r = svc_restore(d->services, row, &s, &start);

    if (r < 0) {
        log_warning_errno(r, "service '%s' in the database is not valid; skipped", row->cfg.name);
        return 0;
    }
    if (svc_running(s))
        log_info("service '%s': adopted its process %d", row->cfg.name, (int)row->st.pid);
    /* autostart is "starts with droverd": after a clean stop. After a crash, what the user
     * wanted (start) says it all: a service the user stopped stays stopped. */
    if ((start || (row->cfg.autostart && d->clean_start && !svc_running(s))) &&
        d->n_to_start < MAX_TO_START)
        d->to_start[d->n_to_start++] = row->id;
    return 0;
}

static void report_stray(const char *group, pid_t pid, void *userdata)
{
    struct proc_stat st = {0};
    (void)userdata;
    (void)proc_read_stat(pid, &st);
    log_warning("killing process %d ('%s') in %s: a droverd that is gone spawned it and no "
                "service claims it",
                (int)pid, st.comm, group);
}

/* Every row as the engine has it now, in one transaction: after a restore, the table says
 * what was reconciled, all of it or (if droverd dies meanwhile) none; before an upgrade's exec,
 * what the next image adopts. */
int daemon_save_rows(void *userdata)
{
    struct daemon *d = userdata;
    return svc_db_save_all(d->svc_db, d->services);
}

static void save_all(struct daemon *d)
{
    int r = daemon_save_rows(d);
    if (r < 0) {
        log_warning_errno(r, "cannot record the services after restoring them");
        sync_later(d);
    }
}

int daemon_start_services(struct daemon *d)
{
    const char *logs = d->cfg.log_dir;
    int r;

    r = svc_db_new(d->store, &d->svc_db);
    if (r >= 0)
        r = svc_engine_new(&d->loop, d->reaper, logs, on_service_change, d, &d->services);
    if (r >= 0) {
        _cleanup_free_ char *snapshot = store_sibling_path(d->store, SVC_SNAPSHOT_FILE);
        svc_engine_set_rotate_interval(d->services, d->cfg.log_rotate_check_ms);
        daemon_services_in_containers(d);
        r = snapshot ? svc_engine_set_snapshot_path(d->services, snapshot) : -ENOMEM;
    }
    /* Did the previous droverd stop cleanly (or is this the first)? Until this one does, the
     * next one must know it did not. */
    char clean[8] = "1";
    if (r >= 0 && store_get_state(d->store, "clean_stop", clean, sizeof clean) < 0)
        snprintf(clean, sizeof clean, "1");
    d->clean_start = !strcmp(clean, "1");
    /* A full disk must not keep a supervisor from coming back: it starts, and says what it
     * could not record (a crash now is then taken for a clean stop: autostart applies). */
    if (r >= 0) {
        int e = store_set_state(d->store, "clean_stop", "0");
        if (e < 0)
            log_warning_errno(e, "cannot record droverd's start in '%s'", d->cfg.db_path);
    }
    if (!d->clean_start && !upgrade_from(d->upgrade)) /* an upgrade says so itself */
        log_notice("the previous droverd did not stop cleanly: adopting what still runs");
    /* Until every row is reconciled nothing is written back: a crash meanwhile finds the table
     * as it was, not services turned "stopped" before they were started again. */
    d->restoring = true;
    if (r >= 0)
        r = svc_db_load(d->svc_db, load_service, d);
    if (r < 0) {
        d->restoring = false;
        return log_error_errno(r, "cannot load the services from '%s'", d->cfg.db_path);
    }
    d->host.services = d->services;
    /* The file's definitions first (they win over what the database remembers, and carry what
     * it does not store, such as probes), then what was running comes back up. */
    struct svc_apply_counts rc;
    (void)daemon_apply_services(d, &d->cfg, &rc); /* no persist hook yet: it cannot be refused */
    int strays = proc_reaper_kill_strays(d->reaper, report_stray, d);
    /* Started before any row is written: a row saved before its start would say "not wanted",
     * and a crash then would leave the service down. Until save_all commits, a crash finds the
     * rows as they were (and kills what was just spawned as strays). */
    for (size_t i = 0; i < d->n_to_start; i++) {
        struct svc *s = svc_find_id(d->services, d->to_start[i]);
        if (s && !svc_running(s))
            svc_start(s);
    }
    d->restoring = false;
    save_all(d);
    svc_engine_set_persist(d->services,
                           &(struct svc_persist){persist_services, unsynced_services, d});
    if (strays > 0)
        log_warning("%d processes left behind by a droverd that is gone were killed", strays);
    log_info("%zu services defined (%u added from the configuration, %u changed, %u removed)",
             svc_count(d->services), rc.added, rc.changed, rc.removed);
    return 0;
}
