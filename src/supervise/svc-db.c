/* Services in SQLite: one row per service in the `services` table (running-process's columns and
 * drover's), written on every change the engine reports, so the table says what droverd last
 * knew. cmd is a JSON array and env a JSON array of [key, value] pairs, as upstream stores them.
 *
 * A write can fail (a full disk, an I/O error). The id of a row whose save or deletion failed is
 * kept in the unsynced set until svc_db_resync writes it again from the engine's present state:
 * the set holds ids, never stale rows, so the row written is always the newest. A client's change
 * is written beforehand with svc_db_persist, which never spends the emergency reserve; a deletion
 * recorded that way holds while the service stops (its state changes meanwhile do not bring the
 * row back), until the engine removes it.
 *
 * The engine's own changes (a state, a pid, a restart count) are marked (svc_db_mark) and
 * written together by svc_db_flush, which droverd calls once per loop turn: a restart's BACKOFF
 * and ONLINE, or a Stop of fifty services, cost one transaction, not one each. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "base/vec.h"
#include "store/store.h"
#include "supervise/supervise-internal.h"
#include "supervise/supervise.h"

/* A few service ids, in no order. */
struct idset {
    uint32_t *v;   /* the ids */
    size_t n, cap; /* used and allocated */
};

struct svc_db {
    struct store *store;   /* the database */
    sqlite3_stmt *upsert;  /* INSERT ... ON CONFLICT(id) DO UPDATE */
    sqlite3_stmt *delete;  /* DELETE by id */
    struct idset unsynced; /* rows whose last write failed (saves and deletions alike) */
    struct idset deleting; /* services whose deletion is recorded and which are still stopping */
    struct idset marked;   /* rows changed since the last svc_db_flush */
};

static const char *const policy_words[] = {
    [SVC_RESTART_ALWAYS] = "always",
    [SVC_RESTART_ON_FAILURE] = "on-failure",
    [SVC_RESTART_NEVER] = "never",
};

const char *svc_status_word(enum svc_state st)
{
    switch (st) {
    case SVC_ONLINE:
    case SVC_STOPPING: /* still running */
    case SVC_BACKOFF:  /* wanted up, restarting */
        return "online";
    case SVC_STARTING:
        return "starting";
    case SVC_ERRORED:
        return "errored";
    default:
        return "stopped";
    }
}

int svc_db_new(struct store *st, struct svc_db **ret)
{
    struct svc_db *db = calloc(1, sizeof *db);
    int r;

    if (!db)
        return -ENOMEM;
    db->store = st;
    if ((r = store_prepare(
             st,
             "INSERT INTO services (id, name, cmd, cwd, env, autorestart,"
             " max_restarts, restart_delay_ms, kill_timeout_ms, min_uptime_ms,"
             " status, pid, restart_count, last_started_at, last_exited_at,"
             " last_exit_code, restart_policy, restart_delay_max_ms, clear_env,"
             " stop_signal, oneshot, autostart, start_ticks, from_config, depends_on, probes,"
             " wanted, cgroup, container)"
             " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"
             "?20,?21,?22,?23,?24,?25,?26,?27,?28,?29) ON CONFLICT(id) DO UPDATE SET name=?2,"
             " cmd=?3,"
             " cwd=?4, env=?5, autorestart=?6, max_restarts=?7,"
             " restart_delay_ms=?8, kill_timeout_ms=?9, min_uptime_ms=?10,"
             " status=?11, pid=?12, restart_count=?13, last_started_at=?14,"
             " last_exited_at=?15, last_exit_code=?16, restart_policy=?17,"
             " restart_delay_max_ms=?18, clear_env=?19, stop_signal=?20,"
             " oneshot=?21, autostart=?22, start_ticks=?23, from_config=?24,"
             " depends_on=?25, probes=?26, wanted=?27, cgroup=?28, container=?29",
             &db->upsert)) < 0 ||
        (r = store_prepare(st, "DELETE FROM services WHERE id = ?", &db->delete)) < 0) {
        svc_db_free(db);
        return r;
    }
    *ret = db;
    return 0;
}

