/* Gateway sessions: a client's handle on a conversation of its own (see agents.h). The handle
 * keeps what the client said of itself whole (client type and version, streaming settings);
 * the conversation keeps the rest, and its state is the handle's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/strv.h"
#include "events/events.h"

void ag_gw_meta_done(struct ag_gw_meta *m)
{
    free(m->name);
    free(m->description);
    free(m->user_id);
    free(m->client_type);
    free(m->client_version);
    strv_free(m->labels);
    strv_free(m->tags);
    *m = (struct ag_gw_meta){0};
}

void ag_gw_config_done(struct ag_gw_config *c)
{
    strv_free(c->allowed_origins);
    *c = (struct ag_gw_config){0};
}

static void gw_free(struct ag_gw *g)
{
    ag_gw_meta_done(&g->meta);
    ag_gw_config_done(&g->config);
    free(g);
}

void ag_gws_free(struct ag_mgr *m)
{
    while (m->gws.first) {
        struct ag_gw *g = m->gws.first;
        DQUEUE_REMOVE(&m->gws, g, link);
        gw_free(g);
    }
}

static void publish(struct ag_gw *g, const char *what, const char *reason)
{
    char type[48];
    if (!g->m->bus)
        return;
    snprintf(type, sizeof type, "gateway.session.%s", what);
    char *d[] = {"gateway_session_id",
                 g->id,
                 "orch_session_id",
                 g->conv_id,
                 "name",
                 g->meta.name ? g->meta.name : "",
                 "user_id",
                 g->meta.user_id ? g->meta.user_id : "",
                 reason ? "reason" : NULL,
                 (char *)reason,
                 NULL};
    struct ev e = {.type = type,
                   .source = "gateway",
                   .session_id = g->conv_id,
                   .user_id = g->meta.user_id ? g->meta.user_id : "",
                   .labels = g->meta.labels,
                   .data = d};
    (void)ev_publish(g->m->bus, &e, NULL);
}

json_t *ag_gw_json(const struct ag_gw *g)
{
    const struct ag_gw_meta *m = &g->meta;
    const struct ag_gw_config *c = &g->config;
    return json_pack("{s:s, s:s, s:I, s:{s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:o},"
                     " s:{s:I, s:I, s:b, s:i, s:I, s:I, s:b, s:b, s:b, s:o}}",
                     "id", g->id, "conv_id", g->conv_id, "created_ns", (json_int_t)g->created_ns,
                     "meta", "name", m->name, "description", m->description, "user_id", m->user_id,
                     "client_type", m->client_type, "client_version", m->client_version, "labels",
                     ag_json_strv(m->labels), "tags", ag_json_strv(m->tags), "config", "timeout_ns",
                     (json_int_t)c->timeout_ns, "idle_timeout_ns", (json_int_t)c->idle_timeout_ns,
                     "enable_streaming", c->enable_streaming, "max_message_size",
                     c->max_message_size, "chunk_size", (json_int_t)c->chunk_size, "chunk_delay_ns",
                     (json_int_t)c->chunk_delay_ns, "enable_delta", c->enable_delta, "require_auth",
                     c->require_auth, "enable_encryption", c->enable_encryption, "allowed_origins",
                     ag_json_strv(c->allowed_origins));
}

int ag_gw_load(struct ag_mgr *m, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *conv = json_string_value(json_object_get(j, "conv_id"));
    json_t *md = json_object_get(j, "meta"), *c = json_object_get(j, "config");
    if (!id || !conv || strlen(id) != AG_ID_LEN - 1 || strlen(conv) != AG_ID_LEN - 1)
        return 0;
    if (!ag_conv_find(m, conv)) { /* its conversation was dropped while droverd was away */
        (void)ag_db_delete(m, "gateway", id);
        return 0;
    }
    struct ag_gw *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->m = m;
    memcpy(g->id, id, AG_ID_LEN);
    memcpy(g->conv_id, conv, AG_ID_LEN);
    g->created_ns = (uint64_t)AG_JI64(j, "created_ns");
    g->meta = (struct ag_gw_meta){ag_json_str(md, "name"),
                                  ag_json_str(md, "description"),
                                  ag_json_str(md, "user_id"),
                                  ag_json_str(md, "client_type"),
                                  ag_json_str(md, "client_version"),
                                  ag_strv_json(json_object_get(md, "labels")),
                                  ag_strv_json(json_object_get(md, "tags"))};
    g->config = (struct ag_gw_config){
        .timeout_ns = AG_JI64(c, "timeout_ns"),
        .idle_timeout_ns = AG_JI64(c, "idle_timeout_ns"),
        .enable_streaming = AG_JB(c, "enable_streaming"),
        .max_message_size = (int32_t)AG_JI64(c, "max_message_size"),
        .chunk_size = AG_JI64(c, "chunk_size"),
        .chunk_delay_ns = AG_JI64(c, "chunk_delay_ns"),
        .enable_delta = AG_JB(c, "enable_delta"),
        .require_auth = AG_JB(c, "require_auth"),
        .enable_encryption = AG_JB(c, "enable_encryption"),
        .allowed_origins = ag_strv_json(json_object_get(c, "allowed_origins")),
    };
    DQUEUE_APPEND(&m->gws, g, link);
    return 0;
}

