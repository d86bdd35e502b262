/* The manager's life (restore, shutdown), its one observer, heartbeats with their TTL, token
 * budgets and reconciliation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "runner/runner-internal.h"
#include "session/session.h"

static void on_reconcile(uv_timer_t *t);

int rn_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, struct sess_mgr *sessions,
               struct store *store, const struct rn_config *cfg, struct rn_mgr **ret, char *err,
               size_t size)
{
    struct rn_mgr *m = calloc(1, sizeof *m);
    int x;

    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->reaper = reaper;
    m->sessions = sessions;
    m->store = store;
    m->reconcile_ms = cfg->reconcile_ms ? cfg->reconcile_ms : RN_DEF_RECONCILE_MS;
    m->heartbeat_s = cfg->heartbeat_interval_s ? cfg->heartbeat_interval_s : RN_DEF_HEARTBEAT_S;
    m->keep_on_exit = cfg->keep_runners_on_exit;
    if ((cfg->command && !(m->command = strv_copy(cfg->command))) ||
        (cfg->socket_path && !(m->socket_path = strdup(cfg->socket_path))) ||
        (cfg->state_dir && !(m->state_dir = strdup(cfg->state_dir)))) {
        rn_mgr_free(m);
        return -ENOMEM;
    }
    if (m->command && !m->command[0]) {
        snprintf(err, size, "stratavore.runner_command is empty");
        rn_mgr_free(m);
        return -EINVAL;
    }
    if ((x = rn_db_open(m)) < 0) {
        snprintf(err, size, "cannot prepare the stratavore table: %s", strerror(-x));
        rn_mgr_free(m);
        return x;
    }
    uv_timer_init(loop, &m->reconcile);
    uv_unref((uv_handle_t *)&m->reconcile); /* never what keeps the loop running */
    m->reconcile.data = m;
    uv_timer_init(loop, &m->tx_timer);
    uv_unref((uv_handle_t *)&m->tx_timer);
    m->tx_timer.data = m;
    *ret = m;
    return 0;
}

void rn_mgr_watch(struct rn_mgr *m, rn_event_fn fn, void *userdata)
{
    m->watch = fn;
    m->watch_data = userdata;
}

void rn_emit(struct rn_mgr *m, const struct rn_event *ev)
{
    struct rn_event e = *ev;
    if (!e.ns)
        e.ns = rn_now();
    if (m->watch)
        m->watch(&e, m->watch_data);
}

int rn_mgr_restore(struct rn_mgr *m)
{
    int x = rn_db_load(m);
    if (x < 0)
        return x;
    for (struct rn_runner *r = m->runners.first, *next; r; r = next) {
        next = r->link.next;
        rn_runner_restore(m, r);
    }
    rn_mgr_arm_reconcile(m);
    return 0;
}

/* The reconcile pass runs while there are runners: with none it has nothing to look at, and
 * an idle droverd must not wake every reconcile_ms for it. */
void rn_mgr_arm_reconcile(struct rn_mgr *m)
{
    if (m->runners.first && !m->shutting_down && !uv_is_active((uv_handle_t *)&m->reconcile))
        uv_timer_start(&m->reconcile, on_reconcile, m->reconcile_ms, m->reconcile_ms);
}

void rn_mgr_shutdown(struct rn_mgr *m, void (*done)(void *userdata), void *userdata)
{
    m->shutting_down = true;
    uv_timer_stop(&m->reconcile);
    m->shutdown_done = done;
    m->shutdown_data = userdata;
    if (rn_runner_stop_all(m) == 0) {
        m->shutdown_done = NULL;
        done(userdata);
    }
}

/* Each timer's close: m goes with the last of the two (libuv closes in no promised order). */
static void mgr_closed(uv_handle_t *h)
{
    struct rn_mgr *m = h->data;
    if (--m->closing == 0)
        free(m);
}

