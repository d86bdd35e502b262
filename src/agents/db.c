/* Rows: a conversation is a JSON document in `agents` (kind 'conv'), its messages rows of
 * `agent_messages` (conv_id, seq); and the deep copies of the plain structs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents-internal.h"
#include "base/strv.h"
#include "store/store.h"

/* ---- copies ---- */

int ag_dup_s(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst ? 0 : -ENOMEM;
}

int ag_dup_v(char ***dst, char *const *src)
{
    *dst = src ? strv_copy(src) : NULL;
    return !src || *dst ? 0 : -ENOMEM;
}

void ag_meta_done(struct ag_meta *m)
{
    free(m->name);
    free(m->description);
    free(m->owner_id);
    strv_free(m->labels);
    strv_free(m->tags);
    *m = (struct ag_meta){0};
}

int ag_meta_copy(struct ag_meta *dst, const struct ag_meta *src)
{
    *dst = (struct ag_meta){0};
    if (!src)
        return 0;
    int r = ag_dup_s(&dst->name, src->name) | ag_dup_s(&dst->description, src->description) |
            ag_dup_s(&dst->owner_id, src->owner_id) | ag_dup_v(&dst->labels, src->labels) |
            ag_dup_v(&dst->tags, src->tags);
    if (r)
        ag_meta_done(dst);
    return r ? -ENOMEM : 0;
}

void ag_config_done(struct ag_config *c)
{
    strv_free(c->allowed_images);
    strv_free(c->allowed_networks);
    strv_free(c->allowed_paths);
    *c = (struct ag_config){0};
}

int ag_config_copy(struct ag_config *dst, const struct ag_config *src)
{
    *dst = src ? *src : (struct ag_config){0};
    if (!src)
        return 0;
    dst->allowed_images = dst->allowed_networks = dst->allowed_paths = NULL;
    int r = ag_dup_v(&dst->allowed_images, src->allowed_images) |
            ag_dup_v(&dst->allowed_networks, src->allowed_networks) |
            ag_dup_v(&dst->allowed_paths, src->allowed_paths);
    if (r)
        ag_config_done(dst);
    return r ? -ENOMEM : 0;
}

void ag_prefs_done(struct ag_prefs *p)
{
    free(p->timezone);
    free(p->language);
    free(p->theme);
    *p = (struct ag_prefs){0};
}

int ag_prefs_copy(struct ag_prefs *dst, const struct ag_prefs *src)
{
    *dst = (struct ag_prefs){.notifications = src && src->notifications};
    if (!src)
        return 0;
    int r = ag_dup_s(&dst->timezone, src->timezone) | ag_dup_s(&dst->language, src->language) |
            ag_dup_s(&dst->theme, src->theme);
    if (r)
        ag_prefs_done(dst);
    return r ? -ENOMEM : 0;
}

void ag_msg_done(struct ag_msg *m)
{
    free(m->content);
    free(m->container_id);
    free(m->tool_name);
    free(m->tool_call_id);
    strv_free(m->extra);
    *m = (struct ag_msg){0};
}

int ag_msg_copy(struct ag_msg *dst, const struct ag_msg *src)
{
    *dst = *src;
    dst->content = dst->container_id = dst->tool_name = dst->tool_call_id = NULL;
    dst->extra = NULL;
    int r = ag_dup_s(&dst->content, src->content ? src->content : "") |
            ag_dup_s(&dst->container_id, src->container_id) |
            ag_dup_s(&dst->tool_name, src->tool_name) |
            ag_dup_s(&dst->tool_call_id, src->tool_call_id) | ag_dup_v(&dst->extra, src->extra);
    if (r)
        ag_msg_done(dst);
    return r ? -ENOMEM : 0;
}

/* ---- JSON ---- */

json_t *ag_json_strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char **ag_strv_json(json_t *a)
{
    char **v = NULL;
    size_t n = 0, i;
    json_t *x;
    json_array_foreach(a, i, x) if (json_is_string(x))(void)
        strv_push(&v, &n, strdup(json_string_value(x)));
    return v;
}

char *ag_json_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? strdup(s) : NULL;
}

