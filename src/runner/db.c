/* Projects, runners and conversations in the database: one row per object in the `stratavore`
 * table (kind, id, doc), the doc a JSON object written from a table of fields. A field added
 * later reads as zero from older rows, so new fields need no migration. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "runner/runner-internal.h"
#include "store/store.h"

enum ftype { F_STR, F_STRV, F_CHARS, F_I32, F_I64, F_U64, F_F64, F_BOOL };

struct field {
    const char *name;
    enum ftype type;
    size_t off;
    size_t size; /* F_CHARS: the array's size */
};

#define FS(T, f, ty)                                                                               \
    {                                                                                              \
#f, ty, offsetof(T, f), 0                                                                  \
    }
#define FC(T, f)                                                                                   \
    {                                                                                              \
#f, F_CHARS, offsetof(T, f), sizeof(((T *)0)->f)                                           \
    }
#define FN(n, T, f, ty)                                                                            \
    {                                                                                              \
        n, ty, offsetof(T, f), 0                                                                   \
    }

static const struct field quota_fields[] = {
    FS(struct rn_quota, max_runners, F_I32), FS(struct rn_quota, max_memory_mb, F_I64),
    FS(struct rn_quota, max_cpu_pct, F_I32), FS(struct rn_quota, max_tokens_day, F_I64),
    FS(struct rn_quota, max_pids, F_I32),
};

static const struct field launch_fields[] = {
    FS(struct rn_launch, command, F_STRV),       FS(struct rn_launch, env, F_STRV),
    FS(struct rn_launch, flags, F_STRV),         FS(struct rn_launch, caps, F_STRV),
    FS(struct rn_launch, model, F_STR),          FS(struct rn_launch, has_temperature, F_BOOL),
    FS(struct rn_launch, temperature, F_F64),    FS(struct rn_launch, has_max_tokens, F_BOOL),
    FS(struct rn_launch, max_tokens, F_I32),     FS(struct rn_launch, policy, F_I32),
    FS(struct rn_launch, max_restarts, F_I32),   FS(struct rn_launch, backoff_ms, F_I32),
    FS(struct rn_launch, ttl_s, F_I32),          FS(struct rn_launch, heartbeat_required, F_BOOL),
    FS(struct rn_launch, stop_timeout_s, F_I32), FS(struct rn_launch, use_pipes, F_BOOL),
    FS(struct rn_launch, continue_args, F_STRV), FS(struct rn_launch, resume_args, F_STRV),
    FS(struct rn_launch, usage_parser, F_STR),   FS(struct rn_launch, transcript_max, F_I64),
};

static const struct field project_fields[] = {
    FS(struct rn_project, name, F_STR),         FS(struct rn_project, description, F_STR),
    FS(struct rn_project, path, F_STR),         FS(struct rn_project, archived, F_BOOL),
    FS(struct rn_project, metadata, F_STRV),    FS(struct rn_project, tags, F_STRV),
    FS(struct rn_project, created_ns, F_U64),   FS(struct rn_project, updated_ns, F_U64),
    FS(struct rn_project, accessed_ns, F_U64),  FS(struct rn_project, archived_ns, F_U64),
    FS(struct rn_project, tokens_total, F_I64), FS(struct rn_project, tokens_today, F_I64),
    FS(struct rn_project, token_day, F_I64),    FS(struct rn_project, token_alert, F_I32),
};

