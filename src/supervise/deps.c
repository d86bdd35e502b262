/* Dependencies between services (depends_on): a service starts once every service it depends on
 * is up (online, and healthy when it has probes), and waits in STARTING until then; it fails when
 * one of them fails. A stop goes the other way: the services that depend on it stop first, and
 * its own stop is deferred until none of them runs. A restart takes its running dependents
 * along. The state machine (svc.c) calls in here at each start, stop and state change. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervise/supervise-internal.h"

static bool lists(const struct svc *s, const char *name)
{
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++)
        if (!strcmp(s->cfg.depends_on[i], name))
            return true;
    return false;
}

/* Up, as a dependency: online, and not on its way down. */
static bool up(const struct svc *d)
{
    return d->st.state == SVC_ONLINE && d->want_up && !d->stop_deferred &&
           (!d->cfg.n_probes || d->st.healthy);
}

static bool deps_up(const struct svc *s)
{
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++) {
        struct svc *d = svc_find(s->e, s->cfg.depends_on[i]);
        if (!d || !up(d))
            return false;
    }
    return true;
}

/* Whether a service that depends on s still has a process. */
static bool dependents_running(const struct svc *s)
{
    if (!s->e->n_with_deps) /* nobody depends on anything: no walk of every service */
        return false;
    for (size_t i = 0; i < s->e->n; i++)
        if (s->e->v[i]->child && lists(s->e->v[i], s->cfg.name))
            return true;
    return false;
}

static void fail_start(struct svc *s, const char *fmt, const char *name)
{
    uv_timer_stop(&s->timer);
    s->want_up = false;
    s->st.last_error = -ENOLINK;
    svc_set_state(s, SVC_ERRORED);
    snprintf(s->st.reason, sizeof s->st.reason, fmt, name);
    svc_changed(s);
}

/* Wants s up: its dependencies are started first; it spawns once they are all online, and
 * waits in STARTING until then. */
void svc_begin_start(struct svc *s)
{
    uv_timer_stop(&s->timer);
    s->want_up = true;
    if (s->starting)
        return;
    s->starting = true;
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++) {
        const char *name = s->cfg.depends_on[i];
        struct svc *d = svc_find(s->e, name);
        if (!d) {
            s->starting = false;
            return fail_start(s, "depends on '%s', which is not defined", name);
        }
        if (!d->want_up)
            svc_event(d, EV_START);
        if (d->st.state == SVC_ERRORED) {
            s->starting = false;
            return fail_start(s, "dependency '%s' failed", name);
        }
    }
    s->starting = false;
    if (deps_up(s))
        svc_spawn_now(s);
    else if (s->st.state != SVC_STARTING)
        svc_set_state(s, SVC_STARTING);
}

/* What a state change means for the other services: dependents waiting for s start when it is
 * online, fail when it has failed; stops deferred for dependents go on when they are down. */
void svc_after_state(struct svc *s)
{
    struct svc_engine *e = s->e;

    /* Each pass below concerns a service with a depends_on: without any, a state change costs
     * nothing per other service (a stop of every service would be quadratic otherwise). */
    for (size_t i = 0; e->n_with_deps && i < e->n; i++) {
        struct svc *t = e->v[i];
        if (t == s)
            continue;
        if (t->st.state == SVC_STARTING && lists(t, s->cfg.name)) {
            if (s->st.state == SVC_ERRORED)
                fail_start(t, "dependency '%s' failed", s->cfg.name);
            else if (up(s) && deps_up(t))
                svc_spawn_now(t);
        }
        if (t->stop_deferred && !s->child && lists(s, t->cfg.name) && !dependents_running(t))
            svc_really_stop(t);
    }
    svc_engine_check_shutdown(e);
}

bool svc_stop_dependents(struct svc *s)
{
    for (size_t i = 0; s->e->n_with_deps && i < s->e->n; i++) {
        struct svc *t = s->e->v[i];
        /* One already stopping keeps what it wants after (a restart comes back up, and waits
         * in STARTING until s is online again). */
        if (t != s && lists(t, s->cfg.name) && t->st.state != SVC_STOPPING &&
            !(s->restarting && t->st.state == SVC_STARTING) && (t->want_up || t->child))
            svc_event(t, EV_STOP);
    }
    return dependents_running(s);
}

void svc_restart_dependents(struct svc *s)
{
    /* Down before it, up after it. */
    for (size_t i = 0; i < s->e->n; i++) {
        struct svc *t = s->e->v[i];
        if (t != s && t->child && lists(t, s->cfg.name))
            svc_restart(t);
    }
}