void svc_db_free(struct svc_db *db)
{
    if (!db)
        return;
    sqlite3_finalize(db->upsert);
    sqlite3_finalize(db->delete);
    free(db->unsynced.v);
    free(db->deleting.v);
    free(db->marked.v);
    free(db);
}

static char *json_strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static char *json_env(char *const *env)
{
    json_t *a = json_array();
    for (size_t i = 0; a && env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        json_t *kv = json_array();
        json_array_append_new(kv, json_stringn(env[i], (size_t)(eq - env[i])));
        json_array_append_new(kv, json_string(eq + 1));
        json_array_append_new(a, kv);
    }
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

/* A service's container as JSON ("" for a plain program). */
static char *container_json(const struct svc_container *c)
{
    if (!c->image)
        return strdup("");
    json_t *v = json_array();
    for (size_t i = 0; v && c->volumes && c->volumes[i]; i++)
        json_array_append_new(v, json_string(c->volumes[i]));
    json_t *j = json_pack("{s:s, s:I, s:i, s:i, s:b, s:b, s:o}", "image", c->image, "memory",
                          (json_int_t)c->memory, "cpu_pct", (int)c->cpu_pct, "pids", (int)c->pids,
                          "read_only", c->read_only, "host_network", c->host_network, "volumes",
                          v ? v : json_null());
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static void container_from_json(const char *text, struct svc_container *c)
{
    json_t *j = *text ? json_loads(text, 0, NULL) : NULL;
    const char *image = json_string_value(json_object_get(j, "image"));
    *c = (struct svc_container){0};
    if (image) {
        c->image = strdup(image);
        c->memory = (uint64_t)json_integer_value(json_object_get(j, "memory"));
        c->cpu_pct = (uint32_t)json_integer_value(json_object_get(j, "cpu_pct"));
        c->pids = (uint32_t)json_integer_value(json_object_get(j, "pids"));
        c->read_only = json_is_true(json_object_get(j, "read_only"));
        c->host_network = json_is_true(json_object_get(j, "host_network"));
        json_t *v = json_object_get(j, "volumes");
        size_t n = 0, i;
        json_t *x;
        json_array_foreach(v, i, x) if (json_is_string(x))(void)
            strv_push(&c->volumes, &n, strdup(json_string_value(x)));
    }
    json_decref(j);
}

/* The row as a service has it now. */
static void row_of(struct svc *s, struct svc_db_row *ret)
{
    *ret = (struct svc_db_row){.id = svc_id(s), .cfg = *svc_get_config(s)};
    svc_get_status(s, &ret->st);
    ret->state = ret->st.state;
    ret->cgroup = svc_cgroup(s) ? svc_cgroup(s) : "";
}

/* Inserts or updates a row; try: without spending the emergency reserve (store_try). */
static int write_row(struct svc_db *db, const struct svc_db_row *row, bool try)
{
    const struct svc_config *c = &row->cfg;
    const struct svc_status *st = &row->st;
    sqlite3_stmt *q = db->upsert;
    _cleanup_free_ char *cmd = json_strv(c->argv), *env = json_env(c->env),
                        *deps = json_strv(c->depends_on), *probes = NULL,
                        *ctr = container_json(&c->ctr);
    json_t *pj = svc_probes_to_json(c->probes, c->n_probes);

    probes = pj ? json_dumps(pj, JSON_COMPACT) : NULL;
    json_decref(pj);
    if (!cmd || !env || !deps || !probes || !ctr)
        return -ENOMEM;
    sqlite3_bind_int64(q, 1, row->id);
    sqlite3_bind_text(q, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cmd, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, c->cwd ? c->cwd : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, env, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 6, c->restart != SVC_RESTART_NEVER);
    sqlite3_bind_int64(q, 7, c->max_restarts);
    sqlite3_bind_int64(q, 8, c->restart_delay_ms);
    sqlite3_bind_int64(q, 9, c->kill_timeout_ms);
    sqlite3_bind_int64(q, 10, c->min_uptime_ms);
    sqlite3_bind_text(q, 11, svc_status_word(st->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 12, st->pid);
    sqlite3_bind_int64(q, 13, st->restarts);
    sqlite3_bind_double(q, 14, st->last_started_at);
    sqlite3_bind_double(q, 15, st->last_exited_at);
    sqlite3_bind_int(q, 16, st->last_exit);
    sqlite3_bind_text(q, 17, policy_words[c->restart], -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 18, c->restart_delay_max_ms);
    sqlite3_bind_int(q, 19, c->clear_env);
    sqlite3_bind_int(q, 20, c->stop_signal);
    sqlite3_bind_int(q, 21, c->oneshot);
    sqlite3_bind_int(q, 22, c->autostart);
    sqlite3_bind_int64(q, 23, (sqlite3_int64)st->start_ticks);
    sqlite3_bind_int(q, 24, c->from_config);
    sqlite3_bind_text(q, 25, deps, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 26, probes, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 27, st->wanted);
    sqlite3_bind_text(q, 28, row->cgroup ? row->cgroup : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 29, ctr, -1, SQLITE_STATIC);
    return try ? store_try(db->store, q) : store_run(db->store, q);
}

static int delete_row(struct svc_db *db, uint32_t id, bool try)
{
    sqlite3_bind_int64(db->delete, 1, id);
    return try ? store_try(db->store, db->delete) : store_run(db->store, db->delete);
}

/* ---- sets of ids: rows that wait to be written again, services being deleted ---- */

static ssize_t idset_at(const struct idset *set, uint32_t id)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i] == id)
            return (ssize_t)i;
    return -1;
}