static const struct field runner_fields[] = {
    FC(struct rn_runner, id),
    FS(struct rn_runner, project, F_STR),
    FS(struct rn_runner, status, F_I32),
    FS(struct rn_runner, model, F_STR),
    FS(struct rn_runner, has_temperature, F_BOOL),
    FS(struct rn_runner, temperature, F_F64),
    FS(struct rn_runner, has_max_tokens, F_BOOL),
    FS(struct rn_runner, max_tokens, F_I32),
    FS(struct rn_runner, metadata, F_STRV),
    FS(struct rn_runner, runtime, F_I32),
    FS(struct rn_runner, flags, F_STRV),
    FS(struct rn_runner, caps, F_STRV),
    FS(struct rn_runner, env, F_STRV),
    FC(struct rn_runner, conv_id),
    FS(struct rn_runner, mode, F_I32),
    FS(struct rn_runner, restarts, F_I32),
    FS(struct rn_runner, max_restarts, F_I32),
    FS(struct rn_runner, policy, F_I32),
    FS(struct rn_runner, ttl_s, F_I32),
    FS(struct rn_runner, command, F_STRV),
    FS(struct rn_runner, workdir, F_STR),
    FS(struct rn_runner, reason, F_STR),
    FC(struct rn_runner, sess_id),
    FS(struct rn_runner, pid, F_I32),
    FS(struct rn_runner, starttime, F_U64),
    FS(struct rn_runner, created_ns, F_U64),
    FS(struct rn_runner, updated_ns, F_U64),
    FS(struct rn_runner, started_ns, F_U64),
    FS(struct rn_runner, terminated_ns, F_U64),
    FS(struct rn_runner, heartbeat_ns, F_U64),
    FS(struct rn_runner, has_exit_code, F_BOOL),
    FS(struct rn_runner, exit_code, F_I32),
    FS(struct rn_runner, has_exit_signal, F_BOOL),
    FS(struct rn_runner, exit_signal, F_I32),
    FS(struct rn_runner, tokens_used, F_I64),
    FS(struct rn_runner, heartbeats, F_I64),
    FC(struct rn_runner, token),
    FS(struct rn_runner, heartbeat_required, F_BOOL),
    FS(struct rn_runner, stop_timeout_ms, F_I32),
    FS(struct rn_runner, asked_command, F_STRV),
    FS(struct rn_runner, oom_kills, F_I32),
    FS(struct rn_runner, hb_tokens, F_I64),
    FS(struct rn_runner, hb_last, F_I64),
    FS(struct rn_runner, parsed_tokens, F_I64),
};

static const struct field conv_fields[] = {
    FC(struct rn_conv, id),
    FC(struct rn_conv, runner_id),
    FS(struct rn_conv, project, F_STR),
    FS(struct rn_conv, model, F_STR),
    FS(struct rn_conv, metadata, F_STRV),
    FS(struct rn_conv, created_ns, F_U64),
    FS(struct rn_conv, updated_ns, F_U64),
    FS(struct rn_conv, activity_ns, F_U64),
    FS(struct rn_conv, started_ns, F_U64),
    FS(struct rn_conv, ended_ns, F_U64),
    FS(struct rn_conv, messages, F_I64),
    FS(struct rn_conv, tokens, F_I64),
    FS(struct rn_conv, resumable, F_BOOL),
    FC(struct rn_conv, resumed_from),
    FS(struct rn_conv, summary, F_STR),
    FS(struct rn_conv, runner_ids, F_STRV),
    FS(struct rn_conv, mode, F_I32),
};

static int put_fields(json_t *o, const void *obj, const struct field *f, size_t n)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = (const char *)obj + f[i].off;
        json_t *v = NULL;
        switch (f[i].type) {
        case F_STR:
            v = json_string(*(char *const *)p ? *(char *const *)p : "");
            break;
        case F_CHARS:
            v = json_string(p);
            break;
        case F_STRV: {
            char *const *sv = *(char **const *)p;
            if (!sv) /* NULL (the default) differs from an empty list */
                continue;
            v = json_array();
            for (size_t k = 0; v && sv[k]; k++)
                x |= json_array_append_new(v, json_string(sv[k]));
            break;
        }
        case F_I32:
            v = json_integer(*(const int32_t *)p);
            break;
        case F_I64:
            v = json_integer(*(const int64_t *)p);
            break;
        case F_U64:
            v = json_integer((json_int_t) * (const uint64_t *)p);
            break;
        case F_F64:
            v = json_real(*(const double *)p);
            break;
        case F_BOOL:
            v = json_boolean(*(const bool *)p);
            break;
        }
        x |= json_object_set_new(o, f[i].name, v);
    }
    return x ? -ENOMEM : 0;
}

