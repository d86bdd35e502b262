/* Agents that call in: they register (a new id each time; names may repeat), heartbeat, and
 * unregister. One that sends nothing (Register, Heartbeat) for agent_ttl is TERMINATED, its
 * event published, and from then on answers "agent not found" so that it registers again, as
 * baaaht's clients do when they reconnect. Registered agents are rows: a droverd that starts
 * again knows them, their TTL counting from its start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "events/events.h"

void ag_agent_spec_done(struct ag_agent_spec *s)
{
    free(s->name);
    free(s->version);
    free(s->description);
    free(s->owner_id);
    free(s->hostname);
    free(s->pid);
    strv_free(s->labels);
    strv_free(s->tags);
    strv_free(s->supported_tasks);
    strv_free(s->supported_tools);
    strv_free(s->supported_protocols);
    *s = (struct ag_agent_spec){0};
}

int ag_agent_spec_copy(struct ag_agent_spec *d, const struct ag_agent_spec *s)
{
    *d = *s;
    d->name = d->version = d->description = d->owner_id = d->hostname = d->pid = NULL;
    d->labels = d->tags = d->supported_tasks = d->supported_tools = d->supported_protocols = NULL;
    int r = ag_dup_s(&d->name, s->name) | ag_dup_s(&d->version, s->version) |
            ag_dup_s(&d->description, s->description) | ag_dup_s(&d->owner_id, s->owner_id) |
            ag_dup_s(&d->hostname, s->hostname) | ag_dup_s(&d->pid, s->pid) |
            ag_dup_v(&d->labels, s->labels) | ag_dup_v(&d->tags, s->tags) |
            ag_dup_v(&d->supported_tasks, s->supported_tasks) |
            ag_dup_v(&d->supported_tools, s->supported_tools) |
            ag_dup_v(&d->supported_protocols, s->supported_protocols);
    if (r)
        ag_agent_spec_done(d);
    return r ? -ENOMEM : 0;
}

static void publish(struct ag_agent *a, const char *type, const char *reason)
{
    char t[16];
    if (!a->m->bus)
        return;
    snprintf(t, sizeof t, "%d", a->spec.type);
    char *d[] = {"agent_id", a->id, "name",   a->spec.name ? a->spec.name : "",
                 "type",     t,     "reason", (char *)(reason ? reason : ""),
                 NULL};
    struct ev e = {
        .type = type, .source = "agent", .agent_id = a->id, .labels = a->spec.labels, .data = d};
    (void)ev_publish(a->m->bus, &e, NULL);
}

static void agent_free(struct ag_agent *a)
{
    ag_agent_spec_done(&a->spec);
    free(a);
}

void ag_agents_free(struct ag_mgr *m)
{
    while (m->agents) {
        struct ag_agent *a = m->agents;
        DLIST_REMOVE(a, link);
        agent_free(a);
    }
}

uint64_t ag_agent_deadline(const struct ag_agent *a)
{
    return a->state == AG_AGENT_TERMINATED ? UINT64_MAX : a->heartbeat_ns + a->m->set.agent_ttl_ns;
}

void ag_agents_expire(struct ag_mgr *m, uint64_t now)
{
    for (struct ag_agent *a = m->agents; a; a = a->link.next) {
        if (ag_agent_deadline(a) > now)
            continue;
        a->state = AG_AGENT_TERMINATED;
        a->status = AG_ST_TERMINATED;
        (void)ag_db_put_agent(m, a, false);
        log_info("agent %s (%s) missed its heartbeats: terminated", a->spec.name, a->id);
        ag_agent_gone(a, "agent missed its heartbeats");
        char why[96];
        snprintf(why, sizeof why, "agent %s missed its heartbeats", a->id);
        ag_tasks_agent_gone(m, a->id, "agent_terminated", why);
        publish(a, "agent.terminated", "heartbeat_timeout");
    }
}

int ag_agent_register(struct ag_mgr *m, const struct ag_agent_spec *spec, struct ag_agent **ret,
                      char *err, size_t err_size)
{
    if (!spec->name || !*spec->name)
        return errmsg_fail(err, err_size, -EINVAL, "name is required");
    struct ag_agent *a = calloc(1, sizeof *a);
    if (!a || ag_agent_spec_copy(&a->spec, spec) < 0) {
        free(a);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    a->m = m;
    ag_new_id(a->id);
    a->registered_ns = a->heartbeat_ns = ag_now_ns();
    a->state = AG_AGENT_IDLE;
    a->status = AG_ST_RUNNING;
    int r = ag_db_put_agent(m, a, true);
    if (r < 0) {
        agent_free(a);
        return errmsg_fail(err, err_size, r,
                           r == -ENOSPC ? "the state disk is full" : "cannot record the agent");
    }
    DLIST_PREPEND(&m->agents, a, link);
    publish(a, "agent.registered", NULL);
    ag_arm(m);
    *ret = a;
    return 0;
}

/* A live agent by id: "agent not found" for an unknown or terminated one. */
static struct ag_agent *live(struct ag_mgr *m, const char *id, char *err, size_t err_size, int *r)
{
    if (!id || !*id) {
        *r = errmsg_fail(err, err_size, -EINVAL, "agent_id is required");
        return NULL;
    }
    for (struct ag_agent *a = m->agents; a; a = a->link.next)
        if (!strcmp(a->id, id) && a->state != AG_AGENT_TERMINATED)
            return a;
    *r = errmsg_fail(err, err_size, -ENOENT, "agent not found");
    return NULL;
}

