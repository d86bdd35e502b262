/* Routing: a user message to the conversation's assistant and its reply back to the
 * conversation's streams (see agents.h). Also the streams themselves: an agent's bound stream,
 * a conversation's subscribers, and waits for one reply.
 *
 * A route is a reply owed: the agent, the conversation, the user message and a correlation id.
 * Every route has the same timeout, so the manager's routes, oldest first, are in deadline
 * order and one timer armed at the first one serves them all. A reply looks its route up by
 * correlation id among at most routes_max per agent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/utf8.h"

#define TIMEOUT_TEXT "Timed out waiting for assistant response."

struct ag_route {
    DLIST_LINK(ag_route) link; /* m->routes, oldest first */
    char corr[AG_ID_LEN];
    struct ag_agent *agent;
    struct ag_conv *conv;
    char user_msg_id[AG_MSG_ID_LEN];
    uint64_t deadline_ns;
};

struct ag_conv_sub {
    DLIST_LINK(ag_conv_sub) link;
    struct ag_conv *c;
    const struct ag_conv_ops *ops;
    void *userdata;
};

struct ag_wait {
    DLIST_LINK(ag_wait) link;
    struct ag_conv *c;
    char id[AG_MSG_ID_LEN];
    void (*fn)(void *userdata, const struct ag_msg *reply, const char *why);
    void *userdata;
};

/* ---- routes ---- */

static void route_timer(uv_timer_t *t);

static void arm_routes(struct ag_mgr *m)
{
    struct ag_route *r = m->routes.first;
    if (!r) {
        uv_timer_stop(m->route_timer);
        return;
    }
    uint64_t now = ag_now_ns();
    uint64_t ms = r->deadline_ns > now ? (r->deadline_ns - now) / 1000000u + 1 : 0;
    uv_timer_start(m->route_timer, route_timer, ms, 0);
}

static void route_free(struct ag_route *r)
{
    struct ag_mgr *m = r->agent->m;
    DQUEUE_REMOVE(&m->routes, r, link);
    r->agent->n_routes--;
    free(r);
}

/* Wakes the waits for the reply to user message id with reply (or NULL and why). */
static void wake(struct ag_conv *c, const char *id, const struct ag_msg *reply, const char *why)
{
    for (struct ag_wait *w = c->waits, *next; w; w = next) {
        next = w->link.next;
        if (id && strcmp(w->id, id))
            continue;
        DLIST_REMOVE(w, link);
        w->fn(w->userdata, reply, why);
        free(w);
    }
}

/* The route's reply is text: an ASSISTANT message, stored, then to every stream and wait. */
static void answer(struct ag_route *r, const char *text)
{
    struct ag_conv *c = r->conv;
    struct ag_msg reply = {.role = AG_ASSISTANT, .content = (char *)text}, stored;
    char err[AG_ERR_MAX], id[AG_MSG_ID_LEN];
    snprintf(reply.reply_to, sizeof reply.reply_to, "%s", r->user_msg_id);
    snprintf(id, sizeof id, "%s", r->user_msg_id);
    route_free(r);
    arm_routes(c->m);
    if (ag_conv_append(c, &reply, &stored, err, sizeof err) < 0) {
        log_warning("session %s: the assistant's reply is lost: %s", c->id, err);
        wake(c, id, NULL, err);
        return;
    }
    const struct ag_msg *kept = &c->msgs[c->n_msgs - 1];
    for (struct ag_conv_sub *s = c->subs, *next; s; s = next) {
        next = s->link.next;
        s->ops->message(s->userdata, kept);
    }
    wake(c, id, kept, NULL);
}

static void route_timer(uv_timer_t *t)
{
    struct ag_mgr *m = t->data;
    uint64_t now = ag_now_ns();
    while (m->routes.first && m->routes.first->deadline_ns <= now)
        answer(m->routes.first, TIMEOUT_TEXT);
    arm_routes(m);
}

