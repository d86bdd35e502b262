/* The engine's bookkeeping: services in definition order with stable ids (never given out twice
 * in one droverd's life), adding, redefining and removing them (a removed service is freed once
 * it has stopped, through its timer's close), the observers of every change, the durability hook
 * (ops.c calls it), and the engine's life (a shutdown stops every service and waits for the last
 * one). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/paths.h"
#include "base/vec.h"
#include "proc/proc.h"
#include "supervise/supervise-internal.h"

struct svc_watch *svc_engine_watch(struct svc_engine *e, svc_change_fn fn, void *userdata)
{
    struct svc_watch *w = malloc(sizeof *w);
    if (w) {
        *w = (struct svc_watch){e->watches, e, fn, userdata};
        e->watches = w;
    }
    return w;
}

void svc_engine_unwatch(struct svc_watch *w)
{
    if (!w)
        return;
    w->fn = NULL;
    if (w->e->walking)
        return;
    for (struct svc_watch **pp = &w->e->watches; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
}

/* s->log_path from its definition. */
static int set_log_paths(struct svc *s)
{
    char *out = svc_log_name(s->e->log_dir, s->cfg.name, s->cfg.log_file[0], "out"),
         *err = svc_log_name(s->e->log_dir, s->cfg.name, s->cfg.log_file[1], "err");
    if (!out || !err) {
        free(out);
        free(err);
        return -ENOMEM;
    }
    free(s->log_path[0]);
    free(s->log_path[1]);
    s->log_path[0] = out;
    s->log_path[1] = err;
    return 0;
}

int svc_add(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret)
{
    struct svc *s;
    int r = svc_config_check(c);

    if (r < 0)
        return r;
    if (svc_find(e, c->name) || (id && svc_find_id(e, id)))
        return -EEXIST;
    id = id ? id : svc_next_id(e);
    if (VEC_RESERVE(e->v, e->cap, e->n + 1) < 0)
        return -ENOMEM;
    if (!(s = calloc(1, sizeof *s)))
        return -ENOMEM;
    if ((r = svc_config_copy(&s->cfg, c)) < 0) {
        free(s);
        return r;
    }
    s->e = e;
    if ((r = set_log_paths(s)) < 0) {
        svc_config_done(&s->cfg);
        free(s);
        return r;
    }
    s->id = id;
    e->last_id = MAX(e->last_id, id);
    uv_timer_init(e->loop, &s->timer);
    s->timer.data = s;
    e->v[e->n++] = s;
    e->n_alive++;
    e->n_with_deps += svc_config_has_deps(&s->cfg);
    svc_changed(s);
    if (ret)
        *ret = s;
    return 0;
}

uint32_t svc_next_id(const struct svc_engine *e)
{
    uint32_t id = e->last_id;
    for (size_t i = 0; i < e->n; i++)
        id = MAX(id, e->v[i]->id);
    return id + 1;
}

void svc_engine_set_persist(struct svc_engine *e, const struct svc_persist *p)
{
    e->persist = p ? *p : (struct svc_persist){0};
}

size_t svc_engine_unsynced(const struct svc_engine *e)
{
    return e->persist.unsynced ? e->persist.unsynced(e->persist.userdata) : 0;
}

void svc_closed(uv_handle_t *h)
{
    struct svc *s = h->data;
    struct svc_engine *e = s->e;
    for (size_t i = 0; i < e->n_dying; i++)
        if (e->dying[i] == s) {
            e->dying[i] = e->dying[--e->n_dying];
            break;
        }
    svc_fire_waiters(s);
    if (s->next_cfg) {
        svc_config_done(s->next_cfg);
        free(s->next_cfg);
    }
    free(s->log_path[0]);
    free(s->log_path[1]);
    svc_config_done(&s->cfg);
    free(s);
    if (--e->n_alive == 0 && e->closed)
        free(e);
}

static void unlink_from_engine(struct svc *s)
{
    struct svc_engine *e = s->e;
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i] == s) {
            memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof *e->v);
            e->n--;
            e->n_with_deps -= svc_config_has_deps(&s->cfg);
            return;
        }
}

void svc_remove(struct svc *s)
{
    if (s->removed)
        return;
    unlink_from_engine(s);
    /* Still the engine's until freed: svc_engine_free closes it if its stop outlasts the
     * engine. Without room to remember it, it is freed when its stop ends, as it would be. */
    if (VEC_RESERVE(s->e->dying, s->e->cap_dying, s->e->n_dying + 1) >= 0)
        s->e->dying[s->e->n_dying++] = s;
    s->want_up = false;
    if (s->st.state == SVC_ONLINE)
        svc_event(s, EV_STOP);
    s->removed = true;
    svc_changed(s); /* observers see svc_is_removed() */
    if (s->st.state != SVC_STOPPING && !uv_is_closing((uv_handle_t *)&s->timer)) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, svc_closed);
    }
}

struct svc *svc_find(struct svc_engine *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i]->cfg.name, name) == 0)
            return e->v[i];
    return NULL;
}

struct svc *svc_find_id(struct svc_engine *e, uint32_t id)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->id == id)
            return e->v[i];
    return NULL;
}

uint32_t svc_id(const struct svc *s)
{
    return s->id;
}

