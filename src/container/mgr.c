/* The manager: directories, the runtime, images and containers loaded from their rows, waits,
 * lookups, figures, exec, and droverd's own stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errmsg.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"
#include "base/strv.h"
#include "container/container-internal.h"
#include "session/session.h"

void ctr_wait_push(struct ctr_wait **list, struct ctr_wait *w)
{
    if (!w)
        return;
    w->next = *list;
    if (*list)
        (*list)->prev_next = &w->next;
    w->prev_next = list;
    *list = w;
}

void ctr_wait_cancel(struct ctr_wait *w)
{
    if (!w || !w->prev_next)
        return;
    *w->prev_next = w->next;
    if (w->next)
        w->next->prev_next = w->prev_next;
    w->prev_next = NULL;
    w->next = NULL;
}

void ctr_wait_finish(struct ctr_wait **list, int r, const char *err)
{
    while (*list) {
        struct ctr_wait *w = *list;
        ctr_wait_cancel(w);
        w->done(w, r, err);
    }
}

int ctr_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, struct sess_mgr *sessions,
                struct store *store, const struct ctr_config *cfg, struct ctr_mgr **ret, char *err,
                size_t err_size)
{
    struct ctr_mgr *m = calloc(1, sizeof *m);
    if (!m)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    m->loop = loop;
    m->reaper = reaper;
    m->sessions = sessions;
    m->store = store;
    if (!(m->state_dir = strdup(cfg->state_dir)) ||
        asprintf(&m->images_dir, "%s/images", cfg->state_dir) < 0 ||
        asprintf(&m->layout_dir, "%s/images/oci", cfg->state_dir) < 0 ||
        asprintf(&m->roots_dir, "%s/images/roots", cfg->state_dir) < 0 ||
        asprintf(&m->containers_dir, "%s/containers", cfg->state_dir) < 0 ||
        asprintf(&m->volumes_dir, "%s/volumes", cfg->state_dir) < 0 ||
        !(m->console_dir = strdup(cfg->console_dir ? cfg->console_dir : cfg->state_dir))) {
        ctr_mgr_free(m);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    if (strchr(m->layout_dir, ':')) {
        ctr_mgr_free(m);
        return errmsg_fail(err, err_size, -EINVAL,
                           "the state directory '%s' holds a ':', "
                           "which image references cannot carry",
                           cfg->state_dir);
    }
    const char *dirs[] = {m->roots_dir, m->containers_dir, m->volumes_dir};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        int r = paths_mkdir_p(dirs[i], 0700, false);
        if (r < 0) {
            errmsg_fail(err, err_size, r, "cannot create '%s': %s", dirs[i], strerror(-r));
            ctr_mgr_free(m);
            return r;
        }
    }
    ctr_runtime_pick(cfg->runtime, cfg->state_dir, &m->rt);
    if (m->rt.name[0])
        log_info("containers run with %s (%s): %s", m->rt.name, m->rt.path, m->rt.note);
    else
        log_info("containers cannot run here: %s", m->rt.note);
    *ret = m;
    return 0;
}

static int load_image(struct ctr_mgr *m, json_t *doc, void *userdata)
{
    char err[CTR_ERR_MAX];
    const char *name = json_string_value(json_object_get(doc, "name"));
    struct ctr_image *img = name ? calloc(1, sizeof *img) : NULL;
    (void)userdata;
    if (!img)
        return 0;
    if (ctr_image_load(m, name, img, err, sizeof err) < 0) {
        log_warning("image %s is gone from the store: %s", name, err);
        ctr_image_free(img);
        (void)ctr_db_delete(m, "image", name);
        return 0;
    }
    const char *src = json_string_value(json_object_get(doc, "source"));
    img->source = src ? strdup(src) : NULL;
    img->imported_at = json_real_value(json_object_get(doc, "imported_at"));
    img->unpacked_size = (uint64_t)json_integer_value(json_object_get(doc, "unpacked_size"));
    struct ctr_image **pp = &m->images;
    while (*pp && strcmp((*pp)->name, img->name) < 0)
        pp = &(*pp)->next;
    img->next = *pp;
    *pp = img;
    return 0;
}

static int load_container(struct ctr_mgr *m, json_t *d, void *userdata)
{
    struct container *c = calloc(1, sizeof *c);
    const char *id = json_string_value(json_object_get(d, "id"));
    (void)userdata;
    if (!c)
        return -ENOMEM;
    c->m = m;
    c->console_fd = -1;
    if (!id || strlen(id) != CTR_ID_LEN - 1 ||
        ctr_spec_from_json(json_object_get(d, "spec"), &c->spec) < 0 ||
        ctr_setup_paths((snprintf(c->id, sizeof c->id, "%s", id), c)) < 0) {
        log_warning("a container row cannot be read: skipped");
        ctr_unref_free(c);
        return 0;
    }
#define S(k)                                                                                       \
    (json_string_value(json_object_get(d, k)) ? strdup(json_string_value(json_object_get(d, k)))   \
                                              : NULL)
#define I(k) json_integer_value(json_object_get(d, k))
#define F(k) json_real_value(json_object_get(d, k))
    c->image_id = S("image_id");
    c->lower = S("lower");
    c->session_id = S("session_id");
    c->error = S("error");
    c->state = (enum ctr_state)I("state");
    c->pid = (pid_t)I("pid");
    c->starttime = (uint64_t)I("starttime");
    c->mounted = json_is_true(json_object_get(d, "mounted"));
    c->exit_known = json_is_true(json_object_get(d, "exit_known"));
    c->exit_code = (int)I("exit_code");
    c->oom_killed = json_is_true(json_object_get(d, "oom_killed"));
    c->restarts = (uint32_t)I("restarts");
    c->created_at = F("created_at");
    c->started_at = F("started_at");
    c->finished_at = F("finished_at");
    c->stop_signal = (int)I("stop_signal") ? (int)I("stop_signal") : SIGTERM;
    c->stop_timeout_ms = (uint32_t)I("stop_timeout_ms") ? (uint32_t)I("stop_timeout_ms") : 10000;
#undef S
#undef I
#undef F
    /* Oldest rows come first: each goes in front, so the list ends newest first. */
    c->next = m->containers;
    m->containers = c;
    for (struct ctr_image *img = m->images; img; img = img->next)
        if (c->image_id && strcmp(img->id, c->image_id) == 0)
            img->users++;
    return 0;
}