/* Out of memory, the id is not added: nothing better can be done. */
static void idset_add(struct idset *set, uint32_t id)
{
    if (idset_at(set, id) < 0 && VEC_RESERVE(set->v, set->cap, set->n + 1) >= 0)
        set->v[set->n++] = id;
}

static void idset_remove(struct idset *set, uint32_t id)
{
    ssize_t i = idset_at(set, id);
    if (i >= 0)
        set->v[i] = set->v[--set->n]; /* the order does not matter */
}

/* A write of id's row ended with r: a failed one waits to be written again, one that succeeded
 * waits no more. */
static int synced(struct svc_db *db, uint32_t id, int r)
{
    if (r < 0)
        idset_add(&db->unsynced, id);
    else
        idset_remove(&db->unsynced, id);
    return r;
}

/* A service's row as it is now; one whose deletion was recorded stays deleted while it stops. */
static int save_row(struct svc_db *db, struct svc *s)
{
    struct svc_db_row row;

    if (idset_at(&db->deleting, svc_id(s)) >= 0)
        return delete_row(db, svc_id(s), false);
    row_of(s, &row);
    int r = write_row(db, &row, false);
    if (r >= 0)
        s->recorded_pid = row.st.pid;
    return r;
}

bool svc_db_pid_unrecorded(const struct svc *s)
{
    return s->st.pid && s->st.pid != s->recorded_pid;
}

size_t svc_db_unsynced(const struct svc_db *db)
{
    return db->unsynced.n;
}

void svc_db_mark(struct svc_db *db, uint32_t id)
{
    idset_add(&db->marked, id);
}

size_t svc_db_marked(const struct svc_db *db)
{
    return db->marked.n;
}

uint32_t svc_db_marked_id(const struct svc_db *db, size_t i)
{
    return i < db->marked.n ? db->marked.v[i] : 0;
}

/* A marked row as e has it now: saved, or deleted once the service is gone. */
static int flush_row(struct svc_db *db, struct svc_engine *e, uint32_t id)
{
    struct svc *s = svc_find_id(e, id);
    if (s && !svc_is_removed(s))
        return save_row(db, s);
    idset_remove(&db->deleting, id); /* it is gone now */
    return delete_row(db, id, false);
}

/* The marked rows in one transaction. In WAL mode the pages reach the disk at COMMIT, where a
 * full disk shows and the transaction is rolled back: what droverd does on its own may spend
 * the reserve, so the transaction is made again once it is released. */