int ag_agent_heartbeat(struct ag_mgr *m, const char *id, uint64_t *ret_ns, char ***ret_pending,
                       char *err, size_t err_size)
{
    int r = 0;
    struct ag_agent *a = live(m, id, err, err_size, &r);
    if (!a)
        return r;
    if (ret_pending && ag_agent_take_pending(m, a->id, ret_pending) < 0)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    a->heartbeat_ns = ag_now_ns();
    *ret_ns = a->heartbeat_ns;
    ag_arm(m); /* its deadline moved: the timer may be armed for it */
    return 0;
}

int ag_agent_unregister(struct ag_mgr *m, const char *id, const char *reason, char *err,
                        size_t err_size)
{
    int r = 0;
    struct ag_agent *a = live(m, id, err, err_size, &r);
    if (!a)
        return r;
    r = ag_db_delete(m, "agent", a->id);
    if (r < 0)
        return errmsg_fail(err, err_size, r, "cannot remove the agent's row");
    ag_agent_gone(a, "agent unregistered");
    ag_tasks_agent_gone(m, a->id, "agent_unregistered", "agent unregistered");
    publish(a, "agent.unregistered", reason);
    DLIST_REMOVE(a, link);
    agent_free(a);
    ag_arm(m);
    return 0;
}

struct ag_agent *ag_agent_find(struct ag_mgr *m, const char *id)
{
    for (struct ag_agent *a = m->agents; id && a; a = a->link.next)
        if (!strcmp(a->id, id))
            return a;
    return NULL;
}

struct ag_agent *ag_agent_next(struct ag_mgr *m, struct ag_agent *prev)
{
    return prev ? prev->link.next : m->agents;
}

void ag_agent_info(const struct ag_agent *a, struct ag_agent_info *ret)
{
    *ret = (struct ag_agent_info){
        .id = a->id,
        .state = a->state == AG_AGENT_IDLE && ag_tasks_agent_busy(a->m, a->id) ? AG_AGENT_BUSY
                                                                               : a->state,
        .status = a->status,
        .registered_ns = a->registered_ns,
        .heartbeat_ns = a->heartbeat_ns,
        .spec = &a->spec,
        .streaming = a->ops != NULL,
    };
}

size_t ag_agents_count(const struct ag_mgr *m, size_t *ret_live)
{
    size_t n = 0, live_n = 0;
    for (const struct ag_agent *a = m->agents; a; a = a->link.next, n++)
        live_n += a->state != AG_AGENT_TERMINATED;
    if (ret_live)
        *ret_live = live_n;
    return n;
}