int ctr_mgr_restore(struct ctr_mgr *m)
{
    int r = ctr_db_each(m, "image", load_image, NULL);
    if (r == 0)
        r = ctr_db_each(m, "container", load_container, NULL);
    if (r < 0)
        return r;
    size_t n = 0;
    ctr_foreground_sweep(m);
    for (struct container *c = m->containers, *next; c; c = next, n++) {
        next = c->next; /* an auto-remove container may go now */
        if (!m->rt.name[0] && c->state != CTR_EXITED) {
            log_warning("container %s was running, but no runtime can run here now: %s",
                        c->spec.name, m->rt.note);
            continue;
        }
        ctr_adopt(c);
    }
    if (n)
        log_info("%zu containers loaded", n);
    return 0;
}

void ctr_shutdown_step(struct ctr_mgr *m)
{
    if (m->shutdown_left && --m->shutdown_left == 0 && m->shutdown_done)
        m->shutdown_done(m->shutdown_data);
}

static void shutdown_one(struct ctr_wait *w, int r, const char *err)
{
    (void)r;
    (void)err;
    ctr_shutdown_step(w->userdata);
}

void ctr_mgr_shutdown(struct ctr_mgr *m, void (*done)(void *userdata), void *userdata)
{
    size_t n = 0;
    m->stopping = true;
    for (struct container *c = m->containers; c; c = c->next)
        n++;
    free(m->shutdown_waits);
    m->shutdown_waits = n ? calloc(n, sizeof *m->shutdown_waits) : NULL;
    m->n_shutdown_waits = m->shutdown_waits ? n : 0;
    m->shutdown_done = done;
    m->shutdown_data = userdata;
    m->shutdown_left = 1; /* held until every stop is asked for */
    /* Runs the runtime is letting go of (a service's or a task's, ended): their delete too. */
    m->shutdown_left += (uint32_t)ctr_foreground_hold(m);
    size_t i = 0;
    for (struct container *c = m->containers; c && i < m->n_shutdown_waits; c = c->next, i++) {
        struct ctr_wait *w = &m->shutdown_waits[i];
        *w = (struct ctr_wait){.done = shutdown_one, .userdata = m};
        m->shutdown_left++;
        if (ctr_stop(c, 0, UINT32_MAX, w, NULL, 0) != 0)
            m->shutdown_left--; /* stopped already */
    }
    shutdown_one(&(struct ctr_wait){.userdata = m}, 0, NULL);
}