int svc_db_flush(struct svc_db *db, struct svc_engine *e)
{
    int r = 0;

    for (int round = 0; db->marked.n && round < 2; round++) {
        r = store_begin(db->store);
        for (size_t i = 0; r >= 0 && i < db->marked.n; i++)
            r = flush_row(db, e, db->marked.v[i]);
        r = r < 0 ? (store_rollback(db->store), r) : store_commit(db->store);
        if (r != -ENOSPC || !store_reserve_release(db->store))
            break;
    }
    for (size_t i = 0; i < db->marked.n; i++)
        (void)synced(db, db->marked.v[i], r);
    db->marked.n = 0;
    return r;
}

int svc_db_persist(struct svc_db *db, const struct svc_intent *v, size_t n)
{
    int r = store_begin(db->store);

    for (size_t i = 0; r >= 0 && i < n; i++)
        r = v[i].gone ? delete_row(db, v[i].row.id, true) : write_row(db, &v[i].row, true);
    r = r < 0 ? (store_rollback(db->store), r) : store_commit(db->store);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        (void)synced(db, v[i].row.id, r);
        if (v[i].gone)
            idset_add(&db->deleting, v[i].row.id);
        else
            idset_remove(&db->deleting, v[i].row.id);
    }
    return r;
}

int svc_db_save_all(struct svc_db *db, struct svc_engine *e)
{
    int r = store_begin(db->store);

    for (size_t i = 0; r >= 0 && i < svc_count(e); i++)
        r = save_row(db, svc_at(e, i));
    r = r < 0 ? (store_rollback(db->store), r) : store_commit(db->store);
    for (size_t i = 0; i < svc_count(e); i++)
        (void)synced(db, svc_id(svc_at(e, i)), r);
    /* What was marked is written now, but for a removed service's deletion. */
    for (size_t i = 0; r >= 0 && i < db->marked.n;) {
        if (svc_find_id(e, db->marked.v[i]))
            idset_remove(&db->marked, db->marked.v[i]); /* the last one took its place */
        else
            i++;
    }
    return r;
}

int svc_db_resync(struct svc_db *db, struct svc_engine *e)
{
    int r = 0;

    for (int pass = 0; pass < 2; pass++) /* deletions, then saves */
        for (size_t i = 0; i < db->unsynced.n;) {
            uint32_t id = db->unsynced.v[i];
            struct svc *s = svc_find_id(e, id);
            bool goes = !s || idset_at(&db->deleting, id) >= 0;
            if (goes != (pass == 0)) {
                i++;
                continue;
            }
            int w = s ? save_row(db, s) : delete_row(db, id, false);
            if (w >= 0) {
                idset_remove(&db->unsynced, id); /* the last one took its place: i again */
                continue;
            }
            r = r < 0 ? r : w;
            i++;
        }
    return r;
}

/* A JSON array of strings (or of [key, value] pairs, joined as "key=value") as a strv. */
static char **strv_from_json(const char *text, bool pairs)
{
    json_t *a = json_loads(text ? text : "[]", 0, NULL);
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    char **v = json_is_array(a) ? calloc(n + 1, sizeof *v) : NULL;

    for (size_t i = 0; v && i < n; i++) {
        json_t *x = json_array_get(a, i);
        const char *k = json_string_value(pairs ? json_array_get(x, 0) : x);
        const char *val = pairs ? json_string_value(json_array_get(x, 1)) : "";
        if (!k || !val || (pairs ? asprintf(&v[i], "%s=%s", k, val) < 0 : !(v[i] = strdup(k)))) {
            v[i] = NULL;
            strv_free(v);
            v = NULL;
        }
    }
    json_decref(a);
    return v;
}

static enum svc_state state_from_word(const char *w)
{
    return !strcmp(w, "online")     ? SVC_ONLINE
           : !strcmp(w, "errored")  ? SVC_ERRORED
           : !strcmp(w, "starting") ? SVC_STARTING
                                    : SVC_STOPPED;
}