/* Every reply the agent owes ends as a timeout (its stream went, or it did). */
static void routes_lost(struct ag_agent *a)
{
    struct ag_mgr *m = a->m;
    for (struct ag_route *r = m->routes.first, *next; r && a->n_routes; r = next) {
        next = r->link.next;
        if (r->agent == a)
            answer(r, TIMEOUT_TEXT);
    }
}

/* ---- agents' streams ---- */

int ag_agent_bind(struct ag_mgr *m, const char *id, const struct ag_agent_ops *ops, void *userdata,
                  struct ag_agent **ret, char *err, size_t err_size)
{
    struct ag_agent *a = id && *id ? ag_agent_find(m, id) : NULL;
    if (!id || !*id)
        return errmsg_fail(err, err_size, -EINVAL, "first message must contain agent_id");
    if (!a || a->state == AG_AGENT_TERMINATED)
        return errmsg_fail(err, err_size, -ENOENT, "agent not found");
    if (a->ops) { /* the newer stream wins; what the agent owes stays owed, on this one */
        const struct ag_agent_ops *old = a->ops;
        void *old_data = a->ops_data;
        a->ops = NULL;
        old->ended(old_data, "agent stream replaced by a newer one");
    }
    a->ops = ops;
    a->ops_data = userdata;
    a->heartbeat_ns = ag_now_ns();
    ag_arm(m);
    *ret = a;
    return 0;
}

void ag_agent_unbind(struct ag_agent *a, void *userdata)
{
    if (!a || !a->ops || a->ops_data != userdata)
        return;
    a->ops = NULL;
    a->ops_data = NULL;
    routes_lost(a);
}

void ag_agent_gone(struct ag_agent *a, const char *why)
{
    if (a->ops) {
        const struct ag_agent_ops *ops = a->ops;
        void *data = a->ops_data;
        a->ops = NULL;
        a->ops_data = NULL;
        ops->ended(data, why);
    }
    routes_lost(a);
}

static const char *header(char *const *map, const char *key)
{
    for (size_t i = 0; map && map[i] && map[i + 1]; i += 2)
        if (!strcmp(map[i], key))
            return map[i + 1];
    return NULL;
}

static void take_reply(struct ag_agent *a, const struct ag_amsg *msg)
{
    const char *corr = msg->correlation_id && *msg->correlation_id
                           ? msg->correlation_id
                           : header(msg->data.headers, "correlation_id");
    const char *sid = msg->session_id && *msg->session_id ? msg->session_id
                                                          : header(msg->data.headers, "session_id");
    struct ag_route *r = a->m->routes.first;
    if (!corr)
        return;
    while (r && (r->agent != a || strcmp(r->corr, corr)))
        r = r->link.next;
    if (!r || !sid || strcmp(sid, r->conv->id))
        return; /* unknown, already answered, or not this conversation's: dropped */
    char *text = utf8_sanitize(msg->data.data, msg->data.len, NULL);
    if (!text)
        return;
    answer(r, text);
    free(text);
}

void ag_agent_receive(struct ag_agent *a, const struct ag_amsg *msg)
{
    if (a->state == AG_AGENT_TERMINATED)
        return;
    a->heartbeat_ns = ag_now_ns();
    ag_arm(a->m);
    if (msg && msg->payload == AG_PAY_TASK)
        ag_tasks_agent_update(a, msg);
    else if (msg && msg->payload == AG_PAY_DATA &&
             (msg->type == AG_AMSG_DATA || msg->type == AG_AMSG_ERROR ||
              msg->type == AG_AMSG_TASK_RESPONSE))
        take_reply(a, msg);
}