void ctr_mgr_free(struct ctr_mgr *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_shutdown_waits; i++)
        ctr_wait_cancel(&m->shutdown_waits[i]);
    free(m->shutdown_waits);
    while (m->containers) {
        struct container *c = m->containers;
        m->containers = c->next;
        ctr_wait_finish(&c->waits_run, -ESHUTDOWN, "droverd is stopping");
        ctr_wait_finish(&c->waits_exit, -ESHUTDOWN, "droverd is stopping");
        ctr_wait_finish(&c->waits_gone, -ESHUTDOWN, "droverd is stopping");
        ctr_unref_free(c);
    }
    while (m->images) {
        struct ctr_image *img = m->images;
        m->images = img->next;
        ctr_image_free(img);
    }
    ctr_imports_free(m);
    ctr_foreground_free(m);
    free(m->state_dir);
    free(m->images_dir);
    free(m->layout_dir);
    free(m->roots_dir);
    free(m->containers_dir);
    free(m->volumes_dir);
    free(m->console_dir);
    free(m);
}

const char *ctr_mgr_runtime(const struct ctr_mgr *m, const char **ret_path, const char **ret_note)
{
    if (ret_path)
        *ret_path = m->rt.path;
    if (ret_note)
        *ret_note = m->rt.note;
    return m->rt.name[0] ? m->rt.name : NULL;
}

size_t ctr_mgr_count(const struct ctr_mgr *m, size_t *ret_running)
{
    size_t n = 0, running = 0;
    for (const struct container *c = m->containers; c; c = c->next, n++)
        running += c->state == CTR_RUNNING || c->state == CTR_STOPPING;
    if (ret_running)
        *ret_running = running;
    return n;
}

void ctr_mgr_watch(struct ctr_mgr *m, void (*fn)(struct container *c, void *userdata),
                   void *userdata)
{
    m->watch = fn;
    m->watch_data = userdata;
}

struct container *ctr_find_name(struct ctr_mgr *m, const char *name)
{
    for (struct container *c = m->containers; c; c = c->next)
        if (strcmp(c->spec.name, name) == 0)
            return c;
    return NULL;
}

struct container *ctr_find(struct ctr_mgr *m, const char *ref)
{
    struct container *hit = NULL;
    size_t n = 0, len = ref ? strlen(ref) : 0;
    if (!len)
        return NULL;
    for (struct container *c = m->containers; c; c = c->next)
        if (strcmp(c->id, ref) == 0)
            return c;
    if ((hit = ctr_find_name(m, ref)))
        return hit;
    if (len < 3 || strspn(ref, "0123456789abcdef") != len)
        return NULL;
    for (struct container *c = m->containers; c; c = c->next)
        if (strncmp(c->id, ref, len) == 0)
            hit = c, n++;
    return n == 1 ? hit : NULL;
}

const char *ctr_id(const struct container *c)
{
    return c->id;
}

struct container *ctr_next(struct ctr_mgr *m, struct container *prev)
{
    return prev ? prev->next : m->containers;
}