void rn_mgr_free(struct rn_mgr *m)
{
    if (!m)
        return;
    rn_db_close(m);
    for (struct rn_runner *r; (r = m->runners.first);) {
        DQUEUE_REMOVE(&m->runners, r, link);
        if (r->sess)
            sess_set_owner(r->sess, NULL, NULL);
        rn_transcript_close(m, r);
        r->waits = NULL;
        if (r->timer_open) /* freed by its close callback */
            r->timer.data = r;
        rn_runner_free(r);
    }
    for (struct rn_project *p; (p = m->projects.first);) {
        DQUEUE_REMOVE(&m->projects, p, link);
        rn_project_free(p);
    }
    for (struct rn_conv *c; (c = m->convs.first);) {
        DQUEUE_REMOVE(&m->convs, c, link);
        rn_conv_free(c);
    }
    strv_free(m->command);
    free(m->socket_path);
    free(m->state_dir);
    if (m->reconcile.loop) { /* the timers were initialized: free m once both are closed */
        m->reconcile.data = m->tx_timer.data = m;
        m->closing = 2;
        uv_close((uv_handle_t *)&m->tx_timer, mgr_closed);
        uv_close((uv_handle_t *)&m->reconcile, mgr_closed);
        return;
    }
    free(m);
}

/* ---- heartbeats and token budgets ---- */

/* Adds delta tokens to the runner's project and conversation, with alerts at 75 % and 90 % of
 * the daily budget and QUOTA_EXCEEDED at 100 %. */
static void count_tokens(struct rn_mgr *m, struct rn_runner *r, int64_t delta)
{
    struct rn_project *p = rn_project_find(m, r->project);
    struct rn_conv *c = rn_conv_find(m, r->conv_id);
    static const int levels[] = {75, 90, 100};

    if (c)
        c->tokens += delta;
    if (!p)
        return;
    rn_project_token_day(p);
    p->tokens_total += delta;
    p->tokens_today += delta;
    int64_t max = p->quota.max_tokens_day;
    for (size_t i = 0; max > 0 && i < ARRAY_SIZE(levels); i++) {
        if (p->token_alert >= levels[i] || p->tokens_today * 100 < max * levels[i])
            continue;
        char why[160];
        p->token_alert = levels[i];
        snprintf(why, sizeof why, "project %s used %d%% of its daily token budget (%lld/%lld)",
                 p->name, levels[i], (long long)p->tokens_today, (long long)max);
        rn_emit(m, &(struct rn_event){.type = levels[i] < 100 ? RN_EV_SYSTEM_ALERT
                                                              : RN_EV_QUOTA_EXCEEDED,
                                      .runner = r,
                                      .project = p,
                                      .project_name = p->name,
                                      .reason = why,
                                      .quota = "max_tokens_per_day",
                                      .limit = max,
                                      .current = p->tokens_today,
                                      .action = "notify"});
    }
    rn_db_put_project(m, p);
}

/* tokens_used is the larger of what heartbeats said and what the usage parser counted. */
static void update_tokens(struct rn_mgr *m, struct rn_runner *r)
{
    int64_t now = MAX(r->hb_tokens, r->parsed_tokens);
    if (now > r->tokens_used) {
        int64_t delta = now - r->tokens_used;
        r->tokens_used = now;
        count_tokens(m, r, delta);
    }
}

/* One line of a runner's output, for its project's usage parser: "json-usage" adds
 * usage.input_tokens and usage.output_tokens of a JSON object (Anthropic's API shape). */