int ag_agent_send(struct ag_mgr *m, const char *id, const struct ag_amsg *msg, char *err,
                  size_t err_size)
{
    struct ag_agent *a = id && *id ? ag_agent_find(m, id) : NULL;
    if (!id || !*id)
        return errmsg_fail(err, err_size, -EINVAL, "agent_id is required");
    if (!a || a->state == AG_AGENT_TERMINATED)
        return errmsg_fail(err, err_size, -ENOENT, "agent not found");
    if (!a->ops)
        return errmsg_fail(err, err_size, -ENOTCONN, "agent has no stream");
    int r = a->ops->deliver(a->ops_data, msg);
    if (r < 0)
        return errmsg_fail(err, err_size, -ENOBUFS, "the agent's stream is full");
    return 0;
}

/* ---- conversations' streams ---- */

int ag_conv_subscribe(struct ag_conv *c, const struct ag_conv_ops *ops, void *userdata,
                      struct ag_conv_sub **ret)
{
    struct ag_conv_sub *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->c = c;
    s->ops = ops;
    s->userdata = userdata;
    DLIST_PREPEND(&c->subs, s, link);
    c->activity_ns = ag_now_ns();
    *ret = s;
    return 0;
}

void ag_conv_unsubscribe(struct ag_conv_sub *s)
{
    if (!s)
        return;
    DLIST_REMOVE(s, link);
    free(s);
}

void ag_conv_heartbeat(struct ag_conv *c)
{
    for (struct ag_conv_sub *s = c->subs, *next; s; s = next) {
        next = s->link.next;
        s->ops->heartbeat(s->userdata);
    }
}

static int failed(struct ag_conv *c, int r, const char *err)
{
    for (struct ag_conv_sub *s = c->subs, *next; s; s = next) {
        next = s->link.next;
        s->ops->failed(s->userdata, r, err);
    }
    return r;
}

/* The assistant: a live agent with a stream, named or labelled so; the lowest id. */
static struct ag_agent *assistant(struct ag_mgr *m)
{
    struct ag_agent *best = NULL;
    for (struct ag_agent *a = m->agents; a; a = a->link.next) {
        const char *role = header(a->spec.labels, "role");
        if (!a->ops || a->state == AG_AGENT_TERMINATED ||
            !((a->spec.name && !strcasecmp(a->spec.name, "assistant")) ||
              (role && !strcasecmp(role, "assistant"))))
            continue;
        if (!best || strcmp(a->id, best->id) < 0)
            best = a;
    }
    return best;
}

int ag_conv_say(struct ag_conv *c, const struct ag_msg *msg, struct ag_msg *ret, char *err,
                size_t err_size)
{
    struct ag_mgr *m = c->m;
    if (msg->role != AG_USER || c->state == AG_CLOSED) {
        int e = ag_conv_append(c, msg, ret, err, err_size); /* stored as is, or refused */
        return e < 0 ? failed(c, e, err) : 0;
    }
    struct ag_agent *a = assistant(m);
    if (!a)
        return failed(c, errmsg_fail(err, err_size, -ENOENT, "assistant agent not found"), err);
    if (a->n_routes >= m->set.routes_max)
        return failed(c, errmsg_fail(err, err_size, -ENOBUFS, "assistant agent is overloaded"),
                      err);
    struct ag_route *r = calloc(1, sizeof *r);
    if (!r)
        return failed(c, errmsg_fail(err, err_size, -ENOMEM, "out of memory"), err);
    struct ag_msg stored;
    int e = ag_conv_append(c, msg, &stored, err, err_size);
    if (e < 0) {
        free(r);
        return failed(c, e, err);
    }
    ag_new_id(r->corr);
    r->agent = a;
    r->conv = c;
    snprintf(r->user_msg_id, sizeof r->user_msg_id, "%s", stored.id);
    r->deadline_ns = ag_now_ns() + m->set.route_timeout_ns;
    DQUEUE_APPEND(&m->routes, r, link);
    a->n_routes++;
    if (m->routes.first == r)
        arm_routes(m);
    char mid[AG_ID_LEN];
    ag_new_id(mid);
    const char *content = stored.content ? stored.content : "";
    struct ag_amsg am = {
        .id = mid,
        .type = AG_AMSG_DATA,
        .ts_ns = stored.ts_ns,
        .source_id = "orchestrator",
        .target_id = a->id,
        .payload = AG_PAY_DATA,
        .data = {.content_type = "text/plain",
                 .data = (const uint8_t *)content,
                 .len = strlen(content)},
        .correlation_id = r->corr,
        .session_id = c->id,
    };
    if (ret)
        *ret = stored;
    if (a->ops->deliver(a->ops_data, &am) < 0) {
        route_free(r);
        arm_routes(m);
        return failed(
            c,
            errmsg_fail(err, err_size, -ENOBUFS, "cannot reach the assistant: its stream is full"),
            err);
    }
    return 0;
}