void ctr_info(const struct container *c, struct ctr_info *ret)
{
    *ret = (struct ctr_info){
        .id = c->id,
        .name = c->spec.name,
        .image = c->spec.image,
        .image_id = c->image_id ? c->image_id : "",
        .state = c->state,
        .pid = c->exited ? 0 : c->pid,
        .exit_known = c->exit_known,
        .exit_code = c->exit_code,
        .oom_killed = c->oom_killed,
        .created_at = c->created_at,
        .started_at = c->started_at,
        .finished_at = c->finished_at,
        .restarts = c->restarts,
        .session_id = c->sess && c->session_id ? c->session_id : "",
        .error = c->error ? c->error : "",
        .log_path = c->log_path,
        .runtime = c->m->rt.name,
        .spec = &c->spec,
    };
}

int ctr_get_stats(struct container *c, struct ctr_stats *ret)
{
    struct proc_group_stats gs;
    *ret = (struct ctr_stats){0};
    bool live = c->state == CTR_RUNNING || c->state == CTR_STOPPING || c->state == CTR_CREATED ||
                c->state == CTR_STARTING;
    if (!live)
        return -ESRCH;
    int r = proc_group_stats(c->cgroup, &gs);
    if (r < 0)
        return r;
    ret->g.has_memory = gs.has_memory;
    ret->g.has_cpu = gs.has_cpu;
    ret->g.has_pids = gs.has_pids;
    ret->g.memory_current = gs.memory_current;
    ret->g.memory_peak = gs.memory_peak;
    ret->g.memory_max = gs.memory_max;
    ret->g.oom_kills = gs.oom_kills;
    ret->g.cpu_usage_ns = gs.cpu_usage_ns;
    ret->g.pids_current = gs.pids_current;
    ret->g.pids_max = gs.pids_max;
    return 0;
}

int ctr_members(struct container *c, pid_t **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (c->exited || !c->pid || c->state == CTR_EXITED || c->state == CTR_CREATING)
        return -ESRCH;
    return proc_group_members(c->cgroup, ret, ret_n);
}

struct session *ctr_session(struct container *c)
{
    return c->sess;
}

int ctr_exec(struct container *c, char *const *argv, char *const *env, bool tty, uint16_t rows,
             uint16_t cols, struct session **ret, char *err, size_t err_size)
{
    char **v = NULL;
    size_t n = 0;
    int r = 0;

    if (c->state != CTR_RUNNING)
        return errmsg_fail(err, err_size, -EBUSY, "container %s is %s, not running", c->spec.name,
                           ctr_state_name(c->state));
    if (!argv || !argv[0])
        return errmsg_fail(err, err_size, -EINVAL, "no command to run");
    const char *head[] = {c->m->rt.path, "--root", c->m->rt.root, "exec"};
    for (size_t i = 0; i < ARRAY_SIZE(head) && r == 0; i++)
        r = strv_push(&v, &n, strdup(head[i]));
    if (r == 0 && tty)
        r = strv_push(&v, &n, strdup("--tty"));
    for (size_t i = 0; env && env[i] && r == 0; i++) {
        if (!strchr(env[i], '='))
            r = -EINVAL;
        else if ((r = strv_push(&v, &n, strdup("--env"))) == 0)
            r = strv_push(&v, &n, strdup(env[i]));
    }
    if (r == 0)
        r = strv_push(&v, &n, strdup(c->id));
    for (size_t i = 0; argv[i] && r == 0; i++)
        r = strv_push(&v, &n, strdup(argv[i]));
    if (r < 0) {
        strv_free(v);
        return errmsg_fail(err, err_size, r,
                           r == -EINVAL ? "an environment entry is not "
                                          "NAME=value"
                                        : "out of memory");
    }
    char origin[160];
    snprintf(origin, sizeof origin, "container-exec:%s", c->spec.name);
    struct sess_spawn so = {
        .kind = tty ? SESS_PTY : SESS_PIPE,
        .argv = v,
        .envp = ctr_tool_env(),
        .rows = rows,
        .cols = cols,
        .originator = origin,
    };
    r = sess_spawn(c->m->sessions, &so, ret);
    strv_free(v);
    if (r < 0)
        return errmsg_fail(err, err_size, r, "cannot run the runtime's exec: %s", strerror(-r));
    return 0;
}
