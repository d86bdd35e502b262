/* The operations on services, once each: every face (drover.v1 Services, running-process
 * SERVICE_*, the configuration on start and reload, `drover start FILE`) calls these and only
 * converts messages and maps the -errno, so one mistake means the same thing through every door:
 *
 *   -ENOENT  the target names no service          -EEXIST  a service of that name runs
 *   -EINVAL  a definition that cannot run (why)   -EBUSY   it belongs to droverd's configuration
 *   -ENOSPC, -EIO...  the change could not be recorded first: nothing was changed
 *   any other -errno: the spawn failed at once (ENOENT: no such program), the service ERRORED
 *
 * Durability: before an operation changes anything, the rows it will leave (what the user wants
 * now, a new definition, a deletion) go to the engine's persist hook, all in one write; when
 * that fails the operation is refused, so that a client is never told yes about a change a crash
 * would forget. The consequences the engine draws on its own (dependents stopping with a service,
 * the states a start goes through) are recorded by its observer afterwards.
 *
 * Where an operation fails, why gets a sentence for people that names the service or the bad
 * value; faces pass it on as their error message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errmsg.h"
#include "base/macro.h"
#include "supervise/supervise-internal.h"

int svc_resolve(struct svc_engine *e, const char *target, bool all_ok, struct svc ***ret,
                size_t *ret_n)
{
    struct svc **v = calloc(e->n ? e->n : 1, sizeof *v);
    size_t k = 0;

    if (!v)
        return -ENOMEM;
    if (all_ok && !strcmp(target, "all")) {
        if (e->n) /* e->v is NULL before the first service */
            memcpy(v, e->v, e->n * sizeof *v);
        k = e->n;
    } else {
        char *end = (char *)target;
        unsigned long id = *target ? strtoul(target, &end, 10) : 0;
        struct svc *s = *target && !*end && id <= UINT32_MAX ? svc_find_id(e, (uint32_t)id) : NULL;
        if ((s = s ? s : svc_find(e, target)))
            v[k++] = s;
    }
    if (!k) {
        free(v);
        return -ENOENT;
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

int svc_resolve_one(struct svc_engine *e, const char *target, struct svc **ret)
{
    struct svc **v;
    size_t n;
    int r = svc_resolve(e, target, false, &v, &n);

    if (r < 0)
        return r;
    *ret = v[0];
    free(v);
    return 0;
}

/* ---- durability: the rows an operation will leave, written before it is carried out ---- */

/* s's row as it is now, but for what the user wants and (c not NULL) its definition. */
static void intent_of(struct svc *s, const struct svc_config *c, bool wanted,
                      struct svc_intent *ret)
{
    *ret = (struct svc_intent){.row = {.id = s->id, .cfg = c ? *c : s->cfg}};
    svc_get_status(s, &ret->row.st);
    ret->row.st.wanted = wanted;
    ret->row.state = ret->row.st.state;
    ret->row.cgroup = svc_cgroup(s) ? svc_cgroup(s) : "";
}

/* The row of a service about to be defined with id and c: stopped, wanted up or not. */
static void intent_new(uint32_t id, const struct svc_config *c, bool wanted, struct svc_intent *ret)
{
    *ret = (struct svc_intent){.row = {.id = id, .cfg = *c, .cgroup = ""}};
    ret->row.st.wanted = wanted;
}

/* Writes v through the persist hook: 0, or its -errno with why saying that what (a verb and its
 * object, for people) was not done. */
static int persist(struct svc_engine *e, const struct svc_intent *v, size_t n, const char *what,
                   char *why, size_t why_size)
{
    int r = n && e->persist.write ? e->persist.write(v, n, e->persist.userdata) : 0;

    if (r >= 0)
        return 0;
    return errmsg_fail(why, why_size, r,
                       "cannot %s: %s; the change could not be recorded, so nothing was changed",
                       what, r == -ENOSPC ? "the state disk is full" : strerror(-r));
}

/* An operation failed after its rows were written (out of memory): they are written again as
 * the engine has them, which is all that can be done (a failure leaves them to the services'
 * next change). */
static void persist_undo(struct svc_engine *e, const struct svc_intent *v, size_t n)
{
    for (size_t i = 0; e->persist.write && i < n; i++) {
        struct svc *s = svc_find_id(e, v[i].row.id);
        struct svc_intent now = {.row.id = v[i].row.id, .gone = true};
        if (s)
            intent_of(s, NULL, s->want_up, &now);
        (void)e->persist.write(&now, 1, e->persist.userdata);
    }
}

/* Starts s, which is defined and not running; the spawn's -errno when it failed at once. */
static int start(struct svc *s, char *why, size_t size)
{
    struct svc_status st;

    svc_start(s);
    svc_get_status(s, &st);
    if (st.state == SVC_ERRORED && st.last_error)
        return errmsg_fail(why, size, st.last_error, "cannot start '%s': %s", svc_name(s),
                           strerror(-st.last_error));
    return 0;
}

int svc_start_config(struct svc_engine *e, const struct svc_config *c, struct svc **ret, char *why,
                     size_t why_size)
{
    struct svc *s;

    if (!c->name || !*c->name)
        return errmsg_fail(why, why_size, -EINVAL, "service name must not be empty");
    if (!c->argv || (!c->ctr.image && (!c->argv[0] || !*c->argv[0])))
        return errmsg_fail(why, why_size, -EINVAL, "service cmd must not be empty");
    if ((s = svc_find(e, c->name)) && svc_running(s))
        return errmsg_fail(why, why_size, -EEXIST, "service '%s' already exists", c->name);
    struct svc_intent in;
    char what[256];
    int r = svc_config_check(c);
    if (r >= 0) {
        if (s)
            intent_of(s, c, true, &in);
        else
            intent_new(svc_next_id(e), c, true, &in);
        snprintf(what, sizeof what, "start '%s'", c->name);
        if ((r = persist(e, &in, 1, what, why, why_size)) < 0)
            return r;
        if ((r = svc_define(e, in.row.id, c, &s)) < 0)
            persist_undo(e, &in, 1);
    }
    if (r < 0)
        return errmsg_fail(why, why_size, r, "cannot define service '%s': %s", c->name,
                           strerror(-r));
    *ret = s;
    return start(s, why, why_size);
}

int svc_start_target(struct svc_engine *e, const char *target, struct svc **ret, char *why,
                     size_t why_size)
{
    struct svc *s;
    int r = svc_resolve_one(e, target, &s);

    if (r < 0)
        return errmsg_fail(why, why_size, r, "no service matched '%s'", target);
    if (svc_running(s))
        return errmsg_fail(why, why_size, -EEXIST, "service '%s' already exists", svc_name(s));
    struct svc_intent in;
    char what[256];
    intent_of(s, NULL, true, &in);
    snprintf(what, sizeof what, "start '%s'", svc_name(s));
    if ((r = persist(e, &in, 1, what, why, why_size)) < 0)
        return r;
    *ret = s;
    return start(s, why, why_size);
}

/* ---- stop, restart, delete: answered once every service touched has settled ---- */

struct act {
    enum svc_act act; /* what was asked */
    size_t n_running; /* how many ran before */
    svc_acted_fn fn;  /* the caller's answer */
    void *userdata;   /* its argument */
};

static void acted(struct svc **v, size_t n, void *userdata)
{
    struct act *a = userdata;

    a->fn(v, n, a->n_running, a->userdata);
    if (a->act == SVC_ACT_DELETE)
        for (size_t i = 0; v && i < n; i++)
            svc_remove(v[i]);
    free(a);
}

/* The rows a stop (wanted down), restart (wanted up) or delete (gone) of v will leave. */
static int persist_act(struct svc_engine *e, struct svc **v, size_t n, enum svc_act act,
                       const char *target, char *why, size_t why_size)
{
    static const char *const verbs[] = {
        [SVC_ACT_STOP] = "stop",
        [SVC_ACT_RESTART] = "restart",
        [SVC_ACT_DELETE] = "delete",
    };
    _cleanup_free_ struct svc_intent *in = calloc(n, sizeof *in);
    char what[256];

    if (!in)
        return errmsg_fail(why, why_size, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (act == SVC_ACT_DELETE)
            in[i] = (struct svc_intent){.row.id = v[i]->id, .gone = true};
        else
            intent_of(v[i], NULL, act == SVC_ACT_RESTART, &in[i]);
    snprintf(what, sizeof what, "%s '%s'", verbs[act], target);
    return persist(e, in, n, what, why, why_size);
}

int svc_act(struct svc_engine *e, const char *target, enum svc_act act, svc_acted_fn fn,
            void *userdata, char *why, size_t why_size)
{
    struct act *a = calloc(1, sizeof *a);
    struct svc **v;
    size_t n;
    int r = a ? svc_resolve(e, target, true, &v, &n) : -ENOMEM;

    if (r < 0) {
        free(a);
        return r == -ENOENT ? errmsg_fail(why, why_size, r, "no service matched '%s'", target)
                            : errmsg_fail(why, why_size, r, "out of memory");
    }
    if ((r = persist_act(e, v, n, act, target, why, why_size)) < 0) {
        free(v);
        free(a);
        return r;
    }
    *a = (struct act){act, 0, fn, userdata};
    for (size_t i = 0; i < n; i++) {
        a->n_running += svc_running(v[i]);
        act == SVC_ACT_RESTART ? svc_restart(v[i]) : svc_stop(v[i]);
    }
    r = svc_when_settled(e, v, n, acted, a);
    for (size_t i = 0; r < 0 && i < n; i++) /* a delete that will not happen: rows back */
        persist_undo(e, &(struct svc_intent){.row.id = v[i]->id}, 1);
    free(v);
    if (r < 0) {
        free(a);
        return errmsg_fail(why, why_size, r, "out of memory");
    }
    return 0;
}

int svc_flush(struct svc_engine *e, const char *target, struct svc ***ret, size_t *ret_n, char *why,
              size_t why_size)
{
    int r = svc_resolve(e, target, true, ret, ret_n);

    if (r < 0)
        return errmsg_fail(why, why_size, r, "no service matched '%s'", target);
    for (size_t i = 0; i < *ret_n; i++)
        for (int k = 1; k <= 2; k++)
            (void)truncate(svc_log_path((*ret)[i], k), 0); /* a missing file is flushed already */
    return 0;
}

/* ---- snapshots ---- */

int svc_engine_set_snapshot_path(struct svc_engine *e, const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    free(e->snapshot_path);
    e->snapshot_path = p;
    return 0;
}

const char *svc_engine_snapshot_path(const struct svc_engine *e)
{
    return e->snapshot_path ? e->snapshot_path : SVC_SNAPSHOT_FILE;
}

int svc_save(struct svc_engine *e, size_t *ret_n, char *why, size_t why_size)
{
    const char *path = svc_engine_snapshot_path(e);
    int r = svc_snapshot_save(e, path, ret_n);
    return r < 0 ? errmsg_fail(why, why_size, r, "cannot write '%s': %s", path, strerror(-r)) : r;
}

int svc_resurrect(struct svc_engine *e, size_t *ret_n, char *why, size_t why_size)
{
    const char *path = svc_engine_snapshot_path(e);
    int r = svc_snapshot_load(e, path, ret_n);

    if (r == -ENOENT)
        return errmsg_fail(why, why_size, r, "no snapshot at '%s' (save one first)", path);
    if (r == -EINVAL)
        return errmsg_fail(why, why_size, r, "'%s' is not a version 1 services snapshot", path);
    return r < 0 ? errmsg_fail(why, why_size, r, "cannot read '%s': %s", path, strerror(-r)) : r;
}

/* ---- definitions applied as a whole ---- */

static bool listed(const struct svc_config *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return true;
    return false;
}

/* The rows applying the configuration v will leave: new services (ids[i], 0 for the others)
 * wanted up when they start with droverd, changed ones with their new definition, unlisted ones
 * of the configuration gone. Definitions that cannot run are left to fail in the applying. */
static int persist_config(struct svc_engine *e, const struct svc_config *v, size_t n, uint32_t *ids)
{
    _cleanup_free_ struct svc_intent *in = calloc(n + e->n + 1, sizeof *in);
    uint32_t next = svc_next_id(e);
    size_t k = 0;

    if (!in)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct svc_config c = v[i];
        struct svc *s = svc_find(e, c.name);
        c.from_config = true;
        if (svc_config_check(&c) < 0 || (s && svc_config_equal(&s->cfg, &c)))
            continue;
        if (s)
            intent_of(s, &c, (s->want_up && !s->removed) || c.autostart, &in[k++]);
        else
            intent_new(ids[i] = next++, &c, c.autostart, &in[k++]);
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->cfg.from_config && !listed(v, n, e->v[i]->cfg.name))
            in[k++] = (struct svc_intent){.row.id = e->v[i]->id, .gone = true};
    return persist(e, in, k, "apply the configuration", NULL, 0);
}

int svc_apply_config(struct svc_engine *e, const struct svc_config *v, size_t n,
                     svc_apply_failed_fn failed, void *userdata, struct svc_apply_counts *ret)
{
    struct svc_apply_counts k = {0};
    _cleanup_free_ struct svc **up = calloc(n ? n : 1, sizeof *up);
    _cleanup_free_ uint32_t *ids = calloc(n ? n : 1, sizeof *ids);
    size_t n_up = 0;
    int r = ids ? persist_config(e, v, n, ids) : -ENOMEM;

    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct svc_config c = v[i];
        struct svc *s = svc_find(e, c.name);
        c.from_config = true;
        if (!s) {
            r = svc_add(e, ids[i], &c, &s);
            k.added += r >= 0;
        } else if (svc_config_equal(svc_get_config(s), &c)) {
            k.unchanged++;
            continue;
        } else {
            r = svc_redefine(s, &c);
            k.changed += r >= 0;
        }
        if (r < 0) {
            if (s || ids[i]) /* its row was written for the change that failed */
                persist_undo(e, &(struct svc_intent){.row.id = s ? s->id : ids[i]}, 1);
            if (failed)
                failed(c.name, r, userdata);
        } else if (c.autostart && up) {
            up[n_up++] = s;
        }
    }
    for (size_t i = e->n; i-- > 0;) {
        struct svc *s = e->v[i];
        if (s->cfg.from_config && !listed(v, n, s->cfg.name)) {
            svc_remove(s);
            k.removed++;
        }
    }
    /* Started once every service is defined, so that dependencies are found in any order. */
    for (size_t i = 0; i < n_up; i++)
        if (!svc_running(up[i]))
            svc_start(up[i]);
    *ret = k;
    return 0;
}