json_t *ag_conv_json(const struct ag_conv *c)
{
    const struct ag_meta *m = &c->meta;
    const struct ag_config *g = &c->config;
    const struct ag_prefs *p = &c->prefs;
    return json_pack(
        "{s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:{s:s?, s:s?, s:s?, s:o, s:o},"
        " s:{s:i, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:o, s:b, s:o, s:b, s:o, s:b},"
        " s:{s:s?, s:s?, s:s?, s:b}, s:s?, s:o, s:o}",
        "id", c->id, "state", c->state, "status", c->status, "created_ns",
        (json_int_t)c->created_ns, "updated_ns", (json_int_t)c->updated_ns, "expires_ns",
        (json_int_t)c->expires_ns, "closed_ns", (json_int_t)c->closed_ns, "activity_ns",
        (json_int_t)c->activity_ns, "next_seq", (json_int_t)c->next_seq, "meta", "name", m->name,
        "description", m->description, "owner_id", m->owner_id, "labels", ag_json_strv(m->labels),
        "tags", ag_json_strv(m->tags), "config", "max_containers", g->max_containers,
        "max_duration_ns", (json_int_t)g->max_duration_ns, "idle_timeout_ns",
        (json_int_t)g->idle_timeout_ns, "limits", "nano_cpus", (json_int_t)g->limits.nano_cpus,
        "memory_bytes", (json_int_t)g->limits.memory_bytes, "memory_swap",
        (json_int_t)g->limits.memory_swap, "pids_limit", (json_int_t)g->limits.pids_limit,
        "allowed_images", ag_json_strv(g->allowed_images), "allow_network", g->allow_network,
        "allowed_networks", ag_json_strv(g->allowed_networks), "allow_volume_mount",
        g->allow_volume_mount, "allowed_paths", ag_json_strv(g->allowed_paths), "require_approval",
        g->require_approval, "prefs", "timezone", p->timezone, "language", p->language, "theme",
        p->theme, "notifications", p->notifications, "current_task_id", c->current_task_id,
        "task_history", ag_json_strv(c->task_history), "container_ids",
        ag_json_strv(c->container_ids));
}

int ag_conv_from_json(struct ag_conv *c, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *m = json_object_get(j, "meta"), *g = json_object_get(j, "config"),
           *l = json_object_get(g, "limits"), *p = json_object_get(j, "prefs");
    if (!id || strlen(id) != AG_ID_LEN - 1)
        return -EINVAL;
    memcpy(c->id, id, AG_ID_LEN);
    c->state = (enum ag_state)AG_JI64(j, "state");
    c->status = (enum ag_status)AG_JI64(j, "status");
    c->created_ns = (uint64_t)AG_JI64(j, "created_ns");
    c->updated_ns = (uint64_t)AG_JI64(j, "updated_ns");
    c->expires_ns = (uint64_t)AG_JI64(j, "expires_ns");
    c->closed_ns = (uint64_t)AG_JI64(j, "closed_ns");
    c->activity_ns = (uint64_t)AG_JI64(j, "activity_ns");
    c->next_seq = (uint64_t)AG_JI64(j, "next_seq");
    c->meta = (struct ag_meta){
        ag_json_str(m, "name"), ag_json_str(m, "description"), ag_json_str(m, "owner_id"),
        ag_strv_json(json_object_get(m, "labels")), ag_strv_json(json_object_get(m, "tags"))};
    c->config = (struct ag_config){
        .max_containers = (int32_t)AG_JI64(g, "max_containers"),
        .max_duration_ns = AG_JI64(g, "max_duration_ns"),
        .idle_timeout_ns = AG_JI64(g, "idle_timeout_ns"),
        .limits = {AG_JI64(l, "nano_cpus"), AG_JI64(l, "memory_bytes"), AG_JI64(l, "memory_swap"),
                   AG_JI64(l, "pids_limit")},
        .allowed_images = ag_strv_json(json_object_get(g, "allowed_images")),
        .allow_network = AG_JB(g, "allow_network"),
        .allow_volume_mount = AG_JB(g, "allow_volume_mount"),
        .require_approval = AG_JB(g, "require_approval"),
        .allowed_networks = ag_strv_json(json_object_get(g, "allowed_networks")),
        .allowed_paths = ag_strv_json(json_object_get(g, "allowed_paths")),
    };
    c->prefs = (struct ag_prefs){ag_json_str(p, "timezone"), ag_json_str(p, "language"),
                                 ag_json_str(p, "theme"), AG_JB(p, "notifications")};
    c->current_task_id = ag_json_str(j, "current_task_id");
    c->task_history = ag_strv_json(json_object_get(j, "task_history"));
    c->container_ids = ag_strv_json(json_object_get(j, "container_ids"));
    return 0;
}

/* ---- rows ---- */

static int run(struct ag_mgr *m, sqlite3_stmt *st, bool try)
{
    int r = try ? store_try(m->store, st) : store_run(m->store, st);
    sqlite3_finalize(st);
    return r;
}

