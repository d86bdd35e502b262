/* Conversations: their life and their messages.
 *
 *   INITIALIZING -> ACTIVE <-> IDLE ; ACTIVE|IDLE -> CLOSING -> CLOSED (terminal)
 *
 * A new conversation is ACTIVE at once (status RUNNING). With no message, binding or update for
 * its idle timeout (its own idle_timeout_ns, else the manager's) it goes IDLE, and back to
 * ACTIVE with the next message. Past its expiry (max_duration_ns) it closes, reason "expired".
 * One timer for the manager, armed at the nearest deadline: an idle droverd wakes for nothing.
 * Open conversations (not CLOSED) count against max_conversations; the newest closed_keep
 * closed ones are kept, older ones go with their messages. An open conversation keeps its newest
 * history_in_reply messages in memory (routing looks replies up there); a closed one keeps none:
 * ag_conv_history reads them from the store when asked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "events/events.h"
#include "store/store.h"

#define NS_PER_MS 1000000ull

uint64_t ag_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ag_new_id(char id[AG_ID_LEN])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)rand();
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
}

const char *ag_state_word(enum ag_state s)
{
    static const char *const w[] = {"unspecified", "initializing", "active",
                                    "idle",        "closing",      "closed"};
    return (unsigned)s < ARRAY_SIZE(w) ? w[s] : "unknown";
}

const char *ag_role_word(int role)
{
    static const char *const w[] = {"unspecified", "user", "system", "assistant", "tool"};
    return role >= 0 && (unsigned)role < ARRAY_SIZE(w) ? w[role] : "unknown";
}

void ag_publish_conv(struct ag_conv *c, const char *what, const char *const *data)
{
    char type[64], *d[24];
    size_t n = 0;
    if (!c->m->bus)
        return;
    snprintf(type, sizeof type, "session.%s", what);
    d[n++] = "session_id";
    d[n++] = c->id;
    d[n++] = "name";
    d[n++] = c->meta.name ? c->meta.name : "";
    d[n++] = "owner_id";
    d[n++] = c->meta.owner_id ? c->meta.owner_id : "";
    for (size_t i = 0; data && data[i] && data[i + 1] && n < ARRAY_SIZE(d) - 2; i += 2) {
        d[n++] = (char *)data[i];
        d[n++] = (char *)data[i + 1];
    }
    d[n] = NULL;
    struct ev e = {.type = type,
                   .source = "orchestrator",
                   .session_id = c->id,
                   .user_id = c->meta.owner_id ? c->meta.owner_id : "",
                   .labels = c->meta.labels,
                   .data = d};
    (void)ev_publish(c->m->bus, &e, NULL);
}

/* ---- deadlines ---- */

static uint64_t idle_ns(const struct ag_conv *c)
{
    return c->config.idle_timeout_ns > 0 ? (uint64_t)c->config.idle_timeout_ns
                                         : c->m->set.idle_timeout_ns;
}

static uint64_t deadline(const struct ag_conv *c)
{
    uint64_t d = UINT64_MAX;
    if (c->state == AG_CLOSED)
        return d;
    if (c->expires_ns)
        d = c->expires_ns;
    if (c->state == AG_ACTIVE)
        d = MIN(d, c->activity_ns + idle_ns(c));
    return d;
}

static void on_timer(uv_timer_t *t);

void ag_arm(struct ag_mgr *m)
{
    uint64_t next = UINT64_MAX, now = ag_now_ns();
    for (struct ag_conv *c = m->convs; c; c = c->link.next)
        next = MIN(next, deadline(c));
    for (struct ag_agent *a = m->agents; a; a = a->link.next)
        next = MIN(next, ag_agent_deadline(a));
    if (next == UINT64_MAX) {
        uv_timer_stop(m->timer);
        return;
    }
    uint64_t ms = next > now ? (next - now) / NS_PER_MS + 1 : 0;
    uv_timer_start(m->timer, on_timer, ms, 0);
}

static void set_state(struct ag_conv *c, enum ag_state st, enum ag_status status)
{
    c->state = st;
    c->status = status;
    c->updated_ns = ag_now_ns();
    if (st == AG_CLOSED)
        c->closed_ns = c->updated_ns;
}

static void close_now(struct ag_conv *c, const char *reason);