void rn_usage_line(struct rn_mgr *m, struct rn_runner *r, const char *line, size_t n)
{
    struct rn_project *p = rn_project_find(m, r->project);
    const char *brace = memchr(line, '{', n);
    json_error_t je;

    if (!p || !p->launch.usage_parser || strcmp(p->launch.usage_parser, "json-usage") != 0 ||
        !brace)
        return;
    json_t *o = json_loadb(brace, n - (size_t)(brace - line), 0, &je);
    json_t *u = json_object_get(o, "usage");
    if (!u && json_is_object(json_object_get(o, "message")))
        u = json_object_get(json_object_get(o, "message"), "usage");
    json_int_t in = json_integer_value(json_object_get(u, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(u, "output_tokens"));
    json_decref(o);
    if (in < 0 || out < 0 || in + out <= 0)
        return;
    r->parsed_tokens += in + out;
    update_tokens(m, r);
    rn_db_put_runner(m, r);
}

int rn_heartbeat(struct rn_mgr *m, const struct rn_heartbeat *hb, const char **ret_command,
                 uint32_t *ret_next_s, char *err, size_t size)
{
    struct rn_runner *r = rn_runner_find(m, hb->runner_id);
    struct rn_project *p;

    *ret_command = "";
    *ret_next_s = m->heartbeat_s;
    if (!hb->runner_id || !*hb->runner_id)
        return snprintf(err, size, "runner_id is required"), -EINVAL;
    if (!r)
        return snprintf(err, size, "runner %s not found", hb->runner_id), -ENOENT;
    if (hb->tokens_used < 0)
        return snprintf(err, size, "tokens_used must not be negative"), -EINVAL;
    if (!rn_runner_live(r) || r->status == RN_STOPPING) {
        *ret_command = "terminate";
        return 0;
    }
    rn_db_begin(m); /* the runner's, its project's and its conversation's rows: one write */
    r->heartbeat_ns = rn_now();
    r->heartbeats++;
    /* A counter lower than the last is a restarted counter: all of it is new. */
    r->hb_tokens += hb->tokens_used >= r->hb_last ? hb->tokens_used - r->hb_last : hb->tokens_used;
    r->hb_last = hb->tokens_used;
    update_tokens(m, r);
    if (r->status == RN_STARTING &&
        (!hb->status || !*hb->status || strcmp(hb->status, "running") == 0)) {
        r->status = RN_RUNNING;
        r->updated_ns = rn_now();
    }
    p = rn_project_find(m, r->project);
    if (p && p->quota.max_tokens_day > 0 && p->tokens_today >= p->quota.max_tokens_day)
        *ret_command = "terminate";
    rn_conv_touch(m, r->conv_id);
    rn_db_put_runner(m, r);
    rn_db_commit(m);
    rn_emit(m, &(struct rn_event){.type = RN_EV_RUNNER_HEARTBEAT,
                                  .runner = r,
                                  .project = p,
                                  .project_name = r->project,
                                  .conv = rn_conv_find(m, r->conv_id)});
    return 0;
}

/* ---- reconcile ---- */

/* Whether a live runner missed its heartbeat: counted from its last heartbeat, or from its
 * start when its project requires heartbeats. */
static bool overdue(const struct rn_runner *r, uint64_t now)
{
    uint64_t since = r->heartbeat_ns ? r->heartbeat_ns : r->heartbeat_required ? r->started_ns : 0;
    return rn_runner_live(r) && r->status != RN_STOPPING && r->status != RN_PAUSED && since &&
           now > since + (uint64_t)r->ttl_s * 1000000000u;
}

static int push(char ***v, const char *id)
{
    size_t n = strv_length(*v);
    return strv_push(v, &n, strdup(id));
}

int rn_reconcile(struct rn_mgr *m, const char *project, bool dry_run, struct rn_reconcile *ret)
{
    uint64_t now = rn_now();

    *ret = (struct rn_reconcile){.started_ns = now};
    if (!(ret->failed = strv_copy(NULL)) || !(ret->adopted = strv_copy(NULL)) ||
        !(ret->restarted = strv_copy(NULL))) {
        rn_reconcile_done(ret);
        return -ENOMEM;
    }
    for (struct rn_runner *r = m->runners.first, *next; r; r = next) {
        next = r->link.next;
        if (project && *project && strcmp(r->project, project) != 0)
            continue;
        if (!rn_runner_live(r))
            continue;
        ret->reconciled++;
        if (overdue(r, now)) {
            if (push(&ret->failed, r->id) < 0) {
                rn_reconcile_done(ret);
                return -ENOMEM;
            }
            if (!dry_run)
                rn_runner_fail(m, r, "heartbeat_timeout");
        }
    }
    ret->duration_ns = rn_now() - now;
    if (!dry_run)
        rn_emit(m, &(struct rn_event){.type = RN_EV_RECONCILE_COMPLETED,
                                      .reconcile = ret,
                                      .project_name = project});
    return 0;
}

void rn_reconcile_done(struct rn_reconcile *rc)
{
    strv_free(rc->failed);
    strv_free(rc->adopted);
    strv_free(rc->restarted);
    *rc = (struct rn_reconcile){0};
}

static void on_reconcile(uv_timer_t *t)
{
    struct rn_mgr *m = t->data;
    struct rn_reconcile rc;
    uint64_t now = rn_now();
    bool any = false;

    (void)rn_purge_exited(m, 10ull * 1000000000u); /* ended runners' sessions, after 10 s */
    /* Only a pass that has something to do reports: an idle daemon stays quiet. */
    for (struct rn_runner *r = m->runners.first; r && !any; r = r->link.next)
        any = overdue(r, now);
    if (any && rn_reconcile(m, NULL, false, &rc) == 0)
        rn_reconcile_done(&rc);
    if (!m->runners.first) /* the next runner arms it again */
        uv_timer_stop(t);
}