int ag_db_put_doc(struct ag_mgr *m, const char *kind, const char *id, json_t *doc, bool try)
{
    sqlite3_stmt *st = NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int r =
        text ? store_prepare(m->store,
                             "INSERT OR REPLACE INTO agents (kind, id, doc) VALUES (?, ?, ?)", &st)
             : -ENOMEM;
    if (r == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        r = run(m, st, try);
    }
    free(text);
    json_decref(doc);
    return r;
}

int ag_db_put_conv(struct ag_mgr *m, const struct ag_conv *c, bool try)
{
    return ag_db_put_doc(m, "conv", c->id, ag_conv_json(c), try);
}

int ag_db_put_msg(struct ag_mgr *m, const struct ag_conv *c, uint64_t seq, const struct ag_msg *msg)
{
    sqlite3_stmt *st = NULL;
    json_t *meta =
        json_pack("{s:s?, s:s?, s:s?, s:o, s:s?}", "container_id", msg->container_id, "tool_name",
                  msg->tool_name, "tool_call_id", msg->tool_call_id, "extra",
                  ag_json_strv(msg->extra), "reply_to", msg->reply_to[0] ? msg->reply_to : NULL);
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    int r = text ? store_prepare(m->store,
                                 "INSERT INTO agent_messages (conv_id, seq, id, ts_ns, role,"
                                 " content, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 &st)
                 : -ENOMEM;
    if (r == 0) {
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
        sqlite3_bind_text(st, 3, msg->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)msg->ts_ns);
        sqlite3_bind_int(st, 5, msg->role);
        sqlite3_bind_text(st, 6, msg->content ? msg->content : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
        r = run(m, st, true); /* what a client asks: refused rather than spend the reserve */
    }
    free(text);
    json_decref(meta);
    return r;
}

int ag_db_delete_conv(struct ag_mgr *m, const char *id)
{
    const char *sql[] = {"DELETE FROM agents WHERE kind = 'conv' AND id = ?",
                         "DELETE FROM agent_messages WHERE conv_id = ?"};
    int r = 0;
    for (size_t i = 0; i < 2 && r == 0; i++) {
        sqlite3_stmt *st = NULL;
        if ((r = store_prepare(m->store, sql[i], &st)) == 0) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            r = run(m, st, false);
        }
    }
    return r;
}

int ag_db_load_kind(struct ag_mgr *m, const char *kind, int (*fn)(struct ag_mgr *m, json_t *doc))
{
    sqlite3_stmt *st = NULL;
    int r = store_prepare(m->store, "SELECT doc FROM agents WHERE kind = ? ORDER BY rowid", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads(store_column_text(st, 0), 0, NULL);
        if (doc)
            (void)fn(m, doc);
        json_decref(doc);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : -EIO;
}

uint64_t ag_db_next_seq(struct ag_mgr *m, const char *conv_id)
{
    /* The next message's place: its row is not rewritten per message, the messages say it. */
    sqlite3_stmt *st = NULL;
    uint64_t next = 0;
    if (store_prepare(m->store, "SELECT MAX(seq) FROM agent_messages WHERE conv_id = ?", &st) < 0)
        return 0;
    sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        next = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    return next;
}

int ag_db_each_msg(struct ag_mgr *m, const char *conv_id, size_t newest,
                   int (*fn)(void *userdata, const struct ag_msg *msg), void *userdata)
{
    sqlite3_stmt *st = NULL;
    int r = store_prepare(m->store,
                          "SELECT id, ts_ns, role, content, meta FROM (SELECT * FROM"
                          " agent_messages WHERE conv_id = ? ORDER BY seq DESC LIMIT ?)"
                          " ORDER BY seq",
                          &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)newest);
    int failed = 0;
    while (!failed && (r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *meta = json_loads(store_column_text(st, 4), 0, NULL);
        struct ag_msg msg = {
            .ts_ns = (uint64_t)sqlite3_column_int64(st, 1),
            .role = sqlite3_column_int(st, 2),
            .content = (char *)store_column_text(st, 3),
            .container_id = (char *)json_string_value(json_object_get(meta, "container_id")),
            .tool_name = (char *)json_string_value(json_object_get(meta, "tool_name")),
            .tool_call_id = (char *)json_string_value(json_object_get(meta, "tool_call_id")),
        };
        char **extra = ag_strv_json(json_object_get(meta, "extra"));
        msg.extra = extra;
        snprintf(msg.id, sizeof msg.id, "%s", store_column_text(st, 0));
        const char *rt = json_string_value(json_object_get(meta, "reply_to"));
        snprintf(msg.reply_to, sizeof msg.reply_to, "%s", rt ? rt : "");
        failed = fn(userdata, &msg);
        strv_free(extra);
        json_decref(meta);
    }
    sqlite3_finalize(st);
    return failed ? failed : r == SQLITE_DONE ? 0 : -EIO;
}

/* ---- agents ---- */

static json_t *limits_json(const struct ag_limits *l)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "nano_cpus", (json_int_t)l->nano_cpus, "memory_bytes",
                     (json_int_t)l->memory_bytes, "memory_swap", (json_int_t)l->memory_swap,
                     "pids_limit", (json_int_t)l->pids_limit);
}