static int get_fields(const json_t *o, void *obj, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)obj + f[i].off;
        json_t *v = json_object_get(o, f[i].name);
        switch (f[i].type) {
        case F_STR: {
            char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
            if (!s)
                return -ENOMEM;
            *(char **)p = s;
            break;
        }
        case F_CHARS:
            snprintf(p, f[i].size, "%s", json_is_string(v) ? json_string_value(v) : "");
            break;
        case F_STRV: {
            char **sv = NULL;
            size_t k, len = 0;
            json_t *e;
            if (!json_is_array(v))
                break;
            if (!(sv = strv_copy(NULL)))
                return -ENOMEM;
            json_array_foreach(v, k, e) if (json_is_string(e) &&
                                            strv_push(&sv, &len, strdup(json_string_value(e))) < 0)
            {
                strv_free(sv);
                return -ENOMEM;
            }
            *(char ***)p = sv;
            break;
        }
        case F_I32:
            *(int32_t *)p = (int32_t)json_integer_value(v);
            break;
        case F_I64:
            *(int64_t *)p = json_integer_value(v);
            break;
        case F_U64:
            *(uint64_t *)p = (uint64_t)json_integer_value(v);
            break;
        case F_F64:
            *(double *)p = json_number_value(v);
            break;
        case F_BOOL:
            *(bool *)p = json_is_true(v);
            break;
        }
    }
    return 0;
}

int rn_db_open(struct rn_mgr *m)
{
    int x;
    if (!m->store)
        return 0;
    if ((x = store_prepare(m->store,
                           "INSERT OR REPLACE INTO stratavore (kind, id, doc) VALUES (?, ?, ?)",
                           &m->put)) < 0 ||
        (x = store_prepare(m->store, "DELETE FROM stratavore WHERE kind = ? AND id = ?", &m->del)) <
            0)
        return x;
    return 0;
}

void rn_db_close(struct rn_mgr *m)
{
    sqlite3_finalize(m->put);
    sqlite3_finalize(m->del);
    m->put = m->del = NULL;
}

