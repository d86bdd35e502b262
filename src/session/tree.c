/* What a session says of itself, and its program as a tree of processes: who owns it in the
 * core, its identity, its members, the freezer, its cgroup limits and what its memory group
 * says; and a session around a program someone else started (an OCI runtime's container). */
#include <errno.h>
#include <unistd.h>

#include "proc/proc.h"
#include "session/session-internal.h"

void sess_set_owner(struct session *s, const struct sess_owner_ops *ops, void *userdata)
{
    s->owner = ops;
    s->owner_data = userdata;
}

uint64_t sess_starttime(const struct session *s)
{
    return s->child ? proc_child_starttime(s->child) : 0;
}

int sess_members(struct session *s, pid_t **ret, size_t *ret_n)
{
    if (s->exited || !s->child)
        return -ESRCH;
    return proc_child_members(s->child, ret, ret_n);
}

int sess_set_limits(struct session *s, const struct proc_limits *l)
{
    if (s->exited || !s->child)
        return -ESRCH;
    return proc_child_set_limits(s->child, l);
}

int sess_res_usage(struct session *s, struct proc_res_usage *ret)
{
    if (s->exited || !s->child) {
        *ret = s->res_at_exit;
        return s->has_res ? 0 : -EOPNOTSUPP;
    }
    return proc_child_usage(s->child, ret);
}

int sess_freeze(struct session *s, bool frozen, bool *ret_freezer)
{
    if (s->exited || !s->child)
        return -ESRCH;
    return proc_child_freeze(s->child, frozen, ret_freezer);
}

void sess_info(const struct session *s, struct sess_info *ret)
{
    *ret = (struct sess_info){
        .id = s->id,
        .kind = s->kind,
        .pid = s->pid,
        .command = s->command,
        .cwd = s->cwd,
        .originator = s->originator,
        .created_at = s->created_at,
        .exited = s->exited,
        .exit_code = s->exit_code,
        .exited_at = s->exited_at,
        .outcome = !s->exited       ? SESS_RUNNING
                   : s->hard_killed ? SESS_HARD_KILLED
                   : s->terminating ? SESS_SOFT_EXIT
                                    : SESS_NATURAL,
        .rows = s->rows,
        .cols = s->cols,
        .merge_stderr = s->merge_stderr,
        .stdin_closed = s->stdin_closed,
        .attached = {s->out[0].att != NULL, s->out[1].att != NULL},
        .attached_is_tty = s->attached_is_tty,
        .attached_term = s->attached_term,
        .attached_caps = s->attached_caps,
        .attached_caps_len = s->attached_caps_len,
    };
}

int sess_adopt(struct sess_mgr *m, const struct sess_adopt *o, struct session **ret)
{
    char *argv[] = {(char *)(o->command ? o->command : ""), NULL};
    struct sess_spawn so = {
        .kind = SESS_PTY,
        .argv = argv,
        .rows = o->rows,
        .cols = o->cols,
        .originator = o->originator,
    };
    struct session *s = NULL;
    int r = m->count >= m->lim.max_sessions ? -EMFILE : 0;

    if (r == 0 && !(s = sess_alloc(m, &so)))
        r = -ENOMEM;
    if (r == 0) {
        s->refs = 1; /* the list */
        r = proc_adopt(m->reaper, o->pid, o->starttime, NULL, sess_child_exited, s, &s->child);
    }
    if (r < 0) {
        close(o->master_fd);
        if (s)
            sess_free(s);
        return r;
    }
    s->pid = o->pid;
    sess_wire_streams(s);
    r = sess_fd_open(s, &s->fds[0], o->master_fd);
    if (r < 0) { /* nothing watches it: the caller stops the program */
        close(o->master_fd);
        s->fds[0].fd = -1;
        proc_child_forget(s->child);
        sess_free(s);
        return r;
    }
    sess_enlist(s, o->hold);
    *ret = s;
    return 0;
}