int ag_db_put_agent(struct ag_mgr *m, const struct ag_agent *a, bool try)
{
    const struct ag_agent_spec *s = &a->spec;
    json_t *j = json_pack(
        "{s:s, s:i, s:i, s:I, s:s?, s:i, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:o, s:o,"
        " s:i, s:o, s:b, s:b}",
        "id", a->id, "state", a->state, "status", a->status, "registered_ns",
        (json_int_t)a->registered_ns, "name", s->name, "type", s->type, "version", s->version,
        "description", s->description, "owner_id", s->owner_id, "hostname", s->hostname, "pid",
        s->pid, "labels", ag_json_strv(s->labels), "tags", ag_json_strv(s->tags), "supported_tasks",
        ag_json_strv(s->supported_tasks), "supported_tools", ag_json_strv(s->supported_tools),
        "supported_protocols", ag_json_strv(s->supported_protocols), "max_concurrent_tasks",
        s->max_concurrent_tasks, "limits", limits_json(&s->limits), "supports_streaming",
        s->supports_streaming, "supports_cancellation", s->supports_cancellation);
    return ag_db_put_doc(m, "agent", a->id, j, try);
}

int ag_db_delete(struct ag_mgr *m, const char *kind, const char *id)
{
    sqlite3_stmt *st = NULL;
    int r = store_prepare(m->store, "DELETE FROM agents WHERE kind = ? AND id = ?", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        r = run(m, st, false);
    }
    return r;
}

int ag_db_load_agents(struct ag_mgr *m)
{
    sqlite3_stmt *st = NULL;
    int r =
        store_prepare(m->store, "SELECT doc FROM agents WHERE kind = 'agent' ORDER BY rowid", &st);
    if (r < 0)
        return r;
    uint64_t now = ag_now_ns();
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *j = json_loads(store_column_text(st, 0), 0, NULL),
               *l = json_object_get(j, "limits");
        const char *id = json_string_value(json_object_get(j, "id"));
        struct ag_agent *a = id && strlen(id) == AG_ID_LEN - 1 ? calloc(1, sizeof *a) : NULL;
        if (a) {
            a->m = m;
            memcpy(a->id, id, AG_ID_LEN);
            a->state = (enum ag_agent_state)AG_JI64(j, "state");
            a->status = (enum ag_status)AG_JI64(j, "status");
            a->registered_ns = (uint64_t)AG_JI64(j, "registered_ns");
            a->heartbeat_ns = now; /* its TTL counts from this droverd's start */
            a->spec = (struct ag_agent_spec){
                .name = ag_json_str(j, "name"),
                .type = (int)AG_JI64(j, "type"),
                .version = ag_json_str(j, "version"),
                .description = ag_json_str(j, "description"),
                .owner_id = ag_json_str(j, "owner_id"),
                .hostname = ag_json_str(j, "hostname"),
                .pid = ag_json_str(j, "pid"),
                .labels = ag_strv_json(json_object_get(j, "labels")),
                .tags = ag_strv_json(json_object_get(j, "tags")),
                .supported_tasks = ag_strv_json(json_object_get(j, "supported_tasks")),
                .supported_tools = ag_strv_json(json_object_get(j, "supported_tools")),
                .supported_protocols = ag_strv_json(json_object_get(j, "supported_protocols")),
                .max_concurrent_tasks = (int32_t)AG_JI64(j, "max_concurrent_tasks"),
                .limits = {AG_JI64(l, "nano_cpus"), AG_JI64(l, "memory_bytes"),
                           AG_JI64(l, "memory_swap"), AG_JI64(l, "pids_limit")},
                .supports_streaming = AG_JB(j, "supports_streaming"),
                .supports_cancellation = AG_JB(j, "supports_cancellation"),
            };
            DLIST_PREPEND(&m->agents, a, link);
        }
        json_decref(j);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : -EIO;
}
