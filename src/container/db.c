/* Rows: one JSON document per image and per container in the table `containers` (kind, id,
 * doc), written at every change, read back at start. A field added later reads as zero from an
 * older row. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "container/container-internal.h"
#include "store/store.h"

json_t *ctr_strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char **ctr_json_strv(json_t *a)
{
    char **v = NULL;
    size_t n = 0, i;
    json_t *x;
    if (!json_is_array(a))
        return NULL;
    json_array_foreach(a, i, x) if (json_is_string(x) &&
                                    strv_push(&v, &n, strdup(json_string_value(x))) < 0) break;
    if (!v)
        v = calloc(1, sizeof *v); /* an empty list is not "none" */
    return v;
}

static char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? strdup(s) : NULL;
}

static uint64_t u64(json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

static json_t *opt_strv(char *const *v)
{
    return v ? ctr_strv_json(v) : json_null();
}

json_t *ctr_spec_to_json(const struct ctr_spec *s)
{
    json_t *mounts = json_array();
    for (size_t i = 0; i < s->n_mounts; i++)
        json_array_append_new(mounts, json_pack("{s:i, s:s?, s:s?, s:b}", "type", s->mounts[i].type,
                                                "source", s->mounts[i].source, "destination",
                                                s->mounts[i].destination, "read_only",
                                                s->mounts[i].read_only));
    json_t *j = json_pack(
        "{s:s?, s:s?, s:o, s:o, s:o, s:s?, s:s?, s:s?, s:b, s:i, s:i, s:b, s:o, s:o, s:o, s:o,"
        " s:b, s:b, s:b, s:i, s:I, s:b}",
        "name", s->name, "image", s->image, "entrypoint", opt_strv(s->entrypoint), "command",
        opt_strv(s->command), "env", ctr_strv_json(s->env), "cwd", s->cwd, "user", s->user,
        "hostname", s->hostname, "tty", s->tty, "rows", s->rows, "cols", s->cols, "read_only",
        s->read_only, "mounts", mounts, "cap_add", ctr_strv_json(s->cap_add), "cap_drop",
        ctr_strv_json(s->cap_drop), "labels", ctr_strv_json(s->labels), "new_privileges",
        s->new_privileges, "host_network", s->host_network, "no_seccomp", s->no_seccomp,
        "stop_signal", s->stop_signal, "stop_timeout_ms", (json_int_t)s->stop_timeout_ms,
        "auto_remove", s->auto_remove);
    if (j)
        json_object_set_new(j, "res",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "memory",
                                      (json_int_t)s->res.memory, "memory_swap",
                                      (json_int_t)s->res.memory_swap, "cpu_quota_us",
                                      (json_int_t)s->res.cpu_quota_us, "cpu_period_us",
                                      (json_int_t)s->res.cpu_period_us, "cpu_shares",
                                      (json_int_t)s->res.cpu_shares, "pids",
                                      (json_int_t)s->res.pids));
    return j;
}

static char **null_strv(json_t *a)
{
    return json_is_array(a) ? ctr_json_strv(a) : NULL;
}

int ctr_spec_from_json(json_t *j, struct ctr_spec *s)
{
    *s = (struct ctr_spec){
        .name = str(j, "name"),
        .image = str(j, "image"),
        .entrypoint = null_strv(json_object_get(j, "entrypoint")),
        .command = null_strv(json_object_get(j, "command")),
        .env = null_strv(json_object_get(j, "env")),
        .cwd = str(j, "cwd"),
        .user = str(j, "user"),
        .hostname = str(j, "hostname"),
        .tty = json_is_true(json_object_get(j, "tty")),
        .rows = (uint16_t)u64(j, "rows"),
        .cols = (uint16_t)u64(j, "cols"),
        .read_only = json_is_true(json_object_get(j, "read_only")),
        .cap_add = null_strv(json_object_get(j, "cap_add")),
        .cap_drop = null_strv(json_object_get(j, "cap_drop")),
        .labels = null_strv(json_object_get(j, "labels")),
        .new_privileges = json_is_true(json_object_get(j, "new_privileges")),
        .host_network = json_is_true(json_object_get(j, "host_network")),
        .no_seccomp = json_is_true(json_object_get(j, "no_seccomp")),
        .stop_signal = (int)u64(j, "stop_signal"),
        .stop_timeout_ms = (uint32_t)u64(j, "stop_timeout_ms"),
        .auto_remove = json_is_true(json_object_get(j, "auto_remove")),
    };
    json_t *res = json_object_get(j, "res");
    s->res = (struct ctr_resources){
        .memory = u64(res, "memory"),
        .memory_swap = u64(res, "memory_swap"),
        .cpu_quota_us = u64(res, "cpu_quota_us"),
        .cpu_period_us = u64(res, "cpu_period_us"),
        .cpu_shares = u64(res, "cpu_shares"),
        .pids = (uint32_t)u64(res, "pids"),
    };
    json_t *mounts = json_object_get(j, "mounts");
    size_t n = json_array_size(mounts);
    if (n && !(s->mounts = calloc(n, sizeof *s->mounts)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(mounts, i);
        s->mounts[i] = (struct ctr_mount){
            .type = (enum ctr_mount_type)u64(m, "type"),
            .source = str(m, "source"),
            .destination = str(m, "destination"),
            .read_only = json_is_true(json_object_get(m, "read_only")),
        };
    }
    s->n_mounts = n;
    return s->image ? 0 : -EINVAL;
}

void ctr_spec_done(struct ctr_spec *s)
{
    free(s->name);
    free(s->image);
    strv_free(s->entrypoint);
    strv_free(s->command);
    strv_free(s->env);
    free(s->cwd);
    free(s->user);
    free(s->hostname);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].source);
        free(s->mounts[i].destination);
    }
    free(s->mounts);
    strv_free(s->cap_add);
    strv_free(s->cap_drop);
    strv_free(s->labels);
    *s = (struct ctr_spec){0};
}