static void on_timer(uv_timer_t *t)
{
    struct ag_mgr *m = t->data;
    uint64_t now = ag_now_ns();
    for (struct ag_conv *c = m->convs, *next; c; c = next) {
        next = c->link.next;
        if (c->state == AG_CLOSED || deadline(c) > now)
            continue;
        if (c->expires_ns && c->expires_ns <= now) {
            close_now(c, "expired");
            continue;
        }
        set_state(c, AG_IDLE, AG_ST_RUNNING);
        (void)ag_db_put_conv(m, c, false);
        ag_publish_conv(c, "updated", (const char *const[]){"state", "SESSION_STATE_IDLE", NULL});
    }
    ag_agents_expire(m, now);
    ag_arm(m);
}

/* ---- the manager ---- */

int ag_mgr_new(uv_loop_t *loop, struct store *store, struct ev_bus *bus,
               const struct ag_settings *set, struct ag_mgr **ret, char *err, size_t err_size)
{
    struct ag_mgr *m = calloc(1, sizeof *m);
    if (!m || !(m->timer = malloc(sizeof *m->timer))) {
        free(m);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    m->loop = loop;
    m->store = store;
    m->bus = bus;
    m->set = *set;
    if (!m->set.max_conversations)
        m->set.max_conversations = 100;
    if (!m->set.idle_timeout_ns)
        m->set.idle_timeout_ns = 600ull * 1000000000ull;
    if (!m->set.history_in_reply)
        m->set.history_in_reply = 1000;
    if (!m->set.message_max_bytes)
        m->set.message_max_bytes = 1u << 20;
    if (!m->set.closed_keep)
        m->set.closed_keep = 1000;
    if (!m->set.agent_ttl_ns)
        m->set.agent_ttl_ns = 90ull * 1000000000ull;
    if (!m->set.route_timeout_ns)
        m->set.route_timeout_ns = 30ull * 1000000000ull;
    if (!m->set.routes_max)
        m->set.routes_max = 1024;
    uv_timer_init(loop, m->timer);
    m->timer->data = m;
    if (ag_routes_init(m) < 0) {
        ag_mgr_free(m);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    *ret = m;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

static void drop_msgs(struct ag_msg **v, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < *n; i++)
        ag_msg_done(&(*v)[i]);
    free(*v);
    *v = NULL;
    *n = *cap = 0;
}

/* Appends a copy of msg to the vector v. */
static int push_msg(struct ag_msg **v, size_t *n, size_t *cap, const struct ag_msg *msg)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        struct ag_msg *w = realloc(*v, c * sizeof *w);
        if (!w)
            return -ENOMEM;
        *v = w;
        *cap = c;
    }
    int r = ag_msg_copy(&(*v)[*n], msg);
    if (r == 0)
        (*n)++;
    return r;
}

void ag_conv_free(struct ag_conv *c)
{
    ag_routes_conv_closed(c, "droverd stops");
    ag_meta_done(&c->meta);
    ag_config_done(&c->config);
    ag_prefs_done(&c->prefs);
    free(c->current_task_id);
    strv_free(c->task_history);
    strv_free(c->container_ids);
    drop_msgs(&c->msgs, &c->n_msgs, &c->cap_msgs);
    free(c);
}

void ag_mgr_free(struct ag_mgr *m)
{
    if (!m)
        return;
    ag_tasks_free(m);
    ag_ctrs_free(m);
    ag_tokens_free(m);
    while (m->convs) {
        struct ag_conv *c = m->convs;
        DLIST_REMOVE(c, link);
        ag_conv_free(c);
    }
    ag_routes_free(m);
    ag_gws_free(m);
    ag_agents_free(m);
    uv_close((uv_handle_t *)m->timer, timer_closed);
    free(m);
}

size_t ag_mgr_count(const struct ag_mgr *m, size_t *ret_all)
{
    if (ret_all)
        *ret_all = m->n_all;
    return m->n_open;
}

static void link_last(struct ag_mgr *m, struct ag_conv *c)
{
    if (!m->last)
        DLIST_PREPEND(&m->convs, c, link);
    else
        DLIST_PREPEND(&m->last->link.next, c, link);
    m->last = c;
    m->n_all++;
    m->n_open += c->state != AG_CLOSED;
}

static void unlink_conv(struct ag_mgr *m, struct ag_conv *c)
{
    if (m->last == c) {
        struct ag_conv *p = NULL;
        for (struct ag_conv *x = m->convs; x && x != c; x = x->link.next)
            p = x;
        m->last = p;
    }
    DLIST_REMOVE(c, link);
    m->n_all--;
    m->n_open -= c->state != AG_CLOSED;
}

