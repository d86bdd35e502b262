/* What a session says of itself, and its program as a tree of processes: who owns it in the
 * core, its identity, its members, the freezer, its cgroup limits and what its memory group
 * says. */
#include <errno.h>

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