int ctr_spec_copy(struct ctr_spec *dst, const struct ctr_spec *src)
{
    json_t *j = ctr_spec_to_json(src);
    int r = j ? ctr_spec_from_json(j, dst) : -ENOMEM;
    json_decref(j);
    if (r < 0)
        ctr_spec_done(dst);
    return r == -EINVAL ? 0 : r; /* an image is checked by the caller */
}

/* ---- rows ---- */

static int put(struct ctr_mgr *m, const char *kind, const char *id, json_t *doc)
{
    sqlite3_stmt *st = NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int r = text ? store_prepare(m->store,
                                 "INSERT OR REPLACE INTO containers (kind, id, doc) "
                                 "VALUES (?, ?, ?)",
                                 &st)
                 : -ENOMEM;
    if (r == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        r = store_run(m->store, st);
    }
    sqlite3_finalize(st);
    free(text);
    json_decref(doc);
    return r;
}

int ctr_db_put_container(struct ctr_mgr *m, const struct container *c)
{
    json_t *d = json_pack(
        "{s:s, s:o, s:s?, s:s?, s:i, s:i, s:I, s:s?, s:b, s:b, s:i, s:b, s:i, s:f, s:f, s:f,"
        " s:s?, s:i, s:i}",
        "id", c->id, "spec", ctr_spec_to_json(&c->spec), "image_id", c->image_id, "lower",
        c->lower, "state", c->state, "pid", c->pid, "starttime", (json_int_t)c->starttime,
        "session_id", c->session_id, "mounted", c->mounted, "exit_known", c->exit_known,
        "exit_code", c->exit_code, "oom_killed", c->oom_killed, "restarts", c->restarts,
        "created_at", c->created_at, "started_at", c->started_at, "finished_at", c->finished_at,
        "error", c->error, "stop_signal", c->stop_signal, "stop_timeout_ms", c->stop_timeout_ms);
    return put(m, "container", c->id, d);
}

int ctr_db_put_image(struct ctr_mgr *m, const struct ctr_image *img)
{
    json_t *d = json_pack("{s:s, s:s?, s:s?, s:f, s:I}", "name", img->name, "id", img->id,
                          "source", img->source, "imported_at", img->imported_at,
                          "unpacked_size", (json_int_t)img->unpacked_size);
    return put(m, "image", img->name, d);
}

int ctr_db_delete(struct ctr_mgr *m, const char *kind, const char *id)
{
    sqlite3_stmt *st = NULL;
    int r = store_prepare(m->store, "DELETE FROM containers WHERE kind = ? AND id = ?", &st);
    if (r == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        r = store_run(m->store, st);
    }
    sqlite3_finalize(st);
    return r;
}

int ctr_db_each(struct ctr_mgr *m, const char *kind,
                int (*fn)(struct ctr_mgr *m, json_t *doc, void *userdata), void *userdata)
{
    sqlite3_stmt *st = NULL;
    int r = store_prepare(m->store, "SELECT doc FROM containers WHERE kind = ? ORDER BY rowid",
                          &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads(store_column_text(st, 0), 0, NULL);
        if (doc)
            (void)fn(m, doc, userdata);
        json_decref(doc);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : -EIO;
}