static int keep_loaded(void *userdata, const struct ag_msg *msg)
{
    return ag_conv_keep(userdata, msg);
}

static int load_one(struct ag_mgr *m, json_t *doc)
{
    struct ag_conv *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->m = m;
    if (ag_conv_from_json(c, doc) < 0) {
        log_warning("a conversation row cannot be read: skipped");
        ag_conv_free(c);
        return 0;
    }
    if (c->state != AG_CLOSED) { /* a closed one's messages stay on disk */
        uint64_t next = ag_db_next_seq(m, c->id);
        if (next > c->next_seq)
            c->next_seq = next;
        (void)ag_db_each_msg(m, c->id, m->set.history_in_reply, keep_loaded, c);
    }
    if (c->n_msgs && c->msgs[c->n_msgs - 1].ts_ns > c->updated_ns) /* rows only for messages */
        c->updated_ns = c->activity_ns = c->msgs[c->n_msgs - 1].ts_ns;
    link_last(m, c);
    return 0;
}

int ag_mgr_restore(struct ag_mgr *m)
{
    int r = ag_db_load_kind(m, "conv", load_one);
    if (r == 0)
        r = ag_db_load_kind(m, "gateway", ag_gw_load);
    if (r == 0)
        r = ag_db_load_agents(m);
    if (r == 0)
        r = ag_db_load_kind(m, "task", ag_task_load);
    if (r == 0)
        r = ag_db_load_kind(m, "token", ag_token_load);
    if (r < 0)
        return r;
    for (struct ag_conv *c = m->convs, *next; c; c = next) {
        next = c->link.next;
        if (c->state == AG_CLOSING)
            close_now(c, "closed while droverd was away");
        else if (c->state == AG_ACTIVE || c->state == AG_INITIALIZING) {
            set_state(c, AG_IDLE, AG_ST_RUNNING); /* nobody streams to it now */
            (void)ag_db_put_conv(m, c, false);
        }
    }
    if (m->n_all)
        log_info("%zu conversations loaded, %zu open", m->n_all, m->n_open);
    on_timer(m->timer); /* expiry and idleness now, then the next deadline */
    return 0;
}

/* ---- conversations ---- */