static void put(struct rn_mgr *m, const char *kind, const char *id, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!m->put)
        goto out;
    if (!text) {
        log_warning("stratavore: cannot encode %s %s", kind, id);
        goto out;
    }
    sqlite3_bind_text(m->put, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(m->put, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(m->put, 3, text, -1, SQLITE_STATIC);
    int x = store_run(m->store, m->put);
    if (x < 0)
        log_warning("stratavore: cannot write %s %s: %s", kind, id, strerror(-x));
out:
    free(text);
}

void rn_db_begin(struct rn_mgr *m)
{
    if (m->store && m->put && m->tx_depth++ == 0 && store_begin(m->store) < 0)
        m->tx_failed = true;
}

void rn_db_commit(struct rn_mgr *m)
{
    if (!m->store || !m->put || --m->tx_depth > 0)
        return;
    if (!m->tx_failed && store_commit(m->store) < 0)
        log_warning("stratavore: cannot commit the rows just written");
    m->tx_failed = false;
}

void rn_db_put_project(struct rn_mgr *m, const struct rn_project *p)
{
    json_t *o = json_object(), *q = json_object(), *l = json_object();
    if (!o || !q || !l || put_fields(o, p, project_fields, ARRAY_SIZE(project_fields)) < 0 ||
        put_fields(q, &p->quota, quota_fields, ARRAY_SIZE(quota_fields)) < 0 ||
        put_fields(l, &p->launch, launch_fields, ARRAY_SIZE(launch_fields)) < 0 ||
        json_object_set(o, "quota", q) < 0 || json_object_set(o, "launch", l) < 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(q);
    json_decref(l);
    put(m, "project", p->name, o);
}

void rn_db_put_runner(struct rn_mgr *m, const struct rn_runner *r)
{
    json_t *o = json_object(), *q = json_object();
    if (!o || !q || put_fields(o, r, runner_fields, ARRAY_SIZE(runner_fields)) < 0 ||
        put_fields(q, &r->quota, quota_fields, ARRAY_SIZE(quota_fields)) < 0 ||
        json_object_set(o, "quota", q) < 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(q);
    put(m, "runner", r->id, o);
}

void rn_db_put_conv(struct rn_mgr *m, const struct rn_conv *c)
{
    json_t *o = json_object();
    if (o && put_fields(o, c, conv_fields, ARRAY_SIZE(conv_fields)) < 0) {
        json_decref(o);
        o = NULL;
    }
    put(m, "session", c->id, o);
}

void rn_db_delete(struct rn_mgr *m, const char *kind, const char *id)
{
    if (!m->del)
        return;
    sqlite3_bind_text(m->del, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(m->del, 2, id, -1, SQLITE_STATIC);
    int x = store_run(m->store, m->del);
    if (x < 0)
        log_warning("stratavore: cannot delete %s %s: %s", kind, id, strerror(-x));
}

/* One row into its object; -EBADMSG for a doc that is not one. */
static int load_row(struct rn_mgr *m, const char *kind, const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    int x = -EBADMSG;

    if (!json_is_object(o))
        goto out;
    if (strcmp(kind, "project") == 0) {
        struct rn_project *p = calloc(1, sizeof *p);
        if (!p || (x = get_fields(o, p, project_fields, ARRAY_SIZE(project_fields))) < 0 ||
            (x = get_fields(json_object_get(o, "quota"), &p->quota, quota_fields,
                            ARRAY_SIZE(quota_fields))) < 0 ||
            (x = get_fields(json_object_get(o, "launch"), &p->launch, launch_fields,
                            ARRAY_SIZE(launch_fields))) < 0 ||
            !*p->name) {
            rn_project_free(p);
            x = x < 0 ? x : -EBADMSG;
            goto out;
        }
        rn_project_insert(m, p);
    } else if (strcmp(kind, "runner") == 0) {
        struct rn_runner *r = calloc(1, sizeof *r);
        if (!r || (x = get_fields(o, r, runner_fields, ARRAY_SIZE(runner_fields))) < 0 ||
            (x = get_fields(json_object_get(o, "quota"), &r->quota, quota_fields,
                            ARRAY_SIZE(quota_fields))) < 0 ||
            !r->id[0] || !r->command) {
            rn_runner_free(r);
            x = x < 0 ? x : -EBADMSG;
            goto out;
        }
        r->m = m;
        DQUEUE_APPEND(&m->runners, r, link);
    } else if (strcmp(kind, "session") == 0) {
        struct rn_conv *c = calloc(1, sizeof *c);
        if (!c || (x = get_fields(o, c, conv_fields, ARRAY_SIZE(conv_fields))) < 0 || !c->id[0]) {
            rn_conv_free(c);
            x = x < 0 ? x : -EBADMSG;
            goto out;
        }
        if (!c->runner_ids && !(c->runner_ids = strv_copy(NULL))) {
            rn_conv_free(c);
            x = -ENOMEM;
            goto out;
        }
        DQUEUE_APPEND(&m->convs, c, link);
    }
    x = 0;
out:
    json_decref(o);
    return x;
}

int rn_db_load(struct rn_mgr *m)
{
    sqlite3_stmt *st;
    int x;

    if (!m->store)
        return 0;
    /* Creation order: runners and conversations list in it. */
    if ((x = store_prepare(m->store,
                           "SELECT kind, id, doc FROM stratavore ORDER BY "
                           "kind = 'project' DESC, json_extract(doc, '$.created_ns'), id",
                           &st)) < 0)
        return x;
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = store_column_text(st, 0), *id = store_column_text(st, 1);
        int e = load_row(m, kind, store_column_text(st, 2));
        if (e < 0)
            log_warning("stratavore: %s %s cannot be read (%s): skipped", kind, id, strerror(-e));
    }
    sqlite3_finalize(st);
    return x == SQLITE_DONE ? 0 : -EIO;
}