int ag_gw_create(struct ag_mgr *m, const struct ag_gw_meta *meta, const struct ag_gw_config *config,
                 struct ag_gw **ret, char *err, size_t err_size)
{
    static const struct ag_gw_meta none_meta;
    static const struct ag_gw_config none_config;
    if (!meta)
        meta = &none_meta;
    if (!config)
        config = &none_config;
    if (config->timeout_ns < 0 || config->idle_timeout_ns < 0 || config->chunk_size < 0 ||
        config->chunk_delay_ns < 0 || config->max_message_size < 0)
        return errmsg_fail(err, err_size, -EINVAL, "sizes and durations must not be negative");
    if (config->chunk_delay_ns > 10ll * 1000000000ll)
        return errmsg_fail(err, err_size, -EINVAL, "chunk_delay_ns is over 10 s");
    struct ag_gw *g = calloc(1, sizeof *g);
    if (!g)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    g->m = m;
    g->meta = *meta;
    g->config = *config;
    g->meta.name = g->meta.description = g->meta.user_id = g->meta.client_type =
        g->meta.client_version = NULL;
    g->meta.labels = g->meta.tags = g->config.allowed_origins = NULL;
    if (ag_dup_s(&g->meta.name, meta->name) | ag_dup_s(&g->meta.description, meta->description) |
        ag_dup_s(&g->meta.user_id, meta->user_id) |
        ag_dup_s(&g->meta.client_type, meta->client_type) |
        ag_dup_s(&g->meta.client_version, meta->client_version) |
        ag_dup_v(&g->meta.labels, meta->labels) | ag_dup_v(&g->meta.tags, meta->tags) |
        ag_dup_v(&g->config.allowed_origins, config->allowed_origins)) {
        gw_free(g);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    /* The conversation it wraps, as upstream maps one onto the other. */
    struct ag_meta cm = {.name = meta->name,
                         .description = meta->description,
                         .owner_id = meta->user_id,
                         .labels = meta->labels,
                         .tags = meta->tags};
    struct ag_config cc = {.max_duration_ns = config->timeout_ns,
                           .idle_timeout_ns = config->idle_timeout_ns};
    struct ag_conv *c;
    int r = ag_conv_create(m, &cm, &cc, &c, err, err_size);
    if (r < 0) {
        gw_free(g);
        return r;
    }
    ag_new_id(g->id);
    memcpy(g->conv_id, c->id, AG_ID_LEN);
    g->created_ns = c->created_ns;
    r = ag_db_put_doc(m, "gateway", g->id, ag_gw_json(g), true);
    if (r < 0) {
        (void)ag_conv_close(c, "its gateway session could not be recorded", NULL, 0);
        gw_free(g);
        return errmsg_fail(err, err_size, r,
                           r == -ENOSPC ? "the state disk is full" : "cannot record the session");
    }
    DQUEUE_APPEND(&m->gws, g, link);
    publish(g, "created", NULL);
    *ret = g;
    return 0;
}

struct ag_gw *ag_gw_find(struct ag_mgr *m, const char *id)
{
    for (struct ag_gw *g = m->gws.first; id && g; g = g->link.next)
        if (!strcmp(g->id, id))
            return g;
    return NULL;
}

void ag_gw_info(const struct ag_gw *g, struct ag_gw_info *ret)
{
    struct ag_conv *c = ag_conv_find(g->m, g->conv_id);
    *ret = (struct ag_gw_info){.id = g->id,
                               .conv_id = g->conv_id,
                               .conv = c,
                               .state = c ? c->state : AG_CLOSED,
                               .status = c ? c->status : AG_ST_STOPPED,
                               .created_ns = g->created_ns,
                               .meta = &g->meta,
                               .config = &g->config};
    if (c) {
        ret->updated_ns = c->updated_ns;
        ret->expires_ns = c->expires_ns;
        ret->closed_ns = c->closed_ns;
    }
}

struct ag_gw *ag_gw_next(struct ag_mgr *m, struct ag_gw *prev, const struct ag_gw_filter *f)
{
    for (struct ag_gw *g = prev ? prev->link.next : m->gws.first; g; g = g->link.next) {
        struct ag_gw_info i;
        ag_gw_info(g, &i);
        if (f && ((f->state && i.state != f->state) || (f->status && i.status != f->status) ||
                  (f->user_id && *f->user_id &&
                   strcmp(g->meta.user_id ? g->meta.user_id : "", f->user_id)) ||
                  !ag_labels_match(g->meta.labels, f->labels)))
            continue;
        return g;
    }
    return NULL;
}

static void drop(struct ag_gw *g)
{
    (void)ag_db_delete(g->m, "gateway", g->id);
    DQUEUE_REMOVE(&g->m->gws, g, link);
    gw_free(g);
}

int ag_gw_close(struct ag_gw *g, const char *reason, char *err, size_t err_size)
{
    struct ag_conv *c = ag_conv_find(g->m, g->conv_id);
    if (c) {
        int r = ag_conv_close(c, reason, err, err_size);
        if (r < 0)
            return r;
    }
    publish(g, "closed", reason ? reason : "");
    drop(g);
    return 0;
}

void ag_gws_conv_dropped(struct ag_mgr *m, const char *conv_id)
{
    for (struct ag_gw *g = m->gws.first, *next; g; g = next) {
        next = g->link.next;
        if (!strcmp(g->conv_id, conv_id))
            drop(g);
    }
}

int ag_gw_say(struct ag_gw *g, const struct ag_msg *msg, struct ag_msg *ret, char *err,
              size_t err_size)
{
    struct ag_conv *c = ag_conv_find(g->m, g->conv_id);
    size_t len = msg->content ? strlen(msg->content) : 0;
    if (!c)
        return errmsg_fail(err, err_size, -ESTALE, "cannot add message to closed session");
    if (g->config.max_message_size > 0 && len > (size_t)g->config.max_message_size)
        return errmsg_fail(err, err_size, -EINVAL, "message exceeds max_message_size (%zu > %d)",
                           len, g->config.max_message_size);
    return ag_conv_say(c, msg, ret, err, err_size);
}

size_t ag_gw_count(const struct ag_mgr *m, size_t *ret_open)
{
    size_t n = 0, open = 0;
    for (struct ag_gw *g = m->gws.first; g; g = g->link.next, n++) {
        struct ag_gw_info i;
        ag_gw_info(g, &i);
        open += i.state == AG_ACTIVE || i.state == AG_IDLE;
    }
    if (ret_open)
        *ret_open = open;
    return n;
}