/* ---- waiting for one reply ---- */

static const struct ag_msg *find_msg(const struct ag_conv *c, const char *id, bool reply)
{
    for (size_t i = c->n_msgs; i-- > 0;)
        if (!strcmp(reply ? c->msgs[i].reply_to : c->msgs[i].id, id))
            return &c->msgs[i];
    return NULL;
}

static bool pending(const struct ag_conv *c, const char *id)
{
    for (struct ag_route *r = c->m->routes.first; r; r = r->link.next)
        if (r->conv == c && !strcmp(r->user_msg_id, id))
            return true;
    return false;
}

int ag_conv_wait_reply(struct ag_conv *c, const char *id,
                       void (*fn)(void *userdata, const struct ag_msg *reply, const char *why),
                       void *userdata, struct ag_wait **ret, char *err, size_t err_size)
{
    *ret = NULL;
    if (!find_msg(c, id, false))
        return errmsg_fail(err, err_size, -ENOENT, "message not found: %s", id);
    const struct ag_msg *reply = find_msg(c, id, true);
    if (reply) {
        fn(userdata, reply, NULL);
        return 0;
    }
    if (!pending(c, id))
        return errmsg_fail(err, err_size, -ENOTCONN, "message %s was not routed to the assistant",
                           id);
    struct ag_wait *w = calloc(1, sizeof *w);
    if (!w)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    w->c = c;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->fn = fn;
    w->userdata = userdata;
    DLIST_PREPEND(&c->waits, w, link);
    *ret = w;
    return 0;
}

void ag_conv_unwait(struct ag_wait *w)
{
    if (!w)
        return;
    DLIST_REMOVE(w, link);
    free(w);
}

const struct ag_msg *ag_conv_last_routed(const struct ag_conv *c)
{
    for (size_t i = c->n_msgs; i-- > 0;) {
        const struct ag_msg *u = &c->msgs[i];
        if (u->role == AG_USER && (find_msg(c, u->id, true) || pending(c, u->id)))
            return u;
    }
    return NULL;
}

/* ---- the end of a conversation or of the manager ---- */

void ag_routes_conv_closed(struct ag_conv *c, const char *reason)
{
    struct ag_mgr *m = c->m;
    for (struct ag_route *r = m->routes.first, *next; r; r = next) {
        next = r->link.next;
        if (r->conv == c)
            route_free(r);
    }
    arm_routes(m);
    wake(c, NULL, NULL, "session closed");
    struct ag_conv_sub *s;
    while ((s = c->subs)) { /* each one is told, then freed */
        DLIST_REMOVE(s, link);
        s->ops->closed(s->userdata, reason);
        free(s);
    }
}

int ag_routes_init(struct ag_mgr *m)
{
    if (!(m->route_timer = malloc(sizeof *m->route_timer)))
        return -ENOMEM;
    uv_timer_init(m->loop, m->route_timer);
    m->route_timer->data = m;
    return 0;
}

static void closed_free(uv_handle_t *h)
{
    free(h);
}

void ag_routes_free(struct ag_mgr *m)
{
    while (m->routes.first)
        route_free(m->routes.first);
    if (m->route_timer)
        uv_close((uv_handle_t *)m->route_timer, closed_free);
}