bool svc_is_removed(const struct svc *s)
{
    return s->removed;
}

int svc_redefine(struct svc *s, const struct svc_config *c)
{
    if (!s->child)
        return svc_set_config(s, c);
    int r = svc_config_check(c);
    if (r < 0)
        return r;
    if (strcmp(c->name, s->cfg.name) != 0)
        return -EINVAL;
    struct svc_config *next = malloc(sizeof *next);
    if (!next)
        return -ENOMEM;
    if ((r = svc_config_copy(next, c)) < 0) {
        free(next);
        return r;
    }
    if (s->next_cfg) {
        svc_config_done(s->next_cfg);
        free(s->next_cfg);
    }
    s->next_cfg = next;
    svc_restart(s);
    return 0;
}

int svc_define(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret)
{
    struct svc *s = svc_find(e, c->name);
    int r = s ? svc_set_config(s, c) : svc_add(e, id, c, &s);
    if (r >= 0 && ret)
        *ret = s;
    return r;
}

int svc_set_config(struct svc *s, const struct svc_config *c)
{
    struct svc_config copy;
    int r = svc_config_check(c);

    if (r < 0)
        return r;
    if (strcmp(c->name, s->cfg.name) != 0)
        return -EINVAL;
    if (s->child)
        return -EBUSY;
    if ((r = svc_config_copy(&copy, c)) < 0)
        return r;
    if (!s->removed)
        s->e->n_with_deps += svc_config_has_deps(&copy) - svc_config_has_deps(&s->cfg);
    svc_config_done(&s->cfg);
    s->cfg = copy;
    if ((r = set_log_paths(s)) < 0)
        return r; /* the old paths stay */
    svc_changed(s);
    return 0;
}

struct svc *svc_at(struct svc_engine *e, size_t i)
{
    return i < e->n ? e->v[i] : NULL;
}

size_t svc_count(const struct svc_engine *e)
{
    return e->n;
}

int svc_engine_new(uv_loop_t *loop, struct proc_reaper *r, const char *log_dir,
                   svc_change_fn on_change, void *userdata, struct svc_engine **ret)
{
    struct svc_engine *e = calloc(1, sizeof *e);
    int err;

    if (!e)
        return -ENOMEM;
    if (!(e->log_dir = strdup(log_dir))) {
        free(e);
        return -ENOMEM;
    }
    if ((err = paths_mkdir_p(log_dir, 0700, false)) < 0) {
        free(e->log_dir);
        free(e);
        return err;
    }
    e->loop = loop;
    e->reaper = r;
    e->rotate_ms = DEFAULT_ROTATE_MS;
    uv_timer_init(loop, &e->rotate_timer);
    e->rotate_timer.data = e;
    e->on_change = on_change;
    e->userdata = userdata;
    *ret = e;
    return 0;
}

void svc_engine_check_shutdown(struct svc_engine *e)
{
    if (!e->shutdown_done)
        return;
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->child)
            return;
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    done(e->shutdown_data);
}

void svc_engine_shutdown(struct svc_engine *e, void (*done)(void *userdata), void *userdata)
{
    e->shutdown_done = done;
    e->shutdown_data = userdata;
    for (size_t i = e->n; i-- > 0;)
        svc_event(e->v[i], EV_STOP);
    svc_engine_check_shutdown(e);
}

void svc_engine_kill_all(struct svc_engine *e)
{
    for (size_t i = e->n; i-- > 0;)
        if (e->v[i]->child)
            svc_kill_now(e->v[i]);
}

bool svc_engine_forced(const struct svc_engine *e)
{
    return e->forced;
}

/* libuv runs close callbacks newest first: the engine cannot count on its timer's close
 * coming after its services'. Whichever is last frees it. */
static void engine_closed(uv_handle_t *h)
{
    struct svc_engine *e = h->data;
    e->closed = true;
    if (e->n_alive == 0)
        free(e);
}

void svc_engine_free(struct svc_engine *e)
{
    if (!e)
        return;
    /* Removed services still stopping go too: their close callbacks (and the settle waiters
     * those call, which look into the engine) run before the engine's own, below. */
    while (e->n || e->n_dying) {
        struct svc *s = e->n ? e->v[--e->n] : e->dying[--e->n_dying];
        if (s->child)
            proc_child_forget(s->child);
        svc_stop_probes(s);
        s->removed = true;
        uv_timer_stop(&s->timer);
        if (!uv_is_closing((uv_handle_t *)&s->timer))
            uv_close((uv_handle_t *)&s->timer, svc_closed);
    }
    free(e->v);
    free(e->dying);
    e->dying = NULL;
    e->cap_dying = 0;
    free(e->log_dir);
    free(e->snapshot_path);
    while (e->watches) {
        struct svc_watch *w = e->watches;
        e->watches = w->next;
        free(w);
    }
    /* The engine goes with its timer's close or its last service's, whichever is last. */
    uv_close((uv_handle_t *)&e->rotate_timer, engine_closed);
}

void svc_engine_set_container(struct svc_engine *e, const struct svc_container_ops *ops,
                              void *userdata)
{
    e->ctr_ops = ops;
    e->ctr_data = userdata;
}