static enum svc_restart policy_from_word(const char *w, bool autorestart)
{
    if (!autorestart)
        return SVC_RESTART_NEVER;
    return !strcmp(w, "on-failure") ? SVC_RESTART_ON_FAILURE : SVC_RESTART_ALWAYS;
}

int svc_db_load(struct svc_db *db, int (*fn)(const struct svc_db_row *row, void *userdata),
                void *userdata)
{
    sqlite3_stmt *q;
    int r = store_prepare(db->store,
                          "SELECT id, name, cmd, cwd, env, autorestart, max_restarts,"
                          " restart_delay_ms, kill_timeout_ms, min_uptime_ms, status, pid,"
                          " restart_count, last_started_at, last_exited_at, last_exit_code,"
                          " restart_policy, restart_delay_max_ms, clear_env, stop_signal, oneshot,"
                          " autostart, start_ticks, from_config, depends_on, probes, wanted,"
                          " cgroup, container FROM services"
                          " ORDER BY id",
                          &q);
    if (r < 0)
        return r;
    while (r >= 0 && sqlite3_step(q) == SQLITE_ROW) {
        struct svc_db_row row = {.id = (uint32_t)sqlite3_column_int64(q, 0)};
        row.cfg = (struct svc_config){
            .name = (char *)store_column_text(q, 1),
            .argv = strv_from_json(store_column_text(q, 2), false),
            .cwd = *store_column_text(q, 3) ? (char *)store_column_text(q, 3) : NULL,
            .env = strv_from_json(store_column_text(q, 4), true),
            .restart = policy_from_word(store_column_text(q, 16), sqlite3_column_int(q, 5)),
            .max_restarts = (uint32_t)sqlite3_column_int64(q, 6),
            .restart_delay_ms = (uint32_t)sqlite3_column_int64(q, 7),
            .kill_timeout_ms = (uint32_t)sqlite3_column_int64(q, 8),
            .min_uptime_ms = (uint32_t)sqlite3_column_int64(q, 9),
            .restart_delay_max_ms = (uint32_t)sqlite3_column_int64(q, 17),
            .clear_env = sqlite3_column_int(q, 18),
            .stop_signal = sqlite3_column_int(q, 19),
            .oneshot = sqlite3_column_int(q, 20),
            .autostart = sqlite3_column_int(q, 21),
            .from_config = sqlite3_column_int(q, 23),
            .depends_on = strv_from_json(store_column_text(q, 24), false),
        };
        row.state = state_from_word(store_column_text(q, 10));
        row.st = (struct svc_status){
            .state = row.state,
            .pid = (pid_t)sqlite3_column_int64(q, 11),
            .restarts = (uint32_t)sqlite3_column_int64(q, 12),
            .last_started_at = sqlite3_column_double(q, 13),
            .last_exited_at = sqlite3_column_double(q, 14),
            .last_exit = sqlite3_column_int(q, 15),
            .start_ticks = (uint64_t)sqlite3_column_int64(q, 22),
            .wanted = sqlite3_column_int(q, 26),
        };
        row.cgroup = store_column_text(q, 27);
        container_from_json(store_column_text(q, 28), &row.cfg.ctr);
        json_t *pj = json_loads(store_column_text(q, 25), 0, NULL);
        /* A row whose probes cannot be read is loaded without them, not lost. */
        if (svc_probes_from_json(pj, &row.cfg.probes, &row.cfg.n_probes) < 0) {
            row.cfg.probes = NULL;
            row.cfg.n_probes = 0;
        }
        json_decref(pj);
        if (row.cfg.argv && row.cfg.env && row.cfg.depends_on)
            r = fn(&row, userdata);
        strv_free(row.cfg.argv);
        strv_free(row.cfg.env);
        strv_free(row.cfg.depends_on);
        svc_probes_free(row.cfg.probes, row.cfg.n_probes);
        free(row.cfg.ctr.image);
        strv_free(row.cfg.ctr.volumes);
    }
    sqlite3_finalize(q);
    return r;
}