/* The rows a file's services will leave in in[]: each wanted up, with the file's definition.
 * -EINVAL (why says which) before anything is written when one of them cannot run. */
static int persist_file(struct svc_engine *e, const struct svc_config *v, size_t n,
                        struct svc_intent *in, char *why, size_t why_size)
{
    uint32_t next = svc_next_id(e);

    for (size_t i = 0; i < n; i++) {
        struct svc *s = svc_find(e, v[i].name);
        int r = svc_config_check(&v[i]);
        if (r < 0)
            return errmsg_fail(why, why_size, r, "service '%s': %s", v[i].name, strerror(-r));
        if (s)
            intent_of(s, &v[i], true, &in[i]);
        else
            intent_new(next++, &v[i], true, &in[i]);
    }
    return persist(e, in, n, n == 1 ? "start the file's service" : "start the file's services", why,
                   why_size);
}

int svc_apply_file(struct svc_engine *e, const struct svc_config *v, size_t n, struct svc ***ret,
                   char *why, size_t why_size)
{
    struct svc **done;
    int r;

    /* Every name first: the file applies whole or not at all. */
    for (size_t i = 0; i < n; i++) {
        struct svc *s = svc_find(e, v[i].name);
        if (s && s->cfg.from_config)
            return errmsg_fail(why, why_size, -EBUSY,
                               "service '%s' comes from droverd's configuration; change it there",
                               v[i].name);
    }
    _cleanup_free_ struct svc_intent *in = calloc(n ? n : 1, sizeof *in);
    if (!in || !(done = calloc(n ? n : 1, sizeof *done)))
        return errmsg_fail(why, why_size, -ENOMEM, "out of memory");
    if ((r = persist_file(e, v, n, in, why, why_size)) < 0) {
        free(done);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        struct svc *s = svc_find(e, v[i].name);
        if (s && svc_running(s))
            r = svc_config_equal(&s->cfg, &v[i]) ? 0 : svc_redefine(s, &v[i]);
        else
            r = svc_define(e, in[i].row.id, &v[i], &s);
        if (r < 0) {
            persist_undo(e, in, n);
            free(done);
            return errmsg_fail(why, why_size, r, "service '%s': %s", v[i].name, strerror(-r));
        }
        done[i] = s;
    }
    for (size_t i = 0; i < n; i++) /* in file order; dependencies hold back their dependents */
        if (!svc_running(done[i]))
            svc_start(done[i]);
    *ret = done;
    return 0;
}