int ag_conv_create(struct ag_mgr *m, const struct ag_meta *meta, const struct ag_config *config,
                   struct ag_conv **ret, char *err, size_t err_size)
{
    const char *owner = meta && meta->owner_id ? meta->owner_id : "";
    if (strchr(owner, '/') || strstr(owner, ".."))
        return errmsg_fail(err, err_size, -EINVAL, "invalid owner_id: %s", owner);
    if (config && (config->max_duration_ns < 0 || config->idle_timeout_ns < 0))
        return errmsg_fail(err, err_size, -EINVAL, "durations must not be negative");
    if (m->n_open >= m->set.max_conversations)
        return errmsg_fail(err, err_size, -EDQUOT, "maximum sessions limit reached: %u",
                           m->set.max_conversations);
    struct ag_conv *c = calloc(1, sizeof *c);
    if (!c || ag_meta_copy(&c->meta, meta) < 0 || ag_config_copy(&c->config, config) < 0) {
        if (c)
            ag_conv_free(c);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    c->m = m;
    ag_new_id(c->id);
    c->created_ns = c->updated_ns = c->activity_ns = ag_now_ns();
    if (c->config.max_duration_ns > 0)
        c->expires_ns = c->created_ns + (uint64_t)c->config.max_duration_ns;
    c->state = AG_ACTIVE;
    c->status = AG_ST_RUNNING;
    int r = ag_db_put_conv(m, c, true);
    if (r < 0) {
        ag_conv_free(c);
        return errmsg_fail(err, err_size, r == -ENOSPC ? -ENOSPC : r,
                           r == -ENOSPC ? "the state disk is full" : "cannot record the session");
    }
    link_last(m, c);
    ag_publish_conv(c, "created", NULL);
    ag_arm(m);
    *ret = c;
    return 0;
}

struct ag_conv *ag_conv_find(struct ag_mgr *m, const char *id)
{
    for (struct ag_conv *c = m->convs; id && c; c = c->link.next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

bool ag_labels_match(char *const *have, char *const *want)
{
    for (size_t i = 0; want && want[i] && want[i + 1]; i += 2) {
        bool ok = false;
        for (size_t j = 0; have && have[j] && have[j + 1] && !ok; j += 2)
            ok = !strcmp(have[j], want[i]) && !strcmp(have[j + 1], want[i + 1]);
        if (!ok)
            return false;
    }
    return true;
}

struct ag_conv *ag_conv_next(struct ag_mgr *m, struct ag_conv *prev, const struct ag_filter *f)
{
    for (struct ag_conv *c = prev ? prev->link.next : m->convs; c; c = c->link.next) {
        if (f && ((f->state && c->state != f->state) || (f->status && c->status != f->status) ||
                  (f->owner_id && *f->owner_id &&
                   strcmp(c->meta.owner_id ? c->meta.owner_id : "", f->owner_id)) ||
                  !ag_labels_match(c->meta.labels, f->labels)))
            continue;
        return c;
    }
    return NULL;
}

void ag_conv_info(const struct ag_conv *c, struct ag_conv_info *ret)
{
    *ret = (struct ag_conv_info){
        .id = c->id,
        .state = c->state,
        .status = c->status,
        .created_ns = c->created_ns,
        .updated_ns = c->updated_ns,
        .expires_ns = c->expires_ns,
        .closed_ns = c->closed_ns,
        .meta = &c->meta,
        .config = &c->config,
        .prefs = &c->prefs,
        .current_task_id = c->current_task_id ? c->current_task_id : "",
        .task_history = c->task_history,
        .container_ids = c->container_ids,
    };
}

int ag_conv_update(struct ag_conv *c, const struct ag_meta *meta, const struct ag_prefs *prefs,
                   char *err, size_t err_size)
{
    struct ag_conv was = *c;
    if (c->state == AG_CLOSED)
        return errmsg_fail(err, err_size, -ESTALE, "cannot update closed session");
    const char *owner = meta && meta->owner_id ? meta->owner_id : "";
    if (strchr(owner, '/') || strstr(owner, ".."))
        return errmsg_fail(err, err_size, -EINVAL, "invalid owner_id: %s", owner);
    struct ag_meta nm;
    struct ag_prefs np;
    if (ag_meta_copy(&nm, meta) < 0 || ag_prefs_copy(&np, prefs ? prefs : &c->prefs) < 0)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    c->meta = nm;
    c->prefs = np;
    c->updated_ns = c->activity_ns = ag_now_ns();
    int r = ag_db_put_conv(c->m, c, true);
    if (r < 0) { /* refused: nothing changes */
        ag_meta_done(&nm);
        ag_prefs_done(&np);
        c->meta = was.meta;
        c->prefs = was.prefs;
        c->updated_ns = was.updated_ns;
        c->activity_ns = was.activity_ns;
        return errmsg_fail(err, err_size, r,
                           r == -ENOSPC ? "the state disk is full" : "cannot record the session");
    }
    ag_meta_done(&was.meta);
    ag_prefs_done(&was.prefs);
    ag_publish_conv(c, "updated", NULL);
    ag_arm(c->m);
    return 0;
}

/* Drops the oldest closed conversations past closed_keep, rows and messages with them. */
static void prune_closed(struct ag_mgr *m)
{
    size_t closed = m->n_all - m->n_open;
    for (struct ag_conv *c = m->convs, *next; c && closed > m->set.closed_keep; c = next) {
        next = c->link.next;
        if (c->state != AG_CLOSED)
            continue;
        (void)ag_db_delete_conv(m, c->id);
        ag_gws_conv_dropped(m, c->id);
        unlink_conv(m, c);
        ag_conv_free(c);
        closed--;
    }
}

static void close_now(struct ag_conv *c, const char *reason)
{
    struct ag_mgr *m = c->m;
    if (c->state == AG_CLOSED)
        return;
    m->n_open--;
    set_state(c, AG_CLOSED, AG_ST_STOPPED);
    ag_routes_conv_closed(c, reason ? reason : "");
    ag_tasks_conv_closed(m, c->id);
    ag_ctrs_conv_closed(m, c);
    (void)ag_db_put_conv(m, c, false);
    drop_msgs(&c->msgs, &c->n_msgs, &c->cap_msgs); /* on disk: ag_conv_history reads them */
    ag_publish_conv(c, "closed",
                    (const char *const[]){"reason", reason ? reason : "", "state",
                                          "SESSION_STATE_CLOSED", NULL});
    prune_closed(m);
}

int ag_conv_close(struct ag_conv *c, const char *reason, char *err, size_t err_size)
{
    (void)err;
    (void)err_size;
    close_now(c, reason);
    ag_arm(c->m);
    return 0;
}

int ag_conv_keep(struct ag_conv *c, const struct ag_msg *msg)
{
    size_t max = c->m->set.history_in_reply;
    if (c->n_msgs == max && max) { /* the oldest goes */
        ag_msg_done(&c->msgs[0]);
        memmove(&c->msgs[0], &c->msgs[1], (c->n_msgs - 1) * sizeof *c->msgs);
        c->n_msgs--;
    }
    return push_msg(&c->msgs, &c->n_msgs, &c->cap_msgs, msg);
}

static int push_history(void *userdata, const struct ag_msg *msg)
{
    struct ag_history *h = userdata;
    return push_msg(&h->owned, &h->n, &h->cap, msg);
}

int ag_conv_history(const struct ag_conv *c, struct ag_history *ret)
{
    if (c->state != AG_CLOSED) {
        *ret = (struct ag_history){.msgs = c->msgs, .n = c->n_msgs};
        return 0;
    }
    *ret = (struct ag_history){0};
    int r = ag_db_each_msg(c->m, c->id, c->m->set.history_in_reply, push_history, ret);
    if (r < 0)
        ag_history_done(ret);
    ret->msgs = ret->owned;
    return r;
}

void ag_history_done(struct ag_history *h)
{
    if (h->owned)
        drop_msgs(&h->owned, &h->n, &h->cap);
    *h = (struct ag_history){0};
}

int ag_conv_append(struct ag_conv *c, const struct ag_msg *msg, struct ag_msg *ret, char *err,
                   size_t err_size)
{
    struct ag_mgr *m = c->m;
    if (c->state == AG_CLOSED)
        return errmsg_fail(err, err_size, -ESTALE, "cannot add message to closed session");
    size_t len = msg->content ? strlen(msg->content) : 0;
    if (len > m->set.message_max_bytes)
        return errmsg_fail(err, err_size, -EINVAL, "message content exceeds %u bytes",
                           m->set.message_max_bytes);
    struct ag_msg x = *msg;
    if (!x.id[0])
        ag_new_id(x.id);
    if (!x.ts_ns)
        x.ts_ns = ag_now_ns();
    int r = ag_db_put_msg(m, c, c->next_seq, &x);
    if (r < 0)
        return errmsg_fail(err, err_size, r,
                           r == -ENOSPC   ? "the state disk is full"
                           : r == -EEXIST ? "a message with id %s exists in this session"
                                          : "cannot record the message",
                           x.id);
    c->next_seq++;
    (void)ag_conv_keep(c, &x);
    c->activity_ns = c->updated_ns = ag_now_ns();
    bool woke = c->state == AG_IDLE;
    if (woke) { /* else its row stands: updated_at is its newest message's time on restore */
        set_state(c, AG_ACTIVE, AG_ST_RUNNING);
        (void)ag_db_put_conv(m, c, false);
    }
    if (woke)
        ag_publish_conv(c, "updated", (const char *const[]){"state", "SESSION_STATE_ACTIVE", NULL});
    if (m->bus) {
        char *d[] = {"message_id", x.id,  "role", (char *)ag_role_word(x.role),
                     "session_id", c->id, NULL};
        struct ev e = {.type = "message.sent",
                       .source = "orchestrator",
                       .session_id = c->id,
                       .user_id = c->meta.owner_id ? c->meta.owner_id : "",
                       .data = d};
        (void)ev_publish(m->bus, &e, NULL);
    }
    if (ret)
        *ret = x; /* borrowed strings: the caller's */
    ag_arm(m);
    return 0;
}

int ag_conv_check_live(struct ag_mgr *m, const char *id, struct ag_conv **ret, char *err,
                       size_t err_size)
{
    struct ag_conv *c = ag_conv_find(m, id);
    if (!c)
        return errmsg_fail(err, err_size, -ENOENT, "session not found: %s", id);
    if (c->state != AG_ACTIVE && c->state != AG_IDLE)
        return errmsg_fail(err, err_size, -ESTALE, "session is not active: %s (state: %s)", id,
                           ag_state_word(c->state));
    if (c->expires_ns && c->expires_ns <= ag_now_ns())
        return errmsg_fail(err, err_size, -ESTALE, "session has expired: %s", id);
    *ret = c;
    return 0;
}
